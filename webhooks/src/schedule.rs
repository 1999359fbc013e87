//! How a worker delivers: concurrency, timeouts, the retry schedule, and when an
//! endpoint that keeps failing is disabled.

use std::time::Duration;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;

/// How many deliveries a worker holds claimed ahead of sending, per request it may have
/// in flight: one claim's round trip then feeds many requests, so that at a high rate
/// the requests never wait for Postgres.
pub(crate) const CLAIMED_AHEAD_PER_REQUEST: usize = 4;

/// A worker's settings. The defaults suit production; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// The waits before each retry, after the first attempt fails. A delivery whose last
    /// retry fails is `failed`. Default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 10 h,
    /// 37.6 h in all (at least 30 h with the jitter), so a receiver down for a day still
    /// gets its deliveries.
    pub retry_delays: Vec<Duration>,
    /// Each wait is moved at random by up to this fraction either way (default 0.2), so
    /// that deliveries that failed together (a receiver down) do not all retry together.
    pub jitter: f64,
    /// Requests in flight at once per worker (default 32).
    pub max_in_flight: usize,
    /// The longest a request may take, from connecting to the end of the answer
    /// (default 10 s); a slower receiver's attempt fails.
    pub request_timeout: Duration,
    /// How often a worker looks for due deliveries when no notification woke it
    /// (default 5 s); enqueueing notifies workers, so this is only the fallback.
    pub poll_interval: Duration,
    /// An endpoint is disabled when this many attempts in a row have failed (default 15)…
    pub disable_after_failures: u32,
    /// …and the first of them is at least this old (default 1 day): a burst of events
    /// during a short outage does not disable a receiver, and one that stays down is not
    /// retried forever. Its deliveries wait until it is enabled again.
    pub disable_after_failing_for: Duration,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        DeliverySettings {
            retry_delays: [
                5,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
            jitter: 0.2,
            max_in_flight: 32,
            request_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(5),
            disable_after_failures: 15,
            disable_after_failing_for: Duration::from_secs(24 * HOUR),
        }
    }
}

impl DeliverySettings {
    /// The wait before the next attempt after `failed` attempts of the current round
    /// (at least 1) failed, with jitter; `None` when the schedule is exhausted.
    pub(crate) fn retry_after(&self, failed: u32) -> Option<Duration> {
        let base = *self
            .retry_delays
            .get(usize::try_from(failed).ok()?.checked_sub(1)?)?;
        Some(jittered(base, self.jitter, random_unit()))
    }

    /// How long a worker's claim on a delivery lasts: past it, a worker that died
    /// mid-request no longer holds the delivery and another one sends it. A claimed
    /// delivery may first wait for the requests claimed before it, each up to the
    /// request timeout.
    pub(crate) fn lease(&self) -> Duration {
        let rounds = u32::try_from(CLAIMED_AHEAD_PER_REQUEST + 1).unwrap_or(u32::MAX);
        self.request_timeout
            .saturating_mul(rounds)
            .saturating_add(Duration::from_secs(30))
    }
}

/// `base` moved by up to `jitter` (clamped to 0..=1) of itself either way; `unit` in
/// [0, 1) picks where.
fn jittered(base: Duration, jitter: f64, unit: f64) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let factor = 1.0 - jitter + 2.0 * jitter * unit;
    base.mul_f64(factor)
}

/// A uniform random number in [0, 1), from the operating system's randomness.
fn random_unit() -> f64 {
    (OsRng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_default_schedule_grows_and_lasts_more_than_a_day_even_with_jitter() {
        let settings = DeliverySettings::default();
        let delays = &settings.retry_delays;
        assert!(delays.windows(2).all(|pair| pair[0] <= pair[1]), "{delays:?}");
        let shortest: Duration = delays.iter().map(|d| jittered(*d, settings.jitter, 0.0)).sum();
        assert!(shortest >= Duration::from_secs(24 * 3600), "{shortest:?}");
    }

    #[test]
    fn the_schedule_ends() {
        let settings = DeliverySettings::default();
        assert!(settings.retry_after(0).is_none());
        assert!(settings.retry_after(1).is_some());
        assert!(settings.retry_after(settings.retry_delays.len() as u32).is_some());
        assert!(settings
            .retry_after(settings.retry_delays.len() as u32 + 1)
            .is_none());
        assert!(settings.retry_after(u32::MAX).is_none());
    }

    proptest! {
        #[test]
        fn jitter_stays_within_its_bounds(failed in 1u32..=8, unit in 0.0f64..1.0, jitter in 0.0f64..=1.0) {
            let settings = DeliverySettings { jitter, ..DeliverySettings::default() };
            let base = settings.retry_delays[failed as usize - 1];
            let delay = jittered(base, jitter, unit);
            prop_assert!(delay >= base.mul_f64(1.0 - jitter) && delay <= base.mul_f64(1.0 + jitter));
            let drawn = settings.retry_after(failed).unwrap();
            prop_assert!(drawn >= base.mul_f64(1.0 - jitter) && drawn <= base.mul_f64(1.0 + jitter));
        }

        #[test]
        fn wild_jitter_settings_never_panic(jitter in proptest::num::f64::ANY, unit in proptest::num::f64::ANY) {
            let delay = jittered(Duration::from_secs(10), jitter, unit);
            prop_assert!(delay <= Duration::from_secs(20));
        }
    }
}
