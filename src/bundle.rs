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

use bytes::Bytes;
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
pub fn bundle_objects(json: &[u8]) -> Result<Vec<Bytes>, BundleError> {
    if json.trim_ascii_start().first() != Some(&b'{') {
        return Err(BundleError("not a JSON bundle: the top level is not a JSON object".into()));
    }
    let container: Container<'_> = serde_json::from_slice(json).map_err(|e| BundleError(format!("not a JSON bundle: {e}")))?;
    if let Some(kind) = &container.kind {
        if kind != "bundle" {
            return Err(BundleError(format!("the JSON's \"type\" is {kind:?}, not \"bundle\"")));
        }
    }
    Ok(container
        .objects
        .unwrap_or_default()
        .into_iter()
        .map(|raw| Bytes::copy_from_slice(raw.get().as_bytes()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_and_accepts_envelopes() {
        let objects = bundle_objects(b"{\"objects\": [ {\"b\": 1.50,\n \"a\": \"\\u00e9\"} ] }").unwrap();
        assert_eq!(&objects[0][..], b"{\"b\": 1.50,\n \"a\": \"\\u00e9\"}");
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
