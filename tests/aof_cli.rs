//! `fluxkv aof check | repair | dump | stats`, run as a process against AOF
//! directories written by a real `fluxkv_store::Store` and then damaged.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fluxkv_store::aof::record;
use fluxkv_store::aof::segment::HEADER_LEN;
use fluxkv_store::{AofOptions, ExpireCondition, FsyncPolicy, SetOptions, Store, StoreOptions};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// An expiry far in the future (2100-01-01).
const FAR: u64 = 4_102_444_800_000;
const BIN_KEY: &[u8] = b"\xffbin\x00";
const BIN_VALUE: &[u8] = b"\x80\x81\x82";

enum Action {
    Set(Vec<u8>, Vec<u8>),
    ExpireAt(Vec<u8>, u64),
    Del(Vec<u8>),
    Flush,
}

/// The record an action must leave in the AOF.
#[derive(Debug, Clone)]
struct Expected {
    op: &'static str,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    expire_at_ms: Option<u64>,
}

fn set(key: &[u8], value: &[u8]) -> (Action, Expected) {
    let expected = Expected {
        op: "set",
        key: key.to_vec(),
        value: Some(value.to_vec()),
        expire_at_ms: None,
    };
    (Action::Set(key.to_vec(), value.to_vec()), expected)
}

/// 28 records: seq 4 is an expiry change, 5 a del, 6 a binary key, 8 a flush.
fn workload() -> Vec<(Action, Expected)> {
    let mut w = vec![
        set(b"user:1", b"alice"),
        set(b"user:2", b"bob"),
        set(b"user:1", b"alice2"),
        (
            Action::ExpireAt(b"user:2".to_vec(), FAR),
            Expected {
                op: "set",
                key: b"user:2".to_vec(),
                value: Some(b"bob".to_vec()),
                expire_at_ms: Some(FAR),
            },
        ),
        (
            Action::Del(b"user:1".to_vec()),
            Expected {
                op: "del",
                key: b"user:1".to_vec(),
                value: None,
                expire_at_ms: None,
            },
        ),
        set(BIN_KEY, BIN_VALUE),
        set(b"tmp", b"x"),
        (
            Action::Flush,
            Expected {
                op: "flush",
                key: Vec::new(),
                value: None,
                expire_at_ms: None,
            },
        ),
    ];
    for i in 0..20 {
        w.push(set(
            format!("bulk:{i:02}").as_bytes(),
            format!("value-{i:02}").as_bytes(),
        ));
    }
    w
}

fn store_options(segment_bytes: u64) -> StoreOptions {
    StoreOptions {
        aof: AofOptions {
            fsync: FsyncPolicy::No,
            segment_bytes,
            ..AofOptions::default()
        },
        ..Default::default()
    }
}

/// Writes `actions` through a store in `dir`, opening and closing it once
/// per chunk; returns the records expected, seq `i + 1` at index `i`.
fn write_log(
    dir: &Path,
    actions: Vec<(Action, Expected)>,
    chunks: usize,
    segment_bytes: u64,
) -> Vec<Expected> {
    let per_chunk = actions.len().div_ceil(chunks);
    let mut expected = Vec::new();
    let mut actions = actions.into_iter().peekable();
    while actions.peek().is_some() {
        let (store, _) = Store::open(dir, store_options(segment_bytes)).expect("open store");
        for (action, record) in actions.by_ref().take(per_chunk) {
            let seq = match action {
                Action::Set(k, v) => store.set(&k, &v, SetOptions::default()).expect("set").seq,
                Action::ExpireAt(k, at) => {
                    store
                        .expire_at(&k, at, ExpireCondition::Always)
                        .expect("expire")
                        .seq
                }
                Action::Del(k) => store.del(&[&k]).expect("del").seq,
                Action::Flush => store.flush_all().expect("flush").seq,
            };
            expected.push(record);
            assert_eq!(seq, Some(expected.len() as u64), "the workload's seqs");
        }
        store.close().expect("close store");
    }
    expected
}

/// One segment holding the 28 workload records.
fn single_segment_log(dir: &Path) -> Vec<Expected> {
    let expected = write_log(dir, workload(), 1, 64 << 20);
    assert_eq!(segments(dir).len(), 1);
    expected
}

