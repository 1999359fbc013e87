//! An event rule read as what it means: which events it is about, and what it does when
//! one comes. Pure: the rules projector judges each event once per rule.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{ActorKind, DomainError, Kind, EVENT_TYPES};

/// Which events a rule matches; an empty list matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kinds: Vec<Kind>,
    pub event_types: Vec<String>,
    /// Fields the item must hold after the change, with these (canonical) values.
    pub conditions: Map<String, Value>,
    /// The change must touch one of these fields (only changes that carry fields can).
    pub changed_fields: Vec<String>,
    pub actor_kinds: Vec<ActorKind>,
    /// Tell the rule's people (its writers and admins) in the product and as they chose.
    pub notify: bool,
    /// Post the event to this webhook endpoint.
    pub webhook: Option<Uuid>,
    pub enabled: bool,
}

/// One event as a rule sees it.
pub struct Judged<'a> {
    pub kind: Kind,
    pub event_type: &'a str,
    pub actor_kind: ActorKind,
    /// The fields the event set or cleared.
    pub changed: Vec<&'a str>,
    /// The item's fields after the event.
    pub fields: &'a BTreeMap<String, Value>,
}

impl Rule {
    pub fn from_fields(fields: &BTreeMap<String, Value>) -> Result<Rule, DomainError> {
        let texts = |name: &str| -> Vec<String> {
            fields
                .get(name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        };
        let kinds = texts("stream_types")
            .iter()
            .map(|raw| {
                Kind::from_stream_type(raw).ok_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.stream_type()).collect();
                    DomainError::invalid(
                        "stream_types",
                        format!("`{raw}` is not a kind; use one of: {}", known.join(", ")),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let event_types = texts("event_types");
        if let Some(unknown) = event_types
            .iter()
            .find(|raw| !EVENT_TYPES.iter().any(|(known, _)| known == raw))
        {
            let known: Vec<&str> = EVENT_TYPES.iter().map(|(known, _)| *known).collect();
            return Err(DomainError::invalid(
                "event_types",
                format!(
                    "`{unknown}` is not an event type; use one of: {}",
                    known.join(", ")
                ),
            ));
        }
        let actor_kinds = texts("actor_kinds")
            .iter()
            .map(|raw| {
                serde_json::from_value(Value::String(raw.clone())).map_err(|_| {
                    DomainError::invalid(
                        "actor_kinds",
                        format!("`{raw}` is not user, crawler, scheduler or system"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let notify = fields.get("notify").and_then(Value::as_bool).unwrap_or(true);
        let webhook = match fields.get("webhook").and_then(Value::as_str) {
            Some(raw) => Some(
                raw.parse()
                    .map_err(|_| DomainError::invalid("webhook", format!("`{raw}` is not an id")))?,
            ),
            None => None,
        };
        if !notify && webhook.is_none() {
            return Err(DomainError::invalid(
                "notify",
                "a rule that neither notifies nor calls a webhook does nothing",
            ));
        }
        Ok(Rule {
            kinds,
            event_types,
            conditions: fields
                .get("conditions")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            changed_fields: texts("changed_fields"),
            actor_kinds,
            notify,
            webhook,
            enabled: fields.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        })
    }

    /// Whether `event` is one this rule is about.
    pub fn matches(&self, event: &Judged<'_>) -> bool {
        self.enabled
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && (self.event_types.is_empty()
                || self.event_types.iter().any(|wanted| wanted == event.event_type))
            && (self.actor_kinds.is_empty() || self.actor_kinds.contains(&event.actor_kind))
            && (self.changed_fields.is_empty()
                || self
                    .changed_fields
                    .iter()
                    .any(|wanted| event.changed.contains(&wanted.as_str())))
            && self
                .conditions
                .iter()
                .all(|(field, wanted)| event.fields.get(field) == Some(wanted))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(fields: Value) -> Result<Rule, DomainError> {
        Rule::from_fields(&serde_json::from_value(fields).unwrap())
    }

    #[test]
    fn a_production_server_orphaned_by_a_crawler() {
        let orphaned = rule(json!({"stream_types": ["server"], "event_types": ["orphaned"],
                                   "conditions": {"environment": "Production"}, "actor_kinds": ["crawler"]}))
        .unwrap();
        let production: BTreeMap<String, Value> =
            serde_json::from_value(json!({"environment": "Production"})).unwrap();
        let staging: BTreeMap<String, Value> =
            serde_json::from_value(json!({"environment": "Stage"})).unwrap();
        let event = |kind, event_type, actor_kind, fields| Judged {
            kind,
            event_type,
            actor_kind,
            changed: vec![],
            fields,
        };
        assert!(orphaned.matches(&event(Kind::Server, "orphaned", ActorKind::Crawler, &production)));
        assert!(!orphaned.matches(&event(Kind::Server, "orphaned", ActorKind::Crawler, &staging)));
        assert!(!orphaned.matches(&event(Kind::Server, "deleted", ActorKind::Crawler, &production)));
        assert!(!orphaned.matches(&event(Kind::Volume, "orphaned", ActorKind::Crawler, &production)));
        assert!(!orphaned.matches(&event(Kind::Server, "orphaned", ActorKind::User, &production)));
    }

    #[test]
    fn changed_fields_need_one_of_them_changed() {
        let moved = rule(json!({"changed_fields": ["ipv4_private", "hostname"]})).unwrap();
        let fields = BTreeMap::new();
        let event = |changed| Judged {
            kind: Kind::Server,
            event_type: "updated",
            actor_kind: ActorKind::User,
            changed,
            fields: &fields,
        };
        assert!(moved.matches(&event(vec!["cpu", "hostname"])));
        assert!(!moved.matches(&event(vec!["cpu"])));
    }

    #[test]
    fn unknown_names_are_refused_naming_the_field() {
        for (fields, field) in [
            (json!({"stream_types": ["servers"]}), "stream_types"),
            (json!({"event_types": ["exploded"]}), "event_types"),
            (json!({"actor_kinds": ["robot"]}), "actor_kinds"),
            (json!({"notify": false}), "notify"),
        ] {
            match rule(fields).unwrap_err() {
                DomainError::InvalidField { field: named, .. } => assert_eq!(named, field),
                other => panic!("{other}"),
            }
        }
    }
}
