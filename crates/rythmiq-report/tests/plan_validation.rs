//! The capacity planner against real runs on this machine: `rythmiq serve --concurrency 1|2` under
//! `rythmiq loadtest --host` at three small loads, each run at least twice, recorded by `scripts/plan-validation`
//! between two benches of the pages the runs submit (the table in the crate README comes from this test's output).
//!
//! What is asserted, for every run at 1 and 2 slots:
//! - the replay: the planner's queue model, fed each run's own arrivals and server service times (`replay`),
//!   predicts the run's P95 within [`REPLAY_TOLERANCE`]. That holds however loaded the machine was, because the
//!   service times are the run's own: it checks the queue (FIFO, slots, dispatch, the client's polls).
//! - the bench check: the planner fed the first bench's figures for the run's own pages (`simulate_documents`:
//!   the generator's arrivals, each user's pages in order) predicts the run's P95 within [`BENCH_TOLERANCE`]. This
//!   checks the service times a bench gives as well, so it needs the bench and the runs to see the machine equally
//!   busy (the script records both benches and the load average before each run).
//!
//! What is reported, not asserted: the prediction from the bench's mix of pages drawn at random (`simulate`, what
//! `rythmiq plan` prints for a design load), which also depends on which pages a small run happened to submit. The
//! quick live check of the replay is `crates/rythmiq-cli/tests/plan_replay_cli.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rythmiq_report::{
    load_shape, read_json, replay, replay_jobs, run_documents, service_samples, simulate, simulate_documents,
    BenchSummary, LoadTestResult, SimOptions, BENCH_TOLERANCE, REPLAY_TOLERANCE,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan_validation")
}

#[derive(serde::Deserialize)]
struct RunEntry {
    file: String,
    slots: u32,
    repeat: u32,
    load_average_before: f64,
}

/// One recorded run, as the table shows it.
struct Row {
    repeat: u32,
    load_average: f64,
    measured: f64,
    replayed: f64,
    mean_service: f64,
    /// Predicted from each bench's figures for the run's own pages (the first bench is the asserted one).
    from_pages: Vec<f64>,
}

fn pct(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured * 100.0
}

