//! The add-objects request (§5.5): reading the body within `max_content_length`,
//! telling a malformed body (400) from one that is not an envelope (422), and
//! validating each object so that bad ones become `failures` while the good ones
//! in the same envelope are stored.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::pin::pin;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::StatusCode;
use http_body::Body;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::TaxiiError;
use crate::resources::{Status, StatusDetail};
use crate::service::BoxError;
use crate::stix::ObjectVersion;
use crate::timestamp::Timestamp;

/// Reads a request body, refusing with 413 as soon as it grows past `limit` octets
/// (whatever `Content-Length` said, chunked bodies included), or when a body limit
/// layer in front of the service (tower-http's `RequestBodyLimitLayer`) cut it off.
pub(crate) async fn read_body<B>(body: B, limit: u64) -> Result<Bytes, TaxiiError>
where
    B: Body<Error: Into<BoxError>>,
{
    let too_large = || {
        TaxiiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large")
            .description(format!("the body exceeds this API root's max_content_length of {limit} octets"))
    };
    if body.size_hint().lower() > limit {
        return Err(too_large());
    }
    let mut body = pin!(body);
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if is_length_limit(&*e.into()) {
                too_large()
            } else {
                TaxiiError::bad_request("the request body could not be read to its end")
            }
        })?;
        if let Ok(mut data) = frame.into_data() {
            if (buf.len() + data.remaining()) as u64 > limit {
                return Err(too_large());
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                buf.put_slice(chunk);
                data.advance(n);
            }
        }
    }
    Ok(buf.freeze())
}

/// Whether a body error is, anywhere in its chain, a length limit being reached.
fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    objects: Option<&'a RawValue>,
}

/// What the add-objects endpoint accepts as a body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvelopeRules {
    /// Whether a STIX bundle (`{"type":"bundle","objects":[...]}`) is taken like an envelope.
    pub(crate) accept_bundles: bool,
    /// The most objects one request may carry.
    pub(crate) max_objects: usize,
    /// The deepest nesting of JSON arrays and objects a body may have, the envelope
    /// itself counting as one level.
    pub(crate) max_depth: usize,
}

/// How deeply the arrays and objects of well-formed JSON nest (0 for a scalar).
/// A linear scan that skips strings; it allocates nothing, however deep the input.
pub(crate) fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The objects of a TAXII envelope, each as its exact bytes.
///
/// Not JSON, or nested deeper than `max_depth`: 400. JSON but not an envelope (a STIX
/// bundle unless accepted, no `objects`, `objects` not a non-empty list): 422. More
/// objects than allowed: 413.
pub(crate) fn envelope_objects(body: &[u8], rules: EnvelopeRules) -> Result<Vec<Bytes>, TaxiiError> {
    let unprocessable = |why: &str| TaxiiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable entity").description(why.to_owned());
    // serde_json reads a `RawValue` without its recursion limit, so depth is checked here.
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| TaxiiError::bad_request(format!("the body is not well-formed JSON: {e}")))?;
    if json_depth(body) > rules.max_depth {
        return Err(TaxiiError::bad_request(format!(
            "the body nests JSON arrays and objects more than {} levels deep",
            rules.max_depth
        )));
    }
    if !raw.get().starts_with('{') {
        return Err(unprocessable(
            "the body is not a TAXII envelope (a JSON object with an \"objects\" list)",
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_str(raw.get())
        .map_err(|_| unprocessable("the body is not a TAXII envelope (a JSON object with an \"objects\" list)"))?;
    if envelope.kind.as_deref() == Some("bundle") && !rules.accept_bundles {
        return Err(unprocessable(
            "the body is a STIX bundle; TAXII 2.1 takes an envelope: {\"objects\": [...]}",
        ));
    }
    let objects = envelope.objects.ok_or_else(|| unprocessable("the envelope has no \"objects\""))?;
    let objects: Vec<&RawValue> = serde_json::from_str(objects.get()).map_err(|_| unprocessable("\"objects\" is not a list"))?;
    if objects.is_empty() {
        return Err(unprocessable("\"objects\" is empty (TAXII lists have at least one item)"));
    }
    if objects.len() > rules.max_objects {
        return Err(
            TaxiiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large").description(format!(
                "the envelope holds {} objects; this server takes at most {} per request",
                objects.len(),
                rules.max_objects
            )),
        );
    }
    Ok(objects.into_iter().map(|o| Bytes::copy_from_slice(o.get().as_bytes())).collect())
}

/// A new status for a request received at `received`, with every object pending.
pub(crate) fn new_status(received: Timestamp, total: usize, collection: &str) -> Status {
    Status::new(random_uuid(), received, total, collection)
}

/// Validates each object; records the invalid ones in `status.failures` and returns the valid ones.
pub(crate) fn validate(objects: Vec<Bytes>, received: Timestamp, status: &mut Status) -> Vec<ObjectVersion> {
    let mut valid = Vec::with_capacity(objects.len());
    for json in objects {
        match ObjectVersion::parse(json.clone(), received) {
            Ok(version) => valid.push(version),
            Err(invalid) => {
                let (id, version) = best_effort_identity(&json);
                status.failures.push(StatusDetail {
                    id: invalid.id.unwrap_or(id),
                    version,
                    message: Some(invalid.message),
                });
            }
        }
    }
    valid
}

