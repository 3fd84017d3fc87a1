//! The change stream as the network servers hand it out: a subscription
//! narrowed to some key prefixes and ops, that ends when the server shuts
//! down. Shared by gRPC `Watch` and HTTP Server-Sent Events.
//!
//! Watermarks always pass the filter, so a client can resume after the
//! last one it saw. When events keep coming but every one is filtered out,
//! the subscription never goes idle and sends no watermark of its own; a
//! [`Watch`] then makes one (at the last skipped seq) every watermark
//! interval, so a filtered client's position still advances.

use bytes::Bytes;
use fluxkv_schemas::{ChangeEvent, Op, StreamItem, Watermark};
use fluxkv_store::{Clock, Store, StoreError, Subscription};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Which events a watcher wants. Watermarks always pass.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChangeFilter {
    /// Keys starting with one of these; empty: every key. `flush` events
    /// (empty key) pass whatever the prefixes, since they remove every key.
    pub(crate) prefixes: Vec<Bytes>,
    /// Only these ops; empty: every op.
    pub(crate) ops: Vec<Op>,
}

impl ChangeFilter {
    pub(crate) fn accepts(&self, event: &ChangeEvent) -> bool {
        let op_ok = self.ops.is_empty() || self.ops.contains(&event.op);
        let key_ok = self.prefixes.is_empty()
            || event.op == Op::Flush
            || self.prefixes.iter().any(|p| event.key.starts_with(p));
        op_ok && key_ok
    }
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// With the first change committed after the call.
    Now,
    /// At this seq (inclusive).
    At(u64),
}

/// A filtered subscription that ends on shutdown.
#[derive(Debug)]
pub(crate) struct Watch {
    subscription: Subscription,
    filter: ChangeFilter,
    shutdown: CancellationToken,
    watermark_every: Duration,
    /// When the watcher last got something (an event or a watermark).
    last_sent: Instant,
    done: bool,
}

/// How many filtered-out events are skipped before yielding to the runtime,
/// so a watcher whose filter rejects a flood of events cannot hog a worker.
const SKIP_BURST: u32 = 1024;

impl Watch {
    /// Subscribes; fails with [`StoreError::SeqUnavailable`] when `start`
    /// is older than the AOF.
    pub(crate) fn open(
        store: &Store,
        start: Start,
        filter: ChangeFilter,
        watermark_every: Duration,
        shutdown: CancellationToken,
    ) -> Result<Watch, StoreError> {
        let from = match start {
            // The store reads 0 as "from the next write on".
            Start::Now => 0,
            Start::At(seq) => seq.max(1),
        };
        let subscription = store.subscribe(from, watermark_every)?;
        Ok(Watch {
            subscription,
            filter,
            shutdown,
            watermark_every,
            last_sent: Instant::now(),
            done: false,
        })
    }

    /// The next item for the watcher; `None` once the server shuts down or
    /// after an error was returned.
    pub(crate) async fn next(&mut self) -> Option<Result<StreamItem, StoreError>> {
        if self.done {
            return None;
        }
        let mut skipped = 0u32;
        loop {
            let item = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    self.done = true;
                    return None;
                }
                item = self.subscription.next() => item,
            };
            match item {
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
                Ok(StreamItem::Event(event)) if !self.filter.accepts(&event) => {
                    if self.last_sent.elapsed() >= self.watermark_every {
                        self.last_sent = Instant::now();
                        return Some(Ok(StreamItem::Watermark(Watermark {
                            node: event.node,
                            epoch: event.epoch,
                            last_seq: event.seq,
                            ts_ms: Clock::System.now_ms(),
                        })));
                    }
                    skipped += 1;
                    if skipped.is_multiple_of(SKIP_BURST) {
                        tokio::task::yield_now().await;
                    }
                }
                Ok(item) => {
                    self.last_sent = Instant::now();
                    return Some(Ok(item));
                }
            }
        }
    }

    /// As a stream, for response bodies.
    pub(crate) fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<StreamItem, StoreError>> + Send + 'static {
        futures_util::stream::unfold(self, |mut watch| async move {
            let item = watch.next().await?;
            Some((item, watch))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(op: Op, key: &'static [u8]) -> ChangeEvent {
        ChangeEvent {
            node: "n".into(),
            epoch: 1,
            seq: 1,
            ts_ms: 0,
            op,
            key: Bytes::from_static(key),
            value: None,
            expire_at_ms: None,
            prev: None,
        }
    }

    #[test]
    fn filter_by_prefix_and_op() {
        let all = ChangeFilter::default();
        assert!(all.accepts(&event(Op::Del, b"x")));

        let users = ChangeFilter {
            prefixes: vec![Bytes::from_static(b"user:"), Bytes::from_static(b"acct:")],
            ops: vec![],
        };
        assert!(users.accepts(&event(Op::Set, b"user:1")));
        assert!(users.accepts(&event(Op::Del, b"acct:9")));
        assert!(!users.accepts(&event(Op::Set, b"order:1")));
        assert!(!users.accepts(&event(Op::Set, b"use")));
        assert!(
            users.accepts(&event(Op::Flush, b"")),
            "flush removes users too"
        );

        let sets = ChangeFilter {
            prefixes: vec![Bytes::from_static(b"user:")],
            ops: vec![Op::Set],
        };
        assert!(sets.accepts(&event(Op::Set, b"user:1")));
        assert!(!sets.accepts(&event(Op::Del, b"user:1")));
        assert!(
            !sets.accepts(&event(Op::Flush, b"")),
            "ops still apply to flush"
        );
    }
}
