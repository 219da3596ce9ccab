//! Pagination (§3.4, §3.5): `limit`, `more`, `next`, the `X-TAXII-Date-Added-*`
//! headers, sorting by `date_added`, walk snapshots, page size configuration, and a
//! property test that any page walk equals the unpaged answer.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};
use support::*;
use tower_taxii::{DEFAULT_PAGE_SIZE, MemoryBackend, TaxiiService};

const A: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

/// `n` objects with distinct ids (types cycling through indicator, malware, tool),
/// plus two more versions of [`A`]: so A has three versions.
fn many(n: u32) -> Vec<String> {
    let mut objects = vec![sdo(A, "2020-01-01T00:00:00.000Z")];
    for i in 1..=n {
        let kind = ["indicator", "malware", "tool"][i as usize % 3];
        objects.push(sdo(&id(kind, i), "2020-01-01T00:00:00.000Z"));
    }
    objects.push(sdo(A, "2021-01-01T00:00:00.000Z"));
    objects.push(sdo(A, "2022-01-01T00:00:00.000Z"));
    objects
}

fn fixture(n: u32) -> (Arc<MemoryBackend>, TaxiiService) {
    let backend = backend();
    insert(&backend, many(n));
    let service = service(&backend);
    (backend, service)
}

/// The items of a page of any listing endpoint: envelope, manifest or versions.
fn page_items(body: &Value) -> Vec<Item> {
    if let Some(versions) = body.get("versions") {
        versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (String::new(), v.as_str().unwrap().to_owned(), String::new()))
            .collect()
    } else if body["objects"]
        .as_array()
        .is_some_and(|o| o.iter().any(|r| r.get("date_added").is_some()))
    {
        manifest_items(body)
    } else {
        envelope_items(body)
    }
}

/// Checks one page: 200, TAXII content type, `more` and `next` together, `next`
/// URL-safe, at most `limit` items, headers present exactly when non-empty.
#[track_caller]
fn check_page(reply: &Reply, limit: usize) -> (Vec<Item>, Option<String>) {
    let body = reply.expect(200);
    let items = page_items(&body);
    assert!(items.len() <= limit, "{} items on a page of {limit}", items.len());
    let next = body.get("next").map(|n| n.as_str().expect("next is a string").to_owned());
    match body.get("more") {
        Some(Value::Bool(true)) => {
            let next = next.as_deref().expect("more:true comes with next");
            assert!(
                !next.is_empty() && next.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{next:?}"
            );
        }
        Some(other) => panic!("more is only ever true when present, got {other}"),
        None => assert!(next.is_none(), "next without more: {body}"),
    }
    let (first, last) = reply.date_added_headers();
    if items.is_empty() {
        assert_eq!((first, last), (None, None), "no date headers on an empty page");
        assert_eq!(reply.text(), "{}", "an empty page is the empty object");
    } else {
        assert!(first.is_some_and(is_taxii_timestamp), "X-TAXII-Date-Added-First {first:?}");
        assert!(last.is_some_and(is_taxii_timestamp), "X-TAXII-Date-Added-Last {last:?}");
    }
    (items, next)
}

/// Walks `path` with `query` and `limit`, following `next` with `follow` (the
/// query sent again with each `next`). Returns the pages' items, concatenated.
async fn walk(service: &TaxiiService, path: &str, query: &str, follow: &str, limit: usize) -> (Vec<Item>, usize) {
    let mut uri = with_param(&format!("{path}?{query}"), "limit", &limit.to_string());
    let mut all = Vec::new();
    for pages in 1..=200 {
        let reply = get(service, &uri).await;
        let (items, next) = check_page(&reply, limit);
        all.extend(items);
        match next {
            Some(next) => uri = with_param(&with_param(&format!("{path}?{follow}"), "limit", &limit.to_string()), "next", &next),
            None => return (all, pages),
        }
    }
    panic!("the walk of {path}?{query} does not end");
}

/// The unpaged answer (one page that holds everything).
async fn unpaged(service: &TaxiiService, path: &str, query: &str) -> Vec<Item> {
    let reply = get(service, &with_param(&format!("{path}?{query}"), "limit", "10000")).await;
    let (items, next) = check_page(&reply, 10_000);
    assert!(next.is_none());
    items
}

