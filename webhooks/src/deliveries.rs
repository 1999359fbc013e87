//! The delivery queue: one row per message for an endpoint, with every attempt made.
//! Enqueueing notifies the workers (LISTEN/NOTIFY, sent when the enqueueing transaction
//! commits), so a caller that enqueues inside its own transaction wakes them only once
//! the delivery is really there.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{WebhookError, Webhooks};

/// The channel enqueueing notifies and workers listen on.
pub(crate) const CHANNEL: &str = "maestro_webhooks";
const MAX_ID: usize = 200;
/// The most deliveries one page of [`Webhooks::deliveries`] holds.
pub const MAX_PAGE: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or for its endpoint to be enabled again).
    Pending,
    Delivered,
    /// Every attempt of the retry schedule failed; [`Webhooks::redeliver`] tries again.
    Failed,
    /// Stopped by hand with [`Webhooks::cancel`].
    Cancelled,
}

impl DeliveryState {
    fn parse(text: &str) -> DeliveryState {
        match text {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "cancelled" => DeliveryState::Cancelled,
            _ => DeliveryState::Pending,
        }
    }
}

/// A delivery with its attempts, newest deliveries first in a listing.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint: Uuid,
    /// The caller's id of the message; enqueueing it again for the endpoint is a no-op.
    pub message_id: String,
    /// The `webhook-id` header, the same on every attempt.
    pub webhook_id: String,
    pub event_type: String,
    pub body: Value,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One request made for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt, counting across redeliveries.
    pub number: i32,
    pub at: DateTime<Utc>,
    /// The receiver's answer; `None` when none came (timeout, connection refused, …).
    pub status_code: Option<u16>,
    pub latency_ms: i32,
    /// Why the attempt failed, `None` for a 2xx.
    pub error: Option<String>,
}

/// What [`Webhooks::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub delivery: Uuid,
    /// `false` when the message had already been enqueued for the endpoint: nothing changed.
    pub new: bool,
}

/// The `webhook-id` of a delivery: stable across its attempts and redeliveries.
pub(crate) fn webhook_id(delivery: Uuid) -> String {
    format!("msg_{}", delivery.simple())
}

pub(crate) async fn notify(pool: &PgPool) -> Result<(), WebhookError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    message_id: String,
    event_type: String,
    body: Json<Value>,
    state: String,
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    attempt: i32,
    at: DateTime<Utc>,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
}

impl Webhooks {
    /// Queues `body` for `endpoint` as message `message_id`, due now.
    pub async fn enqueue(
        &self,
        endpoint: Uuid,
        message_id: &str,
        event_type: &str,
        body: &Value,
    ) -> Result<Enqueued, WebhookError> {
        let mut conn = self.pool.acquire().await?;
        Webhooks::enqueue_in(&mut conn, endpoint, message_id, event_type, body).await
    }

