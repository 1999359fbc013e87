//! Asking a crawler process. What reaches out to providers or reads what people wrote
//! (connection tests, crawls of uploaded files) runs in crawler processes, never beside
//! every person's requests in the gateway. The gateway asks over NATS request/reply, on
//! a queue group every crawler shares so that one answers, and waits for the answer.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const QUEUE_GROUP: &str = "crawlers";

/// Why a crawler did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// Something the person gave or set is wrong (a task the provider lacks, credentials
    /// to set again, files it cannot take); `field` names it.
    #[error("{message}")]
    BadInput { field: String, message: String },
    /// Maestro could not do it (no crawler, NATS or Postgres down).
    #[error("{0}")]
    Unavailable(String),
}

/// Why a crawler stopped answering.
#[derive(Debug, thiserror::Error)]
#[error("cannot take requests for crawlers from NATS ({0}); check NATS_URL and start NATS with `ops/up`")]
pub struct ListenError(String);

/// Sends `question` to a crawler on `subject` and waits up to `within` for its answer;
/// `doing` says what was asked, for the errors.
pub(crate) async fn ask<A: DeserializeOwned>(
    client: &async_nats::Client,
    subject: &'static str,
    question: &impl Serialize,
    within: Duration,
    doing: &str,
) -> Result<A, Refusal> {
    let payload = serde_json::to_vec(question).map_err(|error| Refusal::Unavailable(error.to_string()))?;
    let request = async_nats::Request::new()
        .payload(payload.into())
        .timeout(Some(within));
    let answer = client
        .send_request(subject, request)
        .await
        .map_err(|error| match error.kind() {
            async_nats::RequestErrorKind::NoResponders => Refusal::Unavailable(format!(
                "no crawler process is running to {doing}; start one with `maestro serve --roles crawler`"
            )),
            async_nats::RequestErrorKind::TimedOut => Refusal::Unavailable(format!(
                "no crawler answered within {} s; the provider may be slow: try again, or start a crawl and follow it",
                within.as_secs()
            )),
            _ => Refusal::Unavailable(format!(
                "NATS did not carry the request to {doing} ({error}); check NATS_URL and start NATS with `ops/up`"
            )),
        })?;
    serde_json::from_slice::<Result<A, Refusal>>(&answer.payload).unwrap_or_else(|error| {
        Err(Refusal::Unavailable(format!(
            "a crawler answered something else than expected ({error}); are all processes the same Maestro version?"
        )))
    })
}

/// Answers what comes on `subject` with `handle`, each on a task of its own; fails when
/// NATS stops delivering, so that whoever runs it can start it again.
pub(crate) async fn answer_each<Q, A, F, Fut>(
    client: &async_nats::Client,
    subject: &'static str,
    handle: F,
) -> Result<(), ListenError>
where
    Q: DeserializeOwned + Send + 'static,
    A: Serialize + Send + 'static,
    F: Fn(Q) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<A, Refusal>> + Send + 'static,
{
    let mut questions = client
        .queue_subscribe(subject, QUEUE_GROUP.into())
        .await
        .map_err(|error| ListenError(error.to_string()))?;
    while let Some(message) = questions.next().await {
        let Some(reply) = message.reply else {
            continue;
        };
        let answering = match serde_json::from_slice::<Q>(&message.payload) {
            Ok(question) => Some(handle(question)),
            Err(_) => None,
        };
        let client = client.clone();
        tokio::spawn(async move {
            let answer = match answering {
                Some(answering) => answering.await,
                None => Err(Refusal::Unavailable(format!(
                    "not a request this crawler understands on {subject}; are all processes the same Maestro version?"
                ))),
            };
            let answer = serde_json::to_vec(&answer).unwrap_or_default();
            if let Err(error) = client.publish(reply, answer.into()).await {
                tracing::warn!(%error, subject, "could not answer a request for crawlers");
            }
        });
    }
    Err(ListenError("the subscription ended".into()))
}
