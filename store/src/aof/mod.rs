//! The append-only file: every mutation, in seq order, framed and
//! checksummed, in numbered segments.
//!
//! [`Aof::append`] is called with the key's shard lock held: it assigns the
//! next seq and encodes the record into the pending buffer, so seq order
//! equals per-key apply order. The buffer is written in groups (see
//! `writer`); [`Aof::wait_committed`] resolves once a seq is written (and
//! fsynced under `always`) — that is when a client may be acknowledged.

pub mod base;
mod durability;
pub mod history;
pub mod record;
pub mod recovery;
pub mod retention;
pub mod segment;
mod writer;

pub use durability::FsyncPolicy;
pub use retention::RetentionPolicy;

use crate::error::{Result, StoreError};
use parking_lot::{Condvar, Mutex};
use record::RecordRef;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// AOF settings.
#[derive(Debug, Clone)]
pub struct AofOptions {
    /// When records are fsynced.
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Committed events kept in memory for change-stream subscribers that
    /// keep up; those further behind read the AOF.
    pub ring_events: usize,
    /// Rewrite automatically once the log since the base has grown by this
    /// percentage of the base's size (0: never), as Redis's
    /// `auto-aof-rewrite-percentage`…
    pub auto_rewrite_percentage: u64,
    /// …and is at least this large (`auto-aof-rewrite-min-size`).
    pub auto_rewrite_min_bytes: u64,
    /// How much history is kept once a base covers it.
    pub retention: RetentionPolicy,
}

impl Default for AofOptions {
    fn default() -> Self {
        AofOptions {
            fsync: FsyncPolicy::Everysec,
            segment_bytes: 64 << 20,
            ring_events: 65_536,
            auto_rewrite_percentage: 100,
            auto_rewrite_min_bytes: 64 << 20,
            retention: RetentionPolicy::default(),
        }
    }
}

/// A point-in-time view of the AOF for INFO and the admin API.
#[derive(Debug, Clone)]
pub struct AofStatus {
    /// The fsync policy in force.
    pub fsync: FsyncPolicy,
    /// Highest seq assigned to a record.
    pub last_seq: u64,
    /// Highest seq written (and under `always`, fsynced): acknowledged.
    pub committed_seq: u64,
    /// Highest seq known to be fsynced.
    pub durable_seq: u64,
    /// Bytes in all segments.
    pub total_bytes: u64,
    /// Number of segment files.
    pub segments: u64,
    /// The newest base, if a rewrite (or a loaded snapshot) made one.
    pub base: Option<base::BaseSummary>,
    /// The oldest seq the segments still hold: history starts there.
    pub oldest_seq: u64,
    /// The error that stopped the AOF, if one did.
    pub poisoned: Option<String>,
}

pub(crate) struct Pending {
    /// Encoded records not yet handed to the writer.
    buf: Vec<u8>,
    /// The seq the next appended record gets.
    next_seq: u64,
    /// The first seq in `buf`.
    first_unwritten: u64,
    closing: bool,
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    options: AofOptions,
    /// Held by appenders inside a shard lock, so it must stay short: encode
    /// one record, never I/O. A `parking_lot` mutex never needs `.await`.
    pending: Mutex<Pending>,
    wake_writer: Condvar,
    wake_syncer: Condvar,
    pub(crate) committed_seq: AtomicU64,
    durable_seq: AtomicU64,
    total_bytes: AtomicU64,
    segments: AtomicU64,
    /// Woken after every write so waiting connections can acknowledge and
    /// subscribers can read on.
    pub(crate) progress: tokio::sync::Notify,
    pub(crate) poisoned: OnceLock<String>,
    /// Recent committed batches for subscribers (filled only while any).
    pub(crate) ring: crate::stream::ring::Ring,
    pub(crate) subscribers: AtomicUsize,
    /// The newest base and the first seq of the oldest segment.
    files: Mutex<Files>,
    /// The lowest seq some consumer still needs (see `retention`).
    history_floor: AtomicU64,
    /// The segment being written, for the `everysec` syncer.
    current: Mutex<(PathBuf, Arc<File>)>,
    /// The right to write: held for one group commit at a time.
    output: Mutex<writer::Output>,
}

/// What the directory holds besides the live segment.
#[derive(Debug, Clone, Copy)]
struct Files {
    base: Option<base::BaseSummary>,
    oldest_seq: u64,
    /// The live segment when the newest base was installed, and its size
    /// then: what it held is not growth since the base.
    live_at_base: Option<(u64, u64)>,
}

impl Shared {
    fn poison(&self, err: StoreError) {
        tracing::error!(error = %err, "AOF write failed; refusing further writes");
        let _ = self.poisoned.set(err.to_string());
        self.progress.notify_waiters();
    }
}

