//! Whole-store recovery from the AOF: torn tails, garbage tails, mid-log
//! damage, segment rotation and missing segments.
//!
//! Record encoding itself is unit-tested in `aof/record.rs`; these tests go
//! through `Store::open`, with the files damaged the way crashes and disks
//! damage them.

use bytes::Bytes;
use fluxkv_store::aof::record;
use fluxkv_store::aof::segment::HEADER_LEN;
use fluxkv_store::{
    AofOptions, Clock, Deadline, ExpirySpec, FsyncPolicy, SetOptions, StartupReport, Store,
    StoreError, StoreOptions,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const START_MS: u64 = 1_700_000_000_000;

fn options(clock: &Clock, segment_bytes: u64) -> StoreOptions {
    StoreOptions {
        shards: 16,
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            segment_bytes,
            ..AofOptions::default()
        },
        clock: clock.clone(),
        ..StoreOptions::default()
    }
}

fn open(dir: &Path, clock: &Clock) -> Result<(Store, StartupReport), StoreError> {
    Store::open(dir, options(clock, 64 << 20))
}

/// Every live key with its value and deadline.
type State = BTreeMap<Bytes, (Bytes, Deadline)>;

fn state(store: &Store) -> State {
    store
        .keys(|_| true)
        .into_iter()
        .map(|k| {
            let value = store.get(&k).expect("listed key has a value");
            let deadline = store.deadline(&k);
            (k, (value, deadline))
        })
        .collect()
}

/// The segment files of a data directory, in log order.
fn segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(data_dir.join("aof"))
        .expect("aof dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

fn only_segment(data_dir: &Path) -> PathBuf {
    let mut files = segments(data_dir);
    assert_eq!(files.len(), 1, "expected one segment: {files:?}");
    files.remove(0)
}

/// (offset, length) of every record in a segment file.
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let (_, len) = record::decode(&bytes[pos..]).expect("a valid record");
        out.push((pos, len));
        pos += len;
    }
    out
}

fn copy_data_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to.join("aof")).expect("mkdir");
    for file in segments(from) {
        fs::copy(&file, to.join("aof").join(file.file_name().expect("name"))).expect("copy");
    }
}

fn expect_corrupt(result: Result<(Store, StartupReport), StoreError>) -> (PathBuf, u64, String) {
    match result {
        Err(err @ StoreError::Corrupt { .. }) => {
            let message = err.to_string();
            let StoreError::Corrupt {
                path,
                offset,
                reason,
            } = err
            else {
                unreachable!()
            };
            assert!(
                message.contains(&path.display().to_string()),
                "message names the file: {message}"
            );
            assert!(
                message.contains(&format!("offset {offset}")),
                "message names the offset: {message}"
            );
            (path, offset, reason)
        }
        Err(other) => panic!("expected StoreError::Corrupt, got {other}"),
        Ok(_) => panic!("expected StoreError::Corrupt, but the store opened"),
    }
}

fn with_ttl(at: u64) -> SetOptions {
    SetOptions {
        expiry: ExpirySpec::At(at),
        ..SetOptions::default()
    }
}

/// Writes a mix of records, one per call, ending with seq `n`.
fn write_records(store: &Store, n: u64) {
    let now = store.now_ms();
    for i in 1..=n {
        let key = format!("key:{}", i % 7);
        let seq = match i % 5 {
            0 => store.incr_by(b"counter", i as i64).expect("incr").seq,
            1 => {
                store
                    .set(
                        key.as_bytes(),
                        format!("value-{i}").as_bytes(),
                        with_ttl(now + 3_600_000 + i),
                    )
                    .expect("set")
                    .seq
            }
            2 => {
                store
                    .append(key.as_bytes(), b"+suffix")
                    .expect("append")
                    .seq
            }
            _ => {
                store
                    .set(
                        key.as_bytes(),
                        &vec![b'a' + (i % 26) as u8; (i as usize * 7) % 50],
                        SetOptions::default(),
                    )
                    .expect("set")
                    .seq
            }
        };
        assert_eq!(seq, Some(i), "one record per call");
    }
}

