//! The HTTP server over a real socket, with reqwest: the key routes (binary
//! keys and values, TTL, conditions, limits, errors), the change stream as
//! Server-Sent Events (ids, resuming with Last-Event-ID, filters, history,
//! watermarks, shutdown) and /healthz.

mod net;

use net::{Node, START_MS, SseReader};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(net::TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// A client without a total timeout, for event streams.
fn streaming_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(net::TIMEOUT)
        .build()
        .expect("an HTTP client")
}

async fn json_of(response: reqwest::Response) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    serde_json::from_slice(&response.bytes().await.expect("a body")).expect("a JSON body")
}

/// Asserts a JSON error with this status whose message contains `needle`.
async fn assert_error(response: reqwest::Response, status: StatusCode, needle: &str) {
    assert_eq!(response.status(), status);
    let body = json_of(response).await;
    let message = body["error"].as_str().expect("an \"error\" string");
    assert!(message.contains(needle), "{message:?} mentions {needle:?}");
}

/// `/v1/kv/` + every byte of `key` percent-encoded.
fn key_path(key: &[u8]) -> String {
    let mut path = String::from("/v1/kv/");
    for byte in key {
        path.push_str(&format!("%{byte:02X}"));
    }
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_delete_round_trip() {
    let node = Node::start().await;
    let http = client();
    let url = node.http_url("/v1/kv/greeting");

    let put = http.put(&url).body("hello").send().await.unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(json_of(put).await, json!({"seq": 1, "written": true}));
    assert!(
        node.store.aof_status().committed_seq >= 1,
        "acknowledged after commit"
    );

    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["content-type"],
        "application/octet-stream",
        "raw bytes"
    );
    assert!(got.headers().get(fluxkv_ingest::EXPIRE_AT_HEADER).is_none());
    assert_eq!(got.bytes().await.unwrap(), "hello");

    let put = http.put(&url).body("again").send().await.unwrap();
    assert_eq!(json_of(put).await, json!({"seq": 2, "written": true}));

    let deleted = http.delete(&url).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(json_of(deleted).await, json!({"deleted": 1, "seq": 3}));
    assert_eq!(node.store.get(b"greeting"), None);

    let missing = http.get(&url).send().await.unwrap();
    assert_error(missing, StatusCode::NOT_FOUND, "no such key").await;
    let again = http.delete(&url).send().await.unwrap();
    assert_eq!(json_of(again).await, json!({"deleted": 0, "seq": 0}));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_keys_and_values_are_raw_bytes() {
    let node = Node::start().await;
    let http = client();
    let key: &[u8] = b"\xff\x00/ a+b%";
    let value: Vec<u8> = (0..=255).rev().collect();
    let url = node.http_url(&key_path(key));
    let put = http.put(&url).body(value.clone()).send().await.unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(node.store.get(key).as_deref(), Some(&value[..]));
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), value);

    // Unencoded slashes and a literal `+` are part of the key.
    let put = http
        .put(node.http_url("/v1/kv/dir/sub+file"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(node.store.get(b"dir/sub+file").as_deref(), Some(&b"x"[..]));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_and_conditions() {
    let node = Node::start().await;
    let http = client();
    let url = node.http_url("/v1/kv/session");

    let put = http
        .put(format!("{url}?ttl_ms=5000"))
        .body("s1")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(put).await, json!({"seq": 1, "written": true}));
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(
        got.headers()[fluxkv_ingest::EXPIRE_AT_HEADER],
        (START_MS + 5_000).to_string().as_str()
    );

    // nx on an existing key, xx on a missing one: nothing written, seq 0.
    let nx = http
        .put(format!("{url}?nx=true"))
        .body("s2")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(nx).await, json!({"seq": 0, "written": false}));
    let xx = http
        .put(node.http_url("/v1/kv/nobody?xx=true"))
        .body("s2")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(xx).await, json!({"seq": 0, "written": false}));
    assert_eq!(node.store.get(b"nobody"), None);
    let xx = http
        .put(format!("{url}?xx=true&keep_ttl=true"))
        .body("s3")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(xx).await, json!({"seq": 2, "written": true}));
    let got = http.get(&url).send().await.unwrap();
    assert!(got.headers().contains_key(fluxkv_ingest::EXPIRE_AT_HEADER));
    assert_eq!(got.bytes().await.unwrap(), "s3");

    // Bad parameters are 400s that change nothing.
    for (query, needle) in [
        ("nx=true&xx=true", "nx and xx"),
        ("ttl_ms=abc", "ttl_ms"),
        ("ttl_ms=0", "ttl_ms"),
        ("ttl_ms=10&keep_ttl", "at most one"),
        ("nx=maybe", "nx"),
        ("colour=blue", "unknown query parameter"),
    ] {
        let bad = http
            .put(format!("{url}?{query}"))
            .body("bad")
            .send()
            .await
            .unwrap();
        assert_error(bad, StatusCode::BAD_REQUEST, needle).await;
    }
    assert_eq!(node.store.get(b"session").as_deref(), Some(&b"s3"[..]));

    // Past the deadline the key is gone.
    node.clock.advance_ms(5_000);
    let gone = http.get(&url).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413() {
    let node = Node::builder().max_body_bytes(1024).start().await;
    let http = client();
    let url = node.http_url("/v1/kv/big");
    let ok = http.put(&url).body(vec![b'a'; 1024]).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let too_big = http.put(&url).body(vec![b'b'; 2048]).send().await.unwrap();
    assert_error(too_big, StatusCode::PAYLOAD_TOO_LARGE, "1024 bytes").await;
    assert_eq!(node.store.get(b"big").map(|v| v[0]), Some(b'a'));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json() {
    let node = Node::start().await;
    let http = client();
    let health = http.get(node.http_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let nowhere = http.get(node.http_url("/v2/nothing")).send().await.unwrap();
    assert_error(nowhere, StatusCode::NOT_FOUND, "no such endpoint").await;
    let wrong = http.post(node.http_url("/v1/kv/k")).send().await.unwrap();
    assert_error(wrong, StatusCode::METHOD_NOT_ALLOWED, "not allowed").await;
    let bad = http
        .get(node.http_url("/v1/watch?from=soon"))
        .send()
        .await
        .unwrap();
    assert_error(bad, StatusCode::BAD_REQUEST, "from").await;
    let bad = http
        .get(node.http_url("/v1/watch?op=rename"))
        .send()
        .await
        .unwrap();
    assert_error(bad, StatusCode::BAD_REQUEST, "unknown op").await;
    node.shutdown().await;
}

async fn put(node: &Node, key: &str, value: &str) -> u64 {
    let reply = client()
        .put(node.http_url(&format!("/v1/kv/{key}")))
        .body(value.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    json_of(reply).await["seq"].as_u64().expect("a seq")
}

async fn delete(node: &Node, key: &str) -> u64 {
    let reply = client()
        .delete(node.http_url(&format!("/v1/kv/{key}")))
        .send()
        .await
        .unwrap();
    json_of(reply).await["seq"].as_u64().expect("a seq")
}

async fn open_watch(node: &Node, query: &str, last_event_id: Option<u64>) -> reqwest::Response {
    let mut request = streaming_client().get(node.http_url(&format!("/v1/watch{query}")));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    tokio::time::timeout(net::TIMEOUT, request.send())
        .await
        .expect("the watch answers")
        .expect("a response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_after_last_event_id_without_gap_or_duplicate() {
    let node = Node::start().await;
    for i in 1..=5 {
        assert_eq!(put(&node, &format!("k{i}"), &format!("v{i}")).await, i);
    }

    let mut events = SseReader::new(open_watch(&node, "?from=1", None).await);
    let mut last_id = 0;
    for seq in 1..=3 {
        let event = events.next_change().await;
        assert_eq!(event.event, "change");
        assert_eq!(event.seq(), seq);
        let data = event.json();
        assert_eq!(data["type"], "event");
        assert_eq!(data["seq"], seq);
        assert_eq!(data["op"], "set");
        assert_eq!(data["key"], format!("k{seq}"));
        assert_eq!(data["value"], format!("v{seq}"));
        assert_eq!(data["node"], &*node.store.identity().node);
        last_id = seq;
    }
    drop(events); // the client disconnects after id 3

    assert_eq!(delete(&node, "k1").await, 6);
    assert_eq!(put(&node, "k7", "v7").await, 7);

    // Reconnect as EventSource does: same URL, Last-Event-ID set. The
    // header wins over `from`.
    let mut events = SseReader::new(open_watch(&node, "?from=1", Some(last_id)).await);
    for seq in 4..=7 {
        let event = events.next_change().await;
        assert_eq!(event.seq(), seq, "exactly the rest, in order");
    }
    assert_eq!(put(&node, "k8", "v8").await, 8);
    let event = events.next_change().await;
    assert_eq!(event.seq(), 8, "no duplicate after the resumed range");
    let data = event.json();
    assert_eq!(
        (data["key"].as_str(), data["value"].as_str()),
        (Some("k8"), Some("v8"))
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_filters_by_prefix_and_op() {
    let node = Node::start().await;
    put(&node, "user:1", "a").await; // 1
    put(&node, "order:1", "b").await; // 2
    delete(&node, "user:1").await; // 3
    put(&node, "acct:1", "c").await; // 4
    delete(&node, "order:1").await; // 5
    let end = put(&node, "user:2", "d").await; // 6

    let mut events =
        SseReader::new(open_watch(&node, "?from=1&prefix=user%3A&prefix=acct:&op=set", None).await);
    let mut seen = Vec::new();
    while seen.last() != Some(&end) {
        seen.push(events.next_change().await.seq());
    }
    assert_eq!(seen, vec![1, 4, 6]);

    let mut deletes = SseReader::new(open_watch(&node, "?from=1&op=del,expire", None).await);
    assert_eq!(deletes.next_change().await.seq(), 3);
    let event = deletes.next_change().await;
    assert_eq!(event.seq(), 5);
    let data = event.json();
    assert_eq!(
        (data["op"].as_str(), data.get("value")),
        (Some("del"), None)
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_binary_keys_are_base64() {
    let node = Node::start().await;
    let key: &[u8] = b"bin\xff";
    let http = client();
    let put = http
        .put(node.http_url(&key_path(key)))
        .body(vec![0u8, 1, 2])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let mut events = SseReader::new(open_watch(&node, "?from=1&prefix=bin%FF", None).await);
    let data = events.next_change().await.json();
    assert_eq!(data["encoding"], "base64");
    assert_eq!(data["key"], "Ymlu/w==", "base64 of the raw key");
    assert_eq!(data["value"], "AAEC");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_from_history_the_aof_no_longer_has_is_410() {
    let node = Node::builder().trimmed_history().start().await;
    let oldest = node.oldest_seq();
    assert!(oldest > 1, "the first segment is gone");
    let gone = open_watch(&node, "?from=1", None).await;
    assert_error(
        gone,
        StatusCode::GONE,
        &format!("oldest available seq is {oldest}"),
    )
    .await;
    // Resuming after an id that is gone is just as gone.
    let gone = open_watch(&node, "", Some(oldest - 2)).await;
    assert_error(gone, StatusCode::GONE, "oldest available seq").await;
    // Resuming right before the oldest works.
    let mut events = SseReader::new(open_watch(&node, "", Some(oldest - 1)).await);
    assert_eq!(events.next_change().await.seq(), oldest);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_idle_stream_sends_watermarks() {
    let node = Node::builder()
        .watermark_interval(Duration::from_millis(100))
        .start()
        .await;
    let seq = put(&node, "k", "v").await;
    let mut events = SseReader::new(open_watch(&node, "", None).await);
    let event = events.next().await;
    assert_eq!(event.event, "watermark");
    assert_eq!(event.seq(), seq, "a watermark's id is its last seq");
    let data = event.json();
    assert_eq!(data["type"], "watermark");
    assert_eq!(data["last_seq"], seq);
    assert_eq!(data["node"], &*node.store.identity().node);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_idle_stream_sends_keep_alive_comments() {
    let node = Node::builder()
        .watermark_interval(Duration::from_secs(60))
        .keep_alive_interval(Duration::from_millis(50))
        .start()
        .await;
    let mut events = SseReader::new(open_watch(&node, "", None).await);
    events.until_comments(2).await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_sse_streams() {
    let node = Node::start().await;
    let mut events = SseReader::new(open_watch(&node, "", None).await);
    node.shutdown().await;
    let end = tokio::time::timeout(net::TIMEOUT, async {
        loop {
            if events.try_next().await.is_none() {
                return;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the event stream ends on shutdown");
}
