//! `fluxkv watch` against a real `fluxkv serve`: writes go in over RESP,
//! the change stream comes out of the CLI, parsed the way a script would.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::Node;
use fluxkv_schemas::Encoding;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A watch that has not exited within this long is a failure, not a hang.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a finished `fluxkv watch` left behind.
struct Watched {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Watched {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Every stdout line as JSON.
    fn json(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
            })
            .collect()
    }

    fn assert_success(&self) {
        assert!(
            self.status.success(),
            "fluxkv watch failed ({}); stderr:\n{}\nstdout:\n{}",
            self.status,
            self.stderr,
            self.stdout
        );
    }
}

fn watch_command(node: &Node, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fluxkv"));
    command
        .arg("watch")
        .args(["--addr", &node.grpc_url()])
        .args(args)
        .env_remove("FLUXKV_WATCH_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `fluxkv watch` to completion (killing it after [`TIMEOUT`]).
fn watch(node: &Node, args: &[&str]) -> Watched {
    let child = watch_command(node, args)
        .spawn()
        .expect("spawn fluxkv watch");
    finish(child, args)
}

fn finish(mut child: Child, args: &[&str]) -> Watched {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for fluxkv watch") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "fluxkv watch {args:?} still running after {TIMEOUT:?}; stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Watched {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// All of `pipe` (nothing when the test took it over).
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_string(&mut text).expect("read output");
        }
        text
    })
}

/// A running watch's stdout, line by line, without blocking the test
/// forever when the lines do not come.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Lines {
        let stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    fn next(&self) -> String {
        self.0
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("no line from fluxkv watch within {TIMEOUT:?}"))
    }

    /// The lines left once the watch has exited.
    fn rest(self) -> Vec<String> {
        self.0.iter().collect()
    }
}

fn redis(node: &Node) -> redis::Connection {
    redis::Client::open(node.url())
        .unwrap()
        .get_connection()
        .expect("connect over RESP")
}

fn exec(conn: &mut redis::Connection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query::<redis::Value>(conn)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

/// The (op, key, value) of a change event.
type Change<'a> = (&'a str, &'a str, Option<&'a str>);

