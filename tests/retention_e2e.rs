//! AOF retention as an operator sees it: a sink that is down keeps the
//! history it still needs through rewrites, and once that history passes
//! the retention limit the sink fails visibly instead of skipping events.

mod common;

use common::Node;
use redis::AsyncCommands;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A Kafka sink whose broker never answers: it retries forever.
fn config(dir: &Path, retention_limit_bytes: u64) -> std::path::PathBuf {
    let path = dir.join("fluxkv.toml");
    let toml = format!(
        r#"
[aof]
segment_bytes = 4096
auto_rewrite_percentage = 0
retention_limit_bytes = {retention_limit_bytes}

[sinks.down]
kind = "kafka"
brokers = "127.0.0.1:1"
topic = "fluxkv.retention"
retry = {{ initial_backoff_ms = 50, max_backoff_ms = 200 }}
"#
    );
    std::fs::write(&path, toml).unwrap();
    path
}

fn start(dir: &Path, retention_limit_bytes: u64) -> Node {
    let config = config(dir, retention_limit_bytes);
    Node::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

async fn oldest_seq(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("aof_oldest_seq:"))
        .expect("INFO names aof_oldest_seq")
        .trim()
        .parse()
        .unwrap()
}

fn rewrite(node: &Node) {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(["aof", "rewrite", "--addr", &node.addr.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sink_status(node: &Node) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(["sinks", "status", "--json", "--addr", &node.grpc_url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_sink_keeps_its_history_until_the_limit_then_fails_visibly() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), 1 << 30);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for i in 0..3_000 {
        let _: () = conn.set(format!("k{}", i % 100), i).await.unwrap();
    }
    // Let the node tell retention where the sink is, then compact.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    rewrite(&node);
    assert_eq!(
        oldest_seq(&mut conn).await,
        1,
        "a rewrite deleted history a down sink still needs"
    );
    let status = sink_status(&node);
    assert_eq!(status["checkpoint"], 0, "{status}");
    assert_ne!(status["state"], "failed", "{status}");
    node.terminate();

    // Past a tight limit the history goes, and the sink says so.
    let node = start(dir.path(), 16 << 10);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    rewrite(&node);
    assert!(
        oldest_seq(&mut conn).await > 1,
        "the retention limit was not applied"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = sink_status(&node);
        if status["state"] == "failed" || Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["state"], "failed", "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("re-snapshot")),
        "{status}"
    );
    node.terminate();
}
