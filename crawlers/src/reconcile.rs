//! Reconciliation: what a crawl saw, against what the same (connection, task, region)
//! produced before. New ⇒ discovered; changed ⇒ only the changed fields and provider
//! tags; missing ⇒ orphaned; unchanged ⇒ nothing at all. A crawl that failed orphans
//! nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use domain::{DomainError, Fields, Item, Kind, Provenance, ProviderTags, TagFields, TagKey};
use serde_json::Value;
use uuid::Uuid;

use crate::Observation;

/// The (connection, task, region) a crawl ran for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub connection: Uuid,
    pub task: String,
    pub region: String,
}

impl Scope {
    fn provenance(&self, provider_id: &str) -> Provenance {
        Provenance {
            connection: self.connection,
            task: self.task.clone(),
            region: self.region.clone(),
            provider_id: provider_id.to_string(),
        }
    }
}

/// An item this scope discovered before, as the read model holds it.
#[derive(Debug, Clone)]
pub struct Known {
    pub id: Uuid,
    pub kind: Kind,
    pub active: bool,
    pub document: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Observe {
        id: Uuid,
        kind: Kind,
        fields: Fields,
        tags: BTreeMap<TagKey, String>,
        provenance: Provenance,
    },
    Orphan {
        id: Uuid,
        kind: Kind,
    },
}

#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub unchanged: usize,
    /// Observations with a value or a tag Maestro cannot take, by provider id. An
    /// observation with a tag it cannot take is still observed, without that tag.
    pub invalid: Vec<(String, DomainError)>,
}

/// The id of the item a provider's item becomes: the same for the same provider id seen
/// by the same connection, and never the same across connections (accounts).
pub fn item_id(connection: Uuid, kind: Kind, provider_id: &str) -> Uuid {
    Uuid::new_v5(&connection, format!("{kind}:{provider_id}").as_bytes())
}

/// Whether the document already holds every observed value (`null`: no value) and
/// exactly the provider's tags.
fn already_holds(document: &Value, fields: &Fields, tags: &BTreeMap<TagKey, String>) -> bool {
    let holds_fields = fields
        .values()
        .iter()
        .all(|(name, value)| document.get(name).unwrap_or(&Value::Null) == value);
    holds_fields
        && Item::from_document(0, document).is_some_and(|item| item.provider_tag_changes(tags).is_empty())
}

