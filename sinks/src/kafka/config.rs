//! The Kafka sink's settings.
//!
//! ```toml
//! [sinks.changes]
//! kind = "kafka"
//! brokers = "127.0.0.1:9092"
//! topic = "fluxkv.{op}"                 # or one fixed topic
//! compression = "zstd"                  # none | gzip | snappy | lz4 | zstd
//! create_topic = { partitions = 6, replication = 1 }
//! message_timeout_ms = 30000
//! properties = { "linger.ms" = "5" }   # any other librdkafka setting
//! ```

use fluxkv_schemas::Op;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::num::NonZeroU32;

/// Where and how events are produced to Kafka.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The topic, or a template of it: `{op}` is replaced by the event's op
    /// (`set`, `del`, `expire`, `evict`, `flush`).
    #[serde(deserialize_with = "topic_template")]
    pub topic: String,
    /// How record batches are compressed.
    #[serde(default)]
    pub compression: Compression,
    /// Create the topic (each topic of a template) when it is missing.
    #[serde(default)]
    pub create_topic: Option<CreateTopic>,
    /// How long librdkafka keeps trying one record (reconnecting, retrying)
    /// before it reports the record failed and the batch is retried. At
    /// least 1 (librdkafka reads 0 as "forever", which would hold a batch,
    /// and a shutdown, for as long as the cluster is away).
    #[serde(
        default = "default_message_timeout_ms",
        deserialize_with = "message_timeout_ms"
    )]
    pub message_timeout_ms: u64,
    /// Extra librdkafka settings (security, batching, …), applied last.
    /// The ones the sink's guarantees rest on cannot be overridden.
    #[serde(default, deserialize_with = "properties")]
    pub properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// The topic the events of `op` go to.
    pub fn topic_for(&self, op: Op) -> String {
        self.topic.replace("{op}", op.as_str())
    }
}

/// A record batch compression codec. All five are built into the bundled
/// librdkafka (gzip through zlib, zstd through the `zstd` feature).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The value of librdkafka's `compression.codec`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// How a missing topic is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// Number of partitions.
    pub partitions: NonZeroU32,
    /// Replication factor.
    #[serde(default = "default_replication")]
    pub replication: NonZeroU32,
}

fn default_message_timeout_ms() -> u64 {
    30_000
}

fn message_timeout_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let ms = u64::deserialize(d)?;
    if ms == 0 || ms > i32::MAX as u64 {
        return Err(D::Error::custom(format!(
            "message_timeout_ms must be between 1 and {}, not {ms}",
            i32::MAX
        )));
    }
    Ok(ms)
}

fn default_replication() -> NonZeroU32 {
    NonZeroU32::MIN
}

/// librdkafka settings the sink sets itself, and why they stay as set.
const RESERVED: [(&str, &str); 9] = [
    ("bootstrap.servers", "set `brokers` instead"),
    ("metadata.broker.list", "set `brokers` instead"),
    ("compression.codec", "set `compression` instead"),
    ("compression.type", "set `compression` instead"),
    ("message.timeout.ms", "set `message_timeout_ms` instead"),
    ("delivery.timeout.ms", "set `message_timeout_ms` instead"),
    (
        "enable.idempotence",
        "the sink needs the idempotent producer for per-key order through retries",
    ),
    (
        "acks",
        "the sink acknowledges only records all in-sync replicas hold",
    ),
    (
        "transactional.id",
        "the sink delivers at least once, without transactions",
    ),
];

fn properties<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let properties = BTreeMap::<String, String>::deserialize(d)?;
    for key in properties.keys() {
        if let Some((_, why)) = RESERVED.iter().find(|(k, _)| k == key) {
            return Err(D::Error::custom(format!(
                "kafka property {key:?} cannot be set in `properties`: {why}"
            )));
        }
        let (max_in_flight, why) = (5, "more breaks the idempotent producer's ordering");
        if key == "max.in.flight.requests.per.connection" || key == "max.in.flight" {
            let n: u32 = properties[key].parse().unwrap_or(u32::MAX);
            if !(1..=max_in_flight).contains(&n) {
                return Err(D::Error::custom(format!(
                    "kafka property {key:?} must be between 1 and {max_in_flight}: {why}"
                )));
            }
        }
    }
    Ok(properties)
}

/// A topic name with at most an `{op}` placeholder, legal once expanded.
fn topic_template<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let topic = String::deserialize(d)?;
    let expanded = topic.replace("{op}", "set");
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if expanded.is_empty() || expanded.len() > 249 || !expanded.chars().all(legal) {
        return Err(D::Error::custom(format!(
            "invalid kafka topic {topic:?}: up to 249 of a-z A-Z 0-9 . _ -, \
             with an optional {{op}} placeholder"
        )));
    }
    if expanded == "." || expanded == ".." {
        return Err(D::Error::custom(format!(
            "invalid kafka topic {topic:?}: \".\" and \"..\" are not topic names"
        )));
    }
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<KafkaConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults() {
        let c = parse("brokers = \"b:9092\"\ntopic = \"t\"").unwrap();
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.create_topic, None);
        assert_eq!(c.message_timeout_ms, 30_000);
        assert!(c.properties.is_empty());
        assert_eq!(c.topic_for(Op::Del), "t");
    }

    #[test]
    fn every_key() {
        let c = parse(
            r#"
            brokers = "a:1,b:2"
            topic = "fluxkv.{op}"
            compression = "zstd"
            create_topic = { partitions = 6 }
            message_timeout_ms = 5000
            properties = { "linger.ms" = "2", "max.in.flight" = "5" }
            "#,
        )
        .unwrap();
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(
            c.create_topic,
            Some(CreateTopic {
                partitions: NonZeroU32::new(6).unwrap(),
                replication: NonZeroU32::MIN,
            })
        );
        assert_eq!(c.topic_for(Op::Flush), "fluxkv.flush");
        assert_eq!(c.properties["linger.ms"], "2");
    }

    #[test]
    fn bad_values_are_errors() {
        let base = "brokers = \"b\"\n";
        let err = |extra: &str| parse(&format!("{base}{extra}")).unwrap_err().to_string();
        assert!(err("topic = \"t\"\ncompresion = \"gzip\"").contains("compresion"));
        assert!(err("topic = \"t\"\ncompression = \"brotli\"").contains("brotli"));
        assert!(err("topic = \"a b\"").contains("invalid kafka topic"));
        assert!(err("topic = \"t.{key}\"").contains("invalid kafka topic"));
        assert!(
            err("topic = \"t\"\ncreate_topic = { partitions = 1, replicas = 1 }")
                .contains("replicas")
        );
        assert!(err("topic = \"t\"\ncreate_topic = { partitions = 0 }").contains("nonzero"));
        assert!(err("topic = \"t\"\nmessage_timeout_ms = 0").contains("between 1 and"));
        let e = err("topic = \"t\"\nproperties = { \"enable.idempotence\" = \"false\" }");
        assert!(e.contains("idempotent"), "{e}");
        let e = err("topic = \"t\"\nproperties = { \"acks\" = \"1\" }");
        assert!(e.contains("acks"), "{e}");
        let e = err(
            "topic = \"t\"\nproperties = { \"max.in.flight.requests.per.connection\" = \"10\" }",
        );
        assert!(e.contains("between 1 and 5"), "{e}");
    }
}
