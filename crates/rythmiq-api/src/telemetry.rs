//! The API's metrics, typed: one function per event, so a metric's name and labels are written in one place.
//!
//! Everything goes to the process-wide `metrics` recorder, which the binary installs (a Prometheus recorder whose
//! [`PrometheusHandle`] it passes in `AppState`); with no recorder installed these calls are no-ops. Labels are
//! bounded: route templates (never a raw path or a job id), methods from a fixed set, status codes, states.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use metrics_exporter_prometheus::PrometheusHandle;
use rythmiq_db::{MonthlyUsage, QueueDepth};

/// Counter `{route, method, status}`: HTTP requests answered.
pub const HTTP_REQUESTS_TOTAL: &str = "rythmiq_http_requests_total";
/// Counter `{outcome}`: documents accepted by `POST /v1/documents`, `created` or `duplicate`.
pub const SUBMISSIONS_TOTAL: &str = "rythmiq_api_submissions_total";
/// Gauge `{state}`: jobs per queue state (`ready`, `delayed`, `running`, `dead_lettered`), read from the database
/// when `/metrics` is scraped.
pub const QUEUE_DEPTH: &str = "rythmiq_queue_depth";
/// Gauge `{state}`: database pool connections (`in_use`, `max`).
pub const DB_POOL_CONNECTIONS: &str = "rythmiq_db_pool_connections";
/// Gauge: CPU seconds spent this UTC month (every process's `cpu_metrics` rows), read when `/metrics` is scraped.
/// Seconds, the base unit, like every other time in the exposition (the database stores hours).
pub const MONTH_CPU_USED_SECONDS: &str = "rythmiq_month_cpu_used_seconds";
/// Gauge: the monthly CPU budget in seconds (the stored setting, hours x 3600).
pub const MONTH_CPU_BUDGET_SECONDS: &str = "rythmiq_month_cpu_budget_seconds";

/// Registers help texts and units. Idempotent; `router()` calls it, after the binary installed the recorder.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        Unit::Count,
        "HTTP requests answered, by route template, method and status."
    );
    describe_counter!(
        SUBMISSIONS_TOTAL,
        Unit::Count,
        "Documents accepted by POST /v1/documents: created or duplicate."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Jobs per queue state: ready, delayed (backing off), running, dead_lettered."
    );
    describe_gauge!(DB_POOL_CONNECTIONS, Unit::Count, "Database pool connections: in_use, and the pool's max.");
    describe_gauge!(
        MONTH_CPU_USED_SECONDS,
        Unit::Seconds,
        "CPU seconds spent on documents this UTC month, from the cpu_metrics table."
    );
    describe_gauge!(MONTH_CPU_BUDGET_SECONDS, Unit::Seconds, "Monthly CPU budget in seconds (the stored setting).");
}

/// A request was answered. `route` is the matched route template or `unmatched`.
pub fn request_finished(route: &str, method: &axum::http::Method, status: axum::http::StatusCode) {
    let route = bounded_route(route);
    let method = bounded_method(method);
    counter!(HTTP_REQUESTS_TOTAL, "route" => route, "method" => method, "status" => status.as_str().to_string())
        .increment(1);
}

/// A submission was enqueued (`duplicate`: the same bytes under the same config were already queued or done).
pub fn document_submitted(duplicate: bool) {
    let outcome = if duplicate { "duplicate" } else { "created" };
    counter!(SUBMISSIONS_TOTAL, "outcome" => outcome).increment(1);
}

/// The queue depth as just read from the database.
pub fn queue_depth(depth: &QueueDepth) {
    for (state, n) in [
        ("ready", depth.ready),
        ("delayed", depth.delayed),
        ("running", depth.running),
        ("dead_lettered", depth.dead_lettered),
    ] {
        gauge!(QUEUE_DEPTH, "state" => state).set(n as f64);
    }
}

/// The database pool: connections in use and the pool's maximum.
pub fn db_pool(in_use: u32, max: u32) {
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(in_use as f64);
    gauge!(DB_POOL_CONNECTIONS, "state" => "max").set(max as f64);
}

/// This month's CPU use against the budget, as just read from the database.
pub fn monthly_usage(usage: &MonthlyUsage) {
    gauge!(MONTH_CPU_USED_SECONDS).set(usage.cpu_hours_used * 3600.0);
    gauge!(MONTH_CPU_BUDGET_SECONDS).set(usage.budget_cpu_hours * 3600.0);
}

/// The Prometheus exposition of this process: the recorder's families followed by the standard process metrics
/// ([`crate::process_metrics`]). Both `serve`'s `/metrics` and a worker's probe server answer with this.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    crate::process_metrics::render_into(&mut text);
    text
}

/// Runs `run_upkeep()` on `handle` every `interval` until the task is aborted. Without the exporter's HTTP
/// listener nothing else drains its histogram buckets, so memory would grow; `serve` runs one for its lifetime.
/// A process without the API (`rythmiq worker`) that installs a recorder should run one too.
pub fn spawn_upkeep(handle: PrometheusHandle, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Routes are `&'static str` templates already; this keeps a future mistake (a raw path) from exploding the label
/// set by refusing anything that does not look like one of ours.
fn bounded_route(route: &str) -> &'static str {
    match route {
        "/v1/documents" => "/v1/documents",
        "/v1/documents/{id}" => "/v1/documents/{id}",
        "/v1/documents/{id}/result" => "/v1/documents/{id}/result",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        _ => "unmatched",
    }
}

fn bounded_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}
