//! The `Sink` trait: what a destination must do, and the typed outcome of
//! one delivery that the engine acts on.
//!
//! Delivery has two phases so that several batches can be in flight:
//! [`Sink::send`] hands a batch to the destination's client (a producer's
//! queue, a channel's socket) in the order the engine calls it, and
//! returns an [`Ack`], the destination's answer, which the engine awaits
//! apart from sending while it goes on with the next batches.

use crate::error::SinkError;
use bytes::Bytes;
use fluxkv_schemas::ChangeEvent;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A change event with its payload already encoded in the sink's encoding.
#[derive(Debug, Clone)]
pub struct Record {
    /// The event (for keys, headers, routing).
    pub event: ChangeEvent,
    /// The encoded event, as it goes on the wire.
    pub payload: Bytes,
}

/// The outcome of delivering a batch. The engine's cursor advances only
/// over what is known delivered.
#[derive(Debug)]
pub enum Delivery {
    /// The destination acknowledged every record of the batch.
    Delivered,
    /// Nothing can be assumed delivered: the whole batch is sent again
    /// after a backoff (a destination deduplicates by `(node, epoch, seq)`).
    Retryable(SinkError),
    /// `records[..index]` are delivered and `records[index]` never will be
    /// (too large, refused by the broker's rules): it goes to the dead
    /// letters with `reason`, and the engine sends `records[index + 1..]`
    /// again (a sink that knows their fate already answers at once).
    Rejected {
        /// The poison record's position in the batch.
        index: usize,
        /// Why the destination refused it.
        reason: String,
    },
}

/// The destination's answer to one sent batch. Boxed, so that every kind
/// of sink answers with the same type; one allocation per batch.
pub struct Ack {
    answer: Pin<Box<dyn Future<Output = Delivery> + Send>>,
    partial: bool,
}

impl Ack {
    /// The answer to a batch handed over whole, which comes when `answer`
    /// resolves. It must not borrow the sink: it is awaited while the sink
    /// sends later batches.
    pub fn new(answer: impl Future<Output = Delivery> + Send + 'static) -> Ack {
        Ack {
            answer: Box::pin(answer),
            partial: false,
        }
    }

    /// An answer known when sending: a write that is already durable, a
    /// batch that could not be handed over at all.
    pub fn ready(delivery: Delivery) -> Ack {
        Ack::new(std::future::ready(delivery))
    }

    /// The answer to a batch the sink stopped sending midway (a record its
    /// client refused, a connection lost): the engine sends no later batch
    /// until this one is answered, so nothing overtakes the records left
    /// out before they are sent again.
    pub fn partial(answer: impl Future<Output = Delivery> + Send + 'static) -> Ack {
        Ack {
            partial: true,
            ..Ack::new(answer)
        }
    }

    /// Whether the batch was handed over only in part.
    pub fn is_partial(&self) -> bool {
        self.partial
    }
}

impl Future for Ack {
    type Output = Delivery;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Delivery> {
        self.answer.as_mut().poll(cx)
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("partial", &self.partial)
            .finish_non_exhaustive()
    }
}

/// A destination for change events. Implementations report honestly:
/// `Delivered` only once the destination has acknowledged (publisher
/// confirms, delivery reports, fsync).
///
/// Implementations may write `async fn send`; the futures must be `Send`
/// because every pipeline runs as its own task.
pub trait Sink: Send {
    /// Hands `records` (never empty) to the destination, in order and after
    /// every batch sent before, and returns the answer to come. Sending may
    /// wait for room (a full producer queue) but not for the answer: the
    /// engine keeps several batches in flight, up to `batch.max_in_flight`.
    fn send(&mut self, records: Arc<[Record]>) -> impl Future<Output = Ack> + Send;

    /// Sends `records` and waits for the answer: one batch at a time.
    fn deliver(&mut self, records: Arc<[Record]>) -> impl Future<Output = Delivery> + Send
    where
        Self: Sized,
    {
        async move { self.send(records).await.await }
    }

    /// Called when the engine stops: flush and close.
    fn close(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }
}
