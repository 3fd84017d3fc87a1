//! Test harness for the RESP server: an in-process server on port 0 over a
//! fresh temporary store, and a raw RESP client that reads one complete
//! reply at a time (RESP2 and RESP3 types).
//!
//! Every server starts with a manual clock at [`START_MS`], so TTLs are
//! exact and only move when a test calls [`TestServer::advance_ms`].
//!
//! To check the expectations themselves against a real Redis, start one
//! on a spare port and run e.g.
//! `FLUXKV_TEST_REFERENCE=127.0.0.1:7777 cargo test -p fluxkv-ingest --test commands -- --test-threads=1`:
//! servers built with [`TestServer::start`] then point at that Redis (it
//! is flushed at the start of every test, so never use a shared one; port
//! 6379 is refused). Tests that need the in-process store or clock fail
//! in that mode.

#![allow(dead_code, unreachable_pub)]

use fluxkv_ingest::{IngestError, Limits, RespConfig, RespServer};
use fluxkv_store::{Clock, Store, StoreOptions};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where every manual clock starts: 2023-11-14T22:13:20Z.
pub const START_MS: u64 = 1_700_000_000_000;

/// How long a test waits for one reply before failing.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    requirepass: Option<String>,
    limits: Limits,
    max_clients: usize,
}

impl ServerBuilder {
    /// Requires AUTH with this password.
    pub fn requirepass(mut self, password: &str) -> Self {
        self.requirepass = Some(password.into());
        self
    }

    /// Request size limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Largest bulk string.
    pub fn max_bulk_len(mut self, len: usize) -> Self {
        self.limits.max_bulk_len = len;
        self
    }

    /// Longest inline line.
    pub fn max_inline_len(mut self, len: usize) -> Self {
        self.limits.max_inline_len = len;
        self
    }

    /// Connection limit.
    pub fn max_clients(mut self, max: usize) -> Self {
        self.max_clients = max;
        self
    }

    /// Starts the server in-process on 127.0.0.1:0.
    pub async fn start(self) -> TestServer {
        let dir = tempfile::tempdir().expect("creating a temporary data directory");
        let clock = Clock::manual(START_MS);
        let options = StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        let (store, _report) = Store::open(dir.path(), options).expect("opening the store");
        let store = Arc::new(store);
        let config = RespConfig {
            addr: "127.0.0.1:0".into(),
            requirepass: self.requirepass,
            limits: self.limits,
            max_clients: self.max_clients,
        };
        let server = RespServer::bind(config, store.clone())
            .await
            .expect("binding the RESP server on port 0");
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0, "the server reports the port it bound");
        let token = CancellationToken::new();
        let handle = tokio::spawn(server.run(token.clone()));
        TestServer {
            addr,
            local: Some(Local {
                store,
                clock,
                token,
                handle: Some(handle),
                dir: Some(dir),
            }),
        }
    }
}

/// A running server: in-process (normally) or a reference Redis.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    local: Option<Local>,
}

#[derive(Debug)]
struct Local {
    store: Arc<Store>,
    clock: Clock,
    token: CancellationToken,
    handle: Option<JoinHandle<Result<(), IngestError>>>,
    dir: Option<TempDir>,
}

/// What is left of a server after [`TestServer::shutdown`]: its store
/// (still open) and its data directory (deleted on drop).
#[derive(Debug)]
pub struct Stopped {
    pub store: Arc<Store>,
    pub dir: TempDir,
}

