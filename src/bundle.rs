//! Reading STIX bundles (and TAXII envelopes) into their objects' original bytes.
//!
//! ```
//! let bundle = br#"{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
//!   "objects":[{"type":"identity","id":"identity--311b2d2d-f010-4473-83ec-1edf84858f4c"}]}"#;
//! let objects = tower_taxii::bundle_objects(bundle).unwrap();
//! assert_eq!(&objects[0][..], br#"{"type":"identity","id":"identity--311b2d2d-f010-4473-83ec-1edf84858f4c"}"#);
//! ```

use std::borrow::Cow;
use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a file is not a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError(String);

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BundleError {}

#[derive(Deserialize)]
struct Container<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
}

/// The objects of a STIX bundle (`{"type":"bundle","objects":[...]}`) or of a TAXII
/// envelope (`{"objects":[...]}`), each as the exact bytes it had in `json`.
/// A bundle's own `spec_version` (which STIX 2.0 bundles carry) is ignored: each
/// object's `spec_version` speaks for itself.
///
/// The objects are copied once, together, into one buffer that they share (so
/// dropping them all gives it back at once, and a large bundle's copy leaves no
/// scattered holes behind): keeping any one of them keeps that buffer.
pub fn bundle_objects(json: &[u8]) -> Result<Vec<Bytes>, BundleError> {
    let raw = raw_objects(json)?;
    let mut buffer = BytesMut::with_capacity(raw.iter().map(|r| r.get().len()).sum());
    let mut ends = Vec::with_capacity(raw.len());
    for object in raw {
        buffer.extend_from_slice(object.get().as_bytes());
        ends.push(buffer.len());
    }
    let buffer = buffer.freeze();
    let mut start = 0;
    Ok(ends
        .into_iter()
        .map(|end| {
            let object = buffer.slice(start..end);
            start = end;
            object
        })
        .collect())
}

/// The objects of a bundle, as [`bundle_objects`] reads them, each copied into its
/// own buffer: for a store that keeps some of them and drops the rest (duplicates).
#[cfg_attr(not(feature = "memory"), allow(dead_code))]
pub(crate) fn bundle_object_copies(json: &[u8]) -> Result<Vec<Bytes>, BundleError> {
    Ok(raw_objects(json)?
        .into_iter()
        .map(|raw| Bytes::copy_from_slice(raw.get().as_bytes()))
        .collect())
}

fn raw_objects(json: &[u8]) -> Result<Vec<&RawValue>, BundleError> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(BundleError("not a JSON bundle: the top level is not a JSON object".into()));
    }
    let container: Container<'_> = serde_json::from_slice(json).map_err(|e| BundleError(format!("not a JSON bundle: {e}")))?;
    if let Some(kind) = &container.kind {
        if kind != "bundle" {
            return Err(BundleError(format!("the JSON's \"type\" is {kind:?}, not \"bundle\"")));
        }
    }
    Ok(container.objects.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_and_accepts_envelopes() {
        let json = b"{\"objects\": [ {\"b\": 1.50,\n \"a\": \"\\u00e9\"} ,{}] }";
        for objects in [bundle_objects(json).unwrap(), bundle_object_copies(json).unwrap()] {
            assert_eq!(&objects[0][..], b"{\"b\": 1.50,\n \"a\": \"\\u00e9\"}");
            assert_eq!(&objects[1][..], b"{}");
        }
        assert!(bundle_objects(b"{\"type\":\"bundle\"}").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        assert!(bundle_objects(b"[]").is_err());
        assert!(bundle_objects(b"[null, [{\"type\":\"x\"}]]").is_err());
        assert!(bundle_objects(b"{\"type\":\"indicator\",\"objects\":[]}").is_err());
        assert!(bundle_objects(b"{\"objects\":{}}").is_err());
        assert!(bundle_objects(b"{\"objects\":[").is_err());
    }
}
