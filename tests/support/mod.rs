//! Helpers shared by the protocol tests: building a service over a [`MemoryBackend`],
//! sending requests through `oneshot`, reading replies and status resources, and
//! writing small STIX objects whose expected answers are known by construction. Use
//! with `mod support;`.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;
use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService, TaxiiServiceBuilder, Timestamp, is_uuid};

/// The API root every test serves.
pub const ROOT: &str = "api/v21";
/// The one content type every TAXII 2.1 response carries.
pub const TAXII: &str = "application/taxii+json;version=2.1";
/// The main collection of the tests.
pub const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
/// A second collection, for tests that need two.
pub const OTHER: &str = "52892447-4d7e-4f70-b94d-d7f22742ff63";

/// The path of an endpoint under the test API root, e.g. `at("collections/")`.
pub fn at(rest: &str) -> String {
    format!("/{ROOT}/{rest}")
}

/// `/api/v21/collections/{COLLECTION}/{rest}`.
pub fn coll(rest: &str) -> String {
    format!("/{ROOT}/collections/{COLLECTION}/{rest}")
}

/// The collection endpoint of `collection` under the test API root.
pub fn collection_uri(collection: &str) -> String {
    format!("/{ROOT}/collections/{collection}/")
}

/// The objects endpoint of `collection`.
pub fn objects_uri(collection: &str) -> String {
    format!("/{ROOT}/collections/{collection}/objects/")
}

/// The manifest endpoint of `collection`.
pub fn manifest_uri(collection: &str) -> String {
    format!("/{ROOT}/collections/{collection}/manifest/")
}

/// The object endpoint of `id` in `collection`.
pub fn object_uri(collection: &str, id: &str) -> String {
    format!("/{ROOT}/collections/{collection}/objects/{id}/")
}

/// The versions endpoint of `id` in `collection`.
pub fn versions_uri(collection: &str, id: &str) -> String {
    format!("/{ROOT}/collections/{collection}/objects/{id}/versions/")
}

/// The status endpoint of status `id`.
pub fn status_uri(id: &str) -> String {
    format!("/{ROOT}/status/{id}/")
}

/// A backend with one empty readable collection, [`COLLECTION`].
pub fn backend() -> Arc<MemoryBackend> {
    let backend = Arc::new(MemoryBackend::new());
    backend.add_collection(ROOT, CollectionInfo::new(COLLECTION, "Test collection"));
    backend
}

/// A builder over `backend` with the test API root.
pub fn builder(backend: &Arc<MemoryBackend>) -> TaxiiServiceBuilder {
    TaxiiService::builder(backend.clone()).api_root(ROOT, ApiRoot::new("Test root"))
}

/// The service over `backend` with default settings.
pub fn service(backend: &Arc<MemoryBackend>) -> TaxiiService {
    builder(backend).build()
}

/// Inserts objects into [`COLLECTION`], asserting every one is stored anew.
pub fn insert(backend: &MemoryBackend, objects: impl IntoIterator<Item = impl Into<Bytes>>) {
    insert_into(backend, COLLECTION, objects);
}

/// Inserts objects into a collection, asserting every one is stored anew.
pub fn insert_into(backend: &MemoryBackend, collection: &str, objects: impl IntoIterator<Item = impl Into<Bytes>>) {
    let objects: Vec<Bytes> = objects.into_iter().map(Into::into).collect();
    let n = objects.len();
    let report = backend.insert_objects(ROOT, collection, objects).expect("collection exists");
    assert!(report.rejected.is_empty(), "rejected: {:?}", report.rejected);
    assert_eq!(report.added, n, "every test object is a new version");
}

/// A reply, read completely.
#[derive(Debug)]
pub struct Reply {
    /// The URI (path and query) of the request, for messages.
    pub uri: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics when it is not JSON).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {:?}", self.uri, String::from_utf8_lossy(&self.body)))
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("header is ASCII"))
    }

    /// A header holding a TAXII timestamp, parsed, if present.
    #[track_caller]
    pub fn timestamp_header(&self, name: &str) -> Option<Timestamp> {
        self.header(name)
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{}: {name} is a timestamp: {v:?}", self.uri)))
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }

    /// Asserts the status, the exact TAXII content type, and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: status; body: {}",
            self.uri,
            String::from_utf8_lossy(&self.body)
        );
        self.assert_taxii_content_type();
        self.json()
    }

    /// Asserts exactly one `Content-Type`, equal to `application/taxii+json;version=2.1`.
    #[track_caller]
    pub fn assert_taxii_content_type(&self) {
        let values: Vec<_> = self.headers.get_all(http::header::CONTENT_TYPE).iter().collect();
        assert_eq!(values.len(), 1, "{}: exactly one Content-Type: {values:?}", self.uri);
        assert_eq!(values[0], TAXII, "{}: Content-Type", self.uri);
    }

    /// Asserts the DELETE success: 200, the TAXII Content-Type, no body.
    #[track_caller]
    pub fn expect_deleted(&self) {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}: status; body: {}",
            self.uri,
            String::from_utf8_lossy(&self.body)
        );
        self.assert_taxii_content_type();
        assert!(
            self.body.is_empty(),
            "{}: DELETE answers without a body: {:?}",
            self.uri,
            String::from_utf8_lossy(&self.body)
        );
    }

    /// Asserts a 202 with a status resource of the right shape (see
    /// [`check_status_shape`]) and returns it.
    #[track_caller]
    pub fn expect_status(&self) -> Value {
        let status = self.expect(202);
        check_status_shape(&status);
        status
    }

    /// Asserts a TAXII error: status, content type, and a JSON body with a `title`
    /// and `http_status` as a string equal to the code. Returns the body.
    #[track_caller]
    pub fn expect_error(&self, status: u16) -> Value {
        let body = self.expect(status);
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "error has a title: {body}");
        assert_eq!(body["http_status"], Value::String(status.to_string()), "http_status: {body}");
        body
    }

    /// `X-TAXII-Date-Added-First` and `-Last`, if present.
    pub fn date_added_headers(&self) -> (Option<&str>, Option<&str>) {
        (self.header("x-taxii-date-added-first"), self.header("x-taxii-date-added-last"))
    }
}

