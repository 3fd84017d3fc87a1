//! The `Sink` trait: what a destination must do, and the typed outcome of
//! one delivery that the engine acts on.

use crate::error::SinkError;
use bytes::Bytes;
use fluxkv_schemas::ChangeEvent;

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
    /// Nothing can be assumed delivered: the whole batch is retried after a
    /// backoff (a destination deduplicates by `(node, epoch, seq)`).
    Retryable(SinkError),
    /// `records[..index]` are delivered and `records[index]` never will be
    /// (too large, refused by the broker's rules): it goes to the dead
    /// letters with `reason`, and delivery goes on after it.
    Rejected {
        /// The poison record's position in the batch.
        index: usize,
        /// Why the destination refused it.
        reason: String,
    },
}

/// A destination for change events. Implementations deliver a batch in
/// order and report honestly: `Delivered` only once the destination has
/// acknowledged (publisher confirms, delivery reports, fsync).
///
/// Implementations may write `async fn deliver`; the futures must be
/// `Send` because every pipeline runs as its own task.
pub trait Sink: Send {
    /// Delivers `records` (never empty), in order.
    fn deliver(&mut self, records: &[Record]) -> impl Future<Output = Delivery> + Send;

    /// Called when the engine stops: flush and close.
    fn close(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }
}
