//! Real clients against the server: the `redis` crate (RESP2 and RESP3),
//! `redis-cli` and `redis-benchmark`. The tools come with redis-tools;
//! `scripts/test.sh` installs them. A missing tool fails the test.

mod common;

use common::TestServer;
use redis::AsyncConnectionConfig;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// The path of a redis-tools binary, or a failure saying how to get it.
fn tool(name: &str) -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")]);
    for dir in candidates {
        let path = dir.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "{name} is not installed: run scripts/test.sh (it installs redis-tools), \
         or install redis-tools yourself"
    );
}

/// Runs a tool to completion (at most 60 s) and returns its output.
async fn run(name: &str, args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(tool(name));
    command
        .args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(&input).await.expect("writing stdin");
        drop(pipe);
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} did not finish within 60 s"))
        .unwrap_or_else(|e| panic!("waiting for {name}: {e}"))
}

/// `redis-cli -p PORT args…`: its stdout, after checking it exited 0.
async fn cli(server: &TestServer, args: &[&str]) -> String {
    let port = server.addr.port().to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port];
    all.extend_from_slice(args);
    let output = run("redis-cli", &all, None).await;
    assert!(
        output.status.success(),
        "redis-cli {all:?} failed: {output:?}"
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("a valid URL");
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connecting with the redis crate")
}

