//! Which history segments may be deleted once a base covers them.
//!
//! A segment whose every record is at or before the newest base is no longer
//! needed to rebuild the map, but it is still history: sinks that have not
//! checkpointed past it read it, and operators replay from it. The rule, from
//! the newest such segment back to the oldest:
//!
//! - kept while the history kept so far stays within `retain_history_bytes`
//!   (history everyone may replay, needed or not);
//! - kept while some consumer still needs it (its last seq is at or after the
//!   history floor, the lowest seq a consumer will read) and the history kept
//!   stays within `retention_limit_bytes`;
//! - otherwise deleted, together with everything older, so the history that
//!   remains is always one gap-free stretch ending at the live log.
//!
//! A consumer whose position is deleted by the limit finds out when it reads
//! ([`StoreError::SeqUnavailable`](crate::StoreError::SeqUnavailable)) and
//! needs a re-snapshot — loudly, never by silently skipping.

/// How much history to keep behind the newest base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// History kept whether or not any consumer needs it.
    pub retain_history_bytes: u64,
    /// The most history kept for consumers that still need it.
    pub retention_limit_bytes: u64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            retain_history_bytes: 0,
            retention_limit_bytes: 4 << 30,
        }
    }
}

/// One segment as the plan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentSpan {
    /// Seq of its first record.
    pub(crate) first_seq: u64,
    /// Its size in bytes.
    pub(crate) bytes: u64,
}

/// How many of the oldest `segments` (in log order) to delete, given the
/// newest base's seq and the history floor.
pub(crate) fn deletable(
    segments: &[SegmentSpan],
    base_seq: u64,
    floor: u64,
    policy: RetentionPolicy,
) -> usize {
    // Segment i ends where segment i+1 begins; the last one is being written.
    let covered = segments
        .windows(2)
        .take_while(|pair| pair[1].first_seq <= base_seq + 1)
        .count();
    let mut kept = 0u64;
    for index in (0..covered).rev() {
        let last_seq = segments[index + 1].first_seq - 1;
        let size = segments[index].bytes;
        let within = |limit: u64| kept.saturating_add(size) <= limit;
        let needed = last_seq >= floor;
        if within(policy.retain_history_bytes) || needed && within(policy.retention_limit_bytes) {
            kept += size;
        } else {
            return index + 1;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments of 100 bytes starting at seqs 1, 11, 21, …
    fn spans(count: u64) -> Vec<SegmentSpan> {
        (0..count)
            .map(|i| SegmentSpan {
                first_seq: 1 + 10 * i,
                bytes: 100,
            })
            .collect()
    }

    fn policy(retain: u64, limit: u64) -> RetentionPolicy {
        RetentionPolicy {
            retain_history_bytes: retain,
            retention_limit_bytes: limit,
        }
    }

    #[test]
    fn without_consumers_everything_the_base_covers_goes() {
        // Base at 35: segments 1..=10, 11..=20, 21..=30 are covered.
        assert_eq!(deletable(&spans(5), 35, u64::MAX, policy(0, 1000)), 3);
        // Base at 30 exactly covers the third segment too.
        assert_eq!(deletable(&spans(5), 30, u64::MAX, policy(0, 1000)), 3);
        assert_eq!(deletable(&spans(5), 29, u64::MAX, policy(0, 1000)), 2);
    }

    #[test]
    fn the_live_segment_is_never_deleted() {
        assert_eq!(deletable(&spans(1), 1000, u64::MAX, policy(0, 0)), 0);
        assert_eq!(deletable(&spans(3), 1000, u64::MAX, policy(0, 0)), 2);
    }

    #[test]
    fn a_consumer_keeps_what_it_needs_up_to_the_limit() {
        // A sink at seq 12 needs segments from 11 on.
        assert_eq!(deletable(&spans(5), 40, 12, policy(0, 1000)), 1);
        // The limit allows two segments of history: the sink loses one more.
        assert_eq!(deletable(&spans(5), 40, 12, policy(0, 200)), 2);
    }

    #[test]
    fn retained_history_is_kept_for_everyone() {
        assert_eq!(deletable(&spans(5), 40, u64::MAX, policy(200, 0)), 2);
    }

    #[test]
    fn history_stays_gap_free() {
        // The retention window ends at the newest covered segment: once one
        // is deleted, nothing older survives even if it would fit.
        let mut segments = spans(5);
        segments[2].bytes = 10_000;
        assert_eq!(deletable(&segments, 40, 1, policy(0, 1000)), 3);
    }
}
