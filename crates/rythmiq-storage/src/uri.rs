//! Storage locations as the CLI and the API take them: `s3://bucket/key`, `file:///dir`, or a plain local path.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{validate_key, LocalStore, ObjectStore, OpenError, S3Config};

/// Why an object URI names no object of a store ([`ObjectStore::key_of_uri`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriKeyError {
    #[error("not an object URI: expected s3://bucket/key")]
    Malformed,
    #[error("the URI names a bucket, not an object")]
    NoObject,
    #[error("the object is not in this store's bucket")]
    OtherBucket,
    #[error("the object is not under this store's key prefix")]
    OutsidePrefix,
}

/// The key of `uri`'s object in the store on `bucket_prefix` (bucket, key prefix without slashes), or, for a
/// store that is no bucket (`None`), why not.
pub(crate) fn key_of_uri(uri: &str, bucket_prefix: Option<(&str, &str)>) -> Result<String, UriKeyError> {
    let Ok(StoreUri::S3 { bucket, key }) = StoreUri::parse(uri) else {
        return Err(UriKeyError::Malformed);
    };
    if key.is_empty() {
        return Err(UriKeyError::NoObject);
    }
    match bucket_prefix {
        Some((own_bucket, prefix)) if own_bucket == bucket => {
            if prefix.is_empty() {
                return Ok(key);
            }
            key.strip_prefix(&format!("{prefix}/"))
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
                .ok_or(UriKeyError::OutsidePrefix)
        }
        _ => Err(UriKeyError::OtherBucket),
    }
}

/// A parsed storage location. Whether it names a store (a directory, a bucket and prefix) or one object (a file, a
/// bucket and key) depends on the caller: [`StoreUri::open`] treats it as a store, [`StoreUri::split_object`] as an
/// object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUri {
    /// A directory or file on the local filesystem.
    Local(PathBuf),
    /// `s3://bucket/key`. `key` is empty for the bucket root and otherwise follows the key rules, without a trailing
    /// `/`.
    S3 { bucket: String, key: String },
}

impl StoreUri {
    /// Parses `s3://bucket[/key]`, `file:///path`, or a local path. Other schemes (`gs://`, `http://`) are refused
    /// rather than mistaken for relative paths.
    pub fn parse(location: &str) -> Result<StoreUri, OpenError> {
        let invalid =
            |reason: &str| Err(OpenError::InvalidUri { uri: location.to_string(), reason: reason.to_string() });
        let trimmed = location.trim();
        if trimmed.is_empty() {
            return invalid("empty location");
        }
        if let Some(rest) = trimmed.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return invalid("no bucket after s3://");
            }
            // A trailing `/` is how people write a prefix (`s3://b/results/`); it is not part of the key.
            let key = key.trim_end_matches('/');
            if !key.is_empty() && validate_key(key).is_err() {
                return invalid("the key must be relative, '/'-separated and free of '..' and empty segments");
            }
            return Ok(StoreUri::S3 { bucket: bucket.to_string(), key: key.to_string() });
        }
        if let Some(path) = trimmed.strip_prefix("file://") {
            if path.is_empty() {
                return invalid("no path after file://");
            }
            return Ok(StoreUri::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = trimmed.split_once("://") {
            if !scheme.is_empty() && !scheme.contains('/') {
                return invalid("unsupported scheme: use s3://bucket/prefix or a local path");
            }
        }
        Ok(StoreUri::Local(PathBuf::from(trimmed)))
    }

    /// Opens the store at this location: a [`LocalStore`] on the directory (created if missing), or an S3 store on
    /// the bucket and prefix, with `s3` supplying everything else (endpoint, region, timeouts; its `bucket` and
    /// `prefix` are replaced).
    ///
    /// An S3 store binds to the tokio runtime of its first call: open one per thread or runtime that uses it (see
    /// the crate docs).
    pub fn open(&self, s3: &S3Config) -> Result<Arc<dyn ObjectStore>, OpenError> {
        match self {
            StoreUri::Local(dir) => Ok(Arc::new(LocalStore::new(dir)?)),
            #[cfg(feature = "s3")]
            StoreUri::S3 { bucket, key } => {
                let config = S3Config { bucket: bucket.clone(), prefix: key.clone(), ..s3.clone() };
                Ok(Arc::new(config.build()?))
            }
            #[cfg(not(feature = "s3"))]
            StoreUri::S3 { .. } => {
                let _ = s3;
                Err(OpenError::InvalidConfig(format!(
                    "{self} needs S3 support; this binary was built without the `s3` feature of rythmiq-storage"
                )))
            }
        }
    }

    /// Splits an object's location into the store holding it and its key, for reading one input:
    /// `s3://b/in/a.jpg` becomes (`s3://b`, `in/a.jpg`) and `/data/in/a.jpg` becomes (`/data/in`, `a.jpg`).
    pub fn split_object(&self) -> Result<(StoreUri, String), OpenError> {
        let invalid = |reason: &str| Err(OpenError::InvalidUri { uri: self.to_string(), reason: reason.to_string() });
        match self {
            StoreUri::S3 { bucket, key } => {
                if key.is_empty() {
                    return invalid("names a bucket, not an object");
                }
                Ok((StoreUri::S3 { bucket: bucket.clone(), key: String::new() }, key.clone()))
            }
            StoreUri::Local(path) => {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    return invalid("names no file (or its name is not UTF-8)");
                };
                if validate_key(name).is_err() {
                    return invalid("the file name is not a valid key");
                }
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => Path::new(".").to_path_buf(),
                };
                Ok((StoreUri::Local(parent), name.to_string()))
            }
        }
    }
}

