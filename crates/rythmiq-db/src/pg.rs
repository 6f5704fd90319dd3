//! The PostgreSQL backend. Every queue transition is one statement (data-modifying CTEs), so each is atomic on
//! its own and costs one round trip; timestamps come from the database clock (`now()`), so workers on hosts with
//! skewed clocks still agree on lease expiry.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rythmiq_types::{ErrorKind, ModelKind, PathKind, Stage};
use sqlx::postgres::{PgArguments, PgListener, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    parse_stored, Attempt, AttemptToken, Backoff, ClaimedJob, DbError, Enqueued, ErrorCount, FailOutcome, JobId,
    JobState, JobStatus, MetricsRow, MonthlyUsage, NewJob, PathShare, QueueDepth, StageCost, TimeRange, NOTIFY_CHANNEL,
};

// ---- metrics rows as column arrays ----

/// The insert's column list; the UNNEST below yields the same names, `$1`..`$26`.
const METRIC_COLUMNS: &str = "run_id, job_id, attempt, document_id, worker_id, stage, path, cpu_seconds, \
    helper_cpu_seconds, wall_seconds, skipped, cold_start, ocr_threads, model, max_working_side_px, \
    skip_pre_ocr_above, result_cache, flags, cache_hit, pages, input_bytes, error_kind, created_at, rerouted, \
    quality_score, model_load_cpu_seconds";

/// Every row of a batch in one statement: one array parameter per column, zipped back into rows by UNNEST.
/// The statement text does not depend on the row count, so it is prepared once per connection.
const METRIC_UNNEST: &str = "UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::float8[], $9::float8[], $10::float8[], $11::bool[], $12::bool[], $13::int4[], $14::text[], \
    $15::int4[], $16::float8[], $17::bool[], $18::text[], $19::bool[], $20::int4[], $21::int8[], $22::text[], \
    $23::timestamptz[], $24::bool[], $25::float8[], $26::float8[]) AS m(run_id, job_id, attempt, document_id, \
    worker_id, stage, path, cpu_seconds, helper_cpu_seconds, wall_seconds, skipped, cold_start, ocr_threads, model, \
    max_working_side_px, skip_pre_ocr_above, result_cache, flags, cache_hit, pages, input_bytes, error_kind, \
    created_at, rerouted, quality_score, model_load_cpu_seconds)";

/// The select list feeding the insert; `job` and `attempt` are the expressions for those two columns.
fn metric_select(job: &str, attempt: &str) -> String {
    format!(
        "m.run_id, {job}, {attempt}, m.document_id, m.worker_id, m.stage, m.path, m.cpu_seconds, \
         m.helper_cpu_seconds, m.wall_seconds, m.skipped, m.cold_start, m.ocr_threads, m.model, \
         m.max_working_side_px, m.skip_pre_ocr_above, m.result_cache, m.flags, m.cache_hit, m.pages, \
         m.input_bytes, m.error_kind, coalesce(m.created_at, now()), m.rerouted, m.quality_score, \
         m.model_load_cpu_seconds"
    )
}

struct Columns<'a> {
    run_id: Vec<Uuid>,
    job_id: Vec<Option<Uuid>>,
    attempt: Vec<Option<i32>>,
    document_id: Vec<&'a str>,
    worker_id: Vec<&'a str>,
    stage: Vec<&'static str>,
    path: Vec<Option<&'static str>>,
    cpu_seconds: Vec<f64>,
    helper_cpu_seconds: Vec<f64>,
    wall_seconds: Vec<f64>,
    skipped: Vec<bool>,
    cold_start: Vec<bool>,
    ocr_threads: Vec<i32>,
    model: Vec<&'static str>,
    max_working_side_px: Vec<Option<i32>>,
    skip_pre_ocr_above: Vec<Option<f64>>,
    result_cache: Vec<bool>,
    flags: Vec<&'a str>,
    cache_hit: Vec<bool>,
    pages: Vec<i32>,
    input_bytes: Vec<i64>,
    error_kind: Vec<Option<&'static str>>,
    created_at: Vec<Option<DateTime<Utc>>>,
    rerouted: Vec<bool>,
    quality_score: Vec<Option<f64>>,
    model_load_cpu_seconds: Vec<f64>,
}

