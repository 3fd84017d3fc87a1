//! Test harness for the gRPC and HTTP servers: both started in-process on
//! 127.0.0.1:0 over one fresh temporary store, and a Server-Sent Events
//! reader for the HTTP change stream.
//!
//! The store's clock is manual, starting at [`START_MS`], so TTLs are
//! exact. A node built with [`NodeBuilder::trimmed_history`] no longer
//! holds its first seqs in the AOF: history before
//! [`Node::oldest_seq`] is gone, as after retention removed a segment.

#![allow(dead_code, unreachable_pub)]

use fluxkv_ingest::{GrpcConfig, GrpcServer, HttpConfig, HttpServer, IngestError};
use fluxkv_store::{AofOptions, Clock, SetOptions, Store, StoreOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where every manual clock starts: 2023-11-14T22:13:20Z.
pub const START_MS: u64 = 1_700_000_000_000;

/// How long a test waits for anything (a reply, an event) before failing.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeBuilder {
    watermark_interval: Duration,
    keep_alive_interval: Duration,
    max_body_bytes: usize,
    trimmed_history: bool,
}

impl NodeBuilder {
    /// How often an idle watch sends a watermark.
    pub fn watermark_interval(mut self, every: Duration) -> Self {
        self.watermark_interval = every;
        self
    }

    /// How often an idle SSE stream sends a keep-alive comment.
    pub fn keep_alive_interval(mut self, every: Duration) -> Self {
        self.keep_alive_interval = every;
        self
    }

    /// The HTTP server's largest PUT body.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Start from a store whose oldest history a rewrite removed.
    pub fn trimmed_history(mut self) -> Self {
        self.trimmed_history = true;
        self
    }

    /// Opens the store and starts both servers.
    pub async fn start(self) -> Node {
        let dir = tempfile::tempdir().expect("creating a temporary data directory");
        let clock = Clock::manual(START_MS);
        if self.trimmed_history {
            trim_history(dir.path(), &clock).await;
        }
        let (store, _report) = Store::open(dir.path(), store_options(&clock, self.trimmed_history))
            .expect("opening the store");
        let store = Arc::new(store);
        let token = CancellationToken::new();

        let grpc = GrpcServer::bind(
            GrpcConfig {
                addr: "127.0.0.1:0".into(),
                watermark_interval: self.watermark_interval,
                ..GrpcConfig::default()
            },
            store.clone(),
        )
        .await
        .expect("binding the gRPC server on port 0");
        let http = HttpServer::bind(
            HttpConfig {
                addr: "127.0.0.1:0".into(),
                watermark_interval: self.watermark_interval,
                keep_alive_interval: self.keep_alive_interval,
                max_body_bytes: self.max_body_bytes,
                ..HttpConfig::default()
            },
            store.clone(),
        )
        .await
        .expect("binding the HTTP server on port 0");
        let (grpc_addr, http_addr) = (grpc.local_addr(), http.local_addr());
        assert_ne!(grpc_addr.port(), 0, "the gRPC server reports its port");
        assert_ne!(http_addr.port(), 0, "the HTTP server reports its port");
        Node {
            grpc_addr,
            http_addr,
            store,
            clock,
            grpc_task: Some(tokio::spawn(grpc.run(token.clone()))),
            http_task: Some(tokio::spawn(http.run(token.clone()))),
            token,
            _dir: dir,
        }
    }
}

fn store_options(clock: &Clock, small_segments: bool) -> StoreOptions {
    let mut options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    if small_segments {
        options.aof = AofOptions {
            segment_bytes: 4096,
            ..AofOptions::default()
        };
    }
    options
}

/// Writes enough to fill several 4 KiB segments, then rewrites the AOF so
/// that the oldest history is gone.
async fn trim_history(dir: &Path, clock: &Clock) {
    let (store, _) = Store::open(dir, store_options(clock, true)).expect("opening the store");
    for i in 0..200 {
        let key = format!("old:{i:03}");
        let written = store
            .set(key.as_bytes(), &[b'x'; 64], SetOptions::default())
            .expect("writing history");
        // Segments roll over between group commits: commit each write.
        store
            .wait_committed(written.seq.expect("a logged write"))
            .await
            .expect("committing history");
    }
    // A rewrite that no consumer holds history back for deletes the
    // segments its base covers.
    store.set_history_floor(u64::MAX);
    let rewritten = store.rewrite().expect("rewriting the AOF");
    assert!(
        rewritten.purged.segments >= 2,
        "history spans several segments: {rewritten:?}"
    );
    store.close().expect("closing the store");
}

/// A running pair of servers over one store.
#[derive(Debug)]
pub struct Node {
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// The store both serve.
    pub store: Arc<Store>,
    /// The store's manual clock.
    pub clock: Clock,
    token: CancellationToken,
    grpc_task: Option<JoinHandle<Result<(), IngestError>>>,
    http_task: Option<JoinHandle<Result<(), IngestError>>>,
    _dir: TempDir,
}

