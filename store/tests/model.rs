//! Model-based test: random command sequences run against the store and
//! against a `BTreeMap` model with Redis semantics, under a manual clock.
//!
//! After every command the store's reply is compared with the model's, the
//! seq it returns must be the AOF's newest (so strictly increasing), and the
//! whole keyspace (`keys` + `get` + `deadline`) must equal the model's live
//! entries. Now and then, and at the end, the store is closed and reopened
//! from its AOF alone and compared again; the next write's seq must follow
//! on. Time is a manual clock.
//!
//! The model keeps expired-but-unreaped keys exactly as the store does
//! (lazy expiry removes a key only when a command touches it; active expiry
//! removes every due key), so DBSIZE (`len`) and the expired-keys counter
//! are compared too, and so is the number of AOF records each command
//! writes: every change of a key is one record (a lazy expiry included),
//! and a command that changes nothing writes none.

use bytes::Bytes;
use fluxkv_store::{
    AofOptions, Clock, Deadline, ExpireCondition, ExpirySpec, FsyncPolicy, Logged, SetCondition,
    SetOptions, SetOutcome, Store, StoreError, StoreOptions,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeMap;
use std::path::Path;

/// Most keys a case uses (each case draws its own count, 2 to 8, so that
/// commands collide often).
const KEYS: u8 = 8;
const MAX_VALUE: usize = 32;
const START_MS: u64 = 1_700_000_000_000;

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

/// An expiry time relative to "now" when the command runs (negative or zero
/// means already due).
type Rel = i64;

fn at(now: u64, rel: Rel) -> u64 {
    now.saturating_add_signed(rel)
}

#[derive(Debug, Clone, Copy)]
enum Exp {
    Clear,
    Keep,
    At(Rel),
}

impl Exp {
    fn resolve(self, now: u64) -> ExpirySpec {
        match self {
            Exp::Clear => ExpirySpec::Clear,
            Exp::Keep => ExpirySpec::Keep,
            Exp::At(rel) => ExpirySpec::At(at(now, rel)),
        }
    }
}

#[derive(Debug, Clone)]
enum Cmd {
    Set {
        key: u8,
        value: Vec<u8>,
        condition: SetCondition,
        expiry: Exp,
        get: bool,
    },
    Get(u8),
    Ttl(u8),
    Exists(Vec<u8>),
    GetDel(u8),
    GetEx(u8, Option<Exp>),
    Append(u8, Vec<u8>),
    SetRange(u8, usize, Vec<u8>),
    MSet(Vec<(u8, Vec<u8>)>, bool),
    IncrBy(u8, i64),
    Del(Vec<u8>),
    Rename(u8, u8, bool),
    ExpireAt(u8, Rel, ExpireCondition),
    Persist(u8),
    FlushAll,
    ExpireDue,
    Advance(u64),
    /// Close the store and reopen it from its AOF.
    Restart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrKind {
    NotAnInteger,
    Overflow,
    ValueTooLarge,
    NoSuchKey,
}

fn kind(err: &StoreError) -> ErrKind {
    match err {
        StoreError::NotAnInteger => ErrKind::NotAnInteger,
        StoreError::Overflow => ErrKind::Overflow,
        StoreError::ValueTooLarge { max } => {
            assert_eq!(*max, MAX_VALUE);
            ErrKind::ValueTooLarge
        }
        StoreError::NoSuchKey => ErrKind::NoSuchKey,
        other => panic!("unexpected store error: {other}"),
    }
}

// ---------------------------------------------------------------- strategies

fn key_s(keys: u8) -> impl Strategy<Value = u8> {
    0..keys
}

fn value_s() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (-20i64..20).prop_map(|n| n.to_string().into_bytes()),
        2 => prop::sample::select(vec![
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "abc",
            "1.5",
            "",
            "007",
            "-0",
            " 1",
            "+1",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::collection::vec(any::<u8>(), 0..6),
        // Longer than MAX_VALUE: hits ValueTooLarge.
        1 => prop::collection::vec(b'a'..=b'z', 20..40),
    ]
}

/// Time moves on a 10 ms grid (with rare off-grid steps), so deadlines
/// often fall exactly on "now" and keys are often expired but not yet
/// reaped when a command touches them.
const TICK: u64 = 10;

fn rel_s() -> impl Strategy<Value = Rel> {
    prop_oneof![
        6 => (1i64..=12).prop_map(|t| t * TICK as i64),
        2 => (-2i64..=0).prop_map(|t| t * TICK as i64),
        1 => -15i64..150,
    ]
}

fn advance_s() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (1u64..=4).prop_map(|t| t * TICK),
        1 => 1u64..TICK,
    ]
}

