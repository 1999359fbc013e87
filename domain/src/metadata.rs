use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who or what caused a change. Kept apart from the event data because every event
/// carries it and the audit trail shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Crawler,
    Scheduler,
    #[default]
    System,
}

/// The metadata stored beside every event. `correlation_id` groups all events caused by
/// one request or job; `causation_id` names the event or command that caused this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    pub actor: String,
    pub actor_kind: ActorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For crawler events: the connection and task that observed the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl Metadata {
    pub fn new(actor: impl Into<String>, actor_kind: ActorKind) -> Self {
        Metadata {
            actor: actor.into(),
            actor_kind,
            ..Metadata::default()
        }
    }
}
