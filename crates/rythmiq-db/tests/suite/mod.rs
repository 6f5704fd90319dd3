//! The conformance suite: queue and metrics-store semantics every backend must have. Each function takes a fresh,
//! migrated database; `tests/sqlite.rs` and `tests/postgres.rs` run all of them through `conformance_tests!`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rythmiq_db::{
    Attempt, Database, DbConfig, DbError, FailOutcome, JobKeys, JobState, MetricsRow, NewJob, TimeRange, Wake,
};
use rythmiq_types::{DocumentRun, ErrorKind, ModelKind, OptimisationFlags, PathKind, Stage, StageRecord};

/// Retry delays short enough for tests, long enough that "not claimable yet" is observable:
/// attempt 1 backs off 0.4-0.8 s, later attempts 0.6-1.2 s.
pub const RETRY_BASE_SECS: f64 = 0.8;
pub const RETRY_MAX_SECS: f64 = 1.2;

/// A fresh database for one test, and how to reach it from another process.
pub struct TestDb {
    pub db: Database,
    pub url: String,
    /// SQLite: the folder holding the file. PostgreSQL: (admin URL, database name) to drop at the end.
    pub sqlite_dir: Option<tempfile::TempDir>,
    pub pg_drop: Option<(String, String)>,
}

impl TestDb {
    /// Another handle on the same database (as another worker process would have).
    pub async fn reopen(&self) -> Database {
        connect(&self.url).await
    }

    pub async fn cleanup(mut self) {
        self.db.close().await;
        if let Some((admin_url, name)) = self.pg_drop.take() {
            drop_database(&admin_url, &name).await;
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("admin connection");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop test database");
}

impl Drop for TestDb {
    /// A test that panicked never reached `cleanup`: drop its database anyway, from a runtime of our own
    /// (the test's runtime is unwinding).
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_drop.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(drop_database(&admin_url, &name));
            })
            .join();
        }
    }
}

pub async fn connect(url: &str) -> Database {
    let config = DbConfig {
        url: Some(url.to_string()),
        max_connections: 8,
        retry_base_secs: RETRY_BASE_SECS,
        retry_max_secs: RETRY_MAX_SECS,
        ..DbConfig::default()
    };
    config.connect().await.expect("connect")
}

pub async fn sqlite_db() -> Option<TestDb> {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("rythmiq.db").display());
    let db = connect(&url).await;
    db.migrate().await.expect("migrate");
    Some(TestDb { db, url, sqlite_dir: Some(dir), pg_drop: None })
}

/// The PostgreSQL server to test against, or `None` (with a message) when there is none and none is required.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("RYTHMIQ_REQUIRE_POSTGRES").is_some() => {
            panic!("RYTHMIQ_REQUIRE_POSTGRES is set but DATABASE_URL is not: the PostgreSQL tests cannot run")
        }
        _ => {
            eprintln!(
                "SKIPPED: DATABASE_URL is not set; PostgreSQL tests did not run (scripts/lib/postgres.sh sets it)"
            );
            None
        }
    }
}

/// A fresh, empty PostgreSQL database (not migrated).
pub async fn postgres_empty_db() -> Option<TestDb> {
    use sqlx::Connection;
    let admin_url = postgres_admin_url()?;
    let name = format!("rythmiq_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
    let url = rythmiq_db::url_with_database(&admin_url, &name);
    let db = connect(&url).await;
    Some(TestDb { db, url, sqlite_dir: None, pg_drop: Some((admin_url, name)) })
}

pub async fn postgres_db() -> Option<TestDb> {
    let t = postgres_empty_db().await?;
    t.db.migrate().await.expect("migrate");
    Some(t)
}

/// Runs every conformance function below as a `#[tokio::test]` against the databases `$open` creates.
#[macro_export]
macro_rules! conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            idempotent_enqueue,
            bounded_enqueue_holds_under_concurrency,
            claim_and_complete,
            priority_then_age_order,
            concurrent_claimers_never_share_a_job,
            expired_lease_is_reclaimed_and_stale_token_is_fenced,
            lease_expiry_counts_interruptions_not_attempts,
            retry_with_backoff_then_dead_letter,
            permanent_error_is_not_retried,
            release_returns_job_without_burning_an_attempt,
            metrics_commit_atomically_with_completion,
            wait_for_work_wakes_on_enqueue_and_times_out,
            killed_worker_job_completed_once_by_another,
            metrics_reads_match_hand_computed_values,
            typed_errors,
            claim_hands_out_the_keys_intake_decided,
            fail_carries_out_the_decision_made_in_rust
        );
    };
    (@each $open:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(t) = $open().await else { return };
                suite::$name(&t).await;
                t.cleanup().await;
            }
        )*
    };
}

// ---- fixtures ----

const LEASE: Duration = Duration::from_secs(30);

pub fn job(n: usize) -> NewJob {
    NewJob::new(format!("inputs/doc-{n}.png"), JobKeys::new(format!("{n:064x}"), "config-a"))
}