#[track_caller]
fn assert_no_duplicates(items: &[Item]) {
    let unique: BTreeSet<&Item> = items.iter().collect();
    assert_eq!(unique.len(), items.len(), "duplicates in {items:?}");
}

// --- more and next ---

#[tokio::test]
async fn more_and_next_come_together_on_objects_manifest_and_versions() {
    let (_, service) = fixture(4);
    for path in [
        coll("objects/"),
        coll("manifest/"),
        coll(&format!("objects/{A}/versions/")),
        coll(&format!("objects/{A}/")),
    ] {
        let query = if path.ends_with(&format!("{A}/")) {
            "match[version]=all&limit=2"
        } else {
            "limit=2"
        };
        let body = get(&service, &format!("{path}?{query}")).await.expect(200);
        assert_eq!(body["more"], true, "{path}: {body}");
        assert!(body["next"].as_str().is_some_and(|n| !n.is_empty()), "{path}: {body}");
    }
}

#[tokio::test]
async fn next_is_absent_on_the_last_page() {
    let (_, service) = fixture(4);
    // Five objects (A's latest and four more): a page of exactly five is the last one.
    for limit in ["5", "6", "10000"] {
        for path in [coll("objects/"), coll("manifest/")] {
            let body = get(&service, &format!("{path}?limit={limit}")).await.expect(200);
            assert!(
                body.get("more").is_none() && body.get("next").is_none(),
                "{path}?limit={limit}: {body}"
            );
        }
    }
    let body = get(&service, &coll(&format!("objects/{A}/versions/?limit=3"))).await.expect(200);
    assert_eq!(
        body,
        json!({"versions": ["2020-01-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z", "2022-01-01T00:00:00.000Z"]})
    );
}

// --- walks ---

#[tokio::test]
async fn walking_objects_and_manifest_gives_the_unpaged_answer() {
    let (_, service) = fixture(9);
    for path in [coll("objects/"), coll("manifest/")] {
        for query in ["", "match[version]=all", "match[type]=indicator,tool", "match[version]=first,last"] {
            let expected = unpaged(&service, &path, query).await;
            for limit in 1..=4 {
                let (walked, pages) = walk(&service, &path, query, query, limit).await;
                assert_eq!(walked, expected, "{path}?{query} by {limit}");
                assert_no_duplicates(&walked);
                assert_eq!(pages, expected.len().div_ceil(limit).max(1), "{path}?{query} by {limit}");
            }
        }
    }
}

#[tokio::test]
async fn walking_versions_and_one_object_gives_the_unpaged_answer() {
    let (_, service) = fixture(2);
    let versions = coll(&format!("objects/{A}/versions/"));
    let expected = unpaged(&service, &versions, "").await;
    assert_eq!(expected.len(), 3);
    let object = coll(&format!("objects/{A}/"));
    let all_objects = unpaged(&service, &object, "match[version]=all").await;
    assert_eq!(all_objects.len(), 3);
    for limit in 1..=3 {
        assert_eq!(walk(&service, &versions, "", "", limit).await.0, expected);
        assert_eq!(
            walk(&service, &object, "match[version]=all", "match[version]=all", limit).await.0,
            all_objects
        );
    }
}

#[tokio::test]
async fn follow_ups_may_omit_added_after() {
    let (_, service) = fixture(9);
    let dates = manifest_dates(&get(&service, &coll("manifest/?match[version]=all")).await.expect(200));
    let query = format!("added_after={}", dates[2]);
    for path in [coll("objects/"), coll("manifest/")] {
        let expected = unpaged(&service, &path, &query).await;
        assert!(!expected.is_empty());
        for limit in 1..=3 {
            let (resent, _) = walk(&service, &path, &query, &query, limit).await;
            let (omitted, _) = walk(&service, &path, &query, "", limit).await;
            assert_eq!(resent, expected, "{path} by {limit}, added_after re-sent");
            assert_eq!(omitted, expected, "{path} by {limit}, added_after omitted on follow-ups");
        }
    }
    let versions = coll(&format!("objects/{A}/versions/"));
    let expected = unpaged(&service, &versions, &query).await;
    assert_eq!(walk(&service, &versions, &query, "", 1).await.0, expected);
}