impl<'a> Columns<'a> {
    /// `error_kind_default` fills the rows' error kind when they have none (the rows of a failed attempt).
    fn new(rows: &'a [MetricsRow], error_kind_default: Option<ErrorKind>) -> Result<Columns<'a>, DbError> {
        let n = rows.len();
        let mut c = Columns {
            run_id: Vec::with_capacity(n),
            job_id: Vec::with_capacity(n),
            attempt: Vec::with_capacity(n),
            document_id: Vec::with_capacity(n),
            worker_id: Vec::with_capacity(n),
            stage: Vec::with_capacity(n),
            path: Vec::with_capacity(n),
            cpu_seconds: Vec::with_capacity(n),
            helper_cpu_seconds: Vec::with_capacity(n),
            wall_seconds: Vec::with_capacity(n),
            skipped: Vec::with_capacity(n),
            cold_start: Vec::with_capacity(n),
            ocr_threads: Vec::with_capacity(n),
            model: Vec::with_capacity(n),
            max_working_side_px: Vec::with_capacity(n),
            skip_pre_ocr_above: Vec::with_capacity(n),
            result_cache: Vec::with_capacity(n),
            flags: Vec::with_capacity(n),
            cache_hit: Vec::with_capacity(n),
            pages: Vec::with_capacity(n),
            input_bytes: Vec::with_capacity(n),
            error_kind: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
            rerouted: Vec::with_capacity(n),
            quality_score: Vec::with_capacity(n),
            model_load_cpu_seconds: Vec::with_capacity(n),
        };
        for row in rows {
            c.run_id.push(row.run_id);
            c.job_id.push(row.job_id.map(|id| id.0));
            c.attempt.push(row.attempt.map(to_i32).transpose()?);
            c.document_id.push(&row.document_id);
            c.worker_id.push(&row.worker_id);
            c.stage.push(row.stage.as_str());
            c.path.push(row.path.map(PathKind::as_str));
            c.cpu_seconds.push(row.cpu_seconds);
            c.helper_cpu_seconds.push(row.helper_cpu_seconds);
            c.wall_seconds.push(row.wall_seconds);
            c.skipped.push(row.skipped);
            c.cold_start.push(row.cold_start);
            c.ocr_threads.push(to_i32(row.ocr_threads)?);
            c.model.push(row.model.as_str());
            c.max_working_side_px.push(row.max_working_side_px.map(to_i32).transpose()?);
            c.skip_pre_ocr_above.push(row.skip_pre_ocr_above);
            c.result_cache.push(row.result_cache);
            c.flags.push(&row.flags);
            c.cache_hit.push(row.cache_hit);
            c.pages.push(to_i32(row.pages)?);
            c.input_bytes.push(i64::try_from(row.input_bytes).map_err(|_| DbError::Invalid("input_bytes".into()))?);
            c.error_kind.push(row.error_kind.or(error_kind_default).map(ErrorKind::as_str));
            c.created_at.push(row.created_at);
            c.rerouted.push(row.rerouted);
            c.quality_score.push(row.quality_score);
            c.model_load_cpu_seconds.push(row.model_load_cpu_seconds);
        }
        Ok(c)
    }

    fn bind<'q>(&'q self, query: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.run_id.as_slice())
            .bind(self.job_id.as_slice())
            .bind(self.attempt.as_slice())
            .bind(self.document_id.as_slice())
            .bind(self.worker_id.as_slice())
            .bind(self.stage.as_slice())
            .bind(self.path.as_slice())
            .bind(self.cpu_seconds.as_slice())
            .bind(self.helper_cpu_seconds.as_slice())
            .bind(self.wall_seconds.as_slice())
            .bind(self.skipped.as_slice())
            .bind(self.cold_start.as_slice())
            .bind(self.ocr_threads.as_slice())
            .bind(self.model.as_slice())
            .bind(self.max_working_side_px.as_slice())
            .bind(self.skip_pre_ocr_above.as_slice())
            .bind(self.result_cache.as_slice())
            .bind(self.flags.as_slice())
            .bind(self.cache_hit.as_slice())
            .bind(self.pages.as_slice())
            .bind(self.input_bytes.as_slice())
            .bind(self.error_kind.as_slice())
            .bind(self.created_at.as_slice())
            .bind(self.rerouted.as_slice())
            .bind(self.quality_score.as_slice())
            .bind(self.model_load_cpu_seconds.as_slice())
    }
}

fn to_i32(value: u32) -> Result<i32, DbError> {
    i32::try_from(value).map_err(|_| DbError::Invalid(format!("{value} does not fit a 32-bit column")))
}