/// A successful fast-path document with seven stage records (pre_ocr and enhancement skipped).
pub fn sample_run(document_id: &str) -> DocumentRun {
    let stages = Stage::ALL
        .iter()
        .enumerate()
        .map(|(i, &stage)| {
            if stage.skipped_on_fast_path() {
                StageRecord::skipped(stage)
            } else {
                StageRecord {
                    stage,
                    cpu_seconds: 0.01 * (i + 1) as f64,
                    helper_cpu_seconds: 0.0,
                    wall_seconds: 0.02 * (i + 1) as f64,
                    skipped: false,
                }
            }
        })
        .collect();
    DocumentRun {
        document_id: document_id.to_string(),
        path: Some(PathKind::Fast),
        rerouted: false,
        quality_score: Some(0.95),
        cold_start: false,
        model_load_cpu_seconds: 0.25,
        stages,
        model: ModelKind::Fast,
        flags: OptimisationFlags::default(),
        input_bytes: 123_456,
        pages: 1,
        error: None,
        result_key: None,
        cache_hit: false,
        pages_by_engine: Default::default(),
    }
}

fn rows(document_id: &str) -> Vec<MetricsRow> {
    MetricsRow::from_run(&sample_run(document_id), "test-worker")
}

fn assert_stale<T: std::fmt::Debug>(result: Result<T, DbError>, what: &str) {
    match result {
        Err(DbError::StaleAttempt { .. }) => {}
        other => panic!("{what}: expected StaleAttempt, got {other:?}"),
    }
}

// ---- queue ----

pub async fn idempotent_enqueue(t: &TestDb) {
    let db = &t.db;
    let first = db.enqueue(&job(1)).await.unwrap();
    let again = db.enqueue(&job(1)).await.unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.id, again.id);
    // Same bytes under another configuration is another job.
    let other_config = NewJob { keys: JobKeys::new(format!("{:064x}", 1), "config-b"), ..job(1) };
    let other = db.enqueue(&other_config).await.unwrap();
    assert!(other.created);
    assert_ne!(other.id, first.id);
    // Still idempotent once the job has finished.
    let claimed = db.claim("w1", LEASE).await.unwrap().unwrap();
    db.complete(claimed.attempt, &claimed.keys.result_key, &rows("x")).await.unwrap();
    assert_eq!(claimed.id(), first.id, "oldest first");
    let after_finish = db.enqueue(&job(1)).await.unwrap();
    assert_eq!((after_finish.id, after_finish.created), (first.id, false));
    let depth = db.queue_depth().await.unwrap();
    assert_eq!(depth.pending(), 1);
    let status = db.get_job(other.id).await.unwrap();
    assert_eq!(status.state, JobState::Queued);
    assert_eq!(status.attempts, 0);
    assert_eq!(status.keys, JobKeys::new(format!("{:064x}", 1), "config-b"));
}

/// Issue 11, defect 3: 40 simultaneous submissions against a limit of 10, from four database handles (as four API
/// replicas would be), accept exactly 10. A check-then-enqueue accepts more.
pub async fn bounded_enqueue_holds_under_concurrency(t: &TestDb) {
    const LIMIT: u64 = 10;
    const SUBMISSIONS: usize = 40;
    let mut handles = vec![t.db.clone()];
    for _ in 0..3 {
        handles.push(t.reopen().await);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(SUBMISSIONS));
    let mut tasks = Vec::new();
    for n in 0..SUBMISSIONS {
        let db = handles[n % handles.len()].clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            db.enqueue_bounded(&job(1000 + n), LIMIT).await.unwrap()
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some(enqueued) => {
                assert!(enqueued.created);
                accepted += 1;
            }
            None => refused += 1,
        }
    }
    assert_eq!((accepted, refused), (LIMIT as usize, SUBMISSIONS - LIMIT as usize));
    assert_eq!(t.db.queue_depth().await.unwrap().pending(), LIMIT);
    // Full, a duplicate is still answered (it adds nothing); a new document is refused.
    let first = t.db.enqueue_bounded(&job(1000), LIMIT).await.unwrap();
    let refused_new = t.db.enqueue_bounded(&job(5000), LIMIT).await.unwrap();
    assert!(refused_new.is_none());
    if let Some(dup) = first {
        assert!(!dup.created);
    }
    // A finished job frees its place.
    let claimed = t.db.claim("w1", LEASE).await.unwrap().unwrap();
    t.db.complete(claimed.attempt, &claimed.keys.result_key, &rows("x")).await.unwrap();
    assert!(t.db.enqueue_bounded(&job(5000), LIMIT).await.unwrap().is_some_and(|e| e.created));
    for handle in handles.into_iter().skip(1) {
        handle.close().await;
    }
}

