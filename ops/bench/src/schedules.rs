//! `schedules`: `--schedules` schedules (10,000 by default) all due at the same instant,
//! three schedulers (`scheduler::Scheduler`, as `maestro serve --roles scheduler` runs
//! it, with its production tick) claiming them side by side: the time from each firing's
//! due time to its job being stored in the JetStream crawl queue (the message's own
//! timestamp), p50 and p99, and how many firings were queued more than once.
//!
//! Beside: one plain client publishing the same number of job messages to a stream of
//! its own, 64 in flight, timed from the start to each ack: the floor of queuing that
//! many jobs on this machine and NATS.
//!
//! Everything runs against a private nats-server started for this benchmark.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use commands::{CommandHandler, CommandRequest, EventStore};
use domain::{Access, ActorKind, Command, Fields, Kind, Metadata};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use uuid::Uuid;

use crate::db::BenchDb;
use crate::measure::Latencies;
use crate::nats::PrivateNats;
use crate::report::{note, Comparison, Quantity, Target};
use crate::Options;

const SCHEDULERS: usize = 3;
/// How far ahead of the setup's end all schedules are set due.
const LEAD: Duration = Duration::from_secs(3);
const QUEUED_WITHIN: Duration = Duration::from_secs(120);

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let nats = PrivateNats::start(options.nats_server.as_deref()).await?;
    note(format!("private nats-server at {}", nats.url));
    let result = measure(options, &nats).await;
    nats.stop().await;
    let (maestro, plain, duplicates) = result?;
    note(format!("firings queued more than once: {duplicates} (target 0)"));
    if duplicates > 0 {
        bail!("{duplicates} firings were queued twice");
    }
    let at = |p: f64, name, target| Comparison {
        name,
        maestro: Quantity::Time(maestro.percentile(p)),
        reference: Quantity::Time(plain.percentile(p)),
        target,
    };
    note(format!(
        "p99 due → queued {:.2} s (target ≤ 2 s)",
        maestro.percentile(99.0).as_secs_f64()
    ));
    Ok(vec![
        at(50.0, "schedules-due-to-queued-p50", Target::None),
        at(99.0, "schedules-due-to-queued-p99", Target::None),
    ])
}

async fn measure(options: &Options, nats: &PrivateNats) -> anyhow::Result<(Latencies, Latencies, usize)> {
    let plain = plain_publishes(options, nats).await?;
    let db = BenchDb::fresh(options, "schedules", 24).await?;
    let fired = fired(options, nats, &db).await;
    db.finish().await?;
    let (latencies, duplicates) = fired?;
    Ok((latencies, plain, duplicates))
}

async fn fired(options: &Options, nats: &PrivateNats, db: &BenchDb) -> anyhow::Result<(Latencies, usize)> {
    let store = EventStore::new(db.pool.clone());
    let handler = CommandHandler::new(store.clone());
    let started = Instant::now();
    futures::stream::iter(0..options.schedules)
        .map(|n| {
            let handler = handler.clone();
            async move {
                let input = json!({"name": format!("schedule {n}"), "connection": Uuid::now_v7().to_string(),
                                   "task": "server-list", "interval": 3600});
                let fields = Fields::parse(Kind::Schedule, input.as_object().expect("an object"))?;
                handler
                    .execute(&CommandRequest {
                        kind: Kind::Schedule,
                        id: Uuid::now_v7(),
                        command: Command::Create(fields),
                        expected_version: None,
                        idempotency_key: None,
                        metadata: Metadata::new("bench", ActorKind::User),
                        access: Access::Unrestricted,
                    })
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    projections::rebuild(&store, &projections::Inventory).await?;
    let identity =
        identity::Identity::new(db.pool.clone(), identity::Settings::new(vec![7; 32], vec![8; 32]))?;
    let client = async_nats::connect(&nats.url).await?;
    let make = || {
        scheduler::Scheduler::new(
            db.pool.clone(),
            handler.clone(),
            crawlers::JobQueue::new(client.clone()),
            identity.clone(),
        )
    };
    make().clocks().catch_up().await?;
    let due: DateTime<Utc> = Utc::now() + chrono::Duration::from_std(LEAD)?;
    sqlx::query("UPDATE schedule_clocks SET next_due = $1")
        .bind(due)
        .execute(&db.pool)
        .await?;
    note(format!(
        "{} schedules made and set due in {:?}",
        options.schedules,
        started.elapsed()
    ));
    let schedulers: Vec<_> = (0..SCHEDULERS)
        .map(|_| {
            let scheduler = make();
            tokio::spawn(async move { scheduler.run().await })
        })
        .collect();
    let deadline = Instant::now() + LEAD + QUEUED_WITHIN;
    loop {
        let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM schedule_runs")
            .fetch_one(&db.pool)
            .await?;
        if runs as usize >= options.schedules {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {runs} of {} firings were queued", options.schedules);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for scheduler in schedulers {
        scheduler.abort();
    }
    let mut crawls = jetstream::new(client)
        .get_stream(crawlers::CRAWLS_STREAM)
        .await
        .context("the crawl queue")?;
    let state = crawls.info().await?.state.clone();
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut samples = vec![];
    for sequence in state.first_sequence..=state.last_sequence {
        let message = crawls.get_raw_message(sequence).await?;
        let job: crawlers::Job = serde_json::from_slice(&message.payload)?;
        if !seen.insert(job.id) {
            duplicates += 1;
        }
        let stored =
            DateTime::<Utc>::from_timestamp(message.time.unix_timestamp(), message.time.nanosecond())
                .context("a message time")?;
        samples.push((stored - due).to_std().unwrap_or_default());
    }
    let latencies = Latencies::new(samples);
    note(format!(
        "maestro: {} jobs queued by {SCHEDULERS} schedulers, due → queued p50 {} p99 {}",
        latencies.len(),
        Quantity::Time(latencies.percentile(50.0)),
        Quantity::Time(latencies.percentile(99.0)),
    ));
    Ok((latencies, duplicates))
}

/// The same number of job-sized messages published by one plain client, 64 in flight,
/// each timed from the start to its ack.
async fn plain_publishes(options: &Options, nats: &PrivateNats) -> anyhow::Result<Latencies> {
    let context = jetstream::new(async_nats::connect(&nats.url).await?);
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: "BENCH_PLAIN_JOBS".into(),
            subjects: vec!["bench.jobs".into()],
            ..Default::default()
        })
        .await?;
    let body = serde_json::to_vec(&json!({"id": Uuid::now_v7(), "connection": Uuid::now_v7(),
                                          "task": "server-list", "region": null}))?;
    let started = Instant::now();
    let samples: Vec<Duration> = futures::stream::iter(0..options.schedules)
        .map(|n| {
            let context = context.clone();
            let body = body.clone();
            async move {
                let publish = jetstream::context::Publish::build()
                    .payload(body.into())
                    .message_id(format!("plain-{n}"));
                context.send_publish("bench.jobs", publish).await?.await?;
                anyhow::Ok(started.elapsed())
            }
        })
        .buffer_unordered(64)
        .try_collect()
        .await?;
    let latencies = Latencies::new(samples);
    note(format!(
        "plain publishes: {} jobs, start → ack p50 {} p99 {}",
        latencies.len(),
        Quantity::Time(latencies.percentile(50.0)),
        Quantity::Time(latencies.percentile(99.0)),
    ));
    Ok(latencies)
}
