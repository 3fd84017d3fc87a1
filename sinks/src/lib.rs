//! fluxkv's sinks: the delivery engine that takes the change stream to
//! destinations — at least once, in per-key order, through crashes and
//! broker outages — and the built-in destinations.
//!
//! # Layout
//!
//! - [`sink`](Sink) — the `Sink` trait and the typed [`Delivery`] outcome.
//! - [`engine`](Pipeline) — one task per sink: checkpoint, batch, deliver,
//!   retry, dead-letter, checkpoint again.
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
pub use sink::{Delivery, Record, Sink};
pub use status::{SinkReport, SinkState, SinkStatus};
pub use supervisor::Sinks;
