//! A sink's configuration: one flat TOML table per sink, as
//!
//! ```toml
//! [sinks.orders]
//! kind = "kafka"                 # kafka | rabbitmq | file | stdout
//! encoding = "json"              # json | avro | avro-confluent:<id> | protobuf
//! filter = { prefixes = ["order:"], ops = ["set", "del"] }
//! batch = { max_events = 500, max_bytes = 1048576, linger_ms = 0, max_in_flight = 8 }
//! retry = { initial_backoff_ms = 100, max_backoff_ms = 30000, jitter = 0.2 }
//! dead_letter = { path = "data/dead-letters/orders.jsonl" }
//! brokers = "127.0.0.1:9092"     # …then the kind's own keys
//! topic = "fluxkv.changes"
//! ```
//!
//! The common keys are read first and the rest must be exactly the kind's
//! keys: a typo anywhere is an error, as everywhere in fluxkv's config.

use crate::file::FileConfig;
use crate::kafka::KafkaConfig;
use crate::rabbitmq::RabbitMqConfig;
use crate::stdout::StdoutConfig;
use fluxkv_schemas::{Encoding, Op};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// Everything about one sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// How events are encoded on the wire.
    pub encoding: Encoding,
    /// Which events go to this sink.
    pub filter: FilterConfig,
    /// How events are grouped into deliveries.
    pub batch: BatchConfig,
    /// How failed deliveries are retried.
    pub retry: RetryConfig,
    /// Where poison events go.
    pub dead_letter: Option<DeadLetterConfig>,
    /// The destination and its own settings.
    pub kind: KindConfig,
}

/// The destination, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum KindConfig {
    /// A Kafka topic (rdkafka).
    Kafka(KafkaConfig),
    /// A RabbitMQ exchange (lapin).
    RabbitMq(RabbitMqConfig),
    /// Rotating files on local disk.
    File(FileConfig),
    /// Standard output, for people trying fluxkv out.
    Stdout(StdoutConfig),
}

impl KindConfig {
    /// The kind's name as written in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            KindConfig::Kafka(_) => "kafka",
            KindConfig::RabbitMq(_) => "rabbitmq",
            KindConfig::File(_) => "file",
            KindConfig::Stdout(_) => "stdout",
        }
    }
}

/// Which events a sink receives. Empty lists mean everything.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Keys starting with one of these (a `flush` always passes).
    pub prefixes: Vec<String>,
    /// Only these ops.
    pub ops: Vec<Op>,
}

impl FilterConfig {
    /// Whether `event` goes to the sink.
    pub fn accepts(&self, event: &fluxkv_schemas::ChangeEvent) -> bool {
        let op_ok = self.ops.is_empty() || self.ops.contains(&event.op);
        let prefix_ok = event.op == Op::Flush
            || self.prefixes.is_empty()
            || self
                .prefixes
                .iter()
                .any(|p| event.key.starts_with(p.as_bytes()));
        op_ok && prefix_ok
    }
}

/// How events are grouped and how many groups travel at once: a batch is
/// sent when it reaches `max_events` or `max_bytes`, or `linger_ms` after
/// its first event, as long as fewer than `max_in_flight` batches await
/// their acknowledgement; meanwhile the next batch keeps filling up.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Most events in one delivery.
    pub max_events: usize,
    /// Most encoded bytes in one delivery.
    pub max_bytes: usize,
    /// Longest wait for more events once one is there. Events that are
    /// already there go into the batch without waiting, and while the
    /// batches in flight take up the window the next one fills up anyway:
    /// so by default (0) a batch goes as soon as nothing more is ready.
    pub linger_ms: u64,
    /// Most batches sent and not yet acknowledged; 1 sends a batch only
    /// once the one before is acknowledged.
    pub max_in_flight: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: 1000,
            max_bytes: 1 << 20,
            linger_ms: 0,
            max_in_flight: 8,
        }
    }
}

/// Retries of transient failures: forever, with capped exponential backoff
/// and jitter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// The first wait.
    pub initial_backoff_ms: u64,
    /// The longest wait.
    pub max_backoff_ms: u64,
    /// Each wait is scaled by a random factor in `1 ± jitter` (0..=1).
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 30_000,
            jitter: 0.2,
        }
    }
}

/// Where events the destination rejects for good are written (JSON lines,
/// with the reason), so delivery can go on without losing them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// The dead-letter file; relative paths are under the data directory.
    pub path: std::path::PathBuf,
}

/// The keys every kind shares.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    kind: String,
    #[serde(default = "default_encoding")]
    encoding: Encoding,
    #[serde(default)]
    filter: FilterConfig,
    #[serde(default)]
    batch: BatchConfig,
    #[serde(default)]
    retry: RetryConfig,
    #[serde(default)]
    dead_letter: Option<DeadLetterConfig>,
}

