//! Checks of what reads return: collections, stored bytes, version selection,
//! spec versions, filters, order, paging and `added_after`.

use std::sync::Arc;

use super::BackendFactory;
use super::fixtures::{
    ROOT, Spec, Store, anonymous, check_order, everything, expect, id, instant, keys, object, pick, record_keys, short, writable,
};
use crate::cursor::Position;
use crate::query::{ObjectFilter, VersionSelector};
use crate::resources::CollectionInfo;
use crate::stix::SpecVersion;
use crate::timestamp::Timestamp;

const V20: SpecVersion = SpecVersion::V2_0;
const V21: SpecVersion = SpecVersion::V2_1;

/// `collections` lists exactly the collections made, in order, with the
/// descriptive fields and access flags given; `collection` finds one by id or
/// alias and nothing else; another API root has none of them.
pub async fn lists_collections(factory: Arc<dyn BackendFactory>) {
    let made = [
        writable("tk-a").alias("alpha").description("The first"),
        CollectionInfo::new("tk-b", "Read only"),
        CollectionInfo::new("tk-c", "Write only").access(false, true),
    ];
    let store = Store::new(&*factory, &made).await;
    let listed = store.backend.collections(ROOT, &anonymous()).await.expect("collections");
    let strip = |c: &CollectionInfo| CollectionInfo {
        media_types: None,
        ..c.clone()
    };
    assert_eq!(listed.iter().map(strip).collect::<Vec<_>>(), made.to_vec(), "collections as listed");
    let by_alias = store.backend.collection(ROOT, "alpha", &anonymous()).await.expect("collection");
    assert_eq!(by_alias.map(|c| c.id), Some("tk-a".to_owned()), "a collection found by its alias");
    let by_id = store.backend.collection(ROOT, "tk-c", &anonymous()).await.expect("collection");
    assert_eq!(by_id.map(|c| c.id), Some("tk-c".to_owned()));
    let missing = store.backend.collection(ROOT, "tk-zzz", &anonymous()).await.expect("collection");
    assert!(missing.is_none(), "an unknown collection is found");
    let other = store.backend.collections("other/root", &anonymous()).await.expect("collections");
    assert!(other.is_empty(), "an API root with no collections lists some");
}

/// Added objects are stored byte-for-byte with strictly increasing `date_added`
/// close to the time they were added; the status lists each one under its
/// version and keeps the failures the service found; the manifest describes the
/// same versions.
pub async fn adds_and_reads_back_bytes(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let sent = vec![
        object(&id("indicator", 1), "2020-01-01T00:00:00.123Z", Spec::V21, 0),
        object(&id("malware", 2), "2020-01-01T00:00:00Z", Spec::V20, 0),
        r#"{"type":"indicator","spec_version":"2.1"}"#.to_owned(),
        object(&id("tool", 3), "2021-02-03T04:05:06.789012Z", Spec::V21, 0),
    ];
    let before = Timestamp::now();
    let status = store.add("tk-a", &sent).await;
    let after = Timestamp::now();
    assert_eq!(status.total_count, 4);
    assert_eq!(status.failures.len(), 1, "the failure the service found is kept: {status:?}");
    let successes: Vec<(String, String)> = status.successes.iter().map(|d| (d.id.clone(), d.version.clone())).collect();
    assert_eq!(
        successes,
        vec![
            (id("indicator", 1), "2020-01-01T00:00:00.123Z".to_owned()),
            (id("malware", 2), "2020-01-01T00:00:00Z".to_owned()),
            (id("tool", 3), "2021-02-03T04:05:06.789012Z".to_owned()),
        ],
        "status successes"
    );
    let page = store.page("tk-a", &ObjectFilter::default(), 10, None).await;
    assert!(!page.more);
    let stored: Vec<&[u8]> = page.items.iter().map(|v| &v.json()[..]).collect();
    let valid: Vec<&[u8]> = [&sent[0], &sent[1], &sent[3]].iter().map(|s| s.as_bytes()).collect();
    assert_eq!(stored, valid, "objects must come back byte-for-byte, in the order they were added");
    check_order(&page.items, &ObjectFilter::default());
    let slack = 5 * 60 * 1_000_000;
    for v in &page.items {
        let t = v.date_added().as_micros();
        assert!(
            t >= before.as_micros() - slack && t <= after.as_micros() + slack,
            "date_added {} is not the time the version was added ({before}..{after})",
            v.date_added()
        );
    }
    assert!(
        page.snapshot >= page.items[2].date_added(),
        "the snapshot is below the last date_added"
    );
    let manifest = store.manifest("tk-a", &ObjectFilter::default(), 10, None).await;
    assert_eq!(record_keys(&manifest.items), keys(&page.items), "manifest and objects disagree");
    assert_eq!(
        short(&page.items),
        expect(&[
            (&id("indicator", 1), "2020-01-01T00:00:00.123Z", V21),
            (&id("malware", 2), "2020-01-01T00:00:00Z", V20),
            (&id("tool", 3), "2021-02-03T04:05:06.789012Z", V21),
        ])
    );
}

