//! `fluxkv bench --grpc` and `--watch-latency` against a real
//! `fluxkv serve`.

mod common;

use common::{Node, bench, bench_json};

fn dbsize(node: &Node) -> u64 {
    let mut conn = redis::Client::open(node.url())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("DBSIZE").query(&mut conn).unwrap()
}

#[test]
fn grpc_set_sends_exactly_n_requests() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let addr = node.grpc_url();
    let report = bench_json(&[
        "--grpc",
        "--addr",
        &addr,
        "-n",
        "2000",
        "--in-flight",
        "20",
        "-c",
        "2",
        "-r",
        "500",
        "--json",
    ]);

    assert_eq!(report["protocol"], "grpc", "{report}");
    assert_eq!(report["requests"], 2000, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["in_flight"], 20, "{report}");
    assert!(report["throughput_rps"].as_f64().unwrap() > 0.0, "{report}");
    assert!(
        report["latency_ms"]["max"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let keys = dbsize(&node);
    assert!(keys > 0 && keys <= 500, "DBSIZE {keys} outside 1..=500");
}

#[test]
fn grpc_get_runs_for_a_duration() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let addr = node.grpc_url();
    let report = bench_json(&[
        "--grpc",
        "--addr",
        &addr,
        "-t",
        "get",
        "--duration",
        "0.5",
        "--json",
    ]);

    assert_eq!(report["workload"], "get", "{report}");
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    // Missing keys are an empty answer, not an error.
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(dbsize(&node), 0, "a GET run wrote something");
}

#[test]
fn watch_latency_sees_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let addr = node.grpc_url();
    let report = bench_json(&[
        "--watch-latency",
        "--addr",
        &addr,
        "--rate",
        "2000",
        "--duration",
        "1",
        "--json",
    ]);

    assert_eq!(report["mode"], "watch-latency", "{report}");
    let writes = report["writes"].as_u64().unwrap();
    assert_eq!(writes, 2000, "rate × duration writes: {report}");
    assert_eq!(report["write_errors"], 0, "{report}");
    assert_eq!(
        report["events"], writes,
        "every write's event arrived: {report}"
    );
    assert_eq!(report["missing"], 0, "{report}");
    assert_eq!(report["duplicates"], 0, "{report}");
    let latency = &report["latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() <= latency["max"].as_f64().unwrap());
    assert!(report["rate_achieved"].as_f64().unwrap() > 0.0, "{report}");
}

#[test]
fn grpc_flags_are_refused_without_grpc() {
    let output = bench(&["--addr", "http://127.0.0.1:1", "-n", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--addr"), "stderr: {stderr}");
}

#[test]
fn unreachable_grpc_server_fails_clearly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let output = bench(&["--grpc", "--addr", &addr, "-n", "10"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect"), "stderr: {stderr}");
}
