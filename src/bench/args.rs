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
/// How long --watch-latency runs when --duration is not given.
const DEFAULT_WATCH_SECS: f64 = 10.0;
const DEFAULT_GRPC_ADDR: &str = "http://127.0.0.1:50051";

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

    /// gRPC address, for --grpc and --watch-latency [default: http://127.0.0.1:50051].
    #[arg(long, value_name = "URL")]
    pub(super) addr: Option<String>,

    /// Parallel connections: TCP connections (RESP) or HTTP/2 channels
    /// (gRPC) [default: 50; with --grpc or --watch-latency: 2].
    #[arg(short, long)]
    pub(super) connections: Option<usize>,

    /// Requests sent per batch on each connection (1 = no pipelining; RESP).
    #[arg(short = 'P', long, default_value_t = 1)]
    pub(super) pipeline: usize,

    /// Requests outstanding at once across all channels (--grpc), or the
    /// most writes outstanding (--watch-latency) [default: 100; with
    /// --watch-latency: 1000].
    #[arg(long, value_name = "N")]
    pub(super) in_flight: Option<usize>,

    /// Writes per second (--watch-latency) [default: 20000].
    #[arg(long, value_name = "PER_SEC", requires = "watch_latency")]
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

    /// Prefix of every key.
    #[arg(long, default_value = "key:")]
    pub(super) key_prefix: String,

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

/// What kind of run the flags ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Resp,
    Grpc,
    WatchLatency,
}

impl BenchArgs {
    pub(super) fn mode(&self) -> Mode {
        match (self.grpc, self.watch_latency) {
            (_, true) => Mode::WatchLatency,
            (true, false) => Mode::Grpc,
            (false, false) => Mode::Resp,
        }
    }

    pub(super) fn connections(&self) -> usize {
        self.connections.unwrap_or(match self.mode() {
            Mode::Resp => DEFAULT_RESP_CONNECTIONS,
            Mode::Grpc | Mode::WatchLatency => DEFAULT_GRPC_CHANNELS,
        })
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.unwrap_or(match self.mode() {
            Mode::WatchLatency => DEFAULT_WATCH_IN_FLIGHT,
            Mode::Resp | Mode::Grpc => DEFAULT_IN_FLIGHT,
        })
    }

    pub(super) fn addr(&self) -> &str {
        self.addr.as_deref().unwrap_or(DEFAULT_GRPC_ADDR)
    }

    /// Rejects flag combinations that cannot make a meaningful run, and
    /// resolves the ones whose default depends on others.
    pub(super) fn stop_and_read_ratio(&self) -> anyhow::Result<(Stop, f64)> {
        let mode = self.mode();
        if mode == Mode::Resp {
            ensure!(
                self.addr.is_none(),
                "--addr is the gRPC address: use it with --grpc or --watch-latency \
                 (RESP takes --host and --port)"
            );
            ensure!(
                self.in_flight.is_none(),
                "--in-flight applies to --grpc and --watch-latency (RESP: --connections and --pipeline)"
            );
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
            Mode::WatchLatency => Some(self.duration.unwrap_or(DEFAULT_WATCH_SECS)),
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