/// `match[version]`: `last` and `first` by the version's instant (not by when it was
/// added), `all`, timestamps matching any spelling of the instant, and unions; two
/// spellings of one instant are two versions ordered by `date_added`.
pub async fn selects_versions(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let (a, b, c) = (id("indicator", 1), id("malware", 2), id("tool", 3));
    let o = |i: &str, m: &str| object(i, m, Spec::V21, 0);
    store
        .add(
            "tk-a",
            &[
                o(&a, "2021-01-01T00:00:00Z"),
                o(&a, "2020-01-01T00:00:00Z"),
                o(&b, "2020-01-01T00:00:00Z"),
                o(&a, "2022-01-01T00:00:00Z"),
            ],
        )
        .await;
    store.add("tk-a", &[o(&c, "2020-05-05T00:00:00Z")]).await;
    store.add("tk-a", &[o(&c, "2020-05-05T00:00:00.000Z")]).await;
    let with = |versions: VersionSelector| ObjectFilter {
        versions,
        ..ObjectFilter::default()
    };
    type Case<'a> = (&'a str, VersionSelector, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            "last",
            pick(false, true, &[]),
            vec![
                (&b, "2020-01-01T00:00:00Z"),
                (&a, "2022-01-01T00:00:00Z"),
                (&c, "2020-05-05T00:00:00.000Z"),
            ],
        ),
        (
            "first",
            pick(true, false, &[]),
            vec![
                (&a, "2020-01-01T00:00:00Z"),
                (&b, "2020-01-01T00:00:00Z"),
                (&c, "2020-05-05T00:00:00Z"),
            ],
        ),
        (
            "all",
            VersionSelector::All,
            vec![
                (&a, "2021-01-01T00:00:00Z"),
                (&a, "2020-01-01T00:00:00Z"),
                (&b, "2020-01-01T00:00:00Z"),
                (&a, "2022-01-01T00:00:00Z"),
                (&c, "2020-05-05T00:00:00Z"),
                (&c, "2020-05-05T00:00:00.000Z"),
            ],
        ),
        (
            "a timestamp in another spelling",
            pick(false, false, &["2021-01-01T00:00:00.000000Z"]),
            vec![(&a, "2021-01-01T00:00:00Z")],
        ),
        (
            "a timestamp with an offset",
            pick(false, false, &["2021-01-01T01:00:00+01:00"]),
            vec![(&a, "2021-01-01T00:00:00Z")],
        ),
        (
            "the instant of two spellings",
            pick(false, false, &["2020-05-05T00:00:00.0Z"]),
            vec![(&c, "2020-05-05T00:00:00Z"), (&c, "2020-05-05T00:00:00.000Z")],
        ),
        (
            "first,last",
            pick(true, true, &[]),
            vec![
                (&a, "2020-01-01T00:00:00Z"),
                (&b, "2020-01-01T00:00:00Z"),
                (&a, "2022-01-01T00:00:00Z"),
                (&c, "2020-05-05T00:00:00Z"),
                (&c, "2020-05-05T00:00:00.000Z"),
            ],
        ),
        (
            "first and a timestamp",
            pick(true, false, &["2022-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]),
            vec![
                (&a, "2021-01-01T00:00:00Z"),
                (&a, "2020-01-01T00:00:00Z"),
                (&b, "2020-01-01T00:00:00Z"),
                (&a, "2022-01-01T00:00:00Z"),
                (&c, "2020-05-05T00:00:00Z"),
            ],
        ),
        ("a timestamp no version has", pick(false, false, &["2019-01-01T00:00:00Z"]), vec![]),
        (
            "a timestamp a microsecond off",
            pick(false, false, &["2020-01-01T00:00:00.000001Z"]),
            vec![],
        ),
    ];
    for (name, versions, expected) in cases {
        let filter = with(versions);
        let got = store.select("tk-a", &filter).await;
        let expected: Vec<(&str, &str, SpecVersion)> = expected.into_iter().map(|(i, v)| (i, v, V21)).collect();
        assert_eq!(short(&got), expect(&expected), "match[version] = {name}");
        let manifest = store.manifest("tk-a", &filter, 1000, None).await;
        assert_eq!(record_keys(&manifest.items), keys(&got), "manifest for match[version] = {name}");
    }
}

