//! Crawls end to end against real Postgres: discovery, silence when nothing changed,
//! updates of only what changed, orphans, failed crawls that orphan nothing, and
//! credentials that never leave their encrypted table.

mod support;

use std::collections::BTreeMap;

use commands::{Vault, VaultError};
use crawlers::{Crawler, Job, Summary};
use domain::{Command, Item, Kind};
use serde_json::{json, Value};
use support::{catch_up, fields, request, TestDb};
use uuid::Uuid;

use support::TEST_CREDENTIALS_KEY as KEY;

async fn json_connection(db: &TestDb, path: &std::path::Path) -> Uuid {
    let id = Uuid::now_v7();
    let input =
        json!({"name": "cmdb export", "provider": "json", "options": {"path": path.to_str().unwrap()}});
    db.handler()
        .execute(&request(
            Kind::Connection,
            id,
            Command::Create(fields(Kind::Connection, input)),
        ))
        .await
        .unwrap();
    id
}

async fn crawl(db: &TestDb, connection: Uuid) -> Summary {
    catch_up(&db.store(), &projections::Inventory).await;
    let crawler = Crawler::new(
        db.handler(),
        Vault::with_key(db.pool.clone(), KEY).unwrap(),
        support::test_reach(),
    );
    let job = Job {
        id: Uuid::now_v7(),
        connection,
        task: None,
        region: None,
    };
    crawler.run(&job, |_| {}).await.unwrap()
}

fn export(servers: &[(&str, u64)], volumes: &[&str]) -> String {
    let servers: Vec<Value> = servers
        .iter()
        .map(|(host, cpu)| json!({"hostname": host, "cpu": cpu, "environment": "Production"}))
        .collect();
    let volumes: Vec<Value> = volumes
        .iter()
        .map(|name| json!({"name": name, "size": "100"}))
        .collect();
    json!({"servers": servers, "volumes": volumes}).to_string()
}

