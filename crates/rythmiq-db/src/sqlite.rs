//! The embedded SQLite backend. SQLite has one writer at a time: every multi-statement transition runs in
//! `BEGIN IMMEDIATE`, which takes the write lock up front (waiting up to `busy_timeout`), so two claimers can never
//! read the same queued row and both update it. Timestamps are this host's clock, written as fixed-width UTC text.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rythmiq_types::{ErrorKind, ModelKind, PathKind, Stage};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::{
    parse_stored, Attempt, AttemptToken, Backoff, ClaimedJob, DbError, Enqueued, ErrorCount, FailOutcome, JobId,
    JobState, JobStatus, MetricsRow, MonthlyUsage, NewJob, PathShare, QueueDepth, StageCost, TimeRange,
};

/// The stored form: `2026-01-31T23:59:59.999Z`, the same as `strftime('%Y-%m-%dT%H:%M:%fZ')` in the migrations.
/// Fixed width, so text order is time order.
fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parse_ts(text: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| DbError::Query(sqlx::Error::Decode(format!("unreadable timestamp {text:?}").into())))
}

fn get_ts(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, DbError> {
    parse_ts(&row.try_get::<String, _>(column)?)
}

fn get_ts_opt(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, DbError> {
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_ts).transpose()
}

/// Reads a REAL expression. SQLite returns an INTEGER for sums of integral values, which sqlx's typed getter
/// refuses as f64; the unchecked getter converts.
fn get_f64(row: &SqliteRow, column: &str) -> Result<f64, DbError> {
    Ok(row.try_get_unchecked::<f64, _>(column)?)
}

fn get_uuid(row: &SqliteRow, column: &str) -> Result<Uuid, DbError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|_| DbError::Query(sqlx::Error::Decode(format!("unreadable uuid {text:?}").into())))
}

fn lease_end(now: DateTime<Utc>, lease_secs: f64) -> DateTime<Utc> {
    now + chrono::Duration::microseconds((lease_secs * 1e6) as i64)
}

const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

// ---- queue ----

pub(crate) async fn enqueue(pool: &SqlitePool, job: &NewJob) -> Result<Enqueued, DbError> {
    let key = job.idempotency_key();
    let now = ts(Utc::now());
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash, priority, max_attempts,
                           run_after, enqueued_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(JobId::new_random().to_string())
    .bind(&key)
    .bind(&job.input_key)
    .bind(&job.content_sha256)
    .bind(&job.config_hash)
    .bind(job.priority)
    .bind(i64::from(job.max_attempts))
    .bind(&now)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = inserted {
        return Ok(Enqueued { id: JobId(get_uuid(&row, "id")?), created: true });
    }
    // A conflict means the other row is committed (one writer), so this read sees it.
    let row = sqlx::query("SELECT id FROM jobs WHERE idempotency_key = $1").bind(&key).fetch_one(pool).await?;
    Ok(Enqueued { id: JobId(get_uuid(&row, "id")?), created: false })
}