#[test]
fn torn_last_record_is_truncated_at_every_cut_point() {
    let clock = Clock::manual(START_MS);
    let base = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(base.path(), &clock).expect("open");
    write_records(&store, 11);
    let prefix_state = state(&store);
    // The last record carries every field: key, value and deadline.
    let last = store
        .set(b"the-last-key", &[b'z'; 40], with_ttl(START_MS + 7_200_000))
        .expect("set");
    assert_eq!(last.seq, Some(12));
    let full_state = state(&store);
    store.close().expect("close");
    drop(store);

    let segment = only_segment(base.path());
    let bytes = fs::read(&segment).expect("read");
    let &(last_start, last_len) = records(&bytes).last().expect("records");
    assert_eq!(last_start + last_len, bytes.len());

    // Sanity: the intact log has everything.
    let (store, report) = open(base.path(), &clock).expect("open");
    assert!(report.aof.truncated.is_none());
    assert_eq!(state(&store), full_state);
    store.close().expect("close");
    drop(store);

    for cut in last_start..bytes.len() {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_data_dir(base.path(), copy.path());
        let segment = only_segment(copy.path());
        fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .and_then(|f| f.set_len(cut as u64))
            .expect("truncate");

        let (store, report) =
            open(copy.path(), &clock).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        if cut == last_start {
            assert!(report.aof.truncated.is_none(), "cut at a record boundary");
        } else {
            let (path, offset, _reason) = report
                .aof
                .truncated
                .clone()
                .unwrap_or_else(|| panic!("cut at {cut}: truncation not reported"));
            assert_eq!(path, segment, "cut at {cut}");
            assert_eq!(offset, last_start as u64, "cut at {cut}");
        }
        assert_eq!(report.aof.recovered.last_seq, 11, "cut at {cut}");
        assert_eq!(state(&store), prefix_state, "cut at {cut}");
        store.close().expect("close");
        drop(store);
        assert_eq!(
            fs::metadata(&segment).expect("stat").len(),
            last_start as u64
        );

        // The second start finds a clean log and reuses the lost seq.
        let (store, report) = open(copy.path(), &clock).expect("reopen");
        assert!(
            report.aof.truncated.is_none(),
            "cut at {cut}: reported twice"
        );
        assert_eq!(state(&store), prefix_state, "cut at {cut}");
        let seq = store
            .set(b"after", b"x", SetOptions::default())
            .expect("set")
            .seq;
        assert_eq!(seq, Some(12), "cut at {cut}");
        store.close().expect("close");
    }
}

#[test]
fn bit_flip_in_a_middle_record_refuses_with_file_and_offset() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path(), &clock).expect("open");
    write_records(&store, 10);
    store.close().expect("close");
    drop(store);

    let segment = only_segment(dir.path());
    let original = fs::read(&segment).expect("read");
    let all = records(&original);
    // Flip every bit of two records followed by valid ones: the first and
    // one in the middle.
    for &(start, len) in [all[0], all[4]].iter() {
        for bit in 0..len * 8 {
            let mut damaged = original.clone();
            damaged[start + bit / 8] ^= 1 << (bit % 8);
            fs::write(&segment, &damaged).expect("write");

            let (path, offset, reason) = expect_corrupt(open(dir.path(), &clock));
            assert_eq!(path, segment, "bit {bit} of the record at {start}");
            assert_eq!(
                offset, start as u64,
                "bit {bit} of the record at {start}: {reason}"
            );
            // Refusing must leave the evidence alone.
            assert_eq!(
                fs::read(&segment).expect("read"),
                damaged,
                "file changed on refusal"
            );
        }
    }

    // Repaired, it opens again with everything.
    fs::write(&segment, &original).expect("write");
    let (store, report) = open(dir.path(), &clock).expect("open");
    assert!(report.aof.truncated.is_none());
    assert_eq!(report.aof.recovered.last_seq, 10);
    store.close().expect("close");
}