// ---- queue ----

/// Backoff delays sent with each `fail`; the ceiling stops doubling long before this many attempts.
const BACKOFF_STEPS: u32 = 32;

const ENQUEUE: &str = "\
WITH inserted AS (
    INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash, priority, max_attempts)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
)
SELECT id, true AS created FROM inserted
UNION ALL
SELECT id, false AS created FROM jobs WHERE idempotency_key = $2
LIMIT 1";

pub(crate) async fn enqueue(pool: &PgPool, job: &NewJob) -> Result<Enqueued, DbError> {
    let key = job.idempotency_key();
    let max_attempts = i32::try_from(job.max_attempts).map_err(|_| DbError::Invalid("max_attempts".into()))?;
    // A conflicting insert that commits while ours waits is invisible to our statement's snapshot, so the
    // statement can return no row; the next try (a fresh snapshot) then sees the winner.
    for _ in 0..3 {
        let row_opt = sqlx::query(ENQUEUE)
            .bind(Uuid::new_v4())
            .bind(&key)
            .bind(&job.input_key)
            .bind(&job.content_sha256)
            .bind(&job.config_hash)
            .bind(job.priority)
            .bind(max_attempts)
            .fetch_optional(pool)
            .await?;
        if let Some(row) = row_opt {
            return Ok(Enqueued { id: JobId(row.try_get("id")?), created: row.try_get("created")? });
        }
    }
    Err(DbError::Conflict("concurrent enqueue of the same idempotency key did not settle"))
}

/// The advisory-lock key that serialises bounded enqueues (`enqueue_bounded`): an arbitrary constant, "rythmiq"
/// in ASCII folded into 63 bits, unlikely to collide with another application's key in the same database.
const ENQUEUE_GATE_LOCK: i64 = 0x0072_7974_686d_6971;

