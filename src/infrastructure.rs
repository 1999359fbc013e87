//! Connecting to Postgres and NATS, with errors that say what to start.

use std::time::Duration;

use anyhow::{anyhow, Context};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

use crate::config::Config;

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

pub fn unreachable_postgres(config: &Config, error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "cannot reach Postgres at {} ({error}); start it with `ops/up` or point DATABASE_URL at a running server",
        redacted(&config.database_url)
    )
}

/// Connects to Postgres, failing within seconds with one clear line when it is not there.
pub async fn connect_postgres(config: &Config) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&config.database_url)
        .await
        .map_err(|error| unreachable_postgres(config, error))
}

/// Creates the database when missing, then applies the migrations.
pub async fn migrate(config: &Config) -> anyhow::Result<PgPool> {
    let exists = tokio::time::timeout(
        Duration::from_secs(5),
        Postgres::database_exists(&config.database_url),
    )
    .await
    .map_err(|_| unreachable_postgres(config, "timed out"))?
    .map_err(|error| unreachable_postgres(config, error))?;
    if !exists {
        Postgres::create_database(&config.database_url)
            .await
            .with_context(|| format!("creating the database {}", redacted(&config.database_url)))?;
    }
    let pool = connect_postgres(config).await?;
    commands::migrate(&pool).await?;
    Ok(pool)
}

/// Connects to NATS in the background: while it is down, commands still succeed and the
/// relay publishes once it is up.
pub async fn connect_nats(config: &Config) -> anyhow::Result<async_nats::Client> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("NATS_URL `{}` is not a usable NATS address", config.nats_url))?;
    Ok(client)
}
