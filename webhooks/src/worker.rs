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

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::deliveries::{webhook_id, CHANNEL};
use crate::headers::ExtraHeaders;
use crate::schedule::CLAIMED_AHEAD_PER_REQUEST;
use crate::seal::{Purpose, Sealer};
use crate::send::{Outcome, Request, Sender};
use crate::{DeliverySettings, WebhookError, WebhookSecret, Webhooks};

/// The longest lease or retry delay written to Postgres, in milliseconds (30 days).
const MAX_WAIT_MS: i64 = 30 * 24 * 3600 * 1000;

/// The most successes recorded in one statement.
const RECORD_BATCH: usize = 256;

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
    /// The body as Postgres writes the stored JSON: sent as it is, without parsing it
    /// into values and writing it out again for every delivery.
    body: String,
    round_attempts: i32,
    lease: Uuid,
}

/// What came of an attempt, for the loop that started it.
enum Attempted {
    Delivered,
    Failed,
    /// Failed, and the endpoint was disabled: deliveries claimed for it are given back.
    Disabled(Uuid),
}

/// A successful attempt on its way to [`Inner::record_successes`].
struct Success {
    id: Uuid,
    lease: Uuid,
    at: DateTime<Utc>,
    status: Option<i32>,
    latency_ms: i32,
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
    ///
    /// Claims run ahead of sending (up to [`CLAIMED_AHEAD_PER_REQUEST`] × `max_in_flight`
    /// claimed and waiting) and
    /// successes are recorded in batches behind it, so that at a high rate the requests
    /// never wait for Postgres round trips.
    pub async fn run(&self) {
        let inner = &self.0;
        let max = inner.settings.max_in_flight;
        let ahead = max.saturating_mul(CLAIMED_AHEAD_PER_REQUEST);
        let mut wake = Wake::new(inner.pool.clone()).await;
        let mut attempts = JoinSet::new();
        let mut claims = JoinSet::new();
        // Its own set, so that it ends with `run` too.
        let mut recorder = JoinSet::new();
        let (successes, received) = mpsc::channel(max.saturating_mul(4));
        recorder.spawn(inner.clone().record_successes(received));
        let mut claimed: VecDeque<Claimed> = VecDeque::new();
        // Set when the last claim found less than it asked for: nothing more is due
        // before then, unless a notification or a failed attempt says otherwise.
        let mut idle_until: Option<Instant> = None;
        // Endpoints disabled while a claim was in flight: that claim may have taken their
        // deliveries before the disabling committed, and they must not go out.
        let mut disabled_meanwhile: Vec<Uuid> = Vec::new();
        loop {
            while attempts.len() < max {
                let Some(delivery) = claimed.pop_front() else {
                    break;
                };
                attempts.spawn(inner.clone().attempt(delivery, successes.clone()));
            }
            if claims.is_empty() && idle_until.is_none() && claimed.len() <= ahead / 2 {
                let (inner, limit) = (inner.clone(), ahead - claimed.len());
                claims.spawn(async move { (limit, inner.claim(limit).await) });
            }
            let idle = idle_until.map(|until| until.saturating_duration_since(Instant::now()));
            tokio::select! {
                Some(joined) = claims.join_next(), if !claims.is_empty() => match joined {
                    Ok((limit, Ok(found))) => {
                        if found.len() < limit {
                            idle_until = Some(Instant::now() + inner.until_next_due().await);
                        }
                        let (held_back, found): (VecDeque<Claimed>, VecDeque<Claimed>) =
                            found.into_iter().partition(|c| disabled_meanwhile.contains(&c.endpoint_id));
                        disabled_meanwhile.clear();
                        inner.release(held_back).await;
                        claimed.extend(found);
                    }
                    Ok((_, Err(error))) => {
                        disabled_meanwhile.clear();
                        tracing::warn!(%error, "claiming webhook deliveries failed; retrying");
                        idle_until = Some(Instant::now() + inner.settings.poll_interval.min(Duration::from_secs(1)));
                    }
                    Err(error) => {
                        disabled_meanwhile.clear();
                        tracing::error!(%error, "a webhook claim did not finish");
                    }
                },
                Some(joined) = attempts.join_next(), if !attempts.is_empty() => match joined {
                    Ok(Attempted::Delivered) => {}
                    // A failure schedules a retry that may be due before the idle time ends.
                    Ok(Attempted::Failed) | Err(_) => idle_until = None,
                    Ok(Attempted::Disabled(endpoint)) => {
                        idle_until = None;
                        if !claims.is_empty() {
                            disabled_meanwhile.push(endpoint);
                        }
                        let (waiting, others) = claimed.drain(..).partition(|c| c.endpoint_id == endpoint);
                        claimed = others;
                        inner.release(waiting).await;
                    }
                },
                () = wake.wait(idle.unwrap_or_default()), if idle.is_some() => idle_until = None,
            }
        }
    }
}

impl Inner {
    async fn claim(&self, limit: usize) -> Result<Vec<Claimed>, WebhookError> {
        let lease_ms =
            i64::try_from(self.settings.lease().as_millis()).map_or(MAX_WAIT_MS, |ms| ms.min(MAX_WAIT_MS));
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
             RETURNING d.id, d.endpoint_id, e.url, e.secret, e.headers, d.body::text AS body, d.round_attempts, d.lease",
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

    /// Writes the successes the attempts hand over, as many at once as have come in
    /// while the previous batch was written (the way Postgres groups commits).
    async fn record_successes(self: Arc<Self>, mut successes: mpsc::Receiver<Success>) {
        let mut batch = Vec::new();
        while successes.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            if let Err(error) = self.delivered(&batch).await {
                // Their leases lapse and they are sent again, with the same webhook-ids.
                tracing::warn!(%error, deliveries = batch.len(), "recording delivered webhooks failed");
            }
            batch.clear();
        }
    }

