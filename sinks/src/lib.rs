//! fluxkv's sinks: the delivery engine that takes the change stream to
//! destinations — at least once, in per-key order, through crashes and
//! broker outages — and the built-in destinations.
//!
//! # Layout
//!
//! - [`sink`](Sink) — the `Sink` trait: send a batch, get an [`Ack`] that
//!   resolves to the typed [`Delivery`] outcome.
//! - [`engine`](Pipeline) — one task per sink: batch, send with several
//!   batches in flight, retry, dead-letter, checkpoint the acknowledged
//!   prefix.
//! - [`history`](deliver_history) — a finite history through the same
//!   engine, for `fluxkv replay --sink`.
//! - [`config`](SinkConfig) — one flat TOML table per sink.
//! - `checkpoint`, `backoff`, `dead_letter`, `status` — the engine's parts.
//! - [`supervisor`](Sinks) — starts every configured sink.
//! - `any` — every kind behind one type, dispatched with `match`.
//! - Destinations, one folder each: `kafka/`, `rabbitmq/`, `file/`, and
//!   `stdout`.

mod any;
mod backoff;
mod checkpoint;
pub mod config;
mod dead_letter;
mod engine;
mod error;
pub mod file;
mod history;
pub mod kafka;
pub mod rabbitmq;
mod sink;
mod status;
pub mod stdout;
mod supervisor;

pub use any::AnySink;
pub use backoff::Backoff;
pub use checkpoint::{Checkpoint, Checkpoints};
pub use config::{KindConfig, SinkConfig};
pub use dead_letter::DeadLetters;
pub use engine::Pipeline;
pub use error::SinkError;
pub use history::{HistoryRun, deliver_history};
pub use sink::{Ack, Delivery, Record, Sink};
pub use status::{SinkReport, SinkState, SinkStatus};
pub use supervisor::Sinks;
