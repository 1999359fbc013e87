//! Issue 10, item 1, end to end: with only a fresh account, `createConnection` then
//! `testConnection` was an oracle over the server's files ("…is not JSON" for a file
//! that exists, "No such file or directory" for one that does not), and `/dev/zero` read
//! forever inside the gateway. Through the real gateway and Postgres, the answers are now
//! the same whatever the file, and nothing outside the allowed folders is read.
//! The attack catalogue at the level of each provider is `crawlers/tests/security_sources.rs`.

mod support;

use std::path::Path;

use crawlers::Reach;
use serde_json::{json, Value};
use support::{Gateway, TestDb};

/// Creates a JSON import of `path` as the tester, and answers what `testConnection` says.
async fn test_import(gateway: &Gateway, path: &Path) -> Value {
    let input =
        json!({"name": "cmdb export", "provider": "json", "regions": ["x"], "options": {"path": path}});
    let created = gateway
        .data(
            "mutation($input: ConnectionInput!) { createConnection(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    let id = created["createConnection"]["id"].clone();
    gateway
        .data(
            r#"mutation($id: ID!) { testConnection(id: $id, task: "import") { ok observed message } }"#,
            json!({"id": id}),
        )
        .await["testConnection"]
        .clone()
}

/// The message with the path it names taken out.
fn message_without(answer: &Value, path: &Path) -> String {
    answer["message"]
        .as_str()
        .unwrap()
        .replace(path.to_str().unwrap(), "<path>")
}

#[tokio::test]
async fn test_connection_tells_nothing_about_the_servers_files() {
    let db = TestDb::new().await;
    let gateway = Gateway::start_reaching(&db, Reach::default()).await;
    let existing = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("no-such-file.json");
    let endless = Path::new("/dev/zero");
    let answers = [
        (test_import(&gateway, &existing).await, existing.as_path()),
        (test_import(&gateway, &missing).await, missing.as_path()),
        (test_import(&gateway, endless).await, endless),
    ];
    let first = message_without(&answers[0].0, answers[0].1);
    assert!(
        first.contains("is not a file Maestro may read") && first.contains("MAESTRO_SOURCE_DIRS"),
        "{first}"
    );
    for (answer, path) in &answers {
        assert_eq!(answer["ok"], false, "{answer}");
        assert_eq!(message_without(answer, path), first, "{answer}");
    }
}

#[tokio::test]
async fn test_connection_reads_files_in_the_folders_the_operator_allows() {
    let db = TestDb::new().await;
    let allowed = std::env::temp_dir().join(format!("maestro-sources-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir(&allowed).unwrap();
    let gateway = Gateway::start_reaching(
        &db,
        Reach::new(vec![allowed.clone()], vec![], crawlers::DEFAULT_MAX_BYTES),
    )
    .await;
    let export = allowed.join("export.json");
    std::fs::write(&export, r#"{"servers": [{"hostname": "web-1"}]}"#).unwrap();
    let answer = test_import(&gateway, &export).await;
    std::fs::remove_dir_all(&allowed).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["observed"], 1, "{answer}");
}
