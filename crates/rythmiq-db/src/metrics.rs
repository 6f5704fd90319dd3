//! The `cpu_metrics` row and the report shapes read back from it.

use chrono::{DateTime, NaiveDate, Utc};
use rythmiq_types::{DocumentRun, ErrorKind, ModelKind, PathKind, Stage};
use uuid::Uuid;

use crate::JobId;

/// One row of `cpu_metrics`: one stage of one document run. Build them with [`MetricsRow::from_run`].
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsRow {
    /// Shared by every stage row of one document run (one attempt of one document).
    pub run_id: Uuid,
    /// `None` for bench rows. `complete` and `fail` fill it (and `attempt`) from the job they finish.
    pub job_id: Option<JobId>,
    pub attempt: Option<u32>,
    pub document_id: String,
    pub worker_id: String,
    pub stage: Stage,
    pub path: Option<PathKind>,
    /// Document-level (repeated on each of the run's rows): fast-path OCR was redone on the standard path.
    pub rerouted: bool,
    /// Document-level: the quality score, when scoring ran.
    pub quality_score: Option<f64>,
    pub cpu_seconds: f64,
    pub helper_cpu_seconds: f64,
    pub wall_seconds: f64,
    pub skipped: bool,
    pub cold_start: bool,
    /// Document-level: CPU spent loading models (already inside the stage's `cpu_seconds`), 0 when warm.
    pub model_load_cpu_seconds: f64,
    pub ocr_threads: u32,
    pub model: ModelKind,
    pub max_working_side_px: Option<u32>,
    pub skip_pre_ocr_above: Option<f64>,
    pub result_cache: bool,
    /// `OptimisationFlags::label()`.
    pub flags: String,
    pub cache_hit: bool,
    pub pages: u32,
    pub input_bytes: u64,
    pub error_kind: Option<ErrorKind>,
    /// `None`: the database's clock at insert (PostgreSQL's transaction start). Set by tests and back-fills.
    pub created_at: Option<DateTime<Utc>>,
}

impl MetricsRow {
    /// The rows of one document run, one per stage record, under a fresh `run_id`.
    pub fn from_run(run: &DocumentRun, worker_id: &str) -> Vec<MetricsRow> {
        let run_id = Uuid::new_v4();
        let flags_label = run.flags.label();
        run.stages
            .iter()
            .map(|record| MetricsRow {
                run_id,
                job_id: None,
                attempt: None,
                document_id: run.document_id.clone(),
                worker_id: worker_id.to_string(),
                stage: record.stage,
                path: run.path,
                rerouted: run.rerouted,
                quality_score: run.quality_score,
                cpu_seconds: record.cpu_seconds,
                helper_cpu_seconds: record.helper_cpu_seconds,
                wall_seconds: record.wall_seconds,
                skipped: record.skipped,
                cold_start: run.cold_start,
                model_load_cpu_seconds: run.model_load_cpu_seconds,
                ocr_threads: run.flags.ocr_threads,
                model: run.model,
                max_working_side_px: run.flags.max_working_side_px,
                skip_pre_ocr_above: run.flags.skip_pre_ocr_above,
                result_cache: run.flags.result_cache,
                flags: flags_label.clone(),
                cache_hit: run.cache_hit,
                pages: run.pages,
                input_bytes: run.input_bytes,
                error_kind: run.error.as_ref().map(|(kind, _)| *kind),
                created_at: None,
            })
            .collect()
    }
}

/// A half-open time range `[since, until)` for the report reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl TimeRange {
    /// Everything (both ends far enough out for any row).
    pub fn all() -> TimeRange {
        TimeRange {
            since: DateTime::<Utc>::from_timestamp(0, 0).expect("epoch is representable"),
            until: DateTime::<Utc>::from_timestamp(253_402_300_799, 0).expect("9999-12-31 is representable"),
        }
    }
}

/// One UTC month against the CPU budget: the figures of `get_monthly_cpu_usage()`, computed by
/// `MonthlyUsage::from_totals` on both databases.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthlyUsage {
    pub month_start: NaiveDate,
    pub cpu_hours_used: f64,
    /// Document runs (a failed attempt counts: it spent CPU against the budget).
    pub documents: i64,
    /// `None` when there were no documents.
    pub cpu_seconds_per_document: Option<f64>,
    pub budget_cpu_hours: f64,
    pub percent_of_budget: f64,
    /// Linear extrapolation of the burn so far to the month's end; `None` at the month's first instant.
    pub projected_month_end_hours: Option<f64>,
    /// Days of the month elapsed at the reported instant (fractional; the month's length once it is over).
    pub days_elapsed: f64,
}

/// One stage's share of the CPU over a range.
#[derive(Clone, Debug, PartialEq)]
pub struct StageCost {
    pub stage: Stage,
    /// Rows where the stage ran / was skipped.
    pub runs: i64,
    pub skipped_runs: i64,
    pub cpu_seconds_total: f64,
    /// Over every document of the range, including those that skipped the stage.
    pub cpu_seconds_per_document: f64,
    pub wall_seconds_per_document: f64,
    pub percent_of_cpu: f64,
}

/// One path's share of the documents over a range; `path` is `None` for documents that failed before routing.
#[derive(Clone, Debug, PartialEq)]
pub struct PathShare {
    pub path: Option<PathKind>,
    pub documents: i64,
    pub percent_of_documents: f64,
    pub cpu_seconds_per_document: f64,
}

/// Failed document runs of one kind over a range.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorCount {
    pub kind: ErrorKind,
    pub documents: i64,
}
