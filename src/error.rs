//! TAXII error responses (§3.6.1): every failure the service reports is an error
//! message JSON with the TAXII `Content-Type`, and `http_status` (a string) equal to
//! the HTTP status code.
//!
//! [`TaxiiError`] is public so that a host's own layers (authentication, rate
//! limiting) can answer in the same form:
//!
//! ```
//! use http::StatusCode;
//! use tower_taxii::TaxiiError;
//!
//! let response = TaxiiError::new(StatusCode::UNAUTHORIZED, "Authentication required")
//!     .description("Send a bearer token.")
//!     .into_response();
//! assert_eq!(response.status(), 401);
//! assert_eq!(response.headers()["content-type"], "application/taxii+json;version=2.1");
//! ```

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::body::TaxiiBody;
use crate::resources::TAXII_MEDIA_TYPE;

/// A TAXII error: an HTTP status plus the error message resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxiiError {
    status: StatusCode,
    title: String,
    description: Option<String>,
}

#[derive(Serialize)]
struct ErrorResource<'a> {
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    http_status: &'a str,
}

impl TaxiiError {
    /// An error with this status and title.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title: title.into(),
            description: None,
        }
    }

    /// Adds a human-readable description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// 400 for a malformed request.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request").description(description)
    }

    /// 404 for anything that does not exist, or that the principal may not see.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found").description(description)
    }

    /// 403 for something the principal sees but may not do.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden").description(description)
    }

    /// 406 when the `Accept` header names no TAXII 2.1 media type.
    pub fn not_acceptable() -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "Not acceptable").description(format!(
            "this server answers with {TAXII_MEDIA_TYPE}; send an Accept header that allows it"
        ))
    }

    /// The HTTP response: the error JSON with the TAXII `Content-Type`.
    pub fn into_response(self) -> Response<TaxiiBody> {
        let status_text = self.status.as_u16().to_string();
        let resource = ErrorResource {
            title: &self.title,
            description: self.description.as_deref(),
            http_status: &status_text,
        };
        let json = serde_json::to_vec(&resource).unwrap_or_else(|_| b"{\"title\":\"Internal error\"}".to_vec());
        let mut response = Response::new(TaxiiBody::from(json));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA_TYPE));
        response
    }
}

impl fmt::Display for TaxiiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.title)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TaxiiError {}