pub async fn claim_and_complete(t: &TestDb) {
    let db = &t.db;
    let enqueued = db.enqueue(&job(7)).await.unwrap();
    let claimed = db.claim("w1", LEASE).await.unwrap().expect("a job to claim");
    assert_eq!(claimed.id(), enqueued.id);
    assert_eq!(claimed.attempt_no, 1);
    assert_eq!(claimed.input_key, "inputs/doc-7.png");
    assert!(claimed.locked_until > Utc::now() + chrono::Duration::seconds(20));
    assert!(db.claim("w2", LEASE).await.unwrap().is_none(), "a leased job must not be claimed again");
    let running = db.get_job(enqueued.id).await.unwrap();
    assert_eq!(running.state, JobState::Running);
    assert_eq!(running.locked_by.as_deref(), Some("w1"));
    assert!(running.started_at.is_some());
    assert!(db.heartbeat(claimed.attempt, LEASE).await.unwrap());

    let result_key = job(7).keys.result_key;
    db.complete(claimed.attempt, &result_key, &rows("doc-7")).await.unwrap();
    let done = db.get_job(enqueued.id).await.unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.keys.result_key, result_key);
    assert_eq!(done.attempts, 1);
    assert!(done.finished_at.is_some() && done.latency().is_some());
    assert!(done.locked_by.is_none());
    let metrics = db.metrics_for_job(enqueued.id).await.unwrap();
    assert_eq!(metrics.len(), 7);
    assert!(metrics.iter().all(|m| m.job_id == Some(enqueued.id) && m.attempt == Some(1)));
    assert_eq!(metrics.iter().map(|m| m.stage).collect::<Vec<_>>(), Stage::ALL.to_vec());
    assert_eq!(metrics[1].cpu_seconds, 0.02);
    assert!(metrics[2].skipped);
    // Every column round-trips.
    let mut expected = rows("doc-7");
    for (want, got) in expected.iter_mut().zip(&metrics) {
        want.run_id = got.run_id;
        want.job_id = Some(enqueued.id);
        want.attempt = Some(1);
        want.created_at = got.created_at;
    }
    assert_eq!(metrics, expected);

    assert_stale(db.complete(claimed.attempt, &result_key, &rows("doc-7")).await, "second complete");
    assert!(!db.heartbeat(claimed.attempt, LEASE).await.unwrap(), "heartbeat on a finished job");
    assert_eq!(db.metrics_for_job(enqueued.id).await.unwrap().len(), 7);
    assert_eq!(db.queue_depth().await.unwrap().pending(), 0);
}

pub async fn priority_then_age_order(t: &TestDb) {
    let db = &t.db;
    let old_low = db.enqueue(&job(1)).await.unwrap().id;
    let high = db.enqueue(&NewJob { priority: 10, ..job(2) }).await.unwrap().id;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let new_low = db.enqueue(&job(3)).await.unwrap().id;
    let order: Vec<_> = [
        db.claim("w", LEASE).await.unwrap().unwrap().id(),
        db.claim("w", LEASE).await.unwrap().unwrap().id(),
        db.claim("w", LEASE).await.unwrap().unwrap().id(),
    ]
    .to_vec();
    assert_eq!(order, vec![high, old_low, new_low]);
}

pub async fn concurrent_claimers_never_share_a_job(t: &TestDb) {
    const WORKERS: usize = 4;
    const JOBS_PER_WORKER: usize = 200;
    let db = &t.db;
    let mut ids = HashSet::new();
    for n in 0..WORKERS * JOBS_PER_WORKER {
        ids.insert(db.enqueue(&job(n)).await.unwrap().id);
    }
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let worker_id = format!("w{w}");
            let mut mine = Vec::new();
            while let Some(claimed) = db.claim(&worker_id, LEASE).await.unwrap() {
                let metrics = rows(&claimed.id().to_string());
                db.complete(claimed.attempt, &claimed.keys.result_key, &metrics[..1]).await.unwrap();
                mine.push(claimed.id());
            }
            mine
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    let distinct: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), WORKERS * JOBS_PER_WORKER, "every job processed exactly once");
    assert_eq!(distinct, ids);
    let fetch_rows: i64 =
        db.stage_breakdown(TimeRange::all()).await.unwrap().iter().map(|s| s.runs + s.skipped_runs).sum();
    assert_eq!(fetch_rows, (WORKERS * JOBS_PER_WORKER) as i64, "one metrics row per completion");
}

pub async fn expired_lease_is_reclaimed_and_stale_token_is_fenced(t: &TestDb) {
    let db = &t.db;
    let id = db.enqueue(&job(1)).await.unwrap().id;
    let first = db.claim("w1", Duration::from_millis(300)).await.unwrap().unwrap();
    assert!(db.claim("w2", LEASE).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(450)).await;
    let second = db.claim("w2", LEASE).await.unwrap().expect("expired lease is claimable");
    assert_eq!(second.id(), id);
    // A lost worker's attempt is re-run under the same number: interruptions are not failures.
    assert_eq!(second.attempt_no, 1);
    assert!(second.attempt.token > first.attempt.token);

    assert!(!db.heartbeat(first.attempt, LEASE).await.unwrap());
    assert_stale(db.complete(first.attempt, &first.keys.result_key, &rows("stale")).await, "stale complete");
    assert_stale(db.fail(first.attempt, ErrorKind::OcrFailed, "x", &rows("stale")).await, "stale fail");
    assert_stale(db.release(first.attempt).await, "stale release");
    assert!(db.metrics_for_job(id).await.unwrap().is_empty(), "a stale attempt writes no metrics");
    assert_eq!(db.get_job(id).await.unwrap().locked_by.as_deref(), Some("w2"));

    db.complete(second.attempt, &second.keys.result_key, &rows("doc-1")).await.unwrap();
    let metrics = db.metrics_for_job(id).await.unwrap();
    assert_eq!(metrics.len(), 7);
    assert!(metrics.iter().all(|m| m.attempt == Some(1) && m.document_id == "doc-1"));
    assert_eq!(db.get_job(id).await.unwrap().state, JobState::Succeeded);
}

