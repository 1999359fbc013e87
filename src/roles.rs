//! The roles one `maestro serve` process can run. All run in one process by default;
//! `--roles` splits them over processes and machines. Projections and the relay hold a
//! lease, so running them twice is safe: the second stands by until the first dies.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use commands::{CommandHandler, EventStore, Relay, Vault, Wakeup};
use crawlers::{Crawler, JobQueue};
use projections::{AuditTrail, Inventory, RebuildReport};
use scheduler::Rules;
use sqlx::PgPool;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::infrastructure;

/// How long a reader of the log sleeps when no notification wakes it.
const POLL: Duration = Duration::from_millis(500);
/// How often the scheduler role looks for notification mails to send.
const MAIL_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Gateway,
    Projector,
    Relay,
    /// Runs crawl jobs from the JetStream work queue.
    Crawler,
    /// Queues schedules' runs on time, follows how crawls end, sends notifications.
    Scheduler,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Gateway,
        Role::Projector,
        Role::Relay,
        Role::Crawler,
        Role::Scheduler,
    ];
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Gateway => "gateway",
            Role::Projector => "projector",
            Role::Relay => "relay",
            Role::Crawler => "crawler",
            Role::Scheduler => "scheduler",
        })
    }
}

pub async fn serve(config: &Config, roles: &[Role]) -> anyhow::Result<()> {
    let pool = infrastructure::migrate(config).await?;
    let store = EventStore::new(pool.clone());
    let mut running = JoinSet::new();
    if roles.contains(&Role::Projector) {
        for projection in PROJECTIONS {
            let (store, url, pool) = (store.clone(), config.database_url.clone(), pool.clone());
            running.spawn(supervised(format!("projection {projection}"), move || {
                let (store, url, pool) = (store.clone(), url.clone(), pool.clone());
                async move {
                    let wakeup = Wakeup::new(&pool, POLL).await;
                    match projection {
                        Inventory::NAME => projections::run(store, url, Inventory, wakeup).await,
                        AuditTrail::NAME => projections::run(store, url, AuditTrail, wakeup).await,
                        _ => projections::run(store, url, Rules, wakeup).await,
                    }
                    .map_err(anyhow::Error::from)
                }
            }));
        }
    }
    let nats = if [Role::Relay, Role::Gateway, Role::Crawler, Role::Scheduler]
        .iter()
        .any(|role| roles.contains(role))
    {
        Some(infrastructure::connect_nats(config).await?)
    } else {
        None
    };
    if let (true, Some(nats)) = (roles.contains(&Role::Relay), &nats) {
        let (store, nats, url, pool) = (
            store.clone(),
            nats.clone(),
            config.database_url.clone(),
            pool.clone(),
        );
        running.spawn(supervised("relay".into(), move || {
            let (relay, url, pool) = (Relay::new(store.clone(), nats.clone()), url.clone(), pool.clone());
            async move {
                let wakeup = Wakeup::new(&pool, POLL).await;
                relay.run(url, wakeup).await.map_err(anyhow::Error::from)
            }
        }));
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
        // Requests get connections of their own, each statement cut off by Postgres.
        let gateway_pool = gateways::database::connect(&config.database_url, config.gateway_pool)
            .await
            .map_err(|error| infrastructure::unreachable_postgres(config, error))?;
        let identity = identity::Identity::new(gateway_pool.clone(), config.identity_settings(true))
            .map_err(|error| anyhow::anyhow!("the SMTP settings cannot work: {error}"))?;
        let app = gateways::App::new(
            CommandHandler::new(EventStore::new(gateway_pool.clone())),
            vault(config, &gateway_pool)?,
            nats.clone(),
            identity,
            config.gateway_limits,
            config.webhooks(&gateway_pool),
        )
        .with_cors(config.cors_origins.clone())
        .with_session_check(config.ws_session_check)
        .with_client_ip_header(config.client_ip_header.as_deref(), config.trusted_proxies)
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
        let crawler = std::sync::Arc::new(crawler);
        let jobs_crawler = crawler.clone();
        running.spawn(supervised("crawler".into(), move || {
            let (queue, crawler) = (queue.clone(), jobs_crawler.clone());
            async move { queue.work(&crawler).await.map_err(anyhow::Error::from) }
        }));
        let tests = crawlers::ConnectionTests::new(nats.clone());
        let tests_crawler = crawler.clone();
        running.spawn(supervised("connection tests".into(), move || {
            let (tests, crawler) = (tests.clone(), tests_crawler.clone());
            async move { tests.answer(crawler).await.map_err(anyhow::Error::from) }
        }));
        let uploads = crawlers::UploadCrawls::new(nats.clone());
        running.spawn(supervised("crawls of uploads".into(), move || {
            let (uploads, crawler) = (uploads.clone(), crawler.clone());
            async move { uploads.answer(crawler).await.map_err(anyhow::Error::from) }
        }));
    }
    if let (true, Some(nats)) = (roles.contains(&Role::Scheduler), &nats) {
        let identity = identity::Identity::new(pool.clone(), config.identity_settings(false))
            .map_err(|error| anyhow::anyhow!("the SMTP settings cannot work: {error}"))?;
        let scheduler = scheduler::Scheduler::new(
            pool.clone(),
            CommandHandler::new(store.clone()),
            JobQueue::new(nats.clone()),
            identity.clone(),
        );
        running.spawn(supervised("scheduler".into(), move || {
            let scheduler = scheduler.clone();
            async move { scheduler.run().await.map_err(anyhow::Error::from) }
        }));
        if let Some(webhooks) = config.webhooks(&pool) {
            let worker = webhooks::Worker::new(
                &webhooks,
                webhooks::DeliverySettings::default(),
                tell_disabled_webhook(identity.clone()),
            )?;
            running.spawn(async move {
                worker.run().await;
                Ok(())
            });
        }
        running.spawn(supervised("notification mails".into(), move || {
            let identity = identity.clone();
            async move {
                identity
                    .send_notification_mails_forever(MAIL_POLL)
                    .await
                    .map_err(anyhow::Error::from)
            }
        }));
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

/// Tells the owner of a webhook endpoint that kept failing that it was disabled.
fn tell_disabled_webhook(identity: identity::Identity) -> webhooks::OnDisabled {
    std::sync::Arc::new(move |disabled: webhooks::DisabledEndpoint| {
        let identity = identity.clone();
        tokio::spawn(async move {
            let notice = identity::Notice {
                topic: identity::Topic::WebhookDisabled,
                title: format!("Webhook {} was disabled", disabled.url),
                body: format!(
                    "{} Fix the receiver, then enable the webhook again (`updateWebhook(enabled: true)`); its deliveries waited.",
                    disabled.reason
                ),
                item: None,
                key: format!("webhook/{}/disabled/{}", disabled.id, chrono::Utc::now().timestamp()),
            };
            if let Err(error) = identity.notify(&[disabled.owner], &notice).await {
                tracing::warn!(webhook = %disabled.id, %error, "could not tell that a webhook was disabled");
            }
        });
    })
}

/// The longest a failed role waits before it starts again.
const MAX_RESTART_WAIT: Duration = Duration::from_secs(60);

/// Runs a role, and runs it again when it fails, after a wait that doubles from a second
/// up to a minute (back to a second once it ran a minute): a Postgres restart or a NATS
/// blip pauses the role instead of ending the process. Each failure is logged with what
/// stopped the role; a role that ends without failing ends the process as before.
async fn supervised<Run, Running>(role: String, mut run: Run) -> anyhow::Result<()>
where
    Run: FnMut() -> Running,
    Running: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut wait = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        let error = match run().await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if started.elapsed() > MAX_RESTART_WAIT {
            wait = Duration::from_secs(1);
        }
        tracing::error!(
            role,
            error = format!("{error:#}"),
            "the role stopped; starting it again in {wait:?}"
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RESTART_WAIT);
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

/// Every projection `maestro serve` runs, by name: the inventory's, and the event rules'.
pub const PROJECTIONS: [&str; 3] = [Inventory::NAME, AuditTrail::NAME, Rules::NAME];

pub async fn rebuild(pool: &PgPool, name: &str) -> anyhow::Result<RebuildReport> {
    let store = EventStore::new(pool.clone());
    let report = match name {
        Inventory::NAME => projections::rebuild(&store, &Inventory).await?,
        AuditTrail::NAME => projections::rebuild(&store, &AuditTrail).await?,
        Rules::NAME => projections::rebuild(&store, &Rules).await?,
        other => anyhow::bail!(
            "there is no projection `{other}`; known: {}",
            PROJECTIONS.join(", ")
        ),
    };
    Ok(report)
}
