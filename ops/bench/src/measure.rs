//! The two ways benchmarks drive load, and the statistics they report.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// Runs `workers` copies of `op` back to back until `duration` is over, the way
/// pgbench's clients do (a closed loop), and returns the units of work done per second
/// of wall time. `op` gets its worker's number and returns how many units it did (1
/// command, 100 events, …).
pub async fn closed_loop<F, Fut>(workers: usize, duration: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..workers {
        let op = op.clone();
        tasks.spawn(async move {
            let mut done = 0;
            while Instant::now() < deadline {
                done += op(worker).await?;
            }
            anyhow::Ok(done)
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Starts `op(n)` `rate` times a second for `duration` (an open loop). Each runs in a task
/// of its own, so a slow one does not delay the next start and its delay shows in the
/// latencies instead of being hidden (no coordinated omission). Returns the outputs in
/// start order, and the rate actually reached.
pub async fn open_loop<F, Fut, T>(rate: u32, duration: Duration, op: F) -> anyhow::Result<(Vec<T>, f64)>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let count = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    // Ticks missed by timer granularity are made up at once, keeping the mean rate.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count as usize);
    for n in 0..count {
        ticks.tick().await;
        tasks.push(tokio::spawn(op(n)));
    }
    let reached = count as f64 / started.elapsed().as_secs_f64();
    let mut outputs = Vec::with_capacity(tasks.len());
    for task in tasks {
        outputs.push(task.await??);
    }
    Ok((outputs, reached))
}

/// Runs `future` and returns its output with how long it took.
pub async fn timed<T>(future: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let output = future.await;
    (output, started.elapsed())
}

/// A sorted set of latencies.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        Latencies(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The nearest-rank percentile, `p` in 0..=100.
    pub fn percentile(&self, p: f64) -> Duration {
        assert!(!self.0.is_empty(), "no latencies were measured");
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies = Latencies::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(latencies.percentile(50.0), Duration::from_millis(50));
        assert_eq!(latencies.percentile(99.0), Duration::from_millis(99));
        assert_eq!(latencies.percentile(0.0), Duration::from_millis(1));
        assert_eq!(latencies.percentile(100.0), Duration::from_millis(100));
    }
}
