//! `rythmiq report --fail-on`: the documented exit codes for a CI gate, from real report runs on fixture inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rythmiq-report/tests/fixtures")
}

/// Runs `rythmiq report` and returns its exit code; the Markdown must be written whatever the gate says.
fn report(bench: &Path, load: &Path, fail_on: Option<&str>, dir: &Path) -> i32 {
    let out = dir.join("r");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rythmiq"));
    cmd.env_remove("RYTHMIQ_REEXECED").arg("report").arg("--bench").arg(bench).arg("--load").arg(load);
    cmd.arg("--output").arg(&out);
    if let Some(f) = fail_on {
        cmd.args(["--fail-on", f]);
    }
    let run = cmd.output().unwrap();
    let md = std::fs::read_to_string(out.with_extension("md")).unwrap();
    std::fs::remove_file(out.with_extension("md")).unwrap();
    assert!(md.contains("## 2. Evidence Checklist"), "{md}");
    run.status.code().unwrap_or_else(|| panic!("killed: {}", String::from_utf8_lossy(&run.stderr)))
}

#[test]
fn fail_on_sets_the_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let bench = fixtures().join("bench_small.json");
    let load = fixtures().join("load_50.json");
    // 5 documents: GO on the figures, but provisional.
    assert_eq!(report(&bench, &load, None, dir.path()), 0, "no gate: 0 whatever the verdict");
    assert_eq!(report(&bench, &load, Some("no-go"), dir.path()), 0);
    assert_eq!(report(&bench, &load, Some("adjust"), dir.path()), 0);
    assert_eq!(report(&bench, &load, Some("provisional"), dir.path()), 5);

    // 40 CPU-s per document: 333 h a month against 200 h is past 150%: NO-GO trips every level.
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(&bench).unwrap()).unwrap();
    b["cpu_seconds_per_doc"] = 40.0.into();
    let expensive = dir.path().join("bench_expensive.json");
    std::fs::write(&expensive, serde_json::to_vec(&b).unwrap()).unwrap();
    for level in ["no-go", "adjust", "provisional"] {
        assert_eq!(report(&expensive, &load, Some(level), dir.path()), 3, "{level}");
    }
    // 30 CPU-s: 250 h = 125% of the budget: ADJUST (OPTIMIZE band).
    b["cpu_seconds_per_doc"] = 30.0.into();
    std::fs::write(&expensive, serde_json::to_vec(&b).unwrap()).unwrap();
    assert_eq!(report(&expensive, &load, Some("no-go"), dir.path()), 0);
    assert_eq!(report(&expensive, &load, Some("adjust"), dir.path()), 4);
    assert_eq!(report(&expensive, &load, Some("provisional"), dir.path()), 4);

    // An unknown level is a usage error (2), not a silent pass.
    let bad = Command::new(env!("CARGO_BIN_EXE_rythmiq")).args(["report", "--fail-on", "maybe"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn plan_prints_the_cores_the_burst_needs_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("plan.json");
    let run = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .env_remove("RYTHMIQ_REEXECED")
        .args(["plan", "--bench"])
        .arg(fixtures().join("bench_real_30docs.json"))
        .args(["--users", "20", "--docs-per-user", "5", "--cores", "2", "--output"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let n = plan["cores_for_design"].as_u64().unwrap();
    assert!(stdout.starts_with(&format!("GO on CPU; the burst needs {n} core")), "{stdout}");
    assert!(stdout.contains("Design load: 20 users x 5 docs = 100 documents"), "{stdout}");
    assert!(stdout.contains("more slots than cores add no CPU capacity"));
    assert_eq!(plan["this_machine"].as_array().unwrap().len(), 4, "slots 1..=2 x 2 cores");
}

/// The HTML header names the revision the binary was built from: what `git rev-parse --short HEAD` says now, or
/// "unknown" where git cannot tell (a source tarball, as in the Docker build without `RYTHMIQ_GIT_REV`).
#[test]
fn the_html_header_shows_the_git_revision_of_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let run = Command::new(env!("CARGO_BIN_EXE_rythmiq"))
        .env_remove("RYTHMIQ_REEXECED")
        .arg("report")
        .arg("--bench")
        .arg(fixtures().join("bench_small.json"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(out.with_extension("html")).unwrap();
    let expected = match std::env::var("RYTHMIQ_GIT_REV").ok().filter(|v| !v.trim().is_empty()) {
        Some(v) => v.trim().to_string(),
        None => Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into()),
    };
    let line = format!("rythmiq {} (git {expected})", env!("CARGO_PKG_VERSION"));
    assert!(html.contains(&line), "{line} not in the header: {}", &html[..html.len().min(1500)]);
}
