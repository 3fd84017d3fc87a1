//! [`Tracker`]: matching consumed events to acknowledged writes by seq,
//! whichever of the two is seen first, and timing each pair.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::bench::delivery::Acks;
use crate::bench::report::micros_histogram;

/// Matches consumed events to acknowledged writes by seq. The writers and
/// the consumer run on different threads and either may see a seq first;
/// whoever comes second completes the pair. Unlike a Watch stream, a Kafka
/// topic's partitions interleave, so seqs arrive out of order: repeats are
/// told by a bitmap of the seqs consumed, not by the highest one.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Events with this seq or higher are measured (`u64::MAX` until the
    /// warm-up write came through).
    from: u64,
    /// The highest seq consumed, measured or not.
    highest_seen: u64,
    /// Acknowledged writes whose event has not been consumed yet: when
    /// each was sent and acknowledged.
    acked: HashMap<u64, (Instant, Instant)>,
    /// Measured events whose write's acknowledgement has not been seen yet
    /// (or that other clients caused).
    pub(super) early: HashMap<u64, Instant>,
    /// Seqs consumed, bit `seq - from`, up to `seen_limit` bits: the
    /// benchmark's writes are somewhere in there.
    seen: Vec<u64>,
    seen_limit: u64,
    pub(super) latency_us: Histogram<u64>,
    pub(super) since_sent_us: Histogram<u64>,
    /// Every message consumed.
    pub(super) consumed: u64,
    /// Events matched to a write.
    pub(super) matched: u64,
    /// Events consumed before their write's acknowledgement was seen.
    pub(super) matched_early: u64,
    pub(super) duplicates: u64,
    /// Events consumed that no measured write made (the warm-up, other
    /// clients' writes, repeats beyond the bitmap).
    pub(super) unmeasured: u64,
    /// Messages without a readable `fluxkv-seq` header.
    pub(super) without_seq: u64,
    pub(super) consume_errors: u64,
    pub(super) first_consume_error: Option<String>,
    /// When the last event was matched.
    pub(super) last_match: Option<Instant>,
    /// When the last write was acknowledged.
    pub(super) writes_done: Option<Instant>,
}

impl Acks for Tracker {
    fn acked(&mut self, seq: u64, sent: Instant, at: Instant) {
        match self.early.remove(&seq) {
            Some(consumed) => {
                self.matched_early += 1;
                self.record(
                    Duration::ZERO,
                    consumed.saturating_duration_since(sent),
                    consumed,
                );
            }
            None => {
                self.acked.insert(seq, (sent, at));
            }
        }
    }
}

impl Tracker {
    /// A tracker for `rate` writes per second during `duration`.
    pub(crate) fn new(rate: u64, duration: Duration) -> Self {
        let planned = (rate as f64 * duration.as_secs_f64()).ceil() as u64;
        Tracker {
            from: u64::MAX,
            highest_seen: 0,
            acked: HashMap::new(),
            early: HashMap::new(),
            seen: Vec::new(),
            // Room for other clients writing as fast as the benchmark, three
            // times over: 2 MiB for a million planned writes.
            seen_limit: planned.saturating_mul(4).saturating_add(1 << 20),
            latency_us: micros_histogram(),
            since_sent_us: micros_histogram(),
            consumed: 0,
            matched: 0,
            matched_early: 0,
            duplicates: 0,
            unmeasured: 0,
            without_seq: 0,
            consume_errors: 0,
            first_consume_error: None,
            last_match: None,
            writes_done: None,
        }
    }

    /// Events from `seq` on are measured.
    pub(crate) fn start_measuring(&mut self, seq: u64) {
        self.from = seq;
    }

    /// A message was consumed at `at`; `seq` is its `fluxkv-seq`.
    pub(crate) fn received(&mut self, seq: Option<u64>, at: Instant) {
        self.consumed += 1;
        let Some(seq) = seq else {
            self.without_seq += 1;
            return;
        };
        self.highest_seen = self.highest_seen.max(seq);
        if seq < self.from {
            self.unmeasured += 1;
            return;
        }
        if self.seen_before(seq) {
            self.duplicates += 1;
            return;
        }
        match self.acked.remove(&seq) {
            Some((sent, acked)) => self.record(
                at.saturating_duration_since(acked),
                at.saturating_duration_since(sent),
                at,
            ),
            None => {
                self.early.insert(seq, at);
            }
        }
    }

    pub(crate) fn consume_error(&mut self, error: String) {
        self.consume_errors += 1;
        self.first_consume_error.get_or_insert(error);
    }

    /// Marks `seq` (at least `from`) as consumed; whether it already was.
    /// Seqs past the bitmap are never called repeats.
    fn seen_before(&mut self, seq: u64) -> bool {
        let bit = seq - self.from;
        if bit >= self.seen_limit {
            return false;
        }
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        let before = self.seen[word] & mask != 0;
        self.seen[word] |= mask;
        before
    }

    fn record(&mut self, since_acked: Duration, since_sent: Duration, at: Instant) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros(since_acked));
        self.since_sent_us.saturating_record(micros(since_sent));
        self.matched += 1;
        self.last_match = Some(self.last_match.map_or(at, |last| last.max(at)));
    }

    /// The highest seq consumed so far (0: none).
    pub(crate) fn highest_seen(&self) -> u64 {
        self.highest_seen
    }

    /// Acknowledged writes whose event has not been consumed yet.
    pub(crate) fn pending(&self) -> usize {
        self.acked.len()
    }

    pub(crate) fn last_match(&self) -> Option<Instant> {
        self.last_match
    }

    /// The acknowledged writes whose event never came, in seq order.
    pub(super) fn missing(&self) -> Vec<u64> {
        let mut missing: Vec<u64> = self.acked.keys().copied().collect();
        missing.sort_unstable();
        missing
    }
}
