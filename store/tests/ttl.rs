//! Expiry: lazy (on access), active (`expire_due`), deadlines in the past,
//! and what each writes to the AOF — read back with `recovery::recover`
//! after `close()`.

use fluxkv_store::aof::record::Op;
use fluxkv_store::aof::recovery;
use fluxkv_store::{
    AofOptions, Clock, Deadline, ExpireCondition, ExpirySpec, FsyncPolicy, SetCondition,
    SetOptions, Store, StoreOptions,
};
use std::path::Path;

const START_MS: u64 = 1_700_000_000_000;

fn options(clock: &Clock, shards: usize) -> StoreOptions {
    StoreOptions {
        shards,
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            ..AofOptions::default()
        },
        clock: clock.clone(),
        ..StoreOptions::default()
    }
}

fn open(dir: &Path, clock: &Clock) -> Store {
    let (store, report) = Store::open(dir, options(clock, 16)).expect("open");
    assert!(report.aof.truncated.is_none());
    store
}

fn with_ttl(at: u64) -> SetOptions {
    SetOptions {
        expiry: ExpirySpec::At(at),
        ..SetOptions::default()
    }
}

/// One AOF record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    seq: u64,
    ts_ms: u64,
    op: Op,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    expire_at_ms: Option<u64>,
}

/// Every record of a closed store's AOF, in order.
fn read_aof(dir: &Path) -> Vec<Rec> {
    let mut out = Vec::new();
    recovery::recover(&dir.join("aof"), |r| {
        out.push(Rec {
            seq: r.seq,
            ts_ms: r.ts_ms,
            op: r.op,
            key: r.key.to_vec(),
            value: r.value.map(<[u8]>::to_vec),
            expire_at_ms: r.expire_at_ms,
        });
    })
    .expect("recover");
    for (i, rec) in out.iter().enumerate() {
        assert_eq!(rec.seq, i as u64 + 1, "seqs are gap-free");
    }
    out
}

/// (op, key) of each record: what most assertions care about.
fn ops(records: &[Rec]) -> Vec<(Op, &[u8])> {
    records.iter().map(|r| (r.op, r.key.as_slice())).collect()
}

#[test]
fn lazy_expiry_on_read_removes_the_key_and_logs_expire() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    let _ = store
        .set(b"session", b"abc", with_ttl(START_MS + 100))
        .expect("set");
    let _ = store
        .set(b"forever", b"1", SetOptions::default())
        .expect("set");

    clock.advance_ms(99);
    assert_eq!(store.get(b"session").as_deref(), Some(&b"abc"[..]));
    assert_eq!(store.deadline(b"session"), Deadline::At(START_MS + 100));

    clock.advance_ms(1); // the deadline itself is already too late
    // Not yet touched: invisible, but still counted (as Redis's DBSIZE).
    assert_eq!(store.keys(|_| true).len(), 1);
    assert_eq!(store.len(), 2);
    assert_eq!(store.aof_status().last_seq, 2);

    assert_eq!(store.get(b"session"), None);
    assert_eq!(store.len(), 1, "the read removed it");
    assert_eq!(store.aof_status().last_seq, 3, "and logged it");
    assert_eq!(store.keyspace_stats().counters.expired, 1);
    // Reading it again finds nothing to log.
    assert_eq!(store.get(b"session"), None);
    assert_eq!(store.deadline(b"session"), Deadline::NoKey);
    assert_eq!(store.exists(&[b"session"]), 0);
    assert_eq!(store.aof_status().last_seq, 3);
    store.close().expect("close");
    drop(store);

    let records = read_aof(dir.path());
    assert_eq!(
        ops(&records),
        [
            (Op::Set, &b"session"[..]),
            (Op::Set, b"forever"),
            (Op::Expire, b"session"),
        ]
    );
    let expire = &records[2];
    assert_eq!(
        (expire.ts_ms, &expire.value, expire.expire_at_ms),
        (START_MS + 100, &None, None)
    );
    assert_eq!(records[0].expire_at_ms, Some(START_MS + 100));

    let store = open(dir.path(), &clock);
    assert_eq!(store.len(), 1);
    assert_eq!(store.get(b"session"), None);
    assert_eq!(store.get(b"forever").as_deref(), Some(&b"1"[..]));
    store.close().expect("close");
}

