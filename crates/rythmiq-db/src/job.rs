//! The queue's vocabulary: what is enqueued, what a claim hands out, what a status lookup returns.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rythmiq_types::intake::JobKeys;
use rythmiq_types::ErrorKind;
use uuid::Uuid;

use crate::columns::parse_uuid;
use crate::{parse_stored, DbError};

/// A job's id: a random UUID, so ids leak nothing about volume and never collide across databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub Uuid);

impl JobId {
    pub fn new_random() -> JobId {
        JobId(Uuid::new_v4())
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl std::str::FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(text: &str) -> Result<JobId, uuid::Error> {
        Uuid::parse_str(text).map(JobId)
    }
}

/// The fencing token of one claim. Every claim of a job gets a larger one, so the holder of an older token can
/// never heartbeat, complete, fail or release the job again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptToken(pub i64);

/// The handle of one claimed attempt: which job, under which token, and which attempt of how many (so that `fail`
/// decides retry or dead-letter before its statement runs). Every call after `claim` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub job_id: JobId,
    pub token: AttemptToken,
    /// This attempt's number, 1 for the first (a reclaim after a lost worker re-runs the same number).
    pub number: u32,
    pub max_attempts: u32,
}

/// A document to process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// Object-store key of the input document.
    pub input_key: String,
    /// What intake decided: content hash, config fingerprint, result key. Stored on the row and handed to the
    /// worker with every claim.
    pub keys: JobKeys,
    /// Higher is claimed first; ties go to the oldest.
    pub priority: i32,
    /// Attempts before a retryable failure is dead-lettered (at least 1).
    pub max_attempts: u32,
}

impl NewJob {
    /// A job with priority 0 and [`NewJob::DEFAULT_MAX_ATTEMPTS`] attempts.
    pub fn new(input_key: impl Into<String>, keys: JobKeys) -> NewJob {
        NewJob { input_key: input_key.into(), keys, priority: 0, max_attempts: NewJob::DEFAULT_MAX_ATTEMPTS }
    }

    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

    /// Enqueueing the same bytes under the same configuration twice yields one job.
    pub fn idempotency_key(&self) -> String {
        self.keys.idempotency_key()
    }
}

/// The answer to an enqueue: the job's id, and whether this call created it (false: it already existed, in
/// whatever state it is now).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub id: JobId,
    pub created: bool,
}

/// A job handed to one worker until `locked_until`, unless a heartbeat extends it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedJob {
    pub attempt: Attempt,
    /// 1 for the first attempt (`attempt.number`).
    pub attempt_no: u32,
    pub max_attempts: u32,
    pub input_key: String,
    /// The keys intake decided; the worker verifies them against its own config and uses them as they are.
    pub keys: JobKeys,
    pub priority: i32,
    pub enqueued_at: DateTime<Utc>,
    /// When the lease runs out (database clock on PostgreSQL).
    pub locked_until: DateTime<Utc>,
}

impl ClaimedJob {
    pub fn id(&self) -> JobId {
        self.attempt.job_id
    }
}

/// What a claim statement returns, on either database (the id cast to text).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    id: String,
    attempt_token: i64,
    attempts: i32,
    max_attempts: i32,
    input_key: String,
    content_sha256: String,
    config_hash: String,
    result_key: String,
    priority: i32,
    enqueued_at: DateTime<Utc>,
    locked_until: DateTime<Utc>,
}

fn count(n: i32) -> Result<u32, DbError> {
    u32::try_from(n).map_err(|_| DbError::Query(sqlx::Error::Decode(format!("negative count {n}").into())))
}

