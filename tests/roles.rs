//! `maestro` processes as an operator runs them: two of the same role, one killed with
//! SIGKILL, the other carries on; a projector killed mid-batch restarts consistent; a
//! missing Postgres is one clear line.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use projections::{AuditTrail, Inventory};
use support::{create_server, eventually, table_digest, NatsServer, TestDb};

fn maestro(db_url: &str, nats_url: &str, roles: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["serve", "--roles", roles])
        .env("DATABASE_URL", db_url)
        .env("NATS_URL", nats_url)
        .env("MAESTRO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the maestro binary runs")
}

fn sigkill(child: &mut Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
}

async fn checkpoint_position(db: &TestDb, name: &str) -> i64 {
    sqlx::query_scalar("SELECT coalesce((SELECT position FROM checkpoints WHERE name = $1), 0)")
        .bind(name)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn last_position(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

/// Holds when the read models and the audit trail are exactly what a rebuild from the
/// log gives, i.e. nothing was lost and nothing applied twice.
async fn assert_consistent_with_a_rebuild(db: &TestDb) {
    let tables = ["servers", "relations", "audit_trail", "audit_documents"];
    let mut live = vec![];
    for table in tables {
        live.push(table_digest(&db.pool, table).await);
    }
    projections::rebuild(&db.store(), &Inventory).await.unwrap();
    projections::rebuild(&db.store(), &AuditTrail).await.unwrap();
    for (table, digest) in tables.iter().zip(live) {
        assert_eq!(
            table_digest(&db.pool, table).await,
            digest,
            "{table} differs from a rebuild"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_lease_holder_is_killed() {
    let db = TestDb::new().await;
    let nats = NatsServer::started().await;
    let handler = db.handler();
    let mut first = maestro(&db.url, &nats.url(), "projector,relay");
    create_server(&handler, "before-0").await;
    eventually(Duration::from_secs(30), "the first process projects", || async {
        checkpoint_position(&db, "inventory").await == last_position(&db).await
    })
    .await;
    let mut second = maestro(&db.url, &nats.url(), "projector,relay");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let writer = {
        let handler = handler.clone();
        tokio::spawn(async move {
            for n in 0..400 {
                create_server(&handler, &format!("host-{n}")).await;
            }
        })
    };
    eventually(Duration::from_secs(30), "some events are projected", || async {
        checkpoint_position(&db, "inventory").await > 100
    })
    .await;
    sigkill(&mut first);
    writer.await.unwrap();
    let end = last_position(&db).await;
    for role in ["inventory", "audit", "relay"] {
        eventually(
            Duration::from_secs(60),
            &format!("the standby's {role} reached the end"),
            || async { checkpoint_position(&db, role).await == end },
        )
        .await;
    }
    sigkill(&mut second);
    let servers: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(servers, 401);
    assert_consistent_with_a_rebuild(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_restarts_and_ends_consistent() {
    let db = TestDb::new().await;
    let nats = NatsServer::stopped();
    let handler = db.handler();
    // Enough events that the projector is mid-way through them when it is killed.
    let writers = (0..8).map(|w| {
        let handler = handler.clone();
        tokio::spawn(async move {
            for n in 0..400 {
                create_server(&handler, &format!("host-{w}-{n}")).await;
            }
        })
    });
    futures::future::join_all(writers)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    let end = last_position(&db).await;

    let mut projector = maestro(&db.url, &nats.url(), "projector");
    eventually(Duration::from_secs(30), "the projector started", || async {
        checkpoint_position(&db, "audit").await > 0
    })
    .await;
    sigkill(&mut projector);
    assert!(
        checkpoint_position(&db, "audit").await < end,
        "killed before the end"
    );

    let mut projector = maestro(&db.url, &nats.url(), "projector");
    for role in ["inventory", "audit"] {
        eventually(
            Duration::from_secs(60),
            &format!("{role} reached the end"),
            || async { checkpoint_position(&db, role).await == end },
        )
        .await;
    }
    sigkill(&mut projector);
    assert_consistent_with_a_rebuild(&db).await;
}

#[test]
fn a_missing_postgres_is_one_clear_line() {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{}/maestro", support::free_port()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {stderr}");
    assert!(
        lines[0].contains("cannot reach Postgres") && lines[0].contains("ops/up"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(15), "it must not hang");
}

#[test]
fn a_bad_port_setting_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("migrate")
        .env("MAESTRO_PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("MAESTRO_PORT=`eighty` is not a port number"));
}

/// Issue 10, item 12: a Postgres blip (here every connection of the database cut, as a
/// restart or a failover does) used to end every role and so the process. Now each role
/// starts again once Postgres answers, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_outlive_a_postgres_blip() {
    let db = TestDb::new().await;
    let nats = NatsServer::started().await;
    let handler = db.handler();
    let mut process = maestro(&db.url, &nats.url(), "projector,relay,crawler");
    create_server(&handler, "before-blip").await;
    eventually(Duration::from_secs(30), "the projector catches up", || async {
        checkpoint_position(&db, "inventory").await == last_position(&db).await
    })
    .await;

    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()) terminated",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(cut > 0, "the process had connections to cut");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        process.try_wait().unwrap().is_none(),
        "the process ended with the blip"
    );

    create_server(&handler, "after-blip").await;
    eventually(
        Duration::from_secs(60),
        "the projector carries on after the blip",
        || async { checkpoint_position(&db, "inventory").await == last_position(&db).await },
    )
    .await;
    sigkill(&mut process);
    assert_consistent_with_a_rebuild(&db).await;
}
