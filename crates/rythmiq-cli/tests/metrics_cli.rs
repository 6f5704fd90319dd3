//! The live `/metrics` of `rythmiq serve` and `rythmiq worker`: `promtool check metrics` finds nothing to lint, the
//! standard process metrics and the 25 s latency bucket are there, and every metric the Grafana dashboard and the
//! alert rules read is one the code exports (renaming a metric in the code breaks this test until the dashboard
//! and rules follow).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rythmiq_suite::monitoring::{
    dashboard_file, dashboard_queries, exposition_families, exposition_series_names, parse_rules, promtool, rules_file,
    series_names,
};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Starts `rythmiq ARGS` on a fresh embedded data dir and returns it with the address printed after `prefix`.
fn start(data_dir: &std::path::Path, args: &[&str], prefix: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .env_remove("DATABASE_URL")
        .env_remove("RYTHMIQ_STORAGE")
        .env_remove("RYTHMIQ_API_TOKEN")
        .env("RYTHMIQ_DATA_DIR", data_dir)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{args:?} exited before listening");
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            break rest.to_string();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, addr)
}

fn stop(mut child: Child) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let exit = child.wait().unwrap();
    assert!(exit.success(), "did not stop cleanly: {exit:?}");
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
    let (status, body) = http(&addr, "POST", "/v1/documents", "image/tiff", &image);
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http(&addr, "GET", &format!("/v1/documents/{id}"), "application/json", b"");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "not done in time: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, text) = http(&addr, "GET", "/metrics", "text/plain", b"");
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
    let (code, text) = http(&addr, "GET", "/metrics", "text/plain", b"");
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
