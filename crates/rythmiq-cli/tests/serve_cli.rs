//! `rythmiq serve` as a process on the embedded defaults: submit a document over HTTP, poll it to completion,
//! fetch its result, read /metrics, and stop it with SIGTERM.

mod support;

use std::time::Duration;

use support::{http, Server};

#[test]
fn serve_accepts_processes_and_returns_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), None);
    let image = std::fs::read(support::repo_root().join("corpus/tess_phototest.tif")).unwrap();
    let (status, body) = http(&server.addr, "POST", "/v1/documents", "image/tiff", &image);
    assert_eq!(status, 202, "{body}");
    let accepted: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = accepted["id"].as_str().unwrap().to_string();

    let status_json = server.wait_succeeded(&id, Duration::from_secs(60));
    assert!(status_json.to_string().contains("latency"), "{status_json}");
    let (code, body) = http(&server.addr, "GET", &format!("/v1/documents/{id}/result"), "application/json", b"");
    assert_eq!(code, 200);
    let result: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(result["text"].as_str().unwrap().contains("quick brown dog"), "{}", result["text"]);

    let (code, metrics) = http(&server.addr, "GET", "/metrics", "text/plain", b"");
    assert_eq!(code, 200);
    assert!(metrics.contains("rythmiq_documents_total"), "{metrics}");
    assert!(metrics.contains("rythmiq_stage_cpu_seconds_sum"), "{metrics}");
    server.stop();
}