fn exp_s() -> impl Strategy<Value = Exp> {
    prop_oneof![
        2 => Just(Exp::Clear),
        1 => Just(Exp::Keep),
        2 => rel_s().prop_map(Exp::At),
    ]
}

fn condition_s() -> impl Strategy<Value = SetCondition> {
    prop_oneof![
        2 => Just(SetCondition::Always),
        1 => Just(SetCondition::IfAbsent),
        1 => Just(SetCondition::IfPresent),
    ]
}

fn expire_condition_s() -> impl Strategy<Value = ExpireCondition> {
    prop_oneof![
        Just(ExpireCondition::Always),
        Just(ExpireCondition::IfNone),
        Just(ExpireCondition::IfSome),
        Just(ExpireCondition::IfLater),
        Just(ExpireCondition::IfEarlier),
        Just(ExpireCondition::IfSomeAndEarlier),
    ]
}

fn delta_s() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => -10i64..10,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
    ]
}

fn cmd_s(n: u8) -> impl Strategy<Value = Cmd> {
    let keys = move || prop::collection::vec(key_s(n), 1..4);
    prop_oneof![
        8 => (key_s(n), value_s(), condition_s(), exp_s(), any::<bool>()).prop_map(
            |(key, value, condition, expiry, get)| Cmd::Set { key, value, condition, expiry, get }
        ),
        3 => key_s(n).prop_map(Cmd::Get),
        2 => key_s(n).prop_map(Cmd::Ttl),
        1 => keys().prop_map(Cmd::Exists),
        2 => key_s(n).prop_map(Cmd::GetDel),
        3 => (key_s(n), prop::option::of(exp_s())).prop_map(|(k, e)| Cmd::GetEx(k, e)),
        3 => (key_s(n), prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(k, v)| Cmd::Append(k, v)),
        2 => (key_s(n), 0usize..36, prop::collection::vec(any::<u8>(), 0..5))
            .prop_map(|(k, o, d)| Cmd::SetRange(k, o, d)),
        2 => (prop::collection::vec((key_s(n), value_s()), 1..4), any::<bool>())
            .prop_map(|(p, nx)| Cmd::MSet(p, nx)),
        4 => (key_s(n), delta_s()).prop_map(|(k, d)| Cmd::IncrBy(k, d)),
        2 => keys().prop_map(Cmd::Del),
        3 => (key_s(n), key_s(n), any::<bool>()).prop_map(|(a, b, nx)| Cmd::Rename(a, b, nx)),
        4 => (key_s(n), rel_s(), expire_condition_s()).prop_map(|(k, r, c)| Cmd::ExpireAt(k, r, c)),
        2 => key_s(n).prop_map(Cmd::Persist),
        1 => Just(Cmd::FlushAll),
        3 => Just(Cmd::ExpireDue),
        6 => advance_s().prop_map(Cmd::Advance),
        1 => Just(Cmd::Restart),
    ]
}

// --------------------------------------------------------------------- model

