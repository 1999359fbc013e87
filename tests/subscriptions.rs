//! GraphQL subscriptions as a third-party client sees them: Python's `gql` over
//! WebSocket, with both graphql-transport-ws and the legacy graphql-ws protocol, against
//! the gateway fed by the relay through a real NATS. Needs `ops/clients`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use commands::{Relay, Wakeup};
use futures::StreamExt;
use serde_json::{json, Value};
use support::subscriber::{Subscriber, LEGACY_WS, TRANSPORT_WS};
use support::{Gateway, NatsServer, TestDb};
use tokio::time::timeout;

/// How long the relay may take to publish an event: other tests' open transactions hold
/// back what it can read, so this is generous.
const PUBLISHED_WITHIN: Duration = Duration::from_secs(60);
/// How long a published event may take to reach a live subscriber.
const DELIVERED_WITHIN: Duration = Duration::from_secs(10);

/// Postgres, the relay, a NATS of its own and the gateway following it, plus a watcher of
/// the relay's subjects that tells when an event went out.
struct Setup {
    // Dropped in this order: the gateway and the relay before what they use.
    gateway: Gateway,
    published: async_nats::Subscriber,
    relay: tokio::task::JoinHandle<()>,
    _nats: NatsServer,
    _db: TestDb,
}

impl Setup {
    async fn start() -> Setup {
        let db = TestDb::new().await;
        let nats = NatsServer::started().await;
        let relay = Relay::new(db.store(), async_nats::connect(nats.url()).await.unwrap());
        let wakeup = Wakeup::new(&db.pool, Duration::from_millis(200)).await;
        let url = db.url.clone();
        let relay = tokio::spawn(async move {
            let _ = relay.run(url, wakeup).await;
        });
        let gateway = Gateway::start(&db, Some(async_nats::connect(nats.url()).await.unwrap())).await;
        let watcher = async_nats::connect(nats.url()).await.unwrap();
        let published = watcher.subscribe("maestro.events.>").await.unwrap();
        watcher.flush().await.unwrap();
        Setup {
            gateway,
            published,
            relay,
            _nats: nats,
            _db: db,
        }
    }

    /// Waits until the relay published version `version` of item `id`.
    async fn published(&mut self, id: &str, version: i64) {
        let wait = async {
            while let Some(message) = self.published.next().await {
                let envelope: Value = serde_json::from_slice(&message.payload).unwrap();
                if envelope["stream_id"] == id && envelope["version"] == version {
                    return;
                }
            }
            panic!("the NATS connection closed");
        };
        timeout(PUBLISHED_WITHIN, wait)
            .await
            .unwrap_or_else(|_| panic!("the relay did not publish version {version} of {id} within 60 s"));
    }

    /// Creates an item through the gateway and waits until its event went out.
    async fn create(&mut self, mutation: &str, input: Value) -> String {
        let query = format!(
            "mutation($input: {}Input!) {{ {mutation}(input: $input) {{ id version }} }}",
            &mutation[6..]
        );
        let created = self.gateway.data(&query, json!({"input": input})).await[mutation].clone();
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["version"], 1);
        self.published(&id, 1).await;
        id
    }

    /// Sets the server's cpu through the gateway, waits until the event went out, and
    /// returns the new version.
    async fn set_cpu(&mut self, id: &str, cpu: i64) -> i64 {
        let update = "mutation($id: ID!, $input: ServerInput!) { updateServer(id: $id, input: $input) { version cpu } }";
        let updated = self
            .gateway
            .data(update, json!({"id": id, "input": {"cpu": cpu}}))
            .await["updateServer"]
            .clone();
        assert_eq!(updated["cpu"], cpu);
        let version = updated["version"].as_i64().unwrap();
        self.published(id, version).await;
        version
    }

    fn ws_url(&self) -> String {
        format!("{}/graphql", self.gateway.url.replacen("http://", "ws://", 1))
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// Neither protocol acknowledges a subscription, so the first updates may come before the
/// gateway listens: update (a new cpu each time) until one arrives. Returns the first
/// result and the cpu each version was given.
async fn first_change(
    setup: &mut Setup,
    subscriber: &mut Subscriber,
    server: &str,
) -> (Value, HashMap<i64, i64>) {
    let mut cpus = HashMap::new();
    for cpu in 10..16 {
        let version = setup.set_cpu(server, cpu).await;
        cpus.insert(version, cpu);
        if let Some(line) = subscriber.line(DELIVERED_WITHIN).await {
            let result: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("subscribe.py printed `{line}`: {e}"));
            return (result, cpus);
        }
    }
    panic!(
        "no update reached the subscriber, though the relay published {cpus:?}; stderr:\n{}",
        subscriber.stderr().await
    );
}

