//! `--rate N`: at most N events a second on average since the start, sent
//! in groups of a tenth of a second's worth, so a limited replay is smooth
//! and stops promptly.

use std::time::Duration;
use tokio::time::Instant;

/// A running rate limit.
#[derive(Debug)]
pub(crate) struct Pace {
    per_second: u64,
    start: Instant,
    /// Events let through so far.
    admitted: u64,
}

impl Pace {
    /// A limit of `per_second` events (at least 1).
    pub(crate) fn new(per_second: u64) -> Pace {
        Pace {
            per_second: per_second.max(1),
            start: Instant::now(),
            admitted: 0,
        }
    }

    /// The most events to send at once.
    pub(crate) fn group(&self) -> usize {
        usize::try_from(self.per_second / 10).map_or(usize::MAX, |n| n.max(1))
    }

    /// Waits until `events` more may go: the first of them is due once
    /// every event before it has had its 1/N of a second.
    pub(crate) async fn admit(&mut self, events: usize) {
        let due = self.start + self.time_for(self.admitted);
        self.admitted += events as u64;
        tokio::time::sleep_until(due).await;
    }

    fn time_for(&self, events: u64) -> Duration {
        Duration::from_nanos(
            u64::try_from(u128::from(events) * 1_000_000_000 / u128::from(self.per_second))
                .unwrap_or(u64::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_a_tenth_of_a_second_and_due_times_follow_the_rate() {
        let pace = Pace::new(1000);
        assert_eq!(pace.group(), 100);
        assert_eq!(pace.time_for(900), Duration::from_millis(900));
        assert_eq!(Pace::new(5).group(), 1);
        assert_eq!(Pace::new(3).time_for(1), Duration::from_nanos(333_333_333));
        assert_eq!(Pace::new(0).group(), 1);
    }
}
