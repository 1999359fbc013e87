//! One HTTP attempt: the signed POST and what came of it. Every way a request can go
//! wrong (an answer other than 2xx, a timeout, a refused connection or address) is an
//! outcome with a message, never a panic or an error that stops the worker.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use reqwest::redirect::Policy;
use reqwest::Client;
use url::Url;

use crate::address::{check_url_host, AddressPolicy, PolicyResolver, Refused};
use crate::headers::ExtraHeaders;
use crate::{WebhookError, WebhookSecret};

/// How much of a receiver's answer is read (then dropped): enough to keep the connection
/// reusable for the usual short answers, bounded against a receiver that streams forever.
const MAX_ANSWER: usize = 64 * 1024;

/// What an attempt came to.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) at: DateTime<Utc>,
    pub(crate) status: Option<u16>,
    pub(crate) latency: Duration,
    /// `None` for a 2xx.
    pub(crate) error: Option<String>,
}

impl Outcome {
    /// A failure before any request was made (e.g. an undecryptable secret).
    pub(crate) fn failed_before_sending(error: &WebhookError) -> Outcome {
        Outcome {
            at: Utc::now(),
            status: None,
            latency: Duration::ZERO,
            error: Some(error.to_string()),
        }
    }

    pub(crate) fn latency_ms(&self) -> i32 {
        i32::try_from(self.latency.as_millis()).unwrap_or(i32::MAX)
    }
}

/// What one request needs besides the client.
pub(crate) struct Request<'a> {
    pub(crate) url: &'a str,
    pub(crate) webhook_id: &'a str,
    pub(crate) secret: &'a WebhookSecret,
    pub(crate) headers: &'a ExtraHeaders,
    pub(crate) body: &'a [u8],
}

pub(crate) struct Sender {
    client: Client,
    policy: AddressPolicy,
    timeout: Duration,
}

impl Sender {
    /// A client that follows no redirects (a receiver could otherwise bounce a delivery
    /// to an internal address), resolves names through the address policy, uses no
    /// proxy from the environment (a proxy would connect where the policy cannot see),
    /// and gives up on a request after `timeout`.
    pub(crate) fn new(
        policy: AddressPolicy,
        timeout: Duration,
        connections: usize,
    ) -> Result<Sender, WebhookError> {
        let client = Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(connections)
            .user_agent(concat!("Maestro-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Sender {
            client,
            policy,
            timeout,
        })
    }

    pub(crate) async fn send(&self, request: Request<'_>) -> Outcome {
        let at = Utc::now();
        let started = Instant::now();
        let failed = |error: String| Outcome {
            at,
            status: None,
            latency: started.elapsed(),
            error: Some(error),
        };
        // The stored URL was valid when saved; IP literals are judged here (names are
        // judged by the resolver), since the policy may have changed since.
        let url = match Url::parse(request.url) {
            Ok(url) => url,
            Err(e) => return failed(WebhookError::InvalidUrl(e.to_string()).to_string()),
        };
        if let Err(refused) = check_url_host(&url, &self.policy) {
            return failed(refused.to_string());
        }
        let timestamp = at.timestamp();
        let signature = request.secret.sign(request.webhook_id, timestamp, request.body);
        let answer = self
            .client
            .post(url)
            .headers(request.headers.to_map())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", request.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(request.body.to_vec())
            .send()
            .await;
        let mut response = match answer {
            Ok(response) => response,
            Err(error) => return failed(self.describe(&error)),
        };
        let status = response.status();
        let mut read = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if read + chunk.len() < MAX_ANSWER => read += chunk.len(),
                // Done, too long to bother, or broken after the status came: the status counts.
                Ok(_) | Err(_) => break,
            }
        }
        let error = if status.is_success() {
            None
        } else if status.is_redirection() {
            Some(format!(
                "the receiver answered {status}; redirects are not followed, so point the endpoint at the final URL"
            ))
        } else {
            Some(format!(
                "the receiver answered {status}; only a 2xx answer counts as delivered"
            ))
        };
        Outcome {
            at,
            status: Some(status.as_u16()),
            latency: started.elapsed(),
            error,
        }
    }

    /// Why a request got no answer, for the attempt's error (no URL, no header values).
    fn describe(&self, error: &reqwest::Error) -> String {
        let mut source: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(refused) = cause.downcast_ref::<Refused>() {
                return refused.to_string();
            }
            source = cause.source();
        }
        if error.is_timeout() {
            return format!(
                "no answer within {} s (the request timeout); the receiver must answer sooner, e.g. by queueing the work",
                self.timeout.as_secs_f64()
            );
        }
        let mut causes = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        let root = causes.last().cloned().unwrap_or_else(|| error.to_string());
        if error.is_connect() {
            format!("could not connect to the receiver: {root}")
        } else {
            format!("the request failed: {root}")
        }
    }
}
