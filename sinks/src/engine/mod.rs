//! The delivery engine: one task per sink, from its position to the end
//! of its source, at least once, in order, several batches in flight.
//!
//! The task groups events into batches (by count, bytes and linger) and
//! sends each to the sink as soon as it is sealed, while up to
//! `batch.max_in_flight` earlier batches still wait for their answers (see
//! [`Sink`]). Sending is in seq order, on this task; answers come in any
//! order, and the engine acts on them oldest first:
//!
//! - `Delivered` moves the position over the batch. The position only ever
//!   covers a contiguous prefix of answered batches, and is persisted (the
//!   checkpoint) at most every 100 ms and when the task stops.
//! - `Retryable` on the oldest batch stops sending; the later batches in
//!   flight settle, and whatever they got, they do not move the position
//!   past the failed one. After a capped exponential backoff with jitter
//!   (forever) the failed batch is sent again, then every later one, in
//!   the original order.
//! - `Rejected` writes the poison record to the dead letters, counts it,
//!   moves the position up to it, and the rest of its batch is sent again
//!   the same way: first, then the later batches.
//!
//! A later batch's failure, or a batch the sink could hand over only in
//! part, stops sending at once: nothing more is sent until the oldest
//! batches are answered, so the window of batches that can arrive ahead of
//! a failed one stays what was already in flight.
//!
//! # What a consumer sees
//!
//! Every event reaches the destination at least once, and the position
//! never passes an event that is not delivered, filtered out or
//! dead-lettered. A failure makes the destination see a stretch again, and
//! with several batches in flight a later batch may arrive before an
//! earlier one is sent again: consumers deduplicate by `(node, epoch,
//! seq)`, and applying an event only when its seq is above the last one
//! applied for its key keeps per-key order across such redeliveries.
//!
//! With `max_in_flight = 1` the engine sends one batch, waits for its
//! answer, and only then sends the next.
//!
//! # Layout
//!
//! - `source` — where events come from: the store's change stream, or a
//!   finite history through a channel ([`deliver_history`](crate::deliver_history)).
//! - `batch` — assembling and sealing batches.
//! - `window` — the batches in flight and their answers, oldest first.
//! - `progress` — the position, and where it is kept: the checkpoint file,
//!   or only the status.
//! - `pipeline` — [`Pipeline`], a live sink: its checkpoint and the store's
//!   change stream.

mod batch;
mod pipeline;
mod progress;
mod source;
#[cfg(test)]
mod tests;
mod window;

use crate::backoff::Backoff;
use crate::config::SinkConfig;
use crate::dead_letter::DeadLetters;
use crate::error::SinkError;
use crate::sink::{Ack, Delivery, Sink};
use crate::status::{SinkState, SinkStatus};
use batch::{Assembly, Batch};
use fluxkv_schemas::StreamItem;
use progress::Position;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use window::Window;

pub use pipeline::Pipeline;
pub(crate) use progress::{Progress, StatusOnly};
pub(crate) use source::Source;

/// How long a shutdown waits for the answers of the batches in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One sink's delivery task, reading from any [`Source`] and keeping its
/// position with any [`Progress`].
#[derive(Debug)]
pub(crate) struct Engine<S, P> {
    name: String,
    config: SinkConfig,
    sink: S,
    dead_letters: DeadLetters,
    status: Arc<SinkStatus>,
    position: Position<P>,
    window: Window,
    /// Batches to send (again) before the one being assembled, oldest
    /// first.
    resend: VecDeque<Batch>,
    assembly: Assembly,
    backoff: Backoff,
    /// The status says `Retrying`.
    retrying: bool,
}

/// Why the oldest batch stops the flow.
#[derive(Debug)]
enum Setback {
    /// It failed and is sent again after a backoff.
    Retry(Batch, SinkError),
    /// A record was dead-lettered; the rest of the batch is sent again.
    Rest(Batch),
}

impl<S: Sink, P: Progress> Engine<S, P> {
    pub(crate) fn new(
        name: &str,
        config: SinkConfig,
        sink: S,
        dead_letters: DeadLetters,
        progress: P,
    ) -> Engine<S, P> {
        let status = Arc::new(SinkStatus::new(name, config.kind.name()));
        Engine {
            name: name.to_string(),
            window: Window::new(config.batch.max_in_flight),
            resend: VecDeque::new(),
            assembly: Assembly::new(0),
            backoff: Backoff::new(&config.retry),
            retrying: false,
            position: Position::new(progress, status.clone()),
            status,
            config,
            sink,
            dead_letters,
        }
    }

    /// The status the engine keeps up to date.
    pub(crate) fn status(&self) -> Arc<SinkStatus> {
        self.status.clone()
    }

