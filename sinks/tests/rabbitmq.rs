//! The RabbitMQ sink end to end against the local RabbitMQ (127.0.0.1:5672,
//! guest/guest; `scripts/services.sh` starts it): a real store, the
//! delivery engine, and a lapin consumer on a queue bound to the sink's
//! exchange. Each test uses its own exchange and (exclusive) queue.

use fluxkv_schemas::{ChangeEvent, Encoding, Op};
use fluxkv_sinks::rabbitmq::{RabbitMqConfig, RabbitMqSink};
use fluxkv_sinks::{
    Checkpoints, DeadLetters, KindConfig, Pipeline, SinkConfig, SinkError, SinkReport, SinkState,
    SinkStatus,
};
use fluxkv_store::{AofOptions, FsyncPolicy, SetOptions, Store, StoreOptions};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BROKER: &str = "127.0.0.1:5672";
const CREDENTIALS: &str = "guest:guest";

fn amqp_uri(addr: &str) -> String {
    format!("amqp://{CREDENTIALS}@{addr}/%2f")
}

/// Fails (never skips) when RabbitMQ is not there.
async fn require_broker() {
    let reachable = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(BROKER)).await;
    assert!(
        matches!(reachable, Ok(Ok(_))),
        "RabbitMQ is not reachable on {BROKER}: start it with scripts/services.sh \
         (it runs `rabbitmq-server -detached`)"
    );
}

fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("fluxkv-test.{test}.{}.{nanos}", std::process::id())
}

// ---------------------------------------------------------------- the broker side

/// A message as a consumer sees it.
#[derive(Debug)]
struct Received {
    event: ChangeEvent,
    routing_key: String,
    message_id: String,
    content_type: String,
    delivery_mode: u8,
    headers: BTreeMap<String, AMQPValue>,
}

/// The test's own connection: topology, consumers, clean-up.
struct Broker {
    connection: Connection,
    channel: Channel,
    exchange: String,
    queue: String,
}

