//! The retry delay after a retryable failure: exponential, capped, with "equal jitter".

use std::time::Duration;

/// `delay(n) = d/2 + uniform(0, d/2)` where `d = min(max, base * 2^(n-1))` and `n` is the number of attempts made
/// so far. Half of `d` is guaranteed (so a flapping dependency gets real rest); the random half spreads the retries
/// of jobs that failed together (an object-store outage) so they do not come back as one burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// 5 s, 10 s, 20 s, ... capped at 10 minutes (before jitter).
    fn default() -> Self {
        Backoff { base: Duration::from_secs(5), max: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The ceiling `d` for the retry after `attempts_made` attempts.
    pub fn ceiling(&self, attempts_made: u32) -> Duration {
        let doublings = attempts_made.saturating_sub(1).min(32);
        let ceiling = self.base.as_secs_f64() * 2f64.powi(doublings as i32);
        Duration::from_secs_f64(ceiling.min(self.max.as_secs_f64()))
    }

    /// A jittered delay in `[d/2, d]`.
    pub fn delay(&self, attempts_made: u32) -> Duration {
        let ceiling = self.ceiling(attempts_made).as_secs_f64();
        Duration::from_secs_f64(ceiling / 2.0 + fastrand::f64() * ceiling / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_within_jitter_bounds_and_caps() {
        let backoff = Backoff { base: Duration::from_secs(2), max: Duration::from_secs(20) };
        assert_eq!(backoff.ceiling(1), Duration::from_secs(2));
        assert_eq!(backoff.ceiling(2), Duration::from_secs(4));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(16));
        assert_eq!(backoff.ceiling(5), Duration::from_secs(20));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(20));
        for attempts_made in 1..8 {
            let ceiling = backoff.ceiling(attempts_made);
            for _ in 0..100 {
                let delay = backoff.delay(attempts_made);
                assert!(delay >= ceiling / 2 && delay <= ceiling, "{delay:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
            }
        }
    }
}
