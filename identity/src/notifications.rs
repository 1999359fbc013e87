//! What Maestro tells people, and how: in the product, by mail, through one of their
//! webhook endpoints, or not at all, as each person chooses per topic. Telling is keyed: the same notice twice (a retried step, a
//! second scheduler) reaches each person once. Mails wait in an outbox until the SMTP
//! server takes them, so an SMTP server that is down delays them and loses none.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

use crate::error::Doing;
use webhooks::{WebhookError, Webhooks};

use crate::{Email, Identity, IdentityError};

/// What a notification is about; each person picks its channels per topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    /// A crawl someone started ended well.
    CrawlSucceeded,
    /// A crawl, started by someone or by a schedule, failed.
    CrawlFailed,
    /// A scheduled run ended well (off by default: a crawl every five minutes would bury
    /// everything else).
    ScheduledRunSucceeded,
    /// The scheduler disabled a schedule that kept failing.
    ScheduleDisabled,
    /// A webhook endpoint that kept failing was disabled.
    WebhookDisabled,
    /// An event rule of yours matched.
    RuleMatched,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::CrawlSucceeded,
        Topic::CrawlFailed,
        Topic::ScheduledRunSucceeded,
        Topic::ScheduleDisabled,
        Topic::WebhookDisabled,
        Topic::RuleMatched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::CrawlSucceeded => "crawl_succeeded",
            Topic::CrawlFailed => "crawl_failed",
            Topic::ScheduledRunSucceeded => "scheduled_run_succeeded",
            Topic::ScheduleDisabled => "schedule_disabled",
            Topic::WebhookDisabled => "webhook_disabled",
            Topic::RuleMatched => "rule_matched",
        }
    }

    pub fn parse(raw: &str) -> Result<Topic, IdentityError> {
        Topic::ALL
            .into_iter()
            .find(|topic| topic.as_str() == raw)
            .ok_or_else(|| {
                let known: Vec<&str> = Topic::ALL.iter().map(|topic| topic.as_str()).collect();
                IdentityError::invalid(
                    "topic",
                    format!("`{raw}` is not a topic; use one of: {}", known.join(", ")),
                )
            })
    }

    /// The channels of a person who chose none: failures reach them in the product and by
    /// mail, successes of what they started in the product, routine runs nowhere.
    pub fn default_channels(self) -> Channels {
        match self {
            Topic::CrawlSucceeded => Channels {
                in_app: true,
                email: false,
                webhook: None,
            },
            Topic::CrawlFailed | Topic::ScheduleDisabled | Topic::WebhookDisabled | Topic::RuleMatched => {
                Channels {
                    in_app: true,
                    email: true,
                    webhook: None,
                }
            }
            Topic::ScheduledRunSucceeded => Channels {
                in_app: false,
                email: false,
                webhook: None,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    pub in_app: bool,
    pub email: bool,
    /// One of the person's webhook endpoints (the caller checks it is theirs), posted
    /// each notification as `notification.<topic>`.
    pub webhook: Option<Uuid>,
}

/// Something to tell the people behind an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub topic: Topic,
    pub title: String,
    pub body: String,
    /// The item it is about: its kind's stream type and id.
    pub item: Option<(String, Uuid)>,
    /// Names this notice: telling the same key again is a no-op.
    pub key: String,
}

/// A notification as its person sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub topic: Topic,
    pub title: String,
    pub body: String,
    pub item: Option<(String, Uuid)>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A mail that could not be sent is tried again after a wait that doubles from 30 s to
/// an hour, for about two days; then it is given up, with its last error kept.
const MAIL_ATTEMPTS: i32 = 50;
/// A claimed mail is another sender's to try after this, should its sender die.
const MAIL_LEASE: Duration = Duration::from_secs(300);

fn notification(row: sqlx::postgres::PgRow) -> Result<Notification, IdentityError> {
    let item_kind: Option<String> = row.get("item_kind");
    let item_id: Option<Uuid> = row.get("item_id");
    Ok(Notification {
        id: row.get("id"),
        topic: Topic::parse(row.get("topic"))?,
        title: row.get("title"),
        body: row.get("body"),
        item: item_kind.zip(item_id),
        created_at: row.get("created_at"),
        read_at: row.get("read_at"),
    })
}

fn mail_retry_after(attempts: i32) -> Duration {
    let doublings = attempts.clamp(1, 8) - 1;
    Duration::from_secs(30 * 2u64.pow(doublings as u32)).min(Duration::from_secs(3600))
}

impl Notice {
    /// What a person's webhook is posted: the notification as the product shows it.
    fn webhook_body(&self, id: Uuid, created_at: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "type": "notification",
            "id": id,
            "topic": self.topic,
            "title": self.title,
            "body": self.body,
            "item": self.item.as_ref().map(|(kind, id)| serde_json::json!({"kind": kind, "id": id})),
            "createdAt": created_at,
        })
    }
}

