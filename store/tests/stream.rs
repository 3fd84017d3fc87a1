//! The change stream: every committed mutation reaches every subscriber,
//! in order and gap-free, from the ring or from the AOF.

use bytes::Bytes;
use fluxkv_schemas::{ChangeEvent, Op, StreamItem};
use fluxkv_store::{
    AofOptions, Clock, Deadline, ExpirySpec, FsyncPolicy, SetOptions, Store, StoreError,
    StoreOptions, Subscription,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const START_MS: u64 = 1_800_000_000_000;
const IDLE: Duration = Duration::from_secs(5);

fn options(clock: &Clock, ring_events: usize) -> StoreOptions {
    StoreOptions {
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            ring_events,
            ..AofOptions::default()
        },
        clock: clock.clone(),
        ..StoreOptions::default()
    }
}

fn open(dir: &Path, clock: &Clock, ring_events: usize) -> Store {
    Store::open(dir, options(clock, ring_events))
        .expect("open store")
        .0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Reads events until `last_seq`, failing on a watermark (nothing should
/// be missing) or a gap.
async fn events_until(sub: &mut Subscription, last_seq: u64) -> Vec<ChangeEvent> {
    let mut out: Vec<ChangeEvent> = Vec::new();
    while out
        .last()
        .map_or(sub.next_seq() <= last_seq, |e| e.seq < last_seq)
    {
        match sub.next().await.expect("stream") {
            StreamItem::Event(event) => {
                let expected = out.last().map_or(event.seq, |e| e.seq + 1);
                assert_eq!(event.seq, expected, "gap or reorder in the stream");
                out.push(event);
            }
            StreamItem::Watermark(w) => panic!(
                "watermark at {} while waiting for seq {last_seq}",
                w.last_seq
            ),
        }
    }
    out
}

fn last_seq(store: &Store) -> u64 {
    store.aof_status().last_seq
}

type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

/// What a consumer does with events: the state they describe.
fn apply(model: &mut Model, event: &ChangeEvent) {
    match event.op {
        Op::Set => {
            let value = event.value.clone().expect("set carries a value");
            model.insert(event.key.to_vec(), (value.to_vec(), event.expire_at_ms));
        }
        Op::Del | Op::Expire | Op::Evict => {
            model.remove(&event.key[..]);
        }
        Op::Flush => model.clear(),
    }
}

fn state(store: &Store) -> Model {
    let mut state = Model::new();
    for key in store.keys(|_| true) {
        let value = store.get(&key).expect("listed key readable");
        let deadline = match store.deadline(&key) {
            Deadline::At(at) => Some(at),
            _ => None,
        };
        state.insert(key.to_vec(), (value.to_vec(), deadline));
    }
    state
}

#[derive(Debug, Clone)]
enum Action {
    Set(u8, u8, Option<u64>),
    Del(u8),
    Incr(u8),
    Append(u8, u8),
    Rename(u8, u8),
    Expire(u8, u64),
    Flush,
    Advance(u64),
    ActiveExpiry,
}

fn action() -> impl Strategy<Value = Action> {
    let key = 0u8..6;
    prop_oneof![
        6 => (key.clone(), any::<u8>(), proptest::option::of(1u64..300)).prop_map(|(k, v, t)| Action::Set(k, v, t)),
        2 => key.clone().prop_map(Action::Del),
        2 => key.clone().prop_map(Action::Incr),
        2 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Action::Append(k, v)),
        2 => (key.clone(), key.clone()).prop_map(|(a, b)| Action::Rename(a, b)),
        2 => (key.clone(), 0u64..300).prop_map(|(k, t)| Action::Expire(k, t)),
        1 => Just(Action::Flush),
        2 => (1u64..200).prop_map(Action::Advance),
        1 => Just(Action::ActiveExpiry),
    ]
}

fn run(store: &Store, clock: &Clock, action: &Action) {
    let key = |k: &u8| format!("k{k}").into_bytes();
    let now = clock.now_ms();
    // Errors (INCR of a non-number, RENAME of a missing key) change nothing.
    let _ = match action {
        Action::Set(k, v, ttl) => {
            let options = SetOptions {
                expiry: ttl.map_or(ExpirySpec::Clear, |t| ExpirySpec::At(now + t)),
                ..SetOptions::default()
            };
            store.set(&key(k), &[*v], options).map(|_| ())
        }
        Action::Del(k) => store.del(&[&key(k)]).map(|_| ()),
        Action::Incr(k) => store.incr_by(&key(k), 1).map(|_| ()),
        Action::Append(k, v) => store.append(&key(k), &[*v]).map(|_| ()),
        Action::Rename(a, b) => store.rename(&key(a), &key(b), false).map(|_| ()),
        Action::Expire(k, t) => store
            .expire_at(&key(k), now + t, Default::default())
            .map(|_| ()),
        Action::Flush => store.flush_all().map(|_| ()),
        Action::Advance(ms) => {
            clock.advance_ms(*ms);
            Ok(())
        }
        Action::ActiveExpiry => {
            store.expire_due(100);
            Ok(())
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Saved seeds live beside the model test's (see its comment).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/proptest-regressions/stream.txt"
        )))),
        ..ProptestConfig::default()
    })]

    /// Applying the event stream to an empty map yields the store's state,
    /// and seqs are gap-free and strictly increasing.
    #[test]
    fn the_stream_rebuilds_the_state(actions in proptest::collection::vec(action(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(START_MS);
        let store = open(dir.path(), &clock, 16);
        let rt = runtime();
        let mut sub = store.subscribe(0, IDLE).unwrap();
        for action in &actions {
            run(&store, &clock, action);
        }
        // Reap every key that is due, so each expiry is an event too.
        while store.expire_due(1000) > 0 {}
        let expected = state(&store);
        let last = last_seq(&store);
        let events = rt.block_on(events_until(&mut sub, last));
        prop_assert_eq!(events.len() as u64, last);
        prop_assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
        let mut model = Model::new();
        events.iter().for_each(|e| apply(&mut model, e));
        prop_assert_eq!(model, expected);
        store.close().unwrap();
    }
}

#[test]
fn a_stalled_subscriber_catches_up_from_the_aof_and_rejoins_the_ring() {
    const WRITES: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::System;
    let store = open(dir.path(), &clock, 1024);
    let mut stalled = store.subscribe(0, IDLE).unwrap();
    for i in 0..WRITES {
        let key = format!("key:{}", i % 10_000);
        let _ = store
            .set(key.as_bytes(), &i.to_le_bytes(), SetOptions::default())
            .unwrap();
    }
    let rt = runtime();
    let events = rt.block_on(events_until(&mut stalled, WRITES));
    assert_eq!(events.len() as u64, WRITES);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1);
        assert_eq!(event.key, Bytes::from(format!("key:{}", i as u64 % 10_000)));
        assert_eq!(event.value.as_deref(), Some(&(i as u64).to_le_bytes()[..]));
    }
    let stats = stalled.stats();
    assert!(
        stats.from_aof > WRITES / 2,
        "catch-up from the AOF not exercised: {stats:?}"
    );
    assert_eq!(stats.from_aof + stats.from_ring, WRITES);

    // Caught up, it rejoins the ring: new writes come from memory.
    let before = stalled.stats();
    for i in 0..100u32 {
        let _ = store
            .set(b"after", &i.to_le_bytes(), SetOptions::default())
            .unwrap();
    }
    rt.block_on(events_until(&mut stalled, WRITES + 100));
    let after = stalled.stats();
    assert_eq!(
        after.from_aof, before.from_aof,
        "should read new events from the ring"
    );
    assert_eq!(after.from_ring, before.from_ring + 100);
    store.close().unwrap();
}

