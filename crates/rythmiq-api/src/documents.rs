//! The `/v1/documents` handlers: submit a document (validate, store, enqueue), read a job's status, fetch its result.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rythmiq_db::{DbError, JobId, JobState, JobStatus, NewJob};
use rythmiq_storage::{StorageError, UriKeyError};
use rythmiq_types::{intake, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::sniff::{self, BodyKind};
use crate::{multipart, telemetry, ApiConfig, ApiError, AppState};

/// The JSON form of a submission: an object already in the service's bucket.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Submission {
    s3_uri: String,
}

/// The 202 answer to a submission.
#[derive(Serialize)]
struct Accepted {
    id: String,
    /// The job's state now: `queued` for a new job; for a duplicate, whatever state the existing job is in.
    status: &'static str,
    status_url: String,
    /// True when the same bytes were already submitted under the same pipeline config: no new job was created.
    duplicate: bool,
}

/// The answer to `GET /v1/documents/{id}`.
#[derive(Serialize)]
struct StatusBody {
    id: String,
    status: &'static str,
    attempts: u32,
    max_attempts: u32,
    enqueued_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    /// Enqueue to finish, once finished.
    latency_seconds: Option<f64>,
    error: Option<JobErrorBody>,
    /// Where the result document is, once the job succeeded.
    result_url: Option<String>,
}

#[derive(Serialize)]
struct JobErrorBody {
    kind: &'static str,
    message: String,
}

/// The API's name for a job state; `dead_lettered` is spelled out for clients (the database stores `dead`).
fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::DeadLettered => "dead_lettered",
    }
}

fn status_url(id: JobId) -> String {
    format!("/v1/documents/{id}")
}

