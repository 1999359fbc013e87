//! `rebuild`: how long `projections::rebuild` takes over a log of `--events` events, for
//! the inventory and, separately, the audit trail.
//!
//! The log holds `--events / 10` servers of ten events each (Created, updates, tags and
//! links to a few datacenters and applications, which are created first), appended with
//! `EventStore::append` by `--writers` writers in two passes of five events per server,
//! so that, as in a real log, a server's later events come long after its first ones.
//!
//! Before the servers, `RULES` event rules of one owner are made, each about server
//! updates in Production with a condition that some servers meet; `rules` rebuilds the
//! event rules' projection over the same log, beside the inventory's rebuild (target:
//! at most 1.5× it). The servers carry no grants of the rules' owner, so no rule acts:
//! what is measured is judging every event against every rule and folding the items.
//!
//! Beside: the floor, what Postgres alone needs to move the same data: stream the whole
//! log to this process in commit order (`COPY (SELECT … ORDER BY …) TO STDOUT`), plus
//! `COPY … FROM STDIN` of the rows the projection wrote into fresh tables of the same
//! shape without indexes. A rebuild can't beat that; the ratio says how far above it is.

use std::time::Duration;

use anyhow::ensure;
use commands::{EventStore, NewEvents};
use domain::{Event, ItemRef, Kind};
use futures::{StreamExt, TryStreamExt};
use projections::{AuditTrail, Inventory, Projection};
use sqlx::postgres::PgPoolCopyExt;
use uuid::Uuid;

use crate::db::BenchDb;
use crate::measure::timed;
use crate::report::{note, Comparison, Quantity, Target};
use crate::{payload, Options};

const EVENTS_PER_SERVER: u64 = 10;
const RULES: u64 = 100;
const DATACENTERS: u64 = 4;
const SERVERS_PER_APPLICATION: u64 = 50;
/// Chunks of at least this size go to COPY FROM, one message each.
const COPY_CHUNK: usize = 1 << 20;

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let db = BenchDb::fresh(options, "rebuild", options.writers as u32 + 2).await?;
    let store = EventStore::new(db.pool.clone());
    let (events, took) = timed(generate(&store, options)).await;
    let events = events?;
    note(format!(
        "generated {events} events in {:.1}s ({:.0} events/s appending)",
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64()
    ));
    // Sets hint bits and statistics, so that the first reader does not pay for them.
    db.execute("VACUUM (ANALYZE) events").await?;
    note(db.json_size("events", "data").await?);

    let read = floor_read(&db).await?;
    let inventory = timed_rebuild(&db, &store, &Inventory, events).await?;
    let inventory_write = floor_write(&db, &Inventory).await?;
    let audit = timed_rebuild(&db, &store, &AuditTrail, events).await?;
    let audit_write = floor_write(&db, &AuditTrail).await?;
    let rules = timed_rebuild(&db, &store, &scheduler::Rules, events).await?;
    db.finish().await?;
    let beside_floor = |name, rebuild, write, target| Comparison {
        name,
        maestro: Quantity::Time(rebuild),
        reference: Quantity::Time(read + write),
        target,
    };
    Ok(vec![
        beside_floor(
            "rebuild-inventory",
            inventory,
            inventory_write,
            Target::AtMost(3.0),
        ),
        beside_floor("rebuild-audit", audit, audit_write, Target::None),
        Comparison {
            name: "rules-100-beside-inventory-rebuild",
            maestro: Quantity::Time(rules),
            reference: Quantity::Time(inventory),
            target: Target::AtMost(1.5),
        },
    ])
}

/// One `EventStore::append`: events for one stream.
struct Append {
    kind: Kind,
    id: Uuid,
    version: i64,
    events: Vec<Event>,
}

impl Append {
    fn new(target: ItemRef, version: i64, events: Vec<Event>) -> Append {
        Append {
            kind: target.kind,
            id: target.id,
            version,
            events,
        }
    }
}

/// Fills the log and returns how many events it holds.
async fn generate(store: &EventStore, options: &Options) -> anyhow::Result<u64> {
    let servers = options.events / EVENTS_PER_SERVER;
    let new_items = |kind, count| -> Vec<ItemRef> {
        (0..count)
            .map(|_| ItemRef {
                kind,
                id: Uuid::now_v7(),
            })
            .collect()
    };
    let datacenters = new_items(Kind::Datacenter, DATACENTERS);
    let applications = new_items(Kind::Application, servers.div_ceil(SERVERS_PER_APPLICATION));
    let servers = new_items(Kind::Server, servers);

    let rules = new_items(Kind::Rule, RULES);
    let targets = rules
        .iter()
        .zip(0..)
        .map(|(item, n)| Append::new(*item, 0, vec![payload::rule_created(n)]))
        .chain(
            datacenters
                .iter()
                .zip(0..)
                .map(|(item, n)| Append::new(*item, 0, vec![payload::datacenter_created(n)])),
        )
        .chain(
            applications
                .iter()
                .zip(0..)
                .map(|(item, n)| Append::new(*item, 0, vec![payload::application_created(n)])),
        );
    let mut appended = append_all(store, options.writers, targets).await?;
    let discovered = servers.iter().zip(0..).map(|(server, n)| {
        let datacenter = datacenters[(n % DATACENTERS) as usize];
        Append::new(*server, 0, payload::server_discovered(n, datacenter))
    });
    appended += append_all(store, options.writers, discovered).await?;
    let matured = servers.iter().zip(0..).map(|(server, n)| {
        let application = applications[(n / SERVERS_PER_APPLICATION) as usize];
        Append::new(*server, 5, payload::server_matured(n, application))
    });
    appended += append_all(store, options.writers, matured).await?;
    Ok(appended)
}

