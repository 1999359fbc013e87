use std::future::Future;

use commands::{RecordedEvent, StoreError};
use sqlx::PgConnection;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Postgres failed while projecting ({0}); check DATABASE_URL and start it with `ops/up`")]
    Database(#[from] sqlx::Error),
    #[error("there is no projection `{0}`; known: {known}", known = crate::ALL.join(", "))]
    Unknown(String),
}

/// A table a projection owns, described so that it can be created under another name
/// for a rebuild.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// The column list, as between the parentheses of CREATE TABLE.
    pub columns: String,
    /// Index definitions: what follows `CREATE INDEX ON <table>`.
    pub indexes: Vec<String>,
}

/// Which copy of a projection's tables to write: the live ones, or the fresh ones a
/// rebuild fills before swapping them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    Live,
    Rebuild,
}

impl Tables {
    pub fn name(self, base: &str) -> String {
        match self {
            Tables::Live => base.to_string(),
            Tables::Rebuild => format!("{base}__rebuild"),
        }
    }
}

/// A fold of the event log into tables.
pub trait Projection: Send + Sync {
    fn name(&self) -> &'static str;

    fn tables(&self) -> Vec<Table>;

    /// Applies a batch of events, in log order, inside the caller's transaction.
    fn apply(
        &self,
        connection: &mut PgConnection,
        events: &[RecordedEvent],
        tables: Tables,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;
}
