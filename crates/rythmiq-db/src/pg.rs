//! The PostgreSQL backend. Every queue transition is one statement (data-modifying CTEs), so each is atomic on
//! its own and costs one round trip; timestamps come from the database clock (`now()`), so workers on hosts with
//! skewed clocks still agree on lease expiry. The reads both dialects share are in `reads.rs`.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rythmiq_types::ErrorKind;
use sqlx::postgres::{PgArguments, PgListener, PgPool};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::backoff::FailDecision;
use crate::columns::{self, RowFill, SqlType, Value, METRIC_COLUMNS};
use crate::job::ClaimedRow;
use crate::{Attempt, ClaimedJob, DbError, Enqueued, FailOutcome, JobId, MetricsRow, NewJob, NOTIFY_CHANNEL};

// ---- metrics rows as column arrays ----

/// One batch parameter: every row's value of one column.
enum ArrayParam<'a> {
    Uuid(Vec<Option<Uuid>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<bool>),
    Text(Vec<Option<&'a str>>),
    Time(Vec<Option<DateTime<Utc>>>),
}

impl<'a> ArrayParam<'a> {
    fn with_capacity(ty: SqlType, n: usize) -> ArrayParam<'a> {
        match ty {
            SqlType::Uuid => ArrayParam::Uuid(Vec::with_capacity(n)),
            SqlType::Int => ArrayParam::Int(Vec::with_capacity(n)),
            SqlType::Float => ArrayParam::Float(Vec::with_capacity(n)),
            SqlType::Bool => ArrayParam::Bool(Vec::with_capacity(n)),
            SqlType::Text => ArrayParam::Text(Vec::with_capacity(n)),
            SqlType::Time => ArrayParam::Time(Vec::with_capacity(n)),
        }
    }

    fn push(&mut self, value: Value<'a>) -> Result<(), DbError> {
        match (self, value) {
            (ArrayParam::Uuid(v), Value::Uuid(x)) => v.push(x),
            (ArrayParam::Int(v), Value::Int(x)) => v.push(x),
            (ArrayParam::Float(v), Value::Float(x)) => v.push(x),
            (ArrayParam::Bool(v), Value::Bool(x)) => v.push(x),
            (ArrayParam::Text(v), Value::Text(x)) => v.push(x),
            (ArrayParam::Time(v), Value::Time(x)) => v.push(x),
            _ => return Err(DbError::Invalid("a metrics value does not match its column's type".into())),
        }
        Ok(())
    }
}

/// Every row of a batch as one array parameter per column (`$1`..`$26`), zipped back into rows by UNNEST. The
/// statement text does not depend on the row count, so it is prepared once per connection.
struct Columns<'a>(Vec<ArrayParam<'a>>);

impl<'a> Columns<'a> {
    fn new(rows: &'a [MetricsRow], fill: RowFill) -> Result<Columns<'a>, DbError> {
        let mut arrays: Vec<ArrayParam<'a>> =
            METRIC_COLUMNS.iter().map(|(_, ty)| ArrayParam::with_capacity(*ty, rows.len())).collect();
        for row in rows {
            for (array, value) in arrays.iter_mut().zip(row.values(fill)?) {
                array.push(value)?;
            }
        }
        Ok(Columns(arrays))
    }

    fn bind<'q>(&'q self, mut query: Query<'q, Postgres, PgArguments>) -> Query<'q, Postgres, PgArguments> {
        for array in &self.0 {
            query = match array {
                ArrayParam::Uuid(v) => query.bind(v.as_slice()),
                ArrayParam::Int(v) => query.bind(v.as_slice()),
                ArrayParam::Float(v) => query.bind(v.as_slice()),
                ArrayParam::Bool(v) => query.bind(v.as_slice()),
                ArrayParam::Text(v) => query.bind(v.as_slice()),
                ArrayParam::Time(v) => query.bind(v.as_slice()),
            };
        }
        query
    }
}

/// `$n` of the `k`-th parameter after the metrics arrays (k = 1 is the first).
fn param(k: usize) -> String {
    format!("${}", METRIC_COLUMNS.len() + k)
}

/// `UNNEST($1::uuid[], ...) AS m(run_id, ...)`.
fn metric_unnest() -> String {
    let casts: Vec<String> =
        METRIC_COLUMNS.iter().enumerate().map(|(i, (_, ty))| format!("${}::{}", i + 1, ty.pg_array())).collect();
    format!("UNNEST({}) AS m({})", casts.join(", "), columns::names())
}

/// The select list feeding the insert: the arrays' columns, a missing time being the transaction's clock.
fn metric_select() -> String {
    let exprs: Vec<String> = METRIC_COLUMNS
        .iter()
        .map(|(name, ty)| match ty {
            SqlType::Time => format!("coalesce(m.{name}, now())"),
            _ => format!("m.{name}"),
        })
        .collect();
    exprs.join(", ")
}

// ---- queue ----

const ENQUEUE: &str = include_str!("../sql/pg_enqueue.sql");

pub(crate) async fn enqueue(pool: &PgPool, job: &NewJob) -> Result<Enqueued, DbError> {
    // A conflicting insert that commits while ours waits is invisible to our statement's snapshot, so the
    // statement can return no row; the next try (a fresh snapshot) then sees the winner.
    for _ in 0..3 {
        if let Some(enqueued) = enqueue_query(job)?.fetch_optional(pool).await? {
            return enqueued_from(&enqueued);
        }
    }
    Err(DbError::Conflict("concurrent enqueue of the same idempotency key did not settle"))
}

fn enqueue_query(job: &NewJob) -> Result<Query<'_, Postgres, PgArguments>, DbError> {
    let max_attempts = i32::try_from(job.max_attempts).map_err(|_| DbError::Invalid("max_attempts".into()))?;
    Ok(sqlx::query(ENQUEUE)
        .bind(Uuid::new_v4())
        .bind(job.idempotency_key())
        .bind(&job.input_key)
        .bind(&job.keys.content_sha256)
        .bind(&job.keys.config_fingerprint)
        .bind(&job.keys.result_key)
        .bind(job.priority)
        .bind(max_attempts))
}

