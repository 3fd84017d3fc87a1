//! Startup replay: applying the recovered AOF to the shards, on every core.
//!
//! Building the map — hashing, allocating, inserting — is the cost of a
//! restart, not parsing. The recovery scan reads and validates segments on
//! the calling thread and routes each record to the replay thread that owns
//! its shard; the replay threads apply while the scan moves on to the next
//! segment (two segments are in flight). Each thread owns the same disjoint
//! range of shards for the whole replay, so threads share nothing, a key's
//! records are applied in seq order by one thread, and a value replaced
//! later in the log is freed by the thread that allocated it. A `flush` is
//! routed to every thread at its place in the order.

use crate::aof::record::{self, Op, RecordRef};
use crate::aof::recovery::SegmentSink;
use crate::shard::{Entry, Shard};
use bytes::Bytes;
use foldhash::fast::FixedState;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Segments read ahead of the replay threads: one being applied, one being
/// scanned.
const SEGMENTS_IN_FLIGHT: usize = 2;

/// How many replay threads to use for `shard_count` shards: the available
/// cores, rounded down to a power of two so shards divide evenly.
pub(crate) fn thread_count(shard_count: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = 1 << cores.ilog2();
    threads.min(shard_count).min(16)
}

/// Runs `body` with a sink that replays a recovered log into `shards`,
/// and returns once every record is applied.
pub(crate) fn replay_into<R>(
    shards: &mut [Shard],
    hasher: &FixedState,
    threads: usize,
    body: impl FnOnce(&mut dyn SegmentSink) -> R,
) -> R {
    let mask = shards.len() - 1;
    if threads <= 1 {
        return body(&mut Direct {
            shards,
            hasher,
            mask,
        });
    }
    let per_thread = shards.len() / threads;
    std::thread::scope(|scope| {
        let workers = shards
            .chunks_mut(per_thread)
            .map(|owned| {
                let (jobs, job_rx) = sync_channel::<Job>(SEGMENTS_IN_FLIGHT);
                let (done_tx, done) = sync_channel::<()>(SEGMENTS_IN_FLIGHT + 1);
                scope.spawn(move || {
                    for job in job_rx {
                        for &offset in &job.offsets {
                            apply(
                                owned,
                                hasher,
                                mask,
                                record::decode_trusted(&job.bytes[offset..]).0,
                            );
                        }
                        drop(job); // release the segment before reporting
                        if done_tx.send(()).is_err() {
                            return;
                        }
                    }
                });
                Worker { jobs, done }
            })
            .collect();
        let mut sink = Dispatch {
            hasher,
            mask,
            per_thread,
            routed: vec![Vec::new(); threads],
            workers,
            in_flight: VecDeque::new(),
        };
        body(&mut sink)
        // `sink` drops here, closing the job channels; the scope then
        // waits for the threads to apply what is queued.
    })
}

/// Applies records as the scan meets them: replay on one thread.
struct Direct<'s> {
    shards: &'s mut [Shard],
    hasher: &'s FixedState,
    mask: usize,
}

impl SegmentSink for Direct<'_> {
    fn record(&mut self, _offset: usize, rec: &RecordRef<'_>) {
        apply(self.shards, self.hasher, self.mask, *rec);
    }

    fn segment(&mut self, _bytes: &mut Vec<u8>) {}
}

/// A segment's worth of work for one replay thread.
struct Job {
    bytes: Arc<Vec<u8>>,
    offsets: Vec<usize>,
}

struct Worker {
    jobs: SyncSender<Job>,
    /// One message per finished job, in job order.
    done: Receiver<()>,
}

/// Routes records to replay threads and ships them each segment.
struct Dispatch<'s> {
    hasher: &'s FixedState,
    mask: usize,
    per_thread: usize,
    /// Offsets of the current segment's records, per thread.
    routed: Vec<Vec<usize>>,
    workers: Vec<Worker>,
    /// Buffers of segments shipped and not yet known to be applied.
    in_flight: VecDeque<Arc<Vec<u8>>>,
}

impl SegmentSink for Dispatch<'_> {
    fn record(&mut self, offset: usize, rec: &RecordRef<'_>) {
        if rec.op == Op::Flush {
            self.routed.iter_mut().for_each(|list| list.push(offset));
        } else {
            let shard = (self.hasher.hash_one(rec.key) as usize) & self.mask;
            self.routed[shard / self.per_thread].push(offset);
        }
    }

    fn segment(&mut self, bytes: &mut Vec<u8>) {
        let shared = Arc::new(std::mem::take(bytes));
        for (worker, list) in self.workers.iter().zip(&mut self.routed) {
            let offsets = std::mem::replace(list, Vec::with_capacity(list.len()));
            let job = Job {
                bytes: shared.clone(),
                offsets,
            };
            worker.jobs.send(job).expect("replay thread alive");
        }
        self.in_flight.push_back(shared);
        if self.in_flight.len() == SEGMENTS_IN_FLIGHT {
            // The oldest segment is applied once every thread says so;
            // its buffer is then free to read the next segment into.
            for worker in &self.workers {
                worker
                    .done
                    .recv()
                    .expect("replay thread finished its share");
            }
            let oldest = self.in_flight.pop_front().expect("in flight");
            *bytes = Arc::try_unwrap(oldest).expect("every replay thread released the segment");
        }
    }
}

/// Applies one record to `owned`: all shards, or one thread's aligned
/// chunk of them, so a shard's global index modulo the chunk length is its
/// place in the chunk.
fn apply(owned: &mut [Shard], hasher: &FixedState, mask: usize, rec: RecordRef<'_>) {
    if rec.op == Op::Flush {
        owned.iter_mut().for_each(Shard::clear);
        return;
    }
    let index = ((hasher.hash_one(rec.key) as usize) & mask) % owned.len();
    let shard = &mut owned[index];
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
