use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("Postgres failed while {doing} ({source}); check DATABASE_URL and start it with `ops/up`")]
    Database {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    ReadModel(#[from] projections::ProjectionError),
    #[error(transparent)]
    Command(#[from] commands::CommandError),
    #[error(transparent)]
    Jobs(#[from] crawlers::JobError),
    #[error(transparent)]
    Updates(#[from] crawlers::UpdatesError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error("schedule {0} holds fields the scheduler cannot read: {1}")]
    Unreadable(Uuid, domain::DomainError),
}

/// `.doing("…")` on a database result: the error says what was being done.
pub(crate) trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T, SchedulerError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T, SchedulerError> {
        self.map_err(|source| SchedulerError::Database { doing, source })
    }
}
