//! What the end-to-end tests share: a fresh database per test, a NATS server of the
//! test's own (so that stopping it disturbs nobody else), and helpers to drive commands
//! and projections.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod smtp;
pub mod subscriber;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commands::{CommandHandler, CommandOutcome, CommandRequest, EventStore};
use domain::{ActorKind, Command as DomainCommand, Fields, Kind, Metadata};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database of its own for one test, migrated, dropped when the test ends.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("maestro_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("Postgres must run for these tests: start it with ops/up");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url()).unwrap();
        url.set_path(&name);
        let url = url.to_string();
        let pool = PgPoolOptions::new()
            .max_connections(12)
            .connect(&url)
            .await
            .unwrap();
        commands::migrate(&pool).await.unwrap();
        TestDb { pool, url, name }
    }

    pub fn store(&self) -> EventStore {
        EventStore::new(self.pool.clone())
    }

    pub fn handler(&self) -> CommandHandler {
        CommandHandler::new(self.store())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime we may block: use a thread with its own.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_binary() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|path| path.exists())
        .expect("nats-server is not installed: run ops/up")
}

/// A real NATS server with JetStream, on a port and store of its own.
pub struct NatsServer {
    pub port: u16,
    store_dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// A server that is not running yet: its URL is known, nothing answers there.
    pub fn stopped() -> NatsServer {
        let port = free_port();
        let store_dir = std::env::temp_dir().join(format!("maestro-nats-{}", Uuid::new_v4().simple()));
        NatsServer {
            port,
            store_dir,
            child: None,
        }
    }

    pub async fn started() -> NatsServer {
        let mut server = NatsServer::stopped();
        server.start().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) {
        let child = Command::new(nats_binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store_dir);
    }
}

pub fn fields(kind: Kind, input: Value) -> Fields {
    Fields::parse(kind, input.as_object().expect("an object")).expect("valid test fields")
}

pub fn request(kind: Kind, id: Uuid, command: DomainCommand) -> CommandRequest {
    CommandRequest {
        kind,
        id,
        command,
        expected_version: None,
        idempotency_key: None,
        metadata: Metadata::new("tester", ActorKind::User),
        access: domain::Access::Unrestricted,
    }
}

pub async fn create_server(handler: &CommandHandler, hostname: &str) -> (Uuid, CommandOutcome) {
    let id = Uuid::now_v7();
    let fields = fields(
        Kind::Server,
        serde_json::json!({"hostname": hostname, "environment": "Production", "cpu": 2}),
    );
    let outcome = handler
        .execute(&request(Kind::Server, id, DomainCommand::Create(fields)))
        .await
        .unwrap();
    (id, outcome)
}

/// Runs both projections until they have applied everything committed so far.
pub async fn project_all(store: &EventStore) {
    catch_up(store, &projections::Inventory).await;
    catch_up(store, &projections::AuditTrail).await;
}

