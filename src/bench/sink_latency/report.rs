//! [`Report`]: what a `--sink-latency` run measured, as JSON and as text.

use std::fmt;

use serde::Serialize;

use super::tracker::Tracker;
use super::{SEQ_HEADER, Source};
use crate::bench::delivery::{self, Writes};
use crate::bench::report::Latency;

/// Missing seqs listed in a report (all of them are counted).
const LISTED_MISSING: usize = 20;

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    mode: &'static str,
    #[serde(flatten)]
    source: Source,
    #[serde(flatten)]
    setup: delivery::Setup,
    key_prefix: String,
    rate_achieved: f64,
    writes: u64,
    write_errors: u64,
    first_error: Option<String>,
    /// Events matched to an acknowledged write (first deliveries).
    events: u64,
    /// Every message consumed, repeats and others included.
    consumed: u64,
    /// Acknowledged writes whose event never came: must be 0.
    missing: u64,
    /// The first few of them.
    missing_seqs: Vec<u64>,
    /// Events consumed again (allowed: delivery is at least once).
    duplicates: u64,
    /// Events consumed before their write's acknowledgement (latency 0).
    early: u64,
    /// Events consumed that no measured write made: the warm-up write,
    /// other clients' writes.
    other_events: u64,
    /// Messages without a readable `fluxkv-seq` header.
    without_seq: u64,
    consume_errors: u64,
    first_consume_error: Option<String>,
    /// From the last write's acknowledgement to the last event consumed.
    drain_secs: f64,
    /// From a write's acknowledgement to its event being consumed (0 when
    /// the event came first).
    latency_ms: Latency,
    /// From sending a write to its event being consumed.
    since_sent_ms: Latency,
}

impl Report {
    pub(crate) fn new(
        source: Source,
        setup: delivery::Setup,
        key_prefix: String,
        writes: Writes,
        tracker: &Tracker,
    ) -> Self {
        let missing = tracker.missing();
        let secs = writes.elapsed.as_secs_f64();
        let drain_secs = match (tracker.writes_done, tracker.last_match) {
            (Some(done), Some(last)) => last.saturating_duration_since(done).as_secs_f64(),
            _ => 0.0,
        };
        Report {
            mode: "sink-latency",
            source,
            setup,
            key_prefix,
            rate_achieved: if secs > 0.0 {
                writes.acked as f64 / secs
            } else {
                0.0
            },
            writes: writes.acked,
            write_errors: writes.errors,
            first_error: writes.first_error,
            events: tracker.matched,
            consumed: tracker.consumed,
            missing: missing.len() as u64,
            missing_seqs: missing.into_iter().take(LISTED_MISSING).collect(),
            duplicates: tracker.duplicates,
            early: tracker.matched_early,
            other_events: tracker.unmeasured + tracker.early.len() as u64,
            without_seq: tracker.without_seq,
            consume_errors: tracker.consume_errors,
            first_consume_error: tracker.first_consume_error.clone(),
            drain_secs,
            latency_ms: Latency::from_micros(&tracker.latency_us),
            since_sent_ms: Latency::from_micros(&tracker.since_sent_us),
        }
    }

    /// Whether every acknowledged write's event was consumed (repeats are
    /// allowed), and there was at least one.
    pub(crate) fn is_complete(&self) -> bool {
        self.missing == 0 && self.writes > 0
    }

    pub(crate) fn missing(&self) -> u64 {
        self.missing
    }

    pub(crate) fn writes(&self) -> u64 {
        self.writes
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.setup;
        let source = &self.source;
        let place = match (&source.topic, &source.exchange) {
            (Some(topic), _) => format!("topic {topic}"),
            (None, Some(exchange)) => format!("exchange {exchange}"),
            (None, None) => String::new(),
        };
        writeln!(
            f,
            "SINK LATENCY ({}): {} events consumed, {} missing, {} duplicates; \
             {:.0} writes per second (target {}), {} writes, {} errors",
            source.sink,
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
            "  {place} on {}; keys {}*",
            source.broker, self.key_prefix
        )?;
        writeln!(
            f,
            "  server {}, gRPC, {} channels, up to {} writes in flight, keyspace {}, \
             {}-byte values, {:.3} s",
            s.server, s.connections, s.in_flight, s.keyspace, s.value_size, s.duration_secs
        )?;
        writeln!(
            f,
            "  sink latency ms   (event consumed - write acknowledged): {}",
            self.latency_ms
        )?;
        writeln!(
            f,
            "  write-to-event ms (event consumed - write sent):         {}",
            self.since_sent_ms
        )?;
        write!(
            f,
            "  the last event was consumed {:.3} s after the last write's acknowledgement",
            self.drain_secs
        )?;
        if self.early > 0 {
            write!(
                f,
                "\n  {} events were consumed before their write's acknowledgement (counted as 0)",
                self.early
            )?;
        }
        if self.other_events > 0 {
            write!(
                f,
                "\n  {} other events consumed (the warm-up write, other clients' writes)",
                self.other_events
            )?;
        }
        if self.without_seq > 0 {
            write!(
                f,
                "\n  {} messages without a {SEQ_HEADER} header",
                self.without_seq
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
            write!(f, "\n  first write error: {error}")?;
        }
        if let Some(error) = &self.first_consume_error {
            write!(
                f,
                "\n  {} consumer errors, the first: {error}",
                self.consume_errors
            )?;
        }
        Ok(())
    }
}