impl TestServer {
    /// Settings for a server; `.start()` it.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            requirepass: None,
            limits: Limits::default(),
            max_clients: 10_000,
        }
    }

    /// A server with default settings (or the reference Redis named by
    /// `FLUXKV_TEST_REFERENCE`, flushed).
    pub async fn start() -> TestServer {
        if let Ok(addr) = std::env::var("FLUXKV_TEST_REFERENCE") {
            let addr: SocketAddr = addr.parse().expect("FLUXKV_TEST_REFERENCE is host:port");
            assert_ne!(addr.port(), 6379, "refusing to flush a Redis on 6379");
            let server = TestServer { addr, local: None };
            let mut client = server.connect().await;
            assert_eq!(client.cmd(&["FLUSHALL"]).await, ok());
            return server;
        }
        TestServer::builder().start().await
    }

    /// A new raw client connection.
    pub async fn connect(&self) -> RespClient {
        RespClient::connect(self.addr).await
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    fn local(&self) -> &Local {
        self.local
            .as_ref()
            .expect("this test needs the in-process server (not FLUXKV_TEST_REFERENCE)")
    }

    /// The server's store.
    pub fn store(&self) -> &Arc<Store> {
        &self.local().store
    }

    /// The store's "now" (the system clock for a reference Redis).
    pub fn now_ms(&self) -> u64 {
        match &self.local {
            Some(local) => local.clock.now_ms(),
            None => Clock::System.now_ms(),
        }
    }

    /// Moves the manual clock forward.
    pub fn advance_ms(&self, by: u64) {
        self.local().clock.advance_ms(by);
    }

    /// Cancels the server and waits for `run()` to return `Ok`; the store
    /// stays open and the data directory stays on disk.
    pub async fn shutdown(mut self) -> Stopped {
        let mut local = self.local.take().expect("an in-process server");
        local.token.cancel();
        let handle = local.handle.take().expect("not yet shut down");
        let result = tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("run() returns within 10 s of cancellation")
            .expect("the server task did not panic");
        result.expect("run() returns Ok after a graceful shutdown");
        Stopped {
            store: local.store.clone(),
            dir: local.dir.take().expect("data directory"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(local) = self.local.as_mut() else {
            return;
        };
        local.token.cancel();
        let Some(handle) = local.handle.take() else {
            return;
        };
        // Wait for the server to stop where that is possible (a blocking
        // wait needs a multi-thread runtime); otherwise cancelling is all.
        if std::thread::panicking() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current()
            && runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            let _ = tokio::task::block_in_place(|| {
                runtime.block_on(tokio::time::timeout(Duration::from_secs(10), handle))
            });
        }
    }
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// One RESP2 or RESP3 reply.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `+text`
    Simple(String),
    /// `-text`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n` (`None` for RESP2's `$-1`)
    Bulk(Option<Vec<u8>>),
    /// `*n` (`None` for RESP2's `*-1`)
    Array(Option<Vec<Value>>),
    /// RESP3 `_`
    Null,
    /// RESP3 `%n`
    Map(Vec<(Value, Value)>),
    /// RESP3 `=n` with its three-letter format
    Verbatim(String, Vec<u8>),
    /// RESP3 `~n`
    Set(Vec<Value>),
    /// RESP3 `,x`
    Double(f64),
    /// RESP3 `#t` / `#f`
    Boolean(bool),
    /// RESP3 `(n`
    BigNumber(String),
    /// RESP3 `>n`
    Push(Vec<Value>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{s:?}"),
            Value::Error(s) => write!(f, "-{s:?}"),
            Value::Int(n) => write!(f, ":{n}"),
            Value::Bulk(None) => write!(f, "nil"),
            Value::Bulk(Some(b)) => write!(f, "${:?}", String::from_utf8_lossy(b)),
            Value::Array(None) => write!(f, "*nil"),
            Value::Array(Some(items)) => f.debug_list().entries(items).finish(),
            Value::Null => write!(f, "_null"),
            Value::Map(pairs) => f
                .debug_map()
                .entries(pairs.iter().map(|(k, v)| (k, v)))
                .finish(),
            Value::Verbatim(format, b) => {
                write!(f, "={format}:{:?}", String::from_utf8_lossy(b))
            }
            Value::Set(items) => {
                write!(f, "~")?;
                f.debug_set().entries(items).finish()
            }
            Value::Double(x) => write!(f, ",{x}"),
            Value::Boolean(b) => write!(f, "#{b}"),
            Value::BigNumber(n) => write!(f, "({n}"),
            Value::Push(items) => {
                write!(f, ">")?;
                f.debug_list().entries(items).finish()
            }
        }
    }
}

/// `+OK`
pub fn ok() -> Value {
    Value::Simple("OK".into())
}

