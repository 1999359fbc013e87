//! Every event type's stored JSON, checked in as golden samples. A change to an event's
//! shape makes this fail until a new schema version and an upcaster are added.

use std::path::PathBuf;

use domain::{Acl, Event, Kind, Level, Protocol, Provenance, Relation, TagKey, TagSource, EVENT_TYPES};
use serde_json::{json, Value};
use uuid::Uuid;

fn samples() -> Vec<Event> {
    vec![
        Event::Created {
            fields: [
                ("hostname".into(), json!("web-1")),
                ("name".into(), json!("web-1")),
            ]
            .into(),
            grants: Acl::from([(Uuid::from_u128(11), Level::Admin)]),
        },
        Event::Updated {
            changes: [("cpu".into(), json!(4)), ("role".into(), Value::Null)].into(),
        },
        Event::Deleted,
        Event::Restored,
        Event::Linked {
            relation: Relation::DependsOn,
            target_kind: Kind::Application,
            target_id: Uuid::from_u128(7),
            protocol: Some(Protocol::Grpc),
        },
        Event::Unlinked {
            relation: Relation::Hosts,
            target_kind: Kind::Application,
            target_id: Uuid::from_u128(7),
        },
        Event::Tagged {
            key: TagKey::parse("team").unwrap(),
            value: "ops".into(),
            source: TagSource::Provider,
        },
        Event::Untagged {
            key: TagKey::parse("team").unwrap(),
        },
        Event::Discovered {
            provenance: Provenance {
                connection: Uuid::from_u128(9),
                task: "server-list".into(),
                region: "us-east-1".into(),
                provider_id: "i-0abc".into(),
            },
            fields: [
                ("hostname".into(), json!("ip-10-0-0-1")),
                ("name".into(), json!("ip-10-0-0-1")),
            ]
            .into(),
            grants: Acl::new(),
            tags: [(TagKey::parse("Name").unwrap(), "web".to_string())].into(),
        },
        Event::Orphaned,
        Event::Granted {
            principal: Uuid::from_u128(11),
            level: Level::Write,
        },
        Event::Revoked {
            principal: Uuid::from_u128(11),
        },
        Event::Shared {
            link: Uuid::from_u128(12),
            expires_at: "2026-12-01T00:00:00Z".parse().unwrap(),
        },
        Event::Unshared {
            link: Uuid::from_u128(12),
        },
    ]
}

fn golden_path(event_type: &str, version: i32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{event_type}.v{version}.json"))
}

fn read_golden(event_type: &str, version: i32) -> Value {
    let path = golden_path(event_type, version);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_event_type_has_a_sample() {
    let sampled: Vec<_> = samples().iter().map(Event::event_type).collect();
    let listed: Vec<_> = EVENT_TYPES.iter().map(|(name, _)| *name).collect();
    assert_eq!(sampled, listed);
}

#[test]
fn current_events_match_their_golden_json() {
    for event in samples() {
        let golden = read_golden(event.event_type(), event.schema_version());
        assert_eq!(
            event.data(),
            golden,
            "{} drifted from its golden sample",
            event.event_type()
        );
        assert_eq!(
            Event::decode(event.event_type(), event.schema_version(), &golden).unwrap(),
            event
        );
    }
}

#[test]
fn events_from_before_access_control_decode_with_no_grants() {
    let old = json!({"fields": {"hostname": "web-1", "name": "web-1"}});
    let Event::Created { grants, .. } = Event::decode("created", 1, &old).unwrap() else {
        panic!("a created event")
    };
    assert!(grants.is_empty());
}

#[test]
fn events_from_before_provider_tags_decode_as_a_persons_tags_and_no_provider_tags() {
    let Event::Tagged { source, .. } =
        Event::decode("tagged", 1, &json!({"key": "team", "value": "ops"})).unwrap()
    else {
        panic!("a tagged event")
    };
    assert_eq!(source, TagSource::Person);
    let old = json!({"provenance": {"connection": Uuid::from_u128(9), "task": "t", "region": "r", "provider_id": "i"}, "fields": {"name": "x"}});
    let Event::Discovered { tags, .. } = Event::decode("discovered", 1, &old).unwrap() else {
        panic!("a discovered event")
    };
    assert!(tags.is_empty());
}

#[test]
fn updated_version_1_is_upcast() {
    let old = read_golden("updated", 1);
    let event = Event::decode("updated", 1, &old).unwrap();
    assert_eq!(
        event,
        Event::Updated {
            changes: [("cpu".into(), json!(4)), ("role".into(), Value::Null)].into()
        }
    );
}

#[test]
fn unknown_and_future_events_are_clear_errors() {
    let error = Event::decode("exploded", 1, &json!({})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot decode `exploded` (schema version 1): unknown event type"
    );
    let error = Event::decode("deleted", 9, &json!({})).unwrap_err();
    assert!(error.to_string().contains("newer Maestro"), "{error}");
}
