//! `ApiError`: every way a request can fail, each with a status code and a stable machine-readable code.
//!
//! The response body is `{"error": {"code": "...", "message": "..."}}`. Messages are written here, for clients:
//! database and storage errors are logged with their detail and answered with a fixed text, so SQL, connection
//! strings, object keys and host paths never reach a response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rythmiq_db::DbError;
use rythmiq_storage::StorageError;
use serde_json::json;

/// Why a request failed. The variant decides the status and the code; the payload is a client-facing message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `empty_body`.
    #[error("the request body is empty")]
    EmptyBody,
    /// 400 `invalid_id`: the path does not hold a job id (a UUID).
    #[error("not a document id: expected a UUID")]
    InvalidId,
    /// 400 `invalid_request`: a malformed JSON body or multipart form, or a body cut short.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer`.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// 404 `not_found`: no such document (or route).
    #[error("{0}")]
    NotFound(&'static str),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 409 `not_ready`: the job has not finished yet.
    #[error("the document has not been processed yet; poll its status")]
    NotReady,
    /// 409 `dead_lettered`: the job failed for good, so there is no result; its status says why.
    #[error("the document failed and has no result; its status holds the error")]
    DeadLettered,
    /// 413 `too_large`.
    #[error("the request body is larger than {max_body_bytes} bytes")]
    TooLarge { max_body_bytes: u64 },
    /// 415 `unsupported_media_type`.
    #[error("unsupported content type: send image bytes (image/jpeg, image/png, image/tiff, image/bmp, image/webp, image/gif, application/octet-stream), multipart/form-data with one file, or application/json with s3_uri")]
    UnsupportedMediaType,
    /// 422 `unsupported_format`: the bytes are no image format the OCR reads (a PDF, text, ...).
    #[error("the document is not an image in a supported format (JPEG, PNG, TIFF, BMP, GIF, WebP, PNM, JPEG 2000)")]
    UnsupportedFormat,
    /// 422 `invalid_s3_uri`: `s3_uri` is not `s3://bucket/key`, or names a key outside the store.
    #[error("{0}")]
    InvalidS3Uri(&'static str),
    /// 422 `bucket_not_allowed`: `s3_uri` names a bucket other than the configured one (or none is configured).
    #[error("s3_uri must name an object in the configured bucket")]
    BucketNotAllowed,
    /// 422 `not_found`: `s3_uri` names an object that does not exist.
    #[error("the object named by s3_uri does not exist")]
    InputNotFound,
    /// 422 `access_denied`: the store refuses to read the object named by `s3_uri`.
    #[error("the object named by s3_uri cannot be read with the service's credentials")]
    InputAccessDenied,
    /// 408 `request_timeout`: the body stalled longer than `body_idle_timeout_secs` or took longer than
    /// `body_timeout_secs` in all (a slow-loris client holds nothing for long).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 429 `queue_full`, with `Retry-After`.
    #[error("the queue is full; retry later")]
    QueueFull { retry_after_secs: u64 },
    /// 503 `unavailable`, with `Retry-After`: the database or the object store did not answer.
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable { retry_after_secs: u64 },
    /// 503 `not_ready`: the readiness probe failed.
    #[error("{0}")]
    NotReadyToServe(&'static str),
    /// 500 `internal`: a broken invariant; details are in the server log only.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::EmptyBody | ApiError::InvalidId | ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotReady | ApiError::DeadLettered => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UnsupportedFormat
            | ApiError::InvalidS3Uri(_)
            | ApiError::BucketNotAllowed
            | ApiError::InputNotFound
            | ApiError::InputAccessDenied => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } | ApiError::NotReadyToServe(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients branch on. Renaming one is a breaking API change.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::EmptyBody => "empty_body",
            ApiError::InvalidId => "invalid_id",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) | ApiError::InputNotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NotReady | ApiError::NotReadyToServe(_) => "not_ready",
            ApiError::DeadLettered => "dead_lettered",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnsupportedFormat => "unsupported_format",
            ApiError::InvalidS3Uri(_) => "invalid_s3_uri",
            ApiError::BucketNotAllowed => "bucket_not_allowed",
            ApiError::InputAccessDenied => "access_denied",
            ApiError::QueueFull { .. } => "queue_full",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    /// A database error as a response. Logs the detail (the error's source chain holds the driver's message, which
    /// may quote SQL) and answers without it.
    pub(crate) fn from_db(err: DbError, retry_after_secs: u64, during: &'static str) -> ApiError {
        match err {
            DbError::Unavailable(_) => {
                tracing::warn!(error = %rythmiq_types::ErrorChain(&err), during, "database unavailable");
                ApiError::Unavailable { retry_after_secs }
            }
            other => {
                tracing::error!(error = ?other, during, "database call failed");
                ApiError::Internal
            }
        }
    }

    /// A storage error on the service's own objects (uploads, results) as a response; see [`ApiError::from_db`].
    pub(crate) fn from_storage(err: StorageError, retry_after_secs: u64, during: &'static str) -> ApiError {
        match err {
            StorageError::Unavailable(_) => {
                tracing::warn!(error = %rythmiq_types::ErrorChain(&err), during, "storage unavailable");
                ApiError::Unavailable { retry_after_secs }
            }
            other => {
                tracing::error!(error = %other, during, "storage call failed");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::QueueFull { retry_after_secs } | ApiError::Unavailable { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_and_storage_detail_never_reach_the_client() {
        let api = ApiError::from_db(DbError::Invalid("SELECT * FROM jobs WHERE id = $1".into()), 5, "test");
        assert_eq!((api.status(), api.code()), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        assert!(!api.to_string().contains("SELECT"));
        let api = ApiError::from_storage(StorageError::Unavailable("/srv/data/inputs/x: EIO".into()), 7, "test");
        assert_eq!((api.status(), api.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
        assert!(!api.to_string().contains("/srv"));
        let response = api.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
