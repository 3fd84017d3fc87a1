//! `fluxkv bench`: a Redis-protocol load generator, like redis-benchmark.
//!
//! This module owns the command line and the run as a whole: validate the
//! flags, check the server answers, open every connection, let them all drive
//! load until the budget is spent, then merge and print their tallies.
//! The pieces live in [`workload`] (what is sent), [`connection`] (how),
//! [`reply`] (framing answers), [`budget`] (when to stop) and [`report`].

mod budget;
mod connection;
mod reply;
mod report;
mod workload;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tokio::task::JoinSet;

use budget::Budget;
use connection::Connection;
use report::{Report, Setup, Tally};
use workload::{Encoder, MAX_KEYSPACE, Workload};

/// Requests sent when neither `-n` nor `--duration` is given.
const DEFAULT_REQUESTS: u64 = 100_000;
/// GET fraction of the `mix` workload when `--read-ratio` is not given.
const DEFAULT_READ_RATIO: f64 = 0.5;
/// Runtime worker threads: enough to keep up with a fast server on a 2-core
/// machine without taking every core away from the server under test.
const WORKER_THREADS: usize = 2;

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Server host name or address.
    // Long form only: `-h` stays `--help`.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Server port.
    #[arg(short, long, default_value_t = 6380)]
    port: u16,

    /// Password sent with AUTH on every connection before any load.
    #[arg(
        short = 'a',
        long,
        env = "FLUXKV_BENCH_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,

    /// Parallel connections, one task each.
    #[arg(short, long, default_value_t = 50)]
    connections: usize,

    /// Requests sent per batch on each connection (1 = no pipelining).
    #[arg(short = 'P', long, default_value_t = 1)]
    pipeline: usize,

    /// Keys are drawn uniformly from this many: PREFIX + 0..KEYSPACE,
    /// zero-padded to 12 digits.
    #[arg(short = 'r', long, default_value_t = 100_000)]
    keyspace: u64,

    /// Size of SET values in bytes.
    #[arg(short = 'd', long, default_value_t = 64)]
    value_size: usize,

    /// Commands to send.
    #[arg(short = 't', long, value_enum, default_value_t = Workload::Set)]
    workload: Workload,

    /// Fraction of GETs in the `mix` workload, 0 to 1 [default: 0.5].
    #[arg(long)]
    read_ratio: Option<f64>,

    /// Total requests across all connections [default: 100000].
    #[arg(short = 'n', long, conflicts_with = "duration")]
    requests: Option<u64>,

    /// Run for this many seconds (fractions allowed) instead of a request count.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,

    /// Prefix of every key.
    #[arg(long, default_value = "key:")]
    key_prefix: String,

    /// Print the result as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
enum Stop {
    AfterRequests(u64),
    AfterTime(Duration),
}

impl BenchArgs {
    /// Rejects flag combinations that cannot make a meaningful run, and
    /// resolves the ones whose default depends on others.
    fn stop_and_read_ratio(&self) -> anyhow::Result<(Stop, f64)> {
        ensure!(self.connections > 0, "--connections must be at least 1");
        ensure!(self.pipeline > 0, "--pipeline must be at least 1");
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
        let stop = match (self.requests, self.duration) {
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

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (stop, read_ratio) = args.stop_and_read_ratio()?;
    let encoder = Arc::new(Encoder::new(
        args.workload,
        read_ratio,
        args.keyspace,
        &args.key_prefix,
        args.value_size,
    ));
    // Our own runtime rather than `#[tokio::main]`: only this subcommand
    // needs one, and it is sized for load generation.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let (tally, elapsed) = runtime.block_on(load(&args, encoder, stop))?;

    let setup = Setup {
        server: format!("{}:{}", args.host, args.port),
        workload: args.workload,
        read_ratio: (args.workload == Workload::Mix).then_some(read_ratio),
        connections: args.connections,
        pipeline: args.pipeline,
        keyspace: args.keyspace,
        value_size: args.value_size,
    };
    let report = Report::new(setup, tally, elapsed);
    let printed = if args.json {
        writeln!(std::io::stdout(), "{}", report.to_json())
    } else {
        writeln!(std::io::stdout(), "{report}")
    };
    match printed {
        // `fluxkv bench | head -1` closing the pipe early is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        printed => printed.context("writing the report"),
    }
}

/// Runs the load and returns the merged tally and how long the load took.
async fn load(
    args: &BenchArgs,
    encoder: Arc<Encoder>,
    stop: Stop,
) -> anyhow::Result<(Tally, Duration)> {
    let password = args.password.as_deref();
    // One probe first, so a wrong port or password fails once, clearly,
    // instead of fifty times over.
    Connection::open(&args.host, args.port, password)
        .await?
        .ping()
        .await?;

    // Open every connection before starting the clock: connection setup is
    // not part of any request's latency.
    let mut opening = JoinSet::new();
    for _ in 0..args.connections {
        let host = args.host.clone();
        let password = args.password.clone();
        let port = args.port;
        opening.spawn(async move { Connection::open(&host, port, password.as_deref()).await });
    }
    let mut connections = Vec::with_capacity(args.connections);
    while let Some(opened) = opening.join_next().await {
        connections.push(opened.context("connection task failed")??);
    }

    let budget = Arc::new(match stop {
        Stop::AfterRequests(n) => Budget::Requests(AtomicU64::new(n)),
        Stop::AfterTime(duration) => Budget::Until(Instant::now() + duration),
    });
    let started = Instant::now();
    let mut drivers = JoinSet::new();
    for connection in connections {
        drivers.spawn(connection.drive(Arc::clone(&encoder), Arc::clone(&budget), args.pipeline));
    }
    let mut total = Tally::new();
    // An error on any connection ends the run: dropping `drivers` on the
    // early return aborts the rest.
    while let Some(finished) = drivers.join_next().await {
        total.merge(finished.context("connection task failed")??);
    }
    Ok((total, started.elapsed()))
}
