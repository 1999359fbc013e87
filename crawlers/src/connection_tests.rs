//! Connection tests run in a crawler process, never in the gateway: asking a provider is
//! reaching out to whatever a connection names and reading what comes back, which belongs
//! with the crawls (same reach, same process, its own resources), not beside every
//! person's requests. The gateway checks who may test the connection, then asks over NATS
//! request/reply (`maestro.crawlers.tests`, a queue group shared by every crawler, so one
//! answers) and waits for the outcome.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Crawler;

const SUBJECT: &str = "maestro.crawlers.tests";
const QUEUE_GROUP: &str = "crawlers";
/// The longest the gateway waits for an answer: a slow provider (or an SSH copy) may take
/// minutes, but a person waits for this one.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// Which connection to test, and how: a task and a region (the first of each when none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub connection: Uuid,
    pub task: Option<String>,
    pub region: Option<String>,
}

/// What the provider answered. A provider that failed is an outcome too (`ok: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub ok: bool,
    pub task: String,
    pub region: String,
    pub observed: usize,
    pub message: String,
}

/// Why a test did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TestRefusal {
    /// Something the person gave or set is wrong (a task the provider lacks, credentials
    /// to set again); `field` names it.
    #[error("{message}")]
    BadInput { field: String, message: String },
    /// Maestro could not run it (no crawler, NATS or Postgres down).
    #[error("{0}")]
    Unavailable(String),
}

/// Both ends of connection tests over one NATS client.
#[derive(Clone)]
pub struct ConnectionTests {
    client: async_nats::Client,
}

impl ConnectionTests {
    pub fn new(client: async_nats::Client) -> ConnectionTests {
        ConnectionTests { client }
    }

    /// Asks a crawler process to run `test` and waits for its answer.
    pub async fn ask(&self, test: &ConnectionTest) -> Result<TestOutcome, TestRefusal> {
        let payload =
            serde_json::to_vec(test).map_err(|error| TestRefusal::Unavailable(error.to_string()))?;
        let request = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(ANSWER_WITHIN));
        let answer = self
            .client
            .send_request(SUBJECT, request)
            .await
            .map_err(|error| match error.kind() {
                async_nats::RequestErrorKind::NoResponders => TestRefusal::Unavailable(
                    "no crawler process is running to test the connection; start one with `maestro serve --roles crawler`"
                        .into(),
                ),
                async_nats::RequestErrorKind::TimedOut => TestRefusal::Unavailable(format!(
                    "no crawler answered within {} s; the provider may be slow: try again, or start a crawl and follow it",
                    ANSWER_WITHIN.as_secs()
                )),
                _ => TestRefusal::Unavailable(format!(
                    "NATS did not carry the test ({error}); check NATS_URL and start NATS with `ops/up`"
                )),
            })?;
        serde_json::from_slice::<Result<TestOutcome, TestRefusal>>(&answer.payload).unwrap_or_else(|error| {
            Err(TestRefusal::Unavailable(format!(
                "a crawler answered something that is not a test outcome ({error}); are all processes the same Maestro version?"
            )))
        })
    }

    /// Answers tests with `crawler`, each on a task of its own; fails when NATS stops
    /// delivering them, so that whoever runs it can start it again.
    pub async fn answer(&self, crawler: Arc<Crawler>) -> Result<(), ListenError> {
        let mut tests = self
            .client
            .queue_subscribe(SUBJECT, QUEUE_GROUP.into())
            .await
            .map_err(|error| ListenError(error.to_string()))?;
        while let Some(message) = tests.next().await {
            let Some(reply) = message.reply else {
                continue;
            };
            let (crawler, client) = (crawler.clone(), self.client.clone());
            tokio::spawn(async move {
                let outcome = match serde_json::from_slice::<ConnectionTest>(&message.payload) {
                    Ok(test) => crawler.test(&test).await,
                    Err(error) => Err(TestRefusal::Unavailable(format!(
                        "not a connection test: {error}"
                    ))),
                };
                let answer = serde_json::to_vec(&outcome).unwrap_or_default();
                if let Err(error) = client.publish(reply, answer.into()).await {
                    tracing::warn!(%error, "could not answer a connection test");
                }
            });
        }
        Err(ListenError("the subscription ended".into()))
    }
}

/// Why a crawler stopped answering connection tests.
#[derive(Debug, thiserror::Error)]
#[error("cannot take connection tests from NATS ({0}); check NATS_URL and start NATS with `ops/up`")]
pub struct ListenError(String);
