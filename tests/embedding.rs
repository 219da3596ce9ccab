//! tower-taxii embedded in real axum applications, served on `127.0.0.1:0` and driven
//! over HTTP with hyper-util's client:
//!
//! - principals and permissions: a tiny auth layer (`X-User` header) and a
//!   [`StaticPolicy`]; the exact answer of every endpoint for a read-only, a
//!   write-only and a no-access principal, the collection flags they are shown,
//!   hidden collections and API roots answered byte for byte like missing ones, and a
//!   counting backend proving no collection data is touched for refused requests;
//! - 401 answers of the bearer-token layer of `examples/support/bearer.rs`;
//! - discovery under two prefixes (`nest_service` plus `/taxii2/` at the host root),
//!   with absolute and path `base_url`s, followed back through the app;
//! - [`TaxiiLayer`] passing every non-TAXII request through unchanged;
//! - composition with tower-http's trace, timeout, CORS, compression and body-limit layers.

#[path = "../examples/support/bearer.rs"]
mod bearer;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::decompression::DecompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_taxii::{
    Access, AccessPolicy, ApiRoot, BackendError, CollectionInfo, DATE_ADDED_FIRST, DATE_ADDED_LAST, MemoryBackend, ObjectFilter,
    ObjectQuery, ObjectVersion, Page, Principal, SpecVersion, StaticPolicy, Status, StorageBackend, TaxiiLayer, TaxiiService,
    VersionRecord, VersionSelector, async_trait,
};

const ROOT: &str = "api/v21";
const TAXII: &str = "application/taxii+json;version=2.1";
/// The writable collection of the permission matrix.
const MAIN: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
/// A collection only `admin` sees.
const OTHER: &str = "52892447-4d7e-4f70-b94d-d7f22742ff63";
/// A collection every matrix principal may read (so that each may use the API root).
const PUBLIC: &str = "3c5e8f1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b";
/// A collection id no API root has.
const MISSING: &str = "0d6c2f7a-1b3e-4c5d-8e9f-a0b1c2d3e4f5";
/// A status id that was never issued.
const NO_STATUS: &str = "6f0e9d8c-7b6a-4594-8372-615049382716";
/// How long one HTTP exchange may take before the test fails.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------
// STIX objects

/// `indicator--…` with a UUID derived from `n`.
fn indicator_id(n: u32) -> String {
    format!("indicator--{n:08x}-0000-4000-8000-{n:012x}")
}

/// An indicator version (STIX 2.1).
fn indicator(n: u32, modified: &str) -> String {
    let id = indicator_id(n);
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"2024-01-01T00:00:00.000Z","modified":"{modified}","name":"Indicator {n} at {modified}","pattern":"[ipv4-addr:value = '198.51.100.{}']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}}"#,
        n % 250
    )
}

/// An envelope of these objects.
fn envelope(objects: &[String]) -> String {
    format!(r#"{{"objects":[{}]}}"#, objects.join(","))
}

/// The object every object endpoint of the matrix asks for: two versions in MAIN, one in OTHER.
fn obj() -> String {
    indicator_id(1)
}

// ---------------------------------------------------------------------------------
// A backend that counts what the service asks of it

/// How often each backend method was called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Calls {
    collections: usize,
    collection: usize,
    status: usize,
    objects: usize,
    manifest: usize,
    add_objects: usize,
    delete_object: usize,
}

impl Calls {
    /// The calls that load or change a collection's content.
    fn data(&self) -> usize {
        self.objects + self.manifest + self.add_objects + self.delete_object
    }
}

/// [`MemoryBackend`] with every call counted.
struct CountingBackend {
    inner: MemoryBackend,
    calls: Mutex<Calls>,
}

impl CountingBackend {
    fn new(inner: MemoryBackend) -> Arc<Self> {
        Arc::new(CountingBackend {
            inner,
            calls: Mutex::default(),
        })
    }

    fn count(&self, f: impl FnOnce(&mut Calls)) {
        f(&mut self.calls.lock().expect("calls lock"));
    }

    /// The calls since the last `take`, and a fresh count.
    fn take(&self) -> Calls {
        std::mem::take(&mut *self.calls.lock().expect("calls lock"))
    }

    /// Every stored version of a collection (all versions, every spec version), read
    /// from the inner backend without counting.
    async fn contents(&self, api_root: &str, collection: &str) -> Vec<VersionRecord> {
        let query = ObjectQuery {
            filter: ObjectFilter {
                versions: VersionSelector::All,
                spec_versions: Some(vec![SpecVersion { major: 2, minor: 0 }, SpecVersion { major: 2, minor: 1 }]),
                ..ObjectFilter::default()
            },
            limit: 100_000,
            position: None,
        };
        let page = self
            .inner
            .manifest(api_root, collection, &query, &Principal::anonymous())
            .await
            .expect("memory backend answers");
        assert!(!page.more, "one page holds the whole test collection");
        page.items
    }
}

#[async_trait]
impl StorageBackend for CountingBackend {
    async fn collections(&self, api_root: &str, principal: &Principal) -> Result<Vec<CollectionInfo>, BackendError> {
        self.count(|c| c.collections += 1);
        self.inner.collections(api_root, principal).await
    }

    async fn collection(&self, api_root: &str, key: &str, principal: &Principal) -> Result<Option<CollectionInfo>, BackendError> {
        self.count(|c| c.collection += 1);
        self.inner.collection(api_root, key, principal).await
    }

    async fn objects(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        principal: &Principal,
    ) -> Result<Page<ObjectVersion>, BackendError> {
        self.count(|c| c.objects += 1);
        self.inner.objects(api_root, collection, query, principal).await
    }

    async fn manifest(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        principal: &Principal,
    ) -> Result<Page<VersionRecord>, BackendError> {
        self.count(|c| c.manifest += 1);
        self.inner.manifest(api_root, collection, query, principal).await
    }

    async fn status(&self, api_root: &str, id: &str, principal: &Principal) -> Result<Option<Status>, BackendError> {
        self.count(|c| c.status += 1);
        self.inner.status(api_root, id, principal).await
    }

    async fn add_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: Vec<ObjectVersion>,
        status: Status,
        principal: &Principal,
    ) -> Result<Status, BackendError> {
        self.count(|c| c.add_objects += 1);
        self.inner.add_objects(api_root, collection, objects, status, principal).await
    }

    async fn delete_object(
        &self,
        api_root: &str,
        collection: &str,
        object_id: &str,
        versions: &VersionSelector,
        spec_versions: Option<&[SpecVersion]>,
        principal: &Principal,
    ) -> Result<usize, BackendError> {
        self.count(|c| c.delete_object += 1);
        self.inner
            .delete_object(api_root, collection, object_id, versions, spec_versions, principal)
            .await
    }
}

// ---------------------------------------------------------------------------------
// Servers and the HTTP client

