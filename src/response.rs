//! Writing responses: TAXII resources as JSON with the exact TAXII `Content-Type`,
//! and the `X-TAXII-Date-Added-First`/`-Last` headers on content responses.
//!
//! Envelopes are assembled from the stored object bytes; nothing is re-serialized.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::backend::Page;
use crate::body::TaxiiBody;
use crate::manifest::{ManifestPage, push_json_str};
use crate::resources::{TAXII_MEDIA_TYPE, VersionRecord};
use crate::stix::ObjectVersion;
use crate::timestamp::Timestamp;

/// `X-TAXII-Date-Added-First`.
pub const DATE_ADDED_FIRST: HeaderName = HeaderName::from_static("x-taxii-date-added-first");
/// `X-TAXII-Date-Added-Last`.
pub const DATE_ADDED_LAST: HeaderName = HeaderName::from_static("x-taxii-date-added-last");

/// A 200 response with a body and the TAXII `Content-Type`.
pub(crate) fn taxii(body: TaxiiBody) -> Response<TaxiiBody> {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA_TYPE));
    response
}

/// A 200 response with a resource serialized as JSON.
pub(crate) fn resource(value: &impl Serialize) -> Response<TaxiiBody> {
    match serde_json::to_vec(value) {
        Ok(json) => taxii(TaxiiBody::from(json)),
        Err(_) => crate::error::TaxiiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response(),
    }
}

