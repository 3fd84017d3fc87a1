//! The RabbitMQ sink (lapin): each change event becomes one persistent
//! message on a topic exchange, published with publisher confirms.
//!
//! A delivery publishes the whole batch on one confirm channel, in seq
//! order, then waits for the broker's answer to every message. Messages
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
//! | is unreachable, closes the connection or channel, or does not confirm within `confirm_timeout_ms` | `Retryable(SinkError::Unavailable)`; the connection is dropped and the next delivery, after the engine's backoff, reconnects |
//!
//! An unroutable event is a configuration problem — no queue is bound for
//! it — not a broker outage: retrying cannot fix it, and waiting would stop
//! every later event. Dead-lettering it keeps the pipeline going and makes
//! the problem visible (the dead-letter file, the sink's `dead_lettered`
//! count). Bind the queues first, or set `mandatory = false` to let the
//! broker drop unroutable events silently, as plain AMQP does.
//!
//! After a nack or a lost connection the engine retries the batch; the sink
//! publishes it again from the first record whose fate is unknown,
//! skipping the leading records already confirmed (see `settled`), so a
//! batch larger than a bounded queue still gets through as consumers make
//! room, and a queue sees at worst a replay of a stretch it already has.
//! One exception: a queue with `x-overflow = reject-publish` may nack a
//! message and then accept a later one when room frees up, so the nacked
//! message arrives after it. Consumers that deduplicate by a high-water seq
//! (docs/EVENTS.md) would skip it: give fluxkv's queues no length limit, or
//! deduplicate by the set of seqs seen.
//!
//! `connect` fails on settings the broker refuses (credentials, virtual
//! host, an exchange of another type) but not on a broker it cannot reach:
//! the sink then starts disconnected and its first delivery connects.

mod config;
mod message;
mod routing;
mod settled;
mod sink;

pub use config::RabbitMqConfig;
pub use sink::RabbitMqSink;