/// Redis's `string2ll`: exactly the canonical decimal form of an i64.
fn model_parse_i64(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

#[derive(Debug, Default)]
struct Model {
    /// Every key the store still holds, expired-but-unreaped ones included.
    map: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
    /// AOF records written so far.
    records: u64,
    /// Keys removed by expiry since the store was (re)opened.
    expired: u64,
}

impl Model {
    /// Lazy expiry of one key touched by a command: an `expire` record.
    fn touch(&mut self, key: &[u8], now: u64) {
        if self
            .map
            .get(key)
            .is_some_and(|(_, d)| d.is_some_and(|d| d <= now))
        {
            self.map.remove(key);
            self.records += 1;
            self.expired += 1;
        }
    }

    /// Stores a value (a `set` record), or deletes the key when its
    /// deadline is already due (a `del` record, if the key existed).
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>, deadline: Option<u64>, now: u64) {
        if deadline.is_some_and(|d| d <= now) {
            self.del(&key);
        } else {
            self.map.insert(key, (value, deadline));
            self.records += 1;
        }
    }

    /// Deletes a key: a `del` record if it existed.
    fn del(&mut self, key: &[u8]) -> Option<(Vec<u8>, Option<u64>)> {
        let old = self.map.remove(key);
        self.records += u64::from(old.is_some());
        old
    }

    fn live(&self, now: u64) -> BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> {
        self.map
            .iter()
            .filter(|(_, (_, d))| d.is_none_or(|d| d > now))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The reply of one command, from either side.
#[derive(Debug, PartialEq)]
enum Reply {
    Set(SetOutcome),
    Value(Option<Bytes>),
    Deadline(Deadline),
    Count(usize),
    Bool(bool),
    Int(i64),
    Unit,
}

/// Runs `cmd` against the model.
fn model_apply(m: &mut Model, cmd: &Cmd, now: u64) -> Result<Reply, ErrKind> {
    let b = |v: &Vec<u8>| Bytes::from(v.clone());
    Ok(match cmd {
        Cmd::Set {
            key: k,
            value,
            condition,
            expiry,
            get,
        } => {
            if value.len() > MAX_VALUE {
                return Err(ErrKind::ValueTooLarge);
            }
            let k = key(*k);
            m.touch(&k, now);
            let current = m.map.get(&k).cloned();
            let old = if *get {
                current.as_ref().map(|(v, _)| b(v))
            } else {
                None
            };
            let allowed = match condition {
                SetCondition::Always => true,
                SetCondition::IfAbsent => current.is_none(),
                SetCondition::IfPresent => current.is_some(),
            };
            if allowed {
                let deadline = match expiry {
                    Exp::Clear => None,
                    Exp::Keep => current.and_then(|(_, d)| d),
                    Exp::At(rel) => Some(at(now, *rel)),
                };
                m.put(k, value.clone(), deadline, now);
            }
            Reply::Set(SetOutcome {
                written: allowed,
                old,
            })
        }
        Cmd::Get(k) => {
            let k = key(*k);
            m.touch(&k, now);
            Reply::Value(m.map.get(&k).map(|(v, _)| b(v)))
        }
        Cmd::Ttl(k) => {
            let k = key(*k);
            m.touch(&k, now);
            Reply::Deadline(match m.map.get(&k) {
                None => Deadline::NoKey,
                Some((_, None)) => Deadline::Never,
                Some((_, Some(d))) => Deadline::At(*d),
            })
        }
        Cmd::Exists(keys) => {
            let mut n = 0;
            for k in keys {
                let k = key(*k);
                m.touch(&k, now);
                n += usize::from(m.map.contains_key(&k));
            }
            Reply::Count(n)
        }
        Cmd::GetDel(k) => {
            let k = key(*k);
            m.touch(&k, now);
            Reply::Value(m.del(&k).map(|(v, _)| b(&v)))
        }
        Cmd::GetEx(k, expiry) => {
            let k = key(*k);
            m.touch(&k, now);
            let Some((value, deadline)) = m.map.get(&k).cloned() else {
                return Ok(Reply::Value(None));
            };
            match expiry {
                None | Some(Exp::Keep) => {}
                // PERSIST of a key without a deadline changes nothing.
                Some(Exp::Clear) if deadline.is_none() => {}
                Some(Exp::Clear) => m.put(k, value.clone(), None, now),
                Some(Exp::At(rel)) => m.put(k, value.clone(), Some(at(now, *rel)), now),
            }
            Reply::Value(Some(b(&value)))
        }
        Cmd::Append(k, suffix) => {
            let k = key(*k);
            m.touch(&k, now);
            let (mut value, deadline) = m.map.get(&k).cloned().unwrap_or_default();
            value.extend_from_slice(suffix);
            if value.len() > MAX_VALUE {
                return Err(ErrKind::ValueTooLarge);
            }
            let len = value.len();
            m.put(k, value, deadline, now);
            Reply::Count(len)
        }
        Cmd::SetRange(k, offset, data) => {
            let k = key(*k);
            m.touch(&k, now);
            let (mut value, deadline) = m.map.get(&k).cloned().unwrap_or_default();
            if data.is_empty() {
                return Ok(Reply::Count(value.len()));
            }
            let end = offset + data.len();
            if end > MAX_VALUE {
                return Err(ErrKind::ValueTooLarge);
            }
            if value.len() < end {
                value.resize(end, 0);
            }
            value[*offset..end].copy_from_slice(data);
            let len = value.len();
            m.put(k, value, deadline, now);
            Reply::Count(len)
        }
        Cmd::MSet(pairs, nx) => {
            if pairs.iter().any(|(_, v)| v.len() > MAX_VALUE) {
                return Err(ErrKind::ValueTooLarge);
            }
            for (k, _) in pairs {
                m.touch(&key(*k), now);
            }
            if *nx && pairs.iter().any(|(k, _)| m.map.contains_key(&key(*k))) {
                return Ok(Reply::Bool(false));
            }
            for (k, v) in pairs {
                m.put(key(*k), v.clone(), None, now);
            }
            Reply::Bool(true)
        }
        Cmd::IncrBy(k, delta) => {
            let k = key(*k);
            m.touch(&k, now);
            let (value, deadline) = m.map.get(&k).cloned().unwrap_or((b"0".to_vec(), None));
            let current = model_parse_i64(&value).ok_or(ErrKind::NotAnInteger)?;
            let next = current.checked_add(*delta).ok_or(ErrKind::Overflow)?;
            m.put(k, next.to_string().into_bytes(), deadline, now);
            Reply::Int(next)
        }
        Cmd::Del(keys) => {
            let mut n = 0;
            for k in keys {
                let k = key(*k);
                m.touch(&k, now);
                n += usize::from(m.del(&k).is_some());
            }
            Reply::Count(n)
        }
        Cmd::Rename(from, to, nx) => {
            let (from, to) = (key(*from), key(*to));
            m.touch(&from, now);
            m.touch(&to, now);
            let Some(entry) = m.map.get(&from).cloned() else {
                return Err(ErrKind::NoSuchKey);
            };
            if from == to {
                return Ok(Reply::Bool(!nx));
            }
            if *nx && m.map.contains_key(&to) {
                return Ok(Reply::Bool(false));
            }
            m.del(&from);
            m.put(to, entry.0, entry.1, now);
            Reply::Bool(true)
        }
        Cmd::ExpireAt(k, rel, condition) => {
            let k = key(*k);
            m.touch(&k, now);
            let Some((value, current)) = m.map.get(&k).cloned() else {
                return Ok(Reply::Bool(false));
            };
            let new = at(now, *rel);
            let allowed = match condition {
                ExpireCondition::Always => true,
                ExpireCondition::IfNone => current.is_none(),
                ExpireCondition::IfSome => current.is_some(),
                // No deadline counts as infinite.
                ExpireCondition::IfLater => current.is_some_and(|c| new > c),
                ExpireCondition::IfEarlier => current.is_none_or(|c| new < c),
                ExpireCondition::IfSomeAndEarlier => current.is_some_and(|c| new < c),
            };
            if allowed {
                m.put(k, value, Some(new), now);
            }
            Reply::Bool(allowed)
        }
        Cmd::Persist(k) => {
            let k = key(*k);
            m.touch(&k, now);
            match m.map.get(&k).cloned() {
                Some((value, Some(_))) => {
                    m.put(k, value, None, now);
                    Reply::Bool(true)
                }
                _ => Reply::Bool(false),
            }
        }
        Cmd::FlushAll => {
            m.map.clear();
            m.records += 1;
            Reply::Unit
        }
        Cmd::ExpireDue => {
            let before = m.map.len();
            m.map.retain(|_, (_, d)| d.is_none_or(|d| d > now));
            let removed = before - m.map.len();
            m.records += removed as u64;
            m.expired += removed as u64;
            Reply::Count(removed)
        }
        Cmd::Advance(_) | Cmd::Restart => Reply::Unit,
    })
}

// --------------------------------------------------------------------- store

/// Runs `cmd` against the store; returns the reply and the seq it reported
/// (`None` for reads, which report none).
fn store_apply(
    store: &Store,
    clock: &Clock,
    cmd: &Cmd,
) -> (Result<Reply, ErrKind>, Option<Option<u64>>) {
    fn logged<T>(
        r: Result<Logged<T>, StoreError>,
        f: impl FnOnce(T) -> Reply,
    ) -> (Result<Reply, ErrKind>, Option<Option<u64>>) {
        match r {
            Ok(Logged { value, seq }) => (Ok(f(value)), Some(seq)),
            Err(e) => (Err(kind(&e)), None),
        }
    }
    let now = clock.now_ms();
    match cmd {
        Cmd::Set {
            key: k,
            value,
            condition,
            expiry,
            get,
        } => {
            let options = SetOptions {
                condition: *condition,
                expiry: expiry.resolve(now),
                return_old: *get,
            };
            logged(store.set(&key(*k), value, options), Reply::Set)
        }
        Cmd::Get(k) => (Ok(Reply::Value(store.get(&key(*k)))), None),
        Cmd::Ttl(k) => (Ok(Reply::Deadline(store.deadline(&key(*k)))), None),
        Cmd::Exists(keys) => {
            let keys: Vec<Vec<u8>> = keys.iter().map(|k| key(*k)).collect();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            (Ok(Reply::Count(store.exists(&refs))), None)
        }
        Cmd::GetDel(k) => logged(store.get_del(&key(*k)), Reply::Value),
        Cmd::GetEx(k, expiry) => logged(
            store.get_ex(&key(*k), expiry.map(|e| e.resolve(now))),
            Reply::Value,
        ),
        Cmd::Append(k, suffix) => logged(store.append(&key(*k), suffix), Reply::Count),
        Cmd::SetRange(k, offset, data) => {
            logged(store.set_range(&key(*k), *offset, data), Reply::Count)
        }
        Cmd::MSet(pairs, nx) => {
            let keys: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| key(*k)).collect();
            let refs: Vec<(&[u8], &[u8])> = keys
                .iter()
                .zip(pairs)
                .map(|(k, (_, v))| (k.as_slice(), v.as_slice()))
                .collect();
            logged(store.mset(&refs, *nx), Reply::Bool)
        }
        Cmd::IncrBy(k, delta) => logged(store.incr_by(&key(*k), *delta), Reply::Int),
        Cmd::Del(keys) => {
            let keys: Vec<Vec<u8>> = keys.iter().map(|k| key(*k)).collect();
            let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            logged(store.del(&refs), Reply::Count)
        }
        Cmd::Rename(from, to, nx) => logged(store.rename(&key(*from), &key(*to), *nx), Reply::Bool),
        Cmd::ExpireAt(k, rel, condition) => logged(
            store.expire_at(&key(*k), at(now, *rel), *condition),
            Reply::Bool,
        ),
        Cmd::Persist(k) => logged(store.persist(&key(*k)), Reply::Bool),
        Cmd::FlushAll => logged(store.flush_all(), |()| Reply::Unit),
        Cmd::ExpireDue => (Ok(Reply::Count(store.expire_due(1000))), None),
        Cmd::Advance(ms) => {
            clock.advance_ms(*ms);
            (Ok(Reply::Unit), None)
        }
        Cmd::Restart => unreachable!("run() restarts the store itself"),
    }
}

/// Compares the store's whole keyspace with the model's at the clock's now.
fn check_state(store: &Store, model: &Model, now: u64, when: &str) -> Result<(), TestCaseError> {
    let live = model.live(now);
    let mut keys: Vec<Vec<u8>> = store.keys(|_| true).iter().map(|k| k.to_vec()).collect();
    keys.sort();
    let expected: Vec<Vec<u8>> = live.keys().cloned().collect();
    prop_assert_eq!(&keys, &expected, "live keys differ {}", when);
    // DBSIZE counts expired keys nobody has touched yet, as in Redis.
    prop_assert_eq!(store.len(), model.map.len(), "len differs {}", when);
    let stats = store.keyspace_stats();
    prop_assert_eq!(stats.keys, model.map.len(), "stats.keys differs {}", when);
    prop_assert_eq!(
        stats.counters.expired,
        model.expired,
        "expired-keys counter differs {}",
        when
    );
    for (k, (value, deadline)) in &live {
        prop_assert_eq!(
            store.get(k),
            Some(Bytes::from(value.clone())),
            "value of {:?} {}",
            k,
            when
        );
        let expected = deadline.map_or(Deadline::Never, Deadline::At);
        prop_assert_eq!(store.deadline(k), expected, "deadline of {:?} {}", k, when);
    }
    Ok(())
}

fn options(clock: &Clock, shards: usize) -> StoreOptions {
    StoreOptions {
        shards,
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            ..AofOptions::default()
        },
        max_value_bytes: MAX_VALUE,
        clock: clock.clone(),
        // Exercised for their encoding and replay; the model ignores them.
        before_images: Some(16),
        ..StoreOptions::default()
    }
}

