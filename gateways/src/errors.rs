//! GraphQL errors with `extensions.code`, so that programs can tell a bad argument from a
//! conflict or a missing item without parsing messages.

use async_graphql::{Error, ErrorExtensions};
use commands::CommandError;
use domain::DomainError;

use crate::names::camel;

pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    let field = camel(field);
    Error::new(message.into()).extend_with(|_, e| {
        e.set("code", "BAD_USER_INPUT");
        e.set("field", field.clone());
    })
}

pub fn not_found(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", "NOT_FOUND"))
}

/// A failed read of a read model. A table that does not exist yet means the projector
/// role has not run against this database, which the error says.
pub fn read_failed(error: sqlx::Error) -> Error {
    let undefined_table = error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "42P01");
    if undefined_table {
        return Error::new(
            "the read models are not built yet: run the projector role (`maestro serve --roles projector`)",
        )
        .extend_with(|_, e| e.set("code", "UNAVAILABLE"));
    }
    internal(error)
}

pub fn internal(error: impl std::fmt::Display) -> Error {
    tracing::error!(%error, "request failed");
    Error::new(error.to_string()).extend_with(|_, e| e.set("code", "INTERNAL_SERVER_ERROR"))
}

pub fn command_error(error: CommandError) -> Error {
    let message = error.to_string();
    match error {
        CommandError::Rejected(rejection) => match rejection {
            DomainError::InvalidField { field, .. } => {
                bad_input(field.split('[').next().unwrap_or(&field), message)
            }
            DomainError::UnknownField { field, .. } => bad_input(&field, message),
            DomainError::MissingField { field, .. } => bad_input(field, message),
            DomainError::NotFound { .. } => not_found(message),
            DomainError::AlreadyExists { .. }
            | DomainError::Deleted { .. }
            | DomainError::NotDiscovered { .. } => {
                Error::new(message).extend_with(|_, e| e.set("code", "CONFLICT"))
            }
            DomainError::Forbidden { .. } | DomainError::ReadOnly => {
                Error::new(message).extend_with(|_, e| e.set("code", "FORBIDDEN"))
            }
            DomainError::WrongKind { .. } | DomainError::InvalidRelation { .. } | DomainError::SelfLink => {
                Error::new(message).extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
            }
        },
        CommandError::Conflict { expected, actual, .. } => Error::new(message).extend_with(|_, e| {
            e.set("code", "CONFLICT");
            e.set("expectedVersion", expected);
            e.set("actualVersion", actual);
        }),
        CommandError::KeyReused { .. } => Error::new(message).extend_with(|_, e| e.set("code", "CONFLICT")),
        CommandError::Store(error) => internal(error),
    }
}

/// An error with just a code.
pub fn coded(message: impl Into<String>, code: &'static str) -> Error {
    Error::new(message.into()).extend_with(move |_, e| e.set("code", code))
}

/// Identity errors: UNAUTHENTICATED (log in, again), FORBIDDEN, TOO_MANY_REQUESTS (with
/// `retryAfter` in seconds), and the usual BAD_USER_INPUT, NOT_FOUND and CONFLICT.
pub fn identity_error(error: identity::IdentityError) -> Error {
    use identity::IdentityError as E;
    let message = error.to_string();
    match error {
        E::Invalid { field, .. } => bad_input(field, message),
        E::Unauthenticated(_) => coded(message, "UNAUTHENTICATED"),
        E::Forbidden(_) => coded(message, "FORBIDDEN"),
        E::NotFound(_) => not_found(message),
        E::Conflict(_) => coded(message, "CONFLICT"),
        E::TooManyRequests { retry_after } => Error::new(message).extend_with(|_, e| {
            e.set("code", "TOO_MANY_REQUESTS");
            e.set("retryAfter", retry_after);
        }),
        E::Database { .. } | E::Internal(_) => internal(message),
    }
}

/// What a crawler process refused to do, for the person who asked.
pub fn refused(refusal: crawlers::Refusal) -> Error {
    match refusal {
        crawlers::Refusal::BadInput { field, message } => bad_input(&field, message),
        crawlers::Refusal::Unavailable(message) => coded(message, "UNAVAILABLE"),
    }
}
