//! AOF rewrite (compaction) and snapshots: the keyspace written as a base
//! (see [`aof::base`](crate::aof::base)) while writes go on.
//!
//! A snapshot copies the map one shard at a time — each shard's lock is held
//! only to clone its handles (values are shared `Bytes`), so no writer waits
//! longer than one shard's copy — then appends the records logged meanwhile,
//! read back from the AOF. The result is exact at the last of them.
//!
//! A rewrite writes that snapshot to `rewrite.base.tmp`, fsyncs it and
//! renames it to `<seq>.base`: until the rename recovery uses the previous
//! base and all segments, after it the new base and the segments after its
//! seq. Only then are older bases and the history retention lets go deleted
//! (see [`aof::retention`](crate::aof::retention)). A crash at any step
//! leaves a complete state; the `.tmp` file is removed on the next open.

use crate::aof::base::{self, BaseSummary, BaseWriter};
use crate::aof::{Purged, segment};
use crate::error::{Result, StoreError};
use crate::shard::{Entry, Key};
use crate::store::Store;
use crate::stream::catchup::CatchUp;
use parking_lot::Mutex;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The unfinished base of a rewrite in progress.
const REWRITE_TMP: &str = "rewrite.base.tmp";

/// What a rewrite did.
#[derive(Debug, Clone, Copy)]
pub struct RewriteReport {
    /// The new base.
    pub base: BaseSummary,
    /// The history deleted after it.
    pub purged: Purged,
    /// Wall time.
    pub elapsed: Duration,
}

/// The steps of a rewrite, in order: the seams crash tests stop at.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteStep {
    /// The first shard is in the unfinished base.
    Copying,
    /// The base is complete in its `.tmp` file, not yet fsynced or renamed.
    Written,
    /// The base is renamed into place; nothing deleted yet.
    Installed,
    /// One older file has been deleted.
    Purging,
}

/// Rewrite state for INFO and BGREWRITEAOF.
#[derive(Debug, Clone, Default)]
pub struct RewriteStats {
    /// A rewrite is running.
    pub in_progress: bool,
    /// Rewrites finished since start.
    pub rewrites: u64,
    /// How the last one ended: `None` before the first.
    pub last_error: Option<Option<String>>,
    /// How long the last one took.
    pub last_elapsed: Option<Duration>,
}

/// Serialises rewrites and snapshots, and remembers how they went.
#[derive(Debug, Default)]
pub(crate) struct Maintenance {
    /// Held for a whole rewrite or snapshot: a rewrite's purge must not
    /// delete the history a snapshot is reading its fix-ups from.
    exclusive: Mutex<()>,
    in_progress: AtomicBool,
    stats: Mutex<RewriteStats>,
}

impl Store {
    /// Writes a consistent snapshot of the keyspace to `out` and returns it
    /// with the seq whose state it is. Writers keep going meanwhile.
    /// Blocking: call it from a blocking thread.
    pub fn snapshot_to<W: Write>(&self, out: W) -> Result<(W, BaseSummary)> {
        let _exclusive = self.maintenance.exclusive.lock();
        self.write_base(out, &mut |_| {})
    }

    /// Rewrites the AOF now, on the calling thread (blocking).
    pub fn rewrite(&self) -> Result<RewriteReport> {
        self.rewrite_with(&mut |_| {})
    }

    /// Starts a rewrite on a background thread, as BGREWRITEAOF does.
    /// Fails if one is already running.
    pub fn start_rewrite(self: &Arc<Self>) -> Result<()> {
        if self.maintenance.in_progress.swap(true, Ordering::AcqRel) {
            return Err(StoreError::RewriteInProgress);
        }
        let store = self.clone();
        std::thread::Builder::new()
            .name("fluxkv-aof-rewrite".into())
            .spawn(move || {
                let _ = store.rewrite();
            })
            .map_err(|e| {
                self.maintenance.in_progress.store(false, Ordering::Release);
                StoreError::io("starting the rewrite thread", self.data_dir(), e)
            })?;
        Ok(())
    }

    /// True when the log since the base has grown past the auto-rewrite
    /// thresholds (and no rewrite is running).
    pub fn rewrite_due(&self) -> Result<bool> {
        let options = self.aof.options();
        if options.auto_rewrite_percentage == 0
            || self.maintenance.in_progress.load(Ordering::Acquire)
        {
            return Ok(false);
        }
        let growth = self.aof.growth_since_base()?;
        let base_bytes = self.aof.status().base.map_or(0, |b| b.bytes);
        Ok(growth >= options.auto_rewrite_min_bytes
            && growth.saturating_mul(100)
                >= base_bytes.saturating_mul(options.auto_rewrite_percentage))
    }

    /// Deletes the history retention no longer keeps (consumers may have
    /// moved on since the last rewrite).
    pub fn purge_history(&self) -> Result<Purged> {
        let _exclusive = self.maintenance.exclusive.lock();
        self.aof.purge(&mut || Ok(()))
    }

    /// The state of rewrites.
    pub fn rewrite_stats(&self) -> RewriteStats {
        let mut stats = self.maintenance.stats.lock().clone();
        stats.in_progress = self.maintenance.in_progress.load(Ordering::Acquire);
        stats
    }

