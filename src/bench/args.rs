//! The command line of `fluxkv bench`: its flags, which mode they select,
//! and the checks that reject combinations no run can honour.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use super::budget::Budget;
use super::workload::{MAX_KEYSPACE, Workload};

/// Requests sent when neither `-n` nor `--duration` is given.
const DEFAULT_REQUESTS: u64 = 100_000;
/// GET fraction of the `mix` workload when `--read-ratio` is not given.
const DEFAULT_READ_RATIO: f64 = 0.5;
/// Default connections: RESP needs one per concurrent request; gRPC
/// multiplexes requests over a few HTTP/2 channels.
const DEFAULT_RESP_CONNECTIONS: usize = 50;
const DEFAULT_GRPC_CHANNELS: usize = 2;
/// Default requests in flight with --grpc.
const DEFAULT_IN_FLIGHT: usize = 100;
/// Default cap on outstanding writes with --watch-latency: high enough that
/// a slow moment on the server does not lower the write rate.
const DEFAULT_WATCH_IN_FLIGHT: usize = 1000;
/// How long --watch-latency and --sink-latency run when --duration is not
/// given.
const DEFAULT_WATCH_SECS: f64 = 10.0;
const DEFAULT_GRPC_ADDR: &str = "http://127.0.0.1:50051";
/// Writes per second of --watch-latency and --sink-latency.
const DEFAULT_RATE: u64 = 20_000;
const DEFAULT_KEY_PREFIX: &str = "key:";
/// --sink-latency writes under its own prefix, so a sink's key filter can
/// let exactly the benchmark's writes through.
const DEFAULT_SINK_KEY_PREFIX: &str = "bench:";
const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";
const DEFAULT_AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Server host name or address (RESP).
    // Long form only: `-h` stays `--help`.
    #[arg(long, default_value = "127.0.0.1")]
    pub(super) host: String,

    /// Server port (RESP).
    #[arg(short, long, default_value_t = 6380)]
    pub(super) port: u16,

    /// Password sent with AUTH on every connection before any load (RESP).
    #[arg(
        short = 'a',
        long,
        env = "FLUXKV_BENCH_PASSWORD",
        hide_env_values = true
    )]
    pub(super) password: Option<String>,

    /// Benchmark fluxkv's gRPC KV API (Get/Set at --addr) instead of the
    /// Redis protocol.
    #[arg(long, conflicts_with_all = ["host", "port", "password", "pipeline"])]
    pub(super) grpc: bool,

    /// Measure change-event delivery: Set over gRPC at --rate while one
    /// Watch subscriber receives the events; reports how long each took
    /// from its write's acknowledgement to its arrival, and any that never
    /// arrived. Runs --duration seconds [default: 10].
    #[arg(
        long,
        conflicts_with_all = [
            "host", "port", "password", "pipeline", "grpc", "workload", "read_ratio", "requests",
        ]
    )]
    pub(super) watch_latency: bool,

    /// Measure a sink end to end: Set over gRPC at --rate against a node
    /// that has a sink of this kind, while consuming its topic
    /// (--kafka-topic) or exchange (--exchange) straight from the broker;
    /// reports how long each event took from its write's acknowledgement to
    /// being consumed, and any that never arrived. Runs --duration seconds
    /// [default: 10].
    #[arg(
        long,
        value_enum,
        value_name = "KIND",
        conflicts_with_all = [
            "host", "port", "password", "pipeline", "grpc", "workload", "read_ratio", "requests",
            "watch_latency",
        ]
    )]
    pub(super) sink_latency: Option<SinkKind>,

    /// Kafka bootstrap servers, host:port[,host:port...] (--sink-latency
    /// kafka) [default: 127.0.0.1:9092].
    #[arg(long, value_name = "HOSTS")]
    pub(super) kafka_brokers: Option<String>,

    /// The topic the node's Kafka sink writes to (--sink-latency kafka).
    #[arg(long, value_name = "TOPIC")]
    pub(super) kafka_topic: Option<String>,

    /// AMQP URI of the RabbitMQ broker (--sink-latency rabbitmq)
    /// [default: amqp://guest:guest@127.0.0.1:5672/%2f].
    #[arg(long, value_name = "URI")]
    pub(super) amqp_uri: Option<String>,

    /// The exchange the node's RabbitMQ sink publishes to (--sink-latency
    /// rabbitmq); the benchmark binds its own exclusive queue to it with `#`.
    #[arg(long, value_name = "NAME")]
    pub(super) exchange: Option<String>,

    /// gRPC address, for --grpc, --watch-latency and --sink-latency
    /// [default: http://127.0.0.1:50051].
    #[arg(long, value_name = "URL")]
    pub(super) addr: Option<String>,

    /// Parallel connections: TCP connections (RESP) or HTTP/2 channels
    /// (gRPC) [default: 50; with --grpc, --watch-latency or --sink-latency: 2].
    #[arg(short, long)]
    pub(super) connections: Option<usize>,

    /// Requests sent per batch on each connection (1 = no pipelining; RESP).
    #[arg(short = 'P', long, default_value_t = 1)]
    pub(super) pipeline: usize,

    /// Requests outstanding at once across all channels (--grpc), or the
    /// most writes outstanding (--watch-latency, --sink-latency)
    /// [default: 100; with --watch-latency or --sink-latency: 1000].
    #[arg(long, value_name = "N")]
    pub(super) in_flight: Option<usize>,

    /// Writes per second (--watch-latency, --sink-latency) [default: 20000].
    #[arg(long, value_name = "PER_SEC")]
    pub(super) rate: Option<u64>,

    /// Keys are drawn uniformly from this many: PREFIX + 0..KEYSPACE,
    /// zero-padded to 12 digits.
    #[arg(short = 'r', long, default_value_t = 100_000)]
    pub(super) keyspace: u64,

    /// Size of SET values in bytes.
    #[arg(short = 'd', long, default_value_t = 64)]
    pub(super) value_size: usize,

    /// Commands to send.
    #[arg(short = 't', long, value_enum, default_value_t = Workload::Set)]
    pub(super) workload: Workload,

    /// Fraction of GETs in the `mix` workload, 0 to 1 [default: 0.5].
    #[arg(long)]
    pub(super) read_ratio: Option<f64>,

    /// Total requests across all connections [default: 100000].
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub(super) requests: Option<u64>,

    /// Run for this many seconds (fractions allowed) instead of a request count.
    #[arg(long, value_name = "SECS")]
    pub(super) duration: Option<f64>,

    /// Prefix of every key [default: key:; with --sink-latency: bench:].
    #[arg(long, value_name = "PREFIX")]
    pub(super) key_prefix: Option<String>,

    /// Print the result as one JSON object instead of text.
    #[arg(long)]
    pub(super) json: bool,
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stop {
    AfterRequests(u64),
    AfterTime(Duration),
}

