//! `S3Config`: the serde half of the S3 backend, validated by `build()` into an `S3Store`.
//!
//! This file compiles without the `s3` feature so that config files and the CLI keep one shape whichever backends
//! a binary was built with; only `build()` needs the SDK.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{validate_key, OpenError};

/// Where and how to reach an S3 bucket. Build one [`S3Store`](crate::S3Store) per thread that owns a tokio runtime:
/// see [`S3Config::build`].
///
/// Credentials are deliberately not part of it: they come from the standard AWS chain (`AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, the shared profile files, web identity, ECS, EC2 instance
/// metadata), so a config file or `rythmiq config` output never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket holding the objects. It must exist: the store never creates buckets on its own (see
    /// `S3Store::ensure_bucket` for test and single-node setups).
    #[serde(default)]
    pub bucket: String,
    /// Prepended with a `/` to every key (`prod` + `results/a.json` -> `prod/results/a.json`); empty for the bucket
    /// root. Leading and trailing `/` are ignored; the rest follows the key rules.
    #[serde(default)]
    pub prefix: String,
    /// Base URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`. Unset: `AWS_ENDPOINT_URL_S3`, then
    /// `AWS_ENDPOINT_URL`, then AWS's own endpoint for `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region requests are signed for. Unset: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `us-east-1`, which is what
    /// most S3-compatible servers expect.
    #[serde(default)]
    pub region: Option<String>,
    /// Address a bucket as `endpoint/bucket/key` rather than `bucket.endpoint/key`. Servers reached by IP or on
    /// loopback need it, and it works on AWS too, so it is on by default.
    #[serde(default = "default_force_path_style")]
    pub force_path_style: bool,
    /// Time allowed to open a connection (TCP and TLS), per attempt.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// Time allowed for one whole call (`get`, `put`, ...), every retry and backoff included; past it the call
    /// fails as `Unavailable`. Bounds how long a worker can hang on storage.
    #[serde(default = "default_operation_timeout_secs")]
    pub operation_timeout_secs: u64,
    /// Attempts per call, the first included, for failures worth retrying (connection errors, throttling, 5xx);
    /// 1 disables retries. Permanent failures (not found, access denied) are never retried.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_force_path_style() -> bool {
    true
}
fn default_connect_timeout_secs() -> u64 {
    5
}
fn default_operation_timeout_secs() -> u64 {
    60
}
fn default_max_attempts() -> u32 {
    3
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: String::new(),
            prefix: String::new(),
            endpoint: None,
            region: None,
            force_path_style: default_force_path_style(),
            connect_timeout_secs: default_connect_timeout_secs(),
            operation_timeout_secs: default_operation_timeout_secs(),
            max_attempts: default_max_attempts(),
        }
    }
}

/// An `S3Config` after validation and environment fallbacks: what `S3Store` is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
// Without the `s3` feature only `validate()` reads it.
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(crate) struct ResolvedS3Config {
    pub bucket: String,
    /// Empty, or a valid key without leading or trailing `/`.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub force_path_style: bool,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    pub max_attempts: u32,
}

impl S3Config {
    /// A config for `bucket` with every other field at its default.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config { bucket: bucket.into(), ..S3Config::default() }
    }

    /// Checks every field (and the environment fallbacks) as `build()` would, without building anything: for
    /// `rythmiq config` and for binaries built without the `s3` feature.
    pub fn validate(&self) -> Result<(), OpenError> {
        self.resolve().map(|_| ())
    }

    /// Checks every field and applies the environment fallbacks, without touching the network.
    pub(crate) fn resolve(&self) -> Result<ResolvedS3Config, OpenError> {
        self.resolve_with_env(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// `resolve` with the environment passed in, so tests need not mutate the process environment.
    pub(crate) fn resolve_with_env(&self, env: impl Fn(&str) -> Option<String>) -> Result<ResolvedS3Config, OpenError> {
        let invalid = |msg: String| Err(OpenError::InvalidConfig(format!("s3: {msg}")));
        validate_bucket(&self.bucket)?;

        let prefix = self.prefix.trim_matches('/').to_string();
        if !prefix.is_empty() && validate_key(&prefix).is_err() {
            return invalid(format!("prefix {:?} is not a valid key", self.prefix));
        }

        let endpoint = self
            .endpoint
            .clone()
            .filter(|e| !e.trim().is_empty())
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"));
        if let Some(endpoint) = &endpoint {
            validate_endpoint(endpoint)?;
        }

        let region = self
            .region
            .clone()
            .filter(|r| !r.trim().is_empty())
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_string());

        if self.connect_timeout_secs == 0 {
            return invalid("connect_timeout_secs must be at least 1".into());
        }
        if self.operation_timeout_secs == 0 {
            return invalid("operation_timeout_secs must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return invalid("max_attempts must be at least 1 (1 means no retries)".into());
        }

        Ok(ResolvedS3Config {
            bucket: self.bucket.clone(),
            prefix,
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            region,
            force_path_style: self.force_path_style,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            operation_timeout: Duration::from_secs(self.operation_timeout_secs),
            max_attempts: self.max_attempts,
        })
    }
}

/// S3's bucket naming rules, checked up front so a typo fails at startup rather than as a 400 on the first job.
fn validate_bucket(bucket: &str) -> Result<(), OpenError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric()
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(OpenError::InvalidConfig(format!(
            "s3: bucket {bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')"
        )))
    }
}

