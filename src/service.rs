//! [`TaxiiService`]: the tower `Service` that answers TAXII 2.1 requests.
//!
//! Each request goes through the same steps, each in its own module: route the path,
//! check the method, negotiate the media type, parse the query, resolve the
//! collection, make one backend call, write the response.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;

/// The error type request bodies convert into.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
use tower_service::Service;

use crate::access::{Access, AccessPolicy, OpenPolicy};
use crate::backend::{BackendError, BackendErrorKind, Principal, StorageBackend};
use crate::body::TaxiiBody;
use crate::cursor::{Cursor, Position};
use crate::error::TaxiiError;
use crate::ingest::{EnvelopeRules, envelope_objects, new_status, read_body, validate};
use crate::negotiate::{accepts_taxii, is_taxii_content_type};
use crate::query::{self, ObjectQuery, Params, QueryLimits, VersionSelector};
use crate::resources::{ApiRoot, CollectionInfo, DiscoveryResource, TAXII_MEDIA_TYPE};
use crate::response;
use crate::route::{Endpoint, Route, root_segments, route};
use crate::timestamp::Timestamp;

/// The default number of items on a page when the request sends no `limit`.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// The default cap on `limit`.
pub const DEFAULT_MAX_PAGE_SIZE: usize = 10_000;
/// The default cap on the objects of one add-objects request.
pub const DEFAULT_MAX_OBJECTS_PER_ENVELOPE: usize = 10_000;
/// The default cap, in octets, on a request's query string (the part after `?`).
pub const DEFAULT_MAX_QUERY_LENGTH: usize = 8 * 1024;
/// The default cap on the comma-separated values of all `match[...]` parameters of a request together.
pub const DEFAULT_MAX_MATCH_VALUES: usize = 1000;
/// The default cap on how deeply the JSON arrays and objects of an add-objects body
/// nest, the envelope itself counting as one level: below serde_json's recursion limit
/// (128), so clients that use it can read every stored object back, and far above any
/// real STIX object.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 100;

/// A TAXII 2.1 server as a tower [`Service`].
///
/// Cheap to clone. Its error type is [`Infallible`]: every failure is a TAXII error
/// response. Build one with [`TaxiiService::builder`].
///
/// ```
/// use std::sync::Arc;
/// use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService};
///
/// let backend = Arc::new(MemoryBackend::new());
/// backend.add_collection("api/v21", CollectionInfo::new("c1", "Demo"));
/// let service = TaxiiService::builder(backend)
///     .title("My TAXII server")
///     .api_root("api/v21", ApiRoot::new("Demo root"))
///     .build();
/// // Mount it in axum: `Router::new().fallback_service(service)` (see the README).
/// # let _ = service;
/// ```
#[derive(Clone)]
pub struct TaxiiService {
    inner: Arc<Inner>,
}

impl fmt::Debug for TaxiiService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaxiiService")
            .field("title", &self.inner.title)
            .field("api_roots", &self.inner.roots.iter().map(|r| &r.name).collect::<Vec<_>>())
            .finish()
    }
}

struct Inner {
    backend: Arc<dyn StorageBackend>,
    title: String,
    description: Option<String>,
    contact: Option<String>,
    roots: Vec<RootConfig>,
    root_segments: Vec<Vec<String>>,
    default_root: Option<usize>,
    base_url: Option<String>,
    discovery: bool,
    default_page_size: usize,
    max_page_size: usize,
    lenient_accept: bool,
    envelope: EnvelopeRules,
    query_limits: QueryLimits,
    policy: Arc<dyn AccessPolicy>,
}

struct RootConfig {
    name: String,
    info: ApiRoot,
}

/// Configures a [`TaxiiService`].
pub struct TaxiiServiceBuilder {
    backend: Arc<dyn StorageBackend>,
    title: String,
    description: Option<String>,
    contact: Option<String>,
    roots: Vec<RootConfig>,
    default_root: Option<String>,
    base_url: Option<String>,
    discovery: bool,
    default_page_size: usize,
    max_page_size: usize,
    lenient_accept: bool,
    envelope: EnvelopeRules,
    query_limits: QueryLimits,
    policy: Arc<dyn AccessPolicy>,
}

impl fmt::Debug for TaxiiServiceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaxiiServiceBuilder")
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

