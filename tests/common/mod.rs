//! Starting `fluxkv serve` as a child process, the way an operator would,
//! on ephemeral ports (RESP, gRPC, HTTP) read back from its "ready" log
//! line.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `fluxkv serve`; killed (SIGKILL) on drop if still running.
pub struct Node {
    pub child: Child,
    /// The RESP address.
    pub addr: SocketAddr,
    /// The gRPC address, when the ready line names one (`grpc=`).
    pub grpc_addr: Option<SocketAddr>,
    /// The HTTP address, when the ready line names one (`http=`).
    pub http_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    log: mpsc::Receiver<String>,
}

impl Node {
    /// Starts a node on `data_dir` with extra flags, waiting until it
    /// listens. Panics with the node's log if it does not come up.
    /// Every listener is on an ephemeral port (so nodes of parallel tests
    /// never collide on a default port) unless `extra` names its address.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fluxkv"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--log-level", "info"]);
        for flag in ["--resp-addr", "--grpc-addr", "--http-addr"] {
            if !extra.contains(&flag) {
                command.args([flag, "127.0.0.1:0"]);
            }
        }
        let mut child = command
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fluxkv serve");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if line.contains("ready to accept connections") {
                        let addr =
                            ready_field(&line, "resp").expect("ready line names the resp address");
                        return Node {
                            child,
                            addr,
                            grpc_addr: ready_field(&line, "grpc"),
                            http_addr: ready_field(&line, "http"),
                            data_dir: data_dir.to_path_buf(),
                            log: rx,
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "fluxkv serve did not become ready; log:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// The redis URL of the node.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// The gRPC URL of the node (`http://host:port`); panics with a clear
    /// message when the node does not serve gRPC.
    pub fn grpc_url(&self) -> String {
        let addr = self
            .grpc_addr
            .expect("the node's ready line names no grpc= address: does `fluxkv serve` run gRPC?");
        format!("http://{addr}")
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits for a clean exit and returns the log lines
    /// printed after startup.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait for fluxkv");
        let lines = self.log.try_iter().collect();
        (exit, lines)
    }
}

/// The address in the ready line's `name=` field, if there is one.
fn ready_field(line: &str, name: &str) -> Option<SocketAddr> {
    let prefix = format!("{name}=");
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(&prefix))
        .map(|addr| {
            addr.parse()
                .unwrap_or_else(|e| panic!("{name} address {addr:?} in the ready line: {e}"))
        })
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `fluxkv bench` with `args`.
pub fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fluxkv"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run fluxkv bench")
}

/// Runs a benchmark that must succeed and returns its JSON report.
pub fn bench_json(args: &[&str]) -> serde_json::Value {
    let output = bench(args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "fluxkv bench {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"))
}