#[test]
fn each_recorded_run_is_predicted_within_the_stated_tolerances_at_one_and_two_slots() {
    // The bench before the runs, and the one after when it was recorded (`SKIP_BENCH_AFTER=1` leaves it out).
    let benches: Vec<BenchSummary> = ["bench.json", "bench_after.json"]
        .iter()
        .filter(|f| **f == "bench.json" || dir().join(f).exists())
        .map(|f| read_json(&dir().join(f)).unwrap())
        .collect();
    for (b, name) in benches.iter().zip(["bench.json", "bench_after.json"]) {
        assert!(service_samples(b).len() >= 20, "{name} has {} warm documents", service_samples(b).len());
    }
    let runs: Vec<RunEntry> = read_json(&dir().join("runs.json")).unwrap();
    let mut configs: BTreeMap<(u32, u32, u32), Vec<Row>> = BTreeMap::new();
    let mut shapes = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut worst_replay, mut worst_bench): (f64, f64) = (0.0, 0.0);
    for run in &runs {
        let r: LoadTestResult = read_json(&dir().join(&run.file)).unwrap();
        assert_eq!(r.failed, 0, "{}: every document succeeded", run.file);
        assert!(run.load_average_before >= 0.0);
        let measured = r.latency_p95_secs;
        let jobs = replay_jobs(&r).unwrap_or_else(|e| panic!("{}: {e}", run.file));
        assert_eq!(jobs.len() as u64, r.successful, "{}: every document recorded", run.file);
        let replayed = replay(&jobs, run.slots, 0.25).unwrap().p95_secs;
        worst_replay = worst_replay.max((replayed - measured).abs() / measured);
        if !REPLAY_TOLERANCE.holds(replayed, measured) {
            failures.push(format!(
                "{}: replayed P95 {replayed:.2} s vs measured {measured:.2} s ({:+.1}%, tolerance {REPLAY_TOLERANCE})",
                run.file,
                pct(replayed, measured)
            ));
        }
        let from_pages: Vec<f64> = benches
            .iter()
            .map(|b| {
                let pages = run_documents(b, &r).unwrap_or_else(|e| panic!("{}: {e}", run.file));
                simulate_documents(&pages, &load_shape(&r), r.cores, run.slots).unwrap().p95_secs
            })
            .collect();
        worst_bench = worst_bench.max((from_pages[0] - measured).abs() / measured);
        if !BENCH_TOLERANCE.holds(from_pages[0], measured) {
            failures.push(format!(
                "{}: P95 from the bench's figures for its pages {:.2} s vs measured {measured:.2} s ({:+.1}%, tolerance {BENCH_TOLERANCE})",
                run.file,
                from_pages[0],
                pct(from_pages[0], measured)
            ));
        }
        let mean_service = jobs.iter().map(|j| j.service_secs).sum::<f64>() / jobs.len() as f64;
        configs.entry((run.slots, r.users, r.docs_per_user)).or_default().push(Row {
            repeat: run.repeat,
            load_average: run.load_average_before,
            measured,
            replayed,
            mean_service,
            from_pages,
        });
        shapes.insert((run.slots, r.users, r.docs_per_user), (load_shape(&r), r.cores));
    }
    let slots_seen: Vec<u32> = configs.keys().map(|k| k.0).collect();
    assert!(slots_seen.contains(&1) && slots_seen.contains(&2), "runs at 1 and 2 slots");
    for slots in [1, 2] {
        assert!(configs.keys().filter(|k| k.0 == slots).count() >= 3, "three loads at {slots} slots");
    }

    let mut table = String::from(
        "| Slots | Load | Run | Load avg | Measured P95 s | Replay P95 s | Replay error | Mean service s | Bench, run's pages: P95 s | error | Bench, random mix: P95 s | error |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let joined = |v: &[f64], f: &dyn Fn(f64) -> String| v.iter().map(|x| f(*x)).collect::<Vec<_>>().join(" / ");
    let mut spreads = Vec::new();
    for ((slots, users, dpu), rows) in &configs {
        assert!(rows.len() >= 2, "each configuration is measured at least twice");
        let (shape, cores) = shapes[&(*slots, *users, *dpu)];
        let mix: Vec<f64> = benches
            .iter()
            .map(|b| simulate(&service_samples(b), &shape, cores, *slots, &SimOptions::default()).unwrap().p95_secs)
            .collect();
        let measured: Vec<f64> = rows.iter().map(|r| r.measured).collect();
        let mean = measured.iter().sum::<f64>() / measured.len() as f64;
        let (lo, hi) = measured.iter().fold((f64::INFINITY, 0.0_f64), |(l, h), &m| (l.min(m), h.max(m)));
        spreads.push((hi - lo) / mean);
        for row in rows {
            let m = row.measured;
            table.push_str(&format!(
                "| {slots} | {users} x {dpu} | {} | {:.1} | {m:.2} | {:.2} | {:+.1}% | {:.2} | {} | {} | {} | {} |\n",
                row.repeat,
                row.load_average,
                row.replayed,
                pct(row.replayed, m),
                row.mean_service,
                joined(&row.from_pages, &|p| format!("{p:.2}")),
                joined(&row.from_pages, &|p| format!("{:+.0}%", pct(p, m))),
                joined(&mix, &|p| format!("{p:.2}")),
                joined(&mix, &|p| format!("{:+.0}%", pct(p, m))),
            ));
        }
    }
    let max_spread = spreads.iter().copied().fold(0.0, f64::max);
    println!(
        "{table}\nlargest replay miss: {:.1}% (tolerance {REPLAY_TOLERANCE}); largest miss from the first bench's figures for the run's pages: {:.1}% (tolerance {BENCH_TOLERANCE}); largest spread of measured P95 between repeats of one configuration: {:.1}%",
        worst_replay * 100.0,
        worst_bench * 100.0,
        max_spread * 100.0
    );
    assert!(failures.is_empty(), "outside the tolerance:\n{}\n{table}", failures.join("\n"));
}
