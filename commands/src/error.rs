use domain::DomainError;
use uuid::Uuid;

/// A failure of the event store itself, worded for the operator who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Postgres is unreachable or failed ({0}); check DATABASE_URL and start it with `ops/up`")]
    Database(#[from] sqlx::Error),
    #[error("stream {stream_id} was changed concurrently: expected version {expected}, it is now further")]
    Conflict { stream_id: Uuid, expected: i64 },
    #[error("migrating the event log failed: {0}")]
    Migration(String),
    #[error("event {position} in the log cannot be read: {problem}")]
    Corrupt { position: i64, problem: String },
}

/// Why a command did not change anything.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] DomainError),
    #[error("version conflict on {stream_id}: you expected version {expected} but it is at {actual}; reload it and try again")]
    Conflict {
        stream_id: Uuid,
        expected: i64,
        actual: i64,
    },
    #[error("the idempotency key `{key}` was already used for another request; use a new key for each distinct request")]
    KeyReused { key: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        CommandError::Store(error)
    }
}
