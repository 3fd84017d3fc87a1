//! End-to-end tests of `fluxkv bench`: the real binary against a private
//! `redis-server` started on a free port for each test.

mod common;

use common::{bench, bench_json};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process, killed when dropped, so a failing
/// assertion never leaves a server behind.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        Redis::start_with(&[])
    }

    fn start_with(extra_args: &[&str]) -> Redis {
        // The port is free when picked but could be taken before redis-server
        // binds it (another test picking the same one), so retry a few times.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--loglevel", "warning"])
                .args(extra_args)
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start redis-server ({e}): these tests need it on PATH; \
                         run scripts/test.sh, which installs it"
                    )
                });
            // Guard first, so the child is killed even if it never comes up.
            let mut redis = Redis { child, port };
            match redis.wait_until_ready() {
                Ok(()) => return redis,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("{last_failure}");
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited early: {status}",
                    self.port
                ));
            }
            if self.try_command("PING").is_ok_and(|reply| reply == "+PONG") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {} did not answer PING within 10 s",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a one-word command and returns its single-line reply.
    fn try_command(&self, command: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(stream, "*1\r\n${}\r\n{command}\r\n", command.len())?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    }

    fn dbsize(&self) -> u64 {
        let reply = self.try_command("DBSIZE").expect("DBSIZE");
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected DBSIZE reply {reply:?}"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now: bind port 0, note it, release it.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

#[test]
fn set_sends_exactly_n_requests_within_the_keyspace() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let report = bench_json(&[
        "--port", &port, "-t", "set", "-n", "2000", "-c", "4", "-P", "8", "-r", "500", "--json",
    ]);

    assert_eq!(report["requests"], 2000, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["throughput_rps"].as_f64().unwrap() > 0.0, "{report}");
    assert!(
        report["latency_ms"]["max"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let keys = redis.dbsize();
    assert!(keys > 0 && keys <= 500, "DBSIZE {keys} outside 1..=500");
}

#[test]
fn get_runs_for_a_duration() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let report = bench_json(&[
        "--port",
        &port,
        "-t",
        "get",
        "--duration",
        "1",
        "-c",
        "4",
        "--json",
    ]);

    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    // Missing keys answer with a null bulk, which is not an error.
    assert_eq!(report["errors"], 0, "{report}");
}

#[test]
fn error_replies_are_counted_not_fatal() {
    // With a 1-byte memory limit and no eviction every SET is refused with
    // an OOM error reply, while the connection stays usable.
    let redis = Redis::start_with(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]);
    let port = redis.port.to_string();
    let report = bench_json(&[
        "--port", &port, "-t", "set", "-n", "100", "-c", "2", "-P", "4", "--json",
    ]);

    assert_eq!(report["requests"], 100, "{report}");
    assert_eq!(report["errors"], 100, "{report}");
    let first_error = report["first_error"].as_str().unwrap_or_default();
    assert!(first_error.starts_with("OOM"), "{report}");
}

#[test]
fn unreachable_server_fails_clearly() {
    let port = free_port().to_string();
    let output = bench(&["--port", &port, "-n", "10"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded against a closed port");
    assert!(stderr.contains("cannot connect"), "stderr: {stderr}");
}
