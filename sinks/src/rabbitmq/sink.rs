//! The connection, and publishing a batch on it (its answer is in
//! `confirms`).

use super::config::{Checked, RabbitMqConfig};
use super::confirms::Confirms;
use super::message;
use super::routing::RoutingKey;
use super::settled::{Plan, Settled};
use crate::error::SinkError;
use crate::sink::{Ack, Record, Sink};
use fluxkv_schemas::Encoding;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::{Instant, timeout, timeout_at};

/// Publishes change events to a RabbitMQ exchange, with publisher
/// confirms; see the [module documentation](super) for what each broker
/// answer becomes.
#[derive(Debug)]
pub struct RabbitMqSink {
    name: String,
    uri: AMQPUri,
    exchange: ShortString,
    routing_key: RoutingKey,
    declare_exchange: bool,
    mandatory: bool,
    connection_timeout: Duration,
    confirm_timeout: Duration,
    content_type: ShortString,
    /// `None` while disconnected: the next send connects first. Boxed:
    /// lapin's handles are large, and `AnySink` holds every kind inline.
    link: Option<Box<Link>>,
    /// Shared with the answers in flight, which note what the broker
    /// settled; locked briefly, never across an await.
    settled: Arc<Mutex<Settled>>,
    /// Set by an answer that lost the connection (or got no confirm in
    /// time): the next send reconnects.
    lost: Arc<AtomicBool>,
}

/// A connection and its confirm channel.
#[derive(Debug)]
struct Link {
    connection: Connection,
    channel: Channel,
}

impl RabbitMqSink {
    /// Checks `config` and connects: opens a channel in confirm mode and
    /// declares the exchange (when configured). Invalid settings, and a
    /// broker that refuses them (credentials, virtual host, an exchange of
    /// another type), are errors; a broker that cannot be reached is not:
    /// the sink starts disconnected and the first delivery connects, so a
    /// node starts during a broker outage.
    pub async fn connect(
        name: &str,
        config: &RabbitMqConfig,
        encoding: Encoding,
    ) -> Result<RabbitMqSink, SinkError> {
        let Checked {
            uri,
            routing_key,
            connection_timeout,
            confirm_timeout,
        } = config.check(name)?;
        let mut sink = RabbitMqSink {
            name: name.to_string(),
            uri,
            exchange: config.exchange.as_str().into(),
            routing_key,
            declare_exchange: config.declare_exchange,
            mandatory: config.mandatory,
            connection_timeout,
            confirm_timeout,
            content_type: encoding.content_type().into(),
            link: None,
            settled: Arc::default(),
            lost: Arc::default(),
        };
        match timeout(connection_timeout, sink.open()).await {
            Ok(Ok(link)) => sink.link = Some(Box::new(link)),
            Ok(Err(err)) if err.is_amqp_error() => {
                return Err(SinkError::Config {
                    sink: name.to_string(),
                    reason: format!("RabbitMQ refused the sink's settings: {err}"),
                });
            }
            Ok(Err(err)) => {
                tracing::warn!(sink = name, error = %err, "RabbitMQ unreachable; connecting on first delivery");
            }
            Err(_) => {
                tracing::warn!(
                    sink = name,
                    "RabbitMQ did not answer; connecting on first delivery"
                );
            }
        }
        Ok(sink)
    }

    /// A connection with a confirm channel and the exchange declared.
    async fn open(&self) -> lapin::Result<Link> {
        let properties = ConnectionProperties::default()
            .with_connection_name(format!("fluxkv sink {}", self.name).into());
        let connection = Connection::connect_uri(self.uri.clone(), properties).await?;
        let channel = match self.open_channel(&connection).await {
            Ok(channel) => channel,
            Err(err) => {
                close_in_background(connection);
                return Err(err);
            }
        };
        Ok(Link {
            connection,
            channel,
        })
    }

    async fn open_channel(&self, connection: &Connection) -> lapin::Result<Channel> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        if self.declare_exchange {
            let durable = ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            };
            channel
                .exchange_declare(
                    self.exchange.clone(),
                    ExchangeKind::Topic,
                    durable,
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(channel)
    }