/// Without `match[spec_version]` each object is served in its latest spec version;
/// with it, only the versions listed, and `first`/`last` order a version's 2.0
/// form before its 2.1 form.
pub async fn defaults_to_latest_spec_version(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let (a, b, c, d) = (id("indicator", 1), id("malware", 2), id("tool", 3), id("campaign", 4));
    let (t20, t21) = ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z");
    store
        .add(
            "tk-a",
            &[
                object(&a, t20, Spec::V20, 0),
                object(&a, t20, Spec::V21, 0),
                object(&b, t20, Spec::V20, 0),
                object(&c, t20, Spec::V21, 0),
                object(&d, t21, Spec::V20, 0),
                object(&d, t20, Spec::V21, 0),
            ],
        )
        .await;
    let f = |versions: VersionSelector, specs: Option<Vec<SpecVersion>>| ObjectFilter {
        versions,
        spec_versions: specs,
        ..ObjectFilter::default()
    };
    let both = Some(vec![V20, V21]);
    type Case<'a> = (&'a str, ObjectFilter, Vec<(&'a str, &'a str, SpecVersion)>);
    let cases: Vec<Case<'_>> = vec![
        (
            "default",
            ObjectFilter::default(),
            vec![(&a, t20, V21), (&b, t20, V20), (&c, t20, V21), (&d, t20, V21)],
        ),
        (
            "2.0",
            f(pick(false, true, &[]), Some(vec![V20])),
            vec![(&a, t20, V20), (&b, t20, V20), (&d, t21, V20)],
        ),
        (
            "2.1",
            f(pick(false, true, &[]), Some(vec![V21])),
            vec![(&a, t20, V21), (&c, t20, V21), (&d, t20, V21)],
        ),
        (
            "2.0,2.1 last",
            f(pick(false, true, &[]), both.clone()),
            vec![(&a, t20, V21), (&b, t20, V20), (&c, t20, V21), (&d, t21, V20)],
        ),
        (
            "2.0,2.1 first",
            f(pick(true, false, &[]), both.clone()),
            vec![(&a, t20, V20), (&b, t20, V20), (&c, t20, V21), (&d, t20, V21)],
        ),
        (
            "2.0,2.1 all",
            f(VersionSelector::All, both.clone()),
            vec![
                (&a, t20, V20),
                (&a, t20, V21),
                (&b, t20, V20),
                (&c, t20, V21),
                (&d, t21, V20),
                (&d, t20, V21),
            ],
        ),
        (
            "default spec, all",
            f(VersionSelector::All, None),
            vec![(&a, t20, V21), (&b, t20, V20), (&c, t20, V21), (&d, t20, V21)],
        ),
        (
            "default spec, first",
            f(pick(true, false, &[]), None),
            vec![(&a, t20, V21), (&b, t20, V20), (&c, t20, V21), (&d, t20, V21)],
        ),
        (
            "default spec, at 2021 (only in 2.0, not the latest spec)",
            f(pick(false, false, &[t21]), None),
            vec![],
        ),
        ("2.0, at 2021", f(pick(false, false, &[t21]), Some(vec![V20])), vec![(&d, t21, V20)]),
    ];
    for (name, filter, expected) in cases {
        let got = store.select("tk-a", &filter).await;
        assert_eq!(short(&got), expect(&expected), "match[spec_version] case {name}");
    }
}