/// `+text`
pub fn simple(text: &str) -> Value {
    Value::Simple(text.into())
}

/// `-text`
pub fn err(text: &str) -> Value {
    Value::Error(text.into())
}

/// `:n`
pub fn int(n: i64) -> Value {
    Value::Int(n)
}

/// A bulk string.
pub fn bulk(data: impl AsRef<[u8]>) -> Value {
    Value::Bulk(Some(data.as_ref().to_vec()))
}

/// RESP2's null bulk string.
pub fn nil() -> Value {
    Value::Bulk(None)
}

/// An array of bulk strings.
pub fn bulks<S: AsRef<[u8]>>(items: &[S]) -> Value {
    Value::Array(Some(items.iter().map(bulk).collect()))
}

/// An array.
pub fn array(items: Vec<Value>) -> Value {
    Value::Array(Some(items))
}

impl Value {
    /// The bytes of a bulk, simple or verbatim string.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Value::Bulk(Some(b)) | Value::Verbatim(_, b) => b,
            Value::Simple(s) => s.as_bytes(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    /// The text of a string reply.
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes().to_vec()).expect("UTF-8 reply")
    }

    /// An integer reply.
    pub fn as_int(&self) -> i64 {
        match self {
            Value::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The elements of an array (or set, or push) reply.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(Some(items)) | Value::Set(items) | Value::Push(items) => items,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    /// The pairs of a RESP3 map, or of a RESP2 array read as key, value, ….
    pub fn pairs(&self) -> Vec<(Value, Value)> {
        match self {
            Value::Map(pairs) => pairs.clone(),
            Value::Array(Some(items)) => {
                assert!(items.len() % 2 == 0, "odd-length array as map: {self:?}");
                items
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect()
            }
            other => panic!("expected a map reply, got {other:?}"),
        }
    }

    /// The value under `key` in a map reply.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k.bytes() == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// The text of an error reply.
    pub fn error_text(&self) -> &str {
        match self {
            Value::Error(text) => text,
            other => panic!("expected an error reply, got {other:?}"),
        }
    }
}

/// Parses one complete reply from the start of `buf`: `Ok(None)` when more
/// bytes are needed, otherwise the reply and the bytes it used.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Value, usize)>, String> {
    parse_at(buf, 0)
}

fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..cr], pos + cr + 2))
}

fn number(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad number {:?}", String::from_utf8_lossy(line)))
}

fn text_of(line: &[u8]) -> Result<String, String> {
    String::from_utf8(line.to_vec()).map_err(|_| "non-UTF-8 line".to_string())
}

