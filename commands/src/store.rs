//! The Postgres event store: append with optimistic concurrency and idempotency keys,
//! load a stream, and read the whole log in commit order without ever skipping an event.

use chrono::{DateTime, Utc};
use domain::{Event, Kind, Metadata};
use serde_json::{json, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

use crate::StoreError;

/// A place in the log, in commit order: (transaction id, position). Positions alone are
/// not safe, because a lower position can commit after a higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub transaction_id: i64,
    pub position: i64,
}

/// Narrows a read of the log; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub stream_type: Option<String>,
    pub event_type: Option<String>,
    pub stream_id: Option<Uuid>,
    /// Only events of items that grant read to one of these principals, by the inventory
    /// read model's `item_access` table (so only up to the inventory projector's cursor).
    pub readers: Option<Vec<Uuid>>,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: i64,
    pub event_id: Uuid,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub data: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
    pub transaction_id: i64,
}

impl RecordedEvent {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            transaction_id: self.transaction_id,
            position: self.position,
        }
    }

    pub fn kind(&self) -> Result<Kind, StoreError> {
        Kind::from_stream_type(&self.stream_type)
            .ok_or_else(|| self.corrupt(format!("unknown stream type `{}`", self.stream_type)))
    }

    /// The domain event, upcast from older schema versions.
    pub fn event(&self) -> Result<Event, StoreError> {
        Event::decode(&self.event_type, self.schema_version, &self.data)
            .map_err(|e| self.corrupt(e.to_string()))
    }

    pub fn metadata(&self) -> Metadata {
        serde_json::from_value(self.metadata.clone()).unwrap_or_default()
    }

    /// The envelope published to NATS and served to clients that replay the log.
    pub fn envelope(&self) -> Value {
        json!({
            "id": self.event_id,
            "position": self.position,
            "stream_type": self.stream_type,
            "stream_id": self.stream_id,
            "version": self.version,
            "type": self.event_type,
            "schema_version": self.schema_version,
            "data": self.data,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at,
        })
    }

    fn corrupt(&self, problem: String) -> StoreError {
        StoreError::Corrupt {
            position: self.position,
            problem,
        }
    }

    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(RecordedEvent {
            position: row.try_get("position")?,
            event_id: row.try_get("event_id")?,
            stream_type: row.try_get("stream_type")?,
            stream_id: row.try_get("stream_id")?,
            version: row.try_get("stream_version")?,
            event_type: row.try_get("event_type")?,
            schema_version: row.try_get("schema_version")?,
            data: row.try_get("data")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
            transaction_id: row.try_get("transaction_id")?,
        })
    }
}

const COLUMNS: &str =
    "position, event_id, stream_type, stream_id, stream_version, event_type, schema_version, \
                       data, metadata, recorded_at, transaction_id::text::bigint AS transaction_id";

/// Events to append to one stream in one transaction.
#[derive(Debug, Clone)]
pub struct NewEvents<'a> {
    pub kind: Kind,
    pub stream_id: Uuid,
    /// The stream's version before these events (0 for a new stream).
    pub expected_version: i64,
    pub events: &'a [Event],
    pub metadata: &'a Metadata,
    pub idempotency: Option<&'a IdempotencyKey>,
}

/// A key under which a command appends at most once: a retry with the same key gets the
/// first run's result. Keys are scoped to the actor who sent them, and remember which
/// request they were used for, so that nobody else's key, nor the same key on another
/// request, can turn a command into a silent replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub actor: String,
    pub key: String,
    /// A digest of the request the key was sent with.
    pub request: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Appended; the stream is now at `version`, recorded at `recorded_at`.
    Appended {
        version: i64,
        recorded_at: DateTime<Utc>,
    },
    /// The idempotency key was used before, when the stream reached `version`.
    AlreadyApplied { stream_id: Uuid, version: i64 },
    /// The idempotency key was used before by the same actor for another request.
    KeyReused,
}

