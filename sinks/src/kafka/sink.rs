//! Producing a batch and waiting for every delivery report.

use super::KafkaConfig;
use super::client;
use super::outcome::{self, Outcome};
use crate::error::SinkError;
use crate::sink::{Delivery, Record, Sink};
use fluxkv_schemas::{Encoding, Op};
use rdkafka::Message as _;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

/// How long `close` waits for records still in librdkafka's queue.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Produces change events to a Kafka topic (or one topic per op).
pub struct KafkaSink {
    name: String,
    config: KafkaConfig,
    encoding: Encoding,
    producer: FutureProducer,
    /// Topics known to exist (or not ours to create).
    ready: HashSet<String>,
    /// Send records one at a time (after several were refused together).
    one_by_one: bool,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A sink producing `encoding`-encoded events as `config` says. Checks
    /// the settings; the brokers are reached (and topics created) on the
    /// first delivery, so a cluster that is down delays events, not startup.
    pub async fn connect(
        name: &str,
        config: &KafkaConfig,
        encoding: Encoding,
    ) -> Result<KafkaSink, SinkError> {
        Ok(KafkaSink {
            name: name.to_string(),
            config: config.clone(),
            encoding,
            producer: client::producer(name, config)?,
            ready: HashSet::new(),
            one_by_one: false,
        })
    }

    /// Creates the batch's topics that are not known to exist yet.
    async fn prepare(&mut self, records: &[Record]) -> Result<(), String> {
        for record in records {
            let topic = self.config.topic_for(record.event.op);
            if !self.ready.contains(&topic) {
                client::create_topic(&self.name, &self.config, &topic).await?;
                self.ready.insert(topic);
            }
        }
        Ok(())
    }

    /// The record's headers: what a consumer needs without decoding it.
    fn headers(&self, record: &Record) -> OwnedHeaders {
        let event = &record.event;
        let (seq, epoch) = (event.seq.to_string(), event.epoch.to_string());
        let encoding = self.encoding.to_string();
        OwnedHeaders::new_with_capacity(6)
            .insert(header("fluxkv-seq", &seq))
            .insert(header("fluxkv-op", event.op.as_str()))
            .insert(header("fluxkv-node", &event.node))
            .insert(header("fluxkv-epoch", &epoch))
            .insert(header("fluxkv-encoding", &encoding))
            .insert(header("content-type", self.encoding.content_type()))
    }

