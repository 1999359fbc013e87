//! GraphQL subscriptions as a third-party client sees them: Python's `gql` over
//! WebSocket, with both graphql-transport-ws and the legacy graphql-ws protocol, against
//! the gateway fed by the relay through a real NATS. Needs `ops/clients`. The last tests
//! are attacks: a subscriber that lags, and one whose access was just revoked while the
//! inventory projector lags the relay.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use commands::{Relay, Wakeup};
use futures::StreamExt;
use projections::Inventory;
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
    /// The inventory projector, running on its own unless the test drives it.
    projector: Option<tokio::task::JoinHandle<()>>,
    _nats: NatsServer,
    db: TestDb,
}

impl Setup {
    async fn start() -> Setup {
        Setup::start_with(gateways::Limits::default(), true).await
    }

    /// With these gateway limits; with `projector` false, the test projects itself (with
    /// `project`), so that the read model lags the relay as long as it wants.
    async fn start_with(limits: gateways::Limits, projector: bool) -> Setup {
        let db = TestDb::new().await;
        let nats = NatsServer::started().await;
        let relay = Relay::new(db.store(), async_nats::connect(nats.url()).await.unwrap());
        let wakeup = Wakeup::new(&db.pool, Duration::from_millis(200)).await;
        let url = db.url.clone();
        let relay = tokio::spawn(async move {
            let _ = relay.run(url, wakeup).await;
        });
        let projector = projector.then(|| {
            let (store, url) = (db.store(), db.url.clone());
            tokio::spawn(async move {
                let wakeup = Wakeup::new(store.pool(), Duration::from_millis(200)).await;
                let _ = projections::run(store, url, Inventory, wakeup).await;
            })
        });
        let nats_client = async_nats::connect(nats.url()).await.unwrap();
        let gateway = Gateway::start_limited(&db, Some(nats_client), limits).await;
        let watcher = async_nats::connect(nats.url()).await.unwrap();
        let published = watcher.subscribe("maestro.events.>").await.unwrap();
        watcher.flush().await.unwrap();
        Setup {
            gateway,
            published,
            relay,
            projector,
            _nats: nats,
            db,
        }
    }

    /// Lets the inventory projector apply everything committed so far.
    async fn project(&self) {
        support::catch_up(&self.db.store(), &Inventory).await;
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
        if let Some(projector) = &self.projector {
            projector.abort();
        }
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

/// Attack: a subscriber that reads slower than events come (or not at all) used to skip
/// the events it missed without a word, believing it had seen everything. Now it is told
/// that it fell behind and its subscription ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_gets_an_error_and_is_closed() {
    let limits = gateways::Limits {
        subscription_buffer: 1,
        ..gateways::Limits::default()
    };
    let mut setup = Setup::start_with(limits, false).await;
    let server = setup
        .create("createServer", json!({"hostname": "busy.example.com", "cpu": 1}))
        .await;
    let query = "subscription { events { streamId version } }";
    let mut subscriber =
        Subscriber::start(&setup.ws_url(), TRANSPORT_WS, query, 0, &setup.gateway.token).await;
    let handler = setup.db.handler();
    let id: uuid::Uuid = server.parse().unwrap();
    // The feed passes events on as the projector applies them: a burst of them, more
    // than the one the subscriber may have waiting.
    for round in 0..5 {
        for cpu in 0..20 {
            let fields = support::fields(domain::Kind::Server, json!({"cpu": 100 * round + cpu}));
            let command = support::request(domain::Kind::Server, id, domain::Command::Update(fields));
            handler.execute(&command).await.unwrap();
        }
        setup.project().await;
        if let Some(status) = subscriber.exit(DELIVERED_WITHIN).await {
            assert!(!status.success(), "the subscription ended with an error");
            let stderr = subscriber.stderr().await;
            assert!(
                stderr.contains("fell") && stderr.contains("events behind and was closed"),
                "{stderr}"
            );
            return;
        }
    }
    panic!("the subscriber never fell behind");
}

/// Attack: the grant of a subscriber is revoked, and the item changes at once. The read
/// model, which decides who may read, lags the relay: the subscriber used to hear of the
/// change because the grant was still there. Now an event reaches subscribers only once
/// the projector applied it, and with it the revocation before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_subscriber_hears_nothing_more_while_the_projector_lags() {
    let mut setup = Setup::start_with(gateways::Limits::default(), false).await;
    let shared = setup
        .create(
            "createServer",
            json!({"hostname": "shared.example.com", "cpu": 1}),
        )
        .await;
    let other = setup.gateway.sign_up("other").await;
    let other_id = setup.gateway.data_as(&other, "{ me { id } }", json!({})).await["me"]["id"].clone();
    let grant = "mutation($id: ID!, $p: ID!) { grant(id: $id, principal: $p, level: READ) { version } }";
    let granted = setup
        .gateway
        .data(grant, json!({"id": shared, "p": other_id}))
        .await;
    setup
        .published(&shared, granted["grant"]["version"].as_i64().unwrap())
        .await;
    let created = setup
        .gateway
        .data_as(
            &other,
            "mutation { createServer(input: {hostname: \"own.example.com\"}) { id } }",
            json!({}),
        )
        .await;
    let own = created["createServer"]["id"].as_str().unwrap().to_string();
    setup.project().await;

    let query = "subscription { changes(kind: \"server\") { id version } }";
    let mut subscriber = Subscriber::start(&setup.ws_url(), TRANSPORT_WS, query, 0, &other).await;
    // While granted, the other person hears of the shared server's changes.
    let mut heard = None;
    for cpu in 10..16 {
        let version = setup.set_cpu(&shared, cpu).await;
        setup.project().await;
        if let Some(line) = subscriber.line(DELIVERED_WITHIN).await {
            heard = Some(version);
            let change: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(change["data"]["changes"]["id"], shared, "{change}");
            break;
        }
    }
    let last_granted = heard.expect("the granted subscriber heard of the shared server");

    // Revoked, then changed, with the projector behind both; then the person's own
    // server changes and the projector catches up.
    let revoke = "mutation($id: ID!, $p: ID!) { revoke(id: $id, principal: $p) { version } }";
    let revoked = setup
        .gateway
        .data(revoke, json!({"id": shared, "p": other_id}))
        .await;
    setup
        .published(&shared, revoked["revoke"]["version"].as_i64().unwrap())
        .await;
    let after = setup.set_cpu(&shared, 99).await;
    let update = "mutation($id: ID!) { updateServer(id: $id, input: {cpu: 7}) { version } }";
    let own_version = setup.gateway.data_as(&other, update, json!({"id": own})).await["updateServer"]
        ["version"]
        .as_i64()
        .unwrap();
    setup.published(&own, own_version).await;
    setup.project().await;

    // What comes next is the person's own change; of the shared server, at most what
    // came before the revocation.
    loop {
        let line = subscriber
            .line(DELIVERED_WITHIN)
            .await
            .expect("the change of the person's own server arrives");
        let change: Value = serde_json::from_str(&line).unwrap();
        let change = &change["data"]["changes"];
        if change["id"] == own.as_str() {
            assert_eq!(change["version"], own_version);
            break;
        }
        assert_eq!(change["id"], shared, "{change}");
        let version = change["version"].as_i64().unwrap();
        assert!(
            version <= last_granted,
            "version {version} (of {after}) leaked after the revocation"
        );
    }
}
