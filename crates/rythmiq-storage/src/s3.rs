//! `S3Store`: an S3 bucket (AWS or any S3-compatible server) as an `ObjectStore`, through `aws-sdk-s3`.
//!
//! Hidden contract: one `S3Store` per tokio runtime. The SDK's HTTP client keeps a connection pool whose connection
//! tasks are spawned on the runtime that first used them; a pooled connection handed to a call running on another
//! runtime (or kept after its runtime was dropped) fails with "dispatch task is gone". The pipeline runs storage
//! calls from dedicated threads that each own a current-thread runtime, so each such thread builds its own store
//! from a shared `S3Config`. Building is cheap and synchronous, and the SDK client itself is created lazily by the
//! first call, on the runtime of that call.

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use crate::s3_config::ResolvedS3Config;
use crate::{validate_key, ObjectStore, OpenError, S3Config, StorageError};

/// An S3 bucket, optionally under a key prefix. Not `Clone` on purpose: a clone would share the connection pool,
/// which is only correct on one runtime; build another store from the config instead.
pub struct S3Store {
    config: ResolvedS3Config,
    /// Set only by [`S3Config::build_with_credentials`]; `None` means the standard AWS credential chain.
    static_credentials: Option<Credentials>,
    /// Created by the first call, on that call's runtime; see the module docs.
    client: tokio::sync::OnceCell<Client>,
}

impl std::fmt::Debug for S3Store {
    // Hand-written so that static credentials, which `Credentials` already redacts, stay out of the picture too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.describe())
            .field("endpoint", &self.config.endpoint)
            .field("region", &self.config.region)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// Validates the config and returns a store that uses the standard AWS credential chain.
    ///
    /// Synchronous and free of I/O: it needs no runtime, reaches no server, and captures no runtime. Call it once
    /// per thread (or runtime) that will use the store; the store binds to the runtime of its first call.
    pub fn build(&self) -> Result<S3Store, OpenError> {
        Ok(S3Store { config: self.resolve()?, static_credentials: None, client: tokio::sync::OnceCell::new() })
    }

    /// [`build`](Self::build) with fixed credentials instead of the chain: for tests (a second, wrong key pair next
    /// to the right one in one process) and for embedding. Production configs use the chain.
    pub fn build_with_credentials(&self, access_key_id: &str, secret_access_key: &str) -> Result<S3Store, OpenError> {
        let credentials = Credentials::new(access_key_id, secret_access_key, None, None, "rythmiq-static");
        Ok(S3Store {
            config: self.resolve()?,
            static_credentials: Some(credentials),
            client: tokio::sync::OnceCell::new(),
        })
    }
}

