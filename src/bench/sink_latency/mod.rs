//! `fluxkv bench --sink-latency kafka|rabbitmq`: how long a change takes
//! from its write's acknowledgement, through a node's sink and the broker,
//! to a consumer.
//!
//! The writers are those of `--watch-latency` ([`super::watch_latency`]):
//! gRPC Sets at a fixed rate with a cap on writes in flight, each answer
//! carrying the write's seq. The consumer, on its own thread and runtime,
//! reads straight from the broker:
//!
//! - **Kafka**: every partition of the topic, assigned (no consumer group,
//!   so no group join to wait for) at the end offsets taken before the
//!   first write;
//! - **RabbitMQ**: an exclusive, auto-delete queue of its own, bound to the
//!   exchange with `#` before the first write, consumed without acks.
//!
//! Either way the event's seq is its `fluxkv-seq` header, and its latency
//! is the instant it was consumed minus the instant its write was
//! acknowledged ([`Tracker`]). One unmeasured warm-up write goes first and
//! must come through before the clock starts: it proves the sink delivers
//! there, and keeps connection set-up out of the numbers.
//!
//! The benchmark matches events to its writes by seq alone, so the topic or
//! exchange should carry this node's events only.
//!
//! This module owns the run ([`measure`]), the consumer's thread and
//! [`Source`]; the consumers themselves are in [`kafka`] and [`rabbitmq`],
//! the matching in [`tracker`] and the numbers in [`report`].

mod kafka;
mod rabbitmq;
mod report;
#[cfg(test)]
mod tests;
mod tracker;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fluxkv_schemas::proto::kv_client::KvClient;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tonic::transport::Channel;

use super::args::SinkSource;
use super::delivery::Writes;
use super::grpc;
use super::watch_latency;
use crate::watch::connect;

pub(crate) use report::Report;
use tracker::Tracker;

/// The header carrying an event's seq, in both kinds of sink.
const SEQ_HEADER: &str = "fluxkv-seq";

/// The consumer gets this long to connect and subscribe.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The sink gets this long to deliver the warm-up write (it may have to
/// create the topic, or reconnect to the broker, first).
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// After the last write is acknowledged, the consumer waits for the rest of
/// the events as long as they keep coming: whatever has not arrived after
/// this long without progress is missing.
const DRAIN_IDLE: Duration = Duration::from_secs(5);

/// ... and at most this long in all.
const DRAIN_MAX: Duration = Duration::from_secs(60);

/// How often the main task looks at the consumer's progress.
const POLL: Duration = Duration::from_millis(2);

#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// The writes, exactly as `--watch-latency` makes them.
    pub(crate) writes: watch_latency::Plan<'a>,
    pub(crate) source: &'a SinkSource,
}

/// Runs the measurement; returns what the writers saw and the tracker
/// holding every consumed event.
pub(crate) async fn measure(plan: Plan<'_>) -> anyhow::Result<(Writes, Tracker)> {
    let writes = &plan.writes;
    let channels = grpc::open(writes.endpoint, writes.channels).await?;
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut kv = KvClient::new(channels[0].clone());

    if let SinkSource::Kafka { brokers, topic } = plan.source {
        kafka::wait_for_topic(brokers, topic, &mut kv, writes, &mut rng).await?;
    }
    let tracker = Arc::new(Mutex::new(Tracker::new(writes.rate, writes.duration)));
    let consumer = ConsumerThread::start(plan.source.clone(), Arc::clone(&tracker))?;
    let consumer = consumer.wait_ready(plan.source).await?;

    // The warm-up write: once its event is consumed, the whole path is live.
    let warm_up = write_one(&mut kv, writes, &mut rng, "the warm-up Set").await?;
    let deadline = Instant::now() + WARM_UP_TIMEOUT;
    while lock(&tracker).highest_seen() < warm_up {
        if consumer.thread.is_finished() {
            consumer.finish().await?;
            bail!("the consumer stopped before the warm-up event arrived");
        }
        if Instant::now() >= deadline {
            consumer.finish().await?;
            bail!(
                "the warm-up write (seq {warm_up}) was not consumed from {} within {} s: does \
                 the node at {} have a {} sink delivering there, with no filter that leaves \
                 out the keys of --key-prefix? (`fluxkv sinks status` shows its state)",
                plan.source.describe(),
                WARM_UP_TIMEOUT.as_secs(),
                writes.endpoint.uri(),
                plan.source.kind()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    lock(&tracker).start_measuring(warm_up + 1);

    let outcome = watch_latency::write_at_rate(writes, &channels, &tracker, &mut rng).await;
    let writes_done = Instant::now();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            consumer.finish().await?;
            return Err(e);
        }
    };

    // Wait for the rest while they keep coming.
    loop {
        let (pending, progress) = {
            let tracker = lock(&tracker);
            (tracker.pending(), tracker.last_match())
        };
        let now = Instant::now();
        let idle_since = progress.map_or(writes_done, |at| at.max(writes_done));
        if pending == 0
            || now.duration_since(idle_since) >= DRAIN_IDLE
            || now.duration_since(writes_done) >= DRAIN_MAX
            || consumer.thread.is_finished()
        {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    consumer.finish().await?;
    let mut tracker = Arc::into_inner(tracker)
        .expect("every writer and the consumer are done")
        .into_inner()
        .expect("tracker lock");
    tracker.writes_done = Some(writes_done);
    Ok((outcome, tracker))
}

fn lock(tracker: &Mutex<Tracker>) -> std::sync::MutexGuard<'_, Tracker> {
    tracker.lock().expect("tracker lock")
}

/// One unmeasured Set; its seq.
async fn write_one(
    kv: &mut KvClient<Channel>,
    plan: &watch_latency::Plan<'_>,
    rng: &mut SmallRng,
    what: &str,
) -> anyhow::Result<u64> {
    let seq = watch_latency::set(kv, plan, rng)
        .await
        .map_err(|status| anyhow::anyhow!("{what} failed: {}", connect::describe(&status)))?;
    if seq == 0 {
        bail!("the server answered a Set with seq 0 (nothing logged)");
    }
    Ok(seq)
}

impl SinkSource {
    fn kind(&self) -> &'static str {
        match self {
            SinkSource::Kafka { .. } => "kafka",
            SinkSource::RabbitMq { .. } => "rabbitmq",
        }
    }

    /// Where the events are read, for messages.
    fn describe(&self) -> String {
        match self {
            SinkSource::Kafka { brokers, topic } => format!("Kafka topic {topic} on {brokers}"),
            SinkSource::RabbitMq { uri, exchange } => {
                format!("RabbitMQ exchange {exchange} at {}", redact(uri))
            }
        }
    }
}

/// `uri` without its password.
fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return uri.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => uri.to_owned(),
    }
}

