//! Firing: every due schedule claimed by one scheduler, its job (a crawl, or a webhook
//! call) queued, its clock moved on. A firing found long after it came due was missed (no scheduler ran then): it runs
//! once, or not at all when the schedule says `skip`; the firings missed in between
//! never each run.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use crawlers::Job;
use domain::schedule::{Action, Missed, Schedule};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

use crate::error::{Doing, SchedulerError};
use crate::outcomes::RunEnd;
use crate::Scheduler;
use webhooks::Webhooks;

/// A firing found this long after it came due counts as missed.
const GRACE: Duration = Duration::seconds(30);
/// Schedules claimed at once: one transaction each, so a batch bounds how long another
/// scheduler waits for what this one holds.
const BATCH: i64 = 500;
/// Jobs being queued at once: JetStream answers each publish, so they go out together.
const PUBLISHING: usize = 64;

/// Names the jobs of schedules' firings.
const FIRINGS: Uuid = Uuid::from_u128(0x6d61_6573_7472_6f2d_7363_6865_6475_6c65);

/// The job of schedule `schedule`'s firing due at `due`: the same for every scheduler
/// that claims the firing, so that JetStream drops a second publish of it.
pub fn job_id(schedule: Uuid, due: DateTime<Utc>) -> Uuid {
    let firing = format!("{schedule}@{}", due.to_rfc3339_opts(SecondsFormat::Micros, true));
    Uuid::new_v5(&FIRINGS, firing.as_bytes())
}

pub(crate) struct Fired {
    pub queued: usize,
    /// A full batch was claimed: more may be due.
    pub more: bool,
}

impl Scheduler {
    pub(crate) async fn fire_due(&self) -> Result<Fired, SchedulerError> {
        let mut transaction = self.pool.begin().await.doing("starting to fire schedules")?;
        let due = sqlx::query(
            "SELECT id, fields, next_due FROM schedule_clocks WHERE next_due <= now()
              ORDER BY next_due LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *transaction)
        .await
        .doing("claiming due schedules")?;
        let now = Utc::now();
        let (mut ids, mut lasts, mut nexts) = (vec![], vec![], vec![]);
        let (mut jobs, mut run_jobs, mut run_schedules, mut run_dues) = (vec![], vec![], vec![], vec![]);
        let mut calls = vec![];
        for row in &due {
            let (id, fields, due_at): (Uuid, Value, DateTime<Utc>) = (row.get(0), row.get(1), row.get(2));
            ids.push(id);
            lasts.push(due_at);
            let fields: BTreeMap<String, Value> = serde_json::from_value(fields).unwrap_or_default();
            let schedule = match Schedule::from_fields(id, &fields) {
                Ok(schedule) => schedule,
                Err(error) => {
                    tracing::warn!(schedule = %id, %error, "a schedule cannot run; it stops until changed");
                    nexts.push(None);
                    continue;
                }
            };
            nexts.push(schedule.next_due(Some(due_at), now));
            if now - due_at > GRACE && schedule.missed == Missed::Skip {
                tracing::info!(schedule = %id, due = %due_at, "skipping a missed run, as the schedule says");
                continue;
            }
            let run = job_id(id, due_at);
            run_jobs.push(run);
            run_schedules.push(id);
            run_dues.push(due_at);
            match schedule.action {
                Action::Crawl {
                    connection,
                    task,
                    region,
                } => jobs.push(Job {
                    id: run,
                    connection,
                    task,
                    region,
                }),
                Action::Webhook { endpoint } => calls.push(Call {
                    run,
                    schedule: id,
                    endpoint,
                    due: due_at,
                    name: fields.get("name").cloned(),
                }),
            }
        }
        sqlx::query(
            "UPDATE schedule_clocks SET last_due = fired.last_due, next_due = fired.next_due
               FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS fired (id, last_due, next_due)
              WHERE schedule_clocks.id = fired.id",
        )
        .bind(&ids)
        .bind(&lasts)
        .bind(&nexts)
        .execute(&mut *transaction)
        .await
        .doing("moving schedules' clocks on")?;
        // The record of each firing is what makes it run once: a firing another
        // scheduler already recorded is not queued again.
        let recorded: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO schedule_runs (job_id, schedule_id, due_at)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[])
             ON CONFLICT DO NOTHING RETURNING job_id",
        )
        .bind(&run_jobs)
        .bind(&run_schedules)
        .bind(&run_dues)
        .fetch_all(&mut *transaction)
        .await
        .doing("recording schedules' runs")?;
        let recorded: HashSet<Uuid> = recorded.into_iter().collect();
        let queued: Vec<Job> = jobs
            .into_iter()
            .filter(|job| recorded.contains(&job.id))
            .collect();
        let mut ends = Vec::new();
        for call in calls.into_iter().filter(|call| recorded.contains(&call.run)) {
            let failure = self.queue_call(&mut transaction, &call).await?.err();
            ends.push(RunEnd {
                job: call.run,
                succeeded: failure.is_none(),
                message: failure.unwrap_or_else(|| format!("call queued for webhook {}", call.endpoint)),
                at: Utc::now(),
            });
        }
        let count = queued.len() + ends.len();
        // Queued before the commit: a scheduler that dies in between leaves the firing
        // due, and the next one queues the same job id, which JetStream drops.
        futures::stream::iter(queued)
            .map(|job| {
                let queue = self.queue.clone();
                async move { queue.submit(&job).await }
            })
            .buffer_unordered(PUBLISHING)
            .try_collect::<Vec<()>>()
            .await?;
        transaction.commit().await.doing("committing fired schedules")?;
        // A scheduler that dies here leaves these runs without an end; their calls are
        // queued all the same.
        for end in &ends {
            self.run_ended(end).await?;
        }
        Ok(Fired {
            queued: count,
            more: due.len() as i64 == BATCH,
        })
    }
}

/// A webhook schedule's firing.
struct Call {
    run: Uuid,
    schedule: Uuid,
    endpoint: Uuid,
    due: DateTime<Utc>,
    name: Option<Value>,
}

impl Scheduler {
    /// Queues a webhook schedule's call in the firing's transaction, under the run's id,
    /// so a firing queued twice is one delivery. An endpoint that is gone fails the run
    /// (the `Err` message); Postgres failing fails the whole firing, which is tried again.
    async fn queue_call(
        &self,
        transaction: &mut sqlx::PgConnection,
        call: &Call,
    ) -> Result<Result<(), String>, SchedulerError> {
        let body = json!({
            "type": "schedule.fired",
            "schedule": {"id": call.schedule, "name": call.name},
            "run": call.run,
            "dueAt": call.due.to_rfc3339_opts(SecondsFormat::Micros, true),
        });
        let queued = Webhooks::enqueue_in(
            transaction,
            call.endpoint,
            &call.run.to_string(),
            "schedule.fired",
            &body,
        )
        .await;
        match queued {
            Ok(_) => Ok(Ok(())),
            Err(webhooks::WebhookError::Database(source)) => Err(SchedulerError::Database {
                doing: "queueing a webhook schedule's call",
                source,
            }),
            Err(error) => Ok(Err(error.to_string())),
        }
    }
}
