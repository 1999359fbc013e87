//! Given/when/then tests of the item aggregate: given past events, when a command is
//! handled, then these events (or this error) come out. No I/O.

use std::collections::BTreeMap;

use domain::{
    Acl, Command, DomainError, Event, Fields, Item, ItemRef, Kind, Link, Protocol, Relation, TagKey,
    TagSource,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn given(kind: Kind, events: &[Event]) -> Item {
    Item::replay(kind, id(1), events)
}

fn fields(kind: Kind, input: Value) -> Fields {
    Fields::parse(kind, input.as_object().expect("test input is an object")).expect("test input parses")
}

fn created(input: Value) -> Event {
    let Value::Object(map) = input else {
        panic!("object expected")
    };
    Event::Created {
        fields: map.into_iter().collect(),
        grants: Acl::new(),
    }
}

fn web_server() -> Event {
    created(json!({"name": "web-1", "hostname": "web-1", "environment": "Production", "cpu": 2}))
}

#[test]
fn creating_a_server_names_it_after_its_hostname() {
    let events = given(Kind::Server, &[])
        .handle(&Command::Create(fields(
            Kind::Server,
            json!({"hostname": "Web-1"}),
        )))
        .unwrap();
    assert_eq!(
        events,
        vec![created(json!({"hostname": "web-1", "name": "web-1"}))]
    );
}

#[test]
fn creating_without_the_required_field_names_it() {
    let error = given(Kind::Application, &[])
        .handle(&Command::Create(fields(
            Kind::Application,
            json!({"language": "rust"}),
        )))
        .unwrap_err();
    assert_eq!(
        error,
        DomainError::MissingField {
            kind: Kind::Application,
            field: "name"
        }
    );
}

#[test]
fn creating_twice_is_refused() {
    let error = given(Kind::Server, &[web_server()])
        .handle(&Command::Create(fields(Kind::Server, json!({"hostname": "x"}))))
        .unwrap_err();
    assert!(matches!(error, DomainError::AlreadyExists { .. }));
}

#[test]
fn an_update_carries_only_the_fields_that_change() {
    let item = given(Kind::Server, &[web_server()]);
    let events = item
        .handle(&Command::Update(fields(
            Kind::Server,
            json!({"cpu": 4, "environment": "prod", "role": "web"}),
        )))
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Updated {
            changes: [("cpu".into(), json!(4)), ("role".into(), json!("web"))].into()
        }]
    );
}

#[test]
fn an_update_that_changes_nothing_produces_no_event() {
    let item = given(Kind::Server, &[web_server()]);
    let events = item
        .handle(&Command::Update(fields(
            Kind::Server,
            json!({"cpu": "2", "memory": null}),
        )))
        .unwrap();
    assert!(events.is_empty());
}

#[test]
fn null_clears_a_field_but_not_a_required_one() {
    let item = given(Kind::Server, &[web_server()]);
    let events = item
        .handle(&Command::Update(fields(Kind::Server, json!({"cpu": null}))))
        .unwrap();
    assert_eq!(
        events,
        vec![Event::Updated {
            changes: [("cpu".into(), Value::Null)].into()
        }]
    );
    let error = item
        .handle(&Command::Update(fields(Kind::Server, json!({"hostname": null}))))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "field `hostname`: is required and cannot be cleared"
    );
}

#[test]
fn fields_parsed_for_another_kind_are_refused() {
    let item = given(Kind::Server, &[web_server()]);
    let error = item
        .handle(&Command::Update(fields(Kind::Volume, json!({"size": 1}))))
        .unwrap_err();
    assert!(matches!(error, DomainError::WrongKind { .. }));
}

#[test]
fn delete_is_a_tombstone_that_restore_lifts() {
    let item = given(Kind::Server, &[web_server()]);
    assert_eq!(item.handle(&Command::Delete).unwrap(), vec![Event::Deleted]);
    let deleted = given(Kind::Server, &[web_server(), Event::Deleted]);
    assert!(!deleted.is_active());
    assert_eq!(deleted.document()["active"], json!(false));
    assert_eq!(
        deleted.handle(&Command::Delete).unwrap(),
        vec![],
        "deleting twice changes nothing"
    );
    assert!(matches!(
        deleted.handle(&Command::Update(fields(Kind::Server, json!({"cpu": 8})))),
        Err(DomainError::Deleted { .. })
    ));
    assert_eq!(deleted.handle(&Command::Restore).unwrap(), vec![Event::Restored]);
    assert_eq!(
        item.handle(&Command::Restore).unwrap(),
        vec![],
        "restoring an active item changes nothing"
    );
}