/// A service served on `127.0.0.1:0` by `axum::serve`; stopped by [`stop`](Self::stop)
/// (graceful, bounded) or, failing that, aborted when dropped.
struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    async fn start<S, B>(service: S) -> TestServer
    where
        S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let service = ServiceBuilder::new()
            .map_response(|response: Response<B>| response.map(Body::new))
            .service(service);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, axum::ServiceExt::<Request<Body>>::into_make_service(service))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the test server runs");
        });
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A response, read completely.
#[derive(Debug, Clone)]
struct Reply {
    what: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII header"))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {:?}", self.what, self.text()))
    }

    /// Asserts the status and exactly one TAXII `Content-Type`; the JSON body (or `Null` when empty).
    #[track_caller]
    fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}: status; body: {}", self.what, self.text());
        let types: Vec<_> = self.headers.get_all(header::CONTENT_TYPE).iter().collect();
        assert_eq!(types, [TAXII], "{}: Content-Type", self.what);
        if self.body.is_empty() { Value::Null } else { self.json() }
    }

    /// Asserts a TAXII error with this status: a `title` and `http_status` equal to it.
    #[track_caller]
    fn expect_error(&self, status: u16) -> Value {
        let body = self.expect(status);
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}: error title: {body}",
            self.what
        );
        assert_eq!(body["http_status"], json!(status.to_string()), "{}: http_status: {body}", self.what);
        body
    }

    /// The headers as (name, value) pairs, without `date` (which may tick between two requests).
    fn headers_without_date(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| *name != header::DATE)
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        headers.sort();
        headers
    }
}

/// A request to `url` with these headers and body.
fn request(method: Method, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body.into())).expect("valid request")
}

/// Sends a request and reads the whole response, within [`EXCHANGE_TIMEOUT`].
async fn send(client: &HttpClient, request: Request<Full<Bytes>>) -> Reply {
    let what = format!("{} {}", request.method(), request.uri().path_and_query().map_or("", |p| p.as_str()));
    let exchange = async {
        let response = client.request(request).await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"))
            .to_bytes();
        (parts, body)
    };
    let (parts, body) = tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {EXCHANGE_TIMEOUT:?}"));
    Reply {
        what,
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A TAXII request: `Accept` (and for POST `Content-Type`) set, plus `extra` headers.
fn taxii_request(method: Method, url: &str, extra: &[(&str, &str)], body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut headers = vec![("accept", TAXII)];
    if method == Method::POST {
        headers.push(("content-type", TAXII));
    }
    headers.extend_from_slice(extra);
    request(method, url, &headers, body)
}

/// `(id, can_read, can_write)` of each collection in a collections resource, in order.
fn listed(collections: &Value) -> Vec<(String, bool, bool)> {
    collections
        .get("collections")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(flags).collect())
        .unwrap_or_default()
}

/// `(id, can_read, can_write)` of a collection resource.
fn flags(collection: &Value) -> (String, bool, bool) {
    (
        collection["id"].as_str().expect("id").to_owned(),
        collection["can_read"].as_bool().expect("can_read is a bool"),
        collection["can_write"].as_bool().expect("can_write is a bool"),
    )
}

fn entry(id: &str, read: bool, write: bool) -> (String, bool, bool) {
    (id.to_owned(), read, write)
}

// ---------------------------------------------------------------------------------
// 1. The permission matrix

/// The collection endpoints of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ep {
    Collection,
    Manifest,
    Objects,
    AddObjects,
    Object,
    DeleteObject,
    Versions,
}

const ENDPOINTS: [Ep; 7] = [
    Ep::Collection,
    Ep::Manifest,
    Ep::Objects,
    Ep::AddObjects,
    Ep::Object,
    Ep::DeleteObject,
    Ep::Versions,
];

impl Ep {
    fn method(self) -> Method {
        match self {
            Ep::AddObjects => Method::POST,
            Ep::DeleteObject => Method::DELETE,
            _ => Method::GET,
        }
    }

    fn path(self, root: &str, collection: &str) -> String {
        let c = format!("/{root}/collections/{collection}/");
        match self {
            Ep::Collection => c,
            Ep::Manifest => format!("{c}manifest/"),
            Ep::Objects | Ep::AddObjects => format!("{c}objects/"),
            Ep::Object | Ep::DeleteObject => format!("{c}objects/{}/", obj()),
            Ep::Versions => format!("{c}objects/{}/versions/", obj()),
        }
    }

    fn writes(self) -> bool {
        matches!(self, Ep::AddObjects | Ep::DeleteObject)
    }

    /// What TAXII requires for a principal with this access to the collection
    /// (§5.2 to §5.8 and the DELETE matrix of §5.7): a collection it may neither read
    /// nor write is hidden (404, like a missing one); one of the two missing is 403.
    fn expected(self, access: Access) -> u16 {
        if !access.is_visible() {
            return 404;
        }
        match self {
            Ep::Collection => 200,
            Ep::Manifest | Ep::Objects | Ep::Object | Ep::Versions => {
                if access.read {
                    200
                } else {
                    403
                }
            }
            Ep::AddObjects => {
                if access.write {
                    202
                } else {
                    403
                }
            }
            Ep::DeleteObject => {
                if access.read && access.write {
                    200
                } else {
                    403
                }
            }
        }
    }
}

/// The matrix app: a `MemoryBackend` behind a counting wrapper, a `StaticPolicy`, and
/// an axum `from_fn` layer that turns `X-User: NAME` into `Principal::named(NAME)`.
struct Matrix {
    server: TestServer,
    client: HttpClient,
    backend: Arc<CountingBackend>,
    next_object: AtomicU32,
}

async fn principal_from_x_user(mut request: axum::extract::Request, next: Next) -> axum::response::Response {
    let name = request.headers().get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(name) = name {
        request.extensions_mut().insert(Principal::named(name));
    }
    next.run(request).await
}

fn matrix_policy() -> StaticPolicy {
    StaticPolicy::new()
        .grant("reader", ROOT, MAIN, Access::READ)
        .grant("writer", ROOT, MAIN, Access::WRITE)
        .grant("nobody", ROOT, MAIN, Access::NONE)
        .grant("reader", ROOT, PUBLIC, Access::READ)
        .grant("writer", ROOT, PUBLIC, Access::READ)
        .grant("nobody", ROOT, PUBLIC, Access::READ)
        .grant("admin", ROOT, MAIN, Access::READ_WRITE)
        .grant("admin", ROOT, OTHER, Access::READ_WRITE)
}

/// What the matrix policy gives each principal on MAIN.
fn main_access(user: &str) -> Access {
    match user {
        "reader" => Access::READ,
        "writer" => Access::WRITE,
        "admin" => Access::READ_WRITE,
        _ => Access::NONE,
    }
}

