//! The two things a worker slot talks to, as traits: the queue it claims from and the processor it hands each
//! claimed job to. Production uses `rythmiq_db::Database` and the OCR pipeline; the pool's tests use the real
//! embedded database (optionally behind a queue that injects an outage) and a processor they script, so the
//! lease, grace and outage paths run in milliseconds without an OCR engine.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rythmiq_db::{Attempt, ClaimedJob, Database, DbError, FailOutcome, MetricsRow, Wake};
use rythmiq_pipeline::{Pipeline, PipelineConfig, Processed};
use rythmiq_storage::ObjectStore;
use rythmiq_types::ErrorKind;

/// The queue calls a slot makes; each has the meaning of the `rythmiq_db::Database` method of the same name
/// (attempt tokens fence `heartbeat`, `release`, `complete` and `fail`).
pub trait JobQueue: Clone + Send + Sync + 'static {
    fn claim(
        &self,
        worker_id: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Option<ClaimedJob>, DbError>> + Send;
    fn wait_for_work(&self, timeout: Duration) -> impl Future<Output = Wake> + Send;
    fn heartbeat(&self, attempt: Attempt, lease: Duration) -> impl Future<Output = Result<bool, DbError>> + Send;
    fn release(&self, attempt: Attempt) -> impl Future<Output = Result<(), DbError>> + Send;
    fn complete(
        &self,
        attempt: Attempt,
        result_key: &str,
        metrics: &[MetricsRow],
    ) -> impl Future<Output = Result<(), DbError>> + Send;
    fn fail(
        &self,
        attempt: Attempt,
        kind: ErrorKind,
        message: &str,
        metrics: &[MetricsRow],
    ) -> impl Future<Output = Result<FailOutcome, DbError>> + Send;
}

impl JobQueue for Database {
    async fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<ClaimedJob>, DbError> {
        Database::claim(self, worker_id, lease).await
    }
    async fn wait_for_work(&self, timeout: Duration) -> Wake {
        Database::wait_for_work(self, timeout).await
    }
    async fn heartbeat(&self, attempt: Attempt, lease: Duration) -> Result<bool, DbError> {
        Database::heartbeat(self, attempt, lease).await
    }
    async fn release(&self, attempt: Attempt) -> Result<(), DbError> {
        Database::release(self, attempt).await
    }
    async fn complete(&self, attempt: Attempt, result_key: &str, metrics: &[MetricsRow]) -> Result<(), DbError> {
        Database::complete(self, attempt, result_key, metrics).await
    }
    async fn fail(
        &self,
        attempt: Attempt,
        kind: ErrorKind,
        message: &str,
        metrics: &[MetricsRow],
    ) -> Result<FailOutcome, DbError> {
        Database::fail(self, attempt, kind, message, metrics).await
    }
}

/// Processes one claimed job to its measured outcome, blocking the slot's own thread. Built on that thread by a
/// [`ProcessorFactory`] (an OCR engine belongs to the thread that loaded it), so it need not be `Send`.
pub trait JobProcessor {
    fn process(&mut self, job: &ClaimedJob) -> Processed;
}

impl JobProcessor for Pipeline {
    fn process(&mut self, job: &ClaimedJob) -> Processed {
        // What intake decided (the job row's keys): the pipeline verifies them and uses them as they are.
        Pipeline::process_job(self, &job.id().to_string(), &job.input_key, &job.keys)
    }
}

/// Builds one slot's processor; called once on each slot's thread.
pub type ProcessorFactory = Arc<dyn Fn() -> Result<Box<dyn JobProcessor>, String> + Send + Sync>;

/// Builds the object store a pipeline thread uses. Called once on each pipeline thread, so every thread gets
/// its own client bound to its own runtime.
pub type StoreFactory = Arc<dyn Fn() -> Result<Arc<dyn ObjectStore>, String> + Send + Sync>;

/// The production processors: one warm OCR pipeline per slot, each with its own store client.
pub fn pipeline_processors(config: PipelineConfig, stores: StoreFactory) -> ProcessorFactory {
    Arc::new(move || {
        let store = stores()?;
        let mut pipeline = Pipeline::new(config.clone(), store.clone(), store).map_err(|e| e.to_string())?;
        // The fingerprint of this worker's own config, which every job's must equal (README: config_mismatch).
        let fingerprint = pipeline.fingerprint().map_err(|e| e.to_string())?;
        tracing::info!(config_fingerprint = %fingerprint, "pipeline ready");
        Ok(Box::new(pipeline) as Box<dyn JobProcessor>)
    })
}
