//! The GraphiQL playground as a person uses it, in a real (headless) Chromium: the page
//! loads its scripts from the gateway, a `logIn` typed into the editor signs the page in,
//! a query typed next runs with that session, and the answer shows in the result panel.
//! Needs `ops/assets` and `ops/clients`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use serde_json::Value;
use support::{project_all, Gateway, TestDb};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_typed_into_the_playground_shows_its_answer() {
    assert!(
        clients_dir().join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser test client is not installed: run ops/clients"
    );
    let db = TestDb::new().await;
    let gateway = Gateway::start(&db, None).await;
    // Created by the default tester, who may therefore read them.
    let hostnames = ["alpha-01.example.com", "beta-02.example.com"];
    for hostname in hostnames {
        gateway
            .data(
                "mutation($input: ServerInput!) { createServer(input: $input) { id } }",
                json!({"input": {"hostname": hostname}}),
            )
            .await;
    }
    project_all(&db.store()).await;

    let page = gateway.get("/graphql").await.text().await.unwrap();
    assert!(
        page.contains("/playground/graphiql/graphiql.min.js"),
        "the playground does not serve GraphiQL itself (run ops/assets); the page:\n{page}"
    );

    let screenshot = std::env::temp_dir().join(format!(
        "maestro-playground-{}.png",
        uuid::Uuid::new_v4().simple()
    ));
    let child = tokio::process::Command::new("node")
        .arg(clients_dir().join("playground.mjs"))
        .arg(format!("{}/graphql", gateway.url))
        .arg("{ servers { nodes { hostname } } }")
        .arg(&screenshot)
        .args([support::TESTER_EMAIL, support::TESTER_PASSWORD])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (install it with ops/clients)");
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the browser did not finish within 120 s; see {}",
                screenshot.display()
            )
        })
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).to_string();
    let failure = |why: String| -> ! {
        panic!(
            "{why}\nresult panel: {shown}\nbrowser log:\n{}\nscreenshot: {}",
            String::from_utf8_lossy(&output.stderr),
            screenshot.display()
        )
    };
    if !output.status.success() {
        failure(format!("playground.mjs failed ({})", output.status));
    }
    let answer: Value = serde_json::from_str(&shown)
        .unwrap_or_else(|e| failure(format!("the result panel holds no JSON answer ({e})")));
    let mut seen: Vec<&str> = answer["data"]["servers"]["nodes"]
        .as_array()
        .unwrap_or_else(|| failure("the answer has no servers".to_string()))
        .iter()
        .filter_map(|node| node["hostname"].as_str())
        .collect();
    seen.sort();
    if seen != hostnames {
        failure(format!(
            "the result panel shows hostnames {seen:?}, not {hostnames:?}"
        ));
    }
    let _ = std::fs::remove_file(&screenshot);
}
