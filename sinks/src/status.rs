//! What a sink is doing, for operators: state, checkpoint, counters.
//! Updated by the engine, read by the admin APIs without locking it.

use parking_lot::Mutex;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// The lifecycle of a sink's pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkState {
    /// Loading its checkpoint and connecting.
    Starting,
    /// Delivering (or waiting for events).
    Running,
    /// The destination failed; retrying with backoff.
    Retrying,
    /// Stopped for good: needs an operator (see `last_error`).
    Failed,
    /// Shut down cleanly.
    Stopped,
}

/// Live counters of one sink.
#[derive(Debug)]
pub struct SinkStatus {
    name: String,
    kind: &'static str,
    /// Short critical sections: a state or error change.
    state: Mutex<(SinkState, Option<String>)>,
    checkpoint: AtomicU64,
    delivered: AtomicU64,
    retries: AtomicU64,
    dead_lettered: AtomicU64,
    /// Time of the last event the checkpoint covers, Unix ms.
    checkpoint_ts_ms: AtomicU64,
}

/// A point-in-time copy of a [`SinkStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkReport {
    /// The sink's name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// What it is doing.
    pub state: SinkState,
    /// Every event up to this seq is done.
    pub checkpoint: u64,
    /// Events acknowledged by the destination.
    pub delivered: u64,
    /// Failed delivery attempts retried.
    pub retries: u64,
    /// Events written to the dead letters.
    pub dead_lettered: u64,
    /// Time of the last event the checkpoint covers, Unix ms.
    pub checkpoint_ts_ms: u64,
    /// The last error, while retrying or failed.
    pub last_error: Option<String>,
}

impl SinkStatus {
    pub(crate) fn new(name: &str, kind: &'static str) -> SinkStatus {
        SinkStatus {
            name: name.to_string(),
            kind,
            state: Mutex::new((SinkState::Starting, None)),
            checkpoint: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            checkpoint_ts_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_state(&self, state: SinkState, error: Option<String>) {
        *self.state.lock() = (state, error);
    }

    pub(crate) fn checkpointed(&self, seq: u64, ts_ms: u64) {
        self.checkpoint.store(seq, Ordering::Release);
        self.checkpoint_ts_ms.fetch_max(ts_ms, Ordering::AcqRel);
    }

    pub(crate) fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    /// A consistent-enough copy for reporting.
    pub fn report(&self) -> SinkReport {
        let (state, last_error) = self.state.lock().clone();
        SinkReport {
            name: self.name.clone(),
            kind: self.kind,
            state,
            checkpoint: self.checkpoint.load(Ordering::Acquire),
            delivered: self.delivered.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            checkpoint_ts_ms: self.checkpoint_ts_ms.load(Ordering::Relaxed),
            last_error,
        }
    }
}

impl SinkReport {
    /// The admin API's view: with lag against `committed_seq` (the last
    /// seq in the AOF) at `now_ms`. Lag in seconds is measured from the
    /// last delivered event's write time, an upper bound of how long the
    /// oldest pending event has waited.
    pub fn to_proto(&self, committed_seq: u64, now_ms: u64) -> fluxkv_schemas::proto::SinkStatus {
        let lag_events = committed_seq.saturating_sub(self.checkpoint);
        let lag_seconds = if lag_events == 0 || self.checkpoint_ts_ms == 0 {
            0.0
        } else {
            now_ms.saturating_sub(self.checkpoint_ts_ms) as f64 / 1000.0
        };
        let state = serde_json::to_value(self.state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        fluxkv_schemas::proto::SinkStatus {
            name: self.name.clone(),
            kind: self.kind.to_string(),
            state,
            checkpoint: self.checkpoint,
            lag_events,
            lag_seconds,
            delivered: self.delivered,
            retries: self.retries,
            dead_lettered: self.dead_lettered,
            last_error: self.last_error.clone().unwrap_or_default(),
        }
    }
}
