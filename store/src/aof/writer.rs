//! Group commit: one thread writes everything appended since its last
//! write with a single `write(2)`, then fsyncs per policy.
//!
//! Appenders (connection tasks, holding a shard lock) only encode into the
//! shared pending buffer; they never touch the file. The writer swaps the
//! buffer out, writes it, and publishes the highest seq it covered. Every
//! appender waiting on that seq is woken at once, so one `write(2)` — and
//! under `always` one `fdatasync` — serves all writes that arrived while
//! the previous one was in flight.

use super::Shared;
use super::durability::FsyncPolicy;
use super::segment;
use crate::error::StoreError;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Buffers above this are dropped after a burst instead of kept forever.
const KEEP_BUFFER_CAPACITY: usize = 8 << 20;

pub(super) struct WriterState {
    pub(super) file: Arc<File>,
    pub(super) segment_len: u64,
}

/// The writer thread's loop; returns when the AOF closes or is poisoned.
pub(super) fn run_writer(shared: Arc<Shared>, mut state: WriterState) {
    let mut batch = Vec::with_capacity(1 << 20);
    loop {
        let (first_seq, last_seq, closing) = {
            let mut pending = shared.pending.lock();
            while pending.buf.is_empty() && !pending.closing {
                shared.wake_writer.wait(&mut pending);
            }
            std::mem::swap(&mut pending.buf, &mut batch);
            let first = pending.first_unwritten;
            pending.first_unwritten = pending.next_seq;
            (first, pending.next_seq - 1, pending.closing)
        };
        if !batch.is_empty() {
            if let Err(err) = write_batch(&shared, &mut state, &batch, first_seq, last_seq) {
                shared.poison(err);
                return;
            }
            batch.clear();
            if batch.capacity() > KEEP_BUFFER_CAPACITY {
                batch = Vec::with_capacity(1 << 20);
            }
        }
        if closing && shared.pending.lock().buf.is_empty() {
            if let Err(err) = state.file.sync_data() {
                shared.poison(StoreError::io(
                    "fsyncing AOF at shutdown",
                    shared.current_path(),
                    err,
                ));
                return;
            }
            shared.durable_seq.fetch_max(last_seq, Ordering::AcqRel);
            return;
        }
    }
}

fn write_batch(
    shared: &Shared,
    state: &mut WriterState,
    batch: &[u8],
    first_seq: u64,
    last_seq: u64,
) -> Result<(), StoreError> {
    if state.segment_len + batch.len() as u64 > shared.options.segment_bytes
        && state.segment_len > segment::HEADER_LEN as u64
    {
        rotate(shared, state, first_seq)?;
    }
    (&*state.file)
        .write_all(batch)
        .map_err(|e| StoreError::io("writing AOF", shared.current_path(), e))?;
    state.segment_len += batch.len() as u64;
    shared
        .total_bytes
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    if shared.options.fsync == FsyncPolicy::Always {
        state
            .file
            .sync_data()
            .map_err(|e| StoreError::io("fsyncing AOF", shared.current_path(), e))?;
        shared.durable_seq.store(last_seq, Ordering::Release);
    }
    shared.committed_seq.store(last_seq, Ordering::Release);
    shared.progress.notify_waiters();
    Ok(())
}

/// Closes the current segment (durably: every policy syncs on rotation) and
/// starts the next one at `first_seq`.
fn rotate(shared: &Shared, state: &mut WriterState, first_seq: u64) -> Result<(), StoreError> {
    state
        .file
        .sync_data()
        .map_err(|e| StoreError::io("fsyncing AOF segment", shared.current_path(), e))?;
    shared
        .durable_seq
        .fetch_max(first_seq - 1, Ordering::AcqRel);
    let (segment, file) = segment::create(&shared.dir, first_seq)?;
    state.file = Arc::new(file);
    state.segment_len = segment::HEADER_LEN as u64;
    shared
        .total_bytes
        .fetch_add(segment::HEADER_LEN as u64, Ordering::Relaxed);
    *shared.current.lock() = (segment.path, state.file.clone());
    shared.segments.fetch_add(1, Ordering::Relaxed);
    Ok(())
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
        let (path, file) = shared.current.lock().clone();
        if let Err(err) = file.sync_data() {
            shared.poison(StoreError::io("fsyncing AOF", path, err));
            return;
        }
        shared.durable_seq.fetch_max(target, Ordering::AcqRel);
    }
}
