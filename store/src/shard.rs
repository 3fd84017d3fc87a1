//! One shard of the keyspace: a hash map, its expiry index and counters.
//!
//! The map and the index change together through [`Shard::put`] and
//! [`Shard::remove`] only, so the index can never point at a key that no
//! longer carries that deadline.

use bytes::Bytes;
use smallvec::SmallVec;
use std::collections::BTreeSet;

/// A stored key. Keys of up to 24 bytes — most keys — live inside the map
/// slot (the same 32 bytes a `Bytes` handle takes), so a lookup compares
/// them without chasing a pointer to another cache line, and storing one
/// allocates nothing.
pub(crate) type Key = SmallVec<[u8; 24]>;

type Map = hashbrown::HashMap<Key, Entry, foldhash::fast::RandomState>;

/// Rough per-key bookkeeping cost beyond key and value bytes (map slot,
/// value handle, allocator rounding), for INFO's `used_memory`.
const ENTRY_OVERHEAD: usize = 64;

/// A stored value and its optional absolute expiry (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value bytes.
    pub value: Bytes,
    /// When the key expires, if it does.
    pub expire_at_ms: Option<u64>,
}

impl Entry {
    /// True when the entry's deadline has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// Per-shard counters, summed for INFO. Plain integers: they are only
/// touched under the shard lock, so they cost no atomic traffic.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    /// Reads that found a live key.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Keys removed because they expired.
    pub expired: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Shard {
    map: Map,
    /// (deadline, key) of every entry with an expiry: active expiry pops
    /// from the front instead of sampling, so no expired key waits long.
    deadlines: BTreeSet<(u64, Key)>,
    used_bytes: usize,
    pub(crate) stats: ShardStats,
}

impl Shard {
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Like [`Shard::get`], counting the read as a hit or a miss.
    pub(crate) fn get_counted(&mut self, key: &[u8]) -> Option<&Entry> {
        let entry = self.map.get(key);
        if entry.is_some() {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        entry
    }

    /// Stores `entry` under `key`, returning the entry it replaced.
    pub(crate) fn put(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        self.used_bytes += key.len() + entry.value.len() + ENTRY_OVERHEAD;
        let deadline = entry.expire_at_ms;
        match self.map.get_key_value_mut(key) {
            Some((stored_key, slot)) => {
                let old = std::mem::replace(slot, entry);
                self.used_bytes -= key.len() + old.value.len() + ENTRY_OVERHEAD;
                // Only keys with deadlines pay for index upkeep (and for the
                // key clone it needs); plain SETs touch the map alone.
                if old.expire_at_ms != deadline {
                    if let Some(at) = old.expire_at_ms {
                        self.deadlines.remove(&(at, stored_key.clone()));
                    }
                    if let Some(at) = deadline {
                        self.deadlines.insert((at, stored_key.clone()));
                    }
                }
                Some(old)
            }
            None => {
                let key = Key::from_slice(key);
                if let Some(at) = deadline {
                    self.deadlines.insert((at, key.clone()));
                }
                self.map.insert(key, entry);
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (key, old) = self.map.remove_entry(key)?;
        self.used_bytes -= key.len() + old.value.len() + ENTRY_OVERHEAD;
        if let Some(at) = old.expire_at_ms {
            self.deadlines.remove(&(at, key));
        }
        Some(old)
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
        self.used_bytes = 0;
    }

    /// The key with the earliest deadline, if that deadline is due.
    pub(crate) fn first_due(&self, now_ms: u64) -> Option<Key> {
        self.deadlines
            .first()
            .filter(|(at, _)| *at <= now_ms)
            .map(|(_, key)| key.clone())
    }

    /// Makes room for `additional` more keys without rehashing.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn expiring(&self) -> usize {
        self.deadlines.len()
    }

    pub(crate) fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }
}