#[tokio::test]
async fn the_limit_may_change_between_pages() {
    // taxii2-client lowers its limit when a page comes back short.
    let (_, service) = fixture(6);
    let expected = unpaged(&service, &coll("objects/"), "").await;
    let first = get(&service, &coll("objects/?limit=4")).await;
    let (mut items, next) = check_page(&first, 4);
    let next = next.expect("more remains");
    let second = get(&service, &coll(&format!("objects/?limit=100&next={next}"))).await;
    let (rest, next) = check_page(&second, 100);
    assert!(next.is_none());
    items.extend(rest);
    assert_eq!(items, expected);
}

#[tokio::test]
async fn a_next_can_be_replayed_and_paths_without_slash_page_too() {
    let (_, service) = fixture(6);
    let next = first_next(&service, &coll("objects/?limit=2")).await;
    let once = get(&service, &coll(&format!("objects/?limit=2&next={next}"))).await;
    let twice = get(&service, &coll(&format!("objects?limit=2&next={next}"))).await;
    assert_eq!(once.expect(200), twice.expect(200));
    assert_eq!(once.date_added_headers(), twice.date_added_headers());
}

// --- next must belong to the query ---

async fn first_next(service: &TaxiiService, uri: &str) -> String {
    let body = get(service, uri).await.expect(200);
    body["next"].as_str().unwrap_or_else(|| panic!("{uri} has more: {body}")).to_owned()
}

#[tokio::test]
async fn next_with_different_filters_is_400() {
    let (_, service) = fixture(6);
    let next = first_next(&service, &coll("objects/?match[type]=indicator,malware&limit=1")).await;
    for query in [
        "",
        "match[type]=indicator",
        "match[type]=malware,indicator",
        "match[type]=indicator,malware&match[version]=all",
        "match[type]=indicator,malware&match[spec_version]=2.1",
        "match[type]=indicator,malware&match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    ] {
        let reply = get(&service, &coll(&format!("objects/?{query}&next={next}"))).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text());
        reply.expect_error(400);
    }
    let ok = get(&service, &coll(&format!("objects/?match[type]=indicator,malware&next={next}"))).await;
    ok.expect(200);
}

#[tokio::test]
async fn next_from_another_collection_or_endpoint_is_400() {
    let backend = backend();
    backend.add_collection(ROOT, tower_taxii::CollectionInfo::new(OTHER, "Other"));
    insert(&backend, many(4));
    insert_into(&backend, OTHER, many(4));
    let service = service(&backend);
    let next = first_next(&service, &coll("objects/?limit=1")).await;
    let other = format!("/{ROOT}/collections/{OTHER}/objects/?limit=1&next={next}");
    get(&service, &other).await.expect_error(400);
    get(&service, &coll(&format!("manifest/?limit=1&next={next}")))
        .await
        .expect_error(400);
    let versions_next = first_next(&service, &coll(&format!("objects/{A}/versions/?limit=1"))).await;
    let b = id("malware", 1);
    get(&service, &coll(&format!("objects/{b}/versions/?next={versions_next}")))
        .await
        .expect_error(400);
    get(&service, &coll(&format!("objects/{A}/?next={versions_next}")))
        .await
        .expect_error(400);
    get(&service, &coll(&format!("objects/?next={versions_next}")))
        .await
        .expect_error(400);
}

#[tokio::test]
async fn forged_or_truncated_next_is_400() {
    let (_, service) = fixture(6);
    let next = first_next(&service, &coll("objects/?limit=1")).await;
    let mut flipped_last = next.clone().into_bytes();
    let last = flipped_last.len() - 2;
    flipped_last[last] = if flipped_last[last] == b'A' { b'B' } else { b'A' };
    let mut flipped_first = next.clone().into_bytes();
    flipped_first[0] = if flipped_first[0] == b'A' { b'B' } else { b'A' };
    for forged in [
        next[..next.len() - 1].to_owned(),
        next[..next.len() / 2].to_owned(),
        format!("{next}A"),
        format!("{next}="),
        String::from_utf8(flipped_last).unwrap(),
        String::from_utf8(flipped_first).unwrap(),
        "A".repeat(next.len()),
        "AAAA".to_owned(),
        "%21%21%21%21".to_owned(),
        "1".to_owned(),
        "x".repeat(5000),
    ] {
        let reply = get(&service, &coll(&format!("objects/?limit=1&next={forged}"))).await;
        assert_eq!(reply.status, 400, "next={forged}: {}", reply.text());
        reply.expect_error(400);
    }
}