impl fmt::Display for StoreUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUri::Local(path) => write!(f, "{}", path.display()),
            StoreUri::S3 { bucket, key } if key.is_empty() => write!(f, "s3://{bucket}"),
            StoreUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Opens a store from `--storage`-style input: `s3://bucket/prefix` (endpoint, region and credentials from the
/// standard AWS environment) or a directory. Use [`StoreUri::open`] to pass S3 settings from a config file.
pub fn open_store(location: &str) -> Result<Arc<dyn ObjectStore>, OpenError> {
    StoreUri::parse(location)?.open(&S3Config::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_uris_map_to_keys_of_the_store_they_name() {
        let prod = Some(("b", "prod"));
        assert_eq!(key_of_uri("s3://b/prod/in/a.jpg", prod), Ok("in/a.jpg".to_string()));
        assert_eq!(key_of_uri("s3://b/in/a.jpg", Some(("b", ""))), Ok("in/a.jpg".to_string()));
        assert_eq!(key_of_uri("s3://b/elsewhere/a.jpg", prod), Err(UriKeyError::OutsidePrefix));
        assert_eq!(key_of_uri("s3://b/prodx/a.jpg", prod), Err(UriKeyError::OutsidePrefix));
        assert_eq!(key_of_uri("s3://other/prod/a.jpg", prod), Err(UriKeyError::OtherBucket));
        assert_eq!(key_of_uri("s3://b", prod), Err(UriKeyError::NoObject));
        assert_eq!(key_of_uri("https://example.com/a.png", prod), Err(UriKeyError::Malformed));
        assert_eq!(key_of_uri("s3://b/../a", prod), Err(UriKeyError::Malformed));
        // A directory store serves no bucket.
        assert_eq!(key_of_uri("s3://b/prod/in/a.jpg", None), Err(UriKeyError::OtherBucket));
        let dir = tempfile::tempdir().unwrap();
        let local = crate::LocalStore::new(dir.path()).unwrap();
        assert_eq!(local.key_of_uri("s3://b/a.png"), Err(UriKeyError::OtherBucket));
        assert_eq!(local.key_of_uri("/etc/passwd"), Err(UriKeyError::Malformed));
    }

    #[test]
    fn parses_s3_file_and_plain_paths() {
        let s3 = |bucket: &str, key: &str| StoreUri::S3 { bucket: bucket.into(), key: key.into() };
        assert_eq!(StoreUri::parse("s3://bucket").unwrap(), s3("bucket", ""));
        assert_eq!(StoreUri::parse("s3://bucket/").unwrap(), s3("bucket", ""));
        assert_eq!(StoreUri::parse("s3://bucket/in/a.jpg").unwrap(), s3("bucket", "in/a.jpg"));
        assert_eq!(StoreUri::parse("s3://bucket/results/").unwrap(), s3("bucket", "results"));
        assert_eq!(StoreUri::parse("file:///srv/data").unwrap(), StoreUri::Local("/srv/data".into()));
        assert_eq!(StoreUri::parse("./rythmiq-data").unwrap(), StoreUri::Local("./rythmiq-data".into()));
        assert_eq!(StoreUri::parse("/tmp/x").unwrap(), StoreUri::Local("/tmp/x".into()));
        assert_eq!(StoreUri::parse("s3://b/in/a.jpg").unwrap().to_string(), "s3://b/in/a.jpg");
    }

    #[test]
    fn refuses_what_it_cannot_open() {
        for bad in
            ["", "  ", "s3://", "s3:///key", "s3://b/a/../etc", "s3://b/a//b", "gs://b/k", "http://h/x", "file://"]
        {
            assert!(StoreUri::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn splits_objects_into_store_and_key() {
        let (store, key) = StoreUri::parse("s3://b/in/a.jpg").unwrap().split_object().unwrap();
        assert_eq!((store.to_string(), key.as_str()), ("s3://b".to_string(), "in/a.jpg"));
        let (store, key) = StoreUri::parse("/data/in/a.jpg").unwrap().split_object().unwrap();
        assert_eq!((store, key.as_str()), (StoreUri::Local("/data/in".into()), "a.jpg"));
        let (store, key) = StoreUri::parse("a.jpg").unwrap().split_object().unwrap();
        assert_eq!((store, key.as_str()), (StoreUri::Local(".".into()), "a.jpg"));
        assert!(StoreUri::parse("s3://b").unwrap().split_object().is_err());
        assert!(StoreUri::parse("/").unwrap().split_object().is_err());
    }

    #[test]
    fn open_store_picks_the_backend() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(store.describe(), format!("file://{}", dir.path().display()));
        #[cfg(feature = "s3")]
        {
            // Building an S3 store reaches no server, so this runs without one.
            let store = open_store("s3://rythmiq-results/prod/").unwrap();
            assert_eq!(store.describe(), "s3://rythmiq-results/prod");
        }
        assert!(open_store("s3://Bad_Bucket/x").is_err());
        #[cfg(not(feature = "s3"))]
        {
            let err = open_store("s3://rythmiq-results/prod").unwrap_err();
            assert!(err.to_string().contains("`s3` feature"), "{err}");
        }
    }
}
