//! The monitoring files themselves (framework section 6.4): the alert rules pass `promtool check rules` and their
//! unit tests (`promtool test rules`), the Kubernetes PrometheusRule carries exactly the same groups, the compose
//! Prometheus config is valid and loads them, and the Grafana dashboard is well-formed, provisioned, covers the
//! 6.4 panels and reads only recording rules that exist. That the raw metric names match what the code exports is
//! checked against the live `/metrics` in `crates/rythmiq-cli/tests/metrics_cli.rs`.

use std::collections::BTreeSet;
use std::process::Command;

use rythmiq_suite::monitoring::{
    dashboard_file, dashboard_queries, monitoring_dir, parse_rules, promtool, rules_file, series_names,
};
use rythmiq_suite::repo_root;

fn run_promtool(args: &[&str]) -> String {
    let Some(promtool) = promtool() else { return String::new() };
    let out = Command::new(&promtool).args(args).current_dir(repo_root()).output().expect("running promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_check() {
    let text = run_promtool(&["check", "rules", "docker/monitoring/rules/rythmiq.rules.yml"]);
    assert!(text.is_empty() || text.contains("SUCCESS"), "{text}");
}

#[test]
fn alert_rules_unit_tests_pass() {
    run_promtool(&[
        "test",
        "rules",
        "docker/monitoring/rules/rythmiq.rules.test.yml",
        "docker/monitoring/rules/rythmiq.rules.drift.test.yml",
    ]);
}

#[test]
fn every_section_6_4_threshold_has_an_alert_with_a_unit_test() {
    let rules = parse_rules(&std::fs::read_to_string(rules_file()).unwrap());
    let alerts: BTreeSet<String> = rules.iter().filter_map(|r| r.alert.clone()).collect();
    let tests = std::fs::read_to_string(monitoring_dir().join("rules/rythmiq.rules.test.yml")).unwrap()
        + &std::fs::read_to_string(monitoring_dir().join("rules/rythmiq.rules.drift.test.yml")).unwrap();
    for (alert, threshold) in [
        ("RythmiqCpuBudgetBurnWarning", "> 0.8"),
        ("RythmiqCpuBudgetBurnCritical", "> 1"),
        ("RythmiqLatencyP95Warning", "> 25"),
        ("RythmiqLatencyP95Critical", "> 30"),
        ("RythmiqErrorRateWarning", "> 0.005"),
        ("RythmiqErrorRateCritical", "> 0.01"),
        ("RythmiqColdStartsHigh", "> 0.05"),
        ("RythmiqPathMixDrift", "> 0.2"),
    ] {
        assert!(alerts.contains(alert), "{alert} missing");
        let rule = rules.iter().find(|r| r.alert.as_deref() == Some(alert)).unwrap();
        assert!(rule.expr.contains(threshold), "{alert}: {} lacks {threshold}", rule.expr);
        assert!(
            tests.contains(&format!("alertname: {alert}\n        exp_alerts:\n          - exp_labels")),
            "{alert} is never tested firing"
        );
    }
    for alert in &alerts {
        assert!(tests.contains(&format!("alertname: {alert}\n")), "{alert} has no unit test");
    }
    // Each tested alert also has a case where it stays silent.
    for alert in [
        "RythmiqCpuBudgetBurnWarning",
        "RythmiqLatencyP95Warning",
        "RythmiqErrorRateWarning",
        "RythmiqColdStartsHigh",
        "RythmiqPathMixDrift",
    ] {
        assert!(
            tests.contains(&format!("alertname: {alert}\n        exp_alerts: []")),
            "{alert} is never tested silent"
        );
    }
}

#[test]
fn recording_rules_used_anywhere_are_defined() {
    let rules = parse_rules(&std::fs::read_to_string(rules_file()).unwrap());
    let records: BTreeSet<String> = rules.iter().filter_map(|r| r.record.clone()).collect();
    assert!(records.len() >= 10, "{records:?}");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_file()).unwrap()).unwrap();
    let exprs = rules.iter().map(|r| r.expr.clone()).chain(dashboard_queries(&dashboard).into_iter().map(|(_, e)| e));
    for expr in exprs {
        for name in series_names(&expr).into_iter().filter(|n| n.contains(':')) {
            assert!(records.contains(&name), "{name} (in {expr}) is not a recording rule");
        }
    }
}

