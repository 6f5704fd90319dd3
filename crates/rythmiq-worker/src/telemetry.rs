//! The worker's typed events. Each function logs and records the Prometheus metrics of one event together, so the
//! two cannot drift; the matching `cpu_metrics` rows are written by the same call path (`complete`/`fail`).
//! Labels are bounded: stage, path, outcome, error kind. Never a job id.
//!
//! Every family name is a constant here and every call site uses the constant, so the dashboard and alert-rule
//! tests (which read the live `/metrics`) break when a name changes. [`describe_metrics`] also creates every
//! counter and histogram series at zero: a `rate()` over a series that does not exist yet is empty, and an alert
//! that compares two empty vectors never fires.

use rythmiq_types::{DocumentRun, ErrorKind, PathKind, Stage};

/// Histogram `{stage, path}`: CPU seconds per stage and document, helper threads included. Its `_sum` is the
/// monotonic CPU burn per stage (the daily-budget alerts and the dashboard's per-stage breakdown read it).
pub const STAGE_CPU_SECONDS: &str = "rythmiq_stage_cpu_seconds";
/// Counter `{path, outcome}`: document runs finished (`succeeded` or `failed`; a failed run may be retried).
pub const DOCUMENTS_TOTAL: &str = "rythmiq_documents_total";
/// Counter `{kind}`: failed runs, by error kind.
pub const ERRORS_TOTAL: &str = "rythmiq_errors_total";
/// Counter `{kind}`: jobs dead-lettered (failed for good), by error kind.
pub const DEAD_LETTERS_TOTAL: &str = "rythmiq_dead_letters_total";
/// Counter: documents that ran on a freshly loaded engine.
pub const COLD_STARTS_TOTAL: &str = "rythmiq_cold_starts_total";
/// Histogram: end-to-end latency, enqueue to finish, seconds.
pub const DOCUMENT_LATENCY_SECONDS: &str = "rythmiq_document_latency_seconds";
/// Gauge: jobs being processed by this process.
pub const JOBS_IN_FLIGHT: &str = "rythmiq_jobs_in_flight";
/// Gauge: worker slots (pipeline threads) this process runs; 0 until its workers start. The load test reads it to
/// tell the capacity planner how many slots served the burst.
pub const WORKER_SLOTS: &str = "rythmiq_worker_slots";

/// End-to-end latency histogram buckets, seconds. 25 s (the framework's warning) and 30 s (the SLA) are bucket
/// edges, so the P95 alerts and the share of documents over each limit are exact rather than interpolated.
pub const LATENCY_BUCKETS_SECS: [f64; 13] = [0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0];

/// Per-stage CPU histogram buckets, seconds: from a cheap quality score (milliseconds) to a slow OCR (many seconds).
pub const STAGE_CPU_BUCKETS_SECS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Registers descriptions (units included) with whatever recorder the binary installed, and creates every
/// bounded series at zero (see the module comment).
pub fn describe_metrics() {
    use metrics::Unit;
    metrics::describe_histogram!(
        STAGE_CPU_SECONDS,
        Unit::Seconds,
        "CPU seconds per stage and document, helper threads included; _sum is the CPU burn per stage."
    );
    metrics::describe_counter!(DOCUMENTS_TOTAL, "Document runs finished, by path and outcome.");
    metrics::describe_counter!(ERRORS_TOTAL, "Failed document runs, by error kind.");
    metrics::describe_counter!(DEAD_LETTERS_TOTAL, "Jobs dead-lettered (failed for good), by error kind.");
    metrics::describe_counter!(COLD_STARTS_TOTAL, "Documents that started on a freshly loaded engine.");
    metrics::describe_histogram!(
        DOCUMENT_LATENCY_SECONDS,
        Unit::Seconds,
        "End-to-end latency per document, enqueue to finish."
    );
    metrics::describe_gauge!(JOBS_IN_FLIGHT, "Jobs being processed by this process.");
    metrics::describe_gauge!(WORKER_SLOTS, "Worker slots (pipeline threads) this process runs.");

    for path in [PathKind::Fast, PathKind::Standard] {
        for stage in Stage::ALL {
            let _ = metrics::histogram!(STAGE_CPU_SECONDS, "stage" => stage.as_str(), "path" => path.as_str());
        }
        for outcome in ["succeeded", "failed"] {
            metrics::counter!(DOCUMENTS_TOTAL, "path" => path.as_str(), "outcome" => outcome).increment(0);
        }
    }
    for kind in ErrorKind::ALL {
        metrics::counter!(ERRORS_TOTAL, "kind" => kind.as_str()).increment(0);
        metrics::counter!(DEAD_LETTERS_TOTAL, "kind" => kind.as_str()).increment(0);
    }
    metrics::counter!(COLD_STARTS_TOTAL).increment(0);
    let _ = metrics::histogram!(DOCUMENT_LATENCY_SECONDS);
    metrics::gauge!(JOBS_IN_FLIGHT).set(0.0);
}

/// This process started `n` worker slots.
pub fn workers_started(n: usize) {
    metrics::gauge!(WORKER_SLOTS).set(n as f64);
}

/// A job was claimed (`+1`) or let go (`-1`) by this process.
pub fn job_in_flight(delta: f64) {
    metrics::gauge!(JOBS_IN_FLIGHT).increment(delta);
}

/// A document's run finished (successfully or not) and its outcome was committed.
pub fn document_finished(run: &DocumentRun, latency_secs: Option<f64>, worker_id: &str, job_id: &str) {
    let path = run.path.map_or("none", |p| p.as_str());
    for stage in &run.stages {
        metrics::histogram!(STAGE_CPU_SECONDS, "stage" => stage.stage.as_str(), "path" => path)
            .record(stage.cpu_seconds.max(0.0));
    }
    if run.cold_start {
        metrics::counter!(COLD_STARTS_TOTAL).increment(1);
    }
    let outcome = match &run.error {
        None => "succeeded",
        Some(_) => "failed",
    };
    metrics::counter!(DOCUMENTS_TOTAL, "path" => path, "outcome" => outcome).increment(1);
    if let Some(latency) = latency_secs {
        metrics::histogram!(DOCUMENT_LATENCY_SECONDS).record(latency);
    }
    match &run.error {
        None => tracing::info!(
            job_id,
            worker_id,
            path,
            cpu_seconds = run.cpu_seconds(),
            latency_secs,
            cold_start = run.cold_start,
            rerouted = run.rerouted,
            "document done"
        ),
        Some((kind, message)) => {
            metrics::counter!(ERRORS_TOTAL, "kind" => kind.as_str()).increment(1);
            tracing::warn!(job_id, worker_id, error_kind = %kind, error = %message, "document failed");
        }
    }
}

/// A job ran out of attempts or failed permanently.
pub fn job_dead_lettered(job_id: &str, kind: ErrorKind, attempts: u32) {
    metrics::counter!(DEAD_LETTERS_TOTAL, "kind" => kind.as_str()).increment(1);
    tracing::warn!(job_id, error_kind = %kind, attempts, "job dead-lettered");
}