// --- the date-added headers and sorting ---

#[tokio::test]
async fn date_added_headers_are_the_first_and_last_items_date_added() {
    let (_, service) = fixture(7);
    let manifest = get(&service, &coll("manifest/?match[version]=all")).await.expect(200);
    let dates: HashMap<(String, String), String> = manifest_versions(&manifest).into_iter().zip(manifest_dates(&manifest)).collect();
    let date_of = |item: &Item| dates[&(item.0.clone(), item.1.clone())].clone();
    for (path, query, limit) in [
        (coll("objects/"), "", 3),
        (coll("objects/"), "match[version]=all", 4),
        (coll("objects/"), "match[type]=malware", 1),
        (coll("manifest/"), "", 2),
        (coll("manifest/"), "match[version]=first", 5),
        (coll(&format!("objects/{A}/")), "match[version]=all", 2),
        (coll(&format!("objects/{A}/")), "", 1),
    ] {
        let mut uri = format!("{path}?{query}&limit={limit}");
        loop {
            let reply = get(&service, &uri).await;
            let (items, next) = check_page(&reply, limit);
            let (first, last) = reply.date_added_headers();
            assert_eq!(first, Some(date_of(&items[0]).as_str()), "{uri}");
            assert_eq!(last, Some(date_of(items.last().unwrap()).as_str()), "{uri}");
            match next {
                Some(next) => uri = format!("{path}?{query}&limit={limit}&next={next}"),
                None => break,
            }
        }
    }
    // Versions carry no date_added; their headers match A's manifest records.
    let a_dates = manifest_dates(
        &get(&service, &coll(&format!("manifest/?match[id]={A}&match[version]=all")))
            .await
            .expect(200),
    );
    let reply = get(&service, &coll(&format!("objects/{A}/versions/"))).await;
    check_page(&reply, 3);
    assert_eq!(reply.date_added_headers(), (Some(a_dates[0].as_str()), Some(a_dates[2].as_str())));
    let reply = get(&service, &coll(&format!("objects/{A}/versions/?limit=2"))).await;
    assert_eq!(reply.date_added_headers(), (Some(a_dates[0].as_str()), Some(a_dates[1].as_str())));
}

#[tokio::test]
async fn manifest_date_added_has_six_fraction_digits_and_ascends() {
    let (_, service) = fixture(7);
    for query in ["match[version]=all", "", "match[version]=first"] {
        let dates = manifest_dates(&get(&service, &coll(&format!("manifest/?{query}"))).await.expect(200));
        assert!(dates.iter().all(|d| is_taxii_timestamp(d)), "{dates:?}");
        assert!(dates.windows(2).all(|w| w[0] < w[1]), "strictly ascending: {dates:?}");
    }
}

#[tokio::test]
async fn results_are_sorted_by_date_added_not_by_modified() {
    let backend = backend();
    let (old, new) = (id("malware", 1), id("tool", 2));
    // Added first but modified last, and the other way around.
    insert(
        &backend,
        [sdo(&new, "2030-01-01T00:00:00.000Z"), sdo(&old, "2001-01-01T00:00:00.000Z")],
    );
    let service = service(&backend);
    let objects = get(&service, &coll("objects/")).await.expect(200);
    assert_eq!(
        id_versions(&objects),
        pairs(&[(&new, "2030-01-01T00:00:00.000Z"), (&old, "2001-01-01T00:00:00.000Z")])
    );
}

#[tokio::test]
async fn empty_results_are_the_empty_object_without_date_headers() {
    let (_, service) = fixture(3);
    let after = "added_after=2999-01-01T00:00:00Z";
    for uri in [
        coll(&format!("objects/?{after}")),
        coll(&format!("manifest/?{after}")),
        coll("objects/?match[type]=campaign"),
        coll("manifest/?match[spec_version]=2.0"),
        coll(&format!("objects/{A}/?{after}")),
        coll(&format!("objects/{A}/versions/?{after}")),
    ] {
        let reply = get(&service, &uri).await;
        reply.expect(200);
        assert_eq!(reply.text(), "{}", "{uri}");
        assert_eq!(reply.date_added_headers(), (None, None), "{uri}");
    }
}

