//! The HTTP API (axum): clients submit documents to the queue, poll their status and fetch results; operators get
//! liveness, readiness and Prometheus metrics. Routes, status codes and error codes are listed in the README.
//!
//! The binary builds an [`AppState`] (database, object store, config, the pipeline's output fingerprint), binds a
//! listener and calls [`serve`]. Tests call [`router`] or [`serve`] on port 0.
//!
//! Invariant: the API never processes a document. It validates, stores the bytes, enqueues a job and reads back
//! what the workers wrote; it speaks SQL only through `rythmiq-db` and storage only through `ObjectStore`.

mod auth;
mod config;
mod documents;
mod error;
mod multipart;
mod probes;
pub mod process_metrics;
mod server;
mod sniff;
pub mod telemetry;

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use rythmiq_db::Database;
use rythmiq_storage::ObjectStore;

pub use config::{ApiConfig, ConfigError, DEFAULT_MAX_BODY_BYTES};
pub use error::ApiError;

/// Everything a request handler needs. Built once by the binary; the router shares it behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    /// The queue.
    pub db: Database,
    /// Where uploaded inputs are stored and results are read from (the store the workers use).
    pub store: Arc<dyn ObjectStore>,
    pub config: ApiConfig,
    /// The pipeline config's output fingerprint (`PipelineConfig::fingerprint`), from which intake derives every
    /// job's keys (`rythmiq_types::intake::admit`): the same bytes under the same fingerprint are one job, and the
    /// workers refuse a job admitted under another fingerprint than theirs (`config_mismatch`).
    pub config_hash: String,
    /// The Prometheus recorder's handle, when the binary installed one; `/metrics` answers 404 without it.
    pub prometheus: Option<PrometheusHandle>,
    /// Set by the binary once models are loaded and workers started; `/readyz` answers 503 until then.
    pub ready: Arc<AtomicBool>,
}

impl AppState {
    /// A state with no metrics and not ready; set the other fields directly. `{"s3_uri": ...}` submissions are
    /// served when the store is a bucket (`ObjectStore::key_of_uri`).
    pub fn new(
        db: Database,
        store: Arc<dyn ObjectStore>,
        config: ApiConfig,
        config_hash: impl Into<String>,
    ) -> AppState {
        AppState {
            db,
            store,
            config,
            config_hash: config_hash.into(),
            prometheus: None,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("store", &self.store.describe())
            .field("config", &self.config)
            .field("config_hash", &self.config_hash)
            .field("prometheus", &self.prometheus.is_some())
            .field("ready", &self.ready)
            .finish()
    }
}

/// The routes, with bearer auth on `/v1` (when a token is configured) and request counting on everything.
pub fn router(state: AppState) -> Router {
    telemetry::describe();
    let state = Arc::new(state);
    // Auth is a layer on the whole router, keyed on the path prefix, not a route_layer: it runs before routing, so
    // an unknown /v1 path or a wrong method answers 401 like a known one, and the route table cannot be mapped
    // without the token. It still runs before a handler reads a byte of the body.
    Router::new()
        .route("/v1/documents", post(documents::submit))
        .route("/v1/documents/{id}", get(documents::status))
        .route("/v1/documents/{id}/result", get(documents::result))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_bearer))
        .layer(middleware::from_fn(count_request))
        .with_state(state)
}

/// `/healthz`, `/readyz` and `/metrics` alone, with the same handlers as [`router`]: a worker pod's probe server
/// (workers take no submissions, so no `/v1` routes). `/readyz` answers 503 until the binary sets `state.ready`.
pub fn probe_router(state: AppState) -> Router {
    telemetry::describe();
    Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(middleware::from_fn(count_request))
        .with_state(Arc::new(state))
}

/// Counts every answered request by route template (set by the router before layers added with `layer` run).
async fn count_request(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_string());
    let method = request.method().clone();
    let response = next.run(request).await;
    telemetry::request_finished(route.as_deref().unwrap_or("unmatched"), &method, response.status());
    response
}

/// How often `serve` runs the Prometheus recorder's upkeep.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Serves the API on `listener` until `shutdown` resolves, then stops accepting connections and lets requests in
/// flight finish. Returns once the last connection closed, or when `config.shutdown_grace_secs` ran out: requests
/// still running then are abandoned to the runtime (they end when the binary's runtime shuts down). Fails at once
/// on an invalid config.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.config.validate().map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
    let addr = listener.local_addr()?;
    let exposed =
        state.config.check_exposure(addr).map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
    if exposed {
        tracing::warn!(
            %addr,
            "api serving /v1 WITHOUT authentication on a non-loopback address (allow_unauthenticated is set)"
        );
    }
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let upkeep_opt = state.prometheus.clone().map(|handle| telemetry::spawn_upkeep(handle, UPKEEP_INTERVAL));
    tracing::info!(%addr, "api listening");

    // The accept loop waits for every connection to finish after the signal; a client that never finishes its
    // request would hold shutdown forever. So the signal is also forwarded here, to start the grace clock.
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("api shutting down: no new connections, finishing requests in flight");
        let _ = signalled_tx.send(());
    };
    let header_read_timeout = Duration::from_secs(state.config.header_read_timeout_secs);
    let server = server::run(listener, router(state), header_read_timeout, shutdown);
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        _ = async {
            // A dropped sender (the server ended first) is not a signal: wait forever and let the other arm win.
            if signalled_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "api grace period over: dropping open connections");
        }
    }
    if let Some(task) = upkeep_opt {
        task.abort();
    }
    tracing::info!("api stopped");
    Ok(())
}

/// Serves [`probe_router`] on `listener` until the process ends, with the same header-read timeout as [`serve`]
/// (`state.config.header_read_timeout_secs`): a worker pod's probe port is as reachable as the API's.
pub async fn serve_probes(listener: tokio::net::TcpListener, state: AppState) {
    let header_read_timeout = Duration::from_secs(state.config.header_read_timeout_secs.max(1));
    server::run(listener, probe_router(state), header_read_timeout, std::future::pending()).await;
}
