//! `rythmiq serve` and `rythmiq worker`: the composition root of a pod. Opens the database and the store, wires
//! them into the API and the worker pool, serves the probes, and stops both on SIGTERM.

use anyhow::Context;

use super::queue::config_hash;
use crate::config::Config;
use crate::logging;

/// Resolves to true on SIGTERM or SIGINT (Kubernetes sends SIGTERM, then SIGKILL after the grace period).
fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Registered now, not in the task: a SIGTERM that arrives before the task first runs must still be caught.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    tokio::spawn(async move {
        let mut term = match term {
            Ok(s) => s,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown signal: no new claims; finishing in-flight jobs");
        let _ = tx.send(true);
    });
    rx
}

/// A factory that opens the configured store on each pipeline thread (an S3 client per thread and runtime).
fn store_factory(config: &Config) -> rythmiq_worker::StoreFactory {
    let location = config.storage_location();
    let s3 = config.storage.s3.clone();
    std::sync::Arc::new(move || {
        rythmiq_storage::StoreUri::parse(&location)
            .and_then(|uri| uri.open(&s3))
            .map_err(|e| format!("opening storage {location}: {e}"))
    })
}

/// Installs the process-wide Prometheus recorder (the latency histogram gets the SLA-aligned buckets).
fn install_metrics() -> anyhow::Result<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(rythmiq_worker::telemetry::DOCUMENT_LATENCY_SECONDS.into()),
            &rythmiq_worker::LATENCY_BUCKETS_SECS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(rythmiq_worker::telemetry::STAGE_CPU_SECONDS.into()),
            &rythmiq_worker::STAGE_CPU_BUCKETS_SECS,
        )?
        .install_recorder()?;
    rythmiq_worker::describe_metrics();
    rythmiq_api::telemetry::describe();
    Ok(handle)
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let handle = install_metrics()?;
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let store = rythmiq_storage::StoreUri::parse(&config.storage_location())?.open(&config.storage.s3)?;
    let store_description = store.describe();
    let mut state = rythmiq_api::AppState::new(db.clone(), store, config.api.clone(), config_hash(&config)?);
    state.prometheus = Some(handle);
    let ready = state.ready.clone();
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.api.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.api.listen_addr))?;
    banner(&config, "serve", Some(listener.local_addr()?.to_string()), &store_description).print(logging::format());
    eprintln!("serving with flags {}", config.pipeline.flags.label());
    eprintln!("listening on http://{}", listener.local_addr()?);
    let workers = tokio::spawn(rythmiq_worker::run_workers(
        db,
        config.pipeline.clone(),
        store_factory(&config),
        config.worker.clone(),
        shutdown.clone(),
    ));
    ready.store(true, std::sync::atomic::Ordering::Release);
    let mut api_shutdown = shutdown.clone();
    rythmiq_api::serve(listener, state, async move {
        let _ = api_shutdown.wait_for(|stop| *stop).await;
    })
    .await?;
    let summary = workers.await?.map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "stopped: {} succeeded, {} failed (will retry), {} dead-lettered, {} released",
        summary.succeeded, summary.failed, summary.dead_lettered, summary.released
    );
    Ok(())
}

pub async fn worker(config: Config, drain: bool, metrics_addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    // First, so that a SIGTERM during start-up (a pod evicted while it connects) is a clean stop, not a kill.
    let mut shutdown = shutdown_signal();
    let handle = install_metrics()?;
    let db = config.database.connect().await.context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let store = rythmiq_storage::StoreUri::parse(&config.storage_location())?.open(&config.storage.s3)?;
    let mut state = rythmiq_api::AppState::new(db.clone(), store, config.api.clone(), config_hash(&config)?);
    state.prometheus = Some(handle.clone());
    let ready = state.ready.clone();
    // A batch run (--drain) has nobody probing it: no listener unless asked for.
    let probe_addr = match (metrics_addr, drain) {
        (Some(addr), _) => Some(addr),
        (None, false) => Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9100))),
        (None, true) => None,
    };
    if let Some(addr) = probe_addr {
        // The API's own probe handlers (no /v1 routes): one /readyz and /metrics for both kinds of pod.
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        eprintln!("probes listening on http://{}", listener.local_addr()?);
        rythmiq_api::telemetry::spawn_upkeep(handle, std::time::Duration::from_secs(5));
        tokio::spawn(rythmiq_api::serve_probes(listener, state));
    }
    let storage = config.storage_location();
    banner(&config, "worker", probe_addr.map(|a| a.to_string()), &storage).print(logging::format());
    if drain {
        shutdown = rythmiq_worker::drain_when_idle(db.clone(), shutdown);
    }
    ready.store(true, std::sync::atomic::Ordering::Release);
    let summary = rythmiq_worker::run_workers(
        db,
        config.pipeline.clone(),
        store_factory(&config),
        config.worker.clone(),
        shutdown,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    eprintln!(
        "worker stopped: {} succeeded, {} failed (will retry), {} dead-lettered, {} released, {} stale",
        summary.succeeded, summary.failed, summary.dead_lettered, summary.released, summary.stale
    );
    Ok(())
}

/// The start-up banner of `serve` and `worker`: database, storage, model, engines and worker slots, one line.
fn banner(config: &Config, command: &'static str, listen: Option<String>, storage: &str) -> logging::Banner {
    let flags = &config.pipeline.flags;
    let slots = config.worker.threads();
    logging::Banner {
        command,
        database: config.database_description(),
        storage: storage.to_string(),
        model: format!(
            "{} ({})",
            flags.model.as_str(),
            config.pipeline.models_dir.join(flags.model.as_str()).display()
        ),
        engines: format!("tesseract {} x{slots}", rythmiq_ocr::tesseract_version()),
        worker_slots: slots,
        listen,
    }
}
