//! Optional bearer-token authentication for the `/v1` routes, compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// Middleware: with a configured token, refuses requests under `/v1` whose `Authorization` is not
/// `Bearer <token>` (401), whether or not the route exists. Without one, and outside `/v1` (probes, `/metrics`),
/// lets everything through.
pub(crate) async fn require_bearer(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = request.uri().path();
    let guarded = path == "/v1" || path.starts_with("/v1/");
    if let Some(expected) = state.config.auth_token.as_deref().filter(|_| guarded) {
        let presented =
            request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(bearer_token);
        match presented {
            Some(token) if token_matches(token, expected) => {}
            // The presented value is never logged: a near-miss token is still a secret.
            _ => return Err(ApiError::Unauthorized),
        }
    }
    Ok(next.run(request).await)
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares the SHA-256 digests of both tokens in constant time. Hashing first makes the comparison independent
/// of the tokens' lengths as well as their contents, so timing reveals neither the length nor a matching prefix.
fn token_matches(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    let diff = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares_tokens() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert!(token_matches("secret-token", "secret-token"));
        assert!(!token_matches("secret-tokeN", "secret-token"));
        assert!(!token_matches("secret", "secret-token"));
        assert!(!token_matches("", "secret-token"));
    }
}
