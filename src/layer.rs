//! [`TaxiiLayer`]: TAXII in a tower stack without a router. Requests for TAXII
//! paths (discovery and the API roots the request's principal may use) go to the
//! [`TaxiiService`];
//! every other request passes through to the wrapped service unchanged.
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_taxii::{ApiRoot, MemoryBackend, TaxiiLayer, TaxiiService};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let taxii = TaxiiService::builder(Arc::new(MemoryBackend::new())).api_root("api/v21", ApiRoot::new("Demo")).build();
//! let app = ServiceBuilder::new().layer(TaxiiLayer::new(taxii)).service(service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, Infallible>(http::Response::new(String::from("the app's own page")))
//! }));
//! let taxii_answer = app.clone().oneshot(http::Request::get("/taxii2/").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(taxii_answer.headers()["content-type"], "application/taxii+json;version=2.1");
//! let app_answer = app.oneshot(http::Request::get("/about").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(app_answer.status(), 200);
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use http_body_util::Either;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::TaxiiBody;
use crate::service::{BoxError, TaxiiService};

/// Serves TAXII paths with a [`TaxiiService`] in front of another service.
#[derive(Debug, Clone)]
pub struct TaxiiLayer {
    taxii: TaxiiService,
}

impl TaxiiLayer {
    /// A layer that answers TAXII paths with `taxii`.
    pub fn new(taxii: TaxiiService) -> Self {
        TaxiiLayer { taxii }
    }
}

impl<S> Layer<S> for TaxiiLayer {
    type Service = WithTaxii<S>;

    fn layer(&self, inner: S) -> WithTaxii<S> {
        WithTaxii {
            taxii: self.taxii.clone(),
            inner,
        }
    }
}

/// The service [`TaxiiLayer`] makes: TAXII paths to TAXII, the rest to `S`.
#[derive(Debug, Clone)]
pub struct WithTaxii<S> {
    taxii: TaxiiService,
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for WithTaxii<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Either<TaxiiBody, ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.taxii.handles(&request) {
            let taxii = self.taxii.call(request);
            Box::pin(async move {
                let Ok(response) = taxii.await;
                Ok(response.map(Either::Left))
            })
        } else {
            let inner = self.inner.call(request);
            Box::pin(async move { Ok(inner.await?.map(Either::Right)) })
        }
    }
}
