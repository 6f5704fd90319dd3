//! The only crate that speaks SQL: the durable job queue the worker consumes and the `cpu_metrics` store the bench,
//! the worker and the report share, on PostgreSQL (production) or an embedded SQLite file (single machine).
//!
//! [`Database`] is one handle over either backend; every method has the same meaning on both (one conformance test
//! suite runs against each). Queue protocol, for a worker:
//!
//! ```text
//! loop {
//!     match db.claim(worker_id, lease).await? {
//!         None => { db.wait_for_work(poll_interval).await; }
//!         Some(job) => {
//!             // while working: db.heartbeat(job.attempt, lease) every lease/3; false => lease lost, stop.
//!             // success: db.complete(job.attempt, result_key, &MetricsRow::from_run(&run, worker_id))
//!             // failure: db.fail(job.attempt, kind, message, &rows)   (retry with backoff or dead-letter)
//!             // shutdown: db.release(job.attempt)                      (back to queued, attempt not burnt)
//!         }
//!     }
//! }
//! ```

mod backoff;
mod columns;
mod error;
mod job;
mod metrics;
mod migrations;
mod pg;
mod reads;
mod sqlite;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rythmiq_types::ErrorKind;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How many times a job's worker may be lost (lease expired: SIGKILL, OOM kill, pod eviction, node loss) before
/// the job is dead-lettered as `interrupted`. Separate from, and larger than, the failure allowance
/// (`max_attempts`, 5 by default): an interruption says nothing about the document, but a document that kills
/// every worker that touches it must still end. Passed to each dialect's claim statement as a parameter.
pub const MAX_INTERRUPTIONS: u32 = 10;

pub use backoff::{Backoff, FailDecision};
pub use error::DbError;
pub use job::{
    Attempt, AttemptToken, ClaimedJob, Enqueued, FailOutcome, JobId, JobState, JobStatus, NewJob, QueueDepth, Wake,
};
pub use metrics::{ErrorCount, MetricsRow, MonthlyUsage, PathShare, StageCost, TimeRange};
pub use rythmiq_types::intake::JobKeys;

/// `url` (a PostgreSQL connection URL) with its database name replaced by `name`, query parameters kept: how tests,
/// benchmarks and tools reach a throwaway database on the server an admin URL names.
pub fn url_with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let base = base[authority..].find('/').map_or(base, |slash| &base[..authority + slash]);
    query.map_or(format!("{base}/{name}"), |q| format!("{base}/{name}?{q}"))
}

/// The NOTIFY channel the `jobs` triggers signal on (migrations/postgres/0001_jobs.sql).
pub const NOTIFY_CHANNEL: &str = "rythmiq_jobs";

/// Where the embedded database lives when no URL is given.
pub const DEFAULT_SQLITE_PATH: &str = "rythmiq-data/rythmiq.db";

/// How to reach the database. File, then `RYTHMIQ_*` environment, then flags, resolved by the binary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// `postgres://user@host:port/db` for PostgreSQL, `sqlite:path` for a given SQLite file; unset for the embedded
    /// SQLite file at `sqlite_path`. Also read from `DATABASE_URL` by the binary.
    pub url: Option<String>,
    /// The embedded database file; it and its folder are created if missing.
    pub sqlite_path: PathBuf,
    /// Pool size. Each concurrent pipeline holds a connection only for the length of one statement.
    pub max_connections: u32,
    /// How long a call waits for a pooled connection before failing as `Unavailable`.
    pub acquire_timeout_secs: f64,
    /// First retry delay ceiling after a retryable failure (see [`Backoff`]).
    pub retry_base_secs: f64,
    /// Largest retry delay ceiling.
    pub retry_max_secs: f64,
}

impl Default for DbConfig {
    fn default() -> Self {
        let backoff = Backoff::default();
        DbConfig {
            url: None,
            sqlite_path: PathBuf::from(DEFAULT_SQLITE_PATH),
            max_connections: 8,
            acquire_timeout_secs: 10.0,
            retry_base_secs: backoff.base.as_secs_f64(),
            retry_max_secs: backoff.max.as_secs_f64(),
        }
    }
}

