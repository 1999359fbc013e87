//! Read models, relations, audit trail and time travel against a real Postgres, and
//! rebuilds that give byte-identical tables.

mod support;

use std::time::Duration;

use commands::StreamPoint;
use domain::{Command, ItemRef, Kind, Link, Protocol, Relation, TagKey};
use projections::{AuditTrail, Inventory, Projection};
use serde_json::{json, Value};
use sqlx::Row;
use support::{catch_up, create_server, fields, project_all, request, table_digest, TestDb};
use uuid::Uuid;

async fn create(db: &TestDb, kind: Kind, input: Value) -> Uuid {
    let id = Uuid::now_v7();
    db.handler()
        .execute(&request(kind, id, Command::Create(fields(kind, input))))
        .await
        .unwrap();
    id
}

async fn run(db: &TestDb, kind: Kind, id: Uuid, command: Command) {
    db.handler().execute(&request(kind, id, command)).await.unwrap();
}

/// A little inventory with every kind of change: creates, updates, links, tags,
/// deletes and restores.
async fn populate(db: &TestDb) -> (Uuid, Uuid, Uuid) {
    let datacenter = create(
        db,
        Kind::Datacenter,
        json!({"name": "dc-1", "provider": "aws", "regions": ["us-east-1"]}),
    )
    .await;
    let (server, _) = create_server(&db.handler(), "web-1.example.com").await;
    let api = create(db, Kind::Application, json!({"name": "api", "language": "rust"})).await;
    let db_app = create(
        db,
        Kind::Application,
        json!({"name": "orders-db", "family": "Database"}),
    )
    .await;
    let link = |relation, target: ItemRef, protocol| {
        Command::Link(Link {
            relation,
            target,
            protocol,
        })
    };
    run(
        db,
        Kind::Server,
        server,
        link(
            Relation::LocatedIn,
            ItemRef {
                kind: Kind::Datacenter,
                id: datacenter,
            },
            None,
        ),
    )
    .await;
    run(
        db,
        Kind::Server,
        server,
        link(
            Relation::Hosts,
            ItemRef {
                kind: Kind::Application,
                id: api,
            },
            None,
        ),
    )
    .await;
    run(
        db,
        Kind::Application,
        api,
        link(
            Relation::DependsOn,
            ItemRef {
                kind: Kind::Application,
                id: db_app,
            },
            Some(Protocol::Sql),
        ),
    )
    .await;
    run(
        db,
        Kind::Server,
        server,
        Command::Update(fields(
            Kind::Server,
            json!({"cpu": 8, "ipv4_private": "10.1.2.3"}),
        )),
    )
    .await;
    run(
        db,
        Kind::Server,
        server,
        Command::Tag {
            key: TagKey::parse("team").unwrap(),
            value: "core".into(),
        },
    )
    .await;
    run(db, Kind::Application, db_app, Command::Delete).await;
    let volume = create(
        db,
        Kind::Volume,
        json!({"name": "data", "size": "500", "encrypted": true}),
    )
    .await;
    run(db, Kind::Volume, volume, Command::Delete).await;
    run(db, Kind::Volume, volume, Command::Restore).await;
    (server, api, db_app)
}

#[tokio::test]
async fn read_models_hold_typed_columns_documents_and_relations() {
    let db = TestDb::new().await;
    let (server, api, db_app) = populate(&db).await;
    project_all(&db.store()).await;

    let row = sqlx::query("SELECT version, active, hostname, cpu, host(ipv4_private) AS ip, environment, doc, created_by FROM servers WHERE id = $1")
        .bind(server)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("version"), 5);
    assert!(row.get::<bool, _>("active"));
    assert_eq!(row.get::<String, _>("hostname"), "web-1.example.com");
    assert_eq!(row.get::<i64, _>("cpu"), 8);
    assert_eq!(row.get::<String, _>("ip"), "10.1.2.3");
    assert_eq!(row.get::<String, _>("environment"), "Production");
    assert_eq!(row.get::<String, _>("created_by"), "tester");
    assert_eq!(
        row.get::<Value, _>("doc")["tags"],
        json!([{"key": "team", "value": "core"}])
    );

    let deleted: bool = sqlx::query_scalar("SELECT active FROM applications WHERE id = $1")
        .bind(db_app)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!deleted, "a deleted item stays as an inactive tombstone");
    let size: i64 = sqlx::query_scalar("SELECT size FROM volumes WHERE active")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(size, 500);

    let relations: Vec<(Uuid, String, Uuid, Option<String>)> =
        sqlx::query_as("SELECT source_id, relation, target_id, protocol FROM relations ORDER BY relation")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(relations.len(), 3);
    assert!(relations.contains(&(api, "depends_on".into(), db_app, Some("sql".into()))));
    assert!(relations.contains(&(server, "hosts".into(), api, None)));
}

