//! Batches: the one being assembled from the stream — filtered, encoded,
//! until it is full, its linger time is up, the stream goes idle or ends —
//! and the sealed ones that are sent, and sent again after a failure.

use crate::config::SinkConfig;
use crate::error::SinkError;
use crate::sink::Record;
use bytes::Bytes;
use fluxkv_schemas::ChangeEvent;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A sealed batch.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    /// What goes to the sink; empty when the filter left every event out.
    pub(super) records: Arc<[Record]>,
    /// The last seq the batch covers, filtered-out events included.
    pub(super) last_seq: u64,
    /// The write time of the event at `last_seq`.
    pub(super) last_ts_ms: u64,
}

impl Batch {
    /// The records from `index` on, covering the same events.
    pub(super) fn tail(&self, index: usize) -> Batch {
        Batch {
            records: self.records[index..].into(),
            ..self.clone()
        }
    }
}

/// The batch being assembled.
#[derive(Debug)]
pub(super) struct Assembly {
    records: Vec<Record>,
    bytes: usize,
    last_seq: u64,
    last_ts_ms: u64,
    /// The last seq of the batches sealed before this one.
    sealed_seq: u64,
    /// When the linger time of the first record is up.
    deadline: Option<Instant>,
    /// Due to go with what it has: lingered, or the stream idle or ended.
    due: bool,
}

impl Assembly {
    /// An empty batch after seq `after`.
    pub(super) fn new(after: u64) -> Assembly {
        Assembly {
            records: Vec::new(),
            bytes: 0,
            last_seq: after,
            last_ts_ms: 0,
            sealed_seq: after,
            deadline: None,
            due: false,
        }
    }

    /// Full: it takes no more events.
    pub(super) fn is_full(&self, config: &SinkConfig) -> bool {
        self.records.len() >= config.batch.max_events || self.bytes >= config.batch.max_bytes
    }

    /// Adds `event`, encoded, or only notes its seq when the filter leaves
    /// it out (the checkpoint still moves past it).
    pub(super) fn push(
        &mut self,
        event: ChangeEvent,
        config: &SinkConfig,
    ) -> Result<(), SinkError> {
        self.last_seq = event.seq;
        self.last_ts_ms = event.ts_ms;
        if config.filter.accepts(&event) {
            let payload: Bytes = config.encoding.encode(&event)?.into();
            self.bytes += payload.len();
            self.records.push(Record { event, payload });
            self.deadline.get_or_insert_with(|| {
                Instant::now() + Duration::from_millis(config.batch.linger_ms)
            });
        }
        Ok(())
    }

    /// When the linger time is up, if there is a record to linger for and
    /// it is not due already.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline.filter(|_| !self.due)
    }

    /// Sends what there is as soon as it can: the linger time is up, the
    /// stream is idle, or it has ended. (An empty batch stays put: the
    /// next event lingers as usual.)
    pub(super) fn hurry(&mut self) {
        self.due = !self.is_empty();
    }

    /// Whether nothing is waiting: no record, no event left out since the
    /// last sealed batch.
    pub(super) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.last_seq == self.sealed_seq
    }

    /// The batch, sealed, when it is due (or full) and holds anything.
    pub(super) fn seal(&mut self, config: &SinkConfig) -> Option<Batch> {
        if !(self.due || self.is_full(config)) || self.is_empty() {
            return None;
        }
        let sealed = Batch {
            records: std::mem::take(&mut self.records).into(),
            last_seq: self.last_seq,
            last_ts_ms: self.last_ts_ms,
        };
        *self = Assembly::new(sealed.last_seq);
        Some(sealed)
    }
}
