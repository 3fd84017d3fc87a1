//! Expiry: EXPIRE and friends, PERSIST, and reading a key's deadline.

use crate::error::Result;
use crate::shard::Entry;
use crate::store::{Change, Logged, Store};

/// The NX / XX / GT / LT options of EXPIRE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    /// Always set the deadline.
    #[default]
    Always,
    /// Only when the key has no deadline.
    IfNone,
    /// Only when the key has a deadline.
    IfSome,
    /// Only when the new deadline is later (no deadline counts as infinite).
    IfLater,
    /// Only when the new deadline is earlier (no deadline counts as infinite).
    IfEarlier,
    /// Only when the key has a deadline and the new one is earlier (XX LT).
    IfSomeAndEarlier,
}

/// A key's deadline as TTL, PTTL and EXPIRETIME report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The key does not exist.
    NoKey,
    /// The key exists and never expires.
    Never,
    /// The key expires at this Unix millisecond.
    At(u64),
}

impl Store {
    /// Sets the key's deadline to `at_ms` (a time already past deletes the
    /// key, logged as `del`). Returns whether the key was changed. The AOF
    /// gets the key's resulting state: a `set` with the new deadline.
    pub fn expire_at(
        &self,
        key: &[u8],
        at_ms: u64,
        condition: ExpireCondition,
    ) -> Result<Logged<bool>> {
        self.mutate(key, |current, _| {
            let Some(entry) = current else {
                return Ok((Change::Keep, false));
            };
            let allowed = match (condition, entry.expire_at_ms) {
                (ExpireCondition::Always, _) => true,
                (ExpireCondition::IfNone, existing) => existing.is_none(),
                (ExpireCondition::IfSome, existing) => existing.is_some(),
                (ExpireCondition::IfLater, Some(existing)) => at_ms > existing,
                (ExpireCondition::IfLater, None) => false,
                (ExpireCondition::IfEarlier, Some(existing)) => at_ms < existing,
                (ExpireCondition::IfEarlier, None) => true,
                (ExpireCondition::IfSomeAndEarlier, existing) => {
                    existing.is_some_and(|e| at_ms < e)
                }
            };
            if !allowed {
                return Ok((Change::Keep, false));
            }
            let entry = Entry {
                value: entry.value.clone(),
                expire_at_ms: Some(at_ms),
            };
            Ok((Change::Put(entry), true))
        })
    }

    /// PERSIST: removes the deadline; returns whether there was one.
    pub fn persist(&self, key: &[u8]) -> Result<Logged<bool>> {
        self.mutate(key, |current, _| {
            Ok(match current {
                Some(entry) if entry.expire_at_ms.is_some() => {
                    let entry = Entry {
                        value: entry.value.clone(),
                        expire_at_ms: None,
                    };
                    (Change::Put(entry), true)
                }
                _ => (Change::Keep, false),
            })
        })
    }

    /// The key's deadline.
    pub fn deadline(&self, key: &[u8]) -> Deadline {
        self.read(key, |entry| match entry {
            None => Deadline::NoKey,
            Some(Entry {
                expire_at_ms: None, ..
            }) => Deadline::Never,
            Some(Entry {
                expire_at_ms: Some(at),
                ..
            }) => Deadline::At(*at),
        })
    }
}
