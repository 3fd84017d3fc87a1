//! Matching change events to the writes that caused them, by seq, and the
//! `--watch-latency` report.
//!
//! The writers and the watcher run on different threads and either may see
//! a seq first: an event can arrive before the client has processed its
//! write's acknowledgement. Whoever comes second completes the pair, so
//! memory holds only the unmatched few, however long the run.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::report::{Latency, micros_histogram};

/// Missing seqs listed in a report (all of them are counted).
const LISTED_MISSING: usize = 20;

/// Where the fixed-rate writers report each acknowledged write.
pub(crate) trait Acks: Send + 'static {
    /// The write that logged `seq`, sent at `sent`, was acknowledged at
    /// `at`.
    fn acked(&mut self, seq: u64, sent: Instant, at: Instant);
}

#[derive(Debug)]
pub(crate) struct Matcher {
    /// Acknowledged writes whose event has not arrived yet: when each was
    /// sent and acknowledged.
    acked: HashMap<u64, (Instant, Instant)>,
    /// Events whose write's acknowledgement has not been seen yet (or that
    /// other clients caused).
    received: HashMap<u64, Instant>,
    /// The highest seq the watcher has received, to spot repeats.
    last_received: Option<u64>,
    /// The highest seq of an acknowledged write.
    max_acked: u64,
    /// Microseconds from a write's acknowledgement to its event's arrival.
    latency_us: Histogram<u64>,
    /// Microseconds from sending a write to its event's arrival.
    since_sent_us: Histogram<u64>,
    matched: u64,
    /// Events that arrived before their write was acknowledged (latency 0).
    early: u64,
    duplicates: u64,
}

impl Matcher {
    pub(crate) fn new() -> Self {
        Matcher {
            acked: HashMap::new(),
            received: HashMap::new(),
            last_received: None,
            max_acked: 0,
            latency_us: micros_histogram(),
            since_sent_us: micros_histogram(),
            matched: 0,
            early: 0,
            duplicates: 0,
        }
    }

    /// The event with `seq` arrived at `at`.
    pub(crate) fn received(&mut self, seq: u64, at: Instant) {
        if self.last_received.is_some_and(|last| seq <= last) {
            self.duplicates += 1;
            return;
        }
        self.last_received = Some(seq);
        match self.acked.remove(&seq) {
            Some((sent, acked)) => self.record(
                at.saturating_duration_since(acked),
                at.saturating_duration_since(sent),
            ),
            None => {
                self.received.insert(seq, at);
            }
        }
    }

    /// An event that is not measured (the first write, which only says
    /// where to watch from) arrived: later ones must come after it.
    pub(crate) fn skip(&mut self, seq: u64) {
        self.last_received = Some(self.last_received.map_or(seq, |last| last.max(seq)));
    }

    /// The highest seq of an acknowledged write (0: none yet).
    pub(crate) fn max_acked(&self) -> u64 {
        self.max_acked
    }

    /// The highest seq received so far.
    pub(crate) fn last_received(&self) -> Option<u64> {
        self.last_received
    }

    fn record(&mut self, since_acked: Duration, since_sent: Duration) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros(since_acked));
        self.since_sent_us.saturating_record(micros(since_sent));
        self.matched += 1;
    }

    /// The acknowledged writes whose event never arrived, in seq order.
    fn missing(&self) -> Vec<u64> {
        let mut missing: Vec<u64> = self.acked.keys().copied().collect();
        missing.sort_unstable();
        missing
    }
}

impl Acks for Matcher {
    fn acked(&mut self, seq: u64, sent: Instant, at: Instant) {
        self.max_acked = self.max_acked.max(seq);
        match self.received.remove(&seq) {
            Some(received) => {
                self.early += 1;
                self.record(Duration::ZERO, received.saturating_duration_since(sent));
            }
            None => {
                self.acked.insert(seq, (sent, at));
            }
        }
    }
}

/// What was run.
#[derive(Debug, Serialize)]
pub(crate) struct Setup {
    pub(crate) server: String,
    pub(crate) connections: usize,
    pub(crate) in_flight: usize,
    pub(crate) keyspace: u64,
    pub(crate) value_size: usize,
    pub(crate) duration_secs: f64,
    pub(crate) rate_target: u64,
}

/// What the writers observed.
#[derive(Debug)]
pub(crate) struct Writes {
    pub(crate) acked: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// From the first write to the last acknowledgement.
    pub(crate) elapsed: Duration,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    mode: &'static str,
    #[serde(flatten)]
    setup: Setup,
    rate_achieved: f64,
    writes: u64,
    write_errors: u64,
    first_error: Option<String>,
    /// Events matched to an acknowledged write.
    events: u64,
    /// Acknowledged writes whose event never arrived: must be 0.
    missing: u64,
    /// The first few of them.
    missing_seqs: Vec<u64>,
    /// Events received twice: must be 0.
    duplicates: u64,
    /// Events that arrived before their write's acknowledgement.
    early: u64,
    /// From a write's acknowledgement to its event's arrival (0 when the
    /// event came first).
    latency_ms: Latency,
    /// From sending a write to its event's arrival: the whole way from a
    /// writer to a subscriber.
    since_sent_ms: Latency,
}

