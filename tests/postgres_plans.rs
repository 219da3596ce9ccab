//! Query plans of the page queries at two collection sizes: every page walks an
//! index from its position and stops at the page's end, so what it reads (shared
//! buffers) does not grow with the collection. Prints the plans.
//!
//! The sizes are 10 000 and, by default, 200 000 versions (to keep CI short);
//! `TAXII_PLAN_ROWS=1000000` runs the large side at a million.
//!
//! The default query (each object's latest version) is also checked at two
//! collections of the same objects, one with a single version of each and one with
//! many, added release by release (every first version, then every second, ...):
//! its pages must not step over the superseded versions.
#![cfg(feature = "postgres")]

mod common;
mod postgres_support;

use bytes::Bytes;
use postgres_support::{admin, backend_in, drop_schemas, postgres_or_skip, unique_schema};
use tower_taxii::{
    CollectionInfo, ObjectFilter, ObjectQuery, ObjectVersion, Position, PostgresBackend, Principal, SpecVersion, StorageBackend, Timestamp,
    VersionSelector,
};

const ROOT: &str = "api/v21";
const BASE: i64 = 1_600_000_000_000_000;

/// A collection of `rows` versions straight into the table: objects of three types
/// with two versions each, in `date_added` order `BASE + i`, the second marked as
/// the object's latest, as the backend's writes mark it.
async fn collection_of(schema: &str, backend: &PostgresBackend, name: &str, rows: i64) {
    backend
        .add_collection(ROOT, CollectionInfo::new(name, name))
        .await
        .expect("add_collection");
    let client = admin().await;
    let sql = format!(
        r#"
WITH c AS (SELECT cid FROM {schema}.collections WHERE api_root = '{ROOT}' AND id = '{name}'),
g AS (
  SELECT i, (ARRAY['indicator','malware','tool'])[(i / 2) % 3 + 1] AS t,
         lpad(to_hex(i / 2), 8, '0') || '-0000-4000-8000-000000000000' AS u,
         1577836800 + (i % 2) * 86400 AS secs
  FROM generate_series(0, {rows} - 1) AS i
)
INSERT INTO {schema}.versions (cid, date_added, object_id, object_type, spec, version, version_key, v_secs, v_nanos, digest, json, is_latest)
SELECT c.cid, {BASE} + i, t || '--' || u, t, 131073,
       to_char(to_timestamp(secs) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       to_char(to_timestamp(secs) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       secs, 0, i,
       convert_to('{{"type":"' || t || '","spec_version":"2.1","id":"' || t || '--' || u || '","created":"2020-01-01T00:00:00Z","modified":"'
                  || to_char(to_timestamp(secs) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '","name":"object ' || i || '"}}', 'UTF8'),
       i % 2 = 1 OR i = {rows} - 1
FROM g, c;
UPDATE {schema}.collections SET last_added = {BASE} + {rows} - 1 WHERE id = '{name}';
ANALYZE {schema}.versions;
"#
    );
    client.batch_execute(&sql).await.expect("generate the collection");
}

/// The shared buffers a plan read (hit plus read) at its top node.
fn buffers(plan: &str) -> u64 {
    plan.lines()
        .find(|l| l.trim_start().starts_with("Buffers:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| {
                    w.split_once('=')
                        .and_then(|(k, v)| matches!(k, "hit" | "read").then(|| v.parse::<u64>().unwrap_or(0)))
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_cost_the_same_at_any_size() {
    if !postgres_or_skip() {
        return;
    }
    let large: i64 = std::env::var("TAXII_PLAN_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let schema = unique_schema("plans");
    let backend = backend_in(&schema).await;
    collection_of(&schema, &backend, "small", 10_000).await;
    collection_of(&schema, &backend, "large", large).await;

    let middle = |rows: i64| Position {
        snapshot: Timestamp::from_micros(BASE + rows - 1),
        after: Timestamp::from_micros(BASE + rows / 2),
    };
    // Name, filter, from the middle, items on the page.
    type Case = (&'static str, ObjectFilter, bool, usize);
    let cases: Vec<Case> = vec![
        ("default (latest versions)", ObjectFilter::default(), false, 100),
        ("default, from the middle", ObjectFilter::default(), true, 100),
        (
            "match[type]=malware",
            ObjectFilter {
                types: Some(vec!["malware".into()]),
                ..ObjectFilter::default()
            },
            true,
            100,
        ),
        (
            "match[version]=first",
            ObjectFilter {
                versions: VersionSelector::Pick {
                    first: true,
                    last: false,
                    at: Vec::new(),
                },
                ..ObjectFilter::default()
            },
            true,
            100,
        ),
        (
            "match[version]=all, match[spec_version]=2.0,2.1",
            ObjectFilter {
                versions: VersionSelector::All,
                spec_versions: Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]),
                ..ObjectFilter::default()
            },
            true,
            100,
        ),
        (
            "match[id]",
            ObjectFilter {
                ids: Some(vec!["malware--00000001-0000-4000-8000-000000000000".into()]),
                versions: VersionSelector::All,
                ..ObjectFilter::default()
            },
            false,
            2,
        ),
    ];
    for (name, filter, from_middle, items) in cases {
        let mut read = Vec::new();
        for (collection, rows) in [("small", 10_000), ("large", large)] {
            let query = ObjectQuery {
                filter: filter.clone(),
                limit: 100,
                position: from_middle.then(|| middle(rows)),
            };
            let plan = backend.explain(ROOT, collection, &query, true).await.expect("explain");
            println!("--- {name}, {rows} versions, a page of 100:\n{plan}");
            assert!(!plan.contains("Seq Scan"), "{name} at {rows}: a sequential scan\n{plan}");
            check_page(&backend, collection, &query, items, name).await;
            read.push(buffers(&plan));
        }
        let (small, large_read) = (read[0], read[1]);
        println!("{name}: {small} buffers at 10000 versions, {large_read} at {large}");
        assert!(
            large_read <= small * 2 + 64,
            "{name}: a page reads {large_read} buffers at {large} versions but {small} at 10000"
        );
    }
    drop(backend);
    drop_schemas(&[schema]).await;
}

/// Runs `query` at `collection` and checks that it returns `items` items and, when
/// it leaves `match[spec_version]` to its default, the same as with
/// `match[spec_version]=2.1`: every version here is STIX 2.1, so both select the
/// same versions, the latter always the general way.
async fn check_page(backend: &PostgresBackend, collection: &str, query: &ObjectQuery, items: usize, name: &str) {
    let anyone = Principal::anonymous();
    let page = backend.objects(ROOT, collection, query, &anyone).await.expect("objects");
    assert_eq!(page.items.len(), items, "{name} at {collection}: the page's items");
    if query.filter.spec_versions.is_some() {
        return;
    }
    let general = ObjectQuery {
        filter: ObjectFilter {
            spec_versions: Some(vec![SpecVersion::V2_1]),
            ..query.filter.clone()
        },
        ..query.clone()
    };
    let expected = backend.objects(ROOT, collection, &general, &anyone).await.expect("objects");
    let keys = |items: &[ObjectVersion]| {
        items
            .iter()
            .map(|v| (v.id().to_owned(), v.version().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&page.items),
        keys(&expected.items),
        "{name} at {collection}: not the general query's page"
    );
    assert_eq!(page.more, expected.more, "{name} at {collection}: more");
}

/// Version `v` of object `i`: one second later than version `v - 1`.
fn release_object(i: u32, v: u32) -> Bytes {
    let t = ["indicator", "malware", "tool"][i as usize % 3];
    Bytes::from(format!(
        r#"{{"type":"{t}","spec_version":"2.1","id":"{t}--{i:08x}-0000-4000-8000-000000000000","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T{:02}:{:02}:{:02}Z","name":"object {i}","is_family":false}}"#,
        v / 3600,
        v / 60 % 60,
        v % 60
    ))
}

/// A collection of `objects` objects with `versions` versions each, stored through
/// the backend release by release: every first version, then every second, ...
async fn releases_of(schema: &str, backend: &PostgresBackend, name: &str, objects: u32, versions: u32) {
    backend
        .add_collection(ROOT, CollectionInfo::new(name, name))
        .await
        .expect("add_collection");
    let all = (0..versions).flat_map(|v| (0..objects).map(move |i| release_object(i, v)));
    let report = backend.insert_objects(ROOT, name, all).await.expect("insert_objects");
    assert_eq!(report.added, (objects * versions) as usize, "{name}: {report:?}");
    admin()
        .await
        .batch_execute(&format!("VACUUM ANALYZE {schema}.versions"))
        .await
        .expect("analyze");
}

/// The `date_added` of the version at `offset` in the collection's `date_added` order.
async fn date_added_at(schema: &str, name: &str, offset: i64) -> Timestamp {
    let row = admin()
        .await
        .query_one(
            &format!(
                "SELECT v.date_added FROM {schema}.versions v JOIN {schema}.collections c USING (cid) \
                 WHERE c.id = $1 ORDER BY v.date_added OFFSET $2 LIMIT 1"
            ),
            &[&name, &offset],
        )
        .await
        .expect("a version at that offset");
    Timestamp::from_micros(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_pages_skip_superseded_versions() {
    if !postgres_or_skip() {
        return;
    }
    const OBJECTS: u32 = 5_000;
    let many: u32 = std::env::var("TAXII_PLAN_VERSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let schema = unique_schema("latest");
    let backend = backend_in(&schema).await;
    releases_of(&schema, &backend, "one", OBJECTS, 1).await;
    releases_of(&schema, &backend, "many", OBJECTS, many).await;

    let anyone = Principal::anonymous();
    let types = ObjectFilter {
        types: Some(vec!["malware".into()]),
        ..ObjectFilter::default()
    };
    let cases: [(&str, ObjectFilter, bool); 3] = [
        ("first page", ObjectFilter::default(), false),
        ("a page from the middle", ObjectFilter::default(), true),
        ("match[type]=malware from the middle", types, true),
    ];
    let mut fresh = Vec::new();
    for (name, filter, from_middle) in cases {
        let mut read = Vec::new();
        for (collection, versions) in [("one", 1), ("many", many)] {
            let rows = i64::from(OBJECTS * versions);
            let first = backend
                .objects(
                    ROOT,
                    collection,
                    &ObjectQuery {
                        filter: filter.clone(),
                        limit: 1,
                        position: None,
                    },
                    &anyone,
                )
                .await
                .expect("objects");
            let position = from_middle.then_some(Position {
                snapshot: first.snapshot,
                after: date_added_at(&schema, collection, rows / 2).await,
            });
            let query = ObjectQuery {
                filter: filter.clone(),
                limit: 100,
                position,
            };
            let plan = backend.explain(ROOT, collection, &query, true).await.expect("explain");
            println!("--- default query, {name}, {OBJECTS} objects of {versions} versions:\n{plan}");
            check_page(&backend, collection, &query, 100, name).await;
            read.push(buffers(&plan));
        }
        let (one, stacked) = (read[0], read[1]);
        println!("{name}: {one} buffers with 1 version per object, {stacked} with {many}");
        assert!(
            stacked <= one * 2 + 16,
            "{name}: a page reads {stacked} buffers with {many} versions per object but {one} with one"
        );
        fresh.push((name, filter, one));
    }

    // A walk that began before a write (a new version of the first object of the last
    // release, whose version at the snapshot is then not the one marked latest, and a
    // new object): its later pages still read the marked versions, plus what the write
    // changed, not every superseded version after their position.
    let rows = i64::from(OBJECTS * many);
    let walk = backend
        .objects(
            ROOT,
            "many",
            &ObjectQuery {
                filter: ObjectFilter::default(),
                limit: 1,
                position: None,
            },
            &anyone,
        )
        .await
        .expect("objects");
    let report = backend
        .insert_objects(ROOT, "many", [release_object(0, many), release_object(OBJECTS, 0)])
        .await
        .expect("insert_objects");
    assert_eq!(report.added, 2);
    for (name, filter, one) in fresh.into_iter().filter(|(name, ..)| name.contains("middle")) {
        let query = ObjectQuery {
            filter,
            limit: 100,
            position: Some(Position {
                snapshot: walk.snapshot,
                after: date_added_at(&schema, "many", rows / 2).await,
            }),
        };
        let plan = backend.explain(ROOT, "many", &query, true).await.expect("explain");
        println!("--- default query, {name}, {many} versions per object, walk begun before a write:\n{plan}");
        check_page(&backend, "many", &query, 100, name).await;
        let stale = buffers(&plan);
        println!("{name}, walk begun before a write: {stale} buffers ({one} with 1 version per object)");
        assert!(
            stale <= one * 2 + 32,
            "{name}: a page of a walk begun before a write reads {stale} buffers with {many} versions per object, {one} with one"
        );
    }
    drop(backend);
    drop_schemas(&[schema]).await;
}
