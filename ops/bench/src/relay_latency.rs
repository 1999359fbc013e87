//! `relay-latency`: how long an event takes from its commit to JetStream, at a steady
//! `--rate` commands per second for `--seconds`.
//!
//! Each command creates a new server through `CommandHandler::execute`; the clock starts
//! when `execute` returns (the event is committed). The relay (`commands::Relay`, woken
//! by LISTEN/NOTIFY with the production polling fallback) publishes it to the stream
//! `MAESTRO_EVENTS`; the clock stops when an ordered push consumer on that stream
//! (`maestro.events.>`) receives it, matched by the envelope's `stream_id`. A JetStream
//! consumer is only delivered a message once the stream stored it, which is when the
//! relay's publish is acked.
//!
//! The first second on each side is a warm-up and not counted.
//!
//! Beside: plain JetStream publishes of a message of the same size to a stream of their
//! own, at the same rate, each timed from `publish` to its ack.
//!
//! Everything runs against a private nats-server started for this benchmark.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream::{self, consumer::push};
use bytes::Bytes;
use commands::{CommandHandler, CommandRequest, EventStore, RecordedEvent, Relay, Wakeup, EVENTS_STREAM};
use domain::Kind;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::BenchDb;
use crate::measure::{open_loop, Latencies};
use crate::nats::PrivateNats;
use crate::report::{note, Comparison, Quantity, Target};
use crate::{payload, Options};

/// The relay's polling fallback, as `maestro serve` sets it.
const POLL: Duration = Duration::from_millis(500);
/// Run before the measured `--seconds` on both sides, and not counted: connections,
/// the relay's first batch, a fresh database's first writes.
const WARMUP: Duration = Duration::from_secs(1);
/// How long to wait for the last events to come through after the last commit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
const PLAIN_STREAM: &str = "BENCH_PLAIN";
const PLAIN_SUBJECT: &str = "bench.plain";

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let nats = PrivateNats::start(options.nats_server.as_deref()).await?;
    note(format!("private nats-server at {}", nats.url));
    let result = measure(options, &nats).await;
    nats.stop().await;
    let (maestro, plain) = result?;
    let at = |p: f64, name, target| Comparison {
        name,
        maestro: Quantity::Time(maestro.percentile(p)),
        reference: Quantity::Time(plain.percentile(p)),
        target,
    };
    Ok(vec![
        at(50.0, "relay-latency-p50", Target::None),
        at(99.0, "relay-latency-p99", Target::AtMost(5.0)),
    ])
}

/// Returns (Maestro's latencies, the plain round trips').
async fn measure(options: &Options, nats: &PrivateNats) -> anyhow::Result<(Latencies, Latencies)> {
    let plain = plain_round_trips(options, nats).await?;
    let db = BenchDb::fresh(options, "relay-latency", 16).await?;
    let relayed = relayed(options, nats, &db).await;
    db.finish().await?;
    Ok((relayed?, plain))
}

fn describe(what: &str, latencies: &Latencies, reached: f64) {
    let at = |p| Quantity::Time(latencies.percentile(p));
    note(format!(
        "{what}: {} at {reached:.0}/s, p50 {} p99 {} max {}",
        latencies.len(),
        at(50.0),
        at(99.0),
        at(100.0),
    ));
}

/// An envelope like those the relay publishes, for the plain messages' size.
fn sample_envelope() -> Vec<u8> {
    let event = payload::server_created(0);
    let recorded = RecordedEvent {
        position: 1_000_000,
        event_id: Uuid::now_v7(),
        stream_type: Kind::Server.stream_type().to_string(),
        stream_id: Uuid::now_v7(),
        version: 1,
        event_type: event.event_type().to_string(),
        schema_version: event.schema_version(),
        data: event.data(),
        metadata: serde_json::to_value(payload::user_metadata()).expect("metadata serializes"),
        recorded_at: chrono::Utc::now(),
        transaction_id: 1_000_000,
    };
    serde_json::to_vec(&recorded.envelope()).expect("envelopes serialize")
}

async fn plain_round_trips(options: &Options, nats: &PrivateNats) -> anyhow::Result<Latencies> {
    let jetstream = jetstream::new(nats.connect().await?);
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: PLAIN_STREAM.to_string(),
            subjects: vec![PLAIN_SUBJECT.to_string()],
            ..Default::default()
        })
        .await?;
    let message = Bytes::from(sample_envelope());
    note(format!(
        "plain messages: {} bytes, like an envelope",
        message.len()
    ));
    let (latencies, reached) = open_loop(options.rate, options.duration() + WARMUP, |_| {
        let (jetstream, message) = (jetstream.clone(), message.clone());
        async move {
            let started = Instant::now();
            jetstream.publish(PLAIN_SUBJECT, message).await?.await?;
            Ok(started.elapsed())
        }
    })
    .await?;
    let latencies = Latencies::new(after_warmup(latencies, options));
    describe("plain publish → ack", &latencies, reached);
    Ok(latencies)
}