/// Sends a request and reads the whole reply.
pub async fn send<B>(service: &TaxiiService, request: Request<B>) -> Reply
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let uri = request.uri().to_string();
    let response = service.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body reads").to_bytes();
    Reply {
        uri,
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// GET `uri` with `Accept: application/taxii+json;version=2.1`.
pub async fn get(service: &TaxiiService, uri: &str) -> Reply {
    send(
        service,
        Request::get(uri).header("accept", TAXII).body(String::new()).expect("request"),
    )
    .await
}

/// DELETE `uri` with `Accept: application/taxii+json;version=2.1`.
pub async fn delete(service: &TaxiiService, uri: &str) -> Reply {
    send(
        service,
        Request::delete(uri).header("accept", TAXII).body(String::new()).expect("request"),
    )
    .await
}

/// POST `body` to `uri` with these `Accept` and `Content-Type` headers (each `None`
/// is left out).
pub async fn post_raw(
    service: &TaxiiService,
    uri: &str,
    accept: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Reply {
    let mut request = Request::post(uri);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    send(service, request.body(Full::new(body.into())).expect("request")).await
}

/// POST an envelope to a collection's objects endpoint, as taxii2client does
/// (`Accept` and `Content-Type` both TAXII 2.1).
pub async fn post(service: &TaxiiService, collection: &str, body: impl Into<Bytes>) -> Reply {
    post_raw(service, &objects_uri(collection), Some(TAXII), Some(TAXII), body).await
}

/// GET `uri` with this `Accept` header (or none).
pub async fn get_accepting(service: &TaxiiService, uri: &str, accept: Option<&str>) -> Reply {
    let mut request = Request::get(uri);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    send(service, request.body(String::new()).expect("request")).await
}

/// A STIX id of `kind` whose UUID (v4 form) is derived from `n`.
pub fn id(kind: &str, n: u32) -> String {
    format!("{kind}--{n:08x}-0000-4000-8000-{n:012x}")
}

/// A STIX object: `created` is 2020-01-01, `modified` as given, `spec_version` only
/// when `Some` (an SDO without it is STIX 2.0).
pub fn object(id: &str, modified: &str, spec: Option<&str>) -> String {
    let (kind, _) = id.split_once("--").expect("type--uuid");
    let spec = spec.map(|s| format!(r#""spec_version":"{s}","#)).unwrap_or_default();
    format!(
        r#"{{"type":"{kind}",{spec}"id":"{id}","created":"2020-01-01T00:00:00.000Z","modified":"{modified}","name":"{id} at {modified}"}}"#
    )
}

/// A STIX 2.1 object (see [`object`]).
pub fn sdo(id: &str, modified: &str) -> String {
    object(id, modified, Some("2.1"))
}

/// An envelope holding these objects (JSON texts), in order.
pub fn envelope<S: AsRef<str>>(objects: &[S]) -> String {
    let objects: Vec<&str> = objects.iter().map(AsRef::as_ref).collect();
    format!(r#"{{"objects":[{}]}}"#, objects.join(","))
}

/// The `objects` list of an envelope or manifest (empty when absent).
pub fn objects_of(body: &Value) -> &[Value] {
    body["objects"].as_array().map_or(&[], Vec::as_slice)
}

/// The `objects` of an envelope as (id, modified) pairs, in order (empty when absent).
pub fn id_versions(envelope: &Value) -> Vec<(String, String)> {
    objects_of(envelope)
        .iter()
        .map(|o| {
            let version = o.get("modified").or_else(|| o.get("created")).and_then(Value::as_str);
            (o["id"].as_str().unwrap().to_owned(), version.unwrap_or_default().to_owned())
        })
        .collect()
}

/// The `objects` of a manifest as (id, version) pairs, in order (empty when absent).
pub fn manifest_versions(manifest: &Value) -> Vec<(String, String)> {
    objects_of(manifest)
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["version"].as_str().unwrap().to_owned()))
        .collect()
}

/// The `date_added` of each manifest record, in order.
pub fn manifest_dates(manifest: &Value) -> Vec<String> {
    objects_of(manifest)
        .iter()
        .map(|r| r["date_added"].as_str().unwrap().to_owned())
        .collect()
}

/// Pairs from string slices, for comparing with [`id_versions`] and [`manifest_versions`].
pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// Whether `s` is a TAXII timestamp: `YYYY-MM-DDTHH:MM:SS.ssssssZ`, six fraction digits.
pub fn is_taxii_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 27
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Appends `key=value` to a URI, choosing `?` or `&`.
pub fn with_param(uri: &str, key: &str, value: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{key}={value}")
}

/// (id, version, spec version) of one returned object version or manifest record.
pub type Item = (String, String, String);

/// The `objects` of an envelope as [`Item`]s, in order; an object without
/// `spec_version` is STIX 2.0 (empty when there are none).
pub fn envelope_items(body: &Value) -> Vec<Item> {
    objects_of(body)
        .iter()
        .map(|o| {
            let spec = o.get("spec_version").and_then(Value::as_str).unwrap_or("2.0");
            let version = o
                .get("modified")
                .or_else(|| o.get("created"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (o["id"].as_str().unwrap().into(), version.into(), spec.into())
        })
        .collect()
}

/// The records of a manifest as [`Item`]s, the spec version read from `media_type`.
pub fn manifest_items(body: &Value) -> Vec<Item> {
    objects_of(body)
        .iter()
        .map(|r| {
            let media_type = r["media_type"].as_str().unwrap();
            let spec = media_type
                .strip_prefix("application/stix+json;version=")
                .expect("a STIX media type");
            (r["id"].as_str().unwrap().into(), r["version"].as_str().unwrap().into(), spec.into())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Status resources
// ---------------------------------------------------------------------------

/// The required properties, types, consistent counts, no empty lists, each detail
/// with a string `id` and `version`.
#[track_caller]
pub fn check_status_shape(status: &Value) {
    let object = status.as_object().unwrap_or_else(|| panic!("a status is an object: {status}"));
    let allowed = [
        "id",
        "status",
        "request_timestamp",
        "total_count",
        "success_count",
        "failure_count",
        "pending_count",
        "successes",
        "failures",
        "pendings",
    ];
    for key in object.keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected status property {key:?}: {status}");
    }
    let id = status["id"].as_str().unwrap_or_else(|| panic!("status id: {status}"));
    assert!(is_uuid(id), "status id is a UUID: {id}");
    assert_eq!(&id[14..15], "4", "status id is a version 4 UUID: {id}");
    assert!(matches!(status["status"].as_str(), Some("complete" | "pending")), "{status}");
    let ts = status["request_timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("request_timestamp: {status}"));
    assert!(is_taxii_timestamp(ts), "request_timestamp {ts:?}");
    let count = |k: &str| {
        status[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} is a non-negative integer: {status}"))
    };
    let list_len = |k: &str| match status.get(k) {
        None => 0,
        Some(list) => {
            let list = list.as_array().unwrap_or_else(|| panic!("{k} is a list: {status}"));
            assert!(!list.is_empty(), "{k} is omitted rather than empty: {status}");
            for detail in list {
                let detail = detail.as_object().unwrap_or_else(|| panic!("{k} entry is an object: {status}"));
                assert!(
                    detail.get("id").is_some_and(Value::is_string),
                    "{k} entry has a string id: {status}"
                );
                assert!(
                    detail.get("version").is_some_and(Value::is_string),
                    "{k} entry has a string version: {status}"
                );
                for key in detail.keys() {
                    assert!(
                        ["id", "version", "message"].contains(&key.as_str()),
                        "unexpected {key:?} in {k}: {status}"
                    );
                }
            }
            list.len() as u64
        }
    };
    assert_eq!(count("success_count"), list_len("successes"), "success_count: {status}");
    assert_eq!(count("failure_count"), list_len("failures"), "failure_count: {status}");
    assert_eq!(count("pending_count"), list_len("pendings"), "pending_count: {status}");
    assert_eq!(
        count("total_count"),
        count("success_count") + count("failure_count") + count("pending_count"),
        "total_count: {status}"
    );
    if status["status"] == "complete" {
        assert_eq!(count("pending_count"), 0, "a complete status has nothing pending: {status}");
    }
}

/// (id, version) of a status's successes, sorted.
pub fn successes(status: &Value) -> Vec<(String, String)> {
    details(status, "successes").into_iter().map(|(i, v, _)| (i, v)).collect()
}

/// (id, version, message) of a status list, sorted.
pub fn details(status: &Value, key: &str) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<_> = status
        .get(key)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|d| {
                    (
                        d["id"].as_str().unwrap().to_owned(),
                        d["version"].as_str().unwrap().to_owned(),
                        d.get("message").and_then(Value::as_str).map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