// --- snapshots ---

#[tokio::test]
async fn objects_added_during_a_walk_do_not_appear_in_it() {
    let backend = backend();
    let ids: Vec<String> = (1..=4).map(|i| id("indicator", i)).collect();
    insert(&backend, ids.iter().map(|i| sdo(i, "2020-01-01T00:00:00.000Z")));
    let service = service(&backend);
    for path in [coll("objects/"), coll("manifest/")] {
        let before = unpaged(&service, &path, "").await;
        let first = get(&service, &format!("{path}?limit=2")).await;
        let (mut walked, next) = check_page(&first, 2);
        let mut next = next.expect("more remains");
        // Meanwhile: a new object, and new versions of one already returned and one not yet.
        let fresh = id("malware", 90 + walked.len() as u32 + path.len() as u32);
        let n = before.len();
        insert(
            &backend,
            [
                sdo(&fresh, "2020-01-01T00:00:00.000Z"),
                sdo(&ids[0], &format!("2021-01-01T00:00:0{n}.000Z")),
                sdo(&ids[3], &format!("2021-01-01T00:00:0{n}.000Z")),
            ],
        );
        loop {
            let reply = get(&service, &format!("{path}?limit=2&next={next}")).await;
            let (items, more) = check_page(&reply, 2);
            walked.extend(items);
            match more {
                Some(more) => next = more,
                None => break,
            }
        }
        assert_eq!(walked, before, "{path}: the walk sees the collection as it was");
        // A new walk sees the additions.
        let after = unpaged(&service, &path, "").await;
        assert_ne!(after, before);
        assert!(after.iter().any(|(id, _, _)| *id == fresh));
    }
}

// --- page sizes ---