    /// The channel, reconnecting first when the link is gone or broken.
    async fn channel(&mut self) -> Result<Channel, SinkError> {
        if self.lost.swap(false, Ordering::AcqRel) {
            self.disconnect(); // its state is unknown
        }
        if let Some(link) = &self.link {
            if link.connection.status().connected() && link.channel.status().connected() {
                return Ok(link.channel.clone());
            }
            self.disconnect();
        }
        let link = match timeout(self.connection_timeout, self.open()).await {
            Ok(Ok(link)) => link,
            Ok(Err(err)) => return Err(self.unavailable(format!("connecting: {err}"))),
            Err(_) => {
                return Err(self.unavailable(format!(
                    "connecting: no answer within {:?}",
                    self.connection_timeout
                )));
            }
        };
        tracing::info!(sink = %self.name, "connected to RabbitMQ");
        let channel = link.channel.clone();
        self.link = Some(Box::new(link));
        Ok(channel)
    }

    /// Drops the link (closing it in the background): the next send
    /// reconnects.
    fn disconnect(&mut self) {
        if let Some(link) = self.link.take() {
            close_in_background(link.connection);
        }
    }

    fn unavailable(&self, reason: String) -> SinkError {
        SinkError::Unavailable {
            sink: self.name.clone(),
            reason,
        }
    }

    /// Publishes `records[from..]` in order, on one channel; the answer
    /// waits for their confirms.
    async fn publish(&mut self, records: Arc<[Record]>, from: usize) -> Ack {
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(err) => return Ack::ready(self.settled.lock().resolve(&records, || err)),
        };
        let deadline = Instant::now() + self.confirm_timeout;
        let options = BasicPublishOptions {
            mandatory: self.mandatory,
            ..BasicPublishOptions::default()
        };
        let mut confirms = Vec::with_capacity(records.len() - from);
        let mut stopped = None;
        for record in &records[from..] {
            let publish = channel.basic_publish(
                self.exchange.clone(),
                self.routing_key.render(&record.event).into(),
                options,
                &record.payload,
                message::properties(&record.event, &self.content_type),
            );
            match timeout_at(deadline, publish).await {
                Ok(Ok(confirm)) => confirms.push(confirm),
                Ok(Err(err)) => {
                    stopped = Some(format!("publishing: {err}"));
                    break;
                }
                Err(_) => {
                    stopped = Some(format!("publishing: stuck for {:?}", self.confirm_timeout));
                    break;
                }
            }
        }
        let whole = stopped.is_none();
        let answer = Confirms {
            sink: self.name.clone(),
            exchange: self.exchange.clone(),
            confirm_timeout: self.confirm_timeout,
            settled: self.settled.clone(),
            lost: self.lost.clone(),
            records,
            from,
            confirms,
            stopped,
            deadline,
        }
        .answer();
        if whole {
            Ack::new(answer)
        } else {
            Ack::partial(answer)
        }
    }
}

fn close_in_background(connection: Connection) {
    tokio::spawn(async move {
        let close = connection.close(200, "fluxkv sink reconnecting".into());
        let _ = timeout(Duration::from_secs(5), close).await;
    });
}

impl Sink for RabbitMqSink {
    async fn send(&mut self, records: Arc<[Record]>) -> Ack {
        let plan = self.settled.lock().plan(&records);
        match plan {
            Plan::Answer(delivery) => Ack::ready(delivery),
            Plan::Publish(from) => self.publish(records, from).await,
        }
    }

    /// Closes the channel and the connection. The engine has waited for
    /// the answers in flight (or given up on them: they are sent again).
    async fn close(&mut self) -> Result<(), SinkError> {
        if let Some(link) = self.link.take() {
            let bye = async {
                link.channel
                    .close(200, "fluxkv sink stopping".into())
                    .await?;
                link.connection
                    .close(200, "fluxkv sink stopping".into())
                    .await
            };
            match timeout(self.connection_timeout, bye).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::debug!(sink = %self.name, error = %err, "closing the RabbitMQ connection");
                }
                Err(_) => {
                    tracing::debug!(sink = %self.name, "closing the RabbitMQ connection timed out")
                }
            }
        }
        Ok(())
    }
}