impl TaxiiService {
    /// Whether this service answers `request`: its path is discovery or under one of
    /// the API roots that the request's principal may use. [`TaxiiLayer`](crate::TaxiiLayer)
    /// uses it to route, so a hidden API root passes through like any unknown path.
    pub fn handles<B>(&self, request: &Request<B>) -> bool {
        let anonymous = Principal::anonymous();
        let principal = request.extensions().get::<Principal>().unwrap_or(&anonymous);
        route(request.uri().path(), &self.inner.root_segments, self.inner.discovery).is_some_and(|r| {
            r.root
                .is_none_or(|i| self.inner.policy.api_root(principal, &self.inner.roots[i].name))
        })
    }

    /// Starts configuring a service over `backend`.
    pub fn builder(backend: Arc<dyn StorageBackend>) -> TaxiiServiceBuilder {
        TaxiiServiceBuilder {
            backend,
            title: "TAXII 2.1 server".to_owned(),
            description: None,
            contact: None,
            roots: Vec::new(),
            default_root: None,
            base_url: None,
            discovery: true,
            default_page_size: DEFAULT_PAGE_SIZE,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            lenient_accept: true,
            envelope: EnvelopeRules {
                accept_bundles: false,
                max_objects: DEFAULT_MAX_OBJECTS_PER_ENVELOPE,
                max_depth: DEFAULT_MAX_JSON_DEPTH,
            },
            query_limits: QueryLimits {
                max_length: DEFAULT_MAX_QUERY_LENGTH,
                max_match_values: DEFAULT_MAX_MATCH_VALUES,
            },
            policy: Arc::new(OpenPolicy),
        }
    }
}

impl TaxiiServiceBuilder {
    /// The discovery resource's `title`.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The discovery resource's `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The discovery resource's `contact`.
    pub fn contact(mut self, contact: impl Into<String>) -> Self {
        self.contact = Some(contact.into());
        self
    }

    /// Adds an API root served at `/{name}/` (e.g. `api/v21`; slashes around the name
    /// are ignored). The first one added is the discovery `default` unless
    /// [`default_api_root`](Self::default_api_root) says otherwise.
    ///
    /// # Panics
    /// If `name` has no segments, is `taxii2` (the discovery path) or is added twice.
    pub fn api_root(mut self, name: &str, info: ApiRoot) -> Self {
        let segments = root_segments(name);
        assert!(!segments.is_empty(), "an API root needs a non-empty name");
        assert!(segments != ["taxii2"], "`taxii2` is the discovery path, not an API root name");
        let name = segments.join("/");
        assert!(self.roots.iter().all(|r| r.name != name), "API root {name:?} is added twice");
        self.roots.push(RootConfig { name, info });
        self
    }

    /// Which API root discovery names as `default`.
    pub fn default_api_root(mut self, name: &str) -> Self {
        self.default_root = Some(root_segments(name).join("/"));
        self
    }

    /// The public URL the API roots are reachable under, such as
    /// `https://cti.example.com/taxii` when the service is mounted at `/taxii`.
    /// Discovery then lists absolute URLs (`https://cti.example.com/taxii/api/v21/`);
    /// without it, it lists paths relative to the host root (`/api/v21/`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Whether this service answers discovery at `/taxii2/` (default: yes). Turn it
    /// off when another service serves discovery at the host root.
    pub fn discovery(mut self, serve: bool) -> Self {
        self.discovery = serve;
        self
    }

    /// The page size when a request sends no `limit` (default 1000; at least 1).
    pub fn default_page_size(mut self, size: usize) -> Self {
        self.default_page_size = size.max(1);
        self
    }

    /// The most items one page may hold, whatever `limit` asks (default 10000; at least 1).
    pub fn max_page_size(mut self, size: usize) -> Self {
        self.max_page_size = size.max(1);
        self
    }

    /// Whether a missing `Accept` header and the wildcards `*/*` and `application/*`
    /// are served (default: yes). When false they get 406.
    pub fn lenient_accept(mut self, lenient: bool) -> Self {
        self.lenient_accept = lenient;
        self
    }

