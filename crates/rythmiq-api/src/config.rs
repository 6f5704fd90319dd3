//! `ApiConfig`: the serde half of the HTTP API (address, limits, backpressure, auth), validated by `validate()`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize, Serializer};

/// What the HTTP API listens on and what it accepts. File, then `RYTHMIQ_*` environment, then flags, resolved by
/// the binary.
///
/// `Debug` and `Serialize` mask `auth_token`, so printing the effective config (`rythmiq config`) or logging it
/// never shows the secret. A serialized config therefore does not round-trip the token: it is meant for humans.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port the server binds. Default `127.0.0.1:8000` (loopback); containers set `0.0.0.0:8000`.
    pub listen_addr: SocketAddr,
    /// Serve `/v1` without `auth_token` on a non-loopback address. Off: `serve` refuses to start that way, so an
    /// open API is always an explicit choice (and it logs a warning when made). Loopback needs no choice.
    pub allow_unauthenticated: bool,
    /// Largest accepted request body in bytes (document bytes, multipart form or JSON); larger answers 413.
    pub max_body_bytes: u64,
    /// Unfinished jobs (queued, backing off or running) at which `POST /v1/documents` starts answering 429 rather
    /// than accepting work the workers cannot finish in time. The queue never grows past it through the API.
    pub max_queue_depth: u64,
    /// Seconds clients are told to wait (`Retry-After`) after a 429 or a 503.
    pub retry_after_secs: u64,
    /// Bearer token every `/v1` route requires when set (`Authorization: Bearer <token>`). Compared in constant
    /// time; never logged or printed. Unset: no authentication (probes and `/metrics` never need it).
    #[serde(serialize_with = "mask_secret")]
    pub auth_token: Option<String>,
    /// Object-store key prefix for uploaded documents, stored as `{input_prefix}{sha256}`. Empty, or ends with `/`.
    pub input_prefix: String,
    /// Seconds a client should wait before polling an unfinished job again (`Retry-After` on 202 and on the status
    /// of a queued or running job).
    pub poll_hint_secs: u64,
    /// After the shutdown signal, how long requests in flight may take to finish before `serve` returns anyway.
    pub shutdown_grace_secs: u64,
    /// Longest time a request's line and headers may take to arrive, counted from when the connection is ready
    /// for a request: a new connection, or a keep-alive one after its last response. Past it the connection is
    /// closed without an answer, so it bounds both a slow-loris head and an idle keep-alive connection.
    pub header_read_timeout_secs: u64,
    /// Longest pause between two pieces of a request body before the request is answered 408 and dropped.
    pub body_idle_timeout_secs: u64,
    /// Longest time a whole request body may take to arrive (50 MiB at 1 MB/s is under a minute).
    pub body_timeout_secs: u64,
}

/// 50 MiB: a 600 dpi A4 colour scan as PNG is about 30 MB; more is not a page.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 50 * 1024 * 1024;

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            allow_unauthenticated: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_queue_depth: 1000,
            retry_after_secs: 30,
            auth_token: None,
            input_prefix: "inputs/".to_string(),
            poll_hint_secs: 2,
            shutdown_grace_secs: 30,
            header_read_timeout_secs: 10,
            body_idle_timeout_secs: 20,
            body_timeout_secs: 300,
        }
    }
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("listen_addr", &self.listen_addr)
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_queue_depth", &self.max_queue_depth)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("auth_token", &self.auth_token.as_ref().map(|_| MASK))
            .field("input_prefix", &self.input_prefix)
            .field("poll_hint_secs", &self.poll_hint_secs)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("body_idle_timeout_secs", &self.body_idle_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .finish()
    }
}

/// What a configured secret prints as.
const MASK: &str = "********";

fn mask_secret<S: Serializer>(secret: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some(MASK),
        None => serializer.serialize_none(),
    }
}

/// A config value the API cannot run with.
#[derive(Debug, thiserror::Error)]
#[error("invalid api config: {0}")]
pub struct ConfigError(String);

