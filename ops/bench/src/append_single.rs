//! `append-single`: how many single-event commands per second Maestro takes, each the
//! creation of a new server through `CommandHandler::execute` (parse the fields, load the
//! empty stream, decide, append), with `--writers` concurrent writers.
//!
//! Beside: pgbench inserting one row of the same JSON into `raw_events`, a table with the
//! event log's keys only, at the same concurrency. The gap is what the event store costs
//! per command: the stream load, metadata, transaction id index and NOTIFY trigger.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use commands::{CommandHandler, CommandRequest, EventStore};
use domain::Kind;
use sqlx::PgPool;
use uuid::Uuid;

use crate::measure::closed_loop;
use crate::report::{note, Comparison};
use crate::{payload, pgbench, Options};

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let sample = payload::server_created(0);
    note(format!(
        "each command creates a server; its event data is {} bytes of JSON",
        payload::data_text(&sample).len()
    ));
    let comparison = pgbench::beside_raw_appends(options, "append-single", &[sample], |pool, duration| {
        commands_per_second(pool, options.writers, duration)
    })
    .await?;
    Ok(vec![comparison])
}

/// Numbers the servers created, across rounds, so that each has its own host name.
static SERVERS: AtomicU64 = AtomicU64::new(0);

async fn commands_per_second(pool: PgPool, writers: usize, duration: Duration) -> anyhow::Result<f64> {
    let handler = CommandHandler::new(EventStore::new(pool));
    closed_loop(writers, duration, move |_| {
        let handler = handler.clone();
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        async move {
            let request = CommandRequest {
                kind: Kind::Server,
                id: Uuid::now_v7(),
                command: payload::create_server(n),
                expected_version: None,
                idempotency_key: None,
                metadata: payload::user_metadata(),
                access: domain::Access::Unrestricted,
            };
            let outcome = handler.execute(&request).await?;
            anyhow::ensure!(outcome.appended == 1, "a create appends one event");
            Ok(1)
        }
    })
    .await
}