pub(crate) async fn enqueue_bounded(
    pool: &SqlitePool,
    job: &NewJob,
    max_pending: i64,
) -> Result<Option<Enqueued>, DbError> {
    let key = job.idempotency_key();
    let now = ts(Utc::now());
    // One statement: SQLite takes the database's single write lock when a writing statement starts, before the
    // count is read, so no other insert can land between the count and this insert.
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, idempotency_key, input_key, content_sha256, config_hash, priority, max_attempts,
                           run_after, enqueued_at)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $8
         WHERE (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')) < $9
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(JobId::new_random().to_string())
    .bind(&key)
    .bind(&job.input_key)
    .bind(&job.content_sha256)
    .bind(&job.config_hash)
    .bind(job.priority)
    .bind(i64::from(job.max_attempts))
    .bind(&now)
    .bind(max_pending)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = inserted {
        return Ok(Some(Enqueued { id: JobId(get_uuid(&row, "id")?), created: true }));
    }
    // Not inserted: a duplicate (answered whether or not the queue is full), or a full queue.
    let existing =
        sqlx::query("SELECT id FROM jobs WHERE idempotency_key = $1").bind(&key).fetch_optional(pool).await?;
    match existing {
        Some(row) => Ok(Some(Enqueued { id: JobId(get_uuid(&row, "id")?), created: false })),
        None => Ok(None),
    }
}

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
    // A reclaim after a lost worker re-runs the interrupted attempt (same number) and counts an interruption.
    let row_opt = sqlx::query(
        "UPDATE jobs
         SET attempts = CASE WHEN status = 'running' THEN attempts ELSE attempts + 1 END,
             interruptions = CASE WHEN status = 'running' THEN interruptions + 1 ELSE interruptions END,
             status = 'running', attempt_token = attempt_token + 1,
             locked_by = $2, locked_until = $3, started_at = coalesce(started_at, $1)
         WHERE id = (SELECT id FROM jobs
                     WHERE (status = 'queued' AND run_after <= $1)
                        OR (status = 'running' AND locked_until < $1 AND interruptions + 1 < $4)
                     ORDER BY priority DESC, run_after, enqueued_at
                     LIMIT 1)
         RETURNING id, attempt_token, attempts, max_attempts, input_key, content_sha256, config_hash, priority,
                   enqueued_at, locked_until",
    )
    .bind(&now)
    .bind(worker_id)
    .bind(ts(lease_end(now_at, lease_secs)))
    .bind(max_interruptions)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(row) = row_opt else { return Ok(None) };
    Ok(Some(ClaimedJob {
        attempt: Attempt { job_id: JobId(get_uuid(&row, "id")?), token: AttemptToken(row.try_get("attempt_token")?) },
        attempt_no: row.try_get::<i64, _>("attempts")? as u32,
        max_attempts: row.try_get::<i64, _>("max_attempts")? as u32,
        input_key: row.try_get("input_key")?,
        content_sha256: row.try_get("content_sha256")?,
        config_hash: row.try_get("config_hash")?,
        priority: row.try_get("priority")?,
        enqueued_at: get_ts(&row, "enqueued_at")?,
        locked_until: get_ts(&row, "locked_until")?,
    }))
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
    let row_opt = sqlx::query(
        "UPDATE jobs
         SET status = 'succeeded', finished_at = $3, result_key = $4, locked_by = NULL, locked_until = NULL,
             error_kind = NULL, error_message = NULL
         WHERE id = $1 AND attempt_token = $2 AND status = 'running'
         RETURNING attempts",
    )
    .bind(attempt.job_id.to_string())
    .bind(attempt.token.0)
    .bind(ts(now))
    .bind(result_key)
    .fetch_optional(&mut *tx)
    .await?;
    // Dropping `tx` rolls back: nothing is written for a stale attempt.
    let Some(row) = row_opt else { return Err(DbError::StaleAttempt { job_id: attempt.job_id }) };
    let attempts = row.try_get::<i64, _>("attempts")? as u32;
    insert_rows(&mut tx, metrics, Some((attempt.job_id, attempts)), None, now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn fail(
    pool: &SqlitePool,
    attempt: Attempt,
    kind: ErrorKind,
    message: &str,
    metrics: &[MetricsRow],
    backoff: &Backoff,
) -> Result<FailOutcome, DbError> {
    let now = Utc::now();
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let row_opt = sqlx::query(
        "SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND attempt_token = $2 AND status = 'running'",
    )
    .bind(attempt.job_id.to_string())
    .bind(attempt.token.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row_opt else { return Err(DbError::StaleAttempt { job_id: attempt.job_id }) };
    let attempts = row.try_get::<i64, _>("attempts")? as u32;
    let max_attempts = row.try_get::<i64, _>("max_attempts")? as u32;
    let outcome = if kind.is_retryable() && attempts < max_attempts {
        let run_after = now + chrono::Duration::from_std(backoff.delay(attempts)).unwrap_or(chrono::Duration::MAX);
        FailOutcome::Retrying { run_after, attempts }
    } else {
        FailOutcome::DeadLettered { attempts }
    };
    let (status, run_after_opt, finished_opt) = match outcome {
        FailOutcome::Retrying { run_after, .. } => ("queued", Some(ts(run_after)), None),
        FailOutcome::DeadLettered { .. } => ("dead", None, Some(ts(now))),
    };
    sqlx::query(
        "UPDATE jobs
         SET status = $3, run_after = coalesce($4, run_after), finished_at = $5, locked_by = NULL,
             locked_until = NULL, error_kind = $6, error_message = $7
         WHERE id = $1 AND attempt_token = $2",
    )
    .bind(attempt.job_id.to_string())
    .bind(attempt.token.0)
    .bind(status)
    .bind(run_after_opt)
    .bind(finished_opt)
    .bind(kind.as_str())
    .bind(message)
    .execute(&mut *tx)
    .await?;
    insert_rows(&mut tx, metrics, Some((attempt.job_id, attempts)), Some(kind), now).await?;
    tx.commit().await?;
    // Re-read from the stored text so that callers see the millisecond precision the database holds.
    Ok(match outcome {
        FailOutcome::Retrying { run_after, attempts } => {
            FailOutcome::Retrying { run_after: parse_ts(&ts(run_after))?, attempts }
        }
        dead => dead,
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

pub(crate) async fn get_job(pool: &SqlitePool, id: JobId) -> Result<JobStatus, DbError> {
    let row = sqlx::query(
        "SELECT status, attempts, max_attempts, priority, input_key, content_sha256, config_hash, enqueued_at,
                started_at, finished_at, run_after, locked_by, locked_until, result_key, error_kind, error_message
         FROM jobs WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound(id))?;
    let status: String = row.try_get("status")?;
    let error_kind: Option<String> = row.try_get("error_kind")?;
    Ok(JobStatus {
        id,
        state: parse_stored(&status, JobState::parse)?,
        attempts: row.try_get::<i64, _>("attempts")? as u32,
        max_attempts: row.try_get::<i64, _>("max_attempts")? as u32,
        priority: row.try_get("priority")?,
        input_key: row.try_get("input_key")?,
        content_sha256: row.try_get("content_sha256")?,
        config_hash: row.try_get("config_hash")?,
        enqueued_at: get_ts(&row, "enqueued_at")?,
        started_at: get_ts_opt(&row, "started_at")?,
        finished_at: get_ts_opt(&row, "finished_at")?,
        run_after: get_ts(&row, "run_after")?,
        locked_by: row.try_get("locked_by")?,
        locked_until: get_ts_opt(&row, "locked_until")?,
        result_key: row.try_get("result_key")?,
        error_kind: error_kind.as_deref().map(|k| parse_stored(k, ErrorKind::parse)).transpose()?,
        error_message: row.try_get("error_message")?,
    })
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

/// 26 columns; SQLite allows 32766 bound variables per statement, so 1000 rows per statement stays well inside.
const ROWS_PER_INSERT: usize = 1000;

/// Inserts `rows` with multi-row INSERTs on `conn` (inside the caller's transaction). `job` overrides the rows'
/// job id and attempt; `error_kind_default` fills rows with no error kind.
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[MetricsRow],
    job: Option<(JobId, u32)>,
    error_kind_default: Option<ErrorKind>,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    let mut inserted = 0;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO cpu_metrics (run_id, job_id, attempt, document_id, worker_id, stage, path, cpu_seconds, \
             helper_cpu_seconds, wall_seconds, skipped, cold_start, ocr_threads, model, max_working_side_px, \
             skip_pre_ocr_above, result_cache, flags, cache_hit, pages, input_bytes, error_kind, created_at, \
             rerouted, quality_score, model_load_cpu_seconds) ",
        );
        builder.push_values(chunk, |mut values, row| {
            let (job_id, attempt) = match job {
                Some((id, attempt)) => (Some(id), Some(attempt)),
                None => (row.job_id, row.attempt),
            };
            values
                .push_bind(row.run_id.to_string())
                .push_bind(job_id.map(|id| id.to_string()))
                .push_bind(attempt.map(i64::from))
                .push_bind(row.document_id.clone())
                .push_bind(row.worker_id.clone())
                .push_bind(row.stage.as_str())
                .push_bind(row.path.map(PathKind::as_str))
                .push_bind(row.cpu_seconds)
                .push_bind(row.helper_cpu_seconds)
                .push_bind(row.wall_seconds)
                .push_bind(row.skipped)
                .push_bind(row.cold_start)
                .push_bind(i64::from(row.ocr_threads))
                .push_bind(row.model.as_str())
                .push_bind(row.max_working_side_px.map(i64::from))
                .push_bind(row.skip_pre_ocr_above)
                .push_bind(row.result_cache)
                .push_bind(row.flags.clone())
                .push_bind(row.cache_hit)
                .push_bind(i64::from(row.pages))
                .push_bind(row.input_bytes as i64)
                .push_bind(row.error_kind.or(error_kind_default).map(ErrorKind::as_str))
                .push_bind(ts(row.created_at.unwrap_or(now)))
                .push_bind(row.rerouted)
                .push_bind(row.quality_score)
                .push_bind(row.model_load_cpu_seconds);
        });
        inserted += builder.build().execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

pub(crate) async fn insert_metrics(pool: &SqlitePool, rows: &[MetricsRow]) -> Result<u64, DbError> {
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let inserted = insert_rows(&mut tx, rows, None, None, Utc::now()).await?;
    tx.commit().await?;
    Ok(inserted)
}

pub(crate) async fn metrics_for_job(pool: &SqlitePool, id: JobId) -> Result<Vec<MetricsRow>, DbError> {
    let rows = sqlx::query(
        "SELECT run_id, job_id, attempt, document_id, worker_id, stage, path, cpu_seconds, helper_cpu_seconds,
                wall_seconds, skipped, cold_start, ocr_threads, model, max_working_side_px, skip_pre_ocr_above,
                result_cache, flags, cache_hit, pages, input_bytes, error_kind, created_at, rerouted, quality_score,
                model_load_cpu_seconds
         FROM cpu_metrics WHERE job_id = $1
         ORDER BY attempt, CASE stage WHEN 'fetch' THEN 1 WHEN 'quality_scoring' THEN 2 WHEN 'pre_ocr' THEN 3
                  WHEN 'enhancement' THEN 4 WHEN 'ocr' THEN 5 WHEN 'schema_adaptation' THEN 6 ELSE 7 END",
    )
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let stage: String = row.try_get("stage")?;
            let path: Option<String> = row.try_get("path")?;
            let model: String = row.try_get("model")?;
            let error_kind: Option<String> = row.try_get("error_kind")?;
            let job_id: Option<String> = row.try_get("job_id")?;
            Ok(MetricsRow {
                run_id: get_uuid(row, "run_id")?,
                job_id: job_id.map(|_| get_uuid(row, "job_id").map(JobId)).transpose()?,
                attempt: row.try_get::<Option<i64>, _>("attempt")?.map(|a| a as u32),
                document_id: row.try_get("document_id")?,
                worker_id: row.try_get("worker_id")?,
                stage: parse_stored(&stage, Stage::parse)?,
                path: path.as_deref().map(|p| parse_stored(p, PathKind::parse)).transpose()?,
                rerouted: row.try_get("rerouted")?,
                quality_score: row.try_get_unchecked::<Option<f64>, _>("quality_score")?,
                cpu_seconds: get_f64(row, "cpu_seconds")?,
                helper_cpu_seconds: get_f64(row, "helper_cpu_seconds")?,
                wall_seconds: get_f64(row, "wall_seconds")?,
                skipped: row.try_get("skipped")?,
                cold_start: row.try_get("cold_start")?,
                model_load_cpu_seconds: get_f64(row, "model_load_cpu_seconds")?,
                ocr_threads: row.try_get::<i64, _>("ocr_threads")? as u32,
                model: parse_stored(&model, ModelKind::parse)?,
                max_working_side_px: row.try_get::<Option<i64>, _>("max_working_side_px")?.map(|px| px as u32),
                skip_pre_ocr_above: row.try_get_unchecked::<Option<f64>, _>("skip_pre_ocr_above")?,
                result_cache: row.try_get("result_cache")?,
                flags: row.try_get("flags")?,
                cache_hit: row.try_get("cache_hit")?,
                pages: row.try_get::<i64, _>("pages")? as u32,
                input_bytes: row.try_get::<i64, _>("input_bytes")? as u64,
                error_kind: error_kind.as_deref().map(|k| parse_stored(k, ErrorKind::parse)).transpose()?,
                created_at: Some(get_ts(row, "created_at")?),
            })
        })
        .collect()
}

/// The first instant of the UTC month containing `at`, and of the next month.
fn month_bounds(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = NaiveDate::from_ymd_opt(at.year(), at.month(), 1).expect("day 1 exists");
    let next = if at.month() == 12 {
        NaiveDate::from_ymd_opt(at.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(at.year(), at.month() + 1, 1)
    }
    .expect("day 1 exists");
    let midnight = |day: NaiveDate| Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"));
    (midnight(first), midnight(next))
}

/// The arithmetic of `get_monthly_cpu_usage()` (migrations/postgres/0003_dashboards.sql), kept identical.
pub(crate) async fn monthly_usage(
    pool: &SqlitePool,
    as_of: DateTime<Utc>,
    budget_hours_opt: Option<f64>,
) -> Result<MonthlyUsage, DbError> {
    let (lo, hi) = month_bounds(as_of);
    let row = sqlx::query(
        "SELECT coalesce(sum(cpu_seconds), 0.0) AS cpu_seconds, count(DISTINCT run_id) AS documents,
                (SELECT monthly_cpu_budget_hours FROM rythmiq_settings LIMIT 1) AS budget
         FROM cpu_metrics WHERE created_at >= $1 AND created_at < $2",
    )
    .bind(ts(lo))
    .bind(ts(hi))
    .fetch_one(pool)
    .await?;
    let cpu_seconds = get_f64(&row, "cpu_seconds")?;
    let documents: i64 = row.try_get("documents")?;
    let stored_budget = row.try_get_unchecked::<Option<f64>, _>("budget")?;
    let budget = budget_hours_opt.or(stored_budget).unwrap_or(200.0);
    let cpu_hours = cpu_seconds / 3600.0;
    let month_secs = (hi - lo).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let elapsed_secs = (as_of.clamp(lo, hi) - lo).num_microseconds().unwrap_or(0) as f64 / 1e6;
    Ok(MonthlyUsage {
        month_start: lo.date_naive(),
        cpu_hours_used: cpu_hours,
        documents,
        cpu_seconds_per_document: (documents > 0).then(|| cpu_seconds / documents as f64),
        budget_cpu_hours: budget,
        percent_of_budget: 100.0 * cpu_hours / budget,
        projected_month_end_hours: (elapsed_secs > 0.0).then(|| cpu_hours * month_secs / elapsed_secs),
    })
}

pub(crate) async fn set_monthly_budget_hours(pool: &SqlitePool, hours: f64) -> Result<(), DbError> {
    sqlx::query("UPDATE rythmiq_settings SET monthly_cpu_budget_hours = $1").bind(hours).execute(pool).await?;
    Ok(())
}

pub(crate) async fn stage_breakdown(pool: &SqlitePool, range: TimeRange) -> Result<Vec<StageCost>, DbError> {
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
                1.0 * sum(s.cpu_seconds) / t.documents                                 AS cpu_seconds_per_document,
                1.0 * sum(s.wall_seconds) / t.documents                                AS wall_seconds_per_document,
                coalesce(100.0 * sum(s.cpu_seconds) / nullif(t.cpu_seconds, 0), 0.0)  AS percent_of_cpu
         FROM scope s CROSS JOIN totals t
         GROUP BY s.stage, t.documents, t.cpu_seconds",
    )
    .bind(ts(range.since))
    .bind(ts(range.until))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let stage: String = row.try_get("stage")?;
            Ok(StageCost {
                stage: parse_stored(&stage, Stage::parse)?,
                runs: row.try_get("runs")?,
                skipped_runs: row.try_get("skipped_runs")?,
                cpu_seconds_total: get_f64(row, "cpu_seconds_total")?,
                cpu_seconds_per_document: get_f64(row, "cpu_seconds_per_document")?,
                wall_seconds_per_document: get_f64(row, "wall_seconds_per_document")?,
                percent_of_cpu: get_f64(row, "percent_of_cpu")?,
            })
        })
        .collect()
}

pub(crate) async fn path_distribution(pool: &SqlitePool, range: TimeRange) -> Result<Vec<PathShare>, DbError> {
    let rows = sqlx::query(
        "WITH runs AS (
             SELECT min(path) AS path, sum(cpu_seconds) AS cpu_seconds
             FROM cpu_metrics WHERE created_at >= $1 AND created_at < $2
             GROUP BY run_id
         )
         SELECT path,
                count(*)                                     AS documents,
                100.0 * count(*) / sum(count(*)) OVER ()     AS percent_of_documents,
                avg(cpu_seconds)                             AS cpu_seconds_per_document
         FROM runs GROUP BY path ORDER BY path IS NULL, path",
    )
    .bind(ts(range.since))
    .bind(ts(range.until))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let path: Option<String> = row.try_get("path")?;
            Ok(PathShare {
                path: path.as_deref().map(|p| parse_stored(p, PathKind::parse)).transpose()?,
                documents: row.try_get("documents")?,
                percent_of_documents: get_f64(row, "percent_of_documents")?,
                cpu_seconds_per_document: get_f64(row, "cpu_seconds_per_document")?,
            })
        })
        .collect()
}

pub(crate) async fn error_counts(pool: &SqlitePool, range: TimeRange) -> Result<Vec<ErrorCount>, DbError> {
    let rows = sqlx::query(
        "SELECT error_kind, count(DISTINCT run_id) AS documents
         FROM cpu_metrics
         WHERE created_at >= $1 AND created_at < $2 AND error_kind IS NOT NULL
         GROUP BY error_kind",
    )
    .bind(ts(range.since))
    .bind(ts(range.until))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("error_kind")?;
            Ok(ErrorCount { kind: parse_stored(&kind, ErrorKind::parse)?, documents: row.try_get("documents")? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_sort_as_times_and_round_trip() {
        let a = Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(999);
        let b = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a), "2026-01-31T23:59:59.999Z");
        assert_eq!(parse_ts(&ts(a)).unwrap(), a);
        assert_eq!(ts(b), "2026-02-01T00:00:00.000Z");
    }

    #[test]
    fn month_bounds_cross_the_year() {
        let (lo, hi) = month_bounds(Utc.with_ymd_and_hms(2026, 12, 15, 8, 0, 0).unwrap());
        assert_eq!(lo, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(hi, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    }
}
