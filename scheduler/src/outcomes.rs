//! How runs end: every crawl job's end, from the job updates the crawlers publish, and
//! every webhook call's, once it is queued. A
//! scheduled run's end moves its schedule's counts, starts the schedules chained after
//! it, and disables a schedule that failed too often; every end is told to the people
//! behind the schedule or, for a crawl someone started, behind its connection.

use chrono::{DateTime, Duration, Utc};
use commands::CommandRequest;
use crawlers::{JobState, JobUpdate};
use domain::schedule::Schedule;
use domain::{Access, ActorKind, Command, Fields, Item, Kind, Level, Metadata};
use identity::{Identity, Notice, Topic};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

use crate::error::{Doing, SchedulerError};
use crate::Scheduler;

/// How a scheduled run ended, whatever it ran.
pub(crate) struct RunEnd {
    pub job: Uuid,
    pub succeeded: bool,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// The durable consumer of job updates that the scheduler processes share.
const DURABLE: &str = "scheduler";
/// Who the scheduler's own changes name in history.
pub(crate) const ACTOR: &str = "scheduler";

impl Scheduler {
    pub(crate) async fn follow_outcomes(&self) -> Result<(), SchedulerError> {
        self.queue
            .updates()
            .handle_each(DURABLE, |update| async move {
                self.outcome(&update).await.map_err(|error| error.to_string())
            })
            .await?;
        Ok(())
    }

    async fn outcome(&self, update: &JobUpdate) -> Result<(), SchedulerError> {
        match update.state {
            JobState::Queued => Ok(()),
            JobState::Running => {
                sqlx::query(
                    "UPDATE schedule_runs SET started_at = $2 WHERE job_id = $1 AND started_at IS NULL",
                )
                .bind(update.job)
                .bind(update.at)
                .execute(&self.pool)
                .await
                .doing("recording a run's start")?;
                Ok(())
            }
            JobState::Succeeded | JobState::Failed => self.ended(update).await,
        }
    }

    async fn ended(&self, update: &JobUpdate) -> Result<(), SchedulerError> {
        let end = RunEnd {
            job: update.job,
            succeeded: update.state == JobState::Succeeded,
            message: update.error.clone().unwrap_or_else(|| update.total.to_string()),
            at: update.at,
        };
        match self.run_ended(&end).await? {
            true => Ok(()),
            // A crawl someone started is told to its connection's people.
            false => self.tell_about_crawl(update, &end.message).await,
        }
    }

    /// Records how a scheduled run ended: the schedule's counts, the schedules chained
    /// after it, its people told, and the schedule disabled when it failed too often.
    /// Returns false when `end.job` is no scheduled run.
    pub(crate) async fn run_ended(&self, end: &RunEnd) -> Result<bool, SchedulerError> {
        let succeeded = end.succeeded;
        let outcome = if succeeded { "SUCCEEDED" } else { "FAILED" };
        let message = &end.message;
        let mut transaction = self.pool.begin().await.doing("recording a run's end")?;
        let run = sqlx::query(
            "UPDATE schedule_runs SET ended_at = $2, outcome = $3, message = $4,
                    started_at = COALESCE(started_at, $2)
              WHERE job_id = $1 AND ended_at IS NULL RETURNING schedule_id, started_at",
        )
        .bind(end.job)
        .bind(end.at)
        .bind(outcome)
        .bind(message)
        .fetch_optional(&mut *transaction)
        .await
        .doing("recording a run's end")?;
        let Some(run) = run else {
            // A scheduled run told twice was handled the first time.
            return sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM schedule_runs WHERE job_id = $1)")
                .bind(end.job)
                .fetch_one(&mut *transaction)
                .await
                .doing("looking up a run");
        };
        let (schedule_id, started_at): (Uuid, DateTime<Utc>) = (run.get(0), run.get(1));
        let failures: Option<i32> = sqlx::query_scalar(
            "UPDATE schedule_clocks SET run_count = run_count + 1, last_started = $2, last_ended = $3,
                    last_outcome = $4, last_message = $5,
                    consecutive_failures = CASE WHEN $6 THEN 0 ELSE consecutive_failures + 1 END
              WHERE id = $1 RETURNING consecutive_failures",
        )
        .bind(schedule_id)
        .bind(started_at)
        .bind(end.at)
        .bind(outcome)
        .bind(message)
        .bind(succeeded)
        .fetch_optional(&mut *transaction)
        .await
        .doing("counting a schedule's runs")?;
        // The notice and the chained schedules' start are written in the same transaction
        // as the run's end: a scheduler that dies in between leaves all three undone, and
        // the job update, not yet acknowledged, comes again.
        let schedule = self.handler.load(Kind::Schedule, schedule_id, None).await?.item;
        let name = display_name(&schedule);
        let failures = failures.unwrap_or_default();
        let notice = match succeeded {
            true => Notice {
                topic: Topic::ScheduledRunSucceeded,
                title: format!("Schedule {name} ran"),
                body: format!("Its run {} ended well: {message}.", end.job),
                item: Some((Kind::Schedule.stream_type().to_string(), schedule_id)),
                key: format!("job/{}/ended", end.job),
            },
            false => Notice {
                topic: Topic::CrawlFailed,
                title: format!("Schedule {name} failed"),
                body: format!(
                    "Its run {} failed ({failures} failure(s) in a row): {message}",
                    end.job
                ),
                item: Some((Kind::Schedule.stream_type().to_string(), schedule_id)),
                key: format!("job/{}/ended", end.job),
            },
        };
        Identity::notify_in(
            &mut transaction,
            &domain::holders(&schedule.acl, Level::Write),
            &notice,
        )
        .await
        .doing("telling a run's end")?;
        if succeeded {
            self.start_chained(&mut transaction, schedule_id, end.at).await?;
        }
        transaction.commit().await.doing("recording a run's end")?;
        if succeeded {
            return Ok(true);
        }
        let max_failures = Schedule::from_fields(schedule_id, &schedule.fields)
            .map(|read| read.max_failures)
            .unwrap_or(domain::schedule::DEFAULT_MAX_FAILURES);
        let enabled = schedule
            .fields
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if schedule.is_active() && enabled && failures as u64 >= max_failures {
            self.disable(&schedule, &name, failures, message, end.job).await?;
        }
        Ok(true)
    }

