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
//! duplicate a partition's records. A batch is enqueued whole (waiting for
//! earlier reports when librdkafka's queue is full), then every delivery
//! report is awaited. All acknowledged → `Delivered`. The first failed
//! record refused for what it is (too large, invalid, topic not allowed) →
//! `Rejected` at its index, if every record before it is delivered;
//! otherwise (timeouts after `message_timeout_ms`, brokers down, too few
//! replicas, …) → `Retryable` and the engine resends the batch: consumers
//! see a stretch again and deduplicate by seq.
//!
//! The one ordering hazard librdkafka leaves is a record that times out
//! *in flight* while a later record of its partition is accepted after the
//! connection recovers; keep `message_timeout_ms` well above the broker
//! hiccups you expect (the default is 30 s).
//!
//! # Layout
//!
//! - `config` — [`KafkaConfig`]: brokers, topic (template), compression,
//!   `create_topic`, `message_timeout_ms`, extra librdkafka `properties`.
//! - `client` — the producer's settings, topic creation, partition counts.
//! - `sink` — [`KafkaSink`]: produce a batch, await its reports.
//! - `outcome` — errors to `Delivered | Retryable | Rejected`.

mod client;
mod config;
mod outcome;
mod sink;

pub use config::{Compression, CreateTopic, KafkaConfig};
pub use sink::KafkaSink;
