//! Results: per-connection tallies (counts plus a latency histogram), their
//! merge, and the final report as text or JSON.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::workload::Workload;

/// Highest latency the histogram tracks precisely, in microseconds (one
/// hour); slower replies are clamped to it rather than dropped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What one connection (or, once merged, the whole run) observed.
#[derive(Debug)]
pub(crate) struct Tally {
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    /// Microseconds from sending a request's batch to receiving its reply.
    latency_us: Histogram<u64>,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            requests: 0,
            errors: 0,
            first_error: None,
            latency_us: micros_histogram(),
        }
    }

    /// Records `count` replies that all arrived `latency` after their batch was sent.
    pub(crate) fn record(&mut self, latency: Duration, count: u64) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record_n(micros, count);
        self.requests += count;
    }

    /// Counts an error reply (its latency is recorded by [`Tally::record`] too).
    pub(crate) fn record_error(&mut self, text: &[u8]) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(String::from_utf8_lossy(text).into_owned());
        }
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with identical bounds always merge");
    }
}

/// How requests reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    /// The Redis protocol, over one TCP connection per `--connections`.
    Resp,
    /// fluxkv's gRPC KV API, over `--connections` HTTP/2 channels.
    Grpc,
}

/// What was run, echoed in the report so a JSON result stands on its own.
#[derive(Debug, Serialize)]
pub(crate) struct Setup {
    pub(crate) server: String,
    pub(crate) protocol: Protocol,
    pub(crate) workload: Workload,
    /// Only meaningful (and only present) for the `mix` workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) read_ratio: Option<f64>,
    pub(crate) connections: usize,
    /// RESP only: requests per batch on each connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pipeline: Option<usize>,
    /// gRPC only: requests outstanding at once across all channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) in_flight: Option<usize>,
    pub(crate) keyspace: u64,
    pub(crate) value_size: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    #[serde(flatten)]
    setup: Setup,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed_secs: f64,
    throughput_rps: f64,
    latency_ms: Latency,
}

/// Latency summary in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    avg: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
}

impl Latency {
    /// The summary of a histogram of microseconds.
    pub(crate) fn from_micros(histogram: &Histogram<u64>) -> Self {
        let quantile_ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Latency {
            avg: histogram.mean() / 1000.0,
            p50: quantile_ms(0.50),
            p90: quantile_ms(0.90),
            p99: quantile_ms(0.99),
            p99_9: quantile_ms(0.999),
            max: histogram.max() as f64 / 1000.0,
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "avg {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.avg, self.p50, self.p90, self.p99, self.p99_9, self.max
        )
    }
}

/// A histogram of microseconds from 1 µs to an hour, 3 significant digits
/// (0.1% error, a few tens of KiB); slower values are clamped, not dropped.
pub(crate) fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

impl Report {
    pub(crate) fn new(setup: Setup, tally: Tally, elapsed: Duration) -> Self {
        let elapsed_secs = elapsed.as_secs_f64();
        Self {
            setup,
            requests: tally.requests,
            errors: tally.errors,
            first_error: tally.first_error,
            elapsed_secs,
            throughput_rps: if elapsed_secs > 0.0 {
                tally.requests as f64 / elapsed_secs
            } else {
                0.0
            },
            latency_ms: Latency::from_micros(&tally.latency_us),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }
}

/// The human-readable form: a redis-benchmark-like headline, then detail.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setup = &self.setup;
        let name = match (setup.workload, setup.read_ratio) {
            (Workload::Set, _) => "SET".to_owned(),
            (Workload::Get, _) => "GET".to_owned(),
            (Workload::Mix, ratio) => format!("MIX({:.0}% GET)", ratio.unwrap_or(0.0) * 100.0),
        };
        writeln!(
            f,
            "{name}: {:.2} requests per second, {} requests in {:.3} s, {} errors",
            self.throughput_rps, self.requests, self.elapsed_secs, self.errors
        )?;
        let transport = match setup.protocol {
            Protocol::Resp => format!(
                "{} connections, pipeline {}",
                setup.connections,
                setup.pipeline.unwrap_or(1)
            ),
            Protocol::Grpc => format!(
                "gRPC, {} channels, {} in flight",
                setup.connections,
                setup.in_flight.unwrap_or(0)
            ),
        };
        writeln!(
            f,
            "  server {}, {transport}, keyspace {}, {}-byte values",
            setup.server, setup.keyspace, setup.value_size
        )?;
        write!(f, "  latency ms: {}", self.latency_ms)?;
        if let Some(error) = &self.first_error {
            write!(f, "\n  first error: {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            server: "127.0.0.1:6380".to_owned(),
            protocol: Protocol::Resp,
            workload: Workload::Set,
            read_ratio: None,
            connections: 2,
            pipeline: Some(1),
            in_flight: None,
            keyspace: 10,
            value_size: 3,
        }
    }

    #[test]
    fn merged_tallies_add_up() {
        let mut a = Tally::new();
        a.record(Duration::from_micros(1000), 3);
        let mut b = Tally::new();
        b.record(Duration::from_micros(3000), 1);
        b.record_error(b"ERR first");
        b.record_error(b"ERR second");
        a.merge(b);
        let report = Report::new(setup(), a, Duration::from_secs(2));
        assert_eq!(report.requests, 4);
        assert_eq!(report.errors, 2);
        assert_eq!(report.first_error.as_deref(), Some("ERR first"));
        assert_eq!(report.throughput_rps, 2.0);
        assert!((report.latency_ms.avg - 1.5).abs() < 0.01);
        assert!((report.latency_ms.max - 3.0).abs() < 0.01);
    }

    #[test]
    fn json_is_one_flat_object() {
        let report = Report::new(setup(), Tally::new(), Duration::from_secs(1));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["workload"], "set");
        assert_eq!(json["requests"], 0);
        assert!(json.get("read_ratio").is_none());
        assert_eq!(json["protocol"], "resp");
        assert_eq!(json["pipeline"], 1);
        assert!(json.get("in_flight").is_none());
        assert!(json["latency_ms"]["p99_9"].is_number());
    }
}