/// Runs the appends, `writers` at a time, and returns how many events they appended.
async fn append_all(
    store: &EventStore,
    writers: usize,
    appends: impl Iterator<Item = Append>,
) -> anyhow::Result<u64> {
    let metadata = payload::crawler_metadata();
    futures::stream::iter(appends)
        .map(|append| {
            let metadata = &metadata;
            async move {
                store
                    .append(NewEvents {
                        kind: append.kind,
                        stream_id: append.id,
                        expected_version: append.version,
                        events: &append.events,
                        metadata,
                        idempotency: None,
                    })
                    .await?;
                anyhow::Ok(append.events.len() as u64)
            }
        })
        .buffer_unordered(writers)
        .try_fold(0, |total, events| async move { Ok(total + events) })
        .await
}

async fn timed_rebuild(
    db: &BenchDb,
    store: &EventStore,
    projection: &impl Projection,
    events: u64,
) -> anyhow::Result<Duration> {
    db.checkpoint().await?;
    let (report, took) = timed(projections::rebuild(store, projection)).await;
    let report = report?;
    ensure!(
        report.events == events,
        "the {} rebuild read {} events of {events}",
        projection.name(),
        report.events
    );
    note(format!(
        "{} rebuild: {:.1}s, {:.0} events/s",
        projection.name(),
        took.as_secs_f64(),
        events as f64 / took.as_secs_f64()
    ));
    Ok(took)
}

/// The floor's read half: Postgres streaming the whole log to this process in the order
/// a rebuild reads it.
async fn floor_read(db: &BenchDb) -> anyhow::Result<Duration> {
    db.checkpoint().await?;
    let (bytes, took) = timed(copy_out(
        db,
        "COPY (SELECT * FROM events ORDER BY transaction_id, position) TO STDOUT",
        |_| {},
    ))
    .await;
    note(format!(
        "floor read: {:.1}s to COPY the log out ({:.0} MB)",
        took.as_secs_f64(),
        bytes? as f64 / 1e6
    ));
    Ok(took)
}

/// The floor's write half: COPY of the rows `projection` wrote into fresh tables like its
/// own (same columns, generated ones computed, no indexes). The rows are read out of its
/// tables before the clock starts.
async fn floor_write(db: &BenchDb, projection: &impl Projection) -> anyhow::Result<Duration> {
    let mut copies = Vec::new();
    for table in projection.tables() {
        let mut chunks = vec![Vec::with_capacity(COPY_CHUNK)];
        copy_out(db, &format!("COPY {} TO STDOUT", table.name), |data| {
            let last = chunks.last_mut().expect("never empty");
            last.extend_from_slice(data);
            if last.len() >= COPY_CHUNK {
                chunks.push(Vec::with_capacity(COPY_CHUNK));
            }
        })
        .await?;
        let copy = format!("floor_{}", table.name);
        db.execute(&format!("DROP TABLE IF EXISTS {copy}")).await?;
        db.execute(&format!(
            "CREATE TABLE {copy} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED)",
            table.name
        ))
        .await?;
        copies.push((copy, chunks));
    }
    db.checkpoint().await?;
    let mut total = Duration::ZERO;
    let mut summary = Vec::new();
    for (copy, chunks) in &copies {
        let (rows, took) = timed(copy_in(db, copy, chunks)).await;
        let rows = rows?;
        total += took;
        if rows > 0 {
            let bytes: usize = chunks.iter().map(Vec::len).sum();
            summary.push(format!("{copy} {rows} rows/{:.0} MB", bytes as f64 / 1e6));
        }
        db.execute(&format!("DROP TABLE {copy}")).await?;
    }
    note(format!(
        "floor write for {}: {:.1}s ({})",
        projection.name(),
        total.as_secs_f64(),
        summary.join(", ")
    ));
    Ok(total)
}

/// Runs a `COPY … TO STDOUT`, handing each chunk to `sink`; returns the bytes copied.
async fn copy_out(db: &BenchDb, statement: &str, mut sink: impl FnMut(&[u8])) -> anyhow::Result<usize> {
    let mut stream = db.pool.copy_out_raw(statement).await?;
    let mut bytes = 0;
    while let Some(chunk) = stream.try_next().await? {
        bytes += chunk.len();
        sink(&chunk);
    }
    Ok(bytes)
}

async fn copy_in(db: &BenchDb, table: &str, chunks: &[Vec<u8>]) -> anyhow::Result<u64> {
    let mut copy = db.pool.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
    for chunk in chunks {
        copy.send(chunk.as_slice()).await?;
    }
    Ok(copy.finish().await?)
}
