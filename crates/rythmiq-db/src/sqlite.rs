//! The embedded SQLite backend. SQLite has one writer at a time: every multi-statement transition runs in
//! `BEGIN IMMEDIATE`, which takes the write lock up front (waiting up to `busy_timeout`), so two claimers can never
//! read the same queued row and both update it. Timestamps are this host's clock, written as fixed-width UTC text.
//! The reads both dialects share are in `reads.rs`.

use chrono::{DateTime, Utc};
use rythmiq_types::ErrorKind;
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::backoff::FailDecision;
use crate::columns::{self, parse_uuid, RowFill, Value, METRIC_COLUMNS};
use crate::job::ClaimedRow;
use crate::{Attempt, ClaimedJob, DbError, Enqueued, FailOutcome, JobId, MetricsRow, NewJob, QueueDepth};

/// The stored form: `2026-01-31T23:59:59.999Z`, the same as `strftime('%Y-%m-%dT%H:%M:%fZ')` in the migrations.
/// Fixed width, so text order is time order.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parse_ts(text: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| DbError::Query(sqlx::Error::Decode(format!("unreadable timestamp {text:?}").into())))
}

fn lease_end(now: DateTime<Utc>, lease_secs: f64) -> DateTime<Utc> {
    now + chrono::Duration::microseconds((lease_secs * 1e6) as i64)
}

const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

// ---- queue ----

fn enqueued(id: &str, created: bool) -> Result<Enqueued, DbError> {
    Ok(Enqueued { id: JobId(parse_uuid(id)?), created })
}

pub(crate) async fn enqueue(pool: &SqlitePool, job: &NewJob) -> Result<Enqueued, DbError> {
    match insert_job(pool, job, None).await? {
        Some(done) => Ok(done),
        None => Err(DbError::Conflict("enqueue neither inserted nor found the job")),
    }
}

pub(crate) async fn enqueue_bounded(
    pool: &SqlitePool,
    job: &NewJob,
    max_pending: i64,
) -> Result<Option<Enqueued>, DbError> {
    insert_job(pool, job, Some(max_pending)).await
}

/// The enqueue statement of both `enqueue` (no bound: the count is never evaluated) and `enqueue_bounded`.
async fn insert_job(
    pool: &SqlitePool,
    job: &NewJob,
    max_pending_opt: Option<i64>,
) -> Result<Option<Enqueued>, DbError> {
    let key = job.idempotency_key();
    let now = ts(Utc::now());
    // One statement: SQLite takes the database's single write lock when a writing statement starts, before the
    // count is read, so no other insert can land between the count and this insert.
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash, result_key, priority,
                           max_attempts, run_after, enqueued_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $9
         WHERE $10 IS NULL OR (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')) < $10
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(JobId::new_random().to_string())
    .bind(&key)
    .bind(&job.input_key)
    .bind(&job.keys.content_sha256)
    .bind(&job.keys.config_fingerprint)
    .bind(&job.keys.result_key)
    .bind(job.priority)
    .bind(i64::from(job.max_attempts))
    .bind(&now)
    .bind(max_pending_opt)
    .fetch_optional(pool)
    .await?;
    if let Some(id) = inserted {
        return enqueued(&id, true).map(Some);
    }
    // Not inserted: a duplicate (answered whether or not the queue is full; a conflict means the other row is
    // committed, one writer, so this read sees it), or a full queue.
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = $1").bind(&key).fetch_optional(pool).await?;
    existing.map(|id| enqueued(&id, false)).transpose()
}

const CLAIM: &str = include_str!("../sql/sqlite_claim.sql");

pub(crate) async fn claim(pool: &SqlitePool, worker_id: &str, lease_secs: f64) -> Result<Option<ClaimedJob>, DbError> {
    let now_at = Utc::now();
    let now = ts(now_at);
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let max_interruptions = i64::from(crate::MAX_INTERRUPTIONS);
    sqlx::query(
        "UPDATE jobs
         SET status = 'dead', finished_at = $1, locked_by = NULL, locked_until = NULL,
             interruptions = interruptions + 1,
             error_kind = 'interrupted', error_message = 'worker lost (lease expired) too many times'
         WHERE status = 'running' AND locked_until < $1 AND interruptions + 1 >= $2",
    )
    .bind(&now)
    .bind(max_interruptions)
    .execute(&mut *tx)
    .await?;
    let row_opt: Option<ClaimedRow> = sqlx::query_as(CLAIM)
        .bind(&now)
        .bind(worker_id)
        .bind(ts(lease_end(now_at, lease_secs)))
        .bind(max_interruptions)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row_opt.map(ClaimedJob::try_from).transpose()
}

pub(crate) async fn heartbeat(pool: &SqlitePool, attempt: Attempt, lease_secs: f64) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE jobs SET locked_until = $3 WHERE id = $1 AND attempt_token = $2 AND status = 'running'")
            .bind(attempt.job_id.to_string())
            .bind(attempt.token.0)
            .bind(ts(lease_end(Utc::now(), lease_secs)))
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn complete(
    pool: &SqlitePool,
    attempt: Attempt,
    result_key: &str,
    metrics: &[MetricsRow],
) -> Result<(), DbError> {
    let now = Utc::now();
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let done = sqlx::query(
        "UPDATE jobs
         SET status = 'succeeded', finished_at = $3, locked_by = NULL, locked_until = NULL,
             error_kind = NULL, error_message = NULL
         WHERE id = $1 AND attempt_token = $2 AND status = 'running' AND result_key = $4",
    )
    .bind(attempt.job_id.to_string())
    .bind(attempt.token.0)
    .bind(ts(now))
    .bind(result_key)
    .execute(&mut *tx)
    .await?;
    // Dropping `tx` rolls back: nothing is written for a stale attempt or another result key.
    if done.rows_affected() == 0 {
        let current: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE id = $1 AND attempt_token = $2 AND status = 'running'")
                .bind(attempt.job_id.to_string())
                .bind(attempt.token.0)
                .fetch_one(&mut *tx)
                .await?;
        return Err(if current == 1 {
            DbError::ResultKeyMismatch { job_id: attempt.job_id }
        } else {
            DbError::StaleAttempt { job_id: attempt.job_id }
        });
    }
    let fill = RowFill { job: Some((attempt.job_id, attempt.number)), error_kind: None };
    insert_rows(&mut tx, metrics, fill, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Carries out `decision` (made by `Database::fail`) in one statement, then inserts the attempt's metrics rows in
/// the same transaction.
pub(crate) async fn fail(
    pool: &SqlitePool,
    attempt: Attempt,
    kind: ErrorKind,
    message: &str,
    metrics: &[MetricsRow],
    decision: FailDecision,
) -> Result<FailOutcome, DbError> {
    let now = Utc::now();
    let (status, run_after_opt, finished_opt) = match decision {
        FailDecision::Retry { delay } => {
            // Stored to the millisecond; the outcome reports the stored instant.
            let run_after = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            ("queued", Some(ts(run_after)), None)
        }
        FailDecision::DeadLetter => ("dead", None, Some(ts(now))),
    };
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let done = sqlx::query(
        "UPDATE jobs
         SET status = $4, run_after = coalesce($5, run_after), finished_at = $6, locked_by = NULL,
             locked_until = NULL, error_kind = $7, error_message = $8
         WHERE id = $1 AND attempt_token = $2 AND status = 'running' AND attempts = $3",
    )
    .bind(attempt.job_id.to_string())
    .bind(attempt.token.0)
    .bind(i64::from(attempt.number))
    .bind(status)
    .bind(&run_after_opt)
    .bind(finished_opt)
    .bind(kind.as_str())
    .bind(message)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::StaleAttempt { job_id: attempt.job_id });
    }
    let fill = RowFill { job: Some((attempt.job_id, attempt.number)), error_kind: Some(kind) };
    insert_rows(&mut tx, metrics, fill, now).await?;
    tx.commit().await?;
    let attempts = attempt.number;
    Ok(match run_after_opt {
        Some(run_after) => FailOutcome::Retrying { run_after: parse_ts(&run_after)?, attempts },
        None => FailOutcome::DeadLettered { attempts },
    })
}

pub(crate) async fn release(pool: &SqlitePool, attempt: Attempt) -> Result<(), DbError> {
    let done = sqlx::query(
        "UPDATE jobs
         SET status = 'queued', attempts = attempts - 1, run_after = $3, locked_by = NULL, locked_until = NULL
         WHERE id = $1 AND attempt_token = $2 AND status = 'running'",
    )
    .bind(attempt.job_id.to_string())
    .bind(attempt.token.0)
    .bind(ts(Utc::now()))
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DbError::StaleAttempt { job_id: attempt.job_id });
    }
    Ok(())
}

