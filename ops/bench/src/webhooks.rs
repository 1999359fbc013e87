//! `webhooks`: deliveries per second from the `webhooks` crate's worker, 32 requests in
//! flight, to a local receiver that answers 204 at once. Each delivery is a claim from
//! the Postgres queue (in batches), a signed POST of an event envelope (~700 bytes), and
//! the attempt recorded with the delivery's new state, as in production.
//!
//! Beside: a plain reqwest client posting the same bodies to the same receiver, 32 in
//! flight, in the same run. The gap is what the queue, the signature and the records
//! cost per delivery.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};
use uuid::Uuid;
use webhooks::{allowing, DeliverySettings, NewEndpoint, Webhooks, Worker};

use crate::db::BenchDb;
use crate::report::{note, Comparison, Quantity, Target};
use crate::{payload, Options};

const DELIVERIES: u64 = 40_000;
const IN_FLIGHT: usize = 32;

pub async fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    let (receiver, received) = receiver().await?;
    let bodies: Vec<Value> = (0..DELIVERIES).map(envelope).collect();
    note(format!(
        "{DELIVERIES} deliveries of {} bytes of JSON to a local receiver answering 204, {IN_FLIGHT} in flight",
        bodies[0].to_string().len()
    ));

    let reference = plain_posts(receiver, &bodies).await?;
    ensure!(
        received.swap(0, Ordering::SeqCst) == DELIVERIES,
        "the receiver missed plain posts"
    );

    let db = BenchDb::fresh(options, "webhooks", IN_FLIGHT as u32 + 8).await?;
    let maestro = deliveries(&db, receiver, &bodies, &received).await;
    db.finish().await?;
    Ok(vec![Comparison {
        name: "webhooks",
        maestro: Quantity::Rate(maestro?),
        reference: Quantity::Rate(reference),
        target: Target::AtLeast(0.5),
    }])
}

/// What the relay would publish for the `n`th server's creation.
fn envelope(n: u64) -> Value {
    json!({
        "type": "created",
        "streamType": "server",
        "streamId": Uuid::now_v7(),
        "version": 1,
        "recordedAt": "2026-01-01T00:00:00Z",
        "data": payload::server_created(n).data(),
    })
}

/// The receiver: an HTTP/1.1 server answering 204 to every POST, counting them.
async fn receiver() -> anyhow::Result<(SocketAddr, Arc<AtomicU64>)> {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = Router::new().route(
        "/hooks",
        post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((address, received))
}

/// Posts per second from a plain client, `IN_FLIGHT` at once.
async fn plain_posts(receiver: SocketAddr, bodies: &[Value]) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("http://{receiver}/hooks");
    let started = Instant::now();
    let mut posts = futures::stream::iter(bodies)
        .map(|body| {
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).unwrap_or_default());
            async move { request.send().await?.error_for_status() }
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some(answer) = posts.next().await {
        answer.context("a plain post failed")?;
    }
    Ok(bodies.len() as f64 / started.elapsed().as_secs_f64())
}

/// Deliveries per second through the worker, from its start to the last one recorded
/// as delivered; the bodies are enqueued before the clock starts.
async fn deliveries(
    db: &BenchDb,
    receiver: SocketAddr,
    bodies: &[Value],
    received: &AtomicU64,
) -> anyhow::Result<f64> {
    let webhooks = Webhooks::new(db.pool.clone(), &[7; 32], allowing(vec![receiver.ip().into()]));
    let (endpoint, _secret) = webhooks
        .create(NewEndpoint {
            owner: Uuid::now_v7(),
            description: "benchmark receiver".into(),
            url: format!("http://{receiver}/hooks"),
            headers: vec![("authorization".into(), "Bearer benchmark".into())],
        })
        .await?;
    for (n, body) in bodies.iter().enumerate() {
        webhooks
            .enqueue(endpoint.id, &format!("event-{n}"), "server.created", body)
            .await?;
    }
    db.execute("VACUUM (ANALYZE) webhook_deliveries").await?;
    db.checkpoint().await?;

    let settings = DeliverySettings {
        max_in_flight: IN_FLIGHT,
        ..DeliverySettings::default()
    };
    let worker = Worker::new(&webhooks, settings, Arc::new(|_| {}))?;
    let started = Instant::now();
    let running = tokio::spawn(async move { worker.run().await });
    let deadline = started + Duration::from_secs(300);
    let mut delivered: i64 = 0;
    while delivered < bodies.len() as i64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if received.load(Ordering::Relaxed) >= bodies.len() as u64 {
            delivered =
                sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
                    .fetch_one(&db.pool)
                    .await?;
        }
    }
    let took = started.elapsed();
    running.abort();
    ensure!(
        delivered == bodies.len() as i64,
        "only {delivered} of {} deliveries were delivered in 5 minutes",
        bodies.len()
    );
    let sent = received.load(Ordering::Relaxed);
    ensure!(
        sent == bodies.len() as u64,
        "the receiver took {sent} requests for {delivered} deliveries"
    );
    Ok(bodies.len() as f64 / took.as_secs_f64())
}
