//! `fluxkv replay`: deliver a stretch of history again — read from the AOF
//! segments of a data directory, at rest or under a running node — into a
//! sink of the node's config, into another store over the Redis protocol,
//! or nowhere (`--dry-run` counts it).
//!
//! This module owns the command line and the final report. [`selection`]
//! says which records take part, [`source`] reads them off disk on a
//! thread of its own, [`drive`] paces them into the [`target`] — [`sink`],
//! [`into`] or [`dry_run`] — and [`progress`] shows how far it got. A
//! replay never opens the store and never writes into the AOF directory.

mod drive;
mod dry_run;
mod into;
mod pace;
mod progress;
mod selection;
mod sink;
mod source;
mod target;

use crate::config::{Config, Overrides};
use anyhow::{Context, bail};
use drive::Outcome;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use target::Target;
use tokio_util::sync::CancellationToken;

/// Exit status of a replay stopped by SIGINT or SIGTERM (as a shell
/// reports a command killed by SIGINT): a script must not take it for done.
const EXIT_INTERRUPTED: i32 = 130;

/// The `--help` epilogue.
const AFTER_HELP: &str = r#"Reads the AOF segments of --data-dir (or of the config's data_dir) from
--from-seq on, in seq order, and delivers the selected records as change
events. Works on the data directory of a running node (read-only; it ends at
the last record on disk when it gets there) and on one at rest.

Targets (one of):
  --sink NAME        the sink [sinks.NAME] of --config, with its encoding,
                     filter, batching, acknowledgements, retries and dead
                     letters (no checkpoint file is written)
  --into URL         redis://HOST:PORT[/DB], a fluxkv node or a Redis:
                     set -> SET (PXAT when the key has a deadline),
                     del/expire/evict -> DEL, flush -> FLUSHDB of that DB only
  --dry-run          deliver nothing; print counts per op, distinct keys,
                     bytes, seq and time range

Resuming: at the end, and when stopped with Ctrl-C, it prints
  replayed up to seq N (...)
  resume with --from-seq N+1
Every selected record up to N is acknowledged by the target; run the same
command with --from-seq N+1 to go on without a gap. --json prints one object
instead: {"target":..,"complete":..,"interrupted":..,"reached_seq":N,
"resume_from_seq":N+1,"scanned":..,"sent":..,"elapsed_ms":..,
"events_per_sec":..,"error":..} plus "dry_run":{..} for a dry run.

Progress goes to stderr: a bar on a terminal, otherwise a line every 2 s.

Exit status: 0 when the selection is delivered, 130 when interrupted (SIGINT
or SIGTERM), 1 on an error (the resume point is printed all the same)."#;

/// The `replay` command line.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
#[command(group(
    clap::ArgGroup::new("target").required(true).args(["sink", "into", "dry_run"])
))]
pub(crate) struct ReplayArgs {
    /// The node's TOML configuration: its data_dir, node id and epoch, and
    /// the [sinks.NAME] tables --sink names.
    #[arg(long, short = 'c', env = "FLUXKV_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// The data directory whose AOF is replayed (default: the config's
    /// data_dir, else ./data).
    #[arg(long, env = "FLUXKV_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(flatten)]
    selection: selection::SelectionArgs,

    /// Deliver to the sink configured as [sinks.NAME] in --config.
    #[arg(long, value_name = "NAME", help_heading = "Target")]
    sink: Option<String>,

    /// Write into a store over the Redis protocol: redis://HOST:PORT[/DB].
    #[arg(long, value_name = "URL", help_heading = "Target")]
    into: Option<String>,

    /// Deliver nothing: count what would be replayed.
    #[arg(long, help_heading = "Target")]
    dry_run: bool,

    /// Commands per round trip with --into.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        requires = "into",
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "Target"
    )]
    pipeline: u32,

    /// At most N events per second.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,

    /// Print the final report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    if args.sink.is_some() && args.config.is_none() {
        bail!("--sink needs --config: the sink is a [sinks.NAME] table of the node's TOML");
    }
    let selection = Arc::new(selection::Selection::new(args.selection.clone())?);
    // Sinks fsync with `block_in_place`, which needs worker threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fluxkv-replay")
        .build()
        .context("starting the tokio runtime")?;
    let (outcome, target) = runtime.block_on(replay(&args, &config, selection))?;
    print_report(&outcome, &target, args.json)?;
    if let Some(err) = outcome.error {
        return Err(err);
    }
    if outcome.interrupted {
        std::process::exit(EXIT_INTERRUPTED);
    }
    Ok(())
}

async fn replay(
    args: &ReplayArgs,
    config: &Config,
    selection: Arc<selection::Selection>,
) -> anyhow::Result<(Outcome, Target)> {
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            crate::watch::stop_signal().await;
            stop.cancel();
        }
    });
    let identity = source::node_identity(config)?;
    let aof_dir = config.data_dir.join("aof");
    let source = source::Source::start(&aof_dir, selection, identity, stop.clone())?;
    let mut target = match (&args.sink, &args.into) {
        (Some(name), _) => Target::Sink(sink::SinkTarget::start(name, config, stop.clone()).await?),
        (_, Some(url)) => {
            Target::Redis(into::RedisTarget::connect(url, args.pipeline as usize).await?)
        }
        _ => Target::DryRun(dry_run::Tally::new()),
    };
    let outcome = drive::drive(source, &mut target, args.rate, &stop).await;
    Ok((outcome, target))
}

/// The `--json` report.
#[derive(Debug, Serialize)]
struct Report<'a> {
    target: String,
    complete: bool,
    interrupted: bool,
    reached_seq: u64,
    resume_from_seq: u64,
    scanned: u64,
    sent: u64,
    elapsed_ms: u64,
    events_per_sec: u64,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dry_run: Option<&'a dry_run::Tally>,
}

fn print_report(outcome: &Outcome, target: &Target, json: bool) -> anyhow::Result<()> {
    let report = Report {
        target: target.describe(),
        complete: outcome.complete,
        interrupted: outcome.interrupted,
        reached_seq: outcome.reached,
        resume_from_seq: outcome.reached + 1,
        scanned: outcome.scanned,
        sent: outcome.sent,
        elapsed_ms: outcome.elapsed.as_millis() as u64,
        events_per_sec: progress::per_second(outcome.sent, outcome.elapsed),
        error: outcome.error.as_ref().map(|e| format!("{e:#}")),
        dry_run: target.tally(),
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    if let Some(tally) = report.dry_run {
        tally.lines().iter().for_each(|line| println!("{line}"));
    }
    let how = match (report.complete, report.interrupted) {
        (true, _) => "complete",
        (_, true) => "interrupted",
        _ => "stopped by an error",
    };
    println!(
        "replayed up to seq {} ({how}: {} events sent to {}, {} records scanned, in {:.3} s, \
         {} events/s)",
        report.reached_seq,
        report.sent,
        report.target,
        report.scanned,
        outcome.elapsed.as_secs_f64(),
        report.events_per_sec
    );
    println!("resume with --from-seq {}", report.resume_from_seq);
    Ok(())
}
