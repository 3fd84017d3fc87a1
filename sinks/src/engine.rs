//! The delivery engine: one task per sink, from its checkpoint to the head
//! of the change stream, at least once, in order.
//!
//! The task resumes at checkpoint + 1, groups events into batches (by
//! count, bytes and linger), hands each batch to the sink and acts on the
//! typed outcome: `Delivered` advances and persists the checkpoint;
//! `Retryable` waits (capped exponential backoff with jitter, forever) and
//! delivers the same batch again; `Rejected` writes the poison event to the
//! dead letters, counts it, and goes on after it. The checkpoint never
//! passes an event that is not delivered, filtered out or dead-lettered.
//! The subscription it reads never slows writers (see `fluxkv_store::stream`).

use crate::backoff::Backoff;
use crate::checkpoint::{Checkpoint, Checkpoints};
use crate::config::SinkConfig;
use crate::dead_letter::DeadLetters;
use crate::error::SinkError;
use crate::sink::{Delivery, Record, Sink};
use crate::status::{SinkState, SinkStatus};
use fluxkv_schemas::{ChangeEvent, StreamItem};
use fluxkv_store::{Store, StoreError, Subscription};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often an idle stream reports progress; filtered-out events still
/// move the checkpoint on these.
const WATERMARK_EVERY: Duration = Duration::from_millis(500);

/// One sink's delivery task.
#[derive(Debug)]
pub struct Pipeline<S> {
    name: String,
    config: SinkConfig,
    sink: S,
    store: Arc<Store>,
    checkpoints: Checkpoints,
    dead_letters: DeadLetters,
    status: Arc<SinkStatus>,
}

/// A batch being assembled.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<Record>,
    bytes: usize,
    /// The last seq the batch covers, filtered-out events included.
    last_seq: u64,
    last_ts_ms: u64,
}

impl<S: Sink> Pipeline<S> {
    /// A pipeline delivering to `sink`, checkpointing in `checkpoints`.
    pub fn new(
        name: &str,
        config: SinkConfig,
        sink: S,
        store: Arc<Store>,
        checkpoints: Checkpoints,
        dead_letters: DeadLetters,
    ) -> Pipeline<S> {
        let status = Arc::new(SinkStatus::new(name, config.kind.name()));
        Pipeline {
            name: name.to_string(),
            config,
            sink,
            store,
            checkpoints,
            dead_letters,
            status,
        }
    }

    /// The status the pipeline keeps up to date.
    pub fn status(&self) -> Arc<SinkStatus> {
        self.status.clone()
    }

