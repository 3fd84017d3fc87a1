//! The connection, publishing a batch and reading the broker's answers.

use super::config::{Checked, RabbitMqConfig};
use super::message;
use super::routing::RoutingKey;
use super::settled::{Outcome, Settled};
use crate::error::SinkError;
use crate::sink::{Delivery, Record, Sink};
use fluxkv_schemas::Encoding;
use lapin::message::BasicReturnMessage;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
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
    /// `None` while disconnected: the next delivery connects first. Boxed:
    /// lapin's handles are large, and `AnySink` holds every kind inline.
    link: Option<Box<Link>>,
    settled: Settled,
}

/// A connection and its confirm channel.
#[derive(Debug)]
struct Link {
    connection: Connection,
    channel: Channel,
}

/// What became of one published message.
#[derive(Debug)]
enum Answer {
    Ack,
    Nack,
    /// No answer: the connection failed or the broker went quiet.
    Lost(String),
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
            settled: Settled::default(),
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

    /// Drops the link (closing it in the background): the next delivery
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

    /// Publishes `records`, waits for the broker's answer to each, and
    /// settles the leading run of records that are confirmed or returned.
    /// The error says why the record after that run is not settled.
    async fn publish(&mut self, records: &[Record]) -> Result<(), SinkError> {
        let channel = self.channel().await?;
        let deadline = Instant::now() + self.confirm_timeout;
        let options = BasicPublishOptions {
            mandatory: self.mandatory,
            ..BasicPublishOptions::default()
        };
        // Publish everything, then wait: confirms are pipelined.
        let mut confirms = Vec::with_capacity(records.len());
        let mut stopped = None;
        for record in records {
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
        // Every confirm is awaited (past the deadline, each is only
        // polled), so every returned message is seen: the broker sends a
        // return before the confirm of the same message.
        let mut answers = Vec::with_capacity(confirms.len());
        let mut returned = Vec::new();
        for confirm in confirms {
            answers.push(match timeout_at(deadline, confirm).await {
                Ok(Ok(Confirmation::Ack(ret))) => {
                    returned.extend(ret);
                    Answer::Ack
                }
                Ok(Ok(Confirmation::Nack(ret))) => {
                    returned.extend(ret);
                    Answer::Nack
                }
                Ok(Ok(Confirmation::NotRequested)) => {
                    Answer::Lost("the channel is not in confirm mode".into())
                }
                Ok(Err(err)) => Answer::Lost(format!("waiting for confirms: {err}")),
                Err(_) => Answer::Lost(format!(
                    "no publisher confirm within {:?}",
                    self.confirm_timeout
                )),
            });
        }
        let mut unroutable = vec![None; records.len()];
        for message in returned {
            if let Some(index) = index_of(records, &message) {
                unroutable[index] = Some(self.unroutable_reason(&message));
            }
        }
        let broken = stopped.is_some() || answers.iter().any(|a| matches!(a, Answer::Lost(_)));
        let mut answers = answers.into_iter();
        let mut failure = None;
        for (record, unroutable) in records.iter().zip(unroutable) {
            // A returned message reached no queue, whatever the confirm.
            let answer = answers.next();
            let outcome = match (unroutable, answer) {
                (Some(reason), Some(_)) => Outcome::Unroutable(reason),
                (None, Some(Answer::Ack)) => Outcome::Confirmed,
                (None, Some(Answer::Nack)) => {
                    failure = Some(SinkError::Nack {
                        sink: self.name.clone(),
                        reason: format!(
                            "message {} was nacked: a queue refused it (full, with \
                             x-overflow = reject-publish?) or the broker could not store it",
                            message::message_id(&record.event)
                        ),
                    });
                    break;
                }
                (_, Some(Answer::Lost(reason))) => {
                    failure = Some(self.unavailable(reason));
                    break;
                }
                (_, None) => {
                    let reason = stopped.take().unwrap_or_else(|| "not published".into());
                    failure = Some(self.unavailable(reason));
                    break;
                }
            };
            self.settled.push(record.event.seq, outcome);
        }
        if broken {
            self.disconnect(); // the channel's state is unknown
        }
        failure.map_or(Ok(()), Err)
    }

    fn unroutable_reason(&self, message: &BasicReturnMessage) -> String {
        format!(
            "unroutable: no queue bound for routing key {:?} on exchange {:?} ({} {})",
            message.delivery.routing_key.as_str(),
            self.exchange.as_str(),
            message.reply_code,
            message.reply_text
        )
    }
}

/// The position in `records` of a returned message, by its message id.
fn index_of(records: &[Record], message: &BasicReturnMessage) -> Option<usize> {
    let id = message.delivery.properties.message_id().as_ref()?;
    let seq = message::seq_of(id.as_str())?;
    let index = records.binary_search_by_key(&seq, |r| r.event.seq).ok()?;
    (message::message_id(&records[index].event) == id.as_str()).then_some(index)
}

fn close_in_background(connection: Connection) {
    tokio::spawn(async move {
        let close = connection.close(200, "fluxkv sink reconnecting".into());
        let _ = timeout(Duration::from_secs(5), close).await;
    });
}

impl Sink for RabbitMqSink {
    async fn deliver(&mut self, records: &[Record]) -> Delivery {
        let known = self.settled.known(records);
        let failure = if known < records.len() {
            self.publish(&records[known..]).await.err()
        } else {
            None
        };
        let name = &self.name;
        self.settled.resolve(records.len(), || {
            failure.unwrap_or_else(|| SinkError::Unavailable {
                sink: name.clone(),
                reason: "publishing stopped without a reason".into(),
            })
        })
    }

    /// Closes the channel and the connection. Every delivery waits for its
    /// confirms, so nothing is in flight.
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
