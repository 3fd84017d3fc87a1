//! AOF rewrite and snapshots through the real binary: BGREWRITEAOF under
//! write load with `kill -9` in the middle, `fluxkv aof rewrite`, and
//! `fluxkv snapshot create|load` between two nodes.

mod common;

use common::Node;
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SMALL_SEGMENTS: &[&str] = &["--aof-segment-bytes", "65536"];

fn fluxkv(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(args)
        .output()
        .expect("run fluxkv")
}

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "fluxkv failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn info_field(conn: &mut redis::aio::MultiplexedConnection, name: &str) -> String {
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("INFO has no {name}: {info}"))
        .trim()
        .to_string()
}

/// Every key and value of the node behind `conn`.
async fn all_keys(conn: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, String> {
    let keys: Vec<String> = conn.keys("*").await.unwrap();
    let mut out = BTreeMap::new();
    for chunk in keys.chunks(500) {
        let values: Vec<String> = conn.mget(chunk).await.unwrap();
        out.extend(chunk.iter().cloned().zip(values));
    }
    out
}

fn base_files(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("aof"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".base")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgrewriteaof_under_load_then_kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), SMALL_SEGMENTS);
    let client = redis::Client::open(node.url()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for id in 0..4 {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            // Each writer overwrites its own 200 keys with a rising counter:
            // after the crash every key must hold at least the last value
            // acknowledged for it.
            let mut acked = BTreeMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w{id}:{}", n % 200);
                if conn.set::<_, _, ()>(&key, n).await.is_err() {
                    break;
                }
                acked.insert(key, n);
                n += 1;
            }
            acked
        }));
    }
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let mut rewrites = 0;
    while rewrites < 5 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let reply: redis::RedisResult<String> =
            redis::cmd("BGREWRITEAOF").query_async(&mut admin).await;
        match reply {
            Ok(text) => {
                assert_eq!(text, "Background append only file rewriting started");
                rewrites += 1;
            }
            Err(err) => assert!(
                err.to_string().contains("already in progress"),
                "unexpected BGREWRITEAOF error: {err}"
            ),
        }
    }
    // Kill while writers and (likely) a rewrite are running.
    let finished: u64 = info_field(&mut admin, "aof_rewrites")
        .await
        .parse()
        .unwrap();
    assert!(finished >= 1, "no rewrite finished under load");
    let data_dir = node.data_dir.clone();
    tokio::task::spawn_blocking(move || node.kill_9())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acked = BTreeMap::new();
    for writer in writers {
        acked.extend(writer.await.unwrap());
    }

    let node = Node::start(&data_dir, SMALL_SEGMENTS);
    assert!(base_files(&data_dir) >= 1, "no base survived");
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let state = all_keys(&mut conn).await;
    for (key, value) in &acked {
        let found: u64 = state
            .get(key)
            .unwrap_or_else(|| panic!("{key} lost"))
            .parse()
            .unwrap();
        assert!(
            found >= *value,
            "{key}: acknowledged {value}, found {found}"
        );
    }
    // The node keeps numbering after what it had: a write gets a fresh seq.
    let before: u64 = info_field(&mut conn, "aof_last_seq").await.parse().unwrap();
    let _: () = conn.set("after", "1").await.unwrap();
    let after: u64 = info_field(&mut conn, "aof_last_seq").await.parse().unwrap();
    assert_eq!(after, before + 1);
    node.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aof_rewrite_online_and_at_rest_keep_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), SMALL_SEGMENTS);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for i in 0..5_000 {
        let _: () = conn.set(format!("k{}", i % 700), i).await.unwrap();
    }
    let expected = all_keys(&mut conn).await;
    let addr = node.addr.to_string();
    let out = ok(&fluxkv(&["aof", "rewrite", "--addr", &addr]));
    assert!(out.contains("rewrote the AOF: base at seq"), "{out}");
    assert!(
        info_field(&mut conn, "aof_base_seq")
            .await
            .parse::<u64>()
            .unwrap()
            >= 5_000,
        "the base does not cover the writes"
    );
    let data_dir = node.data_dir.clone();
    // At rest, the data directory must not be in use.
    let refused = fluxkv(&["aof", "rewrite", "--data-dir", data_dir.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("in use by another process"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    node.terminate();
    let out = ok(&fluxkv(&[
        "aof",
        "rewrite",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]));
    assert!(out.contains("base at seq"), "{out}");
    let node = Node::start(&data_dir, SMALL_SEGMENTS);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    assert!(
        all_keys(&mut conn).await == expected,
        "keys changed by the rewrites"
    );
    node.terminate();

    // `aof check` verifies the base the server would start from.
    let dir_arg = data_dir.to_str().unwrap();
    let out = ok(&fluxkv(&["aof", "check", "--data-dir", dir_arg]));
    assert!(out.contains(".base") && out.contains("ok"), "{out}");
    let base = std::fs::read_dir(data_dir.join("aof"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "base"))
        .unwrap();
    let len = std::fs::metadata(&base).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&base)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let damaged = fluxkv(&["aof", "check", "--data-dir", dir_arg]);
    assert_eq!(damaged.status.code(), Some(2), "a cut base is corruption");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_a_running_node_loads_into_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let source = Node::start(dir.path(), &[]);
    let mut conn = redis::Client::open(source.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for i in 0..3_000 {
        let _: () = conn.set(format!("s{}", i % 1_100), i).await.unwrap();
    }
    let _: () = conn.set_ex("ttl-key", "v", 1_000).await.unwrap();
    let expected = all_keys(&mut conn).await;
    let head: u64 = info_field(&mut conn, "aof_last_seq").await.parse().unwrap();
    let file = dir.path().join("snap.base");
    let out = ok(&fluxkv(&[
        "snapshot",
        "create",
        "--addr",
        &source.grpc_url(),
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["seq"], head, "{out}");
    assert_eq!(report["keys"], expected.len() as u64);
    source.terminate();

    let target = tempfile::tempdir().unwrap();
    let target_dir = target.path().join("data");
    let out = ok(&fluxkv(&[
        "snapshot",
        "load",
        file.to_str().unwrap(),
        "--data-dir",
        target_dir.to_str().unwrap(),
    ]));
    assert!(
        out.contains(&format!("continues at seq {}", head + 1)),
        "{out}"
    );
    let loaded = Node::start(&target_dir, &[]);
    let mut conn = redis::Client::open(loaded.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    assert!(
        all_keys(&mut conn).await == expected,
        "the loaded node differs"
    );
    let ttl: i64 = conn.ttl("ttl-key").await.unwrap();
    assert!(ttl > 900, "the expiry did not travel: ttl {ttl}");
    let _: () = conn.set("new", "1").await.unwrap();
    let last: u64 = info_field(&mut conn, "aof_last_seq").await.parse().unwrap();
    assert_eq!(
        last,
        head + 1,
        "the new node's seqs continue after the snapshot"
    );
    loaded.terminate();

    // Loading into a node that already has data is refused.
    let again = fluxkv(&[
        "snapshot",
        "load",
        file.to_str().unwrap(),
        "--data-dir",
        target_dir.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty data directory"));
}
