//! `rythmiq serve` as a process on the embedded defaults: submit a document over HTTP, poll it to completion,
//! fetch its result, read /metrics, and stop it with SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn serve_accepts_processes_and_returns_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .env_remove("DATABASE_URL")
        .env_remove("RYTHMIQ_STORAGE")
        .env("RYTHMIQ_DATA_DIR", dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--concurrency", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited before listening");
        if let Some(rest) = line.trim().strip_prefix("listening on http://") {
            break rest.to_string();
        }
    };
    let image = std::fs::read(repo_root().join("corpus/tess_phototest.tif")).unwrap();
    let (status, body) = http(&addr, "POST", "/v1/documents", "image/tiff", &image);
    assert_eq!(status, 202, "{body}");
    let accepted: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = accepted["id"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(60);
    let status_json = loop {
        let (code, body) = http(&addr, "GET", &format!("/v1/documents/{id}"), "application/json", b"");
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
    let (code, body) = http(&addr, "GET", &format!("/v1/documents/{id}/result"), "application/json", b"");
    assert_eq!(code, 200);
    let result: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(result["text"].as_str().unwrap().contains("quick brown dog"), "{}", result["text"]);

    let (code, metrics) = http(&addr, "GET", "/metrics", "text/plain", b"");
    assert_eq!(code, 200);
    assert!(metrics.contains("rythmiq_documents_total"), "{metrics}");
    assert!(metrics.contains("rythmiq_stage_cpu_seconds_sum"), "{metrics}");

    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let exit = child.wait().unwrap();
    assert!(exit.success(), "serve did not stop cleanly: {exit:?}");
}