/// The workload over at least three segments.
fn multi_segment_log(dir: &Path) -> Vec<Expected> {
    let expected = write_log(dir, workload(), 4, 1);
    assert!(segments(dir).len() >= 3, "{:?}", segments(dir));
    expected
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("aof"))
        .expect("aof dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

/// (offset, seq) of each record of a segment file.
fn records_of(path: &Path) -> Vec<(u64, u64)> {
    let bytes = fs::read(path).expect("segment");
    let mut pos = HEADER_LEN;
    let mut out = Vec::new();
    while pos < bytes.len() {
        let (rec, used) = record::decode(&bytes[pos..]).expect("a clean segment");
        out.push((pos as u64, rec.seq));
        pos += used;
    }
    out
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path).expect("read"));
            }
        }
    }
    files
}

fn append(path: &Path, bytes: &[u8]) {
    let mut data = fs::read(path).expect("read");
    data.extend_from_slice(bytes);
    fs::write(path, data).expect("write");
}

fn flip_byte(path: &Path, offset: u64) {
    let mut data = fs::read(path).expect("read");
    data[offset as usize] ^= 0x5a;
    fs::write(path, data).expect("write");
}

fn fluxkv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(args)
        .env_remove("FLUXKV_DATA_DIR")
        .output()
        .expect("run fluxkv")
}

