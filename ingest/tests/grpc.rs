//! The gRPC server over a real socket, with the generated tonic clients:
//! KV semantics and seqs, Watch (order, filters, history, watermarks,
//! shutdown), Admin, health and reflection.

mod net;

use bytes::Bytes;
use fluxkv_schemas::proto::admin_client::AdminClient;
use fluxkv_schemas::proto::kv_client::KvClient;
use fluxkv_schemas::proto::watch_client::WatchClient;
use fluxkv_schemas::proto::watch_response::Item;
use fluxkv_schemas::proto::{
    self, DeleteRequest, GetRequest, IncrRequest, InfoRequest, KeyValue, MGetRequest, MSetRequest,
    ScanRequest, SetCondition, SetRequest, WatchRequest, set_request::Expiry,
};
use net::{Node, START_MS, TIMEOUT};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

fn set(key: &[u8], value: &[u8]) -> SetRequest {
    SetRequest {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(value),
        ..SetRequest::default()
    }
}

fn keys(list: &[&[u8]]) -> Vec<Bytes> {
    list.iter().map(|k| Bytes::copy_from_slice(k)).collect()
}

async fn kv(node: &Node) -> KvClient<Channel> {
    KvClient::new(node.channel().await)
}

/// Asserts the write's seq is committed in the store: the server answered
/// only after the commit.
fn assert_committed(node: &Node, seq: u64) {
    let committed = node.store.aof_status().committed_seq;
    assert!(
        committed >= seq,
        "seq {seq} acknowledged but only {committed} committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_get_delete_return_committed_seqs() {
    let node = Node::start().await;
    let mut client = kv(&node).await;

    let first = client.set(set(b"k", b"v1")).await.unwrap().into_inner();
    assert!(first.applied);
    assert_eq!(first.seq, 1, "the first write of a fresh store");
    assert_committed(&node, first.seq);

    let got = client
        .get(GetRequest { key: "k".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.value.as_deref(), Some(&b"v1"[..]));
    assert_eq!(got.expire_at_ms, None);

    // TTL: relative to the store's clock, reported as an absolute time.
    let mut with_ttl = set(b"k", b"v2");
    with_ttl.expiry = Some(Expiry::TtlMs(5_000));
    let second = client.set(with_ttl).await.unwrap().into_inner();
    assert_eq!((second.applied, second.seq), (true, 2));
    let got = client
        .get(GetRequest { key: "k".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.value.as_deref(), Some(&b"v2"[..]));
    assert_eq!(got.expire_at_ms, Some(START_MS + 5_000));

    // KEEPTTL keeps it; a plain set clears it.
    let mut keep = set(b"k", b"v3");
    keep.keep_ttl = true;
    assert_eq!(client.set(keep).await.unwrap().into_inner().seq, 3);
    let got = client
        .get(GetRequest { key: "k".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.expire_at_ms, Some(START_MS + 5_000));

    // NX on an existing key and XX on a missing one write nothing: seq 0.
    let mut nx = set(b"k", b"nope");
    nx.condition = SetCondition::Nx as i32;
    let refused = client.set(nx).await.unwrap().into_inner();
    assert_eq!((refused.applied, refused.seq), (false, 0));
    let mut xx = set(b"missing", b"nope");
    xx.condition = SetCondition::Xx as i32;
    let refused = client.set(xx).await.unwrap().into_inner();
    assert_eq!((refused.applied, refused.seq), (false, 0));
    let mut nx_new = set(b"fresh", b"yes");
    nx_new.condition = SetCondition::Nx as i32;
    let made = client.set(nx_new).await.unwrap().into_inner();
    assert_eq!((made.applied, made.seq), (true, 4));
    assert_eq!(node.store.get(b"k").as_deref(), Some(&b"v3"[..]));
    assert_eq!(node.store.get(b"missing"), None);

    // Delete counts the keys that existed; seq is the last del's.
    let deleted = client
        .delete(DeleteRequest {
            keys: keys(&[b"k", b"missing", b"fresh"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((deleted.deleted, deleted.seq), (2, 6));
    assert_committed(&node, 6);
    let again = client
        .delete(DeleteRequest {
            keys: keys(&[b"k"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.deleted, again.seq), (0, 0));
    let got = client
        .get(GetRequest { key: "k".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.value, got.expire_at_ms), (None, None));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_rejects_contradictory_options() {
    let node = Node::start().await;
    let mut client = kv(&node).await;
    let mut both = set(b"k", b"v");
    both.expiry = Some(Expiry::TtlMs(100));
    both.keep_ttl = true;
    let err = client.set(both).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let mut zero = set(b"k", b"v");
    zero.expiry = Some(Expiry::TtlMs(0));
    let err = client.set(zero).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let mut bad_condition = set(b"k", b"v");
    bad_condition.condition = 42;
    let err = client.set(bad_condition).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(node.store.get(b"k"), None, "nothing was written");
    assert_eq!(node.store.aof_status().last_seq, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mset_mget_scan_incr() {
    let node = Node::start().await;
    let mut client = kv(&node).await;

    let binary_key: &[u8] = b"user:\x00\xff";
    let binary_value: Vec<u8> = (0..=255).collect();
    let pairs = vec![
        KeyValue {
            key: "user:1".into(),
            value: "alice".into(),
        },
        KeyValue {
            key: "user:2".into(),
            value: "bob".into(),
        },
        KeyValue {
            key: Bytes::copy_from_slice(binary_key),
            value: binary_value.clone().into(),
        },
        KeyValue {
            key: "order:1".into(),
            value: "book".into(),
        },
    ];
    let written = client
        .m_set(MSetRequest { pairs })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(written.seq, 4, "one set event per pair");
    assert_committed(&node, 4);
    let empty = client
        .m_set(MSetRequest { pairs: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(empty.seq, 0);

    let got = client
        .m_get(MGetRequest {
            keys: keys(&[b"user:2", b"nope", binary_key, b"user:1"]),
        })
        .await
        .unwrap()
        .into_inner();
    let values: Vec<Option<&[u8]>> = got.values.iter().map(|v| v.value.as_deref()).collect();
    assert_eq!(
        values,
        vec![
            Some(&b"bob"[..]),
            None,
            Some(&binary_value[..]),
            Some(&b"alice"[..])
        ]
    );

    // Scan with a glob, following the cursor to 0.
    for i in 0..50 {
        let _ = node
            .store
            .set(
                format!("filler:{i}").as_bytes(),
                b"x",
                fluxkv_store::SetOptions::default(),
            )
            .unwrap();
    }
    let mut cursor = 0;
    let mut found = BTreeSet::new();
    let mut calls = 0;
    loop {
        let page = client
            .scan(ScanRequest {
                cursor,
                pattern: "user:*".into(),
                count: 5,
            })
            .await
            .unwrap()
            .into_inner();
        found.extend(page.keys);
        calls += 1;
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
        assert!(calls < 1000, "the scan terminates");
    }
    assert!(calls > 1, "count bounds each step");
    let expected: BTreeSet<Bytes> = keys(&[b"user:1", b"user:2", binary_key])
        .into_iter()
        .collect();
    assert_eq!(found, expected);
    let all = client
        .scan(ScanRequest {
            cursor: 0,
            pattern: Bytes::new(),
            count: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((all.cursor, all.keys.len()), (0, 54));

    // Incr: a missing key counts as 0; each call logs one event.
    let before = node.store.aof_status().last_seq;
    let up = client
        .incr(IncrRequest {
            key: "n".into(),
            delta: 5,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((up.value, up.seq), (5, before + 1));
    let down = client
        .incr(IncrRequest {
            key: "n".into(),
            delta: -7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((down.value, down.seq), (-2, before + 2));
    assert_committed(&node, down.seq);
    let err = client
        .incr(IncrRequest {
            key: "user:1".into(),
            delta: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    client
        .set(set(b"big", b"9223372036854775807"))
        .await
        .unwrap();
    let err = client
        .incr(IncrRequest {
            key: "big".into(),
            delta: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    node.shutdown().await;
}

/// Reads the next event from a watch, skipping watermarks.
async fn next_event(stream: &mut tonic::Streaming<proto::WatchResponse>) -> proto::ChangeEvent {
    loop {
        let item = tokio::time::timeout(TIMEOUT, stream.message())
            .await
            .expect("an item within the timeout")
            .expect("a healthy stream")
            .expect("the stream goes on");
        match item.item.expect("an item") {
            Item::Event(event) => return event,
            Item::Watermark(_) => continue,
        }
    }
}

async fn watch(
    node: &Node,
    request: WatchRequest,
) -> Result<tonic::Streaming<proto::WatchResponse>, tonic::Status> {
    let mut client = WatchClient::new(node.channel().await);
    client.watch(request).await.map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_seq_gets_exactly_what_follows_in_order() {
    let node = Node::start().await;
    let mut client = kv(&node).await;
    for i in 1..=5 {
        let reply = client
            .set(set(format!("k{i}").as_bytes(), b"v"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.seq, i);
    }
    let mut stream = watch(
        &node,
        WatchRequest {
            from_seq: 3,
            ..WatchRequest::default()
        },
    )
    .await
    .unwrap();
    for seq in 3..=5 {
        let event = next_event(&mut stream).await;
        assert_eq!(event.seq, seq);
        assert_eq!(event.key, format!("k{seq}").as_bytes());
        assert_eq!(event.op, proto::Op::Set as i32);
        assert_eq!(event.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(event.node, &*node.store.identity().node);
    }
    // Live events follow without a gap, deletes included.
    let deleted = client
        .delete(DeleteRequest {
            keys: keys(&[b"k1"]),
        })
        .await
        .unwrap()
        .into_inner();
    let mut ttl = set(b"k6", b"v6");
    ttl.expiry = Some(Expiry::ExpireAtMs(START_MS + 60_000));
    let seq = client.set(ttl).await.unwrap().into_inner().seq;
    let event = next_event(&mut stream).await;
    assert_eq!((event.seq, event.op), (deleted.seq, proto::Op::Del as i32));
    assert_eq!((event.key.as_ref(), event.value), (&b"k1"[..], None));
    let event = next_event(&mut stream).await;
    assert_eq!(event.seq, seq);
    assert_eq!(event.expire_at_ms, Some(START_MS + 60_000));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_zero_starts_after_the_call() {
    let node = Node::start().await;
    let mut client = kv(&node).await;
    client.set(set(b"before", b"1")).await.unwrap();
    let mut stream = watch(&node, WatchRequest::default()).await.unwrap();
    let after = client.set(set(b"after", b"2")).await.unwrap().into_inner();
    let event = next_event(&mut stream).await;
    assert_eq!((event.seq, event.key.as_ref()), (after.seq, &b"after"[..]));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_filters_by_prefix_and_op_server_side() {
    let node = Node::start().await;
    let mut client = kv(&node).await;
    client.set(set(b"user:1", b"a")).await.unwrap(); // 1
    client.set(set(b"order:1", b"b")).await.unwrap(); // 2
    client
        .delete(DeleteRequest {
            keys: keys(&[b"user:1"]),
        })
        .await
        .unwrap(); // 3
    client.set(set(b"acct:7", b"c")).await.unwrap(); // 4
    client
        .delete(DeleteRequest {
            keys: keys(&[b"order:1"]),
        })
        .await
        .unwrap(); // 5
    client.set(set(b"user:2", b"d")).await.unwrap(); // 6
    client.set(set(b"zzz:end", b"e")).await.unwrap(); // 7: matches nothing

    let mut sets_of_users = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            key_prefixes: keys(&[b"user:", b"acct:"]),
            ops: vec![proto::Op::Set as i32],
        },
    )
    .await
    .unwrap();
    let mut deletes = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            key_prefixes: vec![],
            ops: vec![proto::Op::Del as i32],
        },
    )
    .await
    .unwrap();
    // The sentinel both filters accept marks the end.
    let end = client
        .set(set(b"user:end", b"z"))
        .await
        .unwrap()
        .into_inner();
    client
        .delete(DeleteRequest {
            keys: keys(&[b"user:end"]),
        })
        .await
        .unwrap();

    let mut seen = Vec::new();
    loop {
        let event = next_event(&mut sets_of_users).await;
        seen.push((event.seq, event.key.clone()));
        if event.seq == end.seq {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            (1, Bytes::from("user:1")),
            (4, Bytes::from("acct:7")),
            (6, Bytes::from("user:2")),
            (end.seq, Bytes::from("user:end")),
        ]
    );
    let mut seen = Vec::new();
    loop {
        let event = next_event(&mut deletes).await;
        assert_eq!(event.op, proto::Op::Del as i32);
        seen.push(event.seq);
        if event.key == "user:end" {
            break;
        }
    }
    assert_eq!(seen, vec![3, 5, end.seq + 1]);

    let err = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            key_prefixes: vec![],
            ops: vec![0],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_older_than_the_aof_fails_naming_the_oldest_seq() {
    let node = Node::builder().trimmed_history().start().await;
    let oldest = node.oldest_seq();
    assert!(oldest > 1, "the first segment is gone");
    let err = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            ..WatchRequest::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message()
            .contains(&format!("oldest available seq is {oldest}")),
        "{err:?}"
    );
    // From the oldest seq on, history is still there, from the AOF.
    let mut stream = watch(
        &node,
        WatchRequest {
            from_seq: oldest,
            ..WatchRequest::default()
        },
    )
    .await
    .unwrap();
    let event = next_event(&mut stream).await;
    assert_eq!(event.seq, oldest);
    assert!(event.key.starts_with(b"old:"), "{event:?}");

    let info = AdminClient::new(node.channel().await)
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.oldest_seq, oldest);
    assert_eq!(info.segments.first().map(|s| s.first_seq), Some(oldest));
    node.shutdown().await;
}

/// The next item of a watch, which must be a watermark.
async fn next_watermark(
    stream: &mut tonic::Streaming<proto::WatchResponse>,
    within: Duration,
) -> proto::Watermark {
    let item = tokio::time::timeout(within, stream.message())
        .await
        .unwrap_or_else(|_| panic!("a watermark within {within:?}"))
        .expect("a healthy stream")
        .expect("the stream goes on");
    match item.item {
        Some(Item::Watermark(mark)) => mark,
        other => panic!("expected a watermark, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_watch_gets_watermarks_whatever_its_filter() {
    let node = Node::builder()
        .watermark_interval(Duration::from_millis(100))
        .start()
        .await;
    let mut client = kv(&node).await;
    let seq = client.set(set(b"k", b"v")).await.unwrap().into_inner().seq;
    let mut all = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            ..WatchRequest::default()
        },
    )
    .await
    .unwrap();
    let mut none = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            key_prefixes: keys(&[b"nothing:"]),
            ops: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(next_event(&mut all).await.seq, seq);
    for stream in [&mut all, &mut none] {
        let mark = next_watermark(stream, Duration::from_secs(2)).await;
        assert_eq!(
            mark.last_seq, seq,
            "everything up to {seq} was seen or filtered"
        );
        assert_eq!(mark.node, &*node.store.identity().node);
        assert!(mark.ts_ms > 0);
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_out_traffic_still_advances_watermarks() {
    // Writes never pause long enough for the stream to go idle, and the
    // filter rejects them all: the watcher still learns how far it got.
    let node = Node::builder()
        .watermark_interval(Duration::from_millis(50))
        .start()
        .await;
    let mut stream = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            key_prefixes: keys(&[b"signal:"]),
            ops: vec![],
        },
    )
    .await
    .unwrap();
    let store = node.store.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = stop.clone();
    let writer = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let mut last = 0;
        while !writing.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(5) {
            let written = store
                .set(b"noise", b"x", fluxkv_store::SetOptions::default())
                .unwrap();
            last = written.seq.unwrap();
            store.wait_committed(last).await.unwrap();
        }
        last
    });
    let mut marks = Vec::new();
    while marks.len() < 3 {
        marks.push(
            next_watermark(&mut stream, Duration::from_secs(2))
                .await
                .last_seq,
        );
        assert!(
            !writer.is_finished(),
            "the watermarks came while writes went on"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let last = writer.await.unwrap();
    assert!(marks.windows(2).all(|w| w[0] <= w[1]), "{marks:?}");
    assert!(
        marks[0] > 0 && marks[2] <= last,
        "{marks:?} within 1..={last}"
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_watcher_never_blocks_writers() {
    let node = Node::start().await;
    // A watcher that reads nothing while ~10 MiB of changes go by: far
    // more than HTTP/2 flow control lets the server send it.
    let mut stalled = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            ..WatchRequest::default()
        },
    )
    .await
    .unwrap();
    let mut client = kv(&node).await;
    let value = vec![b'v'; 32 << 10];
    let writes = async {
        for i in 0..320u64 {
            let reply = client
                .set(set(format!("k{i}").as_bytes(), &value))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply.seq, i + 1);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), writes)
        .await
        .expect("writes complete while the watcher is stalled");
    // Then it reads everything, in order, without a gap.
    for seq in 1..=320 {
        let event = next_event(&mut stalled).await;
        assert_eq!(event.seq, seq);
        assert_eq!(event.value.as_deref().map(<[u8]>::len), Some(32 << 10));
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_watch_streams_cleanly() {
    let node = Node::start().await;
    let mut stream = watch(&node, WatchRequest::default()).await.unwrap();
    let mut other = watch(
        &node,
        WatchRequest {
            from_seq: 1,
            ..WatchRequest::default()
        },
    )
    .await
    .unwrap();
    node.shutdown().await;
    for stream in [&mut stream, &mut other] {
        let end = tokio::time::timeout(TIMEOUT, async {
            loop {
                match stream.message().await {
                    Ok(Some(_)) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("the stream ends");
        assert!(matches!(end, Ok(None)), "a clean end of stream: {end:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_info_reports_identity_and_positions() {
    let node = Node::start().await;
    let mut client = kv(&node).await;
    client.set(set(b"a", b"1")).await.unwrap();
    client.set(set(b"b", b"2")).await.unwrap();
    let info = AdminClient::new(node.channel().await)
        .info(InfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let identity = node.store.identity();
    assert_eq!(info.node, &*identity.node);
    assert_eq!(info.epoch, identity.epoch);
    assert_eq!((info.last_seq, info.committed_seq), (2, 2));
    assert!(info.durable_seq <= 2);
    assert_eq!(info.oldest_seq, 1);
    assert_eq!(info.keys, 2);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    let segment = info.segments.first().expect("one segment");
    assert_eq!(segment.first_seq, 1);
    assert!(segment.bytes > 16, "header and records: {segment:?}");
    assert!(
        node.store.data_dir().join(&segment.file).is_file(),
        "{} names a file in the data directory",
        segment.file
    );
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_for_the_server_and_each_service() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let node = Node::start().await;
    let mut health = HealthClient::new(node.channel().await);
    for service in ["", "fluxkv.v1.KV", "fluxkv.v1.Watch", "fluxkv.v1.Admin"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_and_describes_the_services() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let node = Node::start().await;
    let mut client = ServerReflectionClient::new(node.channel().await);
    let ask = |request: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let requests = futures_util::stream::iter(vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol("fluxkv.v1.KV".into())),
    ]);
    let mut replies = client
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    let mut next = async || -> ServerReflectionResponse {
        tokio::time::timeout(TIMEOUT, replies.message())
            .await
            .expect("a reflection reply")
            .unwrap()
            .unwrap()
    };

    let Some(MessageResponse::ListServicesResponse(list)) = next().await.message_response else {
        panic!("expected a service list");
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "fluxkv.v1.KV",
        "fluxkv.v1.Watch",
        "fluxkv.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(expected), "{expected} in {names:?}");
    }

    let Some(MessageResponse::FileDescriptorResponse(files)) = next().await.message_response else {
        panic!("expected file descriptors");
    };
    use prost::Message as _;
    let files: Vec<prost_types::FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(&bytes[..]).unwrap())
        .collect();
    let kv_file = files
        .iter()
        .find(|f| f.name() == "fluxkv/v1/kv.proto")
        .expect("kv.proto is described");
    let service = kv_file
        .service
        .iter()
        .find(|s| s.name() == "KV")
        .expect("service KV");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        ["Get", "Set", "Delete", "MGet", "MSet", "Scan", "Incr"]
    );
    node.shutdown().await;
}