    /// Delivers what `opened` yields — a source, and the seq up to which
    /// every event is done — until the source ends or `shutdown`; then
    /// saves the position and closes the sink.
    pub(crate) async fn run<Src: Source>(
        mut self,
        opened: Result<(Src, u64), SinkError>,
        shutdown: CancellationToken,
    ) -> Result<(), SinkError> {
        let result = match opened {
            Ok((mut source, done)) => self.deliver_all(&mut source, done, &shutdown).await,
            Err(err) => Err(err),
        };
        let saved = self.position.save().await;
        let result = result.and(saved);
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

    async fn deliver_all<Src: Source>(
        &mut self,
        source: &mut Src,
        done: u64,
        shutdown: &CancellationToken,
    ) -> Result<(), SinkError> {
        self.position.start_at(done);
        self.assembly = Assembly::new(done);
        self.status.set_state(SinkState::Running, None);
        let mut ended = false;
        loop {
            // Kept across the inner loop's turns: answers and timers do not
            // cancel a read (a catch-up read from the AOF is costly).
            let next = source.next_item();
            tokio::pin!(next);
            loop {
                if let Some(setback) = self.settle_answered()? {
                    if !self.recover(setback, shutdown).await? {
                        return Ok(()); // shut down: the position stays put
                    }
                    continue;
                }
                if ended {
                    self.assembly.hurry();
                }
                if self.send_next().await {
                    continue;
                }
                if ended && self.is_idle() {
                    return Ok(());
                }
                let reading = !ended && !self.assembly.is_full(&self.config);
                let (linger, save) = (self.assembly.deadline(), self.position.due());
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return self.shut_down().await,
                    () = self.window.answered() => {}
                    item = &mut next, if reading => {
                        match item? {
                            Some(StreamItem::Event(event)) => {
                                self.assembly.push(event, &self.config)?;
                            }
                            // Idle: send what there is, or move past
                            // filtered-out events.
                            Some(StreamItem::Watermark(_)) => self.assembly.hurry(),
                            None => ended = true,
                        }
                        break;
                    }
                    () = sleep_until(linger) => self.assembly.hurry(),
                    () = sleep_until(save) => self.position.start_save(),
                    saved = self.position.saved() => saved?,
                }
            }
        }
    }

    /// Sends the next batch if one is ready and the window takes it: the
    /// batches to send again first, then the one assembled. Whether it
    /// sent one.
    async fn send_next(&mut self) -> bool {
        if !self.window.takes_more() {
            return false;
        }
        let batch = match self.resend.pop_front() {
            Some(batch) => batch,
            None => match self.assembly.seal(&self.config) {
                Some(batch) => batch,
                None => return false,
            },
        };
        let ack = if batch.records.is_empty() {
            Ack::ready(Delivery::Delivered) // every event filtered out
        } else {
            self.sink.send(batch.records.clone()).await
        };
        self.window.push(batch, ack);
        true
    }

    /// Acts on the answers of the oldest batches, in order, up to the
    /// first that stops the flow.
    fn settle_answered(&mut self) -> Result<Option<Setback>, SinkError> {
        while let Some((batch, delivery)) = self.window.pop_answered() {
            match delivery {
                Delivery::Delivered => {
                    self.status.add_delivered(batch.records.len() as u64);
                    self.position.advance(batch.last_seq, batch.last_ts_ms);
                    self.running();
                }
                Delivery::Rejected { index, reason } => {
                    let poison = &batch.records[index];
                    self.dead_letters.write(&self.name, poison, &reason)?;
                    tracing::warn!(sink = %self.name, seq = poison.event.seq, reason, "dead-lettered an event");
                    self.status.add_delivered(index as u64);
                    self.status.add_dead_lettered();
                    self.running();
                    if index + 1 == batch.records.len() {
                        self.position.advance(batch.last_seq, batch.last_ts_ms);
                        continue;
                    }
                    self.position.advance(poison.event.seq, poison.event.ts_ms);
                    return Ok(Some(Setback::Rest(batch.tail(index + 1))));
                }
                Delivery::Retryable(err) => return Ok(Some(Setback::Retry(batch, err))),
            }
        }
        Ok(None)
    }

    /// The oldest batch got through: back to `Running`.
    fn running(&mut self) {
        if self.retrying {
            self.retrying = false;
            self.backoff.reset();
            self.status.set_state(SinkState::Running, None);
        }
    }

    /// After a setback: lets the later batches in flight settle, queues
    /// them to be sent again after the failed batch (or its rest), and
    /// waits the backoff before a retry. False on shutdown; an error once
    /// retention deleted the history a restart would resume from.
    async fn recover(
        &mut self,
        setback: Setback,
        shutdown: &CancellationToken,
    ) -> Result<bool, SinkError> {
        let (first, error) = match setback {
            Setback::Retry(batch, err) => (batch, Some(err)),
            Setback::Rest(batch) => (batch, None),
        };
        if let Some(err) = &error {
            tracing::warn!(sink = %self.name, error = %err, "delivery failed");
            self.status.add_retry();
            self.status
                .set_state(SinkState::Retrying, Some(err.to_string()));
            self.retrying = true;
        }
        let later = tokio::select! {
            later = self.window.settle() => later,
            () = shutdown.cancelled() => return Ok(false),
        };
        // The window's batches were sent before those still queued.
        let queued = std::mem::take(&mut self.resend);
        self.resend = std::iter::once(first).chain(later).chain(queued).collect();
        if error.is_some() {
            // A sink that stays down does not hold history forever: past
            // the retention limit it fails, visibly, instead of retrying.
            self.position.check_history()?;
            let delay = self.backoff.next_delay();
            tracing::debug!(sink = %self.name, retry_in = ?delay, "retrying");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return Ok(false),
            }
        }
        Ok(true)
    }

    /// On shutdown: reads nothing more and gives the batches in flight
    /// [`SHUTDOWN_GRACE`] to be answered, so the position covers them.
    async fn shut_down(&mut self) -> Result<(), SinkError> {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.settle_answered()?.is_none() && !self.window.is_empty() {
            if tokio::time::timeout_at(deadline, self.window.answered())
                .await
                .is_err()
            {
                tracing::warn!(sink = %self.name, "stopping with batches unanswered: they are sent again on restart");
                break;
            }
        }
        Ok(())
    }

    /// Nothing in flight, queued or assembled.
    fn is_idle(&self) -> bool {
        self.window.is_empty() && self.resend.is_empty() && self.assembly.is_empty()
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