/// The writes every test makes, and the change each one logs.
const WRITES: &[(&[&str], Change<'static>)] = &[
    (
        &["SET", "user:1", "alice"],
        ("set", "user:1", Some("alice")),
    ),
    (
        &["SET", "order:7", "pending"],
        ("set", "order:7", Some("pending")),
    ),
    (&["SET", "user:2", "bob"], ("set", "user:2", Some("bob"))),
    (&["DEL", "user:1"], ("del", "user:1", None)),
    (
        &["SET", "order:7", "paid"],
        ("set", "order:7", Some("paid")),
    ),
    (&["INCR", "hits"], ("set", "hits", Some("1"))),
    (&["DEL", "order:7"], ("del", "order:7", None)),
];

fn start_with_writes(dir: &Path) -> Node {
    let node = Node::start(dir, &[]);
    let mut conn = redis(&node);
    for (command, _) in WRITES {
        exec(&mut conn, command);
    }
    node
}

/// (op, key, value) of an event line.
fn summary(event: &Value) -> (String, String, Option<String>) {
    assert_eq!(event["type"], "event", "{event}");
    assert_eq!(event["encoding"], "utf8", "{event}");
    (
        event["op"].as_str().unwrap().to_owned(),
        event["key"].as_str().unwrap().to_owned(),
        event["value"].as_str().map(str::to_owned),
    )
}

fn expected(filter: impl Fn(&Change<'_>) -> bool) -> Vec<(String, String, Option<String>)> {
    WRITES
        .iter()
        .map(|(_, logged)| logged)
        .filter(|logged| filter(logged))
        .map(|(op, key, value)| (op.to_string(), key.to_string(), value.map(str::to_owned)))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[test]
fn from_1_until_idle_prints_every_change_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    let watched = watch(&node, &["--from", "1", "--until-idle"]);
    watched.assert_success();
    let events = watched.json();
    let got: Vec<_> = events.iter().map(summary).collect();
    assert_eq!(got, expected(|_| true));
    let seqs = seqs(&events);
    let consecutive: Vec<u64> = (1..=WRITES.len() as u64).collect();
    assert_eq!(seqs, consecutive, "a fresh node's seqs, in order, no gaps");
    let node_id = events[0]["node"].as_str().unwrap();
    assert!(!node_id.is_empty());
    assert!(events.iter().all(|e| e["node"] == node_id));
}

#[test]
fn prefix_and_op_filter_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    let users = watch(&node, &["--from", "1", "--until-idle", "--prefix", "user:"]);
    users.assert_success();
    let got: Vec<_> = users.json().iter().map(summary).collect();
    assert_eq!(got, expected(|(_, key, _)| key.starts_with("user:")));

    let deletes = watch(&node, &["--from", "1", "--until-idle", "--op", "del"]);
    deletes.assert_success();
    let got: Vec<_> = deletes.json().iter().map(summary).collect();
    assert_eq!(got, expected(|(op, _, _)| *op == "del"));

    // Repeated flags: any of the prefixes, and any of the ops.
    let both = watch(
        &node,
        &[
            "--from",
            "1",
            "--until-idle",
            "--prefix",
            "order:",
            "--prefix",
            "hits",
            "--op",
            "set",
        ],
    );
    both.assert_success();
    let got: Vec<_> = both.json().iter().map(summary).collect();
    assert_eq!(
        got,
        expected(|(op, key, _)| *op == "set" && (key.starts_with("order:") || *key == "hits"))
    );

    let bad = watch(&node, &["--from", "1", "--until-idle", "--op", "sett"]);
    assert!(!bad.status.success());
    assert!(bad.stderr.contains("sett"), "{}", bad.stderr);
}

#[test]
fn avro_lines_are_base64_events_that_decode() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    let json = watch(&node, &["--from", "1", "--until-idle"]);
    json.assert_success();
    for (encoding, name) in [
        (Encoding::Avro, "avro"),
        (
            Encoding::AvroConfluent { schema_id: 42 },
            "avro-confluent:42",
        ),
        (Encoding::Protobuf, "protobuf"),
    ] {
        let binary = watch(&node, &["--from", "1", "--until-idle", "--format", name]);
        binary.assert_success();
        let lines = binary.lines();
        assert_eq!(lines.len(), WRITES.len(), "{name}: {}", binary.stdout);
        for (line, json_line) in lines.iter().zip(json.lines()) {
            let bytes = STANDARD
                .decode(line)
                .unwrap_or_else(|e| panic!("{name} line is not base64 ({e}): {line:?}"));
            let event = encoding
                .decode(&bytes)
                .unwrap_or_else(|e| panic!("{name} line does not decode ({e}): {line:?}"));
            let same = Encoding::Json.decode(json_line.as_bytes()).unwrap();
            assert_eq!(event, same, "{name}");
        }
    }

    let refused = watch(&node, &["--from", "1", "--format", "avro", "--watermarks"]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("--watermarks"),
        "{}",
        refused.stderr
    );
}

#[test]
fn count_exits_after_n_events() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    // No --until-idle: only --count ends this watch.
    let watched = watch(&node, &["--from", "1", "--count", "2"]);
    watched.assert_success();
    let got: Vec<_> = watched.json().iter().map(summary).collect();
    assert_eq!(got, expected(|_| true)[..2]);
}

#[test]
fn from_n_plus_1_resumes_with_exactly_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    let all = watch(&node, &["--from", "1", "--until-idle"]);
    all.assert_success();
    let lines = all.lines();
    let third: Value = serde_json::from_str(lines[2]).unwrap();
    let resume = (third["seq"].as_u64().unwrap() + 1).to_string();

    let rest = watch(&node, &["--from", &resume, "--until-idle"]);
    rest.assert_success();
    assert_eq!(rest.lines(), lines[3..], "the same lines, byte for byte");
}

#[test]
fn watermarks_follow_the_last_event() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    let watched = watch(&node, &["--from", "1", "--until-idle", "--watermarks"]);
    watched.assert_success();
    let items = watched.json();
    let (mark, events) = items.split_last().expect("some output");
    assert_eq!(mark["type"], "watermark", "{mark}");
    assert_eq!(events.len(), WRITES.len());
    assert_eq!(mark["last_seq"], events.last().unwrap()["seq"]);
    assert_eq!(mark["node"], events[0]["node"]);
}