/// `match[type]` and `match[id]`, one value or several, alone and with each other,
/// with `match[version]`, `match[spec_version]` and `added_after`.
pub async fn filters_alone_and_combined(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let (i1, i2, m1, t1) = (id("indicator", 1), id("indicator", 2), id("malware", 3), id("tool", 4));
    let (y20, y21, y22) = ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z");
    let o = |i: &str, m: &str| object(i, m, Spec::V21, 0);
    store
        .add(
            "tk-a",
            &[
                o(&i1, y20),
                o(&m1, y20),
                o(&t1, y20),
                o(&i2, y20),
                o(&i1, y21),
                o(&t1, y21),
                o(&t1, y22),
            ],
        )
        .await;
    let stored = store.stored("tk-a").await;
    let date = |i: &str, m: &str| {
        stored
            .iter()
            .find(|v| v.id() == i && v.version() == m)
            .map(|v| v.date_added())
            .unwrap_or_else(|| panic!("{i} {m} is not stored"))
    };
    let strings = |list: &[&str]| Some(list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    let f = |ids: Option<Vec<String>>, types: Option<Vec<String>>| ObjectFilter {
        ids,
        types,
        ..ObjectFilter::default()
    };
    type Case<'a> = (&'a str, ObjectFilter, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            "none",
            ObjectFilter::default(),
            vec![(&m1, y20), (&i2, y20), (&i1, y21), (&t1, y22)],
        ),
        ("one type", f(None, strings(&["indicator"])), vec![(&i2, y20), (&i1, y21)]),
        (
            "two types",
            f(None, strings(&["indicator", "tool"])),
            vec![(&i2, y20), (&i1, y21), (&t1, y22)],
        ),
        ("a type with no objects", f(None, strings(&["campaign"])), vec![]),
        ("one id", f(strings(&[&t1]), None), vec![(&t1, y22)]),
        ("two ids", f(strings(&[&i1, &m1]), None), vec![(&m1, y20), (&i1, y21)]),
        ("an id not stored", f(strings(&[&id("indicator", 99)]), None), vec![]),
        ("an id of another type", f(strings(&[&i1]), strings(&["malware"])), vec![]),
        ("ids and a type", f(strings(&[&i1, &m1]), strings(&["malware"])), vec![(&m1, y20)]),
        (
            "an id, all versions",
            ObjectFilter {
                versions: VersionSelector::All,
                ..f(strings(&[&t1]), None)
            },
            vec![(&t1, y20), (&t1, y21), (&t1, y22)],
        ),
        (
            "a type, first",
            ObjectFilter {
                versions: pick(true, false, &[]),
                ..f(None, strings(&["tool"]))
            },
            vec![(&t1, y20)],
        ),
        (
            "a type, all, spec 2.0",
            ObjectFilter {
                versions: VersionSelector::All,
                spec_versions: Some(vec![V20]),
                ..f(None, strings(&["indicator"]))
            },
            vec![],
        ),
        (
            "an id at a timestamp",
            ObjectFilter {
                versions: pick(false, false, &[y21]),
                ..f(strings(&[&t1]), None)
            },
            vec![(&t1, y21)],
        ),
        (
            "types, all, added_after",
            ObjectFilter {
                versions: VersionSelector::All,
                added_after: Some(date(&i2, y20)),
                ..f(None, strings(&["indicator", "tool"]))
            },
            vec![(&i1, y21), (&t1, y21), (&t1, y22)],
        ),
        (
            "an id, added_after its middle version",
            ObjectFilter {
                added_after: Some(date(&t1, y21)),
                ..f(strings(&[&t1]), None)
            },
            vec![(&t1, y22)],
        ),
        (
            "an id, added_after its last version",
            ObjectFilter {
                added_after: Some(date(&t1, y22)),
                ..f(strings(&[&t1]), None)
            },
            vec![],
        ),
        (
            "a type, first, added_after a first version",
            ObjectFilter {
                versions: pick(true, false, &[]),
                added_after: Some(date(&i1, y20)),
                ..f(None, strings(&["indicator"]))
            },
            vec![(&i2, y20)],
        ),
        (
            "every filter",
            ObjectFilter {
                ids: strings(&[&i1, &t1, &m1]),
                types: strings(&["tool", "indicator"]),
                versions: pick(true, false, &[y21]),
                spec_versions: Some(vec![V21]),
                added_after: Some(date(&i1, y20)),
            },
            vec![(&t1, y20), (&i1, y21), (&t1, y21)],
        ),
    ];
    for (name, filter, expected) in cases {
        let got = store.select("tk-a", &filter).await;
        let expected: Vec<(&str, &str, SpecVersion)> = expected.into_iter().map(|(i, v)| (i, v, V21)).collect();
        assert_eq!(short(&got), expect(&expected), "filter case {name}");
    }
}