#[test]
fn resume_after_restart_delivers_exactly_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::System;
    let rt = runtime();
    let store = open(dir.path(), &clock, 64);
    for i in 0..500u32 {
        let _ = store
            .set(format!("k{i}").as_bytes(), b"v", SetOptions::default())
            .unwrap();
    }
    let mut sub = store.subscribe(1, IDLE).unwrap();
    let first = rt.block_on(events_until(&mut sub, 200));
    assert_eq!(first.last().map(|e| e.seq), Some(200));
    drop(sub);
    store.close().unwrap();
    drop(store);

    let store = open(dir.path(), &clock, 64);
    for i in 500..700u32 {
        let _ = store
            .set(format!("k{i}").as_bytes(), b"v", SetOptions::default())
            .unwrap();
    }
    let mut sub = store.subscribe(201, Duration::from_millis(50)).unwrap();
    let rest = rt.block_on(events_until(&mut sub, 700));
    assert_eq!(rest.first().map(|e| e.seq), Some(201));
    assert_eq!(rest.len(), 500);
    assert_eq!(
        rest.last().map(|e| e.key.clone()),
        Some(Bytes::from("k699"))
    );
    // Then, nothing new: an honest watermark.
    match rt.block_on(sub.next()).unwrap() {
        StreamItem::Watermark(w) => {
            assert_eq!(w.last_seq, 700);
            assert_eq!(&*w.node, &*store.identity().node);
        }
        StreamItem::Event(e) => panic!("unexpected event {}", e.seq),
    }
    // The node id is the same across restarts.
    assert_eq!(rest[0].node, first[0].node);
    store.close().unwrap();
}

