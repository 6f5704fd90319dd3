//! What the binary's tests share: the `rythmiq` command on a fresh embedded data directory with a clean
//! environment, one HTTP/1.1 request, a `serve` or `worker` process started, waited for until it listens and stopped
//! with SIGTERM ([`Server`]), a process whose stderr is collected for the reliability suite ([`Process`]), and a
//! seeded generator. Each test file includes it with `mod support;` and uses what it needs.
#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `corpus` folder in `dir` with copies of these files of the bundled corpus (pages and their `.gt.txt`).
pub fn corpus_copy(dir: &Path, names: &[&str]) -> PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    for name in names {
        std::fs::copy(repo_root().join("corpus").join(name), corpus.join(name)).unwrap();
    }
    corpus
}

/// `rythmiq` run from the repository root on `data_dir`, with none of the caller's `RYTHMIQ_*` settings that
/// would point it elsewhere (database, storage, token, probe address).
pub fn rythmiq(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rythmiq"));
    cmd.current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .env_remove("DATABASE_URL")
        .env_remove("RYTHMIQ_STORAGE")
        .env_remove("RYTHMIQ_API_TOKEN")
        .env_remove("RYTHMIQ_ALLOW_UNAUTHENTICATED")
        .env_remove("RYTHMIQ_METRICS_ADDR")
        .env_remove("RYTHMIQ_CONFIG")
        .env("RYTHMIQ_DATA_DIR", data_dir);
    cmd
}

/// A running `rythmiq` process whose stderr lines are collected by a thread (so it never blocks on a full pipe).
pub struct Process {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    line_rx: mpsc::Receiver<String>,
}

impl Process {
    /// Spawns `cmd` with stderr piped and collected.
    pub fn spawn(mut cmd: Command) -> Process {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn rythmiq");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (line_tx, line_rx) = mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                let _ = line_tx.send(line);
            }
        });
        Process { child, lines, line_rx }
    }

    /// Waits for a stderr line starting with `prefix` and returns the rest of it; panics with the output so far
    /// when the process exits or `limit` passes first.
    pub fn wait_for(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.line_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.trim().strip_prefix(prefix) {
                        return rest.to_string();
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line starting with {prefix:?} within {limit:?}:\n{}", self.output());
                }
            }
        }
    }

    /// Starts `rythmiq serve` (or anything printing `listening on http://ADDR`) and returns it with its address.
    pub fn listening(cmd: Command) -> (Process, String) {
        let mut process = Process::spawn(cmd);
        let addr = process.wait_for("listening on http://", Duration::from_secs(120));
        (process, addr)
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    /// Everything it wrote to stderr so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().expect("wait");
        // Let the reader thread drain the pipe's last lines.
        std::thread::sleep(Duration::from_millis(50));
        (status, self.output())
    }

    /// SIGKILL, then reaps it.
    pub fn kill(mut self) {
        let _ = nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`: (status, body). The body is written from a thread of its own
/// and write errors are ignored, because the server may answer (413, 415) and close before reading it all. A
/// large body waits a moment for an early answer first: a server that refused it from its headers and closed
/// would otherwise reset the connection under the unread body, and the answer could be lost.
pub fn http<'a>(
    addr: &str,
    method: &str,
    path: &str,
    content_type: impl Into<Option<&'a str>>,
    body: &[u8],
) -> (u16, String) {
    let content_type = content_type.into();
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("write the request head");
    let mut response = Vec::new();
    let mut body = body.to_vec();
    if body.len() > 1 << 20 {
        stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut first = [0u8; 4096];
        if let Ok(n) = stream.read(&mut first) {
            response.extend_from_slice(&first[..n]);
            body.clear(); // answered already: the body is not wanted
        }
    }
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = stream.try_clone().expect("clone the stream");
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let read = stream.read_to_end(&mut response);
    let _ = write.join();
    if read.is_err() && response.is_empty() {
        panic!("{method} {path}: no response ({read:?})");
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A small deterministic generator (xorshift64*): the suite prints its seed, so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
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
