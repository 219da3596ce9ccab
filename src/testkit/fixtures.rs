//! What the checks share: STIX objects to load, and a [`Store`] that drives a
//! backend through the trait the way the service does.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::BackendFactory;
use crate::backend::{Page, Principal, StorageBackend};
use crate::cursor::Position;
use crate::ingest::{new_status, validate};
use crate::manifest::ManifestPage;
use crate::query::{ObjectFilter, ObjectQuery, VersionSelector};
use crate::resources::{CollectionInfo, Status, VersionRecord};
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::{Instant, Timestamp, parse_rfc3339};

/// The API root the checks use.
pub(crate) const ROOT: &str = "api/v21";

/// How an object states its spec version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spec {
    /// `"spec_version":"2.1"`.
    V21,
    /// No `spec_version`: STIX 2.0.
    V20,
}

/// A STIX id of `kind` with a UUID made from `n`.
pub(crate) fn id(kind: &str, n: u32) -> String {
    format!("{kind}--{n:08x}-7e57-4e57-8e57-0000000000{:02x}", n % 256)
}

/// A STIX object with this id (its type is the id's prefix), `modified`, spec
/// version, and a property `x_variant` that makes copies of one version differ.
/// Spacing and custom properties are unusual on purpose: the bytes must come back
/// as they went in.
pub(crate) fn object(id: &str, modified: &str, spec: Spec, variant: u32) -> String {
    let kind = id.split_once("--").map_or("indicator", |(k, _)| k);
    let spec = match spec {
        Spec::V21 => r#""spec_version": "2.1", "#,
        Spec::V20 => "",
    };
    format!(
        r#"{{"type":"{kind}", {spec}"id":"{id}","created":"2019-01-01T00:00:00Z","modified":"{modified}",  "name":"caf\u00e9 ☕ {variant}","x_variant":{variant},"x_nested":{{"list":[1, 2.50, -0.0e0, null],"deep":{{"s":"\"quoted\""}}}}}}"#
    )
}

/// The anonymous principal.
pub(crate) fn anonymous() -> Principal {
    Principal::anonymous()
}

/// A writable collection.
pub(crate) fn writable(id: &str) -> CollectionInfo {
    CollectionInfo::new(id, format!("Testkit {id}")).access(true, true)
}

/// `match[version]` picking first and/or last and these instants.
pub(crate) fn pick(first: bool, last: bool, at: &[&str]) -> VersionSelector {
    VersionSelector::Pick {
        first,
        last,
        at: at.iter().map(|t| instant(t)).collect(),
    }
}

/// An RFC 3339 text as an instant (the checks only pass valid ones).
pub(crate) fn instant(text: &str) -> Instant {
    parse_rfc3339(text).unwrap_or_else(|| panic!("testkit bug: {text:?} is not RFC 3339"))
}

/// Every version in both spec versions.
pub(crate) fn everything() -> ObjectFilter {
    ObjectFilter {
        versions: VersionSelector::All,
        spec_versions: Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]),
        ..ObjectFilter::default()
    }
}

/// One version as the checks compare it: (id, version, spec version, date_added).
pub(crate) type Key = (String, String, SpecVersion, Timestamp);

/// The comparable keys of some versions, in their order.
pub(crate) fn keys(versions: &[ObjectVersion]) -> Vec<Key> {
    versions
        .iter()
        .map(|v| (v.id().to_owned(), v.version().to_owned(), v.spec_version(), v.date_added()))
        .collect()
}

/// The keys of some manifest records, in their order.
pub(crate) fn record_keys(records: &[VersionRecord]) -> Vec<Key> {
    records
        .iter()
        .map(|r| (r.id.to_string(), r.version.to_string(), r.spec_version, r.date_added))
        .collect()
}

/// (id, version, spec) without the date, for expectations written by hand.
pub(crate) fn short(versions: &[ObjectVersion]) -> Vec<(String, String, SpecVersion)> {
    versions
        .iter()
        .map(|v| (v.id().to_owned(), v.version().to_owned(), v.spec_version()))
        .collect()
}

/// A hand-written expectation: (id, version, spec) triples.
pub(crate) fn expect(items: &[(&str, &str, SpecVersion)]) -> Vec<(String, String, SpecVersion)> {
    items.iter().map(|(i, v, s)| ((*i).to_owned(), (*v).to_owned(), *s)).collect()
}

/// A backend and the calls the checks make on it.
pub(crate) struct Store {
    pub(crate) backend: Arc<dyn StorageBackend>,
}

impl Store {
    /// A fresh backend with these collections in [`ROOT`].
    pub(crate) async fn new(factory: &dyn BackendFactory, collections: &[CollectionInfo]) -> Store {
        let pairs: Vec<(&str, CollectionInfo)> = collections.iter().map(|c| (ROOT, c.clone())).collect();
        Store {
            backend: factory.make(&pairs).await,
        }
    }

    /// A fresh backend with collections in several API roots.
    pub(crate) async fn with_roots(factory: &dyn BackendFactory, collections: &[(&str, CollectionInfo)]) -> Store {
        Store {
            backend: factory.make(collections).await,
        }
    }

    /// Adds objects to a collection of [`ROOT`] the way the service does.
    pub(crate) async fn add(&self, collection: &str, objects: &[String]) -> Status {
        self.add_in(ROOT, collection, objects).await
    }

