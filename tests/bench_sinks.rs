//! `fluxkv bench --sink-latency kafka|rabbitmq` against a real node whose
//! TOML configures a Kafka sink and a RabbitMQ sink: each run writes over
//! gRPC and consumes the events straight from the broker.
//!
//! Needs the brokers of `scripts/services.sh`: RabbitMQ on 127.0.0.1:5672
//! and the tansu Kafka-protocol broker on 127.0.0.1:9092. Fails (never
//! skips) when either is missing.

mod common;

use common::{Node, bench_json};
use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

const KAFKA: &str = "127.0.0.1:9092";
const RABBITMQ: &str = "127.0.0.1:5672";
const AMQP_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Fails, naming the script that starts them, when a broker is not there.
fn require_brokers() {
    for (what, addr) in [("Kafka (tansu)", KAFKA), ("RabbitMQ", RABBITMQ)] {
        let sock: SocketAddr = addr.parse().unwrap();
        if let Err(err) = TcpStream::connect_timeout(&sock, Duration::from_secs(2)) {
            panic!(
                "{what} is not reachable on {addr} ({err}): run scripts/services.sh, which \
                 installs and starts RabbitMQ on 5672 and tansu on 9092"
            );
        }
    }
}

/// A name no earlier run used: topics and exchanges outlive a test.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("fluxkv-bench-{what}-{}-{nanos}", std::process::id())
}

/// A node configuration with one sink of each kind, delivering as soon as
/// it can.
fn write_config(dir: &Path, topic: &str, exchange: &str) -> PathBuf {
    let path = dir.join("fluxkv.toml");
    let toml = format!(
        r#"
[sinks.to_kafka]
kind = "kafka"
encoding = "json"
batch = {{ linger_ms = 1 }}
brokers = "{KAFKA}"
topic = "{topic}"
create_topic = {{ partitions = 2, replication = 1 }}

[sinks.to_rabbit]
kind = "rabbitmq"
encoding = "json"
batch = {{ linger_ms = 1 }}
uri = "{AMQP_URI}"
exchange = "{exchange}"
"#
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// Every acknowledged write's event was consumed from the broker.
fn check_complete(report: &Value, sink: &str) {
    assert_eq!(report["mode"], "sink-latency", "{report}");
    assert_eq!(report["sink"], sink, "{report}");
    assert_eq!(report["key_prefix"], "bench:", "{report}");
    let events = report["events"].as_u64().unwrap();
    assert!(events > 0, "no event consumed: {report}");
    assert_eq!(report["missing"], 0, "{report}");
    assert_eq!(report["missing_seqs"], serde_json::json!([]), "{report}");
    assert_eq!(report["write_errors"], 0, "{report}");
    assert_eq!(report["writes"].as_u64(), Some(events), "{report}");
    assert_eq!(report["without_seq"], 0, "{report}");
    assert!(report["rate_achieved"].as_f64().unwrap() > 0.0, "{report}");
    let latency = &report["latency_ms"];
    assert!(
        latency["p50"].as_f64().unwrap() <= latency["max"].as_f64().unwrap(),
        "{report}"
    );
}

#[test]
fn sink_latency_consumes_every_write_from_kafka_and_rabbitmq() {
    require_brokers();
    let dir = tempfile::tempdir().unwrap();
    let (topic, exchange) = (unique("topic"), unique("exchange"));
    let config = write_config(dir.path(), &topic, &exchange);
    let data = dir.path().join("data");
    let node = Node::start(&data, &["--config", config.to_str().unwrap()]);
    let addr = node.grpc_url();
    let common = [
        "--addr",
        &addr,
        "--rate",
        "2000",
        "--duration",
        "1",
        "--json",
    ];

    let kafka = bench_json(
        &[
            &["--sink-latency", "kafka", "--kafka-topic", &topic][..],
            &["--kafka-brokers", KAFKA],
            &common,
        ]
        .concat(),
    );
    check_complete(&kafka, "kafka");
    assert_eq!(kafka["topic"], topic.as_str(), "{kafka}");

    let rabbit = bench_json(
        &[
            &["--sink-latency", "rabbitmq", "--exchange", &exchange][..],
            &["--amqp-uri", AMQP_URI],
            &common,
        ]
        .concat(),
    );
    check_complete(&rabbit, "rabbitmq");
    assert_eq!(rabbit["exchange"], exchange.as_str(), "{rabbit}");
    assert_eq!(
        rabbit["broker"], "amqp://guest:***@127.0.0.1:5672/%2f",
        "the password stays out of the report: {rabbit}"
    );
}
