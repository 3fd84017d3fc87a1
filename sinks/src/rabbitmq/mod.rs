//! The RabbitMQ sink (lapin): each change event becomes one persistent
//! message on a topic exchange, published with publisher confirms.
//!
//! Sending a batch publishes it whole on one confirm channel, in seq
//! order; its answer waits for the broker's confirm of every message while
//! the engine publishes the next batches. Messages
//! carry the event's identity (`message_id` = `node:epoch:seq`, headers
//! `fluxkv-seq`, `fluxkv-epoch`, `fluxkv-op`, `fluxkv-node`) and are routed
//! by the `routing_key` template, `fluxkv.{op}.{key}` by default (see
//! `routing` for how keys are escaped).
//!
//! # What the broker's answers become
//!
//! | the broker | the delivery |
//! |---|---|
//! | acks every message | `Delivered` |
//! | returns a message (`mandatory`, no queue bound for its routing key) | `Rejected` at that record: it goes to the dead letters with `unroutable: no queue bound for routing key …` |
//! | nacks a message (a full queue with `x-overflow = reject-publish`, a broker failure) | `Retryable(SinkError::Nack)` |
//! | is unreachable, closes the connection or channel, or does not confirm within `confirm_timeout_ms` | `Retryable(SinkError::Unavailable)`; the connection is dropped and the next send, after the engine's backoff, reconnects |
//!
//! An unroutable event is a configuration problem — no queue is bound for
//! it — not a broker outage: retrying cannot fix it, and waiting would stop
//! every later event. Dead-lettering it keeps the pipeline going and makes
//! the problem visible (the dead-letter file, the sink's `dead_lettered`
//! count). Bind the queues first, or set `mandatory = false` to let the
//! broker drop unroutable events silently, as plain AMQP does.
//!
//! After a nack or a lost connection the engine sends the batch again, and
//! the later ones after it; the sink publishes from the first record whose
//! fate is unknown, skipping the leading records already confirmed (see
//! `settled`), so a batch larger than a bounded queue still gets through as
//! consumers make room, and a queue sees at worst a replay of a stretch it
//! already has. Publishing that stops midway (the channel closes) marks
//! the answer partial: the engine publishes nothing more until the rest is
//! sent again.
//!
//! So a message nacked or lost can arrive after later ones: those of the
//! batches in flight with it, or, with `x-overflow = reject-publish`, one
//! the queue accepted once room freed up. Consumers that deduplicate by
//! one high-water seq per queue would skip it; a high-water seq per key
//! (apply an event only when its seq is above the last one applied for its
//! key) keeps per-key order, and the set of seqs seen keeps every event.
//!
//! `connect` fails on settings the broker refuses (credentials, virtual
//! host, an exchange of another type) but not on a broker it cannot reach:
//! the sink then starts disconnected and its first send connects.

mod config;
mod confirms;
mod message;
mod routing;
mod settled;
mod sink;

pub use config::RabbitMqConfig;
pub use sink::RabbitMqSink;