pub(crate) async fn enqueue_bounded(
    pool: &PgPool,
    job: &NewJob,
    max_pending: i64,
) -> Result<Option<Enqueued>, DbError> {
    let key = job.idempotency_key();
    let max_attempts = i32::try_from(job.max_attempts).map_err(|_| DbError::Invalid("max_attempts".into()))?;
    let mut tx = pool.begin().await?;
    // Held until commit or rollback: the next bounded enqueue counts after this one's insert is committed.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ENQUEUE_GATE_LOCK).execute(&mut *tx).await?;
    if let Some(row) =
        sqlx::query("SELECT id FROM jobs WHERE idempotency_key = $1").bind(&key).fetch_optional(&mut *tx).await?
    {
        tx.commit().await?;
        return Ok(Some(Enqueued { id: JobId(row.try_get("id")?), created: false }));
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
        .fetch_one(&mut *tx)
        .await?;
    if pending >= max_pending {
        tx.rollback().await?;
        return Ok(None);
    }
    // An unbounded enqueue of the same key can still race this one (it takes no lock): ENQUEUE answers either way.
    let row = sqlx::query(ENQUEUE)
        .bind(Uuid::new_v4())
        .bind(&key)
        .bind(&job.input_key)
        .bind(&job.content_sha256)
        .bind(&job.config_hash)
        .bind(job.priority)
        .bind(max_attempts)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    match row {
        Some(row) => Ok(Some(Enqueued { id: JobId(row.try_get("id")?), created: row.try_get("created")? })),
        None => Err(DbError::Conflict("concurrent enqueue of the same idempotency key did not settle")),
    }
}

const CLAIM: &str = "\
WITH reaped AS (
    UPDATE jobs
    SET status = 'dead', finished_at = now(), locked_by = NULL, locked_until = NULL,
        interruptions = interruptions + 1,
        error_kind = 'interrupted', error_message = 'worker lost (lease expired) too many times'
    WHERE id IN (SELECT id FROM jobs
                 WHERE status = 'running' AND locked_until < now() AND interruptions + 1 >= $3
                 FOR UPDATE SKIP LOCKED)
    RETURNING id
), next AS (
    SELECT id FROM jobs
    WHERE (status = 'queued' AND run_after <= now())
       OR (status = 'running' AND locked_until < now() AND interruptions + 1 < $3)
    ORDER BY priority DESC, run_after, enqueued_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET status = 'running',
    -- A reclaim after a lost worker re-runs the interrupted attempt (same number) and counts an interruption.
    attempts = CASE WHEN j.status = 'running' THEN j.attempts ELSE j.attempts + 1 END,
    interruptions = CASE WHEN j.status = 'running' THEN j.interruptions + 1 ELSE j.interruptions END,
    attempt_token = j.attempt_token + 1,
    locked_by = $1,
    locked_until = now() + make_interval(secs => $2),
    started_at = coalesce(j.started_at, now())
FROM next
WHERE j.id = next.id
RETURNING j.id, j.attempt_token, j.attempts, j.max_attempts, j.input_key, j.content_sha256, j.config_hash,
          j.priority, j.enqueued_at, j.locked_until";

pub(crate) async fn claim(pool: &PgPool, worker_id: &str, lease_secs: f64) -> Result<Option<ClaimedJob>, DbError> {
    let row_opt = sqlx::query(CLAIM)
        .bind(worker_id)
        .bind(lease_secs)
        .bind(crate::MAX_INTERRUPTIONS as i32)
        .fetch_optional(pool)
        .await?;
    row_opt.map(|row| claimed_from_row(&row)).transpose()
}

fn claimed_from_row(row: &PgRow) -> Result<ClaimedJob, DbError> {
    Ok(ClaimedJob {
        attempt: Attempt { job_id: JobId(row.try_get("id")?), token: AttemptToken(row.try_get("attempt_token")?) },
        attempt_no: row.try_get::<i32, _>("attempts")? as u32,
        max_attempts: row.try_get::<i32, _>("max_attempts")? as u32,
        input_key: row.try_get("input_key")?,
        content_sha256: row.try_get("content_sha256")?,
        config_hash: row.try_get("config_hash")?,
        priority: row.try_get("priority")?,
        enqueued_at: row.try_get("enqueued_at")?,
        locked_until: row.try_get("locked_until")?,
    })
}

pub(crate) async fn heartbeat(pool: &PgPool, attempt: Attempt, lease_secs: f64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND attempt_token = $2 AND status = 'running'",
    )
    .bind(attempt.job_id.0)
    .bind(attempt.token.0)
    .bind(lease_secs)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

static COMPLETE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH done AS (
            UPDATE jobs
            SET status = 'succeeded', finished_at = now(), result_key = $29, locked_by = NULL, locked_until = NULL,
                error_kind = NULL, error_message = NULL
            WHERE id = $27 AND attempt_token = $28 AND status = 'running'
            RETURNING id, attempts
        ), inserted AS (
            INSERT INTO cpu_metrics ({METRIC_COLUMNS})
            SELECT {select} FROM done CROSS JOIN {METRIC_UNNEST}
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM done) AS n_done, (SELECT count(*) FROM inserted) AS n_inserted",
        select = metric_select("done.id", "done.attempts"),
    )
});

pub(crate) async fn complete(
    pool: &PgPool,
    attempt: Attempt,
    result_key: &str,
    metrics: &[MetricsRow],
) -> Result<(), DbError> {
    let columns = Columns::new(metrics, None)?;
    // One statement: the job's completion and its metrics commit together or not at all.
    let row = columns
        .bind(sqlx::query(COMPLETE.as_str()))
        .bind(attempt.job_id.0)
        .bind(attempt.token.0)
        .bind(result_key)
        .fetch_one(pool)
        .await?;
    let n_done: i64 = row.try_get("n_done")?;
    if n_done == 0 {
        return Err(DbError::StaleAttempt { job_id: attempt.job_id });
    }
    Ok(())
}

static FAIL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH failed AS (
            UPDATE jobs
            SET status      = CASE WHEN $29 AND attempts < max_attempts THEN 'queued' ELSE 'dead' END,
                run_after   = CASE WHEN $29 AND attempts < max_attempts
                                   THEN now() + make_interval(secs => ($30::float8[])[least(attempts, {BACKOFF_STEPS})])
                                   ELSE run_after END,
                finished_at = CASE WHEN $29 AND attempts < max_attempts THEN NULL ELSE now() END,
                locked_by = NULL, locked_until = NULL, error_kind = $31, error_message = $32
            WHERE id = $27 AND attempt_token = $28 AND status = 'running'
            RETURNING id, attempts, status, run_after
        ), inserted AS (
            INSERT INTO cpu_metrics ({METRIC_COLUMNS})
            SELECT {select} FROM failed CROSS JOIN {METRIC_UNNEST}
            RETURNING 1
        )
        SELECT f.attempts, f.status, f.run_after, (SELECT count(*) FROM inserted) AS n_inserted FROM failed f",
        select = metric_select("failed.id", "failed.attempts"),
    )
});

