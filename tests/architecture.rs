//! Enforces the layering ARCHITECTURE.md promises, from `cargo metadata` and the sources, so a new dependency or an
//! `unsafe` block that breaks it fails the suite instead of quietly going stale in the document:
//! - the report and the load generator build without the OCR engine, the pipeline, the bench or the S3 SDK;
//! - the measurement crate depends on nothing of ours but the types;
//! - only `rythmiq-ocr` contains `unsafe`;
//! - only `rythmiq-db` speaks SQL: no other crate depends on sqlx (tests may, to create databases), and no other
//!   crate's code holds an SQL statement or a `.sql` file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Package name -> names of its normal (non-dev, non-build) dependencies, for every package in the resolved graph.
/// The host's target triple (`rustc -vV`): the graph is the one this machine builds, and offline cargo only has
/// this platform's packages (a fresh machine never downloaded, say, Android-only crates).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(rustc).arg("-vV").output().expect("running rustc -vV");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc -vV names the host").trim().to_string()
}

fn normal_dependency_graph() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host_triple()])
        .current_dir(root())
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name")))
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let name = name_of[node["id"].as_str().expect("node id")].to_string();
        let deps = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| d["dep_kinds"].as_array().expect("dep_kinds").iter().any(|k| k["kind"].is_null()))
            .map(|d| name_of[d["pkg"].as_str().expect("pkg")].to_string())
            .collect();
        graph.entry(name).or_insert_with(Vec::new).extend::<Vec<String>>(deps);
    }
    graph
}

/// Every package `from` reaches through normal dependencies (itself excluded).
fn reachable(graph: &BTreeMap<String, Vec<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(pkg) = todo.pop() {
        for dep in graph.get(&pkg).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn report_and_loadtest_build_without_the_engine_pipeline_or_s3() {
    let graph = normal_dependency_graph();
    let forbidden = ["rythmiq-ocr", "rythmiq-pipeline", "rythmiq-bench", "rythmiq-storage", "aws-sdk-s3", "aws-config"];
    for crate_name in ["rythmiq-report", "rythmiq-loadtest", "rythmiq-measure"] {
        assert!(graph.contains_key(crate_name), "{crate_name} is not in the workspace graph");
        let deps = reachable(&graph, crate_name);
        assert!(deps.contains("rythmiq-types"), "{crate_name} should reach rythmiq-types: {deps:?}");
        let bad: Vec<&str> = forbidden.iter().copied().filter(|f| deps.contains(*f)).collect();
        assert!(bad.is_empty(), "{crate_name} depends on {bad:?}; records and statistics belong in rythmiq-measure");
    }
    let ours: Vec<String> =
        reachable(&graph, "rythmiq-measure").into_iter().filter(|d| d.starts_with("rythmiq-")).collect();
    assert_eq!(ours, ["rythmiq-types"], "rythmiq-measure is the bottom floor: only rythmiq-types below it");
}

#[test]
fn the_reachability_walk_can_see_a_forbidden_dependency() {
    // The check above is only worth something if the walk finds transitive edges: the bench does reach the engine.
    let graph = normal_dependency_graph();
    let deps = reachable(&graph, "rythmiq-bench");
    assert!(deps.contains("rythmiq-ocr") && deps.contains("rythmiq-measure"), "{deps:?}");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target" && n != "fixtures") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a line of Rust holds the `unsafe` keyword outside a `//` comment and a string literal (good enough for
/// this codebase: no raw strings or block comments mention it).
fn has_unsafe_keyword(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    let mut in_string = false;
    let mut word = String::new();
    let mut prev = ' ';
    for c in code.chars().chain(std::iter::once(' ')) {
        if c == '"' && prev != '\\' {
            in_string = !in_string;
        }
        if !in_string && (c.is_alphanumeric() || c == '_') {
            word.push(c);
        } else {
            if word == "unsafe" {
                return true;
            }
            word.clear();
        }
        prev = c;
    }
    false
}

#[test]
fn only_the_ocr_crate_has_unsafe() {
    assert!(has_unsafe_keyword("    let x = unsafe { f() };"));
    assert!(!has_unsafe_keyword("// SAFETY: unsafe is fine here"));
    assert!(!has_unsafe_keyword("    let s = \"unsafe\";"));
    assert!(!has_unsafe_keyword("    forbid(unsafe_code)"));
    let mut files = Vec::new();
    for dir in ["crates", "tests", "benches"] {
        rust_files(&root().join(dir), &mut files);
    }
    let ocr = root().join("crates/rythmiq-ocr");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&ocr))
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("reading a source file");
            text.lines()
                .enumerate()
                .filter(|(_, l)| has_unsafe_keyword(l))
                .map(|(i, l)| format!("{}:{}: {}", f.display(), i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(files.len() > 50, "found only {} Rust files: wrong root?", files.len());
    assert!(offenders.is_empty(), "`unsafe` outside rythmiq-ocr:\n{}", offenders.join("\n"));
}

/// Whether a line of Rust holds what reads as an SQL statement (upper-case keywords, as this codebase writes SQL).
fn has_sql_statement(line: &str) -> bool {
    let update_set = line.find("UPDATE ").is_some_and(|at| line[at..].contains(" SET "));
    let select_from = line.find("SELECT ").is_some_and(|at| line[at..].contains(" FROM "));
    ["INSERT INTO ", "DELETE FROM ", "CREATE TABLE ", "ALTER TABLE ", "CREATE VIEW "].iter().any(|k| line.contains(k))
        || update_set
        || select_from
}

#[test]
fn only_the_db_crate_speaks_sql() {
    assert!(has_sql_statement(r#"    sqlx::query("SELECT id FROM jobs WHERE id = $1")"#));
    assert!(has_sql_statement(r#"        "UPDATE jobs SET status = 'dead'","#));
    assert!(!has_sql_statement("    /// Select the jobs from the queue, then update them."));
    // No crate of ours but rythmiq-db links sqlx as a normal dependency.
    let graph = normal_dependency_graph();
    let linking: Vec<&String> = graph
        .iter()
        .filter(|(name, deps)| name.starts_with("rythmiq") && deps.iter().any(|d| d == "sqlx"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(linking, ["rythmiq-db"], "only rythmiq-db may depend on sqlx (outside dev-dependencies)");
    // No SQL in any other crate's code (its own test modules, at the end of a file after #[cfg(test)], aside).
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    let db = root().join("crates/rythmiq-db");
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&db) && f.components().any(|c| c.as_os_str() == "src"))
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("reading a source file");
            text.lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .enumerate()
                .filter(|(_, l)| has_sql_statement(l))
                .map(|(i, l)| format!("{}:{}: {}", f.display(), i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(offenders.is_empty(), "SQL outside rythmiq-db:\n{}", offenders.join("\n"));
    let mut sql_files = Vec::new();
    let mut todo = vec![root().join("crates")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "sql") && !path.starts_with(&db) {
                sql_files.push(path.display().to_string());
            }
        }
    }
    assert!(sql_files.is_empty(), ".sql files outside rythmiq-db and migrations/: {sql_files:?}");
}