#[test]
fn expiry_emits_expire_events_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(START_MS);
    let store = open(dir.path(), &clock, 64);
    let rt = runtime();
    let mut sub = store.subscribe(0, IDLE).unwrap();
    let ttl = |ms| SetOptions {
        expiry: ExpirySpec::At(START_MS + ms),
        ..SetOptions::default()
    };
    let _ = store.set(b"lazy", b"1", ttl(100)).unwrap();
    let _ = store.set(b"active", b"2", ttl(100)).unwrap();
    clock.advance_ms(150);
    assert_eq!(store.get(b"lazy"), None); // lazy path, on read
    assert_eq!(store.expire_due(10), 1); // active path
    let events = rt.block_on(events_until(&mut sub, 4));
    let tail: Vec<_> = events[2..].iter().map(|e| (e.op, e.key.clone())).collect();
    assert_eq!(
        tail,
        vec![
            (Op::Expire, Bytes::from("lazy")),
            (Op::Expire, Bytes::from("active"))
        ]
    );
    store.close().unwrap();
}

#[test]
fn before_images_carry_the_previous_value_within_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        before_images: Some(8),
        ..options(&Clock::System, 64)
    };
    let store = Store::open(dir.path(), options).unwrap().0;
    let rt = runtime();
    let mut sub = store.subscribe(0, IDLE).unwrap();
    let set = |v: &[u8]| {
        let _ = store.set(b"k", v, SetOptions::default()).unwrap();
    };
    set(b"one");
    set(b"two");
    set(b"a value longer than eight bytes");
    set(b"three");
    let _ = store.del(&[b"k"]).unwrap();
    let prevs: Vec<_> = rt
        .block_on(events_until(&mut sub, 5))
        .into_iter()
        .map(|e| e.prev)
        .collect();
    assert_eq!(
        prevs,
        vec![
            None,
            Some(Bytes::from("one")),
            Some(Bytes::from("two")),
            None,
            Some(Bytes::from("three"))
        ]
    );
    store.close().unwrap();
}

#[test]
fn history_older_than_the_aof_is_refused_with_the_oldest_seq() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::System;
    let small = StoreOptions {
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            segment_bytes: 4096,
            ..AofOptions::default()
        },
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), small.clone()).unwrap().0;
    let rt = runtime();
    // Segments rotate between group commits: commit each write so the log
    // really spans several segments.
    for i in 0..2000u32 {
        let written = store
            .set(format!("k{i}").as_bytes(), b"value", SetOptions::default())
            .unwrap();
        rt.block_on(store.wait_committed(written.seq.unwrap()))
            .unwrap();
    }
    // A rewrite with no consumer holding history back deletes what its
    // base covers.
    store.set_history_floor(u64::MAX);
    let purged = store.rewrite().unwrap().purged;
    assert!(purged.segments >= 2, "the AOF did not rotate: {purged:?}");
    let oldest = store.oldest_seq().unwrap();
    assert!(oldest > 1);
    store.close().unwrap();
    drop(store);

    let store = Store::open(dir.path(), small).unwrap().0;
    match store.subscribe(1, IDLE) {
        Err(StoreError::SeqUnavailable {
            requested,
            oldest: o,
        }) => {
            assert_eq!((requested, o), (1, oldest));
        }
        other => panic!("expected SeqUnavailable, got {other:?}"),
    }
    assert_eq!(store.oldest_seq().unwrap(), oldest);
    let rt = runtime();
    let mut sub = store.subscribe(oldest, IDLE).unwrap();
    let first = rt.block_on(sub.next()).unwrap();
    assert!(matches!(first, StreamItem::Event(e) if e.seq == oldest));
    let _ = clock;
    store.close().unwrap();
}