impl Matrix {
    async fn start() -> Matrix {
        let memory = MemoryBackend::new();
        // The backend allows everything; the policy alone decides.
        memory.add_collection(ROOT, CollectionInfo::new(MAIN, "Main").access(true, true));
        memory.add_collection(ROOT, CollectionInfo::new(OTHER, "Admin only").access(true, true));
        memory.add_collection(ROOT, CollectionInfo::new(PUBLIC, "Public").access(true, true));
        let main = [
            indicator(1, "2024-01-01T00:00:00.000Z"),
            indicator(1, "2024-02-01T00:00:00.000Z"),
            indicator(2, "2024-01-01T00:00:00.000Z"),
        ];
        let other = [indicator(1, "2024-03-01T00:00:00.000Z"), indicator(3, "2024-01-01T00:00:00.000Z")];
        for (collection, objects) in [
            (MAIN, &main[..]),
            (OTHER, &other[..]),
            (PUBLIC, &[indicator(4, "2024-01-01T00:00:00.000Z")][..]),
        ] {
            let report = memory
                .insert_objects(ROOT, collection, objects.iter().cloned().map(Bytes::from))
                .expect("collection exists");
            assert_eq!(report.added, objects.len());
        }
        let backend = CountingBackend::new(memory);
        let taxii = TaxiiService::builder(backend.clone())
            .title("Matrix")
            .api_root(ROOT, ApiRoot::new("Matrix root"))
            .access_policy(matrix_policy())
            .build();
        let app = Router::new()
            .fallback_service(taxii)
            .layer(middleware::from_fn(principal_from_x_user));
        Matrix {
            server: TestServer::start(app).await,
            client: client(),
            backend,
            next_object: AtomicU32::new(100),
        }
    }

    /// Sends a TAXII request as `user` (anonymous when `None`) and returns the reply
    /// with the backend calls it caused.
    async fn call(&self, user: Option<&str>, method: Method, path: &str, body: impl Into<Bytes>) -> (Reply, Calls) {
        let extra: Vec<(&str, &str)> = user.map(|u| ("x-user", u)).into_iter().collect();
        self.backend.take();
        let reply = send(&self.client, taxii_request(method, &self.server.url(path), &extra, body)).await;
        (reply, self.backend.take())
    }

    /// The request of an endpoint on a collection, with a fresh object for POSTs.
    async fn endpoint(&self, user: Option<&str>, ep: Ep, collection: &str) -> (Reply, Calls) {
        let body = if ep == Ep::AddObjects {
            envelope(&[indicator(
                self.next_object.fetch_add(1, Ordering::Relaxed),
                "2024-06-01T00:00:00.000Z",
            )])
        } else {
            String::new()
        };
        self.call(user, ep.method(), &ep.path(ROOT, collection), body).await
    }

    /// Every collection's stored versions.
    async fn snapshot(&self) -> Vec<Vec<VersionRecord>> {
        let mut all = Vec::new();
        for c in [MAIN, OTHER, PUBLIC] {
            all.push(self.backend.contents(ROOT, c).await);
        }
        all
    }

    /// Posts one new object as `user` and returns the status resource.
    async fn post_as(&self, user: &str, collection: &str) -> (String, Value) {
        let n = self.next_object.fetch_add(1, Ordering::Relaxed);
        let (reply, _) = self
            .call(
                Some(user),
                Method::POST,
                &Ep::AddObjects.path(ROOT, collection),
                envelope(&[indicator(n, "2024-06-01T00:00:00.000Z")]),
            )
            .await;
        let status = reply.expect(202);
        assert_eq!(status["status"], "complete", "{status}");
        assert_eq!(status["success_count"], 1, "{status}");
        (status["id"].as_str().expect("status id").to_owned(), status)
    }

    /// Asserts that `user`'s answer to `path` is exactly the answer to `missing_path`
    /// (same status, headers, body once `key` is replaced by `missing_key`, and the
    /// same backend calls), a 404, and that nothing was loaded or changed.
    #[track_caller]
    fn assert_like_missing(
        &self,
        (hidden, hidden_calls): &(Reply, Calls),
        (missing, missing_calls): &(Reply, Calls),
        key: &str,
        missing_key: &str,
    ) {
        missing.expect_error(404);
        hidden.expect_error(404);
        assert_eq!(
            hidden.text().replace(key, missing_key),
            missing.text(),
            "{} answers unlike the missing {}",
            hidden.what,
            missing.what
        );
        assert_eq!(
            hidden.headers_without_date(),
            missing.headers_without_date(),
            "{}: headers",
            hidden.what
        );
        assert_eq!(
            hidden_calls, missing_calls,
            "{}: backend calls unlike for {}",
            hidden.what, missing.what
        );
        assert_eq!(
            hidden_calls.data(),
            0,
            "{}: collection data was touched: {hidden_calls:?}",
            hidden.what
        );
    }
}

