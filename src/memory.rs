//! The in-memory backend (feature `memory`, on by default): collections held in
//! process memory, loaded from STIX bundles.
//!
//! ```
//! use tower_taxii::{CollectionInfo, MemoryBackend};
//!
//! let backend = MemoryBackend::new();
//! backend.add_collection("api/v21", CollectionInfo::new("c1", "Demo"));
//! let bundle = br#"{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
//!   {"type":"identity","spec_version":"2.1","id":"identity--311b2d2d-f010-4473-83ec-1edf84858f4c",
//!    "created":"2017-06-01T00:00:00.000Z","modified":"2017-06-01T00:00:00.000Z","name":"ACME"}]}"#;
//! let report = backend.load_bundle("api/v21", "c1", bundle).unwrap();
//! assert_eq!((report.added, report.duplicates), (1, 0));
//! ```

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{BackendError, Page, Principal, StorageBackend};
use crate::bundle::bundle_object_copies;
use crate::index::{CollectionIndex, Inserted};
use crate::load::{LoadError, LoadReport};
use crate::manifest::ManifestPage;
use crate::query::{ObjectQuery, VersionSelector};
use crate::resources::{COLLECTION_GONE, CollectionInfo, Status, StatusDetail, VersionRecord};
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::Timestamp;

/// A [`StorageBackend`] that keeps everything in memory.
///
/// Collections are writable when added with `can_write` (see
/// [`CollectionInfo::access`]); status resources are kept for
/// [`status_ttl`](Self::status_ttl) (24 hours by default), then answer 404.
#[derive(Debug)]
pub struct MemoryBackend {
    roots: RwLock<HashMap<String, Vec<Collection>>>,
    statuses: RwLock<HashMap<(String, String), (Status, Instant)>>,
    status_ttl: Duration,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend {
            roots: RwLock::default(),
            statuses: RwLock::default(),
            status_ttl: Self::DEFAULT_STATUS_TTL,
        }
    }
}

#[derive(Debug)]
struct Collection {
    info: CollectionInfo,
    index: CollectionIndex,
}

