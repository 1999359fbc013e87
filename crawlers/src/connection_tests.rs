//! Connection tests run in a crawler process, never in the gateway: asking a provider is
//! reaching out to whatever a connection names and reading what comes back, which belongs
//! with the crawls (same reach, same process, its own resources), not beside every
//! person's requests. The gateway checks who may test the connection, then asks over NATS
//! request/reply (`maestro.crawlers.tests`, a queue group shared by every crawler, so one
//! answers) and waits for the outcome.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::asks::{self, ListenError, Refusal};
use crate::Crawler;

const SUBJECT: &str = "maestro.crawlers.tests";
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
    pub async fn ask(&self, test: &ConnectionTest) -> Result<TestOutcome, Refusal> {
        asks::ask(&self.client, SUBJECT, test, ANSWER_WITHIN, "test the connection").await
    }

    /// Answers tests with `crawler`, each on a task of its own; fails when NATS stops
    /// delivering them, so that whoever runs it can start it again.
    pub async fn answer(&self, crawler: Arc<Crawler>) -> Result<(), ListenError> {
        asks::answer_each(&self.client, SUBJECT, move |test: ConnectionTest| {
            let crawler = crawler.clone();
            async move { crawler.test(&test).await }
        })
        .await
    }
}
