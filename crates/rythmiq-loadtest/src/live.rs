//! What the load test shows while it runs: submitted, done and failed documents and the P95 of those done so far.
//! On a terminal one line is redrawn in place; otherwise (a CI log, a pipe) a plain line is written every
//! `--progress-every` seconds, and a last one when the burst ends. Also the load test's own output options
//! (`--csv`, `--progress-every`), as one clap struct the command flattens.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rythmiq_measure::stats::percentile_of_sorted;

/// The load test's output options beyond its JSON result.
#[derive(Clone, Debug, Default, PartialEq, clap::Args)]
pub struct LiveArgs {
    /// Also write locust-style stats, `PREFIX_stats.csv` (locust's columns: one row per request type, `E2E
    /// document` for the end-to-end latency, and `Aggregated`), so the same spreadsheets read both tools.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Seconds between progress lines when stderr is not a terminal (on a terminal the line is redrawn every
    /// second); 0 turns progress off.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub progress_every: f64,
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    Off,
    /// One line redrawn in place (`\r`), every `every`.
    Redraw {
        every: Duration,
    },
    /// A plain line every `every`.
    Lines {
        every: Duration,
    },
}

impl Progress {
    /// Redraw on a terminal, plain lines otherwise; off when `every_secs` is 0 (or not a positive number).
    pub fn for_stderr(every_secs: f64) -> Progress {
        use std::io::IsTerminal as _;
        if !(every_secs.is_finite() && every_secs > 0.0) {
            Progress::Off
        } else if std::io::stderr().is_terminal() {
            Progress::Redraw { every: Duration::from_secs(1) }
        } else {
            Progress::Lines { every: Duration::from_secs_f64(every_secs) }
        }
    }
}

/// Counters the users update and the progress line reads.
#[derive(Debug, Default)]
pub struct Live {
    submitted: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    latencies: Mutex<Vec<f64>>,
}

/// One reading of [`Live`].
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub elapsed_secs: f64,
    pub submitted: u64,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    /// Nearest-rank P95 of the documents done so far; `None` before the first.
    pub p95_secs: Option<f64>,
}

impl Live {
    pub fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn done(&self, latency_secs: f64) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.latencies.lock() {
            l.push(latency_secs);
        }
    }

    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, elapsed_secs: f64, total: u64) -> Snapshot {
        let mut sorted = self.latencies.lock().map(|l| l.clone()).unwrap_or_default();
        sorted.sort_by(f64::total_cmp);
        Snapshot {
            elapsed_secs,
            submitted: self.submitted.load(Ordering::Relaxed),
            total,
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            p95_secs: (!sorted.is_empty()).then(|| percentile_of_sorted(&sorted, 95.0)),
        }
    }
}

impl Snapshot {
    /// e.g. `progress 12.0 s: submitted 6/6, done 4, failed 0, P95 3.21 s`.
    pub fn line(&self) -> String {
        format!(
            "progress {:.1} s: submitted {}/{}, done {}, failed {}, P95 {}",
            self.elapsed_secs,
            self.submitted,
            self.total,
            self.done,
            self.failed,
            self.p95_secs.map_or("-".to_string(), |p| format!("{p:.2} s"))
        )
    }
}

/// Writes progress to stderr until `stop` is set, then a last line (on a terminal: ends the redrawn line).
pub async fn report(live: Arc<Live>, mode: Progress, total: u64, start: Instant, stop: Arc<AtomicBool>) {
    let (every, redraw) = match mode {
        Progress::Off => return,
        Progress::Redraw { every } => (every, true),
        Progress::Lines { every } => (every, false),
    };
    let show = |last: bool| {
        let line = live.snapshot(start.elapsed().as_secs_f64(), total).line();
        let mut err = std::io::stderr().lock();
        let _ = if redraw {
            write!(err, "\r\x1b[2K{line}{}", if last { "\n" } else { "" })
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    };
    let mut next = start + every;
    while !stop.load(Ordering::Relaxed) {
        // Wake often enough to notice the end promptly, print on the interval.
        tokio::time::sleep(every.min(Duration::from_millis(100))).await;
        if Instant::now() >= next && !stop.load(Ordering::Relaxed) {
            show(false);
            next += every;
        }
    }
    show(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_documents_and_takes_the_p95_of_those_done() {
        let live = Live::default();
        assert_eq!(
            live.snapshot(0.0, 4).line(),
            "progress 0.0 s: submitted 0/4, done 0, failed 0, P95 -",
            "no P95 before the first document is done"
        );
        for _ in 0..4 {
            live.submitted();
        }
        // 20 latencies 1..=20 s: nearest rank of P95 is the 19th, 19 s.
        for s in 1..=20 {
            live.done(f64::from(s));
        }
        live.failed();
        let snap = live.snapshot(12.04, 4);
        assert_eq!(snap.p95_secs, Some(19.0));
        assert_eq!(snap.line(), "progress 12.0 s: submitted 4/4, done 20, failed 1, P95 19.00 s");
    }

    #[test]
    fn zero_or_nonsense_turns_progress_off() {
        assert_eq!(Progress::for_stderr(0.0), Progress::Off);
        assert_eq!(Progress::for_stderr(f64::NAN), Progress::Off);
        assert_eq!(Progress::for_stderr(-1.0), Progress::Off);
        assert_ne!(Progress::for_stderr(5.0), Progress::Off);
    }
}
