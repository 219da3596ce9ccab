//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): thin wrappers
//! around the crate's internal parsers, each feeding them arbitrary bytes and
//! asserting the properties the service relies on. A panic is a finding.
//!
//! `tests/fuzz_seeds.rs` runs the seed corpora and saved crash inputs through the
//! same functions, so CI exercises them without a fuzzer. Not a stable API.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::Full;
use serde::de::IgnoredAny;
use tower_service::Service;

use crate::body::TaxiiBody;
use crate::cursor::{Cursor, Position};
use crate::ingest::{EnvelopeRules, envelope_objects, json_depth, new_status, validate};
use crate::negotiate::{accepts_taxii, is_taxii_content_type};
use crate::query::{Allowed, QueryLimits, parse};
use crate::resources::{ApiRoot, CollectionInfo, TAXII_MEDIA_TYPE};
use crate::service::{DEFAULT_MAX_MATCH_VALUES, DEFAULT_MAX_QUERY_LENGTH, TaxiiService};
use crate::timestamp::{Timestamp, parse_rfc3339};
use crate::{MemoryBackend, Principal};

/// A fuzz target's entry point: any bytes, a panic on a finding.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their `fuzz/fuzz_targets/*.rs` file and seed folder.
pub const TARGETS: [(&str, Target); 5] = [
    ("negotiate", negotiate),
    ("query", query),
    ("cursor", cursor),
    ("envelope", envelope),
    ("service", service),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `Accept` and `Content-Type` parsing: each line of `data` is one `Accept` header
/// line, and the whole of `data` is also tried as a `Content-Type`. What a strict
/// service accepts, a lenient one accepts too.
pub fn negotiate(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let strict = accepts_taxii(lines.iter().copied(), false);
    let lenient = accepts_taxii(lines.iter().copied(), true);
    assert!(!strict || lenient, "accepted when strict but refused when lenient");
    let _ = is_taxii_content_type(Some(data));
}

/// The query-string parser, on every endpoint's parameter set, with the default limits
/// and with small ones; plus the timestamp parser on the raw text.
pub fn query(data: &[u8]) {
    let raw = text(data);
    let _ = parse_rfc3339(&raw);
    let _ = raw.parse::<Timestamp>();
    let small = QueryLimits {
        max_length: 64,
        max_match_values: 3,
    };
    let default = QueryLimits {
        max_length: DEFAULT_MAX_QUERY_LENGTH,
        max_match_values: DEFAULT_MAX_MATCH_VALUES,
    };
    for limits in [default, small] {
        for allowed in [Allowed::NONE, Allowed::LISTING, Allowed::DELETE, Allowed::OBJECT, Allowed::VERSIONS] {
            let Ok(params) = parse(Some(&raw), allowed, limits) else {
                continue;
            };
            assert!(raw.len() <= limits.max_length, "a query over max_length was taken");
            assert!(params.limit.is_none_or(|l| l >= 1), "limit 0 was taken");
            let digest = params.digest(&["api/v21", "collection", "objects", ""]);
            assert_eq!(
                digest,
                params.digest(&["api/v21", "collection", "objects", ""]),
                "digest is not deterministic"
            );
            if let Ok(Some(position)) = params.position(|| digest) {
                assert!(position.after <= position.snapshot, "a cursor past its snapshot was taken");
            }
        }
    }
}

/// The `next` cursor decoder: whatever it accepts re-encodes to the same text (one
/// spelling per cursor) and never points past its snapshot; and any cursor the
/// server could issue from the first 24 bytes round-trips.
pub fn cursor(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(cursor) = Cursor::decode(text) {
            assert_eq!(cursor.encode(), text, "a cursor decoded from a non-canonical spelling");
            assert!(cursor.position.after <= cursor.position.snapshot);
            let _ = cursor.position.after.to_string();
        }
    }
    if let Some(raw) = data.get(..24) {
        let word = |i: usize| <[u8; 8]>::try_from(&raw[i..i + 8]).unwrap_or_default();
        let made = Cursor {
            position: Position {
                snapshot: Timestamp::from_micros(i64::from_be_bytes(word(0))),
                after: Timestamp::from_micros(i64::from_be_bytes(word(8))),
            },
            digest: u64::from_be_bytes(word(16)),
        };
        let decoded = Cursor::decode(&made.encode());
        if made.position.after <= made.position.snapshot {
            assert_eq!(decoded, Some(made), "a server cursor does not round-trip");
        } else {
            assert_eq!(decoded, None, "a cursor past its snapshot was taken");
        }
    }
}