/// The SDK would only notice a malformed endpoint on the first request; say so at build time instead.
fn validate_endpoint(endpoint: &str) -> Result<(), OpenError> {
    let rest = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        // Userinfo in the URL would end up in logs and `describe()` callers; credentials belong in the chain.
        Some(host) if host.contains('@') => Err(OpenError::InvalidConfig(
            "s3: endpoint must not contain credentials; use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY".into(),
        )),
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err(OpenError::InvalidConfig(format!("s3: endpoint {endpoint:?} is not an http:// or https:// URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_and_env_fallbacks() {
        let resolved = S3Config::new("bucket").resolve_with_env(no_env).unwrap();
        assert_eq!(resolved.region, "us-east-1");
        assert_eq!(resolved.endpoint, None);
        assert!(resolved.force_path_style);

        let env = |name: &str| match name {
            "AWS_REGION" => Some("eu-west-3".to_string()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9000/".to_string()),
            _ => None,
        };
        let resolved = S3Config::new("bucket").resolve_with_env(env).unwrap();
        assert_eq!(resolved.region, "eu-west-3");
        assert_eq!(resolved.endpoint.as_deref(), Some("http://127.0.0.1:9000"));

        // An explicit field wins over the environment.
        let cfg = S3Config {
            region: Some("ap-south-1".into()),
            endpoint: Some("https://s3.example".into()),
            ..S3Config::new("bucket")
        };
        let resolved = cfg.resolve_with_env(env).unwrap();
        assert_eq!(resolved.region, "ap-south-1");
        assert_eq!(resolved.endpoint.as_deref(), Some("https://s3.example"));
    }

    #[test]
    fn prefix_is_normalised_and_checked() {
        let cfg = S3Config { prefix: "/prod/results/".into(), ..S3Config::new("bucket") };
        assert_eq!(cfg.resolve_with_env(no_env).unwrap().prefix, "prod/results");
        for bad in ["a/../b", "a//b", "./a"] {
            let cfg = S3Config { prefix: bad.into(), ..S3Config::new("bucket") };
            assert!(cfg.resolve_with_env(no_env).is_err(), "prefix {bad:?} accepted");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for bucket in ["", "ab", "Upper", "-lead", "trail-", "a..b", "under_score", &"x".repeat(64)] {
            assert!(S3Config::new(bucket).resolve_with_env(no_env).is_err(), "bucket {bucket:?} accepted");
        }
        for endpoint in ["127.0.0.1:9000", "ftp://x", "http://", "http://key:secret@host"] {
            let cfg = S3Config { endpoint: Some(endpoint.into()), ..S3Config::new("bucket") };
            assert!(cfg.resolve_with_env(no_env).is_err(), "endpoint {endpoint:?} accepted");
        }
        let zeroes = [
            S3Config { connect_timeout_secs: 0, ..S3Config::new("bucket") },
            S3Config { operation_timeout_secs: 0, ..S3Config::new("bucket") },
            S3Config { max_attempts: 0, ..S3Config::new("bucket") },
        ];
        for cfg in zeroes {
            assert!(cfg.resolve_with_env(no_env).is_err(), "{cfg:?} accepted");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<S3Config>(r#"{"bucket":"b","operation_timeout":5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let cfg: S3Config = serde_json::from_str(r#"{"bucket":"b","operation_timeout_secs":5}"#).unwrap();
        assert_eq!(cfg.operation_timeout_secs, 5);
        assert_eq!(cfg.max_attempts, 3);
    }
}