impl Node {
    /// Settings for a node; `.start()` it.
    pub fn builder() -> NodeBuilder {
        NodeBuilder {
            watermark_interval: Duration::from_secs(1),
            keep_alive_interval: Duration::from_secs(15),
            max_body_bytes: 512 << 20,
            trimmed_history: false,
        }
    }

    /// A node with default settings.
    pub async fn start() -> Node {
        Node::builder().start().await
    }

    /// `http://127.0.0.1:PORT` of the gRPC server.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the HTTP server, followed by `path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// A gRPC channel to the node.
    pub async fn channel(&self) -> tonic::transport::Channel {
        let endpoint = tonic::transport::Endpoint::from_shared(self.grpc_url())
            .expect("a valid URL")
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT);
        tokio::time::timeout(TIMEOUT, endpoint.connect())
            .await
            .expect("connect timed out")
            .expect("connecting to the gRPC server")
    }

    /// The oldest seq the AOF still holds.
    pub fn oldest_seq(&self) -> u64 {
        let mut firsts: Vec<u64> = std::fs::read_dir(self.store.data_dir().join("aof"))
            .expect("listing the AOF")
            .filter_map(|e| {
                let name = e.expect("AOF entry").file_name();
                name.to_str()?.strip_suffix(".aof")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        firsts.first().copied().unwrap_or(1)
    }

    /// Cancels both servers and asserts each `run()` returns `Ok` promptly.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        for (name, task) in [
            ("gRPC", self.grpc_task.take()),
            ("HTTP", self.http_task.take()),
        ] {
            let task = task.expect("not yet shut down");
            let result = tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .unwrap_or_else(|_| panic!("{name} run() returns within 5 s of cancellation"))
                .expect("the server task did not panic");
            result.unwrap_or_else(|e| panic!("{name} run() returns Ok after shutdown: {e}"));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (empty for the default type).
    pub event: String,
    /// `id:`
    pub id: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// The id as a seq.
    pub fn seq(&self) -> u64 {
        self.id
            .as_deref()
            .expect("an event with an id")
            .parse()
            .expect("a numeric id")
    }

    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }
}

/// Reads Server-Sent Events from a streaming response, one at a time.
#[derive(Debug)]
pub struct SseReader {
    response: reqwest::Response,
    buf: Vec<u8>,
    /// Comment lines seen so far (keep-alives).
    pub comments: usize,
}

impl SseReader {
    /// Wraps a response, checking it is an event stream.
    pub fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.status(), 200, "the watch was accepted");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content-type {content_type:?}"
        );
        SseReader {
            response,
            buf: Vec::new(),
            comments: 0,
        }
    }

    /// The next event; fails the test on timeout or end of stream.
    pub async fn next(&mut self) -> SseEvent {
        match tokio::time::timeout(TIMEOUT, self.try_next()).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("the event stream ended"),
            Err(_) => panic!(
                "no event within {TIMEOUT:?} (have {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// The next event, or `None` when the stream ends.
    pub async fn try_next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = find_blank_line(&self.buf) {
                let block: Vec<u8> = self.buf.drain(..end.0).collect();
                self.buf.drain(..end.1 - end.0);
                if let Some(event) = self.parse_block(&block) {
                    return Some(event);
                }
                continue;
            }
            match self
                .response
                .chunk()
                .await
                .expect("reading the event stream")
            {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => return None,
            }
        }
    }

    /// Reads until `n` comment lines (keep-alives) have been seen in all;
    /// fails the test if an event comes first.
    pub async fn until_comments(&mut self, n: usize) {
        let wait = async {
            while self.comments < n {
                if let Some((end, next)) = find_blank_line(&self.buf) {
                    let block: Vec<u8> = self.buf.drain(..end).collect();
                    self.buf.drain(..next - end);
                    if let Some(event) = self.parse_block(&block) {
                        panic!("expected only comments, got {event:?}");
                    }
                    continue;
                }
                match self
                    .response
                    .chunk()
                    .await
                    .expect("reading the event stream")
                {
                    Some(chunk) => self.buf.extend_from_slice(&chunk),
                    None => panic!("the event stream ended"),
                }
            }
        };
        tokio::time::timeout(TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| panic!("{n} comments within {TIMEOUT:?}"));
    }

    /// The next event that is not a watermark.
    pub async fn next_change(&mut self) -> SseEvent {
        loop {
            let event = self.next().await;
            if event.event != "watermark" {
                return event;
            }
        }
    }

    fn parse_block(&mut self, block: &[u8]) -> Option<SseEvent> {
        let text = std::str::from_utf8(block).expect("UTF-8 event stream");
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        let mut fields = 0;
        for line in text.lines() {
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            fields += 1;
            match name {
                "event" => event.event = value.to_string(),
                "id" => event.id = Some(value.to_string()),
                "data" => data.push(value),
                "retry" => {}
                other => panic!("unknown SSE field {other:?} in {text:?}"),
            }
        }
        event.data = data.join("\n");
        (fields > 0).then_some(event)
    }
}

/// The span of the first blank line (`\n\n` or `\r\n\r\n`): where the
/// block ends and where the next begins.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}