impl ApiConfig {
    /// Checks every field; `serve` calls it, and the binary should call it at startup to fail before binding.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError(msg.to_string()));
        if self.max_body_bytes == 0 {
            return invalid("max_body_bytes must be at least 1");
        }
        if usize::try_from(self.max_body_bytes).is_err() {
            return invalid("max_body_bytes does not fit in memory on this platform");
        }
        if self.max_queue_depth == 0 {
            return invalid("max_queue_depth must be at least 1");
        }
        if self.retry_after_secs == 0 {
            return invalid("retry_after_secs must be at least 1");
        }
        if self.poll_hint_secs == 0 {
            return invalid("poll_hint_secs must be at least 1");
        }
        if self.header_read_timeout_secs == 0 {
            return invalid("header_read_timeout_secs must be at least 1");
        }
        if self.body_idle_timeout_secs == 0 || self.body_timeout_secs < self.body_idle_timeout_secs {
            return invalid("body_idle_timeout_secs must be at least 1 and at most body_timeout_secs");
        }
        if let Some(token) = &self.auth_token {
            // An empty token would make `Authorization: Bearer ` a valid credential: a misconfiguration, not a
            // choice. Whitespace or control characters cannot survive an HTTP header.
            if token.trim().is_empty() {
                return invalid("auth_token must not be empty (unset it to disable authentication)");
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return invalid("auth_token must be printable ASCII without spaces");
            }
        }
        if !self.input_prefix.is_empty() {
            let probe = format!("{}0", self.input_prefix);
            if !self.input_prefix.ends_with('/') || rythmiq_storage::validate_key(&probe).is_err() {
                return invalid("input_prefix must be empty or a relative key prefix ending with '/' (e.g. inputs/)");
            }
        }
        Ok(())
    }

    /// Whether serving on `bound` is allowed: without a token, only on loopback or with `allow_unauthenticated`.
    /// `serve` calls it with the address it actually bound. `Ok(true)`: allowed but open to the network (the
    /// caller warns).
    pub fn check_exposure(&self, bound: SocketAddr) -> Result<bool, ConfigError> {
        if self.auth_token.is_some() || bound.ip().is_loopback() {
            return Ok(false);
        }
        if self.allow_unauthenticated {
            return Ok(true);
        }
        Err(ConfigError(format!(
            "refusing to serve /v1 without authentication on {bound}, which is not a loopback address: set \
             RYTHMIQ_API_TOKEN (or [api] auth_token), listen on 127.0.0.1, or choose an open API explicitly \
             with --allow-unauthenticated (RYTHMIQ_ALLOW_UNAUTHENTICATED=true, [api] allow_unauthenticated)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_on_port_8000() {
        let config = ApiConfig::default();
        config.validate().unwrap();
        assert_eq!(config.listen_addr.port(), 8000);
        assert_eq!(config.max_body_bytes, 50 << 20);
    }

    #[test]
    fn an_open_api_off_loopback_is_an_explicit_choice() {
        let open = ApiConfig::default();
        let public: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        assert!(!open.check_exposure("127.0.0.1:8000".parse().unwrap()).unwrap());
        assert!(!open.check_exposure("[::1]:8000".parse().unwrap()).unwrap());
        let err = open.check_exposure(public).unwrap_err().to_string();
        assert!(err.contains("0.0.0.0:8000") && err.contains("RYTHMIQ_API_TOKEN"), "{err}");
        let chosen = ApiConfig { allow_unauthenticated: true, ..ApiConfig::default() };
        assert!(chosen.check_exposure(public).unwrap());
        let with_token = ApiConfig { auth_token: Some("t0ken".into()), ..ApiConfig::default() };
        assert!(!with_token.check_exposure(public).unwrap());
    }

    #[test]
    fn the_token_never_prints() {
        let config = ApiConfig { auth_token: Some("s3cr3t-t0ken-value".into()), ..ApiConfig::default() };
        assert!(!format!("{config:?}").contains("s3cr3t"));
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains("s3cr3t"), "{json}");
        assert!(json.contains(MASK));
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let err = serde_json::from_str::<ApiConfig>(r#"{"max_body":5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let parsed: ApiConfig = serde_json::from_str(r#"{"listen_addr":"127.0.0.1:9000"}"#).unwrap();
        assert_eq!(parsed.listen_addr.port(), 9000);
        assert_eq!(parsed.input_prefix, "inputs/");
        for bad in [
            ApiConfig { max_body_bytes: 0, ..ApiConfig::default() },
            ApiConfig { max_queue_depth: 0, ..ApiConfig::default() },
            ApiConfig { header_read_timeout_secs: 0, ..ApiConfig::default() },
            ApiConfig { auth_token: Some(String::new()), ..ApiConfig::default() },
            ApiConfig { auth_token: Some("has a space in it ok".into()), ..ApiConfig::default() },
            ApiConfig { auth_token: Some("  \t ".into()), ..ApiConfig::default() },
            ApiConfig { input_prefix: "inputs".into(), ..ApiConfig::default() },
            ApiConfig { input_prefix: "../inputs/".into(), ..ApiConfig::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?} accepted");
        }
        ApiConfig { input_prefix: String::new(), ..ApiConfig::default() }.validate().unwrap();
    }
}
