//! Several instances over one database: two `TaxiiService`s, each on its own
//! `PostgresBackend` (own pool) over one schema, see each other's writes at once,
//! serve each other's statuses and `next` cursors; concurrent starters migrate the
//! schema once; writers on both instances keep `date_added` strictly increasing, so
//! a reader polling with `added_after` misses nothing and sees nothing twice; pages
//! of latest versions read while another instance supersedes them stay whole.
#![cfg(feature = "postgres")]

mod common;
mod postgres_support;

use std::collections::HashSet;
use std::sync::Arc;

use postgres_support::{Answer, admin, backend_in, drop_schemas, envelope, indicator, postgres_or_skip, send, unique_schema};
use tower_taxii::{ApiRoot, CollectionInfo, ObjectFilter, ObjectQuery, PostgresBackend, Principal, StorageBackend, TaxiiService};

const ROOT: &str = "api/v21";
const COLLECTION: &str = "c1";

fn service(backend: &PostgresBackend) -> TaxiiService {
    TaxiiService::builder(Arc::new(backend.clone()))
        .api_root(ROOT, ApiRoot::new("Shared"))
        .build()
}

/// Two instances on one schema, the first having created it and the collection.
async fn two_instances(schema: &str) -> (TaxiiService, TaxiiService) {
    let first = backend_in(schema).await;
    first
        .add_collection(ROOT, CollectionInfo::new(COLLECTION, "Shared").access(true, true))
        .await
        .expect("add_collection");
    let second = backend_in(schema).await;
    (service(&first), service(&second))
}

