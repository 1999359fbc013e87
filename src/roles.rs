//! The roles one `maestro serve` process can run. All run in one process by default;
//! `--roles` splits them over processes and machines. Projections and the relay hold a
//! lease, so running them twice is safe: the second stands by until the first dies.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use commands::{CommandHandler, EventStore, Relay, Vault, Wakeup};
use crawlers::{Crawler, JobQueue};
use projections::{AuditTrail, Inventory, ProjectionError, RebuildReport};
use sqlx::PgPool;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::infrastructure;

/// How long a reader of the log sleeps when no notification wakes it.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Gateway,
    Projector,
    Relay,
    /// Runs crawl jobs from the JetStream work queue.
    Crawler,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Gateway, Role::Projector, Role::Relay, Role::Crawler];
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Gateway => "gateway",
            Role::Projector => "projector",
            Role::Relay => "relay",
            Role::Crawler => "crawler",
        })
    }
}

pub async fn serve(config: &Config, roles: &[Role]) -> anyhow::Result<()> {
    let pool = infrastructure::migrate(config).await?;
    let store = EventStore::new(pool.clone());
    let mut running = JoinSet::new();
    if roles.contains(&Role::Projector) {
        for projection in [Inventory::NAME, AuditTrail::NAME] {
            let (store, url, wakeup) = (
                store.clone(),
                config.database_url.clone(),
                Wakeup::new(&pool, POLL).await,
            );
            running.spawn(async move {
                let result = match projection {
                    Inventory::NAME => projections::run(store, url, Inventory, wakeup).await,
                    _ => projections::run(store, url, AuditTrail, wakeup).await,
                };
                result.with_context(|| format!("projection {projection} stopped"))
            });
        }
    }
    let nats = if [Role::Relay, Role::Gateway, Role::Crawler]
        .iter()
        .any(|role| roles.contains(role))
    {
        Some(infrastructure::connect_nats(config).await?)
    } else {
        None
    };
    if let (true, Some(nats)) = (roles.contains(&Role::Relay), &nats) {
        let relay = Relay::new(store.clone(), nats.clone());
        let (url, wakeup) = (config.database_url.clone(), Wakeup::new(&pool, POLL).await);
        running.spawn(async move { relay.run(url, wakeup).await.context("relay stopped") });
    }
    if roles.contains(&Role::Gateway) {
        let address = std::net::SocketAddr::from(([0, 0, 0, 0], config.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("port {} is taken; set MAESTRO_PORT to a free one", config.port))?;
        if config.mode == crate::config::Mode::Production && config.public_url.starts_with("http://127.0.0.1")
        {
            tracing::warn!(
                "MAESTRO_PUBLIC_URL is not set: password reset links will point at {}; set it to the address people use",
                config.public_url
            );
        }
        if config.smtp.is_none() {
            tracing::warn!("SMTP_HOST is not set: password reset mails cannot be sent");
        }
        let identity = identity::Identity::new(pool.clone(), config.identity_settings(true))
            .map_err(|error| anyhow::anyhow!("the SMTP settings cannot work: {error}"))?;
        let app = gateways::App::new(
            CommandHandler::new(store.clone()),
            vault(config, &pool)?,
            nats.clone(),
            identity,
            config.reach.clone(),
        )
        .with_cors(config.cors_origins.clone())
        .with_client_ip_header(config.client_ip_header.as_deref())
        .map_err(|error| anyhow::anyhow!("MAESTRO_CLIENT_IP_HEADER: {error}"))?;
        println!("GraphQL playground: http://127.0.0.1:{}/graphql", config.port);
        running.spawn(async move { gateways::serve(listener, app).await.context("gateway stopped") });
    }
    if let (true, Some(nats)) = (roles.contains(&Role::Crawler), &nats) {
        let crawler = Crawler::new(
            CommandHandler::new(store.clone()),
            vault(config, &pool)?,
            config.reach.clone(),
        );
        let queue = JobQueue::new(nats.clone());
        running.spawn(async move { queue.work(&crawler).await.context("crawler stopped") });
    }
    let roles: Vec<String> = roles.iter().map(Role::to_string).collect();
    tracing::info!(roles = roles.join(","), "maestro running");
    tokio::select! {
        finished = running.join_next() => match finished {
            Some(Ok(result)) => result,
            Some(Err(panic)) => Err(anyhow::anyhow!("a role crashed: {panic}")),
            None => Ok(()),
        },
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// The credentials vault, with the configured key (none: storing credentials fails with a
/// message saying how to set one).
pub fn vault(config: &Config, pool: &PgPool) -> anyhow::Result<Vault> {
    Ok(Vault::new(
        pool.clone(),
        config.credentials_key.as_ref().map(|key| key.expose()),
    )?)
}

pub async fn rebuild(pool: &PgPool, name: &str) -> anyhow::Result<RebuildReport> {
    let store = EventStore::new(pool.clone());
    let report = match name {
        Inventory::NAME => projections::rebuild(&store, &Inventory).await?,
        AuditTrail::NAME => projections::rebuild(&store, &AuditTrail).await?,
        other => return Err(ProjectionError::Unknown(other.to_string()).into()),
    };
    Ok(report)
}
