//! The planner's queue model against live runs, at 1 and 2 worker slots: `rythmiq serve --concurrency N` under a
//! small `rythmiq loadtest --host` burst, then `rythmiq plan --load` on the result, which replays the run's own
//! documents (arrivals, server service times) through the model and states the P95 error against its tolerance.
//! The loads are 2 x 2 documents on 1 slot and 3 x 2 on 2 slots: small, so the test takes seconds on a quiet machine.
//! Fed the run's own service times, the check holds on a busy machine too. The fuller recorded runs, with the
//! bench-derived predictions beside them, are `scripts/plan-validation` and the report crate's `plan_validation`.

mod support;

use std::path::{Path, PathBuf};

use rythmiq_report::{read_json, replay, replay_jobs, LoadTestResult, REPLAY_TOLERANCE};
use support::{corpus_copy, rythmiq, Server, SERVE_LISTENING};

/// Starts a server with `slots` worker slots, runs `users x docs` against it and returns the result's path.
fn run(slots: u32, users: u32, docs: u32, corpus: &Path, dir: &Path) -> PathBuf {
    let mut cmd = rythmiq(&dir.join(format!("data-{slots}")));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--concurrency", &slots.to_string()]);
    let server = Server::start(cmd, SERVE_LISTENING);
    let addr = server.addr.clone();
    let load = |output: &Path| {
        let out = rythmiq(&dir.join("client"))
            .args(["loadtest", "--host", &format!("http://{addr}"), "--server-pid", &server.pid().to_string()])
            .args(["--users", &users.to_string(), "--docs-per-user", &docs.to_string(), "--spawn-rate", "2"])
            .args(["--progress-every", "0", "--corpus"])
            .arg(corpus)
            .arg("--output")
            .arg(output)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    // No warm-up: the replay takes each document's service time as measured, a cold first one included.
    let output = dir.join(format!("run-{slots}.json"));
    load(&output);
    drop(server);
    output
}

#[test]
fn the_queue_model_replays_live_runs_at_one_and_two_slots_within_its_stated_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    // Two of the cheapest pages of the corpus: the test is about the queue, not the OCR.
    let corpus = corpus_copy(dir.path(), &["tess_phototest.tif", "sroie_323.jpg"]);
    for (slots, users, docs) in [(1, 2, 2), (2, 3, 2)] {
        let output = run(slots, users, docs, &corpus, dir.path());
        let r: LoadTestResult = read_json(&output).unwrap();
        assert_eq!((r.successful, r.failed), (u64::from(users * docs), 0), "{slots} slots: every document done");
        let jobs = replay_jobs(&r).unwrap();
        assert_eq!(jobs.len(), (users * docs) as usize);
        // The run's server service times: every job started after it was queued and took time.
        assert!(jobs.iter().all(|j| j.service_secs > 0.0 && j.arrival_secs >= j.submitted_secs - 0.05), "{jobs:?}");
        let predicted = replay(&jobs, slots, 0.25).unwrap();
        assert!(
            REPLAY_TOLERANCE.holds(predicted.p95_secs, r.latency_p95_secs),
            "{slots} slots: replayed P95 {:.2} s vs measured {:.2} s, outside {REPLAY_TOLERANCE}\n{jobs:?}",
            predicted.p95_secs,
            r.latency_p95_secs
        );

        // `rythmiq plan` states the same check, with the tolerance, in its output.
        let plan = rythmiq(&dir.path().join("client"))
            .args(["plan", "--bench", "crates/rythmiq-report/tests/fixtures/bench_real_30docs.json", "--load"])
            .arg(&output)
            .args(["--slots", &slots.to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&plan.stdout);
        assert!(plan.status.success(), "{text}{}", String::from_utf8_lossy(&plan.stderr));
        let expected = format!("P95 {:.2} s predicted vs {:.2} s measured", predicted.p95_secs, r.latency_p95_secs);
        assert!(text.contains(&expected), "{expected} not in:\n{text}");
        assert!(text.contains(&format!("tolerance {REPLAY_TOLERANCE}")), "{text}");
        assert!(text.contains("within"), "{text}");
    }
}
