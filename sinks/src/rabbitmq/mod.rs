//! The RabbitMQ sink (lapin). (Being written.)

mod config;

pub use config::RabbitMqConfig;

use crate::error::SinkError;
use crate::sink::{Delivery, Record, Sink};

/// Publishes change events to a RabbitMQ exchange. (Being written.)
#[derive(Debug)]
pub struct RabbitMqSink {}

impl RabbitMqSink {
    /// Connects and opens a confirm channel.
    pub async fn connect(name: &str, _config: &RabbitMqConfig) -> Result<RabbitMqSink, SinkError> {
        Err(SinkError::NotEnabled {
            sink: name.to_string(),
            kind: "rabbitmq".into(),
        })
    }
}

impl Sink for RabbitMqSink {
    async fn deliver(&mut self, _records: &[Record]) -> Delivery {
        unreachable!("a RabbitMqSink is never built yet")
    }
}
