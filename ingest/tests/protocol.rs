//! The wire protocol over real sockets: pipelining, inline commands,
//! malformed and oversized frames, AUTH, the client limit and graceful
//! shutdown.

mod common;

use common::{RespClient, START_MS, TestServer, Value, bulk, encode, err, int, nil, ok, simple};
use fluxkv_store::{Clock, Deadline, Store, StoreOptions};
use std::time::Duration;

/// Commands encoded back to back, to be sent in one write.
fn packet(commands: &[&[&str]]) -> Vec<u8> {
    commands.iter().flat_map(|c| encode(c)).collect()
}

// ---------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let mut bytes = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            bytes.extend(encode(&["SET", &format!("key:{i}"), &format!("value-{i}")]));
        } else {
            bytes.extend(encode(&["INCR", "counter"]));
        }
    }
    c.send_raw(&bytes).await;
    for i in 0..1000 {
        let expected = if i % 2 == 0 { ok() } else { int(i / 2 + 1) };
        assert_eq!(c.read().await, expected, "reply {i}");
    }

    let mut bytes = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            bytes.extend(encode(&["GET", &format!("key:{i}")]));
        } else {
            bytes.extend(encode(&["GET", &format!("missing:{i}")]));
        }
    }
    bytes.extend(encode(&["GET", "counter"]));
    c.send_raw(&bytes).await;
    for i in 0..1000 {
        let expected = if i % 2 == 0 {
            bulk(format!("value-{i}"))
        } else {
            nil()
        };
        assert_eq!(c.read().await, expected, "GET {i}");
    }
    assert_eq!(c.read().await, bulk("500"));
    assert_reply!(c, ["DBSIZE"], int(501));
}

#[tokio::test]
async fn pipelined_replies_larger_than_the_flush_threshold() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let value: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
    assert_reply!(c, ["SET".as_bytes(), b"big", &value], ok());
    // 300 × 8 KiB of replies: several flushes of the reply buffer.
    let bytes: Vec<u8> = (0..300).flat_map(|_| encode(&["GET", "big"])).collect();
    c.send_raw(&bytes).await;
    for i in 0..300 {
        assert_eq!(c.read().await, bulk(&value), "reply {i}");
    }
    assert_reply!(c, ["PING"], simple("PONG"));
}

#[tokio::test]
async fn requests_split_across_many_writes() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let commands: Vec<Vec<String>> = (0..40)
        .map(|i| vec!["SET".into(), format!("split:{i}"), format!("v{i}\r\n")])
        .collect();
    let mut bytes: Vec<u8> = commands.iter().flat_map(|c| encode(c)).collect();
    bytes.extend(b"PING\r\n");
    for (n, chunk) in bytes.chunks(7).enumerate() {
        c.send_raw(chunk).await;
        if n % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    for i in 0..40 {
        assert_eq!(c.read().await, ok(), "reply {i}");
    }
    assert_eq!(c.read().await, simple("PONG"));
    assert_reply!(c, ["GET", "split:39"], bulk("v39\r\n"));
}

// ---------------------------------------------------------------------------
// Inline commands
// ---------------------------------------------------------------------------

#[tokio::test]
async fn inline_commands() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send_raw(b"SET a b\r\n").await;
    assert_eq!(c.read().await, ok());
    c.send_raw(b"GET a\r\n").await;
    assert_eq!(c.read().await, bulk("b"));
    c.send_raw(b"PING\n").await;
    assert_eq!(c.read().await, simple("PONG"), "a bare LF ends a line too");
    // Blank lines and empty multibulks are skipped without a reply.
    c.send_raw(b"\r\n\r\n*0\r\n*-1\r\nPING\r\n").await;
    assert_eq!(c.read().await, simple("PONG"));
    c.send_raw(b"  set   spaced    out  \r\n").await;
    assert_eq!(c.read().await, ok());
    assert_reply!(c, ["GET", "spaced"], bulk("out"));

    // Quotes: spaces inside, escapes in double quotes, \' in single quotes.
    c.send_raw(b"SET \"k 1\" \"x\\x41y\\n\\t\\\"q\\\"\"\r\n")
        .await;
    assert_eq!(c.read().await, ok());
    assert_reply!(c, ["GET", "k 1"], bulk("xAy\n\t\"q\""));
    c.send_raw(b"SET k2 'it\\'s \"raw\" \\n'\r\n").await;
    assert_eq!(c.read().await, ok());
    assert_reply!(c, ["GET", "k2"], bulk("it's \"raw\" \\n"));
    c.send_raw(b"SET empty \"\"\r\nSTRLEN empty\r\n").await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.read().await, int(0));

    // Inline and multibulk mixed in one packet.
    let mut mixed = b"INCR n\r\n".to_vec();
    mixed.extend(encode(&["INCR", "n"]));
    mixed.extend(b"INCRBY n 10\n");
    c.send_raw(&mixed).await;
    assert_eq!(c.read().await, int(1));
    assert_eq!(c.read().await, int(2));
    assert_eq!(c.read().await, int(12));

    c.send_raw(b"SET a \"unbalanced\r\n").await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: unbalanced quotes in request")
    );
    c.expect_closed().await;
    let mut other = server.connect().await;
    assert_reply!(other, ["GET", "a"], bulk("b"));
}

