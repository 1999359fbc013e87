//! The delivery worker: claims due deliveries from Postgres, sends them, records each
//! attempt and schedules the next.
//!
//! Any number of workers may run, in any number of processes. A claim takes due rows
//! with `FOR UPDATE SKIP LOCKED` and marks them with a lease (`lease`, `locked_until`)
//! in the same statement, so no two workers hold one delivery at once; a worker's
//! result is written only while its lease is still the row's, and a worker that dies
//! mid-request loses its claim when `locked_until` passes, after which another sends the
//! delivery again under the same webhook-id. Delivery is thus at least once, and a
//! receiver can drop what it has seen by the id.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::types::Json;
use sqlx::PgPool;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::deliveries::{webhook_id, CHANNEL};
use crate::headers::ExtraHeaders;
use crate::seal::{Purpose, Sealer};
use crate::send::{Outcome, Request, Sender};
use crate::{DeliverySettings, WebhookError, WebhookSecret, Webhooks};

/// An endpoint the worker has just disabled, for the caller to tell its owners.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DisabledEndpoint {
    pub id: Uuid,
    pub owner: Uuid,
    pub description: String,
    pub url: String,
    /// Also stored as the endpoint's `disabled_reason`.
    pub reason: String,
}

/// Called once for each endpoint a worker disables; it runs on the worker's task, so it
/// should hand the work on (e.g. to a channel) rather than block.
pub type OnDisabled = Arc<dyn Fn(DisabledEndpoint) + Send + Sync>;

/// Delivers what is queued; see [`Worker::run`].
#[derive(Clone)]
pub struct Worker(Arc<Inner>);

struct Inner {
    pool: PgPool,
    sealer: Sealer,
    sender: Sender,
    settings: DeliverySettings,
    on_disabled: OnDisabled,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("settings", &self.0.settings)
            .finish_non_exhaustive()
    }
}

/// A delivery a worker holds the lease of.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    endpoint_id: Uuid,
    url: String,
    secret: Vec<u8>,
    headers: Option<Vec<u8>>,
    body: Json<Value>,
    round_attempts: i32,
    lease: Uuid,
}

impl Worker {
    pub fn new(
        webhooks: &Webhooks,
        settings: DeliverySettings,
        on_disabled: OnDisabled,
    ) -> Result<Worker, WebhookError> {
        let settings = DeliverySettings {
            max_in_flight: settings.max_in_flight.max(1),
            ..settings
        };
        let sender = Sender::new(
            webhooks.policy.clone(),
            settings.request_timeout,
            settings.max_in_flight,
        )?;
        Ok(Worker(Arc::new(Inner {
            pool: webhooks.pool.clone(),
            sealer: webhooks.sealer.clone(),
            sender,
            settings,
            on_disabled,
        })))
    }