impl DbConfig {
    /// Opens the pool (creating the SQLite file if needed). Does not migrate: call [`Database::migrate`].
    pub async fn connect(&self) -> Result<Database, DbError> {
        let positive = |value: f64, name: &str| {
            if value.is_finite() && value > 0.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(DbError::Invalid(format!("{name} must be a positive number of seconds")))
            }
        };
        let backoff = Backoff {
            base: positive(self.retry_base_secs, "retry_base_secs")?,
            max: positive(self.retry_max_secs, "retry_max_secs")?,
        };
        let acquire_timeout = positive(self.acquire_timeout_secs, "acquire_timeout_secs")?;
        let max_connections = self.max_connections.max(1);
        let backend = match self.url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|_| DbError::Invalid("unparseable PostgreSQL URL".into()))?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(options)
                    .await?;
                Backend::Postgres(pool)
            }
            Some(url) if url.starts_with("sqlite:") => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|_| DbError::Invalid("unparseable SQLite URL".into()))?;
                Backend::Sqlite(open_sqlite(options, None, max_connections, acquire_timeout).await?)
            }
            Some(_) => return Err(DbError::Invalid("database URL must start with postgres:// or sqlite:".into())),
            None => {
                let options = SqliteConnectOptions::new().filename(&self.sqlite_path);
                Backend::Sqlite(open_sqlite(options, Some(&self.sqlite_path), max_connections, acquire_timeout).await?)
            }
        };
        Ok(Database {
            inner: Arc::new(Inner {
                backend,
                backoff,
                wake: Arc::new(Notify::new()),
                listener_started: AtomicBool::new(false),
                listener: Mutex::new(None),
            }),
        })
    }
}

async fn open_sqlite(
    options: SqliteConnectOptions,
    path_opt: Option<&Path>,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<SqlitePool, DbError> {
    if let Some(parent) = path_opt.and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| DbError::Unavailable(sqlx::Error::Io(err)))?;
    }
    // WAL: readers never block the writer. synchronous=NORMAL: a power cut can lose the last commits (a job then
    // runs again), never corrupt the file. busy_timeout: SQLite has one writer; others wait for it rather than fail.
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await?)
}

/// Which engine a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Postgres,
    Sqlite,
}

/// A handle on the queue and the metrics store. Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("backend", &self.backend()).finish()
    }
}

struct Inner {
    backend: Backend,
    backoff: Backoff,
    /// Woken by the PostgreSQL listener task and by this process's own enqueue/release.
    wake: Arc<Notify>,
    listener_started: AtomicBool,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The listener task holds a connection of its own; it must not outlive the last handle.
        if let Some(task) = self.listener.lock().ok().and_then(|mut slot| slot.take()) {
            task.abort();
        }
    }
}

enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Database {
    /// `postgres://...` connects to PostgreSQL, `sqlite:...` to that SQLite file, `None` to the embedded SQLite file
    /// at [`DEFAULT_SQLITE_PATH`]. Default pool and retry settings; use [`DbConfig`] for others.
    pub async fn connect(url_opt: Option<&str>) -> Result<Database, DbError> {
        DbConfig { url: url_opt.map(str::to_string), ..DbConfig::default() }.connect().await
    }

    /// Connections of the pool: (in use, open, maximum). For the load test's "DB connections" and `/metrics`.
    pub fn pool_stats(&self) -> (u32, u32, u32) {
        let (size, idle, max) = match &self.inner.backend {
            Backend::Postgres(pool) => (pool.size(), pool.num_idle() as u32, pool.options().get_max_connections()),
            Backend::Sqlite(pool) => (pool.size(), pool.num_idle() as u32, pool.options().get_max_connections()),
        };
        (size.saturating_sub(idle), size, max)
    }

    pub fn backend(&self) -> BackendKind {
        match self.inner.backend {
            Backend::Postgres(_) => BackendKind::Postgres,
            Backend::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// The retry policy `fail` applies.
    pub fn backoff(&self) -> Backoff {
        self.inner.backoff
    }

    /// Applies the embedded migrations that are not applied yet. Idempotent, and safe to run from several processes
    /// at once (PostgreSQL takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match &self.inner.backend {
            Backend::Postgres(pool) => migrations::migrator(migrations::POSTGRES).await?.run(pool).await?,
            Backend::Sqlite(pool) => migrations::migrator(migrations::SQLITE).await?.run(pool).await?,
        }
        Ok(())
    }

    /// Closes the pool and stops the listener; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        if let Some(task) = self.inner.listener.lock().ok().and_then(|mut slot| slot.take()) {
            task.abort();
        }
        match &self.inner.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    // ---- queue ----

    /// Adds a job unless one with the same idempotency key (content hash + config hash) exists; either way returns
    /// its id, and whether this call created it.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, DbError> {
        if job.max_attempts == 0 {
            return Err(DbError::Invalid("max_attempts must be at least 1".into()));
        }
        let enqueued = match &self.inner.backend {
            Backend::Postgres(pool) => pg::enqueue(pool, job).await?,
            Backend::Sqlite(pool) => sqlite::enqueue(pool, job).await?,
        };
        if enqueued.created {
            self.inner.wake.notify_waiters();
        }
        Ok(enqueued)
    }

    /// `enqueue`, unless `max_pending` or more jobs are unfinished (queued, backing off or running): then `None`
    /// and nothing is written. Atomic under concurrency on both backends, so N simultaneous calls against room for
    /// k accept exactly k (PostgreSQL: the count and the insert run under one transaction-scoped advisory lock;
    /// SQLite: one `INSERT ... SELECT ... WHERE count < max` statement, which holds the single write lock from
    /// its first step). A duplicate of an existing job is always answered (`created: false`), full or not: it adds
    /// nothing to the queue.
    pub async fn enqueue_bounded(&self, job: &NewJob, max_pending: u64) -> Result<Option<Enqueued>, DbError> {
        if job.max_attempts == 0 {
            return Err(DbError::Invalid("max_attempts must be at least 1".into()));
        }
        let max_pending = i64::try_from(max_pending).map_err(|_| DbError::Invalid("max_pending".into()))?;
        let enqueued_opt = match &self.inner.backend {
            Backend::Postgres(pool) => pg::enqueue_bounded(pool, job, max_pending).await?,
            Backend::Sqlite(pool) => sqlite::enqueue_bounded(pool, job, max_pending).await?,
        };
        if enqueued_opt.as_ref().is_some_and(|e| e.created) {
            self.inner.wake.notify_waiters();
        }
        Ok(enqueued_opt)
    }

    /// Takes the next claimable job (highest priority, then oldest): a queued job whose `run_after` has come, or a
    /// running job whose lease expired (its worker died). The claim issues a new attempt token and leases the job
    /// to `worker_id` for `lease`. A queued job's claim counts an attempt (against `max_attempts`); a reclaim after
    /// a lost worker does not: it re-runs the interrupted attempt and counts an interruption instead (against
    /// [`MAX_INTERRUPTIONS`]), so crashes and evictions alone never use up a job's attempts. A job whose worker
    /// was lost for the `MAX_INTERRUPTIONS`-th time is dead-lettered (`interrupted`) instead of handed out again.
    pub async fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<ClaimedJob>, DbError> {
        let lease_secs = lease_secs(lease)?;
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::claim(pool, worker_id, lease_secs).await,
            Backend::Sqlite(pool) => sqlite::claim(pool, worker_id, lease_secs).await,
        }
    }

    /// Extends the lease to now + `lease`. `Ok(false)`: the attempt is stale (another worker has the job, or it
    /// finished); the caller must stop working on it.
    pub async fn heartbeat(&self, attempt: Attempt, lease: Duration) -> Result<bool, DbError> {
        let lease_secs = lease_secs(lease)?;
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::heartbeat(pool, attempt, lease_secs).await,
            Backend::Sqlite(pool) => sqlite::heartbeat(pool, attempt, lease_secs).await,
        }
    }

    /// Marks the job succeeded with its result key and inserts its `cpu_metrics` rows, in one transaction: both or
    /// neither. The rows' `job_id` and `attempt` are set from the job. `StaleAttempt` (nothing written) when the
    /// token no longer matches.
    pub async fn complete(&self, attempt: Attempt, result_key: &str, metrics: &[MetricsRow]) -> Result<(), DbError> {
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::complete(pool, attempt, result_key, metrics).await,
            Backend::Sqlite(pool) => sqlite::complete(pool, attempt, result_key, metrics).await,
        }
    }

    /// Records a failed attempt and its `cpu_metrics` rows (their `error_kind` defaulted to `kind`) in one
    /// transaction. A retryable kind with attempts left goes back to the queue after [`Backoff::delay`]; a
    /// permanent kind, or the last attempt, dead-letters the job with `kind` and `message`.
    pub async fn fail(
        &self,
        attempt: Attempt,
        kind: ErrorKind,
        message: &str,
        metrics: &[MetricsRow],
    ) -> Result<FailOutcome, DbError> {
        // Decided here, once, for both dialects; each one's statement only carries it out.
        let decision = FailDecision::decide(kind, attempt.number, attempt.max_attempts, &self.inner.backoff);
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::fail(pool, attempt, kind, message, metrics, decision).await,
            Backend::Sqlite(pool) => sqlite::fail(pool, attempt, kind, message, metrics, decision).await,
        }
    }

    /// Gives the job back without burning an attempt (graceful shutdown): queued and claimable at once.
    /// `StaleAttempt` when the token no longer matches.
    pub async fn release(&self, attempt: Attempt) -> Result<(), DbError> {
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::release(pool, attempt).await?,
            Backend::Sqlite(pool) => sqlite::release(pool, attempt).await?,
        }
        self.inner.wake.notify_waiters();
        Ok(())
    }

    /// A job's state, timestamps, attempts, keys and last error.
    pub async fn get_job(&self, id: JobId) -> Result<JobStatus, DbError> {
        let row_opt: Option<job::JobStatusRow> = match &self.inner.backend {
            Backend::Postgres(pool) => sqlx::query_as(job::JOB_STATUS).bind(id.0).fetch_optional(pool).await?,
            Backend::Sqlite(pool) => sqlx::query_as(job::JOB_STATUS).bind(id.to_string()).fetch_optional(pool).await?,
        };
        row_opt.ok_or(DbError::NotFound(id))?.into_status(id)
    }

    /// Jobs per state (finished successes are not counted).
    pub async fn queue_depth(&self) -> Result<QueueDepth, DbError> {
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::queue_depth(pool).await,
            Backend::Sqlite(pool) => sqlite::queue_depth(pool).await,
        }
    }

    /// Sleeps until a job may be claimable or `timeout` passes, whichever comes first; then call `claim`.
    /// On PostgreSQL a LISTEN connection (opened on first use) wakes every waiter on NOTIFY; enqueue and release
    /// in this process wake them on either backend. The timeout is the polling fallback: NOTIFY can be lost
    /// (a transaction-mode pooler drops it, a notification can fall between `claim` and this call) and retries
    /// become due without one, so keep it short (about a second).
    pub async fn wait_for_work(&self, timeout: Duration) -> Wake {
        let notified = self.inner.wake.notified();
        self.ensure_listener();
        match tokio::time::timeout(timeout, notified).await {
            Ok(()) => Wake::Notified,
            Err(_) => Wake::TimedOut,
        }
    }

    fn ensure_listener(&self) {
        let Backend::Postgres(pool) = &self.inner.backend else { return };
        if self.inner.listener_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let task = tokio::spawn(pg::listen(pool.clone(), self.inner.wake.clone()));
        if let Ok(mut slot) = self.inner.listener.lock() {
            *slot = Some(task);
        }
    }

    // ---- metrics store ----

    /// Inserts metrics rows as they are (the bench's, with no job), in one statement. Returns the number inserted.
    pub async fn insert_metrics(&self, rows: &[MetricsRow]) -> Result<u64, DbError> {
        if rows.is_empty() {
            return Ok(0);
        }
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::insert_metrics(pool, rows).await,
            Backend::Sqlite(pool) => sqlite::insert_metrics(pool, rows).await,
        }
    }

    /// The metrics rows recorded for a job, every attempt, ordered by attempt then stage.
    pub async fn metrics_for_job(&self, id: JobId) -> Result<Vec<MetricsRow>, DbError> {
        static SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let stage_order: Vec<String> = rythmiq_types::Stage::ALL
                .iter()
                .enumerate()
                .map(|(i, s)| format!("WHEN '{}' THEN {i}", s.as_str()))
                .collect();
            format!(
                "SELECT {} FROM cpu_metrics WHERE job_id = $1 ORDER BY attempt, CASE stage {} END",
                columns::select_list(),
                stage_order.join(" ")
            )
        });
        let records: Vec<columns::MetricsRecord> = match &self.inner.backend {
            Backend::Postgres(pool) => sqlx::query_as(SELECT.as_str()).bind(id.0).fetch_all(pool).await?,
            Backend::Sqlite(pool) => sqlx::query_as(SELECT.as_str()).bind(id.to_string()).fetch_all(pool).await?,
        };
        records.into_iter().map(columns::MetricsRecord::into_row).collect()
    }

    /// Runs one of the shared reads (`reads.rs`) over `[since, until)`, binding the range as each dialect stores
    /// time, and decodes its rows.
    async fn read_range<T>(
        &self,
        sql: &'static str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<T>, DbError>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow>,
    {
        Ok(match &self.inner.backend {
            Backend::Postgres(pool) => sqlx::query_as(sql).bind(since).bind(until).fetch_all(pool).await?,
            Backend::Sqlite(pool) => {
                sqlx::query_as(sql).bind(sqlite::ts(since)).bind(sqlite::ts(until)).fetch_all(pool).await?
            }
        })
    }

    /// The UTC month containing `as_of` against the budget (`budget_hours_opt`, else the stored setting): the
    /// month's totals from the database, the arithmetic of `get_monthly_cpu_usage()` in Rust, on both.
    pub async fn monthly_usage(
        &self,
        as_of: DateTime<Utc>,
        budget_hours_opt: Option<f64>,
    ) -> Result<MonthlyUsage, DbError> {
        if let Some(hours) = budget_hours_opt {
            positive_hours(hours)?;
        }
        let (lo, hi) = reads::month_bounds(as_of);
        let totals = self.read_range::<reads::MonthTotalsRow>(reads::MONTH_TOTALS, lo, hi).await?.pop();
        let totals = totals.ok_or(DbError::Query(sqlx::Error::RowNotFound))?;
        Ok(MonthlyUsage::from_totals(as_of, totals, budget_hours_opt))
    }

    /// Stores the monthly CPU budget that `get_monthly_cpu_usage()` and `daily_burn` use (default 200 hours).
    pub async fn set_monthly_budget_hours(&self, hours: f64) -> Result<(), DbError> {
        positive_hours(hours)?;
        const UPDATE: &str = "UPDATE rythmiq_settings SET monthly_cpu_budget_hours = $1";
        match &self.inner.backend {
            Backend::Postgres(pool) => {
                sqlx::query(UPDATE).bind(hours).execute(pool).await?;
            }
            Backend::Sqlite(pool) => {
                sqlx::query(UPDATE).bind(hours).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// CPU per stage over `range`, in pipeline order.
    pub async fn stage_breakdown(&self, range: TimeRange) -> Result<Vec<StageCost>, DbError> {
        let rows = self.read_range::<reads::StageCostRow>(reads::STAGE_BREAKDOWN, range.since, range.until).await?;
        let mut costs = rows.into_iter().map(StageCost::try_from).collect::<Result<Vec<_>, _>>()?;
        costs.sort_by_key(|cost| cost.stage);
        Ok(costs)
    }

    /// Documents per path over `range`, in route order (text_layer, fast, standard), then unrouted.
    pub async fn path_distribution(&self, range: TimeRange) -> Result<Vec<PathShare>, DbError> {
        let rows = self.read_range::<reads::PathShareRow>(reads::PATH_DISTRIBUTION, range.since, range.until).await?;
        let mut shares = rows.into_iter().map(PathShare::try_from).collect::<Result<Vec<_>, _>>()?;
        shares.sort_by_key(|share| (share.path.is_none(), share.path.map(|p| p as u8)));
        Ok(shares)
    }

    /// Failed document runs per error kind over `range`, most frequent first.
    pub async fn error_counts(&self, range: TimeRange) -> Result<Vec<ErrorCount>, DbError> {
        let rows = self.read_range::<reads::ErrorCountRow>(reads::ERROR_COUNTS, range.since, range.until).await?;
        let mut counts = rows.into_iter().map(ErrorCount::try_from).collect::<Result<Vec<_>, _>>()?;
        counts.sort_by(|a, b| b.documents.cmp(&a.documents).then(a.kind.as_str().cmp(b.kind.as_str())));
        Ok(counts)
    }

    /// Recomputes `cpu_metrics_daily` without blocking its readers (PostgreSQL); nothing to do on SQLite.
    pub async fn refresh_daily_view(&self) -> Result<(), DbError> {
        match &self.inner.backend {
            Backend::Postgres(pool) => pg::refresh_daily_view(pool).await,
            Backend::Sqlite(_) => Ok(()),
        }
    }
}

fn lease_secs(lease: Duration) -> Result<f64, DbError> {
    if lease.is_zero() || lease > Duration::from_secs(24 * 3600) {
        return Err(DbError::Invalid("lease must be between 0 and 24 hours".into()));
    }
    Ok(lease.as_secs_f64())
}

fn positive_hours(hours: f64) -> Result<(), DbError> {
    if hours.is_finite() && hours > 0.0 {
        Ok(())
    } else {
        Err(DbError::Invalid("budget must be a positive number of hours".into()))
    }
}

/// Decodes a stored enum name, failing as a query error (data this version cannot read) rather than panicking.
fn parse_stored<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, DbError> {
    parse(text).ok_or_else(|| DbError::Query(sqlx::Error::Decode(format!("unknown stored value {text:?}").into())))
}

#[cfg(test)]
mod url_tests {
    use super::url_with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(url_with_database("postgres://u@h:5432/test", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(url_with_database("postgres://u@h/test?sslmode=disable", "t1"), "postgres://u@h/t1?sslmode=disable");
        assert_eq!(url_with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
    }
}
