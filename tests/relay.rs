//! The relay against a real NATS JetStream: every event reaches the stream, with the
//! promised subject, header and envelope, even when NATS was down while commands ran.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use commands::{Relay, Wakeup, EVENTS_STREAM};
use domain::{Command, Kind};
use futures::StreamExt;
use serde_json::{json, Value};
use support::{create_server, fields, request, NatsServer, TestDb};

async fn start_relay(db: &TestDb, nats: &NatsServer) -> tokio::task::JoinHandle<()> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(nats.url())
        .await
        .expect("connecting in the background never fails up front");
    let relay = Relay::new(db.store(), client);
    let wakeup = Wakeup::new(&db.pool, Duration::from_millis(200)).await;
    let url = db.url.clone();
    tokio::spawn(async move {
        let _ = relay.run(url, wakeup).await;
    })
}

/// Reads the whole stream from the start, until `expected` distinct events arrived.
async fn receive(nats: &NatsServer, expected: usize) -> Vec<async_nats::jetstream::Message> {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let context = jetstream::new(client);
    let stream = loop {
        match context.get_stream(EVENTS_STREAM).await {
            Ok(stream) => break stream,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let consumer = stream
        .create_consumer(pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut received = vec![];
    let mut ids = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ids.len() < expected {
        let message = tokio::time::timeout_at(deadline, messages.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {expected} events arrived", ids.len()))
            .unwrap()
            .unwrap();
        let envelope: Value = serde_json::from_slice(&message.payload).unwrap();
        ids.insert(envelope["id"].as_str().unwrap().to_string());
        received.push(message);
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_succeed_while_nats_is_down_and_every_event_arrives_once_it_is_back() {
    let db = TestDb::new().await;
    let mut nats = NatsServer::stopped();
    let relay = start_relay(&db, &nats).await;
    let handler = db.handler();

    // 100 servers × (create + 9 updates) = 1,000 commands, ten writers at a time.
    let writers = (0..10).map(|writer| {
        let handler = handler.clone();
        tokio::spawn(async move {
            for n in 0..10 {
                let (id, _) = create_server(&handler, &format!("web-{writer}-{n}")).await;
                for cpu in 3..12 {
                    let update = Command::Update(fields(Kind::Server, json!({"cpu": cpu})));
                    handler.execute(&request(Kind::Server, id, update)).await.unwrap();
                }
            }
        })
    });
    futures::future::join_all(writers)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());

    nats.start().await;
    let messages = receive(&nats, 1000).await;

    let mut by_id: HashMap<String, Value> = HashMap::new();
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for message in &messages {
        let envelope: Value = serde_json::from_slice(&message.payload).unwrap();
        let id = envelope["id"].as_str().unwrap().to_string();
        let header = message
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_string());
        assert_eq!(
            header.as_deref(),
            Some(id.as_str()),
            "Nats-Msg-Id is the event id"
        );
        let subject = format!(
            "maestro.events.{}.{}",
            envelope["stream_type"].as_str().unwrap(),
            envelope["type"].as_str().unwrap()
        );
        assert_eq!(message.subject.as_str(), subject);
        if by_id.insert(id, envelope.clone()).is_none() {
            versions
                .entry(envelope["stream_id"].as_str().unwrap().to_string())
                .or_default()
                .push(envelope["version"].as_i64().unwrap());
        }
    }
    assert_eq!(
        by_id.len(),
        1000,
        "all 1,000 events, none twice after de-duplication"
    );
    assert_eq!(versions.len(), 100);
    for (stream, versions) in versions {
        assert_eq!(
            versions,
            (1..=10).collect::<Vec<_>>(),
            "stream {stream} arrived out of order"
        );
    }
    let envelope = by_id.values().next().unwrap();
    for key in [
        "id",
        "position",
        "stream_type",
        "stream_id",
        "version",
        "type",
        "schema_version",
        "data",
        "metadata",
        "recorded_at",
    ] {
        assert!(envelope.get(key).is_some(), "envelope lacks `{key}`");
    }
    relay.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_resumes_from_its_checkpoint_without_republishing() {
    let db = TestDb::new().await;
    let nats = NatsServer::started().await;
    let handler = db.handler();
    for n in 0..5 {
        create_server(&handler, &format!("web-{n}")).await;
    }
    let relay = start_relay(&db, &nats).await;
    receive(&nats, 5).await;
    relay.abort();
    for n in 5..8 {
        create_server(&handler, &format!("web-{n}")).await;
    }
    let relay = start_relay(&db, &nats).await;
    let messages = receive(&nats, 8).await;
    assert_eq!(messages.len(), 8, "the first five were not published again");
    relay.abort();
}
