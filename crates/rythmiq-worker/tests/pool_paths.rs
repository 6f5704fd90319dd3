//! The pool's failure paths on the real embedded database with a scripted processor (no OCR engine): a lease
//! taken over while the job runs, the release at the end of the shutdown grace period, and the final commit
//! retried through a database outage (and given up once the retry budget is spent).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rythmiq_db::{
    Attempt, ClaimedJob, Database, DbConfig, DbError, FailOutcome, JobId, JobKeys, JobState, MetricsRow, NewJob, Wake,
};
use rythmiq_pipeline::Processed;
use rythmiq_types::{DocumentRun, ErrorKind};
use rythmiq_worker::{run_pool, JobProcessor, JobQueue, ProcessorFactory, WorkerConfig, WorkerSummary};
use tokio::sync::{mpsc, watch};

/// What the scripted processor returns once the test lets it go.
enum Step {
    Succeed,
}

/// A processor that reports each job it starts, then blocks until the test sends the step to take.
struct Scripted {
    started: mpsc::UnboundedSender<ClaimedJob>,
    steps: std::sync::mpsc::Receiver<Step>,
}

impl JobProcessor for Scripted {
    fn process(&mut self, job: &ClaimedJob) -> Processed {
        let _ = self.started.send(job.clone());
        let mut run = DocumentRun {
            document_id: job.id().to_string(),
            path: None,
            rerouted: false,
            quality_score: None,
            cold_start: false,
            model_load_cpu_seconds: 0.0,
            stages: Vec::new(),
            model: Default::default(),
            flags: Default::default(),
            input_bytes: 0,
            pages: 1,
            error: None,
            result_key: None,
            cache_hit: false,
            pages_by_engine: Default::default(),
        };
        match self.steps.recv() {
            Ok(Step::Succeed) => run.result_key = Some(job.keys.result_key.clone()),
            Err(_) => run.error = Some((ErrorKind::Internal, "script ended".into())),
        }
        Processed { run, result: None }
    }
}

/// The test's handles on a one-slot pool: the jobs its processor starts and the steps it is told to take.
struct Script {
    started: mpsc::UnboundedReceiver<ClaimedJob>,
    steps: std::sync::mpsc::Sender<Step>,
}

fn scripted() -> (ProcessorFactory, Script) {
    let (started_tx, started_rx) = mpsc::unbounded_channel();
    let (steps_tx, steps_rx) = std::sync::mpsc::channel();
    let once = Mutex::new(Some((started_tx, steps_rx)));
    let factory: ProcessorFactory = Arc::new(move || {
        let (started, steps) = once.lock().unwrap().take().ok_or("one slot only")?;
        Ok(Box::new(Scripted { started, steps }) as Box<dyn JobProcessor>)
    });
    (factory, Script { started: started_rx, steps: steps_tx })
}

impl Script {
    async fn next_started(&mut self) -> ClaimedJob {
        tokio::time::timeout(Duration::from_secs(10), self.started.recv())
            .await
            .expect("the pool claimed the job")
            .expect("processor alive")
    }
}

/// The embedded database with one queued job.
async fn db_with_job(dir: &std::path::Path) -> (Database, JobId) {
    let db = DbConfig { sqlite_path: dir.join("rythmiq.db"), ..DbConfig::default() }.connect().await.unwrap();
    db.migrate().await.unwrap();
    let id = db.enqueue(&NewJob::new("inputs/doc", JobKeys::new("sha-doc", "test-config"))).await.unwrap().id;
    (db, id)
}

fn one_slot(lease_secs: f64, shutdown_grace_secs: f64, finish_retry_secs: f64) -> WorkerConfig {
    WorkerConfig {
        concurrency: 1,
        lease_secs,
        heartbeat_secs: lease_secs / 4.0,
        poll_secs: 0.05,
        shutdown_grace_secs,
        finish_retry_secs,
        worker_id: Some("slot".into()),
    }
}

