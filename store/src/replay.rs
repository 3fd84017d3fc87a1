//! Startup replay: applying recovered AOF segments to the shards, on every
//! core.
//!
//! Building the map — hashing, allocating, inserting — is the cost of a
//! restart, not parsing. The recovery scan validates each segment
//! sequentially; the calling thread then routes every record to the thread
//! that owns its shard, and each thread applies its own records in seq
//! order. The threads live for the whole replay and always own the same
//! disjoint range of shards, so they share nothing, and a value replaced
//! later in the log is freed by the thread that allocated it. A `flush` is
//! routed to every thread, at its place in the order.

use crate::aof::record::{self, Op};
use crate::shard::{Entry, Shard};
use bytes::Bytes;
use foldhash::fast::FixedState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::mpsc;

/// How many threads replay uses for `shard_count` shards: the available
/// cores, rounded down to a power of two so shards divide evenly.
pub(crate) fn thread_count(shard_count: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = 1 << cores.ilog2();
    threads.min(shard_count).min(16)
}

/// A segment's worth of work for one replay thread.
struct Job {
    bytes: Arc<Vec<u8>>,
    offsets: Vec<usize>,
}

/// Runs `body` with an `apply` callback that replays one validated
/// segment (its buffer and record offsets) into `shards` on `threads`
/// threads. The buffer is handed back unchanged for reuse.
pub(crate) fn with_replay_threads<R>(
    shards: &mut [Shard],
    hasher: &FixedState,
    threads: usize,
    body: impl FnOnce(&mut dyn FnMut(&mut Vec<u8>, &[usize])) -> R,
) -> R {
    let mask = shards.len() - 1;
    if threads <= 1 {
        return body(&mut |bytes, offsets| apply_records(shards, hasher, mask, bytes, offsets));
    }
    let per_thread = shards.len() / threads;
    std::thread::scope(|scope| {
        let mut chunks = shards.chunks_mut(per_thread);
        let own = chunks.next().expect("at least one shard");
        let mut workers = Vec::with_capacity(threads - 1);
        for chunk in chunks {
            let (jobs, job_rx) = mpsc::sync_channel::<Job>(1);
            let (done_tx, done) = mpsc::sync_channel::<Vec<usize>>(1);
            scope.spawn(move || {
                for job in job_rx {
                    apply_records(chunk, hasher, mask, &job.bytes, &job.offsets);
                    let Job { bytes, offsets } = job;
                    drop(bytes); // before reporting, so the caller can reclaim it
                    if done_tx.send(offsets).is_err() {
                        return;
                    }
                }
            });
            workers.push((jobs, done));
        }
        let mut routed: Vec<Vec<usize>> = vec![Vec::new(); threads];
        let result = body(&mut |bytes: &mut Vec<u8>, offsets: &[usize]| {
            route(bytes, offsets, hasher, mask, per_thread, &mut routed);
            let shared = Arc::new(std::mem::take(bytes));
            for ((jobs, _), offsets) in workers.iter().zip(routed.iter_mut().skip(1)) {
                let job = Job {
                    bytes: shared.clone(),
                    offsets: std::mem::take(offsets),
                };
                jobs.send(job).expect("replay thread alive");
            }
            apply_records(own, hasher, mask, &shared, &routed[0]);
            for ((_, done), offsets) in workers.iter().zip(routed.iter_mut().skip(1)) {
                *offsets = done.recv().expect("replay thread finished its share");
            }
            *bytes = Arc::try_unwrap(shared).expect("every replay thread released the segment");
        });
        drop(workers); // closes the job channels: the threads end
        result
    })
}

/// Sorts the records of a segment by owning thread, keeping log order.
fn route(
    bytes: &[u8],
    offsets: &[usize],
    hasher: &FixedState,
    mask: usize,
    per_thread: usize,
    routed: &mut [Vec<usize>],
) {
    routed.iter_mut().for_each(Vec::clear);
    for &offset in offsets {
        let rec = record::decode_trusted(&bytes[offset..]);
        if rec.op == Op::Flush {
            routed.iter_mut().for_each(|list| list.push(offset));
        } else {
            let shard = (hasher.hash_one(rec.key) as usize) & mask;
            routed[shard / per_thread].push(offset);
        }
    }
}

/// Applies records to `owned`: all shards, or one thread's aligned chunk of
/// them, so a shard's global index modulo the chunk length is its place in
/// the chunk.
fn apply_records(
    owned: &mut [Shard],
    hasher: &FixedState,
    mask: usize,
    bytes: &[u8],
    offsets: &[usize],
) {
    let chunk_len = owned.len();
    for &offset in offsets {
        let rec = record::decode_trusted(&bytes[offset..]);
        if rec.op == Op::Flush {
            owned.iter_mut().for_each(Shard::clear);
            continue;
        }
        let shard = &mut owned[((hasher.hash_one(rec.key) as usize) & mask) % chunk_len];
        match rec.value {
            Some(value) => {
                let entry = Entry {
                    value: Bytes::copy_from_slice(value),
                    expire_at_ms: rec.expire_at_ms,
                };
                shard.put(rec.key, entry);
            }
            None => {
                shard.remove(rec.key);
            }
        }
    }
}
