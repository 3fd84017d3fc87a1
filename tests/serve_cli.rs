//! `fluxkv serve` as an operator meets it: defaults, configuration errors,
//! and a graceful shutdown that keeps every write.

mod common;

use common::Node;
use redis::AsyncCommands;
use std::process::Command;

fn serve(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxkv"));
    cmd.arg("serve").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run fluxkv serve")
}

#[test]
fn unknown_config_key_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fluxkv.toml");
    std::fs::write(&config, "[aof]\nfsnyc = \"always\"\n").unwrap();
    let out = serve(&["--config", config.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `fsnyc`"), "{stderr}");
    assert!(stderr.contains("fluxkv.toml"), "{stderr}");
}

#[test]
fn unknown_environment_variable_is_an_error() {
    let out = serve(&[], &[("FLUXKV_RESP_ADRR", "127.0.0.1:1")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FLUXKV_RESP_ADRR"), "{stderr}");
}

#[test]
fn invalid_values_are_errors() {
    let out = serve(&["--aof-fsync", "sometimes"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));
    let out = serve(&["--store-shards", "100"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("power of two"));
}

#[test]
fn data_dir_defaults_to_dot_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args([
            "serve",
            "--resp-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let segment = dir.path().join("data/aof/00000000000000000001.aof");
    let appeared = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        segment.exists()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(appeared, "no AOF segment under ./data/aof");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_everything_and_restart_recovers_it() {
    let dir = tempfile::tempdir().unwrap();
    // `no` never fsyncs while running: only the shutdown path makes the
    // data durable, so this catches a shutdown that skips the flush.
    let node = Node::start(dir.path(), &["--aof-fsync", "no"]);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.set(format!("k{i}"), i).ignore();
    }
    pipe.query_async::<()>(&mut conn).await.unwrap();
    drop(conn);

    let (status, log) = tokio::task::spawn_blocking(move || node.terminate())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}; log: {log:?}");
    assert!(
        log.iter().any(|l| l.contains("AOF flushed and fsynced")),
        "no flush message in {log:?}"
    );

    let node = Node::start(dir.path(), &[]);
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let size: usize = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(size, 5000);
    let last: i64 = conn.get("k4999").await.unwrap();
    assert_eq!(last, 4999);
}

#[test]
fn sigterm_shuts_down_even_when_the_log_reader_is_gone() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args([
            "serve",
            "--resp-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready to accept connections") {
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "node exited before it was ready"
        );
    }
    drop(log); // the reader goes away: every later log write fails
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let exited = (0..200).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        child.try_wait().unwrap()
    });
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = exited.expect("fluxkv did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
}