fn enqueued_from(row: &sqlx::postgres::PgRow) -> Result<Enqueued, DbError> {
    Ok(Enqueued { id: JobId(row.try_get("id")?), created: row.try_get("created")? })
}

/// The advisory-lock key that serialises bounded enqueues (`enqueue_bounded`): an arbitrary constant, "rythmiq"
/// in ASCII folded into 63 bits, unlikely to collide with another application's key in the same database.
const ENQUEUE_GATE_LOCK: i64 = 0x0072_7974_686d_6971;

pub(crate) async fn enqueue_bounded(
    pool: &PgPool,
    job: &NewJob,
    max_pending: i64,
) -> Result<Option<Enqueued>, DbError> {
    let mut tx = pool.begin().await?;
    // Held until commit or rollback: the next bounded enqueue counts after this one's insert is committed.
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ENQUEUE_GATE_LOCK).execute(&mut *tx).await?;
    if let Some(row) = sqlx::query("SELECT id FROM jobs WHERE idempotency_key = $1")
        .bind(job.idempotency_key())
        .fetch_optional(&mut *tx)
        .await?
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
    let row = enqueue_query(job)?.fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    match row {
        Some(row) => enqueued_from(&row).map(Some),
        None => Err(DbError::Conflict("concurrent enqueue of the same idempotency key did not settle")),
    }
}

const CLAIM: &str = include_str!("../sql/pg_claim.sql");

pub(crate) async fn claim(pool: &PgPool, worker_id: &str, lease_secs: f64) -> Result<Option<ClaimedJob>, DbError> {
    let row_opt: Option<ClaimedRow> = sqlx::query_as(CLAIM)
        .bind(worker_id)
        .bind(lease_secs)
        .bind(crate::MAX_INTERRUPTIONS as i32)
        .fetch_optional(pool)
        .await?;
    row_opt.map(ClaimedJob::try_from).transpose()
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
    let (id, token, result_key) = (param(1), param(2), param(3));
    format!(
        "WITH current AS (
            SELECT id FROM jobs WHERE id = {id} AND attempt_token = {token} AND status = 'running'
        ), done AS (
            UPDATE jobs
            SET status = 'succeeded', finished_at = now(), locked_by = NULL, locked_until = NULL,
                error_kind = NULL, error_message = NULL
            WHERE id = {id} AND attempt_token = {token} AND status = 'running' AND result_key = {result_key}
            RETURNING id
        ), inserted AS (
            INSERT INTO cpu_metrics ({names})
            SELECT {select} FROM done CROSS JOIN {unnest}
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM current) AS n_current, (SELECT count(*) FROM done) AS n_done,
               (SELECT count(*) FROM inserted) AS n_inserted",
        names = columns::names(),
        select = metric_select(),
        unnest = metric_unnest(),
    )
});

