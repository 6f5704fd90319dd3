//! The typed failure of a database call: callers branch on it (retry, drop the attempt, answer 404), and its
//! Display never carries SQL text, connection strings or host paths.

use crate::JobId;

/// What went wrong talking to the queue or the metrics store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database did not answer: connection refused or lost, pool exhausted, disk I/O, lock timeout.
    /// Retryable: the same call may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The attempt token no longer matches: the lease expired and another worker claimed the job, or the job
    /// already finished. The caller must drop its work on the job; nothing was written.
    #[error("stale attempt on job {job_id}: the job was reclaimed or has finished")]
    StaleAttempt { job_id: JobId },
    /// `complete` named another result key than the one the job was admitted with (`NewJob::keys`); nothing was
    /// written. A worker that writes results elsewhere than intake decided is refused, not recorded.
    #[error("job {job_id}: the result key is not the one the job was admitted with")]
    ResultKeyMismatch { job_id: JobId },
    /// No such job.
    #[error("job {0} not found")]
    NotFound(JobId),
    /// A write collided with existing data (for example a second set of metrics rows for one document run).
    #[error("conflicting write: {0}")]
    Conflict(&'static str),
    /// The caller passed something the database cannot store (an unsupported URL, a negative duration).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The migrations could not be applied (or an applied migration was edited afterwards).
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The database answered with an error that retrying will not fix, or with data this version cannot read.
    #[error("database query failed")]
    Query(#[source] sqlx::Error),
}

impl DbError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> DbError {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => DbError::Unavailable(err),
            sqlx::Error::Database(db_err) => {
                let code = db_err.code();
                let code = code.as_deref().unwrap_or("");
                if is_transient_code(code) {
                    DbError::Unavailable(err)
                } else if db_err.is_unique_violation() {
                    DbError::Conflict("unique constraint violated")
                } else {
                    DbError::Query(err)
                }
            }
            _ => DbError::Query(err),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(err: sqlx::migrate::MigrateError) -> DbError {
        match err {
            sqlx::migrate::MigrateError::Execute(inner) if is_transient(&inner) => DbError::Unavailable(inner),
            other => DbError::Migration(other),
        }
    }
}

/// Whether a sqlx error is transient (the migration runner wraps the driver's error).
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db_err) => is_transient_code(db_err.code().as_deref().unwrap_or("")),
        _ => false,
    }
}

/// SQLSTATEs (PostgreSQL) and result codes (SQLite) after which the same statement can succeed later.
fn is_transient_code(code: &str) -> bool {
    // PostgreSQL: class 08 connection exception, 53 insufficient resources, 57P0x shutdown/cannot connect now,
    // 40001 serialization failure, 40P01 deadlock.
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        // SQLite result codes are at most four digits (SQLSTATEs always five): SQLITE_BUSY (5) and SQLITE_LOCKED (6)
        // with their extended codes, SQLITE_IOERR (10), SQLITE_FULL (13).
        || (code.len() < 5 && matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6 | 10 | 13)))
}