/// `POST /v1/documents`. The checks run cheapest first, and all of them before anything is stored: content type
/// (415), declared length (413), queue depth (429), then the body is read under the limit (413, 400 when empty),
/// unwrapped (multipart or `s3_uri`), and sniffed (422).
pub(crate) async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let config = &state.config;
    let retry_after_secs = config.retry_after_secs;
    let content_type_opt = match headers.get(header::CONTENT_TYPE) {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::UnsupportedMediaType)?),
        None => None,
    };
    let kind = sniff::body_kind(content_type_opt).ok_or(ApiError::UnsupportedMediaType)?;

    let declared_len_opt = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_len_opt.is_some_and(|len| len > config.max_body_bytes) {
        return Err(ApiError::TooLarge { max_body_bytes: config.max_body_bytes });
    }

    // Backpressure before reading the body: a client that would be refused should not upload 50 MiB first.
    let depth = state.db.queue_depth().await.map_err(|err| ApiError::from_db(err, retry_after_secs, "queue depth"))?;
    if depth.pending() >= config.max_queue_depth {
        tracing::info!(
            pending = depth.pending(),
            max_queue_depth = config.max_queue_depth,
            "queue full: submission refused"
        );
        return Err(ApiError::QueueFull { retry_after_secs });
    }

    let body = read_body(body, config).await?;
    if body.is_empty() {
        return Err(ApiError::EmptyBody);
    }
    // Where the document's bytes come from, and whether they still need storing.
    let (document, existing_key_opt) = match kind {
        BodyKind::Raw => (body, None),
        BodyKind::Multipart { boundary } => {
            let part =
                multipart::file_part(&body, &boundary).map_err(|why| ApiError::InvalidRequest(why.to_string()))?;
            (part.to_vec(), None)
        }
        BodyKind::Json => {
            let submission: S3Submission = serde_json::from_slice(&body).map_err(|_| {
                ApiError::InvalidRequest("expected a JSON object {\"s3_uri\": \"s3://bucket/key\"}".to_string())
            })?;
            let key = s3_submission_key(&state, &submission.s3_uri)?;
            let bytes = fetch_named_input(&state, &key).await?;
            (bytes, Some(key))
        }
    };
    if document.is_empty() {
        return Err(ApiError::EmptyBody);
    }

    // The shared intake (`rythmiq_types::intake::admit`, as `rythmiq enqueue`): sniff, hash and the job's keys,
    // decided here once. Hashing 50 MiB is ~0.1 s of CPU: off the async workers, so other requests keep being
    // answered meanwhile.
    let fingerprint = state.config_hash.clone();
    let (document, admitted) = tokio::task::spawn_blocking(move || {
        let admitted = intake::admit(&document, &fingerprint);
        (document, admitted)
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "hashing task failed");
        ApiError::Internal
    })?;
    let admitted = admitted.map_err(|err| match err.kind {
        ErrorKind::EmptyInput => ApiError::EmptyBody,
        _ => ApiError::UnsupportedFormat,
    })?;
    let format = admitted.format;

    let input_key = match existing_key_opt {
        Some(key) => key,
        None => {
            // Content-addressed, so a re-submission rewrites identical bytes under the same key: idempotent.
            let key = admitted.keys.input_key(&config.input_prefix);
            state
                .store
                .put(&key, document, format.content_type())
                .await
                .map_err(|err| ApiError::from_storage(err, retry_after_secs, "store input"))?;
            key
        }
    };

    let job = NewJob::new(input_key, admitted.keys);
    // The check above keeps a refused client from uploading; this one is the limit itself, atomic in the
    // database, so simultaneous submissions cannot all pass the check and overfill the queue. (A refused
    // document's bytes stay stored under their content hash: a retry reuses them.)
    let enqueued = state
        .db
        .enqueue_bounded(&job, config.max_queue_depth)
        .await
        .map_err(|err| ApiError::from_db(err, retry_after_secs, "enqueue"))?
        .ok_or_else(|| {
            tracing::info!(max_queue_depth = config.max_queue_depth, "queue full at enqueue: submission refused");
            ApiError::QueueFull { retry_after_secs }
        })?;
    telemetry::document_submitted(!enqueued.created);
    let status = if enqueued.created {
        JobState::Queued
    } else {
        // A duplicate may be running or long finished: report where it is, not a pretend "queued".
        state
            .db
            .get_job(enqueued.id)
            .await
            .map_err(|err| ApiError::from_db(err, retry_after_secs, "duplicate status"))?
            .state
    };
    tracing::info!(job_id = %enqueued.id, duplicate = !enqueued.created, format = ?format, "document accepted");

    let url = status_url(enqueued.id);
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            id: enqueued.id.to_string(),
            status: state_name(status),
            status_url: url.clone(),
            duplicate: !enqueued.created,
        }),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&url) {
        headers.insert(header::LOCATION, location);
    }
    if !status.is_finished() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(config.poll_hint_secs));
    }
    Ok(response)
}

