//! The ring: the most recently committed records, in memory, for the
//! subscribers that keep up.
//!
//! The AOF's group commit publishes each written batch here as one
//! immutable buffer of frames, so writers pay a copy per batch (not per
//! event) and never wait: the ring is bounded and drops its oldest batches.
//! A subscriber that falls off the tail reads the AOF instead (see
//! `catchup`). The ring is only filled while someone subscribes.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;

/// Records `first_seq..=last_seq`, framed exactly as in the AOF.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) frames: Bytes,
}

impl Batch {
    fn events(&self) -> u64 {
        self.last_seq - self.first_seq + 1
    }
}

/// What the ring holds for a reader.
#[derive(Debug)]
pub(crate) enum RingRead {
    /// Batches, in order, starting with the one holding the asked-for seq.
    Batches(Vec<Batch>),
    /// The ring does not hold that seq: read the AOF.
    Missing,
}

#[derive(Debug)]
pub(crate) struct Ring {
    /// Events kept (at least the newest batch is kept whatever its size).
    capacity: u64,
    /// Held for a push, an eviction or cloning a few `Bytes` handles.
    inner: Mutex<VecDeque<Batch>>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        Ring {
            capacity: capacity.max(1) as u64,
            inner: Mutex::new(VecDeque::new()),
        }
    }

    /// Adds a committed batch. The ring stays gap-free: a batch that does
    /// not follow the newest one (the ring was idle without subscribers)
    /// starts it afresh.
    pub(crate) fn publish(&self, first_seq: u64, last_seq: u64, frames: &[u8]) {
        let batch = Batch {
            first_seq,
            last_seq,
            frames: Bytes::copy_from_slice(frames),
        };
        let mut batches = self.inner.lock();
        if batches.back().is_some_and(|b| b.last_seq + 1 != first_seq) {
            batches.clear();
        }
        batches.push_back(batch);
        let mut held: u64 = batches.iter().map(Batch::events).sum();
        while held > self.capacity && batches.len() > 1 {
            held -= batches.pop_front().expect("more than one").events();
        }
    }

    /// Forgets everything (nobody subscribes any more).
    pub(crate) fn clear(&self) {
        let mut batches = self.inner.lock();
        if !batches.is_empty() {
            batches.clear();
        }
    }

    /// The batches from the one holding `from_seq`, up to about
    /// `max_events` events.
    pub(crate) fn read(&self, from_seq: u64, max_events: u64) -> RingRead {
        let batches = self.inner.lock();
        let (Some(front), Some(back)) = (batches.front(), batches.back()) else {
            return RingRead::Missing;
        };
        if from_seq < front.first_seq || from_seq > back.last_seq {
            return RingRead::Missing;
        }
        let start = batches.partition_point(|b| b.last_seq < from_seq);
        let mut out = Vec::new();
        let mut events = 0;
        for batch in batches.range(start..) {
            if events >= max_events {
                break;
            }
            events += batch.last_seq + 1 - from_seq.max(batch.first_seq);
            out.push(batch.clone());
        }
        RingRead::Batches(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_events_and_stays_gap_free() {
        let ring = Ring::new(10);
        for first in (1..=40).step_by(4) {
            ring.publish(first, first + 3, b"");
        }
        // 40 events in batches of 4 with room for 10: the last 2 batches.
        assert!(matches!(ring.read(32, 100), RingRead::Missing));
        let RingRead::Batches(batches) = ring.read(34, 100) else {
            panic!("seq 34 is held")
        };
        assert_eq!(batches.first().map(|b| b.first_seq), Some(33));
        assert_eq!(batches.last().map(|b| b.last_seq), Some(40));
        assert!(matches!(ring.read(41, 100), RingRead::Missing));
        // A gap starts the ring afresh.
        ring.publish(50, 50, b"");
        assert!(matches!(ring.read(40, 100), RingRead::Missing));
        assert!(matches!(ring.read(50, 100), RingRead::Batches(_)));
    }
}
