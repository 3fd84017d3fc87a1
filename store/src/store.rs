//! [`Store`]: the sharded keyspace bound to its AOF.
//!
//! Every mutation follows one path ([`Store::log_put`] / [`Store::log_remove`]):
//! with the key's shard lock held, the record is appended to the AOF
//! (which assigns its seq) and then applied to the map. The caller gets the
//! seq back in [`Logged`] and acknowledges its client only after
//! [`Store::wait_committed`] — see DESIGN.md, "Data flow of one write".

use crate::aof;
use crate::aof::record::{Op, RecordRef};
use crate::aof::{Aof, AofOptions, AofStatus, OpenReport};
use crate::clock::Clock;
use crate::error::{Result, StoreError};
use crate::replay;
use crate::shard::{Entry, Shard, ShardStats};
use crate::stream::{Identity, Subscription};
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Number of shards; a power of two.
    pub shards: usize,
    /// AOF settings.
    pub aof: AofOptions,
    /// Largest value APPEND, SETRANGE and friends may build.
    pub max_value_bytes: usize,
    /// The source of "now" for expiry.
    pub clock: Clock,
    /// Carry each changed key's previous value (`prev`) in its record and
    /// change event, when it is at most this many bytes. `None`: off.
    pub before_images: Option<usize>,
    /// The node id stamped on change events. `None`: the id kept in
    /// `<data_dir>/node_id`, created on first start.
    pub node_id: Option<String>,
    /// The node's term.
    pub epoch: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            shards: 256,
            aof: AofOptions::default(),
            max_value_bytes: 512 << 20,
            clock: Clock::System,
            before_images: None,
            node_id: None,
            epoch: 1,
        }
    }
}

/// The result of a mutation and the seq of the last AOF record it wrote
/// (`None` when it changed nothing). Acknowledge only once that seq is
/// committed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a mutation must be acknowledged only after its seq is committed"]
pub struct Logged<T> {
    /// What the operation returns to its caller.
    pub value: T,
    /// The seq to wait for before acknowledging.
    pub seq: Option<u64>,
}

/// What a recovery on open did.
#[derive(Debug)]
pub struct StartupReport {
    /// What the AOF held and whether a torn tail was cut.
    pub aof: OpenReport,
    /// Keys in the map after replay.
    pub keys: usize,
    /// Wall time of the replay.
    pub elapsed: std::time::Duration,
}

/// Keyspace totals for INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyspaceStats {
    /// Live keys (including expired ones not yet reaped).
    pub keys: usize,
    /// Keys with a deadline.
    pub expiring: usize,
    /// Approximate bytes held by keys and values.
    pub used_bytes: usize,
    /// Summed read and expiry counters.
    pub counters: ShardStats,
}

