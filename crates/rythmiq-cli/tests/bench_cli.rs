//! The `rythmiq` binary as a user runs it: `bench` over a small corpus writes the documented JSON keys, counts
//! bad input by kind without stopping, and the OCR thread setting reaches OpenMP through the restart.

mod support;

use std::process::Command;

use support::{corpus_copy, repo_root};

fn rythmiq() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rythmiq"));
    cmd.current_dir(repo_root()).env_remove("RYTHMIQ_REEXECED");
    cmd
}

#[test]
fn bench_writes_the_documented_keys_and_counts_errors_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let corpus =
        corpus_copy(dir.path(), &["tess_phototest.tif", "tess_phototest.gt.txt", "sroie_323.jpg", "sroie_323.gt.txt"]);
    std::fs::write(corpus.join("zz_broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let output = dir.path().join("out.json");
    let run = rythmiq()
        .args(["bench", "--count", "4", "--corpus"])
        .arg(&corpus)
        .arg("--output")
        .arg(&output)
        .arg("--results-dir")
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "bench failed: {stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    for heading in ["STAGE BREAKDOWN", "PATH BREAKDOWN", "COLD START IMPACT", "ACCURACY", "unattributed"] {
        assert!(stdout.contains(heading), "missing {heading} in:\n{stdout}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    for key in [
        "documents",
        "cpu_seconds_per_doc",
        "stages",
        "paths",
        "cold_start",
        "accuracy",
        "process_cpu_seconds",
        "unattributed_cpu_share",
        "errors",
        "per_document",
    ] {
        assert!(json.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(json["documents"], 4);
    assert_eq!(json["per_document"].as_array().unwrap().len(), 4);
    for stage in ["fetch", "quality_scoring", "pre_ocr", "enhancement", "ocr", "schema_adaptation", "upload"] {
        let s = &json["stages"][stage];
        for key in ["cpu_seconds_per_doc", "share", "wall_seconds_per_doc", "skipped"] {
            assert!(s.get(key).is_some(), "stage {stage} lacks {key}");
        }
    }
    assert!(json["stages"]["ocr"]["cpu_seconds_per_doc"].as_f64().unwrap() > 0.0);
    for path in ["fast", "standard"] {
        assert!(
            json["paths"][path].get("documents").is_some() && json["paths"][path].get("cpu_seconds_per_doc").is_some()
        );
    }
    for key in ["cold_seconds", "warm_seconds", "penalty_seconds", "model_load_seconds"] {
        assert!(json["cold_start"].get(key).is_some(), "cold_start lacks {key}");
    }
    assert!(json["cold_start"]["model_load_seconds"].as_f64().unwrap() > 0.0);
    // The broken file is the third document of the cycle (sorted: sroie_323, tess_phototest, zz_broken).
    assert_eq!(json["errors"]["corrupt_image"], 1, "errors: {}", json["errors"]);
    let share = json["unattributed_cpu_share"].as_f64().unwrap();
    assert!(share.abs() < 0.2, "unattributed CPU share {share}");
    assert!(json["accuracy"]["cer"].as_f64().unwrap() < 0.2);
}

#[test]
fn ocr_threads_reach_openmp_through_the_restart() {
    let out = rythmiq()
        .args(["config"])
        .env("RYTHMIQ_OCR_THREADS", "3")
        .env_remove("OMP_THREAD_LIMIT")
        .env_remove("OMP_WAIT_POLICY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("# OMP_THREAD_LIMIT in effect: 3"), "{stdout}");
    assert!(stdout.contains("# OMP_WAIT_POLICY in effect: PASSIVE"), "idle OpenMP threads sleep: {stdout}");
    assert!(stdout.contains("ocr_threads = 3"), "{stdout}");
    // A policy the operator chose is kept through the restart.
    let out = rythmiq().args(["config"]).env("OMP_WAIT_POLICY", "ACTIVE").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# OMP_WAIT_POLICY in effect: ACTIVE"), "{stdout}");
}

#[test]
fn the_engine_picks_the_tesseract_model_unless_one_is_named() {
    let model_of = |cmd: &mut Command| {
        let out = cmd.arg("config").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout.lines().find(|l| l.starts_with("model = ")).unwrap_or_else(|| panic!("{stdout}"));
        line.trim_start_matches("model = ").trim_matches('"').to_string()
    };
    let rythmiq = || {
        let mut cmd = rythmiq();
        cmd.env_remove("RYTHMIQ_MODEL").env_remove("RYTHMIQ_ENGINE");
        cmd
    };
    assert_eq!(model_of(rythmiq().env("RYTHMIQ_ENGINE", "tesseract")), "best_int");
    assert_eq!(model_of(rythmiq().env("RYTHMIQ_ENGINE", "auto")), "fast", "auto's measured default");
    // Named anywhere (environment, file), the model is kept whatever the engine.
    assert_eq!(model_of(rythmiq().env("RYTHMIQ_ENGINE", "auto").env("RYTHMIQ_MODEL", "best_int")), "best_int");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rythmiq.toml");
    std::fs::write(&file, "[pipeline.flags]\nmodel = \"best_int\"\nengine = \"auto\"\n").unwrap();
    assert_eq!(model_of(rythmiq().arg("--config").arg(&file)), "best_int");
    std::fs::write(&file, "[pipeline.flags]\nengine = \"auto\"\n").unwrap();
    assert_eq!(model_of(rythmiq().arg("--config").arg(&file)), "fast");
}

#[test]
fn invalid_config_is_refused_with_a_clear_message() {
    let out = rythmiq().args(["config"]).env("RYTHMIQ_FAST_PATH_THRESHOLD", "1.5").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fast_path_threshold must be within 0..=1"), "{stderr}");
    // Clap refuses an unknown model and lists the choices.
    let out = rythmiq().args(["ocr", "--model", "huge", "corpus/tess_phototest.tif"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid value 'huge'") && stderr.contains("best_int"), "{stderr}");
}

#[test]
fn bench_records_its_stage_rows_in_the_database_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    std::fs::copy(repo_root().join("corpus/tess_phototest.tif"), corpus.join("tess_phototest.tif")).unwrap();
    let run = rythmiq()
        .env("RYTHMIQ_DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .args(["bench", "--count", "2", "--record-metrics", "--corpus"])
        .arg(&corpus)
        .arg("--output")
        .arg(dir.path().join("out.json"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let costs = rt.block_on(async {
        let db = rythmiq_db::DbConfig { sqlite_path: dir.path().join("rythmiq.db"), ..Default::default() }
            .connect()
            .await
            .unwrap();
        db.stage_breakdown(rythmiq_db::TimeRange::all()).await.unwrap()
    });
    // Two documents plus the warm probe: three runs, each with seven stage rows.
    assert_eq!(costs.len(), 7, "{costs:?}");
    for cost in &costs {
        assert_eq!(cost.runs + cost.skipped_runs, 3, "{cost:?}");
    }
    let ocr = costs.iter().find(|c| c.stage == rythmiq_types::Stage::Ocr).unwrap();
    assert!(ocr.cpu_seconds_total > 0.0);
}

#[test]
fn compare_produces_a_row_per_configuration_and_each_flag_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_copy(dir.path(), &["tess_phototest.tif", "tess_phototest.gt.txt"]);
    let output = dir.path().join("compare.json");
    let run = rythmiq()
        .args(["bench", "--compare", "--count", "2", "--with", "tiny=--max-working-side-px 400", "--corpus"])
        .arg(&corpus)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(
        labels,
        [
            "baseline",
            "ocr_threads=2",
            "pre_resize=1600px",
            "skip_pre_ocr>=0.9",
            "model=best_int",
            "result_cache",
            "all",
            "engine=tesseract",
            "engine=ppocr",
            "tiny"
        ]
    );
    let flags = |label: &str| rows.iter().find(|r| r["label"] == label).unwrap()["flags"].as_str().unwrap().to_string();
    assert!(flags("ocr_threads=2").contains("threads=2"), "{}", flags("ocr_threads=2"));
    // Each row ran the configuration its label names, as its bench recorded it. The reference is the shipped
    // default (auto with the lighter model), so the model row measures the heavier one.
    assert!(flags("baseline").ends_with("model=fast,cache=off,engine=auto"), "{}", flags("baseline"));
    assert!(flags("model=best_int").ends_with("model=best_int,cache=off,engine=auto"), "{}", flags("model=best_int"));
    assert_eq!(flags("all"), "threads=2,resize=1600,skip_pre_ocr=0.9,model=fast,cache=on,engine=auto");
    assert!(flags("result_cache").contains("cache=on"));
    assert!(flags("tiny").contains("resize=400"));
    // The other engines, each with its own default model.
    assert!(flags("engine=tesseract").ends_with("model=best_int,cache=off,engine=tesseract"));
    assert!(flags("engine=ppocr").ends_with("engine=ppocr"));
    assert_eq!(rows[0]["saving_percent"].as_f64().unwrap(), 0.0, "the baseline saves nothing against itself");
    for row in rows {
        assert!(row["cpu_seconds_per_doc"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["bow_f1"].is_number() && row["cer_delta"].is_number(), "accuracy measured for every row: {row}");
    }
    assert_eq!(rows[0]["bow_f1_delta"].as_f64().unwrap(), 0.0);
    assert!(stdout.contains("saving = (baseline"), "the arithmetic is printed: {stdout}");
}

#[test]
fn compare_rows_run_the_flags_the_comparison_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus_copy(dir.path(), &["tess_phototest.tif", "tess_phototest.gt.txt"]);
    let output = dir.path().join("compare.json");
    // A non-default engine and pre-resize: every row must run them, plus only its own change.
    let run = rythmiq()
        .args(["bench", "--compare", "--engines-only", "--engine", "tesseract", "--max-working-side-px", "2999"])
        .args(["--count", "2", "--corpus"])
        .arg(&corpus)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{}\n{stderr}", String::from_utf8_lossy(&run.stdout));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let flags: Vec<(&str, &str)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["label"].as_str().unwrap(), r["flags"].as_str().unwrap()))
        .collect();
    assert_eq!(
        flags,
        [
            ("baseline", "threads=1,resize=2999,skip_pre_ocr=off,model=best_int,cache=off,engine=tesseract"),
            ("engine=ppocr", "threads=1,resize=2999,skip_pre_ocr=off,model=best_int,cache=off,engine=ppocr"),
            ("engine=auto", "threads=1,resize=2999,skip_pre_ocr=off,model=fast,cache=off,engine=auto"),
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("compare: engine=auto (--engine tesseract --max-working-side-px 2999 --engine auto"),
        "{stderr}"
    );
}