async fn changes_arrive_with_the_item_as_it_then_was(protocol: &str) {
    let mut setup = Setup::start().await;
    let hostname = format!("sub-{protocol}.example.com");
    let server = setup
        .create("createServer", json!({"hostname": hostname, "cpu": 2}))
        .await;
    let query = r#"subscription { changes(kind: "server") { id kind version eventType item { ... on Server { hostname cpu } } } }"#;
    let mut subscriber = Subscriber::start(&setup.ws_url(), protocol, query, 2, &setup.gateway.token).await;

    let (first, cpus) = first_change(&mut setup, &mut subscriber, &server).await;
    let change = &first["data"]["changes"];
    let version = change["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version in {first}"));
    let cpu = *cpus
        .get(&version)
        .unwrap_or_else(|| panic!("version {version} was none of ours ({cpus:?}): {first}"));
    assert_eq!(
        first,
        json!({"data": {"changes": {"id": server, "kind": "server", "version": version, "eventType": "updated",
            "item": {"hostname": hostname, "cpu": cpu}}}})
    );

    // Now that it listens, the next change arrives as it is, and only it.
    let version = setup.set_cpu(&server, 42).await;
    let second = subscriber.result(DELIVERED_WITHIN).await;
    assert_eq!(
        second,
        json!({"data": {"changes": {"id": server, "kind": "server", "version": version, "eventType": "updated",
            "item": {"hostname": hostname, "cpu": 42}}}})
    );
    subscriber.finished().await;
}

async fn a_filter_passes_only_the_events_it_names(protocol: &str) {
    let mut setup = Setup::start().await;
    let server = setup
        .create(
            "createServer",
            json!({"hostname": "filtered.example.com", "cpu": 2}),
        )
        .await;
    let query = r#"subscription { events(filter: {streamType: "server", eventType: "updated"}) { streamType streamId type version data } }"#;
    let mut subscriber = Subscriber::start(&setup.ws_url(), protocol, query, 2, &setup.gateway.token).await;

    let (first, cpus) = first_change(&mut setup, &mut subscriber, &server).await;
    let event = &first["data"]["events"];
    let version = event["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version in {first}"));
    let cpu = *cpus
        .get(&version)
        .unwrap_or_else(|| panic!("version {version} was none of ours ({cpus:?}): {first}"));
    assert_eq!(
        first,
        json!({"data": {"events": {"streamType": "server", "streamId": server, "type": "updated",
            "version": version, "data": {"changes": {"cpu": cpu}}}}})
    );

    // Events of another kind, and of another type, go out and must not come through.
    setup.create("createClient", json!({"name": "Acme"})).await;
    setup
        .create("createServer", json!({"hostname": "other.example.com"}))
        .await;
    let version = setup.set_cpu(&server, 42).await;
    let second = subscriber.result(DELIVERED_WITHIN).await;
    assert_eq!(
        second,
        json!({"data": {"events": {"streamType": "server", "streamId": server, "type": "updated",
            "version": version, "data": {"changes": {"cpu": 42}}}}}),
        "the filter keeps out the client's and the new server's `created` events"
    );
    subscriber.finished().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_a_graphql_transport_ws_client() {
    changes_arrive_with_the_item_as_it_then_was(TRANSPORT_WS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_a_legacy_graphql_ws_client() {
    changes_arrive_with_the_item_as_it_then_was(LEGACY_WS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_events_reach_a_graphql_transport_ws_client() {
    a_filter_passes_only_the_events_it_names(TRANSPORT_WS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_events_reach_a_legacy_graphql_ws_client() {
    a_filter_passes_only_the_events_it_names(LEGACY_WS).await;
}

/// A subscriber signed in as someone else never hears of the tester's items: while both
/// change a server of their own, the first change that reaches the other person is theirs.
#[tokio::test]
async fn a_subscriber_hears_only_of_items_it_may_read() {
    let mut setup = Setup::start().await;
    let testers = setup
        .create(
            "createServer",
            json!({"hostname": "tester.example.com", "cpu": 2}),
        )
        .await;
    let other = setup.gateway.sign_up("other").await;
    let created = setup
        .gateway
        .data_as(
            &other,
            "mutation { createServer(input: {hostname: \"other.example.com\"}) { id } }",
            json!({}),
        )
        .await;
    let others = created["createServer"]["id"].as_str().unwrap().to_string();
    for (round, query) in [
        "subscription { changes(kind: \"server\") { id } }",
        "subscription { events { streamId } }",
    ]
    .into_iter()
    .enumerate()
    {
        let mut subscriber = Subscriber::start(&setup.ws_url(), TRANSPORT_WS, query, 1, &other).await;
        let mut received = None;
        // Each round sets new values: an unchanged value would append nothing.
        let first = 20 + 10 * round as i64;
        for cpu in first..first + 10 {
            setup.set_cpu(&testers, cpu).await;
            let update =
                "mutation($id: ID!, $cpu: Int!) { updateServer(id: $id, input: {cpu: $cpu}) { version } }";
            let version = setup
                .gateway
                .data_as(&other, update, json!({"id": others, "cpu": cpu}))
                .await["updateServer"]["version"]
                .as_i64()
                .unwrap();
            setup.published(&others, version).await;
            if let Some(line) = subscriber.line(DELIVERED_WITHIN).await {
                received = Some(serde_json::from_str::<Value>(&line).unwrap());
                break;
            }
        }
        let received = received.unwrap_or_else(|| panic!("nothing reached the subscriber of `{query}`"));
        let seen = received["data"]["changes"]["id"]
            .as_str()
            .or(received["data"]["events"]["streamId"].as_str());
        assert_eq!(seen, Some(others.as_str()), "{query} leaked: {received}");
    }
}
