//! Bearer-token authentication from tower-http parts: `ValidateRequestHeaderLayer`
//! with a validator that maps each token to a principal. Shared by the examples.

use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response, header};
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};
use tower_taxii::Principal;
use tower_taxii::auth::{constant_time_eq, unauthorized};

/// The tokens a server accepts, each standing for a principal.
#[derive(Clone, Default)]
pub struct BearerTokens {
    tokens: Arc<Vec<(Vec<u8>, Principal)>>,
}

impl BearerTokens {
    /// Accepts these (token, principal) pairs.
    pub fn new(tokens: impl IntoIterator<Item = (String, Principal)>) -> Self {
        BearerTokens {
            tokens: Arc::new(tokens.into_iter().map(|(t, p)| (t.into_bytes(), p)).collect()),
        }
    }

    /// The layer that refuses requests without a known token (401, TAXII error JSON,
    /// `WWW-Authenticate: Bearer`) and puts the token's principal into the others.
    pub fn layer(self) -> ValidateRequestHeaderLayer<BearerTokens> {
        ValidateRequestHeaderLayer::custom(self)
    }

    /// The principal of a presented token. Every token is compared, in constant
    /// time, so neither which token matched nor how much of one did shows in timing.
    fn principal(&self, presented: &[u8]) -> Option<Principal> {
        let mut found = None;
        for (token, principal) in self.tokens.iter() {
            if constant_time_eq(token, presented) && found.is_none() {
                found = Some(principal.clone());
            }
        }
        found
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer_token<B>(request: &Request<B>) -> Option<&[u8]> {
    let value = request.headers().get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token.trim_ascii())
}

impl<B> ValidateRequest<B> for BearerTokens {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        let principal = bearer_token(request).and_then(|token| self.principal(token));
        match principal {
            Some(principal) => {
                request.extensions_mut().insert(principal);
                Ok(())
            }
            None => {
                let description = if request.headers().contains_key(header::AUTHORIZATION) {
                    "the bearer token is not valid"
                } else {
                    "send Authorization: Bearer <token>"
                };
                Err(unauthorized("Bearer realm=\"taxii\"", description).map(Body::new))
            }
        }
    }
}