    /// Sends one claimed delivery and records what came of it (a success through
    /// [`record_successes`](Self::record_successes)).
    async fn attempt(self: Arc<Self>, claimed: Claimed, successes: mpsc::Sender<Success>) -> Attempted {
        let outcome = match self.open(&claimed) {
            Ok((secret, headers)) => {
                let webhook_id = webhook_id(claimed.id);
                self.sender
                    .send(Request {
                        url: &claimed.url,
                        webhook_id: &webhook_id,
                        secret: &secret,
                        headers: &headers,
                        body: claimed.body.as_bytes(),
                    })
                    .await
            }
            Err(error) => Outcome::failed_before_sending(&error),
        };
        let Some(error) = &outcome.error else {
            let success = Success {
                id: claimed.id,
                lease: claimed.lease,
                at: outcome.at,
                status: outcome.status.map(i32::from),
                latency_ms: outcome.latency_ms(),
            };
            // Waits only when the recorder is far behind; the lease keeps the delivery
            // from other workers until it is recorded. A send fails only when stopping.
            let _ = successes.send(success).await;
            return Attempted::Delivered;
        };
        match self.failed(&claimed, &outcome, error).await {
            Ok(true) => Attempted::Disabled(claimed.endpoint_id),
            Ok(false) => Attempted::Failed,
            Err(error) => {
                // The lease lapses and the delivery is sent again, with the same webhook-id.
                tracing::warn!(delivery = %claimed.id, %error, "recording a failed webhook attempt failed");
                Attempted::Failed
            }
        }
    }

    /// Gives claimed deliveries back unsent (their endpoint was just disabled), so that
    /// they go out as soon as it is enabled again rather than when their leases lapse.
    async fn release(&self, deliveries: VecDeque<Claimed>) {
        if deliveries.is_empty() {
            return;
        }
        let (ids, leases): (Vec<Uuid>, Vec<Uuid>) = deliveries.iter().map(|c| (c.id, c.lease)).unzip();
        let released = sqlx::query(
            "UPDATE webhook_deliveries w SET lease = NULL, locked_until = NULL
             FROM unnest($1::uuid[], $2::uuid[]) AS t (id, lease) WHERE w.id = t.id AND w.lease = t.lease",
        )
        .bind(ids)
        .bind(leases)
        .execute(&self.pool)
        .await;
        if let Err(error) = released {
            tracing::warn!(%error, "releasing webhook deliveries failed; their leases lapse instead");
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

    /// Records successful attempts, many in one statement: at a high rate, a commit per
    /// delivery would cost more than the request itself.
    async fn delivered(&self, batch: &[Success]) -> Result<(), WebhookError> {
        let ids: Vec<Uuid> = batch.iter().map(|s| s.id).collect();
        let leases: Vec<Uuid> = batch.iter().map(|s| s.lease).collect();
        let ats: Vec<DateTime<Utc>> = batch.iter().map(|s| s.at).collect();
        let statuses: Vec<Option<i32>> = batch.iter().map(|s| s.status).collect();
        let latencies: Vec<i32> = batch.iter().map(|s| s.latency_ms).collect();
        sqlx::query(
            "WITH done AS (
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[], $5::int[])
                     AS t (id, lease, at, status, latency_ms)
             ), d AS (
                 UPDATE webhook_deliveries w SET state = 'delivered', delivered_at = done.at,
                     next_attempt_at = NULL, attempts = w.attempts + 1, round_attempts = w.round_attempts + 1,
                     lease = NULL, locked_until = NULL
                 FROM done WHERE w.id = done.id AND w.lease = done.lease
                 RETURNING w.id, w.attempts, w.endpoint_id, done.at, done.status, done.latency_ms
             ), a AS (
                 INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, latency_ms)
                 SELECT id, attempts, at, status, latency_ms FROM d
             )
             UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
             WHERE id IN (SELECT endpoint_id FROM d) AND consecutive_failures <> 0",
        )
        .bind(ids)
        .bind(leases)
        .bind(ats)
        .bind(statuses)
        .bind(latencies)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: the next one is scheduled, or the delivery is `failed`
    /// when the schedule is exhausted; the endpoint counts one more failure in a row and
    /// is disabled once it has failed long enough.
    /// Returns whether it disabled the endpoint.
    async fn failed(&self, claimed: &Claimed, outcome: &Outcome, error: &str) -> Result<bool, WebhookError> {
        let failed_in_round = u32::try_from(claimed.round_attempts)
            .unwrap_or(0)
            .saturating_add(1);
        let retry_ms = self
            .settings
            .retry_after(failed_in_round)
            .map(|delay| i64::try_from(delay.as_millis()).map_or(MAX_WAIT_MS, |ms| ms.min(MAX_WAIT_MS)));
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
            return Ok(false);
        };
        let settings = &self.settings;
        let long_enough = chrono::Duration::from_std(settings.disable_after_failing_for)
            .ok()
            .and_then(|window| Utc::now().checked_sub_signed(window))
            .is_some_and(|cutoff| since <= cutoff);
        if u32::try_from(failures).unwrap_or(0) < settings.disable_after_failures || !long_enough {
            return Ok(false);
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
        let Some(disabled) = disabled else {
            return Ok(false); // another worker disabled it first
        };
        tracing::warn!(endpoint = %disabled.id, reason = %disabled.reason, "webhook endpoint disabled");
        (self.on_disabled)(disabled);
        Ok(true)
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
