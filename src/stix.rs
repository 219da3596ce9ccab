//! STIX objects as TAXII sees them: the original JSON bytes plus the few fields the
//! protocol needs to filter, version and page them.
//!
//! We never model STIX itself. An [`ObjectVersion`] keeps the object exactly as it
//! arrived ([`ObjectVersion::json`]) and reads only `type`, `id`, `spec_version`,
//! `created` and `modified` from it.
//!
//! ```
//! use tower_taxii::{ObjectVersion, SpecVersion, Timestamp};
//!
//! let json = br#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z"}"#;
//! let v = ObjectVersion::parse(json.to_vec().into(), Timestamp::from_micros(0)).unwrap();
//! assert_eq!(v.version(), "2016-04-06T20:03:48.000Z");
//! assert_eq!(v.spec_version(), SpecVersion::V2_1);
//! assert_eq!(&v.json()[..], &json[..]);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use crate::timestamp::{Instant, Timestamp, parse_rfc3339};

/// A STIX specification version such as `2.1`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecVersion {
    /// The major version.
    pub major: u16,
    /// The minor version.
    pub minor: u16,
}

impl SpecVersion {
    /// STIX 2.0: objects without a `spec_version` property (other than SCOs).
    pub const V2_0: SpecVersion = SpecVersion { major: 2, minor: 0 };
    /// STIX 2.1.
    pub const V2_1: SpecVersion = SpecVersion { major: 2, minor: 1 };

    /// Whether this server knows how to serve objects of this version (2.0 and 2.1).
    pub fn is_known(self) -> bool {
        self == Self::V2_0 || self == Self::V2_1
    }

    /// The STIX media type of objects of this version, e.g. `application/stix+json;version=2.1`.
    pub fn media_type(self) -> String {
        format!("application/stix+json;version={self}")
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for SpecVersion {
    type Err = ();

    /// Parses `MAJOR.MINOR` (digits only, as in `2.1`).
    fn from_str(s: &str) -> Result<Self, ()> {
        let (major, minor) = s.split_once('.').ok_or(())?;
        let part = |p: &str| {
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                Err(())
            } else {
                p.parse::<u16>().map_err(|_| ())
            }
        };
        Ok(SpecVersion {
            major: part(major)?,
            minor: part(minor)?,
        })
    }
}

/// STIX Cyber-observable Object types of STIX 2.1. A top-level object of one of these
/// types without `spec_version` is 2.1 (STIX 2.0 had no top-level observables).
const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Why a JSON value cannot be stored as a STIX object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidObject {
    /// The object's `id`, when it had a readable one.
    pub id: Option<String>,
    /// A sentence saying what is wrong.
    pub message: String,
}

impl fmt::Display for InvalidObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{id}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InvalidObject {}

/// The fields of a STIX object that TAXII reads; everything else is left in the bytes.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, rename = "type")]
    object_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    spec_version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    created: Option<Cow<'a, str>>,
    #[serde(borrow)]
    modified: Option<Cow<'a, str>>,
}

/// One stored version of one STIX object in one collection.
///
/// Cheap to clone (the JSON is shared [`Bytes`], the strings are `Arc`s).
#[derive(Debug, Clone)]
pub struct ObjectVersion {
    id: Arc<str>,
    object_type: Arc<str>,
    spec_version: SpecVersion,
    version: Arc<str>,
    version_instant: Instant,
    date_added: Timestamp,
    /// False for objects with neither `modified` nor `created`, whose version is their date_added.
    versioned: bool,
    json: Bytes,
}

/// `t` as an [`Instant`].
fn instant_of(t: Timestamp) -> Instant {
    let micros = t.as_micros();
    Instant {
        secs: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as u32,
    }
}

