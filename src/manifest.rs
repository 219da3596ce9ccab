//! Manifest records (§5.3) written as JSON by the backend, so that a manifest page
//! costs one buffer per request rather than an allocation per record.
//!
//! [`CollectionIndex`](crate::CollectionIndex) writes each version's record once,
//! when the version is added, and copies a page's records out; `PostgresBackend`
//! writes them from its rows; any other backend returns [`VersionRecord`]s and the
//! default [`StorageBackend::manifest_json`] writes them.
//!
//! [`StorageBackend::manifest_json`]: crate::StorageBackend::manifest_json

use std::io::Write as _;

use crate::backend::Page;
use crate::resources::VersionRecord;
use crate::stix::SpecVersion;
use crate::timestamp::Timestamp;

/// The manifest records of one page, written as the JSON objects the manifest
/// endpoint sends (`{"id":…,"date_added":…,"version":…,"media_type":…}`), comma
/// separated, in the order they were pushed (ascending `date_added`).
///
/// ```
/// use tower_taxii::{ManifestJson, SpecVersion, Timestamp};
///
/// let mut records = ManifestJson::default();
/// let added = Timestamp::from_micros(1_600_000_000_000_000);
/// records.push("tool--2f2d6f3b-5b8e-4c2a-9c6e-1d3e4f5a6b7c", "2021-01-01T00:00:00Z", SpecVersion::V2_1, added);
/// assert_eq!(records.len(), 1);
/// assert_eq!(records.last_added(), Some(added));
/// assert_eq!(
///     std::str::from_utf8(records.as_bytes()).unwrap(),
///     r#"{"id":"tool--2f2d6f3b-5b8e-4c2a-9c6e-1d3e4f5a6b7c","date_added":"2020-09-13T12:26:40.000000Z","version":"2021-01-01T00:00:00Z","media_type":"application/stix+json;version=2.1"}"#
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManifestJson {
    json: Vec<u8>,
    len: usize,
    first_added: Option<Timestamp>,
    last_added: Option<Timestamp>,
    dates: TimestampWriter,
}

impl ManifestJson {
    /// An empty list with room for about `records` records.
    pub fn with_capacity(records: usize) -> Self {
        ManifestJson {
            json: Vec::with_capacity(records.saturating_mul(RECORD_SIZE).min(MAX_RESERVED)),
            ..ManifestJson::default()
        }
    }

    /// Writes one record.
    pub fn push(&mut self, id: &str, version: &str, spec_version: SpecVersion, date_added: Timestamp) {
        self.separate(date_added);
        write_record(&mut self.json, &mut self.dates, id, version, spec_version, date_added);
    }

    /// Appends a record written before by [`write_record`] (as a collection index
    /// keeps them) with this `date_added`.
    pub(crate) fn push_written(&mut self, record: &[u8], date_added: Timestamp) {
        self.separate(date_added);
        self.json.extend_from_slice(record);
    }

    /// Counts the record about to be written, and writes the comma before it.
    fn separate(&mut self, date_added: Timestamp) {
        if self.len > 0 {
            self.json.push(b',');
        }
        self.len += 1;
        self.first_added.get_or_insert(date_added);
        self.last_added = Some(date_added);
    }

    /// Writes a record.
    pub fn push_record(&mut self, record: &VersionRecord) {
        self.push(&record.id, &record.version, record.spec_version, record.date_added);
    }

    /// How many records are written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record is written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `date_added` of the first record.
    pub fn first_added(&self) -> Option<Timestamp> {
        self.first_added
    }

    /// The `date_added` of the last record.
    pub fn last_added(&self) -> Option<Timestamp> {
        self.last_added
    }

    /// The records, comma separated (without the surrounding brackets).
    pub fn as_bytes(&self) -> &[u8] {
        &self.json
    }

    /// The records' bytes, for the response body.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.json
    }
}

impl PartialEq for ManifestJson {
    fn eq(&self, other: &Self) -> bool {
        (self.len, self.first_added, self.last_added, &self.json) == (other.len, other.first_added, other.last_added, &other.json)
    }
}

impl Eq for ManifestJson {}

/// About the size of one record of an ATT&CK object, to size the buffer once.
pub(crate) const RECORD_SIZE: usize = 192;
/// The most reserved ahead for a page (a larger page grows the buffer as it goes).
const MAX_RESERVED: usize = 4 << 20;

/// One page of a manifest, as [`StorageBackend::manifest_json`] returns it.
///
/// [`StorageBackend::manifest_json`]: crate::StorageBackend::manifest_json
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPage {
    /// At most `limit` records, oldest `date_added` first.
    pub records: ManifestJson,
    /// Whether more records match after the last one.
    pub more: bool,
    /// The collection's high-water mark the query ran against, as in [`Page::snapshot`].
    pub snapshot: Timestamp,
}

impl From<Page<VersionRecord>> for ManifestPage {
    fn from(page: Page<VersionRecord>) -> Self {
        let mut records = ManifestJson::with_capacity(page.items.len());
        for record in &page.items {
            records.push_record(record);
        }
        ManifestPage {
            records,
            more: page.more,
            snapshot: page.snapshot,
        }
    }
}

/// Writes one manifest record: `{"id":…,"date_added":…,"version":…,"media_type":…}`,
/// the bytes serde would write for it.
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    dates: &mut TimestampWriter,
    id: &str,
    version: &str,
    spec_version: SpecVersion,
    date_added: Timestamp,
) {
    out.extend_from_slice(b"{\"id\":");
    push_json_str(out, id);
    out.extend_from_slice(b",\"date_added\":");
    dates.push(out, date_added);
    out.extend_from_slice(b",\"version\":");
    push_json_str(out, version);
    // `application/stix+json;version=N.M`: nothing to escape.
    match spec_version {
        SpecVersion::V2_1 => out.extend_from_slice(b",\"media_type\":\"application/stix+json;version=2.1\"}"),
        SpecVersion::V2_0 => out.extend_from_slice(b",\"media_type\":\"application/stix+json;version=2.0\"}"),
        other => {
            let _ = write!(out, ",\"media_type\":\"{}\"}}", other.media_type());
        }
    }
}

/// Writes a JSON string, escaped as serde_json escapes it.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // No early exit, so that the check runs over many bytes at a time.
    let plain = !s.bytes().fold(false, |escape, b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        // Writing to a Vec does not fail.
        out.extend_from_slice(b"\"\"");
    }
}

/// Writes timestamps as JSON strings in the strict TAXII form, reusing the
/// `YYYY-MM-DDTHH:MM:SS` of the previous one when only the fraction differs (the
/// `date_added` values of a page are often within one second).
#[derive(Debug, Clone, Default)]
pub(crate) struct TimestampWriter {
    last: Option<(i64, [u8; 27])>,
}

impl TimestampWriter {
    pub(crate) fn push(&mut self, out: &mut Vec<u8>, t: Timestamp) {
        let micros = t.as_micros();
        let second = micros.div_euclid(1_000_000);
        out.push(b'"');
        match &mut self.last {
            Some((last, bytes)) if *last == second => {
                let mut fraction = micros.rem_euclid(1_000_000);
                for digit in bytes[20..26].iter_mut().rev() {
                    *digit = b'0' + (fraction % 10) as u8;
                    fraction /= 10;
                }
                out.extend_from_slice(&bytes[..]);
            }
            _ => match t.strict_bytes() {
                Some(bytes) => {
                    out.extend_from_slice(&bytes);
                    self.last = Some((second, bytes));
                }
                None => {
                    let _ = write!(out, "{t}");
                }
            },
        }
        out.push(b'"');
    }
}
