//! The rendered report from fixture inputs: every section of the seed's 3 to 6 is present, no blank is left unfilled
//! where its data was given, missing data says which measurement is missing, and the HTML is self-contained.

mod common;

use common::{bench, compare, fixture, load, usage};
use rythmiq_report::{read_json, render_html, render_markdown, Constraints, Report};

const HEADINGS: [&str; 16] = [
    "## 3. Measured Values",
    "### 3.1 Baseline Benchmark Results",
    "### 3.2 Capacity Projections",
    "### 3.3 Load Test Results",
    "## 4. Bottleneck Analysis",
    "### 4.1 First Bottleneck Encountered",
    "### 4.2 Breaking Point",
    "### 4.3 2× Load Prediction",
    "## 5. Optimization Strategy (If Required)",
    "### 5.1 Available Optimizations",
    "### 5.2 Optimization Required?",
    "## 6. FINAL DECISION",
    "### 6.1 Primary Recommendation",
    "### 6.2 Conditions (if ADJUST)",
    "### 6.3 Residual Risks",
    "### 6.4 Production Monitoring Requirements",
];

fn full() -> Report {
    Report::build(Constraints::default(), bench(), Some(load()), Some(compare()), Some(usage())).unwrap()
}

/// The text between a heading and the next heading of any level.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md.find(heading).unwrap_or_else(|| panic!("missing {heading}")) + heading.len();
    let rest = &md[start..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn full_inputs_fill_every_blank() {
    let md = render_markdown(&full());
    for h in HEADINGS {
        assert!(md.contains(h), "missing heading {h}");
    }
    assert!(!md.contains("___"), "an unfilled blank remains:\n{md}");
    assert!(!md.contains("not measured"), "every input was given, yet:\n{md}");
    // Figures with their arithmetic, as hand-computed from the fixtures.
    assert!(md.contains("0.5000 x 1000 x 30 / 3600 = 4.17 hrs (2.1%)"), "{md}");
    assert!(md.contains("Maximum sustainable: 48,000 docs/day"), "{md}");
    assert!(md.contains("Weighted Avg:  (3 x 0.4000 + 1 x 0.8000) / 4 = 0.5000 s"), "{md}");
    assert!(md.contains("Cold start penalty: 1.2000 - 0.4000 = 0.8000 s (+200.0%)"), "{md}");
    assert!(md.contains("Successful:         248 (248 / 250 = 99.2%)"), "{md}");
    assert!(md.contains("DB connections:     7/10 pool"), "{md}");
    assert!(md.contains("[x] CPU Saturation"), "{md}");
    assert!(md.contains("System remains stable up to: 50 concurrent users"), "{md}");
    assert!(md.contains("Breaking point occurs at: 70 concurrent users"), "{md}");
    assert!(md.contains("[x] System rejects excess load"), "{md}");
    assert!(md.contains("[x] No optimization required"), "{md}");
    assert!(md.contains("[x] ✅ GO"), "{md}");
    assert!(md.contains("0.8 x 6.667 = 5.333 CPU-h/day"), "{md}");
    assert!(md.contains("2.00 h / 15.0 days = 0.133 h/day"), "{md}");
    assert!(
        md.contains("200 h x 3600 / (1000 x 30) = 24 CPU-s/doc at 100%"),
        "the seed-inconsistency note is missing:\n{md}"
    );
    assert!(!md.contains("0.72 s (for"), "the seed's 0.72 s target must not be copied");
}

#[test]
fn missing_measurements_say_what_is_missing() {
    let r = Report::build(Constraints::default(), bench(), None, None, None).unwrap();
    let md = render_markdown(&r);
    for h in HEADINGS {
        assert!(md.contains(h), "missing heading {h}");
    }
    assert!(!md.contains("___"), "{md}");
    for heading in [
        "### 3.3 Load Test Results",
        "### 4.1 First Bottleneck Encountered",
        "### 4.2 Breaking Point",
        "### 4.3 2× Load Prediction",
    ] {
        assert!(section(&md, heading).contains("not measured: run `rythmiq loadtest"), "{heading}:\n{md}");
    }
    assert!(section(&md, "### 5.1 Available Optimizations").contains("not measured: run the optimisation"), "{md}");
    assert!(section(&md, "### 6.4 Production Monitoring Requirements")
        .contains("not measured: run `rythmiq report --database`"));
    assert!(md.contains("PROVISIONAL"), "{md}");
    // Bench-derived sections stay filled.
    assert!(!section(&md, "### 3.2 Capacity Projections").contains("not measured"), "{md}");
}

#[test]
fn a_load_test_without_ramp_or_double_load_names_those_runs() {
    let mut l = load();
    l.ramp.clear();
    l.double_load = None;
    l.samples.clear();
    l.first_bottleneck = None;
    let r = Report::build(Constraints::default(), bench(), Some(l), None, None).unwrap();
    let md = render_markdown(&r);
    assert!(section(&md, "### 4.2 Breaking Point").contains("not measured: run `rythmiq loadtest --ramp`"), "{md}");
    assert!(section(&md, "### 4.3 2× Load Prediction").contains("--users 100"), "{md}");
    assert!(
        section(&md, "### 3.3 Load Test Results").contains("not measured: the load test recorded no resource samples")
    );
    assert!(!md.contains("___"));
}

#[test]
fn the_real_bench_output_renders() {
    // A 30-document bench as `rythmiq bench` wrote it, including a negative measured cold-start penalty.
    let real = read_json(&fixture("bench_real_30docs.json")).unwrap();
    let r = Report::build(Constraints::default(), real, None, None, None).unwrap();
    let md = render_markdown(&r);
    assert!(md.contains("within the noise of one cold/warm pair"), "{md}");
    assert!(md.contains("30 documents, the framework asks >= 50 documents; run `rythmiq bench --count 50`"), "{md}");
    assert!(!md.contains("___"));
    let words: Vec<&str> = md.split(|c: char| !c.is_alphanumeric()).collect();
    assert!(!words.iter().any(|w| *w == "NaN" || *w == "inf"), "a non-finite figure was printed:\n{md}");
}

#[test]
fn html_is_one_self_contained_page_with_the_charts() {
    let html = render_html(&full());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 5, "stage, path, projections, latency, queue");
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("https://") && !html.contains("src=\"http"), "no network resources");
    for h in ["3.1 Baseline Benchmark Results", "6.4 Production Monitoring Requirements"] {
        assert!(html.contains(h), "missing {h}");
    }
    // 0.5 s/doc is a few hours a month: the axis follows the bars (with ticks) and names the budget off-scale.
    assert!(
        html.contains(">budget 200 h is off this scale: the largest bar is 2.7% of it</text>"),
        "1300 docs/day x 0.5 s x 30 / 3600 = 5.42 h"
    );
    assert!(html.contains(">CPU-h/month</text>") && html.contains(">6</text>"), "a y axis with round ticks");
    // 24 s/doc sits on the budget: the budget and GO-edge lines are drawn on the scale.
    let on_budget = Report::build(Constraints::default(), common::bench_with_cpu(24.0), None, None, None).unwrap();
    let html_budget = render_html(&on_budget);
    assert!(html_budget.contains(">budget 200 h</text>") && html_budget.contains(">90% (GO edge) 180 h</text>"));

    let bench_only = Report::build(Constraints::default(), bench(), None, None, None).unwrap();
    let html = render_html(&bench_only);
    assert_eq!(html.matches("<svg").count(), 3, "latency and queue need the load test");
    assert!(html.contains("not measured: run `rythmiq loadtest"));
}

