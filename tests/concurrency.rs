//! Many clients at once on a multi-threaded runtime: writers post envelopes (new
//! objects, new versions of each other's objects, exact duplicates, one invalid
//! object each) into two collections while readers walk one of them with `next`
//! and with `added_after` (from `X-TAXII-Date-Added-Last`).
//!
//! Afterwards: every version posted is stored exactly once, byte for byte; every
//! status adds up; `date_added` is strictly increasing in each collection; and every
//! reader walk returned everything that was there when it started (the manifest is
//! recorded just before the walk) exactly once. Every loop is bounded.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use support::{
    ROOT, check_status_shape, get, id as stix_id, manifest_uri, objects_of, objects_uri, post, sdo, status_uri, successes, versions_uri,
};
use tokio::sync::Barrier;
use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService, Timestamp};
/// Written and read concurrently.
const COLL_A: &str = "a0a0a0a0-0000-4000-8000-00000000000a";
/// Written concurrently (the same envelopes), read at the end.
const COLL_B: &str = "b0b0b0b0-0000-4000-8000-00000000000b";

const WRITERS: u32 = 8;
/// Objects each writer owns.
const PER_WRITER: u32 = 50;
const READERS: usize = 6;
/// Objects in collection A before anything starts.
const SEEDED: u32 = 60;
/// Bounds on every loop.
const MAX_PAGES: usize = 5_000;
const MAX_WALKS: usize = 50;

// ---------------------------------------------------------------------------
// What the writers post
// ---------------------------------------------------------------------------

const KINDS: [&str; 4] = ["indicator", "malware", "tool", "campaign"];

/// The id writer `w` owns as its `j`th object.
fn owned_id(w: u32, j: u32) -> String {
    stix_id(KINDS[(j % 4) as usize], 0x1000 * (w + 1) + j)
}

/// Writer `w`'s `j`th object, first version.
fn own(w: u32, j: u32) -> Item {
    let id = owned_id(w, j);
    Item::valid(&id, "2021-01-01T00:00:00.000Z")
}

/// A version of writer `w + 1`'s `j`th object that only writer `w` posts.
fn cross(w: u32, j: u32) -> Item {
    let id = owned_id((w + 1) % WRITERS, j);
    Item::valid(&id, &format!("2022-01-01T{w:02}:{j:02}:00.000Z"))
}

#[derive(Clone)]
struct Item {
    json: String,
    /// (id, version) when the object is valid.
    key: Option<(String, String)>,
}

impl Item {
    fn valid(id: &str, modified: &str) -> Item {
        Item {
            json: sdo(id, modified),
            key: Some((id.to_owned(), modified.to_owned())),
        }
    }
}