/// Issue 11, defect 7: lost workers (SIGKILL, eviction) do not use up a job's attempts. A job allowed a single
/// attempt survives `MAX_INTERRUPTIONS - 1` lost workers and still succeeds; one that loses its worker
/// `MAX_INTERRUPTIONS` times is dead-lettered as `interrupted`.
pub async fn lease_expiry_counts_interruptions_not_attempts(t: &TestDb) {
    let db = &t.db;
    let good = db.enqueue(&NewJob { max_attempts: 1, ..job(1) }).await.unwrap().id;
    let doomed = db.enqueue(&NewJob { max_attempts: 1, ..job(2) }).await.unwrap().id;
    // Long enough that both claims of a run land inside it on a loaded machine; the sleep outlasts it.
    let short = Duration::from_millis(1000);
    let mut last_good = None;
    for run in 1..=rythmiq_db::MAX_INTERRUPTIONS {
        let mut seen = HashSet::new();
        for _ in 0..2 {
            let claimed =
                db.claim("w", short).await.unwrap().unwrap_or_else(|| panic!("run {run}: job not handed out"));
            assert_eq!(claimed.attempt_no, 1, "run {run}: an interruption spent an attempt");
            seen.insert(claimed.id());
            if claimed.id() == good {
                last_good = Some(claimed);
            }
        }
        assert_eq!(seen, HashSet::from([good, doomed]));
        if run < rythmiq_db::MAX_INTERRUPTIONS {
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
    }
    // The good job's last run finishes; the doomed one loses its worker once more.
    let last_good = last_good.unwrap();
    db.complete(last_good.attempt, &last_good.keys.result_key, &rows("good")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(db.claim("w", LEASE).await.unwrap().is_none(), "the interruption allowance is spent");
    let done = db.get_job(good).await.unwrap();
    assert_eq!((done.state, done.attempts), (JobState::Succeeded, 1));
    let status = db.get_job(doomed).await.unwrap();
    assert_eq!(status.state, JobState::DeadLettered);
    assert_eq!(status.error_kind, Some(ErrorKind::Interrupted));
    assert_eq!(status.attempts, 1);
    assert!(status.finished_at.is_some());
    assert_eq!(db.queue_depth().await.unwrap().dead_lettered, 1);
}

pub async fn retry_with_backoff_then_dead_letter(t: &TestDb) {
    let db = &t.db;
    let id = db.enqueue(&NewJob { max_attempts: 3, ..job(1) }).await.unwrap().id;
    for attempt_no in 1..=3u32 {
        let claimed = loop {
            if let Some(claimed) = db.claim("w1", LEASE).await.unwrap() {
                break claimed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(claimed.attempt_no, attempt_no);
        let mut run = sample_run("doc-1");
        run.error = Some((ErrorKind::Timeout, "deadline".into()));
        let before = Utc::now();
        let outcome = db
            .fail(claimed.attempt, ErrorKind::Timeout, "ran past deadline", &MetricsRow::from_run(&run, "w1"))
            .await
            .unwrap();
        if attempt_no < 3 {
            let FailOutcome::Retrying { run_after, attempts } = outcome else {
                panic!("expected a retry: {outcome:?}")
            };
            assert_eq!(attempts, attempt_no);
            let ceiling = db.backoff().ceiling(attempt_no);
            let delay = (run_after - before).to_std().unwrap_or_default();
            assert!(delay >= ceiling / 2 - Duration::from_millis(20), "delay {delay:?} below half of {ceiling:?}");
            assert!(delay <= ceiling + Duration::from_millis(250), "delay {delay:?} above {ceiling:?}");
            assert!(db.claim("w1", LEASE).await.unwrap().is_none(), "not claimable while backing off");
            let status = db.get_job(id).await.unwrap();
            assert_eq!(status.state, JobState::Queued);
            assert_eq!(status.error_kind, Some(ErrorKind::Timeout));
            assert_eq!(db.queue_depth().await.unwrap().delayed, 1);
        } else {
            assert_eq!(outcome, FailOutcome::DeadLettered { attempts: 3 });
        }
    }
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::DeadLettered);
    assert_eq!(status.error_kind, Some(ErrorKind::Timeout));
    assert_eq!(status.error_message.as_deref(), Some("ran past deadline"));
    assert_eq!(status.attempts, 3);
    assert!(db.claim("w1", LEASE).await.unwrap().is_none());
    let metrics = db.metrics_for_job(id).await.unwrap();
    assert_eq!(metrics.len(), 21, "seven rows per failed attempt");
    assert!(metrics.iter().all(|m| m.error_kind == Some(ErrorKind::Timeout)));
    let attempts: HashSet<_> = metrics.iter().map(|m| m.attempt).collect();
    assert_eq!(attempts, HashSet::from([Some(1), Some(2), Some(3)]));
}

pub async fn permanent_error_is_not_retried(t: &TestDb) {
    let db = &t.db;
    let id = db.enqueue(&job(1)).await.unwrap().id;
    let claimed = db.claim("w1", LEASE).await.unwrap().unwrap();
    // Rows without an error kind of their own get the failure's.
    let outcome = db.fail(claimed.attempt, ErrorKind::CorruptImage, "truncated PNG", &rows("doc-1")[..2]).await;
    assert_eq!(outcome.unwrap(), FailOutcome::DeadLettered { attempts: 1 });
    assert!(db.claim("w1", LEASE).await.unwrap().is_none());
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::DeadLettered);
    assert_eq!(status.error_kind, Some(ErrorKind::CorruptImage));
    assert_eq!(status.error_message.as_deref(), Some("truncated PNG"));
    let metrics = db.metrics_for_job(id).await.unwrap();
    assert_eq!(metrics.len(), 2);
    assert!(metrics.iter().all(|m| m.error_kind == Some(ErrorKind::CorruptImage)));
}

pub async fn release_returns_job_without_burning_an_attempt(t: &TestDb) {
    let db = &t.db;
    let id = db.enqueue(&NewJob { max_attempts: 1, ..job(1) }).await.unwrap().id;
    let first = db.claim("w1", LEASE).await.unwrap().unwrap();
    db.release(first.attempt).await.unwrap();
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Queued);
    assert_eq!(status.attempts, 0);
    assert!(status.locked_by.is_none());
    assert_eq!(db.queue_depth().await.unwrap().ready, 1);
    let second = db.claim("w2", LEASE).await.unwrap().expect("released job is claimable at once");
    assert_eq!(second.attempt_no, 1, "the released attempt was given back");
    assert_ne!(second.attempt.token, first.attempt.token);
    assert_stale(db.release(first.attempt).await, "release with the old token");
    assert_stale(db.complete(first.attempt, &first.keys.result_key, &[]).await, "complete with the released token");
    db.complete(second.attempt, &second.keys.result_key, &rows("doc-1")).await.unwrap();
    assert_eq!(db.get_job(id).await.unwrap().state, JobState::Succeeded);
}

pub async fn metrics_commit_atomically_with_completion(t: &TestDb) {
    let db = &t.db;
    let id = db.enqueue(&job(1)).await.unwrap().id;
    let claimed = db.claim("w1", LEASE).await.unwrap().unwrap();
    // A batch that cannot be stored (the same stage twice for one run) must leave the job unfinished.
    let mut bad = rows("doc-1");
    bad.push(bad[0].clone());
    let key = claimed.keys.result_key.clone();
    let err = db.complete(claimed.attempt, &key, &bad).await.unwrap_err();
    assert!(matches!(err, DbError::Conflict(_)), "{err:?}");
    assert!(!err.to_string().to_lowercase().contains("insert"), "no SQL in messages: {err}");
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Running);
    assert!(status.finished_at.is_none());
    assert!(db.metrics_for_job(id).await.unwrap().is_empty(), "no metrics without a finished job");

    db.complete(claimed.attempt, &key, &rows("doc-1")).await.unwrap();
    assert_stale(db.complete(claimed.attempt, &key, &rows("doc-1")).await, "second completion");
    let metrics = db.metrics_for_job(id).await.unwrap();
    assert_eq!(metrics.len(), 7, "exactly one set of metrics");
    assert_eq!(metrics.iter().map(|m| m.run_id).collect::<HashSet<_>>().len(), 1);
}