    /// Whether add-objects also takes a STIX bundle (`{"type":"bundle","objects":[...]}`)
    /// as if it were an envelope (default: no, 422 as the standard's envelope rule
    /// says). `stix2`'s `TAXIICollectionSink` posts bundles, so turn this on for it.
    pub fn accept_bundles(mut self, accept: bool) -> Self {
        self.envelope.accept_bundles = accept;
        self
    }

    /// The most objects one add-objects request may carry (default 10000; at least
    /// 1); more get 413. Together with `max_content_length` this bounds the memory a
    /// request and its status resource take.
    pub fn max_objects_per_envelope(mut self, max: usize) -> Self {
        self.envelope.max_objects = max.max(1);
        self
    }

    /// How deeply the JSON arrays and objects of an add-objects body may nest, the
    /// envelope counting as one level (default 100; at least 3, enough for an
    /// envelope of flat objects); deeper bodies get 400 before any object is read.
    pub fn max_json_depth(mut self, depth: usize) -> Self {
        self.envelope.max_depth = depth.max(3);
        self
    }

    /// The longest query string (the octets after `?`) a request may have (default
    /// 8 KiB); longer ones get 400 before any parameter is decoded. The `http` crate
    /// refuses whole URIs of 64 KiB and more before they reach the service.
    pub fn max_query_length(mut self, octets: usize) -> Self {
        self.query_limits.max_length = octets;
        self
    }

    /// The most comma-separated values that the `match[...]` parameters of one request
    /// may carry together (default 1000; at least 1); more get 400.
    pub fn max_match_values(mut self, values: usize) -> Self {
        self.query_limits.max_match_values = values.max(1);
        self
    }

    /// Who may do what (default: [`OpenPolicy`], everyone gets what the backend
    /// reports). The principal comes from the request extensions, where the host's
    /// authentication layer puts it.
    pub fn access_policy(mut self, policy: impl AccessPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Builds the service.
    ///
    /// # Panics
    /// If [`default_api_root`](Self::default_api_root) names a root that was not added.
    pub fn build(self) -> TaxiiService {
        let default_root = match &self.default_root {
            Some(name) => Some(
                self.roots
                    .iter()
                    .position(|r| &r.name == name)
                    .unwrap_or_else(|| panic!("the default API root {name:?} was not added")),
            ),
            None => (!self.roots.is_empty()).then_some(0),
        };
        let root_segments = self.roots.iter().map(|r| root_segments(&r.name)).collect();
        TaxiiService {
            inner: Arc::new(Inner {
                backend: self.backend,
                title: self.title,
                description: self.description,
                contact: self.contact,
                roots: self.roots,
                root_segments,
                default_root,
                base_url: self.base_url,
                discovery: self.discovery,
                default_page_size: self.default_page_size.min(self.max_page_size),
                max_page_size: self.max_page_size,
                lenient_accept: self.lenient_accept,
                envelope: self.envelope,
                query_limits: self.query_limits,
                policy: self.policy,
            }),
        }
    }
}

/// The future of a [`TaxiiService`] response.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Response<TaxiiBody>> + Send>>,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<TaxiiBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx).map(Ok)
    }
}

impl<B> Service<Request<B>> for TaxiiService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<TaxiiBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let inner = Arc::clone(&self.inner);
        ResponseFuture {
            inner: Box::pin(async move { inner.handle(request).await.unwrap_or_else(TaxiiError::into_response) }),
        }
    }
}

/// What one request asks, once routed and checked.
struct Call<'a> {
    root: usize,
    params: Params,
    principal: &'a Principal,
}

