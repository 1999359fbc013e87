//! Where a crawl stands. [`Crawler::run`](crate::Crawler::run) tells it before and after
//! each step (one task in one region); `maestro crawl` draws it as a progress bar and
//! crawl jobs publish it, so the terminal and GraphQL show the same thing.

use std::fmt;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// What a crawl changed, in numbers only: cheap to send after every step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub discovered: usize,
    pub updated: usize,
    pub orphaned: usize,
    pub unchanged: usize,
    /// Items Maestro could not take, and regions where the provider failed.
    pub errors: usize,
    /// Steps where the provider failed: nothing was reconciled there.
    pub failed: usize,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.discovered += other.discovered;
        self.updated += other.updated;
        self.orphaned += other.orphaned;
        self.unchanged += other.unchanged;
        self.errors += other.errors;
        self.failed += other.failed;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "discovered {} / updated {} / orphaned {} / unchanged {} / errors {}",
            self.discovered, self.updated, self.orphaned, self.unchanged, self.errors
        )
    }
}

/// One step starting or ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    pub task: &'a str,
    pub region: &'a str,
    /// Steps ended so far, this one included once it has ended.
    pub done: usize,
    /// Every step of the crawl: its tasks times its regions.
    pub steps: usize,
    /// What this step changed; `None` while it runs.
    pub step: Option<Counts>,
    /// What the crawl changed so far.
    pub total: Counts,
}

impl fmt::Display for Progress<'_> {
    /// e.g. `server-list in eu-west-1 (3/18): discovered 120 / …`, with the running totals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} ({}/{}): {}",
            self.task, self.region, self.done, self.steps, self.total
        )
    }
}
