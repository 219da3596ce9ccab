//! The write side through `tower::ServiceExt::oneshot`: add objects (POST, §5.5) with
//! its status resource (§4.3), and delete an object (§5.7), on the memory backend.
//!
//! Every answer is checked for its exact status, its one `Content-Type`
//! (`application/taxii+json;version=2.1`, the empty DELETE 200 included) and its
//! body; every error for a TAXII error JSON whose `http_status` is the code.

mod common;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use support::{
    ROOT, TAXII, check_status_shape, delete, details, envelope, get, id, is_taxii_timestamp, manifest_uri, object, object_uri, objects_of,
    objects_uri, pairs, post, post_raw, sdo, send, status_uri, successes, versions_uri,
};
use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService, Timestamp};

/// can_read and can_write.
const COLL: &str = "6b6b1e1c-4d5f-4c1c-9a4e-2f0e7d0f6a01";
/// A second read-write collection.
const OTHER: &str = "e7a0f1a2-3b4c-4d5e-8f60-718293a4b5c6";
/// can_read only.
const READ_ONLY: &str = "0c0c0c0c-1111-4222-8333-444444444444";
/// can_write only.
const WRITE_ONLY: &str = "1d1d1d1d-5555-4666-8777-888888888888";
/// Neither.
const NO_ACCESS: &str = "2e2e2e2e-9999-4aaa-8bbb-cccccccccccc";
const MISSING: &str = "3f3f3f3f-dddd-4eee-8fff-000000000000";

// ---------------------------------------------------------------------------
// Set-up and requests
// ---------------------------------------------------------------------------

fn backend_with(backend: MemoryBackend) -> Arc<MemoryBackend> {
    let backend = Arc::new(backend);
    for (id, read, write) in [
        (COLL, true, true),
        (OTHER, true, true),
        (READ_ONLY, true, false),
        (WRITE_ONLY, false, true),
        (NO_ACCESS, false, false),
    ] {
        backend.add_collection(ROOT, CollectionInfo::new(id, format!("collection {id}")).access(read, write));
    }
    backend
}

fn service_over(backend: &Arc<MemoryBackend>, max_content_length: Option<u64>) -> TaxiiService {
    let mut root = ApiRoot::new("Write tests");
    if let Some(max) = max_content_length {
        root = root.max_content_length(max);
    }
    TaxiiService::builder(backend.clone()).api_root(ROOT, root).build()
}

fn setup() -> (Arc<MemoryBackend>, TaxiiService) {
    let backend = backend_with(MemoryBackend::new());
    let service = service_over(&backend, None);
    (backend, service)
}

fn full(body: impl Into<Bytes>) -> Full<Bytes> {
    Full::new(body.into())
}

// ---------------------------------------------------------------------------
// What the server holds
// ---------------------------------------------------------------------------

/// One manifest record: (id, version, media_type, date_added).
type Record = (String, String, String, String);

/// Every version in every spec version of a collection, from the manifest, in order.
async fn manifest_all(service: &TaxiiService, collection: &str) -> Vec<Record> {
    let uri = format!(
        "{}?match[version]=all&match[spec_version]=2.0,2.1&limit=10000",
        manifest_uri(collection)
    );
    let body = get(service, &uri).await.expect(200);
    assert!(body.get("more").is_none_or(|m| m == false), "one page holds everything: {body}");
    objects_of(&body)
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("record without {k}: {r}")).to_owned();
            (text("id"), text("version"), text("media_type"), text("date_added"))
        })
        .collect()
}

/// (id, version) of the manifest records.
async fn stored(service: &TaxiiService, collection: &str) -> Vec<(String, String)> {
    manifest_all(service, collection)
        .await
        .into_iter()
        .map(|(i, v, _, _)| (i, v))
        .collect()
}

/// The versions endpoint of one object in every spec version, or `None` when it answers 404.
async fn versions_of(service: &TaxiiService, collection: &str, object: &str) -> Option<Vec<String>> {
    let uri = format!("{}?match[spec_version]=2.0,2.1", versions_uri(collection, object));
    let reply = get(service, &uri).await;
    if reply.status == StatusCode::NOT_FOUND {
        reply.expect_error(404);
        return None;
    }
    let body = reply.expect(200);
    Some(
        body["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
    )
}

fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort();
    items
}

// ---------------------------------------------------------------------------
// Status resources
// ---------------------------------------------------------------------------

/// A complete status of `total` objects, all stored.
#[track_caller]
fn assert_all_stored(status: &Value, expected: &[(&str, &str)]) {
    assert_eq!(status["status"], "complete", "{status}");
    assert_eq!(status["total_count"], expected.len(), "{status}");
    assert_eq!(status["success_count"], expected.len(), "{status}");
    assert_eq!(status["failure_count"], 0, "{status}");
    assert_eq!(status["pending_count"], 0, "{status}");
    assert!(status.get("failures").is_none() && status.get("pendings").is_none(), "{status}");
    assert_eq!(successes(status), sorted(&pairs(expected)), "successes: {status}");
}

// ---------------------------------------------------------------------------
// Request bodies without a known length
// ---------------------------------------------------------------------------

/// A body sent in chunks with no size hint, like a chunked request without a
/// `Content-Length`; it counts what the server pulled from it.
struct Chunked {
    data: Bytes,
    chunk: usize,
    /// `None`: ends after `data`; `Some(byte)`: then goes on with this byte forever.
    endless: Option<u8>,
    pulled: Arc<AtomicU64>,
}

impl Chunked {
    fn new(data: impl Into<Bytes>, chunk: usize) -> (Self, Arc<AtomicU64>) {
        let pulled = Arc::new(AtomicU64::new(0));
        let body = Chunked {
            data: data.into(),
            chunk,
            endless: None,
            pulled: pulled.clone(),
        };
        (body, pulled)
    }

    fn endless(prefix: impl Into<Bytes>, filler: u8, chunk: usize) -> (Self, Arc<AtomicU64>) {
        let (mut body, pulled) = Self::new(prefix, chunk);
        body.endless = Some(filler);
        (body, pulled)
    }
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = if !self.data.is_empty() {
            let n = self.chunk.min(self.data.len());
            self.data.split_to(n)
        } else if let Some(filler) = self.endless {
            Bytes::from(vec![filler; self.chunk])
        } else {
            return Poll::Ready(None);
        };
        self.pulled.fetch_add(frame.len() as u64, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && self.endless.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A body that announces its length (as hyper does from `Content-Length`) and
/// counts what is pulled from it.
struct Announced {
    inner: Full<Bytes>,
    length: u64,
    pulled: Arc<AtomicU64>,
}

impl Body for Announced {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.pulled.fetch_add(data.len() as u64, Ordering::SeqCst);
            }
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.length)
    }
}

fn post_request<B>(collection: &str, body: B) -> Request<B> {
    Request::post(objects_uri(collection))
        .header("accept", TAXII)
        .header("content-type", TAXII)
        .body(body)
        .unwrap()
}