fn objects_of(answer: &Answer) -> Vec<serde_json::Value> {
    answer.body["objects"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starters_migrate_once() {
    if !postgres_or_skip() {
        return;
    }
    let schema = unique_schema("inst_mig");
    let starters: Vec<_> = (0..6)
        .map(|_| {
            let schema = schema.clone();
            tokio::spawn(async move { backend_in(&schema).await })
        })
        .collect();
    for starter in starters {
        starter.await.expect("a starter failed");
    }
    let rows = admin()
        .await
        .query(&format!("SELECT version FROM {schema}.schema_version ORDER BY version"), &[])
        .await
        .expect("schema_version");
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=tower_taxii::postgres::SCHEMA_VERSION).collect::<Vec<_>>());
    drop_schemas(&[schema]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_share_writes_statuses_and_cursors() {
    if !postgres_or_skip() {
        return;
    }
    let schema = unique_schema("inst_share");
    let (one, two) = two_instances(&schema).await;
    let objects_uri = format!("/{ROOT}/collections/{COLLECTION}/objects/");

    let objects: Vec<String> = (0..7).map(|n| indicator(n, "2020-01-01T00:00:00Z")).collect();
    let posted = send(&one, "POST", &objects_uri, Some(envelope(&objects))).await;
    assert_eq!(posted.status, 202, "{}", posted.body);
    let status_id = posted.body["id"].as_str().expect("a status id").to_owned();

    // The other instance sees the write and the status at once.
    let seen = send(&two, "GET", &objects_uri, None).await;
    assert_eq!(objects_of(&seen).len(), 7, "{}", seen.body);
    let status = send(&two, "GET", &format!("/{ROOT}/status/{status_id}/"), None).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body, posted.body, "the status served by the other instance");

    // A walk alternating instances, with a write landing in the middle of it.
    let mut walked = Vec::new();
    let mut next: Option<String> = None;
    for page in 0..20 {
        let service = if page % 2 == 0 { &one } else { &two };
        let uri = match &next {
            Some(n) => format!("{objects_uri}?limit=2&next={n}"),
            None => format!("{objects_uri}?limit=2"),
        };
        let answer = send(service, "GET", &uri, None).await;
        assert_eq!(answer.status, 200, "{uri}: {}", answer.body);
        walked.extend(objects_of(&answer));
        if page == 0 {
            let later = send(
                &two,
                "POST",
                &objects_uri,
                Some(envelope(&[indicator(100, "2020-01-01T00:00:00Z")])),
            )
            .await;
            assert_eq!(later.status, 202);
        }
        next = answer.body["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let ids: Vec<&str> = walked.iter().filter_map(|o| o["id"].as_str()).collect();
    let expected: Vec<String> = (0..7).map(|n| format!("indicator--{n:08x}-0000-4000-8000-000000000000")).collect();
    assert_eq!(ids, expected, "a walk across instances sees the collection as it began");
    assert_eq!(objects_of(&send(&one, "GET", &objects_uri, None).await).len(), 8);
    drop(one);
    drop(two);
    drop_schemas(&[schema]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_two_instances_keep_added_after_lossless() {
    if !postgres_or_skip() {
        return;
    }
    let schema = unique_schema("inst_sync");
    let (one, two) = two_instances(&schema).await;
    let objects_uri = format!("/{ROOT}/collections/{COLLECTION}/objects/");
    let manifest_uri = format!("/{ROOT}/collections/{COLLECTION}/manifest/");
    let writers: Vec<_> = (0..6u32)
        .map(|w| {
            let service = if w % 2 == 0 { one.clone() } else { two.clone() };
            let uri = objects_uri.clone();
            tokio::spawn(async move {
                for request in 0..10u32 {
                    let objects: Vec<String> = (0..3)
                        .map(|k| indicator(w * 1000 + request * 10 + k, "2020-01-01T00:00:00Z"))
                        .collect();
                    let answer = send(&service, "POST", &uri, Some(envelope(&objects))).await;
                    assert_eq!(answer.status, 202, "{}", answer.body);
                }
            })
        })
        .collect();
    // An incremental reader: each poll asks for what was added after the last
    // date_added it saw, as a synchronising client does.
    let reader = {
        let service = one.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(String, String)> = Vec::new();
            let mut last: Option<String> = None;
            for _ in 0..2000 {
                let uri = match &last {
                    Some(t) => format!("{manifest_uri}?match[version]=all&added_after={t}"),
                    None => format!("{manifest_uri}?match[version]=all"),
                };
                let answer = send(&service, "GET", &uri, None).await;
                for record in objects_of(&answer) {
                    let date = record["date_added"].as_str().unwrap_or_default().to_owned();
                    seen.push((record["id"].as_str().unwrap_or_default().to_owned(), date.clone()));
                    last = Some(date);
                }
                if seen.len() >= 180 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            seen
        })
    };
    for writer in writers {
        writer.await.expect("a writer failed");
    }
    let seen = reader.await.expect("the reader failed");
    assert_eq!(seen.len(), 180, "the incremental reader missed versions or saw some twice");
    let ids: HashSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 180, "the incremental reader saw a version twice");
    let dates: Vec<&str> = seen.iter().map(|(_, d)| d.as_str()).collect();
    assert!(
        dates.windows(2).all(|w| w[0] < w[1]),
        "date_added not strictly increasing across instances"
    );
    drop(one);
    drop(two);
    drop_schemas(&[schema]).await;
}

/// A reader on one instance asks for the latest versions while a writer on another
/// keeps superseding them. Each page's snapshot is read first and its rows after, so
/// a write may land in between; the page must still hold every object's latest
/// version as of its snapshot (a version marked latest by the newer write would be
/// past the snapshot, and the one it superseded no longer marked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_pages_stay_whole_while_another_instance_supersedes() {
    if !postgres_or_skip() {
        return;
    }
    const OBJECTS: u32 = 30;
    let schema = unique_schema("inst_latest");
    let writer = backend_in(&schema).await;
    writer
        .add_collection(ROOT, CollectionInfo::new(COLLECTION, "Shared"))
        .await
        .expect("add_collection");
    let first: Vec<bytes::Bytes> = (0..OBJECTS).map(|n| indicator(n, "2020-01-01T00:00:00Z").into()).collect();
    writer.insert_objects(ROOT, COLLECTION, first).await.expect("insert_objects");
    let reader = backend_in(&schema).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut written = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && written < 20_000 {
                let modified = format!("2021-01-01T00:00:00.{:06}Z", written);
                let object = indicator(written % OBJECTS, &modified);
                writer
                    .insert_objects(ROOT, COLLECTION, [object.into()])
                    .await
                    .expect("insert_objects");
                written += 1;
            }
            written
        })
    };
    let query = ObjectQuery {
        filter: ObjectFilter::default(),
        limit: 100,
        position: None,
    };
    let started = std::time::Instant::now();
    let mut pages = 0;
    while started.elapsed() < std::time::Duration::from_secs(3) {
        let page = reader
            .objects(ROOT, COLLECTION, &query, &Principal::anonymous())
            .await
            .expect("objects");
        let ids: HashSet<&str> = page.items.iter().map(|v| v.id()).collect();
        assert_eq!(
            (page.items.len(), ids.len()),
            (OBJECTS as usize, OBJECTS as usize),
            "page {pages}: not one latest version of every object"
        );
        assert!(page.items.iter().all(|v| v.date_added() <= page.snapshot));
        pages += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writing.await.expect("the writer failed");
    println!("{pages} pages read while {written} versions were written");
    assert!(written > 50, "the writer hardly wrote ({written}); the check saw no concurrency");
    drop(reader);
    drop_schemas(&[schema]).await;
}
