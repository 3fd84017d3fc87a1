//! A subscriber's view of the change stream: every event from a seq on, in
//! order, gap-free, with watermarks while idle.

use crate::aof::Shared;
use crate::aof::record::{self, RecordRef};
use crate::error::{Result, StoreError};
use crate::stream::catchup::CatchUp;
use crate::stream::ring::{Batch, RingRead};
use fluxkv_schemas::{ChangeEvent, StreamItem, Watermark};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Events taken from the ring at a time.
const RING_READ_EVENTS: u64 = 4096;

/// Who is speaking: the node's id and term, stamped on every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The node id (stable across restarts).
    pub node: Arc<str>,
    /// The node's term.
    pub epoch: u64,
}

impl Identity {
    /// The change event for `rec`, stamped with this identity. Its key,
    /// value and before-image are slices of `frames`, the buffer `rec` was
    /// decoded from (no copy).
    ///
    /// # Panics
    /// If `rec` does not borrow from `frames`.
    pub fn event(&self, rec: &RecordRef<'_>, frames: &bytes::Bytes) -> ChangeEvent {
        ChangeEvent {
            node: self.node.clone(),
            epoch: self.epoch,
            seq: rec.seq,
            ts_ms: rec.ts_ms,
            op: rec.op,
            key: frames.slice_ref(rec.key),
            value: rec.value.map(|v| frames.slice_ref(v)),
            expire_at_ms: rec.expire_at_ms,
            prev: rec.prev.map(|p| frames.slice_ref(p)),
        }
    }
}

/// Where a subscription's events came from, for operators and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionStats {
    /// Events read from the in-memory ring.
    pub from_ring: u64,
    /// Events read back from AOF segments (catch-up).
    pub from_aof: u64,
}

/// A position in the change stream. Dropping it unsubscribes.
pub struct Subscription {
    aof: Arc<Shared>,
    identity: Identity,
    next_seq: u64,
    pending: VecDeque<ChangeEvent>,
    catchup: Option<CatchUp>,
    watermark_every: Duration,
    stats: SubscriptionStats,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("node", &self.identity.node)
            .field("next_seq", &self.next_seq)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(
        aof: Arc<Shared>,
        identity: Identity,
        from_seq: u64,
        watermark_every: Duration,
    ) -> Self {
        aof.subscribers.fetch_add(1, Ordering::AcqRel);
        // A private copy: every event clones the node id, and a refcount
        // shared by all subscribers would bounce between cores.
        let identity = Identity {
            node: Arc::from(&*identity.node),
            epoch: identity.epoch,
        };
        Subscription {
            aof,
            identity,
            next_seq: from_seq.max(1),
            pending: VecDeque::new(),
            catchup: None,
            watermark_every,
            stats: SubscriptionStats::default(),
        }
    }

    /// The next event (seq order, no gaps) or, after `watermark_every`
    /// without one, a watermark. Never slows writers: a subscriber that
    /// stops calling this only falls behind, and catches up from the AOF.
    pub async fn next(&mut self) -> Result<StreamItem> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(StreamItem::Event(event));
            }
            let committed = self.aof.committed_seq.load(Ordering::Acquire);
            if self.next_seq <= committed {
                self.fill(committed).await?;
                continue;
            }
            let notified = self.aof.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.aof.committed_seq.load(Ordering::Acquire) >= self.next_seq {
                continue;
            }
            if let Some(reason) = self.aof.poisoned.get() {
                return Err(StoreError::AofPoisoned {
                    reason: reason.clone(),
                });
            }
            let idle = tokio::time::timeout(self.watermark_every, notified)
                .await
                .is_err();
            // A write may land as the timeout fires: deliver it first. A
            // watermark only ever claims what was delivered, so resuming
            // after it (SSE's Last-Event-ID) cannot skip an event.
            if idle && self.aof.committed_seq.load(Ordering::Acquire) < self.next_seq {
                return Ok(StreamItem::Watermark(Watermark {
                    node: self.identity.node.clone(),
                    epoch: self.identity.epoch,
                    last_seq: self.next_seq - 1,
                    ts_ms: crate::Clock::System.now_ms(),
                }));
            }
        }
    }

    /// The seq of the next event this subscription will deliver.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Where the events delivered so far came from.
    pub fn stats(&self) -> SubscriptionStats {
        self.stats
    }

    /// Buffers the next events up to `committed`: from the ring when it
    /// holds `next_seq`, from the AOF otherwise.
    async fn fill(&mut self, committed: u64) -> Result<()> {
        if let RingRead::Batches(batches) = self.aof.ring.read(self.next_seq, RING_READ_EVENTS) {
            self.catchup = None; // rejoined the ring
            for batch in &batches {
                // Events slice their bytes out of the batch. Slicing a
                // private copy keeps those refcounts off the cache line
                // every other subscriber touches: one memcpy per batch is
                // far cheaper than contended atomics per event.
                let private = Batch {
                    frames: bytes::Bytes::copy_from_slice(&batch.frames),
                    ..batch.clone()
                };
                self.stats.from_ring += self.buffer(&private);
            }
            return Ok(());
        }
        let mut catchup = match self.catchup.take() {
            Some(catchup) => catchup,
            None => CatchUp::open(self.aof.dir.clone(), self.next_seq)?,
        };
        let from = self.next_seq;
        let (catchup, read) = tokio::task::spawn_blocking(move || {
            let read = catchup.read(from, committed);
            (catchup, read)
        })
        .await
        .map_err(|e| {
            StoreError::io(
                "reading the AOF",
                self.aof.dir.clone(),
                std::io::Error::other(e),
            )
        })?;
        self.catchup = Some(catchup);
        match read? {
            Some(batch) => self.stats.from_aof += self.buffer(&batch),
            // Committed but not readable yet cannot happen (records are
            // written before they are committed); yield rather than spin.
            None => tokio::task::yield_now().await,
        }
        Ok(())
    }

    /// Turns a batch's records at or after `next_seq` into events; returns
    /// how many.
    fn buffer(&mut self, batch: &Batch) -> u64 {
        let frames = &batch.frames;
        let mut pos = 0;
        let mut added = 0;
        while pos < frames.len() {
            let (rec, used) = record::decode_trusted(&frames[pos..]);
            pos += used;
            if rec.seq == self.next_seq {
                self.pending.push_back(self.identity.event(&rec, frames));
                self.next_seq += 1;
                added += 1;
            }
        }
        added
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.aof.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}
