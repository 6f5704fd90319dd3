//! `rythmiq enqueue` and `rythmiq worker` as processes on the embedded database: a drained queue, and SIGTERM
//! in the middle of a job (the job in flight finishes inside the grace period, the process exits cleanly).

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{repo_root, rythmiq};

fn job_states(data_dir: &Path) -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = rythmiq_db::DbConfig { sqlite_path: data_dir.join("rythmiq.db"), ..Default::default() }
            .connect()
            .await
            .unwrap();
        let ids: Vec<String> =
            std::fs::read_to_string(data_dir.join("ids.txt")).unwrap().lines().map(String::from).collect();
        let mut out = Vec::new();
        for id in ids {
            let status = db.get_job(id.parse().unwrap()).await.unwrap();
            out.push((id, status.state.as_str().to_string()));
        }
        out
    })
}

fn enqueue(data_dir: &Path, files: &[&str]) {
    let mut cmd = rythmiq(data_dir);
    cmd.arg("enqueue");
    for f in files {
        cmd.arg(repo_root().join("corpus").join(f));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    assert_eq!(ids.len(), files.len());
    std::fs::write(data_dir.join("ids.txt"), ids.join("\n")).unwrap();
}

#[test]
fn worker_drains_the_queue_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    enqueue(dir.path(), &["tess_phototest.tif", "sroie_323.jpg"]);
    let out = rythmiq(dir.path())
        .args(["worker", "--drain", "--concurrency", "2", "--metrics-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("2 succeeded"), "{stderr}");
    for (id, state) in job_states(dir.path()) {
        assert_eq!(state, "succeeded", "job {id}");
    }
}

#[test]
fn sigterm_lets_the_job_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    // The brochure page takes seconds of OCR: long enough to be mid-job when the signal arrives.
    enqueue(dir.path(), &["ocrmypdf_linn.png"]);
    let mut child = rythmiq(dir.path())
        .args(["worker", "--concurrency", "1", "--metrics-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the job is running, then send SIGTERM.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if job_states(dir.path())[0].1 == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "job never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("1 succeeded"), "{stderr}");
    assert_eq!(job_states(dir.path())[0].1, "succeeded");
}