/// Reads the whole body, failing with 413 as soon as it passes `max_body_bytes` (a chunked upload declares no
/// length, so the declared-length check alone is not enough).
async fn read_body(mut body: Body, config: &ApiConfig) -> Result<Vec<u8>, ApiError> {
    let max_body_bytes = config.max_body_bytes;
    // The buffer grows with what arrives, never with what the client declared: a slow client declaring 50 MiB
    // reserves nothing up front.
    let mut bytes = Vec::new();
    let idle = Duration::from_secs(config.body_idle_timeout_secs);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.body_timeout_secs);
    loop {
        let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let next = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let Ok(frame_opt) = tokio::time::timeout(wait, next).await else {
            tracing::info!(received = bytes.len(), "request body timed out");
            return Err(ApiError::RequestTimeout);
        };
        let Some(frame) = frame_opt else { break };
        let frame = frame.map_err(|_| ApiError::InvalidRequest("the request body could not be read".to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > max_body_bytes {
                return Err(ApiError::TooLarge { max_body_bytes });
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// The store key of the object an `s3_uri` names: the store answers (`ObjectStore::key_of_uri`). It must be in
/// the store's bucket, and under its prefix when it sits under one (`s3://bucket/prod` serves
/// `s3://bucket/prod/in/a.jpg` as `in/a.jpg`); a store that is no bucket refuses them all.
fn s3_submission_key(state: &AppState, uri: &str) -> Result<String, ApiError> {
    state.store.key_of_uri(uri).map_err(|err| match err {
        UriKeyError::Malformed => ApiError::InvalidS3Uri("s3_uri must be s3://bucket/key"),
        UriKeyError::NoObject => ApiError::InvalidS3Uri("s3_uri names a bucket, not an object"),
        UriKeyError::OtherBucket => ApiError::BucketNotAllowed,
        UriKeyError::OutsidePrefix => {
            ApiError::InvalidS3Uri("s3_uri must name an object under the service's key prefix")
        }
    })
}

/// Reads the object a JSON submission names, to sniff and hash it like an upload. The store has no size query, so
/// the size limit is checked after the download.
async fn fetch_named_input(state: &AppState, key: &str) -> Result<Vec<u8>, ApiError> {
    let bytes = state.store.get(key).await.map_err(|err| match err {
        StorageError::NotFound(_) | StorageError::InvalidKey(_) => ApiError::InputNotFound,
        StorageError::AccessDenied(_) => ApiError::InputAccessDenied,
        other => ApiError::from_storage(other, state.config.retry_after_secs, "fetch named input"),
    })?;
    if bytes.len() as u64 > state.config.max_body_bytes {
        return Err(ApiError::TooLarge { max_body_bytes: state.config.max_body_bytes });
    }
    Ok(bytes)
}

/// Parses the `{id}` path segment; a rejection (bad percent-encoding) and a non-UUID are both 400.
fn job_id(path: Result<Path<String>, PathRejection>) -> Result<JobId, ApiError> {
    let Path(text) = path.map_err(|_| ApiError::InvalidId)?;
    text.parse().map_err(|_| ApiError::InvalidId)
}

async fn load_job(state: &AppState, id: JobId) -> Result<JobStatus, ApiError> {
    state.db.get_job(id).await.map_err(|err| match err {
        DbError::NotFound(_) => ApiError::NotFound("no document with this id"),
        other => ApiError::from_db(other, state.config.retry_after_secs, "job status"),
    })
}

/// `GET /v1/documents/{id}`.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(path)?;
    let job = load_job(&state, id).await?;
    let body = StatusBody {
        id: job.id.to_string(),
        status: state_name(job.state),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        enqueued_at: job.enqueued_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
        latency_seconds: job.latency().map(|latency| latency.as_secs_f64()),
        // While retrying this is the last failure; once dead-lettered, the reason. Messages come from the worker,
        // which writes them for clients (kinds and object keys, no host paths).
        error: job
            .error_kind
            .map(|kind| JobErrorBody { kind: kind.as_str(), message: job.error_message.clone().unwrap_or_default() }),
        result_url: (job.state == JobState::Succeeded).then(|| format!("{}/result", status_url(job.id))),
    };
    let mut response = Json(body).into_response();
    if !job.state.is_finished() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(state.config.poll_hint_secs));
    }
    Ok(response)
}

/// `GET /v1/documents/{id}/result`: the result document, as the worker stored it.
pub(crate) async fn result(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(path)?;
    let job = load_job(&state, id).await?;
    match job.state {
        JobState::Queued | JobState::Running => return Err(ApiError::NotReady),
        JobState::DeadLettered => return Err(ApiError::DeadLettered),
        JobState::Succeeded => {}
    }
    // The key intake decided, which `complete` accepted the worker's result under.
    let result_key = job.keys.result_key.as_str();
    // A missing object here was deleted behind the queue's back (a lifecycle rule, a manual cleanup): an operator
    // problem, logged as an error and answered 500 like any other broken invariant.
    let bytes = state
        .store
        .get(result_key)
        .await
        .map_err(|err| ApiError::from_storage(err, state.config.retry_after_secs, "fetch result"))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response())
}