/// Plans the changes for what a crawl saw, with the fields its tags fill (`tag_fields`).
/// `complete` is false when any page or region of the crawl failed: then nothing is
/// orphaned, since missing is not the same as gone.
pub fn plan(
    scope: &Scope,
    known: &[Known],
    seen: &[Observation],
    tag_fields: &TagFields,
    complete: bool,
) -> Plan {
    let known: HashMap<Uuid, &Known> = known.iter().map(|item| (item.id, item)).collect();
    let mut plan = Plan::default();
    let mut seen_ids = HashSet::new();
    for observation in seen {
        let id = item_id(scope.connection, observation.kind, &observation.provider_id);
        if !seen_ids.insert(id) {
            continue;
        }
        let (fields, ProviderTags { tags, refused }) = observation.with_tag_fields(tag_fields);
        plan.invalid.extend(refused.into_iter().map(|problem| {
            let error = DomainError::InvalidField {
                field: "tags".into(),
                problem,
            };
            (observation.provider_id.clone(), error)
        }));
        let fields = match Fields::parse(observation.kind, &fields) {
            Ok(fields) => fields,
            Err(error) => {
                plan.invalid.push((observation.provider_id.clone(), error));
                continue;
            }
        };
        match known.get(&id) {
            Some(item) if item.active && already_holds(&item.document, &fields, &tags) => plan.unchanged += 1,
            _ => plan.changes.push(Change::Observe {
                id,
                kind: observation.kind,
                fields,
                tags,
                provenance: scope.provenance(&observation.provider_id),
            }),
        }
    }
    if complete {
        let mut gone: Vec<&Known> = known
            .values()
            .filter(|item| item.active && !seen_ids.contains(&item.id))
            .copied()
            .collect();
        gone.sort_by_key(|item| item.id);
        plan.changes.extend(gone.into_iter().map(|item| Change::Orphan {
            id: item.id,
            kind: item.kind,
        }));
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use domain::{Command, Item};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn scope() -> Scope {
        Scope {
            connection: Uuid::from_u128(1),
            task: "server-list".into(),
            region: "r1".into(),
        }
    }

    fn observation(provider_id: u8, cpu: u8) -> Observation {
        let fields = json!({"hostname": format!("host-{provider_id}"), "cpu": cpu});
        Observation {
            kind: Kind::Server,
            provider_id: format!("i-{provider_id}"),
            fields: fields.as_object().unwrap().clone(),
            tags: BTreeMap::new(),
        }
    }

    /// The event-sourced world the plans run against: items by id.
    #[derive(Default)]
    struct World(BTreeMap<Uuid, Item>);

    impl World {
        fn known(&self) -> Vec<Known> {
            self.0
                .values()
                .map(|item| Known {
                    id: item.id,
                    kind: item.kind,
                    active: item.is_active(),
                    document: item.document(),
                })
                .collect()
        }

        /// Applies a plan; returns how many events it appended.
        fn apply(&mut self, plan: &Plan) -> usize {
            let mut events = 0;
            for change in &plan.changes {
                let (id, kind, command) = match change {
                    Change::Observe {
                        id,
                        kind,
                        fields,
                        tags,
                        provenance,
                    } => (
                        *id,
                        *kind,
                        Command::Observe {
                            fields: fields.clone(),
                            tags: tags.clone(),
                            provenance: provenance.clone(),
                            grants: domain::Acl::new(),
                        },
                    ),
                    Change::Orphan { id, kind } => (*id, *kind, Command::Orphan),
                };
                let item = self.0.entry(id).or_insert_with(|| Item::new(kind, id));
                for event in item.handle(&command).unwrap() {
                    item.apply(&event);
                    events += 1;
                }
            }
            events
        }

        fn crawl(&mut self, seen: &[Observation], complete: bool) -> (Plan, usize) {
            let plan = plan(&scope(), &self.known(), seen, &TagFields::default(), complete);
            let events = self.apply(&plan);
            (plan, events)
        }
    }

    fn crawls() -> impl Strategy<Value = Vec<(Vec<(u8, u8)>, bool)>> {
        proptest::collection::vec(
            (
                proptest::collection::vec((0u8..12, 0u8..4), 0..10),
                proptest::bool::weighted(0.8),
            ),
            1..8,
        )
    }

    proptest! {
        /// After any sequence of crawls, a complete crawl leaves exactly what it saw
        /// active, with the values it saw; crawling the same again appends nothing.
        #[test]
        fn the_inventory_follows_complete_crawls_and_repeats_are_silent(history in crawls(), last in proptest::collection::vec((0u8..12, 0u8..4), 0..10)) {
            let mut world = World::default();
            for (seen, complete) in &history {
                let seen: Vec<_> = seen.iter().map(|(id, cpu)| observation(*id, *cpu)).collect();
                world.crawl(&seen, *complete);
            }
            let seen: Vec<_> = last.iter().map(|(id, cpu)| observation(*id, *cpu)).collect();
            world.crawl(&seen, true);
            let expected: BTreeMap<Uuid, Value> = seen
                .iter()
                .rev() // the first sighting of a provider id in one crawl wins
                .map(|o| (item_id(scope().connection, Kind::Server, &o.provider_id), o.fields["cpu"].clone()))
                .collect();
            let active: BTreeMap<Uuid, Value> = world.0.values().filter(|i| i.is_active()).map(|i| (i.id, i.fields["cpu"].clone())).collect();
            let first_seen: BTreeMap<Uuid, Value> = {
                let mut first = BTreeMap::new();
                for o in &seen {
                    first.entry(item_id(scope().connection, Kind::Server, &o.provider_id)).or_insert(o.fields["cpu"].clone());
                }
                first
            };
            prop_assert_eq!(active.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
            prop_assert_eq!(active, first_seen);
            let (plan, events) = world.crawl(&seen, true);
            prop_assert_eq!(events, 0, "an unchanged crawl appends nothing");
            prop_assert!(plan.changes.is_empty());
        }

        /// A failed crawl orphans nothing, whatever it did or did not see.
        #[test]
        fn a_failed_crawl_orphans_nothing(before in proptest::collection::vec((0u8..12, 0u8..4), 0..10), partial in proptest::collection::vec((0u8..12, 0u8..4), 0..5)) {
            let mut world = World::default();
            world.crawl(&before.iter().map(|(id, cpu)| observation(*id, *cpu)).collect::<Vec<_>>(), true);
            let active_before: HashSet<Uuid> = world.0.values().filter(|i| i.is_active()).map(|i| i.id).collect();
            let (plan, _) = world.crawl(&partial.iter().map(|(id, cpu)| observation(*id, *cpu)).collect::<Vec<_>>(), false);
            let orphans = plan.changes.iter().filter(|c| matches!(c, Change::Orphan { .. })).count();
            prop_assert_eq!(orphans, 0);
            let active_after: HashSet<Uuid> = world.0.values().filter(|i| i.is_active()).map(|i| i.id).collect();
            prop_assert!(active_before.is_subset(&active_after));
        }
    }

    #[test]
    fn fields_a_person_set_survive_a_crawl_and_changes_carry_only_changed_fields() {
        let mut world = World::default();
        world.crawl(&[observation(1, 2)], true);
        let id = item_id(scope().connection, Kind::Server, "i-1");
        let item = world.0.get_mut(&id).unwrap();
        let by_hand = Fields::parse(Kind::Server, json!({"role": "database"}).as_object().unwrap()).unwrap();
        for event in item.handle(&Command::Update(by_hand)).unwrap() {
            item.apply(&event);
        }
        let (plan, events) = world.crawl(&[observation(1, 4)], true);
        assert_eq!(events, 1);
        let Change::Observe { fields, .. } = &plan.changes[0] else {
            panic!("an observation")
        };
        assert_eq!(fields.get("cpu"), Some(&json!(4)));
        assert_eq!(
            world.0[&id].fields["role"],
            json!("database"),
            "the person's field survived"
        );
    }

    #[test]
    fn the_same_provider_id_in_two_connections_is_two_items() {
        assert_ne!(
            item_id(Uuid::from_u128(1), Kind::Server, "i-1"),
            item_id(Uuid::from_u128(2), Kind::Server, "i-1")
        );
        assert_ne!(
            item_id(Uuid::from_u128(1), Kind::Server, "x"),
            item_id(Uuid::from_u128(1), Kind::Volume, "x")
        );
    }

    #[test]
    fn a_malformed_observation_is_reported_and_not_orphaned_by_it() {
        let mut world = World::default();
        world.crawl(&[observation(1, 2)], true);
        let mut broken = observation(1, 2);
        broken.fields.insert("ipv4_private".into(), json!("999.1.1.1"));
        let (plan, _) = world.crawl(&[broken], true);
        assert_eq!(plan.invalid.len(), 1);
        assert!(plan.invalid[0].1.to_string().contains("ipv4_private"));
        assert!(plan.changes.is_empty(), "seen, though malformed: not orphaned");
    }
}