impl S3Store {
    pub fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// The key prefix, without leading or trailing `/`; empty for the bucket root.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// Creates the bucket if it does not exist yet. Production buckets are provisioned outside the worker; this
    /// is for tests and single-node setups with a fresh S3-compatible server.
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        let client = self.client().await;
        let bucket = &self.config.bucket;
        match client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(err) => match map_sdk_error(&format!("bucket {bucket}"), err) {
                StorageError::NotFound(_) => {}
                other => return Err(other),
            },
        }
        match client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            // Lost a race with another process creating it: the bucket exists, which is all we wanted.
            Err(err) if matches!(err.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => Ok(()),
            Err(err) => Err(map_sdk_error(&format!("bucket {bucket}"), err)),
        }
    }

    async fn client(&self) -> &Client {
        self.client.get_or_init(|| self.new_client()).await
    }

    async fn new_client(&self) -> Client {
        let cfg = &self.config;
        let region = Region::new(cfg.region.clone());
        let credentials = match &self.static_credentials {
            Some(credentials) => SharedCredentialsProvider::new(credentials.clone()),
            // Built here rather than in `build()` because it is async (it may read profile files); its own HTTP
            // clients (web identity, ECS, IMDS) therefore also belong to this runtime.
            None => {
                SharedCredentialsProvider::new(DefaultCredentialsChain::builder().region(region.clone()).build().await)
            }
        };
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(cfg.connect_timeout)
            .operation_timeout(cfg.operation_timeout)
            .build();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .force_path_style(cfg.force_path_style)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(cfg.max_attempts))
            // Spelled out although they are today's defaults: CRC checksums on upload and verified on download are
            // what catch a corrupted or torn body from an S3-compatible server. Servers too old to accept the
            // checksum headers are not supported.
            .request_checksum_calculation(RequestChecksumCalculation::WhenSupported)
            .response_checksum_validation(ResponseChecksumValidation::WhenSupported);
        if let Some(endpoint) = &cfg.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        // No `http_client` is set: the SDK then creates a fresh default client (and pool) per `Client`, which is
        // what makes one store per runtime correct. Sharing an `SdkConfig`'s client would undo that.
        Client::from_conf(builder.build())
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(if self.config.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.config.prefix) })
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let full_key = self.full_key(key)?;
        let output = self
            .client()
            .await
            .get_object()
            .bucket(&self.config.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|e| map_sdk_error(key, e))?;
        // The body streams after the headers: a connection lost mid-body is a transient failure like any other, and
        // so is a checksum mismatch, which is how a server that is not atomic (s3s-fs, racing a put) shows a torn
        // object: the caller retries and reads one whole version.
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(format!("{key}: reading body: {}", error_chain(&e))))?;
        Ok(body.into_bytes().to_vec())
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        let full_key = self.full_key(key)?;
        // A single PutObject is atomic in S3: readers see the old object or the new one. Multipart uploads are
        // not used; the pipeline's objects (pages, result documents) stay far below the 5 GiB single-put limit.
        self.client()
            .await
            .put_object()
            .bucket(&self.config.bucket)
            .key(&full_key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| map_sdk_error(key, e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let full_key = self.full_key(key)?;
        let result = self.client().await.head_object().bucket(&self.config.bucket).key(&full_key).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match map_sdk_error(key, err) {
                StorageError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let full_key = self.full_key(key)?;
        // S3 answers 204 whether or not the object existed, so delete is idempotent without a HEAD first.
        let result = self.client().await.delete_object().bucket(&self.config.bucket).key(&full_key).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match map_sdk_error(key, err) {
                // Some S3-compatible servers answer 404 for a missing key; deleting it is still done.
                StorageError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    fn key_of_uri(&self, uri: &str) -> Result<String, crate::UriKeyError> {
        crate::uri::key_of_uri(uri, Some((&self.config.bucket, &self.config.prefix)))
    }

    fn describe(&self) -> String {
        if self.config.prefix.is_empty() {
            format!("s3://{}", self.config.bucket)
        } else {
            format!("s3://{}/{}", self.config.bucket, self.config.prefix)
        }
    }
}

/// Sorts an SDK failure into the kinds retries branch on. `what` names the object (or bucket) for the message.
fn map_sdk_error<E>(what: &str, err: SdkError<E>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            // Code and message only: the full error context dumps the raw response, headers and body included.
            let (code, message) = (service.err().code(), service.err().message());
            let detail = format!("{} {}", code.unwrap_or("(no code)"), message.unwrap_or("")).trim_end().to_string();
            classify(what, service.raw().status().as_u16(), code, &detail)
        }
        SdkError::TimeoutError(_) => StorageError::Unavailable(format!("{what}: timed out")),
        SdkError::DispatchFailure(_) => {
            StorageError::Unavailable(format!("{what}: cannot reach server: {}", error_chain(&err)))
        }
        // A response that could not be parsed, a request that could not be built, or a variant added later: none
        // says the object is missing or forbidden, so let the caller retry and eventually dead-letter.
        _ => StorageError::Unavailable(format!("{what}: {}", error_chain(&err))),
    }
}

/// The `Display` of an error and its sources, joined with `: `. `DisplayErrorContext` would append the `Debug` form
/// too, which for the SDK includes the raw response: too much for a log line or a job's error field.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let text = next.to_string();
        // Wrappers often repeat their source's text; keep each piece once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = next.source();
    }
    out
}

/// Error codes first, then the status: HEAD responses carry no body, so a 404 or 403 there has no code at all.
fn classify(what: &str, status: u16, code: Option<&str>, detail: &str) -> StorageError {
    match code {
        Some("NoSuchKey" | "NotFound" | "NoSuchBucket") => return StorageError::NotFound(what.to_string()),
        Some(
            "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AllAccessDisabled"
            | "AccountProblem"
            | "ExpiredToken"
            | "InvalidToken"
            | "TokenRefreshRequired",
        ) => return StorageError::AccessDenied(what.to_string()),
        _ => {}
    }
    match status {
        404 => StorageError::NotFound(what.to_string()),
        401 | 403 => StorageError::AccessDenied(what.to_string()),
        // 5xx, 408, 429 and anything unrecognised. An unknown 4xx (a malformed request) is not truly retryable, but
        // `StorageError` has no "rejected" kind; retrying it a bounded number of times is the lesser harm.
        _ => StorageError::Unavailable(format!("{what}: HTTP {status}: {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::classify;
    use crate::StorageError;

    #[test]
    fn error_codes_and_statuses_map_to_kinds() {
        let kind = |status, code| classify("k", status, code, "detail");
        assert!(matches!(kind(404, Some("NoSuchKey")), StorageError::NotFound(_)));
        assert!(matches!(kind(404, None), StorageError::NotFound(_)));
        assert!(matches!(kind(404, Some("NoSuchBucket")), StorageError::NotFound(_)));
        for code in ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"] {
            assert!(matches!(kind(403, Some(code)), StorageError::AccessDenied(_)), "{code}");
        }
        assert!(matches!(kind(403, None), StorageError::AccessDenied(_)));
        for (status, code) in [(500, Some("InternalError")), (503, Some("SlowDown")), (503, None), (429, None)] {
            assert!(matches!(kind(status, code), StorageError::Unavailable(_)), "{status} {code:?}");
        }
    }
}
