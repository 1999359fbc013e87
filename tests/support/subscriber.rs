//! A third-party GraphQL subscription client: `tests/clients/subscribe.py` (Python's
//! `gql` over WebSocket, either protocol), driven line by line. Needs `ops/clients`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio::time::timeout;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

/// `tests/clients/subscribe.py`, killed when dropped (so a failing test leaves none behind).
pub struct Subscriber {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Subscriber {
    /// Subscribes signed in with the session `token` (sent in `connection_init`).
    pub async fn start(url: &str, protocol: &str, query: &str, count: usize, token: &str) -> Subscriber {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/subscribe.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .args([url, protocol, query, &count.to_string(), token])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (install the test clients with ops/clients)");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let collected = stderr.clone();
        tokio::spawn(async move {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text).await;
            collected.lock().unwrap().push_str(&text);
        });
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut subscriber = Subscriber { child, lines, stderr };
        let ready = subscriber.line(Duration::from_secs(30)).await;
        if ready.as_deref() != Some("READY") {
            let stderr = subscriber.stderr().await;
            panic!("subscribe.py did not start (it printed {ready:?}); stderr:\n{stderr}");
        }
        subscriber
    }

    pub async fn stderr(&mut self) -> String {
        // The client's traceback is complete once it has exited.
        let _ = timeout(Duration::from_secs(5), self.child.wait()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.stderr.lock().unwrap().clone()
    }

    /// The next line printed within `within`, or None when none came.
    pub async fn line(&mut self, within: Duration) -> Option<String> {
        match timeout(within, self.lines.next_line()).await {
            Err(_) => None,
            Ok(Ok(Some(line))) => Some(line),
            Ok(_) => {
                let status = self.child.wait().await;
                panic!(
                    "subscribe.py ended early ({status:?}); stderr:\n{}",
                    self.stderr().await
                )
            }
        }
    }

    /// Skips what the client prints until it exits, and returns how it exited; `None`
    /// when it still runs after `within`.
    pub async fn exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let lines = &mut self.lines;
        timeout(within, async {
            while let Ok(Some(_)) = lines.next_line().await {}
        })
        .await
        .ok()?;
        Some(self.child.wait().await.unwrap())
    }

    /// The next result, which must come within `within`.
    pub async fn result(&mut self, within: Duration) -> Value {
        let line = self
            .line(within)
            .await
            .unwrap_or_else(|| panic!("no subscription result arrived within {within:?}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("subscribe.py printed `{line}`, not JSON: {e}"))
    }

    /// The client must leave by itself, successfully, once it had its results.
    pub async fn finished(mut self) {
        let status = timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("subscribe.py exits after its last result")
            .unwrap();
        assert!(
            status.success(),
            "subscribe.py failed ({status}):\n{}",
            self.stderr().await
        );
        assert_eq!(
            self.lines.next_line().await.unwrap(),
            None,
            "nothing after the last result"
        );
    }

    /// Every result until the server completes the subscription (started with count 0),
    /// each within `within` of the one before.
    pub async fn until_complete(mut self, within: Duration) -> Vec<Value> {
        let mut results = vec![];
        loop {
            let line = self.line(within).await.unwrap_or_else(|| {
                panic!("the subscription neither went on nor completed within {within:?}")
            });
            if line == "COMPLETE" {
                break;
            }
            results.push(
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("subscribe.py printed `{line}`, not JSON: {e}")),
            );
        }
        self.finished().await;
        results
    }
}