pub(crate) async fn queue_depth(pool: &SqlitePool) -> Result<QueueDepth, DbError> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'queued' AND run_after <= $1) AS ready,
                count(*) FILTER (WHERE status = 'queued' AND run_after > $1)  AS delayed,
                count(*) FILTER (WHERE status = 'running')                    AS running,
                count(*) FILTER (WHERE status = 'dead')                       AS dead
         FROM jobs WHERE status IN ('queued', 'running', 'dead')",
    )
    .bind(ts(Utc::now()))
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

// ---- metrics store ----

/// SQLite allows 32766 bound variables per statement; a chunk stays inside it whatever the column count.
const ROWS_PER_INSERT: usize = 32766 / METRIC_COLUMNS.len() / 2;

/// Inserts `rows` with multi-row INSERTs on `conn` (inside the caller's transaction), filled as `fill` says; a
/// row without a time gets `now`.
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[MetricsRow],
    fill: RowFill,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values = chunk.iter().map(|row| row.values(fill)).collect::<Result<Vec<_>, _>>()?;
        let mut builder: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("INSERT INTO cpu_metrics ({}) ", columns::names()));
        builder.push_values(values, |mut separated, row| {
            for value in row {
                match value {
                    Value::Uuid(v) => separated.push_bind(v.map(|id| id.hyphenated().to_string())),
                    Value::Int(v) => separated.push_bind(v),
                    Value::Float(v) => separated.push_bind(v),
                    Value::Bool(v) => separated.push_bind(v),
                    Value::Text(v) => separated.push_bind(v.map(str::to_string)),
                    Value::Time(v) => separated.push_bind(ts(v.unwrap_or(now))),
                };
            }
        });
        inserted += builder.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

pub(crate) async fn insert_metrics(pool: &SqlitePool, rows: &[MetricsRow]) -> Result<u64, DbError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let inserted = insert_rows(&mut tx, rows, RowFill::default(), Utc::now()).await?;
    tx.commit().await?;
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_timestamps_sort_as_times_and_round_trip() {
        let a = Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(999);
        let b = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a), "2026-01-31T23:59:59.999Z");
        assert_eq!(parse_ts(&ts(a)).unwrap(), a);
        assert_eq!(ts(b), "2026-02-01T00:00:00.000Z");
    }
}
