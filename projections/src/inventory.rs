//! The inventory read models: one table per kind, plus the relations between items.
//!
//! Each table keeps the item's whole document as jsonb and, derived from it by Postgres,
//! a typed column for every scalar field, so that filters and sorts use indexes. The
//! columns come from the domain's field list: adding a field to a kind adds its column.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use commands::RecordedEvent;
use domain::{Acl, FieldType, Item, Kind, Level};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{Projection, ProjectionError, Table, Tables};

pub const RELATIONS_TABLE: &str = "relations";
/// Every item's grants by id, whatever its kind: what the raw event log and subscriptions
/// check an event's item against.
pub const ACCESS_TABLE: &str = "item_access";

/// The columns, derived from the document's grants, that queries filter access on:
/// who holds at least read, write and admin.
const ACCESS_COLUMNS: [(&str, Level); 3] = [
    ("readers", Level::Read),
    ("writers", Level::Write),
    ("admins", Level::Admin),
];

fn access_columns() -> [String; 3] {
    ACCESS_COLUMNS.map(|(column, _)| format!("{column} uuid[] NOT NULL"))
}

/// An item's holders of each access column's level, as Postgres array literals
/// (`{id,id}`), bound as text and cast: UNNEST flattens arrays of arrays. Computed here
/// rather than by a generated column, whose SQL function costs Postgres several
/// microseconds a row per column.
fn holder_literals(acl: &Acl) -> [String; 3] {
    ACCESS_COLUMNS.map(|(_, least)| {
        let ids: Vec<String> = domain::holders(acl, least).iter().map(Uuid::to_string).collect();
        format!("{{{}}}", ids.join(","))
    })
}

/// Three text arrays, one per access column, for the rows of `items`.
fn holder_columns<'a>(items: impl Iterator<Item = &'a Folded>) -> [Vec<&'a str>; 3] {
    let mut columns: [Vec<&str>; 3] = Default::default();
    for folded in items {
        for (column, holders) in columns.iter_mut().zip(&folded.holders) {
            column.push(holders);
        }
    }
    columns
}

pub struct Inventory;

impl Inventory {
    pub const NAME: &'static str = "inventory";
}

/// The SQL type of a field's typed column; `None` for lists and objects, which stay in
/// the document only.
fn column_type(field_type: FieldType) -> Option<&'static str> {
    use FieldType::*;
    match field_type {
        Text | Hostname | Environment | Status | Family | Provider | Source | Id | Cron | TimeZone
        | ScheduleAction | Missed => Some("text"),
        Ipv4 => Some("inet"),
        Cidr => Some("cidr"),
        Count | Interval => Some("bigint"),
        Flag => Some("boolean"),
        IpList | TextList | Object | ObjectList | Grants => None,
    }
}

fn kind_table(kind: Kind) -> Table {
    let mut columns = vec![
        "id uuid PRIMARY KEY".to_string(),
        "version bigint NOT NULL".to_string(),
        "active boolean NOT NULL".to_string(),
        "doc jsonb NOT NULL".to_string(),
        "created_at timestamptz NOT NULL".to_string(),
        "updated_at timestamptz NOT NULL".to_string(),
        "created_by text NOT NULL".to_string(),
        "updated_by text NOT NULL".to_string(),
    ];
    columns.extend(access_columns());
    let mut indexes = vec![
        "(active)".to_string(),
        "(updated_at)".to_string(),
        "USING gin ((doc -> 'tags') jsonb_path_ops)".to_string(),
        "USING gin (readers)".to_string(),
        // What one crawl scope discovered before, for reconciliation.
        "(((doc -> 'provenance' ->> 'connection')), ((doc -> 'provenance' ->> 'task')), ((doc -> 'provenance' ->> 'region')))"
            .to_string(),
    ];
    for spec in kind.fields() {
        let Some(sql_type) = column_type(spec.field_type) else {
            continue;
        };
        let cast = if sql_type == "text" {
            String::new()
        } else {
            format!("::{sql_type}")
        };
        columns.push(format!(
            "{name} {sql_type} GENERATED ALWAYS AS ((doc ->> '{name}'){cast}) STORED",
            name = spec.name
        ));
        // Free text is searched, not sorted; its own index would only slow writes.
        if spec.field_type != FieldType::Text || matches!(spec.name, "name" | "owner") {
            indexes.push(format!("({})", spec.name));
        }
    }
    Table {
        name: kind.table().to_string(),
        columns: columns.join(",\n  "),
        indexes,
    }
}

fn access_table() -> Table {
    let mut columns = vec![
        "id uuid PRIMARY KEY".to_string(),
        "kind text NOT NULL".to_string(),
        "version bigint NOT NULL".to_string(),
    ];
    columns.extend(access_columns());
    Table {
        name: ACCESS_TABLE.to_string(),
        columns: columns.join(",\n  "),
        indexes: vec!["USING gin (readers)".to_string()],
    }
}

