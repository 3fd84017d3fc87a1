//! AOF rewrite, retention and snapshots: the state survives every step of a
//! rewrite, history is kept exactly as long as retention says, and a
//! snapshot plus the change stream after it rebuilds the source.

use fluxkv_schemas::{Op, StreamItem};
use fluxkv_store::aof::base;
use fluxkv_store::aof::record::RecordRef;
use fluxkv_store::aof::recovery::SegmentSink;
use fluxkv_store::{
    AofOptions, FsyncPolicy, RetentionPolicy, RewriteStep, SetOptions, Store, StoreError,
    StoreOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn options(segment_bytes: u64, retention: RetentionPolicy) -> StoreOptions {
    StoreOptions {
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            segment_bytes,
            auto_rewrite_percentage: 0,
            retention,
            ..AofOptions::default()
        },
        ..StoreOptions::default()
    }
}

fn open(dir: &Path) -> Store {
    open_with(dir, options(16 << 10, RetentionPolicy::default()))
}

fn open_with(dir: &Path, options: StoreOptions) -> Store {
    Store::open(dir, options).expect("open store").0
}

/// Every key and value of `store`.
fn state(store: &Store) -> State {
    store
        .keys(|_| true)
        .into_iter()
        .map(|key| {
            let value = store.get(&key).expect("listed key has a value");
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

/// Random sets, overwrites, appends, deletes and renames on keys only this
/// writer touches, mirrored in a model.
fn write_randomly(store: &Store, writer: usize, ops: usize, seed: u64) -> State {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = State::new();
    for i in 0..ops {
        let key = format!("w{writer}:{}", rng.random_range(0..500)).into_bytes();
        match rng.random_range(0..10) {
            0 => {
                let _ = store.del(&[&key]).expect("del");
                model.remove(&key);
            }
            1 => {
                let to = format!("w{writer}:{}", rng.random_range(0..500)).into_bytes();
                if let Some(value) = model.remove(&key) {
                    let _ = store.rename(&key, &to, false).expect("rename");
                    model.insert(to, value);
                }
            }
            2 => {
                let _ = store.append(&key, b"+").expect("append");
                model.entry(key).or_default().push(b'+');
            }
            _ => {
                let value = format!("v{i}-{}", "x".repeat(rng.random_range(0..64))).into_bytes();
                let _ = store.set(&key, &value, SetOptions::default()).expect("set");
                model.insert(key, value);
            }
        }
    }
    model
}

fn next_seq_after_restart(dir: &Path, last_seq: u64) {
    let store = open(dir);
    let seq = store
        .set(b"after-restart", b"1", SetOptions::default())
        .expect("set")
        .seq;
    assert_eq!(seq, Some(last_seq + 1), "seqs must continue without reuse");
    store.close().expect("close");
}

#[test]
fn rewrite_under_concurrent_writes_then_restart_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.set_history_floor(u64::MAX);
    let (model, rewrites) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let store = &store;
                scope.spawn(move || write_randomly(store, w, 20_000, w as u64))
            })
            .collect();
        let rewriter = scope.spawn(|| {
            let mut reports = Vec::new();
            while reports.len() < 4 {
                reports.push(store.rewrite().expect("rewrite"));
                std::thread::sleep(Duration::from_millis(20));
            }
            reports
        });
        let model: State = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        (model, rewriter.join().unwrap())
    });
    assert!(
        rewrites.iter().any(|r| r.base.fixups > 0),
        "no rewrite overlapped the writers: the test proves nothing"
    );
    assert!(
        rewrites.iter().map(|r| r.purged.segments).sum::<u64>() > 0,
        "rewrites never deleted covered history"
    );
    assert!(state(&store) == model, "state differs from the model");
    let status = store.aof_status();
    assert!(status.base.is_some());
    store.close().expect("close");
    drop(store);

    let reopened = open(dir.path());
    assert!(
        state(&reopened) == model,
        "state after restart from base + log"
    );
    reopened.close().expect("close");
    drop(reopened);
    next_seq_after_restart(dir.path(), status.last_seq);
}

