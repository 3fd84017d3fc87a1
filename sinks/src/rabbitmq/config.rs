//! The RabbitMQ sink's settings, and their checks.

use super::routing::RoutingKey;
use crate::error::SinkError;
use lapin::uri::{AMQPScheme, AMQPUri};
use serde::Deserialize;
use std::time::Duration;

/// Where and how events are published to RabbitMQ:
///
/// ```toml
/// [sinks.changes]
/// kind = "rabbitmq"
/// uri = "amqp://guest:guest@127.0.0.1:5672/%2f"
/// exchange = "fluxkv.changes"
/// routing_key = "fluxkv.{op}.{key}"   # {op} {key} {node}
/// declare_exchange = true             # a durable topic exchange
/// mandatory = true                    # unroutable events are dead-lettered
/// connection_timeout_ms = 5000
/// confirm_timeout_ms = 30000
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitMqConfig {
    /// The AMQP URI, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`; its
    /// query takes lapin's options, e.g. `?heartbeat=10`. `amqps://` is not
    /// in this build.
    pub uri: String,
    /// The exchange events are published to. The empty name (the default
    /// exchange) needs `declare_exchange = false`.
    pub exchange: String,
    /// The routing key of each event: text with the placeholders `{op}`,
    /// `{key}` and `{node}`. `{key}` is the key as UTF-8 (invalid bytes
    /// become U+FFFD) with `%` written `%25` and `.` written `%2E`, so a
    /// key is always one word of a topic routing key; it is cut so the
    /// routing key fits AMQP's 255 bytes. The payload has the exact key.
    #[serde(default = "default_routing_key")]
    pub routing_key: String,
    /// Declare `exchange` as a durable topic exchange on every connect (an
    /// existing exchange of another type or durability is an error).
    #[serde(default = "yes")]
    pub declare_exchange: bool,
    /// Publish with the `mandatory` flag: an event no queue is bound for is
    /// returned by the broker and goes to the sink's dead letters. Without
    /// it, the broker drops such events silently.
    #[serde(default = "yes")]
    pub mandatory: bool,
    /// Longest wait for connecting and opening the confirm channel.
    #[serde(default = "default_connection_timeout_ms")]
    pub connection_timeout_ms: u64,
    /// Longest wait for a batch's publisher confirms; past it the
    /// connection is given up and the batch retried on a new one.
    #[serde(default = "default_confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
}

fn default_routing_key() -> String {
    "fluxkv.{op}.{key}".into()
}

fn yes() -> bool {
    true
}

fn default_connection_timeout_ms() -> u64 {
    5_000
}

fn default_confirm_timeout_ms() -> u64 {
    30_000
}

/// A [`RabbitMqConfig`] checked and parsed.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    pub(super) uri: AMQPUri,
    pub(super) routing_key: RoutingKey,
    pub(super) connection_timeout: Duration,
    pub(super) confirm_timeout: Duration,
}

impl RabbitMqConfig {
    /// A RabbitMQ config with the defaults for everything but the
    /// destination.
    pub fn new(uri: impl Into<String>, exchange: impl Into<String>) -> RabbitMqConfig {
        RabbitMqConfig {
            uri: uri.into(),
            exchange: exchange.into(),
            routing_key: default_routing_key(),
            declare_exchange: true,
            mandatory: true,
            connection_timeout_ms: default_connection_timeout_ms(),
            confirm_timeout_ms: default_confirm_timeout_ms(),
        }
    }

    pub(super) fn check(&self, sink: &str) -> Result<Checked, SinkError> {
        let invalid = |reason: String| SinkError::Config {
            sink: sink.to_string(),
            reason,
        };
        let uri: AMQPUri = self
            .uri
            .parse()
            // Not echoing the URI: it may hold a password.
            .map_err(|e| invalid(format!("uri: {e}")))?;
        if uri.scheme == AMQPScheme::AMQPS {
            return Err(invalid(
                "uri: amqps:// needs TLS, which this build leaves out; use amqp://".into(),
            ));
        }
        if self.exchange.len() > 255 {
            return Err(invalid("exchange: longer than AMQP's 255 bytes".into()));
        }
        if self.exchange.is_empty() && self.declare_exchange {
            return Err(invalid(
                "exchange: the default exchange (\"\") cannot be declared; \
                 name an exchange or set declare_exchange = false"
                    .into(),
            ));
        }
        let routing_key = RoutingKey::parse(&self.routing_key)
            .map_err(|e| invalid(format!("routing_key: {e}")))?;
        if self.connection_timeout_ms == 0 || self.confirm_timeout_ms == 0 {
            return Err(invalid(
                "connection_timeout_ms and confirm_timeout_ms must be positive".into(),
            ));
        }
        Ok(Checked {
            uri,
            routing_key,
            connection_timeout: Duration::from_millis(self.connection_timeout_ms),
            confirm_timeout: Duration::from_millis(self.confirm_timeout_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RabbitMqConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_fill_in_everything_but_the_destination() {
        let config = parse("uri = \"amqp://127.0.0.1:5672/%2f\"\nexchange = \"x\"\n").unwrap();
        assert_eq!(
            config,
            RabbitMqConfig::new("amqp://127.0.0.1:5672/%2f", "x")
        );
        assert!(config.check("s").is_ok());
    }

    #[test]
    fn typos_and_bad_values_are_errors_that_name_the_key() {
        let err = parse("uri = \"amqp://h\"\nexchange = \"x\"\nmandatroy = false\n").unwrap_err();
        assert!(err.to_string().contains("mandatroy"), "{err}");
        let check = |config: RabbitMqConfig| config.check("s").unwrap_err().to_string();
        let base = RabbitMqConfig::new("amqp://127.0.0.1/%2f", "x");
        let err = check(RabbitMqConfig {
            uri: "http://h".into(),
            ..base.clone()
        });
        assert!(err.contains("uri"), "{err}");
        let err = check(RabbitMqConfig {
            uri: "amqps://h".into(),
            ..base.clone()
        });
        assert!(err.contains("TLS"), "{err}");
        let err = check(RabbitMqConfig {
            exchange: String::new(),
            ..base.clone()
        });
        assert!(err.contains("declare_exchange"), "{err}");
        let err = check(RabbitMqConfig {
            routing_key: "fluxkv.{value}".into(),
            ..base.clone()
        });
        assert!(
            err.contains("routing_key") && err.contains("{value}"),
            "{err}"
        );
        let err = check(RabbitMqConfig {
            confirm_timeout_ms: 0,
            ..base
        });
        assert!(err.contains("confirm_timeout_ms"), "{err}");
    }
}
