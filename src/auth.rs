//! Helpers for the host's authentication layer: TAXII-shaped 401 answers and a
//! constant-time comparison for secrets.
//!
//! TAXII leaves authentication to the host (§1.6.9): a request that needs
//! credentials and lacks them gets 401 with a `WWW-Authenticate` challenge. These
//! helpers let any tower or axum layer answer that in TAXII's form, so that clients
//! that parse every error as TAXII JSON (cytaxii2, rstix) cope.
//!
//! ```
//! let response = tower_taxii::auth::unauthorized("Bearer realm=\"taxii\"", "a valid bearer token is required");
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"taxii\"");
//! assert_eq!(response.headers()["content-type"], "application/taxii+json;version=2.1");
//! assert!(tower_taxii::auth::constant_time_eq(b"s3cret", b"s3cret"));
//! assert!(!tower_taxii::auth::constant_time_eq(b"s3cret", b"s3creT"));
//! ```

use http::{HeaderValue, Response, StatusCode, header};

use crate::body::TaxiiBody;
use crate::error::TaxiiError;

/// 401 with `WWW-Authenticate: {challenge}` and a TAXII error message body.
pub fn unauthorized(challenge: &str, description: &str) -> Response<TaxiiBody> {
    let mut response = TaxiiError::new(StatusCode::UNAUTHORIZED, "Unauthorized")
        .description(description)
        .into_response();
    let challenge = HeaderValue::from_str(challenge).unwrap_or(HeaderValue::from_static("Bearer"));
    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// Whether two byte strings are equal, taking the same time wherever they differ
/// (the time depends only on the longer length), so a token cannot be guessed a
/// byte at a time from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"", b"\0"));
    }
}
