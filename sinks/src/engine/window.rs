//! The batches in flight: sent, in seq order, each with the answer to
//! come, up to `batch.max_in_flight` of them.
//!
//! Answers arrive in any order; the window keeps each until every batch
//! before it is answered too, and hands them out oldest first, so the
//! engine only ever moves its position over a contiguous answered prefix.

use super::batch::Batch;
use crate::sink::{Ack, Delivery};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A sent batch and where its answer stands.
#[derive(Debug)]
struct Slot {
    batch: Batch,
    /// The answer to come; `None` once it came.
    ack: Option<Ack>,
    answer: Option<Delivery>,
    /// The sink handed the batch over only in part.
    partial: bool,
}

impl Slot {
    /// Polls the answer: ready when it has just come.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(ack) = &mut self.ack else {
            return Poll::Pending; // answered before: nothing new
        };
        let answer = std::task::ready!(Pin::new(ack).poll(cx));
        self.answer = Some(answer);
        self.ack = None;
        Poll::Ready(())
    }

    /// Whether sending more batches after this one is pointless: they
    /// would be sent again once it is sent again.
    fn holds_back(&self) -> bool {
        match &self.answer {
            None => self.partial,
            Some(Delivery::Delivered) => false,
            Some(Delivery::Retryable(_)) => true,
            Some(Delivery::Rejected { index, .. }) => index + 1 < self.batch.records.len(),
        }
    }
}

/// The batches in flight, oldest first.
#[derive(Debug)]
pub(super) struct Window {
    slots: VecDeque<Slot>,
    capacity: usize,
}

impl Window {
    /// Room for `capacity` batches (at least one).
    pub(super) fn new(capacity: usize) -> Window {
        let capacity = capacity.max(1);
        Window {
            slots: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether the engine may send another batch: there is room, and no
    /// batch in flight is known to need sending again.
    pub(super) fn takes_more(&self) -> bool {
        self.slots.len() < self.capacity && !self.slots.iter().any(Slot::holds_back)
    }

    /// Adds a batch just sent. Its answer is looked at once right away, so
    /// an answer known at sending (a batch the sink could not hand over)
    /// stops the next send.
    pub(super) fn push(&mut self, batch: Batch, ack: Ack) {
        let mut slot = Slot {
            partial: ack.is_partial(),
            batch,
            ack: Some(ack),
            answer: None,
        };
        // A no-op waker: the engine's own waker is registered on the next
        // `answered`, which polls this ack again.
        let _ = slot.poll(&mut Context::from_waker(Waker::noop()));
        self.slots.push_back(slot);
    }

    /// Waits until one more batch is answered; never, when none is left
    /// to answer.
    pub(super) async fn answered(&mut self) {
        poll_fn(|cx| {
            // Every ack is polled, not just the oldest: a later failure
            // stops sending at once.
            let mut any = false;
            for slot in &mut self.slots {
                any |= slot.poll(cx).is_ready();
            }
            if any { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
    }

    /// The oldest batch and its answer, once it is answered.
    pub(super) fn pop_answered(&mut self) -> Option<(Batch, Delivery)> {
        self.slots.front()?.answer.as_ref()?;
        let slot = self.slots.pop_front()?;
        Some((slot.batch, slot.answer?))
    }

    /// Waits for every batch's answer and empties the window: the batches,
    /// oldest first, to send again. Their answers are dropped: an earlier
    /// batch failed, so these are sent again after it whatever they got.
    pub(super) async fn settle(&mut self) -> Vec<Batch> {
        while self.slots.iter().any(|s| s.answer.is_none()) {
            self.answered().await;
        }
        self.slots.drain(..).map(|s| s.batch).collect()
    }
}