#[tokio::test]
async fn max_page_size_caps_any_limit() {
    let backend = backend();
    insert(&backend, many(6));
    let service = builder(&backend).max_page_size(3).build();
    for uri in [coll("objects/?limit=5000"), coll("objects/"), coll("manifest/?limit=4")] {
        let reply = get(&service, &uri).await;
        let (items, next) = check_page(&reply, 3);
        assert_eq!(items.len(), 3, "{uri}");
        assert!(next.is_some(), "{uri}: more remains");
    }
    // A has three versions: a page of three holds them all.
    let reply = get(&service, &coll(&format!("objects/{A}/versions/?limit=9"))).await;
    let (versions, next) = check_page(&reply, 3);
    assert_eq!((versions.len(), next), (3, None));
    let (walked, pages) = walk(&service, &coll("objects/"), "", "", 5000).await;
    assert_eq!(walked.len(), 7);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn default_page_size_applies_without_limit() {
    let backend = backend();
    insert(&backend, many(6));
    let service = builder(&backend).default_page_size(2).build();
    let (items, next) = check_page(&get(&service, &coll("objects/")).await, 2);
    assert_eq!(items.len(), 2);
    assert!(next.is_some());
    let (items, _) = check_page(&get(&service, &coll("objects/?limit=5")).await, 5);
    assert_eq!(items.len(), 5, "an explicit limit above the default is honoured");
    // The default never exceeds the cap.
    let service = builder(&backend).default_page_size(5).max_page_size(2).build();
    assert_eq!(check_page(&get(&service, &coll("manifest/")).await, 2).0.len(), 2);
}

#[tokio::test]
async fn the_default_page_size_is_documented_constant() {
    let backend = backend();
    let count = u32::try_from(DEFAULT_PAGE_SIZE).unwrap() + 1;
    insert(&backend, (1..=count).map(|i| sdo(&id("indicator", i), "2020-01-01T00:00:00.000Z")));
    let service = service(&backend);
    let reply = get(&service, &coll("manifest/")).await;
    let (items, next) = check_page(&reply, DEFAULT_PAGE_SIZE);
    assert_eq!(items.len(), DEFAULT_PAGE_SIZE);
    let rest = get(&service, &coll(&format!("manifest/?next={}", next.expect("one more")))).await;
    assert_eq!(check_page(&rest, DEFAULT_PAGE_SIZE).0.len(), 1);
}

// --- property: any walk equals the unpaged answer of a naive model ---

const IDS: [&str; 5] = [
    "indicator--00000001-0000-4000-8000-000000000001",
    "indicator--00000002-0000-4000-8000-000000000002",
    "malware--00000003-0000-4000-8000-000000000003",
    "tool--00000004-0000-4000-8000-000000000004",
    "malware--00000005-0000-4000-8000-000000000005",
];
const TYPES: [&str; 3] = ["indicator", "malware", "tool"];

/// One version to insert: id, month of `modified` (its instant), spelling (two
/// spellings of one instant are two versions), STIX 2.1 (else 2.0).
#[derive(Debug, Clone)]
struct Insert {
    id: usize,
    month: u32,
    long_spelling: bool,
    v21: bool,
}

impl Insert {
    fn modified(&self) -> String {
        let fraction = if self.long_spelling { ".000Z" } else { "Z" };
        format!("2020-{:02}-01T00:00:00{fraction}", self.month)
    }
}

#[derive(Debug, Clone)]
enum Versions {
    All,
    Pick { first: bool, last: bool, months: Vec<u32> },
}

#[derive(Debug, Clone)]
struct Filter {
    ids: Option<Vec<usize>>,
    types: Option<Vec<usize>>,
    versions: Option<Versions>,
    specs: Option<Vec<&'static str>>,
    /// Index into the stored versions' dates (`added_after` = that date_added).
    added_after: Option<usize>,
}

impl Filter {
    fn query(&self, dates: &[String]) -> String {
        let mut params = Vec::new();
        if let Some(ids) = &self.ids {
            params.push(format!("match[id]={}", ids.iter().map(|&i| IDS[i]).collect::<Vec<_>>().join(",")));
        }
        if let Some(types) = &self.types {
            params.push(format!(
                "match[type]={}",
                types.iter().map(|&i| TYPES[i]).collect::<Vec<_>>().join(",")
            ));
        }
        match &self.versions {
            None => {}
            Some(Versions::All) => params.push("match[version]=all".into()),
            Some(Versions::Pick { first, last, months }) => {
                let mut values: Vec<String> = months.iter().map(|m| format!("2020-{m:02}-01T00:00:00.0Z")).collect();
                if *first {
                    values.push("first".into());
                }
                if *last {
                    values.push("last".into());
                }
                params.push(format!("match[version]={}", values.join(",")));
            }
        }
        if let Some(specs) = &self.specs {
            params.push(format!("match[spec_version]={}", specs.join(",")));
        }
        if let Some(i) = self.added_after {
            params.push(format!("added_after={}", dates[i.min(dates.len() - 1)]));
        }
        params.join("&")
    }
}

/// A stored version in the model: what it is, and its position in date_added order.
#[derive(Debug, Clone)]
struct Stored {
    id: usize,
    month: u32,
    modified: String,
    spec: &'static str,
    position: usize,
}

/// Stores the inserts as the index does: one version per (id, version string, spec).
fn model_store(inserts: &[Insert]) -> Vec<Stored> {
    let mut stored: Vec<Stored> = Vec::new();
    for insert in inserts {
        let spec = if insert.v21 { "2.1" } else { "2.0" };
        let modified = insert.modified();
        if stored.iter().any(|s| s.id == insert.id && s.modified == modified && s.spec == spec) {
            continue;
        }
        let position = stored.len();
        stored.push(Stored {
            id: insert.id,
            month: insert.month,
            modified,
            spec,
            position,
        });
    }
    stored
}

/// The selection semantics of src/index.rs, computed naively over everything stored.
fn model_select(stored: &[Stored], filter: &Filter) -> Vec<Item> {
    let after = filter.added_after.map(|i| i.min(stored.len() - 1));
    let spec_ok = |v: &Stored| match &filter.specs {
        Some(specs) => specs.contains(&v.spec),
        None => {
            let latest = stored.iter().filter(|s| s.id == v.id).map(|s| s.spec).max().unwrap();
            v.spec == latest
        }
    };
    stored
        .iter()
        .filter(|v| spec_ok(v))
        .filter(|v| match &filter.versions {
            Some(Versions::All) => true,
            None | Some(Versions::Pick { .. }) => {
                let (first, last, months) = match &filter.versions {
                    Some(Versions::Pick { first, last, months }) => (*first, *last, months.clone()),
                    _ => (false, true, Vec::new()),
                };
                let key = |s: &Stored| (s.month, s.spec, s.position);
                let candidates: Vec<(u32, &str, usize)> = stored.iter().filter(|s| s.id == v.id && spec_ok(s)).map(key).collect();
                months.contains(&v.month)
                    || (first && candidates.iter().min() == Some(&key(v)))
                    || (last && candidates.iter().max() == Some(&key(v)))
            }
        })
        .filter(|v| filter.ids.as_ref().is_none_or(|ids| ids.contains(&v.id)))
        .filter(|v| {
            filter
                .types
                .as_ref()
                .is_none_or(|types| types.iter().any(|&t| IDS[v.id].starts_with(TYPES[t])))
        })
        .filter(|v| after.is_none_or(|after| v.position > after))
        .map(|v| (IDS[v.id].to_owned(), v.modified.clone(), v.spec.to_owned()))
        .collect()
}

fn subset(n: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=n)
}