/// A sharded, AOF-backed key-value store.
pub struct Store {
    /// A `parking_lot` mutex per shard: critical sections are a map
    /// operation plus encoding one record, never I/O or `.await`.
    pub(crate) shards: Box<[Mutex<Shard>]>,
    pub(crate) shard_hasher: foldhash::fast::FixedState,
    pub(crate) aof: Aof,
    pub(crate) clock: Clock,
    pub(crate) max_value_bytes: usize,
    before_images: Option<usize>,
    identity: Identity,
    data_dir: PathBuf,
    pub(crate) maintenance: crate::rewrite::Maintenance,
    /// The data directory's lock, held until the store is closed.
    lock: std::fs::File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.data_dir)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `data_dir`, replaying its AOF (in `data_dir/aof`).
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<(Store, StartupReport)> {
        assert!(
            options.shards.is_power_of_two(),
            "shard count must be a power of two"
        );
        let started = Instant::now();
        let lock = lock_data_dir(data_dir)?;
        let identity = Identity {
            node: node_id(data_dir, options.node_id.as_deref())?.into(),
            epoch: options.epoch,
        };
        let shard_hasher = foldhash::fast::FixedState::with_seed(0x666c_7578_6b76);
        let mut shards: Vec<Shard> = (0..options.shards).map(|_| Shard::default()).collect();
        // Growing maps key by key while loading a base rehashes each of them
        // a dozen times; its trailer says how many keys are coming.
        if let Some(keys) = aof::base::newest_key_count(&data_dir.join("aof")) {
            let per_shard = (keys as usize / shards.len()) * 21 / 20 + 1;
            shards.iter_mut().for_each(|s| s.reserve(per_shard));
        }
        let threads = replay::thread_count(options.shards);
        let (aof, report) = replay::replay_into(&mut shards, &shard_hasher, threads, |sink| {
            Aof::open(&data_dir.join("aof"), options.aof.clone(), sink)
        })?;
        let keys = shards.iter().map(Shard::len).sum();
        let store = Store {
            shards: shards.into_iter().map(Mutex::new).collect(),
            shard_hasher,
            aof,
            clock: options.clock,
            max_value_bytes: options.max_value_bytes,
            before_images: options.before_images,
            identity,
            data_dir: data_dir.to_path_buf(),
            maintenance: Default::default(),
            lock,
        };
        let startup = StartupReport {
            aof: report,
            keys,
            elapsed: started.elapsed(),
        };
        Ok((store, startup))
    }

    /// Resolves once `seq` may be acknowledged (see [`Aof::wait_committed`]).
    pub async fn wait_committed(&self, seq: u64) -> Result<()> {
        self.aof.wait_committed(seq).await
    }

    /// Writes and fsyncs everything logged, stops taking writes and
    /// releases the data directory: another store may open it now.
    pub fn close(&self) -> Result<()> {
        let closed = self.aof.close();
        if closed.is_ok() {
            let _ = self.lock.unlock();
        }
        closed
    }

    /// The AOF's seqs and sizes.
    pub fn aof_status(&self) -> AofStatus {
        self.aof.status()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The node id and term stamped on this store's change events.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Follows the change stream from `from_seq` (inclusive; 0: from the
    /// next write on), delivering a watermark after `watermark_every`
    /// without events. Fails with [`StoreError::SeqUnavailable`] when the
    /// AOF no longer holds `from_seq`.
    pub fn subscribe(&self, from_seq: u64, watermark_every: Duration) -> Result<Subscription> {
        let from = match from_seq {
            0 => self.aof.status().last_seq + 1,
            from => {
                let oldest = self.oldest_seq()?;
                if from < oldest {
                    return Err(StoreError::SeqUnavailable {
                        requested: from,
                        oldest,
                    });
                }
                from
            }
        };
        Ok(Subscription::new(
            self.aof.shared(),
            self.identity.clone(),
            from,
            watermark_every,
        ))
    }

    /// The oldest seq the AOF still holds (the next one when it is empty).
    pub fn oldest_seq(&self) -> Result<u64> {
        Ok(self.aof.status().oldest_seq)
    }

    /// Tells retention the lowest seq a consumer (a sink) still needs; see
    /// [`RetentionPolicy`](crate::RetentionPolicy). `u64::MAX`: none.
    pub fn set_history_floor(&self, seq: u64) {
        self.aof.set_history_floor(seq);
    }

    /// The AOF's segment files, oldest first. Blocking: it lists a directory.
    pub fn aof_segments(&self) -> Result<Vec<aof::segment::Segment>> {
        aof::segment::list(self.aof.dir())
    }

    /// "Now" as the store sees it, Unix ms.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Reads `key`, handing its live value (or `None`) to `f` under the shard
    /// lock, so a reply can be written without copying or refcounting.
    pub fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        let now = self.clock.now_ms();
        let mut shard = self.shard_for(key).lock();
        if shard.get(key).is_some_and(|e| e.is_expired(now)) {
            // Reaped when the AOF can log it; a key that cannot be reaped
            // (AOF poisoned or closed) reads as absent all the same.
            self.reap_if_expired(&mut shard, key, now);
            shard.stats.misses += 1;
            return f(None);
        }
        f(shard.get_counted(key))
    }

    /// The live value of `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.read(key, |e| e.map(|e| e.value.clone()))
    }

    /// Number of keys (expired ones not yet reaped included, as in Redis).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True when the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Totals over all shards.
    pub fn keyspace_stats(&self) -> KeyspaceStats {
        let mut total = KeyspaceStats::default();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            total.keys += shard.len();
            total.expiring += shard.expiring();
            total.used_bytes += shard.used_bytes();
            total.counters.hits += shard.stats.hits;
            total.counters.misses += shard.stats.misses;
            total.counters.expired += shard.stats.expired;
        }
        total
    }

    /// One round of active expiry: removes up to `budget_per_shard` due keys
    /// from every shard, logging each as an `expire` record. Returns how
    /// many were removed; a caller repeats soon when that is high.
    pub fn expire_due(&self, budget_per_shard: usize) -> usize {
        if self.aof.ensure_writable().is_err() {
            return 0;
        }
        let now = self.clock.now_ms();
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            for _ in 0..budget_per_shard {
                let Some(key) = shard.first_due(now) else {
                    break;
                };
                if self.log_remove(&mut shard, &key, now, Op::Expire).is_err() {
                    return removed;
                }
                shard.stats.expired += 1;
                removed += 1;
            }
        }
        removed
    }

    pub(crate) fn shard_index(&self, key: &[u8]) -> usize {
        (self.shard_hasher.hash_one(key) as usize) & (self.shards.len() - 1)
    }

    pub(crate) fn shard_for(&self, key: &[u8]) -> &Mutex<Shard> {
        &self.shards[self.shard_index(key)]
    }

    /// Locks the shards of all `keys` in index order (so two multi-key
    /// operations can never deadlock) and returns them by index.
    pub(crate) fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> ShardSet<'_> {
        let mut indexes: Vec<usize> = keys.into_iter().map(|k| self.shard_index(k)).collect();
        indexes.sort_unstable();
        indexes.dedup();
        ShardSet {
            guards: indexes
                .into_iter()
                .map(|i| (i, self.shards[i].lock()))
                .collect(),
        }
    }

    /// Lazy expiry: removes `key` if its deadline has passed, logging an
    /// `expire` record. A poisoned AOF leaves the key for later.
    pub(crate) fn reap_if_expired(&self, shard: &mut Shard, key: &[u8], now: u64) -> Option<u64> {
        if !shard.get(key).is_some_and(|e| e.is_expired(now)) || self.aof.ensure_writable().is_err()
        {
            return None;
        }
        let seq = self.log_remove(shard, key, now, Op::Expire).ok().flatten();
        shard.stats.expired += 1;
        seq
    }

    /// The before-image a record carries: the current value, when
    /// before-images are on and it fits their size cap.
    fn before_image<'e>(&self, current: Option<&'e Entry>) -> Option<&'e [u8]> {
        let cap = self.before_images?;
        current.map(|e| &e.value[..]).filter(|v| v.len() <= cap)
    }

    /// Logs and applies a new state for `key`. A deadline already in the
    /// past makes it a delete (as Redis does), so no expired value is ever
    /// written.
    pub(crate) fn log_put(
        &self,
        shard: &mut Shard,
        key: &[u8],
        entry: Entry,
        now: u64,
    ) -> Result<Option<u64>> {
        if entry.is_expired(now) {
            return self.log_remove(shard, key, now, Op::Del);
        }
        let seq = self.aof.append(RecordRef {
            seq: 0,
            ts_ms: now,
            op: Op::Set,
            key,
            value: Some(&entry.value),
            expire_at_ms: entry.expire_at_ms,
            prev: self.before_image(shard.get(key)),
        })?;
        shard.put(key, entry);
        Ok(Some(seq))
    }

    /// Logs and applies the removal of `key`, if it exists.
    pub(crate) fn log_remove(
        &self,
        shard: &mut Shard,
        key: &[u8],
        now: u64,
        op: Op,
    ) -> Result<Option<u64>> {
        let Some(current) = shard.get(key) else {
            return Ok(None);
        };
        let seq = self.aof.append(RecordRef {
            seq: 0,
            ts_ms: now,
            op,
            key,
            value: None,
            expire_at_ms: None,
            prev: self.before_image(Some(current)),
        })?;
        shard.remove(key);
        Ok(Some(seq))
    }

    /// The workhorse of single-key mutations: with the shard locked and an
    /// expired key reaped, `f` sees the live entry and decides the change.
    /// Read-modify-write commands are atomic because `f` runs under the lock.
    pub(crate) fn mutate<T>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Entry>, u64) -> Result<(Change, T)>,
    ) -> Result<Logged<T>> {
        self.aof.ensure_writable()?;
        let now = self.clock.now_ms();
        let mut shard = self.shard_for(key).lock();
        let mut seq = self.reap_if_expired(&mut shard, key, now);
        let current = shard.get(key).filter(|e| !e.is_expired(now));
        let (change, value) = f(current, now)?;
        let changed = match change {
            Change::Keep => None,
            Change::Put(entry) => self.log_put(&mut shard, key, entry, now)?,
            Change::Remove => self.log_remove(&mut shard, key, now, Op::Del)?,
        };
        seq = changed.or(seq);
        Ok(Logged { value, seq })
    }

    pub(crate) fn check_size(&self, len: usize) -> Result<()> {
        if len > self.max_value_bytes {
            return Err(StoreError::ValueTooLarge {
                max: self.max_value_bytes,
            });
        }
        Ok(())
    }
}