/// How far to replay a stream for time travel.
#[derive(Debug, Clone, Copy)]
pub enum StreamPoint {
    Version(i64),
    At(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct EventStore {
    pool: PgPool,
    appended: Arc<Notify>,
}

/// Wakes readers of the log (relay, projectors) after appends: one NOTIFY for however
/// many appends happened meanwhile, sent after their commits. A NOTIFY inside each append
/// made every commit queue on Postgres' notification lock while its WAL was flushed.
async fn announce_appends(pool: PgPool, appended: Arc<Notify>) {
    loop {
        appended.notified().await;
        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(crate::wakeup::CHANNEL)
            .execute(&pool)
            .await
        {
            // Readers poll as well: a lost wake-up delays them, it loses nothing.
            tracing::debug!(%error, "could not announce appended events");
        }
    }
}

impl EventStore {
    /// A store over `pool`. Must be created inside a Tokio runtime: it starts the task
    /// that announces appends.
    pub fn new(pool: PgPool) -> Self {
        let appended = Arc::new(Notify::new());
        tokio::spawn(announce_appends(pool.clone(), appended.clone()));
        EventStore { pool, appended }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Appends all events of one command in one multi-row INSERT. A stale
    /// `expected_version` is a [`StoreError::Conflict`].
    pub async fn append(&self, new: NewEvents<'_>) -> Result<AppendOutcome, StoreError> {
        let count = new.events.len() as i64;
        let ids: Vec<Uuid> = new.events.iter().map(|_| Uuid::now_v7()).collect();
        let versions: Vec<i64> = (1..=count).map(|n| new.expected_version + n).collect();
        let types: Vec<&str> = new.events.iter().map(Event::event_type).collect();
        let schema_versions: Vec<i32> = new.events.iter().map(Event::schema_version).collect();
        let data: Vec<Value> = new.events.iter().map(Event::data).collect();
        let metadata = serde_json::to_value(new.metadata).expect("metadata serializes");
        let insert = sqlx::query(
            "INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, metadata)
             SELECT e.id, $2, $3, e.version, e.type, e.schema_version, e.data, $8
             FROM UNNEST($1::uuid[], $4::bigint[], $5::text[], $6::int[], $7::jsonb[]) AS e(id, version, type, schema_version, data)
             RETURNING recorded_at",
        )
        .bind(&ids)
        .bind(new.kind.stream_type())
        .bind(new.stream_id)
        .bind(&versions)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&data)
        .bind(&metadata);
        let version = new.expected_version + count;
        let conflict = |error: sqlx::Error| match error.as_database_error().and_then(|e| e.constraint()) {
            Some("events_stream_version_unique") => StoreError::Conflict {
                stream_id: new.stream_id,
                expected: new.expected_version,
            },
            _ => StoreError::Database(error),
        };
        let Some(key) = new.idempotency else {
            let recorded_at = insert.fetch_one(&self.pool).await.map_err(conflict)?.get(0);
            self.appended.notify_one();
            return Ok(AppendOutcome::Appended { version, recorded_at });
        };
        let mut tx = self.pool.begin().await?;
        // Taken first: a concurrent command with the same key waits here for ours to commit.
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (actor, key, request, stream_type, stream_id, version)
             VALUES ($5, $1, $6, $2, $3, $4)
             ON CONFLICT (actor, key) DO NOTHING",
        )
        .bind(&key.key)
        .bind(new.kind.stream_type())
        .bind(new.stream_id)
        .bind(version)
        .bind(&key.actor)
        .bind(&key.request)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            drop(tx);
            return self.idempotent_result(key).await?.ok_or_else(|| {
                StoreError::Database(sqlx::Error::Protocol(format!(
                    "idempotency key `{}` vanished",
                    key.key
                )))
            });
        }
        let recorded_at = insert.fetch_one(&mut *tx).await.map_err(conflict)?.get(0);
        tx.commit().await?;
        self.appended.notify_one();
        Ok(AppendOutcome::Appended { version, recorded_at })
    }