/// Closes the store, reopens it from the AOF alone and checks that it holds
/// the model's keyspace and continues the seq where it stopped.
fn restart(
    store: Store,
    dir: &Path,
    clock: &Clock,
    shards: usize,
    model: &mut Model,
    when: &str,
) -> Result<Store, TestCaseError> {
    let last_seq = store.aof_status().last_seq;
    store.close().expect("close");
    drop(store);
    model.expired = 0; // counters are not persisted
    let (store, report) = Store::open(dir, options(clock, shards)).expect("reopen");
    prop_assert!(
        report.aof.truncated.is_none(),
        "{:?} {}",
        report.aof.truncated,
        when
    );
    prop_assert_eq!(report.aof.recovered.last_seq, last_seq, "{}", when);
    prop_assert_eq!(store.aof_status().last_seq, last_seq, "{}", when);
    prop_assert_eq!(report.keys, model.map.len(), "{}", when);
    check_state(&store, model, clock.now_ms(), when)?;
    Ok(store)
}

fn run(dir: &Path, shards: usize, cmds: &[Cmd]) -> Result<(), TestCaseError> {
    let clock = Clock::manual(START_MS);
    let (mut store, report) = Store::open(dir, options(&clock, shards)).expect("open");
    prop_assert!(report.aof.truncated.is_none());
    let mut model = Model::default();
    let mut last_seq = store.aof_status().last_seq;
    prop_assert_eq!(last_seq, 0);

    for (i, cmd) in cmds.iter().enumerate() {
        let when = format!("after command #{i} {cmd:?}");
        if let Cmd::Restart = cmd {
            store = restart(store, dir, &clock, shards, &mut model, &when)?;
            continue;
        }
        let now = clock.now_ms();
        let records_before = model.records;
        let expected = model_apply(&mut model, cmd, now);
        let (actual, seq) = store_apply(&store, &clock, cmd);
        prop_assert_eq!(&actual, &expected, "reply to command #{} {:?}", i, cmd);

        let newest = store.aof_status().last_seq;
        prop_assert_eq!(
            newest - last_seq,
            model.records - records_before,
            "AOF records written by command #{} {:?}",
            i,
            cmd
        );
        if let Some(seq) = seq {
            // The seq to acknowledge covers every record the command wrote
            // (a lazy-expiry record included); None means it wrote nothing.
            let wrote = (newest > last_seq).then_some(newest);
            prop_assert_eq!(seq, wrote, "seq of command #{} {:?}", i, cmd);
        }
        last_seq = newest;

        // Cheap with at most 8 keys, and side-effect free: `keys` reaps
        // nothing and only live keys are read.
        check_state(&store, &model, clock.now_ms(), &when)?;
    }

    // Final restart, then one more write: its seq follows the last one.
    let store = restart(
        store,
        dir,
        &clock,
        shards,
        &mut model,
        "after the final restart",
    )?;
    let last_seq = store.aof_status().last_seq;
    // A key no generated command uses, so no lazy expiry is logged first.
    let cmd = Cmd::Set {
        key: KEYS,
        value: b"after-restart".to_vec(),
        condition: SetCondition::Always,
        expiry: Exp::Clear,
        get: false,
    };
    let expected = model_apply(&mut model, &cmd, clock.now_ms());
    let (actual, seq) = store_apply(&store, &clock, &cmd);
    prop_assert_eq!(actual, expected);
    prop_assert_eq!(seq, Some(Some(last_seq + 1)), "seqs continue after restart");
    check_state(
        &store,
        &model,
        clock.now_ms(),
        "after a write after restart",
    )?;
    store.close().expect("close");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // About two seconds; PROPTEST_CASES=5000 for a deeper search.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256),
        // A failing case is saved to `tests/proptest-regressions/model.txt`
        // and replayed first on later runs. (The default, SourceParallel,
        // finds no lib.rs above `tests/` and would write
        // `tests/model.proptest-regressions` instead.)
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/model.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_model_and_survives_restart(
        shards in prop::sample::select(vec![1usize, 4, 256]),
        cmds in (2..=KEYS).prop_flat_map(|n| prop::collection::vec(cmd_s(n), 1..60)),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        run(dir.path(), shards, &cmds)?;
    }
}

