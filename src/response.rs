//! Writing responses: TAXII resources as JSON with the exact TAXII `Content-Type`,
//! and the `X-TAXII-Date-Added-First`/`-Last` headers on content responses.
//!
//! Envelopes are assembled from the stored object bytes; nothing is re-serialized.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::backend::Page;
use crate::body::TaxiiBody;
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
        for (name, t) in [(DATE_ADDED_FIRST, first), (DATE_ADDED_LAST, last)] {
            if let Ok(value) = HeaderValue::from_str(&t.to_string()) {
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

/// Closes a JSON object whose members end with a comma (or that has none).
fn close(mut chunks: Vec<Bytes>, members: String) -> TaxiiBody {
    let members = members.strip_suffix(',').unwrap_or(&members).to_owned();
    chunks.insert(0, Bytes::from(format!("{{{members}")));
    chunks.push(Bytes::from_static(b"}"));
    TaxiiBody::from_chunks(chunks)
}

/// An envelope (§3.7) of stored objects.
pub(crate) fn envelope(page: &Page<ObjectVersion>, next: Option<&str>) -> Response<TaxiiBody> {
    let mut members = paging_members(page.more, next);
    let mut chunks = Vec::with_capacity(page.items.len() * 2 + 3);
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

#[derive(Serialize)]
struct ManifestRecord<'a> {
    id: &'a str,
    date_added: Timestamp,
    version: &'a str,
    media_type: String,
}

/// A manifest (§5.3).
pub(crate) fn manifest(page: &Page<VersionRecord>, next: Option<&str>) -> Response<TaxiiBody> {
    let records: Vec<ManifestRecord<'_>> = page
        .items
        .iter()
        .map(|r| ManifestRecord {
            id: &r.id,
            date_added: r.date_added,
            version: &r.version,
            media_type: r.spec_version.media_type(),
        })
        .collect();
    listing(page, next, "objects", &records)
}

/// A version list (§5.8).
pub(crate) fn versions(page: &Page<VersionRecord>, next: Option<&str>) -> Response<TaxiiBody> {
    let versions: Vec<&str> = page.items.iter().map(|r| &*r.version).collect();
    listing(page, next, "versions", &versions)
}

fn listing(page: &Page<VersionRecord>, next: Option<&str>, key: &str, list: &impl Serialize) -> Response<TaxiiBody> {
    let mut members = paging_members(page.more, next);
    if !page.items.is_empty() {
        match serde_json::to_string(list) {
            Ok(json) => members.push_str(&format!("\"{key}\":{json}")),
            Err(_) => return crate::error::TaxiiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response(),
        }
    }
    with_date_headers(taxii(close(Vec::new(), members)), date_range(&page.items, |r| r.date_added))
}