impl Collection {
    /// The collection as the backend lists it: as configured, with the media types
    /// of what it holds.
    fn listed(&self) -> CollectionInfo {
        CollectionInfo {
            media_types: self.index.media_types(),
            ..self.info.clone()
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryBackend {
    /// How long status resources are kept by default: 24 hours, as TAXII asks.
    pub const DEFAULT_STATUS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long status resources are kept after their request.
    pub fn status_ttl(mut self, ttl: Duration) -> Self {
        self.status_ttl = ttl;
        self
    }

    /// The collection with this id in this API root, as configured (`media_types` aside).
    pub fn collection_info(&self, api_root: &str, id: &str) -> Option<CollectionInfo> {
        read(&self.roots)
            .get(api_root)?
            .iter()
            .find(|c| c.info.id == id)
            .map(|c| c.info.clone())
    }

    /// Adds a collection to an API root, or updates the description of the one with
    /// the same id (keeping its objects). `can_read`/`can_write` in `info` apply to
    /// every principal. Collections are listed in the order they were added.
    pub fn add_collection(&self, api_root: &str, info: CollectionInfo) {
        let mut roots = write(&self.roots);
        let collections = roots.entry(api_root.to_owned()).or_default();
        match collections.iter_mut().find(|c| c.info.id == info.id) {
            Some(existing) => existing.info = info,
            None => collections.push(Collection {
                info,
                index: CollectionIndex::new(),
            }),
        }
    }

    /// Loads every object of a STIX bundle into a collection (see [`insert_objects`](Self::insert_objects)).
    pub fn load_bundle(&self, api_root: &str, collection: &str, json: &[u8]) -> Result<LoadReport, LoadError> {
        // One copy per object, so that duplicates are freed and only new versions stay.
        let objects = bundle_object_copies(json).map_err(LoadError::Bundle)?;
        self.insert_objects(api_root, collection, objects)
    }

    /// Stores objects (each one JSON object, kept byte-for-byte) in a collection, in
    /// order. New (id, version, spec version) triples get strictly increasing
    /// `date_added` values; ones already there are counted as duplicates and left
    /// unchanged; invalid ones are reported and skipped.
    pub fn insert_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: impl IntoIterator<Item = Bytes>,
    ) -> Result<LoadReport, LoadError> {
        let mut roots = write(&self.roots);
        let target = roots
            .get_mut(api_root)
            .and_then(|cs| cs.iter_mut().find(|c| c.info.id == collection))
            .ok_or_else(|| LoadError::NoSuchCollection(collection.to_owned()))?;
        let objects = objects.into_iter();
        target.index.reserve(objects.size_hint().0);
        let mut report = LoadReport::default();
        for json in objects {
            match target.index.insert_json(json, Timestamp::now()) {
                Ok(Inserted::Added(_)) => report.added += 1,
                Ok(Inserted::Duplicate { identical }) => {
                    report.duplicates += 1;
                    report.conflicts += usize::from(!identical);
                }
                Err(invalid) => report.rejected.push(invalid),
            }
        }
        Ok(report)
    }

    /// Keeps a status resource so that the status endpoint can serve it, and forgets
    /// the ones older than the status TTL.
    pub fn put_status(&self, api_root: &str, status: Status) {
        let mut statuses = write(&self.statuses);
        let ttl = self.status_ttl;
        statuses.retain(|_, (_, stored)| stored.elapsed() <= ttl);
        statuses.insert((api_root.to_owned(), status.id.clone()), (status, Instant::now()));
    }

    fn with_collection<T>(&self, api_root: &str, collection: &str, f: impl FnOnce(&CollectionIndex) -> T) -> Result<T, BackendError> {
        let roots = read(&self.roots);
        let found = roots.get(api_root).and_then(|cs| cs.iter().find(|c| c.info.id == collection));
        match found {
            Some(c) => Ok(f(&c.index)),
            // The service resolved the collection just before; it can only be gone if it was removed meanwhile.
            None => Ok(f(&CollectionIndex::new())),
        }
    }
}

#[async_trait]
impl StorageBackend for MemoryBackend {
    async fn collections(&self, api_root: &str, _principal: &Principal) -> Result<Vec<CollectionInfo>, BackendError> {
        let roots = read(&self.roots);
        let collections = roots.get(api_root).map(Vec::as_slice).unwrap_or_default();
        Ok(collections.iter().map(Collection::listed).collect())
    }

    async fn collection(&self, api_root: &str, key: &str, _principal: &Principal) -> Result<Option<CollectionInfo>, BackendError> {
        let roots = read(&self.roots);
        let found = roots.get(api_root).and_then(|cs| cs.iter().find(|c| c.info.is_named(key)));
        Ok(found.map(Collection::listed))
    }

    async fn objects(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<Page<ObjectVersion>, BackendError> {
        self.with_collection(api_root, collection, |index| index.query(query))
    }

    async fn manifest(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<Page<VersionRecord>, BackendError> {
        self.with_collection(api_root, collection, |index| index.manifest(query))
    }

    async fn manifest_json(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<ManifestPage, BackendError> {
        self.with_collection(api_root, collection, |index| index.manifest_json(query))
    }

    async fn status(&self, api_root: &str, id: &str, _principal: &Principal) -> Result<Option<Status>, BackendError> {
        let statuses = read(&self.statuses);
        let found = statuses.get(&(api_root.to_owned(), id.to_owned()));
        Ok(found
            .filter(|(_, stored)| stored.elapsed() <= self.status_ttl)
            .map(|(status, _)| status.clone()))
    }

    async fn add_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: Vec<ObjectVersion>,
        mut status: Status,
        _principal: &Principal,
    ) -> Result<Status, BackendError> {
        {
            let mut roots = write(&self.roots);
            let target = roots
                .get_mut(api_root)
                .and_then(|cs| cs.iter_mut().find(|c| c.info.id == collection));
            match target {
                None => status.fail_all(objects, COLLECTION_GONE),
                Some(target) => {
                    for version in objects {
                        target.index.insert(version.clone(), Timestamp::now());
                        // The stored copy (new or already there) says which version this
                        // is; found by its key, not among every version of the object.
                        let stored = target.index.stored(&version).map(|v| v.version().to_owned());
                        status.successes.push(StatusDetail {
                            id: version.id().to_owned(),
                            version: stored.unwrap_or_default(),
                            message: None,
                        });
                    }
                }
            }
        }
        status.settle();
        self.put_status(api_root, status.clone());
        Ok(status)
    }

    async fn delete_object(
        &self,
        api_root: &str,
        collection: &str,
        object_id: &str,
        versions: &VersionSelector,
        spec_versions: Option<&[SpecVersion]>,
        _principal: &Principal,
    ) -> Result<usize, BackendError> {
        let mut roots = write(&self.roots);
        let target = roots
            .get_mut(api_root)
            .and_then(|cs| cs.iter_mut().find(|c| c.info.id == collection));
        Ok(target.map_or(0, |c| c.index.delete(object_id, versions, spec_versions)))
    }
}