impl TryFrom<ClaimedRow> for ClaimedJob {
    type Error = DbError;
    fn try_from(row: ClaimedRow) -> Result<ClaimedJob, DbError> {
        let number = count(row.attempts)?;
        let max_attempts = count(row.max_attempts)?;
        Ok(ClaimedJob {
            attempt: Attempt {
                job_id: JobId(parse_uuid(&row.id)?),
                token: AttemptToken(row.attempt_token),
                number,
                max_attempts,
            },
            attempt_no: number,
            max_attempts,
            input_key: row.input_key,
            keys: JobKeys {
                content_sha256: row.content_sha256,
                config_fingerprint: row.config_hash,
                result_key: row.result_key,
            },
            priority: row.priority,
            enqueued_at: row.enqueued_at,
            locked_until: row.locked_until,
        })
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting to be claimed, possibly not before `run_after` (a retry backing off).
    Queued,
    /// Claimed by a worker whose lease may or may not still be valid.
    Running,
    Succeeded,
    /// Failed permanently or ran out of attempts; `error_kind` and `error_message` say why.
    DeadLettered,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::DeadLettered => "dead",
        }
    }

    pub fn parse(name: &str) -> Option<JobState> {
        match name {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "succeeded" => Some(JobState::Succeeded),
            "dead" => Some(JobState::DeadLettered),
            _ => None,
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::DeadLettered)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the API reports about a job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobStatus {
    pub id: JobId,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub priority: i32,
    pub input_key: String,
    /// What intake decided; `keys.result_key` is where the result is once the job succeeded.
    pub keys: JobKeys,
    pub enqueued_at: DateTime<Utc>,
    /// First claim.
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Not claimable before this.
    pub run_after: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    /// The last failure: kept while retrying, the dead-letter reason once dead, cleared on success.
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
}

/// `get_job`'s statement, the same on both databases.
pub(crate) const JOB_STATUS: &str = "SELECT status, attempts, max_attempts, priority, input_key, content_sha256, \
     config_hash, result_key, enqueued_at, started_at, finished_at, run_after, locked_by, locked_until, error_kind, \
     error_message FROM jobs WHERE id = $1";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct JobStatusRow {
    status: String,
    attempts: i32,
    max_attempts: i32,
    priority: i32,
    input_key: String,
    content_sha256: String,
    config_hash: String,
    result_key: String,
    enqueued_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    run_after: DateTime<Utc>,
    locked_by: Option<String>,
    locked_until: Option<DateTime<Utc>>,
    error_kind: Option<String>,
    error_message: Option<String>,
}

impl JobStatusRow {
    pub(crate) fn into_status(self, id: JobId) -> Result<JobStatus, DbError> {
        Ok(JobStatus {
            id,
            state: parse_stored(&self.status, JobState::parse)?,
            attempts: count(self.attempts)?,
            max_attempts: count(self.max_attempts)?,
            priority: self.priority,
            input_key: self.input_key,
            keys: JobKeys {
                content_sha256: self.content_sha256,
                config_fingerprint: self.config_hash,
                result_key: self.result_key,
            },
            enqueued_at: self.enqueued_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            run_after: self.run_after,
            locked_by: self.locked_by,
            locked_until: self.locked_until,
            error_kind: self.error_kind.as_deref().map(|k| parse_stored(k, ErrorKind::parse)).transpose()?,
            error_message: self.error_message,
        })
    }
}

impl JobStatus {
    /// End-to-end latency: enqueue to finish, once finished.
    pub fn latency(&self) -> Option<Duration> {
        self.finished_at.and_then(|end| (end - self.enqueued_at).to_std().ok())
    }

    /// Time spent waiting before the first claim.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.started_at.and_then(|start| (start - self.enqueued_at).to_std().ok())
    }
}

/// What `fail` did with the job.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FailOutcome {
    /// Queued again, claimable from `run_after`.
    Retrying { run_after: DateTime<Utc>, attempts: u32 },
    /// Permanent error, or attempts exhausted.
    DeadLettered { attempts: u32 },
}

/// How many jobs are where, for the API, the autoscaler and the load test's "queue depth".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Queued and claimable now.
    pub ready: u64,
    /// Queued, backing off until a later `run_after`.
    pub delayed: u64,
    pub running: u64,
    pub dead_lettered: u64,
}

impl QueueDepth {
    /// Jobs not yet finished.
    pub fn pending(&self) -> u64 {
        self.ready + self.delayed + self.running
    }
}

/// Why `wait_for_work` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A job was enqueued or released (NOTIFY, or in-process).
    Notified,
    /// The timeout passed: poll anyway, a notification may have been lost (poolers drop them).
    TimedOut,
}
