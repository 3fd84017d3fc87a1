//! `fluxkv aof repair`: truncate the log at its first damage.
//!
//! A torn tail is cut at once: the record it held was never acknowledged,
//! and the server would cut it on start anyway. Mid-log corruption costs
//! every record after it, so without `--yes` the plan and the loss are only
//! printed. With `--yes` nothing is deleted: the damaged segment is copied
//! and later segments are moved into a quarantine directory next to the
//! AOF directory (see [`AFTER_HELP`]) before the damaged segment is cut.

use super::Out;
use super::scan::{LogCheck, Verdict};
use anyhow::{Context, bail};
use fluxkv_store::aof::segment;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The `--help` epilogue.
pub(crate) const AFTER_HELP: &str = "\
Stop the server first: repair rewrites the files it appends to.

Repair truncates the log at its first damage (as `fluxkv aof check` reports it):
  torn tail   The incomplete record at the end of the last segment is cut off
              (set_len + fsync), as the server would do on start. No
              acknowledged record is lost. A segment whose header itself is
              torn holds no record and is moved aside whole.
  corruption  Every record after the damage is lost. Without --yes, repair
              prints what it would do and what would be lost (records, seqs,
              bytes), changes nothing, and exits 2. With --yes it copies the
              damaged segment to the quarantine directory, moves every later
              segment there (never deletes), then truncates the damaged
              segment at the damage.

The quarantine directory is `<aof-dir>.corrupt` next to the AOF directory
(for `--data-dir D`: `D/aof.corrupt`); files in it are named
`<segment-file>.corrupt-<unix-time>`. It is outside the AOF directory because
the server refuses to start with stray files among its segments.

Exit status: 0 the log is clean (repaired, or nothing to repair);
1 an error (nothing after the failed step was done); 2 corruption found and
--yes not given (nothing was changed).";

/// Options of `aof repair`.
#[derive(Debug, clap::Args)]
pub(crate) struct RepairArgs {
    /// Also repair mid-log corruption, losing every record after it.
    #[arg(long)]
    pub(crate) yes: bool,
}

/// One step of a repair.
#[derive(Debug)]
enum Step {
    /// Copy a segment before it is truncated.
    Copy { from: PathBuf, to: PathBuf },
    /// Move a segment out of the AOF directory.
    MoveAside { from: PathBuf, to: PathBuf },
    /// Cut a segment at the damage.
    Truncate { path: PathBuf, from: u64, to: u64 },
}

