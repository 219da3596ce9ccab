//! The TAXII resources other than STIX content: discovery, API root, collection,
//! status, and the records of manifests and version lists (§4, §5).
//!
//! Property names are the standard's snake_case; optional properties that are unset
//! (or would be empty lists, which TAXII forbids) are left out.

use std::sync::Arc;

use serde::Serialize;

use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::Timestamp;

/// The media type of TAXII 2.1, as every response's `Content-Type`.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// The discovery resource (§4.1), built by the service from its configuration.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DiscoveryResource<'a> {
    pub(crate) title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) contact: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) default: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) api_roots: Vec<String>,
}

/// Information about an API root (§4.2).
#[derive(Debug, Clone, Serialize)]
pub struct ApiRoot {
    /// A human-readable name.
    pub title: String,
    /// A human-readable description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The TAXII versions served; always `application/taxii+json;version=2.1`.
    pub versions: Vec<String>,
    /// The largest POST body accepted, in octets.
    pub max_content_length: u64,
}

impl ApiRoot {
    /// The default `max_content_length`: 10 MiB.
    pub const DEFAULT_MAX_CONTENT_LENGTH: u64 = 10 * 1024 * 1024;

    /// An API root with this title and the default `max_content_length`.
    ///
    /// ```
    /// let root = tower_taxii::ApiRoot::new("ATT&CK").description("MITRE ATT&CK");
    /// assert_eq!(root.versions, ["application/taxii+json;version=2.1"]);
    /// ```
    pub fn new(title: impl Into<String>) -> Self {
        ApiRoot {
            title: title.into(),
            description: None,
            versions: vec![TAXII_MEDIA_TYPE.to_owned()],
            max_content_length: Self::DEFAULT_MAX_CONTENT_LENGTH,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `max_content_length` (values below 1 are raised to 1, as TAXII requires > 0).
    pub fn max_content_length(mut self, octets: u64) -> Self {
        self.max_content_length = octets.max(1);
        self
    }
}

/// A collection as a principal sees it (§5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionInfo {
    /// The collection id used in its URL (the standard asks for a UUID; any
    /// path-safe string is served).
    pub id: String,
    /// A human-readable name.
    pub title: String,
    /// A human-readable description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Another name for the collection, unique within its API root, also usable in URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Whether the requesting principal may read objects.
    pub can_read: bool,
    /// Whether the requesting principal may add objects.
    pub can_write: bool,
    /// The STIX media types stored; omitted means `application/stix+json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_types: Option<Vec<String>>,
}

impl CollectionInfo {
    /// A readable, non-writable collection with this id and title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        CollectionInfo {
            id: id.into(),
            title: title.into(),
            description: None,
            alias: None,
            can_read: true,
            can_write: false,
            media_types: None,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the alias.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// Sets `can_read` and `can_write`.
    pub fn access(mut self, can_read: bool, can_write: bool) -> Self {
        self.can_read = can_read;
        self.can_write = can_write;
        self
    }

    /// Whether `key` (a URL segment) names this collection, by id or alias.
    pub fn is_named(&self, key: &str) -> bool {
        self.id == key || self.alias.as_deref() == Some(key)
    }
}

/// What a manifest entry or a version list needs to know of one stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// The STIX id.
    pub id: Arc<str>,
    /// The version string (`modified`, else `created`, else server-assigned).
    pub version: Arc<str>,
    /// The STIX spec version, which gives the record's `media_type`.
    pub spec_version: SpecVersion,
    /// When this version was added to the collection.
    pub date_added: Timestamp,
}

impl From<&ObjectVersion> for VersionRecord {
    fn from(v: &ObjectVersion) -> Self {
        VersionRecord {
            // Fresh copies rather than shared clones: under concurrent requests, touching
            // the stored strings' reference counts costs more than copying them.
            id: Arc::from(v.id()),
            version: Arc::from(v.version()),
            spec_version: v.spec_version(),
            date_added: v.date_added(),
        }
    }
}

/// Whether a status is final (§4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    /// Processing is over; the status will not change again.
    Complete,
    /// Some objects are still being processed.
    Pending,
}