impl Broker {
    /// Declares `exchange` (as the sink does: a durable topic exchange) and
    /// an exclusive queue with `arguments`, bound with `binding`.
    async fn with_queue(test: &str, binding: &str, arguments: FieldTable) -> Broker {
        let connection = Connection::connect(&amqp_uri(BROKER), ConnectionProperties::default())
            .await
            .expect("connecting the test's consumer");
        let channel = connection.create_channel().await.unwrap();
        let exchange = unique(test);
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let queue = format!("{exchange}.queue");
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.as_str().into(), exclusive, arguments)
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Broker {
            connection,
            channel,
            exchange,
            queue,
        }
    }

    /// Messages in the queue now.
    async fn queued(&self) -> u32 {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let queue = self
            .channel
            .queue_declare(self.queue.as_str().into(), passive, FieldTable::default())
            .await
            .unwrap();
        queue.message_count()
    }

    /// Consumes the queue (auto-ack) into a channel, in queue order.
    async fn consume(&self) -> mpsc::UnboundedReceiver<Received> {
        let (tx, rx) = mpsc::unbounded_channel();
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let consumer = self
            .channel
            .basic_consume(
                self.queue.as_str().into(),
                "test".into(),
                no_ack,
                FieldTable::default(),
            )
            .await
            .unwrap();
        // One task reads the stream, so messages keep the queue's order.
        tokio::spawn(async move {
            let mut consumer = consumer;
            while let Some(Ok(delivery)) = consumer.next().await {
                if tx.send(received(&delivery)).is_err() {
                    return;
                }
            }
        });
        rx
    }

    async fn clean_up(self) {
        let _ = self
            .channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

fn received(delivery: &lapin::message::Delivery) -> Received {
    let props = &delivery.properties;
    let text = |s: &Option<lapin::types::ShortString>| {
        s.as_ref().map(|s| s.to_string()).unwrap_or_default()
    };
    Received {
        event: Encoding::Json.decode(&delivery.data).expect("a JSON event"),
        routing_key: delivery.routing_key.to_string(),
        message_id: text(props.message_id()),
        content_type: text(props.content_type()),
        delivery_mode: props.delivery_mode().unwrap_or(0),
        headers: props
            .headers()
            .as_ref()
            .map(|h| {
                h.inner()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Receives until every seq in `1..=last` has been seen (at least once).
async fn receive_all(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    got: &mut Vec<Received>,
    last: u64,
    within: Duration,
    status: &SinkStatus,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen: BTreeSet<u64> = got.iter().map(|m| m.event.seq).collect();
    while seen.len() < last as usize {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(message)) => {
                seen.insert(message.event.seq);
                got.push(message);
            }
            Ok(None) => panic!("the consumer stopped"),
            Err(_) => panic!(
                "{} of {last} events arrived within {within:?}; sink: {:?}",
                seen.len(),
                status.report()
            ),
        }
    }
}

/// Every seq `1..=last` arrived, and for each key the first arrivals of
/// its events are in seq order. Returns the number of redeliveries.
fn check_complete_and_ordered(got: &[Received], last: u64) -> usize {
    let mut first = BTreeSet::new();
    let mut per_key: HashMap<&[u8], u64> = HashMap::new();
    for message in got {
        let event = &message.event;
        if !first.insert(event.seq) {
            continue; // a redelivery
        }
        let prev = per_key.insert(&event.key[..], event.seq).unwrap_or(0);
        assert!(
            prev < event.seq,
            "key {:?}: seq {} arrived after {prev}",
            String::from_utf8_lossy(&event.key),
            event.seq
        );
    }
    assert_eq!(
        first,
        (1..=last).collect::<BTreeSet<_>>(),
        "dedup by seq is not 1..={last}"
    );
    got.len() - first.len()
}

/// The message's properties, headers and routing key match its event.
fn check_message(message: &Received, node: &str, epoch: u64) {
    let event = &message.event;
    assert_eq!(&*event.node, node);
    assert_eq!(event.epoch, epoch);
    assert_eq!(message.message_id, format!("{node}:{epoch}:{}", event.seq));
    assert_eq!(message.content_type, "application/json");
    assert_eq!(message.delivery_mode, 2, "not persistent");
    let h = &message.headers;
    assert_eq!(h["fluxkv-seq"], AMQPValue::LongLongInt(event.seq as i64));
    assert_eq!(h["fluxkv-epoch"], AMQPValue::LongLongInt(epoch as i64));
    assert_eq!(
        h["fluxkv-op"],
        AMQPValue::LongString(event.op.as_str().into())
    );
    assert_eq!(h["fluxkv-node"], AMQPValue::LongString(node.into()));
    let key = String::from_utf8_lossy(&event.key)
        .replace('%', "%25")
        .replace('.', "%2E");
    assert_eq!(message.routing_key, format!("fluxkv.{}.{key}", event.op));
}

// ---------------------------------------------------------------- fluxkv's side

fn open_store(dir: &Path) -> Arc<Store> {
    let options = StoreOptions {
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            ..AofOptions::default()
        },
        ..StoreOptions::default()
    };
    Arc::new(Store::open(dir, options).unwrap().0)
}

/// A sink pipeline running in the background.
struct Running {
    status: Arc<SinkStatus>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), SinkError>>,
}

impl Running {
    /// Builds the sink from a TOML table (common keys + `extra`) and runs it.
    async fn start(
        store: &Arc<Store>,
        dir: &Path,
        uri: &str,
        exchange: &str,
        extra: &str,
    ) -> Running {
        let text = format!(
            "kind = \"rabbitmq\"\nuri = \"{uri}\"\nexchange = \"{exchange}\"\n\
             retry = {{ initial_backoff_ms = 50, max_backoff_ms = 500 }}\n{extra}"
        );
        let config: SinkConfig = toml::from_str(&text).unwrap();
        let KindConfig::RabbitMq(rabbit) = &config.kind else {
            unreachable!("kind = rabbitmq")
        };
        let sink = RabbitMqSink::connect("rabbit", rabbit, config.encoding)
            .await
            .expect("connecting the sink");
        let pipeline = Pipeline::new(
            "rabbit",
            config,
            sink,
            store.clone(),
            Checkpoints::new(dir.join("checkpoints")),
            DeadLetters::new(dir.join("dead-letters.jsonl")),
        );
        let status = pipeline.status();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(pipeline.run(shutdown.clone()));
        Running {
            status,
            shutdown,
            task,
        }
    }

    async fn wait_checkpoint(&self, seq: u64, within: Duration) -> SinkReport {
        let deadline = Instant::now() + within;
        loop {
            let report = self.status.report();
            if report.checkpoint >= seq {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "checkpoint stuck below {seq}: {report:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) -> SinkReport {
        self.shutdown.cancel();
        self.task
            .await
            .unwrap()
            .expect("the pipeline stops cleanly");
        let report = self.status.report();
        assert_eq!(report.state, SinkState::Stopped);
        report
    }
}

fn set(store: &Store, key: &str, value: &str) -> u64 {
    store
        .set(key.as_bytes(), value.as_bytes(), SetOptions::default())
        .unwrap()
        .seq
        .unwrap()
}

fn del(store: &Store, key: &str) -> u64 {
    store.del(&[key.as_bytes()]).unwrap().seq.unwrap()
}

// ---------------------------------------------------------------- a proxy to cut

/// A TCP proxy in front of RabbitMQ that a test can cut (every connection
/// closed, new ones refused) and restore on the same port.
struct Proxy {
    addr: SocketAddr,
    /// Cancelled on a cut; `None` while cut. Short critical sections only.
    up: std::sync::Mutex<Option<CancellationToken>>,
}

impl Proxy {
    async fn start() -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Proxy {
            addr: listener.local_addr().unwrap(),
            up: std::sync::Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let token = CancellationToken::new();
        *self.up.lock().unwrap() = Some(token.clone());
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                    () = token.cancelled() => return, // drops the listener: refused
                };
                let token = token.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(BROKER).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        () = token.cancelled() => {} // drops both sockets
                    }
                });
            }
        });
    }

    fn cut(&self) {
        if let Some(token) = self.up.lock().unwrap().take() {
            token.cancel();
        }
    }

    fn restore(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.addr).unwrap();
        self.serve(socket.listen(128).unwrap());
    }
}

