//! Running projections: follow the log live, or rebuild from zero and swap.

use commands::{Cursor, EventStore, Lease, RecordedEvent, Wakeup};
use sqlx::{PgConnection, PgPool};
use std::time::{Duration, Instant};

use crate::{Projection, ProjectionError, Tables};

/// Events per live batch: one transaction, one checkpoint move.
const LIVE_BATCH: i64 = 1_000;
/// Events per transaction while rebuilding into fresh tables.
const REBUILD_BATCH: i64 = 20_000;

/// Serialises batches of one projection against a rebuild's final swap.
async fn lock_applying(connection: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("maestro:apply:{name}"))
        .execute(connection)
        .await
        .map(|_| ())
}

fn definition(projection: &impl Projection) -> String {
    projection
        .tables()
        .iter()
        .map(|table| format!("{}({}){}", table.name, table.columns, table.indexes.join(";")))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn create_tables(
    connection: &mut PgConnection,
    projection: &impl Projection,
    tables: Tables,
    with_indexes: bool,
) -> Result<(), sqlx::Error> {
    for table in projection.tables() {
        let name = tables.name(&table.name);
        sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
            .execute(&mut *connection)
            .await?;
        sqlx::query(&format!("CREATE TABLE {name} ({})", table.columns))
            .execute(&mut *connection)
            .await?;
        if with_indexes {
            create_indexes(connection, &name, &table.indexes).await?;
        }
    }
    Ok(())
}

async fn create_indexes(
    connection: &mut PgConnection,
    table: &str,
    indexes: &[String],
) -> Result<(), sqlx::Error> {
    for index in indexes {
        sqlx::query(&format!("CREATE INDEX ON {table} {index}"))
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Makes sure a projection's live tables exist and match the code. Tables from an older
/// definition are rebuilt, since a read model is only ever derived from the log.
pub async fn ensure(store: &EventStore, projection: &impl Projection) -> Result<(), ProjectionError> {
    let name = projection.name();
    let wanted = definition(projection);
    let mut tx = store.pool().begin().await?;
    lock_applying(&mut tx, name).await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT definition FROM projection_definitions WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    match current {
        Some(current) if current == wanted => return Ok(()),
        Some(_) => {
            drop(tx);
            tracing::info!(projection = name, "table definitions changed; rebuilding");
            rebuild(store, projection).await?;
        }
        None => {
            create_tables(&mut tx, projection, Tables::Live, true).await?;
            record_definition(&mut tx, name, &wanted).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn record_definition(
    connection: &mut PgConnection,
    name: &str,
    definition: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_definitions (name, definition) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition",
    )
    .bind(name)
    .bind(definition)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Applies the next batch after `cursor` to the live tables. Returns the new cursor, or
/// `None` when the projection is caught up. When another process moved the checkpoint
/// first, nothing is applied and its cursor is returned.
pub async fn run_once(
    store: &EventStore,
    projection: &impl Projection,
    cursor: Cursor,
) -> Result<Option<Cursor>, ProjectionError> {
    let events = store.read_after(cursor, LIVE_BATCH).await?;
    let Some(last) = events.last().map(RecordedEvent::cursor) else {
        return Ok(None);
    };
    let name = projection.name();
    let mut tx = store.pool().begin().await?;
    lock_applying(&mut tx, name).await?;
    projection.apply(&mut tx, &events, Tables::Live).await?;
    if EventStore::advance_checkpoint(&mut *tx, name, cursor, last).await? {
        tx.commit().await?;
        Ok(Some(last))
    } else {
        tx.rollback().await?;
        Ok(Some(store.checkpoint(name).await?))
    }
}

/// Follows the log for as long as the process lives, holding the projection's lease.
pub async fn run(
    store: EventStore,
    database_url: String,
    projection: impl Projection,
    mut wakeup: Wakeup,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    let mut lease = Lease::acquire(&database_url, name).await?;
    ensure(&store, &projection).await?;
    let mut cursor = store.checkpoint(name).await?;
    loop {
        if !lease.is_held().await {
            tracing::warn!(projection = name, "lease lost; waiting to take it again");
            lease = Lease::acquire(&database_url, name).await?;
            cursor = store.checkpoint(name).await?;
        }
        match run_once(&store, &projection, cursor).await {
            Ok(Some(next)) => cursor = next,
            Ok(None) => wakeup.wait().await,
            Err(error) => {
                tracing::warn!(projection = name, %error, "projecting failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Ok(reloaded) = store.checkpoint(name).await {
                    cursor = reloaded;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    pub events: u64,
    pub elapsed: Duration,
}

/// Rebuilds a projection from position zero into fresh tables, then swaps them in.
/// Queries keep reading the old tables until the swap, which is one short transaction.
pub async fn rebuild(
    store: &EventStore,
    projection: &impl Projection,
) -> Result<RebuildReport, ProjectionError> {
    let started = Instant::now();
    let name = projection.name();
    let pool: &PgPool = store.pool();
    let mut connection = pool.acquire().await?;
    create_tables(&mut connection, projection, Tables::Rebuild, false).await?;
    drop(connection);

    let mut cursor = Cursor::default();
    let mut events = 0;
    loop {
        let batch = store.read_after(cursor, REBUILD_BATCH).await?;
        let Some(last) = batch.last().map(RecordedEvent::cursor) else {
            break;
        };
        let mut tx = pool.begin().await?;
        projection.apply(&mut tx, &batch, Tables::Rebuild).await?;
        tx.commit().await?;
        events += batch.len() as u64;
        cursor = last;
    }
    let mut connection = pool.acquire().await?;
    for table in projection.tables() {
        create_indexes(
            &mut connection,
            &Tables::Rebuild.name(&table.name),
            &table.indexes,
        )
        .await?;
        sqlx::query(&format!("ANALYZE {}", Tables::Rebuild.name(&table.name)))
            .execute(&mut *connection)
            .await?;
    }
    drop(connection);

    let mut tx = pool.begin().await?;
    lock_applying(&mut tx, name).await?;
    let live = store.checkpoint(name).await?;
    // The live projector may have got further meanwhile: catch up to exactly its cursor.
    while live > cursor {
        let batch = store.read_between(cursor, live, REBUILD_BATCH).await?;
        let Some(last) = batch.last().map(RecordedEvent::cursor) else {
            break;
        };
        projection.apply(&mut tx, &batch, Tables::Rebuild).await?;
        events += batch.len() as u64;
        cursor = last;
    }
    for table in projection.tables() {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", table.name))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "ALTER TABLE {} RENAME TO {}",
            Tables::Rebuild.name(&table.name),
            table.name
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE checkpoints SET transaction_id = $2::text::xid8, position = $3, updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(cursor.transaction_id)
    .bind(cursor.position)
    .execute(&mut *tx)
    .await?;
    record_definition(&mut tx, name, &definition(projection)).await?;
    tx.commit().await?;
    Ok(RebuildReport {
        events,
        elapsed: started.elapsed(),
    })
}
