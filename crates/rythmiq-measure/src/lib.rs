//! The bottom floor of measurement: the records the measuring tools write and the report reads (the bench's
//! [`BenchSummary`], the load test's [`LoadTestResult`], the A/B [`CompareResult`], the month's [`MonthlyUsage`]; the
//! capacity planner's results belong here too when it lands), the one statistics module ([`stats`]: percentiles by
//! one documented convention) and the one renderer of the readiness framework's section 3.1 ([`render_section_3_1`]).
//!
//! Keys are typed: stages are [`Stage`](rythmiq_types::Stage) and paths are a struct with a field per
//! [`PathKind`](rythmiq_types::PathKind), so a record never panics on a missing string key.
//!
//! Invariant: records, arithmetic on them and text; no engine, no database, no network, no files. It depends on
//! `rythmiq-types` and serde only, so the report and the load generator build without Tesseract or the S3 SDK.

mod bench;
mod compare;
mod load;
mod render;
pub mod stats;
mod usage;

pub use bench::{
    Accuracy, Baselines, BenchSummary, Breakdown, CliBaseline, ColdStart, GroupFigures, PathSplit, PathSummary,
    PerDocument, StageSummary, EXPECTED_FAST_SHARE,
};
pub use compare::{pareto_frontier, CompareResult, CompareRow};
pub use load::{
    Bottleneck, BottleneckKind, FailureCounts, JobRecord, LatencyBucket, LoadTestResult, RampStep, ResourceSample,
};
pub use render::{render_section_3_1, TextBox};
pub use usage::MonthlyUsage;
