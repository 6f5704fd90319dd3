//! What a failed attempt leads to, decided once in Rust ([`FailDecision::decide`]) and handed to each dialect's
//! single `fail` statement; and the retry delay: exponential, capped, with "equal jitter".

use std::time::Duration;

use rythmiq_types::ErrorKind;

/// Retry or dead-letter. The statement that records the failure only carries it out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FailDecision {
    /// Back to the queue, claimable after `delay`.
    Retry { delay: Duration },
    /// Finished for good, with the failure as the reason.
    DeadLetter,
}

impl FailDecision {
    /// A retryable kind with attempts left retries after [`Backoff::delay`] of the attempts made; a permanent kind,
    /// or the last allowed attempt, dead-letters. `attempt_no` is the failed attempt's number (1 for the first).
    pub fn decide(kind: ErrorKind, attempt_no: u32, max_attempts: u32, backoff: &Backoff) -> FailDecision {
        if kind.is_retryable() && attempt_no < max_attempts {
            FailDecision::Retry { delay: backoff.delay(attempt_no) }
        } else {
            FailDecision::DeadLetter
        }
    }
}

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
    fn retryable_kinds_retry_until_the_last_attempt_and_permanent_ones_never() {
        let backoff = Backoff { base: Duration::from_secs(2), max: Duration::from_secs(20) };
        for attempt_no in 1..5 {
            let FailDecision::Retry { delay } = FailDecision::decide(ErrorKind::Timeout, attempt_no, 5, &backoff)
            else {
                panic!("attempt {attempt_no} of 5 must retry")
            };
            let ceiling = backoff.ceiling(attempt_no);
            assert!(delay >= ceiling / 2 && delay <= ceiling, "{delay:?} outside the jitter of {ceiling:?}");
        }
        assert_eq!(FailDecision::decide(ErrorKind::Timeout, 5, 5, &backoff), FailDecision::DeadLetter);
        assert_eq!(FailDecision::decide(ErrorKind::Timeout, 6, 5, &backoff), FailDecision::DeadLetter);
        for kind in ErrorKind::ALL.into_iter().filter(|k| !k.is_retryable()) {
            assert_eq!(FailDecision::decide(kind, 1, 5, &backoff), FailDecision::DeadLetter, "{kind}");
        }
        assert_eq!(FailDecision::decide(ErrorKind::ConfigMismatch, 1, 5, &backoff), FailDecision::DeadLetter);
    }

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