fn relations_table() -> Table {
    Table {
        name: RELATIONS_TABLE.to_string(),
        columns: "source_id uuid NOT NULL,
  source_kind text NOT NULL,
  relation text NOT NULL,
  target_id uuid NOT NULL,
  target_kind text NOT NULL,
  protocol text,
  PRIMARY KEY (source_id, relation, target_id)"
            .to_string(),
        indexes: vec!["(target_id, relation)".to_string()],
    }
}

/// An item being folded, with the row facts that are not part of its document.
struct Folded {
    item: Item,
    created: Option<(DateTime<Utc>, String)>,
    updated_at: DateTime<Utc>,
    updated_by: String,
    /// Whether this batch applied any event to it (a re-delivered batch may not).
    changed: bool,
    /// Its access columns' values, once folded (written to its kind's table and to the
    /// access table).
    holders: [String; 3],
}

impl Projection for Inventory {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn tables(&self) -> Vec<Table> {
        Kind::ALL
            .into_iter()
            .map(kind_table)
            .chain([relations_table(), access_table()])
            .collect()
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        events: &[RecordedEvent],
        tables: Tables,
    ) -> Result<(), ProjectionError> {
        let mut by_kind: BTreeMap<Kind, Vec<Uuid>> = BTreeMap::new();
        let mut listed = HashSet::new();
        for event in events {
            if listed.insert(event.stream_id) {
                by_kind.entry(event.kind()?).or_default().push(event.stream_id);
            }
        }
        let mut folded: HashMap<Uuid, Folded> = HashMap::new();
        for (kind, ids) in &by_kind {
            let rows = sqlx::query(&format!(
                "SELECT id, version, doc FROM {} WHERE id = ANY($1)",
                tables.name(kind.table())
            ))
            .bind(ids)
            .fetch_all(&mut *connection)
            .await?;
            for row in rows {
                let (id, version, doc): (Uuid, i64, Value) = (row.get(0), row.get(1), row.get(2));
                let item =
                    Item::from_document(version, &doc).ok_or_else(|| commands::StoreError::Corrupt {
                        position: 0,
                        problem: format!("read model row {id} has a malformed document"),
                    })?;
                folded.insert(
                    id,
                    Folded {
                        item,
                        created: None,
                        updated_at: DateTime::<Utc>::MIN_UTC,
                        updated_by: String::new(),
                        changed: false,
                        holders: Default::default(),
                    },
                );
            }
        }
        for event in events {
            let kind = event.kind()?;
            let entry = folded.entry(event.stream_id).or_insert_with(|| Folded {
                item: Item::new(kind, event.stream_id),
                created: None,
                updated_at: event.recorded_at,
                updated_by: String::new(),
                changed: false,
                holders: Default::default(),
            });
            // Replaying a batch twice must not apply an event twice.
            if event.version <= entry.item.version {
                continue;
            }
            entry.item.apply(&event.event()?);
            let metadata = event.metadata();
            if event.version == 1 {
                entry.created = Some((event.recorded_at, metadata.actor.clone()));
            }
            entry.updated_at = event.recorded_at;
            entry.updated_by = metadata.actor;
            entry.changed = true;
        }
        folded.retain(|_, folded| folded.changed);
        for folded in folded.values_mut() {
            folded.holders = holder_literals(&folded.item.acl);
        }
        for (kind, ids) in &by_kind {
            if !ids.iter().any(|id| folded.contains_key(id)) {
                continue;
            }
            upsert_items(
                connection,
                &tables.name(kind.table()),
                ids.iter().filter_map(|id| folded.get(id)),
            )
            .await?;
        }
        let all_ids: Vec<Uuid> = by_kind
            .values()
            .flatten()
            .filter(|id| folded.contains_key(id))
            .copied()
            .collect();
        upsert_access(
            connection,
            &tables.name(ACCESS_TABLE),
            all_ids.iter().map(|id| &folded[id]),
        )
        .await?;
        replace_relations(connection, &tables.name(RELATIONS_TABLE), &all_ids, &folded).await
    }
}

