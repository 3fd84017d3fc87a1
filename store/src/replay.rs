//! Startup replay: applying recovered AOF segments to the shards, on every
//! core.
//!
//! Building the map — hashing, allocating, inserting — is the cost of a
//! restart, not parsing. The recovery scan validates a segment
//! sequentially; then each replay thread walks the whole segment but
//! applies only the records whose shard it owns. Shards are disjoint
//! slices, so the threads share nothing, and each key's records are still
//! applied in seq order by exactly one thread. A `flush` is applied by
//! every thread to its own shards at its place in the order.

use crate::aof::record::{self, Op, RecordRef};
use crate::shard::{Entry, Shard};
use bytes::Bytes;
use foldhash::fast::FixedState;
use std::hash::BuildHasher;

/// Below this many records a segment is applied on the calling thread:
/// spawning would cost more than it saves.
const PARALLEL_MIN_RECORDS: usize = 20_000;

/// How many threads replay uses for `shard_count` shards: the available
/// cores, rounded down to a power of two so shards divide evenly.
pub(crate) fn thread_count(shard_count: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = 1 << cores.ilog2();
    threads.min(shard_count).min(16)
}

/// Applies the records at `offsets` of a validated segment to `shards`.
pub(crate) fn apply_segment(
    shards: &mut [Shard],
    hasher: &FixedState,
    bytes: &[u8],
    offsets: &[usize],
    threads: usize,
) {
    let mask = shards.len() - 1;
    if threads <= 1 || offsets.len() < PARALLEL_MIN_RECORDS {
        let all = 0..shards.len();
        apply_owned(shards, all, hasher, mask, bytes, offsets);
        return;
    }
    let per_thread = shards.len() / threads;
    std::thread::scope(|scope| {
        for (index, owned) in shards.chunks_mut(per_thread).enumerate() {
            let first = index * per_thread;
            let range = first..first + per_thread;
            scope.spawn(move || apply_owned(owned, range, hasher, mask, bytes, offsets));
        }
    });
}

/// Applies the records whose shard index falls in `range`; `owned[i]` is
/// shard `range.start + i`.
fn apply_owned(
    owned: &mut [Shard],
    range: std::ops::Range<usize>,
    hasher: &FixedState,
    mask: usize,
    bytes: &[u8],
    offsets: &[usize],
) {
    for &offset in offsets {
        let rec = record::decode_trusted(&bytes[offset..]);
        if rec.op == Op::Flush {
            owned.iter_mut().for_each(Shard::clear);
            continue;
        }
        let index = (hasher.hash_one(rec.key) as usize) & mask;
        if range.contains(&index) {
            apply(&mut owned[index - range.start], rec);
        }
    }
}

fn apply(shard: &mut Shard, rec: RecordRef<'_>) {
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
