//! The RabbitMQ sink's settings.

use serde::Deserialize;

/// Where and how events are published to RabbitMQ.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitMqConfig {
    /// The AMQP URI, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub uri: String,
    /// The durable topic exchange events are published to.
    pub exchange: String,
}