async fn upsert_items<'a>(
    connection: &mut PgConnection,
    table: &str,
    items: impl Iterator<Item = &'a Folded>,
) -> Result<(), ProjectionError> {
    let (mut ids, mut versions, mut actives, mut docs) = (vec![], vec![], vec![], vec![]);
    let (mut created_at, mut created_by) = (vec![], vec![]);
    let (mut updated_at, mut updated_by) = (vec![], vec![]);
    let mut rows = vec![];
    for folded in items {
        rows.push(folded);
        let item = &folded.item;
        // An item whose first event is not in the batch already has its row: only the
        // updated columns matter then, and the created ones are ignored on conflict.
        let (at, by) = folded
            .created
            .clone()
            .unwrap_or((folded.updated_at, folded.updated_by.clone()));
        ids.push(item.id);
        versions.push(item.version);
        actives.push(item.is_active());
        docs.push(item.document());
        created_at.push(at);
        created_by.push(by);
        updated_at.push(folded.updated_at);
        updated_by.push(folded.updated_by.clone());
    }
    let [readers, writers, admins] = holder_columns(rows.into_iter());
    sqlx::query(&format!(
        "INSERT INTO {table} (id, version, active, doc, created_at, created_by, updated_at, updated_by,
                              readers, writers, admins)
         SELECT id, version, active, doc, created_at, created_by, updated_at, updated_by,
                readers::uuid[], writers::uuid[], admins::uuid[]
           FROM UNNEST($1::uuid[], $2::bigint[], $3::bool[], $4::jsonb[], $5::timestamptz[], $6::text[],
                       $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[])
             AS row (id, version, active, doc, created_at, created_by, updated_at, updated_by,
                     readers, writers, admins)
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, active = EXCLUDED.active, doc = EXCLUDED.doc,
                updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by,
                readers = EXCLUDED.readers, writers = EXCLUDED.writers, admins = EXCLUDED.admins"
    ))
    .bind(&ids)
    .bind(&versions)
    .bind(&actives)
    .bind(&docs)
    .bind(&created_at)
    .bind(&created_by)
    .bind(&updated_at)
    .bind(&updated_by)
    .bind(&readers)
    .bind(&writers)
    .bind(&admins)
    .execute(connection)
    .await?;
    Ok(())
}

async fn upsert_access<'a>(
    connection: &mut PgConnection,
    table: &str,
    items: impl Iterator<Item = &'a Folded>,
) -> Result<(), ProjectionError> {
    let (mut ids, mut kinds, mut versions, mut rows) = (vec![], vec![], vec![], vec![]);
    for folded in items {
        ids.push(folded.item.id);
        kinds.push(folded.item.kind.stream_type());
        versions.push(folded.item.version);
        rows.push(folded);
    }
    let [readers, writers, admins] = holder_columns(rows.into_iter());
    sqlx::query(&format!(
        "INSERT INTO {table} (id, kind, version, readers, writers, admins)
         SELECT id, kind, version, readers::uuid[], writers::uuid[], admins::uuid[]
           FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])
             AS row (id, kind, version, readers, writers, admins)
         ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version,
                readers = EXCLUDED.readers, writers = EXCLUDED.writers, admins = EXCLUDED.admins"
    ))
    .bind(&ids)
    .bind(&kinds)
    .bind(&versions)
    .bind(&readers)
    .bind(&writers)
    .bind(&admins)
    .execute(connection)
    .await?;
    Ok(())
}

async fn replace_relations(
    connection: &mut PgConnection,
    table: &str,
    ids: &[Uuid],
    folded: &HashMap<Uuid, Folded>,
) -> Result<(), ProjectionError> {
    sqlx::query(&format!("DELETE FROM {table} WHERE source_id = ANY($1)"))
        .bind(ids)
        .execute(&mut *connection)
        .await?;
    let (mut sources, mut source_kinds, mut relations) = (vec![], vec![], vec![]);
    let (mut targets, mut target_kinds, mut protocols) = (vec![], vec![], vec![]);
    for item in ids.iter().filter_map(|id| folded.get(id)).map(|f| &f.item) {
        for ((relation, target), protocol) in &item.links {
            sources.push(item.id);
            source_kinds.push(item.kind.stream_type());
            relations.push(relation.as_str());
            targets.push(target.id);
            target_kinds.push(target.kind.stream_type());
            protocols.push(protocol.map(|p| p.as_str()));
        }
    }
    if sources.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO {table} (source_id, source_kind, relation, target_id, target_kind, protocol)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[])"
    ))
    .bind(&sources)
    .bind(&source_kinds)
    .bind(&relations)
    .bind(&targets)
    .bind(&target_kinds)
    .bind(&protocols)
    .execute(connection)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_access_column_holds_who_has_at_least_its_level() {
        let (reader, writer, admin) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let acl = Acl::from([
            (admin, Level::Admin),
            (writer, Level::Write),
            (reader, Level::Read),
        ]);
        let [readers, writers, admins] = holder_literals(&acl);
        assert_eq!(readers, format!("{{{reader},{writer},{admin}}}"));
        assert_eq!(writers, format!("{{{writer},{admin}}}"));
        assert_eq!(admins, format!("{{{admin}}}"));
        assert_eq!(holder_literals(&Acl::new()), ["{}", "{}", "{}"]);
    }
}