/// The model itself: a few fixed sequences whose outcome is known, so a
/// wrong model cannot make the property test vacuous.
#[test]
fn model_sanity() {
    let mut m = Model::default();
    let now = START_MS;
    let set = |k, v: &str, expiry| Cmd::Set {
        key: k,
        value: v.as_bytes().to_vec(),
        condition: SetCondition::Always,
        expiry,
        get: false,
    };
    assert!(model_apply(&mut m, &set(0, "5", Exp::At(10)), now).is_ok());
    assert_eq!(
        model_apply(&mut m, &Cmd::IncrBy(0, 2), now),
        Ok(Reply::Int(7))
    );
    assert_eq!(
        model_apply(&mut m, &Cmd::Ttl(0), now),
        Ok(Reply::Deadline(Deadline::At(now + 10)))
    );
    assert_eq!(
        model_apply(&mut m, &Cmd::IncrBy(0, i64::MAX), now),
        Err(ErrKind::Overflow)
    );
    assert!(model_apply(&mut m, &set(1, "007", Exp::Clear), now).is_ok());
    assert_eq!(
        model_apply(&mut m, &Cmd::IncrBy(1, 1), now),
        Err(ErrKind::NotAnInteger)
    );
    assert_eq!(
        model_apply(&mut m, &Cmd::ExpireAt(1, 5, ExpireCondition::IfLater), now),
        Ok(Reply::Bool(false))
    );
    assert_eq!(
        model_apply(
            &mut m,
            &Cmd::ExpireAt(1, 5, ExpireCondition::IfEarlier),
            now
        ),
        Ok(Reply::Bool(true))
    );
    assert_eq!(
        model_apply(&mut m, &Cmd::ExpireAt(1, -1, ExpireCondition::Always), now),
        Ok(Reply::Bool(true))
    );
    assert_eq!(
        model_apply(&mut m, &Cmd::Exists(vec![1]), now),
        Ok(Reply::Count(0))
    );
    // Key 0 expires at now+10: still in DBSIZE until reaped.
    assert_eq!(m.map.len(), 1);
    assert_eq!(
        model_apply(&mut m, &Cmd::ExpireDue, now + 10),
        Ok(Reply::Count(1))
    );
    assert!(m.map.is_empty());
}