    /// Hands one copy of `record` to librdkafka, waiting for earlier
    /// reports while its queue is full. `Err` when librdkafka refuses it.
    async fn enqueue(
        &self,
        record: &Record,
        topic: &str,
        partition: Option<i32>,
        pending: &mut VecDeque<(usize, DeliveryFuture)>,
        outcomes: &mut [Outcome],
    ) -> Result<DeliveryFuture, KafkaError> {
        loop {
            let mut produce = FutureRecord::to(topic)
                .key(&record.event.key[..])
                .payload(&record.payload[..])
                .timestamp(record.event.ts_ms as i64)
                .headers(self.headers(record));
            produce.partition = partition;
            match self.producer.send_result(produce) {
                Ok(report) => return Ok(report),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    match pending.pop_front() {
                        Some((index, report)) => {
                            outcomes[index].merge(settle(report.await));
                        }
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// Produces `records` and waits for their reports; what became of
    /// each. Stops sending at the first record librdkafka refuses, and with
    /// `one_by_one` at the first one not delivered.
    async fn produce(&mut self, records: &[Record], one_by_one: bool) -> Vec<Outcome> {
        let mut outcomes = vec![Outcome::Delivered; records.len()];
        let mut pending = VecDeque::with_capacity(records.len());
        let mut partitions: HashMap<String, i32> = HashMap::new();
        'records: for (index, record) in records.iter().enumerate() {
            let topic = self.config.topic_for(record.event.op);
            // A flush concerns every key: one copy per partition, so each
            // partition's consumer sees it between the same events.
            let copies = if record.event.op == Op::Flush {
                let count = match partitions.get(&topic) {
                    Some(count) => *count,
                    None => match client::partition_count(&self.producer, &topic).await {
                        Ok(count) => *partitions.entry(topic.clone()).or_insert(count),
                        Err(reason) => {
                            outcomes[index] = Outcome::Transient(reason);
                            break 'records;
                        }
                    },
                };
                (0..count).map(Some).collect()
            } else {
                vec![None]
            };
            for partition in copies {
                match self
                    .enqueue(record, &topic, partition, &mut pending, &mut outcomes)
                    .await
                {
                    Ok(report) => pending.push_back((index, report)),
                    Err(err) => {
                        let what = describe(&topic, record.payload.len());
                        outcomes[index].merge(Outcome::of_error(&err, &what));
                        // What is queued is awaited; nothing after is sent.
                        break 'records;
                    }
                }
            }
            if one_by_one {
                while let Some((copy_of, report)) = pending.pop_front() {
                    outcomes[copy_of].merge(settle(report.await));
                }
                if outcomes[index] != Outcome::Delivered {
                    break;
                }
            }
        }
        while let Some((index, report)) = pending.pop_front() {
            outcomes[index].merge(settle(report.await));
        }
        outcomes
    }

    /// Replaces a producer that hit a fatal error or whose idempotence
    /// state the broker refuses: librdkafka cannot go on with it.
    fn replace_producer(&mut self, outcomes: &[Outcome]) {
        let reason = match self.producer.client().fatal_error() {
            Some((code, reason)) => format!("{code:?}: {reason}"),
            None => match outcomes.iter().find(|o| matches!(o, Outcome::Broken(_))) {
                Some(Outcome::Broken(reason)) => reason.clone(),
                _ => return,
            },
        };
        tracing::warn!(sink = %self.name, reason, "replacing the kafka producer");
        match client::producer(&self.name, &self.config) {
            Ok(producer) => {
                let old = std::mem::replace(&mut self.producer, producer);
                // Dropping purges its queue and joins its thread: blocking.
                drop(tokio::task::spawn_blocking(move || drop(old)));
            }
            Err(err) => {
                tracing::error!(sink = %self.name, error = %err, "starting a kafka producer");
            }
        }
    }
}

/// The outcome a delivery report tells.
fn settle(report: Result<OwnedDeliveryResult, impl fmt::Display>) -> Outcome {
    match report {
        Ok(Ok(_)) => Outcome::Delivered,
        Ok(Err((err, message))) => {
            let bytes = message.payload().map_or(0, <[u8]>::len);
            Outcome::of_error(&err, &describe(message.topic(), bytes))
        }
        Err(canceled) => Outcome::Transient(format!("delivery report lost: {canceled}")),
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

fn describe(topic: &str, bytes: usize) -> String {
    format!("record of {bytes} bytes to topic {topic}")
}

impl Sink for KafkaSink {
    async fn deliver(&mut self, records: &[Record]) -> Delivery {
        if let Err(reason) = self.prepare(records).await {
            return Delivery::Retryable(SinkError::Unavailable {
                sink: self.name.clone(),
                reason,
            });
        }
        let one_by_one = self.one_by_one;
        let outcomes = self.produce(records, one_by_one).await;
        if outcomes.iter().any(|o| *o != Outcome::Delivered) {
            self.replace_producer(&outcomes);
        }
        // A broker refuses a whole request (one partition's record batch)
        // for one bad record: several records failing for good together
        // are found out by sending them one at a time, not dead-lettered.
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Permanent(_)))
            .count();
        if !one_by_one && refused > 1 {
            self.one_by_one = true;
            return Delivery::Retryable(SinkError::Unavailable {
                sink: self.name.clone(),
                reason: format!(
                    "{refused} records refused together; resending one at a time to find the \
                     ones at fault"
                ),
            });
        }
        let delivery = outcome::fold(&self.name, &outcomes);
        if !matches!(delivery, Delivery::Retryable(_)) {
            self.one_by_one = false;
        }
        delivery
    }

    async fn close(&mut self) -> Result<(), SinkError> {
        let producer = self.producer.clone();
        let flushed = match tokio::task::spawn_blocking(move || producer.flush(CLOSE_TIMEOUT)).await
        {
            Ok(result) => result.map_err(|err| err.to_string()),
            Err(join) => Err(join.to_string()),
        };
        flushed.map_err(|reason| SinkError::Unavailable {
            sink: self.name.clone(),
            reason: format!("flushing the kafka producer: {reason}"),
        })
    }
}