// ---------------------------------------------------------------------------
// Malformed frames
// ---------------------------------------------------------------------------

#[tokio::test]
async fn malformed_frames_close_only_that_connection_and_change_nothing() {
    let server = TestServer::start().await;
    let mut observer = server.connect().await;
    assert_reply!(observer, ["SET", "existing", "1"], ok());
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n+x\r\n", "expected '$', got '+'"),
        (b"*2\r\n$3\r\nGET\r\n$-5\r\n", "invalid bulk length"),
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*1\r\n$abc\r\n", "invalid bulk length"),
        (b"*1\r\n$3x\r\nGET\r\n", "invalid bulk length"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$x\r\nv\r\n",
            "invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n",
            "invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n",
            "expected '$', got ':'",
        ),
    ];
    for (frame, message) in cases {
        let what = String::from_utf8_lossy(frame);
        let mut c = server.connect().await;
        assert_reply!(c, ["PING"], simple("PONG"));
        c.send_raw(frame).await;
        assert_eq!(
            c.read().await,
            err(&format!("ERR Protocol error: {message}")),
            "{what:?}"
        );
        c.expect_closed().await;
        // The other connection is untouched and nothing was written.
        assert_reply!(observer, ["PING"], simple("PONG"));
        assert_reply!(observer, ["DBSIZE"], int(1), "after {what:?}");
        assert_reply!(observer, ["GET", "k"], nil());
    }
}

#[tokio::test]
async fn commands_before_a_malformed_frame_are_executed_and_answered() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let mut bytes = packet(&[&["SET", "a", "1"], &["INCR", "a"]]);
    bytes.extend(b"GET a\r\n");
    bytes.extend(b"*1\r\n+x\r\n");
    bytes.extend(encode(&["SET", "never", "1"]));
    c.send_raw(&bytes).await;
    assert_eq!(c.read().await, ok());
    assert_eq!(c.read().await, int(2));
    assert_eq!(c.read().await, bulk("2"));
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: expected '$', got '+'")
    );
    c.expect_closed().await;
    let mut other = server.connect().await;
    assert_reply!(other, ["GET", "a"], bulk("2"));
    assert_reply!(other, ["EXISTS", "never"], int(0));
}

#[tokio::test]
async fn oversized_bulk_is_refused_before_its_body_arrives() {
    let server = TestServer::builder().max_bulk_len(1024).start().await;
    let mut c = server.connect().await;
    let fits = vec![b'x'; 1024];
    assert_reply!(c, ["SET".as_bytes(), b"fits", &fits], ok());
    assert_reply!(c, ["STRLEN", "fits"], int(1024));

    // Only the header: the error must come without the body being sent.
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1025\r\n")
        .await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: invalid bulk length")
    );
    c.expect_closed().await;

    // A key longer than the limit, too.
    let mut c = server.connect().await;
    c.send_raw(b"*2\r\n$3\r\nGET\r\n$100000\r\n").await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: invalid bulk length")
    );
    c.expect_closed().await;

    let mut other = server.connect().await;
    assert_reply!(other, ["DBSIZE"], int(1));
    assert_reply!(other, ["EXISTS", "big"], int(0));
}

#[tokio::test]
async fn oversized_inline_line_is_refused() {
    let server = TestServer::builder().max_inline_len(64).start().await;
    let mut c = server.connect().await;
    let fits = format!("SET k {}\r\n", "v".repeat(40));
    c.send_raw(fits.as_bytes()).await;
    assert_eq!(c.read().await, ok());

    // No newline yet, and already past the limit.
    let long = format!("SET big {}", "x".repeat(200));
    c.send_raw(long.as_bytes()).await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: too big inline request")
    );
    c.expect_closed().await;

    // With its newline, in one packet.
    let mut c = server.connect().await;
    c.send_raw(format!("{long}\r\n").as_bytes()).await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: too big inline request")
    );
    c.expect_closed().await;

    let mut other = server.connect().await;
    assert_reply!(other, ["DBSIZE"], int(1));
    assert_reply!(other, ["EXISTS", "big"], int(0));
    // Multibulk requests are not bound by the inline limit.
    let value = "y".repeat(1000);
    assert_reply!(other, ["SET", "multibulk", &value], ok());
}