pub async fn wait_for_work_wakes_on_enqueue_and_times_out(t: &TestDb) {
    let db = t.db.clone();
    let started = std::time::Instant::now();
    assert_eq!(db.wait_for_work(Duration::from_millis(200)).await, Wake::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(190));
    let waiter = {
        let db = db.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            (db.wait_for_work(Duration::from_secs(20)).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    db.enqueue(&job(1)).await.unwrap();
    let (wake, waited) = waiter.await.unwrap();
    assert_eq!(wake, Wake::Notified);
    assert!(waited < Duration::from_secs(10), "woken by the enqueue, not the timeout: {waited:?}");
}

/// The environment variable that turns `child_worker_process` into a worker that claims one job and hangs.
pub const CHILD_URL_VAR: &str = "RYTHMIQ_TEST_CHILD_DB_URL";

/// Body of the child process: claim one job with a short lease, say so on stdout, then hang until killed.
pub async fn child_worker_main(url: &str) {
    let db = connect(url).await;
    let claimed = db.claim("doomed-worker", Duration::from_millis(800)).await.unwrap().expect("a job");
    println!("CLAIMED {}", claimed.id());
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    // Hang as a stuck worker would; the bound only matters if the parent died before killing us.
    tokio::time::sleep(Duration::from_secs(60)).await;
    std::process::exit(1);
}

/// Kills the child on every exit path of the parent test, failures included.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn killed_worker_job_completed_once_by_another(t: &TestDb) {
    use std::io::BufRead;
    let db = &t.db;
    let id = db.enqueue(&job(1)).await.unwrap().id;
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL_VAR, &t.url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child worker");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        // libtest prints "test child_worker_process ... " before the child's own output, on the same line.
        let lines = std::io::BufReader::new(stdout).lines().map_while(Result::ok);
        lines.filter_map(|line| line.split_once("CLAIMED ").map(|(_, id)| id.trim().to_string())).next()
    })
    .await
    .unwrap()
    .expect("child reports its claim");
    assert_eq!(line, id.to_string());
    // Child::kill sends SIGKILL: no destructor, no release, the lease just runs out.
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert!(!status.success(), "the child died by the signal");
    assert!(db.claim("w2", LEASE).await.unwrap().is_none(), "the dead worker's lease still holds");
    let claimed = loop {
        if let Some(claimed) = db.claim("w2", LEASE).await.unwrap() {
            break claimed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(claimed.id(), id);
    assert_eq!(claimed.attempt_no, 1, "the killed worker's attempt is re-run, not counted as a failure");
    db.complete(claimed.attempt, &claimed.keys.result_key, &rows("doc-1")).await.unwrap();
    assert!(db.claim("w3", Duration::from_millis(100)).await.unwrap().is_none());
    let status = db.get_job(id).await.unwrap();
    assert_eq!(status.state, JobState::Succeeded);
    assert_eq!(status.attempts, 1);
    let metrics = db.metrics_for_job(id).await.unwrap();
    assert_eq!(metrics.len(), 7, "exactly one set of metrics");
    assert!(metrics.iter().all(|m| m.attempt == Some(1)));
}

// ---- metrics store ----

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::milliseconds(ms)
}