/// Applies everything committed so far. Another test's open transaction holds the
/// readable end of the log back (transaction ids are cluster-wide), so this waits for
/// the log's end rather than stopping at the first empty read.
pub async fn catch_up(store: &EventStore, projection: &impl projections::Projection) {
    projections::ensure(store, projection).await.unwrap();
    let end = log_end(store.pool()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut cursor = store.checkpoint(projection.name()).await.unwrap();
    while cursor < end {
        match projections::run_once(store, projection, cursor).await.unwrap() {
            Some(next) => cursor = next,
            None => {
                assert!(Instant::now() < deadline, "{} never caught up", projection.name());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The cursor of the last event committed so far, readable or not yet.
pub async fn log_end(pool: &PgPool) -> commands::Cursor {
    let end: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .unwrap();
    end.map(|(transaction_id, position)| commands::Cursor {
        transaction_id,
        position,
    })
    .unwrap_or_default()
}

/// Waits until every committed event is readable: other tests' open transactions hold
/// the readable end of the log back for a while (transaction ids are cluster-wide).
pub async fn all_readable(store: &EventStore) {
    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    eventually(
        Duration::from_secs(60),
        "every committed event is readable",
        || async { store.lag(commands::Cursor::default()).await.unwrap() >= committed },
    )
    .await;
}

/// A fingerprint of a table's whole content, to compare two builds byte for byte.
pub async fn table_digest(pool: &PgPool, table: &str) -> (i64, String) {
    sqlx::query_as(&format!(
        "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
    ))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Polls `check` until it holds, failing with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An encryption key for connection credentials in tests (32 bytes in base64). Never
/// used outside tests.
pub const TEST_CREDENTIALS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Keys of the test gateway's sessions and share links. Never used outside tests.
pub const TEST_SESSION_SECRET: &[u8] = b"test-session-secret-of-at-least-32-bytes!";
pub const TEST_LINK_SECRET: &[u8] = b"test-link-secret-of-at-least-32-bytes!!!";

/// The gateway served in-process on a free port, over a test database. Its requests
/// (`post`, `data`, `error`) are signed in as `tester@example.com`, created at start.
pub struct Gateway {
    pub url: String,
    /// The session token of the default tester.
    pub token: String,
    /// The default tester's user id.
    pub user: Uuid,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    /// The NATS and the crawler that answer connection tests, when the gateway has them.
    crawler: Option<(NatsServer, tokio::task::JoinHandle<()>)>,
}

/// A gateway pool on the test database, as `maestro serve` makes one (with the default
/// statement timeout), kept small since each test has its own.
pub async fn gateway_pool(db: &TestDb) -> PgPool {
    let settings = gateways::PoolSettings {
        max_connections: 6,
        ..gateways::PoolSettings::default()
    };
    gateways::database::connect(&db.url, settings).await.unwrap()
}

/// The default tester every test gateway signs up at start.
pub const TESTER_EMAIL: &str = "tester@example.com";
pub const TESTER_PASSWORD: &str = "correct horse battery";

/// Webhooks as the tests run them: secrets under the test key, and this machine's
/// loopback allowed, as an operator would with MAESTRO_WEBHOOK_PRIVATE_ENDPOINTS.
pub fn test_webhooks(pool: &PgPool) -> webhooks::Webhooks {
    let key = commands::Vault::key_bytes(TEST_CREDENTIALS_KEY).unwrap();
    webhooks::Webhooks::new(
        pool.clone(),
        &key,
        webhooks::allowing(vec!["127.0.0.0/8".parse().unwrap()]),
    )
}

/// The identity settings of test gateways: the test keys, no SMTP.
pub fn test_identity_settings() -> identity::Settings {
    identity::Settings::new(TEST_SESSION_SECRET, TEST_LINK_SECRET)
}

/// What the tests' crawls may reach, allowed explicitly as an operator would with
/// `MAESTRO_SOURCE_DIRS`: the temporary folder, where tests write the files their
/// connections read.
pub fn test_reach() -> crawlers::Reach {
    crawlers::Reach::new(vec![std::env::temp_dir()], vec![], crawlers::DEFAULT_MAX_BYTES)
}

impl Gateway {
    pub async fn start(db: &TestDb, nats: Option<async_nats::Client>) -> Gateway {
        Gateway::start_with(db, nats, test_identity_settings()).await
    }

    /// A gateway with other identity settings (SMTP, public URL, token lifetime…).
    pub async fn start_with(
        db: &TestDb,
        nats: Option<async_nats::Client>,
        settings: identity::Settings,
    ) -> Gateway {
        Gateway::start_configured(db, nats, settings, |app| app).await
    }

    /// A gateway with other identity settings and the app configured by `configure`.
    pub async fn start_configured(
        db: &TestDb,
        nats: Option<async_nats::Client>,
        settings: identity::Settings,
        configure: impl FnOnce(gateways::App) -> gateways::App,
    ) -> Gateway {
        let limits = gateways::Limits::default();
        Gateway::launch(db, nats, settings, limits, configure).await
    }

    /// A gateway with other limits (concurrent requests, subscription buffer).
    pub async fn start_limited(
        db: &TestDb,
        nats: Option<async_nats::Client>,
        limits: gateways::Limits,
    ) -> Gateway {
        Gateway::launch(db, nats, test_identity_settings(), limits, |app| app).await
    }

    /// A gateway whose connection tests and crawls of uploads reach only what `reach`
    /// allows.
    ///
    /// They run in a crawler, never the gateway: this one has a NATS of its own and a
    /// crawler answering both, reaching only what `reach` allows.
    pub async fn start_reaching(db: &TestDb, reach: crawlers::Reach) -> Gateway {
        let nats = NatsServer::started().await;
        let client = async_nats::connect(nats.url()).await.unwrap();
        let vault = commands::Vault::with_key(db.pool.clone(), TEST_CREDENTIALS_KEY).unwrap();
        let crawler = std::sync::Arc::new(crawlers::Crawler::new(db.handler(), vault, reach));
        let tests = crawlers::ConnectionTests::new(client.clone());
        let uploads = crawlers::UploadCrawls::new(client.clone());
        let answering = tokio::spawn(async move {
            let answered = tokio::try_join!(tests.answer(crawler.clone()), uploads.answer(crawler));
            answered.unwrap();
        });
        let settings = test_identity_settings();
        let mut gateway =
            Gateway::launch(db, Some(client), settings, gateways::Limits::default(), |app| app).await;
        gateway.crawler = Some((nats, answering));
        gateway
    }

    /// The URL of the NATS of a gateway made by [`start_reaching`](Self::start_reaching).
    pub fn nats_url(&self) -> Option<String> {
        self.crawler.as_ref().map(|(nats, _)| nats.url())
    }

    /// The gateway as `maestro serve` makes it: on a pool of its own (see
    /// [`gateway_pool`]), with these settings and limits, configured by `configure`.
    async fn launch(
        db: &TestDb,
        nats: Option<async_nats::Client>,
        settings: identity::Settings,
        limits: gateways::Limits,
        configure: impl FnOnce(gateways::App) -> gateways::App,
    ) -> Gateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let pool = gateway_pool(db).await;
        let vault = commands::Vault::with_key(pool.clone(), TEST_CREDENTIALS_KEY).unwrap();
        // The tester's account is made as on an open server, whatever the settings say.
        let open = identity::Settings {
            sign_ups: identity::SignUps::Open,
            ..settings.clone()
        };
        let identity = identity::Identity::new(pool.clone(), settings).unwrap();
        let session = identity::Identity::new(pool.clone(), open)
            .unwrap()
            .sign_up(TESTER_EMAIL, TESTER_PASSWORD, Some("Tester"), None)
            .await
            .unwrap();
        let webhooks = test_webhooks(&pool);
        let handler = CommandHandler::new(EventStore::new(pool));
        let app = configure(gateways::App::new(
            handler,
            vault,
            nats,
            identity,
            limits,
            Some(webhooks),
        ));
        let task = tokio::spawn(async move {
            gateways::serve(listener, app).await.unwrap();
        });
        Gateway {
            url,
            token: session.token,
            user: session.user.id,
            client: reqwest::Client::new(),
            task,
            crawler: None,
        }
    }

    /// Posts a GraphQL request as the default tester and returns the whole response body.
    pub async fn post(&self, query: &str, variables: Value) -> Value {
        self.post_as(Some(&self.token), query, variables).await
    }

    /// Posts a GraphQL request with another session token, or none.
    pub async fn post_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.client.post(format!("{}/graphql", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .json(&serde_json::json!({"query": query, "variables": variables}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Signs up `name@example.com` through the gateway; returns the session token.
    pub async fn sign_up(&self, name: &str) -> String {
        let data = self
            .data_as(
                "",
                "mutation($email: String!) { signUp(email: $email, password: \"correct horse battery\") { token } }",
                serde_json::json!({"email": format!("{name}@example.com")}),
            )
            .await;
        data["signUp"]["token"].as_str().unwrap().to_string()
    }

    /// The `data` of a request that must succeed, with a session token ("" for none).
    pub async fn data_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let token = (!token.is_empty()).then_some(token);
        let response = self.post_as(token, query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response}");
        response["data"].clone()
    }

    /// The `data` of a request that must succeed.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.post(query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response}");
        response["data"].clone()
    }

    /// The first error of a request that must fail.
    pub async fn error(&self, query: &str, variables: Value) -> Value {
        let response = self.post(query, variables).await;
        response["errors"][0].clone()
    }

    /// A GET as the default tester (health checks ignore the token).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
        if let Some((_, answering)) = &self.crawler {
            answering.abort();
        }
    }
}
