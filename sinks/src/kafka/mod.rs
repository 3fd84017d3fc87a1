//! The Kafka sink (rdkafka). (Being written.)

mod config;

pub use config::KafkaConfig;

use crate::error::SinkError;
use crate::sink::{Delivery, Record, Sink};

/// Produces change events to a Kafka topic. (Being written.)
#[derive(Debug)]
pub struct KafkaSink {}

impl KafkaSink {
    /// Connects the producer.
    pub async fn connect(name: &str, _config: &KafkaConfig) -> Result<KafkaSink, SinkError> {
        Err(SinkError::NotEnabled {
            sink: name.to_string(),
            kind: "kafka".into(),
        })
    }
}

impl Sink for KafkaSink {
    async fn deliver(&mut self, _records: &[Record]) -> Delivery {
        unreachable!("a KafkaSink is never built yet")
    }
}