/// A command of the run: the server it created, when `execute` was called and returned.
struct Commit {
    id: Uuid,
    started: Instant,
    committed: Instant,
}

async fn relayed(options: &Options, nats: &PrivateNats, db: &BenchDb) -> anyhow::Result<Latencies> {
    let store = EventStore::new(db.pool.clone());
    let relay = Relay::new(store.clone(), nats.connect().await?);
    relay.ensure_stream().await?;
    let mut received = receive_events(nats).await?;
    let wakeup = Wakeup::new(&db.pool, POLL).await;
    let mut relay = tokio::spawn(relay.run(db.url.clone(), wakeup));
    db.checkpoint().await?;
    let commits = create_servers(CommandHandler::new(store), options).await;
    let arrivals = match &commits {
        Ok((commits, _)) => drain(&mut received, commits.len(), &mut relay).await,
        Err(_) => Ok(HashMap::new()),
    };
    relay.abort();
    let (commits, reached) = commits?;
    let commits = after_warmup(commits, options);
    let arrivals = arrivals?;

    let executes = commits.iter().map(|c| c.committed - c.started).collect();
    describe("execute (for context)", &Latencies::new(executes), reached);
    let latencies: Vec<Duration> = commits
        .iter()
        .filter_map(|c| {
            arrivals
                .get(&c.id)
                .map(|at| at.saturating_duration_since(c.committed))
        })
        .collect();
    if latencies.len() < commits.len() {
        bail!(
            "{} of {} events did not reach JetStream within {DRAIN_TIMEOUT:?} of the last commit",
            commits.len() - latencies.len(),
            commits.len()
        );
    }
    let latencies = Latencies::new(latencies);
    describe("commit → relayed → consumed", &latencies, reached);
    Ok(latencies)
}

/// Creates a server `--rate` times a second for the warm-up and `--seconds`.
async fn create_servers(handler: CommandHandler, options: &Options) -> anyhow::Result<(Vec<Commit>, f64)> {
    open_loop(options.rate, options.duration() + WARMUP, |n| {
        let handler = handler.clone();
        async move {
            let request = CommandRequest {
                kind: Kind::Server,
                id: Uuid::now_v7(),
                command: payload::create_server(n),
                expected_version: None,
                idempotency_key: None,
                metadata: payload::user_metadata(),
                access: domain::Access::Unrestricted,
            };
            let started = Instant::now();
            handler.execute(&request).await?;
            Ok(Commit {
                id: request.id,
                started,
                committed: Instant::now(),
            })
        }
    })
    .await
}

/// Drops what was started during the warm-up.
fn after_warmup<T>(mut outputs: Vec<T>, options: &Options) -> Vec<T> {
    let warmup = (f64::from(options.rate) * WARMUP.as_secs_f64()) as usize;
    outputs.drain(..warmup.min(outputs.len()));
    outputs
}

/// Subscribes to everything the relay publishes with an ordered push consumer; each
/// event's stream id comes out with the instant it arrived.
async fn receive_events(nats: &PrivateNats) -> anyhow::Result<mpsc::UnboundedReceiver<(Uuid, Instant)>> {
    let client = nats.connect().await?;
    let consumer = jetstream::new(client.clone())
        .get_stream(EVENTS_STREAM)
        .await?
        .create_consumer(push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: "maestro.events.>".to_string(),
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let (arrivals, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            let at = Instant::now();
            let stream_id = message
                .context("the consumer failed")
                .and_then(|message| stream_id(&message.payload));
            match stream_id {
                Ok(id) if arrivals.send((id, at)).is_ok() => {}
                Ok(_) => break,
                Err(error) => eprintln!("relay-latency: {error:#}"),
            }
        }
        drop(client);
    });
    Ok(received)
}

fn stream_id(envelope: &[u8]) -> anyhow::Result<Uuid> {
    let envelope: Value = serde_json::from_slice(envelope)?;
    let id = envelope["stream_id"]
        .as_str()
        .context("an envelope without stream_id")?;
    Ok(Uuid::parse_str(id)?)
}

/// Collects arrivals until `expected` have come or `DRAIN_TIMEOUT` passed.
async fn drain(
    received: &mut mpsc::UnboundedReceiver<(Uuid, Instant)>,
    expected: usize,
    relay: &mut tokio::task::JoinHandle<Result<(), commands::RelayError>>,
) -> anyhow::Result<HashMap<Uuid, Instant>> {
    let mut arrivals = HashMap::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while arrivals.len() < expected {
        if relay.is_finished() {
            match relay.await {
                Ok(Err(error)) => bail!("the relay stopped during the benchmark: {error}"),
                outcome => bail!("the relay stopped during the benchmark: {outcome:?}"),
            }
        }
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some((id, at))) => {
                arrivals.entry(id).or_insert(at);
            }
            Ok(None) => bail!("the consumer stopped during the benchmark"),
            Err(_) => break,
        }
    }
    Ok(arrivals)
}
