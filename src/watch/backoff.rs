//! Pauses between reconnection attempts: exponential, capped, jittered.

use std::time::Duration;

use rand::Rng;

/// The pause before the first reconnection attempt.
const FIRST: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Backoff {
    /// The ceiling of the next pause (before jitter).
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(max: Duration) -> Self {
        Backoff {
            next: FIRST.min(max),
            max,
        }
    }

    /// The pause before the next attempt: between half and all of the
    /// current ceiling, which then doubles up to the cap. The jitter keeps
    /// many watchers of a restarted node from reconnecting in lockstep.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Back to the first pause, after a connection that made progress.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let max = Duration::from_secs(1);
        let mut backoff = Backoff::new(max);
        let first = backoff.next_delay();
        assert!(first >= FIRST / 2 && first <= FIRST, "{first:?}");
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= max), "{delays:?}");
        assert!(delays.last().unwrap() >= &(max / 2), "{delays:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST);
    }

    #[test]
    fn a_cap_below_the_first_pause_wins() {
        let max = Duration::from_millis(10);
        let mut backoff = Backoff::new(max);
        assert!(backoff.next_delay() <= max);
    }
}