/// Everything writer `w` posts, in envelopes of varying sizes.
fn plan(w: u32) -> Vec<Vec<Item>> {
    let mut items = Vec::new();
    for j in 0..PER_WRITER {
        items.push(own(w, j));
        if j % 5 == 4 {
            items.push(cross(w, j));
        }
        if j % 7 == 6 {
            items.push(own(w, j - 1)); // an exact duplicate of its own
        }
        if j % 9 == 8 {
            items.push(own((w + 2) % WRITERS, j)); // racing the owner with the same bytes
        }
        if j == 25 {
            let id = stix_id("indicator", 0xdead_0000 + w);
            items.push(Item {
                json: format!(r#"{{"type":"malware","spec_version":"2.1","id":"{id}","modified":"2021-01-01T00:00:00Z"}}"#),
                key: None,
            });
        }
    }
    let sizes = [3, 7, 11, 5, 13, 1];
    let mut envelopes = Vec::new();
    let mut rest = items.as_slice();
    let mut k = w as usize;
    while !rest.is_empty() {
        let n = sizes[k % sizes.len()].min(rest.len());
        envelopes.push(rest[..n].to_vec());
        rest = &rest[n..];
        k += 1;
    }
    envelopes
}

fn envelope(items: &[Item]) -> String {
    let objects: Vec<&str> = items.iter().map(|i| i.json.as_str()).collect();
    support::envelope(&objects)
}

fn seeded() -> Vec<Item> {
    let mut items = Vec::new();
    for k in 0..SEEDED {
        let id = stix_id("identity", k);
        items.push(Item::valid(&id, "2019-01-01T00:00:00.000Z"));
        if k % 3 == 0 {
            items.push(Item::valid(&id, "2019-06-01T00:00:00.000Z"));
        }
    }
    items
}

// ---------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------

/// Posts one envelope and checks its status against what it carried.
async fn post_and_check(service: &TaxiiService, collection: &str, items: &[Item]) -> Value {
    let status = post(service, collection, envelope(items)).await.expect_status();
    assert_eq!(status["status"], "complete", "{status}");
    assert_eq!(status["total_count"], items.len(), "{status}");
    let mut expected: Vec<(String, String)> = items.iter().filter_map(|i| i.key.clone()).collect();
    expected.sort();
    assert_eq!(
        successes(&status),
        expected,
        "every valid object (duplicates too) is a success: {status}"
    );
    let invalid = items.iter().filter(|i| i.key.is_none()).count();
    assert_eq!(status["failure_count"], invalid, "{status}");
    status
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// The whole manifest (every version) in one page: (id, version, date_added), in order.
async fn manifest(service: &TaxiiService, collection: &str) -> Vec<(String, String, Timestamp)> {
    let uri = format!("{}?match[version]=all&limit=10000", manifest_uri(collection));
    let body = get(service, &uri).await.expect(200);
    assert!(body.get("more").is_none_or(|m| m == false), "one page holds everything");
    objects_of(&body)
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["version"].as_str().unwrap().to_owned(),
                r["date_added"].as_str().unwrap().parse().expect("date_added is a timestamp"),
            )
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Walk {
    /// Objects, default version (last), paged with `next`.
    ObjectsNextLast,
    /// Objects, every version, paged with `next`.
    ObjectsNextAll,
    /// Objects, every version, paged with `added_after` = X-TAXII-Date-Added-Last.
    ObjectsAddedAfterAll,
    /// Manifest, every version, paged with `next`.
    ManifestNextAll,
    /// Manifest, every version, paged with `added_after`.
    ManifestAddedAfterAll,
    /// Objects, default version (last), paged with `added_after`: an object whose
    /// newest version is added during the walk comes again in that version.
    ObjectsAddedAfterLast,
}

impl Walk {
    const ALL: [Walk; 6] = [
        Walk::ObjectsNextLast,
        Walk::ObjectsNextAll,
        Walk::ObjectsAddedAfterAll,
        Walk::ManifestNextAll,
        Walk::ManifestAddedAfterAll,
        Walk::ObjectsAddedAfterLast,
    ];

    fn manifest(self) -> bool {
        matches!(self, Walk::ManifestNextAll | Walk::ManifestAddedAfterAll)
    }

    fn uses_next(self) -> bool {
        matches!(self, Walk::ObjectsNextLast | Walk::ObjectsNextAll | Walk::ManifestNextAll)
    }

    fn all_versions(self) -> bool {
        !matches!(self, Walk::ObjectsNextLast | Walk::ObjectsAddedAfterLast)
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
}

/// One walk from the start: the (id, version) of every item, in order.
async fn walk(
    service: &TaxiiService,
    collection: &str,
    kind: Walk,
    limit: usize,
    bytes: &HashMap<(String, String), String>,
) -> Vec<(String, String)> {
    let endpoint = if kind.manifest() {
        manifest_uri(collection)
    } else {
        objects_uri(collection)
    };
    let mut base = format!("{endpoint}?limit={limit}");
    if kind.all_versions() {
        base.push_str("&match[version]=all");
    }
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    let mut added_after: Option<Timestamp> = None;
    let mut previous_last: Option<Timestamp> = None;
    for page in 0.. {
        assert!(page < MAX_PAGES, "{kind:?}: more than {MAX_PAGES} pages");
        let mut uri = base.clone();
        if let Some(next) = &next {
            uri.push_str(&format!("&next={next}"));
        }
        if let Some(after) = added_after {
            uri.push_str(&format!("&added_after={after}"));
        }
        // The service's futures are always ready: yield so that readers share the threads with writers.
        tokio::task::yield_now().await;
        let reply = get(service, &uri).await;
        let body = reply.expect(200);
        let page_items: Vec<(String, String)> = if kind.manifest() {
            let records = objects_of(&body);
            let mut last_date: Option<Timestamp> = None;
            for r in records {
                let date: Timestamp = r["date_added"].as_str().unwrap().parse().unwrap();
                assert!(
                    last_date.is_none_or(|d| d < date),
                    "{kind:?}: date_added increases within a page: {body}"
                );
                last_date = Some(date);
            }
            records
                .iter()
                .map(|r| (r["id"].as_str().unwrap().to_owned(), r["version"].as_str().unwrap().to_owned()))
                .collect()
        } else {
            let raw: RawEnvelope<'_> = serde_json::from_slice(&reply.body).unwrap();
            raw.objects
                .unwrap_or_default()
                .iter()
                .map(|o| {
                    let value: Value = serde_json::from_str(o.get()).unwrap();
                    let key = (
                        value["id"].as_str().unwrap().to_owned(),
                        value["modified"].as_str().unwrap().to_owned(),
                    );
                    let expected = bytes.get(&key).unwrap_or_else(|| panic!("{kind:?}: {key:?} was never posted"));
                    assert_eq!(o.get(), expected, "{kind:?}: served byte for byte");
                    key
                })
                .collect()
        };
        let more = body.get("more") == Some(&Value::Bool(true));
        if page_items.is_empty() {
            assert!(
                reply.header("x-taxii-date-added-first").is_none(),
                "{kind:?}: no date headers on an empty page"
            );
            assert!(kind.uses_next() || !more, "{kind:?}: an empty added_after page has no more");
            if !more {
                break;
            }
        } else {
            let first = reply
                .timestamp_header("x-taxii-date-added-first")
                .expect("X-TAXII-Date-Added-First");
            let last = reply.timestamp_header("x-taxii-date-added-last").expect("X-TAXII-Date-Added-Last");
            assert!(first <= last, "{kind:?}: first {first} <= last {last}");
            if let Some(previous) = previous_last {
                assert!(
                    previous < first,
                    "{kind:?}: pages follow each other in date_added ({previous} then {first})"
                );
            }
            previous_last = Some(last);
            items.extend(page_items);
            if !more {
                break;
            }
            if !kind.uses_next() {
                added_after = Some(last);
            }
        }
        if kind.uses_next() {
            next = Some(
                body["next"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{kind:?}: more comes with next: {body}"))
                    .to_owned(),
            );
        }
    }
    items
}

/// Checks one walk against the manifest recorded just before it started.
fn check_walk(kind: Walk, before: &[(String, String, Timestamp)], items: &[(String, String)]) {
    let mut seen_pairs = BTreeSet::new();
    for item in items {
        assert!(seen_pairs.insert(item.clone()), "{kind:?}: {item:?} returned twice");
    }
    if kind.all_versions() {
        for (id, version, _) in before {
            assert!(
                seen_pairs.contains(&(id.clone(), version.clone())),
                "{kind:?}: ({id}, {version}) was there when the walk started but was not returned"
            );
        }
    } else {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for (id, _) in items {
            *count.entry(id).or_default() += 1;
        }
        for (id, _, _) in before {
            assert!(
                count.contains_key(id.as_str()),
                "{kind:?}: {id} was there when the walk started but was not returned"
            );
        }
        if kind.uses_next() {
            for (id, n) in &count {
                assert_eq!(*n, 1, "{kind:?}: {id} returned {n} times in one walk");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_writers_and_readers_lose_nothing() {
    tokio::time::timeout(Duration::from_secs(300), run())
        .await
        .expect("the test finishes within 5 minutes");
}

async fn run() {
    let backend = Arc::new(MemoryBackend::new());
    for id in [COLL_A, COLL_B] {
        backend.add_collection(ROOT, CollectionInfo::new(id, id).access(true, true));
    }
    let service = TaxiiService::builder(backend.clone())
        .api_root(ROOT, ApiRoot::new("Concurrency"))
        .build();

    // What will be stored: each distinct (id, version) once, with its bytes.
    let seeds = seeded();
    let report = backend
        .insert_objects(ROOT, COLL_A, seeds.iter().map(|i| Bytes::from(i.json.clone())))
        .unwrap();
    assert_eq!(report.added, seeds.len());
    let plans: Vec<Vec<Vec<Item>>> = (0..WRITERS).map(plan).collect();
    let mut bytes: HashMap<(String, String), String> = HashMap::new();
    let mut posted_count = 0usize;
    for item in plans.iter().flatten().flatten() {
        posted_count += 1;
        if let Some(key) = &item.key {
            if let Some(previous) = bytes.insert(key.clone(), item.json.clone()) {
                assert_eq!(previous, item.json, "duplicates are exact");
            }
        }
    }
    let posted_versions: BTreeSet<(String, String)> = bytes.keys().cloned().collect();
    for item in &seeds {
        bytes.insert(item.key.clone().unwrap(), item.json.clone());
    }
    let expected_a: BTreeSet<(String, String)> = bytes.keys().cloned().collect();
    let bytes = Arc::new(bytes);

    let barrier = Arc::new(Barrier::new(READERS + WRITERS as usize));
    let writers_done = Arc::new(AtomicBool::new(false));
    let overlapping_walks = Arc::new(AtomicUsize::new(0));

    let mut readers = Vec::new();
    for r in 0..READERS {
        let (service, barrier, done, bytes, overlapping) = (
            service.clone(),
            barrier.clone(),
            writers_done.clone(),
            bytes.clone(),
            overlapping_walks.clone(),
        );
        readers.push(tokio::spawn(async move {
            let kind = Walk::ALL[r % Walk::ALL.len()];
            let limit = [7, 13, 11, 17, 9, 10][r % 6];
            let mut walks = 0;
            while walks < MAX_WALKS && (walks == 0 || !done.load(Ordering::SeqCst)) {
                let before = manifest(&service, COLL_A).await;
                if walks == 0 {
                    assert_eq!(before.len(), expected_seed_versions(), "nothing is written before the barrier");
                    barrier.wait().await;
                }
                let items = walk(&service, COLL_A, kind, limit, &bytes).await;
                check_walk(kind, &before, &items);
                let after = manifest(&service, COLL_A).await;
                if after.len() > before.len() {
                    overlapping.fetch_add(1, Ordering::SeqCst);
                }
                walks += 1;
            }
            (kind, walks)
        }));
    }

    let mut writers = Vec::new();
    for (w, envelopes) in plans.into_iter().enumerate() {
        let (service, barrier) = (service.clone(), barrier.clone());
        writers.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut statuses = Vec::new();
            for (k, items) in envelopes.iter().enumerate() {
                // Alternate which collection gets the envelope first.
                let order = if (w + k) % 2 == 0 { [COLL_A, COLL_B] } else { [COLL_B, COLL_A] };
                for collection in order {
                    statuses.push((collection, post_and_check(&service, collection, items).await));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            statuses
        }));
    }

    let mut statuses = Vec::new();
    for writer in writers {
        statuses.extend(writer.await.expect("a writer succeeded"));
    }
    writers_done.store(true, Ordering::SeqCst);
    let mut walks = Vec::new();
    for reader in readers {
        walks.push(reader.await.expect("a reader succeeded"));
    }
    println!(
        "reader walks: {walks:?}; {} overlapped writes",
        overlapping_walks.load(Ordering::SeqCst)
    );
    assert!(
        overlapping_walks.load(Ordering::SeqCst) > 0,
        "at least one walk ran while the collection grew (otherwise this test tests nothing)"
    );

    // Every version is stored exactly once, in strictly increasing date_added order.
    for (collection, expected) in [(COLL_A, &expected_a), (COLL_B, &posted_versions)] {
        let records = manifest(&service, collection).await;
        let mut keys = BTreeSet::new();
        for (id, version, _) in &records {
            assert!(
                keys.insert((id.clone(), version.clone())),
                "{collection}: ({id}, {version}) stored twice"
            );
        }
        assert_eq!(&keys, expected, "{collection}: exactly the versions posted");
        for pair in records.windows(2) {
            assert!(
                pair[0].2 < pair[1].2,
                "{collection}: date_added strictly increasing: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
        // Byte for byte, and a fresh walk with next matches the manifest's order.
        let items = walk(&service, collection, Walk::ObjectsNextAll, 50, &bytes).await;
        let order: Vec<(String, String)> = records.iter().map(|(i, v, _)| (i.clone(), v.clone())).collect();
        assert_eq!(items, order, "{collection}: a walk after the writes returns the manifest's order");
        // Every own object with a cross version has both versions.
        let uri = |id: &str| versions_uri(collection, id);
        for w in 0..WRITERS {
            let id = owned_id((w + 1) % WRITERS, 4);
            let body = get(&service, &uri(&id)).await.expect(200);
            let versions: Vec<&str> = body["versions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            assert_eq!(versions.len(), 2, "{id} in {collection}: {versions:?}");
        }
    }

    // Every status adds up, and together they account for every object posted.
    let mut ids = BTreeSet::new();
    let (mut total, mut failures) = (0, 0);
    for (collection, status) in &statuses {
        check_status_shape(status);
        assert!(
            ids.insert(status["id"].as_str().unwrap().to_owned()),
            "status ids are unique: {status}"
        );
        if *collection == COLL_A {
            total += status["total_count"].as_u64().unwrap() as usize;
            failures += status["failure_count"].as_u64().unwrap();
        }
    }
    assert_eq!(total, posted_count, "the statuses count every object posted");
    assert_eq!(failures, u64::from(WRITERS), "one invalid object per writer");

    // The status endpoint returns each status as posted.
    for (_, status) in &statuses {
        let stored = get(&service, &status_uri(status["id"].as_str().unwrap())).await.expect(200);
        assert_eq!(&stored, status, "GET status returns the status the POST returned");
    }
}

fn expected_seed_versions() -> usize {
    seeded().len()
}
