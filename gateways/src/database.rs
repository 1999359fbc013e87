//! The gateway's own database pool. Requests are what strangers can send, so they get
//! connections of their own, apart from the projectors, the relay and the crawlers: a
//! flood of requests waits for the gateway's connections and leaves the others theirs.
//! Each connection carries a `statement_timeout`, so that Postgres itself cancels a
//! statement that outruns it (timing out the request alone would leave it running).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// How the gateway's pool is sized (`MAESTRO_GATEWAY_DB_CONNECTIONS`,
/// `MAESTRO_GATEWAY_STATEMENT_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// The longest any one SQL statement of the gateway may run.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            max_connections: 16,
            statement_timeout: crate::limits::QUERY_TIMEOUT,
        }
    }
}

/// The gateway's pool on the database at `url`; fails within seconds when it cannot reach it.
pub async fn connect(url: &str, settings: PoolSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    let options = options.application_name("maestro-gateway").options([(
        "statement_timeout",
        format!("{}ms", settings.statement_timeout.as_millis()),
    )]);
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}
