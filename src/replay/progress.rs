//! How far a replay has got, on stderr: an indicatif bar when stderr is a
//! terminal, otherwise a plain line every few seconds (logs and CI keep
//! those; a bar would be a stream of control codes there).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Where the replay is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position {
    /// Every record up to this seq has been looked at.
    pub(crate) seq: u64,
    /// AOF bytes read.
    pub(crate) bytes_read: u64,
    /// Events handed to the target.
    pub(crate) sent: u64,
}

/// The progress display.
#[derive(Debug)]
pub(crate) struct Progress {
    view: View,
    started: Instant,
    /// AOF bytes to read in all (as of the start).
    total_bytes: u64,
}

#[derive(Debug)]
enum View {
    Bar(ProgressBar),
    Lines { next: Instant },
}

impl Progress {
    /// A display for a replay of `total_bytes` of AOF.
    pub(crate) fn new(total_bytes: u64) -> Progress {
        let started = Instant::now();
        let view = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total_bytes.max(1));
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar:.cyan/blue}] {percent:>3}% eta {eta} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            View::Bar(bar)
        } else {
            View::Lines {
                next: started + LINE_EVERY,
            }
        };
        Progress {
            view,
            started,
            total_bytes,
        }
    }

    /// Shows `at` (a line only when one is due).
    pub(crate) fn show(&mut self, at: Position) {
        match &mut self.view {
            View::Bar(bar) => {
                bar.set_position(at.bytes_read);
                bar.set_message(format!(
                    "seq {} · {} events · {}/s",
                    at.seq,
                    at.sent,
                    per_second(at.sent, self.started.elapsed())
                ));
            }
            View::Lines { next } => {
                let now = Instant::now();
                if now < *next {
                    return;
                }
                *next = now + LINE_EVERY;
                let percent = match self.total_bytes {
                    0 => 100,
                    total => (at.bytes_read.min(total) * 100) / total,
                };
                eprintln!(
                    "replay: at seq {}, {percent}% of the AOF read, {} events sent ({} events/s)",
                    at.seq,
                    at.sent,
                    per_second(at.sent, now - self.started)
                );
            }
        }
    }

    /// Takes the bar off the screen before the report is printed.
    pub(crate) fn finish(self) {
        if let View::Bar(bar) = self.view {
            bar.finish_and_clear();
        }
    }
}

/// `count` over `elapsed`, rounded down.
pub(crate) fn per_second(count: u64, elapsed: Duration) -> u64 {
    (count as f64 / elapsed.as_secs_f64().max(1e-6)) as u64
}