/// Results come in `date_added` order, whatever the objects' `modified`, and
/// `date_added` keeps increasing from one request to the next.
pub async fn orders_by_date_added(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let (x, y, z, w) = (id("indicator", 1), id("indicator", 2), id("indicator", 3), id("indicator", 4));
    store.add("tk-a", &[object(&x, "2022-01-01T00:00:00Z", Spec::V21, 0)]).await;
    store
        .add(
            "tk-a",
            &[
                object(&y, "2020-01-01T00:00:00Z", Spec::V21, 0),
                object(&z, "2021-01-01T00:00:00Z", Spec::V21, 0),
            ],
        )
        .await;
    store.add("tk-a", &[object(&w, "2019-01-01T00:00:00Z", Spec::V21, 0)]).await;
    let got = store.select("tk-a", &ObjectFilter::default()).await;
    let ids: Vec<&str> = got.iter().map(|v| v.id()).collect();
    assert_eq!(ids, vec![x.as_str(), &y, &z, &w], "results must follow date_added, not modified");
}

/// Paged walks at page sizes 1 to 1000 over several filters return exactly the
/// unpaged answer: same items, same order, no duplicates, no gaps; `more` is set on
/// every page but the last, and only on full pages. Manifest walks match too.
pub async fn walks_pages(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let kinds = ["indicator", "malware", "tool", "campaign"];
    let months = ["2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"];
    let mut batches: Vec<Vec<String>> = vec![Vec::new(); 3];
    for n in 0..30u32 {
        let object_id = id(kinds[n as usize % 4], n);
        let spec = if n % 7 == 3 { Spec::V20 } else { Spec::V21 };
        for (v, modified) in months.iter().enumerate().take(1 + n as usize % 3) {
            batches[(n as usize + v) % 3].push(object(&object_id, modified, spec, 0));
        }
    }
    for batch in &batches {
        store.add("tk-a", batch).await;
    }
    let stored = store.stored("tk-a").await;
    assert_eq!(stored.len(), 60, "30 objects with 1 to 3 versions each");
    let middle = stored[stored.len() / 2].date_added();
    let filters = vec![
        ObjectFilter::default(),
        everything(),
        ObjectFilter {
            types: Some(vec!["malware".into(), "tool".into()]),
            versions: VersionSelector::All,
            ..ObjectFilter::default()
        },
        ObjectFilter {
            versions: pick(true, false, &[]),
            ..ObjectFilter::default()
        },
        ObjectFilter {
            ids: Some((0..30).step_by(4).map(|n| id(kinds[n as usize % 4], n)).collect()),
            versions: VersionSelector::All,
            ..ObjectFilter::default()
        },
        ObjectFilter {
            added_after: Some(middle),
            ..everything()
        },
        ObjectFilter {
            added_after: Some(middle),
            ..ObjectFilter::default()
        },
    ];
    for filter in &filters {
        let unpaged = store.select("tk-a", filter).await;
        for limit in [1, 2, 3, 7, 10, 64, 1000] {
            let walked = store.walk("tk-a", filter, limit).await;
            assert_eq!(
                keys(&walked),
                keys(&unpaged),
                "a walk at limit {limit} differs from the unpaged answer for {filter:?}"
            );
        }
        let mut records = Vec::new();
        let mut position = None;
        loop {
            let page = store.manifest("tk-a", filter, 4, position).await;
            records.extend(page.items);
            if !page.more {
                break;
            }
            let after = records.last().map(|r| r.date_added).unwrap_or(Timestamp::MIN);
            position = Some(Position {
                snapshot: position.map_or(page.snapshot, |p: Position| p.snapshot),
                after,
            });
        }
        assert_eq!(
            record_keys(&records),
            keys(&unpaged),
            "a manifest walk differs from the objects for {filter:?}"
        );
    }
}

