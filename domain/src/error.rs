use uuid::Uuid;

use crate::{Kind, Relation};

/// Why a command was refused. Every variant names what was wrong so that the message can
/// go straight to the person or program that sent the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("field `{field}`: {problem}")]
    InvalidField { field: String, problem: String },
    #[error("field `{field}` is not a field of a {kind}; known fields: {known}")]
    UnknownField {
        kind: Kind,
        field: String,
        known: String,
    },
    #[error("field `{field}` is required to create a {kind}")]
    MissingField { kind: Kind, field: &'static str },
    #[error("{kind} {id} does not exist")]
    NotFound { kind: Kind, id: Uuid },
    #[error("{kind} {id} already exists")]
    AlreadyExists { kind: Kind, id: Uuid },
    #[error("{kind} {id} is deleted; restore it before changing it")]
    Deleted { kind: Kind, id: Uuid },
    #[error("fields were parsed for a {parsed_for}, not for a {kind}")]
    WrongKind { kind: Kind, parsed_for: Kind },
    #[error("a {source_kind} cannot be linked as `{relation}` to a {target_kind}{hint}")]
    InvalidRelation {
        source_kind: Kind,
        relation: Relation,
        target_kind: Kind,
        hint: String,
    },
    #[error("an item cannot be linked to itself")]
    SelfLink,
    #[error("you may not do this to {kind} {id}: it needs {needed} access, ask one of its admins")]
    Forbidden { kind: Kind, id: Uuid, needed: String },
    #[error("this API token is read-only: it reads, it never changes anything; use a read-write token for programs that change the inventory")]
    ReadOnly,
    /// A crawl saw a provider id whose item it did not discover: a person chose that id,
    /// or another connection found it. The crawl leaves the item alone.
    #[error(
        "{kind} {id} was not discovered by connection {connection}; a crawl changes only what it discovered"
    )]
    NotDiscovered { kind: Kind, id: Uuid, connection: Uuid },
}

impl DomainError {
    /// A create naming an id that a person may not take: one of the ids crawlers derive
    /// (UUID version 5), or one already taken by an item they cannot read. Both get the
    /// same answer, so that it tells nothing about which ids exist.
    pub fn unusable_id() -> Self {
        DomainError::invalid(
            "id",
            "cannot be used for a new item; leave `id` out and Maestro picks one",
        )
    }

    pub(crate) fn invalid(field: &str, problem: impl Into<String>) -> Self {
        DomainError::InvalidField {
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

/// An event row whose type or data this version of Maestro cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode `{event_type}` (schema version {schema_version}): {problem}")]
pub struct EventDecodeError {
    pub event_type: String,
    pub schema_version: i32,
    pub problem: String,
}
