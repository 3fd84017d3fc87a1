//! `fluxkv bench`: a load generator, like redis-benchmark, for any
//! Redis-protocol server and for fluxkv's gRPC API.
//!
//! This module owns the command line and the run as a whole: validate the
//! flags, pick the mode, run it on a runtime sized for load generation and
//! print the report. The modes: [`resp`] (the default) and [`grpc`]
//! (`--grpc`), both closed loops that count requests; [`watch_latency`]
//! (`--watch-latency`), which writes at a fixed rate and times change-event
//! delivery to a Watch subscriber ([`delivery`]); and [`sink_latency`]
//! (`--sink-latency kafka|rabbitmq`), which writes the same way and times
//! the events through a node's sink to a consumer of the broker. Shared
//! pieces: [`args`] (the flags), [`workload`] (what is sent), [`budget`]
//! (when to stop) and [`report`]; RESP framing lives in [`connection`] and
//! [`reply`].

mod args;
mod budget;
mod connection;
mod delivery;
mod grpc;
mod reply;
mod report;
mod resp;
mod sink_latency;
mod watch_latency;
mod workload;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};

pub(crate) use args::BenchArgs;
use args::{Mode, Stop};
use report::{Protocol, Report, Setup};
use workload::{Encoder, Requests, Workload};

/// Runtime worker threads: enough to keep up with a fast server on a 2-core
/// machine without taking every core away from the server under test.
const WORKER_THREADS: usize = 2;

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (stop, read_ratio) = args.stop_and_read_ratio()?;
    // Our own runtime rather than `#[tokio::main]`: only this subcommand
    // needs one, and it is sized for load generation.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match args.mode() {
        Mode::Resp | Mode::Grpc => {
            let report = runtime.block_on(load(&args, stop, read_ratio))?;
            print(if args.json {
                report.to_json()
            } else {
                report.to_string()
            })
        }
        Mode::WatchLatency => {
            let Stop::AfterTime(duration) = stop else {
                unreachable!("--watch-latency always runs for a duration");
            };
            let report = runtime.block_on(watch_latency(&args, duration))?;
            print(if args.json {
                report.to_json()
            } else {
                report.to_string()
            })?;
            ensure!(
                report.is_complete(),
                "{} acknowledged writes never arrived on the Watch stream and {} arrived twice",
                report.missing(),
                report.duplicates()
            );
            Ok(())
        }
        Mode::SinkLatency(kind) => {
            let Stop::AfterTime(duration) = stop else {
                unreachable!("--sink-latency always runs for a duration");
            };
            let source = args.sink_source(kind)?;
            let report = runtime.block_on(sink_latency(&args, &source, duration))?;
            print(if args.json {
                report.to_json()
            } else {
                report.to_string()
            })?;
            ensure!(
                report.writes() > 0,
                "no write was acknowledged: nothing was measured"
            );
            ensure!(
                report.is_complete(),
                "{} acknowledged writes never arrived from the broker",
                report.missing()
            );
            Ok(())
        }
    }
}

/// Prints the report on stdout.
fn print(report: String) -> anyhow::Result<()> {
    match writeln!(std::io::stdout(), "{report}") {
        // `fluxkv bench | head -1` closing the pipe early is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        printed => printed.context("writing the report"),
    }
}