fn aof(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["aof"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", dir.to_str().expect("utf-8 path")]);
    fluxkv(&all)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn dump_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn seqs(lines: &[Value]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| l["seq"].as_u64().expect("seq"))
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

#[test]
fn check_clean_log_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    let out = aof(dir.path(), &["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert!(text.contains("00000000000000000001.aof"), "{text}");
    assert!(text.contains("seqs 1..=28"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("clean: 1 segments, 28 records"),
        "{text}"
    );

    let multi = tempfile::tempdir().unwrap();
    multi_segment_log(multi.path());
    let aof_dir = multi.path().join("aof");
    let out = fluxkv(&["aof", "check", "--aof-dir", aof_dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    let count = segments(multi.path()).len();
    assert_eq!(
        text.lines().filter(|l| l.ends_with("  ok")).count(),
        count,
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("28 records, seqs 1..=28"),
        "{text}"
    );
}

#[test]
fn check_torn_tail_exits_1_and_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    let segment = &segments(dir.path())[0];
    let len = fs::metadata(segment).unwrap().len();
    append(segment, b"\xab\xab\xab\xab\xab\xab\xab\xab\xab\xab");
    let out = aof(dir.path(), &["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("{} offset {len}:", segment.display())),
        "{text}"
    );
    assert!(text.contains("torn tail"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("torn tail:"),
        "{text}"
    );
}

#[test]
fn check_mid_log_corruption_exits_2_and_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    let segment = &segments(dir.path())[0];
    let (offset, seq) = records_of(segment)[2];
    assert_eq!(seq, 3);
    flip_byte(segment, offset + 30);
    let out = aof(dir.path(), &["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("{} offset {offset}:", segment.display())),
        "{text}"
    );
    assert!(text.contains("mid-log corruption"), "{text}");
    let summary = text.lines().last().unwrap();
    assert!(summary.starts_with("CORRUPT:"), "{text}");
    assert!(
        summary.contains("drop 25 intact records (seqs 4..=28)"),
        "{text}"
    );
}

#[test]
fn check_missing_segment_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    multi_segment_log(dir.path());
    let files = segments(dir.path());
    fs::remove_file(&files[1]).unwrap();
    let out = aof(dir.path(), &["check"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("{} offset 0:", files[2].display())),
        "{text}"
    );
    assert!(text.contains("a segment is missing"), "{text}");
}

#[test]
fn check_stray_file_exits_2_and_unreadable_dir_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    fs::write(dir.path().join("aof").join("notes.txt"), b"hi").unwrap();
    let out = aof(dir.path(), &["check"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("notes.txt"), "{}", stdout(&out));

    let missing = dir.path().join("nowhere");
    let out = aof(&missing, &["check"]);
    assert_eq!(code(&out), 3, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}

#[test]
fn repair_truncates_a_torn_tail_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    let segment = &segments(dir.path())[0];
    let clean = fs::read(segment).unwrap();
    append(segment, b"\x30\x00\x00\x00\x01\x02\x03");
    assert_eq!(code(&aof(dir.path(), &["check"])), 1);

    let out = aof(dir.path(), &["repair"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("truncated {}", segment.display())),
        "{}",
        stdout(&out)
    );
    assert_eq!(fs::read(segment).unwrap(), clean);
    assert_eq!(code(&aof(dir.path(), &["check"])), 0);
    assert_eq!(
        seqs(&dump_lines(&aof(dir.path(), &["dump"]))),
        (1..=28).collect::<Vec<_>>()
    );
    // Nothing else was written next to the AOF.
    assert!(!dir.path().join("aof.corrupt").exists());

    // A record cut short at the end loses only that record.
    let len = clean.len() as u64;
    let last_offset = records_of(segment).last().unwrap().0;
    File::options()
        .write(true)
        .open(segment)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    assert_eq!(code(&aof(dir.path(), &["check"])), 1);
    assert_eq!(code(&aof(dir.path(), &["repair"])), 0);
    assert_eq!(fs::metadata(segment).unwrap().len(), last_offset);
    assert_eq!(code(&aof(dir.path(), &["check"])), 0);
    assert_eq!(
        seqs(&dump_lines(&aof(dir.path(), &["dump"]))),
        (1..=27).collect::<Vec<_>>()
    );
}

#[test]
fn repair_of_mid_log_corruption_needs_yes() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    let segment = &segments(dir.path())[0];
    let (offset, _) = records_of(segment)[2];
    flip_byte(segment, offset + 30);
    let corrupted = fs::read(segment).unwrap();
    let before = snapshot(dir.path());

    let out = aof(dir.path(), &["repair"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 2, "{text}{}", stderr(&out));
    assert!(text.contains("25 intact records (seqs 4..=28)"), "{text}");
    assert!(
        text.contains(&format!(
            "truncate {} from {} to {offset} bytes",
            segment.display(),
            corrupted.len()
        )),
        "{text}"
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "repair without --yes changed files"
    );
    assert_eq!(code(&aof(dir.path(), &["check"])), 2);

    let out = aof(dir.path(), &["repair", "--yes"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert_eq!(fs::metadata(segment).unwrap().len(), offset);
    assert_eq!(code(&aof(dir.path(), &["check"])), 0);
    assert_eq!(seqs(&dump_lines(&aof(dir.path(), &["dump"]))), vec![1, 2]);
    // The damaged segment was copied aside, byte for byte.
    let quarantine: Vec<PathBuf> = fs::read_dir(dir.path().join("aof.corrupt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
    let name = quarantine[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("00000000000000000001.aof.corrupt-"),
        "{name}"
    );
    assert_eq!(fs::read(&quarantine[0]).unwrap(), corrupted);
    // The server starts on the repaired log.
    let (store, report) = Store::open(dir.path(), store_options(64 << 20)).unwrap();
    assert_eq!(report.aof.recovered.last_seq, 2);
    assert_eq!(store.get(b"user:2").as_deref(), Some(&b"bob"[..]));
    store.close().unwrap();
}

#[test]
fn repair_with_yes_moves_later_segments_aside() {
    let dir = tempfile::tempdir().unwrap();
    multi_segment_log(dir.path());
    let files = segments(dir.path());
    let (middle, later) = (&files[1], &files[2..]);
    let (offset, seq) = records_of(middle)[0];
    assert_eq!(offset, HEADER_LEN as u64);
    let later_bytes: Vec<Vec<u8>> = later.iter().map(|f| fs::read(f).unwrap()).collect();
    flip_byte(middle, offset + 5);
    let before = snapshot(dir.path());
    let lost = 28 - seq;

    let out = aof(dir.path(), &["repair"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{lost} intact records (seqs {}..=28)", seq + 1)),
        "{}",
        stdout(&out)
    );
    assert_eq!(snapshot(dir.path()), before);

    let out = aof(dir.path(), &["repair", "--yes"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}{}", stderr(&out));
    assert_eq!(segments(dir.path()), files[..2].to_vec());
    assert_eq!(fs::metadata(middle).unwrap().len(), HEADER_LEN as u64);
    let out = aof(dir.path(), &["check"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(
        seqs(&dump_lines(&aof(dir.path(), &["dump"]))),
        (1..seq).collect::<Vec<_>>()
    );
    // Later segments were moved, not deleted.
    for (file, bytes) in later.iter().zip(&later_bytes) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let moved: Vec<PathBuf> = fs::read_dir(dir.path().join("aof.corrupt"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}.corrupt-"))
            })
            .collect();
        assert_eq!(moved.len(), 1, "{name}: {moved:?}");
        assert_eq!(&fs::read(&moved[0]).unwrap(), bytes);
        assert!(
            text.contains(&format!("moved {}", file.display())),
            "{text}"
        );
    }
    // The server starts and continues the log right after the cut.
    let (store, _) = Store::open(dir.path(), store_options(1)).unwrap();
    assert_eq!(
        store.set(b"k", b"v", SetOptions::default()).unwrap().seq,
        Some(seq)
    );
    store.close().unwrap();
}

#[test]
fn dump_prints_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let expected = single_segment_log(dir.path());
    let out = aof(dir.path(), &["dump"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let lines = dump_lines(&out);
    assert_eq!(seqs(&lines), (1..=28).collect::<Vec<_>>());
    let (start, end) = (now_ms() - 600_000, now_ms());
    for (line, want) in lines.iter().zip(&expected) {
        assert_eq!(line["op"], want.op, "{line}");
        let ts = line["ts_ms"].as_u64().expect("ts_ms");
        assert!((start..=end).contains(&ts), "{line}");
        let binary = line.get("encoding").is_some();
        let decode = |v: &Value| -> Vec<u8> {
            let s = v.as_str().expect("string");
            if binary {
                STANDARD.decode(s).expect("base64")
            } else {
                s.as_bytes().to_vec()
            }
        };
        assert_eq!(decode(&line["key"]), want.key, "{line}");
        assert_eq!(line.get("value").map(decode), want.value, "{line}");
        assert_eq!(
            line.get("expire_at_ms").map(|v| v.as_u64().unwrap()),
            want.expire_at_ms,
            "{line}"
        );
        let fields = line.as_object().unwrap().len();
        assert_eq!(
            fields,
            4 + usize::from(want.value.is_some())
                + usize::from(want.expire_at_ms.is_some())
                + usize::from(binary),
            "{line}"
        );
    }
    // The binary key (seq 6), and only it, is base64.
    let encoded: Vec<u64> = lines
        .iter()
        .filter(|l| l.get("encoding").is_some())
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(encoded, vec![6]);
    assert_eq!(lines[5]["encoding"], "base64");
    assert_eq!(lines[5]["key"], STANDARD.encode(BIN_KEY));
    assert_eq!(lines[5]["value"], STANDARD.encode(BIN_VALUE));
    assert_eq!(lines[3]["expire_at_ms"], FAR);
    assert_eq!(lines[4]["key"], "user:1");

    let range = dump_lines(&aof(
        dir.path(),
        &["dump", "--from-seq", "5", "--to-seq", "9"],
    ));
    assert_eq!(seqs(&range), vec![5, 6, 7, 8, 9]);
    let bulk = dump_lines(&aof(dir.path(), &["dump", "--prefix", "bulk:1"]));
    // bulk:10..bulk:19, plus the flush that removed every key.
    assert_eq!(
        seqs(&bulk),
        [8].into_iter().chain(19..=28).collect::<Vec<_>>()
    );
}

#[test]
fn dump_reads_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    multi_segment_log(dir.path());
    assert_eq!(
        seqs(&dump_lines(&aof(dir.path(), &["dump"]))),
        (1..=28).collect::<Vec<_>>()
    );
    let files = segments(dir.path());
    let third_first = records_of(&files[2])[0].1;
    let from = third_first + 1;
    let out = aof(
        dir.path(),
        &["dump", "--from-seq", &from.to_string(), "--to-seq", "27"],
    );
    assert_eq!(seqs(&dump_lines(&out)), (from..=27).collect::<Vec<_>>());
}

#[test]
fn dump_stops_at_damage_after_printing_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    single_segment_log(dir.path());
    let segment = &segments(dir.path())[0];
    let (offset, _) = records_of(segment)[2];
    flip_byte(segment, offset + 30);
    let out = aof(dir.path(), &["dump"]);
    assert_ne!(code(&out), 0);
    assert_eq!(seqs(&dump_lines(&out)), vec![1, 2]);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} at offset {offset}", segment.display())),
        "{err}"
    );

    let torn = tempfile::tempdir().unwrap();
    single_segment_log(torn.path());
    let segment = &segments(torn.path())[0];
    let len = fs::metadata(segment).unwrap().len();
    append(segment, b"\xff\xff");
    let out = aof(torn.path(), &["dump"]);
    assert_ne!(code(&out), 0);
    assert_eq!(dump_lines(&out).len(), 28);
    assert!(
        stderr(&out).contains(&format!(
            "torn tail in {} at offset {len}",
            segment.display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dump_survives_stdout_closed_early() {
    let dir = tempfile::tempdir().unwrap();
    let value = vec![b'v'; 1024];
    let actions = (0..400)
        .map(|i| set(format!("big:{i}").as_bytes(), &value))
        .collect();
    write_log(dir.path(), actions, 1, 64 << 20);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(["aof", "dump", "--data-dir", dir.path().to_str().unwrap()])
        .env_remove("FLUXKV_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with(r#"{"seq":1,"#), "{first}");
    drop(reader); // 400 KiB of output cannot all fit in the pipe
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{:?} {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn stats_counts_match_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let started = now_ms();
    let expected = multi_segment_log(dir.path());
    let finished = now_ms();
    let out = aof(dir.path(), &["stats", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats: Value = serde_json::from_str(stdout(&out).trim()).unwrap();

    let files = segments(dir.path());
    let bytes: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    assert_eq!(stats["segments"], files.len() as u64);
    assert_eq!(stats["bytes"], bytes);
    assert_eq!(stats["records"], expected.len() as u64);
    for op in ["set", "del", "expire", "evict", "flush"] {
        let count = expected.iter().filter(|e| e.op == op).count() as u64;
        assert_eq!(stats["ops"][op], count, "{op}");
    }
    assert_eq!(stats["ops"]["set"], 26);
    assert_eq!(stats["first_seq"], 1);
    assert_eq!(stats["last_seq"], 28);
    let (first_ts, last_ts) = (
        stats["first_ts_ms"].as_u64().unwrap(),
        stats["last_ts_ms"].as_u64().unwrap(),
    );
    assert!(
        started <= first_ts && first_ts <= last_ts && last_ts <= finished,
        "{stats}"
    );
    let keys: HashSet<&[u8]> = expected
        .iter()
        .filter(|e| e.op != "flush")
        .map(|e| e.key.as_slice())
        .collect();
    assert_eq!(stats["distinct_keys"], keys.len() as u64);
    assert_eq!(stats["distinct_keys"], 24);
    let key_bytes: usize = expected.iter().map(|e| e.key.len()).sum();
    let value_bytes: usize = expected
        .iter()
        .map(|e| e.value.as_ref().map_or(0, Vec::len))
        .sum();
    assert_eq!(stats["key_bytes"], key_bytes as u64);
    assert_eq!(stats["value_bytes"], value_bytes as u64);
    assert_eq!(stats["damage"], Value::Null);

    let table = aof(dir.path(), &["stats"]);
    assert_eq!(code(&table), 0);
    let text = stdout(&table);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["records", "28"]),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["seqs", "1..=28"]),
        "{text}"
    );

    // A torn tail is reported; the records before it are still counted.
    let last = files.last().unwrap();
    let len = fs::metadata(last).unwrap().len();
    append(last, b"\x01");
    let out = aof(dir.path(), &["stats", "--json"]);
    let stats: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(stats["records"], 28);
    assert_eq!(stats["damage"]["offset"], len);
    assert_eq!(stats["damage"]["torn_tail"], true);
    assert_eq!(stats["damage"]["file"], last.display().to_string());
}