#[test]
fn garbage_after_the_last_record_is_cut_at_the_old_end() {
    let clock = Clock::manual(START_MS);
    let base = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(base.path(), &clock).expect("open");
    write_records(&store, 9);
    let expected = state(&store);
    store.close().expect("close");
    drop(store);
    let old_len = fs::metadata(&segments(base.path())[0]).expect("stat").len();

    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                // xorshift64*
                seed ^= seed >> 12;
                seed ^= seed << 25;
                seed ^= seed >> 27;
                (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    };
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("1 zero byte", vec![0; 1]),
        ("8 zero bytes", vec![0; 8]),
        ("4 KiB of zeros", vec![0; 4096]),
        ("3 random bytes", random(3)),
        ("100 random bytes", random(100)),
        ("4 KiB of random bytes", random(4096)),
    ];

    for (what, tail) in garbage {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_data_dir(base.path(), copy.path());
        let segment = segments(copy.path()).remove(0);
        let mut bytes = fs::read(&segment).expect("read");
        bytes.extend_from_slice(&tail);
        fs::write(&segment, &bytes).expect("write");

        let (store, report) = open(copy.path(), &clock).unwrap_or_else(|e| panic!("{what}: {e}"));
        let (path, offset, _) = report
            .aof
            .truncated
            .clone()
            .unwrap_or_else(|| panic!("{what}: truncation not reported"));
        assert_eq!(path, segment, "{what}");
        assert_eq!(offset, old_len, "{what}");
        assert_eq!(report.aof.recovered.last_seq, 9, "{what}");
        assert_eq!(state(&store), expected, "{what}");

        // A new write lands right after the old records and survives.
        let seq = store
            .set(b"new", b"after the garbage", SetOptions::default())
            .expect("set")
            .seq;
        assert_eq!(seq, Some(10), "{what}");
        store.close().expect("close");
        drop(store);
        let bytes = fs::read(&segment).expect("read");
        let all = records(&bytes); // panics if anything but records is left
        assert_eq!(all.last().expect("records").0 as u64, old_len, "{what}");

        let (store, report) = open(copy.path(), &clock).expect("reopen");
        assert!(report.aof.truncated.is_none(), "{what}: reported twice");
        let mut with_new = expected.clone();
        with_new.insert(
            Bytes::from_static(b"new"),
            (Bytes::from_static(b"after the garbage"), Deadline::Never),
        );
        assert_eq!(state(&store), with_new, "{what}");
        store.close().expect("close");
    }
}

/// Writes `count` records one commit at a time, so each batch the writer
/// sees holds one record and segments rotate at the configured size.
async fn write_committed(store: &Store, first: u64, count: u64) {
    for i in first..first + count {
        let seq = store
            .set(
                format!("key:{}", i % 40).as_bytes(),
                &[b'v'; 100],
                SetOptions::default(),
            )
            .expect("set")
            .seq
            .expect("logged");
        assert_eq!(seq, i);
        store.wait_committed(seq).await.expect("commit");
    }
}

const SMALL_SEGMENT: u64 = 4096;

#[tokio::test]
async fn segments_rotate_and_the_seq_continues_after_restart() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(dir.path(), options(&clock, SMALL_SEGMENT)).expect("open");
    write_committed(&store, 1, 150).await;
    let expected = state(&store);
    let status = store.aof_status();
    store.close().expect("close");
    drop(store);

    let files = segments(dir.path());
    assert!(files.len() >= 4, "only {} segments", files.len());
    assert_eq!(status.segments, files.len() as u64);
    let on_disk = |files: &[PathBuf]| -> u64 {
        files
            .iter()
            .map(|f| fs::metadata(f).expect("stat").len())
            .sum()
    };
    assert_eq!(status.total_bytes, on_disk(&files));
    let mut next_seq = 1;
    for file in &files {
        let bytes = fs::read(file).expect("read");
        assert!(
            bytes.len() as u64 <= SMALL_SEGMENT,
            "{} is {} bytes",
            file.display(),
            bytes.len()
        );
        let name: u64 = file
            .file_stem()
            .expect("stem")
            .to_str()
            .expect("utf8")
            .parse()
            .expect("number");
        assert_eq!(name, next_seq, "segment named after its first seq");
        for (offset, _) in records(&bytes) {
            let (rec, _) = record::decode(&bytes[offset..]).expect("record");
            assert_eq!(rec.seq, next_seq);
            next_seq += 1;
        }
    }
    assert_eq!(next_seq, 151);

    let (store, report) = Store::open(dir.path(), options(&clock, SMALL_SEGMENT)).expect("reopen");
    assert!(report.aof.truncated.is_none());
    assert_eq!(report.aof.recovered.segments.len(), files.len());
    assert_eq!(report.aof.recovered.last_seq, 150);
    assert_eq!(report.aof.recovered.records, 150);
    assert_eq!(state(&store), expected);
    assert_eq!(store.aof_status().segments, files.len() as u64);
    assert_eq!(store.aof_status().total_bytes, on_disk(&files));

    // Writing on after the restart continues the seq, rotating as before.
    write_committed(&store, 151, 60).await;
    let expected = state(&store);
    store.close().expect("close");
    drop(store);
    assert!(segments(dir.path()).len() > files.len());
    let (store, report) = Store::open(dir.path(), options(&clock, SMALL_SEGMENT)).expect("reopen");
    assert!(report.aof.truncated.is_none());
    assert_eq!(report.aof.recovered.last_seq, 210);
    assert_eq!(state(&store), expected);
    store.close().expect("close");
}

