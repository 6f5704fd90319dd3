//! What the binary's tests share: the `rythmiq` command on a fresh embedded data directory, one HTTP/1.1 request,
//! and a `serve` or `worker` process started, waited for until it listens, and stopped with SIGTERM.
//! Each test file includes it with `mod support;` and uses what it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `rythmiq` run from the repository root on the embedded defaults in `data_dir`: none of the environment's
/// database, storage, token or probe settings leak in.
pub fn rythmiq(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rythmiq"));
    cmd.current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .env_remove("DATABASE_URL")
        .env_remove("RYTHMIQ_STORAGE")
        .env_remove("RYTHMIQ_API_TOKEN")
        .env_remove("RYTHMIQ_ALLOW_UNAUTHENTICATED")
        .env_remove("RYTHMIQ_METRICS_ADDR")
        .env("RYTHMIQ_DATA_DIR", data_dir);
    cmd
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
pub fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
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

/// A started `rythmiq` server process; SIGTERM and a clean exit are checked by [`Server::stop`], and a server
/// still running when the test panics is killed.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
}

/// What `serve` prints once it listens.
pub const SERVE_LISTENING: &str = "listening on http://";
/// What `worker` prints once its probes listen.
pub const PROBES_LISTENING: &str = "probes listening on http://";

impl Server {
    /// Spawns `cmd` and waits until it prints `prefix` followed by its address on stderr; stderr is drained
    /// afterwards so the child never blocks on a full pipe.
    pub fn start(mut cmd: Command, prefix: &str) -> Server {
        let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "{cmd:?} exited before listening");
            if let Some(rest) = line.trim().strip_prefix(prefix) {
                break rest.to_string();
            }
        };
        std::thread::spawn(move || for _ in stderr.lines() {});
        Server { child: Some(child), addr }
    }

    /// `rythmiq serve` on loopback with one worker slot, in `data_dir` (on `DATABASE_URL` when given).
    pub fn serve(data_dir: &Path, database_url: Option<&str>) -> Server {
        let mut cmd = rythmiq(data_dir);
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--concurrency", "1"]);
        Server::start(cmd, SERVE_LISTENING)
    }

    /// SIGTERM, then the exit status must be success.
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let exit = child.wait().unwrap();
        assert!(exit.success(), "did not stop cleanly: {exit:?}");
    }

    /// Submits `file` (relative to the repository root), polls it to success and returns its result document.
    pub fn submit_and_fetch(&self, file: &str, content_type: &str, limit: Duration) -> serde_json::Value {
        let bytes = std::fs::read(repo_root().join(file)).unwrap();
        let (status, body) = http(&self.addr, "POST", "/v1/documents", content_type, &bytes);
        assert_eq!(status, 202, "{file}: {body}");
        let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
        self.wait_succeeded(&id, limit);
        let (code, body) = http(&self.addr, "GET", &format!("/v1/documents/{id}/result"), "application/json", b"");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls document `id` until it succeeds; returns its status document. Fails on dead-letter or timeout.
    pub fn wait_succeeded(&self, id: &str, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let (code, body) = http(&self.addr, "GET", &format!("/v1/documents/{id}"), "application/json", b"");
            assert_eq!(code, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if v["status"] == "succeeded" {
                return v;
            }
            assert_ne!(v["status"], "dead_lettered", "{v}");
            assert!(Instant::now() < deadline, "not done in time: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
