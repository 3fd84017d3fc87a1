//! Capped exponential backoff with jitter, for retrying transient
//! delivery failures forever without hammering a broker that is down.

use crate::config::RetryConfig;
use rand::Rng;
use std::time::Duration;

/// The wait before each retry: doubling from `initial` up to `max`, each
/// scaled by a random factor in `1 ± jitter`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    next: Duration,
}

impl Backoff {
    /// A schedule starting at the configured initial wait.
    pub fn new(config: &RetryConfig) -> Backoff {
        let initial = Duration::from_millis(config.initial_backoff_ms.max(1));
        Backoff {
            initial,
            max: Duration::from_millis(config.max_backoff_ms).max(initial),
            jitter: config.jitter.clamp(0.0, 1.0),
            next: initial,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let factor = 1.0 + self.jitter * rand::rng().random_range(-1.0..=1.0);
        base.mul_f64(factor).min(self.max)
    }

    /// Back to the initial wait, after a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jitter: f64) -> RetryConfig {
        RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            jitter,
        }
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(&config(0.0));
        let delays: Vec<u64> = (0..6)
            .map(|_| backoff.next_delay().as_millis() as u64)
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut backoff = Backoff::new(&config(0.5));
            let first = backoff.next_delay().as_millis() as u64;
            assert!((50..=150).contains(&first), "{first}");
            seen.insert(first);
            let capped = (0..10).map(|_| backoff.next_delay()).last().unwrap();
            assert!(capped <= Duration::from_millis(1000));
        }
        assert!(seen.len() > 10, "jitter does not vary: {seen:?}");
    }
}