/// A rotated log of at least four segments, closed.
async fn rotated_log(dir: &Path, clock: &Clock) -> Vec<PathBuf> {
    let (store, _) = Store::open(dir, options(clock, SMALL_SEGMENT)).expect("open");
    write_committed(&store, 1, 150).await;
    store.close().expect("close");
    let files = segments(dir);
    assert!(files.len() >= 4, "only {} segments", files.len());
    files
}

#[tokio::test]
async fn a_missing_middle_segment_refuses_to_start() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = rotated_log(dir.path(), &clock).await;
    fs::remove_file(&files[1]).expect("rm");

    let (path, offset, reason) =
        expect_corrupt(Store::open(dir.path(), options(&clock, SMALL_SEGMENT)));
    assert_eq!(path, files[2], "the segment after the gap is named");
    assert_eq!(offset, 0);
    assert!(reason.contains("missing"), "reason: {reason}");
}

#[tokio::test]
async fn damage_in_a_segment_that_is_not_the_last_refuses_to_start() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = rotated_log(dir.path(), &clock).await;
    let original = fs::read(&files[0]).expect("read");
    let &(last_start, _) = records(&original).last().expect("records");

    // A torn tail is only a tail in the last segment: here it is data loss.
    fs::write(&files[0], &original[..original.len() - 3]).expect("write");
    let (path, offset, _) = expect_corrupt(Store::open(dir.path(), options(&clock, SMALL_SEGMENT)));
    assert_eq!(
        (path.as_path(), offset),
        (files[0].as_path(), last_start as u64)
    );

    // So is a bad checksum in its last record.
    let mut flipped = original.clone();
    *flipped.last_mut().expect("bytes") ^= 0x10;
    fs::write(&files[0], &flipped).expect("write");
    let (path, offset, _) = expect_corrupt(Store::open(dir.path(), options(&clock, SMALL_SEGMENT)));
    assert_eq!(
        (path.as_path(), offset),
        (files[0].as_path(), last_start as u64)
    );
}

#[tokio::test]
async fn a_torn_header_of_the_last_segment_is_replaced() {
    let clock = Clock::manual(START_MS);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = rotated_log(dir.path(), &clock).await;
    let last = files.last().expect("segments");
    let first_seq: u64 = last
        .file_stem()
        .expect("stem")
        .to_str()
        .expect("utf8")
        .parse()
        .expect("number");
    // A crash while the segment was being created: part of the magic only.
    let header = fs::read(last).expect("read");
    fs::write(last, &header[..5]).expect("write");

    let (store, report) = Store::open(dir.path(), options(&clock, SMALL_SEGMENT)).expect("open");
    let (path, offset, _) = report.aof.truncated.clone().expect("reported");
    assert_eq!((path.as_path(), offset), (last.as_path(), 0));
    assert_eq!(report.aof.recovered.last_seq, first_seq - 1);
    let seq = store
        .set(b"k", b"v", SetOptions::default())
        .expect("set")
        .seq;
    assert_eq!(seq, Some(first_seq));
    store.close().expect("close");
    drop(store);

    let (store, report) = Store::open(dir.path(), options(&clock, SMALL_SEGMENT)).expect("reopen");
    assert!(report.aof.truncated.is_none());
    assert_eq!(report.aof.recovered.last_seq, first_seq);
    assert_eq!(store.get(b"k").as_deref(), Some(&b"v"[..]));
    store.close().expect("close");
}
