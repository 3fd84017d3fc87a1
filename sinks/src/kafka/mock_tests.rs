//! The sink against librdkafka's mock cluster, which can refuse requests
//! and go down on cue: how broker answers become `Delivery` outcomes.
//! (`sinks/tests/kafka.rs` runs against a real broker.)

use super::{KafkaConfig, KafkaSink};
use crate::sink::{Delivery, Record, Sink};
use bytes::Bytes;
use fluxkv_schemas::{ChangeEvent, Encoding, Op};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "changes";

fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(TOPIC, 1, 1).unwrap();
    mock
}

/// A sink whose batches leave as one request (a 50 ms linger). A record
/// times out after `timeout_ms`: generous, unless a test waits for a
/// timeout — on a loaded machine connecting alone can take a second.
async fn sink_timing_out_after(
    mock: &MockCluster<'static, DefaultProducerContext>,
    timeout_ms: u64,
) -> KafkaSink {
    let config: KafkaConfig = toml::from_str(&format!(
        r#"
        brokers = "{}"
        topic = "{TOPIC}"
        message_timeout_ms = {timeout_ms}
        properties = {{ "linger.ms" = "50" }}
        "#,
        mock.bootstrap_servers()
    ))
    .unwrap();
    KafkaSink::connect("mock", &config, Encoding::Json)
        .await
        .unwrap()
}

async fn sink(mock: &MockCluster<'static, DefaultProducerContext>) -> KafkaSink {
    sink_timing_out_after(mock, 10_000).await
}

fn records(seqs: std::ops::RangeInclusive<u64>) -> Arc<[Record]> {
    seqs.map(|seq| {
        let event = ChangeEvent {
            node: "n1".into(),
            epoch: 1,
            seq,
            ts_ms: 1_700_000_000_000 + seq,
            op: Op::Set,
            key: Bytes::from_static(b"k"),
            value: Some(Bytes::from(format!("v{seq}"))),
            expire_at_ms: None,
            prev: None,
        };
        let payload = Encoding::Json.encode(&event).unwrap().into();
        Record { event, payload }
    })
    .collect()
}

/// Delivers as the engine does: retrying until it goes through (with the
/// short timeout, connecting may time out once on a loaded machine).
async fn deliver_eventually(sink: &mut KafkaSink, records: Arc<[Record]>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match sink.deliver(records.clone()).await {
            Delivery::Delivered => return,
            Delivery::Retryable(_) if Instant::now() < deadline => continue,
            other => panic!("not delivered within 30 s: {other:?}"),
        }
    }
}

fn reason(delivery: &Delivery) -> String {
    match delivery {
        Delivery::Delivered => "delivered".into(),
        Delivery::Retryable(err) => err.to_string(),
        Delivery::Rejected { reason, .. } => reason.clone(),
    }
}

#[tokio::test]
async fn a_batch_refused_whole_is_resent_one_record_at_a_time() {
    let mock = cluster();
    let mut sink = sink(&mock).await;
    let batch = records(1..=5);
    assert!(matches!(
        sink.deliver(batch.clone()).await,
        Delivery::Delivered
    ));

    // One refusal: the whole request fails, and no record is to blame.
    let too_large = RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
    mock.request_errors(RDKafkaApiKey::Produce, &[too_large]);
    let first = sink.deliver(batch.clone()).await;
    assert!(matches!(first, Delivery::Retryable(_)), "{first:?}");
    assert!(reason(&first).contains("one at a time"), "{first:?}");
    let second = sink.deliver(batch.clone()).await;
    assert!(matches!(second, Delivery::Delivered), "{second:?}");

    // Refused again when alone: that record is the poison.
    mock.request_errors(RDKafkaApiKey::Produce, &[too_large, too_large]);
    assert!(matches!(
        sink.deliver(batch.clone()).await,
        Delivery::Retryable(_)
    ));
    let alone = sink.deliver(batch.clone()).await;
    assert!(
        matches!(&alone, Delivery::Rejected { index: 0, reason } if reason.contains("MessageSizeTooLarge")),
        "{alone:?}"
    );
    let rest = sink.deliver(batch[1..].into()).await;
    assert!(matches!(rest, Delivery::Delivered), "{rest:?}");
}

#[tokio::test]
async fn transient_broker_errors_are_retried_inside_the_producer() {
    let mock = cluster();
    let mut sink = sink(&mock).await;
    let replicas = RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
    mock.request_errors(RDKafkaApiKey::Produce, &[replicas, replicas, replicas]);
    let delivery = sink.deliver(records(1..=10)).await;
    assert!(matches!(delivery, Delivery::Delivered), "{delivery:?}");
}

#[tokio::test]
async fn a_broker_down_past_the_message_timeout_is_retryable() {
    let mock = cluster();
    let mut sink = sink_timing_out_after(&mock, 2_000).await;
    deliver_eventually(&mut sink, records(1..=3)).await;
    mock.broker_down(1).unwrap();
    let started = Instant::now();
    let down = sink.deliver(records(4..=6)).await;
    assert!(matches!(down, Delivery::Retryable(_)), "{down:?}");
    assert!(reason(&down).contains("MessageTimedOut"), "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    mock.broker_up(1).unwrap();
    deliver_eventually(&mut sink, records(4..=6)).await;
    sink.close().await.unwrap();
}
