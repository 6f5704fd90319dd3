//! The unauthenticated operational routes: liveness, readiness and the Prometheus scrape.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::{telemetry, ApiError, AppState};

/// How long a probe waits for the database. Kubernetes' default probe timeout is 1 s; answering 503 a little later
/// still beats hanging until the pool's acquire timeout (10 s).
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up and serving HTTP. Deliberately checks nothing else: a database outage must
/// not get every pod restarted.
pub(crate) async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: models loaded and workers started (the binary sets `ready`), and the database answers.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    if !state.ready.load(Ordering::Acquire) {
        return Err(ApiError::NotReadyToServe("starting: models or workers not ready yet"));
    }
    // The queue-depth count is the cheapest query the database crate offers; it also proves the schema exists.
    match tokio::time::timeout(DB_PROBE_TIMEOUT, state.db.queue_depth()).await {
        Ok(Ok(_)) => Ok(Json(json!({ "status": "ready" })).into_response()),
        Ok(Err(err)) => {
            tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "readiness: database check failed");
            Err(ApiError::NotReadyToServe("database unavailable"))
        }
        Err(_) => {
            tracing::warn!(timeout_secs = DB_PROBE_TIMEOUT.as_secs(), "readiness: database check timed out");
            Err(ApiError::NotReadyToServe("database unavailable"))
        }
    }
}

/// `GET /metrics`: Prometheus text. The queue and budget gauges are read from the database first, so every
/// replica reports the shared truth at scrape time. When the database does not answer, the scrape still succeeds
/// with the last values (the process's own counters matter most during an outage).
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let Some(handle) = state.prometheus.as_ref() else {
        return Err(ApiError::NotFound("metrics are not enabled in this process"));
    };
    match tokio::time::timeout(DB_PROBE_TIMEOUT, state.db.queue_depth()).await {
        Ok(Ok(depth)) => telemetry::queue_depth(&depth),
        Ok(Err(err)) => tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "metrics: queue depth unavailable"),
        Err(_) => tracing::warn!("metrics: queue depth timed out"),
    }
    match tokio::time::timeout(DB_PROBE_TIMEOUT, state.db.monthly_usage(chrono::Utc::now(), None)).await {
        Ok(Ok(usage)) => telemetry::monthly_usage(&usage),
        Ok(Err(err)) => tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "metrics: monthly usage unavailable"),
        Err(_) => tracing::warn!("metrics: monthly usage timed out"),
    }
    let (in_use, _open, max) = state.db.pool_stats();
    telemetry::db_pool(in_use, max);
    let text = telemetry::render(handle);
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text)
        .into_response())
}
