//! Tests of a run's bookkeeping: events matched by the [`Tracker`] and
//! what the [`Report`] makes of them; and of `redact`.

use std::time::{Duration, Instant};

use super::{Report, Source, Tracker, redact};
use crate::bench::args::SinkSource;
use crate::bench::delivery::{self, Acks as _, Writes};

fn setup() -> delivery::Setup {
    delivery::Setup {
        server: "http://127.0.0.1:50051".into(),
        connections: 1,
        in_flight: 10,
        keyspace: 10,
        value_size: 3,
        duration_secs: 1.0,
        rate_target: 10,
    }
}

fn writes(acked: u64) -> Writes {
    Writes {
        acked,
        errors: 0,
        first_error: None,
        elapsed: Duration::from_secs(1),
    }
}

#[test]
fn out_of_order_events_and_repeats() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut tracker = Tracker::new(10, Duration::from_secs(1));
    // The warm-up (seq 9) and anything before it are not measured.
    tracker.received(Some(9), t0);
    assert_eq!(tracker.highest_seen(), 9);
    tracker.start_measuring(10);
    tracker.received(Some(8), t0);
    // Two partitions: 12 is consumed before 11, and before its ack.
    tracker.acked(10, t0, ms(1));
    tracker.acked(11, t0, ms(1));
    tracker.received(Some(12), ms(2));
    tracker.received(Some(10), ms(3));
    tracker.acked(12, ms(1), ms(4));
    tracker.received(Some(11), ms(5));
    // Repeats are counted, not matched again.
    tracker.received(Some(10), ms(6));
    tracker.received(Some(12), ms(6));
    // Never consumed; a message with no seq; another client's write.
    tracker.acked(13, t0, t0);
    tracker.received(None, ms(7));
    tracker.received(Some(20), ms(7));

    assert_eq!(tracker.matched, 3);
    assert_eq!(tracker.matched_early, 1);
    assert_eq!(tracker.duplicates, 2);
    assert_eq!(tracker.pending(), 1);
    assert_eq!(tracker.missing(), vec![13]);
    assert!((tracker.latency_us.max() as f64 - 4000.0).abs() < 5.0);
    assert_eq!(tracker.latency_us.min(), 0);
    assert!((tracker.since_sent_us.max() as f64 - 5000.0).abs() < 5.0);

    let report = Report::new(
        Source::of(&SinkSource::Kafka {
            brokers: "127.0.0.1:9092".into(),
            topic: "t".into(),
        }),
        setup(),
        "bench:".into(),
        writes(4),
        &tracker,
    );
    assert!(!report.is_complete());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["mode"], "sink-latency");
    assert_eq!(json["sink"], "kafka");
    assert_eq!(json["topic"], "t");
    assert!(json.get("exchange").is_none());
    assert_eq!(json["events"], 3);
    assert_eq!(json["consumed"], 9);
    assert_eq!(json["missing"], 1);
    assert_eq!(json["missing_seqs"], serde_json::json!([13]));
    assert_eq!(json["duplicates"], 2);
    assert_eq!(json["early"], 1);
    assert_eq!(json["other_events"], 3);
    assert_eq!(json["without_seq"], 1);
    assert!(json["latency_ms"]["p99_9"].is_number());
    let text = report.to_string();
    assert!(text.contains("missing seqs"), "{text}");
    assert!(text.contains("SINK LATENCY (kafka)"), "{text}");
}

#[test]
fn complete_when_nothing_is_missing() {
    let t0 = Instant::now();
    let mut tracker = Tracker::new(10, Duration::from_secs(1));
    tracker.start_measuring(1);
    tracker.acked(1, t0, t0);
    tracker.received(Some(1), t0 + Duration::from_millis(1));
    tracker.received(Some(1), t0 + Duration::from_millis(2));
    let source = Source::of(&SinkSource::RabbitMq {
        uri: "amqp://guest:secret@127.0.0.1:5672/%2f".into(),
        exchange: "x".into(),
    });
    let report = Report::new(source, setup(), "bench:".into(), writes(1), &tracker);
    assert!(report.is_complete());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["broker"], "amqp://guest:***@127.0.0.1:5672/%2f");
    assert_eq!(json["exchange"], "x");
    assert_eq!(json["duplicates"], 1);
    // No write at all is not a run.
    let empty = Tracker::new(10, Duration::from_secs(1));
    let source = Source::of(&SinkSource::Kafka {
        brokers: "b".into(),
        topic: "t".into(),
    });
    assert!(!Report::new(source, setup(), "bench:".into(), writes(0), &empty).is_complete());
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact("amqp://u:p@h:5672/v"),
        "amqp://u:***@h:5672/v".to_owned()
    );
    assert_eq!(redact("amqp://h:5672/v"), "amqp://h:5672/v".to_owned());
    assert_eq!(redact("amqp://u@h/v"), "amqp://u@h/v".to_owned());
    assert_eq!(redact("amqp://u:p:q@h"), "amqp://u:***@h".to_owned());
}
