//! The seed's locust command (`infra/load-testing/locustfile.py`) against a real `rythmiq serve`, shortened: two
//! users, two documents each. The end-to-end latency must land in locust's CSV as its own request type.
//! Needs `RYTHMIQ_LOCUST` (the locust executable; `scripts/test` installs one); skipped without it unless
//! `RYTHMIQ_REQUIRE_LOCUST` is set.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn locust_reports_end_to_end_latency_per_document() {
    let Ok(locust) = std::env::var("RYTHMIQ_LOCUST") else {
        assert!(std::env::var_os("RYTHMIQ_REQUIRE_LOCUST").is_none(), "RYTHMIQ_LOCUST is required but not set");
        eprintln!("SKIPPED: set RYTHMIQ_LOCUST to a locust executable");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .current_dir(repo_root())
        .env_remove("RYTHMIQ_REEXECED")
        .env_remove("DATABASE_URL")
        .env_remove("RYTHMIQ_STORAGE")
        .env("RYTHMIQ_DATA_DIR", dir.path().join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited before listening");
        if let Some(a) = line.trim().strip_prefix("listening on http://") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    std::fs::copy(repo_root().join("corpus/tess_phototest.tif"), corpus.join("tess_phototest.tif")).unwrap();
    std::fs::copy(repo_root().join("corpus/sroie_323.jpg"), corpus.join("sroie_323.jpg")).unwrap();
    let csv = dir.path().join("load_test");
    let out = Command::new(&locust)
        .current_dir(repo_root().join("infra/load-testing"))
        .env("RYTHMIQ_CORPUS", &corpus)
        .env("RYTHMIQ_DOCS_PER_USER", "2")
        .args([
            "-f",
            "locustfile.py",
            "--host",
            &format!("http://{addr}"),
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "20s",
            "--csv",
        ])
        .arg(&csv)
        .output()
        .unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let _ = server.wait();
    let stats = std::fs::read_to_string(dir.path().join("load_test_stats.csv"))
        .unwrap_or_else(|e| panic!("no stats CSV ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let mut rows = stats.lines();
    let header_line = rows.next().unwrap();
    // `rythmiq loadtest --csv` writes the same header, so one spreadsheet reads both tools' files.
    assert_eq!(header_line, rythmiq_loadtest::LOCUST_STATS_HEADER, "locust's header changed");
    let header: Vec<&str> = header_line.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let e2e: Vec<&str> = rows
        .map(|r| r.split(',').collect::<Vec<_>>())
        .find(|r| r[col("Type")] == "E2E" && r[col("Name")] == "document")
        .unwrap_or_else(|| panic!("no E2E row in:\n{stats}"))
        .into_iter()
        .collect();
    assert_eq!(e2e[col("Request Count")], "4", "{stats}");
    assert_eq!(e2e[col("Failure Count")], "0", "{stats}");
    let p95: f64 = e2e[col("95%")].parse().unwrap();
    assert!(p95 > 0.0, "{stats}");
}