#[test]
fn lazy_expiry_on_write_logs_expire_before_the_write() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    let _ = store
        .set(b"n", b"41", with_ttl(START_MS + 10))
        .expect("set");
    let _ = store
        .set(b"lock", b"a", with_ttl(START_MS + 10))
        .expect("set");
    clock.advance_ms(10);

    // INCR of an expired counter starts from 0, without the old deadline.
    let incr = store.incr_by(b"n", 1).expect("incr");
    assert_eq!(
        (incr.value, incr.seq),
        (1, Some(4)),
        "expire is 3, set is 4"
    );
    assert_eq!(store.deadline(b"n"), Deadline::Never);
    // SET NX succeeds on an expired key.
    let set = store
        .set(
            b"lock",
            b"b",
            SetOptions {
                condition: SetCondition::IfAbsent,
                ..SetOptions::default()
            },
        )
        .expect("set");
    assert!(set.value.written);
    assert_eq!(set.seq, Some(6));
    store.close().expect("close");
    drop(store);

    assert_eq!(
        ops(&read_aof(dir.path())),
        [
            (Op::Set, &b"n"[..]),
            (Op::Set, b"lock"),
            (Op::Expire, b"n"),
            (Op::Set, b"n"),
            (Op::Expire, b"lock"),
            (Op::Set, b"lock"),
        ]
    );
}

#[test]
fn multi_key_commands_see_expired_keys_as_absent() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    // One shard: every key shares the lock and the expiry index.
    let (store, _) = Store::open(dir.path(), options(&clock, 1)).expect("open");
    for key in [&b"a"[..], b"b", b"c", b"d"] {
        let _ = store.set(key, b"old", with_ttl(START_MS + 5)).expect("set");
    }
    let _ = store.set(b"src", b"v", SetOptions::default()).expect("set");
    let _ = store.set(b"x", b"v", SetOptions::default()).expect("set");
    clock.advance_ms(5);

    // RENAMENX onto an expired key: the target counts as absent.
    let renamed = store.rename(b"src", b"a", true).expect("rename");
    assert!(renamed.value);
    assert_eq!(store.get(b"a").as_deref(), Some(&b"v"[..]));
    assert_eq!(store.deadline(b"a"), Deadline::Never);
    // MSETNX with an expired key among the targets succeeds.
    let msetnx = store
        .mset(&[(b"b", b"new"), (b"y", b"new")], true)
        .expect("mset");
    assert!(msetnx.value);
    // DEL does not count an expired key as deleted, but reaps it.
    assert_eq!(store.del(&[b"c", b"x"]).expect("del").value, 1);
    // RENAME of an expired source: no such key.
    assert!(store.rename(b"d", b"z", false).is_err());
    assert_eq!(store.len(), 3, "a, b, y");
    assert_eq!(store.keyspace_stats().counters.expired, 4);
    store.close().expect("close");
    drop(store);

    let records = read_aof(dir.path());
    assert_eq!(
        ops(&records[6..]),
        [
            (Op::Expire, &b"a"[..]),
            (Op::Del, b"src"),
            (Op::Set, b"a"),
            (Op::Expire, b"b"),
            (Op::Set, b"b"),
            (Op::Set, b"y"),
            (Op::Expire, b"c"),
            (Op::Del, b"x"),
            (Op::Expire, b"d"),
        ]
    );
}

#[test]
fn active_expiry_removes_due_keys_without_any_access() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    let _ = store.set(b"a", b"1", with_ttl(START_MS + 50)).expect("set");
    let _ = store
        .set(b"b", b"2", with_ttl(START_MS + 100))
        .expect("set");
    let _ = store.set(b"c", b"3", SetOptions::default()).expect("set");
    let _ = store
        .set(b"d", b"4", with_ttl(START_MS + 200))
        .expect("set");

    assert_eq!(store.expire_due(100), 0, "nothing is due yet");
    assert_eq!(store.aof_status().last_seq, 4);

    clock.advance_ms(100); // b is due exactly now
    assert_eq!(store.expire_due(100), 2);
    assert_eq!(store.len(), 2, "removed without any read");
    assert_eq!(store.keyspace_stats().counters.expired, 2);
    assert_eq!(store.keyspace_stats().expiring, 1);
    assert_eq!(store.aof_status().last_seq, 6);
    assert_eq!(store.expire_due(100), 0, "nothing left to do");
    assert_eq!(store.aof_status().last_seq, 6);

    assert_eq!(store.deadline(b"c"), Deadline::Never);
    assert_eq!(store.deadline(b"d"), Deadline::At(START_MS + 200));
    store.close().expect("close");
    drop(store);

    let records = read_aof(dir.path());
    assert!(records[4..].iter().all(|r| r.op == Op::Expire));
    let mut expired: Vec<&[u8]> = records[4..].iter().map(|r| r.key.as_slice()).collect();
    expired.sort(); // shards are visited in index order, not deadline order
    assert_eq!(expired, [&b"a"[..], b"b"]);
    assert!(records[4..].iter().all(|r| r.ts_ms == START_MS + 100));

    let store = open(dir.path(), &clock);
    assert_eq!(store.len(), 2);
    assert_eq!(store.get(b"d").as_deref(), Some(&b"4"[..]));
    store.close().expect("close");
}

