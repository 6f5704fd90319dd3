//! The readiness report: sections 3 to 6 of the GO/NO-GO framework filled in from what was measured (bench, load test,
//! optimisation A/B comparison, monthly usage), the decision computed from the constraints, rendered as Markdown and
//! as a self-contained HTML page.
//!
//! Entry points: [`Report::build`], [`render_markdown`], [`render_html`]; inputs are read with [`read_json`].
//!
//! Invariant: the report only reads measurements and computes from them; it never runs the pipeline, the load test
//! or a query itself, so the same inputs always give the same figures.

mod capacity;
mod chart;
mod constraints;
mod engine;
mod evidence;
mod html;
mod html_page;
mod markdown;
mod plan;
mod report;

use std::path::Path;

pub use capacity::{
    load_shape, plan_from_files, plan_input, replay_jobs, run_documents, service_samples, PlanOverrides,
    FRAMEWORK_BURST, LOADTEST_POLL_INTERVAL_SECS, MAX_CORES,
};
pub use constraints::{Band, BandEdge, Constraints, ConstraintsError, Verdict};
pub use engine::{engine_deltas, engine_of, engine_text, EngineDelta};
pub use evidence::{
    exit_code, gate_exit_code, headline, min_error_sample, Evidence, EvidenceCheck, EvidenceItem, FailOn,
    UnknownFailOn, MIN_BENCH_DOCUMENTS, MIN_BURST_DOCUMENTS, REQUIRED_ROUTES,
};
pub use html::render_html;
pub use markdown::render_markdown;
pub use plan::{
    plan, replay, simulate, simulate_documents, BenchCheck, CapacityPlan, LoadShape, MeasuredOn, MeasuredRun,
    PlanError, PlanInput, PlanRow, Prediction, Replay, ReplayCheck, ReplayJob, ServiceSample, SimOptions, Tolerance,
    BENCH_TOLERANCE, REPLAY_TOLERANCE,
};
pub use report::{
    BreakingPoint, BurnRate, Check, CheckStatus, ClosingOption, ColdStartRisk, Conditions, Decision,
    DoubleLoadBehaviour, DoubleLoadOutcome, Monitoring, OptimisationGap, OptimisationNeed, PathDriftRisk, Projection,
    Report, Risks, TrafficRisk,
};
/// The measurement records the report reads live in `rythmiq-measure`; re-exported under their old paths.
pub use rythmiq_measure::{
    BenchSummary, Bottleneck, BottleneckKind, CompareResult, CompareRow, FailureCounts, LatencyBucket, LoadTestResult,
    MonthlyUsage, RampStep, ResourceSample,
};

/// Why a report could not be built or its inputs not read. The CLI turns these into `anyhow` errors; the variants
/// exist so a caller can tell a bad configuration from a missing or malformed measurement file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid constraints: {0}")]
    Constraints(#[from] ConstraintsError),
    /// The bench has no warm, successful document, so there is no CPU figure to decide on.
    #[error("the bench measured no CPU per document (no warm, successful document); run `rythmiq bench` again")]
    NoCpuMeasurement,
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot parse {path}: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("capacity plan: {0}")]
    Plan(#[from] PlanError),
}

/// Reads one JSON input (a `BenchSummary`, `LoadTestResult`, `CompareResult`, `MonthlyUsage` or `Constraints`).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read { path: shown.clone(), source })?;
    serde_json::from_str(&text).map_err(|source| ReportError::Parse { path: shown, source })
}