/// `added_after` is strictly after, to the microsecond, and applies to the selected
/// versions: with the default `last`, an object whose latest version is newer comes
/// back as that version; with `first`, an object whose first version is older does
/// not come back. A position after `added_after` moves the start further.
pub async fn added_after_boundaries(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let (a, b) = (id("indicator", 1), id("malware", 2));
    let (y20, y21) = ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z");
    store.add("tk-a", &[object(&a, y20, Spec::V21, 0)]).await;
    store.add("tk-a", &[object(&b, y20, Spec::V21, 0)]).await;
    store.add("tk-a", &[object(&a, y21, Spec::V21, 0)]).await;
    let stored = store.stored("tk-a").await;
    assert_eq!(stored.len(), 3);
    let (d1, d2, d3) = (stored[0].date_added(), stored[1].date_added(), stored[2].date_added());
    let minus = |t: Timestamp| Timestamp::from_micros(t.as_micros() - 1);
    let a1 = (a.as_str(), y20);
    let a2 = (a.as_str(), y21);
    let b1 = (b.as_str(), y20);
    let f = |versions: VersionSelector, after: Timestamp| ObjectFilter {
        versions,
        added_after: Some(after),
        ..ObjectFilter::default()
    };
    let last = || pick(false, true, &[]);
    let first = || pick(true, false, &[]);
    type Case<'a> = (&'a str, ObjectFilter, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        ("last, before everything", f(last(), minus(d1)), vec![b1, a2]),
        ("last, at the first", f(last(), d1), vec![b1, a2]),
        ("last, just before the second", f(last(), minus(d2)), vec![b1, a2]),
        ("last, at the second", f(last(), d2), vec![a2]),
        ("last, just before the third", f(last(), minus(d3)), vec![a2]),
        ("last, at the third", f(last(), d3), vec![]),
        ("all, before everything", f(VersionSelector::All, minus(d1)), vec![a1, b1, a2]),
        ("all, at the first", f(VersionSelector::All, d1), vec![b1, a2]),
        ("first, at the first", f(first(), d1), vec![b1]),
        ("first, before everything", f(first(), minus(d1)), vec![a1, b1]),
        ("the earliest time", f(VersionSelector::All, Timestamp::MIN), vec![a1, b1, a2]),
        ("the latest time", f(VersionSelector::All, Timestamp::MAX), vec![]),
    ];
    for (name, filter, expected) in cases {
        let got = store.select("tk-a", &filter).await;
        let expected: Vec<(&str, &str, SpecVersion)> = expected.into_iter().map(|(i, v)| (i, v, V21)).collect();
        assert_eq!(short(&got), expect(&expected), "added_after case {name}");
    }
    let position = Some(Position { snapshot: d3, after: d2 });
    let page = store.page("tk-a", &f(VersionSelector::All, d1), 10, position).await;
    assert_eq!(short(&page.items), expect(&[(&a, y21, V21)]), "a position after added_after");
    let position = Some(Position { snapshot: d3, after: d1 });
    let page = store.page("tk-a", &f(VersionSelector::All, d2), 10, position).await;
    assert_eq!(short(&page.items), expect(&[(&a, y21, V21)]), "added_after after the position");
}