/// Hand-made document runs around the January/February 2026 boundary; expected values are worked out in
/// `metrics_reads_match_hand_computed_values` and in the PostgreSQL dashboard test.
///
/// | run | created (UTC)            | path     | cold | error     | stage CPU (fetch, quality, pre_ocr, enh, ocr, schema, upload) | total |
/// | A   | 2026-01-31 23:59:59.500  | fast     | yes  |           | .1 .2 skip skip 1.0 .05 .15                                    | 1.5   |
/// | B   | 2026-02-01 00:00:00.000  | standard | no   |           | .1 .2 .3 .4 2.0 .1 .2                                          | 3.3   |
/// | C   | 2026-02-10 12:00:00.000  | fast     | no   |           | .1 .2 skip skip .5 .1 .1                                       | 1.0   |
/// | D   | 2026-02-10 12:00:00.000  | none     | no   | not_found | .2 (fetch only)                                                 | 0.2   |
///
/// Wall seconds are twice the CPU seconds.
pub fn boundary_rows() -> Vec<MetricsRow> {
    fn run(
        doc: &str,
        at: DateTime<Utc>,
        path: Option<PathKind>,
        cold: bool,
        error: Option<ErrorKind>,
        cpu: &[Option<f64>],
    ) -> Vec<MetricsRow> {
        let stages = Stage::ALL
            .iter()
            .zip(cpu)
            .map(|(&stage, cpu)| match cpu {
                Some(cpu) => StageRecord {
                    stage,
                    cpu_seconds: *cpu,
                    helper_cpu_seconds: 0.0,
                    wall_seconds: 2.0 * cpu,
                    skipped: false,
                },
                None => StageRecord::skipped(stage),
            })
            .collect();
        let document = DocumentRun {
            document_id: doc.to_string(),
            path,
            rerouted: false,
            quality_score: path.map(|_| 0.8),
            cold_start: cold,
            model_load_cpu_seconds: 0.0,
            stages,
            model: ModelKind::Fast,
            flags: OptimisationFlags { max_working_side_px: Some(2000), ..OptimisationFlags::default() },
            input_bytes: 1000,
            pages: 1,
            error: error.map(|kind| (kind, "x".to_string())),
            result_key: None,
            cache_hit: false,
            pages_by_engine: Default::default(),
        };
        let mut rows = MetricsRow::from_run(&document, "bench");
        for row in &mut rows {
            row.created_at = Some(at);
        }
        rows
    }
    let mut all = Vec::new();
    all.extend(run(
        "A",
        utc(2026, 1, 31, 23, 59, 59, 500),
        Some(PathKind::Fast),
        true,
        None,
        &[Some(0.1), Some(0.2), None, None, Some(1.0), Some(0.05), Some(0.15)],
    ));
    all.extend(run(
        "B",
        utc(2026, 2, 1, 0, 0, 0, 0),
        Some(PathKind::Standard),
        false,
        None,
        &[Some(0.1), Some(0.2), Some(0.3), Some(0.4), Some(2.0), Some(0.1), Some(0.2)],
    ));
    all.extend(run(
        "C",
        utc(2026, 2, 10, 12, 0, 0, 0),
        Some(PathKind::Fast),
        false,
        None,
        &[Some(0.1), Some(0.2), None, None, Some(0.5), Some(0.1), Some(0.1)],
    ));
    all.extend(run("D", utc(2026, 2, 10, 12, 0, 0, 0), None, false, Some(ErrorKind::NotFound), &[Some(0.2)]));
    all
}

pub fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{what}: {actual} != {expected}");
}

pub fn february() -> TimeRange {
    TimeRange { since: utc(2026, 2, 1, 0, 0, 0, 0), until: utc(2026, 3, 1, 0, 0, 0, 0) }
}