/// The append-only file of one store.
pub struct Aof {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Aof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aof")
            .field("dir", &self.shared.dir)
            .field("status", &self.status())
            .finish()
    }
}

/// What opening the AOF found on disk.
#[derive(Debug)]
pub struct OpenReport {
    /// The recovery scan.
    pub recovered: recovery::Recovered,
    /// A torn tail that was cut off: (file, offset, reason).
    pub truncated: Option<(PathBuf, u64, String)>,
}

impl Aof {
    /// Opens (or creates) the AOF in `dir`, replaying the log into `sink`
    /// (see [`recovery::recover_segments`]), truncating a torn tail, and
    /// starting the writer threads.
    pub fn open(
        dir: &Path,
        options: AofOptions,
        sink: &mut (impl recovery::SegmentSink + ?Sized),
    ) -> Result<(Aof, OpenReport)> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io("creating AOF directory", dir, e))?;
        remove_unfinished(dir)?;
        let recovered = recovery::recover_segments(dir, sink)?;
        let mut truncated = None;
        let mut total_bytes = recovered.bytes;
        let (path, file, segment_len) = match recovered.segments.last() {
            Some(last) if last.damage.as_ref().is_some_and(|d| d.offset == 0) => {
                // Torn while being created: nothing in it was ever written.
                let damage = last.damage.as_ref().expect("checked");
                truncated = Some((last.segment.path.clone(), 0, damage.reason.clone()));
                std::fs::remove_file(&last.segment.path).map_err(|e| {
                    StoreError::io("removing torn AOF segment", &last.segment.path, e)
                })?;
                let (segment, file) = segment::create(dir, last.segment.first_seq)?;
                total_bytes += segment::HEADER_LEN as u64;
                (segment.path, file, segment::HEADER_LEN as u64)
            }
            Some(last) => {
                let file = File::options()
                    .append(true)
                    .open(&last.segment.path)
                    .map_err(|e| StoreError::io("opening AOF segment", &last.segment.path, e))?;
                if last.damage.is_some() {
                    file.set_len(last.valid_len)
                        .map_err(|e| StoreError::io("truncating AOF", &last.segment.path, e))?;
                }
                // What a killed process wrote may still be only in the page
                // cache: one fsync makes every recovered record durable, as
                // `durable_seq` below claims.
                file.sync_all()
                    .map_err(|e| StoreError::io("fsyncing AOF segment", &last.segment.path, e))?;
                if let Some(damage) = &last.damage {
                    truncated = Some((
                        last.segment.path.clone(),
                        damage.offset,
                        damage.reason.clone(),
                    ));
                }
                (last.segment.path.clone(), file, last.valid_len)
            }
            None => {
                let (segment, file) = segment::create(dir, recovered.last_seq + 1)?;
                total_bytes += segment::HEADER_LEN as u64;
                (segment.path, file, segment::HEADER_LEN as u64)
            }
        };
        if let Some((path, offset, reason)) = &truncated {
            tracing::warn!(file = %path.display(), offset, reason, "truncated a torn AOF tail");
        }
        let next_seq = recovered.last_seq + 1;
        let oldest_seq = segment::list(dir)?
            .first()
            .map_or(next_seq, |s| s.first_seq);
        let output = writer::Output::new(file, path.clone(), segment_len);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options: options.clone(),
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(1 << 20),
                next_seq,
                first_unwritten: next_seq,
                closing: false,
            }),
            wake_writer: Condvar::new(),
            wake_syncer: Condvar::new(),
            committed_seq: AtomicU64::new(recovered.last_seq),
            durable_seq: AtomicU64::new(recovered.last_seq),
            total_bytes: AtomicU64::new(total_bytes),
            segments: AtomicU64::new(recovered.segment_files.max(1)),
            progress: tokio::sync::Notify::new(),
            poisoned: OnceLock::new(),
            ring: crate::stream::ring::Ring::new(options.ring_events),
            subscribers: AtomicUsize::new(0),
            files: Mutex::new(Files {
                base: recovered.base,
                oldest_seq,
                live_at_base: None,
            }),
            // Until told otherwise, assume a consumer needs all history.
            history_floor: AtomicU64::new(0),
            current: Mutex::new((path, output.file.clone())),
            output: Mutex::new(output),
        });
        let mut threads = Vec::new();
        let writer_shared = shared.clone();
        threads.push(spawn("fluxkv-aof-writer", move || {
            writer::run_writer(writer_shared)
        })?);
        if options.fsync == FsyncPolicy::Everysec {
            let syncer_shared = shared.clone();
            threads.push(spawn("fluxkv-aof-fsync", move || {
                writer::run_syncer(syncer_shared)
            })?);
        }
        let aof = Aof {
            shared,
            threads: Mutex::new(threads),
        };
        Ok((
            aof,
            OpenReport {
                recovered,
                truncated,
            },
        ))
    }

    /// Fails when the AOF can no longer take records. Called before a
    /// mutation touches the map, so a poisoned store changes nothing.
    pub(crate) fn ensure_writable(&self) -> Result<()> {
        if let Some(reason) = self.shared.poisoned.get() {
            return Err(StoreError::AofPoisoned {
                reason: reason.clone(),
            });
        }
        Ok(())
    }

    /// Assigns the next seq to `rec` (its `seq` field is ignored), buffers
    /// it for the writer and returns the seq. Call with the key's shard lock
    /// held: that is what makes per-key order equal seq order.
    pub(crate) fn append(&self, rec: RecordRef<'_>) -> Result<u64> {
        let mut pending = self.shared.pending.lock();
        if pending.closing {
            return Err(StoreError::ShuttingDown);
        }
        let seq = pending.next_seq;
        pending.next_seq += 1;
        record::encode(&mut pending.buf, &RecordRef { seq, ..rec });
        drop(pending);
        if self.shared.options.fsync == FsyncPolicy::Always {
            self.shared.wake_writer.notify_one();
        }
        Ok(seq)
    }

    /// Resolves once `seq` is committed: written, and under `always` also
    /// fsynced. Fails if the AOF was poisoned before that happened.
    pub async fn wait_committed(&self, seq: u64) -> Result<()> {
        let shared = &self.shared;
        let mut yielded = false;
        loop {
            if shared.committed_seq.load(Ordering::Acquire) >= seq {
                return Ok(());
            }
            let notified = shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.committed_seq.load(Ordering::Acquire) >= seq {
                return Ok(());
            }
            self.ensure_writable()?;
            if shared.options.fsync != FsyncPolicy::Always && !yielded {
                // Let the other connections this worker has ready append
                // first, so one write(2) covers them all — the batching
                // Redis gets from handling every ready client per loop.
                yielded = true;
                tokio::task::yield_now().await;
                continue;
            }
            if shared.options.fsync != FsyncPolicy::Always
                && let Some(mut output) = shared.output.try_lock()
            {
                // Nobody is writing: write the group ourselves (a page-cache
                // write of a few KiB, cheaper than waking another thread).
                if let Err(err) = writer::flush(shared, &mut output) {
                    shared.poison(err);
                }
                continue;
            }
            notified.await;
        }
    }

    /// Stops taking records, writes and fsyncs everything buffered, and
    /// joins the writer threads. Idempotent.
    pub fn close(&self) -> Result<()> {
        self.shared.pending.lock().closing = true;
        self.shared.wake_writer.notify_all();
        self.shared.wake_syncer.notify_all();
        for thread in self.threads.lock().drain(..) {
            let _ = thread.join();
        }
        self.ensure_writable()
    }

    /// Counters and seqs for INFO and admin.
    pub fn status(&self) -> AofStatus {
        let shared = &self.shared;
        // One lock at a time: a guard in the struct expression below would
        // live until its end.
        let files = *shared.files.lock();
        let last_seq = self.last_seq();
        AofStatus {
            fsync: shared.options.fsync,
            last_seq,
            committed_seq: shared.committed_seq.load(Ordering::Acquire),
            durable_seq: shared.durable_seq.load(Ordering::Acquire),
            total_bytes: shared.total_bytes.load(Ordering::Relaxed),
            segments: shared.segments.load(Ordering::Relaxed),
            base: files.base,
            oldest_seq: files.oldest_seq,
            poisoned: shared.poisoned.get().cloned(),
        }
    }

    /// The seq of the last record appended (committed or not).
    pub(crate) fn last_seq(&self) -> u64 {
        self.shared.pending.lock().next_seq - 1
    }

    /// Blocks until `seq` is committed. For background threads (rewrite),
    /// which may wait a sweep interval; connections use
    /// [`Aof::wait_committed`].
    pub(crate) fn wait_committed_blocking(&self, seq: u64) -> Result<()> {
        while self.shared.committed_seq.load(Ordering::Acquire) < seq {
            self.ensure_writable()?;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    }

    /// Makes a finished, fsynced base file at `tmp` the newest base: one
    /// rename, then a directory fsync. From that instant recovery starts
    /// from it; before, from the previous base — a crash anywhere around
    /// it leaves one or the other, both complete.
    pub(crate) fn install_base(&self, tmp: &Path, summary: base::BaseSummary) -> Result<()> {
        let target = base::BaseFile::at(&self.shared.dir, summary.seq);
        std::fs::rename(tmp, &target.path)
            .map_err(|e| StoreError::io("installing AOF base", &target.path, e))?;
        segment::sync_dir(&self.shared.dir)?;
        let live = segment::list(&self.shared.dir)?.pop();
        let live_at_base = match live {
            Some(live) => std::fs::metadata(&live.path)
                .ok()
                .map(|m| (live.first_seq, m.len())),
            None => None,
        };
        let mut files = self.shared.files.lock();
        files.base = Some(summary);
        files.live_at_base = live_at_base;
        Ok(())
    }

    /// Sets the lowest seq a consumer still needs; history from there on is
    /// kept (within the retention limit). `u64::MAX`: nobody needs any.
    pub fn set_history_floor(&self, seq: u64) {
        self.shared.history_floor.store(seq, Ordering::Relaxed);
    }

    /// Deletes older bases and the history segments retention lets go,
    /// calling `between` after each deletion (a seam for crash tests).
    pub(crate) fn purge(&self, between: &mut dyn FnMut() -> Result<()>) -> Result<Purged> {
        let shared = &self.shared;
        let mut purged = Purged::default();
        let Some(newest) = shared.files.lock().base else {
            return Ok(purged);
        };
        for old in base::list(&shared.dir)?
            .into_iter()
            .filter(|b| b.seq < newest.seq)
        {
            remove(&old.path)?;
            between()?;
        }
        let segments = segment::list(&shared.dir)?;
        let mut spans = Vec::with_capacity(segments.len());
        for segment in &segments {
            let bytes = std::fs::metadata(&segment.path)
                .map_err(|e| StoreError::io("reading AOF segment", &segment.path, e))?
                .len();
            spans.push(retention::SegmentSpan {
                first_seq: segment.first_seq,
                bytes,
            });
        }
        let floor = shared.history_floor.load(Ordering::Relaxed);
        let count = retention::deletable(&spans, newest.seq, floor, shared.options.retention);
        for (index, (segment, span)) in segments.iter().zip(&spans).take(count).enumerate() {
            remove(&segment.path)?;
            // History now starts at the next segment (a deletable one
            // always has a successor).
            shared.files.lock().oldest_seq = spans[index + 1].first_seq;
            shared.total_bytes.fetch_sub(span.bytes, Ordering::Relaxed);
            shared.segments.fetch_sub(1, Ordering::Relaxed);
            purged.segments += 1;
            purged.bytes += span.bytes;
            between()?;
        }
        if count > 0 {
            segment::sync_dir(&shared.dir)?;
            tracing::info!(
                segments = purged.segments,
                bytes = purged.bytes,
                base_seq = newest.seq,
                floor,
                "deleted AOF history"
            );
        }
        Ok(purged)
    }

    /// Bytes of segments holding records the newest base does not cover:
    /// the growth auto-rewrite measures.
    pub(crate) fn growth_since_base(&self) -> Result<u64> {
        let files = *self.shared.files.lock();
        let base_seq = files.base.map_or(0, |b| b.seq);
        let segments = segment::list(&self.shared.dir)?;
        let mut growth = 0;
        for (index, segment) in segments.iter().enumerate() {
            let covered = segments
                .get(index + 1)
                .is_some_and(|next| next.first_seq <= base_seq + 1);
            if !covered {
                let len = std::fs::metadata(&segment.path)
                    .map_err(|e| StoreError::io("reading AOF segment", &segment.path, e))?
                    .len();
                let before_base = match files.live_at_base {
                    Some((first_seq, len)) if first_seq == segment.first_seq => len,
                    _ => 0,
                };
                growth += len.saturating_sub(before_base);
            }
        }
        Ok(growth)
    }

    /// The AOF settings.
    pub(crate) fn options(&self) -> &AofOptions {
        &self.shared.options
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The state subscribers follow.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl Drop for Aof {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// What a purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// History segments deleted.
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| StoreError::io("deleting AOF file", path, e))
}

/// Removes what a rewrite interrupted by a crash left behind.
fn remove_unfinished(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| StoreError::io("reading AOF directory", dir, e))?;
    for entry in entries {
        let path = entry
            .map_err(|e| StoreError::io("reading AOF directory", dir, e))?
            .path();
        if path.extension().is_some_and(|ext| ext == "tmp") {
            tracing::info!(file = %path.display(), "removing an unfinished rewrite file");
            std::fs::remove_file(&path)
                .map_err(|e| StoreError::io("removing unfinished file", &path, e))?;
        }
    }
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| StoreError::io("starting AOF thread", name, e))
}
