//! The live `/metrics` of `rythmiq serve` and `rythmiq worker`: `promtool check metrics` finds nothing to lint, the
//! standard process metrics and the 25 s latency bucket are there, and every metric the Grafana dashboard and the
//! alert rules read is one the code exports (renaming a metric in the code breaks this test until the dashboard
//! and rules follow).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rythmiq_suite::monitoring::{
    dashboard_file, dashboard_queries, exposition_families, exposition_series_names, parse_rules, promtool, rules_file,
    series_names,
};
use support::{http, repo_root, rythmiq, Process};

/// Starts `rythmiq ARGS` on a fresh embedded data dir and returns it with the address printed after `prefix`.
fn start(data_dir: &std::path::Path, args: &[&str], prefix: &str) -> (Process, String) {
    let mut cmd = rythmiq(data_dir);
    cmd.args(args);
    let mut process = Process::spawn(cmd);
    let addr = process.wait_for(prefix, Duration::from_secs(120));
    (process, addr)
}

fn stop(process: Process) {
    let (exit, output) = process.terminate();
    assert!(exit.success(), "did not stop cleanly: {exit:?}\n{output}");
}

/// `promtool check metrics` on the exposition: it must exit 0 and report nothing.
fn promtool_check_metrics(text: &str) {
    let Some(promtool) = promtool() else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}\n--- exposition:\n{text}"
    );
}

/// Hygiene that holds without promtool too: HELP on every family, no non-counter ending in `_total`, no hours.
fn own_hygiene(text: &str) {
    for (name, kind) in exposition_families(text) {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP");
        assert!(kind == "counter" || !name.ends_with("_total"), "{kind} {name} ends in _total");
        assert!(!name.contains("hours") && !name.contains("millis"), "{name}: use base units (seconds)");
    }
}

#[test]
fn serve_metrics_are_clean_and_cover_the_dashboard_and_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) =
        start(dir.path(), &["serve", "--listen", "127.0.0.1:0", "--concurrency", "1"], "listening on http://");
    // One document through the whole pipeline, so every per-document family has observations.
    let image = std::fs::read(repo_root().join("corpus/tess_phototest.tif")).unwrap();
    let (status, body) = http(&addr, "POST", "/v1/documents", Some("image/tiff"), &image);
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http(&addr, "GET", &format!("/v1/documents/{id}"), Some("application/json"), b"");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "not done in time: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, text) = http(&addr, "GET", "/metrics", Some("text/plain"), b"");
    assert_eq!(code, 200);
    stop(child);

    own_hygiene(&text);
    promtool_check_metrics(&text);
    assert!(text.contains("rythmiq_document_latency_seconds_bucket{le=\"25\"} 1"), "{text}");
    assert!(
        text.contains("rythmiq_stage_cpu_seconds_count{stage=\"ocr\",path=\"fast\"} 1")
            || text.contains("rythmiq_stage_cpu_seconds_count{stage=\"ocr\",path=\"standard\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("\nprocess_cpu_seconds_total ") && text.contains("\nprocess_resident_memory_bytes "),
        "{text}"
    );
    // Pre-created at zero, so a rate() over them exists before the first failure.
    assert!(text.contains("rythmiq_dead_letters_total{kind=\"corrupt_image\"} 0"), "{text}");

    let exported = exposition_series_names(&text);
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_file()).unwrap()).unwrap();
    let rules = parse_rules(&std::fs::read_to_string(rules_file()).unwrap());
    let queries = dashboard_queries(&dashboard)
        .into_iter()
        .chain(rules.iter().map(|r| (r.record.clone().or(r.alert.clone()).unwrap_or_default(), r.expr.clone())));
    let mut checked = 0;
    for (source, expr) in queries {
        for name in series_names(&expr).into_iter().filter(|n| !n.contains(':')) {
            assert!(exported.contains(&name), "{source}: {name} is not exported by serve (exported: {exported:?})");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} names checked");
}

#[test]
fn worker_metrics_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start(
        dir.path(),
        &["worker", "--concurrency", "1", "--metrics-addr", "127.0.0.1:0"],
        "probes listening on http://",
    );
    let (code, text) = http(&addr, "GET", "/metrics", Some("text/plain"), b"");
    assert_eq!(code, 200);
    stop(child);
    own_hygiene(&text);
    promtool_check_metrics(&text);
    let families = exposition_families(&text);
    for (name, kind) in [
        ("rythmiq_stage_cpu_seconds", "histogram"),
        ("rythmiq_document_latency_seconds", "histogram"),
        ("rythmiq_documents_total", "counter"),
        ("rythmiq_dead_letters_total", "counter"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ] {
        assert_eq!(families.get(name).map(String::as_str), Some(kind), "{name} in:\n{text}");
    }
}
