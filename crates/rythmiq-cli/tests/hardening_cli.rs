//! Start-up hardening of `rythmiq serve` and `rythmiq worker` as processes (issue 11, defects 2 and 6): an empty or
//! blank `RYTHMIQ_API_TOKEN` is refused instead of meaning "no auth", an unauthenticated API on a non-loopback
//! address must be chosen explicitly, and `worker --drain` opens no probe port.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::rythmiq;

/// Runs `cmd` to completion, or kills it after `limit` (a server that should have refused to start) and fails.
fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child: Child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn an_empty_or_blank_api_token_is_refused_at_start_up() {
    for token in ["", "   ", "\t"] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = rythmiq(dir.path());
        cmd.env("RYTHMIQ_API_TOKEN", token).args(["serve", "--listen", "127.0.0.1:0", "--concurrency", "1"]);
        let out = run_bounded(cmd, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{token:?} accepted: {stderr}");
        assert!(stderr.contains("auth_token must not be empty"), "{token:?}: {stderr}");
    }
}

#[test]
fn an_open_api_on_a_public_address_must_be_chosen_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = rythmiq(dir.path());
    cmd.args(["serve", "--listen", "0.0.0.0:0", "--concurrency", "1"]);
    let out = run_bounded(cmd, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refusing to serve /v1 without authentication") && stderr.contains("--allow-unauthenticated"),
        "{stderr}"
    );

    // The explicit choice starts, and says so.
    let mut child = rythmiq(dir.path())
        .env("RYTHMIQ_ALLOW_UNAUTHENTICATED", "true")
        .env("RUST_LOG", "warn")
        .args(["serve", "--listen", "0.0.0.0:0", "--concurrency", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (line_tx, line_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(seen.contains("listening on http://") && seen.contains("WITHOUT authentication")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match line_rx.recv_timeout(left) {
            Ok(line) => seen.push_str(&(line + "\n")),
            Err(_) => {
                let _ = child.kill();
                panic!("no listening line and warning in time: {seen}");
            }
        }
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = child.wait().unwrap();
}

#[test]
fn worker_drain_opens_no_probe_port() {
    // Hold the old default probe port: a drain run that still tried to bind it would log the failure.
    let _held = std::net::TcpListener::bind("127.0.0.1:9100");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = rythmiq(dir.path());
    cmd.env("RUST_LOG", "info").args(["worker", "--drain", "--concurrency", "1"]);
    let out = run_bounded(cmd, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("worker stopped"), "{stderr}");
    assert!(!stderr.contains("probes listening") && !stderr.contains("probe server failed"), "{stderr}");
}