#[test]
fn commands_on_a_missing_item_are_not_found() {
    for command in [
        Command::Delete,
        Command::Restore,
        Command::Untag {
            key: TagKey::parse("a").unwrap(),
        },
    ] {
        assert!(matches!(
            given(Kind::Client, &[]).handle(&command),
            Err(DomainError::NotFound { .. })
        ));
    }
}

#[test]
fn dependencies_carry_a_protocol_and_relink_only_when_it_changes() {
    let app = given(Kind::Application, &[created(json!({"name": "api"}))]);
    let target = ItemRef {
        kind: Kind::Application,
        id: id(2),
    };
    let link = Link {
        relation: Relation::DependsOn,
        target,
        protocol: Some(Protocol::Grpc),
    };
    let events = app.handle(&Command::Link(link.clone())).unwrap();
    assert_eq!(events.len(), 1);
    let linked = Item::replay(
        Kind::Application,
        id(1),
        [&created(json!({"name": "api"})), &events[0]],
    );
    assert_eq!(linked.handle(&Command::Link(link.clone())).unwrap(), vec![]);
    let rest = Link {
        protocol: Some(Protocol::Rest),
        ..link
    };
    assert_eq!(linked.handle(&Command::Link(rest)).unwrap().len(), 1);
    assert_eq!(
        linked
            .handle(&Command::Unlink {
                relation: Relation::DependsOn,
                target
            })
            .unwrap(),
        vec![Event::Unlinked {
            relation: Relation::DependsOn,
            target_kind: Kind::Application,
            target_id: id(2)
        }]
    );
}

#[test]
fn relations_check_kinds_families_and_protocols() {
    let server = given(Kind::Server, &[web_server()]);
    let to = |kind| ItemRef { kind, id: id(9) };
    let link = |relation, kind| {
        Command::Link(Link {
            relation,
            target: to(kind),
            protocol: None,
        })
    };
    assert!(server.handle(&link(Relation::Hosts, Kind::Application)).is_ok());
    let error = server.handle(&link(Relation::Hosts, Kind::Client)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "a server cannot be linked as `hosts` to a client"
    );

    let app = given(Kind::Application, &[created(json!({"name": "api"}))]);
    let error = app.handle(&link(Relation::Targets, Kind::Server)).unwrap_err();
    assert!(
        error.to_string().ends_with("unless it is of family Loadbalance"),
        "{error}"
    );
    let balancer = given(
        Kind::Application,
        &[created(json!({"name": "lb", "family": "Loadbalance"}))],
    );
    assert!(balancer.handle(&link(Relation::Targets, Kind::Server)).is_ok());

    let with_protocol = Command::Link(Link {
        relation: Relation::Hosts,
        target: to(Kind::Application),
        protocol: Some(Protocol::Tcp),
    });
    assert!(server
        .handle(&with_protocol)
        .unwrap_err()
        .to_string()
        .contains("protocol"));
    let to_self = Command::Link(Link {
        relation: Relation::LocatedIn,
        target: ItemRef {
            kind: Kind::Datacenter,
            id: id(1),
        },
        protocol: None,
    });
    assert_eq!(server.handle(&to_self).unwrap_err(), DomainError::SelfLink);
}

#[test]
fn tags_are_set_replaced_and_removed() {
    let server = given(Kind::Server, &[web_server()]);
    let key = TagKey::parse("team").unwrap();
    let tag = Command::Tag {
        key: key.clone(),
        value: "ops".into(),
    };
    let events = server.handle(&tag).unwrap();
    let tagged = Item::replay(Kind::Server, id(1), [&web_server(), &events[0]]);
    assert_eq!(tagged.handle(&tag).unwrap(), vec![]);
    assert_eq!(
        tagged.document()["tags"],
        json!([{"key": "team", "value": "ops"}])
    );
    assert_eq!(
        tagged.handle(&Command::Untag { key: key.clone() }).unwrap(),
        vec![Event::Untagged { key }]
    );
}

#[test]
fn an_item_comes_back_from_its_document() {
    let target = ItemRef {
        kind: Kind::Datacenter,
        id: id(5),
    };
    let events = [
        web_server(),
        Event::Tagged {
            key: TagKey::parse("team").unwrap(),
            value: "ops".into(),
            source: TagSource::Person,
        },
        Event::Tagged {
            key: TagKey::parse("Name").unwrap(),
            value: "web".into(),
            source: TagSource::Provider,
        },
        Event::Linked {
            relation: Relation::LocatedIn,
            target_kind: target.kind,
            target_id: target.id,
            protocol: None,
        },
        Event::Deleted,
    ];
    let item = given(Kind::Server, &events);
    assert_eq!(Item::from_document(item.version, &item.document()), Some(item));
}

