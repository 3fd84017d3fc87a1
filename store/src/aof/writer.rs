//! Group commit: whoever holds the [`Output`] lock writes everything
//! appended since the last write with a single `write(2)`, then fsyncs per
//! policy, and publishes the highest seq it covered.
//!
//! Appenders (connection tasks, holding a shard lock) only encode into the
//! shared pending buffer. Under `everysec` and `no` a connection waiting
//! for its seq takes the output lock itself when it is free and writes the
//! group — as Redis writes its AOF buffer from the event loop — so an
//! acknowledgement costs no thread hop. Under `always` the writer thread
//! does it, because an `fdatasync` must not block an async worker. Either
//! way one `write(2)` (and one `fdatasync`) serves every write that arrived
//! while the previous one was in flight.

use super::Shared;
use super::durability::FsyncPolicy;
use super::segment;
use crate::error::StoreError;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Buffers above this are dropped after a burst instead of kept forever.
const KEEP_BUFFER_CAPACITY: usize = 8 << 20;
/// Under `everysec`/`no` the writer thread only sweeps up records nobody
/// waits for (expiries logged by reads); waiters flush their own.
const SWEEP_INTERVAL: Duration = Duration::from_millis(2);

/// The segment being written. Holding its lock is the right to write.
pub(crate) struct Output {
    pub(super) file: Arc<File>,
    pub(super) path: PathBuf,
    pub(super) segment_len: u64,
    /// The batch being written; swapped with the pending buffer.
    batch: Vec<u8>,
}

impl Output {
    pub(super) fn new(file: File, path: PathBuf, segment_len: u64) -> Self {
        Output {
            file: Arc::new(file),
            path,
            segment_len,
            batch: Vec::with_capacity(1 << 20),
        }
    }
}

/// Writes everything pending. Call with the output lock held.
pub(super) fn flush(shared: &Shared, output: &mut Output) -> Result<(), StoreError> {
    let (first_seq, last_seq) = {
        let mut pending = shared.pending.lock();
        if pending.buf.is_empty() {
            return Ok(());
        }
        std::mem::swap(&mut pending.buf, &mut output.batch);
        let first = pending.first_unwritten;
        pending.first_unwritten = pending.next_seq;
        (first, pending.next_seq - 1)
    };
    let written = write_batch(shared, output, first_seq, last_seq);
    output.batch.clear();
    if output.batch.capacity() > KEEP_BUFFER_CAPACITY {
        output.batch = Vec::with_capacity(1 << 20);
    }
    written
}

fn write_batch(
    shared: &Shared,
    output: &mut Output,
    first_seq: u64,
    last_seq: u64,
) -> Result<(), StoreError> {
    let len = output.batch.len() as u64;
    if output.segment_len + len > shared.options.segment_bytes
        && output.segment_len > segment::HEADER_LEN as u64
    {
        rotate(shared, output, first_seq)?;
    }
    (&*output.file)
        .write_all(&output.batch)
        .map_err(|e| StoreError::io("writing AOF", &output.path, e))?;
    output.segment_len += len;
    shared.total_bytes.fetch_add(len, Ordering::Relaxed);
    if shared.options.fsync == FsyncPolicy::Always {
        output
            .file
            .sync_data()
            .map_err(|e| StoreError::io("fsyncing AOF", &output.path, e))?;
        shared.durable_seq.store(last_seq, Ordering::Release);
    }
    // In the file (and fsynced under `always`): now subscribers may see it.
    if shared.subscribers.load(Ordering::Acquire) > 0 {
        shared.ring.publish(first_seq, last_seq, &output.batch);
    } else {
        shared.ring.clear();
    }
    shared.committed_seq.store(last_seq, Ordering::Release);
    shared.progress.notify_waiters();
    Ok(())
}

/// Closes the current segment (durably: every policy syncs on rotation) and
/// starts the next one at `first_seq`.
fn rotate(shared: &Shared, output: &mut Output, first_seq: u64) -> Result<(), StoreError> {
    output
        .file
        .sync_data()
        .map_err(|e| StoreError::io("fsyncing AOF segment", &output.path, e))?;
    shared
        .durable_seq
        .fetch_max(first_seq - 1, Ordering::AcqRel);
    let (segment, file) = segment::create(&shared.dir, first_seq)?;
    output.file = Arc::new(file);
    output.path = segment.path;
    output.segment_len = segment::HEADER_LEN as u64;
    shared
        .total_bytes
        .fetch_add(segment::HEADER_LEN as u64, Ordering::Relaxed);
    *shared.current.lock() = (output.path.clone(), output.file.clone());
    shared.segments.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The writer thread: under `always` it does every group commit; under the
/// other policies it sweeps up records no waiter flushed. On close it
/// writes what is left and fsyncs, whatever the policy.
pub(super) fn run_writer(shared: Arc<Shared>) {
    let always = shared.options.fsync == FsyncPolicy::Always;
    loop {
        let closing = {
            let mut pending = shared.pending.lock();
            if pending.buf.is_empty() && !pending.closing {
                if always {
                    shared.wake_writer.wait(&mut pending);
                } else {
                    shared.wake_writer.wait_for(&mut pending, SWEEP_INTERVAL);
                }
            }
            pending.closing
        };
        let mut output = shared.output.lock();
        if let Err(err) = flush(&shared, &mut output) {
            shared.poison(err);
            return;
        }
        if closing {
            // Appends are refused once closing is set, so this is the end.
            match output.file.sync_data() {
                Ok(()) => {
                    let last = shared.committed_seq.load(Ordering::Acquire);
                    shared.durable_seq.fetch_max(last, Ordering::AcqRel);
                }
                Err(err) => shared.poison(StoreError::io(
                    "fsyncing AOF at shutdown",
                    &output.path,
                    err,
                )),
            }
            return;
        }
    }
}

/// The `everysec` background fsync: never on the write path, so a slow disk
/// delays durability, not acknowledgements.
pub(super) fn run_syncer(shared: Arc<Shared>) {
    loop {
        {
            let mut pending = shared.pending.lock();
            if !pending.closing {
                shared
                    .wake_syncer
                    .wait_for(&mut pending, Duration::from_secs(1));
            }
            if pending.closing {
                return;
            }
        }
        let target = shared.committed_seq.load(Ordering::Acquire);
        if target <= shared.durable_seq.load(Ordering::Acquire) {
            continue;
        }
        // The file is cloned after reading the target: records up to it are
        // in this file or in one that rotation already synced.
        let (path, file) = shared.current.lock().clone();
        if let Err(err) = file.sync_data() {
            shared.poison(StoreError::io("fsyncing AOF", path, err));
            return;
        }
        shared.durable_seq.fetch_max(target, Ordering::AcqRel);
    }
}