/// Envelope ingestion: the body parser and object validation. What is taken is a
/// non-empty list of at most `max_objects` well-formed JSON values, each kept
/// byte-for-byte and each either stored or reported as a failure; what is refused is
/// a 400, 413 or 422.
pub fn envelope(data: &[u8]) {
    let mut taken_strictly = None;
    for accept_bundles in [false, true] {
        let rules = EnvelopeRules {
            accept_bundles,
            max_objects: 64,
            max_depth: 16,
        };
        match envelope_objects(data, rules) {
            Ok(objects) => {
                assert!(!objects.is_empty() && objects.len() <= rules.max_objects);
                assert!(json_depth(data) <= rules.max_depth, "a body past max_depth was taken");
                for object in &objects {
                    assert!(serde_json::from_slice::<IgnoredAny>(object).is_ok(), "an object is not JSON");
                }
                if let Some(strict) = &taken_strictly {
                    assert_eq!(strict, &objects, "accepting bundles changed an envelope's objects");
                }
                let received = Timestamp::now();
                let mut status = new_status(received, objects.len(), "c");
                let valid = validate(objects.clone(), received, &mut status);
                assert_eq!(valid.len() + status.failures.len(), objects.len(), "an object was lost");
                for version in &valid {
                    assert!(objects.contains(version.json()), "a stored object differs from what was sent");
                }
                if !accept_bundles {
                    taken_strictly = Some(objects);
                }
            }
            Err(e) => {
                let status = e.status().as_u16();
                assert!(matches!(status, 400 | 413 | 422), "envelope refused with {status}");
                assert!(
                    taken_strictly.is_none(),
                    "an envelope taken strictly was refused with bundles accepted"
                );
            }
        }
    }
}

/// The name of an object only the hidden collection holds: no response may show it.
const SECRET: &str = "SECRET-7f3a9c2e";
const ROOT: &str = "api/v21";

/// The whole service on one request, read from `data` as text lines: the method, the
/// URI (path and query), header lines `name: value` up to an empty line, then the
/// body. The service has an open (writable) collection `open`, a read-only `ro` and a
/// hidden `hidden` one. Every answer has the TAXII content type, a status the
/// standard allows and, for errors, a TAXII error body; a refused write changes no
/// stored data; nothing of the hidden collection is shown.
pub fn service(data: &[u8]) {
    let Some(request) = read_request(data) else {
        return;
    };
    let (backend, service) = fixture();
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let before = writes.then(|| snapshot(&service));
    let method = request.method().clone();
    let response = call(&service, request);
    let status = response.status();
    let body = read(response);
    assert!(
        matches!(status.as_u16(), 200 | 202 | 400 | 403 | 404 | 405 | 406 | 413 | 415 | 422),
        "status {status}"
    );
    if status.is_client_error() {
        let error: serde_json::Value = serde_json::from_slice(&body).expect("an error body is JSON");
        assert_eq!(error["http_status"], status.as_str(), "http_status of {error}");
        assert!(error["title"].as_str().is_some_and(|t| !t.is_empty()), "an error has a title");
    } else if method != Method::HEAD && !body.is_empty() {
        assert!(serde_json::from_slice::<IgnoredAny>(&body).is_ok(), "a {status} body is not JSON");
    }
    if !data.windows(6).any(|w| w == b"SECRET") {
        assert!(
            !body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the hidden collection leaked"
        );
    }
    if let Some(before) = before {
        if !status.is_success() {
            assert!(before == snapshot(&service), "a refused {method} request changed stored data");
        }
    }
    drop(backend);
}