    /// [`enqueue`](Self::enqueue) on the caller's connection, e.g. inside its transaction,
    /// so the delivery is queued if and only if the transaction commits. Needs no key:
    /// a process that only queues (a projector, the scheduler) holds none, and what it
    /// queues waits for a [`Worker`](crate::Worker) that does.
    pub async fn enqueue_in(
        conn: &mut PgConnection,
        endpoint: Uuid,
        message_id: &str,
        event_type: &str,
        body: &Value,
    ) -> Result<Enqueued, WebhookError> {
        if message_id.is_empty() || message_id.chars().count() > MAX_ID {
            return Err(WebhookError::InvalidMessageId);
        }
        if event_type.is_empty() || event_type.chars().count() > MAX_ID {
            return Err(WebhookError::InvalidEventType);
        }
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, body, next_attempt_at)
             SELECT $1, id, $3, $4, $5, now() FROM webhook_endpoints WHERE id = $2
             ON CONFLICT (endpoint_id, message_id) DO NOTHING RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(endpoint)
        .bind(message_id)
        .bind(event_type)
        .bind(Json(body))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(delivery) = inserted {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&mut *conn)
                .await?;
            return Ok(Enqueued { delivery, new: true });
        }
        let existing: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND message_id = $2",
        )
        .bind(endpoint)
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await?;
        match existing {
            Some(delivery) => Ok(Enqueued { delivery, new: false }),
            None => Err(WebhookError::EndpointNotFound(endpoint)),
        }
    }

    /// The endpoint's deliveries, newest first, with their attempts: at most `limit`
    /// (capped at [`MAX_PAGE`]), older than the delivery `before` when given (the last
    /// id of the previous page).
    pub async fn deliveries(
        &self,
        endpoint: Uuid,
        limit: u32,
        before: Option<Uuid>,
    ) -> Result<Vec<Delivery>, WebhookError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT id, endpoint_id, message_id, event_type, body, state,
                    CASE WHEN state = 'pending' THEN next_attempt_at END AS next_attempt_at,
                    created_at, delivered_at
             FROM webhook_deliveries
             WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(endpoint)
        .bind(before)
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let mut attempts = self.attempts(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| Delivery {
                id: row.id,
                endpoint: row.endpoint_id,
                message_id: row.message_id,
                webhook_id: webhook_id(row.id),
                event_type: row.event_type,
                body: row.body.0,
                state: DeliveryState::parse(&row.state),
                attempts: attempts.remove(&row.id).unwrap_or_default(),
                next_attempt_at: row.next_attempt_at,
                created_at: row.created_at,
                delivered_at: row.delivered_at,
            })
            .collect())
    }

    async fn attempts(&self, deliveries: &[Uuid]) -> Result<HashMap<Uuid, Vec<Attempt>>, WebhookError> {
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT delivery_id, attempt, at, status_code, latency_ms, error FROM webhook_attempts
             WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
        )
        .bind(deliveries)
        .fetch_all(&self.pool)
        .await?;
        let mut attempts: HashMap<Uuid, Vec<Attempt>> = HashMap::new();
        for row in rows {
            attempts.entry(row.delivery_id).or_default().push(Attempt {
                number: row.attempt,
                at: row.at,
                status_code: row.status_code.and_then(|code| u16::try_from(code).ok()),
                latency_ms: row.latency_ms,
                error: row.error,
            });
        }
        Ok(attempts)
    }

    /// The endpoint a delivery goes to: what a caller checks access on before acting on it.
    pub async fn delivery_endpoint(&self, delivery: Uuid) -> Result<Uuid, WebhookError> {
        sqlx::query_scalar("SELECT endpoint_id FROM webhook_deliveries WHERE id = $1")
            .bind(delivery)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(WebhookError::DeliveryNotFound(delivery))
    }

    /// Queues a delivery again, due now, whatever its state, with the same webhook-id
    /// (receivers that already took it can tell), and the retry schedule from its start.
    pub async fn redeliver(&self, delivery: Uuid) -> Result<(), WebhookError> {
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET state = 'pending', round_attempts = 0, next_attempt_at = now(),
                 delivered_at = NULL
             WHERE id = $1",
        )
        .bind(delivery)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(WebhookError::DeliveryNotFound(delivery));
        }
        notify(&self.pool).await
    }

    /// Stops retrying a pending delivery; one already delivered, failed or cancelled
    /// stays as it is. An attempt in flight finishes, and counts.
    pub async fn cancel(&self, delivery: Uuid) -> Result<(), WebhookError> {
        let found: Option<String> = sqlx::query_scalar(
            "UPDATE webhook_deliveries SET state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END,
                 next_attempt_at = CASE WHEN state = 'pending' THEN NULL ELSE next_attempt_at END
             WHERE id = $1 RETURNING state",
        )
        .bind(delivery)
        .fetch_optional(&self.pool)
        .await?;
        found.map(|_| ()).ok_or(WebhookError::DeliveryNotFound(delivery))
    }
}