pub async fn metrics_reads_match_hand_computed_values(t: &TestDb) {
    let db = &t.db;
    assert_eq!(db.insert_metrics(&boundary_rows()).await.unwrap(), 7 + 7 + 7 + 1);

    // February, seen from the middle of it (14 of 28 days gone): B + C + D.
    let feb = db.monthly_usage(utc(2026, 2, 15, 0, 0, 0, 0), Some(10.0)).await.unwrap();
    assert_eq!(feb.month_start, chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
    assert_eq!(feb.documents, 3);
    assert_close(feb.cpu_hours_used, 4.5 / 3600.0, "february hours");
    assert_close(feb.cpu_seconds_per_document.unwrap(), 1.5, "february seconds per document");
    assert_close(feb.budget_cpu_hours, 10.0, "budget override");
    assert_close(feb.percent_of_budget, 100.0 * 4.5 / 3600.0 / 10.0, "percent of budget");
    assert_close(feb.projected_month_end_hours.unwrap(), 2.0 * 4.5 / 3600.0, "february projection");

    // January, from its 16th at noon (15.5 of 31 days gone): only A, half a second before the boundary.
    let jan = db.monthly_usage(utc(2026, 1, 16, 12, 0, 0, 0), None).await.unwrap();
    assert_eq!(jan.documents, 1);
    assert_close(jan.cpu_hours_used, 1.5 / 3600.0, "january hours");
    assert_close(jan.budget_cpu_hours, 200.0, "default budget");
    assert_close(jan.projected_month_end_hours.unwrap(), 2.0 * 1.5 / 3600.0, "january projection");

    // The stored budget is used when no override is given.
    db.set_monthly_budget_hours(50.0).await.unwrap();
    let stored = db.monthly_usage(utc(2026, 2, 15, 0, 0, 0, 0), None).await.unwrap();
    assert_close(stored.budget_cpu_hours, 50.0, "stored budget");
    // A month with nothing in it.
    let march = db.monthly_usage(utc(2026, 3, 1, 0, 0, 0, 0), None).await.unwrap();
    assert_eq!((march.documents, march.cpu_seconds_per_document), (0, None));
    assert_eq!(march.projected_month_end_hours, None);

    let stages = db.stage_breakdown(february()).await.unwrap();
    assert_eq!(stages.iter().map(|s| s.stage).collect::<Vec<_>>(), Stage::ALL.to_vec());
    let ocr = &stages[4];
    assert_close(ocr.cpu_seconds_total, 2.5, "ocr total");
    assert_close(ocr.cpu_seconds_per_document, 2.5 / 3.0, "ocr per document");
    assert_close(ocr.wall_seconds_per_document, 5.0 / 3.0, "ocr wall per document");
    assert_close(ocr.percent_of_cpu, 100.0 * 2.5 / 4.5, "ocr share");
    assert_eq!((stages[0].runs, stages[0].skipped_runs), (3, 0), "fetch");
    assert_eq!((stages[2].runs, stages[2].skipped_runs), (1, 1), "pre_ocr");
    assert_close(stages[0].cpu_seconds_total, 0.4, "fetch total");
    assert_close(stages.iter().map(|s| s.cpu_seconds_total).sum(), 4.5, "stage sum");

    let paths = db.path_distribution(february()).await.unwrap();
    assert_eq!(
        paths.iter().map(|p| p.path).collect::<Vec<_>>(),
        vec![Some(PathKind::Fast), Some(PathKind::Standard), None]
    );
    assert!(paths.iter().all(|p| p.documents == 1));
    assert_close(paths[0].percent_of_documents, 100.0 / 3.0, "fast share");
    assert_close(paths[0].cpu_seconds_per_document, 1.0, "fast cpu");
    assert_close(paths[1].cpu_seconds_per_document, 3.3, "standard cpu");

    let errors = db.error_counts(february()).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].kind, errors[0].documents), (ErrorKind::NotFound, 1));
    assert!(db.error_counts(TimeRange { since: utc(2026, 1, 1, 0, 0, 0, 0), ..february() }).await.unwrap().len() == 1);

    // Bench rows carry no job.
    let all_stages = db.stage_breakdown(TimeRange::all()).await.unwrap();
    assert_close(all_stages.iter().map(|s| s.cpu_seconds_total).sum(), 6.0, "all-time sum");
}

pub async fn typed_errors(t: &TestDb) {
    let db = &t.db;
    let missing = rythmiq_db::JobId::new_random();
    let err = db.get_job(missing).await.unwrap_err();
    assert!(matches!(err, DbError::NotFound(id) if id == missing), "{err:?}");
    assert!(!err.is_retryable());
    let bogus = Attempt { job_id: missing, token: rythmiq_db::AttemptToken(1), number: 1, max_attempts: 5 };
    assert_stale(db.complete(bogus, "r", &[]).await, "complete of an unknown job");
    assert!(matches!(db.claim("w", Duration::ZERO).await, Err(DbError::Invalid(_))));
    assert!(matches!(db.enqueue(&NewJob { max_attempts: 0, ..job(1) }).await, Err(DbError::Invalid(_))));
    // A closed pool is "unavailable": retryable, and its message names no host, path or SQL.
    let other = t.reopen().await;
    other.close().await;
    let err = other.queue_depth().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.to_string(), "database unavailable");
}

// ---- the keys intake decided (issue 13) ----