#[tokio::test]
async fn too_many_arguments_is_a_protocol_error() {
    let limits = fluxkv_ingest::Limits {
        max_args: 3,
        ..fluxkv_ingest::Limits::default()
    };
    let server = TestServer::builder().limits(limits).start().await;
    let mut c = server.connect().await;
    assert_reply!(c, ["SET", "a", "1"], ok());
    c.send(&["MSET", "a", "2", "b", "2"]).await;
    assert_eq!(
        c.read().await,
        err("ERR Protocol error: invalid multibulk length")
    );
    c.expect_closed().await;
    let mut other = server.connect().await;
    assert_reply!(other, ["GET", "a"], bulk("1"));
}

// ---------------------------------------------------------------------------
// AUTH
// ---------------------------------------------------------------------------

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

#[tokio::test]
async fn requirepass_gates_every_command_until_auth() {
    let server = TestServer::builder().requirepass("s3cret").start().await;
    let mut c = server.connect().await;
    assert_reply!(c, ["GET", "k"], err(NOAUTH));
    assert_reply!(c, ["SET", "k", "v"], err(NOAUTH));
    assert_reply!(c, ["PING"], err(NOAUTH));
    assert_reply!(c, ["DBSIZE"], err(NOAUTH));
    assert_reply!(c, ["AUTH", "wrong"], err(WRONGPASS));
    assert_reply!(c, ["AUTH", "default", "wrong"], err(WRONGPASS));
    assert_reply!(c, ["AUTH", "someone", "s3cret"], err(WRONGPASS));
    assert_reply!(c, ["AUTH", "S3CRET"], err(WRONGPASS));
    assert_reply!(c, ["GET", "k"], err(NOAUTH));
    assert_reply!(
        c,
        ["AUTH"],
        err("ERR wrong number of arguments for 'auth' command")
    );
    assert_reply!(c, ["AUTH", "a", "b", "c"], err("ERR syntax error"));
    // Unknown commands are still unknown; arity is checked before AUTH.
    assert_reply!(
        c,
        ["NOSUCH"],
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_reply!(c, ["AUTH", "s3cret"], ok());
    assert_reply!(c, ["GET", "k"], nil());
    assert_reply!(c, ["SET", "k", "v"], ok());
    // A failed AUTH later does not log the connection out.
    assert_reply!(c, ["AUTH", "wrong"], err(WRONGPASS));
    assert_reply!(c, ["GET", "k"], bulk("v"));

    let mut d = server.connect().await;
    assert_reply!(
        d,
        ["GET", "k"],
        err(NOAUTH),
        "authentication is per connection"
    );
    assert_reply!(d, ["AUTH", "default", "s3cret"], ok());
    assert_reply!(d, ["GET", "k"], bulk("v"));

    let mut q = server.connect().await;
    assert_reply!(q, ["QUIT"], ok());
    q.expect_closed().await;
}

#[tokio::test]
async fn hello_with_auth() {
    let server = TestServer::builder().requirepass("s3cret").start().await;
    let mut c = server.connect().await;
    assert_reply!(
        c,
        ["HELLO", "3"],
        err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time"
        )
    );
    assert_reply!(
        c,
        ["HELLO", "3", "AUTH", "default", "wrong"],
        err(WRONGPASS)
    );
    assert_reply!(
        c,
        ["GET", "k"],
        err(NOAUTH),
        "still RESP2 and not authenticated"
    );
    let hello = c.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]).await;
    assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    assert_eq!(hello.get("proto"), Some(int(3)));
    assert_reply!(c, ["GET", "k"], Value::Null);

    let mut d = server.connect().await;
    let hello = d
        .cmd(&["HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "app"])
        .await;
    assert_eq!(hello.get("proto"), Some(int(2)));
    assert_reply!(d, ["CLIENT", "GETNAME"], bulk("app"));
    assert_reply!(d, ["GET", "k"], nil());
}

#[tokio::test]
async fn auth_without_requirepass() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert_reply!(
        c,
        ["AUTH", "anything"],
        err(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
    // The default user has no password: any password works for it.
    assert_reply!(c, ["AUTH", "default", "anything"], ok());
    assert_reply!(c, ["AUTH", "someone", "anything"], err(WRONGPASS));
    let hello = c.cmd(&["HELLO", "3", "AUTH", "default", "x"]).await;
    assert_eq!(hello.get("proto"), Some(int(3)));
    assert_reply!(c, ["PING"], simple("PONG"));
}

// ---------------------------------------------------------------------------
// Client limit
// ---------------------------------------------------------------------------

#[tokio::test]
async fn max_clients_refuses_extra_connections() {
    let server = TestServer::builder().max_clients(1).start().await;
    let mut first = server.connect().await;
    assert_reply!(first, ["SET", "k", "v"], ok());

    let mut second = server.connect().await;
    assert_eq!(
        second.read().await,
        err("ERR max number of clients reached")
    );
    second.expect_closed().await;
    assert_reply!(
        first,
        ["GET", "k"],
        bulk("v"),
        "the first client is unaffected"
    );
    let info = first.cmd(&["INFO", "stats"]).await.text();
    assert!(info.contains("rejected_connections:1\r\n"), "{info}");

    // Once the first client leaves, its slot is free again.
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut third = server.connect().await;
        third.send(&["GET", "k"]).await;
        match third.try_read().await {
            Some(reply) if reply == bulk("v") => break,
            Some(reply) if reply == err("ERR max number of clients reached") => {}
            other => panic!("unexpected reply {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed slot was never reused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Graceful shutdown
// ---------------------------------------------------------------------------

#[tokio::test]
async fn graceful_shutdown_keeps_every_acknowledged_write() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let mut c = server.connect().await;
    let mut idle = server.connect().await;
    assert_reply!(idle, ["PING"], simple("PONG"));

    // Acknowledged before shutdown starts.
    let bytes: Vec<u8> = (0..500)
        .flat_map(|i| encode(&["SET", &format!("k:{i}"), &format!("v{i}")]))
        .chain((0..100).flat_map(|_| encode(&["INCR", "counter"])))
        .collect();
    c.send_raw(&bytes).await;
    for i in 0..600 {
        let reply = c.read().await;
        assert!(
            reply == ok() || reply == int(i - 499),
            "reply {i}: {reply:?}"
        );
    }
    assert_reply!(c, ["SET", "ttl", "t", "PX", "60000"], ok());

    // A writer that keeps going while the server shuts down: whatever it
    // saw acknowledged must survive.
    let mut writer = server.connect().await;
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let writer_task = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0.. {
            if writer
                .try_send_raw(&encode(&["SET", &format!("w:{i}"), &i.to_string()]))
                .await
                .is_err()
            {
                break;
            }
            match writer.try_read().await {
                Some(reply) if reply == ok() => {
                    acked.push(i);
                    let _ = acked_tx.send(i);
                }
                Some(other) => panic!("SET w:{i} got {other:?}"),
                None => break,
            }
        }
        acked
    });
    for _ in 0..50 {
        acked_rx.recv().await.expect("the writer is acknowledged");
    }

    let stopped = server.shutdown().await;
    let acked = tokio::time::timeout(Duration::from_secs(10), writer_task)
        .await
        .expect("the writer sees its connection closed")
        .expect("writer task");
    assert!(acked.len() >= 50);
    c.expect_closed().await;
    idle.expect_closed().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );

    stopped.store.close().expect("closing the store");
    let options = StoreOptions {
        clock: Clock::manual(START_MS),
        ..StoreOptions::default()
    };
    let (reopened, _report) = Store::open(stopped.dir.path(), options).expect("reopening");
    for i in 0..500 {
        assert_eq!(
            reopened.get(format!("k:{i}").as_bytes()).as_deref(),
            Some(format!("v{i}").as_bytes()),
            "k:{i}"
        );
    }
    assert_eq!(reopened.get(b"counter").as_deref(), Some(&b"100"[..]));
    assert_eq!(reopened.get(b"ttl").as_deref(), Some(&b"t"[..]));
    assert_eq!(reopened.deadline(b"ttl"), Deadline::At(START_MS + 60_000));
    for i in &acked {
        assert_eq!(
            reopened.get(format!("w:{i}").as_bytes()).as_deref(),
            Some(i.to_string().as_bytes()),
            "acknowledged write w:{i} of {} is lost",
            acked.len()
        );
    }
    assert!(reopened.len() >= 502 + acked.len());
    reopened.close().expect("closing the reopened store");
}

#[tokio::test]
async fn shutdown_with_no_clients_returns_promptly() {
    let server = TestServer::start().await;
    let mut c: RespClient = server.connect().await;
    assert_reply!(c, ["SET", "k", "v"], ok());
    drop(c);
    let stopped = tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown within 5 s");
    assert_eq!(stopped.store.get(b"k").as_deref(), Some(&b"v"[..]));
}