impl Inner {
    async fn handle<B: Body<Error: Into<BoxError>>>(&self, request: Request<B>) -> Result<Response<TaxiiBody>, TaxiiError> {
        let (parts, body) = request.into_parts();
        let anonymous = Principal::anonymous();
        let principal = parts.extensions.get::<Principal>().unwrap_or(&anonymous);
        // An API root the principal may not use is answered like a path that does not exist.
        let Route { root, endpoint } = route(parts.uri.path(), &self.root_segments, self.discovery)
            .filter(|r| r.root.is_none_or(|i| self.policy.api_root(principal, &self.roots[i].name)))
            .ok_or_else(|| TaxiiError::not_found("no TAXII endpoint at this path"))?;
        let methods = endpoint.methods();
        if !methods.contains(&parts.method) {
            return Ok(method_not_allowed(methods));
        }
        if !accepts_taxii(
            parts.headers.get_all(header::ACCEPT).iter().map(HeaderValue::as_bytes),
            self.lenient_accept,
        ) {
            return Err(TaxiiError::not_acceptable());
        }
        if parts.method == Method::POST && !is_taxii_content_type(parts.headers.get(header::CONTENT_TYPE).map(HeaderValue::as_bytes)) {
            return Err(TaxiiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
                .description(format!("send the envelope as Content-Type: {TAXII_MEDIA_TYPE}")));
        }
        let params = query::parse(parts.uri.query(), endpoint.allowed(&parts.method), self.query_limits)
            .map_err(|e| TaxiiError::bad_request(e.0))?;
        let Some(root) = root else {
            return Ok(self.discovery_resource(principal));
        };
        let call = Call { root, params, principal };
        match (endpoint, parts.method) {
            (Endpoint::Discovery, _) => Ok(self.discovery_resource(principal)),
            (Endpoint::ApiRoot, _) => Ok(response::resource(&self.roots[root].info)),
            (Endpoint::Status(id), _) => self.status(&call, &id).await,
            (Endpoint::Collections, _) => {
                let collections = self
                    .backend
                    .collections(self.root_name(&call), principal)
                    .await
                    .map_err(backend_error)?;
                let collections = collections.into_iter().filter_map(|c| self.as_seen_by(&call, c)).collect();
                Ok(response::resource(&Collections { collections }))
            }
            (Endpoint::Collection(key), _) => Ok(response::resource(&self.collection(&call, &key).await?)),
            (Endpoint::Objects(key), Method::POST) => self.add_objects(&call, &key, body).await,
            (Endpoint::Objects(key), _) => self.objects(&call, &key, None).await,
            (Endpoint::Manifest(key), _) => self.manifest(&call, &key).await,
            (Endpoint::Object(key, object), Method::DELETE) => self.delete_object(&call, &key, &object).await,
            (Endpoint::Object(key, object), _) => self.objects(&call, &key, Some(&object)).await,
            (Endpoint::Versions(key, object), _) => self.versions(&call, &key, &object).await,
        }
    }

    /// A status, for principals who may see the collection it added objects to; for
    /// others it answers exactly like a status that does not exist.
    async fn status(&self, call: &Call<'_>, id: &str) -> Result<Response<TaxiiBody>, TaxiiError> {
        let mut found = self
            .backend
            .status(self.root_name(call), id, call.principal)
            .await
            .map_err(backend_error)?;
        if let Some(collection) = found.as_ref().and_then(|s| s.collection.clone()) {
            let visible = self
                .backend
                .collection(self.root_name(call), &collection, call.principal)
                .await
                .map_err(backend_error)?;
            if visible.and_then(|c| self.as_seen_by(call, c)).is_none() {
                found = None;
            }
        }
        match found {
            Some(mut status) => {
                status.settle();
                Ok(response::resource(&status))
            }
            None => Err(TaxiiError::not_found(format!(
                "no status {id:?} in this API root (statuses expire)"
            ))),
        }
    }

    /// Get objects, or with `object`, get one object's versions (§5.4, §5.6).
    async fn objects(&self, call: &Call<'_>, key: &str, object: Option<&str>) -> Result<Response<TaxiiBody>, TaxiiError> {
        let collection = self.readable(call, key).await?;
        let kind = if object.is_some() { "object" } else { "objects" };
        let (query, scope) = self.object_query(call, &collection, kind, object)?;
        let page = self
            .backend
            .objects(self.root_name(call), &collection.id, &query, call.principal)
            .await
            .map_err(backend_error)?;
        if let Some(object) = object {
            if page.items.is_empty() && is_first_unfiltered_page(&query) {
                return Err(TaxiiError::not_found(format!(
                    "no object {object:?} matching the request in this collection"
                )));
            }
        }
        Ok(response::envelope(
            &page,
            next(page.more, page.snapshot, page.items.last().map(|o| o.date_added()), &query, &scope).as_deref(),
        ))
    }

