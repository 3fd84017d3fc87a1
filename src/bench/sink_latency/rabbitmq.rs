//! The RabbitMQ side of `--sink-latency`: an exclusive queue of our own
//! bound to the sink's exchange, the consume loop, and reading an event's
//! seq from its AMQP headers.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt as _;
use tokio::sync::{oneshot, watch};

use super::tracker::Tracker;
use super::{SEQ_HEADER, lock, redact};

/// A RabbitMQ sink declares its exchange when it connects, which may be
/// just after the node says it is ready: binding is retried this long.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds an exclusive queue of our own to `exchange`, then consumes it.
pub(super) async fn consume_rabbitmq(
    uri: &str,
    exchange: &str,
    tracker: &Mutex<Tracker>,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{Connection, ConnectionProperties};

    let connection = Connection::connect(uri, ConnectionProperties::default())
        .await
        .with_context(|| {
            format!(
                "connecting to RabbitMQ at {} (is it running? scripts/services.sh starts it \
                 on 127.0.0.1:5672)",
                redact(uri)
            )
        })?;
    let channel = connection
        .create_channel()
        .await
        .context("opening a channel")?;
    let own = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    let queue = channel
        .queue_declare("".into(), own, FieldTable::default())
        .await
        .context("declaring the benchmark's queue")?;
    let queue = queue.name().clone();
    // A failed bind closes its channel: each attempt opens a new one.
    let deadline = Instant::now() + EXCHANGE_TIMEOUT;
    let mut channel = channel;
    loop {
        let bound = channel
            .queue_bind(
                queue.clone(),
                exchange.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await;
        match bound {
            Ok(()) => break,
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| {
                    format!(
                        "binding a queue to exchange {exchange}: does the node have a rabbitmq \
                         sink publishing to it? (the sink declares it when it connects)"
                    )
                });
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                channel = connection
                    .create_channel()
                    .await
                    .context("opening a channel")?;
            }
        }
    }
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = channel
        .basic_consume(queue, "fluxkv-bench".into(), no_ack, FieldTable::default())
        .await
        .context("consuming the benchmark's queue")?;
    let _ = ready.send(());
    let result = loop {
        let delivery = tokio::select! {
            delivery = consumer.next() => delivery,
            _ = stop.changed() => break Ok(()),
        };
        let at = Instant::now();
        match delivery {
            Some(Ok(delivery)) => {
                let seq = delivery.properties.headers().as_ref().and_then(|headers| {
                    let (_, value) = headers
                        .inner()
                        .iter()
                        .find(|(key, _)| key.as_str() == SEQ_HEADER)?;
                    amqp_u64(value)
                });
                lock(tracker).received(seq, at);
            }
            Some(Err(e)) => break Err(e).context("the RabbitMQ consumer failed"),
            None => break Err(anyhow::anyhow!("the broker cancelled the consumer")),
        }
    };
    let _ = connection.close(200, "done".into()).await;
    result
}

/// An AMQP header value as a seq: the sink sends a 64-bit integer.
fn amqp_u64(value: &lapin::types::AMQPValue) -> Option<u64> {
    use lapin::types::AMQPValue as V;
    match value {
        V::LongLongInt(n) => u64::try_from(*n).ok(),
        V::LongInt(n) => u64::try_from(*n).ok(),
        V::LongUInt(n) => Some(u64::from(*n)),
        V::Timestamp(n) => Some(*n),
        V::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        V::ShortString(s) => s.as_str().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_header_values() {
        use lapin::types::{AMQPValue, LongString};
        assert_eq!(amqp_u64(&AMQPValue::LongLongInt(42)), Some(42));
        assert_eq!(amqp_u64(&AMQPValue::LongLongInt(-1)), None);
        assert_eq!(
            amqp_u64(&AMQPValue::LongString(LongString::from("7"))),
            Some(7)
        );
        assert_eq!(amqp_u64(&AMQPValue::Boolean(true)), None);
    }
}