#[test]
fn html_page_has_the_header_kpi_cards_one_missing_box_and_folded_arithmetic() {
    let bench_only = Report::build(Constraints::default(), bench(), None, None, None).unwrap();
    let html = render_html(&bench_only);
    assert!(html.contains(&format!("rythmiq {} (git unknown)", env!("CARGO_PKG_VERSION"))), "no revision given");
    let mut pinned = bench_only.clone();
    pinned.git_revision = Some("0abc123".into());
    assert!(render_html(&pinned).contains(&format!("rythmiq {} (git 0abc123)", env!("CARGO_PKG_VERSION"))));
    assert_eq!(html.matches("class=\"kpi ").count(), 4, "CPU/doc, CPU/month, P95, errors");
    assert!(html.contains("n = 4 warm documents"), "each card names its sample");
    assert!(html.contains("<div class=\"kpi none\"><div>Latency P95</div><div class=\"v\">not measured"));
    assert_eq!(html.matches("class=\"missingbox\"").count(), 1, "one box for every missing input");
    assert!(html.contains("<li>Benchmark run with &gt;= 50 documents"), "the checklist's gaps are in it");
    assert!(html.contains("<details><summary>Arithmetic</summary><pre>"));
    assert_eq!(html.matches("<details>").count(), html.matches("</details>").count());
    assert!(html.contains("@media print"));

    // With the load test the latency and error cards carry their figures and sample sizes.
    let html = render_html(&full());
    assert!(html.contains("n = 250 requests, 50 users"), "the P95 card's sample");
    assert!(html.contains("<div>Error rate</div><div class=\"v\">0.80%</div>"));
}
