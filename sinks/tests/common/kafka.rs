//! Helpers of the Kafka sink's tests: the broker check, a store feeding a
//! pipeline, a consumer, a private tansu broker and a TCP proxy to cut.

use fluxkv_schemas::{ChangeEvent, Encoding};
use fluxkv_sinks::{AnySink, Checkpoints, DeadLetters, Pipeline, SinkConfig, SinkStatus};
use fluxkv_store::{AofOptions, FsyncPolicy, Store, StoreOptions};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Headers as _;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The broker `scripts/services.sh` starts.
pub(crate) const BROKERS: &str = "127.0.0.1:9092";

/// Fails (never skips) when no broker listens on `brokers`.
pub(crate) fn require_broker(brokers: &str) {
    let addr: SocketAddr = brokers.parse().unwrap();
    if let Err(err) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        panic!(
            "no Kafka broker on {brokers} ({err}): run scripts/services.sh, which installs and \
             starts tansu there"
        );
    }
}

/// A name no earlier run used: topics live as long as the broker.
pub(crate) fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("fluxkv-test-{what}-{}-{nanos}", std::process::id())
}

/// A store in `dir` that fsyncs nothing (the tests are about the sink).
pub(crate) fn open_store(dir: &Path) -> Arc<Store> {
    let options = StoreOptions {
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            ..AofOptions::default()
        },
        ..StoreOptions::default()
    };
    Arc::new(Store::open(dir, options).unwrap().0)
}

/// A sink configuration from its TOML table.
pub(crate) fn sink_config(toml_table: &str) -> SinkConfig {
    toml::from_str(toml_table).unwrap_or_else(|e| panic!("{e}\n{toml_table}"))
}

/// A running pipeline.
pub(crate) struct Running {
    pub(crate) status: Arc<SinkStatus>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: JoinHandle<Result<(), fluxkv_sinks::SinkError>>,
    pub(crate) dead_letters: PathBuf,
}

impl Running {
    /// Waits until the checkpoint reaches `seq`.
    pub(crate) async fn wait_checkpoint(&self, seq: u64, within: Duration) {
        let deadline = Instant::now() + within;
        while self.status.report().checkpoint < seq {
            assert!(
                Instant::now() < deadline,
                "sink stuck before seq {seq}: {:?}",
                self.status.report()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the pipeline (the sink is closed, flushing).
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Builds the sink through `AnySink::build` and runs its pipeline.
pub(crate) async fn start(name: &str, config: SinkConfig, store: &Arc<Store>) -> Running {
    let dir = store.data_dir().to_path_buf();
    let sink = AnySink::build(name, &config, &dir).await.unwrap();
    let dead_letters = dir.join("dead-letters").join(format!("{name}.jsonl"));
    let pipeline = Pipeline::new(
        name,
        config,
        sink,
        store.clone(),
        Checkpoints::new(dir.join("checkpoints")),
        DeadLetters::new(&dead_letters),
    );
    let status = pipeline.status();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(pipeline.run(shutdown.clone()));
    Running {
        status,
        shutdown,
        task,
        dead_letters,
    }
}

/// One record as a consumer got it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) key: Vec<u8>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) event: ChangeEvent,
}

impl Received {
    pub(crate) fn seq(&self) -> u64 {
        self.event.seq
    }
}

/// Consumes `topics` from the start in a new consumer group until every
/// seq of `expected` has arrived; returns everything, in arrival order.
pub(crate) async fn consume(
    brokers: &str,
    topics: &[&str],
    expected: &BTreeSet<u64>,
    within: Duration,
) -> Vec<Received> {
    let mut missing = expected.clone();
    consume_until(brokers, topics, within, |r| {
        missing.remove(&r.seq());
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of {} seqs missing (first: {:?})",
                missing.len(),
                expected.len(),
                missing.iter().take(10).collect::<Vec<_>>()
            ))
        }
    })
    .await
}

