//! Support for the monitoring tests: where promtool is, the PromQL of the alert rules and of the Grafana dashboard,
//! the metric names a query reads, and the families of a Prometheus text exposition. Shared by the workspace test
//! `tests/monitoring.rs` (the files themselves) and `crates/rythmiq-cli/tests/metrics_cli.rs` (against the live
//! `/metrics` of `serve` and `worker`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::repo_root;

/// The monitoring files' folder.
pub fn monitoring_dir() -> PathBuf {
    repo_root().join("docker/monitoring")
}

pub fn rules_file() -> PathBuf {
    monitoring_dir().join("rules/rythmiq.rules.yml")
}

pub fn dashboard_file() -> PathBuf {
    monitoring_dir().join("grafana/dashboards/rythmiq.json")
}

/// `$RYTHMIQ_PROMTOOL`, else `promtool` on `PATH`. `None` (the caller skips) unless `RYTHMIQ_REQUIRE_PROMTOOL` is
/// set: then a missing promtool is a failure (`scripts/test` installs it and sets both).
pub fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("RYTHMIQ_PROMTOOL").map(PathBuf::from).filter(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("promtool")).find(|p| p.is_file()))
    });
    if found.is_none() {
        let required = std::env::var_os("RYTHMIQ_REQUIRE_PROMTOOL").is_some_and(|v| v != "0");
        assert!(!required, "RYTHMIQ_REQUIRE_PROMTOOL is set but promtool was not found (scripts/lib/promtool.sh)");
        eprintln!("skipped: promtool not found (set RYTHMIQ_PROMTOOL, or run scripts/test)");
    }
    found
}

/// One rule of the rules file: `record` or `alert` name, and its PromQL.
#[derive(Clone, Debug)]
pub struct Rule {
    pub record: Option<String>,
    pub alert: Option<String>,
    pub expr: String,
}

/// The rules of a Prometheus rules file in the layout of `rythmiq.rules.yml`: `- record: NAME` or
/// `- alert: NAME`, then `expr:` on one line or as a `|` block. (No YAML library in the workspace; the layout is
/// ours, and promtool checks the YAML itself.)
pub fn parse_rules(text: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut idx = 0;
    while idx < lines.len() {
        let line = lines[idx].trim_start();
        let (record, alert) = if let Some(name) = line.strip_prefix("- record:") {
            (Some(name.trim().to_string()), None)
        } else if let Some(name) = line.strip_prefix("- alert:") {
            (None, Some(name.trim().to_string()))
        } else {
            idx += 1;
            continue;
        };
        idx += 1;
        while idx < lines.len() && !lines[idx].trim_start().starts_with("expr:") {
            idx += 1;
        }
        let Some(expr_line) = lines.get(idx) else { break };
        let indent = expr_line.len() - expr_line.trim_start().len();
        let value = expr_line.trim_start()["expr:".len()..].trim();
        idx += 1;
        let expr = if value == "|" {
            let mut block = Vec::new();
            while idx < lines.len() {
                let l = lines[idx];
                if !l.trim().is_empty() && l.len() - l.trim_start().len() <= indent {
                    break;
                }
                block.push(l.trim());
                idx += 1;
            }
            block.join("\n")
        } else {
            value.to_string()
        };
        rules.push(Rule { record, alert, expr });
    }
    rules
}

/// Every `(panel title, expr)` of a Grafana dashboard JSON, rows' nested panels included.
pub fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(panels: &[serde_json::Value], out: &mut Vec<(String, String)>) {
        for panel in panels {
            let title = panel["title"].as_str().unwrap_or_default().to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.clone(), expr.to_string()));
                }
            }
            if let Some(nested) = panel["panels"].as_array() {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().map(Vec::as_slice).unwrap_or_default(), &mut out);
    out
}

/// The series names a PromQL expression reads: identifiers outside quotes and braces that are not followed by
/// `(` (a function or aggregation) and are not PromQL keywords or label lists of `by`/`on`/`ignoring`. Recording
/// rules (with a `:`) are included.
pub fn series_names(expr: &str) -> BTreeSet<String> {
    // Operators and keywords, and the aggregations, which may be followed by `by (...)` before their parenthesis.
    const KEYWORDS: [&str; 24] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut idx = 0;
    let mut brace_depth = 0;
    let mut after_grouping = false;
    while idx < chars.len() {
        let c = chars[idx];
        if c == '"' || c == '\'' {
            idx += 1;
            while idx < chars.len() && chars[idx] != c {
                idx += if chars[idx] == '\\' { 2 } else { 1 };
            }
            idx += 1;
            continue;
        }
        if c == '{' {
            brace_depth += 1;
        } else if c == '}' {
            brace_depth -= 1;
        } else if c == '[' {
            // A range or subquery duration: skip to the closing bracket.
            while idx < chars.len() && chars[idx] != ']' {
                idx += 1;
            }
        } else if c == '(' && after_grouping {
            // The label list of by/without/on/ignoring/group_left/group_right.
            while idx < chars.len() && chars[idx] != ')' {
                idx += 1;
            }
            after_grouping = false;
        } else if brace_depth == 0 && (c.is_ascii_alphabetic() || c == '_' || c == ':') {
            let start = idx;
            while idx < chars.len() && (chars[idx].is_ascii_alphanumeric() || chars[idx] == '_' || chars[idx] == ':') {
                idx += 1;
            }
            let word: String = chars[start..idx].iter().collect();
            let mut next = idx;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let is_call = chars.get(next) == Some(&'(');
            let lower = word.to_ascii_lowercase();
            if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&lower.as_str()) {
                after_grouping = true;
            } else if !is_call && !KEYWORDS.contains(&lower.as_str()) && !word.starts_with('$') {
                names.insert(word);
            }
            continue;
        } else if !c.is_whitespace() {
            after_grouping = false;
        }
        idx += 1;
    }
    names
}

/// The families of a Prometheus text exposition: name -> type, from its `# TYPE` lines.
pub fn exposition_families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// The series names an exposition can answer: counters and gauges by name, histograms as `_bucket`, `_sum` and
/// `_count`, summaries as the name, `_sum` and `_count`.
pub fn exposition_series_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (name, kind) in exposition_families(text) {
        match kind.as_str() {
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            "summary" => {
                names.insert(name.clone());
                names.insert(format!("{name}_sum"));
                names.insert(format!("{name}_count"));
            }
            _ => {
                names.insert(name);
            }
        }
    }
    names
}