pub(crate) async fn fail(
    pool: &PgPool,
    attempt: Attempt,
    kind: ErrorKind,
    message: &str,
    metrics: &[MetricsRow],
    backoff: &Backoff,
) -> Result<FailOutcome, DbError> {
    let columns = Columns::new(metrics, Some(kind))?;
    // The delay depends on the attempt count, which the row holds. Rather than read it first (a second round trip),
    // send the jittered delay for every possible count and let the update pick its own.
    let delays: Vec<f64> = (1..=BACKOFF_STEPS).map(|n| backoff.delay(n).as_secs_f64()).collect();
    let row_opt = columns
        .bind(sqlx::query(FAIL.as_str()))
        .bind(attempt.job_id.0)
        .bind(attempt.token.0)
        .bind(kind.is_retryable())
        .bind(delays.as_slice())
        .bind(kind.as_str())
        .bind(message)
        .fetch_optional(pool)
        .await?;
    let row = row_opt.ok_or(DbError::StaleAttempt { job_id: attempt.job_id })?;
    let attempts = row.try_get::<i32, _>("attempts")? as u32;
    let status: String = row.try_get("status")?;
    Ok(match parse_stored(&status, JobState::parse)? {
        JobState::Queued => FailOutcome::Retrying { run_after: row.try_get("run_after")?, attempts },
        _ => FailOutcome::DeadLettered { attempts },
    })
}

pub(crate) async fn release(pool: &PgPool, attempt: Attempt) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE jobs
         SET status = 'queued', attempts = attempts - 1, run_after = now(), locked_by = NULL, locked_until = NULL
         WHERE id = $1 AND attempt_token = $2 AND status = 'running'",
    )
    .bind(attempt.job_id.0)
    .bind(attempt.token.0)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::StaleAttempt { job_id: attempt.job_id });
    }
    Ok(())
}

pub(crate) async fn get_job(pool: &PgPool, id: JobId) -> Result<JobStatus, DbError> {
    let row = sqlx::query(
        "SELECT id, status, attempts, max_attempts, priority, input_key, content_sha256, config_hash, enqueued_at,
                started_at, finished_at, run_after, locked_by, locked_until, result_key, error_kind, error_message
         FROM jobs WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound(id))?;
    let status: String = row.try_get("status")?;
    let error_kind: Option<String> = row.try_get("error_kind")?;
    Ok(JobStatus {
        id,
        state: parse_stored(&status, JobState::parse)?,
        attempts: row.try_get::<i32, _>("attempts")? as u32,
        max_attempts: row.try_get::<i32, _>("max_attempts")? as u32,
        priority: row.try_get("priority")?,
        input_key: row.try_get("input_key")?,
        content_sha256: row.try_get("content_sha256")?,
        config_hash: row.try_get("config_hash")?,
        enqueued_at: row.try_get("enqueued_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        run_after: row.try_get("run_after")?,
        locked_by: row.try_get("locked_by")?,
        locked_until: row.try_get("locked_until")?,
        result_key: row.try_get("result_key")?,
        error_kind: error_kind.as_deref().map(|k| parse_stored(k, ErrorKind::parse)).transpose()?,
        error_message: row.try_get("error_message")?,
    })
}

pub(crate) async fn queue_depth(pool: &PgPool) -> Result<QueueDepth, DbError> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'queued' AND run_after <= now()) AS ready,
                count(*) FILTER (WHERE status = 'queued' AND run_after > now())  AS delayed,
                count(*) FILTER (WHERE status = 'running')                        AS running,
                count(*) FILTER (WHERE status = 'dead')                           AS dead
         FROM jobs WHERE status IN ('queued', 'running', 'dead')",
    )
    .fetch_one(pool)
    .await?;
    let count = |name: &str| row.try_get::<i64, _>(name).map(|n| n as u64);
    Ok(QueueDepth {
        ready: count("ready")?,
        delayed: count("delayed")?,
        running: count("running")?,
        dead_lettered: count("dead")?,
    })
}

