//! The Kafka sink (rdkafka, bundled librdkafka): each change event becomes
//! one Kafka record.
//!
//! - **Topic**: `topic`, or per op when it holds `{op}` (`fluxkv.{op}` →
//!   `fluxkv.set`, `fluxkv.del`, …). Per-key order holds within a topic;
//!   with a template a key's `set`s and `del`s are in different topics,
//!   which a consumer merges by `fluxkv-seq`.
//! - **Key**: the event's key, so all changes to a key go to one partition,
//!   in seq order (the Java client's murmur2 partitioner, so Java producers
//!   and Kafka Streams agree on where a key lives). **Value**: the event in
//!   the sink's encoding. **Timestamp**: the write's `ts_ms`.
//! - **Headers**: `fluxkv-seq`, `fluxkv-epoch` (decimal text), `fluxkv-op`
//!   (`set`, …), `fluxkv-node`, `fluxkv-encoding` (the encoding's name as
//!   configured: `json`, `avro`, `avro-confluent:<id>`, `protobuf`) and
//!   `content-type` (its MIME type).
//! - **`flush`** (FLUSHALL, empty key) is produced **once to every
//!   partition** of its topic, with the empty key: every partition's
//!   consumer sees it after the events that preceded it on that partition's
//!   keys and before the ones that follow, and can drop that node's keys
//!   there. All copies carry the same seq; a consumer keeping dedup marks
//!   per `(partition, node, epoch)` (docs/EVENTS.md) applies each copy once.
//!
//! # Delivery
//!
//! The producer is idempotent (`enable.idempotence`, `acks=all`, at most 5
//! requests in flight), so librdkafka's own retries neither reorder nor
//! duplicate a partition's records. Sending a batch enqueues it whole, in
//! order (waiting for its earlier reports when librdkafka's queue is
//! full); its answer awaits every delivery report while the engine
//! enqueues the next batches:
//!
//! - all acknowledged → `Delivered`;
//! - the first failed record refused for what it is (`MessageSizeTooLarge`,
//!   `InvalidRecord`, `InvalidTimestamp`, `InvalidTopic`,
//!   `TopicAuthorizationFailed`, `PolicyViolation`, …), every record before
//!   it delivered → `Rejected` at its index (dead-lettered with the reason);
//! - anything else — records timed out after `message_timeout_ms`, brokers
//!   down, `NotEnoughReplicas`, unknown topics, a full queue, or a
//!   permanent failure behind a transient one → `Retryable`: the engine
//!   resends the batch and consumers see a stretch again (dedup by seq).
//!
//! A record librdkafka refuses when it is enqueued stops the batch there:
//! its answer is marked partial, so the engine enqueues nothing after it
//! until the rest is sent again — no later record overtakes it.
//!
//! A broker refuses a whole request — one partition's record batch — for
//! one bad record, so when several records are refused together none is
//! dead-lettered: that batch, when it is sent again, goes one record at a
//! time (each report awaited before the next record), which names the one
//! at fault. A producer with a fatal error, or whose producer id or epoch
//! the broker refuses (`ProducerFenced` and kin: tansu answers the epoch
//! bump that follows an in-flight timeout so), is replaced by a new one
//! before the next send; answers still awaiting its reports get them,
//! failed, as it is dropped. What an answer found out reaches the next
//! send through state the two share (`Learnt`).
//!
//! librdkafka reports timeouts when it next reaches (or retries reaching)
//! the broker; reconnects back off up to 1 s here, so a batch to a cluster
//! that is away fails after about `message_timeout_ms` + 1–2 s, and that
//! bounds how long the engine waits for the batches in flight before it
//! sends them again (a shutdown waits a few seconds at most, then `close`
//! flushes for up to 10 s). The one ordering hazard librdkafka leaves is a
//! record that times out *in flight* while a later record of its partition
//! is accepted once the connection is back; keep `message_timeout_ms` well
//! above the broker hiccups you expect (the default is 30 s).
//!
//! # Layout
//!
//! - `config` — [`KafkaConfig`]: brokers, topic (template), compression,
//!   `create_topic`, `message_timeout_ms`, extra librdkafka `properties`.
//! - `client` — the producer's settings (plus `reconnect.backoff.max.ms=1000`,
//!   `socket.nagle.disable`, the murmur2 partitioner), topic creation,
//!   partition counts.
//! - `sink` — [`KafkaSink`]: enqueue a batch; its answer awaits the reports.
//! - `outcome` — errors to `Delivered | Retryable | Rejected`.
//! - `mock_tests` — outcomes against librdkafka's mock cluster.

mod client;
mod config;
mod outcome;
mod sink;

#[cfg(test)]
mod mock_tests;

pub use config::{Compression, CreateTopic, KafkaConfig};
pub use sink::KafkaSink;