fn default_encoding() -> Encoding {
    Encoding::Json
}

const COMMON_KEYS: [&str; 6] = [
    "kind",
    "encoding",
    "filter",
    "batch",
    "retry",
    "dead_letter",
];

impl<'de> Deserialize<'de> for SinkConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let mut common = toml::Table::new();
        for key in COMMON_KEYS {
            if let Some(value) = table.remove(key) {
                common.insert(key.to_string(), value);
            }
        }
        let common: Common = common.try_into().map_err(D::Error::custom)?;
        let rest = toml::Value::Table(table);
        let kind = match common.kind.as_str() {
            "kafka" => KindConfig::Kafka(rest.try_into().map_err(D::Error::custom)?),
            "rabbitmq" => KindConfig::RabbitMq(rest.try_into().map_err(D::Error::custom)?),
            "file" => KindConfig::File(rest.try_into().map_err(D::Error::custom)?),
            "stdout" => KindConfig::Stdout(rest.try_into().map_err(D::Error::custom)?),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown sink kind {other:?}: expected kafka, rabbitmq, file or stdout"
                )));
            }
        };
        if !(0.0..=1.0).contains(&common.retry.jitter) {
            return Err(D::Error::custom("retry.jitter must be between 0 and 1"));
        }
        let batch = &common.batch;
        if batch.max_events == 0 || batch.max_bytes == 0 || batch.max_in_flight == 0 {
            return Err(D::Error::custom(
                "batch.max_events, batch.max_bytes and batch.max_in_flight must be positive",
            ));
        }
        Ok(SinkConfig {
            encoding: common.encoding,
            filter: common.filter,
            batch: common.batch,
            retry: common.retry,
            dead_letter: common.dead_letter,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(text: &str) -> Result<BTreeMap<String, SinkConfig>, toml::de::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            sinks: BTreeMap<String, SinkConfig>,
        }
        toml::from_str::<Doc>(text).map(|doc| doc.sinks)
    }

    #[test]
    fn a_flat_table_with_common_and_kind_keys() {
        let sinks = parse(
            r#"
            [sinks.audit]
            kind = "file"
            encoding = "protobuf"
            filter = { prefixes = ["user:"], ops = ["set"] }
            batch = { max_events = 10, max_in_flight = 2 }
            dir = "audit"
            "#,
        )
        .unwrap();
        let audit = &sinks["audit"];
        assert_eq!(audit.encoding, Encoding::Protobuf);
        assert_eq!(audit.filter.ops, vec![Op::Set]);
        assert_eq!(audit.batch.max_events, 10);
        assert_eq!(audit.batch.max_in_flight, 2);
        assert_eq!(audit.batch.linger_ms, BatchConfig::default().linger_ms);
        assert!(
            matches!(&audit.kind, KindConfig::File(file) if file.dir == std::path::Path::new("audit"))
        );
    }

    #[test]
    fn typos_are_errors_in_common_and_kind_keys() {
        let err = parse("[sinks.a]\nkind = \"stdout\"\nencodng = \"json\"\n").unwrap_err();
        assert!(err.to_string().contains("encodng"), "{err}");
        let err = parse("[sinks.a]\nkind = \"file\"\ndir = \"x\"\nrotat_bytes = 1\n").unwrap_err();
        assert!(err.to_string().contains("rotat_bytes"), "{err}");
        let err = parse("[sinks.a]\nkind = \"kafak\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown sink kind"), "{err}");
        let err = parse("[sinks.a]\nkind = \"stdout\"\nretry = { jitter = 2.0 }\n").unwrap_err();
        assert!(err.to_string().contains("jitter"), "{err}");
        let err =
            parse("[sinks.a]\nkind = \"stdout\"\nbatch = { max_in_flight = 0 }\n").unwrap_err();
        assert!(err.to_string().contains("max_in_flight"), "{err}");
    }

    #[test]
    fn filters_pass_flush_and_match_prefixes_and_ops() {
        use bytes::Bytes;
        let event = |op, key: &'static str| fluxkv_schemas::ChangeEvent {
            node: "n".into(),
            epoch: 1,
            seq: 1,
            ts_ms: 0,
            op,
            key: Bytes::from_static(key.as_bytes()),
            value: None,
            expire_at_ms: None,
            prev: None,
        };
        let filter = FilterConfig {
            prefixes: vec!["user:".into()],
            ops: vec![Op::Set, Op::Flush],
        };
        assert!(filter.accepts(&event(Op::Set, "user:1")));
        assert!(!filter.accepts(&event(Op::Set, "order:1")));
        assert!(!filter.accepts(&event(Op::Del, "user:1")));
        assert!(filter.accepts(&event(Op::Flush, "")));
    }
}