async fn item_events(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_type <> 'connection'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn crawls_discover_stay_silent_update_and_orphan() {
    let db = TestDb::new().await;
    let file = std::env::temp_dir().join(format!("maestro-import-{}.json", Uuid::now_v7()));
    std::fs::write(&file, export(&[("web-1", 2), ("web-2", 2)], &["data"])).unwrap();
    let connection = json_connection(&db, &file).await;

    let first = crawl(&db, connection).await;
    assert_eq!(
        (first.discovered, first.updated, first.orphaned, first.unchanged),
        (3, 0, 0, 0),
        "{first}"
    );

    let events = item_events(&db).await;
    let second = crawl(&db, connection).await;
    assert_eq!(
        (
            second.discovered,
            second.updated,
            second.orphaned,
            second.unchanged
        ),
        (0, 0, 0, 3),
        "{second}"
    );
    assert_eq!(
        item_events(&db).await,
        events,
        "an unchanged crawl appends no event at all"
    );

    std::fs::write(&file, export(&[("web-1", 8), ("web-2", 2)], &[])).unwrap();
    let third = crawl(&db, connection).await;
    assert_eq!(
        (third.discovered, third.updated, third.orphaned, third.unchanged),
        (0, 1, 1, 1),
        "{third}"
    );
    catch_up(&db.store(), &projections::Inventory).await;
    catch_up(&db.store(), &projections::AuditTrail).await;
    let (cpu, provenance): (i64, Value) =
        sqlx::query_as("SELECT cpu, doc -> 'provenance' FROM servers WHERE hostname = 'web-1'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(cpu, 8);
    assert_eq!(provenance["provider_id"], "web-1");
    assert_eq!(provenance["connection"], connection.to_string());
    let orphan: bool = sqlx::query_scalar("SELECT active FROM volumes")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!orphan, "the volume no longer exported is orphaned");
    let (actor, source, patch): (String, String, Value) = sqlx::query_as(
        "SELECT actor, source, patch FROM audit_trail WHERE event_type = 'updated' AND kind = 'server'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(actor, "crawler:json");
    assert_eq!(source, format!("crawler:{connection}/import"));
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/cpu", "value": 8}]),
        "only the changed field"
    );

    // The exporter breaks: a failed crawl orphans nothing and says so on the connection.
    std::fs::write(&file, "{ not json").unwrap();
    let failed = crawl(&db, connection).await;
    assert_eq!((failed.failed, failed.orphaned), (1, 0));
    assert!(failed.errors[0].contains("is not JSON"), "{:?}", failed.errors);
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM servers WHERE active")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(active, 2);
    let status = db
        .handler()
        .load(Kind::Connection, connection, None)
        .await
        .unwrap()
        .item
        .fields["tasks"]["import"]
        .clone();
    assert_eq!(status["state"], "danger");
    assert!(status["message"].as_str().unwrap().contains("is not JSON"));
    std::fs::remove_file(file).unwrap();
}

#[tokio::test]
async fn credentials_are_encrypted_bound_to_their_connection_and_never_in_events() {
    let db = TestDb::new().await;
    let vault = Vault::with_key(db.pool.clone(), KEY).unwrap();
    let at = |id: Uuid, endpoint: &str| {
        let mut connection = Item::new(Kind::Connection, id);
        connection.fields.insert("provider".into(), json!("aws"));
        connection
            .fields
            .insert("options".into(), json!({"endpoint": endpoint, "page_size": 5}));
        connection
    };
    let connection = at(Uuid::now_v7(), "https://aws.example.com");
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let credentials = BTreeMap::from([
        ("access_key_id".to_string(), "AKIDEXAMPLE".to_string()),
        ("secret_access_key".to_string(), secret.to_string()),
    ]);
    vault.store(&connection, &credentials).await.unwrap();
    assert_eq!(vault.load(&connection).await.unwrap(), credentials);
    let mut reordered = connection.clone();
    reordered.fields.insert(
        "options".into(),
        json!({"page_size": 5, "endpoint": "https://aws.example.com"}),
    );
    assert_eq!(
        vault.load(&reordered).await.unwrap(),
        credentials,
        "the same options in another order"
    );
    assert!(
        matches!(
            vault
                .load(&at(connection.id, "https://attacker.example.net"))
                .await,
            Err(VaultError::Redirected(_))
        ),
        "credentials are not handed out for another endpoint"
    );

    let stored: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM connection_credentials")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored).contains(secret),
        "stored encrypted"
    );
    sqlx::query("UPDATE connection_credentials SET connection_id = $1")
        .bind(Uuid::now_v7())
        .execute(&db.pool)
        .await
        .unwrap();
    let moved = sqlx::query_scalar::<_, Uuid>("SELECT connection_id FROM connection_credentials")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(
        matches!(
            vault.load(&at(moved, "https://aws.example.com")).await,
            Err(VaultError::Undecryptable(_))
        ),
        "a ciphertext moved to another connection does not open"
    );

    let other_key = Vault::with_key(db.pool.clone(), "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap();
    vault.store(&connection, &credentials).await.unwrap();
    assert!(matches!(
        other_key.load(&connection).await,
        Err(VaultError::Undecryptable(_))
    ));
    assert!(
        Vault::with_key(db.pool.clone(), "c2hvcnQ=").is_err(),
        "a short key is refused"
    );
    let anywhere: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE data::text LIKE $1 OR metadata::text LIKE $1")
            .bind(format!("%{secret}%"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(anywhere, 0);
}

#[tokio::test]
async fn maestro_crawl_prints_a_line_per_step_and_the_summary_off_a_terminal() {
    let db = TestDb::new().await;
    let file = std::env::temp_dir().join(format!("maestro-import-{}.json", Uuid::now_v7()));
    std::fs::write(&file, export(&[("web-1", 2)], &["data"])).unwrap();
    let connection = json_connection(&db, &file).await;
    catch_up(&db.store(), &projections::Inventory).await;

    // Piped, stderr is no terminal: plain lines, no progress bar.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["crawl", "--connection", &connection.to_string()])
        .env("DATABASE_URL", &db.url)
        .env("MAESTRO_LOG", "warn")
        // Local paths are read only where the operator allows.
        .env("MAESTRO_SOURCE_DIRS", std::env::temp_dir())
        .output()
        .await
        .unwrap();
    std::fs::remove_file(file).unwrap();
    let (stdout, stderr) = (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    );
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr,
        "crawled import in default (1/1): discovered 2 / updated 0 / orphaned 0 / unchanged 0 / errors 0\n"
    );
    assert_eq!(
        stdout,
        "discovered 2 / updated 0 / orphaned 0 / unchanged 0 / errors 0\n"
    );
}
