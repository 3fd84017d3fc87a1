//! String operations: SET and its variants, ranges, APPEND, MSET.

use crate::error::Result;
use crate::shard::Entry;
use crate::store::{Change, Logged, Store};
use bytes::Bytes;

/// When a SET applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Always (plain SET).
    #[default]
    Always,
    /// Only when the key does not exist (NX).
    IfAbsent,
    /// Only when the key exists (XX).
    IfPresent,
}

/// What a write does to the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpirySpec {
    /// Remove any expiry (plain SET, PERSIST).
    #[default]
    Clear,
    /// Keep the current expiry (KEEPTTL).
    Keep,
    /// Expire at this absolute Unix millisecond.
    At(u64),
}

/// Options of [`Store::set`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SetOptions {
    /// NX / XX.
    pub condition: SetCondition,
    /// EX / PX / EXAT / PXAT / KEEPTTL.
    pub expiry: ExpirySpec,
    /// GET: return the previous value.
    pub return_old: bool,
}

/// What [`Store::set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the value was written (false when NX/XX said no).
    pub written: bool,
    /// The previous value, when asked for.
    pub old: Option<Bytes>,
}

impl Store {
    /// SET with all its options.
    pub fn set(&self, key: &[u8], value: &[u8], options: SetOptions) -> Result<Logged<SetOutcome>> {
        self.check_size(value.len())?;
        self.mutate(key, |current, _| {
            let old = if options.return_old {
                current.map(|e| e.value.clone())
            } else {
                None
            };
            let allowed = match options.condition {
                SetCondition::Always => true,
                SetCondition::IfAbsent => current.is_none(),
                SetCondition::IfPresent => current.is_some(),
            };
            if !allowed {
                return Ok((
                    Change::Keep,
                    SetOutcome {
                        written: false,
                        old,
                    },
                ));
            }
            let entry = Entry {
                value: Bytes::copy_from_slice(value),
                expire_at_ms: resolve_expiry(options.expiry, current),
            };
            Ok((Change::Put(entry), SetOutcome { written: true, old }))
        })
    }

    /// GETDEL: the value, and the key removed.
    pub fn get_del(&self, key: &[u8]) -> Result<Logged<Option<Bytes>>> {
        self.mutate(key, |current, _| {
            Ok(match current {
                Some(entry) => (Change::Remove, Some(entry.value.clone())),
                None => (Change::Keep, None),
            })
        })
    }

    /// GETEX: the value, with its expiry changed when `expiry` says so.
    pub fn get_ex(&self, key: &[u8], expiry: Option<ExpirySpec>) -> Result<Logged<Option<Bytes>>> {
        self.mutate(key, |current, _| {
            let Some(entry) = current else {
                return Ok((Change::Keep, None));
            };
            let value = entry.value.clone();
            let change = match expiry {
                None | Some(ExpirySpec::Keep) => Change::Keep,
                Some(ExpirySpec::Clear) if entry.expire_at_ms.is_none() => Change::Keep,
                Some(spec) => Change::Put(Entry {
                    value: value.clone(),
                    expire_at_ms: resolve_expiry(spec, current),
                }),
            };
            Ok((change, Some(value)))
        })
    }

    /// APPEND: returns the new length. The expiry is kept.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<Logged<usize>> {
        self.mutate(key, |current, _| {
            let old: &[u8] = current.map_or(&[], |e| &e.value);
            self.check_size(old.len() + suffix.len())?;
            let mut value = Vec::with_capacity(old.len() + suffix.len());
            value.extend_from_slice(old);
            value.extend_from_slice(suffix);
            let len = value.len();
            let entry = Entry {
                value: value.into(),
                expire_at_ms: current.and_then(|e| e.expire_at_ms),
            };
            Ok((Change::Put(entry), len))
        })
    }

    /// SETRANGE: overwrites from `offset`, zero-padding; returns the new
    /// length. An empty `data` changes nothing (and creates no key).
    pub fn set_range(&self, key: &[u8], offset: usize, data: &[u8]) -> Result<Logged<usize>> {
        self.mutate(key, |current, _| {
            let old: &[u8] = current.map_or(&[], |e| &e.value);
            if data.is_empty() {
                return Ok((Change::Keep, old.len()));
            }
            let end = offset.saturating_add(data.len());
            self.check_size(end)?;
            let mut value = old.to_vec();
            if value.len() < end {
                value.resize(end, 0);
            }
            value[offset..end].copy_from_slice(data);
            let len = value.len();
            let entry = Entry {
                value: value.into(),
                expire_at_ms: current.and_then(|e| e.expire_at_ms),
            };
            Ok((Change::Put(entry), len))
        })
    }

    /// GETRANGE with Redis's index rules (negative counts from the end,
    /// out-of-range clamps).
    pub fn get_range(&self, key: &[u8], start: i64, end: i64) -> Bytes {
        self.read(key, |entry| {
            let Some(entry) = entry else {
                return Bytes::new();
            };
            let len = entry.value.len() as i64;
            if (start < 0 && end < 0 && start > end) || len == 0 {
                return Bytes::new();
            }
            let from = if start < 0 {
                (len + start).max(0)
            } else {
                start
            };
            let to = if end < 0 {
                (len + end).max(0)
            } else {
                end.min(len - 1)
            };
            if from > to {
                return Bytes::new();
            }
            entry.value.slice(from as usize..=to as usize)
        })
    }

    /// STRLEN.
    pub fn strlen(&self, key: &[u8]) -> usize {
        self.read(key, |entry| entry.map_or(0, |e| e.value.len()))
    }

    /// MSET (and MSETNX when `only_if_none_exist`): all pairs or none,
    /// atomically. Returns whether they were written.
    pub fn mset(&self, pairs: &[(&[u8], &[u8])], only_if_none_exist: bool) -> Result<Logged<bool>> {
        self.aof.ensure_writable()?;
        for (_, value) in pairs {
            self.check_size(value.len())?;
        }
        let now = self.clock.now_ms();
        let mut locked = self.lock_keys(pairs.iter().map(|(k, _)| *k));
        let mut seq = None;
        for (key, _) in pairs {
            let shard = locked.shard(self.shard_index(key));
            seq = self.reap_if_expired(shard, key, now).or(seq);
        }
        if only_if_none_exist
            && pairs
                .iter()
                .any(|(key, _)| locked.shard(self.shard_index(key)).get(key).is_some())
        {
            return Ok(Logged { value: false, seq });
        }
        for (key, value) in pairs {
            let entry = Entry {
                value: Bytes::copy_from_slice(value),
                expire_at_ms: None,
            };
            let shard = locked.shard(self.shard_index(key));
            seq = self.log_put(shard, key, entry, now)?.or(seq);
        }
        Ok(Logged { value: true, seq })
    }
}

/// The expiry a write leaves on a key, given the key's current entry.
pub(crate) fn resolve_expiry(spec: ExpirySpec, current: Option<&Entry>) -> Option<u64> {
    match spec {
        ExpirySpec::Clear => None,
        ExpirySpec::Keep => current.and_then(|e| e.expire_at_ms),
        ExpirySpec::At(at) => Some(at),
    }
}
