//! The storage contract: what the service asks of the store it serves.
//!
//! The service parses and validates every request, then makes one call on an
//! `Arc<dyn StorageBackend>` with a typed query. The backend executes it (an SQL
//! backend pushes it into SQL; an in-memory one can use [`CollectionIndex`]). Every
//! call carries the requesting [`Principal`], so a backend may hide collections or
//! objects from some callers.
//!
//! Only [`collections`](StorageBackend::collections) and
//! [`objects`](StorageBackend::objects) have no default: the other reads derive from
//! them, and the writes answer "read-only", so a read-only backend is short.
//!
//! [`CollectionIndex`]: crate::CollectionIndex

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::manifest::ManifestPage;
use crate::query::{ObjectQuery, VersionSelector};
use crate::resources::{CollectionInfo, Status, VersionRecord};
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::Timestamp;

/// Who is asking: put into the request extensions by the host's authentication
/// layer, handed to the backend on every call. A request without one is anonymous.
///
/// ```
/// let alice = tower_taxii::Principal::named("alice");
/// assert_eq!(alice.name(), Some("alice"));
/// assert_eq!(tower_taxii::Principal::anonymous().name(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Principal {
    name: Option<Arc<str>>,
}

impl Principal {
    /// The principal of requests that carry none.
    pub fn anonymous() -> Self {
        Principal { name: None }
    }

    /// A principal with this name.
    pub fn named(name: impl Into<Arc<str>>) -> Self {
        Principal { name: Some(name.into()) }
    }

    /// The name, or `None` when anonymous.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// One page of a query's results, in ascending `date_added` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// At most `limit` items.
    pub items: Vec<T>,
    /// Whether more items match after the last one.
    pub more: bool,
    /// The collection's high-water mark the query ran against: the last `date_added`
    /// it could see. The service puts it in the `next` cursor, and the backend gets it
    /// back in [`ObjectQuery::position`] so that a walk sees one state of the collection.
    pub snapshot: Timestamp,
}

impl<T> Page<T> {
    /// Converts the items, keeping `more` and `snapshot`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            more: self.more,
            snapshot: self.snapshot,
        }
    }
}

/// A failure of the store itself (not of the request), answered as a TAXII 5xx error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    kind: BackendErrorKind,
    message: String,
}

/// What kind of failure a [`BackendError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The store cannot be reached now; the client may retry (503).
    Unavailable,
    /// The collection does not take writes (403).
    ReadOnly,
    /// Anything else (500).
    Internal,
}

impl BackendError {
    /// The store cannot be reached now (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        BackendError {
            kind: BackendErrorKind::Unavailable,
            message: message.into(),
        }
    }

    /// The collection does not take writes (403): what the default write methods answer.
    pub fn read_only() -> Self {
        BackendError {
            kind: BackendErrorKind::ReadOnly,
            message: "this collection is read-only".into(),
        }
    }

    /// An internal failure (500).
    pub fn internal(message: impl Into<String>) -> Self {
        BackendError {
            kind: BackendErrorKind::Internal,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }

    /// The message, for logs (clients get a generic description).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {}

/// The store behind a [`TaxiiService`](crate::TaxiiService).
///
/// `api_root` is the name of the API root the request addressed (as configured on
/// the service, e.g. `api/v21`). `collection` is a collection's `id` exactly as
/// [`collection`](Self::collection) returned it (the service resolves aliases first).
#[async_trait]
pub trait StorageBackend: Send + Sync + 'static {
    /// The collections of an API root that `principal` may know of, in an order that
    /// stays the same across requests.
    async fn collections(&self, api_root: &str, principal: &Principal) -> Result<Vec<CollectionInfo>, BackendError>;

    /// One collection, found by id or alias, or `None` when there is none that
    /// `principal` may know of. The default searches [`collections`](Self::collections).
    async fn collection(&self, api_root: &str, key: &str, principal: &Principal) -> Result<Option<CollectionInfo>, BackendError> {
        Ok(self.collections(api_root, principal).await?.into_iter().find(|c| c.is_named(key)))
    }

    /// The object versions that `query` selects, oldest `date_added` first.
    async fn objects(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        principal: &Principal,
    ) -> Result<Page<ObjectVersion>, BackendError>;

    /// The same selection as [`objects`](Self::objects), as manifest records; a
    /// backend may answer it without loading the objects. Also serves the versions
    /// endpoint (with `match[version]=all` and the object's id).
    async fn manifest(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        principal: &Principal,
    ) -> Result<Page<VersionRecord>, BackendError> {
        Ok(self
            .objects(api_root, collection, query, principal)
            .await?
            .map(|v| VersionRecord::from(&v)))
    }

    /// The same records as [`manifest`](Self::manifest), written as the JSON the
    /// manifest endpoint sends: what the service calls for a manifest page. The
    /// default writes what `manifest` returns; a backend can save an allocation per
    /// record by writing them from what it stores, or by keeping each record written
    /// since the version was added, as
    /// [`CollectionIndex::manifest_json`](crate::CollectionIndex::manifest_json) does.
    async fn manifest_json(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        principal: &Principal,
    ) -> Result<ManifestPage, BackendError> {
        Ok(self.manifest(api_root, collection, query, principal).await?.into())
    }

    /// A status resource, or `None` when it does not exist (or has expired).
    async fn status(&self, api_root: &str, id: &str, principal: &Principal) -> Result<Option<Status>, BackendError> {
        let _ = (api_root, id, principal);
        Ok(None)
    }

    /// Stores the valid objects of an add-objects request.
    ///
    /// `status` arrives with its id, `request_timestamp`, `total_count` and the
    /// `failures` the service found while validating; `objects` are the rest, in
    /// envelope order, each with a provisional `date_added` (the request time) that
    /// the backend replaces. The backend adds a `successes` entry for each object it
    /// stored or already held (an exact duplicate is a success and adds nothing), a
    /// `failures` entry for each it refused, or a `pendings` entry for each it will
    /// finish later, keeps the status for the status endpoint, and returns it; the
    /// service recomputes the counts from the lists. The default answers read-only.
    async fn add_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: Vec<ObjectVersion>,
        status: Status,
        principal: &Principal,
    ) -> Result<Status, BackendError> {
        let _ = (api_root, collection, objects, status, principal);
        Err(BackendError::read_only())
    }

    /// Deletes versions of one object and returns how many it removed (0 when none
    /// matched: the service answers 404).
    ///
    /// Among the object's versions in `spec_versions` (every spec version when
    /// `None`), `versions` picks which to delete, as `match[version]` does for reads.
    /// Afterwards they are gone from every read of this collection; other collections
    /// keep their copies. The default answers read-only.
    async fn delete_object(
        &self,
        api_root: &str,
        collection: &str,
        object_id: &str,
        versions: &VersionSelector,
        spec_versions: Option<&[SpecVersion]>,
        principal: &Principal,
    ) -> Result<usize, BackendError> {
        let _ = (api_root, collection, object_id, versions, spec_versions, principal);
        Err(BackendError::read_only())
    }
}
