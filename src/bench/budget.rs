//! How much work is left, shared by all connections: a countdown of requests
//! for `-n`, or a deadline for `--duration`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(Debug)]
pub(crate) enum Budget {
    /// Requests not yet handed to a connection. Shared rather than split up
    /// front so fast connections take more and the run ends when the last
    /// request is answered, not when the slowest connection's share is.
    Requests(AtomicU64),
    /// Connections keep sending batches until this instant.
    Until(Instant),
}

impl Budget {
    /// How many requests the next batch may carry (at most `pipeline`);
    /// 0 means the run is over for this connection.
    pub(crate) fn claim(&self, pipeline: usize) -> usize {
        match self {
            Budget::Requests(remaining) => {
                let wanted = pipeline as u64;
                match remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    (left > 0).then(|| left - left.min(wanted))
                }) {
                    // `min` of a value ≤ `pipeline`, so it fits in usize.
                    Ok(left) => left.min(wanted) as usize,
                    Err(_) => 0,
                }
            }
            Budget::Until(deadline) => {
                if Instant::now() < *deadline {
                    pipeline
                } else {
                    0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn requests_are_handed_out_exactly_once() {
        let budget = Budget::Requests(AtomicU64::new(10));
        assert_eq!(budget.claim(4), 4);
        assert_eq!(budget.claim(4), 4);
        assert_eq!(budget.claim(4), 2);
        assert_eq!(budget.claim(4), 0);
    }

    #[test]
    fn a_past_deadline_stops_the_run() {
        let budget = Budget::Until(Instant::now() + Duration::from_secs(60));
        assert_eq!(budget.claim(8), 8);
        let budget = Budget::Until(Instant::now());
        assert_eq!(budget.claim(8), 0);
    }
}
