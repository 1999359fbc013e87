//! Typed queries on the inventory read model for the roles that follow it (the
//! scheduler): which items another role's table has not caught up with, all items of a
//! kind, which schedules are chained after a schedule, and which crawl a connection that
//! is gone.

use chrono::{DateTime, Utc};
use domain::{Item, Kind};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::ProjectionError;

/// An item as the read model holds it, with when it last changed.
#[derive(Debug, Clone)]
pub struct ChangedItem {
    pub item: Item,
    pub updated_at: DateTime<Utc>,
}

fn items(rows: Vec<sqlx::postgres::PgRow>) -> Result<Vec<ChangedItem>, ProjectionError> {
    rows.into_iter()
        .map(|row| {
            let (version, doc): (i64, Value) = (row.get("version"), row.get("doc"));
            let item = Item::from_document(version, &doc).ok_or_else(|| commands::StoreError::Corrupt {
                position: 0,
                problem: format!(
                    "read model row {} has a malformed document",
                    row.get::<Uuid, _>("id")
                ),
            })?;
            Ok(ChangedItem {
                item,
                updated_at: row.get("updated_at"),
            })
        })
        .collect()
}

/// The items of `kind` (deleted ones too) whose version differs from the one recorded
/// for them in `versions`, another role's table of `(id uuid, version bigint)` rows (the
/// scheduler's clocks), or that it lacks: what that role has yet to catch up with.
pub async fn out_of_step(
    pool: &PgPool,
    kind: Kind,
    versions: &str,
) -> Result<Vec<ChangedItem>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT item.id, item.version, item.doc, item.updated_at
           FROM {} item LEFT JOIN {versions} seen ON seen.id = item.id
          WHERE seen.version IS DISTINCT FROM item.version",
        kind.table()
    ))
    .fetch_all(pool)
    .await?;
    items(rows)
}

/// Every active item of `kind`: for kinds with few items, such as connections.
pub async fn all_active(pool: &PgPool, kind: Kind) -> Result<Vec<Item>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT id, version, doc, updated_at FROM {} WHERE active",
        kind.table()
    ))
    .fetch_all(pool)
    .await?;
    Ok(items(rows)?.into_iter().map(|changed| changed.item).collect())
}

/// The active schedules that run after `schedule` succeeds.
pub async fn chained_after(pool: &PgPool, schedule: Uuid) -> Result<Vec<Item>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT id, version, doc, updated_at FROM {} WHERE active AND doc ->> 'after' = $1",
        Kind::Schedule.table()
    ))
    .bind(schedule.to_string())
    .fetch_all(pool)
    .await?;
    Ok(items(rows)?.into_iter().map(|changed| changed.item).collect())
}

/// The active schedules whose `connection` is deleted or does not exist.
pub async fn schedules_of_gone_connections(pool: &PgPool) -> Result<Vec<Item>, ProjectionError> {
    let rows = sqlx::query(&format!(
        "SELECT s.id, s.version, s.doc, s.updated_at FROM {schedules} s
          WHERE s.active AND s.doc ? 'connection'
            AND NOT EXISTS (SELECT 1 FROM {connections} c
                             WHERE c.active AND c.id::text = s.doc ->> 'connection')",
        schedules = Kind::Schedule.table(),
        connections = Kind::Connection.table(),
    ))
    .fetch_all(pool)
    .await?;
    Ok(items(rows)?.into_iter().map(|changed| changed.item).collect())
}