#[test]
fn revert_brings_back_fields_tags_links_and_lifecycle_as_new_events() {
    let tag = |v: &str| Event::Tagged {
        key: TagKey::parse("team").unwrap(),
        value: v.into(),
        source: TagSource::Person,
    };
    let link = Event::Linked {
        relation: Relation::LocatedIn,
        target_kind: Kind::Datacenter,
        target_id: id(5),
        protocol: None,
    };
    let history = [
        web_server(),
        tag("ops"),
        Event::Updated {
            changes: [("cpu".into(), json!(8)), ("role".into(), json!("db"))].into(),
        },
        tag("dev"),
        link.clone(),
        Event::Deleted,
    ];
    let now = given(Kind::Server, &history);
    let then = given(Kind::Server, &history[..2]);
    let mut events = now
        .handle(&Command::Revert {
            to: Box::new(then.clone()),
        })
        .unwrap();
    assert_eq!(events.remove(0), Event::Restored);
    assert!(events.contains(&Event::Updated {
        changes: [("cpu".into(), json!(2)), ("role".into(), Value::Null)].into()
    }));
    assert!(events.contains(&tag("ops")));
    assert!(events.contains(&Event::Unlinked {
        relation: Relation::LocatedIn,
        target_kind: Kind::Datacenter,
        target_id: id(5)
    }));
    let mut reverted = now.clone();
    for event in now
        .handle(&Command::Revert {
            to: Box::new(then.clone()),
        })
        .unwrap()
    {
        reverted.apply(&event);
    }
    assert_eq!(
        reverted.document(),
        then.document(),
        "the reverted item equals the old one"
    );
    assert_eq!(
        reverted.version,
        now.version + 4,
        "history grew; nothing was rewritten"
    );
    assert!(reverted
        .handle(&Command::Revert { to: Box::new(then) })
        .unwrap()
        .is_empty());
    let other = Item::replay(Kind::Server, id(2), [&web_server()]);
    assert!(now.handle(&Command::Revert { to: Box::new(other) }).is_err());
}

fn server_update() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(0u64..64),
        proptest::option::of(prop_oneof![Just("Production"), Just("dev"), Just("Stage")]),
        proptest::option::of("[a-z]{1,8}"),
        any::<bool>(),
    )
        .prop_map(|(cpu, environment, role, clear_role)| {
            let mut update = serde_json::Map::new();
            if let Some(cpu) = cpu {
                update.insert("cpu".into(), json!(cpu));
            }
            if let Some(environment) = environment {
                update.insert("environment".into(), json!(environment));
            }
            match (role, clear_role) {
                (_, true) => update.insert("role".into(), Value::Null),
                (Some(role), false) => update.insert("role".into(), json!(role)),
                (None, false) => None,
            };
            Value::Object(update)
        })
}

proptest! {
    /// Whatever updates came before, handling an update and then the same update again
    /// appends nothing the second time, and the state holds exactly the asked values.
    #[test]
    fn updates_are_idempotent_and_minimal(history in proptest::collection::vec(server_update(), 0..8), last in server_update()) {
        let mut item = given(Kind::Server, &[web_server()]);
        for update in history.iter().chain([&last]) {
            for event in item.handle(&Command::Update(fields(Kind::Server, update.clone()))).unwrap() {
                if let Event::Updated { changes } = &event {
                    for (name, value) in changes {
                        prop_assert_ne!(item.fields.get(name).unwrap_or(&Value::Null), value, "an unchanged field was in the event");
                    }
                }
                item.apply(&event);
            }
        }
        let again = item.handle(&Command::Update(fields(Kind::Server, last.clone()))).unwrap();
        prop_assert!(again.is_empty());
        let parsed = fields(Kind::Server, last);
        for (name, value) in parsed.values() {
            prop_assert_eq!(item.fields.get(name).unwrap_or(&Value::Null), value);
        }
    }
}

fn seen_by(provider_id: &str) -> domain::Provenance {
    domain::Provenance {
        connection: id(77),
        task: "server-list".into(),
        region: "eu-west-1".into(),
        provider_id: provider_id.into(),
    }
}

#[test]
fn a_first_observation_discovers_the_item_with_its_provenance() {
    let observe = Command::Observe {
        fields: fields(Kind::Server, json!({"hostname": "ip-10-0-0-1", "cpu": 2})),
        tags: BTreeMap::new(),
        provenance: seen_by("i-1"),
        grants: Acl::new(),
    };
    let events = given(Kind::Server, &[]).handle(&observe).unwrap();
    let discovered = given(Kind::Server, &events);
    assert!(matches!(&events[..], [Event::Discovered { .. }]));
    assert_eq!(discovered.provenance, Some(seen_by("i-1")));
    assert_eq!(discovered.document()["provenance"]["provider_id"], json!("i-1"));
    assert_eq!(
        Item::from_document(discovered.version, &discovered.document()),
        Some(discovered.clone())
    );
    assert!(
        discovered.handle(&observe).unwrap().is_empty(),
        "seen unchanged: no event at all"
    );
}