    /// Appends the events of commands on several streams in one multi-row INSERT, so one
    /// commit carries them all. All or nothing: a stale `expected_version` on any stream is
    /// a [`StoreError::Conflict`] and appends nothing. Idempotency keys are not taken here
    /// (a batch is for commands without them). Returns when the batch was recorded.
    pub async fn append_batch(&self, batch: &[NewEvents<'_>]) -> Result<DateTime<Utc>, StoreError> {
        let (mut ids, mut stream_types, mut stream_ids, mut versions) = (vec![], vec![], vec![], vec![]);
        let (mut types, mut schema_versions, mut data, mut metadata) = (vec![], vec![], vec![], vec![]);
        for new in batch {
            debug_assert!(new.idempotency.is_none(), "batches take no idempotency keys");
            let stream_metadata = serde_json::to_value(new.metadata).expect("metadata serializes");
            for (n, event) in (1..).zip(new.events) {
                ids.push(Uuid::now_v7());
                stream_types.push(new.kind.stream_type());
                stream_ids.push(new.stream_id);
                versions.push(new.expected_version + n);
                types.push(event.event_type());
                schema_versions.push(event.schema_version());
                data.push(event.data());
                metadata.push(stream_metadata.clone());
            }
        }
        let recorded_at = sqlx::query_scalar(
            "WITH appended AS (
               INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, metadata)
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[])
               RETURNING recorded_at)
             SELECT max(recorded_at) FROM appended",
        )
        .bind(&ids)
        .bind(&stream_types)
        .bind(&stream_ids)
        .bind(&versions)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&data)
        .bind(&metadata)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| match error.as_database_error().and_then(|e| e.constraint()) {
            Some("events_stream_version_unique") => StoreError::Conflict {
                stream_id: batch.first().map(|new| new.stream_id).unwrap_or_default(),
                expected: batch.first().map(|new| new.expected_version).unwrap_or_default(),
            },
            _ => StoreError::Database(error),
        })?;
        self.appended.notify_one();
        Ok(recorded_at)
    }

    /// The streams of several items at once, each in version order.
    pub async fn load_streams(
        &self,
        stream_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<RecordedEvent>>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version"
        ))
        .bind(stream_ids)
        .fetch_all(&self.pool)
        .await?;
        let mut streams: HashMap<Uuid, Vec<RecordedEvent>> = HashMap::new();
        for row in &rows {
            let event = RecordedEvent::from_row(row)?;
            streams.entry(event.stream_id).or_default().push(event);
        }
        Ok(streams)
    }

    /// The result recorded for an idempotency key of its actor, if they used it before:
    /// [`AppendOutcome::KeyReused`] when it was for another request.
    pub async fn idempotent_result(&self, key: &IdempotencyKey) -> Result<Option<AppendOutcome>, StoreError> {
        let row = sqlx::query(
            "SELECT stream_id, version, request FROM idempotency_keys WHERE actor = $1 AND key = $2",
        )
        .bind(&key.actor)
        .bind(&key.key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| {
            if row.get::<String, _>("request") == key.request {
                AppendOutcome::AlreadyApplied {
                    stream_id: row.get("stream_id"),
                    version: row.get("version"),
                }
            } else {
                AppendOutcome::KeyReused
            }
        }))
    }

    /// All events of a stream, in version order, optionally only up to a point.
    pub async fn load_stream(
        &self,
        stream_id: Uuid,
        until: Option<StreamPoint>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (max_version, max_time) = match until {
            None => (None, None),
            Some(StreamPoint::Version(version)) => (Some(version), None),
            Some(StreamPoint::At(at)) => (None, Some(at)),
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1
               AND ($2::bigint IS NULL OR stream_version <= $2)
               AND ($3::timestamptz IS NULL OR recorded_at <= $3)
             ORDER BY stream_version"
        ))
        .bind(stream_id)
        .bind(max_version)
        .bind(max_time)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(RecordedEvent::from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// The kind of the item a stream holds, or `None` when the stream is empty.
    pub async fn stream_kind(&self, stream_id: Uuid) -> Result<Option<Kind>, StoreError> {
        let stream_type: Option<String> =
            sqlx::query_scalar("SELECT stream_type FROM events WHERE stream_id = $1 AND stream_version = 1")
                .bind(stream_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(stream_type.as_deref().and_then(Kind::from_stream_type))
    }

    /// Up to `limit` events after `after`, in commit order, never past the oldest
    /// transaction still running: an event that commits late is read late, not skipped.
    pub async fn read_after(&self, after: Cursor, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read(after, None, &EventFilter::default(), limit).await
    }

    /// Like [`read_after`](Self::read_after), but not past `until` (inclusive), a cursor
    /// another reader reached: everything up to it is known to be committed.
    pub async fn read_between(
        &self,
        after: Cursor,
        until: Cursor,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read(after, Some(until), &EventFilter::default(), limit)
            .await
    }

    /// The one gap-safe read of the log; the others narrow it.
    pub async fn read(
        &self,
        after: Cursor,
        until: Option<Cursor>,
        filter: &EventFilter,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Named only when asked for: the log's own readers run before any read model exists.
        let readers = match filter.readers {
            Some(_) => {
                "AND EXISTS (SELECT 1 FROM item_access
                                    WHERE item_access.id = events.stream_id AND readers && $9)"
            }
            None => "AND $9::uuid[] IS NULL",
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events
             WHERE (transaction_id, position) > ($1::text::xid8, $2)
               -- Up to a cursor some reader reached, everything has committed already.
               AND CASE WHEN $4::bigint IS NULL THEN transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                        ELSE (transaction_id, position) <= ($4::text::xid8, $5) END
               AND ($6::text IS NULL OR stream_type = $6)
               AND ($7::text IS NULL OR event_type = $7)
               AND ($8::uuid IS NULL OR stream_id = $8)
               {readers}
             ORDER BY events.transaction_id, events.position
             LIMIT $3"
        ))
        .bind(after.transaction_id)
        .bind(after.position)
        .bind(limit)
        .bind(until.map(|c| c.transaction_id))
        .bind(until.map(|c| c.position))
        .bind(filter.stream_type.as_deref())
        .bind(filter.event_type.as_deref())
        .bind(filter.stream_id)
        .bind(filter.readers.as_deref())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(RecordedEvent::from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// The checkpoint of a reader of the log (relay, projection), created at zero.
    pub async fn checkpoint(&self, name: &str) -> Result<Cursor, StoreError> {
        sqlx::query("INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(
            "SELECT transaction_id::text::bigint AS transaction_id, position FROM checkpoints WHERE name = $1",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(Cursor {
            transaction_id: row.get("transaction_id"),
            position: row.get("position"),
        })
    }

    /// Moves a checkpoint from `from` to `to`, inside the caller's transaction so that it
    /// commits with the caller's writes. Returns false (and changes nothing) when another
    /// process moved it first: the caller must roll back.
    pub async fn advance_checkpoint(
        executor: impl sqlx::PgExecutor<'_>,
        name: &str,
        from: Cursor,
        to: Cursor,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE checkpoints SET transaction_id = $4::text::xid8, position = $5, updated_at = now()
             WHERE name = $1 AND transaction_id = $2::text::xid8 AND position = $3",
        )
        .bind(name)
        .bind(from.transaction_id)
        .bind(from.position)
        .bind(to.transaction_id)
        .bind(to.position)
        .execute(executor)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }

    /// How many committed, readable events lie beyond `cursor` (a reader's lag).
    pub async fn lag(&self, cursor: Cursor) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2)
               AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())",
        )
        .bind(cursor.transaction_id)
        .bind(cursor.position)
        .fetch_one(&self.pool)
        .await?)
    }
}
