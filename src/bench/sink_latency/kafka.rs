//! The Kafka side of `--sink-latency`: the client's configuration, the
//! topic's partitions, waiting for the sink to create the topic, and the
//! consume loop (every partition assigned at its end offset, no group).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fluxkv_schemas::proto::kv_client::KvClient;
use rand::rngs::SmallRng;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use rdkafka::message::Headers as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{oneshot, watch};
use tonic::transport::Channel;

use super::tracker::Tracker;
use super::{SEQ_HEADER, WARM_UP_TIMEOUT, lock, write_one};
use crate::bench::watch_latency;

/// Timeout of a blocking Kafka metadata or offsets request.
const KAFKA_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A Kafka client for metadata only.
fn kafka_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "fluxkv-bench")
        // librdkafka wants a group even for a manual assignment; partitions
        // are assigned, never subscribed to, so it never joins one and
        // commits nothing.
        .set("group.id", format!("fluxkv-bench-{}", std::process::id()))
        // Never create the topic by asking about it: the sink does, with
        // the partitions it is configured for.
        .set("allow.auto.create.topics", "false")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    config
}

/// The partitions of `topic`; empty when it does not exist (yet).
fn kafka_partitions(
    consumer: &impl rdkafka::consumer::Consumer,
    brokers: &str,
    topic: &str,
) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), KAFKA_REQUEST_TIMEOUT)
        .with_context(|| {
            format!(
                "asking the Kafka broker at {brokers} about topic {topic} (is it running? \
                 scripts/services.sh starts one on 127.0.0.1:9092)"
            )
        })?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(Vec::new());
    };
    if found.error().is_some() {
        return Ok(Vec::new());
    }
    Ok(found.partitions().iter().map(|p| p.id()).collect())
}

/// Waits until `topic` exists. A Kafka sink with `create_topic` creates it
/// on its first delivery: when it is missing, one unmeasured write makes
/// the sink deliver.
pub(super) async fn wait_for_topic(
    brokers: &str,
    topic: &str,
    kv: &mut KvClient<Channel>,
    plan: &watch_latency::Plan<'_>,
    rng: &mut SmallRng,
) -> anyhow::Result<()> {
    let consumer: Arc<BaseConsumer> = Arc::new(
        kafka_config(brokers)
            .create()
            .context("creating the Kafka client")?,
    );
    let mut primed = None;
    let deadline = Instant::now() + WARM_UP_TIMEOUT;
    loop {
        let partitions = {
            let consumer = Arc::clone(&consumer);
            let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
            tokio::task::spawn_blocking(move || kafka_partitions(&*consumer, &brokers, &topic))
                .await
                .context("the Kafka metadata task failed")??
        };
        if !partitions.is_empty() {
            return Ok(());
        }
        if primed.is_none() {
            primed = Some(
                write_one(
                    kv,
                    plan,
                    rng,
                    "the Set that makes the sink create the topic",
                )
                .await?,
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "topic {topic} does not exist on {brokers}, and seq {} did not make the node's \
                 Kafka sink create it within {} s: does the node at {} have a kafka sink with \
                 topic = \"{topic}\" and create_topic (or create the topic first)?",
                primed.unwrap_or(0),
                WARM_UP_TIMEOUT.as_secs(),
                plan.endpoint.uri()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Assigns every partition of `topic` at its end offset, then consumes.
pub(super) async fn consume_kafka(
    brokers: &str,
    topic: &str,
    tracker: &Mutex<Tracker>,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer: StreamConsumer = kafka_config(brokers)
        // Fetch as soon as anything is there: the broker answers a fetch
        // at once when it has data, else after this long.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.min.bytes", "1")
        .set("fetch.error.backoff.ms", "10")
        .create()
        .context("creating the Kafka consumer")?;
    let partitions = kafka_partitions(&consumer, brokers, topic)?;
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions on {brokers}");
    }
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (_, end) = consumer
            .fetch_watermarks(topic, partition, KAFKA_REQUEST_TIMEOUT)
            .with_context(|| format!("reading the end offset of {topic}/{partition}"))?;
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(end))
            .context("building the assignment")?;
    }
    consumer
        .assign(&assignment)
        .with_context(|| format!("assigning the partitions of {topic}"))?;
    let _ = ready.send(());
    loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            _ = stop.changed() => return Ok(()),
        };
        let at = Instant::now();
        match message {
            Ok(message) => {
                let seq = message.headers().and_then(|headers| {
                    let header = headers.iter().find(|h| h.key == SEQ_HEADER)?;
                    std::str::from_utf8(header.value?).ok()?.parse().ok()
                });
                lock(tracker).received(seq, at);
            }
            Err(e) => lock(tracker).consume_error(e.to_string()),
        }
    }
}
