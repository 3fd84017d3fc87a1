//! `fluxkv aof`: inspect and repair AOF segments, like `redis-check-aof`.
//!
//! Every subcommand reads the segments of one AOF directory in log order
//! with the store's own decoder and recovery rules ([`scan`]), so what the
//! tool calls a torn tail or corruption is exactly what the server would
//! truncate or refuse to start on.
//!
//! - [`check`] — a verdict per segment and for the log, as the exit status.
//! - [`repair`] — truncate at the first damage, moving later data aside.
//! - [`dump`] — records as JSON lines.
//! - [`stats`] — totals, for people or as JSON.
//! - [`rewrite`] — compaction, on a running node or at rest.
//!
//! Reports go to stdout through [`Out`], which stops writing quietly when
//! the reader goes away (`fluxkv aof dump | head`).

mod check;
mod dump;
mod repair;
mod rewrite;
mod scan;
mod stats;

use anyhow::Context;
use std::io::{self, Write};
use std::path::PathBuf;

/// Where the AOF is, and what to do with it.
#[derive(Debug, clap::Args)]
pub(crate) struct AofArgs {
    /// The node's data directory; the AOF is its `aof/` subdirectory.
    #[arg(
        long,
        global = true,
        help_heading = "AOF location",
        env = "FLUXKV_DATA_DIR",
        default_value = "./data",
        value_name = "DIR"
    )]
    pub(crate) data_dir: PathBuf,
    /// The AOF segment directory itself (takes precedence over --data-dir).
    #[arg(long, global = true, help_heading = "AOF location", value_name = "DIR")]
    pub(crate) aof_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: AofCommand,
}

/// The `aof` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AofCommand {
    /// Verify every segment and report damage; the verdict is the exit status.
    #[command(after_help = check::AFTER_HELP)]
    Check,
    /// Truncate the log at its first damage (mid-log corruption needs --yes).
    #[command(after_help = repair::AFTER_HELP)]
    Repair(repair::RepairArgs),
    /// Print records as JSON lines.
    #[command(after_help = dump::AFTER_HELP)]
    Dump(dump::DumpArgs),
    /// Totals: records per op, seqs, times, keys, bytes.
    #[command(after_help = stats::AFTER_HELP)]
    Stats(stats::StatsArgs),
    /// Compact the AOF: a base of the keyspace, then the log after it.
    #[command(after_help = rewrite::AFTER_HELP)]
    Rewrite(rewrite::RewriteArgs),
}

/// Runs one `aof` subcommand. `check` and `repair` report their verdict as
/// the process exit status (see their `--help`), so they may exit directly.
pub(crate) fn run(args: AofArgs) -> anyhow::Result<()> {
    let dir = args.aof_dir.unwrap_or_else(|| args.data_dir.join("aof"));
    let mut out = Out::stdout();
    match args.command {
        AofCommand::Check => match check::run(&dir, &mut out) {
            Ok(code) => exit_with(&mut out, code),
            Err(err) => {
                let _ = out.flush();
                // Not 1 or 2: those are verdicts about the log.
                eprintln!("Error: {err:?}");
                std::process::exit(check::EXIT_UNABLE);
            }
        },
        AofCommand::Repair(repair_args) => {
            let code = repair::run(&dir, &repair_args, &mut out)?;
            exit_with(&mut out, code)
        }
        AofCommand::Dump(dump_args) => dump::run(&dir, &dump_args, &mut out),
        AofCommand::Stats(stats_args) => stats::run(&dir, &stats_args, &mut out),
        AofCommand::Rewrite(rewrite_args) => {
            rewrite::run(&args.data_dir, &rewrite_args, &mut out)?;
            out.flush()
        }
    }
}

/// Flushes stdout and returns (status 0) or exits with `code`.
fn exit_with(out: &mut Out, code: i32) -> anyhow::Result<()> {
    out.flush()?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// Buffered stdout that goes quiet, instead of failing, once the reader has
/// closed the pipe: every later write is dropped and [`Out::closed`] says so.
#[derive(Debug)]
pub(crate) struct Out {
    inner: io::BufWriter<io::StdoutLock<'static>>,
    closed: bool,
}

impl Out {
    /// The process's stdout.
    pub(crate) fn stdout() -> Out {
        Out {
            inner: io::BufWriter::new(io::stdout().lock()),
            closed: false,
        }
    }

    /// Whether the reader has gone away (nothing written any more).
    pub(crate) fn closed(&self) -> bool {
        self.closed
    }

    /// Writes one line of text.
    pub(crate) fn line(&mut self, text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self
            .inner
            .write_fmt(text)
            .and_then(|()| self.inner.write_all(b"\n"));
        self.settle(result)
    }

    /// Writes `bytes` as one line (a newline is added).
    pub(crate) fn raw_line(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self
            .inner
            .write_all(bytes)
            .and_then(|()| self.inner.write_all(b"\n"));
        self.settle(result)
    }

    /// Flushes what is buffered.
    pub(crate) fn flush(&mut self) -> anyhow::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.settle(result)
    }

    fn settle(&mut self, result: io::Result<()>) -> anyhow::Result<()> {
        match result {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other.context("writing to stdout"),
        }
    }
}

/// `a..=b`, or `-` when there is no range.
pub(crate) fn seq_range(seqs: Option<(u64, u64)>) -> String {
    match seqs {
        Some((first, last)) => format!("{first}..={last}"),
        None => "-".to_string(),
    }
}