pub(crate) async fn complete(
    pool: &PgPool,
    attempt: Attempt,
    result_key: &str,
    metrics: &[MetricsRow],
) -> Result<(), DbError> {
    let columns = Columns::new(metrics, RowFill { job: Some((attempt.job_id, attempt.number)), error_kind: None })?;
    // One statement: the job's completion and its metrics commit together or not at all.
    let row = columns
        .bind(sqlx::query(COMPLETE.as_str()))
        .bind(attempt.job_id.0)
        .bind(attempt.token.0)
        .bind(result_key)
        .fetch_one(pool)
        .await?;
    match (row.try_get::<i64, _>("n_current")?, row.try_get::<i64, _>("n_done")?) {
        (_, 1) => Ok(()),
        (1, _) => Err(DbError::ResultKeyMismatch { job_id: attempt.job_id }),
        _ => Err(DbError::StaleAttempt { job_id: attempt.job_id }),
    }
}

static FAIL: LazyLock<String> = LazyLock::new(|| {
    let (id, token, number, status, delay, kind, message) =
        (param(1), param(2), param(3), param(4), param(5), param(6), param(7));
    format!(
        "WITH failed AS (
            UPDATE jobs
            SET status = {status},
                run_after = coalesce(now() + make_interval(secs => {delay}), run_after),
                finished_at = CASE WHEN {status} = 'dead' THEN now() END,
                locked_by = NULL, locked_until = NULL, error_kind = {kind}, error_message = {message}
            WHERE id = {id} AND attempt_token = {token} AND status = 'running' AND attempts = {number}
            RETURNING id, attempts, run_after
        ), inserted AS (
            INSERT INTO cpu_metrics ({names})
            SELECT {select} FROM failed CROSS JOIN {unnest}
            RETURNING 1
        )
        SELECT f.attempts, f.run_after, (SELECT count(*) FROM inserted) AS n_inserted FROM failed f",
        names = columns::names(),
        select = metric_select(),
        unnest = metric_unnest(),
    )
});

/// Carries out `decision` (made by `Database::fail`) in one statement, with the attempt's metrics rows.
pub(crate) async fn fail(
    pool: &PgPool,
    attempt: Attempt,
    kind: ErrorKind,
    message: &str,
    metrics: &[MetricsRow],
    decision: FailDecision,
) -> Result<FailOutcome, DbError> {
    let fill = RowFill { job: Some((attempt.job_id, attempt.number)), error_kind: Some(kind) };
    let columns = Columns::new(metrics, fill)?;
    let (status, delay_opt) = match decision {
        FailDecision::Retry { delay } => ("queued", Some(delay.as_secs_f64())),
        FailDecision::DeadLetter => ("dead", None),
    };
    let row_opt = columns
        .bind(sqlx::query(FAIL.as_str()))
        .bind(attempt.job_id.0)
        .bind(attempt.token.0)
        .bind(i32::try_from(attempt.number).map_err(|_| DbError::Invalid("attempt number".into()))?)
        .bind(status)
        .bind(delay_opt)
        .bind(kind.as_str())
        .bind(message)
        .fetch_optional(pool)
        .await?;
    let row = row_opt.ok_or(DbError::StaleAttempt { job_id: attempt.job_id })?;
    let attempts = row.try_get::<i32, _>("attempts")? as u32;
    Ok(match decision {
        FailDecision::Retry { .. } => FailOutcome::Retrying { run_after: row.try_get("run_after")?, attempts },
        FailDecision::DeadLetter => FailOutcome::DeadLettered { attempts },
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

pub(crate) async fn queue_depth(pool: &PgPool) -> Result<crate::QueueDepth, DbError> {
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
    Ok(crate::QueueDepth {
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
        "INSERT INTO cpu_metrics ({names}) SELECT {select} FROM {unnest}",
        names = columns::names(),
        select = metric_select(),
        unnest = metric_unnest(),
    )
});

pub(crate) async fn insert_metrics(pool: &PgPool, rows: &[MetricsRow]) -> Result<u64, DbError> {
    let columns = Columns::new(rows, RowFill::default())?;
    let done = columns.bind(sqlx::query(INSERT_METRICS.as_str())).execute(pool).await?;
    Ok(done.rows_affected())
}

pub(crate) async fn refresh_daily_view(pool: &PgPool) -> Result<(), DbError> {
    sqlx::query("REFRESH MATERIALIZED VIEW CONCURRENTLY cpu_metrics_daily").execute(pool).await?;
    Ok(())
}