impl Stop {
    /// The shared budget, made as the clock starts.
    pub(super) fn budget(self) -> Budget {
        match self {
            Stop::AfterRequests(n) => Budget::Requests(AtomicU64::new(n)),
            Stop::AfterTime(duration) => Budget::Until(Instant::now() + duration),
        }
    }
}

/// The broker a --sink-latency run consumes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum SinkKind {
    Kafka,
    Rabbitmq,
}

/// What kind of run the flags ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Resp,
    Grpc,
    WatchLatency,
    SinkLatency(SinkKind),
}

/// Where a --sink-latency run reads the events, resolved from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SinkSource {
    Kafka { brokers: String, topic: String },
    RabbitMq { uri: String, exchange: String },
}

impl BenchArgs {
    pub(super) fn mode(&self) -> Mode {
        match (self.grpc, self.watch_latency, self.sink_latency) {
            (_, _, Some(kind)) => Mode::SinkLatency(kind),
            (_, true, None) => Mode::WatchLatency,
            (true, false, None) => Mode::Grpc,
            (false, false, None) => Mode::Resp,
        }
    }

    pub(super) fn connections(&self) -> usize {
        self.connections.unwrap_or(match self.mode() {
            Mode::Resp => DEFAULT_RESP_CONNECTIONS,
            Mode::Grpc | Mode::WatchLatency | Mode::SinkLatency(_) => DEFAULT_GRPC_CHANNELS,
        })
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.unwrap_or(match self.mode() {
            Mode::WatchLatency | Mode::SinkLatency(_) => DEFAULT_WATCH_IN_FLIGHT,
            Mode::Resp | Mode::Grpc => DEFAULT_IN_FLIGHT,
        })
    }

    pub(super) fn addr(&self) -> &str {
        self.addr.as_deref().unwrap_or(DEFAULT_GRPC_ADDR)
    }

    /// Writes per second of the fixed-rate modes.
    pub(super) fn rate(&self) -> u64 {
        self.rate.unwrap_or(DEFAULT_RATE)
    }

    pub(super) fn key_prefix(&self) -> &str {
        self.key_prefix.as_deref().unwrap_or(match self.mode() {
            Mode::SinkLatency(_) => DEFAULT_SINK_KEY_PREFIX,
            Mode::Resp | Mode::Grpc | Mode::WatchLatency => DEFAULT_KEY_PREFIX,
        })
    }