    async fn manifest(&self, call: &Call<'_>, key: &str) -> Result<Response<TaxiiBody>, TaxiiError> {
        let collection = self.readable(call, key).await?;
        let (query, scope) = self.object_query(call, &collection, "manifest", None)?;
        let page = self
            .backend
            .manifest_json(self.root_name(call), &collection.id, &query, call.principal)
            .await
            .map_err(backend_error)?;
        let next = next(page.more, page.snapshot, page.records.last_added(), &query, &scope);
        Ok(response::manifest(page, next.as_deref()))
    }

    async fn versions(&self, call: &Call<'_>, key: &str, object: &str) -> Result<Response<TaxiiBody>, TaxiiError> {
        let collection = self.readable(call, key).await?;
        let (mut query, scope) = self.object_query(call, &collection, "versions", Some(object))?;
        query.filter.versions = VersionSelector::All;
        let page = self
            .backend
            .manifest(self.root_name(call), &collection.id, &query, call.principal)
            .await
            .map_err(backend_error)?;
        if page.items.is_empty() && is_first_unfiltered_page(&query) {
            return Err(TaxiiError::not_found(format!("no object {object:?} in this collection")));
        }
        Ok(response::versions(
            &page,
            next(page.more, page.snapshot, page.items.last().map(|r| r.date_added), &query, &scope).as_deref(),
        ))
    }

    /// Add objects (§5.5): 202 with a status resource.
    async fn add_objects<B: Body<Error: Into<BoxError>>>(
        &self,
        call: &Call<'_>,
        key: &str,
        body: B,
    ) -> Result<Response<TaxiiBody>, TaxiiError> {
        let collection = self.collection(call, key).await?;
        if !collection.can_write {
            return Err(TaxiiError::forbidden("you may not add objects to this collection"));
        }
        let body = read_body(body, self.roots[call.root].info.max_content_length).await?;
        let objects = envelope_objects(&body, self.envelope)?;
        let received = Timestamp::now();
        let mut status = new_status(received, objects.len(), &collection.id);
        let valid = validate(objects, received, &mut status);
        let mut status = self
            .backend
            .add_objects(self.root_name(call), &collection.id, valid, status, call.principal)
            .await
            .map_err(backend_error)?;
        status.settle();
        let mut response = response::resource(&status);
        *response.status_mut() = StatusCode::ACCEPTED;
        Ok(response)
    }

    /// Delete an object (§5.7): every version unless `match[version]` selects some.
    async fn delete_object(&self, call: &Call<'_>, key: &str, object: &str) -> Result<Response<TaxiiBody>, TaxiiError> {
        let collection = self.collection(call, key).await?;
        // Hidden (neither) was a 404 already; one of the two is a 403 (§5.7).
        if !(collection.can_read && collection.can_write) {
            return Err(TaxiiError::forbidden(
                "deleting needs both read and write access to this collection",
            ));
        }
        let versions = if call.params.version_given {
            call.params.filter.versions.clone()
        } else {
            VersionSelector::All
        };
        let removed = self
            .backend
            .delete_object(
                self.root_name(call),
                &collection.id,
                object,
                &versions,
                call.params.filter.spec_versions.as_deref(),
                call.principal,
            )
            .await
            .map_err(backend_error)?;
        if removed == 0 {
            return Err(TaxiiError::not_found(format!(
                "no object {object:?} matching the request in this collection"
            )));
        }
        Ok(response::taxii(TaxiiBody::empty()))
    }

    fn root_name(&self, call: &Call<'_>) -> &str {
        &self.roots[call.root].name
    }

    /// Discovery lists the API roots the principal may use.
    fn discovery_resource(&self, principal: &Principal) -> Response<TaxiiBody> {
        let url = |root: &RootConfig| match &self.base_url {
            Some(base) => format!("{base}/{}/", root.name),
            None => format!("/{}/", root.name),
        };
        let visible = |root: &&RootConfig| self.policy.api_root(principal, &root.name);
        response::resource(&DiscoveryResource {
            title: &self.title,
            description: self.description.as_deref(),
            contact: self.contact.as_deref(),
            default: self.default_root.map(|i| &self.roots[i]).filter(visible).map(url),
            api_roots: self.roots.iter().filter(visible).map(url).collect(),
        })
    }

