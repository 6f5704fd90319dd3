//! Per-stage CPU capture.
//!
//! A stage's CPU is the CPU of the thread that ran it plus the CPU of every helper thread it used:
//! - the calling thread: `cpu_time::ThreadTime` (CLOCK_THREAD_CPUTIME_ID);
//! - threads the stage's C code created and keeps alive (libgomp's OpenMP pool inside Tesseract): Linux gives a
//!   new thread the name (comm) of the thread that created it, and libgomp never renames its threads, so every
//!   live thread that carries the pipeline thread's unique name is its helper. Their CPU is read from
//!   `/proc/self/task/<tid>/schedstat` (nanoseconds) at stage boundaries;
//! - short-lived helpers of our own: [`on_helper_thread`] runs a closure on a differently named thread, measures
//!   that thread's CPU itself and books it to the calling thread's ledger before returning.
//!
//! Hidden contract: the pipeline thread's name must be unique in the process ([`name_current_thread`]); two
//! pipeline threads with one name would see each other's helpers.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use rythmiq_types::{Stage, StageRecord};

thread_local! {
    /// CPU seconds that helper threads booked to this thread (see `on_helper_thread`).
    static LEDGER: Cell<f64> = const { Cell::new(0.0) };
}

/// Renames the calling thread (at most 15 bytes are kept by Linux). Helper threads it creates inherit the name.
pub fn name_current_thread(name: &str) -> std::io::Result<()> {
    let name: String = name.chars().take(15).collect();
    std::fs::write("/proc/thread-self/comm", name)
}

fn current_thread_name() -> String {
    std::fs::read_to_string("/proc/thread-self/comm").map(|s| s.trim_end().to_string()).unwrap_or_default()
}

fn current_tid() -> Option<u32> {
    // "/proc/thread-self" links to "<pid>/task/<tid>".
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU nanoseconds of every live thread named `name`, except `own_tid`.
fn helper_cpu_ns(name: &str, own_tid: Option<u32>) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for entry in tasks.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if Some(tid) == own_tid {
            continue;
        }
        let dir = entry.path();
        let same_name = std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == name);
        if !same_name {
            continue;
        }
        if let Some(ns) = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        {
            out.insert(tid, ns);
        }
    }
    out
}

/// A point in time on the calling thread, from which a stage's cost is measured.
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    wall: Instant,
    thread: Duration,
    ledger: f64,
    helpers: HashMap<u32, u64>,
}

/// Measures consecutive stages on one thread. One snapshot ends a stage and starts the next, so the scans of
/// `/proc` are paid once per boundary.
#[derive(Debug)]
pub struct StageClock {
    name: String,
    tid: Option<u32>,
    /// Whether helper threads can exist at all; when false the `/proc` scan is skipped.
    scan_helpers: bool,
}

impl StageClock {
    /// A clock for the calling thread. `scan_helpers = false` is exact only when nothing on this thread can start
    /// helper threads (for example OpenMP limited to one thread).
    pub fn for_current_thread(scan_helpers: bool) -> StageClock {
        StageClock { name: current_thread_name(), tid: current_tid(), scan_helpers }
    }

    pub fn snapshot(&self) -> CpuSnapshot {
        CpuSnapshot {
            wall: Instant::now(),
            thread: ThreadTime::now().as_duration(),
            ledger: LEDGER.with(Cell::get),
            helpers: if self.scan_helpers { helper_cpu_ns(&self.name, self.tid) } else { HashMap::new() },
        }
    }

    /// The cost of `stage` between two snapshots of this clock.
    pub fn record(&self, stage: Stage, start: &CpuSnapshot, end: &CpuSnapshot) -> StageRecord {
        // A helper born during the stage counts from zero; one that died during it is lost to the scan (libgomp's
        // pool lives as long as its thread, and our own short-lived helpers go through the ledger instead).
        let helper_ns: u64 =
            end.helpers.iter().map(|(tid, &ns)| ns.saturating_sub(start.helpers.get(tid).copied().unwrap_or(0))).sum();
        let ledger = (end.ledger - start.ledger).max(0.0);
        let helper = helper_ns as f64 / 1e9 + ledger;
        let own = end.thread.saturating_sub(start.thread).as_secs_f64();
        StageRecord {
            stage,
            cpu_seconds: own + helper,
            helper_cpu_seconds: helper,
            wall_seconds: end.wall.duration_since(start.wall).as_secs_f64(),
            skipped: false,
        }
    }
}

/// Whether OpenMP may start helper threads in this process, so the clock must scan for them: when the configured OCR
/// threads ask for more than one, or when the limit the OpenMP runtime actually obeys (`OMP_THREAD_LIMIT`, read once
/// at process start; unset or unparsable means no limit) allows more than one. When config and environment
/// disagree the scan is kept: it costs a `/proc` read per stage boundary, while skipping it would under-count.
pub fn helpers_possible(configured_ocr_threads: u32) -> bool {
    configured_ocr_threads > 1 || omp_limit_allows_helpers(std::env::var("OMP_THREAD_LIMIT").ok().as_deref())
}