#[test]
fn the_prometheus_rule_carries_the_rules_file_verbatim() {
    let rules = std::fs::read_to_string(rules_file()).unwrap();
    let groups = &rules[rules.find("\ngroups:\n").expect("groups") + 1..];
    let manifest = std::fs::read_to_string(repo_root().join("docker/k8s/prometheus-rule.yaml")).unwrap();
    assert!(manifest.contains("kind: PrometheusRule\n") && manifest.contains("apiVersion: monitoring.coreos.com/v1\n"));
    let body = &manifest[manifest.find("\nspec:\n").expect("spec") + "\nspec:\n".len()..];
    let dedented: String = body.lines().map(|l| l.strip_prefix("  ").unwrap_or(l)).map(|l| format!("{l}\n")).collect();
    assert!(
        dedented == groups,
        "docker/k8s/prometheus-rule.yaml differs from the rules file; regenerate its spec with:\n  \
         {{ sed -n '1,/^spec:/p' docker/k8s/prometheus-rule.yaml; sed -n '/^groups:/,$p' \
         docker/monitoring/rules/rythmiq.rules.yml | sed 's/^./  &/'; }} > /tmp/pr && mv /tmp/pr docker/k8s/prometheus-rule.yaml"
    );
}

#[test]
fn compose_prometheus_config_is_valid_and_loads_the_rules() {
    let config = std::fs::read_to_string(monitoring_dir().join("prometheus.yml")).unwrap();
    assert!(config.contains("/etc/prometheus/rules/rythmiq.rules.yml"));
    let dir = tempfile::tempdir().unwrap();
    let local = config.replace("/etc/prometheus/rules/rythmiq.rules.yml", &rules_file().display().to_string());
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, local).unwrap();
    run_promtool(&["check", "config", path.to_str().unwrap()]);
    let compose = std::fs::read_to_string(repo_root().join("docker/compose.yaml")).unwrap();
    for mount in [
        "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        "./monitoring/rules:/etc/prometheus/rules:ro",
        "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro",
        "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ] {
        assert!(compose.contains(mount), "compose does not mount {mount}");
    }
    // The scrape targets are the ports the code listens on in the containers.
    assert!(config.contains("api:8000") && config.contains("port: 9100"));
    assert!(compose.contains("\"--metrics-addr\", \"0.0.0.0:9100\""));
}

#[test]
fn the_dashboard_has_the_section_6_4_panels_on_the_provisioned_datasource() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_file()).unwrap()).unwrap();
    let datasource =
        std::fs::read_to_string(monitoring_dir().join("grafana/provisioning/datasources/prometheus.yml")).unwrap();
    let uid_line = datasource.lines().find_map(|l| l.trim().strip_prefix("uid:")).expect("datasource uid");
    let uid = uid_line.trim();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_i64().expect("panel id")), "duplicate panel id");
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
        assert!(panel["targets"].as_array().is_some_and(|t| !t.is_empty()), "{} has no query", panel["title"]);
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], uid);
        }
    }
    let queries = dashboard_queries(&dashboard);
    let reads = |needle: &str| queries.iter().any(|(_, e)| e.contains(needle));
    // Daily CPU vs budget, P95 trend, cold starts, path distribution, errors by type, per-stage CPU.
    for needle in [
        "rythmiq:cpu_budget_burn:ratio_rate1d",
        "histogram_quantile(0.95, sum by (le) (rate(rythmiq_document_latency_seconds_bucket",
        "rythmiq:cold_starts:ratio_rate30m",
        "sum by (path) (rate(rythmiq_documents_total",
        "rythmiq:document_errors_by_kind:ratio_rate1h",
        "sum by (kind) (rate(rythmiq_errors_total",
        "sum by (stage) (rate(rythmiq_stage_cpu_seconds_sum",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(reads(needle), "no panel reads {needle}");
    }
    let provider =
        std::fs::read_to_string(monitoring_dir().join("grafana/provisioning/dashboards/rythmiq.yml")).unwrap();
    assert!(provider.contains("path: /var/lib/grafana/dashboards"));
}

#[test]
fn series_names_skip_functions_labels_and_durations() {
    let names = series_names(
        "sum by (stage) (increase(rythmiq_stage_cpu_seconds_sum{path=~\"fast|x_y\"}[1h])) / ignoring (stage) \
         group_left () sum(rate(rythmiq_documents_total[$__rate_interval])) or vector(24000) > bool 0.5 \
         and rythmiq:cpu_budget_burn:ratio_rate1d",
    );
    let want: BTreeSet<String> =
        ["rythmiq_stage_cpu_seconds_sum", "rythmiq_documents_total", "rythmiq:cpu_budget_burn:ratio_rate1d"]
            .into_iter()
            .map(String::from)
            .collect();
    assert_eq!(names, want);
}
