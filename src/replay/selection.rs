//! Which records a replay takes: a seq range, a time range, key prefixes
//! and ops — the flags, and the one test every record goes through.
//!
//! The prefix and op test is the sinks' own [`FilterConfig`], so
//! `--prefix`/`--ops` mean exactly what a sink's `filter` means (a `flush`
//! passes every prefix, since it removes keys under all of them).

use anyhow::{Context, ensure};
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use fluxkv_schemas::{ChangeEvent, Op};
use fluxkv_sinks::config::FilterConfig;

/// The selection flags of `fluxkv replay`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SelectionArgs {
    /// First seq to replay, inclusive (default: the oldest the AOF holds).
    /// After an interruption, the `--from-seq` the replay printed.
    #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Selection")]
    from_seq: Option<u64>,

    /// Last seq to replay, inclusive (default: the last one on disk when
    /// the replay gets there).
    #[arg(long, value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Selection")]
    to_seq: Option<u64>,

    /// Only records written at or after TIME: RFC 3339
    /// (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.250+02:00) or Unix
    /// milliseconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Selection")]
    from_time: Option<u64>,

    /// Only records written at or before TIME (same forms as --from-time).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Selection")]
    to_time: Option<u64>,

    /// Only keys starting with P (repeatable: any of them). `flush` records
    /// always pass: they remove keys under every prefix.
    #[arg(long = "prefix", value_name = "P", help_heading = "Selection")]
    prefixes: Vec<String>,

    /// Only these ops, comma-separated or repeated.
    #[arg(
        long,
        value_name = "OPS",
        value_delimiter = ',',
        help_heading = "Selection",
        value_parser = PossibleValuesParser::new(Op::ALL.map(Op::as_str))
            .map(|name| name.parse::<Op>().expect("a listed op name parses")),
    )]
    ops: Vec<Op>,
}

/// The records a replay takes.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    /// First seq; 0: the oldest the AOF holds.
    pub(crate) from_seq: u64,
    /// Last seq (`u64::MAX`: no limit).
    pub(crate) to_seq: u64,
    from_ms: u64,
    to_ms: u64,
    filter: FilterConfig,
}

impl Selection {
    /// The selection the flags describe; an empty range is an error.
    pub(crate) fn new(args: SelectionArgs) -> anyhow::Result<Selection> {
        let selection = Selection {
            from_seq: args.from_seq.unwrap_or(0),
            to_seq: args.to_seq.unwrap_or(u64::MAX),
            from_ms: args.from_time.unwrap_or(0),
            to_ms: args.to_time.unwrap_or(u64::MAX),
            filter: FilterConfig {
                prefixes: args.prefixes,
                ops: args.ops,
            },
        };
        ensure!(
            selection.from_seq <= selection.to_seq,
            "--from-seq {} is after --to-seq {}",
            selection.from_seq,
            selection.to_seq
        );
        ensure!(
            selection.from_ms <= selection.to_ms,
            "--from-time is after --to-time"
        );
        Ok(selection)
    }

    /// Whether `event` is replayed.
    pub(crate) fn takes(&self, event: &ChangeEvent) -> bool {
        (self.from_seq..=self.to_seq).contains(&event.seq)
            && (self.from_ms..=self.to_ms).contains(&event.ts_ms)
            && self.filter.accepts(event)
    }
}

/// RFC 3339 with an offset, or Unix milliseconds, as Unix milliseconds.
fn parse_time(text: &str) -> anyhow::Result<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let at: jiff::Timestamp = text.parse().with_context(|| {
        format!("{text:?} is neither RFC 3339 (2024-05-01T12:00:00Z) nor Unix milliseconds")
    })?;
    u64::try_from(at.as_millisecond())
        .with_context(|| format!("{text:?} is before 1970, when the AOF's clock starts"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        selection: SelectionArgs,
    }

    fn selection(args: &[&str]) -> anyhow::Result<Selection> {
        let cli = Cli::try_parse_from(std::iter::once("replay").chain(args.iter().copied()))?;
        Selection::new(cli.selection)
    }

    fn event(seq: u64, ts_ms: u64, op: Op, key: &'static str) -> ChangeEvent {
        ChangeEvent {
            node: "n".into(),
            epoch: 1,
            seq,
            ts_ms,
            op,
            key: key.into(),
            value: (op == Op::Set).then(|| "v".into()),
            expire_at_ms: None,
            prev: None,
        }
    }

    #[test]
    fn times_are_rfc3339_or_unix_millis() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-15T00:13:20.250+02:00").unwrap(),
            1_700_000_000_250
        );
        let err = parse_time("yesterday").unwrap_err();
        assert!(format!("{err:#}").contains("RFC 3339"), "{err:#}");
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn every_condition_applies() {
        let s = selection(&[
            "--from-seq",
            "10",
            "--to-seq",
            "20",
            "--from-time",
            "1000",
            "--to-time",
            "2000",
            "--prefix",
            "user:",
            "--prefix",
            "order:",
            "--ops",
            "set,flush",
        ])
        .unwrap();
        assert!(s.takes(&event(10, 1000, Op::Set, "user:1")));
        assert!(s.takes(&event(20, 2000, Op::Set, "order:1")));
        assert!(s.takes(&event(15, 1500, Op::Flush, "")));
        assert!(!s.takes(&event(9, 1500, Op::Set, "user:1")));
        assert!(!s.takes(&event(21, 1500, Op::Set, "user:1")));
        assert!(!s.takes(&event(15, 999, Op::Set, "user:1")));
        assert!(!s.takes(&event(15, 2001, Op::Set, "user:1")));
        assert!(!s.takes(&event(15, 1500, Op::Set, "session:1")));
        assert!(!s.takes(&event(15, 1500, Op::Del, "user:1")));
    }

    #[test]
    fn defaults_take_everything_and_bad_ranges_are_refused() {
        let s = selection(&[]).unwrap();
        assert_eq!((s.from_seq, s.to_seq), (0, u64::MAX));
        assert!(s.takes(&event(1, 0, Op::Evict, "x")));
        let err = selection(&["--from-seq", "5", "--to-seq", "4"]).unwrap_err();
        assert!(err.to_string().contains("after --to-seq"), "{err}");
        assert!(selection(&["--ops", "set,rename"]).is_err());
        assert!(selection(&["--from-seq", "0"]).is_err());
    }
}
