//! `rythmiq loadtest` against a `rythmiq serve` it starts itself, on a tiny burst, and the report filled from it.

mod support;

use std::process::Command;

use support::{corpus_copy, repo_root};

#[test]
fn a_short_burst_is_measured_end_to_end_and_fills_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_copy(dir.path(), &["tess_phototest.tif", "sroie_323.jpg"]);
    let output = dir.path().join("load.json");
    let run = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .env_remove("DATABASE_URL")
        .env_remove("RYTHMIQ_STORAGE")
        // A non-default pipeline flag: the server the load test starts must run with it.
        .args([
            "loadtest",
            "--max-working-side-px",
            "2999",
            "--users",
            "3",
            "--docs-per-user",
            "2",
            "--spawn-rate",
            "5",
            "--concurrency",
            "1",
            "--corpus",
        ])
        .arg(&corpus)
        .arg("--output")
        .arg(&output)
        // The locust-style CSV, and progress lines: stderr is a pipe here, not a terminal.
        .arg("--csv")
        .arg(dir.path().join("lt"))
        .args(["--progress-every", "0.2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(r["total_requests"], 6, "{r}");
    assert_eq!(r["successful"], 6, "every distinct document processed: {r}");
    assert_eq!(r["failed"], 0);
    let p50 = r["latency_p50_secs"].as_f64().unwrap();
    let p95 = r["latency_p95_secs"].as_f64().unwrap();
    assert!(p50 > 0.0 && p95 >= p50, "{r}");
    assert_eq!(r["latencies_secs"].as_array().unwrap().len(), 6);
    assert!(stdout.contains("end-to-end latency: P50"), "{stdout}");
    let server_flags = r["server_flags"].as_str().expect("the started server reports its flags");
    assert!(server_flags.contains("resize=2999"), "the loadtest's flag reached the server: {server_flags}");
    // The slots: given to the server it started, and read back from the server's /metrics (one per core otherwise).
    assert_eq!(r["server_slots"], 1, "the server's slots recorded from its /metrics: {r}");

    // Progress: plain lines (no carriage return off a terminal), the last one with every document counted.
    let progress: Vec<&str> = stderr.lines().filter(|l| l.starts_with("progress ")).collect();
    assert!(progress.len() >= 2, "periodic lines and a last one: {stderr}");
    assert!(!stderr.contains('\r'), "no redrawn line off a terminal: {stderr:?}");
    let last = progress.last().unwrap();
    assert!(last.contains("submitted 6/6, done 6, failed 0, P95 "), "{last}");
    let p95_shown = format!("P95 {:.2} s", r["latency_p95_secs"].as_f64().unwrap());
    assert!(last.ends_with(&p95_shown), "the live P95 is the run's: {last} vs {p95_shown}");

    // The stats CSV: locust's header, and the end-to-end row agrees with the JSON result (in ms).
    let csv = std::fs::read_to_string(dir.path().join("lt_stats.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(rythmiq_loadtest::LOCUST_STATS_HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        names,
        [("GET", "GET /v1/documents/{id}"), ("POST", "POST /v1/documents"), ("E2E", "document"), ("", "Aggregated")],
        "{csv}"
    );
    let e2e = &rows[2];
    assert_eq!((e2e[2], e2e[3]), ("6", "0"), "{csv}");
    let ms = |secs: &serde_json::Value| (secs.as_f64().unwrap() * 1000.0).round().to_string();
    assert_eq!(e2e[4], ms(&r["latency_p50_secs"]), "median: {csv}");
    assert_eq!(e2e[16], ms(&r["latency_p95_secs"]), "95%: {csv}");
    assert_eq!(rows[1][2], "6", "six submissions: {csv}");
    let polls: u64 = rows[0][2].parse().unwrap();
    assert!(polls >= 6, "at least one status poll per document: {csv}");
    assert_eq!(rows[3][2], (polls + 12).to_string(), "Aggregated counts every request: {csv}");

    let report = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .current_dir(repo_root())
        .args(["report", "--bench", "crates/rythmiq-report/tests/fixtures/bench_small.json", "--load"])
        .arg(&output)
        .arg("--output")
        .arg(dir.path().join("report"))
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let summary = String::from_utf8_lossy(&report.stdout);
    assert!(summary.starts_with("decision: "), "a short summary, not the whole Markdown: {summary}");
    assert!(summary.contains("report.md") && summary.contains("report.html"), "the files are named: {summary}");
    assert!(!summary.contains("## 3."), "{summary}");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("3.3 Load Test Results"), "{md}");
    let load_section = &md[md.find("3.3 Load Test Results").unwrap()..md.find("## 4.").unwrap()];
    assert!(!load_section.contains("not measured (load test)"), "{load_section}");
}

#[test]
fn a_host_that_does_not_answer_fails_fast_with_its_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .args(["loadtest", "--users", "1", "--docs-per-user", "1", "--host"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("http://127.0.0.1:{port} does not answer")), "{stderr}");
}
