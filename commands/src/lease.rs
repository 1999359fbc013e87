//! A lease on a role (a projection, the relay) held through a Postgres advisory lock on a
//! connection of its own: when the holder dies, its connection closes, Postgres frees
//! the lock, and a waiting process takes over.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::StoreError;

pub struct Lease {
    name: String,
    connection: PgConnection,
}

impl Lease {
    /// Waits until the lease on `name` is ours.
    pub async fn acquire(database_url: &str, name: &str) -> Result<Lease, StoreError> {
        let mut connection = PgConnection::connect(database_url).await?;
        let mut logged = false;
        loop {
            let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(lock_name(name))
                .fetch_one(&mut connection)
                .await?;
            if held {
                tracing::info!(role = name, "lease acquired");
                return Ok(Lease {
                    name: name.to_string(),
                    connection,
                });
            }
            if !logged {
                tracing::info!(role = name, "another process holds the lease; standing by");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Whether the lease is still ours. A session-level advisory lock lives as long as
    /// its connection, so a live connection means a held lease.
    pub async fn is_held(&mut self) -> bool {
        self.connection.ping().await.is_ok()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn lock_name(name: &str) -> String {
    format!("maestro:lease:{name}")
}
