//! The `scheduler` role. Schedules are items; this role keeps their clocks, queues each
//! due firing as a crawl job or a webhook call, follows how the jobs end, disables a schedule that keeps
//! failing, gives every connection its discovery schedules, and tells the people behind
//! an item what happened.
//!
//! Any number of processes may run it: a due schedule is claimed in Postgres with
//! `FOR UPDATE SKIP LOCKED`, and its job is queued under an id made of the schedule and
//! the due time, which JetStream uses as `Nats-Msg-Id`, so a firing retried after a crash
//! is dropped as a duplicate.

mod clocks;
mod defaults;
mod error;
mod firing;
mod outcomes;
mod rules;

use std::time::Duration;

use commands::CommandHandler;
use crawlers::JobQueue;
use identity::Identity;
use sqlx::PgPool;

pub use clocks::{Clock, Clocks, Run};
pub use defaults::discovery_schedule_id;
pub use error::SchedulerError;
pub use firing::job_id;
pub use rules::Rules;

/// How often the scheduler looks for due schedules, changed schedules and new
/// connections when nothing else wakes it.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Scheduler {
    pool: PgPool,
    handler: CommandHandler,
    queue: JobQueue,
    identity: Identity,
    tick: Duration,
    provided: defaults::Provided,
}

impl Scheduler {
    pub fn new(pool: PgPool, handler: CommandHandler, queue: JobQueue, identity: Identity) -> Scheduler {
        Scheduler {
            pool,
            handler,
            queue,
            identity,
            tick: DEFAULT_TICK,
            provided: defaults::Provided::default(),
        }
    }

    /// The same scheduler looking this often (tests use a tenth of a second).
    pub fn with_tick(self, tick: Duration) -> Scheduler {
        Scheduler { tick, ..self }
    }

    pub fn clocks(&self) -> Clocks {
        Clocks::new(self.pool.clone())
    }

    /// Runs the role until an error stops it: clocks and firings every tick, discovery
    /// schedules for new connections, and job outcomes as they come.
    pub async fn run(&self) -> Result<(), SchedulerError> {
        let keep_time = async {
            loop {
                self.step().await?;
                tokio::time::sleep(self.tick).await;
            }
        };
        tokio::select! {
            result = keep_time => result,
            result = self.follow_outcomes() => result,
        }
    }

    /// One round: discovery schedules for connections that lack them (and none for those
    /// that are gone), clocks set from
    /// changed schedules, and every due firing queued. Returns how many jobs it queued.
    pub async fn step(&self) -> Result<usize, SchedulerError> {
        self.provision_discovery_schedules().await?;
        self.retire_discovery_schedules().await?;
        self.clocks().catch_up().await?;
        let mut queued = 0;
        loop {
            let fired = self.fire_due().await?;
            queued += fired.queued;
            if !fired.more {
                return Ok(queued);
            }
        }
    }
}
