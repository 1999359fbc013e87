//! The events of an inventory item, how they are stored, and how old stored versions are
//! read (upcasting).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::{Acl, EventDecodeError, Kind, Level, Protocol, Provenance, Relation, TagKey, TagSource};

/// What happened to an item. Stored as `event_type` plus `data` (the variant's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Created {
        fields: BTreeMap<String, Value>,
        /// The first grants: its creator's admin. Absent in events written before access
        /// control, which therefore grant nothing.
        #[serde(default, skip_serializing_if = "Acl::is_empty")]
        grants: Acl,
    },
    /// Only the fields that changed; `null` clears a field.
    Updated {
        changes: BTreeMap<String, Value>,
    },
    /// Soft delete: the item stays in the log and in history, marked inactive.
    Deleted,
    Restored,
    Linked {
        relation: Relation,
        target_kind: Kind,
        target_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<Protocol>,
    },
    Unlinked {
        relation: Relation,
        target_kind: Kind,
        target_id: Uuid,
    },
    Tagged {
        key: TagKey,
        value: String,
        /// Absent (a person's) in events from before provider tags.
        #[serde(default, skip_serializing_if = "TagSource::is_person")]
        source: TagSource,
    },
    Untagged {
        key: TagKey,
    },
    /// First seen by a crawler: like `created`, with where it was seen.
    Discovered {
        provenance: Provenance,
        fields: BTreeMap<String, Value>,
        /// Its connection's ACL template.
        #[serde(default, skip_serializing_if = "Acl::is_empty")]
        grants: Acl,
        /// The provider's tags on it. Absent in events from before provider tags.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        tags: BTreeMap<TagKey, String>,
    },
    /// No longer seen by the crawl that discovered it: a tombstone, restorable.
    Orphaned,
    Granted {
        principal: Uuid,
        level: Level,
    },
    Revoked {
        principal: Uuid,
    },
    /// A public read-only link was opened; the token itself is never stored.
    Shared {
        link: Uuid,
        expires_at: DateTime<Utc>,
    },
    Unshared {
        link: Uuid,
    },
}

/// Every event type with its current schema version. Bump the version when the data's
/// shape changes, and teach [`upcast`] to read the old shape.
pub const EVENT_TYPES: &[(&str, i32)] = &[
    ("created", 1),
    ("updated", 2),
    ("deleted", 1),
    ("restored", 1),
    ("linked", 1),
    ("unlinked", 1),
    ("tagged", 1),
    ("untagged", 1),
    ("discovered", 1),
    ("orphaned", 1),
    ("granted", 1),
    ("revoked", 1),
    ("shared", 1),
    ("unshared", 1),
];

impl Event {
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::Created { .. } => "created",
            Event::Updated { .. } => "updated",
            Event::Deleted => "deleted",
            Event::Restored => "restored",
            Event::Linked { .. } => "linked",
            Event::Unlinked { .. } => "unlinked",
            Event::Tagged { .. } => "tagged",
            Event::Untagged { .. } => "untagged",
            Event::Discovered { .. } => "discovered",
            Event::Orphaned => "orphaned",
            Event::Granted { .. } => "granted",
            Event::Revoked { .. } => "revoked",
            Event::Shared { .. } => "shared",
            Event::Unshared { .. } => "unshared",
        }
    }

    pub fn schema_version(&self) -> i32 {
        current_version(self.event_type()).expect("every event type is listed in EVENT_TYPES")
    }

    /// The stored `data` column: the variant's fields without the type tag.
    pub fn data(&self) -> Value {
        let mut value = serde_json::to_value(self).expect("events always serialize");
        if let Value::Object(map) = &mut value {
            map.remove("type");
        }
        value
    }

    /// Reads a stored event, upcasting data written under an older schema version.
    pub fn decode(event_type: &str, schema_version: i32, data: &Value) -> Result<Event, EventDecodeError> {
        let error = |problem: String| EventDecodeError {
            event_type: event_type.to_string(),
            schema_version,
            problem,
        };
        let current = current_version(event_type).ok_or_else(|| error("unknown event type".into()))?;
        if schema_version > current {
            return Err(error(format!(
                "written by a newer Maestro (this one reads up to version {current}); upgrade"
            )));
        }
        let mut map = match upcast(event_type, schema_version, data.clone()) {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => return Err(error(format!("data must be an object, got {other}"))),
        };
        map.insert("type".into(), Value::String(event_type.to_string()));
        serde_json::from_value(Value::Object(map)).map_err(|e| error(e.to_string()))
    }
}

fn current_version(event_type: &str) -> Option<i32> {
    EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, version)| *version)
}

/// Rewrites data of an old schema version into the current shape, one version at a time.
fn upcast(event_type: &str, schema_version: i32, data: Value) -> Value {
    match (event_type, schema_version) {
        // v1 kept set fields and cleared fields apart: {"fields": {..}, "removed": [..]}.
        ("updated", 1) => {
            let mut changes = data
                .get("fields")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            if let (Value::Object(changes), Some(Value::Array(removed))) = (&mut changes, data.get("removed"))
            {
                for name in removed.iter().filter_map(Value::as_str) {
                    changes.insert(name.to_string(), Value::Null);
                }
            }
            upcast(event_type, 2, serde_json::json!({ "changes": changes }))
        }
        _ => data,
    }
}