/// Repairs the AOF in `dir`; returns the exit status.
pub(crate) fn run(dir: &Path, args: &RepairArgs, out: &mut Out) -> anyhow::Result<i32> {
    let log = LogCheck::read(dir, |_| {})?;
    let Some((index, finding)) = log.first_damage() else {
        out.line(format_args!("nothing to repair: clean: {}", log.totals()))?;
        return Ok(0);
    };
    let damaged = &log.segments[index];
    let torn = finding.verdict == Verdict::TornTail;
    out.line(format_args!(
        "{} in {} at offset {}: {}",
        if torn { "torn tail" } else { "corruption" },
        damaged.path().display(),
        finding.offset,
        finding.reason
    ))?;

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let quarantine = quarantine_dir(dir)?;
    let aside = |path: &Path| -> PathBuf {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        quarantine.join(format!("{name}.corrupt-{stamp}"))
    };
    // Copy first, then later segments last-first (so that a crash part-way
    // leaves the directory a prefix of the log), the damaged segment last.
    let mut steps = Vec::new();
    if !torn && damaged.keep_len > 0 {
        steps.push(Step::Copy {
            from: damaged.path().to_path_buf(),
            to: aside(damaged.path()),
        });
    }
    for later in log.segments[index + 1..].iter().rev() {
        steps.push(Step::MoveAside {
            from: later.path().to_path_buf(),
            to: aside(later.path()),
        });
    }
    steps.push(if damaged.keep_len == 0 {
        Step::MoveAside {
            from: damaged.path().to_path_buf(),
            to: aside(damaged.path()),
        }
    } else {
        Step::Truncate {
            path: damaged.path().to_path_buf(),
            from: damaged.scan.file_len,
            to: damaged.keep_len,
        }
    });
    let loss = log.loss();
    let lost = if loss.records == 0 {
        format!("{} bytes (no intact record among them)", loss.bytes)
    } else {
        format!(
            "{} intact records (seqs {}) and {} bytes",
            loss.records,
            super::seq_range(loss.seqs),
            loss.bytes
        )
    };

    if !torn && !args.yes {
        out.line(format_args!("repair --yes would:"))?;
        for step in &steps {
            out.line(format_args!("  {}", describe(step, false)))?;
        }
        out.line(format_args!("losing {lost}"))?;
        out.line(format_args!(
            "nothing was changed; re-run with --yes to repair (the server refuses to start as it is)"
        ))?;
        return Ok(2);
    }

    for step in &steps {
        perform(step, dir, &quarantine)?;
        out.line(format_args!("{}", describe(step, true)))?;
    }
    out.line(format_args!("dropped {lost}"))?;
    let after = LogCheck::read(dir, |_| {})?;
    if let Some((index, finding)) = after.first_damage() {
        bail!(
            "{} is still damaged at offset {} after the repair: {}",
            after.segments[index].path().display(),
            finding.offset,
            finding.reason
        );
    }
    out.line(format_args!("repaired: clean: {}", after.totals()))?;
    Ok(0)
}

/// `<aof-dir>.corrupt`, next to the AOF directory.
fn quarantine_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    match (dir.parent(), dir.file_name()) {
        (Some(parent), Some(name)) => {
            Ok(parent.join(format!("{}.corrupt", name.to_string_lossy())))
        }
        _ => bail!(
            "{} has no parent directory to put a quarantine directory in",
            dir.display()
        ),
    }
}

fn describe(step: &Step, done: bool) -> String {
    match step {
        Step::Copy { from, to } => format!(
            "{} {} to {}",
            if done { "copied" } else { "copy" },
            from.display(),
            to.display()
        ),
        Step::MoveAside { from, to } => format!(
            "{} {} to {}",
            if done { "moved" } else { "move" },
            from.display(),
            to.display()
        ),
        Step::Truncate { path, from, to } => format!(
            "{} {} from {from} to {to} bytes",
            if done { "truncated" } else { "truncate" },
            path.display()
        ),
    }
}

fn perform(step: &Step, dir: &Path, quarantine: &Path) -> anyhow::Result<()> {
    match step {
        Step::Copy { from, to } => {
            make_quarantine(quarantine)?;
            refuse_existing(to)?;
            fs::copy(from, to)
                .and_then(|_| File::open(to)?.sync_all())
                .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            segment::sync_dir(quarantine)?;
        }
        Step::MoveAside { from, to } => {
            make_quarantine(quarantine)?;
            refuse_existing(to)?;
            fs::rename(from, to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
            segment::sync_dir(quarantine)?;
            segment::sync_dir(dir)?;
        }
        Step::Truncate { path, to, .. } => {
            let file = File::options()
                .write(true)
                .open(path)
                .with_context(|| format!("opening {} to truncate it", path.display()))?;
            file.set_len(*to)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("truncating {} to {to} bytes", path.display()))?;
            segment::sync_dir(dir)?;
        }
    }
    Ok(())
}

fn make_quarantine(quarantine: &Path) -> anyhow::Result<()> {
    if quarantine.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(quarantine).with_context(|| format!("creating {}", quarantine.display()))?;
    if let Some(parent) = quarantine.parent() {
        segment::sync_dir(parent)?;
    }
    Ok(())
}

fn refuse_existing(to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        bail!("{} already exists; not overwriting it", to.display());
    }
    Ok(())
}
