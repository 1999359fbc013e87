//! Why an identity operation failed. Every message can go straight to the person: it says
//! what was wrong and what to do. No message ever holds a password, a hash or a token.

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Input that does not parse (an e-mail address, a password too short, a team name…).
    #[error("field `{field}`: {problem}")]
    Invalid { field: &'static str, problem: String },
    /// No session, or one that is no longer good: the person must log in (again).
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Over a rate limit: failed log-ins for this e-mail address or from this client, or
    /// sign-ups from this client.
    #[error("too many attempts; wait {retry_after} s before trying again")]
    TooManyRequests { retry_after: u64 },
    #[error("Postgres failed while {doing} ({source}); is it running? start it with `ops/up`")]
    Database {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// Something that cannot happen on a sound installation (the system's randomness or
    /// a worker thread failed).
    #[error("{0}")]
    Internal(String),
}

impl IdentityError {
    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> IdentityError {
        IdentityError::Invalid {
            field,
            problem: problem.into(),
        }
    }

    pub(crate) fn no_team(team: Uuid) -> IdentityError {
        IdentityError::NotFound(format!(
            "team {team} does not exist, or you are not one of its members"
        ))
    }
}

/// `.doing("…")` on a database result: the error says what was being done.
pub(crate) trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T, IdentityError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T, IdentityError> {
        self.map_err(|source| IdentityError::Database { doing, source })
    }
}