    /// The broker and topic or exchange of a --sink-latency run, with the
    /// flags of the other broker refused.
    pub(super) fn sink_source(&self, kind: SinkKind) -> anyhow::Result<SinkSource> {
        match kind {
            SinkKind::Kafka => {
                ensure!(
                    self.amqp_uri.is_none() && self.exchange.is_none(),
                    "--amqp-uri and --exchange apply to --sink-latency rabbitmq"
                );
                let topic = self
                    .kafka_topic
                    .clone()
                    .context("--sink-latency kafka needs --kafka-topic: the topic the node's Kafka sink writes to")?;
                ensure!(!topic.is_empty(), "--kafka-topic must not be empty");
                let brokers = self
                    .kafka_brokers
                    .clone()
                    .unwrap_or_else(|| DEFAULT_KAFKA_BROKERS.to_owned());
                ensure!(!brokers.is_empty(), "--kafka-brokers must not be empty");
                Ok(SinkSource::Kafka { brokers, topic })
            }
            SinkKind::Rabbitmq => {
                ensure!(
                    self.kafka_brokers.is_none() && self.kafka_topic.is_none(),
                    "--kafka-brokers and --kafka-topic apply to --sink-latency kafka"
                );
                let exchange = self
                    .exchange
                    .clone()
                    .context("--sink-latency rabbitmq needs --exchange: the exchange the node's RabbitMQ sink publishes to")?;
                ensure!(!exchange.is_empty(), "--exchange must not be empty");
                let uri = self
                    .amqp_uri
                    .clone()
                    .unwrap_or_else(|| DEFAULT_AMQP_URI.to_owned());
                Ok(SinkSource::RabbitMq { uri, exchange })
            }
        }
    }

    /// Rejects flag combinations that cannot make a meaningful run, and
    /// resolves the ones whose default depends on others.
    pub(super) fn stop_and_read_ratio(&self) -> anyhow::Result<(Stop, f64)> {
        let mode = self.mode();
        if mode == Mode::Resp {
            ensure!(
                self.addr.is_none(),
                "--addr is the gRPC address: use it with --grpc, --watch-latency or \
                 --sink-latency (RESP takes --host and --port)"
            );
            ensure!(
                self.in_flight.is_none(),
                "--in-flight applies to --grpc, --watch-latency and --sink-latency \
                 (RESP: --connections and --pipeline)"
            );
        }
        let fixed_rate = matches!(mode, Mode::WatchLatency | Mode::SinkLatency(_));
        ensure!(
            self.rate.is_none() || fixed_rate,
            "--rate applies to --watch-latency and --sink-latency"
        );
        ensure!(
            self.rate() > 0,
            "--rate must be at least 1 write per second"
        );
        if !matches!(mode, Mode::SinkLatency(_)) {
            ensure!(
                self.kafka_brokers.is_none()
                    && self.kafka_topic.is_none()
                    && self.amqp_uri.is_none()
                    && self.exchange.is_none(),
                "--kafka-brokers, --kafka-topic, --amqp-uri and --exchange apply to --sink-latency"
            );
        }
        if let Mode::SinkLatency(kind) = mode {
            self.sink_source(kind)?;
        }
        ensure!(self.connections() > 0, "--connections must be at least 1");
        ensure!(self.pipeline > 0, "--pipeline must be at least 1");
        ensure!(self.in_flight() > 0, "--in-flight must be at least 1");
        ensure!(
            (1..=MAX_KEYSPACE).contains(&self.keyspace),
            "--keyspace must be between 1 and {MAX_KEYSPACE}"
        );
        let read_ratio = match (self.workload, self.read_ratio) {
            (Workload::Mix, ratio) => ratio.unwrap_or(DEFAULT_READ_RATIO),
            (_, None) => DEFAULT_READ_RATIO,
            (_, Some(_)) => bail!("--read-ratio only applies to --workload mix"),
        };
        ensure!(
            (0.0..=1.0).contains(&read_ratio),
            "--read-ratio must be between 0 and 1, got {read_ratio}"
        );
        let duration = match mode {
            Mode::WatchLatency | Mode::SinkLatency(_) => {
                Some(self.duration.unwrap_or(DEFAULT_WATCH_SECS))
            }
            Mode::Resp | Mode::Grpc => self.duration,
        };
        let stop = match (self.requests, duration) {
            (_, Some(secs)) => {
                let duration = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .with_context(|| {
                        format!("--duration must be a positive number of seconds, got {secs}")
                    })?;
                Stop::AfterTime(duration)
            }
            (Some(0), None) => bail!("--requests must be at least 1"),
            (requests, None) => Stop::AfterRequests(requests.unwrap_or(DEFAULT_REQUESTS)),
        };
        Ok((stop, read_ratio))
    }
}