fn read_request(data: &[u8]) -> Option<Request<Full<Bytes>>> {
    let mut rest = data;
    let mut line = || -> Option<&[u8]> {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let (line, tail) = rest.split_at(end);
        rest = &tail[1..];
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    };
    let method = Method::from_bytes(line()?).ok()?;
    let uri = http::Uri::try_from(line()?).ok()?;
    let mut builder = Request::builder().method(method).uri(uri);
    let mut principal = None;
    while let Some(header) = line() {
        if header.is_empty() {
            break;
        }
        let Some(colon) = header.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (header[..colon].trim_ascii(), header[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"x-principal") {
            principal = Some(Principal::named(text(value)));
        } else if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            builder = builder.header(name, value);
        }
    }
    if let Some(principal) = principal {
        builder = builder.extension(principal);
    }
    builder.body(Full::new(Bytes::copy_from_slice(rest))).ok()
}

fn object(id: &str, modified: &str, name: &str) -> Bytes {
    let kind = id.split("--").next().unwrap_or_default();
    Bytes::from(format!(
        r#"{{"type":"{kind}","spec_version":"2.1","id":"{id}","created":"2020-01-01T00:00:00.000Z","modified":"{modified}","name":"{name}"}}"#
    ))
}

fn fixture() -> (Arc<MemoryBackend>, TaxiiService) {
    let backend = Arc::new(MemoryBackend::new());
    let indicator = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    let malware = "malware--31b940d4-6f7f-459a-80ea-9c1f17b58abc";
    for (id, read, write) in [("open", true, true), ("ro", true, false), ("hidden", false, false)] {
        backend.add_collection(ROOT, CollectionInfo::new(id, id).alias(format!("{id}-alias")).access(read, write));
        let name = if id == "hidden" { SECRET } else { id };
        let objects = vec![
            object(indicator, "2020-01-01T00:00:00.000Z", name),
            object(indicator, "2021-01-01T00:00:00.000Z", name),
            object(malware, "2020-06-01T00:00:00Z", name),
        ];
        let _ = backend.insert_objects(ROOT, id, objects);
    }
    let service = TaxiiService::builder(backend.clone())
        .api_root(ROOT, ApiRoot::new("Fuzz root").max_content_length(64 * 1024))
        .max_page_size(2)
        .max_objects_per_envelope(50)
        .max_query_length(1024)
        .max_match_values(20)
        .max_json_depth(32)
        .build();
    (backend, service)
}

/// Every stored version of the two visible collections, as the service serves them.
fn snapshot(service: &TaxiiService) -> Vec<Vec<u8>> {
    let mut pages = Vec::new();
    for collection in ["open", "ro"] {
        for kind in ["objects", "manifest"] {
            let uri = format!("/{ROOT}/collections/{collection}/{kind}/?match[version]=all&match[spec_version]=2.0,2.1&limit=2");
            let mut next: Option<String> = None;
            loop {
                let uri = match &next {
                    Some(next) => format!("{uri}&next={next}"),
                    None => uri.clone(),
                };
                let request = Request::get(uri)
                    .header(header::ACCEPT, TAXII_MEDIA_TYPE)
                    .body(Full::new(Bytes::new()))
                    .expect("a valid request");
                let response = call(service, request);
                assert_eq!(response.status(), StatusCode::OK);
                let body = read(response);
                let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON page");
                pages.push(body);
                match json["next"].as_str() {
                    Some(token) => next = Some(token.to_owned()),
                    None => break,
                }
            }
        }
    }
    pages
}

/// Runs one request to completion; the in-memory backend never waits, so a future
/// still pending after many polls is a hang.
fn call(service: &TaxiiService, request: Request<Full<Bytes>>) -> Response<TaxiiBody> {
    let mut service = service.clone();
    let mut future = pin!(service.call(request));
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
            let Ok(response) = response;
            return response;
        }
    }
    panic!("the service did not answer");
}

/// The body, read in full; its length is the one it announced, and exactly one
/// `Content-Type`, the TAXII one, came with it.
fn read(response: Response<TaxiiBody>) -> Vec<u8> {
    let (parts, body) = response.into_parts();
    let types: Vec<&HeaderValue> = parts.headers.get_all(header::CONTENT_TYPE).iter().collect();
    assert_eq!(types, [TAXII_MEDIA_TYPE], "Content-Type");
    let announced = body.size_hint().exact();
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    while let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    assert_eq!(announced, Some(out.len() as u64), "the body is not as long as announced");
    out
}
