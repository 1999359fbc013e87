//! Queries against the read models and the audit trail.

use chrono::{DateTime, Utc};
use commands::LoadedItem;
use domain::Kind;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::errors::read_failed;

/// Reads answer GraphQL errors: a missing read model says so instead of failing opaquely.
type ReadResult<T> = async_graphql::Result<T>;

/// An item as the gateway serves it, from a read-model row or replayed from its stream.
#[derive(Debug, Clone)]
pub struct ItemRow {
    pub kind: Kind,
    pub id: Uuid,
    pub version: i64,
    pub active: bool,
    pub doc: Value,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
}

impl ItemRow {
    /// The item as a public share link shows it: without who may see or change it, who
    /// changed it, or who gets what it discovers, so that a link names no person or team.
    pub fn anonymous(mut self) -> ItemRow {
        if let Some(doc) = self.doc.as_object_mut() {
            doc.remove("acl");
            doc.remove("acl_template");
        }
        self.created_by = None;
        self.updated_by = None;
        self
    }

    fn from_row(kind: Kind, row: &PgRow) -> Result<ItemRow, sqlx::Error> {
        Ok(ItemRow {
            kind,
            id: row.try_get("id")?,
            version: row.try_get("version")?,
            active: row.try_get("active")?,
            doc: row.try_get("doc")?,
            created_at: Some(row.try_get("created_at")?),
            updated_at: Some(row.try_get("updated_at")?),
            created_by: Some(row.try_get("created_by")?),
            updated_by: Some(row.try_get("updated_by")?),
        })
    }

    pub fn from_loaded(loaded: &LoadedItem) -> ItemRow {
        let item = &loaded.item;
        ItemRow {
            kind: item.kind,
            id: item.id,
            version: item.version,
            active: item.is_active(),
            doc: item.document(),
            created_at: loaded.created.as_ref().map(|s| s.at),
            updated_at: loaded.updated.as_ref().map(|s| s.at),
            created_by: loaded.created.as_ref().map(|s| s.by.clone()),
            updated_by: loaded.updated.as_ref().map(|s| s.by.clone()),
        }
    }
}

/// Which rows a read may fetch at all. Every read of the read models takes one, and it
/// becomes part of the SQL: a query never fetches a row it would then have to hide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sight {
    /// A person: rows that grant read to one of these principals (them and their teams).
    Principals(Vec<Uuid>),
    /// A public share link: that one item, and nothing through it.
    Item(Uuid),
    /// Nobody signed in: no row.
    Nobody,
}

impl Sight {
    pub fn of(viewer: &domain::Viewer) -> Sight {
        Sight::Principals(viewer.principals(domain::Level::Read))
    }

    /// The same decision as the SQL condition, for an item in hand.
    pub fn allows(&self, id: Uuid, acl: &domain::Acl) -> bool {
        match self {
            Sight::Principals(principals) => principals.iter().any(|p| acl.contains_key(p)),
            Sight::Item(item) => *item == id,
            Sight::Nobody => false,
        }
    }

    fn condition(&self) -> Condition {
        match self {
            Sight::Principals(principals) => Condition {
                expression: "readers".to_string(),
                op: Op::Overlaps,
                value: Bind::Uuids(principals.clone()),
            },
            Sight::Item(id) => Condition {
                expression: "id".to_string(),
                op: Op::Eq,
                value: Bind::Uuid(*id),
            },
            Sight::Nobody => Condition {
                expression: "FALSE".to_string(),
                op: Op::Eq,
                value: Bind::Bool(true),
            },
        }
    }
}

/// A value bound into a filter.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Texts(Vec<String>),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Json(Value),
    Uuid(Uuid),
    Uuids(Vec<Uuid>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Contains,
    NotContains,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    /// jsonb containment, for tags.
    Has,
    /// Array overlap, for access lists.
    Overlaps,
}