fn parse_at(buf: &[u8], pos: usize) -> Result<Option<(Value, usize)>, String> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((line, next)) = line_at(buf, pos + 1) else {
        return Ok(None);
    };
    let aggregate = |buf: &[u8], count: i64, next: usize| {
        let mut items = Vec::new();
        let mut at = next;
        for _ in 0..count {
            match parse_at(buf, at)? {
                Some((item, after)) => {
                    items.push(item);
                    at = after;
                }
                None => return Ok(None),
            }
        }
        Ok::<_, String>(Some((items, at)))
    };
    let blob = |buf: &[u8], len: i64, next: usize| {
        let len = usize::try_from(len).map_err(|_| format!("bad length {len}"))?;
        if buf.len() < next + len + 2 {
            return Ok(None);
        }
        if &buf[next + len..next + len + 2] != b"\r\n" {
            return Err("blob not terminated by CRLF".to_string());
        }
        Ok::<_, String>(Some((buf[next..next + len].to_vec(), next + len + 2)))
    };
    Ok(match kind {
        b'+' => Some((Value::Simple(text_of(line)?), next)),
        b'-' => Some((Value::Error(text_of(line)?), next)),
        b':' => Some((Value::Int(number(line)?), next)),
        b'_' => Some((Value::Null, next)),
        b'#' => Some((Value::Boolean(line == b"t"), next)),
        b',' => {
            let text = text_of(line)?;
            let x = match text.as_str() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => other.parse().map_err(|_| format!("bad double {other}"))?,
            };
            Some((Value::Double(x), next))
        }
        b'(' => Some((Value::BigNumber(text_of(line)?), next)),
        b'$' => match number(line)? {
            -1 => Some((Value::Bulk(None), next)),
            len => blob(buf, len, next)?.map(|(b, after)| (Value::Bulk(Some(b)), after)),
        },
        b'=' => blob(buf, number(line)?, next)?
            .map(|(b, after)| {
                if b.len() < 4 || b[3] != b':' {
                    return Err("verbatim string without a format".to_string());
                }
                let format = text_of(&b[..3])?;
                Ok((Value::Verbatim(format, b[4..].to_vec()), after))
            })
            .transpose()?,
        b'!' => blob(buf, number(line)?, next)?.map(|(b, after)| {
            (
                Value::Error(String::from_utf8_lossy(&b).into_owned()),
                after,
            )
        }),
        b'*' => match number(line)? {
            -1 => Some((Value::Array(None), next)),
            n => aggregate(buf, n, next)?.map(|(items, after)| (Value::Array(Some(items)), after)),
        },
        b'~' => {
            aggregate(buf, number(line)?, next)?.map(|(items, after)| (Value::Set(items), after))
        }
        b'>' => {
            aggregate(buf, number(line)?, next)?.map(|(items, after)| (Value::Push(items), after))
        }
        b'%' => aggregate(buf, number(line)? * 2, next)?.map(|(items, after)| {
            let pairs = items
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            (Value::Map(pairs), after)
        }),
        other => return Err(format!("unknown reply type byte {:?}", char::from(other))),
    })
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// Encodes a command as a RESP multibulk array.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw RESP client over one TCP connection.
#[derive(Debug)]
pub struct RespClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RespClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> RespClient {
        let stream = tokio::time::timeout(REPLY_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connecting to the server");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        RespClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one command and reads its reply.
    pub async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        self.send(args).await;
        self.read().await
    }

    /// Sends one command without reading.
    pub async fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.send_raw(&encode(args)).await;
    }

    /// Sends bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("writing to the server");
    }

    /// Sends bytes, tolerating a connection the server already closed.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one complete reply; fails the test on EOF, garbage or timeout.
    pub async fn read(&mut self) -> Value {
        match self.try_read().await {
            Some(value) => value,
            None => panic!(
                "the server closed the connection before a complete reply (have {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Reads one complete reply, or `None` on a clean EOF (or a reset)
    /// with nothing buffered.
    pub async fn try_read(&mut self) -> Option<Value> {
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((value, used))) => {
                    self.buf.drain(..used);
                    return Some(value);
                }
                Ok(None) => {}
                Err(e) => panic!(
                    "malformed reply ({e}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
            self.buf.reserve(64 << 10);
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no complete reply within {REPLY_TIMEOUT:?} (have {:?})",
                        String::from_utf8_lossy(&self.buf)
                    )
                });
            match read {
                Ok(0) | Err(_) => {
                    assert!(
                        self.buf.is_empty(),
                        "connection closed inside a reply: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    return None;
                }
                Ok(_) => {}
            }
        }
    }

    /// Asserts the server closes the connection with nothing more to say.
    pub async fn expect_closed(&mut self) {
        if let Some(value) = self.try_read().await {
            panic!("expected the connection to be closed, got {value:?}");
        }
    }
}

/// Sends a command and asserts its reply:
/// `assert_reply!(client, ["GET", "k"], nil())`. Arguments may be anything
/// that is `AsRef<[u8]>` (`&str`, `String`, `b"…"`, `Vec<u8>`).
#[macro_export]
macro_rules! assert_reply {
    ($client:expr, [$($arg:expr),+ $(,)?], $expected:expr $(, $why:expr)? $(,)?) => {{
        let args: Vec<Vec<u8>> = vec![$(AsRef::<[u8]>::as_ref(&$arg).to_vec()),+];
        let got = $client.cmd(&args).await;
        let why: &[&str] = &[$($why)?];
        assert_eq!(
            got,
            $expected,
            "reply to {:?} {}",
            args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>(),
            why.concat()
        );
    }};
}