/// The outcome for one object of an add-objects request (§4.3.1, status-details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusDetail {
    /// The object's id.
    pub id: String,
    /// The object's version.
    pub version: String,
    /// Why it failed, or other information.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A status resource (§4.3.1): the outcome of one add-objects request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The status id (a UUID).
    pub id: String,
    /// Complete or pending.
    pub status: StatusState,
    /// When the request was received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timestamp: Option<Timestamp>,
    /// How many objects the request carried.
    pub total_count: u64,
    /// How many were stored (duplicates included).
    pub success_count: u64,
    /// How many failed.
    pub failure_count: u64,
    /// How many are still being processed.
    pub pending_count: u64,
    /// The stored objects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub successes: Vec<StatusDetail>,
    /// The failed objects, each with a message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<StatusDetail>,
    /// The objects still being processed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pendings: Vec<StatusDetail>,
    /// The id of the collection the request added objects to. Not part of the TAXII
    /// resource (never serialized): the service shows a status only to principals who
    /// may see that collection, so a status cannot reveal a hidden collection's objects.
    #[serde(skip)]
    pub collection: Option<String>,
}

impl Status {
    /// A status with this id for a request of `total_count` objects to `collection`,
    /// received at `request_timestamp`: pending, with no details yet. The service
    /// makes one (with a random UUID) for each add-objects request it accepts.
    pub fn new(id: impl Into<String>, request_timestamp: Timestamp, total_count: usize, collection: impl Into<String>) -> Status {
        Status {
            id: id.into(),
            status: StatusState::Pending,
            request_timestamp: Some(request_timestamp),
            total_count: total_count as u64,
            success_count: 0,
            failure_count: 0,
            pending_count: 0,
            successes: Vec::new(),
            failures: Vec::new(),
            pendings: Vec::new(),
            collection: Some(collection.into()),
        }
    }

    /// Recomputes the counts and the state from the detail lists, so that they agree
    /// (`complete` exactly when nothing is pending). The service does this on every
    /// status it returns; a backend should do it before it stores one.
    pub fn settle(&mut self) {
        self.success_count = self.successes.len() as u64;
        self.failure_count = self.failures.len() as u64;
        self.pending_count = self.pendings.len() as u64;
        self.status = if self.pendings.is_empty() {
            StatusState::Complete
        } else {
            StatusState::Pending
        };
    }

    /// Records each of `objects` in `failures`, by its id and version, with this
    /// message: for a backend that stores none of them, e.g. because the collection
    /// was removed after the service looked it up. [`settle`](Self::settle) after.
    pub fn fail_all(&mut self, objects: impl IntoIterator<Item = ObjectVersion>, message: &str) {
        self.failures.extend(objects.into_iter().map(|version| StatusDetail {
            id: version.id().to_owned(),
            version: version.version().to_owned(),
            message: Some(message.to_owned()),
        }));
    }
}

/// The failure message of the built-in backends for objects posted to a collection
/// that was removed after the service looked it up.
pub(crate) const COLLECTION_GONE: &str = "the collection no longer exists";

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{Status, StatusDetail, StatusState};
    use crate::stix::ObjectVersion;
    use crate::timestamp::Timestamp;

    #[test]
    fn fail_all_records_each_object_with_the_message() {
        let now = Timestamp::now();
        let version = |id: &str, modified: &str| {
            let json = format!(
                r#"{{"type":"malware","spec_version":"2.1","id":"{id}","created":"2020-01-01T00:00:00Z","modified":"{modified}","name":"m","is_family":false}}"#
            );
            ObjectVersion::parse(Bytes::from(json), now).expect("a valid object")
        };
        let a = "malware--00000001-0000-4000-8000-000000000001";
        let b = "malware--00000002-0000-4000-8000-000000000002";
        let mut status = Status::new("6f1c1a0e-2b3d-4c5e-8f60-7a8b9c0d1e2f", now, 3, "c");
        status.failures.push(StatusDetail {
            id: "x".to_owned(),
            version: String::new(),
            message: Some("invalid".to_owned()),
        });
        status.fail_all([version(a, "2021-01-01T00:00:00Z"), version(b, "2022-02-02T00:00:00.000Z")], "gone");
        let detail = |id: &str, version: &str| StatusDetail {
            id: id.to_owned(),
            version: version.to_owned(),
            message: Some("gone".to_owned()),
        };
        assert_eq!(
            status.failures[1..],
            [detail(a, "2021-01-01T00:00:00Z"), detail(b, "2022-02-02T00:00:00.000Z")]
        );
        assert_eq!(status.failures[0].message.as_deref(), Some("invalid"), "earlier failures stay");
        assert_eq!(
            (status.status, status.failure_count),
            (StatusState::Pending, 0),
            "fail_all does not settle"
        );
    }
}