    /// Delivers due deliveries, up to `max_in_flight` at once, until the future is
    /// dropped (which abandons the requests in flight: their leases lapse and another
    /// worker sends them again). Wakes when a delivery is enqueued, when the next retry
    /// is due, or every `poll_interval`; rides out Postgres being down, logging it.
    pub async fn run(&self) {
        let inner = &self.0;
        let settings = &inner.settings;
        let mut wake = Wake::new(inner.pool.clone()).await;
        let mut tasks = JoinSet::new();
        // After a full claim more is likely due: claim again only once a quarter of the
        // slots are free, so a backlog costs one claim per batch rather than per delivery.
        let mut backlog = false;
        loop {
            while tasks.try_join_next().is_some() {}
            let free = settings.max_in_flight.saturating_sub(tasks.len());
            let worth_claiming = if backlog {
                free >= (settings.max_in_flight / 4).max(1)
            } else {
                free > 0
            };
            if worth_claiming {
                match inner.claim(free).await {
                    Ok(claimed) => {
                        backlog = claimed.len() == free;
                        for delivery in claimed {
                            tasks.spawn(self.0.clone().attempt(delivery));
                        }
                        if backlog {
                            continue;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "claiming webhook deliveries failed; retrying");
                        tokio::time::sleep(settings.poll_interval.min(Duration::from_secs(1))).await;
                        continue;
                    }
                }
            }
            let wait = if backlog {
                settings.poll_interval
            } else {
                inner.until_next_due().await
            };
            tokio::select! {
                () = wake.wait(wait) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
    }
}

impl Inner {
    async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, WebhookError> {
        let lease_ms = i64::try_from(self.settings.lease().as_millis()).unwrap_or(i64::MAX);
        Ok(sqlx::query_as::<_, Claimed>(
            "WITH due AS (
                 SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND e.enabled
                   AND (d.locked_until IS NULL OR d.locked_until < now())
                 ORDER BY d.next_attempt_at
                 LIMIT $1
                 FOR UPDATE OF d SKIP LOCKED
             )
             UPDATE webhook_deliveries d SET lease = $2, locked_until = now() + $3 * interval '1 millisecond'
             FROM due, webhook_endpoints e
             WHERE d.id = due.id AND e.id = d.endpoint_id
             RETURNING d.id, d.endpoint_id, e.url, e.secret, e.headers, d.body, d.round_attempts, d.lease",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(Uuid::now_v7())
        .bind(lease_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How long until the next pending delivery is due, at most the polling interval.
    async fn until_next_due(&self) -> Duration {
        let next: Result<Option<DateTime<Utc>>, sqlx::Error> = sqlx::query_scalar(
            "SELECT min(greatest(d.next_attempt_at, d.locked_until)) FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.state = 'pending' AND e.enabled",
        )
        .fetch_one(&self.pool)
        .await;
        let poll = self.settings.poll_interval;
        match next {
            Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(poll),
            Ok(None) => poll,
            Err(error) => {
                tracing::warn!(%error, "looking for the next webhook delivery failed");
                poll
            }
        }
    }

    /// Sends one claimed delivery and records what came of it.
    async fn attempt(self: Arc<Self>, claimed: Claimed) {
        let outcome = match self.open(&claimed) {
            Ok((secret, headers)) => {
                let body = serde_json::to_vec(&claimed.body.0).unwrap_or_default();
                let webhook_id = webhook_id(claimed.id);
                self.sender
                    .send(Request {
                        url: &claimed.url,
                        webhook_id: &webhook_id,
                        secret: &secret,
                        headers: &headers,
                        body: &body,
                    })
                    .await
            }
            Err(error) => Outcome::failed_before_sending(&error),
        };
        let recorded = match &outcome.error {
            None => self.delivered(&claimed, &outcome).await,
            Some(error) => self.failed(&claimed, &outcome, error).await,
        };
        if let Err(error) = recorded {
            // The lease lapses and the delivery is sent again, with the same webhook-id.
            tracing::warn!(delivery = %claimed.id, %error, "recording a webhook attempt failed");
        }
    }

    fn open(&self, claimed: &Claimed) -> Result<(WebhookSecret, ExtraHeaders), WebhookError> {
        let endpoint = claimed.endpoint_id;
        let secret =
            WebhookSecret::from_bytes(self.sealer.open(endpoint, Purpose::Secret, &claimed.secret)?)
                .map_err(|_| WebhookError::Undecryptable(endpoint))?;
        let headers = match &claimed.headers {
            Some(sealed) => {
                let plaintext = self.sealer.open(endpoint, Purpose::Headers, sealed)?;
                ExtraHeaders::from_plaintext(&plaintext).ok_or(WebhookError::Undecryptable(endpoint))?
            }
            None => ExtraHeaders::default(),
        };
        Ok((secret, headers))
    }

    async fn delivered(&self, claimed: &Claimed, outcome: &Outcome) -> Result<(), WebhookError> {
        sqlx::query(
            "WITH d AS (
                 UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $3, next_attempt_at = NULL,
                     attempts = attempts + 1, round_attempts = round_attempts + 1, lease = NULL, locked_until = NULL
                 WHERE id = $1 AND lease = $2
                 RETURNING id, attempts, endpoint_id
             ), a AS (
                 INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, latency_ms)
                 SELECT id, attempts, $3, $4, $5 FROM d
             )
             UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
             WHERE id = (SELECT endpoint_id FROM d) AND consecutive_failures <> 0",
        )
        .bind(claimed.id)
        .bind(claimed.lease)
        .bind(outcome.at)
        .bind(outcome.status.map(i32::from))
        .bind(outcome.latency_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: the next one is scheduled, or the delivery is `failed`
    /// when the schedule is exhausted; the endpoint counts one more failure in a row and
    /// is disabled once it has failed long enough.
    async fn failed(&self, claimed: &Claimed, outcome: &Outcome, error: &str) -> Result<(), WebhookError> {
        let failed_in_round = u32::try_from(claimed.round_attempts)
            .unwrap_or(0)
            .saturating_add(1);
        let retry_ms = self
            .settings
            .retry_after(failed_in_round)
            .map(|delay| i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
        let endpoint: Option<(Uuid, i32, DateTime<Utc>)> = sqlx::query_as(
            "WITH d AS (
                 UPDATE webhook_deliveries SET attempts = attempts + 1, round_attempts = round_attempts + 1,
                     state = CASE WHEN state = 'cancelled' THEN state
                                  WHEN $4::bigint IS NULL THEN 'failed' ELSE 'pending' END,
                     next_attempt_at = CASE WHEN state = 'pending' AND $4::bigint IS NOT NULL
                                            THEN now() + $4 * interval '1 millisecond' END,
                     lease = NULL, locked_until = NULL
                 WHERE id = $1 AND lease = $2
                 RETURNING id, attempts, endpoint_id
             ), a AS (
                 INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, latency_ms, error)
                 SELECT id, attempts, $3, $5, $6, $7 FROM d
             )
             UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1,
                 failing_since = coalesce(failing_since, $3)
             WHERE id = (SELECT endpoint_id FROM d) AND enabled
             RETURNING id, consecutive_failures, failing_since",
        )
        .bind(claimed.id)
        .bind(claimed.lease)
        .bind(outcome.at)
        .bind(retry_ms)
        .bind(outcome.status.map(i32::from))
        .bind(outcome.latency_ms())
        .bind(error)
        .fetch_optional(&self.pool)
        .await?;
        let Some((endpoint, failures, since)) = endpoint else {
            return Ok(());
        };
        let settings = &self.settings;
        let long_enough = chrono::Duration::from_std(settings.disable_after_failing_for)
            .ok()
            .and_then(|window| Utc::now().checked_sub_signed(window))
            .is_some_and(|cutoff| since <= cutoff);
        if u32::try_from(failures).unwrap_or(0) < settings.disable_after_failures || !long_enough {
            return Ok(());
        }
        let reason = format!(
            "its last {failures} delivery attempts failed, since {since}; the last one: {error}. \
             Fix the receiver, then enable the endpoint again: its waiting deliveries resume then"
        );
        let disabled: Option<DisabledEndpoint> = sqlx::query_as(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2 WHERE id = $1 AND enabled
             RETURNING id, owner, description, url, disabled_reason AS reason",
        )
        .bind(endpoint)
        .bind(&reason)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(disabled) = disabled {
            tracing::warn!(endpoint = %disabled.id, reason = %disabled.reason, "webhook endpoint disabled");
            (self.on_disabled)(disabled);
        }
        Ok(())
    }
}

/// Wakes a worker on a notification of the enqueue channel, or when its wait is over.
struct Wake {
    listener: Option<PgListener>,
    pool: PgPool,
}

impl Wake {
    async fn new(pool: PgPool) -> Wake {
        let mut wake = Wake { listener: None, pool };
        wake.listen().await;
        wake
    }

    async fn listen(&mut self) {
        match PgListener::connect_with(&self.pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => self.listener = Some(listener),
                Err(error) => tracing::warn!(%error, "LISTEN for webhook deliveries failed; polling instead"),
            },
            Err(error) => {
                tracing::warn!(%error, "LISTEN connection for webhook deliveries failed; polling instead")
            }
        }
    }

    async fn wait(&mut self, wait: Duration) {
        if self.listener.is_none() {
            self.listen().await;
        }
        match &mut self.listener {
            Some(listener) => {
                if let Ok(Err(error)) = tokio::time::timeout(wait, listener.recv()).await {
                    tracing::warn!(%error, "the webhook LISTEN connection was lost; it reconnects");
                    self.listener = None;
                    tokio::time::sleep(wait).await;
                }
            }
            None => tokio::time::sleep(wait).await,
        }
    }
}