impl Report {
    pub(crate) fn new(setup: Setup, writes: Writes, matcher: &Matcher) -> Self {
        let missing = matcher.missing();
        let secs = writes.elapsed.as_secs_f64();
        Report {
            mode: "watch-latency",
            setup,
            rate_achieved: if secs > 0.0 {
                writes.acked as f64 / secs
            } else {
                0.0
            },
            writes: writes.acked,
            write_errors: writes.errors,
            first_error: writes.first_error,
            events: matcher.matched,
            missing: missing.len() as u64,
            missing_seqs: missing.into_iter().take(LISTED_MISSING).collect(),
            duplicates: matcher.duplicates,
            early: matcher.early,
            latency_ms: Latency::from_micros(&matcher.latency_us),
            since_sent_ms: Latency::from_micros(&matcher.since_sent_us),
        }
    }

    /// Whether every acknowledged write arrived exactly once.
    pub(crate) fn is_complete(&self) -> bool {
        self.missing == 0 && self.duplicates == 0
    }

    pub(crate) fn missing(&self) -> u64 {
        self.missing
    }

    pub(crate) fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.setup;
        writeln!(
            f,
            "WATCH LATENCY: {} events delivered, {} missing, {} duplicates; \
             {:.0} writes per second (target {}), {} writes, {} errors",
            self.events,
            self.missing,
            self.duplicates,
            self.rate_achieved,
            s.rate_target,
            self.writes,
            self.write_errors
        )?;
        writeln!(
            f,
            "  server {}, gRPC, {} channels, up to {} writes in flight, keyspace {}, \
             {}-byte values, {:.3} s",
            s.server, s.connections, s.in_flight, s.keyspace, s.value_size, s.duration_secs
        )?;
        writeln!(
            f,
            "  delivery latency ms (event received - write acknowledged): {}",
            self.latency_ms
        )?;
        write!(
            f,
            "  write-to-event ms   (event received - write sent):         {}",
            self.since_sent_ms
        )?;
        if self.early > 0 {
            write!(
                f,
                "\n  {} events arrived before their write's acknowledgement (counted as 0)",
                self.early
            )?;
        }
        if !self.missing_seqs.is_empty() {
            write!(
                f,
                "\n  missing seqs (first {}): {:?}",
                LISTED_MISSING, self.missing_seqs
            )?;
        }
        if let Some(error) = &self.first_error {
            write!(f, "\n  first error: {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_complete_in_either_order() {
        let t0 = Instant::now();
        let mut matcher = Matcher::new();
        let ms = |n| t0 + Duration::from_millis(n);
        // Sent at 0, acked at 1, the event 2 ms later.
        matcher.acked(1, t0, ms(1));
        matcher.received(1, ms(3));
        // The event first: latency 0, counted as early.
        matcher.received(2, ms(3));
        matcher.acked(2, ms(1), ms(4));
        // A write other clients made: received, never acked, not counted.
        matcher.received(3, t0);
        // Acked, never received.
        matcher.acked(7, t0, t0);
        // A repeat.
        matcher.received(2, t0);

        assert_eq!(matcher.matched, 2);
        assert_eq!(matcher.early, 1);
        assert_eq!(matcher.duplicates, 1);
        assert_eq!(matcher.missing(), vec![7]);
        assert_eq!(matcher.last_received(), Some(3));
        assert!((matcher.latency_us.max() as f64 - 2000.0).abs() < 5.0);
        assert!((matcher.since_sent_us.max() as f64 - 3000.0).abs() < 5.0);
        assert!((matcher.since_sent_us.min() as f64 - 2000.0).abs() < 5.0);
    }

    #[test]
    fn report_flags_missing_events() {
        let mut matcher = Matcher::new();
        matcher.acked(5, Instant::now(), Instant::now());
        let setup = Setup {
            server: "http://127.0.0.1:50051/".into(),
            connections: 1,
            in_flight: 10,
            keyspace: 10,
            value_size: 3,
            duration_secs: 1.0,
            rate_target: 10,
        };
        let writes = Writes {
            acked: 1,
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(1),
        };
        let report = Report::new(setup, writes, &matcher);
        assert!(!report.is_complete());
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["missing"], 1);
        assert_eq!(json["missing_seqs"], serde_json::json!([5]));
        assert_eq!(json["events"], 0);
        assert_eq!(json["mode"], "watch-latency");
        assert!(report.to_string().contains("missing seqs"));
    }
}