#[tokio::test]
async fn the_audit_trail_records_who_changed_what_as_a_patch_and_a_diff() {
    let db = TestDb::new().await;
    let (server, _, _) = populate(&db).await;
    project_all(&db.store()).await;
    let rows = sqlx::query("SELECT version, event_type, actor, actor_kind, source, patch, diff FROM audit_trail WHERE stream_id = $1 ORDER BY version")
        .bind(server)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let update = &rows[3];
    assert_eq!(update.get::<String, _>("event_type"), "updated");
    assert_eq!(update.get::<String, _>("actor"), "tester");
    assert_eq!(update.get::<String, _>("actor_kind"), "user");
    assert_eq!(update.get::<String, _>("source"), "user");
    assert_eq!(
        update.get::<Value, _>("patch"),
        json!([{"op": "replace", "path": "/cpu", "value": 8}, {"op": "add", "path": "/ipv4_private", "value": "10.1.2.3"}])
    );
    let diff: String = update.get("diff");
    assert!(diff.contains("-  \"cpu\": 2,\n+  \"cpu\": 8,"), "{diff}");
    assert!(diff.contains("+  \"ipv4_private\": \"10.1.2.3\","), "{diff}");
    let created: Value = rows[0].get("patch");
    assert!(created
        .as_array()
        .unwrap()
        .iter()
        .any(|op| op["path"] == "/hostname" && op["op"] == "add"));
}

#[tokio::test]
async fn rebuilding_from_zero_gives_byte_identical_tables() {
    let db = TestDb::new().await;
    let store = db.store();
    // Projected live in several steps, interleaved with new commands.
    let (server, _, _) = populate(&db).await;
    project_all(&store).await;
    run(
        &db,
        Kind::Server,
        server,
        Command::Update(fields(Kind::Server, json!({"role": "web", "cpu": null}))),
    )
    .await;
    for n in 0..30 {
        create_server(&db.handler(), &format!("host-{n}")).await;
    }
    project_all(&store).await;

    for projection in [&Inventory as &dyn Named, &AuditTrail] {
        let tables = projection.table_names();
        let mut before = vec![];
        for table in &tables {
            before.push(table_digest(&db.pool, table).await);
        }
        projection.rebuild(&store).await;
        for (table, digest) in tables.iter().zip(before) {
            assert_eq!(
                table_digest(&db.pool, table).await,
                digest,
                "{table} differs after the rebuild"
            );
        }
    }
}

/// Object-safe access to the two projections, for looping over both.
trait Named {
    fn table_names(&self) -> Vec<String>;
    fn rebuild<'a>(&'a self, store: &'a commands::EventStore) -> futures::future::BoxFuture<'a, ()>;
}