#[test]
fn active_expiry_takes_the_earliest_deadlines_within_its_budget() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path(), options(&clock, 1)).expect("open");
    let _ = store
        .set(b"third", b"x", with_ttl(START_MS + 30))
        .expect("set");
    let _ = store
        .set(b"first", b"x", with_ttl(START_MS + 10))
        .expect("set");
    let _ = store
        .set(b"second", b"x", with_ttl(START_MS + 20))
        .expect("set");
    // A deadline moved later must not be expired at its old time.
    let _ = store
        .set(b"moved", b"x", with_ttl(START_MS + 5))
        .expect("set");
    let _ = store
        .expire_at(b"moved", START_MS + 1_000, ExpireCondition::Always)
        .expect("expire");
    clock.advance_ms(30);

    assert_eq!(store.expire_due(1), 1);
    assert_eq!(store.expire_due(1), 1);
    assert_eq!(store.len(), 2);
    assert_eq!(store.expire_due(1), 1);
    assert_eq!(store.expire_due(1), 0);
    assert_eq!(store.get(b"moved").as_deref(), Some(&b"x"[..]));
    store.close().expect("close");
    drop(store);

    assert_eq!(
        ops(&read_aof(dir.path())[5..]),
        [
            (Op::Expire, &b"first"[..]),
            (Op::Expire, b"second"),
            (Op::Expire, b"third"),
        ]
    );
}

#[test]
fn a_deadline_in_the_past_deletes_the_key_logged_as_del() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    for key in [&b"a"[..], b"b", b"c", b"d"] {
        let _ = store.set(key, b"v", SetOptions::default()).expect("set");
    }

    // EXPIREAT in the past, and at "now" itself.
    let past = store
        .expire_at(b"a", START_MS - 1, ExpireCondition::Always)
        .expect("expire");
    assert_eq!((past.value, past.seq), (true, Some(5)));
    let now = store
        .expire_at(b"b", START_MS, ExpireCondition::Always)
        .expect("expire");
    assert_eq!((now.value, now.seq), (true, Some(6)));
    // SET with a deadline in the past: written, then gone.
    let set = store
        .set(b"c", b"new", with_ttl(START_MS - 1_000))
        .expect("set");
    assert!(set.value.written);
    assert_eq!(set.seq, Some(7));
    // GETEX with a deadline in the past returns the value and deletes.
    let getex = store.get_ex(b"d", Some(ExpirySpec::At(1))).expect("getex");
    assert_eq!(getex.value.as_deref(), Some(&b"v"[..]));
    assert_eq!(getex.seq, Some(8));

    assert!(store.is_empty());
    assert_eq!(
        store.keyspace_stats().counters.expired,
        0,
        "deleted, not expired"
    );
    // On missing keys there is nothing to delete and nothing to log.
    let missing = store
        .expire_at(b"a", START_MS - 1, ExpireCondition::Always)
        .expect("expire");
    assert_eq!((missing.value, missing.seq), (false, None));
    let missing = store.set(b"e", b"v", with_ttl(START_MS - 1)).expect("set");
    assert_eq!(missing.seq, None);
    assert_eq!(store.get(b"e"), None);
    store.close().expect("close");
    drop(store);

    let records = read_aof(dir.path());
    assert_eq!(
        ops(&records[4..]),
        [
            (Op::Del, &b"a"[..]),
            (Op::Del, b"b"),
            (Op::Del, b"c"),
            (Op::Del, b"d"),
        ]
    );
    assert!(
        records.iter().all(|r| r.expire_at_ms.is_none()),
        "no expired value is written"
    );
    let store = open(dir.path(), &clock);
    assert!(store.is_empty());
    store.close().expect("close");
}

