//! Crawl jobs end to end: `startCrawl` through the gateway, two crawler workers sharing
//! the JetStream work queue of a NATS of the test's own, Postgres, and the job's updates
//! as a third-party client subscribed over WebSocket sees them (`tests/clients`, needs
//! `ops/clients`): every step with its counts, then the summary, or the error; and a job
//! whose crawler dies mid-crawl running again on another, while a long one stays put
//! (a crawl made long by a stand-in for DigitalOcean's API that holds its answer).

mod support;

use std::time::Duration;

use commands::Vault;
use crawlers::{Crawler, JobQueue};
use serde_json::{json, Value};
use support::subscriber::{Subscriber, TRANSPORT_WS};
use support::{Gateway, NatsServer, TestDb, TEST_CREDENTIALS_KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// How long a job's next update may take: a crawl of a few items, on a busy machine.
const UPDATE_WITHIN: Duration = Duration::from_secs(60);
const WORKERS: usize = 2;

/// Postgres, a NATS of its own, the gateway and crawler workers.
struct Setup {
    // Dropped in this order: what uses NATS and Postgres before them.
    gateway: Gateway,
    workers: Vec<tokio::task::JoinHandle<()>>,
    files: Vec<std::path::PathBuf>,
    nats: NatsServer,
    db: TestDb,
}

impl Setup {
    async fn start() -> Setup {
        let mut setup = Setup::without_workers().await;
        for _ in 0..WORKERS {
            setup.add_worker(None).await;
        }
        setup
    }

    async fn without_workers() -> Setup {
        let db = TestDb::new().await;
        // The crawlers read what a connection found before from the read models.
        projections::ensure(&db.store(), &projections::Inventory)
            .await
            .unwrap();
        let nats = NatsServer::started().await;
        let gateway = Gateway::start(&db, Some(async_nats::connect(nats.url()).await.unwrap())).await;
        Setup {
            gateway,
            workers: vec![],
            files: vec![],
            nats,
            db,
        }
    }

    /// Starts a crawler worker (with another wait for a silent crawler's jobs than the
    /// default, when given); returns its index in `workers`, to stop it.
    async fn add_worker(&mut self, ack_wait: Option<Duration>) -> usize {
        let mut queue = JobQueue::new(async_nats::connect(self.nats.url()).await.unwrap());
        if let Some(ack_wait) = ack_wait {
            queue = queue.with_ack_wait(ack_wait);
        }
        // The held API runs on this machine: its network is allowed explicitly, as an
        // operator would with MAESTRO_PRIVATE_ENDPOINTS.
        let reach = crawlers::Reach::new(
            vec![std::env::temp_dir()],
            vec!["127.0.0.1".parse().unwrap()],
            crawlers::DEFAULT_MAX_BYTES,
        );
        let crawler = Crawler::new(
            self.db.handler(),
            Vault::with_key(self.db.pool.clone(), TEST_CREDENTIALS_KEY).unwrap(),
            reach,
        );
        self.workers.push(tokio::spawn(async move {
            let _ = queue.work(&crawler).await;
        }));
        self.workers.len() - 1
    }

    /// A file of the test's own, removed at the end.
    fn file(&mut self, content: &str) -> std::path::PathBuf {
        let file = std::env::temp_dir().join(format!("maestro-job-{}.json", Uuid::now_v7()));
        std::fs::write(&file, content).unwrap();
        self.files.push(file.clone());
        file
    }

    /// A JSON import connection reading `content` from a file of its own, created by the
    /// gateway's tester.
    async fn connection(&mut self, content: &str) -> String {
        let file = self.file(content);
        let input =
            json!({"name": "cmdb export", "provider": "json", "options": {"path": file.to_str().unwrap()}});
        self.create_connection(input).await
    }

    /// A DigitalOcean connection to the held API, with its token.
    async fn held_connection(&self, api: &HeldApi) -> String {
        let input = json!({"name": "slow cloud", "provider": "digitalocean",
                           "options": {"endpoint": api.url, "timeout_seconds": 600}});
        let connection = self.create_connection(input).await;
        self.gateway
            .data(
                r#"mutation($id: ID!) { setConnectionCredentials(id: $id, credentials: {token: "dop_v1_test"}) { id } }"#,
                json!({"id": connection}),
            )
            .await;
        connection
    }

    async fn create_connection(&self, input: Value) -> String {
        let created = self
            .gateway
            .data(
                "mutation($input: ConnectionInput!) { createConnection(input: $input) { id } }",
                json!({"input": input}),
            )
            .await;
        created["createConnection"]["id"].as_str().unwrap().to_string()
    }

    async fn start_crawl(&self, connection: &str) -> String {
        self.start_task(connection, None).await
    }

    async fn start_task(&self, connection: &str, task: Option<&str>) -> String {
        let started = self
            .gateway
            .data(
                "mutation($id: ID!, $task: String) { startCrawl(connectionId: $id, task: $task) { id connectionId } }",
                json!({"id": connection, "task": task}),
            )
            .await["startCrawl"]
            .clone();
        assert_eq!(started["connectionId"], connection);
        started["id"].as_str().unwrap().to_string()
    }

    /// Every update of the job, as a subscriber sees them, until the subscription completes.
    async fn updates(&self, job: &str) -> Vec<Value> {
        let query = format!(
            r#"subscription {{ crawlJob(id: "{job}") {{ jobId state task region done steps
                 step {{ discovered updated orphaned unchanged errors failed }}
                 total {{ discovered updated orphaned unchanged errors failed }} errors error }} }}"#
        );
        let url = format!("{}/graphql", self.gateway.url.replacen("http://", "ws://", 1));
        let subscriber = Subscriber::start(&url, TRANSPORT_WS, &query, 0, &self.gateway.token).await;
        subscriber
            .until_complete(UPDATE_WITHIN)
            .await
            .into_iter()
            .map(|result| result["data"]["crawlJob"].clone())
            .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db.pool).await.unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.workers.iter().for_each(|worker| worker.abort());
        self.files.iter().for_each(|file| {
            let _ = std::fs::remove_file(file);
        });
    }
}