impl<P: Projection> Named for P {
    fn table_names(&self) -> Vec<String> {
        self.tables().into_iter().map(|t| t.name).collect()
    }
    fn rebuild<'a>(&'a self, store: &'a commands::EventStore) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            projections::rebuild(store, self).await.unwrap();
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_keep_working_while_a_rebuild_swaps_tables_under_a_live_projector() {
    let db = TestDb::new().await;
    let store = db.store();
    for n in 0..200 {
        create_server(&db.handler(), &format!("host-{n}")).await;
    }
    catch_up(&store, &Inventory).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (pool, stop) = (db.pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
                    .fetch_one(&pool)
                    .await
                    .expect("queries never fail during a rebuild");
                assert!(count >= 200, "a query saw a half-built table ({count} rows)");
                reads += 1;
            }
            reads
        })
    };
    let live = {
        let (store, url) = (store.clone(), db.url.clone());
        let wakeup = commands::Wakeup::new(&db.pool, Duration::from_millis(50)).await;
        tokio::spawn(async move { projections::run(store, url, Inventory, wakeup).await })
    };
    let writer = {
        let handler = db.handler();
        tokio::spawn(async move {
            for n in 200..300 {
                create_server(&handler, &format!("host-{n}")).await;
            }
        })
    };
    projections::rebuild(&store, &Inventory).await.unwrap();
    writer.await.unwrap();
    let end = support::log_end(&db.pool).await;
    support::eventually(
        Duration::from_secs(60),
        "the live projector reached the end of the log",
        || async { store.checkpoint(Inventory::NAME).await.unwrap() >= end },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(reader.await.unwrap() > 0);
    live.abort();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 300, "no event lost across the swap");
    let digest = table_digest(&db.pool, "servers").await;
    projections::rebuild(&store, &Inventory).await.unwrap();
    assert_eq!(
        table_digest(&db.pool, "servers").await,
        digest,
        "no event applied twice across the swap"
    );
}

#[tokio::test]
async fn two_projectors_racing_on_one_batch_apply_it_once() {
    let db = TestDb::new().await;
    let store = db.store();
    for n in 0..50 {
        create_server(&db.handler(), &format!("host-{n}")).await;
    }
    support::all_readable(&store).await;
    projections::ensure(&store, &AuditTrail).await.unwrap();
    let start = store.checkpoint(AuditTrail::NAME).await.unwrap();
    let (first, second) = tokio::join!(
        projections::run_once(&store, &AuditTrail, start),
        projections::run_once(&store, &AuditTrail, start)
    );
    assert_eq!(first.unwrap(), second.unwrap(), "both end at the same cursor");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_trail")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 50);
}

#[tokio::test]
async fn time_travel_replays_an_item_to_a_version_or_an_instant() {
    let db = TestDb::new().await;
    let handler = db.handler();
    let (server, _) = create_server(&handler, "web-1").await;
    run(
        &db,
        Kind::Server,
        server,
        Command::Update(fields(Kind::Server, json!({"cpu": 4}))),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    run(
        &db,
        Kind::Server,
        server,
        Command::Update(fields(Kind::Server, json!({"cpu": 16}))),
    )
    .await;
    run(&db, Kind::Server, server, Command::Delete).await;

    let at_version = handler
        .load(Kind::Server, server, Some(StreamPoint::Version(1)))
        .await
        .unwrap();
    assert_eq!(at_version.item.fields["cpu"], json!(2));
    let at_instant = handler
        .load(Kind::Server, server, Some(StreamPoint::At(between)))
        .await
        .unwrap();
    assert_eq!(
        (at_instant.item.version, at_instant.item.fields["cpu"].clone()),
        (2, json!(4))
    );
    assert!(at_instant.item.is_active());
    let now = handler.load(Kind::Server, server, None).await.unwrap();
    assert!(!now.item.is_active());
    let before_it_existed = handler
        .load(
            Kind::Server,
            server,
            Some(StreamPoint::At(chrono::Utc::now() - chrono::Duration::days(1))),
        )
        .await
        .unwrap();
    assert_eq!(before_it_existed.item.version, 0);
}

#[tokio::test]
async fn a_changed_table_definition_triggers_a_rebuild() {
    let db = TestDb::new().await;
    create_server(&db.handler(), "web-1").await;
    catch_up(&db.store(), &Inventory).await;
    sqlx::query("UPDATE projection_definitions SET definition = 'old' WHERE name = 'inventory'")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM servers")
        .execute(&db.pool)
        .await
        .unwrap();
    projections::ensure(&db.store(), &Inventory).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM servers")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "the rebuild restored the rows from the log");
}