#[test]
fn a_seq_older_than_the_aof_fails_naming_the_oldest_seq() {
    let dir = tempfile::tempdir().unwrap();
    // No history is kept past what a base covers.
    let small = [
        "--aof-segment-bytes",
        "4096",
        "--aof-retention-limit-bytes",
        "0",
    ];
    let node = Node::start(dir.path(), &small);
    let mut conn = redis(&node);
    let value = "v".repeat(200);
    for i in 0..100 {
        exec(&mut conn, &["SET", &format!("k{i}"), &value]);
    }
    drop(conn);
    // A rewrite deletes the segments its base covers.
    let rewrite = std::process::Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .args(["aof", "rewrite", "--addr", &node.addr.to_string()])
        .output()
        .unwrap();
    assert!(rewrite.status.success(), "{rewrite:?}");
    let (status, log) = node.terminate();
    assert!(status.success(), "{status}: {log:?}");

    let aof = dir.path().join("aof");
    let oldest = std::fs::read_dir(&aof)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "aof"))
        .map(|path| -> u64 { path.file_stem().unwrap().to_str().unwrap().parse().unwrap() })
        .min()
        .unwrap();
    assert!(oldest > 1, "the rewrite kept all history");

    let node = Node::start(dir.path(), &small);
    let gone = watch(&node, &["--from", "1", "--until-idle"]);
    assert!(
        !gone.status.success(),
        "history from seq 1 is gone, yet: {}",
        gone.stdout
    );
    assert!(gone.stdout.is_empty(), "printed: {}", gone.stdout);
    assert!(
        gone.stderr
            .contains(&format!("oldest retained seq is {oldest}"))
            && gone.stderr.contains(&format!("--from {oldest}")),
        "stderr: {}",
        gone.stderr
    );

    // What is left starts exactly there.
    let left = watch(&node, &["--from", &oldest.to_string(), "--until-idle"]);
    left.assert_success();
    let events = left.json();
    assert_eq!(seqs(&events).first(), Some(&oldest));
    assert_eq!(*seqs(&events).last().unwrap(), 100);
}

#[test]
fn a_closed_stdout_ends_the_watch_successfully() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_with_writes(dir.path());

    // --watermarks: something is written every second, so the closed pipe
    // is noticed even when no change comes.
    let mut child = watch_command(&node, &["--from", "1", "--watermarks"])
        .spawn()
        .unwrap();
    let stdout = Lines::of(&mut child);
    let first = stdout.next();
    assert!(first.contains("\"type\":\"event\""), "{first}");
    drop(stdout); // like `| head -1`
    let watched = finish(child, &["--from", "1", "--watermarks"]);
    watched.assert_success();
    assert!(watched.stderr.is_empty(), "stderr: {}", watched.stderr);
}

#[test]
fn a_broken_connection_fails_or_with_retry_resumes_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    let grpc_addr = node.grpc_addr.expect("grpc address").to_string();
    let mut conn = redis(&node);
    for i in 0..3 {
        exec(&mut conn, &["SET", &format!("before:{i}"), "x"]);
    }
    drop(conn);

    let retrying_args = [
        "--from",
        "1",
        "--retry",
        "--retry-max-delay",
        "0.5",
        "--count",
        "6",
    ];
    let mut retrying = watch_command(&node, &retrying_args).spawn().unwrap();
    let plain_args = ["--from", "1"];
    let mut plain = watch_command(&node, &plain_args).spawn().unwrap();
    // Both have printed the first three events before the node goes away.
    let retrying_out = Lines::of(&mut retrying);
    let mut printed: Vec<String> = (0..3).map(|_| retrying_out.next()).collect();
    let plain_out = Lines::of(&mut plain);
    for _ in 0..3 {
        plain_out.next();
    }

    let (status, _) = node.terminate();
    assert!(status.success());
    let plain = finish(plain, &plain_args);
    assert!(!plain.status.success(), "the plain watch outlived its node");
    assert!(
        plain.stderr.contains("--from 4"),
        "stderr: {}",
        plain.stderr
    );

    // Same data, same gRPC address: the retrying watch comes back.
    let node = Node::start(dir.path(), &["--grpc-addr", &grpc_addr]);
    let mut conn = redis(&node);
    for i in 0..3 {
        exec(&mut conn, &["SET", &format!("after:{i}"), "y"]);
    }
    let retried = finish(retrying, &retrying_args);
    retried.assert_success();
    printed.extend(retrying_out.rest());
    assert!(
        retried.stderr.contains("reconnecting"),
        "stderr: {}",
        retried.stderr
    );
    let events: Vec<Value> = printed
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        seqs(&events),
        vec![1, 2, 3, 4, 5, 6],
        "nothing twice, nothing skipped"
    );
    let keys: Vec<&str> = events.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "before:0", "before:1", "before:2", "after:0", "after:1", "after:2"
        ]
    );
}
