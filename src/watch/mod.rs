//! `fluxkv watch`: the node's change stream on stdout, for people and
//! scripts — a client of the gRPC `Watch` service.
//!
//! This module owns the command line; [`follow`] runs the watch (and its
//! reconnections), [`position`] keeps it from repeating or skipping events
//! across them, [`output`] prints, [`connect`] and [`backoff`] reach the
//! server.

mod backoff;
pub(crate) mod connect;
mod follow;
mod output;
mod position;

use std::time::Duration;

use anyhow::{Context, ensure};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use fluxkv_schemas::{Encoding, Op};

use follow::{Plan, Watch};
use output::Output;

/// How to read the output; shown by `fluxkv watch --help`.
const OUTPUT_HELP: &str = "\
Output: one line per event, in seq order.
  json                  the event as one JSON object, {\"type\":\"event\",...} (docs/EVENTS.md);
                        with --watermarks also {\"type\":\"watermark\",...} lines
  avro, avro-confluent:<id>, protobuf
                        the event's bytes in that encoding, as one line of standard
                        base64 (alphabet +/, padded with =); decode each line, then the
                        bytes. Binary lines carry events only (no --watermarks)

Resuming: every event carries its seq; after seq N, `--from N+1` continues
exactly where a watch stopped. With --retry the watch does that by itself.

Exit status: 0 when --count or --until-idle is reached, when stdout is
closed (`fluxkv watch | head`) or on SIGINT/SIGTERM; non-zero on any error,
e.g. when the node no longer keeps --from (the error names its oldest seq).";

#[derive(Debug, clap::Args)]
#[command(after_long_help = OUTPUT_HELP)]
pub(crate) struct WatchArgs {
    /// The node's gRPC address (http://HOST:PORT; a bare HOST:PORT works too).
    #[arg(
        long,
        env = "FLUXKV_WATCH_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,

    /// First seq to print: 0 = only changes made from now on; 1 = everything
    /// the node still keeps; N+1 = resume after seq N.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    from: u64,

    /// Only keys starting with P (repeatable: any of them). `flush` events
    /// always pass, since they remove keys under every prefix.
    #[arg(long = "prefix", value_name = "P")]
    prefixes: Vec<String>,

    /// Only these ops (repeatable: any of them).
    #[arg(
        long = "op",
        value_name = "OP",
        value_parser = PossibleValuesParser::new(Op::ALL.map(Op::as_str))
            .map(|name| name.parse::<Op>().expect("a listed op name parses")),
    )]
    ops: Vec<Op>,

    /// Output encoding: json, avro, avro-confluent:<schema id> or protobuf
    /// (binary encodings are printed as base64 lines; see below).
    #[arg(long, value_name = "FORMAT", default_value = "json", value_parser = parse_encoding)]
    format: Encoding,

    /// Also print watermarks ("nothing new up to last_seq"), as JSON lines.
    /// JSON output only.
    #[arg(long)]
    watermarks: bool,

    /// Exit (status 0) after printing N events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Exit (status 0) at the first watermark: once every change so far has
    /// been printed and the node is idle (about a second after the last
    /// write). Handy in scripts: `fluxkv watch --from 1 --until-idle`.
    #[arg(long)]
    until_idle: bool,

    /// On a broken connection, reconnect (capped exponential backoff) and
    /// resume after the last event printed: nothing twice, nothing skipped.
    /// Without it a broken connection is an error.
    #[arg(long)]
    retry: bool,

    /// Longest pause between reconnection attempts, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, requires = "retry")]
    retry_max_delay: f64,
}

fn parse_encoding(text: &str) -> Result<Encoding, String> {
    text.parse()
        .map_err(|e: fluxkv_schemas::SchemaError| e.to_string())
}

pub(crate) fn run(args: WatchArgs) -> anyhow::Result<()> {
    ensure!(
        !args.watermarks || args.format == Encoding::Json,
        "--watermarks needs --format json: the {} encoding carries events only",
        args.format
    );
    let retry = if args.retry {
        let cap = Duration::try_from_secs_f64(args.retry_max_delay)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!(
                    "--retry-max-delay must be a positive number of seconds, got {}",
                    args.retry_max_delay
                )
            })?;
        Some(cap)
    } else {
        None
    };
    let endpoint = connect::endpoint(&args.addr)?;
    let plan = Plan {
        from: args.from,
        prefixes: args.prefixes,
        ops: args.ops,
        watermarks: args.watermarks,
        count: args.count,
        until_idle: args.until_idle,
        retry,
    };
    // One stream, one thread: a current-thread runtime. Writing to stdout
    // blocks it, which is the backpressure we want: a slow reader of our
    // output slows our reading of the stream, never the node's writers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let mut watch = Watch::new(plan, endpoint, Output::new(std::io::stdout(), args.format));
    let watched = runtime.block_on(async {
        tokio::select! {
            watched = watch.run() => watched,
            () = stop_signal() => Ok(()),
        }
    });
    let finished = watch.finish();
    watched?;
    finished.context("writing to stdout")
}

/// Resolves on SIGINT or SIGTERM: the normal ways to end a watch (and a
/// replay).
pub(crate) async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without handlers the default actions still end the process.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