/// The job row carries the content hash, the config fingerprint and the result key decided at intake: a claim and
/// a status lookup return exactly those, and `complete` refuses any other result key (typed, nothing written).
pub async fn claim_hands_out_the_keys_intake_decided(t: &TestDb) {
    let db = &t.db;
    let admitted = rythmiq_types::intake::admit(b"%PDF-1.7 a document", "fingerprint-a").unwrap();
    let new = NewJob::new(admitted.keys.input_key("inputs/"), admitted.keys.clone());
    let id = db.enqueue(&new).await.unwrap().id;
    let claimed = db.claim("w1", LEASE).await.unwrap().expect("the job");
    assert_eq!(claimed.keys, admitted.keys, "the claim carries what intake decided");
    assert_eq!(claimed.input_key, format!("inputs/{}", admitted.keys.content_sha256));
    assert_eq!(claimed.keys.result_key, format!("results/{}/fingerprint-a.json", admitted.keys.content_sha256));
    assert_eq!((claimed.attempt.number, claimed.attempt.max_attempts), (1, NewJob::DEFAULT_MAX_ATTEMPTS));
    assert_eq!(db.get_job(id).await.unwrap().keys, admitted.keys, "the status carries them from enqueue on");

    let elsewhere = rythmiq_types::intake::result_key(&admitted.keys.content_sha256, "fingerprint-b");
    match db.complete(claimed.attempt, &elsewhere, &rows("doc")).await {
        Err(DbError::ResultKeyMismatch { job_id }) => assert_eq!(job_id, id),
        other => panic!("a result under another key must be refused: {other:?}"),
    }
    let status = db.get_job(id).await.unwrap();
    assert_eq!((status.state, status.keys.result_key.as_str()), (JobState::Running, admitted.keys.result_key.as_str()));
    assert!(db.metrics_for_job(id).await.unwrap().is_empty(), "a refused completion writes no metrics");
    db.complete(claimed.attempt, &admitted.keys.result_key, &rows("doc")).await.unwrap();
    assert_eq!(db.get_job(id).await.unwrap().state, JobState::Succeeded);
    // The same bytes under another fingerprint are another job with another result key.
    let other = NewJob::new(new.input_key.clone(), JobKeys::new(admitted.keys.content_sha256.clone(), "fingerprint-b"));
    let other_id = db.enqueue(&other).await.unwrap().id;
    assert_ne!(other_id, id);
    assert_eq!(db.get_job(other_id).await.unwrap().keys.result_key, elsewhere);
}

/// `fail` decides retry or dead-letter once, in Rust, from the attempt's number and allowance; each dialect's
/// statement carries the decision out, and refuses an attempt whose number is not the row's (nothing written).
pub async fn fail_carries_out_the_decision_made_in_rust(t: &TestDb) {
    let db = &t.db;
    let id = db.enqueue(&NewJob { max_attempts: 2, ..job(1) }).await.unwrap().id;
    let claimed = db.claim("w1", LEASE).await.unwrap().unwrap();
    let forged = Attempt { number: claimed.attempt.number + 1, ..claimed.attempt };
    assert_stale(db.fail(forged, ErrorKind::Timeout, "x", &rows("doc-1")).await, "an attempt number not the row's");
    assert!(db.metrics_for_job(id).await.unwrap().is_empty());
    assert_eq!(db.get_job(id).await.unwrap().state, JobState::Running, "the refused fail changed nothing");

    let before = Utc::now();
    let outcome = db.fail(claimed.attempt, ErrorKind::Timeout, "slow", &rows("doc-1")).await.unwrap();
    let FailOutcome::Retrying { run_after, attempts: 1 } = outcome else {
        panic!("attempt 1 of 2 retries: {outcome:?}")
    };
    let delay = (run_after - before).to_std().unwrap_or_default();
    let ceiling = db.backoff().ceiling(1);
    assert!(delay >= ceiling / 2 - Duration::from_millis(20) && delay <= ceiling + Duration::from_millis(250));
    assert_eq!(db.get_job(id).await.unwrap().run_after, run_after, "the stored run_after is the one reported");

    let second = loop {
        if let Some(claimed) = db.claim("w1", LEASE).await.unwrap() {
            break claimed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(second.attempt.number, 2);
    // The last allowed attempt dead-letters even a retryable kind.
    let outcome = db.fail(second.attempt, ErrorKind::Timeout, "slow again", &rows("doc-1")).await.unwrap();
    assert_eq!(outcome, FailOutcome::DeadLettered { attempts: 2 });
    let status = db.get_job(id).await.unwrap();
    assert_eq!((status.state, status.error_message.as_deref()), (JobState::DeadLettered, Some("slow again")));
    assert!(status.finished_at.is_some());
    // A permanent kind dead-letters on the first attempt, whatever the allowance.
    let permanent = db.enqueue(&NewJob { max_attempts: 5, ..job(2) }).await.unwrap().id;
    let claimed = db.claim("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id(), permanent);
    let outcome = db.fail(claimed.attempt, ErrorKind::ConfigMismatch, "fingerprints differ", &[]).await.unwrap();
    assert_eq!(outcome, FailOutcome::DeadLettered { attempts: 1 });
    assert_eq!(db.get_job(permanent).await.unwrap().error_kind, Some(ErrorKind::ConfigMismatch));
}
