//! The append-only file: every mutation, in seq order, framed and
//! checksummed, in numbered segments.
//!
//! [`Aof::append`] is called with the key's shard lock held: it assigns the
//! next seq and encodes the record into the pending buffer, so seq order
//! equals per-key apply order. The buffer is written in groups (see
//! `writer`); [`Aof::wait_committed`] resolves once a seq is written (and
//! fsynced under `always`) — that is when a client may be acknowledged.

mod durability;
pub mod record;
pub mod recovery;
pub mod segment;
mod writer;

pub use durability::FsyncPolicy;

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
}

impl Default for AofOptions {
    fn default() -> Self {
        AofOptions {
            fsync: FsyncPolicy::Everysec,
            segment_bytes: 64 << 20,
            ring_events: 65_536,
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
    /// The segment being written, for the `everysec` syncer.
    current: Mutex<(PathBuf, Arc<File>)>,
    /// The right to write: held for one group commit at a time.
    output: Mutex<writer::Output>,
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
                let (segment, file) = segment::create(dir, 1)?;
                total_bytes += segment::HEADER_LEN as u64;
                (segment.path, file, segment::HEADER_LEN as u64)
            }
        };
        if let Some((path, offset, reason)) = &truncated {
            tracing::warn!(file = %path.display(), offset, reason, "truncated a torn AOF tail");
        }
        let next_seq = recovered.last_seq + 1;
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
            segments: AtomicU64::new(recovered.segments.len().max(1) as u64),
            progress: tokio::sync::Notify::new(),
            poisoned: OnceLock::new(),
            ring: crate::stream::ring::Ring::new(options.ring_events),
            subscribers: AtomicUsize::new(0),
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
        AofStatus {
            fsync: shared.options.fsync,
            last_seq: shared.pending.lock().next_seq - 1,
            committed_seq: shared.committed_seq.load(Ordering::Acquire),
            durable_seq: shared.durable_seq.load(Ordering::Acquire),
            total_bytes: shared.total_bytes.load(Ordering::Relaxed),
            segments: shared.segments.load(Ordering::Relaxed),
            poisoned: shared.poisoned.get().cloned(),
        }
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

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| StoreError::io("starting AOF thread", name, e))
}