/// Every endpoint for `reader` (READ on MAIN), `writer` (WRITE on MAIN) and `nobody`
/// (nothing on MAIN): exact status, TAXII Content-Type, flags, hidden == missing, no
/// data loaded for refused requests, refused writes change nothing.
#[tokio::test]
async fn permission_matrix_for_read_only_write_only_and_no_access() {
    let m = Matrix::start().await;
    // A POST by someone allowed, whose status the others ask for.
    let (admin_status_id, admin_status) = m.post_as("admin", MAIN).await;

    for user in ["reader", "writer", "nobody"] {
        let who = Some(user);
        let access = main_access(user);

        // Discovery and the API root: every principal here may use the root.
        let (reply, calls) = m.call(who, Method::GET, "/taxii2/", "").await;
        let discovery = reply.expect(200);
        assert_eq!(discovery["api_roots"], json!(["/api/v21/"]), "{user}: {discovery}");
        assert_eq!(discovery["default"], "/api/v21/", "{user}: {discovery}");
        assert_eq!(calls, Calls::default(), "{user}: discovery needs no backend call");
        let (reply, calls) = m.call(who, Method::GET, "/api/v21/", "").await;
        let root = reply.expect(200);
        assert_eq!(root["title"], "Matrix root");
        assert!(root["versions"].as_array().is_some_and(|v| v.contains(&json!(TAXII))), "{root}");
        assert_eq!(calls, Calls::default(), "{user}: the API root needs no backend call");

        // The collections list: what the principal may do, and nothing it may not know of.
        let (reply, calls) = m.call(who, Method::GET, "/api/v21/collections/", "").await;
        let mut expected = Vec::new();
        if access.is_visible() {
            expected.push(entry(MAIN, access.read, access.write));
        }
        expected.push(entry(PUBLIC, true, false));
        assert_eq!(listed(&reply.expect(200)), expected, "{user}: collections");
        assert!(
            !reply.text().contains(OTHER),
            "{user}: the admin-only collection leaks into the list"
        );
        assert_eq!(calls.data(), 0, "{user}: listing collections loads no objects");

        // Every collection endpoint on MAIN.
        for ep in ENDPOINTS {
            let before = m.snapshot().await;
            let result = m.endpoint(who, ep, MAIN).await;
            let (reply, calls) = &result;
            let want = ep.expected(access);
            let what = format!("{user} {ep:?} on MAIN");
            let body = match want {
                200 | 202 => reply.expect(want),
                _ => reply.expect_error(want),
            };
            let after = m.snapshot().await;
            match (want, ep) {
                (404, _) => {
                    let missing = m.endpoint(who, ep, MISSING).await;
                    m.assert_like_missing(&result, &missing, MAIN, MISSING);
                }
                (403, _) => assert_eq!(calls.data(), 0, "{what}: refused, but the backend was asked for data: {calls:?}"),
                (_, Ep::Collection) => {
                    assert_eq!(flags(&body), entry(MAIN, access.read, access.write), "{what}: flags");
                    assert_eq!(calls.data(), 0, "{what}: {calls:?}");
                }
                (_, Ep::Manifest) => {
                    assert_eq!(calls.manifest, 1, "{what}: {calls:?}");
                    let ids: Vec<&str> = body["objects"]
                        .as_array()
                        .expect("records")
                        .iter()
                        .map(|r| r["id"].as_str().unwrap())
                        .collect();
                    assert!(ids.contains(&obj().as_str()), "{what}: {body}");
                }
                (_, Ep::Objects) => {
                    assert_eq!(calls.objects, 1, "{what}: {calls:?}");
                    assert!(
                        reply.header(DATE_ADDED_FIRST.as_str()).is_some(),
                        "{what}: X-TAXII-Date-Added-First"
                    );
                    assert!(body["objects"].as_array().is_some_and(|o| o.len() >= 2), "{what}: {body}");
                }
                (_, Ep::Object) => {
                    assert_eq!(calls.objects, 1, "{what}: {calls:?}");
                    let objects = body["objects"].as_array().expect("objects");
                    assert_eq!(objects.len(), 1, "{what}: the latest version only");
                    assert_eq!(
                        objects[0]["modified"], "2024-02-01T00:00:00.000Z",
                        "{what}: MAIN's copy, not OTHER's"
                    );
                }
                (_, Ep::Versions) => {
                    assert_eq!(calls.manifest, 1, "{what}: {calls:?}");
                    assert_eq!(
                        body["versions"],
                        json!(["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"]),
                        "{what}"
                    );
                }
                (_, Ep::AddObjects) => {
                    assert_eq!(calls.add_objects, 1, "{what}: {calls:?}");
                    assert_eq!(body["status"], "complete", "{what}: {body}");
                    assert_eq!(body["success_count"], 1, "{what}: {body}");
                    assert_eq!(after[0].len(), before[0].len() + 1, "{what}: the object is stored");
                    // The poster reads its status back.
                    let id = body["id"].as_str().expect("status id");
                    let (status, _) = m.call(who, Method::GET, &format!("/api/v21/status/{id}/"), "").await;
                    assert_eq!(status.expect(200), body, "{what}: the status read back");
                }
                (_, Ep::DeleteObject) => unreachable!("no matrix principal may delete"),
            }
            if ep.writes() && want != 202 {
                assert_eq!(after, before, "{what}: a refused write changed the collections");
                assert_eq!(calls.add_objects + calls.delete_object, 0, "{what}: {calls:?}");
            }

            // The admin-only collection: hidden from all three, exactly like a missing one.
            let before = m.snapshot().await;
            let hidden = m.endpoint(who, ep, OTHER).await;
            let missing = m.endpoint(who, ep, MISSING).await;
            m.assert_like_missing(&hidden, &missing, OTHER, MISSING);
            assert_eq!(m.snapshot().await, before, "{user} {ep:?} on OTHER changed something");
        }

        // The status of admin's POST into MAIN, which reader and writer know of.
        if access.is_visible() {
            let (reply, calls) = m.call(who, Method::GET, &format!("/api/v21/status/{admin_status_id}/"), "").await;
            assert_eq!(reply.expect(200), admin_status, "{user}: admin's status");
            assert_eq!(calls.data(), 0);
        }
        // An unknown status id: 404.
        let (reply, _) = m.call(who, Method::GET, &format!("/api/v21/status/{NO_STATUS}/"), "").await;
        reply.expect_error(404);
    }

    // admin sees both collections it is granted, with both flags.
    let (reply, _) = m.call(Some("admin"), Method::GET, "/api/v21/collections/", "").await;
    assert_eq!(listed(&reply.expect(200)), vec![entry(MAIN, true, true), entry(OTHER, true, true)]);
    // ...and only admin, with read and write, may delete (§5.7): every version goes.
    let (reply, calls) = m.endpoint(Some("admin"), Ep::DeleteObject, MAIN).await;
    assert_eq!(reply.expect(200), Value::Null, "DELETE has no body");
    assert_eq!(calls.delete_object, 1);
    let (reply, _) = m.endpoint(Some("admin"), Ep::Object, MAIN).await;
    reply.expect_error(404);
    let (reply, _) = m.endpoint(Some("admin"), Ep::Object, OTHER).await;
    assert_eq!(
        reply.expect(200)["objects"][0]["modified"],
        "2024-03-01T00:00:00.000Z",
        "OTHER keeps its copy"
    );

    // Without a principal (the StaticPolicy has no anonymous grant) the API root is
    // hidden: discovery lists nothing, and the root answers like a path that does not exist.
    let (reply, _) = m.call(None, Method::GET, "/taxii2/", "").await;
    let discovery = reply.expect(200);
    assert!(
        discovery.get("api_roots").is_none() && discovery.get("default").is_none(),
        "{discovery}"
    );
    for path in ["/api/v21/", "/api/v21/collections/", &Ep::Objects.path(ROOT, PUBLIC)] {
        let hidden = m.call(None, Method::GET, path, "").await;
        let missing = m.call(None, Method::GET, &path.replace("/api/v21/", "/api/v99/"), "").await;
        assert_eq!(hidden.0.expect_error(404), missing.0.expect_error(404), "{path}");
        assert_eq!(hidden.1, Calls::default(), "anonymous {path}: {:?}", hidden.1);
    }
    m.server.stop().await;
}

/// A status resource names the objects of the POST that made it. The status of a POST
/// into a collection the asker may not see is answered like a status that does not
/// exist (404, same body), as hidden things must be.
#[tokio::test]
async fn status_of_a_post_into_a_hidden_collection_is_not_found() {
    let m = Matrix::start().await;
    let (other_status, _) = m.post_as("admin", OTHER).await;
    let (main_status, _) = m.post_as("admin", MAIN).await;
    let cases = [
        ("reader", &other_status),
        ("writer", &other_status),
        ("nobody", &other_status),
        ("nobody", &main_status),
    ];
    let mut leaks = Vec::new();
    for (user, id) in cases {
        let hidden = m.call(Some(user), Method::GET, &format!("/api/v21/status/{id}/"), "").await;
        let missing = m.call(Some(user), Method::GET, &format!("/api/v21/status/{NO_STATUS}/"), "").await;
        missing.0.expect_error(404);
        if hidden.0.status != StatusCode::NOT_FOUND || hidden.0.text().replace(id.as_str(), NO_STATUS) != missing.0.text() {
            leaks.push(format!(
                "{user} GET /api/v21/status/{id}/ -> {} {}",
                hidden.0.status,
                hidden.0.text()
            ));
        }
    }
    m.server.stop().await;
    assert!(
        leaks.is_empty(),
        "statuses of POSTs into collections hidden from the asker are served:\n{}",
        leaks.join("\n")
    );
}