#[test]
fn an_observation_changes_only_observed_fields_and_leaves_the_rest_to_people() {
    let observe = |cpu: u64| Command::Observe {
        fields: fields(Kind::Server, json!({"hostname": "ip-10-0-0-1", "cpu": cpu})),
        tags: BTreeMap::new(),
        provenance: seen_by("i-1"),
        grants: Acl::new(),
    };
    let mut item = given(Kind::Server, &[]);
    for event in item.handle(&observe(2)).unwrap() {
        item.apply(&event);
    }
    for event in item
        .handle(&Command::Update(fields(Kind::Server, json!({"role": "db"}))))
        .unwrap()
    {
        item.apply(&event);
    }
    let events = item.handle(&observe(4)).unwrap();
    assert_eq!(
        events,
        vec![Event::Updated {
            changes: [("cpu".into(), json!(4))].into()
        }]
    );
}

#[test]
fn orphans_are_tombstones_that_a_new_sighting_restores() {
    let discovered = Event::Discovered {
        provenance: seen_by("i-1"),
        fields: [("hostname".into(), json!("a")), ("name".into(), json!("a"))].into(),
        grants: Acl::new(),
        tags: BTreeMap::new(),
    };
    let item = given(Kind::Server, std::slice::from_ref(&discovered));
    assert_eq!(item.handle(&Command::Orphan).unwrap(), vec![Event::Orphaned]);
    let orphan = given(Kind::Server, &[discovered, Event::Orphaned]);
    assert!(!orphan.is_active());
    assert!(orphan.handle(&Command::Orphan).unwrap().is_empty());
    let seen_again = Command::Observe {
        fields: fields(Kind::Server, json!({"hostname": "a", "cpu": 8})),
        tags: BTreeMap::new(),
        provenance: seen_by("i-1"),
        grants: Acl::new(),
    };
    assert_eq!(
        orphan.handle(&seen_again).unwrap(),
        vec![
            Event::Restored,
            Event::Updated {
                changes: [("cpu".into(), json!(8))].into()
            }
        ]
    );
}

fn provider_tags(pairs: &[(&str, &str)]) -> BTreeMap<TagKey, String> {
    pairs
        .iter()
        .map(|(key, value)| (TagKey::parse(key).unwrap(), value.to_string()))
        .collect()
}

#[test]
fn provider_tags_follow_the_provider_and_a_persons_tags_survive_crawls() {
    let observe = |pairs: &[(&str, &str)]| Command::Observe {
        fields: fields(Kind::Server, json!({"hostname": "web-1"})),
        tags: provider_tags(pairs),
        provenance: seen_by("i-1"),
        grants: Acl::new(),
    };
    let mut item = given(Kind::Server, &[]);
    let first = item
        .handle(&observe(&[("Name", "web"), ("team", "ops")]))
        .unwrap();
    assert!(matches!(&first[..], [Event::Discovered { tags, .. }] if tags.len() == 2));
    first.iter().for_each(|event| item.apply(event));
    assert_eq!(
        item.document()["tags"],
        json!([{"key": "Name", "source": "provider", "value": "web"}, {"key": "team", "source": "provider", "value": "ops"}])
    );
    assert!(item
        .handle(&observe(&[("Name", "web"), ("team", "ops")]))
        .unwrap()
        .is_empty());

    // A person takes `team` over and adds `cost`.
    for command in [
        Command::Tag {
            key: TagKey::parse("team").unwrap(),
            value: "ops".into(),
        },
        Command::Tag {
            key: TagKey::parse("cost").unwrap(),
            value: "42".into(),
        },
    ] {
        let events = item.handle(&command).unwrap();
        assert_eq!(
            events.len(),
            1,
            "taking a provider's tag over is a change: {command:?}"
        );
        events.iter().for_each(|event| item.apply(event));
    }
    // The provider drops `team` and `Name` and renames nothing else: only its own tag goes.
    let events = item
        .handle(&observe(&[("team", "sre"), ("env", "prod")]))
        .unwrap();
    assert_eq!(
        events,
        vec![
            Event::Untagged {
                key: TagKey::parse("Name").unwrap()
            },
            Event::Tagged {
                key: TagKey::parse("env").unwrap(),
                value: "prod".into(),
                source: TagSource::Provider
            },
        ]
    );
    events.iter().for_each(|event| item.apply(event));
    assert_eq!(
        item.tags[&TagKey::parse("team").unwrap()].value,
        "ops",
        "the person's value stays"
    );
    assert_eq!(
        item.tags[&TagKey::parse("cost").unwrap()].source,
        TagSource::Person
    );
    assert_eq!(Item::from_document(item.version, &item.document()), Some(item));
}