async fn stop(
    pool: tokio::task::JoinHandle<Result<WorkerSummary, String>>,
    stop: watch::Sender<bool>,
) -> WorkerSummary {
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), pool).await.expect("pool stopped in time").unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_over_while_running_drops_the_outcome_and_the_new_owner_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = db_with_job(dir.path()).await;
    let (processors, mut script) = scripted();
    let (stop_tx, stop_rx) = watch::channel(false);
    let pool = tokio::spawn(run_pool(db.clone(), processors, one_slot(0.8, 5.0, 5.0), stop_rx));

    let first = script.next_started().await;
    // The slot stalls past its lease (as a paused pod would): the job is given back and another worker takes it.
    db.release(first.attempt).await.unwrap();
    let second = db.claim("other-worker", Duration::from_secs(60)).await.unwrap().expect("claimable again");
    assert_ne!(second.attempt, first.attempt);
    // Let at least one heartbeat (every 0.2 s) see that the lease is gone, then let the slot finish.
    tokio::time::sleep(Duration::from_millis(600)).await;
    script.steps.send(Step::Succeed).unwrap();
    let summary = stop(pool, stop_tx).await;

    assert_eq!(summary.leases_lost, 1, "the heartbeat noticed: {summary:?}");
    assert_eq!(summary.stale, 1, "the outcome was refused by the attempt token: {summary:?}");
    assert_eq!(summary.succeeded, 0, "{summary:?}");
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Running, "still the other worker's: {status:?}");
    assert_eq!(status.locked_by.as_deref(), Some("other-worker"));
    assert_eq!(status.finished_at, None, "the stale outcome wrote nothing");
    db.complete(second.attempt, &status.keys.result_key, &[]).await.expect("the new owner commits");
    assert_eq!(db.get_job(id).await.unwrap().state, JobState::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_the_job_in_flight_when_the_grace_period_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = db_with_job(dir.path()).await;
    let (processors, mut script) = scripted();
    let (stop_tx, stop_rx) = watch::channel(false);
    let pool = tokio::spawn(run_pool(db.clone(), processors, one_slot(60.0, 0.3, 5.0), stop_rx));

    let claimed = script.next_started().await;
    assert_eq!(db.get_job(id).await.unwrap().state, JobState::Running);
    // The processor never finishes within the grace period.
    let summary = stop(pool, stop_tx).await;
    assert_eq!(summary.released, 1, "{summary:?}");
    assert_eq!(summary.succeeded + summary.failed + summary.stale, 0, "{summary:?}");

    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Queued, "back in the queue at once, not after the lease: {status:?}");
    assert_eq!(status.attempts, 0, "a release is not a failed attempt: {status:?}");
    let again = db.claim("next-worker", Duration::from_secs(60)).await.unwrap().expect("claimable at once");
    assert_eq!(again.id(), claimed.id());
    // The abandoned processor finishing late changes nothing.
    let _ = script.steps.send(Step::Succeed);
}

/// The real database behind a queue whose `complete` fails with a retryable error while `outage` counts down.
#[derive(Clone)]
struct Outage {
    db: Database,
    failures_left: Arc<AtomicU32>,
    complete_calls: Arc<AtomicU32>,
}

impl JobQueue for Outage {
    async fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<ClaimedJob>, DbError> {
        self.db.claim(worker_id, lease).await
    }
    async fn wait_for_work(&self, timeout: Duration) -> Wake {
        self.db.wait_for_work(timeout).await
    }
    async fn heartbeat(&self, attempt: Attempt, lease: Duration) -> Result<bool, DbError> {
        self.db.heartbeat(attempt, lease).await
    }
    async fn release(&self, attempt: Attempt) -> Result<(), DbError> {
        self.db.release(attempt).await
    }
    async fn complete(&self, attempt: Attempt, result_key: &str, metrics: &[MetricsRow]) -> Result<(), DbError> {
        self.complete_calls.fetch_add(1, Ordering::SeqCst);
        let down = self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if down {
            return Err(DbError::from(sqlx::Error::PoolTimedOut));
        }
        self.db.complete(attempt, result_key, metrics).await
    }
    async fn fail(
        &self,
        attempt: Attempt,
        kind: ErrorKind,
        message: &str,
        metrics: &[MetricsRow],
    ) -> Result<FailOutcome, DbError> {
        self.db.fail(attempt, kind, message, metrics).await
    }
}

async fn run_through_outage(
    failures: u32,
    finish_retry_secs: f64,
) -> (tempfile::TempDir, Database, JobId, WorkerSummary, u32) {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = db_with_job(dir.path()).await;
    let queue = Outage {
        db: db.clone(),
        failures_left: Arc::new(AtomicU32::new(failures)),
        complete_calls: Arc::new(AtomicU32::new(0)),
    };
    let (processors, mut script) = scripted();
    let (stop_tx, stop_rx) = watch::channel(false);
    let pool = tokio::spawn(run_pool(queue.clone(), processors, one_slot(60.0, 10.0, finish_retry_secs), stop_rx));
    script.next_started().await;
    script.steps.send(Step::Succeed).unwrap();
    // `finish` runs before the slot looks at the shutdown flag again, so stopping now still waits for the commit.
    let summary = stop(pool, stop_tx).await;
    let calls = queue.complete_calls.load(Ordering::SeqCst);
    (dir, db, id, summary, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_commit_is_retried_through_a_database_outage() {
    // Three refused commits: retried after 0.2 + 0.4 + 0.8 s, well inside a 10 s budget.
    let (_dir, db, id, summary, calls) = run_through_outage(3, 10.0).await;
    assert_eq!(calls, 4, "three refused, the fourth committed");
    assert_eq!(summary.succeeded, 1, "{summary:?}");
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Succeeded, "{status:?}");
    assert!(status.finished_at.is_some(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_retry_budget_leaves_the_job_to_its_lease() {
    let (_dir, db, id, summary, calls) = run_through_outage(u32::MAX, 0.5).await;
    assert!((2..=4).contains(&calls), "retried until the 0.5 s budget ran out, then gave up: {calls} calls");
    assert_eq!(summary.succeeded + summary.failed + summary.stale + summary.released, 0, "{summary:?}");
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Running, "the lease expires and another worker redoes it: {status:?}");
}