/// A stand-in for DigitalOcean's droplet list that holds every answer until the test
/// releases it: a crawl of it lasts as long as the test wants, as one of a slow provider.
struct HeldApi {
    url: String,
    release: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Three droplets: three servers.
const DROPLETS: &str = r#"{"droplets": [{"id": 1, "name": "web-1", "vcpus": 2}, {"id": 2, "name": "web-2", "vcpus": 4},
                                        {"id": 3, "name": "db-1", "vcpus": 8}], "links": {}}"#;

impl HeldApi {
    async fn start() -> HeldApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (release, released) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut released = released.clone();
                tokio::spawn(async move {
                    // The request's head, then the wait, then the list.
                    let mut head = vec![0; 8192];
                    let mut read = 0;
                    while !head[..read].windows(4).any(|end| end == b"\r\n\r\n") {
                        match stream.read(&mut head[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    if released.wait_for(|released| *released).await.is_err() {
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{DROPLETS}",
                        DROPLETS.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        HeldApi { url, release, server }
    }

    /// Answers every request held, and those to come at once.
    fn release(&self) {
        self.release.send_replace(true);
    }
}

impl Drop for HeldApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn counts(discovered: i64, errors: i64, failed: i64) -> Value {
    json!({"discovered": discovered, "updated": 0, "orphaned": 0, "unchanged": 0, "errors": errors, "failed": failed})
}

const EXPORT: &str = r#"{"servers": [{"hostname": "web-1", "cpu": 2}, {"hostname": "web-2", "cpu": 4}],
                         "volumes": [{"name": "data", "size": "100"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_once_and_tells_each_step_then_its_summary() {
    let mut setup = Setup::start().await;
    // More jobs than workers, queued at once: the two share them, each job runs once.
    let mut jobs = vec![];
    for _ in 0..4 {
        let connection = setup.connection(EXPORT).await;
        jobs.push(setup.start_crawl(&connection).await);
    }
    for job in &jobs {
        // Subscribing late (the job may be over by now) still tells the whole story.
        let updates = setup.updates(job).await;
        let quiet = |state: &str, done: i64, steps: i64, step: Value, total: Value| {
            let (task, region) = match state {
                "RUNNING" => (json!("import"), json!("default")),
                _ => (Value::Null, Value::Null),
            };
            json!({"jobId": job, "state": state, "task": task, "region": region, "done": done, "steps": steps,
                   "step": step, "total": total, "errors": [], "error": null})
        };
        assert_eq!(
            updates,
            [
                quiet("QUEUED", 0, 0, Value::Null, counts(0, 0, 0)),
                quiet("RUNNING", 0, 1, Value::Null, counts(0, 0, 0)),
                quiet("RUNNING", 1, 1, counts(3, 0, 0), counts(3, 0, 0)),
                quiet("SUCCEEDED", 1, 1, Value::Null, counts(3, 0, 0)),
            ],
            "job {job}"
        );
        let last = setup
            .gateway
            .data(
                "query($id: ID!) { crawlJob(id: $id) { state total { discovered } } }",
                json!({"id": job}),
            )
            .await;
        assert_eq!(
            last,
            json!({"crawlJob": {"state": "SUCCEEDED", "total": {"discovered": 3}}})
        );
        let statuses = setup
            .count(&format!(
                "SELECT count(*) FROM events WHERE stream_type = 'connection' AND event_type = 'updated'
                  AND metadata ->> 'correlation_id' = '{job}'"
            ))
            .await;
        assert_eq!(statuses, 1, "job {job} ran once: one status of its task");
    }
    let discovered = setup
        .count("SELECT count(*) FROM events WHERE event_type = 'discovered'")
        .await;
    assert_eq!(discovered, 4 * 3, "each job discovered its three items once");

    let unknown = Uuid::now_v7();
    let none = setup
        .gateway
        .data(
            "query($id: ID!) { crawlJob(id: $id) { state } }",
            json!({"id": unknown}),
        )
        .await;
    assert_eq!(none, json!({"crawlJob": null}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_ends_with_its_error() {
    let mut setup = Setup::start().await;
    let connection = setup.connection("{ not json").await;
    let job = setup.start_crawl(&connection).await;
    let updates = setup.updates(&job).await;
    let states: Vec<&Value> = updates.iter().map(|update| &update["state"]).collect();
    assert_eq!(states, ["QUEUED", "RUNNING", "RUNNING", "FAILED"], "{updates:?}");
    let end = &updates[3];
    assert_eq!(end["total"], counts(0, 1, 1));
    let error = end["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {end}"));
    assert!(
        error.starts_with("1 task region(s) failed: /tmp/")
            && error.contains("is not JSON")
            && error.ends_with("fix the file and crawl again"),
        "{error}"
    );
    assert_eq!(end["errors"].as_array().unwrap().len(), 1, "{end}");
    assert_eq!(
        setup
            .count("SELECT count(*) FROM events WHERE stream_type <> 'connection'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_crawler_dies_runs_again_on_another() {
    const ACK_WAIT: Duration = Duration::from_secs(3);
    let mut setup = Setup::without_workers().await;
    // The job is still running (waiting for the held answer) when its crawler dies.
    let api = HeldApi::start().await;
    let connection = setup.held_connection(&api).await;
    let dying = setup.add_worker(Some(ACK_WAIT)).await;
    let job = setup.start_task(&connection, Some("server-list")).await;
    let deadline = std::time::Instant::now() + UPDATE_WITHIN;
    loop {
        let last = setup
            .gateway
            .data(
                "query($id: ID!) { crawlJob(id: $id) { state } }",
                json!({"id": job}),
            )
            .await;
        if last["crawlJob"]["state"] == "RUNNING" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the job never ran: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The crawler dies mid-job: no acknowledgement, no more "still working". The API
    // answers from now on, to the next crawler.
    setup.workers[dying].abort();
    api.release();
    setup.add_worker(Some(ACK_WAIT)).await;

    let updates = setup.updates(&job).await;
    let states: Vec<&Value> = updates.iter().map(|update| &update["state"]).collect();
    assert_eq!(
        states,
        ["QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"],
        "the first run started, the second ran through: {updates:?}"
    );
    assert_eq!(updates[4]["total"], counts(3, 0, 0));
    let discovered = setup
        .count("SELECT count(*) FROM events WHERE event_type = 'discovered'")
        .await;
    assert_eq!(
        discovered, 3,
        "the dead run wrote nothing, the second wrote each item once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_stays_with_its_crawler() {
    const ACK_WAIT: Duration = Duration::from_secs(2);
    let mut setup = Setup::without_workers().await;
    let api = HeldApi::start().await;
    let connection = setup.held_connection(&api).await;
    setup.add_worker(Some(ACK_WAIT)).await;
    setup.add_worker(Some(ACK_WAIT)).await;
    let job = setup.start_task(&connection, Some("server-list")).await;
    // The crawl takes three times the wait: its crawler keeps saying it is at it, so the
    // other worker never gets the job.
    tokio::time::sleep(ACK_WAIT * 3).await;
    api.release();
    let updates = setup.updates(&job).await;
    let states: Vec<&Value> = updates.iter().map(|update| &update["state"]).collect();
    assert_eq!(
        states,
        ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"],
        "{updates:?}"
    );
    let statuses = setup
        .count(&format!(
            "SELECT count(*) FROM events WHERE stream_type = 'connection' AND event_type = 'updated'
              AND metadata ->> 'correlation_id' = '{job}'"
        ))
        .await;
    assert_eq!(statuses, 1, "the job ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_take_over_a_queue_an_older_maestro_made() {
    use async_nats::jetstream::{consumer, stream};
    const ACK_WAIT: Duration = Duration::from_secs(5);
    let mut setup = Setup::without_workers().await;
    // The queue and its consumer as an older Maestro made them: an hour's wait.
    let jetstream = async_nats::jetstream::new(async_nats::connect(setup.nats.url()).await.unwrap());
    let queue = jetstream
        .get_or_create_stream(stream::Config {
            name: crawlers::CRAWLS_STREAM.to_string(),
            subjects: vec!["maestro.crawls".to_string()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .unwrap();
    queue
        .create_consumer(consumer::pull::Config {
            durable_name: Some("crawlers".to_string()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(3600),
            max_deliver: 3,
            ..Default::default()
        })
        .await
        .unwrap();

    setup.add_worker(Some(ACK_WAIT)).await;
    let connection = setup.connection(EXPORT).await;
    let job = setup.start_crawl(&connection).await;
    let updates = setup.updates(&job).await;
    assert_eq!(updates.last().unwrap()["state"], "SUCCEEDED", "{updates:?}");
    let consumer = queue.consumer_info("crawlers").await.unwrap();
    assert_eq!(
        consumer.config.ack_wait, ACK_WAIT,
        "the worker updated the consumer"
    );
}
