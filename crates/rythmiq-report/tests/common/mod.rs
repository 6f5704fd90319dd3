//! Fixture loading shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use rythmiq_report::{read_json, BenchSummary, CompareResult, Constraints, LoadTestResult, MonthlyUsage, Report};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn bench() -> BenchSummary {
    read_json(&fixture("bench_small.json")).expect("bench fixture")
}

pub fn load() -> LoadTestResult {
    read_json(&fixture("load_50.json")).expect("load fixture")
}

pub fn compare() -> CompareResult {
    read_json(&fixture("compare.json")).expect("compare fixture")
}

pub fn usage() -> MonthlyUsage {
    read_json(&fixture("usage.json")).expect("usage fixture")
}

/// The small bench with its CPU per document replaced, to put the target volume on a chosen band.
pub fn bench_with_cpu(cpu_seconds_per_doc: f64) -> BenchSummary {
    let mut b = bench();
    b.cpu_seconds_per_doc = cpu_seconds_per_doc;
    b
}

pub fn build(bench: BenchSummary, load: Option<LoadTestResult>) -> Report {
    Report::build(Constraints::default(), bench, load, None, None).expect("report builds")
}

/// `a` equals `b` to 1e-9 relative (hand-computed decimals vs floating point).
#[track_caller]
pub fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
}
