//! `rythmiq serve` as a process on the embedded defaults: submit a document over HTTP, poll it to completion,
//! fetch its result, read /metrics, and stop it with SIGTERM.

mod support;

use std::time::{Duration, Instant};

use support::{http, repo_root, rythmiq, Process};

#[test]
fn serve_accepts_processes_and_returns_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = rythmiq(dir.path());
    serve.args(["serve", "--listen", "127.0.0.1:0", "--concurrency", "1"]);
    let (server, addr) = Process::listening(serve);
    let image = std::fs::read(repo_root().join("corpus/tess_phototest.tif")).unwrap();
    let (status, body) = http(&addr, "POST", "/v1/documents", Some("image/tiff"), &image);
    assert_eq!(status, 202, "{body}");
    let accepted: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = accepted["id"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status_json = loop {
        let (code, body) = http(&addr, "GET", &format!("/v1/documents/{id}"), Some("application/json"), b"");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["status"] == "succeeded" {
            break v;
        }
        assert_ne!(v["status"], "dead_lettered", "{v}");
        assert!(Instant::now() < deadline, "not done in time: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status_json.to_string().contains("latency"), "{status_json}");
    let (code, body) = http(&addr, "GET", &format!("/v1/documents/{id}/result"), Some("application/json"), b"");
    assert_eq!(code, 200);
    let result: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(result["text"].as_str().unwrap().contains("quick brown dog"), "{}", result["text"]);

    let (code, metrics) = http(&addr, "GET", "/metrics", Some("text/plain"), b"");
    assert_eq!(code, 200);
    assert!(metrics.contains("rythmiq_documents_total"), "{metrics}");
    assert!(metrics.contains("rythmiq_stage_cpu_seconds_sum"), "{metrics}");

    let (exit, output) = server.terminate();
    assert!(exit.success(), "serve did not stop cleanly: {exit:?}\n{output}");
}