/// Forwards NOTIFYs on [`NOTIFY_CHANNEL`] to `wake` until aborted. Failures only log: waiters fall back to polling.
pub(crate) async fn listen(pool: PgPool, wake: Arc<Notify>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                Ok(()) => loop {
                    // recv() reconnects and re-listens by itself after a lost connection; notifications sent
                    // meanwhile are lost, which is what the polling timeout is for.
                    match listener.recv().await {
                        Ok(_) => wake.notify_waiters(),
                        Err(err) => {
                            tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "job notification listener failed; polling only");
                            break;
                        }
                    }
                },
                Err(err) => tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "LISTEN refused; polling only"),
            },
            Err(err) => {
                tracing::warn!(error = %rythmiq_types::ErrorChain(&err), "job notification listener cannot connect; polling only")
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

// ---- metrics store ----

static INSERT_METRICS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO cpu_metrics ({METRIC_COLUMNS}) SELECT {select} FROM {METRIC_UNNEST}",
        select = metric_select("m.job_id", "m.attempt"),
    )
});

pub(crate) async fn insert_metrics(pool: &PgPool, rows: &[MetricsRow]) -> Result<u64, DbError> {
    let columns = Columns::new(rows, None)?;
    let done = columns.bind(sqlx::query(INSERT_METRICS.as_str())).execute(pool).await?;
    Ok(done.rows_affected())
}

pub(crate) async fn metrics_for_job(pool: &PgPool, id: JobId) -> Result<Vec<MetricsRow>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {METRIC_COLUMNS} FROM cpu_metrics WHERE job_id = $1
         ORDER BY attempt, array_position(ARRAY['fetch', 'quality_scoring', 'pre_ocr', 'enhancement', 'ocr',
                                                'schema_adaptation', 'upload'], stage)"
    ))
    .bind(id.0)
    .fetch_all(pool)
    .await?;
    rows.iter().map(metrics_row_from_pg).collect()
}

fn metrics_row_from_pg(row: &PgRow) -> Result<MetricsRow, DbError> {
    let stage: String = row.try_get("stage")?;
    let path: Option<String> = row.try_get("path")?;
    let model: String = row.try_get("model")?;
    let error_kind: Option<String> = row.try_get("error_kind")?;
    Ok(MetricsRow {
        run_id: row.try_get("run_id")?,
        job_id: row.try_get::<Option<Uuid>, _>("job_id")?.map(JobId),
        attempt: row.try_get::<Option<i32>, _>("attempt")?.map(|a| a as u32),
        document_id: row.try_get("document_id")?,
        worker_id: row.try_get("worker_id")?,
        stage: parse_stored(&stage, Stage::parse)?,
        path: path.as_deref().map(|p| parse_stored(p, PathKind::parse)).transpose()?,
        rerouted: row.try_get("rerouted")?,
        quality_score: row.try_get("quality_score")?,
        cpu_seconds: row.try_get("cpu_seconds")?,
        helper_cpu_seconds: row.try_get("helper_cpu_seconds")?,
        wall_seconds: row.try_get("wall_seconds")?,
        skipped: row.try_get("skipped")?,
        cold_start: row.try_get("cold_start")?,
        model_load_cpu_seconds: row.try_get("model_load_cpu_seconds")?,
        ocr_threads: row.try_get::<i32, _>("ocr_threads")? as u32,
        model: parse_stored(&model, ModelKind::parse)?,
        max_working_side_px: row.try_get::<Option<i32>, _>("max_working_side_px")?.map(|px| px as u32),
        skip_pre_ocr_above: row.try_get("skip_pre_ocr_above")?,
        result_cache: row.try_get("result_cache")?,
        flags: row.try_get("flags")?,
        cache_hit: row.try_get("cache_hit")?,
        pages: row.try_get::<i32, _>("pages")? as u32,
        input_bytes: row.try_get::<i64, _>("input_bytes")? as u64,
        error_kind: error_kind.as_deref().map(|k| parse_stored(k, ErrorKind::parse)).transpose()?,
        created_at: Some(row.try_get("created_at")?),
    })
}

pub(crate) async fn monthly_usage(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    budget_hours_opt: Option<f64>,
) -> Result<MonthlyUsage, DbError> {
    let row = sqlx::query("SELECT * FROM get_monthly_cpu_usage($1, $2)")
        .bind(budget_hours_opt)
        .bind(as_of)
        .fetch_one(pool)
        .await?;
    Ok(MonthlyUsage {
        month_start: row.try_get::<NaiveDate, _>("month_start")?,
        cpu_hours_used: row.try_get("cpu_hours_used")?,
        documents: row.try_get("documents")?,
        cpu_seconds_per_document: row.try_get("cpu_seconds_per_document")?,
        budget_cpu_hours: row.try_get("budget_cpu_hours")?,
        percent_of_budget: row.try_get("percent_of_budget")?,
        projected_month_end_hours: row.try_get("projected_month_end_hours")?,
    })
}

