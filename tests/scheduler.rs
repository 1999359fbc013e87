//! The scheduler role end to end, against Postgres and a NATS of the test's own: three
//! `maestro` schedulers side by side, one killed with SIGKILL, never run a firing twice
//! nor lose one; firings missed while no scheduler ran make one run (or none, when the
//! schedule says `skip`); every connection gets one discovery schedule per task, however
//! often it is saved and however many schedulers look; a schedule that keeps failing is
//! disabled by the scheduler, which tells its people in the product and over real SMTP;
//! and the GraphQL side: refusals naming the field, the clock, notifications.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use commands::{CommandRequest, Vault};
use crawlers::{Crawler, Job, JobQueue};
use domain::{Access, ActorKind, Command as DomainCommand, Kind, Metadata, Viewer};
use identity::Identity;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use scheduler::Scheduler;
use serde_json::{json, Value};
use sqlx::Row;
use support::smtp::SmtpServer;
use support::{
    eventually, fields, project_all, request, test_identity_settings, Gateway, NatsServer, TestDb,
};
use uuid::Uuid;

const TICK: Duration = Duration::from_millis(100);

async fn schedules_db() -> TestDb {
    let db = TestDb::new().await;
    projections::ensure(&db.store(), &projections::Inventory)
        .await
        .unwrap();
    db
}

async fn scheduler(db: &TestDb, nats: &NatsServer, identity: Identity) -> Scheduler {
    let client = async_nats::connect(nats.url()).await.unwrap();
    Scheduler::new(db.pool.clone(), db.handler(), JobQueue::new(client), identity).with_tick(TICK)
}

fn identity(db: &TestDb) -> Identity {
    Identity::new(db.pool.clone(), test_identity_settings()).unwrap()
}

async fn create_schedule(db: &TestDb, input: Value) -> Uuid {
    let id = Uuid::now_v7();
    db.handler()
        .execute(&request(
            Kind::Schedule,
            id,
            DomainCommand::Create(fields(Kind::Schedule, input)),
        ))
        .await
        .unwrap();
    id
}

/// A webhook endpoint of someone's, described as `description`, where nothing listens.
async fn webhook_endpoint(db: &TestDb, description: &str) -> (webhooks::Webhooks, webhooks::Endpoint) {
    let webhooks = support::test_webhooks(&db.pool);
    let (endpoint, _secret) = webhooks
        .create(webhooks::NewEndpoint {
            owner: Uuid::now_v7(),
            description: description.into(),
            url: "http://127.0.0.1:9/hooks".into(),
            headers: vec![],
        })
        .await
        .unwrap();
    (webhooks, endpoint)
}

/// Every job in the crawl queue, in the order queued.
async fn queued_jobs(nats: &NatsServer) -> Vec<Job> {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let context = jetstream::new(client);
    let Ok(mut stream) = context.get_stream(crawlers::CRAWLS_STREAM).await else {
        return vec![];
    };
    let info = stream.info().await.unwrap();
    let mut jobs = vec![];
    for sequence in info.state.first_sequence..=info.state.last_sequence {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            jobs.push(serde_json::from_slice(&message.payload).unwrap());
        }
    }
    jobs
}

/// The firings recorded per schedule, in order of their due time.
async fn firings(db: &TestDb) -> BTreeMap<Uuid, Vec<(DateTime<Utc>, Uuid)>> {
    let rows = sqlx::query("SELECT schedule_id, due_at, job_id FROM schedule_runs ORDER BY due_at")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let mut firings: BTreeMap<Uuid, Vec<(DateTime<Utc>, Uuid)>> = BTreeMap::new();
    for row in rows {
        firings
            .entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2)));
    }
    firings
}

