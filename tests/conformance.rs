//! The gateway against the GraphQL-over-HTTP audit suite of the `graphql-http` npm
//! package (a third party's reading of the spec): every MUST holds; the SHOULDs and MAYs
//! that fail are printed. Needs `ops/clients` (Node and the npm packages).

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Gateway, TestDb};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs `node tests/clients/audit.mjs URL TOKEN` (signed in with the session TOKEN) and
/// parses the results it prints.
async fn audit(url: &str, token: &str) -> Vec<Value> {
    assert!(
        clients_dir().join("node_modules/graphql-http").is_dir(),
        "the test clients are not installed: run ops/clients"
    );
    let child = tokio::process::Command::new("node")
        .arg(clients_dir().join("audit.mjs"))
        .arg(url)
        .arg(token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install it with ops/clients)");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the audit suite finished within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "audit.mjs failed ({}):\n{}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str::<Vec<Value>>(&stdout)
        .unwrap_or_else(|e| panic!("audit.mjs printed no JSON array ({e}):\n{stdout}"))
}

fn describe(result: &Value) -> String {
    format!(
        "[{}] {} — {}: {}; response: {}",
        result["id"].as_str().unwrap_or("?"),
        result["name"].as_str().unwrap_or("?"),
        result["status"].as_str().unwrap_or("?"),
        result["reason"].as_str().unwrap_or(""),
        result["response"]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_passes_every_must_of_the_graphql_over_http_audits() {
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    let results = audit(&format!("{}/graphql", gateway.url), &gateway.token).await;

    let level = |result: &Value| {
        result["name"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string()
    };
    let musts: Vec<&Value> = results.iter().filter(|r| level(r) == "MUST").collect();
    assert!(
        musts.len() >= 10,
        "the suite holds more than ten MUST audits; got {}: {results:?}",
        musts.len()
    );
    assert!(
        results
            .iter()
            .all(|r| ["MUST", "SHOULD", "MAY"].contains(&level(r).as_str())),
        "every audit name begins with its requirement level: {results:?}"
    );

    for wanted in ["MUST", "SHOULD", "MAY"] {
        let of_level: Vec<&Value> = results.iter().filter(|r| level(r) == wanted).collect();
        let ok = of_level.iter().filter(|r| r["status"] == "ok").count();
        eprintln!("graphql-http audits: {ok} of {} {wanted} met", of_level.len());
    }
    for result in results
        .iter()
        .filter(|r| level(r) != "MUST" && r["status"] != "ok")
    {
        eprintln!("graphql-http audit not met (optional): {}", describe(result));
    }
    let failed: Vec<String> = musts
        .iter()
        .filter(|r| r["status"] != "ok")
        .map(|r| describe(r))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} MUST audits fail:\n{}",
        failed.len(),
        musts.len(),
        failed.join("\n")
    );
}