pub(crate) async fn set_monthly_budget_hours(pool: &PgPool, hours: f64) -> Result<(), DbError> {
    sqlx::query("UPDATE rythmiq_settings SET monthly_cpu_budget_hours = $1").bind(hours).execute(pool).await?;
    Ok(())
}

pub(crate) async fn stage_breakdown(pool: &PgPool, range: TimeRange) -> Result<Vec<StageCost>, DbError> {
    let rows = sqlx::query(
        "WITH scope AS (
             SELECT * FROM cpu_metrics WHERE created_at >= $1 AND created_at < $2
         ), totals AS (
             SELECT count(DISTINCT run_id) AS documents, sum(cpu_seconds) AS cpu_seconds FROM scope
         )
         SELECT s.stage,
                count(*) FILTER (WHERE NOT s.skipped)                                  AS runs,
                count(*) FILTER (WHERE s.skipped)                                      AS skipped_runs,
                sum(s.cpu_seconds)                                                     AS cpu_seconds_total,
                sum(s.cpu_seconds) / t.documents                                       AS cpu_seconds_per_document,
                sum(s.wall_seconds) / t.documents                                      AS wall_seconds_per_document,
                coalesce(100.0 * sum(s.cpu_seconds) / nullif(t.cpu_seconds, 0), 0.0)   AS percent_of_cpu
         FROM scope s CROSS JOIN totals t
         GROUP BY s.stage, t.documents, t.cpu_seconds",
    )
    .bind(range.since)
    .bind(range.until)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let stage: String = row.try_get("stage")?;
            Ok(StageCost {
                stage: parse_stored(&stage, Stage::parse)?,
                runs: row.try_get("runs")?,
                skipped_runs: row.try_get("skipped_runs")?,
                cpu_seconds_total: row.try_get("cpu_seconds_total")?,
                cpu_seconds_per_document: row.try_get("cpu_seconds_per_document")?,
                wall_seconds_per_document: row.try_get("wall_seconds_per_document")?,
                percent_of_cpu: row.try_get("percent_of_cpu")?,
            })
        })
        .collect()
}

pub(crate) async fn path_distribution(pool: &PgPool, range: TimeRange) -> Result<Vec<PathShare>, DbError> {
    let rows = sqlx::query(
        "WITH runs AS (
             SELECT min(path) AS path, sum(cpu_seconds) AS cpu_seconds
             FROM cpu_metrics WHERE created_at >= $1 AND created_at < $2
             GROUP BY run_id
         )
         SELECT path,
                count(*)                                         AS documents,
                (100.0 * count(*) / sum(count(*)) OVER ())::float8 AS percent_of_documents,
                avg(cpu_seconds)                                 AS cpu_seconds_per_document
         FROM runs GROUP BY path ORDER BY path NULLS LAST",
    )
    .bind(range.since)
    .bind(range.until)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let path: Option<String> = row.try_get("path")?;
            Ok(PathShare {
                path: path.as_deref().map(|p| parse_stored(p, PathKind::parse)).transpose()?,
                documents: row.try_get("documents")?,
                percent_of_documents: row.try_get::<f64, _>("percent_of_documents")?,
                cpu_seconds_per_document: row.try_get("cpu_seconds_per_document")?,
            })
        })
        .collect()
}

pub(crate) async fn error_counts(pool: &PgPool, range: TimeRange) -> Result<Vec<ErrorCount>, DbError> {
    let rows = sqlx::query(
        "SELECT error_kind, count(DISTINCT run_id) AS documents
         FROM cpu_metrics
         WHERE created_at >= $1 AND created_at < $2 AND error_kind IS NOT NULL
         GROUP BY error_kind",
    )
    .bind(range.since)
    .bind(range.until)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("error_kind")?;
            Ok(ErrorCount { kind: parse_stored(&kind, ErrorKind::parse)?, documents: row.try_get("documents")? })
        })
        .collect()
}

pub(crate) async fn refresh_daily_view(pool: &PgPool) -> Result<(), DbError> {
    sqlx::query("REFRESH MATERIALIZED VIEW CONCURRENTLY cpu_metrics_daily").execute(pool).await?;
    Ok(())
}
