//! The audit trail: for every change, who made it, when, from where, and what changed,
//! both as an RFC 6902 JSON Patch for programs and as a unified diff for people.

use std::collections::HashMap;

use commands::{RecordedEvent, StoreError};
use domain::{ActorKind, Item};
use serde_json::{json, Value};
use similar::TextDiff;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{Projection, ProjectionError, Table, Tables};

pub struct AuditTrail;

impl AuditTrail {
    pub const NAME: &'static str = "audit";
    pub const TABLE: &'static str = "audit_trail";
    /// Each item's latest document, to diff the next change against.
    const DOCUMENTS: &'static str = "audit_documents";
}

/// One change as the audit trail records it.
pub struct Change {
    pub patch: Value,
    pub diff: String,
}

/// The JSON Patch and the unified diff between two documents of an item. A new item is
/// diffed against nothing.
pub fn change(before: Option<&Value>, after: &Value) -> Change {
    let empty = json!({});
    let patch = json_patch::diff(before.unwrap_or(&empty), after);
    let pretty = |doc: &Value| serde_json::to_string_pretty(doc).expect("documents serialize") + "\n";
    let before_text = before.map(pretty).unwrap_or_default();
    let after_text = pretty(after);
    let diff = TextDiff::from_lines(&before_text, &after_text)
        .unified_diff()
        .context_radius(3)
        .header("before", "after")
        .to_string();
    Change {
        patch: serde_json::to_value(patch).expect("patches serialize"),
        diff,
    }
}

fn source(event: &RecordedEvent) -> String {
    let metadata = event.metadata();
    match (metadata.actor_kind, metadata.connection, metadata.task) {
        (ActorKind::Crawler, Some(connection), Some(task)) => format!("crawler:{connection}/{task}"),
        (kind, _, _) => serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    }
}

impl Projection for AuditTrail {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> Vec<Table> {
        vec![
            Table {
                name: Self::TABLE.to_string(),
                columns: "position bigint PRIMARY KEY,
  event_id uuid NOT NULL,
  stream_id uuid NOT NULL,
  kind text NOT NULL,
  version bigint NOT NULL,
  event_type text NOT NULL,
  actor text NOT NULL,
  actor_kind text NOT NULL,
  source text NOT NULL,
  recorded_at timestamptz NOT NULL,
  patch jsonb NOT NULL,
  diff text NOT NULL"
                    .to_string(),
                indexes: vec!["(stream_id, version)".to_string(), "(recorded_at)".to_string()],
            },
            Table {
                name: Self::DOCUMENTS.to_string(),
                columns: "stream_id uuid PRIMARY KEY, version bigint NOT NULL, doc jsonb NOT NULL"
                    .to_string(),
                indexes: vec![],
            },
        ]
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        events: &[RecordedEvent],
        tables: Tables,
    ) -> Result<(), ProjectionError> {
        let documents = tables.name(Self::DOCUMENTS);
        let mut ids: Vec<Uuid> = events.iter().map(|e| e.stream_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut items: HashMap<Uuid, Item> = HashMap::new();
        for row in sqlx::query(&format!(
            "SELECT stream_id, version, doc FROM {documents} WHERE stream_id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&mut *connection)
        .await?
        {
            let (id, version, doc): (Uuid, i64, Value) = (row.get(0), row.get(1), row.get(2));
            let item = Item::from_document(version, &doc).ok_or_else(|| StoreError::Corrupt {
                position: 0,
                problem: format!("audit document of {id} is malformed"),
            })?;
            items.insert(id, item);
        }
        let mut rows = AuditRows::default();
        for event in events {
            let kind = event.kind()?;
            let item = items
                .entry(event.stream_id)
                .or_insert_with(|| Item::new(kind, event.stream_id));
            if event.version <= item.version {
                continue;
            }
            let before = (item.version > 0).then(|| item.document());
            item.apply(&event.event()?);
            let change = change(before.as_ref(), &item.document());
            let metadata = event.metadata();
            rows.push(
                event,
                kind.stream_type(),
                metadata.actor,
                metadata.actor_kind,
                source(event),
                change,
            );
        }
        rows.insert(connection, &tables.name(Self::TABLE)).await?;
        let (mut stream_ids, mut versions, mut docs) = (vec![], vec![], vec![]);
        for (id, item) in &items {
            stream_ids.push(*id);
            versions.push(item.version);
            docs.push(item.document());
        }
        sqlx::query(&format!(
            "INSERT INTO {documents} (stream_id, version, doc) SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::jsonb[])
             ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, doc = EXCLUDED.doc"
        ))
        .bind(&stream_ids)
        .bind(&versions)
        .bind(&docs)
        .execute(connection)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct AuditRows {
    positions: Vec<i64>,
    event_ids: Vec<Uuid>,
    stream_ids: Vec<Uuid>,
    kinds: Vec<&'static str>,
    versions: Vec<i64>,
    event_types: Vec<String>,
    actors: Vec<String>,
    actor_kinds: Vec<String>,
    sources: Vec<String>,
    recorded_at: Vec<chrono::DateTime<chrono::Utc>>,
    patches: Vec<Value>,
    diffs: Vec<String>,
}

impl AuditRows {
    fn push(
        &mut self,
        event: &RecordedEvent,
        kind: &'static str,
        actor: String,
        actor_kind: ActorKind,
        source: String,
        change: Change,
    ) {
        self.positions.push(event.position);
        self.event_ids.push(event.event_id);
        self.stream_ids.push(event.stream_id);
        self.kinds.push(kind);
        self.versions.push(event.version);
        self.event_types.push(event.event_type.clone());
        self.actors.push(actor);
        self.actor_kinds
            .push(json!(actor_kind).as_str().unwrap_or_default().to_string());
        self.sources.push(source);
        self.recorded_at.push(event.recorded_at);
        self.patches.push(change.patch);
        self.diffs.push(change.diff);
    }

    async fn insert(self, connection: &mut PgConnection, table: &str) -> Result<(), sqlx::Error> {
        if self.positions.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!(
            "INSERT INTO {table} (position, event_id, stream_id, kind, version, event_type, actor, actor_kind, source,
                                  recorded_at, patch, diff)
             SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                                  $8::text[], $9::text[], $10::timestamptz[], $11::jsonb[], $12::text[])
             ON CONFLICT (position) DO NOTHING"
        ))
        .bind(&self.positions)
        .bind(&self.event_ids)
        .bind(&self.stream_ids)
        .bind(&self.kinds)
        .bind(&self.versions)
        .bind(&self.event_types)
        .bind(&self.actors)
        .bind(&self.actor_kinds)
        .bind(&self.sources)
        .bind(&self.recorded_at)
        .bind(&self.patches)
        .bind(&self.diffs)
        .execute(connection)
        .await
        .map(|_| ())
    }
}
