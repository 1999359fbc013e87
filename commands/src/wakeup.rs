//! Wakes readers of the log when events are appended (LISTEN/NOTIFY), with polling as
//! the fallback when a notification is missed or the listener's connection drops.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

pub struct Wakeup {
    listener: Option<PgListener>,
    poll: Duration,
}

pub const CHANNEL: &str = "maestro_events";

impl Wakeup {
    pub async fn new(pool: &PgPool, poll: Duration) -> Wakeup {
        let listener = match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => Some(listener),
                Err(error) => {
                    tracing::warn!(%error, "LISTEN failed; falling back to polling");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%error, "LISTEN connection failed; falling back to polling");
                None
            }
        };
        Wakeup { listener, poll }
    }

    /// Returns when an event may have been appended, or after the polling interval.
    pub async fn wait(&mut self) {
        match &mut self.listener {
            Some(listener) => {
                if let Ok(Err(error)) = tokio::time::timeout(self.poll, listener.recv()).await {
                    tracing::warn!(%error, "listener lost; it reconnects on the next wait");
                    tokio::time::sleep(self.poll).await;
                }
            }
            None => tokio::time::sleep(self.poll).await,
        }
    }
}
