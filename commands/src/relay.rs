//! The relay: tails the event log from its checkpoint and publishes every event to the
//! JetStream stream `MAESTRO_EVENTS`. The checkpoint moves only after JetStream acked,
//! so NATS being down delays events but never loses them; a re-publish after a crash is
//! dropped by JetStream's de-duplication on `Nats-Msg-Id`, or by subscribers on the id.

use std::time::Duration;

use async_nats::jetstream::{self, context::Publish};

use crate::store::{Cursor, EventStore, RecordedEvent};
use crate::{Lease, StoreError, Wakeup};

pub const EVENTS_STREAM: &str = "MAESTRO_EVENTS";
const CHECKPOINT: &str = "relay";
/// Events published before waiting for their acks: bounds what is in flight.
const BATCH: i64 = 512;

/// `maestro.events.<stream_type>.<event_type>`, e.g. `maestro.events.server.updated`.
pub fn event_subject(stream_type: &str, event_type: &str) -> String {
    format!("maestro.events.{stream_type}.{event_type}")
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("NATS JetStream did not take the events ({0}); they wait in Postgres until it does. Check NATS_URL and start NATS with `ops/up`")]
    Nats(String),
}

pub struct Relay {
    store: EventStore,
    jetstream: jetstream::Context,
}

impl Relay {
    pub fn new(store: EventStore, client: async_nats::Client) -> Relay {
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(Duration::from_secs(5));
        Relay { store, jetstream }
    }

    /// Creates the stream if it is missing. Duplicates are recognised for two minutes,
    /// which covers a relay that crashed between publishing and moving its checkpoint.
    pub async fn ensure_stream(&self) -> Result<(), RelayError> {
        self.jetstream
            .get_or_create_stream(jetstream::stream::Config {
                name: EVENTS_STREAM.to_string(),
                subjects: vec!["maestro.events.>".to_string()],
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| RelayError::Nats(e.to_string()))
    }

    /// Publishes the next batch after `cursor` and waits for every ack. Returns the cursor
    /// of the last event published, or `None` when there was nothing to publish.
    pub async fn publish_next(&self, cursor: Cursor) -> Result<Option<Cursor>, RelayError> {
        let batch = self.store.read_after(cursor, BATCH).await?;
        let Some(last) = batch.last().map(RecordedEvent::cursor) else {
            return Ok(None);
        };
        let mut acks = Vec::with_capacity(batch.len());
        for event in &batch {
            let publish = Publish::build()
                .payload(
                    serde_json::to_vec(&event.envelope())
                        .expect("envelopes serialize")
                        .into(),
                )
                .message_id(event.event_id.to_string());
            let ack = self
                .jetstream
                .send_publish(event_subject(&event.stream_type, &event.event_type), publish)
                .await
                .map_err(|e| RelayError::Nats(e.to_string()))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| RelayError::Nats(e.to_string()))?;
        }
        Ok(Some(last))
    }

    /// Runs the relay for as long as the process lives, holding its lease.
    pub async fn run(self, database_url: String, mut wakeup: Wakeup) -> Result<(), RelayError> {
        let mut lease = Lease::acquire(&database_url, CHECKPOINT).await?;
        let mut stream_ready = false;
        let mut cursor = self.store.checkpoint(CHECKPOINT).await?;
        loop {
            if !lease.is_held().await {
                tracing::warn!("relay lease lost; waiting to take it again");
                lease = Lease::acquire(&database_url, CHECKPOINT).await?;
                cursor = self.store.checkpoint(CHECKPOINT).await?;
            }
            if !stream_ready {
                if let Err(error) = self.ensure_stream().await {
                    tracing::warn!(%error, "relay waiting for NATS");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                stream_ready = true;
            }
            match self.publish_next(cursor).await {
                Ok(Some(next)) => {
                    if EventStore::advance_checkpoint(self.store.pool(), CHECKPOINT, cursor, next).await? {
                        cursor = next;
                    } else {
                        cursor = self.store.checkpoint(CHECKPOINT).await?;
                    }
                }
                Ok(None) => wakeup.wait().await,
                Err(RelayError::Nats(error)) => {
                    tracing::warn!(%error, "publishing to NATS failed; retrying from the last acked event");
                    stream_ready = false;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "relay could not read the log; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