    /// Delivers until `shutdown`; a batch in flight is finished (or its
    /// retries abandoned without moving the checkpoint) before returning.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), SinkError> {
        let result = self.deliver_all(&shutdown).await;
        let closed = self.sink.close().await;
        match &result {
            Ok(()) => self.status.set_state(SinkState::Stopped, None),
            Err(err) => {
                tracing::error!(sink = %self.name, error = %err, "sink stopped");
                self.status
                    .set_state(SinkState::Failed, Some(err.to_string()));
            }
        }
        result.and(closed)
    }

    async fn deliver_all(&mut self, shutdown: &CancellationToken) -> Result<(), SinkError> {
        let checkpoint = self.checkpoints.load(&self.name)?;
        let start = match &checkpoint {
            Some(c) => c.seq + 1,
            // A new sink gets every change the AOF still holds.
            None => self.store.oldest_seq()?,
        };
        if let Some(c) = &checkpoint {
            self.status.checkpointed(c.seq, 0);
        }
        let mut stream = match self.store.subscribe(start, WATERMARK_EVERY) {
            Ok(stream) => stream,
            Err(StoreError::SeqUnavailable { requested, oldest }) => {
                return Err(SinkError::Config {
                    sink: self.name.clone(),
                    reason: format!(
                        "its checkpoint needs seq {requested} but the AOF starts at {oldest}: \
                         the sink fell past retention and needs a re-snapshot"
                    ),
                });
            }
            Err(err) => return Err(err.into()),
        };
        self.status.set_state(SinkState::Running, None);
        tracing::info!(sink = %self.name, from_seq = start, "sink started");
        let mut backoff = Backoff::new(&self.config.retry);
        let mut done_seq = start - 1;
        loop {
            let Some(batch) = self.next_batch(&mut stream, shutdown, done_seq).await? else {
                return Ok(());
            };
            if !batch.records.is_empty() && !self.deliver(&batch, &mut backoff, shutdown).await? {
                return Ok(()); // shut down mid-retry: the checkpoint stays put
            }
            if batch.last_seq > done_seq {
                done_seq = batch.last_seq;
                self.commit(done_seq, batch.last_ts_ms)?;
            }
        }
    }

    /// The next batch: waits for a first event (or a watermark that moves
    /// the position past filtered-out events), then gathers more until the
    /// batch is full or the linger time is up. `None` on shutdown.
    async fn next_batch(
        &mut self,
        stream: &mut Subscription,
        shutdown: &CancellationToken,
        done_seq: u64,
    ) -> Result<Option<Batch>, SinkError> {
        let mut batch = Batch {
            last_seq: done_seq,
            ..Batch::default()
        };
        let mut deadline: Option<Instant> = None;
        loop {
            let full = batch.records.len() >= self.config.batch.max_events
                || batch.bytes >= self.config.batch.max_bytes;
            if full {
                return Ok(Some(batch));
            }
            let item = tokio::select! {
                item = stream.next() => item?,
                () = shutdown.cancelled() => return Ok(None),
                () = sleep_until(deadline) => return Ok(Some(batch)),
            };
            match item {
                StreamItem::Event(event) => {
                    batch.last_seq = event.seq;
                    batch.last_ts_ms = event.ts_ms;
                    if self.config.filter.accepts(&event) {
                        let record = self.encode(event)?;
                        batch.bytes += record.payload.len();
                        batch.records.push(record);
                        deadline.get_or_insert_with(|| {
                            Instant::now() + Duration::from_millis(self.config.batch.linger_ms)
                        });
                    }
                }
                // Idle: deliver what there is, or move past filtered events.
                StreamItem::Watermark(_)
                    if !batch.records.is_empty() || batch.last_seq > done_seq =>
                {
                    return Ok(Some(batch));
                }
                StreamItem::Watermark(_) => {}
            }
        }
    }

    fn encode(&self, event: ChangeEvent) -> Result<Record, SinkError> {
        let payload = self.config.encoding.encode(&event)?.into();
        Ok(Record { event, payload })
    }

    /// Delivers `batch` until it is done. Returns false on shutdown.
    async fn deliver(
        &mut self,
        batch: &Batch,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Result<bool, SinkError> {
        let mut rest = &batch.records[..];
        while !rest.is_empty() {
            match self.sink.deliver(rest).await {
                Delivery::Delivered => {
                    self.status.add_delivered(rest.len() as u64);
                    rest = &[];
                }
                Delivery::Rejected { index, reason } => {
                    let poison = &rest[index];
                    self.dead_letters.write(&self.name, poison, &reason)?;
                    tracing::warn!(sink = %self.name, seq = poison.event.seq, reason, "dead-lettered an event");
                    self.status.add_delivered(index as u64);
                    self.status.add_dead_lettered();
                    rest = &rest[index + 1..];
                }
                Delivery::Retryable(err) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(sink = %self.name, error = %err, retry_in = ?delay, "delivery failed");
                    self.status.add_retry();
                    self.status
                        .set_state(SinkState::Retrying, Some(err.to_string()));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue,
                        () = shutdown.cancelled() => return Ok(false),
                    }
                }
            }
            backoff.reset();
            self.status.set_state(SinkState::Running, None);
        }
        Ok(true)
    }

    fn commit(&mut self, seq: u64, ts_ms: u64) -> Result<(), SinkError> {
        let identity = self.store.identity();
        let checkpoint = Checkpoint {
            node: identity.node.to_string(),
            epoch: identity.epoch,
            seq,
        };
        self.checkpoints.store(&self.name, &checkpoint)?;
        self.status.checkpointed(seq, ts_ms);
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
