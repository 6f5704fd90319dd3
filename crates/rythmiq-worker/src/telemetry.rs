//! The worker's typed events. Each function logs and records the Prometheus metrics of one event together, so the
//! two cannot drift; the matching `cpu_metrics` rows are written by the same call path (`complete`/`fail`).
//! Labels are bounded: stage, path, outcome, error kind. Never a job id.

use rythmiq_types::{DocumentRun, ErrorKind};

/// End-to-end latency histogram buckets, seconds. 30 s is the SLA, so it is a bucket edge.
pub const LATENCY_BUCKETS_SECS: [f64; 12] = [0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0];

/// Registers descriptions (units included) with whatever recorder the binary installed.
pub fn describe_metrics() {
    // A gauge that only grows: the `metrics` crate's counters are integers, and CPU seconds are fractional.
    metrics::describe_gauge!("rythmiq_stage_cpu_seconds_total", metrics::Unit::Seconds, "CPU seconds per stage, helper threads included (monotonic)");
    metrics::describe_counter!("rythmiq_documents_total", "Documents finished, by path and outcome");
    metrics::describe_counter!("rythmiq_errors_total", "Failed attempts, by error kind");
    metrics::describe_counter!("rythmiq_dead_letters_total", "Jobs dead-lettered, by error kind");
    metrics::describe_counter!("rythmiq_cold_starts_total", "Documents that started on a fresh engine");
    metrics::describe_histogram!("rythmiq_document_latency_seconds", metrics::Unit::Seconds, "Enqueue to finish, per document");
    metrics::describe_gauge!("rythmiq_jobs_in_flight", "Jobs being processed by this process");
}

/// A document's run finished (successfully or not) and its outcome was committed.
pub fn document_finished(run: &DocumentRun, latency_secs: Option<f64>, worker_id: &str, job_id: &str) {
    let path = run.path.map_or("none", |p| p.as_str());
    for stage in &run.stages {
        metrics::gauge!("rythmiq_stage_cpu_seconds_total", "stage" => stage.stage.as_str(), "path" => path)
            .increment(stage.cpu_seconds.max(0.0));
    }
    if run.cold_start {
        metrics::counter!("rythmiq_cold_starts_total").increment(1);
    }
    let outcome = match &run.error {
        None => "succeeded",
        Some(_) => "failed",
    };
    metrics::counter!("rythmiq_documents_total", "path" => path, "outcome" => outcome).increment(1);
    if let Some(latency) = latency_secs {
        metrics::histogram!("rythmiq_document_latency_seconds").record(latency);
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
            metrics::counter!("rythmiq_errors_total", "kind" => kind.as_str()).increment(1);
            tracing::warn!(job_id, worker_id, error_kind = %kind, error = %message, "document failed");
        }
    }
}

/// A job ran out of attempts or failed permanently.
pub fn job_dead_lettered(job_id: &str, kind: ErrorKind, attempts: u32) {
    metrics::counter!("rythmiq_dead_letters_total", "kind" => kind.as_str()).increment(1);
    tracing::warn!(job_id, error_kind = %kind, attempts, "job dead-lettered");
}