#[test]
fn a_crash_at_any_rewrite_step_leaves_a_recoverable_store() {
    for crash_at in [
        RewriteStep::Copying,
        RewriteStep::Written,
        RewriteStep::Installed,
        RewriteStep::Purging,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.set_history_floor(u64::MAX);
        let mut model = write_randomly(&store, 0, 3_000, 1);
        store.rewrite().expect("first rewrite");
        model.extend(write_randomly(&store, 1, 3_000, 2));

        let crashed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            store.rewrite_with(&mut |step| {
                if step == crash_at {
                    panic!("injected crash at {step:?}");
                }
            })
        }));
        assert!(crashed.is_err(), "{crash_at:?} was never reached");
        let unfinished = dir.path().join("aof/rewrite.base.tmp");
        assert_eq!(
            unfinished.exists(),
            matches!(crash_at, RewriteStep::Copying | RewriteStep::Written),
            "{crash_at:?}: the unfinished base"
        );
        model.extend(write_randomly(&store, 2, 1_000, 3));
        let last_seq = store.aof_status().last_seq;
        store.close().expect("close");
        drop(store);

        let reopened = open(dir.path());
        assert!(state(&reopened) == model, "after a crash at {crash_at:?}");
        assert!(
            !unfinished.exists(),
            "the unfinished base is removed on open"
        );
        reopened.set_history_floor(u64::MAX);
        reopened.rewrite().expect("a rewrite after the crash");
        reopened.close().expect("close");
        drop(reopened);
        let again = open(dir.path());
        assert!(
            state(&again) == model,
            "after the next rewrite ({crash_at:?})"
        );
        again.close().expect("close");
        drop(again);
        next_seq_after_restart(dir.path(), last_seq);
    }
}

/// Applies a snapshot's records to a map, as a consumer would.
#[derive(Default)]
struct Apply(State);

impl Apply {
    fn apply(&mut self, op: Op, key: &[u8], value: Option<&[u8]>) {
        match op {
            Op::Set => {
                self.0
                    .insert(key.to_vec(), value.expect("set has a value").to_vec());
            }
            Op::Flush => self.0.clear(),
            Op::Del | Op::Expire | Op::Evict => {
                self.0.remove(key);
            }
        }
    }
}

impl SegmentSink for Apply {
    fn record(&mut self, _offset: usize, rec: &RecordRef<'_>) {
        self.apply(rec.op, rec.key, rec.value);
    }

    fn segment(&mut self, _bytes: &mut Vec<u8>) {}
}

#[test]
fn a_snapshot_at_s_and_the_stream_from_s_plus_1_rebuild_the_source() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let _ = write_randomly(&store, 0, 5_000, 7);
    let (snapshot, summary) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_randomly(&store, 1, 20_000, 8));
        std::thread::sleep(Duration::from_millis(5));
        let taken = store.snapshot_to(Vec::new()).expect("snapshot");
        writer.join().unwrap();
        taken
    });
    assert!(summary.fixups > 0, "writes did not overlap the snapshot");
    let _ = write_randomly(&store, 2, 2_000, 9);
    let _ = store.flush_all().expect("flush");
    let _ = write_randomly(&store, 3, 500, 10);
    let head = store.aof_status().last_seq;

    let mut rebuilt = Apply::default();
    let read = base::read(&snapshot[..], Path::new("snapshot"), &mut rebuilt).expect("read");
    assert_eq!(read, summary);
    let mut stream = store
        .subscribe(summary.seq + 1, Duration::from_secs(10))
        .expect("subscribe");
    runtime.block_on(async {
        loop {
            match stream.next().await.expect("stream") {
                StreamItem::Event(e) => {
                    rebuilt.apply(e.op, &e.key, e.value.as_deref());
                    if e.seq == head {
                        break;
                    }
                }
                StreamItem::Watermark(w) => panic!("watermark {} before seq {head}", w.last_seq),
            }
        }
    });
    let source = state(&store);
    assert_eq!(rebuilt.0.len(), source.len(), "keys rebuilt vs source");
    assert!(
        rebuilt.0 == source,
        "snapshot + stream differ from the source"
    );

    // Loaded into an empty node, the snapshot is its state, and the node's
    // seqs continue after it.
    let path = dir.path().join("snap.base");
    std::fs::write(&path, &snapshot).unwrap();
    let target = tempfile::tempdir().unwrap();
    let installed = fluxkv_store::install_snapshot(target.path(), &path).expect("install");
    assert_eq!(installed, summary);
    let mut at_s = Apply::default();
    base::read(&snapshot[..], &path, &mut at_s).unwrap();
    let loaded = open(target.path());
    assert!(
        state(&loaded) == at_s.0,
        "the loaded node differs from the snapshot"
    );
    let seq = loaded.set(b"k", b"v", SetOptions::default()).unwrap().seq;
    assert_eq!(seq, Some(summary.seq + 1));
    loaded.close().unwrap();
    drop(loaded);
    let refused = fluxkv_store::install_snapshot(target.path(), &path);
    assert!(
        matches!(refused, Err(StoreError::NotEmpty { .. })),
        "{refused:?}"
    );
}

