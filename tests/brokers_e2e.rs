//! The sinks' acceptance test through a real node: `fluxkv serve` with a
//! Kafka sink and a RabbitMQ sink configured in its TOML, written to over
//! RESP, read back by a Kafka consumer group and a RabbitMQ consumer, and
//! watched with `fluxkv sinks status --json` — once undisturbed, once
//! killed with -9 mid-delivery and restarted.
//!
//! Needs the brokers of `scripts/services.sh`: RabbitMQ on 127.0.0.1:5672
//! and the tansu Kafka-protocol broker on 127.0.0.1:9092. Fails (never
//! skips) when either is missing.

mod common;

use common::Node;
use fluxkv_schemas::{ChangeEvent, Encoding, Op};
use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Headers as _;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const KAFKA: &str = "127.0.0.1:9092";
const RABBITMQ: &str = "127.0.0.1:5672";
const AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Writes go round-robin over this many keys.
const KEYS: u64 = 10_000;
/// SETs per RESP pipeline.
const PIPELINE: u64 = 10_000;
/// How long a consumer may take to see every seq before the test fails:
/// a failure detector, far above the ~40 s the file takes on two cores.
const PATIENCE: Duration = Duration::from_secs(120);

// ------------------------------------------------------------------ set-up

/// Fails, naming the script that starts them, when a broker is not there.
fn require_brokers() {
    for (what, addr) in [("Kafka (tansu)", KAFKA), ("RabbitMQ", RABBITMQ)] {
        let sock: SocketAddr = addr.parse().unwrap();
        if let Err(err) = TcpStream::connect_timeout(&sock, Duration::from_secs(2)) {
            panic!(
                "{what} is not reachable on {addr} ({err}): run scripts/services.sh, which \
                 installs and starts RabbitMQ on 5672 and tansu on 9092"
            );
        }
    }
}

/// A name no earlier run used: topics and exchanges outlive a test.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("fluxkv-e2e-{what}-{}-{nanos}", std::process::id())
}

/// The node's configuration: the two sinks, JSON, defaults otherwise
/// (the RabbitMQ routing key is `fluxkv.{op}.{key}`); `kafka_extra` adds
/// keys to the Kafka sink's table.
fn write_config(dir: &Path, topic: &str, exchange: &str, kafka_extra: &str) -> PathBuf {
    let path = dir.join("fluxkv.toml");
    let toml = format!(
        r#"
[sinks.to_kafka]
kind = "kafka"
encoding = "json"
brokers = "{KAFKA}"
topic = "{topic}"
create_topic = {{ partitions = 4, replication = 1 }}
{kafka_extra}

[sinks.to_rabbit]
kind = "rabbitmq"
encoding = "json"
uri = "{AMQP_URI}"
exchange = "{exchange}"
"#
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// The key and value of the write that a fresh node logs at `seq`.
fn key_of(seq: u64) -> String {
    format!("key:{}", (seq - 1) % KEYS)
}

fn value_of(seq: u64) -> String {
    format!("value-{seq}")
}

/// SETs 1..=count over one connection, in pipelines: on a fresh node,
/// write number `n` is logged at seq `n`.
async fn write_sets(url: String, count: u64) {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // A pipeline of 10,000 fsynced writes takes longer than the default 0.5 s.
    conn.set_response_timeout(Duration::from_secs(30));
    let mut seq = 1;
    while seq <= count {
        let mut pipe = redis::pipe();
        let end = (seq + PIPELINE).min(count + 1);
        for s in seq..end {
            pipe.set(key_of(s), value_of(s)).ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
        seq = end;
    }
}

// ------------------------------------------------------------ sinks status

/// `fluxkv sinks status --json --addr <grpc>`: one JSON object per sink,
/// by name.
async fn sinks_status(grpc_url: &str) -> BTreeMap<String, Value> {
    let url = grpc_url.to_string();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fluxkv"))
            .args(["sinks", "status", "--json", "--addr", &url])
            .output()
            .expect("run fluxkv sinks status");
        assert!(
            out.status.success(),
            "fluxkv sinks status --json --addr {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|line| {
                let sink: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("sinks status line {line:?}: {e}"));
                (sink["name"].as_str().unwrap().to_string(), sink)
            })
            .collect()
    })
    .await
    .unwrap()
}

