//! `append-batch`: events per second appended `--batch` (100) at a time with
//! `EventStore::append`, `--writers` concurrent writers, each append a new stream.
//!
//! The batch is a server's history as a crawler imports it: its Created event, then
//! `--batch - 1` Updated events of a rolling deploy, each changing the whole `services`
//! list and the image checksum (about 230 bytes of JSON each). Every append writes the
//! same events to a new stream id, so the client does no work beyond the store's own.
//!
//! Beside: pgbench inserting the same events (same types and JSON) as one new stream in
//! one 100-row INSERT into `raw_events`, at the same concurrency.

use std::sync::Arc;
use std::time::Duration;

use commands::{AppendOutcome, EventStore, NewEvents};
use domain::{Event, Kind};
use sqlx::PgPool;
use uuid::Uuid;

use crate::measure::closed_loop;
use crate::report::{note, Comparison};
use crate::{payload, pgbench, Options};

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let events: Vec<Event> = std::iter::once(payload::server_created(0))
        .chain((1..options.batch as u64).map(|step| payload::services_changed(0, step)))
        .collect();
    let bytes: usize = events.iter().map(|e| payload::data_text(e).len()).sum();
    note(format!(
        "each append: 1 Created + {} Updated events, {bytes} bytes of JSON data in all",
        events.len() - 1
    ));
    let events = Arc::new(events);
    let comparison = pgbench::beside_raw_appends(options, "append-batch", &events, |pool, duration| {
        events_per_second(pool, events.clone(), options.writers, duration)
    })
    .await?;
    Ok(vec![comparison])
}

async fn events_per_second(
    pool: PgPool,
    events: Arc<Vec<Event>>,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let store = EventStore::new(pool);
    let metadata = payload::crawler_metadata();
    closed_loop(writers, duration, move |_| {
        let (store, events, metadata) = (store.clone(), events.clone(), metadata.clone());
        async move {
            let outcome = store
                .append(NewEvents {
                    kind: Kind::Server,
                    stream_id: Uuid::now_v7(),
                    expected_version: 0,
                    events: &events,
                    metadata: &metadata,
                    idempotency: None,
                })
                .await?;
            anyhow::ensure!(
                matches!(outcome, AppendOutcome::Appended { .. }),
                "a new stream appends"
            );
            Ok(events.len() as u64)
        }
    })
    .await
}