impl ObjectVersion {
    /// Reads a STIX object from its JSON, keeping the bytes unchanged.
    ///
    /// Checks what TAXII needs: a JSON object with a `type`, an `id` of the form
    /// `type--UUID` whose prefix is the type, RFC 3339 `created`/`modified` where
    /// present, and a known `spec_version` where present. The version is `modified`,
    /// else `created`, else (unversioned objects such as some observables) the
    /// `date_added` given here, which keeps it consistent for this server.
    pub fn parse(json: Bytes, date_added: Timestamp) -> Result<Self, InvalidObject> {
        // serde would read a JSON array into the fields by position: only objects are STIX objects.
        if json.trim_ascii_start().first() != Some(&b'{') {
            return Err(InvalidObject {
                id: None,
                message: "not a JSON object".into(),
            });
        }
        let head: Head<'_> = serde_json::from_slice(&json).map_err(|e| InvalidObject {
            id: None,
            message: format!("not a JSON object with string properties: {e}"),
        })?;
        let id = head.id.ok_or_else(|| InvalidObject {
            id: None,
            message: "the object has no \"id\"".into(),
        })?;
        let fail = |message: String| InvalidObject {
            id: Some(id.to_string()),
            message,
        };
        let object_type = head.object_type.ok_or_else(|| fail("the object has no \"type\"".into()))?;
        if !is_stix_type(&object_type) {
            return Err(fail(format!("\"type\" {object_type:?} is not a STIX type name")));
        }
        match split_stix_id(&id) {
            Some((prefix, _)) if prefix == object_type => {}
            Some(_) => return Err(fail(format!("the id's prefix does not match \"type\" {object_type:?}"))),
            None => return Err(fail("\"id\" is not of the form type--UUID".into())),
        }
        let spec_version = match head.spec_version.as_deref() {
            Some(text) => match text.parse::<SpecVersion>() {
                Ok(v) if v.is_known() => v,
                _ => return Err(fail(format!("unsupported \"spec_version\" {text:?} (2.0 and 2.1 are served)"))),
            },
            None if SCO_TYPES.contains(&&*object_type) => SpecVersion::V2_1,
            None => SpecVersion::V2_0,
        };
        let timestamp = |name: &str, value: &Option<Cow<'_, str>>| -> Result<Option<Instant>, InvalidObject> {
            match value {
                None => Ok(None),
                Some(text) => parse_rfc3339(text)
                    .map(Some)
                    .ok_or_else(|| fail(format!("\"{name}\" {text:?} is not an RFC 3339 timestamp"))),
            }
        };
        let created = timestamp("created", &head.created)?;
        let modified = timestamp("modified", &head.modified)?;
        let (version, version_instant, versioned) = match (&head.modified, modified, &head.created, created) {
            (Some(text), Some(instant), _, _) | (None, None, Some(text), Some(instant)) => (Arc::from(&**text), instant, true),
            _ => (Arc::from(date_added.to_string()), instant_of(date_added), false),
        };
        Ok(ObjectVersion {
            id: Arc::from(&*id),
            object_type: Arc::from(&*object_type),
            spec_version,
            version,
            version_instant,
            date_added,
            versioned,
            json,
        })
    }

    /// The STIX id, e.g. `attack-pattern--0042a9f5-f053-4769-b3ef-9ad018dfa298`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id as the shared string this version holds (cloning it copies nothing).
    pub(crate) fn shared_id(&self) -> &Arc<str> {
        &self.id
    }

    /// The version string as the shared string this version holds.
    pub(crate) fn shared_version(&self) -> &Arc<str> {
        &self.version
    }

    /// The STIX type, e.g. `attack-pattern`.
    pub fn object_type(&self) -> &str {
        &self.object_type
    }

    /// The STIX specification version of this object.
    pub fn spec_version(&self) -> SpecVersion {
        self.spec_version
    }

    /// The version string TAXII reports: `modified` exactly as written in the object,
    /// else `created`, else a server-assigned value.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The version as an instant, for ordering versions and matching `match[version]`.
    pub fn version_instant(&self) -> Instant {
        self.version_instant
    }

    /// When this server added this version to its collection.
    pub fn date_added(&self) -> Timestamp {
        self.date_added
    }

    /// The object's JSON, byte-for-byte as it was loaded or posted.
    pub fn json(&self) -> &Bytes {
        &self.json
    }

    /// The same version with another `date_added` (used when a backend assigns it).
    pub fn with_date_added(mut self, date_added: Timestamp) -> Self {
        if !self.versioned {
            // An unversioned object's version is its date_added: keep them together.
            self.version = Arc::from(date_added.to_string());
            self.version_instant = instant_of(date_added);
        }
        self.date_added = date_added;
        self
    }

    /// Whether the object carries its own version (`modified` or `created`). An
    /// unversioned object has one version at most: a later copy is a duplicate.
    pub fn is_versioned(&self) -> bool {
        self.versioned
    }

    /// Whether `other` is the same (id, version, spec version) as this one: the key
    /// under which a collection stores a version. The version is compared as the
    /// string TAXII reports (`2017-06-01T00:00:00Z` and `2017-06-01T00:00:00.000Z` are
    /// two versions, as their bytes differ); unversioned copies of one id are the same
    /// version whatever their date_added.
    pub fn same_version(&self, other: &ObjectVersion) -> bool {
        self.id == other.id
            && self.spec_version == other.spec_version
            && self.versioned == other.versioned
            && (!self.versioned || self.version == other.version)
    }
}