impl Identity {
    /// Tells `notice` to the people among `principals` (users, and the members of teams)
    /// on the channels each chose for its topic. Returns how many people it reached for
    /// the first time.
    pub async fn notify(&self, principals: &[Uuid], notice: &Notice) -> Result<u64, IdentityError> {
        // One transaction: a notification is recorded with its mail and webhook call, or
        // not at all, so that telling it again (same key) is never a half-done no-op.
        let mut transaction = self.pool.begin().await.doing("recording notifications")?;
        let told = Identity::notify_in(&mut transaction, principals, notice)
            .await
            .doing("recording notifications")?;
        transaction.commit().await.doing("recording notifications")?;
        Ok(told)
    }

    /// [`notify`](Self::notify) inside the caller's transaction: a projector tells what an
    /// event matched in the same transaction as its checkpoint, so each event is told once.
    pub async fn notify_in(
        connection: &mut sqlx::PgConnection,
        principals: &[Uuid],
        notice: &Notice,
    ) -> Result<u64, sqlx::Error> {
        let defaults = notice.topic.default_channels();
        let (item_kind, item_id) = notice.item.clone().unzip();
        let told: Vec<(Uuid, Option<Uuid>, DateTime<Utc>)> = sqlx::query_as(
            "WITH people AS (
                 SELECT id AS user_id FROM users WHERE id = ANY($1)
                 UNION SELECT user_id FROM team_members WHERE team_id = ANY($1)
             ), wanted AS (
                 SELECT people.user_id, chosen.webhook,
                        COALESCE(chosen.in_app, $2) AS in_app, COALESCE(chosen.email, $3) AS email
                   FROM people
                   LEFT JOIN notification_preferences chosen
                          ON chosen.user_id = people.user_id AND chosen.topic = $4
             ), told AS (
                 INSERT INTO notifications (id, user_id, topic, title, body, item_kind, item_id, key, shown)
                 SELECT gen_random_uuid(), user_id, $4, $5, $6, $7, $8, $9, in_app
                   FROM wanted WHERE in_app OR email OR webhook IS NOT NULL
                 ON CONFLICT (user_id, key) DO NOTHING
                 RETURNING id, user_id, created_at
             ), mailed AS (
                 INSERT INTO notification_mails (notification_id)
                 SELECT told.id FROM told JOIN wanted USING (user_id) WHERE wanted.email
             )
             SELECT told.id, wanted.webhook, told.created_at FROM told JOIN wanted USING (user_id)",
        )
        .bind(principals)
        .bind(defaults.in_app)
        .bind(defaults.email)
        .bind(notice.topic.as_str())
        .bind(&notice.title)
        .bind(&notice.body)
        .bind(item_kind)
        .bind(item_id)
        .bind(&notice.key)
        .fetch_all(&mut *connection)
        .await?;
        for (id, webhook, created_at) in &told {
            let Some(endpoint) = webhook else { continue };
            let body = notice.webhook_body(*id, *created_at);
            let event_type = format!("notification.{}", notice.topic.as_str());
            match Webhooks::enqueue_in(connection, *endpoint, &id.to_string(), &event_type, &body).await {
                Ok(_) => {}
                Err(WebhookError::Database(error)) => return Err(error),
                // Deleted since it was chosen (the choice is then cleared too).
                Err(error) => {
                    tracing::warn!(notification = %id, %error, "a notification's webhook was not called")
                }
            }
        }
        Ok(told.len() as u64)
    }

    /// A person's notifications shown in the product, newest first: at most `first`,
    /// older than `before` when given.
    pub async fn notifications(
        &self,
        user: Uuid,
        unread_only: bool,
        first: i64,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<Notification>, IdentityError> {
        let rows = sqlx::query(
            "SELECT id, topic, title, body, item_kind, item_id, created_at, read_at FROM notifications
              WHERE user_id = $1 AND shown AND (NOT $2 OR read_at IS NULL)
                AND ($3::timestamptz IS NULL OR created_at < $3)
              ORDER BY created_at DESC, id LIMIT $4",
        )
        .bind(user)
        .bind(unread_only)
        .bind(before)
        .bind(first.clamp(0, 500))
        .fetch_all(&self.pool)
        .await
        .doing("reading notifications")?;
        rows.into_iter().map(notification).collect()
    }

    /// A person's notifications shown in the product made after `after`, oldest first: what
    /// a live subscription hands on next.
    pub async fn notifications_after(
        &self,
        user: Uuid,
        after: DateTime<Utc>,
    ) -> Result<Vec<Notification>, IdentityError> {
        let rows = sqlx::query(
            "SELECT id, topic, title, body, item_kind, item_id, created_at, read_at FROM notifications
              WHERE user_id = $1 AND shown AND created_at > $2 ORDER BY created_at, id LIMIT 500",
        )
        .bind(user)
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .doing("reading notifications")?;
        rows.into_iter().map(notification).collect()
    }

    pub async fn unread_notifications(&self, user: Uuid) -> Result<i64, IdentityError> {
        sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND shown AND read_at IS NULL",
        )
        .bind(user)
        .fetch_one(&self.pool)
        .await
        .doing("counting notifications")
    }

    /// Marks a person's notifications read: those named, or all of them. Another
    /// person's ids are ignored. Returns how many changed.
    pub async fn mark_notifications_read(
        &self,
        user: Uuid,
        ids: Option<&[Uuid]>,
    ) -> Result<u64, IdentityError> {
        let done = sqlx::query(
            "UPDATE notifications SET read_at = now()
              WHERE user_id = $1 AND read_at IS NULL AND ($2::uuid[] IS NULL OR id = ANY($2))",
        )
        .bind(user)
        .bind(ids)
        .execute(&self.pool)
        .await
        .doing("marking notifications read")?;
        Ok(done.rows_affected())
    }

    /// The channels a person wants for each topic, their defaults where they chose none.
    pub async fn notification_channels(&self, user: Uuid) -> Result<Vec<(Topic, Channels)>, IdentityError> {
        let rows = sqlx::query(
            "SELECT topic, in_app, email, webhook FROM notification_preferences WHERE user_id = $1",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .doing("reading notification preferences")?;
        Ok(Topic::ALL
            .into_iter()
            .map(|topic| {
                let chosen = rows
                    .iter()
                    .find(|row| row.get::<&str, _>("topic") == topic.as_str());
                let channels = chosen.map_or(topic.default_channels(), |row| Channels {
                    in_app: row.get("in_app"),
                    email: row.get("email"),
                    webhook: row.get("webhook"),
                });
                (topic, channels)
            })
            .collect())
    }

    pub async fn set_notification_channels(
        &self,
        user: Uuid,
        topic: Topic,
        channels: Channels,
    ) -> Result<(), IdentityError> {
        sqlx::query(
            "INSERT INTO notification_preferences (user_id, topic, in_app, email, webhook)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, topic) DO UPDATE
                 SET in_app = EXCLUDED.in_app, email = EXCLUDED.email, webhook = EXCLUDED.webhook",
        )
        .bind(user)
        .bind(topic.as_str())
        .bind(channels.in_app)
        .bind(channels.email)
        .bind(channels.webhook)
        .execute(&self.pool)
        .await
        .doing("saving notification preferences")?;
        Ok(())
    }

    /// Sends the mails that are due, a batch at a time; safe to run in several processes
    /// (each mail is claimed by one). Returns how many the SMTP server took. Without SMTP
    /// settings, mails wait.
    pub async fn send_notification_mails(&self) -> Result<usize, IdentityError> {
        let Some(mailer) = &self.mailer else {
            return Ok(0);
        };
        let due = sqlx::query(
            "UPDATE notification_mails mail
                SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
               FROM (SELECT notification_id FROM notification_mails
                      WHERE sent_at IS NULL AND next_attempt_at <= now() AND attempts < $2
                      ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED) claimed,
                    notifications, users
              WHERE mail.notification_id = claimed.notification_id
                AND notifications.id = mail.notification_id AND users.id = notifications.user_id
          RETURNING mail.notification_id, mail.attempts, notifications.title, notifications.body, users.email",
        )
        .bind(MAIL_LEASE.as_secs_f64())
        .bind(MAIL_ATTEMPTS)
        .fetch_all(&self.pool)
        .await
        .doing("claiming notification mails")?;
        let mut sent = 0;
        for row in due {
            let id: Uuid = row.get("notification_id");
            let attempts: i32 = row.get("attempts");
            let outcome = match Email::parse(row.get("email")) {
                Ok(to) => {
                    let title: String = row.get("title");
                    let body: String = row.get("body");
                    let message_id = format!("<notification-{id}@maestro>");
                    mailer
                        .send(&to, &format!("Maestro: {title}"), body, Some(message_id))
                        .await
                }
                Err(error) => Err(error.to_string()),
            };
            let (sent_at, error) = match outcome {
                Ok(()) => (Some(Utc::now()), None),
                Err(error) => {
                    tracing::warn!(notification = %id, attempts, %error, "a notification mail was not sent; trying again later");
                    (None, Some(error))
                }
            };
            sqlx::query(
                "UPDATE notification_mails SET sent_at = $2, last_error = $3,
                        next_attempt_at = now() + make_interval(secs => $4)
                  WHERE notification_id = $1",
            )
            .bind(id)
            .bind(sent_at)
            .bind(&error)
            .bind(mail_retry_after(attempts).as_secs_f64())
            .execute(&self.pool)
            .await
            .doing("recording a notification mail")?;
            sent += usize::from(sent_at.is_some());
        }
        Ok(sent)
    }

    /// Sends notification mails as they come due, for as long as the process lives.
    pub async fn send_notification_mails_forever(&self, every: Duration) -> Result<(), IdentityError> {
        if self.mailer.is_none() {
            tracing::warn!("SMTP_HOST is not set: notification mails wait until it is");
        }
        loop {
            self.send_notification_mails().await?;
            tokio::time::sleep(every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_retries_back_off_to_an_hour_and_last_about_two_days() {
        let waits: Vec<Duration> = (1..=MAIL_ATTEMPTS).map(mail_retry_after).collect();
        assert_eq!(waits[0], Duration::from_secs(30));
        assert!(waits.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(*waits.last().unwrap(), Duration::from_secs(3600));
        let total: Duration = waits.iter().sum();
        assert!(total > Duration::from_secs(36 * 3600), "{total:?}");
    }

    #[test]
    fn topics_parse_back_from_their_names() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.as_str()).unwrap(), topic);
        }
        assert!(Topic::parse("everything")
            .unwrap_err()
            .to_string()
            .contains("crawl_failed"));
    }
}