/// Objects without `modified` are versioned by `created`; objects with neither (some
/// observables) get their `date_added` as version, once: a later copy is a duplicate.
pub async fn unversioned_objects(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let ip = "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd";
    let sco = format!(r#"{{"type":"ipv4-addr","id":"{ip}","value":"198.51.100.3"}}"#);
    let created_only = format!(
        r#"{{"type":"identity","id":"{}","created":"2018-04-04T00:00:00.5Z","name":"x"}}"#,
        id("identity", 7)
    );
    let status = store.add("tk-a", &[sco.clone(), created_only.clone()]).await;
    assert_eq!(status.successes.len(), 2, "{status:?}");
    let got = store.stored("tk-a").await;
    assert_eq!(got.len(), 2);
    let stored_sco = &got[0];
    assert_eq!(
        stored_sco.version(),
        stored_sco.date_added().to_string(),
        "an unversioned object's version is its date_added"
    );
    assert_eq!(stored_sco.spec_version(), V21, "an observable without spec_version is STIX 2.1");
    assert_eq!(
        status.successes[0].version,
        stored_sco.version(),
        "the status names the stored version"
    );
    assert_eq!(
        got[1].version(),
        "2018-04-04T00:00:00.5Z",
        "without modified, the version is created"
    );
    assert_eq!(got[1].spec_version(), V20);
    let again = store.add("tk-a", &[sco]).await;
    assert_eq!(again.successes.len(), 1);
    assert_eq!(
        again.successes[0].version,
        stored_sco.version(),
        "a duplicate names the stored version"
    );
    assert_eq!(
        keys(&store.stored("tk-a").await),
        keys(&got),
        "a second copy of an unversioned object adds a version"
    );
    let at = ObjectFilter {
        versions: VersionSelector::Pick {
            first: false,
            last: false,
            at: vec![instant(stored_sco.version())],
        },
        ..ObjectFilter::default()
    };
    assert_eq!(
        keys(&store.select("tk-a", &at).await),
        keys(&got[..1]),
        "match[version] = the assigned version"
    );
}

/// An empty collection answers every query with an empty page and no `more`.
pub async fn empty_collections(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    for filter in [
        ObjectFilter::default(),
        everything(),
        ObjectFilter {
            ids: Some(vec![id("indicator", 1)]),
            ..ObjectFilter::default()
        },
    ] {
        let page = store.page("tk-a", &filter, 10, None).await;
        assert!(
            page.items.is_empty() && !page.more,
            "an empty collection returned {:?}",
            short(&page.items)
        );
        let manifest = store.manifest("tk-a", &filter, 10, None).await;
        assert!(manifest.items.is_empty() && !manifest.more);
    }
    let removed = store
        .backend
        .delete_object(ROOT, "tk-a", &id("indicator", 1), &VersionSelector::All, None, &anonymous())
        .await
        .expect("delete_object");
    assert_eq!(removed, 0, "deleting from an empty collection removed something");
}