/// Whether `s` is a syntactically valid STIX type name: 3 to 250 characters of
/// lower-case ASCII letters, digits and hyphens.
pub fn is_stix_type(s: &str) -> bool {
    (3..=250).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Splits a STIX identifier `type--UUID` into its type and UUID, or `None` when it is
/// not of that form (the UUID must be 8-4-4-4-12 hexadecimal digits).
pub fn split_stix_id(id: &str) -> Option<(&str, &str)> {
    let (prefix, uuid) = id.rsplit_once("--")?;
    (is_stix_type(prefix) && is_uuid(uuid)).then_some((prefix, uuid))
}

/// Whether `s` is a UUID in its canonical 8-4-4-4-12 hexadecimal form.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ObjectVersion, InvalidObject> {
        ObjectVersion::parse(Bytes::copy_from_slice(json.as_bytes()), Timestamp::from_micros(5))
    }

    const ID: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

    #[test]
    fn version_is_modified_then_created_then_date_added() {
        let both = parse(&format!(
            r#"{{"type":"indicator","id":"{ID}","created":"2016-01-01T00:00:00Z","modified":"2017-01-01T00:00:00.5Z"}}"#
        ))
        .unwrap();
        assert_eq!(both.version(), "2017-01-01T00:00:00.5Z");
        assert_eq!(both.spec_version(), SpecVersion::V2_0);
        let created = parse(&format!(r#"{{"type":"indicator","id":"{ID}","created":"2016-01-01T00:00:00Z"}}"#)).unwrap();
        assert_eq!(created.version(), "2016-01-01T00:00:00Z");
        let none = parse(r#"{"type":"ipv4-addr","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3"}"#).unwrap();
        assert_eq!(none.version(), "1970-01-01T00:00:00.000005Z");
        assert_eq!(none.spec_version(), SpecVersion::V2_1);
        let moved = none.with_date_added(Timestamp::from_micros(7));
        assert_eq!(moved.version(), "1970-01-01T00:00:00.000007Z");
    }

    #[test]
    fn rejects_what_taxii_cannot_serve() {
        let cases = [
            ("[]", "not a JSON object"),
            (
                r#"["indicator","indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","2.1",null,"2022-01-01T00:00:00Z"]"#,
                "not a JSON object",
            ),
            (r#"{"type":"indicator"}"#, "no \"id\""),
            (&format!(r#"{{"id":"{ID}"}}"#), "no \"type\""),
            (
                r#"{"type":"indicator","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}"#,
                "prefix",
            ),
            (r#"{"type":"indicator","id":"indicator--1234"}"#, "type--UUID"),
            (
                &format!(r#"{{"type":"indicator","id":"{ID}","spec_version":"3.0"}}"#),
                "spec_version",
            ),
            (&format!(r#"{{"type":"indicator","id":"{ID}","modified":"yesterday"}}"#), "modified"),
            (&format!(r#"{{"type":"indicator","id":"{ID}","modified":5}}"#), "not a JSON object"),
        ];
        for (json, expected) in cases {
            let err = parse(json).unwrap_err();
            assert!(err.message.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn spec_versions_order_numerically() {
        let v: SpecVersion = "2.10".parse().unwrap();
        assert!(v > SpecVersion::V2_1);
        assert!("2".parse::<SpecVersion>().is_err());
        assert!("2.x".parse::<SpecVersion>().is_err());
        assert!(".1".parse::<SpecVersion>().is_err());
    }
}