// ---------------------------------------------------------------------------
// Add objects: the happy path
// ---------------------------------------------------------------------------

#[tokio::test]
async fn post_stores_an_envelope_and_answers_202_with_a_complete_status() {
    let (_, service) = setup();
    let a = id("indicator", 1);
    let b = id("malware", 2);
    let before = Timestamp::now();
    let reply = post(
        &service,
        COLL,
        envelope(&[sdo(&a, "2021-01-01T00:00:00.000Z"), sdo(&b, "2021-02-02T00:00:00.123Z")]),
    )
    .await;
    let after = Timestamp::now();
    let status = reply.expect_status();
    assert_all_stored(&status, &[(&a, "2021-01-01T00:00:00.000Z"), (&b, "2021-02-02T00:00:00.123Z")]);
    assert!(
        reply.headers.get("x-taxii-date-added-first").is_none(),
        "no date headers on a status"
    );
    let requested: Timestamp = status["request_timestamp"].as_str().unwrap().parse().unwrap();
    assert!(
        before <= requested && requested <= after,
        "request_timestamp {requested} is when the request came"
    );

    let records = manifest_all(&service, COLL).await;
    assert_eq!(
        records
            .iter()
            .map(|(i, v, m, _)| (i.as_str(), v.as_str(), m.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (a.as_str(), "2021-01-01T00:00:00.000Z", "application/stix+json;version=2.1"),
            (b.as_str(), "2021-02-02T00:00:00.123Z", "application/stix+json;version=2.1"),
        ],
        "stored in envelope order"
    );
    for (_, _, _, date_added) in &records {
        assert!(is_taxii_timestamp(date_added), "{date_added}");
        let t: Timestamp = date_added.parse().unwrap();
        assert!(requested <= t && t <= after, "date_added {t} is when the server stored it");
    }
    assert!(records[0].3 < records[1].3, "date_added strictly increasing: {records:?}");

    // The objects are served as posted, and the other collection has none of them.
    let body = get(&service, &object_uri(COLL, &a)).await.expect(200);
    assert_eq!(body["objects"][0]["name"], format!("{a} at 2021-01-01T00:00:00.000Z"));
    assert!(stored(&service, OTHER).await.is_empty());
    // The path without the trailing slash takes posts too.
    let c = id("tool", 3);
    let reply = post_raw(
        &service,
        &format!("/{ROOT}/collections/{COLL}/objects"),
        Some(TAXII),
        Some(TAXII),
        envelope(&[sdo(&c, "2021-03-03T00:00:00Z")]),
    )
    .await;
    assert_all_stored(&reply.expect_status(), &[(&c, "2021-03-03T00:00:00Z")]);
    // The collection says it takes writes.
    let info = get(&service, &format!("/{ROOT}/collections/{COLL}/")).await.expect(200);
    assert_eq!(
        (info["can_read"].clone(), info["can_write"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    let info = get(&service, &format!("/{ROOT}/collections/{READ_ONLY}/")).await.expect(200);
    assert_eq!(info["can_write"], false);
}

// ---------------------------------------------------------------------------
// Add objects: whole-request errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn content_type_must_be_taxii_21_with_any_parameters_and_spacing() {
    let (_, service) = setup();
    let accepted = [
        "application/taxii+json;version=2.1",
        "application/taxii+json; version=2.1",
        "application/taxii+json ; version=2.1 ",
        "application/taxii+json;version=\"2.1\"",
        "application/taxii+json",
        "Application/TAXII+JSON;Version=2.1",
        "application/taxii+json;charset=utf-8;version=2.1",
        "application/taxii+json; version=2.1; charset=utf-8",
    ];
    for (n, content_type) in accepted.iter().enumerate() {
        let object = id("indicator", 100 + n as u32);
        let reply = post_raw(
            &service,
            &objects_uri(COLL),
            Some(TAXII),
            Some(content_type),
            envelope(&[sdo(&object, "2021-01-01T00:00:00Z")]),
        )
        .await;
        assert_eq!(reply.status, 202, "Content-Type {content_type:?}: {}", reply.text());
        assert_all_stored(&reply.expect_status(), &[(&object, "2021-01-01T00:00:00Z")]);
    }
    let refused = [
        None,
        Some(""),
        Some("application/json"),
        Some("application/stix+json;version=2.1"),
        Some("application/taxii+json;version=2.0"),
        Some("application/taxii+json;version=2.2"),
        Some("application/vnd.oasis.taxii+json; version=2.0"),
        Some("text/plain"),
        Some("*/*"),
        Some("application/*"),
        Some("application/taxii+jsonx;version=2.1"),
        Some("garbage"),
    ];
    for content_type in refused {
        let object = id("indicator", 999);
        let reply = post_raw(
            &service,
            &objects_uri(COLL),
            Some(TAXII),
            content_type,
            envelope(&[sdo(&object, "2021-01-01T00:00:00Z")]),
        )
        .await;
        assert_eq!(reply.status, 415, "Content-Type {content_type:?}: {}", reply.text());
        reply.expect_error(415);
    }
    assert_eq!(stored(&service, COLL).await.len(), accepted.len(), "nothing refused was stored");
}

#[tokio::test]
async fn post_still_needs_an_acceptable_accept_header() {
    let (_, service) = setup();
    let body = envelope(&[sdo(&id("indicator", 1), "2021-01-01T00:00:00Z")]);
    for accept in [
        "application/json",
        "application/taxii+json;version=2.0",
        "application/vnd.oasis.taxii+json; version=2.0",
        "text/html",
        "application/taxii+json;version=2.1;q=0",
    ] {
        let reply = post_raw(&service, &objects_uri(COLL), Some(accept), Some(TAXII), body.clone()).await;
        assert_eq!(reply.status, 406, "Accept {accept:?}: {}", reply.text());
        reply.expect_error(406);
    }
    // Accept is checked before Content-Type.
    post_raw(
        &service,
        &objects_uri(COLL),
        Some("application/json"),
        Some("application/json"),
        body.clone(),
    )
    .await
    .expect_error(406);
    assert!(stored(&service, COLL).await.is_empty());
    // A TAXII media range in a list, with q-values, is acceptable.
    let reply = post_raw(
        &service,
        &objects_uri(COLL),
        Some("application/json;q=0.5, application/taxii+json;version=2.1"),
        Some(TAXII),
        body,
    )
    .await;
    reply.expect_status();
}

#[tokio::test]
async fn url_parameters_on_post_are_400() {
    let (_, service) = setup();
    let body = envelope(&[sdo(&id("indicator", 1), "2021-01-01T00:00:00Z")]);
    for query in [
        "limit=5",
        "next=abc",
        "added_after=2020-01-01T00:00:00Z",
        "match[id]=indicator--00000001-0000-4000-8000-000000000001",
        "match%5Bid%5D=indicator--00000001-0000-4000-8000-000000000001",
        "match[type]=indicator",
        "match[version]=all",
        "match[spec_version]=2.1",
    ] {
        let uri = format!("{}?{query}", objects_uri(COLL));
        let reply = post_raw(&service, &uri, Some(TAXII), Some(TAXII), body.clone()).await;
        assert_eq!(reply.status, 400, "POST ?{query}: {}", reply.text());
        reply.expect_error(400);
    }
    assert!(stored(&service, COLL).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn post_checks_run_in_the_documented_order() {
    let backend = backend_with(MemoryBackend::new());
    let service = service_over(&backend, Some(64));
    let big = envelope(&[sdo(&id("indicator", 1), "2021-01-01T00:00:00Z")]);
    assert!(big.len() > 64);
    // Content-Type (415) before URL parameters (400).
    post_raw(
        &service,
        &format!("{}?limit=1", objects_uri(COLL)),
        Some(TAXII),
        Some("application/json"),
        big.clone(),
    )
    .await
    .expect_error(415);
    // URL parameters (400) before the collection (404).
    post_raw(
        &service,
        &format!("{}?limit=1", objects_uri(MISSING)),
        Some(TAXII),
        Some(TAXII),
        big.clone(),
    )
    .await
    .expect_error(400);
    // The collection (404) and write access (403) before the body (413, 400).
    post(&service, MISSING, big.clone()).await.expect_error(404);
    post(&service, READ_ONLY, big.clone()).await.expect_error(403);
    post(&service, MISSING, "{").await.expect_error(404);
    post(&service, READ_ONLY, "{").await.expect_error(403);
    // Size (413) before JSON (400).
    post(&service, COLL, format!("{{{}", "x".repeat(100))).await.expect_error(413);
}

#[tokio::test]
async fn post_to_a_collection_without_write_access_is_403() {
    let (backend, service) = setup();
    let object = id("indicator", 7);
    let body = envelope(&[sdo(&object, "2021-01-01T00:00:00Z")]);
    // Read-only: 403. Neither read nor write: hidden, so 404 like a missing collection.
    for (collection, code) in [(READ_ONLY, 403), (NO_ACCESS, 404)] {
        let error = post(&service, collection, body.clone()).await.expect_error(code);
        assert!(error.get("description").is_some(), "{error}");
        // Nothing was stored: inserting it now adds it.
        let report = backend
            .insert_objects(ROOT, collection, [Bytes::from(sdo(&object, "2021-01-01T00:00:00Z"))])
            .unwrap();
        assert_eq!((report.added, report.duplicates), (1, 0), "POST to {collection} stored nothing");
    }
    // Write without read: the POST is taken, reading is refused.
    let status = post(&service, WRITE_ONLY, body).await.expect_status();
    assert_all_stored(&status, &[(&object, "2021-01-01T00:00:00Z")]);
    get(&service, &objects_uri(WRITE_ONLY)).await.expect_error(403);
    let report = backend
        .insert_objects(ROOT, WRITE_ONLY, [Bytes::from(sdo(&object, "2021-01-01T00:00:00Z"))])
        .unwrap();
    assert_eq!(
        (report.added, report.duplicates),
        (0, 1),
        "the write-only collection holds the object"
    );
    // An unknown collection is 404.
    post(&service, MISSING, envelope(&[sdo(&object, "2021-01-01T00:00:00Z")]))
        .await
        .expect_error(404);
}

#[tokio::test]
async fn a_body_of_exactly_max_content_length_is_taken_and_one_more_byte_is_413() {
    let object = id("indicator", 1);
    let exact = envelope(&[sdo(&object, "2021-01-01T00:00:00Z")]);
    let limit = exact.len() as u64;
    let one_more = format!("{exact} ");
    let backend = backend_with(MemoryBackend::new());
    let service = service_over(&backend, Some(limit));
    let root = get(&service, &format!("/{ROOT}/")).await.expect(200);
    assert_eq!(root["max_content_length"], limit);

    // With a known length.
    post(&service, COLL, one_more.clone()).await.expect_error(413);
    assert!(stored(&service, COLL).await.is_empty());
    let status = post(&service, COLL, exact.clone()).await.expect_status();
    assert_all_stored(&status, &[(&object, "2021-01-01T00:00:00Z")]);

    // Chunked, with no length: the same limits.
    let other = id("indicator", 2);
    let exact = envelope(&[sdo(&other, "2021-01-01T00:00:00Z")]);
    assert_eq!(exact.len() as u64, limit);
    let (body, _) = Chunked::new(format!("{exact} "), 5);
    send(&service, post_request(COLL, body)).await.expect_error(413);
    assert_eq!(stored(&service, COLL).await.len(), 1);
    let (body, pulled) = Chunked::new(exact.clone(), 5);
    let status = send(&service, post_request(COLL, body)).await.expect_status();
    assert_all_stored(&status, &[(&other, "2021-01-01T00:00:00Z")]);
    assert_eq!(pulled.load(Ordering::SeqCst), limit);
    // One-byte chunks too.
    let (body, _) = Chunked::new(exact, 1);
    let status = send(&service, post_request(COLL, body)).await.expect_status();
    assert_all_stored(&status, &[(&other, "2021-01-01T00:00:00Z")]);
    assert_eq!(stored(&service, COLL).await.len(), 2);
}

#[tokio::test]
async fn an_endless_chunked_body_is_refused_without_reading_past_the_limit() {
    let backend = backend_with(MemoryBackend::new());
    let limit = 1000;
    let service = service_over(&backend, Some(limit));
    for chunk in [1usize, 7, 4096] {
        // A well-formed start of an envelope that never ends.
        let (body, pulled) = Chunked::endless(r#"{"objects":[{"type":"note","x":""#, b'a', chunk);
        let reply = tokio::time::timeout(Duration::from_secs(20), send(&service, post_request(COLL, body)))
            .await
            .unwrap_or_else(|_| panic!("the server kept reading an endless body (chunks of {chunk})"));
        reply.expect_error(413);
        let pulled = pulled.load(Ordering::SeqCst);
        assert!(
            pulled <= limit + chunk as u64,
            "read {pulled} bytes of an endless body with a limit of {limit} (chunks of {chunk})"
        );
        assert!(pulled > limit, "it read up to the limit before refusing: {pulled}");
    }
    // A body that announces more than the limit is refused before anything is read.
    let pulled = Arc::new(AtomicU64::new(0));
    let body = Announced {
        inner: full(vec![b' '; 2000]),
        length: 2000,
        pulled: pulled.clone(),
    };
    send(&service, post_request(COLL, body)).await.expect_error(413);
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "nothing is read from a body announced too large");
    assert!(stored(&service, COLL).await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (_, service) = setup();
    let good = sdo(&id("indicator", 1), "2021-01-01T00:00:00Z");
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b" ".to_vec(),
        b"{".to_vec(),
        b"{\"objects\": [".to_vec(),
        format!("{{\"objects\": [{good}]").into_bytes(),
        format!("{{\"objects\": [{good}]}} trailing").into_bytes(),
        format!("{{\"objects\": [{good}]}}{{}}").into_bytes(),
        b"{'objects': []}".to_vec(),
        b"\xff\xfe".to_vec(),
        [b"{\"objects\":[\"".as_slice(), b"\xff", b"\"]}"].concat(),
        b"objects".to_vec(),
        b"{\"objects\": [1,]}".to_vec(),
    ];
    for body in cases {
        let reply = post(&service, COLL, body.clone()).await;
        assert_eq!(reply.status, 400, "{:?}: {}", String::from_utf8_lossy(&body), reply.text());
        reply.expect_error(400);
    }
    assert!(stored(&service, COLL).await.is_empty());
}

#[tokio::test]
async fn json_that_is_not_an_envelope_is_422() {
    let (_, service) = setup();
    let good = sdo(&id("indicator", 1), "2021-01-01T00:00:00Z");
    let cases = [
        // A STIX bundle, as TAXII 2.0 used.
        format!(r#"{{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[{good}]}}"#),
        format!(r#"{{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","spec_version":"2.0","objects":[{good}]}}"#),
        "{}".into(),
        r#"{"objects":[]}"#.into(),
        r#"{"objects":{}}"#.into(),
        r#"{"objects":null}"#.into(),
        r#"{"objects":"indicator"}"#.into(),
        r#"{"objects":5}"#.into(),
        r#"{"more":false}"#.into(),
        format!(r#"{{"data":[{good}]}}"#),
        format!("[{good}]"),
        good.clone(),
        "[]".into(),
        "null".into(),
        "5".into(),
        r#""objects""#.into(),
    ];
    for body in cases {
        let reply = post(&service, COLL, body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        reply.expect_error(422);
    }
    assert!(stored(&service, COLL).await.is_empty());
}

// ---------------------------------------------------------------------------
// Add objects: per-object validation and duplicates
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_objects_are_failures_and_valid_ones_in_the_same_envelope_are_stored() {
    let (_, service) = setup();
    let good_21 = id("indicator", 1);
    let good_20 = id("malware", 2);
    let good_sco = "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd";
    let no_type = id("indicator", 3);
    let prefix = id("indicator", 4);
    let bad_created = id("indicator", 5);
    let bad_modified = id("indicator", 6);
    let bad_spec = id("indicator", 7);
    let typed_wrong = id("indicator", 8);
    let good_no_modified = id("identity", 9);
    let objects = [
        sdo(&good_21, "2021-01-01T00:00:00.000Z"),
        format!(r#"{{"id":"{no_type}","spec_version":"2.1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z"}}"#),
        r#"{"type":"indicator","spec_version":"2.1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z"}"#.to_owned(),
        r#"{"type":"indicator","spec_version":"2.1","id":"indicator--1234","modified":"2020-01-01T00:00:00Z"}"#.to_owned(),
        format!(r#"{{"type":"malware","spec_version":"2.1","id":"{prefix}","modified":"2020-01-01T00:00:00Z"}}"#),
        format!(r#"{{"type":"indicator","spec_version":"2.1","id":"{bad_created}","created":"yesterday"}}"#),
        format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"{bad_modified}","created":"2020-01-01T00:00:00Z","modified":"2020-13-45T00:00:00Z"}}"#
        ),
        format!(r#"{{"type":"indicator","spec_version":"3.0","id":"{bad_spec}","modified":"2020-01-01T00:00:00Z"}}"#),
        object(&good_20, "2021-02-02T00:00:00Z", None),
        "42".to_owned(),
        r#""indicator""#.to_owned(),
        format!(
            r#"{{"type":"Indicator","spec_version":"2.1","id":"Indicator--{}","modified":"2020-01-01T00:00:00Z"}}"#,
            &no_type[11..]
        ),
        format!(r#"{{"type":"indicator","spec_version":"2.1","id":"{typed_wrong}","created":20200101}}"#),
        format!(r#"{{"type":"ipv4-addr","id":"{good_sco}","value":"198.51.100.3"}}"#),
        format!(r#"{{"type":"identity","spec_version":"2.1","id":"{good_no_modified}","created":"2019-05-05T05:05:05.5Z","name":"ACME"}}"#),
    ];
    let reply = post(&service, COLL, envelope(&objects)).await;
    let status = reply.expect_status();
    assert_eq!(status["status"], "complete");
    assert_eq!(status["total_count"], objects.len());
    assert_eq!(status["pending_count"], 0);
    assert_eq!(status["success_count"], 4, "{status}");
    assert_eq!(status["failure_count"], objects.len() - 4, "{status}");

    // Each failure names the object (as far as it can be read) and says what is wrong.
    let failures = details(&status, "failures");
    let capitalised = format!("Indicator--{}", &no_type[11..]);
    let expected: Vec<(&str, &str, &[&str])> = vec![
        (&no_type, "2020-01-01T00:00:00Z", &["type"]),
        ("", "2020-01-01T00:00:00Z", &["id"]),
        ("indicator--1234", "2020-01-01T00:00:00Z", &["id"]),
        (&prefix, "2020-01-01T00:00:00Z", &["type", "prefix"]),
        (&bad_created, "yesterday", &["created"]),
        (&bad_modified, "2020-13-45T00:00:00Z", &["modified"]),
        (&bad_spec, "2020-01-01T00:00:00Z", &["spec_version", "3.0"]),
        ("", "", &[]),
        ("", "", &[]),
        (&capitalised, "2020-01-01T00:00:00Z", &["type"]),
        (&typed_wrong, "", &[]),
    ];
    assert_eq!(failures.len(), expected.len(), "{status}");
    let mut by_id: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (id, version, message) in &failures {
        let message = message
            .clone()
            .unwrap_or_else(|| panic!("failure of {id:?} has a message: {status}"));
        assert!(message.len() > 10, "a clear message: {message:?}");
        by_id.entry((id.clone(), version.clone())).or_default().push(message);
    }
    for (id, version, words) in expected {
        let messages = by_id
            .get_mut(&(id.to_owned(), version.to_owned()))
            .unwrap_or_else(|| panic!("a failure for ({id:?}, {version:?}): {status}"));
        let message = messages.pop().expect("one failure each");
        for word in words {
            assert!(message.contains(word), "the failure of {id:?} mentions {word:?}: {message:?}");
        }
    }

    // The valid ones are stored, each with its version and media type.
    let records = manifest_all(&service, COLL).await;
    let sco_version = records
        .iter()
        .find(|r| r.0 == good_sco)
        .map(|r| r.1.clone())
        .expect("the SCO is stored");
    assert!(
        is_taxii_timestamp(&sco_version),
        "an object with neither modified nor created gets a server version"
    );
    let stix21 = "application/stix+json;version=2.1".to_owned();
    let expected = [
        (good_21.clone(), "2021-01-01T00:00:00.000Z".to_owned(), stix21.clone()),
        (
            good_20.clone(),
            "2021-02-02T00:00:00Z".to_owned(),
            "application/stix+json;version=2.0".to_owned(),
        ),
        (good_sco.to_owned(), sco_version.clone(), stix21.clone()),
        (good_no_modified.clone(), "2019-05-05T05:05:05.5Z".to_owned(), stix21),
    ];
    assert_eq!(
        records
            .iter()
            .map(|(i, v, m, _)| (i.clone(), v.clone(), m.clone()))
            .collect::<Vec<_>>(),
        expected.to_vec(),
        "the valid objects, in envelope order"
    );
    // The successes carry the versions the collection reports.
    assert_eq!(
        successes(&status),
        sorted(&expected.iter().map(|(i, v, _)| (i.clone(), v.clone())).collect::<Vec<_>>())
    );
    // Nothing of the invalid ones is served.
    for missing in [&no_type, &prefix, &bad_created, &bad_modified, &bad_spec, &typed_wrong] {
        get(&service, &object_uri(COLL, missing)).await.expect_error(404);
    }
}

#[tokio::test]
async fn exact_duplicates_are_successes_and_add_no_version_or_date_added() {
    let (_, service) = setup();
    let a = id("indicator", 1);
    let b = id("malware", 2);
    let a1 = sdo(&a, "2021-01-01T00:00:00.000Z");
    let a2 = sdo(&a, "2022-01-01T00:00:00.000Z");
    let b1 = sdo(&b, "2021-01-01T00:00:00.000Z");

    // A duplicate inside one envelope.
    let status = post(&service, COLL, envelope(&[&a1, &a1, &b1])).await.expect_status();
    assert_eq!(status["total_count"], 3, "{status}");
    assert_eq!(status["success_count"], 3, "a duplicate is a success: {status}");
    assert_eq!(status["failure_count"], 0, "{status}");
    assert!(status.get("failures").is_none(), "{status}");
    assert_eq!(
        successes(&status),
        sorted(&pairs(&[
            (&a, "2021-01-01T00:00:00.000Z"),
            (&a, "2021-01-01T00:00:00.000Z"),
            (&b, "2021-01-01T00:00:00.000Z")
        ]))
    );
    let first = manifest_all(&service, COLL).await;
    assert_eq!(
        first.iter().map(|r| (r.0.clone(), r.1.clone())).collect::<Vec<_>>(),
        pairs(&[(&a, "2021-01-01T00:00:00.000Z"), (&b, "2021-01-01T00:00:00.000Z")]),
        "one version each"
    );
    let objects_reply = get(&service, &format!("{}?match[version]=all", objects_uri(COLL))).await;
    let last_before = objects_reply.headers["x-taxii-date-added-last"].clone();
    assert_eq!(objects_reply.expect(200)["objects"].as_array().unwrap().len(), 2);

    // Duplicates of stored versions in a later envelope: successes, nothing changes.
    let status = post(&service, COLL, envelope(&[&b1, &a1])).await.expect_status();
    assert_all_stored(&status, &[(&b, "2021-01-01T00:00:00.000Z"), (&a, "2021-01-01T00:00:00.000Z")]);
    assert_eq!(manifest_all(&service, COLL).await, first, "same versions, same date_added");
    let objects_reply = get(&service, &format!("{}?match[version]=all", objects_uri(COLL))).await;
    assert_eq!(objects_reply.headers["x-taxii-date-added-last"], last_before);
    assert_eq!(versions_of(&service, COLL, &a).await.unwrap(), vec!["2021-01-01T00:00:00.000Z"]);

    // A duplicate next to a new version: only the new version is added, after the others.
    let status = post(&service, COLL, envelope(&[&a1, &a2])).await.expect_status();
    assert_all_stored(&status, &[(&a, "2021-01-01T00:00:00.000Z"), (&a, "2022-01-01T00:00:00.000Z")]);
    let now = manifest_all(&service, COLL).await;
    assert_eq!(now.len(), 3, "{now:?}");
    assert_eq!(now[..2], first[..], "the earlier versions keep their date_added");
    assert_eq!((now[2].0.as_str(), now[2].1.as_str()), (a.as_str(), "2022-01-01T00:00:00.000Z"));
    assert!(now[1].3 < now[2].3, "the new version is added last: {now:?}");
    assert_eq!(
        versions_of(&service, COLL, &a).await.unwrap(),
        vec!["2021-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z"]
    );
    // The same envelope again: all duplicates.
    let status = post(&service, COLL, envelope(&[&a1, &a2, &b1])).await.expect_status();
    assert_eq!(status["success_count"], 3, "{status}");
    assert_eq!(manifest_all(&service, COLL).await, now);
}

#[tokio::test]
async fn a_second_copy_of_a_stored_version_with_other_content_keeps_the_first() {
    // README: versions are keyed by (id, version, spec version) and immutable.
    let (_, service) = setup();
    let a = id("indicator", 1);
    let original = sdo(&a, "2021-01-01T00:00:00.000Z");
    post(&service, COLL, envelope(&[&original])).await.expect_status();
    let before = manifest_all(&service, COLL).await;
    let changed = original.replace("\"name\":\"", "\"name\":\"changed ");
    assert_ne!(changed, original);
    let status = post(&service, COLL, envelope(&[&changed])).await.expect_status();
    assert_all_stored(&status, &[(&a, "2021-01-01T00:00:00.000Z")]);
    assert_eq!(manifest_all(&service, COLL).await, before);
    let body = get(&service, &object_uri(COLL, &a)).await;
    assert_eq!(body.text(), format!(r#"{{"objects":[{original}]}}"#));
}

#[tokio::test]
async fn the_status_endpoint_serves_the_status_with_or_without_the_slash() {
    let (_, service) = setup();
    let a = id("indicator", 1);
    let posted = post(
        &service,
        COLL,
        envelope(&[sdo(&a, "2021-01-01T00:00:00Z"), r#"{"type":"indicator"}"#.to_owned()]),
    )
    .await
    .expect_status();
    assert_eq!(
        (posted["success_count"].as_u64(), posted["failure_count"].as_u64()),
        (Some(1), Some(1))
    );
    let status_id = posted["id"].as_str().unwrap();
    // Unknown ids, other methods, a bad Accept; the status answers 200 with either path.
    get(&service, &status_uri("2d086da7-4bdc-4f91-900e-d77486753710"))
        .await
        .expect_error(404);
    get(&service, &status_uri("not-a-status")).await.expect_error(404);
    let reply = send(
        &service,
        Request::get(status_uri(status_id))
            .header("accept", "application/json")
            .body(full(""))
            .unwrap(),
    )
    .await;
    reply.expect_error(406);
    let reply = post_raw(&service, &status_uri(status_id), Some(TAXII), Some(TAXII), "{}").await;
    reply.expect_error(405);
    assert!(reply.headers.get("allow").is_some());
    get(&service, &status_uri(status_id)).await.expect(200);
    get(&service, &format!("/{ROOT}/status/{status_id}")).await.expect(200);
    // Each request has its own status.
    let second = post(&service, COLL, envelope(&[sdo(&a, "2021-01-01T00:00:00Z")]))
        .await
        .expect_status();
    assert_ne!(second["id"], posted["id"]);
    assert_eq!(
        get(&service, &status_uri(second["id"].as_str().unwrap())).await.expect(200)["id"],
        second["id"]
    );

    // The stored status is the one the POST returned: complete, with consistent counts.
    let with_slash = get(&service, &status_uri(status_id)).await.expect(200);
    assert_eq!(with_slash, posted, "GET status/{{id}}/ returns what the POST returned");
    let without = get(&service, &format!("/{ROOT}/status/{status_id}")).await.expect(200);
    assert_eq!(without, posted, "GET status/{{id}} (taxii2client's URL) too");
    check_status_shape(&without);

    assert_eq!(get(&service, &status_uri(second["id"].as_str().unwrap())).await.expect(200), second);
    assert_eq!(get(&service, &status_uri(status_id)).await.expect(200), posted);
}

#[tokio::test]
async fn statuses_expire_after_the_configured_ttl() {
    assert_eq!(MemoryBackend::DEFAULT_STATUS_TTL, Duration::from_secs(24 * 60 * 60));
    // The TTL leaves room for a loaded CI machine between the POST and the first GET.
    let ttl = Duration::from_millis(1500);
    let backend = backend_with(MemoryBackend::new().status_ttl(ttl));
    let service = service_over(&backend, None);
    let posted = post(&service, COLL, envelope(&[sdo(&id("indicator", 1), "2021-01-01T00:00:00Z")]))
        .await
        .expect_status();
    let status_id = posted["id"].as_str().unwrap().to_owned();
    // (Whether the stored status equals the POST's is the status endpoint test's business.)
    assert_eq!(
        get(&service, &status_uri(&status_id)).await.expect(200)["id"],
        posted["id"],
        "kept at first"
    );
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    let error = get(&service, &status_uri(&status_id)).await.expect_error(404);
    assert!(error.get("description").is_some(), "{error}");
    get(&service, &format!("/{ROOT}/status/{status_id}")).await.expect_error(404);
    // A newer status is still there; the stored objects do not expire.
    let newer = post(&service, COLL, envelope(&[sdo(&id("indicator", 2), "2021-01-01T00:00:00Z")]))
        .await
        .expect_status();
    assert_eq!(
        get(&service, &status_uri(newer["id"].as_str().unwrap())).await.expect(200)["id"],
        newer["id"]
    );
    assert_eq!(stored(&service, COLL).await.len(), 2);

    // With the default TTL, a status is still there after the same wait.
    let (_, service) = setup();
    let posted = post(&service, COLL, envelope(&[sdo(&id("indicator", 1), "2021-01-01T00:00:00Z")]))
        .await
        .expect_status();
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    assert_eq!(
        get(&service, &status_uri(posted["id"].as_str().unwrap())).await.expect(200)["id"],
        posted["id"]
    );
}

// ---------------------------------------------------------------------------
// Real data: ATT&CK objects posted as raw bytes come back identical
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct RawBundle<'a> {
    #[serde(borrow)]
    objects: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
    more: Option<bool>,
}

#[tokio::test]
async fn attack_objects_posted_as_raw_bytes_come_back_byte_identical() {
    let path = common::attack_data_dir().join("ics-attack-18.1.json");
    let Ok(file) = std::fs::read(&path) else {
        return common::skip_or_fail(&format!("ATT&CK bundle {} not found", path.display()));
    };
    let bundle: RawBundle<'_> = serde_json::from_slice(&file).expect("the ATT&CK bundle parses");
    let raws: Vec<&str> = bundle.objects.iter().map(|o| o.get()).collect();
    assert!(raws.len() > 1000, "{} objects", raws.len());
    assert!(
        raws[0].contains('\n') && raws[0].contains("\\u2019"),
        "the objects are pretty-printed with escapes"
    );
    let (_, service) = setup();

    // One object alone, as posted by a client that keeps the bytes.
    let identity = raws
        .iter()
        .copied()
        .find(|r| r.contains(r#""type": "identity""#))
        .expect("an identity");
    let identity_value: Value = serde_json::from_str(identity).unwrap();
    let identity_id = identity_value["id"].as_str().unwrap();
    let status = post(&service, COLL, format!("{{\"objects\": [\n{identity}\n]}}"))
        .await
        .expect_status();
    assert_all_stored(&status, &[(identity_id, identity_value["modified"].as_str().unwrap())]);
    let reply = get(&service, &object_uri(COLL, identity_id)).await;
    let body: Value = reply.expect(200);
    assert_eq!(body["objects"][0], identity_value, "JSON-identical");
    let envelope: RawEnvelope<'_> = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(envelope.objects.unwrap()[0].get(), identity, "byte-identical");

    // The whole release as one envelope (the default 10 MiB limit takes it).
    let body = format!("{{\"objects\":[{}]}}", raws.join(","));
    let status = post(&service, COLL, body).await.expect_status();
    assert_eq!(status["status"], "complete");
    assert_eq!(status["total_count"], raws.len());
    assert_eq!(
        status["success_count"],
        raws.len(),
        "every ATT&CK object is valid (the identity is a duplicate)"
    );
    assert_eq!(status["failure_count"], 0);
    let mut expected: HashMap<String, (&str, Value)> = HashMap::new();
    for raw in &raws {
        let value: Value = serde_json::from_str(raw).unwrap();
        let id = value["id"].as_str().unwrap().to_owned();
        assert!(
            expected.insert(id, (*raw, value)).is_none(),
            "one version of each object in a release"
        );
    }
    let versions: Vec<(String, String)> = expected
        .iter()
        .map(|(id, (_, v))| {
            let version = v.get("modified").or_else(|| v.get("created")).and_then(Value::as_str).unwrap();
            (id.clone(), version.to_owned())
        })
        .collect();
    let mut expected_successes = versions.clone();
    expected_successes.sort();
    assert_eq!(successes(&status), expected_successes, "one success per object, with its version");

    // Read back in pages: every object byte-identical, once.
    let mut seen = BTreeSet::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let uri = match &next {
            None => format!("{}?limit=300", objects_uri(COLL)),
            Some(n) => format!("{}?limit=300&next={n}", objects_uri(COLL)),
        };
        let reply = get(&service, &uri).await;
        let page: Value = reply.expect(200);
        let raw_page: RawEnvelope<'_> = serde_json::from_slice(&reply.body).unwrap();
        for object in raw_page.objects.unwrap_or_default() {
            let value: Value = serde_json::from_str(object.get()).unwrap();
            let id = value["id"].as_str().unwrap();
            let (raw, original) = &expected[id];
            assert_eq!(object.get(), *raw, "{id} comes back byte-identical");
            assert_eq!(&value, original, "{id} comes back JSON-identical");
            assert!(seen.insert(id.to_owned()), "{id} twice");
        }
        if raw_page.more != Some(true) {
            break;
        }
        next = Some(page["next"].as_str().expect("more comes with next").to_owned());
    }
    assert_eq!(seen.len(), expected.len(), "every object read back");
    // The manifest has each version once.
    let mut manifest = stored(&service, COLL).await;
    manifest.sort();
    assert_eq!(manifest, expected_successes);
}

// ---------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------

/// Three 2.1 versions of `a`, a 2.0 and a 2.1 form of `b` (one version), and `c`;
/// the same in `COLL` and `OTHER`.
async fn delete_fixture(service: &TaxiiService) -> (String, String, String) {
    let a = id("indicator", 1);
    let b = id("malware", 2);
    let c = id("tool", 3);
    let objects = [
        sdo(&a, "2020-01-01T00:00:00.000Z"),
        sdo(&a, "2021-01-01T00:00:00.000Z"),
        sdo(&a, "2022-01-01T00:00:00.000Z"),
        object(&b, "2021-06-01T00:00:00.000Z", None),
        sdo(&b, "2021-06-01T00:00:00.000Z"),
        sdo(&c, "2021-01-01T00:00:00.000Z"),
    ];
    for collection in [COLL, OTHER] {
        let status = post(service, collection, envelope(&objects)).await.expect_status();
        assert_eq!(status["success_count"], 6, "{status}");
    }
    (a, b, c)
}

#[tokio::test]
async fn delete_without_match_version_removes_every_version() {
    let (_, service) = setup();
    let (a, b, c) = delete_fixture(&service).await;
    let other_before = manifest_all(&service, OTHER).await;

    delete(&service, &object_uri(COLL, &a)).await.expect_deleted();
    get(&service, &object_uri(COLL, &a)).await.expect_error(404);
    get(&service, &format!("/{ROOT}/collections/{COLL}/objects/{a}"))
        .await
        .expect_error(404);
    for version in ["first", "last", "all", "2021-01-01T00:00:00.000Z"] {
        let uri = format!("{}?match[version]={version}", object_uri(COLL, &a));
        get(&service, &uri).await.expect_error(404);
    }
    assert_eq!(versions_of(&service, COLL, &a).await, None, "no versions left");
    let objects = get(
        &service,
        &format!("{}?match[version]=all&match[spec_version]=2.0,2.1", objects_uri(COLL)),
    )
    .await
    .expect(200);
    let ids: Vec<&str> = objects["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.as_str(), b.as_str(), c.as_str()], "gone from objects");
    let manifest = get(
        &service,
        &format!("/{ROOT}/collections/{COLL}/manifest/?match[id]={a}&match[version]=all"),
    )
    .await
    .expect(200);
    assert_eq!(manifest, serde_json::json!({}), "gone from the manifest");
    assert!(manifest_all(&service, COLL).await.iter().all(|r| r.0 != a));

    // Both spec versions of b go too.
    delete(&service, &format!("/{ROOT}/collections/{COLL}/objects/{b}"))
        .await
        .expect_deleted();
    assert_eq!(versions_of(&service, COLL, &b).await, None);
    get(&service, &format!("{}?match[spec_version]=2.0", object_uri(COLL, &b)))
        .await
        .expect_error(404);
    assert_eq!(stored(&service, COLL).await, pairs(&[(&c, "2021-01-01T00:00:00.000Z")]));

    // The other collection keeps its copies, bytes and all.
    assert_eq!(manifest_all(&service, OTHER).await, other_before);
    let body = get(&service, &object_uri(OTHER, &a)).await.expect(200);
    assert_eq!(body["objects"][0]["modified"], "2022-01-01T00:00:00.000Z");
    assert_eq!(versions_of(&service, OTHER, &a).await.unwrap().len(), 3);
    assert_eq!(versions_of(&service, OTHER, &b).await.unwrap().len(), 2);

    // Deleting again: nothing is there.
    delete(&service, &object_uri(COLL, &a)).await.expect_error(404);
    // Posting it again adds it anew, after everything added before.
    let last = manifest_all(&service, COLL).await.last().unwrap().3.clone();
    let status = post(&service, COLL, envelope(&[sdo(&a, "2020-01-01T00:00:00.000Z")]))
        .await
        .expect_status();
    assert_all_stored(&status, &[(&a, "2020-01-01T00:00:00.000Z")]);
    let records = manifest_all(&service, COLL).await;
    let re_added = records.iter().find(|r| r.0 == a).unwrap();
    assert!(re_added.3 > last, "date_added {} after {last}", re_added.3);
}

#[tokio::test]
async fn delete_with_match_version_removes_only_the_selected_versions() {
    let (_, service) = setup();
    let (a, _, _) = delete_fixture(&service).await;
    let all_a = |versions: &[&str]| versions.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();

    // first
    delete(&service, &format!("{}?match[version]=first", object_uri(COLL, &a)))
        .await
        .expect_deleted();
    assert_eq!(
        versions_of(&service, COLL, &a).await.unwrap(),
        all_a(&["2021-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z"])
    );
    get(
        &service,
        &format!("{}?match[version]=2020-01-01T00:00:00.000Z", object_uri(COLL, &a)),
    )
    .await
    .expect_error(404);
    let manifest = manifest_all(&service, COLL).await;
    assert!(
        !manifest.iter().any(|r| r.0 == a && r.1 == "2020-01-01T00:00:00.000Z"),
        "{manifest:?}"
    );
    let objects = get(&service, &format!("{}?match[version]=all", objects_uri(COLL)))
        .await
        .expect(200);
    assert!(
        !objects["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == a.as_str() && o["modified"] == "2020-01-01T00:00:00.000Z")
    );
    // The latest is still served.
    let body = get(&service, &object_uri(COLL, &a)).await.expect(200);
    assert_eq!(body["objects"][0]["modified"], "2022-01-01T00:00:00.000Z");

    // A timestamp, written with another precision than the stored version.
    delete(&service, &format!("{}?match[version]=2022-01-01T00:00:00Z", object_uri(COLL, &a)))
        .await
        .expect_deleted();
    assert_eq!(versions_of(&service, COLL, &a).await.unwrap(), all_a(&["2021-01-01T00:00:00.000Z"]));
    let body = get(&service, &object_uri(COLL, &a)).await.expect(200);
    assert_eq!(
        body["objects"][0]["modified"], "2021-01-01T00:00:00.000Z",
        "the remaining version is now the latest"
    );
    // A timestamp no version has: 404, nothing removed.
    delete(&service, &format!("{}?match[version]=2019-01-01T00:00:00Z", object_uri(COLL, &a)))
        .await
        .expect_error(404);
    assert_eq!(versions_of(&service, COLL, &a).await.unwrap().len(), 1);
    // last
    delete(&service, &format!("{}?match[version]=last", object_uri(COLL, &a)))
        .await
        .expect_deleted();
    assert_eq!(versions_of(&service, COLL, &a).await, None);
    get(&service, &object_uri(COLL, &a)).await.expect_error(404);

    // The other collection still has all three.
    assert_eq!(
        versions_of(&service, OTHER, &a).await.unwrap(),
        all_a(&["2020-01-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z"])
    );
}

#[tokio::test]
async fn delete_with_several_versions_and_all() {
    let (_, service) = setup();
    let (a, _, c) = delete_fixture(&service).await;
    delete(&service, &format!("{}?match[version]=first,last", object_uri(COLL, &a)))
        .await
        .expect_deleted();
    assert_eq!(
        versions_of(&service, COLL, &a).await.unwrap(),
        vec!["2021-01-01T00:00:00.000Z".to_owned()]
    );
    delete(&service, &format!("{}?match[version]=all", object_uri(COLL, &c)))
        .await
        .expect_deleted();
    assert_eq!(versions_of(&service, COLL, &c).await, None);
}

#[tokio::test]
async fn delete_with_match_spec_version_removes_only_that_spec_version() {
    let (_, service) = setup();
    let (_, b, _) = delete_fixture(&service).await;
    let v = "2021-06-01T00:00:00.000Z";
    delete(&service, &format!("{}?match[spec_version]=2.0", object_uri(COLL, &b)))
        .await
        .expect_deleted();
    get(&service, &format!("{}?match[spec_version]=2.0", object_uri(COLL, &b)))
        .await
        .expect_error(404);
    let body = get(&service, &format!("{}?match[spec_version]=2.1", object_uri(COLL, &b)))
        .await
        .expect(200);
    assert_eq!(body["objects"][0]["spec_version"], "2.1");
    let manifest = manifest_all(&service, COLL).await;
    let b_records: Vec<&Record> = manifest.iter().filter(|r| r.0 == b).collect();
    assert_eq!(b_records.len(), 1, "{manifest:?}");
    assert_eq!(
        (b_records[0].1.as_str(), b_records[0].2.as_str()),
        (v, "application/stix+json;version=2.1")
    );
    // Again: no 2.0 form is left.
    delete(&service, &format!("{}?match[spec_version]=2.0", object_uri(COLL, &b)))
        .await
        .expect_error(404);
    // Both selectors together.
    delete(
        &service,
        &format!("{}?match[version]={v}&match[spec_version]=2.1", object_uri(COLL, &b)),
    )
    .await
    .expect_deleted();
    assert_eq!(versions_of(&service, COLL, &b).await, None);
    // The other collection keeps both forms.
    let other: Vec<Record> = manifest_all(&service, OTHER).await.into_iter().filter(|r| r.0 == b).collect();
    assert_eq!(other.len(), 2, "{other:?}");
}

#[tokio::test]
async fn delete_of_what_is_not_there_is_404() {
    let (_, service) = setup();
    let (a, b, _) = delete_fixture(&service).await;
    let before = manifest_all(&service, COLL).await;
    for uri in [
        object_uri(COLL, &id("indicator", 77)),
        object_uri(COLL, "indicator--not-an-id"),
        format!("{}?match[version]=2019-01-01T00:00:00Z", object_uri(COLL, &a)),
        format!("{}?match[spec_version]=2.0", object_uri(COLL, &a)),
        format!("{}?match[spec_version]=2.2", object_uri(COLL, &b)),
        object_uri(MISSING, &a),
    ] {
        let reply = delete(&service, &uri).await;
        assert_eq!(reply.status, 404, "DELETE {uri}: {}", reply.text());
        reply.expect_error(404);
    }
    assert_eq!(manifest_all(&service, COLL).await, before, "nothing was removed");
}

#[tokio::test]
async fn delete_takes_only_match_version_and_match_spec_version() {
    let (_, service) = setup();
    let (a, _, _) = delete_fixture(&service).await;
    let before = manifest_all(&service, COLL).await;
    for query in [
        format!("match[id]={a}"),
        format!("match%5Bid%5D={a}"),
        "limit=1".to_owned(),
        "next=abc".to_owned(),
        "added_after=2020-01-01T00:00:00Z".to_owned(),
        "match[type]=indicator".to_owned(),
        "match[version]=first&limit=1".to_owned(),
        "match[version]=first&match[version]=last".to_owned(),
        "match[version]=all,first".to_owned(),
        "match[version]=yesterday".to_owned(),
        "match[spec_version]=two".to_owned(),
    ] {
        let uri = format!("{}?{query}", object_uri(COLL, &a));
        let reply = delete(&service, &uri).await;
        assert_eq!(reply.status, 400, "DELETE ?{query}: {}", reply.text());
        reply.expect_error(400);
    }
    assert_eq!(manifest_all(&service, COLL).await, before, "nothing was removed");
    // A bad Accept is 406, before anything else.
    let reply = send(
        &service,
        Request::delete(object_uri(COLL, &a))
            .header("accept", "application/json")
            .body(full(""))
            .unwrap(),
    )
    .await;
    reply.expect_error(406);
    assert_eq!(manifest_all(&service, COLL).await, before);
}

#[tokio::test]
async fn delete_follows_the_permission_matrix() {
    let (backend, service) = setup();
    let object = id("indicator", 5);
    let json = || Bytes::from(sdo(&object, "2021-01-01T00:00:00.000Z"));
    for collection in [COLL, READ_ONLY, WRITE_ONLY, NO_ACCESS] {
        let report = backend.insert_objects(ROOT, collection, [json()]).unwrap();
        assert_eq!(report.added, 1);
    }
    let cases = [(NO_ACCESS, 404), (READ_ONLY, 403), (WRITE_ONLY, 403), (COLL, 200)];
    for (collection, expected) in cases {
        let reply = delete(&service, &object_uri(collection, &object)).await;
        assert_eq!(reply.status.as_u16(), expected, "DELETE in {collection}: {}", reply.text());
        let still_there = backend.insert_objects(ROOT, collection, [json()]).unwrap().duplicates == 1;
        if expected == 200 {
            reply.expect_deleted();
            assert!(!still_there, "deleted from {collection}");
        } else {
            reply.expect_error(expected);
            assert!(still_there, "a refused DELETE leaves the object in {collection}");
        }
    }
    // The matrix holds for objects that do not exist, too (no existence leak).
    let absent = id("indicator", 6);
    delete(&service, &object_uri(NO_ACCESS, &absent)).await.expect_error(404);
    delete(&service, &object_uri(READ_ONLY, &absent)).await.expect_error(403);
    delete(&service, &object_uri(WRITE_ONLY, &absent)).await.expect_error(403);
    delete(&service, &object_uri(COLL, &absent)).await.expect_error(404);
}

/// A collection removed after the service looked it up: the memory backend fails
/// every object of the request, and keeps that status.
#[tokio::test]
async fn adding_to_a_collection_that_is_gone_fails_every_object() {
    use tower_taxii::{Principal, StorageBackend};
    let backend = backend_with(MemoryBackend::new());
    let answered = common::assert_adding_to_a_missing_collection_fails(backend.as_ref(), ROOT).await;
    let kept = backend.status(ROOT, &answered.id, &Principal::anonymous()).await.unwrap();
    assert_eq!(kept, Some(answered), "the status is kept");
}