/// The `id` and `modified`/`created` of an object that failed validation, as far as
/// they can be read, for its status entry.
fn best_effort_identity(json: &[u8]) -> (String, String) {
    let value: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    (
        text("id").unwrap_or_default(),
        text("modified").or_else(|| text("created")).unwrap_or_default(),
    )
}

/// A random (version 4) UUID, from the standard library's randomly keyed hasher.
pub(crate) fn random_uuid() -> String {
    let word = || RandomState::new().hash_one(Timestamp::now().as_micros());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&word().to_le_bytes());
    bytes[8..].copy_from_slice(&word().to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn envelope_objects_strict(body: &[u8]) -> Result<Vec<Bytes>, TaxiiError> {
        envelope_objects(
            body,
            EnvelopeRules {
                accept_bundles: false,
                max_objects: 100,
                max_depth: 5,
            },
        )
    }

    fn status_of(e: Result<Vec<Bytes>, TaxiiError>) -> u16 {
        e.map(|_| 0).unwrap_or_else(|e| e.status().as_u16())
    }

    const STRICT: EnvelopeRules = EnvelopeRules {
        accept_bundles: false,
        max_objects: 3,
        max_depth: 5,
    };

    #[test]
    fn measures_depth_outside_strings_and_refuses_deep_bodies() {
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(br#"{"objects":[{"a":[1,{"b":2}]}]}"#), 5);
        assert_eq!(json_depth(br#"{"a":"[[[{{{\"[[[","b":[]}"#), 2);
        let deep = |n: usize| format!("{{\"objects\":[{}{}]}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(envelope_objects_strict(deep(3).as_bytes()).unwrap().len(), 1);
        assert_eq!(status_of(envelope_objects_strict(deep(4).as_bytes())), 400);
        // Far past serde_json's own recursion limit, which RawValue does not apply.
        let e = envelope_objects_strict(deep(100_000).as_bytes()).unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn bundles_and_object_counts_follow_the_rules() {
        let bundle = b"{\"type\":\"bundle\",\"id\":\"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\",\"objects\": [{}]}";
        assert_eq!(status_of(envelope_objects(bundle, STRICT)), 422);
        assert_eq!(
            envelope_objects(
                bundle,
                EnvelopeRules {
                    accept_bundles: true,
                    ..STRICT
                }
            )
            .unwrap()
            .len(),
            1
        );
        assert_eq!(status_of(envelope_objects(b"{\"objects\": [1,2,3,4]}", STRICT)), 413);
        assert_eq!(envelope_objects(b"{\"objects\": [1,2,3]}", STRICT).unwrap().len(), 3);
    }

    #[test]
    fn tells_malformed_from_not_an_envelope() {
        assert_eq!(status_of(envelope_objects_strict(b"{\"objects\": [")), 400);
        assert_eq!(status_of(envelope_objects_strict(b"")), 400);
        assert_eq!(status_of(envelope_objects_strict(b"\xff")), 400);
        assert_eq!(status_of(envelope_objects_strict(b"[]")), 422);
        assert_eq!(status_of(envelope_objects_strict(b"[null, {\"objects\": [{}]}]")), 422);
        assert_eq!(status_of(envelope_objects_strict(b"{}")), 422);
        assert_eq!(status_of(envelope_objects_strict(b"{\"objects\": {}}")), 422);
        assert_eq!(status_of(envelope_objects_strict(b"{\"objects\": []}")), 422);
        assert_eq!(status_of(envelope_objects_strict(b"{\"type\":\"bundle\",\"objects\": [{}]}")), 422);
        assert_eq!(
            envelope_objects_strict(b"{\"objects\": [ {\"a\" : 1} , 5 ]}").unwrap(),
            vec![Bytes::from_static(b"{\"a\" : 1}"), Bytes::from_static(b"5")]
        );
    }

    #[test]
    fn uuids_are_version_4_and_differ() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert!(crate::stix::is_uuid(&a));
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[tokio::test]
    async fn stops_reading_past_the_limit() {
        let ok = read_body(Full::new(Bytes::from_static(b"12345")), 5).await.unwrap();
        assert_eq!(&ok[..], b"12345");
        let e = read_body(Full::new(Bytes::from_static(b"123456")), 5).await.unwrap_err();
        assert_eq!(e.status(), 413);
        // A chunked body with no length: refused once it passes the limit, without reading the rest.
        assert_eq!(read_body(Endless, 1000).await.unwrap_err().status(), 413);
        // A body limit layer's error (http_body_util::Limited) is a 413 too.
        let limited = http_body_util::Limited::new(Full::new(Bytes::from_static(b"123456")), 3);
        assert_eq!(read_body(limited, 100).await.unwrap_err().status(), 413);
    }

    /// A body that never ends and gives no size hint.
    struct Endless;

    impl Body for Endless {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"xx")))))
        }
    }
}
