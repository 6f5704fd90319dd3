//! N slots, each an async task that claims jobs and a dedicated OS thread that owns one processor (in production
//! an OCR pipeline; see `seam.rs`).
//!
//! Why a thread per slot: a Tesseract engine is used by one thread at a time and is expensive to load, so each
//! slot keeps its own warm; the thread's unique name is what the CPU clock attributes helper threads by.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rythmiq_db::{Attempt, ClaimedJob, Database, DbError, FailOutcome, MetricsRow};
use rythmiq_pipeline::{cpu::name_current_thread, PipelineConfig, Processed};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use crate::config::WorkerConfig;
use crate::seam::{pipeline_processors, JobQueue, ProcessorFactory, StoreFactory};
use crate::telemetry;

/// What the pool did before it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub succeeded: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    /// Released back to the queue at shutdown (grace period over).
    pub released: u64,
    /// Finished, but the lease had been taken over: the outcome was dropped (the new attempt owns the job).
    pub stale: u64,
    /// Jobs whose heartbeat found the lease taken over while they ran.
    pub leases_lost: u64,
}

#[derive(Default)]
struct Counters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    dead_lettered: AtomicU64,
    released: AtomicU64,
    stale: AtomicU64,
    leases_lost: AtomicU64,
}

struct Request {
    job: ClaimedJob,
    reply: oneshot::Sender<Processed>,
}

/// Starts the processing thread of slot `idx`; returns its request channel once the processor is built.
fn spawn_processor_thread(
    idx: usize,
    processors: ProcessorFactory,
) -> Result<std::sync::mpsc::Sender<Request>, String> {
    let (tx, rx) = std::sync::mpsc::channel::<Request>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let name = format!("rq-pipe-{idx}");
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            // The name must be unique per pipeline: helper threads inherit it and are attributed by it.
            let _ = name_current_thread(&name);
            let mut processor = match processors() {
                Ok(p) => {
                    let _ = ready_tx.send(Ok(()));
                    p
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            // Ends when every sender is dropped (the slot stopped).
            for req in rx {
                let processed = processor.process(&req.job);
                let _ = req.reply.send(processed);
            }
        })
        .map_err(|e| format!("cannot start pipeline thread: {e}"))?;
    ready_rx.recv().map_err(|_| "pipeline thread died while starting".to_string())??;
    Ok(tx)
}