fn filter_strategy() -> impl Strategy<Value = Filter> {
    let versions = prop_oneof![
        Just(None),
        Just(Some(Versions::All)),
        (any::<bool>(), any::<bool>(), prop::sample::subsequence(vec![1u32, 2, 3, 4], 0..=2))
            .prop_filter("match[version] needs a value", |(f, l, m)| *f || *l || !m.is_empty())
            .prop_map(|(first, last, months)| Some(Versions::Pick { first, last, months })),
    ];
    let specs = prop_oneof![
        Just(None),
        Just(Some(vec!["2.0"])),
        Just(Some(vec!["2.1"])),
        Just(Some(vec!["2.0", "2.1"]))
    ];
    (
        prop::option::weighted(0.3, subset(IDS.len())),
        prop::option::weighted(0.3, subset(TYPES.len())),
        versions,
        specs,
        prop::option::weighted(0.3, 0usize..24),
    )
        .prop_map(|(ids, types, versions, specs, added_after)| Filter {
            ids,
            types,
            versions,
            specs,
            added_after,
        })
}

fn insert_strategy() -> impl Strategy<Value = Insert> {
    (0..IDS.len(), 1u32..=4, prop::bool::weighted(0.2), prop::bool::weighted(0.7)).prop_map(|(id, month, long_spelling, v21)| Insert {
        id,
        month,
        long_spelling,
        v21,
    })
}

proptest! {
    #[test]
    fn any_walk_equals_the_unpaged_model_answer(
        inserts in prop::collection::vec(insert_strategy(), 1..16),
        filter in filter_strategy(),
        limit in 1usize..5,
        manifest in any::<bool>(),
        omit_added_after in any::<bool>(),
        max_page_size in prop::option::weighted(0.2, 1usize..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let backend = backend();
            let objects: Vec<bytes::Bytes> = inserts
                .iter()
                .map(|i| object(IDS[i.id], &i.modified(), i.v21.then_some("2.1")).into())
                .collect();
            backend.insert_objects(ROOT, COLLECTION, objects).unwrap();
            let mut builder = builder(&backend);
            if let Some(max) = max_page_size {
                builder = builder.max_page_size(max);
            }
            let service = builder.build();
            let uncapped = support::service(&backend);

            // Everything stored, in date_added order, as the model stores it.
            let stored = model_store(&inserts);
            let everything = get(&uncapped, &coll("manifest/?match[version]=all&match[spec_version]=2.0,2.1&limit=100")).await.expect(200);
            let model_everything: Vec<Item> =
                stored.iter().map(|s| (IDS[s.id].to_owned(), s.modified.clone(), s.spec.to_owned())).collect();
            prop_assert_eq!(manifest_items(&everything), model_everything);
            let dates = manifest_dates(&everything);

            let query = filter.query(&dates);
            let expected = model_select(&stored, &filter);
            let path = coll(if manifest { "manifest/" } else { "objects/" });
            let page_limit = max_page_size.map_or(limit, |max| limit.min(max));
            let follow = if omit_added_after {
                Filter { added_after: None, ..filter.clone() }.query(&dates)
            } else {
                query.clone()
            };
            let (walked, pages) = walk(&service, &path, &query, &follow, limit).await;
            prop_assert_eq!(&walked, &expected, "walk of {}?{} by {}", path, query, page_limit);
            assert_no_duplicates(&walked);
            prop_assert_eq!(pages, expected.len().div_ceil(page_limit).max(1));
            Ok(())
        })?;
    }
}