// ---------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_writes_arrive_in_per_key_order_with_headers_and_routing_keys() {
    require_broker().await;
    let started = Instant::now();
    // `fluxkv.set.*` matches only if a key with dots stays one word.
    let broker = Broker::with_queue("load", "fluxkv.set.*", FieldTable::default()).await;
    let mut rx = broker.consume().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let running = Running::start(&store, dir.path(), &amqp_uri(BROKER), &broker.exchange, "").await;

    const N: u64 = 20_000;
    // 1,000 keys picked at random, so a key's events are sometimes
    // adjacent; dots and percents in keys test the routing-key escaping.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..N {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let seq = set(&store, &format!("user.{}%", rng % 1000), &format!("v{i}"));
        assert_eq!(seq, i + 1);
        if i % 1000 == 999 {
            tokio::task::yield_now().await;
        }
    }
    let mut got = Vec::new();
    receive_all(
        &mut rx,
        &mut got,
        N,
        Duration::from_secs(25),
        &running.status,
    )
    .await;
    let identity = store.identity();
    for message in &got {
        check_message(message, &identity.node, identity.epoch);
        assert_eq!(message.event.op, Op::Set);
    }
    let redelivered = check_complete_and_ordered(&got, N);
    running.wait_checkpoint(N, Duration::from_secs(5)).await;
    let report = running.stop().await;
    assert_eq!(report.dead_lettered, 0);
    if report.retries == 0 {
        // Nothing failed: one queue holds the stream exactly, in order.
        let arrived: Vec<u64> = got.iter().map(|m| m.event.seq).collect();
        assert!(
            arrived.iter().copied().eq(1..=N),
            "redelivered or reordered"
        );
    }
    eprintln!(
        "{N} events in {:?}; delivered {}, retries {}, redelivered {redelivered}",
        started.elapsed(),
        report.delivered,
        report.retries
    );
    broker.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_mid_load_loses_nothing_and_never_blocks_writers() {
    require_broker().await;
    let started = Instant::now();
    let broker = Broker::with_queue("outage", "fluxkv.#", FieldTable::default()).await;
    let mut rx = broker.consume().await;
    let proxy = Proxy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let extra = "batch = { max_events = 200, linger_ms = 2 }\n\
                 connection_timeout_ms = 1000\nconfirm_timeout_ms = 2000\n";
    let uri = amqp_uri(&proxy.addr.to_string());
    let running = Running::start(&store, dir.path(), &uri, &broker.exchange, extra).await;

    // Writers: 10,000 sets over ~4 s, timing each one.
    const N: u64 = 10_000;
    let down = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, down) = (store.clone(), down.clone());
        tokio::task::spawn_blocking(move || {
            let mut slowest = Duration::ZERO;
            let mut while_down = 0;
            for i in 0..N {
                let t = Instant::now();
                set(&store, &format!("k{}", i % 500), &format!("v{i}"));
                slowest = slowest.max(t.elapsed());
                if down.load(Ordering::Relaxed) {
                    while_down += 1;
                }
                if i % 25 == 24 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            (slowest, while_down)
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    proxy.cut();
    down.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = running.status.report();
    down.store(false, Ordering::Relaxed);
    proxy.restore();
    let (slowest, while_down) = writer.await.unwrap();

    let mut got = Vec::new();
    receive_all(
        &mut rx,
        &mut got,
        N,
        Duration::from_secs(15),
        &running.status,
    )
    .await;
    let identity = store.identity();
    for message in &got {
        check_message(message, &identity.node, identity.epoch);
    }
    let redelivered = check_complete_and_ordered(&got, N);
    running.wait_checkpoint(N, Duration::from_secs(5)).await;
    let report = running.stop().await;
    assert!(
        during.retries > 0,
        "the sink never noticed the outage: {during:?}"
    );
    assert_eq!(during.state, SinkState::Retrying, "{during:?}");
    assert!(while_down > 0, "no write happened during the outage");
    assert!(
        slowest < Duration::from_millis(250),
        "a write took {slowest:?}"
    );
    eprintln!(
        "outage: {N} events in {:?}; {while_down} written while cut, slowest write {slowest:?}; \
         retries {}, redelivered {redelivered}",
        started.elapsed(),
        report.retries
    );
    broker.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_events_go_to_the_dead_letters_and_later_events_still_flow() {
    require_broker().await;
    let started = Instant::now();
    // Only sets are bound: every del is unroutable.
    let broker = Broker::with_queue("unroutable", "fluxkv.set.*", FieldTable::default()).await;
    let mut rx = broker.consume().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());

    // One batch with unroutable events at its start, middle and end…
    let mut dels = vec![];
    set(&store, "a", "1");
    dels.push(del(&store, "a"));
    for i in 0..50 {
        set(&store, &format!("b.{i}"), "1");
    }
    dels.push(del(&store, "b.7"));
    dels.push(del(&store, "b.8"));
    set(&store, "c", "1");
    dels.push(del(&store, "c"));
    let running = Running::start(&store, dir.path(), &amqp_uri(BROKER), &broker.exchange, "").await;
    let first = running
        .wait_checkpoint(dels[3], Duration::from_secs(10))
        .await;
    // …then more events, routable and not, in later batches.
    for i in 0..20 {
        set(&store, &format!("d{i}"), "1");
    }
    dels.push(del(&store, "d3"));
    let last = set(&store, "e", "1");
    running.wait_checkpoint(last, Duration::from_secs(10)).await;
    let report = running.stop().await;

    let lines = std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).unwrap();
    let letters: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = letters.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, dels, "{lines}");
    let reason = letters[1]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("unroutable: no queue bound for routing key \"fluxkv.del.b%2E7\""),
        "{reason}"
    );
    assert_eq!(letters[1]["event"]["key"], "b.7");
    assert_eq!(report.dead_lettered, dels.len() as u64);
    assert_eq!(first.retries + report.retries, 0);

    // Every set arrived, each exactly once: dead-lettering does not
    // republish the rest of the batch.
    let sets: BTreeSet<u64> = (1..=last).filter(|s| !dels.contains(s)).collect();
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while got.len() < sets.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(message)) => got.push(message),
            _ => panic!("{} of {} sets arrived", got.len(), sets.len()),
        }
    }
    let arrived: Vec<u64> = got.iter().map(|m| m.event.seq).collect();
    assert_eq!(arrived, sets.iter().copied().collect::<Vec<_>>());
    eprintln!(
        "unroutable: {} dead letters in {:?}",
        dels.len(),
        started.elapsed()
    );
    broker.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nacking_queue_is_retried_until_it_has_room() {
    require_broker().await;
    let started = Instant::now();
    // A queue of 100 that nacks what does not fit.
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(100));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let broker = Broker::with_queue("nack", "fluxkv.#", arguments).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    const N: u64 = 1000;
    for i in 0..N {
        set(&store, &format!("k{}", i % 50), &format!("v{i}"));
    }
    let extra = "batch = { max_events = 250, linger_ms = 2 }\n";
    let running = Running::start(
        &store,
        dir.path(),
        &amqp_uri(BROKER),
        &broker.exchange,
        extra,
    )
    .await;

    // Nobody consumes: the first batch cannot complete.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stuck = loop {
        let report = running.status.report();
        if report.retries >= 2 {
            break report;
        }
        assert!(Instant::now() < deadline, "no nack retried: {report:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stuck.state, SinkState::Retrying);
    let error = stuck.last_error.clone().unwrap_or_default();
    assert!(error.contains("nack"), "{error}");
    assert_eq!(stuck.checkpoint, 0);
    assert_eq!(broker.queued().await, 100);

    // Consuming frees room; everything gets through.
    let mut rx = broker.consume().await;
    let mut got = Vec::new();
    receive_all(
        &mut rx,
        &mut got,
        N,
        Duration::from_secs(20),
        &running.status,
    )
    .await;
    let identity = store.identity();
    for message in &got {
        check_message(message, &identity.node, identity.epoch);
    }
    let unique: BTreeSet<u64> = got.iter().map(|m| m.event.seq).collect();
    assert_eq!(unique, (1..=N).collect::<BTreeSet<_>>());
    running.wait_checkpoint(N, Duration::from_secs(10)).await;
    let report = running.stop().await;
    assert!(report.retries > 0);
    assert_eq!(report.dead_lettered, 0);
    eprintln!(
        "nack: {N} events in {:?}; retries {}, received {} ({} redelivered)",
        started.elapsed(),
        report.retries,
        got.len(),
        got.len() - unique.len()
    );
    broker.clean_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_settings_fail_at_start_but_an_unreachable_broker_does_not() {
    require_broker().await;
    let started = Instant::now();
    let broker = Broker::with_queue("start", "fluxkv.#", FieldTable::default()).await;
    let fanout = format!("{}.fanout", broker.exchange);
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    broker
        .channel
        .exchange_declare(
            fanout.as_str().into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
    for (uri, exchange, says) in [
        (
            "amqp://guest:wrong@127.0.0.1:5672/%2f",
            "x",
            "ACCESS_REFUSED",
        ),
        ("amqp://guest:guest@127.0.0.1:5672/nope", "x", "vhost"),
        (&amqp_uri(BROKER)[..], &fanout[..], "PRECONDITION_FAILED"),
    ] {
        let config = RabbitMqConfig::new(uri, exchange);
        let err = RabbitMqSink::connect("rabbit", &config, Encoding::Json)
            .await
            .expect_err(says);
        assert!(matches!(err, SinkError::Config { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    let _ = broker
        .channel
        .exchange_delete(fanout.as_str().into(), ExchangeDeleteOptions::default())
        .await;

    // A broker that is down when the node starts: the sink starts anyway
    // and connects once it is back.
    let mut rx = broker.consume().await;
    let proxy = Proxy::start().await;
    proxy.cut();
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let uri = amqp_uri(&proxy.addr.to_string());
    let extra = "connection_timeout_ms = 1000\n";
    let running = Running::start(&store, dir.path(), &uri, &broker.exchange, extra).await;
    for i in 0..500 {
        set(&store, &format!("k{}", i % 10), "v");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while running.status.report().retries < 2 {
        assert!(Instant::now() < deadline, "{:?}", running.status.report());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = running.status.report().last_error.unwrap_or_default();
    assert!(error.contains("connecting"), "{error}");
    proxy.restore();
    let mut got = Vec::new();
    receive_all(
        &mut rx,
        &mut got,
        500,
        Duration::from_secs(10),
        &running.status,
    )
    .await;
    check_complete_and_ordered(&got, 500);
    running.wait_checkpoint(500, Duration::from_secs(5)).await;
    running.stop().await;
    eprintln!("start: in {:?}", started.elapsed());
    broker.clean_up().await;
}