#[test]
fn deadline_changes_are_logged_as_the_resulting_state() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    let _ = store.set(b"k", b"v", SetOptions::default()).expect("set");
    let at = START_MS + 60_000;
    assert!(
        store
            .expire_at(b"k", at, ExpireCondition::Always)
            .expect("expire")
            .value
    );
    // Conditions that do not hold change nothing and log nothing.
    let nx = store
        .expire_at(b"k", at + 1, ExpireCondition::IfNone)
        .expect("expire");
    assert_eq!((nx.value, nx.seq), (false, None));
    let gt = store
        .expire_at(b"k", at - 1, ExpireCondition::IfLater)
        .expect("expire");
    assert_eq!((gt.value, gt.seq), (false, None));
    assert!(store.persist(b"k").expect("persist").value);
    let again = store.persist(b"k").expect("persist");
    assert_eq!((again.value, again.seq), (false, None));
    store.close().expect("close");
    drop(store);

    let records = read_aof(dir.path());
    assert_eq!(ops(&records), [(Op::Set, &b"k"[..]); 3]);
    assert!(
        records
            .iter()
            .all(|r| r.value.as_deref() == Some(&b"v"[..]))
    );
    let deadlines: Vec<Option<u64>> = records.iter().map(|r| r.expire_at_ms).collect();
    assert_eq!(deadlines, [None, Some(at), None]);
    let store = open(dir.path(), &clock);
    assert_eq!(store.deadline(b"k"), Deadline::Never);
    store.close().expect("close");
}

#[test]
fn a_key_that_expired_while_the_store_was_down_stays_gone() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    let _ = store
        .set(b"short", b"v", with_ttl(START_MS + 100))
        .expect("set");
    let _ = store
        .set(b"long", b"v", with_ttl(START_MS + 10_000))
        .expect("set");
    store.close().expect("close");
    drop(store);

    clock.advance_ms(500);
    let store = open(dir.path(), &clock);
    assert_eq!(store.keys(|_| true), [&b"long"[..]]);
    assert_eq!(store.get(b"short"), None);
    assert_eq!(store.deadline(b"long"), Deadline::At(START_MS + 10_000));
    assert_eq!(store.expire_due(10), 0, "already reaped");
    store.close().expect("close");
    drop(store);

    let records = read_aof(dir.path());
    assert_eq!(records[2].op, Op::Expire);
    assert_eq!(records[2].key, b"short");
    let store = open(dir.path(), &clock);
    assert_eq!(store.len(), 1);
    store.close().expect("close");
}

#[test]
fn expired_keys_stay_invisible_when_they_cannot_be_reaped() {
    // After close() the AOF takes no records, so lazy expiry cannot log (and
    // so cannot remove) a key; the same holds while the AOF is poisoned. The
    // key must still read as absent.
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), &clock);
    let _ = store
        .set(b"k", b"stale", with_ttl(START_MS + 10))
        .expect("set");
    let _ = store
        .set(b"live", b"v", SetOptions::default())
        .expect("set");
    store.close().expect("close");
    clock.advance_ms(10);

    assert_eq!(store.get(b"k"), None);
    assert_eq!(store.deadline(b"k"), Deadline::NoKey);
    assert_eq!(store.exists(&[b"k", b"live"]), 1);
    assert_eq!(store.strlen(b"k"), 0);
    assert!(store.get_range(b"k", 0, -1).is_empty());
    assert_eq!(store.keys(|_| true), [&b"live"[..]]);
    assert_eq!(store.get(b"live").as_deref(), Some(&b"v"[..]));
    // A command that would only read the value must not return it either.
    match store.get_ex(b"k", None) {
        Ok(logged) => assert_eq!(logged.value, None),
        Err(err) => assert!(
            matches!(err, fluxkv_store::StoreError::ShuttingDown),
            "{err}"
        ),
    }
    let nx = SetOptions {
        condition: SetCondition::IfAbsent,
        ..SetOptions::default()
    };
    assert!(
        !matches!(store.set(b"k", b"new", nx), Ok(ref l) if !l.value.written),
        "SET NX must not see the expired key as present"
    );
}