fn maestro_scheduler(db: &TestDb, nats: &NatsServer) -> Child {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["serve", "--roles", "scheduler"])
        .env("DATABASE_URL", &db.url)
        .env("NATS_URL", nats.url())
        .env("MAESTRO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the maestro binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_one_killed_run_every_firing_once() {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let every = 2;
    let mut schedules = vec![];
    for n in 0..20 {
        let connection = Uuid::now_v7().to_string();
        let id = create_schedule(
            &db,
            json!({"name": format!("s{n}"), "connection": connection, "interval": every}),
        )
        .await;
        schedules.push(id);
    }
    project_all(&db.store()).await;
    let mut processes: Vec<Child> = (0..3).map(|_| maestro_scheduler(&db, &nats)).collect();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let killed_at = Utc::now();
    kill(Pid::from_raw(processes[0].id() as i32), Signal::SIGKILL).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    for process in &mut processes {
        let _ = kill(Pid::from_raw(process.id() as i32), Signal::SIGKILL);
        process.wait().unwrap();
    }
    // A firing a killed scheduler queued without recording it is due again: one last
    // round queues it under the same id, which JetStream drops.
    scheduler(&db, &nats, identity(&db)).await.step().await.unwrap();

    let firings = firings(&db).await;
    let jobs = queued_jobs(&nats).await;
    let queued: HashSet<Uuid> = jobs.iter().map(|job| job.id).collect();
    assert_eq!(queued.len(), jobs.len(), "a job was queued twice");
    let recorded: HashSet<Uuid> = firings.values().flatten().map(|(_, job)| *job).collect();
    assert_eq!(queued, recorded, "queued jobs and recorded firings differ");
    for schedule in &schedules {
        let dues: Vec<DateTime<Utc>> = firings[schedule].iter().map(|(due, _)| *due).collect();
        assert!(
            dues.len() >= 5,
            "schedule {schedule} fired only {} times",
            dues.len()
        );
        for pair in dues.windows(2) {
            assert_eq!(
                (pair[1] - pair[0]).num_seconds(),
                every,
                "{schedule}: a firing doubled or lost: {dues:?}"
            );
        }
        assert!(
            *dues.last().unwrap() > killed_at + chrono::Duration::seconds(every),
            "{schedule}: no firing after a scheduler was killed"
        );
        for (due, job) in &firings[schedule] {
            assert_eq!(*job, scheduler::job_id(*schedule, *due));
        }
    }
}