/// A policy that hides the API root `secret/v1` from everyone but `admin`.
struct HideSecretRoot;

impl AccessPolicy for HideSecretRoot {
    fn api_root(&self, principal: &Principal, api_root: &str) -> bool {
        api_root != "secret/v1" || principal.name() == Some("admin")
    }
}

/// A hidden API root: 404 for everything under it, byte for byte like a root that does
/// not exist (whatever the method, `Accept` or endpoint), no backend call at all, and
/// absent from discovery (also as `default`).
#[tokio::test]
async fn hidden_api_root_answers_like_a_missing_one() {
    let memory = MemoryBackend::new();
    for root in [ROOT, "secret/v1"] {
        memory.add_collection(root, CollectionInfo::new(MAIN, "Main").access(true, true));
        memory
            .insert_objects(root, MAIN, [Bytes::from(indicator(1, "2024-01-01T00:00:00.000Z"))])
            .expect("collection exists");
    }
    let backend = CountingBackend::new(memory);
    let taxii = TaxiiService::builder(backend.clone())
        .api_root(ROOT, ApiRoot::new("Open root"))
        .api_root("secret/v1", ApiRoot::new("Secret root"))
        .default_api_root("secret/v1")
        .access_policy(HideSecretRoot)
        .build();
    let app = Router::new()
        .fallback_service(taxii)
        .layer(middleware::from_fn(principal_from_x_user));
    let server = TestServer::start(app).await;
    let client = client();
    let as_user = |user: &'static str, method: Method, path: String, accept: &'static str, body: String| {
        let url = server.url(&path);
        let client = client.clone();
        let backend = backend.clone();
        async move {
            backend.take();
            let mut headers = vec![("x-user", user), ("accept", accept)];
            if method == Method::POST {
                headers.push(("content-type", TAXII));
            }
            let reply = send(&client, request(method, &url, &headers, body)).await;
            (reply, backend.take())
        }
    };

    // Discovery: the open root only for reader; both (secret the default) for admin.
    let (reply, _) = as_user("reader", Method::GET, "/taxii2/".into(), TAXII, String::new()).await;
    let discovery = reply.expect(200);
    assert_eq!(discovery["api_roots"], json!(["/api/v21/"]), "{discovery}");
    assert!(discovery.get("default").is_none(), "the hidden default is not named: {discovery}");
    let (reply, _) = as_user("admin", Method::GET, "/taxii2/".into(), TAXII, String::new()).await;
    let discovery = reply.expect(200);
    assert_eq!(discovery["api_roots"], json!(["/api/v21/", "/secret/v1/"]), "{discovery}");
    assert_eq!(discovery["default"], "/secret/v1/", "{discovery}");
    let (reply, _) = as_user("admin", Method::GET, "/secret/v1/collections/".into(), TAXII, String::new()).await;
    assert_eq!(
        listed(&reply.expect(200)),
        vec![entry(MAIN, true, true)],
        "admin uses the secret root"
    );

    let post_body = envelope(&[indicator(7, "2024-06-01T00:00:00.000Z")]);
    let mut cases: Vec<(Method, String, &str, String)> = vec![
        (Method::GET, String::new(), TAXII, String::new()),
        (Method::GET, "collections/".into(), TAXII, String::new()),
        (Method::GET, format!("status/{NO_STATUS}/"), TAXII, String::new()),
        // Methods an endpoint does not answer, and an unacceptable Accept: still 404.
        (Method::PUT, "collections/".into(), TAXII, String::new()),
        (Method::POST, Ep::Manifest.path("", MAIN)[2..].to_owned(), TAXII, post_body.clone()),
        (Method::GET, "collections/".into(), "text/html", String::new()),
    ];
    for ep in ENDPOINTS {
        let body = if ep == Ep::AddObjects { post_body.clone() } else { String::new() };
        cases.push((ep.method(), ep.path("", MAIN)[2..].to_owned(), TAXII, body));
    }
    let before = backend.contents("secret/v1", MAIN).await;
    for user in ["reader", "nobody"] {
        for (method, rest, accept, body) in cases.iter().cloned() {
            let hidden = as_user(user, method.clone(), format!("/secret/v1/{rest}"), accept, body.clone()).await;
            let missing = as_user(user, method.clone(), format!("/nothere/v1/{rest}"), accept, body.clone()).await;
            let what = format!("{user} {method} /secret/v1/{rest}");
            hidden.0.expect_error(404);
            assert_eq!(hidden.0.text(), missing.0.text(), "{what}: body");
            assert_eq!(hidden.0.headers_without_date(), missing.0.headers_without_date(), "{what}: headers");
            assert_eq!(hidden.1, Calls::default(), "{what}: the backend was called: {:?}", hidden.1);
            assert_eq!(missing.1, Calls::default(), "{what}: (missing root) {:?}", missing.1);
        }
    }
    assert_eq!(
        backend.contents("secret/v1", MAIN).await,
        before,
        "refused writes changed the secret root"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------
// 2. 401 from the bearer layer

/// Every TAXII endpoint behind `examples/support/bearer.rs`: without a valid bearer
/// token, 401 with `WWW-Authenticate: Bearer ...`, the TAXII Content-Type and a TAXII
/// error body, and the service is never reached; `bearer` in any case is accepted.
#[tokio::test]
async fn bearer_layer_answers_401_in_taxii_form() {
    let memory = MemoryBackend::new();
    memory.add_collection(ROOT, CollectionInfo::new(MAIN, "Main").access(true, true));
    memory
        .insert_objects(ROOT, MAIN, [Bytes::from(indicator(1, "2024-01-01T00:00:00.000Z"))])
        .expect("collection exists");
    let backend = CountingBackend::new(memory);
    let policy = StaticPolicy::new()
        .grant("alice", ROOT, MAIN, Access::READ_WRITE)
        .grant("bob", ROOT, MAIN, Access::READ);
    let taxii = TaxiiService::builder(backend.clone())
        .api_root(ROOT, ApiRoot::new("Bearer root"))
        .access_policy(policy)
        .build();
    let tokens = bearer::BearerTokens::new([
        ("alice-token".to_owned(), Principal::named("alice")),
        ("bob-token".to_owned(), Principal::named("bob")),
    ]);
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(Router::new().fallback_service(taxii).layer(tokens.layer()));
    let server = TestServer::start(app).await;
    let client = client();

    let post_body = envelope(&[indicator(9, "2024-06-01T00:00:00.000Z")]);
    let mut targets: Vec<(Method, String, String)> = vec![
        (Method::GET, "/taxii2/".into(), String::new()),
        (Method::GET, "/api/v21/".into(), String::new()),
        (Method::GET, "/api/v21/collections/".into(), String::new()),
        (Method::GET, format!("/api/v21/status/{NO_STATUS}/"), String::new()),
    ];
    for ep in ENDPOINTS {
        let body = if ep == Ep::AddObjects { post_body.clone() } else { String::new() };
        targets.push((ep.method(), ep.path(ROOT, MAIN), body));
    }
    let refused: &[(&str, Option<&str>)] = &[
        ("no Authorization", None),
        ("a wrong token", Some("Bearer mallory-token")),
        ("a token with a suffix", Some("Bearer alice-token2")),
        ("Basic", Some("Basic YWxpY2U6YWxpY2UtdG9rZW4=")),
        ("the Token scheme", Some("Token alice-token")),
        ("an empty token", Some("Bearer ")),
        ("the scheme alone", Some("Bearer")),
        ("no space after the scheme", Some("Beareralice-token")),
    ];
    let before = backend.contents(ROOT, MAIN).await;
    backend.take();
    for (method, path, body) in &targets {
        for (case, authorization) in refused {
            let mut headers = vec![("accept", TAXII), ("content-type", TAXII)];
            if let Some(value) = authorization {
                headers.push(("authorization", value));
            }
            let reply = send(&client, request(method.clone(), &server.url(path), &headers, body.clone())).await;
            let what = format!("{method} {path} with {case}");
            reply.expect_error(401);
            let challenge = reply
                .header("www-authenticate")
                .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
            assert!(challenge.starts_with("Bearer"), "{what}: WWW-Authenticate {challenge:?}");
        }
    }
    assert_eq!(backend.take(), Calls::default(), "a refused request reached the service");
    assert_eq!(backend.contents(ROOT, MAIN).await, before, "a refused write changed the collection");

    // The app's own route needs no token.
    let reply = send(&client, request(Method::GET, &server.url("/health"), &[], "")).await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));

    // The scheme is case-insensitive; each token is its principal.
    for (authorization, flags) in [
        ("Bearer alice-token", (true, true)),
        ("bearer alice-token", (true, true)),
        ("BEARER alice-token", (true, true)),
        ("bearer bob-token", (true, false)),
    ] {
        let headers = [("accept", TAXII), ("authorization", authorization)];
        let reply = send(&client, request(Method::GET, &server.url("/api/v21/collections/"), &headers, "")).await;
        assert_eq!(listed(&reply.expect(200)), vec![entry(MAIN, flags.0, flags.1)], "{authorization}");
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------
// 3. Discovery under a prefix

/// A service with two API roots, each with one collection holding one object.
fn prefixed_service(title: &str, base_url: &str) -> TaxiiService {
    let memory = Arc::new(MemoryBackend::new());
    for root in [ROOT, "feeds/public"] {
        memory.add_collection(root, CollectionInfo::new(MAIN, format!("Main of {root}")));
        memory
            .insert_objects(root, MAIN, [Bytes::from(indicator(1, "2024-01-01T00:00:00.000Z"))])
            .expect("collection exists");
    }
    TaxiiService::builder(memory)
        .title(title)
        .api_root(ROOT, ApiRoot::new(format!("{title}: {ROOT}")))
        .api_root("feeds/public", ApiRoot::new(format!("{title}: feeds/public")))
        .base_url(base_url)
        .build()
}

/// The app: API roots nested under `prefix`, discovery at the host's `/taxii2/`.
fn prefixed_app(prefix: &str, taxii: TaxiiService) -> Router {
    Router::new()
        .route("/", get(|| async { "the host's home page" }))
        .nest_service(prefix, taxii.clone())
        .route_service("/taxii2/", taxii.clone())
        .route_service("/taxii2", taxii)
}

#[tokio::test]
async fn discovery_lists_public_urls_under_two_prefixes() {
    let client = client();
    for (prefix, base_url, public_host) in [
        ("/taxii", "https://cti.example.com/taxii", "https://cti.example.com"),
        ("/intel/v2", "/intel/v2", ""),
    ] {
        let title = format!("Under {prefix}");
        let server = TestServer::start(prefixed_app(prefix, prefixed_service(&title, base_url))).await;
        let expected_roots = [format!("{base_url}/api/v21/"), format!("{base_url}/feeds/public/")];
        for discovery_path in ["/taxii2/", "/taxii2"] {
            let reply = send(&client, taxii_request(Method::GET, &server.url(discovery_path), &[], "")).await;
            let discovery = reply.expect(200);
            assert_eq!(discovery["title"], title.as_str());
            assert_eq!(discovery["api_roots"], json!(expected_roots), "{prefix}: {discovery}");
            assert_eq!(discovery["default"], json!(expected_roots[0]), "{prefix}: {discovery}");
        }
        // Follow each listed URL back through the app (the public host is this server).
        for (url, root) in expected_roots.iter().zip([ROOT, "feeds/public"]) {
            let path = url.strip_prefix(public_host).expect("the URL is under the public host");
            assert!(path.starts_with(&format!("{prefix}/")), "{url} is under {prefix}");
            let reply = send(&client, taxii_request(Method::GET, &server.url(path), &[], "")).await;
            let api_root = reply.expect(200);
            assert_eq!(api_root["title"], format!("{title}: {root}"), "{path}");
            assert!(api_root["versions"].as_array().is_some_and(|v| v.contains(&json!(TAXII))));
            let reply = send(
                &client,
                taxii_request(Method::GET, &server.url(&format!("{path}collections/")), &[], ""),
            )
            .await;
            assert_eq!(listed(&reply.expect(200)), vec![entry(MAIN, true, false)], "{path}collections/");
            let objects = format!("{path}collections/{MAIN}/objects/");
            let reply = send(&client, taxii_request(Method::GET, &server.url(&objects), &[], "")).await;
            assert_eq!(reply.expect(200)["objects"][0]["id"], json!(indicator_id(1)), "{objects}");
        }
        // The API roots are served only under the prefix; the host keeps its own page.
        let reply = send(&client, taxii_request(Method::GET, &server.url("/api/v21/"), &[], "")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "/api/v21/ outside {prefix}");
        let reply = send(&client, request(Method::GET, &server.url("/"), &[], "")).await;
        assert_eq!(reply.text(), "the host's home page");
        server.stop().await;
    }
}

// ---------------------------------------------------------------------------------
// 4. TaxiiLayer passes everything else through

/// The wrapped application: its own pages, some looking almost like TAXII paths.
fn host_app() -> Router {
    Router::new()
        .route("/about", get(|| async { ([("x-app", "about")], "the app's own page") }))
        .route(
            "/taxii2x",
            get(|| async { (StatusCode::IM_A_TEAPOT, [("x-app", "taxii2x")], "not discovery") }),
        )
        .route(
            "/api/v21x/",
            get(|| async { (StatusCode::ACCEPTED, [("x-app", "v21x")], "not an API root") }),
        )
        .route(
            "/echo",
            post(|body: Bytes| async move {
                (
                    StatusCode::CREATED,
                    [("x-app", "echo"), ("content-type", "application/x-echo")],
                    body,
                )
            }),
        )
        .fallback(|uri: Uri| async move {
            (
                StatusCode::NOT_FOUND,
                [("x-app", "fallback")],
                format!("the app has nothing at {uri}"),
            )
        })
}

#[tokio::test]
async fn taxii_layer_serves_taxii_paths_and_passes_the_rest_through() {
    let memory = Arc::new(MemoryBackend::new());
    memory.add_collection(ROOT, CollectionInfo::new(MAIN, "Main"));
    let taxii = TaxiiService::builder(memory).api_root(ROOT, ApiRoot::new("Layered")).build();
    let layered = TestServer::start(TaxiiLayer::new(taxii).layer(host_app())).await;
    let plain = TestServer::start(host_app()).await;
    let client = client();

    // Not TAXII: answered by the wrapped app exactly as without the layer.
    let passthrough: &[(Method, &str, &str)] = &[
        (Method::GET, "/about", ""),
        (Method::GET, "/taxii2x", ""),
        (Method::GET, "/taxii2x/", ""),
        (Method::GET, "/taxii2x/api/v21/", ""),
        (Method::GET, "/taxii", ""),
        (Method::GET, "/api/v21x/", ""),
        (Method::GET, "/api/v21x/collections/", ""),
        (Method::GET, "/api/v2", ""),
        (Method::GET, "/api", ""),
        (Method::GET, "/api/v211/collections/", ""),
        (Method::GET, "/", ""),
        (Method::POST, "/echo", "a body the app echoes"),
        (Method::DELETE, "/about", ""),
    ];
    for (method, path, body) in passthrough {
        let headers = [("accept", TAXII), ("x-extra", "kept")];
        let through = send(&client, request(method.clone(), &layered.url(path), &headers, *body)).await;
        let direct = send(&client, request(method.clone(), &plain.url(path), &headers, *body)).await;
        assert_eq!(through.status, direct.status, "{method} {path}: status");
        assert_eq!(
            through.headers_without_date(),
            direct.headers_without_date(),
            "{method} {path}: headers"
        );
        assert_eq!(through.body, direct.body, "{method} {path}: body");
        assert_ne!(through.header("content-type"), Some(TAXII), "{method} {path}: answered by TAXII");
    }

    // TAXII paths: answered by TAXII (the bare app has only its fallback there).
    for path in [
        "/taxii2/".to_owned(),
        "/taxii2".to_owned(),
        "/api/v21/".to_owned(),
        "/api/v21".to_owned(),
        "/api/v21/collections/".to_owned(),
        format!("/api/v21/collections/{MAIN}/objects/"),
    ] {
        let reply = send(&client, taxii_request(Method::GET, &layered.url(&path), &[], "")).await;
        reply.expect(200);
        assert!(reply.header("x-app").is_none(), "{path}: answered by the app");
        let direct = send(&client, taxii_request(Method::GET, &plain.url(&path), &[], "")).await;
        assert_eq!(
            direct.header("x-app"),
            Some("fallback"),
            "{path}: the bare app does not serve TAXII"
        );
    }
    let reply = send(
        &client,
        taxii_request(Method::GET, &layered.url(&format!("/api/v21/collections/{MISSING}/")), &[], ""),
    )
    .await;
    reply.expect_error(404);
    assert!(
        reply.header("x-app").is_none(),
        "a missing collection is TAXII's 404, not the app's"
    );
    layered.stop().await;
    plain.stop().await;
}

/// Under [`TaxiiLayer`] a path under an API root the principal may not use must be
/// answered like a path under no API root at all, which the layer passes to the
/// wrapped app; otherwise the TAXII 404 tells the root exists.
#[tokio::test]
async fn hidden_api_root_under_taxii_layer_answers_like_a_missing_one() {
    let memory = Arc::new(MemoryBackend::new());
    memory.add_collection("secret/v1", CollectionInfo::new(MAIN, "Main"));
    let taxii = TaxiiService::builder(memory)
        .api_root(ROOT, ApiRoot::new("Open"))
        .api_root("secret/v1", ApiRoot::new("Secret"))
        .access_policy(HideSecretRoot)
        .build();
    let app = ServiceBuilder::new()
        .layer(middleware::from_fn(principal_from_x_user))
        .layer(TaxiiLayer::new(taxii))
        .service(host_app());
    let server = TestServer::start(app).await;
    let client = client();
    let mut differences = Vec::new();
    for rest in ["", "collections/", &format!("collections/{MAIN}/objects/")] {
        let headers = [("accept", TAXII), ("x-user", "reader")];
        let hidden = send(
            &client,
            request(Method::GET, &server.url(&format!("/secret/v1/{rest}")), &headers, ""),
        )
        .await;
        let missing = send(
            &client,
            request(Method::GET, &server.url(&format!("/absent/v1/{rest}")), &headers, ""),
        )
        .await;
        assert_eq!(
            missing.header("x-app"),
            Some("fallback"),
            "a path under no API root goes to the app"
        );
        let hidden_text = hidden.text().replace("/secret/v1/", "/absent/v1/");
        if hidden.status != missing.status
            || hidden.headers_without_date() != missing.headers_without_date()
            || hidden_text != missing.text()
        {
            differences.push(format!(
                "GET /secret/v1/{rest} -> {} {:?} {}\nGET /absent/v1/{rest} -> {} {:?} {}",
                hidden.status,
                hidden.header("content-type"),
                hidden.text(),
                missing.status,
                missing.header("content-type"),
                missing.text()
            ));
        }
    }
    let admin = send(
        &client,
        request(
            Method::GET,
            &server.url("/secret/v1/"),
            &[("accept", TAXII), ("x-user", "admin")],
            "",
        ),
    )
    .await;
    server.stop().await;
    admin.expect(200);
    assert!(
        differences.is_empty(),
        "the hidden root is told apart from a missing one:\n{}",
        differences.join("\n")
    );
}

// ---------------------------------------------------------------------------------
// 5. Composition with tower-http layers

const ORIGIN: &str = "https://analyst.example.com";
/// The body-limit layer's limit, well below the API root's `max_content_length`.
const BODY_LIMIT: usize = 4096;

/// TAXII behind bearer tokens, under trace, timeout, CORS, compression and body-limit layers.
fn composed_app() -> Router {
    let memory = Arc::new(MemoryBackend::new());
    memory.add_collection(ROOT, CollectionInfo::new(MAIN, "Main").access(true, true));
    let objects = (1..=20).map(|n| Bytes::from(indicator(n, "2024-01-01T00:00:00.000Z")));
    memory.insert_objects(ROOT, MAIN, objects).expect("collection exists");
    let taxii = TaxiiService::builder(memory)
        .api_root(ROOT, ApiRoot::new("Composed"))
        .access_policy(StaticPolicy::new().grant("alice", ROOT, MAIN, Access::READ_WRITE))
        .build();
    let tokens = bearer::BearerTokens::new([("alice-token".to_owned(), Principal::named("alice"))]);
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_static(ORIGIN))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::ACCEPT, header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([DATE_ADDED_FIRST, DATE_ADDED_LAST]);
    Router::new().fallback_service(taxii).layer(tokens.layer()).layer(
        ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
            .layer(cors)
            .layer(CompressionLayer::new()),
    )
}

/// The comma-separated tokens of a header, lower-cased.
fn tokens_of(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().expect("ASCII").split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test]
async fn works_under_tower_http_layers() {
    let server = TestServer::start(composed_app()).await;
    let client = client();
    let objects_url = server.url(&format!("/api/v21/collections/{MAIN}/objects/"));
    let auth = ("authorization", "Bearer alice-token");

    // Compression: gzip on the wire, the same JSON once decoded.
    let plain = send(&client, taxii_request(Method::GET, &objects_url, &[auth], "")).await;
    let plain_json = plain.expect(200);
    assert_eq!(plain_json["objects"].as_array().map(Vec::len), Some(20));
    assert!(plain.header("content-encoding").is_none(), "no Accept-Encoding, no compression");
    let gzipped = send(
        &client,
        taxii_request(Method::GET, &objects_url, &[auth, ("accept-encoding", "gzip")], ""),
    )
    .await;
    assert_eq!(gzipped.status, StatusCode::OK);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gzipped.header("content-type"), Some(TAXII));
    assert!(gzipped.body.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    assert!(gzipped.body.len() < plain.body.len(), "compressed");
    for name in [DATE_ADDED_FIRST, DATE_ADDED_LAST] {
        assert_eq!(
            gzipped.header(name.as_str()),
            plain.header(name.as_str()),
            "{name} survives compression"
        );
        assert!(plain.header(name.as_str()).is_some(), "{name}");
    }
    let decompressing = ServiceBuilder::new().layer(DecompressionLayer::new()).service(client.clone());
    let response = decompressing
        .oneshot(taxii_request(Method::GET, &objects_url, &[auth, ("accept-encoding", "gzip")], ""))
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let decoded = response.into_body().collect().await.expect("gzip decodes").to_bytes();
    assert_eq!(decoded, plain.body, "the decoded body is the uncompressed answer");
    assert_eq!(serde_json::from_slice::<Value>(&decoded).expect("JSON"), plain_json);

    // CORS: a browser's preflight passes without credentials, and the browser may read
    // the X-TAXII-Date-Added-* headers of the real request.
    for method in ["GET", "POST", "DELETE"] {
        let preflight = send(
            &client,
            request(
                Method::OPTIONS,
                &objects_url,
                &[
                    ("origin", ORIGIN),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", "accept,authorization"),
                ],
                "",
            ),
        )
        .await;
        assert!(
            preflight.status.is_success(),
            "preflight for {method}: {} {}",
            preflight.status,
            preflight.text()
        );
        assert_eq!(preflight.header("access-control-allow-origin"), Some(ORIGIN));
        assert!(tokens_of(&preflight, "access-control-allow-methods").contains(&method.to_ascii_lowercase()));
        let allowed = tokens_of(&preflight, "access-control-allow-headers");
        assert!(
            allowed.contains(&"accept".to_owned()) && allowed.contains(&"authorization".to_owned()),
            "{allowed:?}"
        );
    }
    let cross = send(&client, taxii_request(Method::GET, &objects_url, &[auth, ("origin", ORIGIN)], "")).await;
    assert_eq!(cross.expect(200), plain_json);
    assert_eq!(cross.header("access-control-allow-origin"), Some(ORIGIN));
    let exposed = tokens_of(&cross, "access-control-expose-headers");
    for name in [DATE_ADDED_FIRST, DATE_ADDED_LAST] {
        assert!(exposed.contains(&name.as_str().to_owned()), "{name} not exposed: {exposed:?}");
        assert!(cross.header(name.as_str()).is_some(), "{name}");
    }

    // Authentication still applies under the stack.
    let refused = send(&client, taxii_request(Method::GET, &objects_url, &[("origin", ORIGIN)], "")).await;
    refused.expect_error(401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some(ORIGIN),
        "a browser may read the 401"
    );
    assert!(refused.header("www-authenticate").is_some_and(|c| c.starts_with("Bearer")));

    // Body limit: within it, a normal add; above it, 413 and nothing stored.
    let small = envelope(&[indicator(500, "2024-06-01T00:00:00.000Z")]);
    assert!(small.len() < BODY_LIMIT);
    let reply = send(&client, taxii_request(Method::POST, &objects_url, &[auth], small)).await;
    assert_eq!(reply.expect(202)["success_count"], 1);
    let large = envelope(&(600..640).map(|n| indicator(n, "2024-06-01T00:00:00.000Z")).collect::<Vec<_>>());
    assert!(large.len() > BODY_LIMIT);
    let reply = send(&client, taxii_request(Method::POST, &objects_url, &[auth], large)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.text());
    let reply = send(
        &client,
        taxii_request(
            Method::GET,
            &server.url(&format!("/api/v21/collections/{MAIN}/manifest/")),
            &[auth],
            "",
        ),
    )
    .await;
    let stored = reply.expect(200)["objects"].as_array().map(Vec::len);
    assert_eq!(stored, Some(21), "the 20 loaded objects and the small add only");

    // DELETE through the stack: 200, TAXII Content-Type, no body.
    let object_url = server.url(&format!("/api/v21/collections/{MAIN}/objects/{}/", indicator_id(500)));
    let reply = send(&client, taxii_request(Method::DELETE, &object_url, &[auth], "")).await;
    assert_eq!(reply.expect(200), Value::Null);
    server.stop().await;
}

/// A request body sent in chunks, without `Content-Length`.
struct Chunked(VecDeque<Bytes>);

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

/// `RequestBodyLimitLayer` can refuse a body with `Content-Length` itself; a chunked one
/// it can only cut off while the service reads it, and the service must then answer
/// 413 (tower-http's documented contract for inner services), not 400.
#[tokio::test]
async fn body_limit_layer_on_a_chunked_body_gives_413() {
    let server = TestServer::start(composed_app()).await;
    let client: Client<HttpConnector, Chunked> = Client::builder(TokioExecutor::new()).build_http();
    let objects_url = server.url(&format!("/api/v21/collections/{MAIN}/objects/"));
    let post = |objects: Vec<String>| {
        let body = envelope(&objects);
        let chunks = body.as_bytes().chunks(512).map(Bytes::copy_from_slice).collect();
        Request::post(&objects_url)
            .header("accept", TAXII)
            .header("content-type", TAXII)
            .header("authorization", "Bearer alice-token")
            .body(Chunked(chunks))
            .expect("request")
    };
    let read = |response: Response<hyper::body::Incoming>| async move {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        (parts, body)
    };

    let small = post(vec![indicator(700, "2024-06-01T00:00:00.000Z")]);
    let (parts, body) = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        read(client.request(small).await.expect("request")).await
    })
    .await
    .expect("answer in time");
    assert_eq!(
        parts.status,
        StatusCode::ACCEPTED,
        "a small chunked add: {}",
        String::from_utf8_lossy(&body)
    );

    let large = post((800..840).map(|n| indicator(n, "2024-06-01T00:00:00.000Z")).collect());
    let (parts, body) = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        read(client.request(large).await.expect("request")).await
    })
    .await
    .expect("answer in time");
    server.stop().await;
    assert_eq!(
        parts.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a chunked body over RequestBodyLimitLayer's {BODY_LIMIT} bytes: {} {}",
        parts.status,
        String::from_utf8_lossy(&body)
    );
}