/// A RESP or gRPC run: requests in a closed loop until the budget is spent.
async fn load(args: &BenchArgs, stop: Stop, read_ratio: f64) -> anyhow::Result<Report> {
    let (tally, elapsed, setup) = match args.mode() {
        Mode::Resp => {
            let encoder = Arc::new(Encoder::new(
                args.workload,
                read_ratio,
                args.keyspace,
                args.key_prefix(),
                args.value_size,
            ));
            let target = resp::Target {
                host: &args.host,
                port: args.port,
                password: args.password.as_deref(),
                connections: args.connections(),
                pipeline: args.pipeline,
            };
            let (tally, elapsed) = resp::load(target, encoder, || stop.budget()).await?;
            let setup = setup(args, read_ratio, format!("{}:{}", args.host, args.port));
            (tally, elapsed, setup)
        }
        Mode::Grpc | Mode::WatchLatency | Mode::SinkLatency(_) => {
            let endpoint = crate::watch::connect::endpoint(args.addr())?;
            let requests = Arc::new(Requests::new(
                args.workload,
                read_ratio,
                args.keyspace,
                args.key_prefix(),
            ));
            let target = grpc::Target {
                endpoint: &endpoint,
                channels: args.connections(),
                in_flight: args.in_flight(),
            };
            let value = workload::value(args.value_size);
            let (tally, elapsed) = grpc::load(target, requests, value, || stop.budget()).await?;
            let setup = setup(args, read_ratio, server_name(&endpoint));
            (tally, elapsed, setup)
        }
    };
    Ok(Report::new(setup, tally, elapsed))
}

fn setup(args: &BenchArgs, read_ratio: f64, server: String) -> Setup {
    let grpc = args.mode() != Mode::Resp;
    Setup {
        server,
        protocol: if grpc { Protocol::Grpc } else { Protocol::Resp },
        workload: args.workload,
        read_ratio: (args.workload == Workload::Mix).then_some(read_ratio),
        connections: args.connections(),
        pipeline: (!grpc).then_some(args.pipeline),
        in_flight: grpc.then(|| args.in_flight()),
        keyspace: args.keyspace,
        value_size: args.value_size,
    }
}

/// The gRPC server as reports name it: its URL without the trailing `/`.
fn server_name(endpoint: &tonic::transport::Endpoint) -> String {
    endpoint.uri().to_string().trim_end_matches('/').to_owned()
}

/// The writes of the fixed-rate modes.
fn fixed_rate_plan<'a>(
    args: &BenchArgs,
    endpoint: &'a tonic::transport::Endpoint,
    duration: Duration,
) -> watch_latency::Plan<'a> {
    watch_latency::Plan {
        endpoint,
        channels: args.connections(),
        in_flight: args.in_flight(),
        rate: args.rate(),
        duration,
        requests: Arc::new(Requests::new(
            Workload::Set,
            0.0,
            args.keyspace,
            args.key_prefix(),
        )),
        value: workload::value(args.value_size),
    }
}

/// What a fixed-rate run did, as its report echoes it.
fn fixed_rate_setup(
    args: &BenchArgs,
    endpoint: &tonic::transport::Endpoint,
    duration: Duration,
) -> delivery::Setup {
    delivery::Setup {
        server: server_name(endpoint),
        connections: args.connections(),
        in_flight: args.in_flight(),
        keyspace: args.keyspace,
        value_size: args.value_size,
        duration_secs: duration.as_secs_f64(),
        rate_target: args.rate(),
    }
}

/// The --sink-latency run.
async fn sink_latency(
    args: &BenchArgs,
    source: &args::SinkSource,
    duration: Duration,
) -> anyhow::Result<sink_latency::Report> {
    let endpoint = crate::watch::connect::endpoint(args.addr())?;
    let plan = sink_latency::Plan {
        writes: fixed_rate_plan(args, &endpoint, duration),
        source,
    };
    let (writes, tracker) = sink_latency::measure(plan).await?;
    Ok(sink_latency::Report::new(
        sink_latency::Source::of(source),
        fixed_rate_setup(args, &endpoint, duration),
        args.key_prefix().to_owned(),
        writes,
        &tracker,
    ))
}

/// The --watch-latency run.
async fn watch_latency(args: &BenchArgs, duration: Duration) -> anyhow::Result<delivery::Report> {
    let endpoint = crate::watch::connect::endpoint(args.addr())?;
    let plan = fixed_rate_plan(args, &endpoint, duration);
    let (writes, matcher) = watch_latency::measure(plan).await?;
    let setup = fixed_rate_setup(args, &endpoint, duration);
    Ok(delivery::Report::new(setup, writes, &matcher))
}