    /// [`Store::rewrite`], calling `step` at each step; a `step` that
    /// panics leaves the files as a crash there would.
    #[doc(hidden)]
    pub fn rewrite_with(&self, step: &mut dyn FnMut(RewriteStep)) -> Result<RewriteReport> {
        self.maintenance.in_progress.store(true, Ordering::Release);
        let started = Instant::now();
        let result = {
            let _exclusive = self.maintenance.exclusive.lock();
            self.rewrite_locked(step)
        };
        let mut stats = self.maintenance.stats.lock();
        stats.last_elapsed = Some(started.elapsed());
        match &result {
            Ok(report) => {
                stats.rewrites += 1;
                stats.last_error = Some(None);
                tracing::info!(
                    seq = report.base.seq,
                    keys = report.base.keys,
                    base_bytes = report.base.bytes,
                    deleted_segments = report.purged.segments,
                    elapsed_ms = report.elapsed.as_millis() as u64,
                    "AOF rewrite done"
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "AOF rewrite failed");
                stats.last_error = Some(Some(err.to_string()));
            }
        }
        self.maintenance.in_progress.store(false, Ordering::Release);
        result
    }

    fn rewrite_locked(&self, step: &mut dyn FnMut(RewriteStep)) -> Result<RewriteReport> {
        let started = Instant::now();
        let tmp = self.aof.dir().join(REWRITE_TMP);
        let written = std::fs::File::create(&tmp)
            .map_err(|e| StoreError::io("creating AOF base", &tmp, e))
            .and_then(|file| self.write_base(file, step))
            .and_then(|(file, base)| {
                step(RewriteStep::Written);
                file.sync_all()
                    .map_err(|e| StoreError::io("fsyncing AOF base", &tmp, e))?;
                Ok(base)
            });
        let base = match written {
            Ok(base) => base,
            Err(err) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(err);
            }
        };
        self.aof.install_base(&tmp, base)?;
        step(RewriteStep::Installed);
        let purged = self.aof.purge(&mut || {
            step(RewriteStep::Purging);
            Ok(())
        })?;
        Ok(RewriteReport {
            base,
            purged,
            elapsed: started.elapsed(),
        })
    }

    /// Copies every shard, then appends the fix-ups (see the module docs).
    fn write_base<W: Write>(
        &self,
        out: W,
        step: &mut dyn FnMut(RewriteStep),
    ) -> Result<(W, BaseSummary)> {
        self.aof.ensure_writable()?;
        // `out` may be the rewrite's file or a snapshot's destination (a
        // file, a gRPC stream): name the store, not a file it may not be.
        let dir = self.aof.dir();
        let io = |e| StoreError::io("writing a base or snapshot of the store in", dir, e);
        let from_seq = self.aof.last_seq();
        let mut writer = BaseWriter::new(out, from_seq);
        let mut copy: Vec<(Key, Entry)> = Vec::new();
        for (index, shard) in self.shards.iter().enumerate() {
            let now = self.clock.now_ms();
            copy.extend(
                shard
                    .lock()
                    .iter()
                    .filter(|(_, entry)| !entry.is_expired(now))
                    .map(|(key, entry)| (key.clone(), entry.clone())),
            );
            for (key, entry) in copy.drain(..) {
                writer.entry(&key, &entry).map_err(io)?;
            }
            if index == 0 {
                step(RewriteStep::Copying);
            }
        }
        // Every record a shard held when it was copied has a seq at or
        // below this one.
        let seq = self.aof.last_seq();
        self.aof.wait_committed_blocking(seq)?;
        if seq > from_seq {
            let mut reader = CatchUp::open(self.aof.dir().to_path_buf(), from_seq + 1)?;
            let mut next = from_seq + 1;
            while next <= seq {
                let batch = reader.read(next, seq)?.ok_or_else(|| StoreError::Corrupt {
                    path: self.aof.dir().to_path_buf(),
                    offset: 0,
                    reason: format!("the AOF ends before seq {next}, which was committed"),
                })?;
                writer
                    .fixups(&batch.frames, batch.first_seq, batch.last_seq)
                    .map_err(io)?;
                next = batch.last_seq + 1;
            }
        }
        writer.finish().map_err(io)
    }
}

/// Installs the snapshot at `snapshot` as the base of the empty data
/// directory `data_dir`: a node opened there starts with its keyspace, and
/// its own seqs continue after the snapshot's. Checks every record first.
pub fn install_snapshot(data_dir: &Path, snapshot: &Path) -> Result<BaseSummary> {
    let _lock = crate::store::lock_data_dir(data_dir)?;
    let aof_dir = data_dir.join("aof");
    std::fs::create_dir_all(&aof_dir)
        .map_err(|e| StoreError::io("creating AOF directory", &aof_dir, e))?;
    if !segment::list(&aof_dir)?.is_empty() || !base::list(&aof_dir)?.is_empty() {
        return Err(StoreError::NotEmpty { path: aof_dir });
    }
    let summary = base::verify(snapshot)?;
    let tmp = aof_dir.join("snapshot.base.tmp");
    std::fs::copy(snapshot, &tmp)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| StoreError::io("copying snapshot", &tmp, e))?;
    let target = base::BaseFile::at(&aof_dir, summary.seq);
    std::fs::rename(&tmp, &target.path)
        .map_err(|e| StoreError::io("installing snapshot", &target.path, e))?;
    segment::sync_dir(&aof_dir)?;
    Ok(summary)
}
