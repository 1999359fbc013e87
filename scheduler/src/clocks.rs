//! The scheduler's bookkeeping (`schedule_clocks`, `schedule_runs`): when each schedule
//! is next due and how its runs went. Schedules are items; their clocks follow them.

use chrono::{DateTime, Utc};
use domain::schedule::{Schedule, When};
use domain::{Item, Kind};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::{Doing, SchedulerError};

pub(crate) const CLOCKS_TABLE: &str = "schedule_clocks";

/// A schedule's clock as people see it beside the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub next_due: Option<DateTime<Utc>>,
    pub run_count: i64,
    pub consecutive_failures: i32,
    pub last_run: Option<Run>,
    pub disabled_reason: Option<String>,
}

/// One firing of a schedule and how its job went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub job: Uuid,
    pub due_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `SUCCEEDED` or `FAILED` once it ended.
    pub outcome: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone)]
pub struct Clocks {
    pool: PgPool,
}

impl Clocks {
    pub fn new(pool: PgPool) -> Clocks {
        Clocks { pool }
    }

    /// Sets the clock of every schedule changed since its clock was set: new ones start,
    /// changed ones count on from their last firing, disabled and deleted ones stop.
    pub async fn catch_up(&self) -> Result<usize, SchedulerError> {
        let changed = projections::changes::out_of_step(&self.pool, Kind::Schedule, CLOCKS_TABLE).await?;
        let now = Utc::now();
        for changed in &changed {
            self.set(&changed.item, now).await?;
        }
        Ok(changed.len())
    }

    async fn set(&self, item: &Item, now: DateTime<Utc>) -> Result<(), SchedulerError> {
        let fields = serde_json::to_value(&item.fields).unwrap_or(Value::Null);
        let current = sqlx::query("SELECT last_due, next_due FROM schedule_clocks WHERE id = $1")
            .bind(item.id)
            .fetch_optional(&self.pool)
            .await
            .doing("reading a schedule's clock")?;
        let (last_due, pending): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            current.map_or((None, None), |row| (row.get(0), row.get(1)));
        let next_due = match Schedule::from_fields(item.id, &item.fields) {
            Ok(schedule) if item.is_active() && schedule.enabled => match schedule.when {
                // A chained schedule's next run is set by its predecessor's success.
                When::Chained => pending,
                _ => schedule.next_due(last_due, now),
            },
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(schedule = %item.id, %error, "a schedule cannot run");
                None
            }
        };
        let enabled = item
            .fields
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        sqlx::query(
            "INSERT INTO schedule_clocks (id, version, fields, next_due) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, fields = EXCLUDED.fields,
                    next_due = EXCLUDED.next_due,
                    disabled_reason = CASE WHEN $5 THEN NULL ELSE schedule_clocks.disabled_reason END
              WHERE schedule_clocks.version < EXCLUDED.version",
        )
        .bind(item.id)
        .bind(item.version)
        .bind(fields)
        .bind(next_due)
        .bind(enabled)
        .execute(&self.pool)
        .await
        .doing("setting a schedule's clock")?;
        Ok(())
    }

    /// The clock of schedule `id`, once the scheduler has seen it.
    pub async fn get(&self, id: Uuid) -> Result<Option<Clock>, SchedulerError> {
        let Some(row) = sqlx::query(
            "SELECT next_due, run_count, consecutive_failures, disabled_reason FROM schedule_clocks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .doing("reading a schedule's clock")?
        else {
            return Ok(None);
        };
        Ok(Some(Clock {
            next_due: row.get("next_due"),
            run_count: row.get("run_count"),
            consecutive_failures: row.get("consecutive_failures"),
            disabled_reason: row.get("disabled_reason"),
            last_run: self.runs(id, 1).await?.into_iter().next(),
        }))
    }

    /// The last `limit` runs of schedule `id`, newest first.
    pub async fn runs(&self, id: Uuid, limit: i64) -> Result<Vec<Run>, SchedulerError> {
        let rows = sqlx::query(
            "SELECT job_id, due_at, started_at, ended_at, outcome, message FROM schedule_runs
              WHERE schedule_id = $1 ORDER BY due_at DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit.clamp(0, 500))
        .fetch_all(&self.pool)
        .await
        .doing("reading a schedule's runs")?;
        Ok(rows
            .into_iter()
            .map(|row| Run {
                job: row.get("job_id"),
                due_at: row.get("due_at"),
                started_at: row.get("started_at"),
                ended_at: row.get("ended_at"),
                outcome: row.get("outcome"),
                message: row.get("message"),
            })
            .collect())
    }
}