/// The consumer: its own thread, runtime and connection, so the writers'
/// load does not delay its reading (beyond sharing the CPUs).
#[derive(Debug)]
struct ConsumerThread {
    /// Fires once the consumer is connected and positioned.
    ready: Option<oneshot::Receiver<()>>,
    /// Stop now.
    stop: watch::Sender<bool>,
    thread: std::thread::JoinHandle<anyhow::Result<()>>,
}

impl ConsumerThread {
    fn start(source: SinkSource, tracker: Arc<Mutex<Tracker>>) -> anyhow::Result<Self> {
        let (ready_tx, ready) = oneshot::channel();
        let (stop, stop_rx) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("sink-consumer".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the consumer's runtime")?;
                runtime.block_on(async move {
                    match &source {
                        SinkSource::Kafka { brokers, topic } => {
                            kafka::consume_kafka(brokers, topic, &tracker, ready_tx, stop_rx).await
                        }
                        SinkSource::RabbitMq { uri, exchange } => {
                            rabbitmq::consume_rabbitmq(uri, exchange, &tracker, ready_tx, stop_rx)
                                .await
                        }
                    }
                })
            })
            .context("starting the consumer thread")?;
        Ok(ConsumerThread {
            ready: Some(ready),
            stop,
            thread,
        })
    }

    /// Waits until the consumer is positioned, or returns why it is not.
    async fn wait_ready(mut self, source: &SinkSource) -> anyhow::Result<Self> {
        let ready = self.ready.take().expect("waited for once");
        match tokio::time::timeout(SETUP_TIMEOUT, ready).await {
            Ok(Ok(())) => Ok(self),
            // The consumer gave up: its error says why.
            Ok(Err(_)) => {
                self.finish().await?;
                bail!("the consumer stopped before it was ready");
            }
            Err(_) => {
                self.stop.send_replace(true);
                bail!(
                    "the consumer of {} was not ready within {} s",
                    source.describe(),
                    SETUP_TIMEOUT.as_secs()
                );
            }
        }
    }

    /// Stops the consumer and returns its error, if any.
    async fn finish(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("joining the consumer")?;
        match joined {
            Ok(consumed) => consumed.context("the sink consumer failed"),
            Err(_) => bail!("the sink consumer panicked"),
        }
    }
}

/// Where the events were read.
#[derive(Debug, Serialize)]
pub(crate) struct Source {
    /// `kafka` or `rabbitmq`.
    pub(crate) sink: &'static str,
    /// The bootstrap servers, or the AMQP URI without its password.
    pub(crate) broker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exchange: Option<String>,
}

impl Source {
    pub(crate) fn of(source: &SinkSource) -> Self {
        match source {
            SinkSource::Kafka { brokers, topic } => Source {
                sink: source.kind(),
                broker: brokers.clone(),
                topic: Some(topic.clone()),
                exchange: None,
            },
            SinkSource::RabbitMq { uri, exchange } => Source {
                sink: source.kind(),
                broker: redact(uri),
                topic: None,
                exchange: Some(exchange.clone()),
            },
        }
    }
}