/// What a single-key mutation does to its key.
#[derive(Debug)]
pub(crate) enum Change {
    /// Nothing.
    Keep,
    /// The key takes this state.
    Put(Entry),
    /// The key is deleted.
    Remove,
}

/// Several shards locked at once, in index order.
pub(crate) struct ShardSet<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl ShardSet<'_> {
    pub(crate) fn shard(&mut self, index: usize) -> &mut Shard {
        let pos = self
            .guards
            .binary_search_by_key(&index, |(i, _)| *i)
            .expect("shard was locked");
        &mut self.guards[pos].1
    }
}

/// Locks `data_dir` for this process (creating it if needed): two
/// processes appending to one AOF would interleave their seqs.
pub(crate) fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::io("creating the data directory", data_dir, e))?;
    let path = data_dir.join("LOCK");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("opening the data directory lock", &path, e))?;
    // A lock is briefly held on past its owner too: a process forked by
    // another thread keeps the descriptor until it execs (and a node
    // restarted at once may race its predecessor's exit). Wait that out.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::DataDirInUse {
                    path: data_dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::io("locking the data directory", &path, e));
            }
        }
    }
}

/// The node id: configured, or kept in `<data_dir>/node_id` (created on
/// first start, written atomically), so consumers deduplicating by
/// `(node, epoch, seq)` see the same id across restarts.
fn node_id(data_dir: &Path, configured: Option<&str>) -> Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_string());
    }
    let path = data_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("reading the node id", &path, e)),
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::io("creating the data directory", data_dir, e))?;
    let id = format!("node-{:08x}", rand::random::<u32>());
    let tmp = data_dir.join("node_id.tmp");
    std::fs::write(&tmp, format!("{id}\n"))
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| StoreError::io("writing the node id", &path, e))?;
    aof::segment::sync_dir(data_dir)?;
    Ok(id)
}
