//! Object storage behind one trait, [`ObjectStore`]: inputs are fetched from it and results uploaded to it.
//!
//! Backends: [`LocalStore`] (a directory; the embedded default) and, with the `s3` feature (on by default),
//! `S3Store` (AWS S3 or any S3-compatible server). Keys are relative, `/`-separated, and never contain `..`: a key can
//! never name a file outside the store. [`open_store`] and [`StoreUri`] turn `s3://bucket/prefix` or a directory into
//! a store.
//!
//! Hidden contract: an `S3Store` belongs to one tokio runtime (its connection pool lives there). Threads that own a
//! runtime each build their own store from a shared [`S3Config`]; building is synchronous and cheap.
//!
//! Invariant: the pipeline sees storage only through `ObjectStore`; nothing outside this crate knows a backend.

mod local;
#[cfg(feature = "s3")]
mod s3;
mod s3_config;
mod uri;

pub use local::LocalStore;
#[cfg(feature = "s3")]
pub use s3::S3Store;
pub use s3_config::S3Config;
pub use uri::{open_store, StoreUri, UriKeyError};

use rythmiq_types::{ErrorKind, PipelineError};

/// Why a storage call failed, split the way retries need it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("access to {0} denied")]
    AccessDenied(String),
    #[error("invalid object key {0:?}: keys are relative, '/'-separated and never contain '..'")]
    InvalidKey(String),
    /// Timeouts, connection failures, server errors: worth retrying.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::NotFound(_) | StorageError::InvalidKey(_) => ErrorKind::NotFound,
            StorageError::AccessDenied(_) => ErrorKind::AccessDenied,
            StorageError::Unavailable(_) => ErrorKind::StorageUnavailable,
        }
    }
}

impl From<StorageError> for PipelineError {
    fn from(err: StorageError) -> Self {
        PipelineError::new(err.kind(), err.to_string())
    }
}

/// Why a store could not be opened: a bad location or config (fix it, do not retry), or a local directory that
/// cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid storage location {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("invalid storage config: {0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A flat namespace of immutable-ish objects. `put` replaces atomically: a reader sees the old object or the new
/// one, never a part, so a retried upload under the same key is idempotent.
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError>;
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError>;
    async fn exists(&self, key: &str) -> Result<bool, StorageError>;
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// A human-readable location (`file:///srv/data`, `s3://bucket/prefix`), never with credentials.
    fn describe(&self) -> String;

    /// The key, in this store, of the object a client names by URI: for an S3 store on `bucket` under `prefix`,
    /// `s3://bucket/prefix/<key>` is `<key>`. So a caller (the API's `{"s3_uri": ...}` submissions) needs to know
    /// neither the backend nor its prefix. A store that serves no object URIs (a directory) refuses every
    /// well-formed one as [`UriKeyError::OtherBucket`].
    fn key_of_uri(&self, uri: &str) -> Result<String, UriKeyError> {
        uri::key_of_uri(uri, None)
    }
}

/// Checks that `key` is relative, non-empty and free of `..` and empty segments.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        Err(StorageError::InvalidKey(key.to_string()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn keys_cannot_escape_the_store() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b"] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "inputs/2026/x.jpg", "results/ab.json"] {
            assert!(validate_key(good).is_ok(), "{good:?} refused");
        }
    }
}