// ---------------------------------------------------------------------------
// The redis crate
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_typed_commands() {
    let server = TestServer::builder().start().await;
    let mut con = connect(&server.url()).await;

    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let value: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(value, "v");
    let missing: Option<String> = redis::cmd("GET")
        .arg("missing")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(missing, None);
    let bytes: Vec<u8> = (0..=255).collect();
    let () = redis::cmd("SET")
        .arg("bin")
        .arg(&bytes)
        .query_async(&mut con)
        .await
        .unwrap();
    let back: Vec<u8> = redis::cmd("GET")
        .arg("bin")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(back, bytes);

    let n: i64 = redis::cmd("INCR")
        .arg("counter")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n: i64 = redis::cmd("INCRBY")
        .arg("counter")
        .arg(41)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 42);
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["k", "missing", "counter"])
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(values, [Some("v".into()), None, Some("42".into())]);

    let set: bool = redis::cmd("EXPIRE")
        .arg("k")
        .arg(100)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(set);
    let ttl: i64 = redis::cmd("TTL")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(ttl, 100, "the manual clock does not move");
    let set: bool = redis::cmd("EXPIRE")
        .arg("missing")
        .arg(100)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!set);

    let failed: redis::RedisResult<i64> = redis::cmd("INCR").arg("k").query_async(&mut con).await;
    let error = failed.expect_err("INCR of a non-integer fails");
    assert_eq!(error.code(), Some("ERR"), "{error}");
    assert!(
        error
            .to_string()
            .contains("value is not an integer or out of range"),
        "{error}"
    );
    // The connection is still usable after an error reply.
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_scan_and_pipeline() {
    let server = TestServer::builder().start().await;
    let mut con = connect(&server.url()).await;

    let mut pipe = redis::pipe();
    for i in 0..150 {
        pipe.cmd("SET").arg(format!("s:{i}")).arg(i).ignore();
    }
    pipe.cmd("SET").arg("other").arg("x").ignore();
    pipe.cmd("DBSIZE");
    let (dbsize,): (i64,) = pipe.query_async(&mut con).await.unwrap();
    assert_eq!(dbsize, 151);

    let mut seen = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("s:*")
            .arg("COUNT")
            .arg(20)
            .query_async(&mut con)
            .await
            .unwrap();
        seen.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no key twice");
    let expected: BTreeSet<String> = (0..150).map(|i| format!("s:{i}")).collect();
    assert_eq!(unique, expected);

    let (incremented, added, value): (i64, i64, String) = redis::pipe()
        .cmd("SET")
        .arg("p")
        .arg(1)
        .ignore()
        .cmd("INCR")
        .arg("p")
        .cmd("INCRBY")
        .arg("p")
        .arg(10)
        .cmd("GET")
        .arg("p")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((incremented, added, value.as_str()), (2, 12, "12"));

    // One multiplexed connection shared by concurrent tasks.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let _: i64 = redis::cmd("INCR")
                    .arg("shared")
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let total: i64 = redis::cmd("GET")
        .arg("shared")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(total, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_resp3() {
    let server = TestServer::builder().start().await;
    let url = format!("redis://{}/?protocol=resp3", server.addr);
    let mut con = connect(&url).await;

    let hello: redis::Value = redis::cmd("HELLO").query_async(&mut con).await.unwrap();
    let redis::Value::Map(pairs) = &hello else {
        panic!("HELLO on a RESP3 connection is a map: {hello:?}");
    };
    let proto = pairs
        .iter()
        .find(|(k, _)| *k == redis::Value::BulkString(b"proto".to_vec()))
        .map(|(_, v)| v.clone());
    assert_eq!(proto, Some(redis::Value::Int(3)));

    let missing: redis::Value = redis::cmd("GET")
        .arg("missing")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(missing, redis::Value::Nil);
    let () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let value: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(value, "v");

    let config: redis::Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(matches!(config, redis::Value::Map(_)), "{config:?}");
    let config: HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(config.get("maxclients").map(String::as_str), Some("10000"));

    let info: redis::Value = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        matches!(&info, redis::Value::VerbatimString { text, .. } if text.starts_with("# Server")),
        "{info:?}"
    );
    let client: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(client.contains("resp=3"), "{client}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_with_a_password() {
    let server = TestServer::builder().requirepass("s3cret").start().await;
    let port = server.addr.port();

    for protocol in ["resp2", "resp3"] {
        let url = format!("redis://:s3cret@127.0.0.1:{port}/?protocol={protocol}");
        let mut con = connect(&url).await;
        let () = redis::cmd("SET")
            .arg(protocol)
            .arg("ok")
            .query_async(&mut con)
            .await
            .unwrap();
        let value: String = redis::cmd("GET")
            .arg(protocol)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(value, "ok");

        let url = format!("redis://:wrong@127.0.0.1:{port}/?protocol={protocol}");
        let client = redis::Client::open(url).unwrap();
        let error = client
            .get_multiplexed_async_connection()
            .await
            .expect_err("a wrong password is refused");
        assert!(
            error.to_string().contains("WRONGPASS") || error.to_string().contains("uthentication"),
            "{protocol}: {error}"
        );
    }
}

// ---------------------------------------------------------------------------
// redis-cli
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_commands() {
    let server = TestServer::builder().start().await;
    assert_eq!(cli(&server, &["PING"]).await, "PONG\n");
    assert_eq!(cli(&server, &["SET", "k", "v"]).await, "OK\n");
    assert_eq!(cli(&server, &["GET", "k"]).await, "v\n");
    assert_eq!(cli(&server, &["GET", "missing"]).await, "\n");
    assert_eq!(cli(&server, &["INCR", "n"]).await, "1\n");
    assert_eq!(
        cli(&server, &["GET"]).await.trim_end(),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        cli(&server, &["-3", "GET", "k"]).await,
        "v\n",
        "RESP3 (HELLO 3)"
    );

    let mut con = server.connect().await;
    for i in 0..120 {
        assert_reply!(con, ["SET", format!("k:{i}"), "x"], common::ok());
    }
    assert_reply!(con, ["SET", "other", "x"], common::ok());
    let scanned = cli(&server, &["--scan", "--pattern", "k*"]).await;
    let lines: Vec<&str> = scanned.lines().collect();
    let unique: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(unique.len(), lines.len(), "no key twice: {scanned}");
    let mut expected: BTreeSet<String> = (0..120).map(|i| format!("k:{i}")).collect();
    expected.insert("k".into());
    assert_eq!(
        unique
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        cli(&server, &["DBSIZE"]).await,
        "123\n",
        "k, n, k:0..120, other"
    );

    let info = cli(&server, &["INFO", "server"]).await;
    assert!(info.starts_with("# Server\r\n"), "{info}");
    assert!(info.contains("redis_version:7.2.0\r\n"), "{info}");
    assert!(
        info.contains(&format!("tcp_port:{}\r\n", server.addr.port())),
        "{info}"
    );
    assert!(!info.contains("# Keyspace"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_pipe_mode_and_auth() {
    let server = TestServer::builder().requirepass("s3cret").start().await;
    let port = server.addr.port().to_string();
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend(common::encode(&[
            "SET",
            &format!("mass:{i}"),
            &i.to_string(),
        ]));
    }
    let output = run(
        "redis-cli",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-a",
            "s3cret",
            "--no-auth-warning",
            "--pipe",
        ],
        Some(input),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("errors: 0, replies: 1000"), "{stdout}");

    let auth = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-a",
        "s3cret",
        "--no-auth-warning",
    ];
    let mut args = auth.to_vec();
    args.extend(["GET", "mass:999"]);
    let output = run("redis-cli", &args, None).await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "999\n");
    let mut args = auth.to_vec();
    args.extend(["DBSIZE"]);
    let output = run("redis-cli", &args, None).await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1000\n");

    let output = cli(&server, &["GET", "mass:1"]).await;
    assert_eq!(output.trim_end(), "NOAUTH Authentication required.");
}

// ---------------------------------------------------------------------------
// redis-benchmark
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_set_get() {
    let server = TestServer::builder().start().await;
    let port = server.addr.port().to_string();
    let args = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "set,get",
        "-n",
        "2000",
        "-c",
        "10",
        "-P",
        "4",
        "-q",
    ];
    let output = run("redis-benchmark", &args, None).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "redis-benchmark failed: {stdout}\n{stderr}"
    );
    // Progress lines end in \r; the final ones in \n.
    let lines: Vec<&str> = stdout
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.contains("requests per second"))
        .collect();
    for test in ["SET:", "GET:"] {
        assert!(
            lines.iter().any(|l| l.starts_with(test)),
            "no {test} result in {stdout:?}"
        );
    }
    for text in [&*stdout, &*stderr] {
        assert!(!text.contains("ERR"), "{text}");
        assert!(
            !text.contains("Could not fetch"),
            "CONFIG GET works: {text}"
        );
    }

    let mut c = server.connect().await;
    let dbsize = c.cmd(&["DBSIZE"]).await.as_int();
    assert!(dbsize > 0, "redis-benchmark really wrote");
    assert_reply!(c, ["EXISTS", "key:__rand_int__"], common::int(1));
    let info = c.cmd(&["INFO", "stats"]).await.text();
    let processed: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .expect("total_commands_processed")
        .parse()
        .unwrap();
    assert!(processed >= 4000, "{processed} commands processed");
}