    /// Stops a schedule that failed `failures` times in a row, as a change in its history
    /// made by the scheduler, and tells its people why.
    async fn disable(
        &self,
        schedule: &Item,
        name: &str,
        failures: i32,
        message: &str,
        job: Uuid,
    ) -> Result<(), SchedulerError> {
        let reason = format!("disabled after {failures} failed runs in a row; the last one: {message}");
        let disable = Fields::parse(
            Kind::Schedule,
            json!({"enabled": false}).as_object().expect("an object"),
        )
        .map_err(|error| SchedulerError::Unreadable(schedule.id, error))?;
        self.handler
            .execute(&CommandRequest {
                kind: Kind::Schedule,
                id: schedule.id,
                command: Command::Update(disable),
                expected_version: None,
                idempotency_key: None,
                metadata: Metadata {
                    causation_id: Some(job),
                    ..Metadata::new(ACTOR, ActorKind::Scheduler)
                },
                access: Access::Unrestricted,
            })
            .await?;
        sqlx::query("UPDATE schedule_clocks SET disabled_reason = $2, next_due = NULL WHERE id = $1")
            .bind(schedule.id)
            .bind(&reason)
            .execute(&self.pool)
            .await
            .doing("recording why a schedule stopped")?;
        tracing::warn!(schedule = %schedule.id, reason, "schedule disabled");
        let notice = Notice {
            topic: Topic::ScheduleDisabled,
            title: format!("Schedule {name} was disabled"),
            body: format!("The scheduler {reason}. Fix the cause, then enable the schedule again."),
            item: Some((Kind::Schedule.stream_type().to_string(), schedule.id)),
            key: format!("job/{job}/disabled"),
        };
        self.tell(schedule, &notice).await
    }

    /// Sets the schedules chained after `schedule` due their countdown after `succeeded_at`,
    /// in the caller's transaction.
    async fn start_chained(
        &self,
        transaction: &mut sqlx::PgConnection,
        schedule: Uuid,
        succeeded_at: DateTime<Utc>,
    ) -> Result<(), SchedulerError> {
        for chained in projections::changes::chained_after(&self.pool, schedule).await? {
            let Ok(read) = Schedule::from_fields(chained.id, &chained.fields) else {
                continue;
            };
            let countdown = read.after.map_or(Duration::zero(), |(_, countdown)| countdown);
            if !read.enabled {
                continue;
            }
            sqlx::query("UPDATE schedule_clocks SET next_due = $2 WHERE id = $1")
                .bind(chained.id)
                .bind(succeeded_at + countdown)
                .execute(&mut *transaction)
                .await
                .doing("starting a chained schedule")?;
        }
        Ok(())
    }

    /// Tells the end of a crawl someone started to the people behind its connection.
    async fn tell_about_crawl(&self, update: &JobUpdate, message: &str) -> Result<(), SchedulerError> {
        let connection = match self.handler.load(Kind::Connection, update.connection, None).await {
            Ok(loaded) => loaded.item,
            // A job of a connection that does not exist tells no one.
            Err(commands::CommandError::Rejected(_)) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let name = display_name(&connection);
        let (topic, title) = match update.state {
            JobState::Succeeded => (Topic::CrawlSucceeded, format!("Crawl of {name} done")),
            _ => (Topic::CrawlFailed, format!("Crawl of {name} failed")),
        };
        let notice = Notice {
            topic,
            title,
            body: format!("Crawl job {}: {message}", update.job),
            item: Some((Kind::Connection.stream_type().to_string(), connection.id)),
            key: format!("job/{}/ended", update.job),
        };
        self.tell(&connection, &notice).await
    }

    /// Tells the people who may change `item`: its writers and admins, and the members of
    /// teams among them.
    async fn tell(&self, item: &Item, notice: &Notice) -> Result<(), SchedulerError> {
        let owners = domain::holders(&item.acl, Level::Write);
        self.identity.notify(&owners, notice).await?;
        Ok(())
    }
}

fn display_name(item: &Item) -> String {
    item.fields
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| item.id.to_string(), |name| format!("`{name}`"))
}