async fn run_after_downtime(missed: &str) -> (usize, Option<DateTime<Utc>>) {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let connection = Uuid::now_v7().to_string();
    let id = create_schedule(
        &db,
        json!({"name": "nightly", "connection": connection, "interval": 60, "missed": missed}),
    )
    .await;
    project_all(&db.store()).await;
    let scheduler = scheduler(&db, &nats, identity(&db)).await;
    assert_eq!(
        scheduler.step().await.unwrap(),
        1,
        "a new interval schedule runs at once"
    );
    // All schedulers were down for ten intervals: the clock is as they left it.
    sqlx::query("UPDATE schedule_clocks SET next_due = now() - interval '10 minutes' WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await
        .unwrap();
    let caught_up = scheduler.step().await.unwrap();
    let again = scheduler.step().await.unwrap();
    assert_eq!(again, 0, "missed firings ran more than once");
    let next = scheduler.clocks().get(id).await.unwrap().unwrap().next_due;
    (caught_up, next)
}

#[tokio::test]
async fn firings_missed_while_no_scheduler_ran_make_one_run_or_none() {
    let (runs, next) = run_after_downtime("run_once").await;
    assert_eq!(runs, 1);
    let next = next.expect("it keeps its interval");
    assert!(
        next > Utc::now() && next <= Utc::now() + chrono::Duration::seconds(60),
        "{next}"
    );
    let (runs, next) = run_after_downtime("skip").await;
    assert_eq!(runs, 0);
    assert!(next.unwrap() > Utc::now());
}

#[tokio::test]
async fn every_connection_gets_one_discovery_schedule_per_task() {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let owner = Uuid::now_v7();
    let connection = Uuid::now_v7();
    let as_owner = |command| CommandRequest {
        access: Access::Viewer(Viewer::user(owner)),
        metadata: Metadata::new(owner.to_string(), ActorKind::User),
        ..request(Kind::Connection, connection, command)
    };
    db.handler()
        .execute(&as_owner(DomainCommand::Create(fields(
            Kind::Connection,
            json!({"name": "prod account", "provider": "aws", "regions": ["eu-west-1"]}),
        ))))
        .await
        .unwrap();
    project_all(&db.store()).await;
    let (first, second) = (
        scheduler(&db, &nats, identity(&db)).await,
        scheduler(&db, &nats, identity(&db)).await,
    );
    let (a, b) = tokio::join!(first.step(), second.step());
    a.unwrap();
    b.unwrap();
    project_all(&db.store()).await;
    let tasks = crawlers::provider("aws").unwrap().tasks();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM schedules WHERE active")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    assert_eq!(count().await, tasks.len() as i64);
    for task in tasks {
        let id = scheduler::discovery_schedule_id(connection, task.name);
        let schedule = db.handler().load(Kind::Schedule, id, None).await.unwrap().item;
        assert_eq!(schedule.fields["task"], json!(task.name));
        assert_eq!(schedule.fields["interval"], json!(task.every.as_secs()));
        assert_eq!(
            schedule.acl.get(&owner),
            Some(&domain::Level::Admin),
            "the connection's people own it"
        );
    }
    // Saved again, and one schedule deleted by its owner: nothing doubles, nothing returns.
    db.handler()
        .execute(&as_owner(DomainCommand::Update(fields(
            Kind::Connection,
            json!({"name": "renamed"}),
        ))))
        .await
        .unwrap();
    let deleted = scheduler::discovery_schedule_id(connection, tasks[0].name);
    db.handler()
        .execute(&CommandRequest {
            kind: Kind::Schedule,
            id: deleted,
            ..as_owner(DomainCommand::Delete)
        })
        .await
        .unwrap();
    project_all(&db.store()).await;
    first.step().await.unwrap();
    scheduler(&db, &nats, identity(&db)).await.step().await.unwrap();
    project_all(&db.store()).await;
    assert_eq!(count().await, tasks.len() as i64 - 1);
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM schedules")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(total, tasks.len() as i64);

    // A person's own schedule of the connection stays (it fails and disables itself);
    // the discovery schedules go with the connection.
    let own = create_schedule(
        &db,
        json!({"name": "mine", "connection": connection.to_string(), "interval": 60}),
    )
    .await;
    db.handler()
        .execute(&as_owner(DomainCommand::Delete))
        .await
        .unwrap();
    project_all(&db.store()).await;
    first.step().await.unwrap();
    project_all(&db.store()).await;
    assert_eq!(count().await, 1, "only the person's own schedule is left");
    assert!(db
        .handler()
        .load(Kind::Schedule, own, None)
        .await
        .unwrap()
        .item
        .is_active());
    let retired = db
        .store()
        .load_stream(scheduler::discovery_schedule_id(connection, tasks[1].name), None)
        .await
        .unwrap();
    let last = retired.last().unwrap();
    assert_eq!(
        (last.event_type.as_str(), &last.metadata["actor"]),
        ("deleted", &json!("scheduler"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_keeps_failing_is_disabled_and_its_people_are_told() {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let smtp = SmtpServer::start().await;
    let identity = Identity::new(db.pool.clone(), smtp.settings("https://maestro.example.com")).unwrap();
    let person = identity
        .sign_up("ops@example.com", "correct horse battery", Some("Ops"), None)
        .await
        .unwrap()
        .user
        .id;
    let as_person = |kind, id, command| CommandRequest {
        access: Access::Viewer(Viewer::user(person)),
        metadata: Metadata::new(person.to_string(), ActorKind::User),
        ..request(kind, id, command)
    };
    // A connection whose file is not one Maestro may read: each crawl fails.
    let connection = Uuid::now_v7();
    db.handler()
        .execute(&as_person(
            Kind::Connection,
            connection,
            DomainCommand::Create(fields(
                Kind::Connection,
                json!({"name": "imports", "provider": "json", "regions": ["file"], "options": {"path": "/etc/maestro-missing.json"}}),
            )),
        ))
        .await
        .unwrap();
    let schedule = Uuid::now_v7();
    db.handler()
        .execute(&as_person(
            Kind::Schedule,
            schedule,
            DomainCommand::Create(fields(
                Kind::Schedule,
                json!({"name": "imports hourly", "connection": connection.to_string(), "task": "import",
                       "interval": 2, "max_failures": 2}),
            )),
        ))
        .await
        .unwrap();
    project_all(&db.store()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let crawler = Crawler::new(
        db.handler(),
        Vault::with_key(db.pool.clone(), support::TEST_CREDENTIALS_KEY).unwrap(),
        support::test_reach(),
    );
    let queue = JobQueue::new(client);
    let worker = tokio::spawn(async move {
        let _ = queue.work(&crawler).await;
    });
    let running = scheduler(&db, &nats, identity.clone()).await;
    let role = tokio::spawn(async move { running.run().await });
    let mails = identity.clone();
    let mailer = tokio::spawn(async move {
        mails
            .send_notification_mails_forever(Duration::from_millis(200))
            .await
    });
    let store = db.store();
    eventually(
        Duration::from_secs(60),
        "the scheduler disabled the schedule",
        || async {
            support::catch_up(&store, &projections::Inventory).await;
            let item = db
                .handler()
                .load(Kind::Schedule, schedule, None)
                .await
                .unwrap()
                .item;
            item.fields.get("enabled") == Some(&json!(false))
        },
    )
    .await;
    let events = db.store().load_stream(schedule, None).await.unwrap();
    let disabling = events.last().unwrap().metadata();
    assert_eq!(
        (disabling.actor.as_str(), disabling.actor_kind),
        ("scheduler", ActorKind::Scheduler)
    );
    let clocks = scheduler::Clocks::new(db.pool.clone());
    let clock = clocks.get(schedule).await.unwrap().unwrap();
    assert!(
        clock
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("2 failed runs in a row"),
        "{clock:?}"
    );
    assert!(clock.consecutive_failures >= 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = clocks.runs(schedule, 50).await.unwrap();
    assert!((2..=3).contains(&runs.len()), "it kept running: {runs:?}");
    assert!(
        runs.iter().all(|run| run.outcome.as_deref() == Some("FAILED")),
        "{runs:?}"
    );
    assert!(
        runs[0]
            .message
            .as_deref()
            .unwrap()
            .contains("MAESTRO_SOURCE_DIRS"),
        "{runs:?}"
    );

    let told = identity.notifications(person, false, 50, None).await.unwrap();
    let topics: Vec<identity::Topic> = told.iter().map(|notification| notification.topic).collect();
    assert_eq!(
        topics
            .iter()
            .filter(|topic| **topic == identity::Topic::ScheduleDisabled)
            .count(),
        1,
        "{told:?}"
    );
    assert!(
        topics
            .iter()
            .filter(|topic| **topic == identity::Topic::CrawlFailed)
            .count()
            >= 2,
        "{told:?}"
    );
    let mails = smtp.wait_for(1).await;
    eventually(Duration::from_secs(30), "the disabling was mailed", || async {
        smtp.mails().iter().any(|mail| mail.contains("was disabled"))
    })
    .await;
    assert!(mails.iter().all(|mail| mail.contains("ops@example.com")));
    worker.abort();
    mailer.abort();
    role.abort();
}

#[tokio::test]
async fn schedules_and_notifications_through_graphql() {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let gateway = Gateway::start(&db, None).await;
    let connection = gateway
        .data(
            "mutation { createConnection(input: {name: \"prod\", provider: \"aws\", regions: [\"eu-west-1\"]}) { id } }",
            json!({}),
        )
        .await["createConnection"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let create =
        "mutation($input: ScheduleInput!) { createSchedule(input: $input) { id interval cron enabled } }";
    let refused = |input: Value| {
        let gateway = &gateway;
        async move { gateway.error(create, json!({"input": input})).await }
    };
    let error = refused(json!({"name": "x", "connection": connection, "cron": "every tuesday"})).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert_eq!(error["extensions"]["field"], "cron", "{error}");
    let error = refused(json!({"name": "x", "connection": connection, "interval": "5 parsecs"})).await;
    assert_eq!(error["extensions"]["field"], "interval", "{error}");
    let error =
        refused(json!({"name": "x", "connection": connection, "interval": 60, "cron": "* * * * *"})).await;
    assert_eq!(error["extensions"]["field"], "cron", "{error}");
    // Someone else's connection: a schedule runs as Maestro, so it may not name it.
    let theirs = Uuid::now_v7();
    let stranger = Uuid::now_v7();
    db.handler()
        .execute(&CommandRequest {
            access: Access::Viewer(Viewer::user(stranger)),
            metadata: Metadata::new(stranger.to_string(), ActorKind::User),
            ..request(
                Kind::Connection,
                theirs,
                DomainCommand::Create(fields(
                    Kind::Connection,
                    json!({"name": "theirs", "provider": "aws", "regions": ["x"]}),
                )),
            )
        })
        .await
        .unwrap();
    let error = refused(json!({"name": "x", "connection": theirs.to_string(), "interval": 60})).await;
    assert_eq!(error["extensions"]["field"], "connection", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no connection you may use"),
        "{error}"
    );

    let created = gateway
        .data(
            create,
            json!({"input": {"name": "nightly", "connection": connection, "interval": "5m", "task": "server-list"}}),
        )
        .await;
    let schedule = created["createSchedule"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["createSchedule"]["interval"], 300);
    assert_eq!(created["createSchedule"]["enabled"], Value::Null);
    project_all(&db.store()).await;
    scheduler(&db, &nats, identity(&db)).await.step().await.unwrap();
    let read = gateway
        .data(
            "query($id: ID!) { node(id: $id) { ... on Schedule { clock { nextRun runCount consecutiveFailures lastRun { jobId } } runs { jobId dueAt outcome } } } }",
            json!({"id": schedule}),
        )
        .await;
    let clock = &read["node"]["clock"];
    let next: DateTime<Utc> = clock["nextRun"].as_str().unwrap().parse().unwrap();
    assert!(next > Utc::now() + chrono::Duration::seconds(200), "{clock}");
    assert_eq!(clock["runCount"], 0, "{clock}");
    let runs = read["node"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "a new schedule runs at once: {read}");
    assert_eq!(clock["lastRun"]["jobId"], runs[0]["jobId"]);
    assert_eq!(runs[0]["outcome"], Value::Null, "not ended yet");

    // Notifications: the person's own, read and marked read.
    let told = identity(&db)
        .notify(
            &[gateway.user],
            &identity::Notice {
                topic: identity::Topic::CrawlFailed,
                title: "Crawl of `prod` failed".into(),
                body: "the provider answered 500".into(),
                item: Some(("connection".into(), connection.parse().unwrap())),
                key: "test/1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(told, 1);
    let listed = gateway
        .data(
            "{ unreadNotifications notifications { id topic title itemId readAt } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["unreadNotifications"], 1);
    assert_eq!(listed["notifications"][0]["topic"], "CRAWL_FAILED");
    assert_eq!(listed["notifications"][0]["itemId"], json!(connection));
    let marked = gateway
        .data("mutation { markNotificationsRead }", json!({}))
        .await;
    assert_eq!(marked["markNotificationsRead"], 1);
    let after = gateway.data("{ unreadNotifications }", json!({})).await;
    assert_eq!(after["unreadNotifications"], 0);
    let channels = gateway
        .data(
            "mutation { setNotificationChannels(topic: CRAWL_FAILED, inApp: false, email: true) { topic inApp email } }",
            json!({}),
        )
        .await;
    let failed = channels["setNotificationChannels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|channel| channel["topic"] == "CRAWL_FAILED")
        .unwrap()
        .clone();
    assert_eq!(
        failed,
        json!({"topic": "CRAWL_FAILED", "inApp": false, "email": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_waits_out_nats_being_down_and_runs_once() {
    let db = schedules_db().await;
    let mut nats = NatsServer::started().await;
    let connection = Uuid::now_v7().to_string();
    let id = create_schedule(
        &db,
        json!({"name": "hourly", "connection": connection, "interval": 3600}),
    )
    .await;
    project_all(&db.store()).await;
    let scheduler = scheduler(&db, &nats, identity(&db)).await;
    nats.stop();
    let failed = tokio::time::timeout(Duration::from_secs(60), scheduler.step()).await;
    assert!(
        matches!(failed, Ok(Err(_))),
        "a firing with NATS down must fail, not pass: {failed:?}"
    );
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM schedule_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(recorded, 0, "the failed firing was rolled back");
    let clock = scheduler.clocks().get(id).await.unwrap().unwrap();
    assert!(clock.next_due.unwrap() <= Utc::now(), "it is still due");
    nats.start().await;
    eventually(
        Duration::from_secs(60),
        "the firing ran once NATS was back",
        || async { scheduler.step().await.is_ok_and(|queued| queued == 1) },
    )
    .await;
    assert_eq!(scheduler.step().await.unwrap(), 0);
    let jobs = queued_jobs(&nats).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(firings(&db).await[&id].len(), 1);
}

#[tokio::test]
async fn a_notification_mail_waits_out_smtp_being_down_and_arrives_once() {
    let db = schedules_db().await;
    let port = support::free_port();
    let settings = identity::Settings {
        smtp: Some(identity::SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            sender: "maestro@example.com".into(),
            username: None,
            password: None,
            tls: false,
        }),
        ..test_identity_settings()
    };
    let identity = Identity::new(db.pool.clone(), settings).unwrap();
    let person = identity
        .sign_up("oncall@example.com", "correct horse battery", None, None)
        .await
        .unwrap()
        .user
        .id;
    let notice = identity::Notice {
        topic: identity::Topic::CrawlFailed,
        title: "Crawl of `prod` failed".into(),
        body: "the provider answered 500".into(),
        item: None,
        key: "smtp-down/1".into(),
    };
    assert_eq!(identity.notify(&[person], &notice).await.unwrap(), 1);
    assert_eq!(
        identity.send_notification_mails().await.unwrap(),
        0,
        "nothing listens on the SMTP port"
    );
    let waiting: (i32, Option<String>) =
        sqlx::query_as("SELECT attempts, last_error FROM notification_mails")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(waiting.0, 1);
    assert!(waiting.1.unwrap().contains("SMTP"), "the error says what failed");
    let smtp = SmtpServer::start_on(port).await;
    // Its retry is due in 30 s; the test does not wait for the clock.
    sqlx::query("UPDATE notification_mails SET next_attempt_at = now()")
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(identity.send_notification_mails().await.unwrap(), 1);
    assert_eq!(
        identity.send_notification_mails().await.unwrap(),
        0,
        "a sent mail is not sent again"
    );
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Crawl of `prod` failed"), "{}", mails[0]);
    // Named by its notification: a mail sent again (its answer lost) is the same mail.
    let notification: Uuid = sqlx::query_scalar("SELECT notification_id FROM notification_mails")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        mails[0].contains(&format!("Message-ID: <notification-{notification}@maestro>")),
        "{}",
        mails[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_schedule_queues_one_call_per_firing_and_fails_without_its_endpoint() {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let (webhooks, endpoint) = webhook_endpoint(&db, "exports").await;
    let calls = create_schedule(
        &db,
        json!({"name": "nightly export", "action": "webhook", "webhook": endpoint.id.to_string(), "interval": 3600}),
    )
    .await;
    let dangling = create_schedule(
        &db,
        json!({"name": "dangling", "action": "webhook", "webhook": Uuid::now_v7().to_string(), "interval": 3600}),
    )
    .await;
    project_all(&db.store()).await;
    let first = scheduler(&db, &nats, identity(&db)).await;
    let second = scheduler(&db, &nats, identity(&db)).await;
    let (a, b) = tokio::join!(first.step(), second.step());
    assert_eq!(a.unwrap() + b.unwrap(), 2, "each firing once");
    assert_eq!(first.step().await.unwrap(), 0);
    assert!(
        queued_jobs(&nats).await.is_empty(),
        "a webhook schedule crawls nothing"
    );

    let run = firings(&db).await[&calls][0].1;
    let deliveries = webhooks.deliveries(endpoint.id, 10, None).await.unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].message_id, run.to_string());
    assert_eq!(deliveries[0].event_type, "schedule.fired");
    assert_eq!(deliveries[0].body["schedule"]["name"], "nightly export");
    let clock = first.clocks().get(calls).await.unwrap().unwrap();
    assert_eq!(clock.run_count, 1);
    assert_eq!(clock.last_run.unwrap().outcome.as_deref(), Some("SUCCEEDED"));

    let clock = first.clocks().get(dangling).await.unwrap().unwrap();
    assert_eq!(clock.consecutive_failures, 1);
    let last = clock.last_run.unwrap();
    assert_eq!(last.outcome.as_deref(), Some("FAILED"));
    assert!(
        last.message.unwrap().contains("does not exist"),
        "the run says why"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chained_schedule_runs_after_its_first_one_succeeds() {
    let db = schedules_db().await;
    let nats = NatsServer::started().await;
    let (webhooks, endpoint) = webhook_endpoint(&db, "chain").await;
    let call = |name: &str| json!({"name": name, "action": "webhook", "webhook": endpoint.id.to_string()});
    let mut first = call("export");
    first["interval"] = json!(3600);
    let first = create_schedule(&db, first).await;
    let mut then = call("report");
    then["after"] = json!(first.to_string());
    let then = create_schedule(&db, then).await;
    project_all(&db.store()).await;
    let scheduler = scheduler(&db, &nats, identity(&db)).await;
    assert_eq!(scheduler.step().await.unwrap(), 1, "only the first is due");
    assert!(
        scheduler
            .clocks()
            .get(then)
            .await
            .unwrap()
            .unwrap()
            .next_due
            .is_some(),
        "its success started the chain"
    );
    assert_eq!(scheduler.step().await.unwrap(), 1, "then the chained one");
    assert_eq!(scheduler.step().await.unwrap(), 0);
    let ran = firings(&db).await;
    assert_eq!((ran[&first].len(), ran[&then].len()), (1, 1));
    assert_eq!(webhooks.deliveries(endpoint.id, 10, None).await.unwrap().len(), 2);
}
