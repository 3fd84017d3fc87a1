//! Whole-key operations: DEL, EXISTS, RENAME, FLUSHALL, KEYS, SCAN,
//! RANDOMKEY.

use crate::aof::record::{Op, RecordRef};
use crate::error::{Result, StoreError};
use crate::store::{Logged, Store};
use bytes::Bytes;
use rand::Rng;
use std::hash::BuildHasher;

/// SCAN visits each shard in this many fixed slices (by hash), so a cursor
/// is a (shard, slice) position that stays valid while keys come and go:
/// a key present for the whole scan is returned exactly once.
const SCAN_SLICES: u64 = 64;
const SLICE_BITS: u32 = SCAN_SLICES.trailing_zeros();

impl Store {
    /// DEL / UNLINK: returns how many of `keys` existed.
    pub fn del(&self, keys: &[&[u8]]) -> Result<Logged<usize>> {
        self.aof.ensure_writable()?;
        let now = self.clock.now_ms();
        let mut locked = self.lock_keys(keys.iter().copied());
        let mut seq = None;
        let mut removed = 0;
        for key in keys {
            let shard = locked.shard(self.shard_index(key));
            seq = self.reap_if_expired(shard, key, now).or(seq);
            if let Some(s) = self.log_remove(shard, key, now, Op::Del)? {
                removed += 1;
                seq = Some(s);
            }
        }
        Ok(Logged {
            value: removed,
            seq,
        })
    }

    /// EXISTS: how many of `keys` exist (a key named twice counts twice).
    pub fn exists(&self, keys: &[&[u8]]) -> usize {
        keys.iter()
            .filter(|key| self.read(key, |e| e.is_some()))
            .count()
    }

    /// RENAME (RENAMENX when `only_if_absent`): moves the value and its
    /// deadline, logged as `del` of the source then `set` of the target
    /// with consecutive seqs. Returns whether the rename happened.
    pub fn rename(&self, from: &[u8], to: &[u8], only_if_absent: bool) -> Result<Logged<bool>> {
        self.aof.ensure_writable()?;
        let now = self.clock.now_ms();
        let (from_shard, to_shard) = (self.shard_index(from), self.shard_index(to));
        let mut locked = self.lock_keys([from, to]);
        let mut seq = self.reap_if_expired(locked.shard(from_shard), from, now);
        seq = self
            .reap_if_expired(locked.shard(to_shard), to, now)
            .or(seq);
        let Some(entry) = locked.shard(from_shard).get(from).cloned() else {
            return Err(StoreError::NoSuchKey);
        };
        if from == to {
            return Ok(Logged {
                value: !only_if_absent,
                seq,
            });
        }
        if only_if_absent && locked.shard(to_shard).get(to).is_some() {
            return Ok(Logged { value: false, seq });
        }
        seq = self
            .log_remove(locked.shard(from_shard), from, now, Op::Del)?
            .or(seq);
        seq = self
            .log_put(locked.shard(to_shard), to, entry, now)?
            .or(seq);
        Ok(Logged { value: true, seq })
    }

    /// FLUSHALL: one `flush` record, then every shard emptied, all under
    /// every shard lock so no write can slip between record and effect.
    pub fn flush_all(&self) -> Result<Logged<()>> {
        self.aof.ensure_writable()?;
        let mut guards: Vec<_> = self.shards.iter().map(|s| s.lock()).collect();
        let seq = self.aof.append(RecordRef {
            seq: 0,
            ts_ms: self.clock.now_ms(),
            op: Op::Flush,
            key: &[],
            value: None,
            expire_at_ms: None,
            prev: None,
        })?;
        guards.iter_mut().for_each(|shard| shard.clear());
        Ok(Logged {
            value: (),
            seq: Some(seq),
        })
    }

    /// KEYS: every live key that `matches` accepts.
    pub fn keys(&self, matches: impl Fn(&[u8]) -> bool) -> Vec<Bytes> {
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            out.extend(
                shard
                    .iter()
                    .filter(|(key, entry)| !entry.is_expired(now) && matches(key))
                    .map(|(key, _)| Bytes::copy_from_slice(key)),
            );
        }
        out
    }

    /// SCAN: visits at least `count` keys (fewer only at the end) from
    /// `cursor` and returns the next cursor (0 when done) with the live keys
    /// visited that `matches` accepts.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        matches: impl Fn(&[u8]) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let now = self.clock.now_ms();
        let total = self.shards.len() as u64 * SCAN_SLICES;
        let mut position = cursor;
        let mut visited = 0;
        let mut out = Vec::new();
        while position < total && visited < count.max(1) {
            let shard_index = (position / SCAN_SLICES) as usize;
            let first_slice = position % SCAN_SLICES;
            let shard = self.shards[shard_index].lock();
            let mut by_slice: Vec<(u64, &[u8])> = shard
                .iter()
                .filter(|(_, entry)| !entry.is_expired(now))
                .map(|(key, _)| (self.scan_slice(key), key.as_slice()))
                .filter(|(slice, _)| *slice >= first_slice)
                .collect();
            by_slice.sort_unstable_by_key(|(slice, _)| *slice);
            let mut next_slice = SCAN_SLICES;
            let mut taken = 0;
            while taken < by_slice.len() {
                let slice = by_slice[taken].0;
                if visited >= count.max(1) {
                    next_slice = slice;
                    break;
                }
                while taken < by_slice.len() && by_slice[taken].0 == slice {
                    let key = by_slice[taken].1;
                    if matches(key) {
                        out.push(Bytes::copy_from_slice(key));
                    }
                    visited += 1;
                    taken += 1;
                }
            }
            position = shard_index as u64 * SCAN_SLICES + next_slice;
        }
        (if position >= total { 0 } else { position }, out)
    }

    fn scan_slice(&self, key: &[u8]) -> u64 {
        // The top bits: independent of the low bits that pick the shard.
        self.shard_hasher.hash_one(key) >> (64 - SLICE_BITS)
    }

    /// RANDOMKEY: a live key chosen at random, if any.
    pub fn random_key(&self) -> Option<Bytes> {
        let now = self.clock.now_ms();
        let mut rng = rand::rng();
        let count = self.shards.len();
        let start = rng.random_range(0..count);
        for step in 0..count {
            let shard = self.shards[(start + step) % count].lock();
            let live: Vec<&[u8]> = shard
                .iter()
                .filter(|(_, e)| !e.is_expired(now))
                .map(|(k, _)| k.as_slice())
                .collect();
            if !live.is_empty() {
                return Some(Bytes::copy_from_slice(
                    live[rng.random_range(0..live.len())],
                ));
            }
        }
        None
    }
}