/// The `OMP_THREAD_LIMIT` this process started with (`unset` when none), when it is not the configured OCR threads:
/// OpenMP then runs Tesseract on that many threads (unset: every core), whatever the config says, because libgomp
/// reads the limit once at start-up and Tesseract's parallel regions name their own thread counts. The `rythmiq`
/// binary restarts itself so the two agree; a program embedding the pipeline must set the variable before it starts.
pub fn omp_limit_mismatch(configured_ocr_threads: u32) -> Option<String> {
    limit_mismatch(std::env::var("OMP_THREAD_LIMIT").ok().as_deref(), configured_ocr_threads)
}

fn limit_mismatch(limit: Option<&str>, configured: u32) -> Option<String> {
    match limit.map(|v| (v, v.trim().parse::<u32>().ok())) {
        Some((_, Some(n))) if n == configured => None,
        Some((v, _)) => Some(v.to_string()),
        None => Some("unset".to_string()),
    }
}

fn omp_limit_allows_helpers(limit: Option<&str>) -> bool {
    limit.and_then(|v| v.trim().parse::<u32>().ok()).is_none_or(|n| n > 1)
}

/// Runs `f` on a short-lived helper thread and books that thread's CPU to the calling thread, so the stage
/// that asked for the help pays for it.
pub fn on_helper_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let (value, cpu) = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("rq-helper".into())
            .spawn_scoped(scope, || {
                let start = ThreadTime::now();
                let value = f();
                (value, start.elapsed().as_secs_f64())
            })
            .expect("spawning a helper thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    LEDGER.with(|l| l.set(l.get() + cpu));
    value
}

/// Books `cpu_seconds` spent by a child process (a PDF tool, read from its rusage) to the calling thread, so the
/// stage that ran the child pays for it as helper CPU.
pub fn book_helper_cpu(cpu_seconds: f64) {
    if cpu_seconds > 0.0 {
        LEDGER.with(|l| l.set(l.get() + cpu_seconds));
    }
}

/// Resident memory of this process: (current, peak) in bytes, from `/proc/self/status`.
pub fn memory_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds of the whole process so far (all threads, live and exited).
pub fn process_cpu_seconds() -> f64 {
    cpu_time::ProcessTime::try_now().map(|t| t.as_duration().as_secs_f64()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn(duration: Duration) -> u64 {
        let start = ThreadTime::now();
        let mut x = 0u64;
        while start.elapsed() < duration {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
            }
        }
        std::hint::black_box(x)
    }

    #[test]
    fn a_limit_other_than_the_configured_threads_is_reported() {
        assert_eq!(limit_mismatch(Some("2"), 2), None);
        assert_eq!(limit_mismatch(Some("1"), 2).as_deref(), Some("1"));
        assert_eq!(limit_mismatch(None, 1).as_deref(), Some("unset"), "unset: OpenMP uses every core");
        assert_eq!(limit_mismatch(Some("lots"), 1).as_deref(), Some("lots"));
    }

    #[test]
    fn helpers_are_scanned_when_config_or_environment_allows_them() {
        assert!(!omp_limit_allows_helpers(Some("1")));
        assert!(omp_limit_allows_helpers(Some("2")));
        assert!(omp_limit_allows_helpers(None), "unset: OpenMP uses every core");
        assert!(omp_limit_allows_helpers(Some("lots")), "unparsable: OpenMP ignores it");
        assert!(helpers_possible(2), "config asks for two threads");
    }

    #[test]
    fn helper_threads_are_attributed_to_the_stage_that_used_them() {
        // Run on a uniquely named thread, as the pipeline does.
        std::thread::spawn(|| {
            name_current_thread("rq-cputest-a").unwrap();
            let clock = StageClock::for_current_thread(true);
            let start = clock.snapshot();
            // 1. A thread that inherits our name and stays alive past the stage end (like an OpenMP pool thread).
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let (burnt_tx, burnt_rx) = std::sync::mpsc::channel::<()>();
            let inherited = std::thread::spawn(move || {
                burn(Duration::from_millis(150));
                burnt_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            });
            burnt_rx.recv().unwrap();
            // 2. A short-lived helper booked through the ledger.
            on_helper_thread(|| burn(Duration::from_millis(150)));
            // 3. An unrelated thread with another name: must not count.
            let other = std::thread::Builder::new()
                .name("someone-else".into())
                .spawn(|| burn(Duration::from_millis(150)))
                .unwrap();
            other.join().unwrap();
            let end = clock.snapshot();
            done_tx.send(()).unwrap();
            inherited.join().unwrap();
            let rec = clock.record(Stage::Ocr, &start, &end);
            assert!(rec.helper_cpu_seconds >= 0.28, "helpers not attributed: {rec:?}");
            assert!(rec.helper_cpu_seconds < 0.42, "someone else's CPU attributed: {rec:?}");
            assert!(rec.cpu_seconds >= rec.helper_cpu_seconds);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn own_thread_cpu_is_measured_and_sleep_is_not() {
        std::thread::spawn(|| {
            name_current_thread("rq-cputest-b").unwrap();
            let clock = StageClock::for_current_thread(false);
            let start = clock.snapshot();
            burn(Duration::from_millis(100));
            std::thread::sleep(Duration::from_millis(100));
            let end = clock.snapshot();
            let rec = clock.record(Stage::QualityScoring, &start, &end);
            assert!(rec.cpu_seconds >= 0.095 && rec.cpu_seconds < 0.16, "{rec:?}");
            assert!(rec.wall_seconds >= 0.195, "{rec:?}");
            assert_eq!(rec.helper_cpu_seconds, 0.0);
        })
        .join()
        .unwrap();
    }
}
