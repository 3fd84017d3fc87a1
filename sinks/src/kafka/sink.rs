//! Producing a batch — every record enqueued with librdkafka, in order —
//! and its answer, which awaits every delivery report apart from sending.

use super::KafkaConfig;
use super::client;
use super::outcome::{self, Outcome};
use crate::error::SinkError;
use crate::sink::{Ack, Delivery, Record, Sink};
use fluxkv_schemas::{Encoding, Op};
use parking_lot::Mutex;
use rdkafka::Message as _;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
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
    /// What answers found out, for the next send to act on. Shared with
    /// the answers in flight; locked briefly, never across an await.
    learnt: Arc<Mutex<Learnt>>,
}

/// What a batch's answer tells the sends that follow.
#[derive(Debug, Default)]
struct Learnt {
    /// The first seq of a batch whose records were refused together: when
    /// it comes again, it is sent one record at a time.
    one_by_one: Option<u64>,
    /// A record failed: the producer may have hit a fatal error.
    failed: bool,
    /// Why the broker no longer accepts the producer's id or epoch.
    broken: Option<String>,
}

/// A batch handed to librdkafka: what is known of each record so far, and
/// the delivery reports to come.
struct Produced {
    outcomes: Vec<Outcome>,
    pending: VecDeque<(usize, DeliveryFuture)>,
    /// Every record was enqueued (not stopped at one librdkafka refused).
    whole: bool,
}

impl Produced {
    /// Waits for the oldest report still to come; false when none is.
    async fn settle_one(&mut self) -> bool {
        let Some((index, report)) = self.pending.pop_front() else {
            return false;
        };
        self.outcomes[index].merge(settle(report.await));
        true
    }

    /// Waits for every report: what became of each record.
    async fn settle(mut self) -> Vec<Outcome> {
        while self.settle_one().await {}
        self.outcomes
    }
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
            learnt: Arc::default(),
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

    /// Hands one copy of `record` to librdkafka, waiting for the batch's
    /// earlier reports while its queue is full. `Err` when librdkafka
    /// refuses it.
    async fn enqueue(
        &self,
        record: &Record,
        topic: &str,
        partition: Option<i32>,
        produced: &mut Produced,
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
                    if !produced.settle_one().await {
                        // Earlier batches fill the queue: theirs are
                        // awaited by their answers.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                Err((err, _)) => return Err(err),
            }
        }
    }

    /// Enqueues `records` in order. Stops at the first record librdkafka
    /// refuses, and `one_by_one`, at the first one not delivered (each
    /// report is then awaited before the next record goes).
    async fn produce(&mut self, records: &[Record], one_by_one: bool) -> Produced {
        let mut produced = Produced {
            outcomes: vec![Outcome::Delivered; records.len()],
            pending: VecDeque::with_capacity(records.len()),
            whole: false,
        };
        let mut partitions: HashMap<String, i32> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            let topic = self.config.topic_for(record.event.op);
            // A flush concerns every key: one copy per partition, so each
            // partition's consumer sees it between the same events.
            let copies = if record.event.op == Op::Flush {
                let count = match partitions.get(&topic) {
                    Some(count) => *count,
                    None => match client::partition_count(&self.producer, &topic).await {
                        Ok(count) => *partitions.entry(topic.clone()).or_insert(count),
                        Err(reason) => {
                            produced.outcomes[index] = Outcome::Transient(reason);
                            return produced;
                        }
                    },
                };
                (0..count).map(Some).collect()
            } else {
                vec![None]
            };
            for partition in copies {
                match self.enqueue(record, &topic, partition, &mut produced).await {
                    Ok(report) => produced.pending.push_back((index, report)),
                    Err(err) => {
                        let what = describe(&topic, record.payload.len());
                        produced.outcomes[index].merge(Outcome::of_error(&err, &what));
                        // What is queued is awaited; nothing after is sent.
                        return produced;
                    }
                }
            }
            if one_by_one {
                while produced.settle_one().await {}
                if produced.outcomes[index] != Outcome::Delivered {
                    return produced;
                }
            }
        }
        produced.whole = true;
        produced
    }

    /// Replaces a producer that hit a fatal error or whose idempotence
    /// state the broker refuses, as an answer found out: librdkafka cannot
    /// go on with it. Batches still awaiting its reports get them (failed,
    /// purged) when it is dropped.
    fn replace_broken_producer(&mut self) {
        let (failed, broken) = {
            let mut learnt = self.learnt.lock();
            (std::mem::take(&mut learnt.failed), learnt.broken.take())
        };
        if !failed {
            return;
        }
        let reason = match self.producer.client().fatal_error() {
            Some((code, reason)) => format!("{code:?}: {reason}"),
            None => match broken {
                Some(reason) => reason,
                None => return,
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

/// The answer to a batch produced: its reports, and what they mean for the
/// batch and for the sends that follow.
async fn answer(
    sink: String,
    learnt: Arc<Mutex<Learnt>>,
    produced: Produced,
    first_seq: u64,
    one_by_one: bool,
) -> Delivery {
    let outcomes = produced.settle().await;
    let failed = outcomes.iter().any(|o| *o != Outcome::Delivered);
    if !failed && !one_by_one {
        return Delivery::Delivered;
    }
    let mut learnt = learnt.lock();
    learnt.failed |= failed;
    if let Some(Outcome::Broken(reason)) = outcomes.iter().find(|o| matches!(o, Outcome::Broken(_)))
    {
        learnt.broken = Some(reason.clone());
    }
    // A broker refuses a whole request (one partition's record batch) for
    // one bad record: several records failing for good together are found
    // out by sending them one at a time, not dead-lettered.
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Permanent(_)))
        .count();
    if !one_by_one && refused > 1 {
        learnt.one_by_one = Some(first_seq);
        return Delivery::Retryable(SinkError::Unavailable {
            sink,
            reason: format!(
                "{refused} records refused together; resending one at a time to find the ones \
                 at fault"
            ),
        });
    }
    let delivery = outcome::fold(&sink, &outcomes);
    if !matches!(delivery, Delivery::Retryable(_)) && learnt.one_by_one == Some(first_seq) {
        learnt.one_by_one = None;
    }
    delivery
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
    async fn send(&mut self, records: Arc<[Record]>) -> Ack {
        self.replace_broken_producer();
        if let Err(reason) = self.prepare(&records).await {
            return Ack::ready(Delivery::Retryable(SinkError::Unavailable {
                sink: self.name.clone(),
                reason,
            }));
        }
        let first_seq = records[0].event.seq;
        let one_by_one = self.learnt.lock().one_by_one == Some(first_seq);
        let produced = self.produce(&records, one_by_one).await;
        let whole = produced.whole;
        let answer = answer(
            self.name.clone(),
            self.learnt.clone(),
            produced,
            first_seq,
            one_by_one,
        );
        if whole {
            Ack::new(answer)
        } else {
            Ack::partial(answer)
        }
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