#[test]
fn a_truncated_or_damaged_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let _ = write_randomly(&store, 0, 1_000, 11);
    let (snapshot, _) = store.snapshot_to(Vec::new()).unwrap();
    for damaged in [
        snapshot[..snapshot.len() - 5].to_vec(),
        snapshot[..snapshot.len() / 2].to_vec(),
        {
            let mut flipped = snapshot.clone();
            flipped[snapshot.len() / 2] ^= 0x10;
            flipped
        },
    ] {
        let read = base::read(&damaged[..], Path::new("snap"), &mut Apply::default());
        assert!(matches!(read, Err(StoreError::Corrupt { .. })), "{read:?}");
    }
}

#[test]
fn recovery_refuses_a_damaged_base_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let _ = write_randomly(&store, 0, 2_000, 12);
    let report = store.rewrite().unwrap();
    store.close().unwrap();
    drop(store);
    let path = base::BaseFile::at(&dir.path().join("aof"), report.base.seq).path;
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let err = Store::open(dir.path(), options(16 << 10, RetentionPolicy::default())).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path: p, .. } if *p == path),
        "{err}"
    );
}

#[test]
fn history_a_consumer_needs_is_kept_until_the_retention_limit() {
    let dir = tempfile::tempdir().unwrap();
    let roomy = RetentionPolicy {
        retain_history_bytes: 0,
        retention_limit_bytes: 1 << 30,
    };
    let store = open_with(dir.path(), options(16 << 10, roomy));
    let _ = write_randomly(&store, 0, 5_000, 13);
    // A sink still needs seq 2000 on.
    store.set_history_floor(2_000);
    store.rewrite().unwrap();
    let oldest = store.oldest_seq().unwrap();
    assert!(oldest > 1, "history nobody needs was kept");
    assert!(oldest <= 2_000, "history a consumer needs was deleted");
    let mut follower = store.subscribe(2_000, Duration::from_secs(10)).unwrap();
    assert!(matches!(
        store.subscribe(1, Duration::from_secs(1)),
        Err(StoreError::SeqUnavailable { oldest: o, .. }) if o == oldest
    ));
    store.close().unwrap();
    drop(follower);
    drop(store);

    // Past a tight limit the consumer's history goes, and it finds out.
    let tight = RetentionPolicy {
        retain_history_bytes: 0,
        retention_limit_bytes: 20 << 10,
    };
    let store = open_with(dir.path(), options(16 << 10, tight));
    follower = store.subscribe(2_000, Duration::from_secs(10)).unwrap();
    store.set_history_floor(2_000);
    let purged = store.purge_history().unwrap();
    assert!(purged.segments > 0);
    assert!(store.oldest_seq().unwrap() > 2_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        loop {
            match follower.next().await {
                Ok(StreamItem::Event(_)) => continue,
                other => return other,
            }
        }
    });
    assert!(
        matches!(outcome, Err(StoreError::SeqUnavailable { .. })),
        "a reader whose history was deleted must fail, not skip: {outcome:?}"
    );
}

#[test]
fn a_data_directory_is_opened_by_one_store_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let second = Store::open(dir.path(), StoreOptions::default());
    assert!(matches!(second, Err(StoreError::DataDirInUse { .. })));
    first.close().unwrap();
    drop(first);
    open(dir.path()).close().unwrap();
}

#[test]
fn auto_rewrite_is_due_once_the_log_outgrows_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(16 << 10, RetentionPolicy::default());
    options.aof.auto_rewrite_percentage = 100;
    options.aof.auto_rewrite_min_bytes = 64 << 10;
    let store = open_with(dir.path(), options);
    assert!(!store.rewrite_due().unwrap());
    let mut rng = StdRng::seed_from_u64(14);
    let mut i = 0;
    while !store.rewrite_due().unwrap() {
        let key = format!("k{}", rng.random_range(0..100));
        let _ = store
            .set(key.as_bytes(), &[b'x'; 100], SetOptions::default())
            .unwrap();
        i += 1;
        assert!(i < 10_000, "never due");
    }
    store.set_history_floor(u64::MAX);
    store.rewrite().unwrap();
    assert!(!store.rewrite_due().unwrap(), "due right after a rewrite");
}