    /// The collection as this principal sees it: `can_read`/`can_write` are the
    /// policy's decision within what the backend allows; `None` when it may do neither.
    fn as_seen_by(&self, call: &Call<'_>, collection: CollectionInfo) -> Option<CollectionInfo> {
        let allowed = Access {
            read: collection.can_read,
            write: collection.can_write,
        };
        let access = self
            .policy
            .collection(call.principal, self.root_name(call), &collection)
            .and(allowed);
        access.is_visible().then_some(CollectionInfo {
            can_read: access.read,
            can_write: access.write,
            ..collection
        })
    }

    /// The collection as this principal sees it; one it may neither read nor write is
    /// answered exactly like one that does not exist, before any of its data is touched.
    async fn collection(&self, call: &Call<'_>, key: &str) -> Result<CollectionInfo, TaxiiError> {
        self.backend
            .collection(self.root_name(call), key, call.principal)
            .await
            .map_err(backend_error)?
            .and_then(|c| self.as_seen_by(call, c))
            .ok_or_else(|| TaxiiError::not_found(format!("no collection {key:?} in this API root")))
    }

    /// The collection, if the principal may read it.
    async fn readable(&self, call: &Call<'_>, key: &str) -> Result<CollectionInfo, TaxiiError> {
        let collection = self.collection(call, key).await?;
        if collection.can_read {
            Ok(collection)
        } else {
            Err(TaxiiError::forbidden("you may not read this collection"))
        }
    }

    /// The backend query for a content endpoint, and what its cursors cover.
    fn object_query<'a>(
        &'a self,
        call: &'a Call<'_>,
        collection: &'a CollectionInfo,
        kind: &'static str,
        object: Option<&'a str>,
    ) -> Result<(ObjectQuery, CursorScope<'a>), TaxiiError> {
        let mut filter = call.params.filter.clone();
        if let Some(object) = object {
            filter.ids = Some(vec![object.to_owned()]);
        }
        let scope = CursorScope {
            params: &call.params,
            scope: [self.root_name(call), &collection.id, kind, object.unwrap_or("")],
        };
        let position = call.params.position(|| scope.digest()).map_err(|e| TaxiiError::bad_request(e.0))?;
        let limit = match call.params.limit {
            Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX).min(self.max_page_size),
            None => self.default_page_size,
        };
        Ok((ObjectQuery { filter, limit, position }, scope))
    }
}

/// What the `next` cursors of one content request cover: its own filters within this
/// API root, collection, endpoint and object. Their digest is worked out only when a
/// cursor is read or written.
struct CursorScope<'a> {
    params: &'a Params,
    scope: [&'a str; 4],
}

impl CursorScope<'_> {
    fn digest(&self) -> u64 {
        self.params.digest(&self.scope)
    }
}

/// The `next` cursor for a page that has more after it.
fn next(more: bool, snapshot: Timestamp, last_added: Option<Timestamp>, query: &ObjectQuery, scope: &CursorScope<'_>) -> Option<String> {
    if !more {
        return None;
    }
    let after = last_added
        .or(query.position.map(|p| p.after))
        .or(query.filter.added_after)
        .unwrap_or(Timestamp::MIN);
    let cursor = Cursor {
        position: Position {
            snapshot: snapshot.max(after),
            after,
        },
        digest: scope.digest(),
    };
    Some(cursor.encode())
}

/// The first page of an object or versions request with no `added_after`: when it is
/// empty, the object (or the version asked for) does not exist here.
fn is_first_unfiltered_page(query: &ObjectQuery) -> bool {
    query.position.is_none() && query.filter.added_after.is_none()
}

#[derive(serde::Serialize)]
struct Collections {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    collections: Vec<CollectionInfo>,
}

/// 405 with an `Allow` header listing the endpoint's methods.
fn method_not_allowed(allowed: &[Method]) -> Response<TaxiiBody> {
    let allow = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    let mut response = TaxiiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        .description(format!("this endpoint answers {allow}"))
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn backend_error(error: BackendError) -> TaxiiError {
    #[cfg(feature = "tracing")]
    tracing::error!(error = %error, "TAXII storage backend failed");
    match error.kind() {
        BackendErrorKind::Unavailable => {
            TaxiiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable").description("the store is unavailable; try again later")
        }
        BackendErrorKind::ReadOnly => TaxiiError::forbidden("this collection is read-only"),
        BackendErrorKind::Internal => {
            TaxiiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error").description("the store failed to answer")
        }
    }
}