/// Adds the date-added headers for a non-empty page (they are left out when it is
/// empty: there is no value to give them, errata cti-taxii2#117).
fn with_date_headers(mut response: Response<TaxiiBody>, dates: Option<(Timestamp, Timestamp)>) -> Response<TaxiiBody> {
    if let Some((first, last)) = dates {
        let value = |t: Timestamp| match t.strict_bytes() {
            Some(bytes) => HeaderValue::from_bytes(&bytes).ok(),
            None => HeaderValue::from_str(&t.to_string()).ok(),
        };
        let first_value = value(first);
        // A page of one item (an object by id) has one date for both.
        let last_value = if last == first { first_value.clone() } else { value(last) };
        for (name, value) in [(DATE_ADDED_FIRST, first_value), (DATE_ADDED_LAST, last_value)] {
            if let Some(value) = value {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

fn date_range<T>(items: &[T], date: impl Fn(&T) -> Timestamp) -> Option<(Timestamp, Timestamp)> {
    Some((date(items.first()?), date(items.last()?)))
}

/// The `"more":…,"next":…` members, each followed by a comma when present.
fn paging_members(more: bool, next: Option<&str>) -> String {
    let mut out = String::new();
    if more {
        out.push_str("\"more\":true,");
        if let Some(next) = next {
            // Cursors are base64url: nothing to escape.
            out.push_str(&format!("\"next\":\"{next}\","));
        }
    }
    out
}

/// Room for the opening chunk that [`close`] writes.
fn open(capacity: usize) -> Vec<Bytes> {
    let mut chunks = Vec::with_capacity(capacity + 2);
    chunks.push(Bytes::new());
    chunks
}

/// Closes a JSON object whose members end with a comma (or that has none): its
/// opening brace and `members` go into the first chunk, which [`open`] left empty.
fn close(mut chunks: Vec<Bytes>, members: String) -> TaxiiBody {
    let members = members.strip_suffix(',').unwrap_or(&members);
    let mut head = Vec::with_capacity(members.len() + 1);
    head.push(b'{');
    head.extend_from_slice(members.as_bytes());
    chunks[0] = Bytes::from(head);
    chunks.push(Bytes::from_static(b"}"));
    TaxiiBody::from_chunks(chunks)
}

/// An envelope (§3.7) of stored objects.
pub(crate) fn envelope(page: &Page<ObjectVersion>, next: Option<&str>) -> Response<TaxiiBody> {
    let mut members = paging_members(page.more, next);
    let mut chunks = open(page.items.len() * 2 + 1);
    if !page.items.is_empty() {
        members.push_str("\"objects\":[");
        for (i, object) in page.items.iter().enumerate() {
            if i > 0 {
                chunks.push(Bytes::from_static(b","));
            }
            chunks.push(object.json().clone());
        }
        chunks.push(Bytes::from_static(b"]"));
    }
    let response = taxii(close(chunks, members));
    with_date_headers(response, date_range(&page.items, |o| o.date_added()))
}

/// A manifest (§5.3): the records the backend wrote, inside `{"objects":[…]}`.
pub(crate) fn manifest(page: ManifestPage, next: Option<&str>) -> Response<TaxiiBody> {
    let dates = page.records.first_added().zip(page.records.last_added());
    let mut members = paging_members(page.more, next);
    let mut chunks = open(2);
    if !page.records.is_empty() {
        members.push_str("\"objects\":[");
        chunks.push(Bytes::from(page.records.into_bytes()));
        chunks.push(Bytes::from_static(b"]"));
    }
    with_date_headers(taxii(close(chunks, members)), dates)
}

/// A version list (§5.8).
pub(crate) fn versions(page: &Page<VersionRecord>, next: Option<&str>) -> Response<TaxiiBody> {
    let mut out = Vec::with_capacity(64 + page.items.len() * 32);
    out.push(b'{');
    out.extend_from_slice(paging_members(page.more, next).as_bytes());
    if page.items.is_empty() {
        if out.last() == Some(&b',') {
            out.pop();
        }
    } else {
        out.extend_from_slice(b"\"versions\":[");
        for (i, record) in page.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(&mut out, &record.version);
        }
        out.push(b']');
    }
    out.push(b'}');
    with_date_headers(taxii(TaxiiBody::from(out)), date_range(&page.items, |r| r.date_added))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::SpecVersion;
    use http_body_util::BodyExt;

    fn text(response: Response<TaxiiBody>) -> String {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut collect = Box::pin(response.into_body().collect());
        match collect.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(body)) => String::from_utf8(body.to_bytes().to_vec()).unwrap(),
            _ => panic!("the body is ready at once"),
        }
    }

    #[test]
    fn manifest_and_versions_are_what_serde_writes() {
        let record = |id: &str, version: &str, spec: SpecVersion, micros: i64| VersionRecord {
            id: id.into(),
            version: version.into(),
            spec_version: spec,
            date_added: Timestamp::from_micros(micros),
        };
        let items = vec![
            record(
                "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "2020-01-01T00:00:00Z",
                SpecVersion::V2_1,
                1_600_000_000_000_001,
            ),
            record(
                "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b",
                "2020-01-01T00:00:00.000Z",
                SpecVersion::V2_0,
                1_600_000_000_999_999,
            ),
            record(
                "x--\"odd\\\u{1}é",
                "v\n",
                SpecVersion { major: 3, minor: 10 },
                1_600_000_001_000_000,
            ),
            record(
                "tool--2f2d6f3b-5b8e-4c2a-9c6e-1d3e4f5a6b7c",
                "2021-01-01T00:00:00Z",
                SpecVersion::V2_1,
                i64::MIN,
            ),
            record(
                "tool--2f2d6f3b-5b8e-4c2a-9c6e-1d3e4f5a6b7c",
                "2021-01-01T00:00:00Z",
                SpecVersion::V2_1,
                -1,
            ),
        ];
        for more in [false, true] {
            for items in [Vec::new(), items.clone()] {
                let page = Page {
                    items,
                    more,
                    snapshot: Timestamp::from_micros(0),
                };
                let next = more.then_some("abc");
                let records: Vec<serde_json::Value> = page
                    .items
                    .iter()
                    .map(|r| {
                        serde_json::json!({"id": &*r.id, "date_added": r.date_added, "version": &*r.version, "media_type": r.spec_version.media_type()})
                    })
                    .collect();
                let strings: Vec<&str> = page.items.iter().map(|r| &*r.version).collect();
                let expected = |key: &str, list: String| {
                    let mut members = paging_members(more, next);
                    if !page.items.is_empty() {
                        members.push_str(&format!("\"{key}\":{list}"));
                    }
                    format!("{{{}}}", members.strip_suffix(',').unwrap_or(&members))
                };
                // serde_json::json! orders keys alphabetically; write the records in the manifest's order.
                let records: Vec<String> = records
                    .iter()
                    .map(|r| {
                        format!(
                            "{{\"id\":{},\"date_added\":{},\"version\":{},\"media_type\":{}}}",
                            r["id"], r["date_added"], r["version"], r["media_type"]
                        )
                    })
                    .collect();
                assert_eq!(
                    text(manifest(ManifestPage::from(page.clone()), next)),
                    expected("objects", format!("[{}]", records.join(",")))
                );
                assert_eq!(
                    text(versions(&page, next)),
                    expected("versions", serde_json::to_string(&strings).unwrap())
                );
            }
        }
    }
}