fn number(status: &BTreeMap<String, Value>, sink: &str, field: &str) -> u64 {
    status
        .get(sink)
        .unwrap_or_else(|| panic!("sinks status names no {sink}: {status:?}"))[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{sink}.{field} is not a number: {status:?}"))
}

/// Waits until `sink`'s checkpoint is past 0 (for Kafka: the sink has
/// created its topic and delivered to it).
async fn wait_first_delivery(grpc_url: &str, sink: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = sinks_status(grpc_url).await;
        if number(&status, sink, "checkpoint") > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sink} delivered nothing in {within:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until both sinks have checkpointed `last` with no lag, then
/// checks what the operator sees: checkpoint, lag 0, nothing dead-lettered.
async fn check_status_done(grpc_url: &str, last: u64, within: Duration) {
    let deadline = Instant::now() + within;
    let status = loop {
        let status = sinks_status(grpc_url).await;
        let done = ["to_kafka", "to_rabbit"].iter().all(|sink| {
            number(&status, sink, "checkpoint") == last && number(&status, sink, "lag_events") == 0
        });
        if done {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sinks not at checkpoint {last} with lag 0 within {within:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        status.len(),
        2,
        "exactly the two configured sinks: {status:?}"
    );
    for (sink, kind) in [("to_kafka", "kafka"), ("to_rabbit", "rabbitmq")] {
        let s = &status[sink];
        assert_eq!(s["kind"], kind, "{s}");
        assert_eq!(s["state"], "running", "{s}");
        assert_eq!(s["checkpoint"], last, "{s}");
        assert_eq!(s["lag_events"], 0, "{s}");
        assert_eq!(s["dead_lettered"], 0, "{s}");
    }
}

// --------------------------------------------------------------- consumers

/// One message as a consumer got it: for Kafka its partition (0 for
/// RabbitMQ), the seq its `fluxkv-seq` header names and its payload.
/// Payloads are decoded by the checks, after delivery: decoding while the
/// node delivers would take CPU from it (debug builds, two cores).
#[derive(Debug)]
struct Delivery {
    partition: i32,
    seq: u64,
    payload: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inbox {
    /// In arrival order.
    deliveries: Vec<Delivery>,
    seqs: HashSet<u64>,
    /// Messages without a `fluxkv-seq` header (a failure).
    malformed: Vec<String>,
    /// The consumer's last transient error, for a timeout's message.
    last_error: Option<String>,
}

/// What one consumer task has received so far.
#[derive(Debug, Clone, Default)]
struct Consumed(Arc<Mutex<Inbox>>);

impl Consumed {
    fn push(&self, partition: i32, seq: Option<u64>, payload: &[u8]) {
        let mut inbox = self.0.lock().unwrap();
        match seq {
            Some(seq) => {
                inbox.seqs.insert(seq);
                let payload = payload.to_vec();
                inbox.deliveries.push(Delivery {
                    partition,
                    seq,
                    payload,
                });
            }
            None => {
                let text = String::from_utf8_lossy(payload).into_owned();
                inbox.malformed.push(text);
            }
        }
    }

    fn error(&self, err: String) {
        self.0.lock().unwrap().last_error = Some(err);
    }

    /// Distinct seqs received.
    fn distinct(&self) -> u64 {
        self.0.lock().unwrap().seqs.len() as u64
    }

    /// Waits until every seq of 1..=last has arrived at least once.
    async fn wait_all(&self, what: &str, last: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            {
                let inbox = self.0.lock().unwrap();
                assert!(
                    inbox.malformed.is_empty(),
                    "{what}: messages without a fluxkv-seq header: {:?}",
                    &inbox.malformed[..inbox.malformed.len().min(3)]
                );
                if inbox.seqs.len() as u64 >= last {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: {} of {last} seqs within {within:?} ({} messages; last error: {:?})",
                    inbox.seqs.len(),
                    inbox.deliveries.len(),
                    inbox.last_error
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut self.0.lock().unwrap().deliveries)
    }
}

/// A consumer group of its own on `topic`, from the earliest offset.
/// Subscribe once the topic exists: the sink creates it (4 partitions) on
/// its first delivery.
fn consume_kafka(topic: &str) -> (Consumed, JoinHandle<()>) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", unique("group"))
        // tansu joins a group in about session.timeout.ms / 2.
        .set("session.timeout.ms", "6000")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("topic metadata");
    assert_eq!(
        metadata.topics()[0].partitions().len(),
        4,
        "the sink creates {topic} with 4 partitions"
    );
    consumer.subscribe(&[topic]).unwrap();
    let consumed = Consumed::default();
    let task = tokio::spawn({
        let consumed = consumed.clone();
        async move {
            loop {
                match consumer.recv().await {
                    Ok(message) => {
                        let seq = message.headers().and_then(|headers| {
                            let header = headers.iter().find(|h| h.key == "fluxkv-seq")?;
                            std::str::from_utf8(header.value?).ok()?.parse().ok()
                        });
                        let payload = message.payload().unwrap_or_default();
                        consumed.push(message.partition(), seq, payload);
                    }
                    Err(err) => {
                        consumed.error(err.to_string());
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    });
    (consumed, task)
}

/// The test's side of RabbitMQ: the sink's exchange, declared as the sink
/// declares it (durable topic), and a queue bound to every event on it,
/// so that nothing the sink publishes is unroutable. The queue is
/// exclusive (gone with the connection); `Leftovers` deletes the exchange.
struct Rabbit {
    connection: Connection,
    channel: Channel,
    queue: String,
}

impl Rabbit {
    async fn bind(exchange: &str) -> Rabbit {
        let connection = Connection::connect(AMQP_URI, ConnectionProperties::default())
            .await
            .expect("connecting to RabbitMQ (scripts/services.sh starts it)");
        let channel = connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = format!("{exchange}.all");
        // Exclusive: gone with the test's connection even if it panics.
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.as_str().into(), exclusive, FieldTable::default())
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "fluxkv.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Rabbit {
            connection,
            channel,
            queue,
        }
    }

    /// Consumes the queue (auto-ack), in queue order.
    async fn consume(&self) -> (Consumed, JoinHandle<()>) {
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let mut consumer = self
            .channel
            .basic_consume(
                self.queue.as_str().into(),
                "brokers-e2e".into(),
                no_ack,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumed = Consumed::default();
        let task = tokio::spawn({
            let consumed = consumed.clone();
            async move {
                while let Some(delivery) = consumer.next().await {
                    match delivery {
                        Ok(delivery) => {
                            let headers = delivery.properties.headers().as_ref();
                            let seq = match headers.and_then(|h| h.inner().get("fluxkv-seq")) {
                                Some(AMQPValue::LongLongInt(seq)) => u64::try_from(*seq).ok(),
                                _ => None,
                            };
                            consumed.push(0, seq, &delivery.data);
                        }
                        Err(err) => {
                            consumed.error(err.to_string());
                            return;
                        }
                    }
                }
            }
        });
        (consumed, task)
    }

    async fn clean_up(self) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// The test's topic and exchange, deleted when dropped — also when the
/// test fails. Best effort: tansu keeps topics in memory anyway.
struct Leftovers {
    topic: String,
    exchange: String,
}

impl Leftovers {
    fn new() -> Leftovers {
        Leftovers {
            topic: unique("topic"),
            exchange: unique("exchange"),
        }
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let (topic, exchange) = (self.topic.clone(), self.exchange.clone());
        // Drop may run on the test's runtime: clean up on a thread (and a
        // runtime) of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", KAFKA)
                    .create()
                    .unwrap();
                let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    admin.delete_topics(&[&topic], &options),
                )
                .await;
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    let connection =
                        Connection::connect(AMQP_URI, ConnectionProperties::default()).await?;
                    let channel = connection.create_channel().await?;
                    channel
                        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                        .await?;
                    connection.close(200, "done".into()).await
                })
                .await;
            });
        })
        .join();
    }
}

// ------------------------------------------------------------------ checks

/// Decodes the payloads (JSON events, whose seq is the header's).
fn decode(what: &str, deliveries: &[Delivery]) -> Vec<(i32, ChangeEvent)> {
    deliveries
        .iter()
        .map(|d| {
            let event = Encoding::Json.decode(&d.payload).unwrap_or_else(|e| {
                panic!(
                    "{what}: not a JSON event ({e}): {}",
                    String::from_utf8_lossy(&d.payload)
                )
            });
            assert_eq!(event.seq, d.seq, "{what}: fluxkv-seq header");
            (d.partition, event)
        })
        .collect()
}

/// What one consumer got, against what was written: every seq of 1..=last
/// arrived; every delivery of a seq is the same event (a redelivery,
/// never different content), the one the write produced; per key, the
/// seqs ascend in arrival order (Kafka: each key stays in one partition,
/// whose order the consumer sees). Returns the number of redeliveries.
fn check_deliveries(what: &str, deliveries: &[Delivery], last: u64) -> usize {
    let deliveries = decode(what, deliveries);
    let node = deliveries
        .first()
        .unwrap_or_else(|| panic!("{what}: nothing delivered"))
        .1
        .node
        .clone();
    let mut first: HashMap<u64, &ChangeEvent> = HashMap::with_capacity(last as usize);
    // key -> (last seq applied, its partition)
    let mut per_key: HashMap<&[u8], (u64, i32)> = HashMap::with_capacity(KEYS as usize);
    let mut redelivered = 0;
    for (partition, event) in &deliveries {
        let seq = event.seq;
        assert!(
            (1..=last).contains(&seq),
            "{what}: seq {seq} was never written"
        );
        if let Some(earlier) = first.get(&seq) {
            assert_eq!(
                *earlier, event,
                "{what}: seq {seq} delivered twice with different content"
            );
            redelivered += 1;
            continue;
        }
        first.insert(seq, event);
        assert_eq!(event.op, Op::Set, "{what}: {event:?}");
        assert_eq!(&event.key[..], key_of(seq).as_bytes(), "{what}: {event:?}");
        assert_eq!(
            event.value.as_deref(),
            Some(value_of(seq).as_bytes()),
            "{what}: {event:?}"
        );
        assert_eq!((&event.node, event.epoch), (&node, 1), "{what}: {event:?}");
        let (prev, key_partition) = per_key.entry(&event.key[..]).or_insert((0, *partition));
        assert_eq!(
            *key_partition,
            *partition,
            "{what}: key {} in partitions {key_partition} and {partition}",
            key_of(seq)
        );
        assert!(
            *prev < seq,
            "{what}: key {}: seq {seq} arrived after seq {prev}",
            key_of(seq)
        );
        *prev = seq;
    }
    // Each seq counted once, all within 1..=last: exactly 1..=last.
    assert_eq!(
        first.len() as u64,
        last,
        "{what}: after dedup by seq, not exactly 1..={last}"
    );
    assert_eq!(per_key.len() as u64, KEYS.min(last));
    redelivered
}

fn partitions(deliveries: &[Delivery]) -> usize {
    deliveries
        .iter()
        .map(|d| d.partition)
        .collect::<HashSet<_>>()
        .len()
}

// ------------------------------------------------------------------- tests

/// The two tests run one after the other: together they drove two nodes,
/// two brokers and four consumers on two cores, and the process once died
/// of SIGSEGV while both tore their rdkafka consumers down.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_set_reaches_kafka_and_rabbitmq_once_in_per_key_order() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const WRITES: u64 = 200_000;
    require_brokers();
    let started = Instant::now();
    let names = Leftovers::new();
    let (topic, exchange) = (&names.topic, &names.exchange);
    let rabbit = Rabbit::bind(exchange).await;
    let (from_rabbit, rabbit_task) = rabbit.consume().await;

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), topic, exchange, "");
    let node = Node::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let grpc = node.grpc_url();
    let writer = tokio::spawn(write_sets(node.url(), WRITES));
    wait_first_delivery(&grpc, "to_kafka", Duration::from_secs(20)).await;
    let (from_kafka, kafka_task) = consume_kafka(topic);
    writer.await.unwrap();
    let written = started.elapsed();

    from_kafka.wait_all("kafka", WRITES, PATIENCE).await;
    from_rabbit.wait_all("rabbitmq", WRITES, PATIENCE).await;
    let consumed = started.elapsed();
    check_status_done(&grpc, WRITES, Duration::from_secs(10)).await;
    kafka_task.abort();
    rabbit_task.abort();

    let kafka = from_kafka.take();
    let rabbitmq = from_rabbit.take();
    let kafka_again = check_deliveries("kafka", &kafka, WRITES);
    let rabbit_again = check_deliveries("rabbitmq", &rabbitmq, WRITES);
    assert_eq!(partitions(&kafka), 4, "keys spread over the 4 partitions");
    eprintln!(
        "{WRITES} sets written in {written:?}, consumed from both by {consumed:?}; \
         redelivered: kafka {kafka_again}, rabbitmq {rabbit_again}; total {:?}",
        started.elapsed()
    );
    drop(node);
    rabbit.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_delivery_then_restart_loses_nothing_and_redelivers_only_the_same_events() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const WRITES: u64 = 30_000;
    require_brokers();
    let started = Instant::now();
    let names = Leftovers::new();
    let (topic, exchange) = (&names.topic, &names.exchange);
    let rabbit = Rabbit::bind(exchange).await;
    let (from_rabbit, rabbit_task) = rabbit.consume().await;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The kill must find both sinks between 20 % and 100 %, which needs
    // their speeds within a factor of 5 of each other. Unthrottled, Kafka
    // (tansu) takes events up to 8 times faster than RabbitMQ does (1.5 to
    // 8 k/s here, debug build, two busy cores), so its batches are kept
    // small, one in flight, and lingered on: at most 100 events per 25 ms,
    // ~3 k/s.
    let throttle =
        "batch = { max_events = 100, max_in_flight = 1 }\nproperties = { \"linger.ms\" = \"25\" }";
    let config = write_config(dir.path(), topic, exchange, throttle);
    let config = config.to_str().unwrap();
    // Every acknowledged write is on disk before the kill.
    let node = Node::start(&data, &["--config", config, "--aof-fsync", "always"]);
    let grpc = node.grpc_url();
    let writer = tokio::spawn(write_sets(node.url(), WRITES));
    wait_first_delivery(&grpc, "to_kafka", Duration::from_secs(20)).await;
    let (from_kafka, kafka_task) = consume_kafka(topic);
    writer.await.unwrap();

    // Kill once both sinks are past 20 % but neither is done.
    let deadline = Instant::now() + Duration::from_secs(30);
    let at_kill = loop {
        let status = sinks_status(&grpc).await;
        let (k, r) = (
            number(&status, "to_kafka", "checkpoint"),
            number(&status, "to_rabbit", "checkpoint"),
        );
        if k * 5 > WRITES && r * 5 > WRITES && k < WRITES && r < WRITES {
            break (k, r);
        }
        assert!(
            k < WRITES && r < WRITES,
            "a sink finished before the other passed 20 %: nothing to kill mid-delivery \
             ({status:?})"
        );
        assert!(
            Instant::now() < deadline,
            "the sinks did not both pass 20 %: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::task::spawn_blocking(move || node.kill_9())
        .await
        .unwrap();
    let killed = started.elapsed();
    let before = (from_kafka.distinct(), from_rabbit.distinct());

    let node = Node::start(&data, &["--config", config]);
    let grpc = node.grpc_url();
    from_kafka.wait_all("kafka", WRITES, PATIENCE).await;
    from_rabbit.wait_all("rabbitmq", WRITES, PATIENCE).await;
    check_status_done(&grpc, WRITES, Duration::from_secs(10)).await;
    kafka_task.abort();
    rabbit_task.abort();

    let kafka = from_kafka.take();
    let rabbitmq = from_rabbit.take();
    let kafka_again = check_deliveries("kafka", &kafka, WRITES);
    let rabbit_again = check_deliveries("rabbitmq", &rabbitmq, WRITES);
    eprintln!(
        "killed at {killed:?} with checkpoints kafka {} / rabbitmq {} (consumed {} / {}) of \
         {WRITES}; redelivered after restart: kafka {kafka_again}, rabbitmq {rabbit_again}; \
         total {:?}",
        at_kill.0,
        at_kill.1,
        before.0,
        before.1,
        started.elapsed()
    );
    drop(node);
    rabbit.clean_up().await;
}