/// Runs the worker pool on the OCR pipeline until `shutdown` turns true, then drains within the grace period and
/// returns.
pub async fn run_workers(
    db: Database,
    pipeline: PipelineConfig,
    stores: StoreFactory,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<WorkerSummary, String> {
    run_pool(db, pipeline_processors(pipeline, stores), config, shutdown).await
}

/// [`run_workers`] with the queue and the processors given: the seam the pool's tests use.
pub async fn run_pool<Q: JobQueue>(
    queue: Q,
    processors: ProcessorFactory,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<WorkerSummary, String> {
    config.validate()?;
    let n = config.threads();
    let prefix = config.worker_id_prefix();
    let counters = Arc::new(Counters::default());
    let mut slots = Vec::with_capacity(n);
    for idx in 0..n {
        let tx = spawn_processor_thread(idx, processors.clone())?;
        let slot = Slot {
            worker_id: format!("{prefix}-{idx}"),
            queue: queue.clone(),
            tx,
            config: config.clone(),
            shutdown: shutdown.clone(),
            counters: counters.clone(),
        };
        slots.push(tokio::spawn(slot.run()));
    }
    telemetry::workers_started(n);
    tracing::info!(slots = n, worker_id = %prefix, "workers started");
    for slot in slots {
        let _ = slot.await;
    }
    let c = &counters;
    Ok(WorkerSummary {
        succeeded: c.succeeded.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
        released: c.released.load(Ordering::Relaxed),
        stale: c.stale.load(Ordering::Relaxed),
        leases_lost: c.leases_lost.load(Ordering::Relaxed),
    })
}

struct Slot<Q> {
    worker_id: String,
    queue: Q,
    tx: std::sync::mpsc::Sender<Request>,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
    counters: Arc<Counters>,
}

enum Finished {
    Done,
    /// The pipeline thread is still busy with a released job: this slot cannot take another.
    Abandoned,
}

impl<Q: JobQueue> Slot<Q> {
    async fn run(mut self) {
        let lease = WorkerConfig::secs(self.config.lease_secs);
        let poll = WorkerConfig::secs(self.config.poll_secs);
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            let job = match self.queue.claim(&self.worker_id, lease).await {
                Ok(Some(job)) => job,
                Ok(None) => {
                    tokio::select! {
                        _ = self.queue.wait_for_work(poll) => {}
                        _ = self.shutdown.changed() => {}
                    }
                    continue;
                }
                Err(err) => {
                    tracing::warn!(worker_id = %self.worker_id, error = %rythmiq_types::ErrorChain(&err), "claim failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = self.shutdown.changed() => {}
                    }
                    continue;
                }
            };
            telemetry::job_in_flight(1.0);
            let span = tracing::info_span!(
                "job",
                job_id = %job.id(),
                attempt = job.attempt_no,
                worker_id = %self.worker_id
            );
            let finished = self.run_job(job).instrument(span).await;
            telemetry::job_in_flight(-1.0);
            if let Finished::Abandoned = finished {
                break;
            }
        }
        tracing::info!(worker_id = %self.worker_id, "slot stopped");
    }

    async fn run_job(&mut self, job: ClaimedJob) -> Finished {
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let request = Request { job: job.clone(), reply: reply_tx };
        if self.tx.send(request).is_err() {
            // The pipeline thread is gone (it cannot panic past catch_unwind, so this is a bug): give the job back.
            tracing::error!("pipeline thread gone; releasing the job");
            let _ = self.queue.release(job.attempt).await;
            return Finished::Abandoned;
        }
        let lease = WorkerConfig::secs(self.config.lease_secs);
        let mut heartbeat = tokio::time::interval(WorkerConfig::secs(self.config.heartbeat_secs));
        heartbeat.tick().await; // the first tick is immediate; the claim just set the lease
        let mut grace_deadline: Option<tokio::time::Instant> = None;
        // Logged once; the outcome is still offered to `finish`, where the attempt token decides (StaleAttempt).
        let mut lease_lost = false;
        let processed = loop {
            let grace = async {
                match grace_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                processed = &mut reply_rx => match processed {
                    Ok(p) => break p,
                    Err(_) => {
                        let _ = self.queue.release(job.attempt).await;
                        return Finished::Abandoned;
                    }
                },
                _ = heartbeat.tick() => match self.queue.heartbeat(job.attempt, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Another worker owns the job now; its completion wins, ours will be refused by the token.
                        if !lease_lost {
                            tracing::warn!("lease lost while processing");
                            self.counters.leases_lost.fetch_add(1, Ordering::Relaxed);
                        }
                        lease_lost = true;
                    }
                    Err(err) => tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "heartbeat failed"),
                },
                _ = self.shutdown.changed(), if grace_deadline.is_none() => {
                    let grace = WorkerConfig::secs(self.config.shutdown_grace_secs);
                    tracing::info!(grace_secs = grace.as_secs_f64(), "shutdown: finishing the job in flight");
                    grace_deadline = Some(tokio::time::Instant::now() + grace);
                }
                _ = grace => {
                    tracing::warn!("grace period over: releasing the job to the queue");
                    match self.queue.release(job.attempt).await {
                        Ok(()) => { self.counters.released.fetch_add(1, Ordering::Relaxed); }
                        Err(err) => tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "release failed; the lease will expire instead"),
                    }
                    return Finished::Abandoned;
                }
            }
        };
        self.finish(&job, processed).await;
        Finished::Done
    }

    /// Commits the outcome: `complete` or `fail`, with the run's metrics rows, retried through a database outage.
    async fn finish(&self, job: &ClaimedJob, processed: Processed) {
        let run = processed.run;
        let rows = MetricsRow::from_run(&run, &self.worker_id);
        let attempt: Attempt = job.attempt;
        let started = Instant::now();
        let budget = WorkerConfig::secs(self.config.finish_retry_secs);
        let mut delay = Duration::from_millis(200);
        loop {
            let outcome = match (&run.error, &run.result_key) {
                (None, Some(key)) => self.queue.complete(attempt, key, &rows).await.map(|()| None),
                (Some((kind, message)), _) => self.queue.fail(attempt, *kind, message, &rows).await.map(Some),
                (None, None) => self
                    .queue
                    .fail(attempt, rythmiq_types::ErrorKind::Internal, "finished without a result key", &rows)
                    .await
                    .map(Some),
            };
            match outcome {
                Ok(fail_outcome) => {
                    let latency = (chrono::Utc::now() - job.enqueued_at).to_std().ok().map(|d| d.as_secs_f64());
                    telemetry::document_finished(&run, latency, &self.worker_id, &job.id().to_string());
                    match fail_outcome {
                        None => self.counters.succeeded.fetch_add(1, Ordering::Relaxed),
                        Some(FailOutcome::Retrying { .. }) => self.counters.failed.fetch_add(1, Ordering::Relaxed),
                        Some(FailOutcome::DeadLettered { attempts }) => {
                            let kind = run.error.as_ref().map_or(rythmiq_types::ErrorKind::Internal, |(k, _)| *k);
                            telemetry::job_dead_lettered(&job.id().to_string(), kind, attempts);
                            self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    return;
                }
                Err(DbError::StaleAttempt { .. }) => {
                    tracing::warn!("attempt is stale: another worker owns the job; dropping this outcome");
                    self.counters.stale.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(err) if err.is_retryable() && started.elapsed() < budget => {
                    tracing::warn!(error = %rythmiq_types::ErrorChain(&err), retry_in_ms = delay.as_millis() as u64, "could not commit the outcome; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(err) => {
                    // The lease will expire and the job will be claimed again; its result key is deterministic,
                    // so redoing it overwrites with identical bytes.
                    tracing::error!(error = %rythmiq_types::ErrorChain(&err), "giving up on committing the outcome; the lease will expire");
                    return;
                }
            }
        }
    }
}