/// One condition on a column expression. Expressions come from code, never from input.
#[derive(Debug, Clone)]
pub struct Condition {
    pub expression: String,
    pub op: Op,
    pub value: Bind,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub kind: Kind,
    pub sight: Sight,
    pub conditions: Vec<Condition>,
    pub order_by: String,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

fn push_bind(builder: &mut QueryBuilder<'_, Postgres>, value: &Bind) {
    match value.clone() {
        Bind::Text(v) => builder.push_bind(v),
        Bind::Texts(v) => builder.push_bind(v),
        Bind::Int(v) => builder.push_bind(v),
        Bind::Bool(v) => builder.push_bind(v),
        Bind::Time(v) => builder.push_bind(v),
        Bind::Json(v) => builder.push_bind(v),
        Bind::Uuid(v) => builder.push_bind(v),
        Bind::Uuids(v) => builder.push_bind(v),
    };
}

fn like_pattern(value: &Bind) -> Bind {
    match value {
        Bind::Text(text) => {
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            Bind::Text(format!("%{escaped}%"))
        }
        other => other.clone(),
    }
}

/// `WHERE` with the sight's condition first, then the caller's.
fn push_where(builder: &mut QueryBuilder<'_, Postgres>, sight: &Sight, conditions: &[Condition]) {
    builder.push(" WHERE TRUE");
    for condition in std::iter::once(&sight.condition()).chain(conditions) {
        let column = &condition.expression;
        builder.push(" AND ");
        let (prefix, suffix) = match condition.op {
            Op::Eq => (format!("{column} = "), ""),
            // Negations include items that have no value at all.
            Op::Ne => (format!("({column} IS NULL OR {column} <> "), ")"),
            Op::Contains => (format!("{column} ILIKE "), ""),
            Op::NotContains => (format!("({column} IS NULL OR {column} NOT ILIKE "), ")"),
            Op::In => (format!("{column} = ANY("), ")"),
            Op::Gt => (format!("{column} > "), ""),
            Op::Gte => (format!("{column} >= "), ""),
            Op::Lt => (format!("{column} < "), ""),
            Op::Lte => (format!("{column} <= "), ""),
            Op::Has => (format!("{column} @> "), ""),
            Op::Overlaps => (format!("{column} && "), ""),
        };
        builder.push(prefix);
        match condition.op {
            Op::Contains | Op::NotContains => push_bind(builder, &like_pattern(&condition.value)),
            _ => push_bind(builder, &condition.value),
        }
        builder.push(suffix);
    }
}

const ROW_COLUMNS: &str = "id, version, active, doc, created_at, updated_at, created_by, updated_by";

pub async fn list(pool: &PgPool, query: &ListQuery) -> ReadResult<Vec<ItemRow>> {
    let mut builder = QueryBuilder::new(format!("SELECT {ROW_COLUMNS} FROM {}", query.kind.table()));
    push_where(&mut builder, &query.sight, &query.conditions);
    let direction = if query.descending { "DESC" } else { "ASC" };
    builder.push(format!(
        " ORDER BY {} {direction} NULLS LAST, id {direction} LIMIT ",
        query.order_by
    ));
    builder.push_bind(query.limit);
    builder.push(" OFFSET ");
    builder.push_bind(query.offset);
    let rows = builder.build().fetch_all(pool).await.map_err(read_failed)?;
    rows.iter()
        .map(|row| ItemRow::from_row(query.kind, row))
        .collect::<Result<_, _>>()
        .map_err(read_failed)
}

pub async fn count(pool: &PgPool, query: &ListQuery) -> ReadResult<i64> {
    let mut builder = QueryBuilder::new(format!("SELECT count(*) FROM {}", query.kind.table()));
    push_where(&mut builder, &query.sight, &query.conditions);
    builder
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(read_failed)
}

pub async fn get(pool: &PgPool, sight: &Sight, kind: Kind, id: Uuid) -> ReadResult<Option<ItemRow>> {
    Ok(get_many(pool, sight, kind, &[id]).await?.pop())
}

/// Whether `sight` may read item `id`, by the item's grants in the read model; `None`
/// when the read model does not hold the item (yet).
pub async fn readable(pool: &PgPool, sight: &Sight, id: Uuid) -> ReadResult<Option<bool>> {
    let mut builder = QueryBuilder::new("SELECT EXISTS (SELECT 1 FROM item_access");
    push_where(&mut builder, sight, &[]);
    builder.push(" AND id = ");
    builder.push_bind(id);
    builder.push(") FROM item_access WHERE id = ");
    builder.push_bind(id);
    match builder.build_query_scalar().fetch_optional(pool).await {
        // Before the projector first ran there is no read model: the stream decides.
        Err(error) if error.as_database_error().and_then(|e| e.code()).as_deref() == Some("42P01") => {
            Ok(None)
        }
        other => other.map_err(read_failed),
    }
}

/// One change of an item, from the audit trail.
#[derive(Debug, Clone)]
pub struct Change {
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_kind: String,
    pub source: String,
    pub patch: Value,
    pub diff: String,
}

pub async fn history(pool: &PgPool, id: Uuid, limit: i64, offset: i64) -> ReadResult<Vec<Change>> {
    let rows = sqlx::query(
        "SELECT version, event_id, event_type, recorded_at, actor, actor_kind, source, patch, diff
         FROM audit_trail WHERE stream_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(read_failed)?;
    rows.iter()
        .map(|row| {
            Ok(Change {
                version: row.try_get("version")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                at: row.try_get("recorded_at")?,
                actor: row.try_get("actor")?,
                actor_kind: row.try_get("actor_kind")?,
                source: row.try_get("source")?,
                patch: row.try_get("patch")?,
                diff: row.try_get("diff")?,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(read_failed)
}

pub async fn history_count(pool: &PgPool, id: Uuid) -> ReadResult<i64> {
    sqlx::query_scalar("SELECT count(*) FROM audit_trail WHERE stream_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .map_err(read_failed)
}

pub async fn get_many(pool: &PgPool, sight: &Sight, kind: Kind, ids: &[Uuid]) -> ReadResult<Vec<ItemRow>> {
    let mut builder = QueryBuilder::new(format!("SELECT {ROW_COLUMNS} FROM {}", kind.table()));
    let wanted = Condition {
        expression: "id".to_string(),
        op: Op::In,
        value: Bind::Uuids(ids.to_vec()),
    };
    push_where(&mut builder, sight, &[wanted]);
    let rows = builder.build().fetch_all(pool).await.map_err(read_failed)?;
    rows.iter()
        .map(|row| ItemRow::from_row(kind, row))
        .collect::<Result<_, _>>()
        .map_err(read_failed)
}

/// The items at the other end of `relation` from each of `owners`: their targets when
/// `outgoing`, their sources otherwise. Returns (owner, other item) pairs.
pub async fn linked(
    pool: &PgPool,
    relation: domain::Relation,
    outgoing: bool,
    owners: &[Uuid],
) -> ReadResult<Vec<(Uuid, domain::ItemRef)>> {
    let (owner, other, other_kind) = if outgoing {
        ("source_id", "target_id", "target_kind")
    } else {
        ("target_id", "source_id", "source_kind")
    };
    let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(&format!(
        "SELECT {owner}, {other}, {other_kind} FROM relations WHERE relation = $1 AND {owner} = ANY($2) ORDER BY {other}"
    ))
    .bind(relation.as_str())
    .bind(owners)
    .fetch_all(pool)
    .await.map_err(read_failed)?;
    Ok(rows
        .into_iter()
        .filter_map(|(owner, id, kind)| {
            Some((
                owner,
                domain::ItemRef {
                    kind: Kind::from_stream_type(&kind)?,
                    id,
                },
            ))
        })
        .collect())
}