/// Consumes `topics` from the start in a new consumer group until `done`
/// says `Ok` (its `Err` says what is still missing, for the failure).
pub(crate) async fn consume_until(
    brokers: &str,
    topics: &[&str],
    within: Duration,
    mut done: impl FnMut(&Received) -> Result<(), String>,
) -> Vec<Received> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("group"))
        // tansu joins a group in about session.timeout.ms / 2.
        .set("session.timeout.ms", "6000")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(topics).unwrap();
    let deadline = tokio::time::Instant::now() + within;
    let mut received = Vec::new();
    let mut missing = "nothing received".to_string();
    loop {
        let message = match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(message) => message.unwrap(),
            Err(_) => panic!(
                "consuming {topics:?} for {within:?}: {missing}; got {} records",
                received.len()
            ),
        };
        let mut headers = BTreeMap::new();
        if let Some(hs) = message.headers() {
            for h in hs.iter() {
                let value = String::from_utf8(h.value.unwrap_or_default().to_vec()).unwrap();
                headers.insert(h.key.to_string(), value);
            }
        }
        let encoding: Encoding = headers["fluxkv-encoding"].parse().unwrap();
        let event = encoding.decode(message.payload().unwrap()).unwrap();
        let record = Received {
            topic: message.topic().to_string(),
            partition: message.partition(),
            key: message.key().unwrap_or_default().to_vec(),
            headers,
            event,
        };
        let finished = done(&record);
        received.push(record);
        match finished {
            Ok(()) => return received,
            Err(what) => missing = what,
        }
    }
}

/// The documented consumer rule (docs/EVENTS.md): per (partition, node,
/// epoch) keep the highest seq applied, skip anything not above it.
/// Returns the applied records, in order.
pub(crate) fn dedup(received: &[Received]) -> Vec<Received> {
    let mut marks: BTreeMap<(String, i32, String, u64), u64> = BTreeMap::new();
    let mut applied = Vec::new();
    for r in received {
        let mark = marks
            .entry((
                r.topic.clone(),
                r.partition,
                r.event.node.to_string(),
                r.event.epoch,
            ))
            .or_insert(0);
        if r.seq() > *mark {
            *mark = r.seq();
            applied.push(r.clone());
        }
    }
    applied
}

/// A free port on loopback.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker of the test's own, on `port`, advertising
/// `advertised_port` (the proxy in front of it). Killed on drop.
pub(crate) struct PrivateTansu {
    child: Child,
}

impl PrivateTansu {
    pub(crate) fn start(port: u16, advertised_port: u16) -> PrivateTansu {
        let binary = std::env::var_os("FLUXKV_TANSU")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/var/tmp/fluxkv-services/bin/tansu".into());
        assert!(
            binary.exists(),
            "no tansu binary at {}: run scripts/services.sh, which installs it",
            binary.display()
        );
        let child = Command::new(&binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["broker", "--listener-url"])
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{advertised_port}"))
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {addr} in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateTansu { child }
    }
}

impl Drop for PrivateTansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of `upstream` that can be cut (every connection
/// dropped, new ones refused) and restored: a network outage on demand.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    up: Arc<AtomicBool>,
    /// Cancelled to drop the connections of the current generation.
    generation: Arc<parking_lot::Mutex<CancellationToken>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(listener: TcpListener, upstream: SocketAddr) -> Proxy {
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(parking_lot::Mutex::new(CancellationToken::new()));
        let accept = tokio::spawn({
            let (up, generation) = (up.clone(), generation.clone());
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    if !up.load(Ordering::SeqCst) {
                        continue; // dropped: the client sees the connection close
                    }
                    let cut = generation.lock().clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                            return;
                        };
                        let _ = (client.set_nodelay(true), server.set_nodelay(true));
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            () = cut.cancelled() => {}
                        }
                    });
                }
            }
        });
        Proxy {
            port,
            up,
            generation,
            accept,
        }
    }

    /// Drops every connection and refuses new ones.
    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut generation = self.generation.lock();
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// Lets connections through again.
    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.generation.lock().cancel();
    }
}
