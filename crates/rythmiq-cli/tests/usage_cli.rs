//! The binary as a new user meets it: each command's help lists only the flags it uses, with defaults and
//! environment names; the commands that load no OCR model run with none installed; `report` prints a short summary
//! naming its files (JSON or the whole Markdown on request); `enqueue` prints a header or JSON lines.

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::{repo_root, rythmiq};

fn fixtures() -> PathBuf {
    repo_root().join("crates/rythmiq-report/tests/fixtures")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn help_shows_each_command_only_its_flags_with_defaults_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let bench = ok(&rythmiq(dir.path()).args(["bench", "--help"]).output().unwrap());
    for expected in ["Pipeline:", "--ocr-threads", "[env: RYTHMIQ_OCR_THREADS", "[default: 1]", "--database-url"] {
        assert!(bench.contains(expected), "bench --help lacks {expected}:\n{bench}");
    }
    assert!(bench.contains("- fast:") && bench.contains("- best_int:"), "the model's choices: {bench}");
    for command in ["report", "plan", "migrate", "config"] {
        let help = ok(&rythmiq(dir.path()).args([command, "--help"]).output().unwrap());
        assert!(!help.contains("--ocr-threads") && !help.contains("--model"), "{command} --help:\n{help}");
        assert!(help.contains("--config"), "{command}: the global options remain:\n{help}");
    }
    let plan = ok(&rythmiq(dir.path()).args(["plan", "--help"]).output().unwrap());
    assert!(!plan.contains("--database-url"), "plan reads files only:\n{plan}");
}

#[test]
fn config_report_migrate_and_plan_run_without_models() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-models");
    std::fs::create_dir(&empty).unwrap();
    let without_models = || {
        let mut cmd = rythmiq(dir.path());
        cmd.env("RYTHMIQ_MODELS_DIR", &empty);
        cmd
    };
    let config = ok(&without_models().arg("config").output().unwrap());
    assert!(config.contains(&empty.display().to_string()), "{config}");
    ok(&without_models().arg("migrate").output().unwrap());
    let out = dir.path().join("r");
    ok(&without_models()
        .args(["report", "--bench"])
        .arg(fixtures().join("bench_small.json"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap());
    assert!(out.with_extension("md").is_file());
    let plan = ok(&without_models()
        .args(["plan", "--json", "--bench"])
        .arg(fixtures().join("bench_real_30docs.json"))
        .output()
        .unwrap());
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("plan --json prints one JSON document");
    assert!(plan["cores_for_design"].as_u64().unwrap() >= 1, "{plan}");
    // A command that loads the model refuses at once, naming it.
    let ocr = without_models().args(["ocr", "corpus/tess_phototest.tif"]).output().unwrap();
    assert!(!ocr.status.success());
    let stderr = String::from_utf8_lossy(&ocr.stderr);
    assert!(stderr.contains("model fast not found"), "the default engine's model: {stderr}");
}

#[test]
fn report_prints_a_summary_naming_its_files_or_json_or_the_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("readiness");
    let report = |extra: &[&str]| {
        let mut cmd = rythmiq(dir.path());
        cmd.args(["report", "--bench"]).arg(fixtures().join("bench_small.json")).arg("--output").arg(&out);
        ok(&cmd.args(extra).output().unwrap())
    };
    let (md, html) = (out.with_extension("md"), out.with_extension("html"));
    let summary = report(&[]);
    assert!(summary.starts_with("decision: "), "{summary}");
    assert!(summary.contains(&format!("wrote {} and {}", md.display(), html.display())), "{summary}");
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(
        summary.lines().count() < 20 && markdown.lines().count() > 100,
        "a summary ({} lines), not the {}-line Markdown",
        summary.lines().count(),
        markdown.lines().count()
    );

    let json: serde_json::Value = serde_json::from_str(&report(&["--json"])).unwrap();
    assert_eq!(json["markdown"], md.display().to_string());
    assert_eq!(json["html"], html.display().to_string());
    assert!(["GO", "ADJUST", "NO-GO"].iter().any(|v| json["verdict"].as_str().unwrap().contains(v)), "{json}");
    assert!(json["cpu_seconds_per_doc"].as_f64().unwrap() > 0.0);

    let printed = report(&["--markdown"]);
    // (The Markdown names the time it was computed, so compare with the file this run wrote.)
    assert!(printed == std::fs::read_to_string(&md).unwrap(), "--markdown prints the file's text");
}

#[test]
fn enqueue_prints_a_header_or_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo_root().join("corpus/tess_phototest.tif");
    let tsv = ok(&rythmiq(dir.path()).arg("enqueue").arg(&file).output().unwrap());
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines.len(), 2, "{tsv}");
    assert_eq!(lines[0], "job_id\tstatus\tfile");
    let columns: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(columns[1..], ["queued", file.to_str().unwrap()], "{tsv}");

    let json = ok(&rythmiq(dir.path()).args(["enqueue", "--json"]).arg(&file).output().unwrap());
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(row["job_id"], columns[0], "the same document: the same job");
    assert_eq!(row["status"], "duplicate");
    assert_eq!(row["file"], file.display().to_string());
}