    /// Adds objects to a collection of any root; the status comes back settled.
    pub(crate) async fn add_in(&self, root: &str, collection: &str, objects: &[String]) -> Status {
        let received = Timestamp::now();
        let bytes: Vec<Bytes> = objects.iter().map(|o| Bytes::from(o.clone())).collect();
        let mut status = new_status(received, bytes.len(), collection);
        let valid = validate(bytes, received, &mut status);
        let mut status = self
            .backend
            .add_objects(root, collection, valid, status, &anonymous())
            .await
            .unwrap_or_else(|e| panic!("add_objects to {collection:?} failed: {e:?}"));
        status.settle();
        status
    }

    /// One page of objects.
    pub(crate) async fn page(
        &self,
        collection: &str,
        filter: &ObjectFilter,
        limit: usize,
        position: Option<Position>,
    ) -> Page<ObjectVersion> {
        self.page_in(ROOT, collection, filter, limit, position).await
    }

    /// One page of objects in any root.
    pub(crate) async fn page_in(
        &self,
        root: &str,
        collection: &str,
        filter: &ObjectFilter,
        limit: usize,
        position: Option<Position>,
    ) -> Page<ObjectVersion> {
        let query = ObjectQuery {
            filter: filter.clone(),
            limit,
            position,
        };
        self.backend
            .objects(root, collection, &query, &anonymous())
            .await
            .unwrap_or_else(|e| panic!("objects({collection:?}, {query:?}) failed: {e:?}"))
    }

    /// One page of manifest records; the same page from `manifest_json` (what the
    /// service serves) must be exactly these records written as JSON.
    pub(crate) async fn manifest(
        &self,
        collection: &str,
        filter: &ObjectFilter,
        limit: usize,
        position: Option<Position>,
    ) -> Page<VersionRecord> {
        let query = ObjectQuery {
            filter: filter.clone(),
            limit,
            position,
        };
        let page = self
            .backend
            .manifest(ROOT, collection, &query, &anonymous())
            .await
            .unwrap_or_else(|e| panic!("manifest({collection:?}, {query:?}) failed: {e:?}"));
        let written = self
            .backend
            .manifest_json(ROOT, collection, &query, &anonymous())
            .await
            .unwrap_or_else(|e| panic!("manifest_json({collection:?}, {query:?}) failed: {e:?}"));
        assert_eq!(
            written,
            ManifestPage::from(page.clone()),
            "manifest_json({collection:?}, {query:?}) is not the manifest's records written as JSON"
        );
        page
    }

    /// Everything `filter` selects, in one page large enough for it.
    pub(crate) async fn select(&self, collection: &str, filter: &ObjectFilter) -> Vec<ObjectVersion> {
        self.select_in(ROOT, collection, filter).await
    }

    /// Everything `filter` selects in a collection of any root.
    pub(crate) async fn select_in(&self, root: &str, collection: &str, filter: &ObjectFilter) -> Vec<ObjectVersion> {
        let page = self.page_in(root, collection, filter, 100_000, None).await;
        assert!(!page.more, "a page of 100000 holds everything, yet `more` is set for {filter:?}");
        check_order(&page.items, filter);
        page.items
    }

    /// Every stored version of a collection.
    pub(crate) async fn stored(&self, collection: &str) -> Vec<ObjectVersion> {
        self.select(collection, &everything()).await
    }

    /// Walks every page of `filter` at `limit` items a page, checking each page:
    /// at most `limit` items, `more` exactly when it is full and more follow, pages
    /// continuing strictly after the previous one. Returns the union.
    pub(crate) async fn walk(&self, collection: &str, filter: &ObjectFilter, limit: usize) -> Vec<ObjectVersion> {
        let mut all: Vec<ObjectVersion> = Vec::new();
        let mut position = None;
        for _ in 0..100_000 {
            let page = self.page(collection, filter, limit, position).await;
            assert!(
                page.items.len() <= limit,
                "a page holds {} items, over limit {limit}",
                page.items.len()
            );
            if let (Some(last), Some(first)) = (all.last(), page.items.first()) {
                assert!(
                    first.date_added() > last.date_added(),
                    "a page starts at or before the end of the previous one"
                );
            }
            for item in &page.items {
                assert!(
                    item.date_added() <= page.snapshot,
                    "an item's date_added {} is after the page's snapshot {}",
                    item.date_added(),
                    page.snapshot
                );
            }
            let more = page.more;
            if more {
                assert_eq!(
                    page.items.len(),
                    limit,
                    "`more` on a page that is not full ({filter:?}, limit {limit})"
                );
            }
            let snapshot = position.map_or(page.snapshot, |p: Position| p.snapshot);
            if position.is_some() {
                assert_eq!(page.snapshot, snapshot, "a later page reports another snapshot than the walk's");
            }
            all.extend(page.items);
            if !more {
                check_order(&all, filter);
                return all;
            }
            let after = all.last().map(ObjectVersion::date_added).unwrap_or(Timestamp::MIN);
            position = Some(Position { snapshot, after });
        }
        panic!("a walk of {collection:?} at limit {limit} did not end");
    }
}

/// Items must be in strictly increasing `date_added` order, each (id, version,
/// spec) at most once.
pub(crate) fn check_order(items: &[ObjectVersion], filter: &ObjectFilter) {
    for pair in items.windows(2) {
        assert!(
            pair[0].date_added() < pair[1].date_added(),
            "results are not in strictly increasing date_added order for {filter:?}: {} then {}",
            pair[0].date_added(),
            pair[1].date_added()
        );
    }
    let mut seen = HashSet::new();
    for v in items {
        assert!(
            seen.insert((v.id(), v.version(), v.spec_version())),
            "{} {} appears twice for {filter:?}",
            v.id(),
            v.version()
        );
    }
}
