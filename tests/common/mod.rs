//! Starting `fluxkv serve` as a child process, the way an operator would,
//! on an ephemeral port read back from its "ready" log line.

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
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    log: mpsc::Receiver<String>,
}

impl Node {
    /// Starts a node on `data_dir` with extra flags, waiting until it
    /// listens. Panics with the node's log if it does not come up.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fluxkv"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--resp-addr", "127.0.0.1:0", "--log-level", "info"])
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
                        let addr = line
                            .split_whitespace()
                            .find_map(|field| field.strip_prefix("resp="))
                            .expect("ready line names the resp address")
                            .parse()
                            .expect("resp address parses");
                        return Node {
                            child,
                            addr,
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

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
