//! Relations as fields (`server.applications`, `application.dependents`, …), served
//! through data loaders: a page of items with their relations costs a fixed number of
//! SQL statements, whatever its size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use domain::{ItemRef, Kind, Relation};
use sqlx::PgPool;
use uuid::Uuid;

use super::queries::{first_argument, first_value};
use crate::names::type_name;

/// Linked items a relation field lists when `first` is omitted.
const RELATION_PAGE_SIZE: i64 = 100;
use crate::read::{self, ItemRow, Sight};

/// Where a relation field looks from: the item that holds the link, or the one linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct LinkKey {
    relation: Relation,
    outgoing: bool,
    owner: Uuid,
}

/// The field name of each relation, seen from each end.
fn field_name(relation: Relation, outgoing: bool) -> &'static str {
    match (relation, outgoing) {
        (Relation::Hosts, true) => "applications",
        (Relation::Hosts, false) => "servers",
        (Relation::DependsOn, true) => "dependencies",
        (Relation::DependsOn, false) => "dependents",
        (Relation::PartOf, true) => "systems",
        (Relation::PartOf, false) => "applications",
        (Relation::Entry, true) => "entryApplications",
        (Relation::Entry, false) => "entryOf",
        (Relation::Serves, true) => "clients",
        (Relation::Serves, false) => "systems",
        (Relation::Targets, true) => "targets",
        (Relation::Targets, false) => "balancedBy",
        (Relation::AttachedTo, true) => "attachedTo",
        (Relation::AttachedTo, false) => "volumes",
        (Relation::LocatedIn, true) => "locatedIn",
        (Relation::LocatedIn, false) => "locatedItems",
    }
}

pub struct Links(PgPool);

impl Loader<LinkKey> for Links {
    type Value = Vec<ItemRef>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[LinkKey]) -> Result<HashMap<LinkKey, Vec<ItemRef>>, Self::Error> {
        let mut groups: BTreeMap<(Relation, bool), Vec<Uuid>> = BTreeMap::new();
        for key in keys {
            groups
                .entry((key.relation, key.outgoing))
                .or_default()
                .push(key.owner);
        }
        let mut found: HashMap<LinkKey, Vec<ItemRef>> = keys.iter().map(|key| (*key, vec![])).collect();
        for ((relation, outgoing), owners) in groups {
            for (owner, other) in read::linked(&self.0, relation, outgoing, &owners).await? {
                found
                    .entry(LinkKey {
                        relation,
                        outgoing,
                        owner,
                    })
                    .or_default()
                    .push(other);
            }
        }
        Ok(found)
    }
}

/// Items by id, as far as the request's sight reaches: a relation to an item the person
/// cannot read shows nothing of it.
pub struct Items(PgPool, Sight);

impl Loader<ItemRef> for Items {
    type Value = Arc<ItemRow>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ItemRef]) -> Result<HashMap<ItemRef, Arc<ItemRow>>, Self::Error> {
        let mut by_kind: BTreeMap<Kind, Vec<Uuid>> = BTreeMap::new();
        for key in keys {
            by_kind.entry(key.kind).or_default().push(key.id);
        }
        let mut found = HashMap::new();
        for (kind, ids) in by_kind {
            for row in read::get_many(&self.0, &self.1, kind, &ids).await? {
                found.insert(ItemRef { kind, id: row.id }, Arc::new(row));
            }
        }
        Ok(found)
    }
}

/// The per-request loaders of the person asking; a new request starts with empty caches.
pub fn loaders(pool: &PgPool, sight: Sight) -> (DataLoader<Links>, DataLoader<Items>) {
    (
        DataLoader::new(Links(pool.clone()), tokio::spawn),
        DataLoader::new(Items(pool.clone(), sight), tokio::spawn),
    )
}

fn relation_field(relation: Relation, outgoing: bool) -> Field {
    let others = if outgoing {
        relation.targets()
    } else {
        relation.sources()
    };
    // One kind at the other end gives a typed list; several give nodes.
    let single_kind = (others.len() == 1).then(|| others[0]);
    let element = single_kind.map(type_name).unwrap_or_else(|| "Node".to_string());
    Field::new(
        field_name(relation, outgoing),
        TypeRef::named_nn_list_nn(element),
        move |ctx| {
            FieldFuture::new(async move {
                let first = first_value(&ctx, RELATION_PAGE_SIZE)? as usize;
                let owner = ctx.parent_value.try_downcast_ref::<Arc<ItemRow>>()?.id;
                let links = ctx.data::<DataLoader<Links>>()?;
                let items = ctx.data::<DataLoader<Items>>()?;
                let others = links
                    .load_one(LinkKey {
                        relation,
                        outgoing,
                        owner,
                    })
                    .await?
                    .unwrap_or_default();
                let loaded = items.load_many(others.iter().copied()).await?;
                let mut rows: Vec<Arc<ItemRow>> = others
                    .iter()
                    .filter_map(|other| loaded.get(other).cloned())
                    .filter(|row| row.active)
                    .collect();
                rows.sort_by(|a, b| a.doc["name"].as_str().cmp(&b.doc["name"].as_str()));
                rows.truncate(first);
                Ok(Some(FieldValue::list(rows.into_iter().map(|row| {
                    let value = FieldValue::owned_any(row.clone());
                    if single_kind.is_some() {
                        value
                    } else {
                        value.with_type(type_name(row.kind))
                    }
                }))))
            })
        },
    )
    .description(format!(
        "Active items linked as `{relation}`{}, by name: the first `first` of them.",
        if outgoing { "" } else { " to this one" }
    ))
    .argument(first_argument(RELATION_PAGE_SIZE))
}

/// The relation fields of a kind, from either end of every relation it can take part in.
pub fn fields(kind: Kind) -> Vec<Field> {
    Relation::ALL
        .into_iter()
        .flat_map(|relation| {
            let outgoing = relation
                .sources()
                .contains(&kind)
                .then(|| relation_field(relation, true));
            let incoming = relation
                .targets()
                .contains(&kind)
                .then(|| relation_field(relation, false));
            outgoing.into_iter().chain(incoming)
        })
        .collect()
}
