//! What the webhook tests share: a fresh database per test, a Python receiver that checks
//! signatures with the third-party `standardwebhooks` library, and a worker on a task.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;
use webhooks::{
    allowing, parse_networks, DeliverySettings, DisabledEndpoint, Endpoint, NewEndpoint, WebhookSecret,
    Webhooks, Worker,
};

pub const KEY: [u8; 32] = [42; 32];

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
        let name = format!("webhooks_test_{}", Uuid::new_v4().simple());
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
            .max_connections(8)
            .connect(&url)
            .await
            .unwrap();
        sqlx::migrate!("../schema/migrations").run(&pool).await.unwrap();
        TestDb { pool, url, name }
    }

    /// Another pool on the same database, as another process would have.
    pub async fn another_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(8)
            .connect(&self.url)
            .await
            .unwrap()
    }

    /// Webhooks allowed to reach 127.0.0.1 (and public addresses), as the tests' operator
    /// configures them.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks::new(
            self.pool.clone(),
            &KEY,
            allowing(parse_networks("127.0.0.1").unwrap()),
        )
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

/// Short delays, so that a whole retry schedule takes about a second.
pub fn fast_settings() -> DeliverySettings {
    DeliverySettings {
        retry_delays: vec![Duration::from_millis(100); 8],
        jitter: 0.0,
        request_timeout: Duration::from_secs(2),
        poll_interval: Duration::from_millis(200),
        ..DeliverySettings::default()
    }
}

/// A port nothing listens on now (the receiver takes it, or it stays closed).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An endpoint on 127.0.0.1:`port`, with its secret.
pub async fn endpoint(webhooks: &Webhooks, port: u16, headers: &[(&str, &str)]) -> (Endpoint, WebhookSecret) {
    webhooks
        .create(NewEndpoint {
            owner: Uuid::now_v7(),
            description: "test receiver".into(),
            url: format!("http://127.0.0.1:{port}/hooks"),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        })
        .await
        .unwrap()
}

/// A worker on a task of its own, stopped when dropped; it collects the endpoints it
/// disabled.
pub struct RunningWorker {
    task: tokio::task::JoinHandle<()>,
    pub disabled: Arc<Mutex<Vec<DisabledEndpoint>>>,
}

impl RunningWorker {
    pub fn start(webhooks: &Webhooks, settings: DeliverySettings) -> RunningWorker {
        let disabled = Arc::new(Mutex::new(Vec::new()));
        let seen = disabled.clone();
        let worker = Worker::new(
            webhooks,
            settings,
            Arc::new(move |endpoint| seen.lock().unwrap().push(endpoint)),
        )
        .unwrap();
        let task = tokio::spawn(async move { worker.run().await });
        RunningWorker { task, disabled }
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request the receiver took.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub verified: bool,
    pub status: u16,
    pub headers: Value,
    pub body: Value,
}

/// The Python receiver (webhooks/tests/support/receiver.py), stopped when dropped.
pub struct Receiver {
    child: Child,
    log: PathBuf,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Answer 500 to this many requests first.
    pub fail: usize,
    /// Sleep `sleep` before answering this many requests first.
    pub slow: usize,
    pub sleep: Duration,
}

impl Receiver {
    pub fn start(port: u16, secret: &WebhookSecret, behaviour: Behaviour) -> Receiver {
        let log = std::env::temp_dir().join(format!("webhooks-receiver-{}.jsonl", Uuid::new_v4().simple()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/receiver.py");
        let mut child = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .arg(script)
            .args(["--port", &port.to_string(), "--secret", &secret.expose()])
            .arg("--log")
            .arg(&log)
            .args([
                "--fail",
                &behaviour.fail.to_string(),
                "--slow",
                &behaviour.slow.to_string(),
            ])
            .args(["--sleep", &behaviour.sleep.as_secs_f64().to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the test receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "listening",
            "the receiver did not start; install its library with webhooks/tests/tools.sh"
        );
        Receiver { child, log }
    }

    pub fn received(&self) -> Vec<Received> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        text.lines()
            .map(|line| {
                let record: Value = serde_json::from_str(line).unwrap();
                Received {
                    id: record["id"].as_str().unwrap_or_default().to_string(),
                    verified: record["verified"].as_bool().unwrap(),
                    status: record["status"].as_u64().unwrap() as u16,
                    headers: record["headers"].clone(),
                    body: serde_json::from_str(record["body"].as_str().unwrap()).unwrap_or(Value::Null),
                }
            })
            .collect()
    }

    /// Waits until the receiver has taken `count` requests, and returns them.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver took {} requests of {count} within {within:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Polls `check` until it returns `Some`, or fails the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
