//! Filtering (§3.4): `added_after`, `limit`, `match[id|type|version|spec_version]`,
//! which endpoints allow which parameters, and what is malformed. Every filter is
//! checked on the objects endpoint and the manifest, which must select the same versions.

mod support;

use support::*;
use tower_taxii::TaxiiService;

const A: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
const B: &str = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b";
const C: &str = "tool--6b2c4e7d-2c8b-4a4e-9b1e-1f2a3b4c5d6e";
const D: &str = "indicator--d9b1ab4c-6d5a-4c6b-8e0f-0a1b2c3d4e5f";
const E: &str = "malware--e5a6b7c8-d9e0-4f1a-8b2c-3d4e5f6a7b8c";

/// The versions stored, in insertion (so `date_added`) order: (id, modified, spec).
/// A has three versions, added out of `modified` order; D exists in STIX 2.0 and 2.1
/// form (same `modified`); E exists only in STIX 2.0.
const STORED: [(&str, &str, &str); 8] = [
    (A, "2020-01-01T00:00:00.000Z", "2.1"), // 0
    (B, "2020-01-01T00:00:00.000Z", "2.1"), // 1
    (D, "2019-01-01T00:00:00.000Z", "2.0"), // 2
    (C, "2020-06-01T00:00:00.000Z", "2.1"), // 3
    (A, "2022-01-01T00:00:00.000Z", "2.1"), // 4
    (D, "2019-01-01T00:00:00.000Z", "2.1"), // 5
    (E, "2018-01-01T00:00:00.000Z", "2.0"), // 6
    (A, "2021-01-01T00:00:00.000Z", "2.1"), // 7
];

fn fixture() -> TaxiiService {
    let backend = backend();
    insert(
        &backend,
        STORED
            .iter()
            .map(|(id, modified, spec)| object(id, modified, (*spec == "2.1").then_some("2.1"))),
    );
    service(&backend)
}

/// The stored versions at these positions, in that order.
fn expected(positions: &[usize]) -> Vec<Item> {
    positions
        .iter()
        .map(|&i| {
            let (id, modified, spec) = STORED[i];
            (id.to_owned(), modified.to_owned(), spec.to_owned())
        })
        .collect()
}

/// The versions `query` selects, asserted identical on objects and manifest.
async fn select(service: &TaxiiService, query: &str) -> Vec<Item> {
    let objects = get(service, &coll(&format!("objects/?{query}"))).await.expect(200);
    let manifest = get(service, &coll(&format!("manifest/?{query}"))).await.expect(200);
    let items = envelope_items(&objects);
    assert_eq!(items, manifest_items(&manifest), "objects and manifest agree on {query:?}");
    items
}

/// The status of GET objects, manifest with this query (asserting both agree).
async fn status_of(service: &TaxiiService, query: &str) -> u16 {
    let objects = get(service, &coll(&format!("objects/?{query}"))).await;
    let manifest = get(service, &coll(&format!("manifest/?{query}"))).await;
    assert_eq!(objects.status, manifest.status, "{query}");
    objects.status.as_u16()
}

#[track_caller]
fn assert_bad_request(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 400, "{what}: {}", reply.text());
    reply.expect_error(400);
}

async fn assert_400(service: &TaxiiService, query: &str) {
    for endpoint in ["objects/", "manifest/"] {
        let reply = get(service, &coll(&format!("{endpoint}?{query}"))).await;
        assert_bad_request(&reply, &format!("{endpoint}?{query}"));
    }
}

/// The `date_added` of every stored version, in order.
async fn dates_added(service: &TaxiiService) -> Vec<String> {
    let body = get(service, &coll("manifest/?match[version]=all&match[spec_version]=2.0,2.1"))
        .await
        .expect(200);
    let dates = manifest_dates(&body);
    assert_eq!(manifest_items(&body), expected(&[0, 1, 2, 3, 4, 5, 6, 7]));
    dates
}

#[tokio::test]
async fn defaults_are_the_latest_version_in_each_objects_latest_spec_version() {
    let service = fixture();
    assert_eq!(select(&service, "").await, expected(&[1, 3, 4, 5, 6]));
}

// --- added_after ---

#[tokio::test]
async fn added_after_is_strictly_after() {
    let service = fixture();
    let dates = dates_added(&service).await;
    // At C's date_added, C itself is not included.
    let query = format!("added_after={}", dates[3]);
    assert_eq!(select(&service, &query).await, expected(&[4, 5, 6]));
    // One microsecond earlier C is included.
    let before_c = dates[2].clone();
    assert_eq!(select(&service, &format!("added_after={before_c}")).await, expected(&[3, 4, 5, 6]));
    // After the last version: nothing, and an empty result is `{}`.
    let reply = get(&service, &coll(&format!("objects/?added_after={}", dates[7]))).await;
    reply.expect(200);
    assert_eq!(reply.text(), "{}");
}

#[tokio::test]
async fn added_after_applies_to_the_selected_versions() {
    // With the default `last`, added_after keeps objects whose latest version is new
    // (src/index.rs): A's version added last (2021) is not its latest (2022).
    let service = fixture();
    let dates = dates_added(&service).await;
    assert_eq!(select(&service, &format!("added_after={}", dates[6])).await, expected(&[]));
    assert_eq!(
        select(&service, &format!("added_after={}&match[version]=all", dates[6])).await,
        expected(&[7])
    );
    assert_eq!(
        select(&service, &format!("added_after={}&match[version]=first", dates[0])).await,
        expected(&[1, 3, 5, 6])
    );
}

#[tokio::test]
async fn added_after_at_the_boundary_taken_from_the_headers() {
    let service = fixture();
    let first = get(&service, &coll("objects/?limit=2")).await;
    let body = first.expect(200);
    assert_eq!(envelope_items(&body), expected(&[1, 3]));
    let last = first.header("x-taxii-date-added-last").expect("X-TAXII-Date-Added-Last").to_owned();
    assert_eq!(select(&service, &format!("added_after={last}")).await, expected(&[4, 5, 6]));
    let manifest_page = get(&service, &coll("manifest/?limit=2")).await;
    assert_eq!(manifest_page.header("x-taxii-date-added-last"), Some(last.as_str()));
}

#[tokio::test]
async fn added_after_accepts_any_precision_and_offsets() {
    let service = fixture();
    assert_eq!(
        select(&service, "added_after=2000-01-01T00:00:00Z").await,
        expected(&[1, 3, 4, 5, 6])
    );
    assert_eq!(
        select(&service, "added_after=2000-01-01T00:00:00.1Z").await,
        expected(&[1, 3, 4, 5, 6])
    );
    assert_eq!(
        select(&service, "added_after=2000-01-01T01:00:00%2B01:00").await,
        expected(&[1, 3, 4, 5, 6])
    );
    assert_eq!(select(&service, "added_after=2999-01-01T00:00:00.123456789Z").await, expected(&[]));
}

// --- limit ---

#[tokio::test]
async fn limit_must_be_a_positive_integer() {
    let service = fixture();
    for limit in ["0", "-1", "ten", "", "1.5", "1e3", "+5", "%20"] {
        assert_400(&service, &format!("limit={limit}")).await;
    }
}

#[tokio::test]
async fn limit_restricts_the_page() {
    let service = fixture();
    let body = get(&service, &coll("objects/?limit=3")).await.expect(200);
    assert_eq!(envelope_items(&body), expected(&[1, 3, 4]));
    assert_eq!(body["more"], true);
}

#[tokio::test]
async fn a_huge_limit_is_capped_not_refused() {
    let service = fixture();
    for limit in ["5", "6", "5000", "99999999999999999999999999"] {
        let body = get(&service, &coll(&format!("objects/?limit={limit}"))).await.expect(200);
        assert_eq!(envelope_items(&body), expected(&[1, 3, 4, 5, 6]), "limit={limit}");
        assert!(body.get("more").is_none(), "limit={limit}: everything fits: {body}");
    }
}

// --- match[id] and match[type] ---

#[tokio::test]
async fn match_id_selects_ids() {
    let service = fixture();
    assert_eq!(select(&service, &format!("match[id]={A}")).await, expected(&[4]));
    assert_eq!(select(&service, &format!("match[id]={A},{B}")).await, expected(&[1, 4]));
    assert_eq!(
        select(&service, &format!("match[id]={B},{A}")).await,
        expected(&[1, 4]),
        "sorted by date_added"
    );
    assert_eq!(
        select(&service, "match[id]=indicator--00000000-0000-4000-8000-000000000000").await,
        expected(&[])
    );
}

#[tokio::test]
async fn match_type_is_an_or_within_the_field() {
    let service = fixture();
    assert_eq!(select(&service, "match[type]=indicator").await, expected(&[4, 5]));
    assert_eq!(select(&service, "match[type]=indicator,malware").await, expected(&[1, 4, 5, 6]));
    assert_eq!(
        select(&service, "match[type]=tool,indicator,malware").await,
        expected(&[1, 3, 4, 5, 6])
    );
}

#[tokio::test]
async fn match_type_for_a_defined_type_without_objects_is_empty_not_an_error() {
    let service = fixture();
    let reply = get(&service, &coll("objects/?match[type]=campaign")).await;
    reply.expect(200);
    assert_eq!(reply.text(), "{}");
    // Custom types are fine too.
    assert_eq!(select(&service, "match[type]=x-custom-thing").await, expected(&[]));
}

#[tokio::test]
async fn different_fields_are_anded() {
    let service = fixture();
    assert_eq!(
        select(&service, &format!("match[type]=indicator&match[id]={A},{B}")).await,
        expected(&[4])
    );
    assert_eq!(select(&service, &format!("match[type]=malware&match[id]={A}")).await, expected(&[]));
    assert_eq!(
        select(&service, "match[type]=indicator,malware&match[spec_version]=2.0").await,
        expected(&[2, 6])
    );
    assert_eq!(
        select(&service, &format!("match[id]={A}&match[version]=first&match[type]=indicator")).await,
        expected(&[0])
    );
}

// --- match[version] ---

#[tokio::test]
async fn match_version_first_last_and_all() {
    let service = fixture();
    assert_eq!(select(&service, "match[version]=last").await, expected(&[1, 3, 4, 5, 6]));
    assert_eq!(select(&service, "match[version]=first").await, expected(&[0, 1, 3, 5, 6]));
    assert_eq!(select(&service, "match[version]=all").await, expected(&[0, 1, 3, 4, 5, 6, 7]));
    assert_eq!(select(&service, "match[version]=first,last").await, expected(&[0, 1, 3, 4, 5, 6]));
    assert_eq!(select(&service, "match[version]=last,first").await, expected(&[0, 1, 3, 4, 5, 6]));
}

#[tokio::test]
async fn match_version_timestamps_match_the_instant_whatever_the_precision() {
    let service = fixture();
    for spelling in [
        "2021-01-01T00:00:00.000Z",
        "2021-01-01T00:00:00Z",
        "2021-01-01T00:00:00.000000Z",
        "2021-01-01T00:00:00.000000000Z",
        "2021-01-01T01:00:00%2B01:00",
        "2020-12-31T23:00:00-01:00",
    ] {
        assert_eq!(
            select(&service, &format!("match[version]={spelling}")).await,
            expected(&[7]),
            "{spelling}"
        );
    }
    // An instant that no version has selects nothing.
    assert_eq!(select(&service, "match[version]=2021-01-01T00:00:00.001Z").await, expected(&[]));
    // A timestamp shared by several objects selects each of them.
    assert_eq!(select(&service, "match[version]=2020-01-01T00:00:00Z").await, expected(&[0, 1]));
}

#[tokio::test]
async fn two_spellings_of_one_instant_are_two_versions() {
    // src/index.rs: versions are keyed by their version string; they order by instant
    // then date_added, and a timestamp matches every version at that instant.
    let backend = backend();
    insert(&backend, [sdo(A, "2020-01-01T00:00:00Z"), sdo(A, "2020-01-01T00:00:00.000Z")]);
    let service = service(&backend);
    let pick = async |query: &str| {
        let body = get(&service, &coll(&format!("manifest/?{query}"))).await.expect(200);
        manifest_versions(&body)
    };
    assert_eq!(pick("").await, pairs(&[(A, "2020-01-01T00:00:00.000Z")]));
    assert_eq!(pick("match[version]=first").await, pairs(&[(A, "2020-01-01T00:00:00Z")]));
    let both = pairs(&[(A, "2020-01-01T00:00:00Z"), (A, "2020-01-01T00:00:00.000Z")]);
    assert_eq!(pick("match[version]=all").await, both);
    assert_eq!(pick("match[version]=2020-01-01T00:00:00.0Z").await, both);
}

#[tokio::test]
async fn match_version_mixes_keywords_and_timestamps() {
    let service = fixture();
    assert_eq!(
        select(&service, "match[version]=first,2021-01-01T00:00:00Z").await,
        expected(&[0, 1, 3, 5, 6, 7])
    );
    assert_eq!(
        select(&service, "match[version]=first,2021-01-01T00:00:00.000Z,last").await,
        expected(&[0, 1, 3, 4, 5, 6, 7])
    );
    assert_eq!(
        select(&service, "match[version]=2021-01-01T00:00:00Z,2022-01-01T00:00:00Z").await,
        expected(&[4, 7])
    );
}

#[tokio::test]
async fn match_version_all_cannot_be_combined_and_values_cannot_repeat() {
    let service = fixture();
    for value in [
        "all,last",
        "first,all",
        "all,2021-01-01T00:00:00Z",
        "all,all",
        "last,last",
        "first,first",
        "2021-01-01T00:00:00Z,2021-01-01T00:00:00Z",
        "2021-01-01T00:00:00Z,2021-01-01T00:00:00.000Z",
        "newest",
        "",
        "first,",
        "LAST",
    ] {
        assert_400(&service, &format!("match[version]={value}")).await;
    }
}

#[tokio::test]
async fn match_version_on_the_object_endpoint() {
    let service = fixture();
    let get_versions = async |query: &str| {
        let body = get(&service, &coll(&format!("objects/{A}/?{query}"))).await.expect(200);
        envelope_items(&body)
    };
    assert_eq!(get_versions("").await, expected(&[4]));
    assert_eq!(get_versions("match[version]=first").await, expected(&[0]));
    assert_eq!(get_versions("match[version]=all").await, expected(&[0, 4, 7]));
    assert_eq!(get_versions("match[version]=2021-01-01T00:00:00Z").await, expected(&[7]));
}

// --- match[spec_version] ---

#[tokio::test]
async fn match_spec_version_defaults_to_each_objects_latest() {
    let service = fixture();
    // D exists in 2.0 and 2.1: only its 2.1 form. E exists only in 2.0: it is served.
    assert_eq!(select(&service, &format!("match[id]={D},{E}")).await, expected(&[5, 6]));
    assert_eq!(select(&service, &format!("match[id]={D}&match[version]=all")).await, expected(&[5]));
}

#[tokio::test]
async fn match_spec_version_selects_listed_versions_only() {
    let service = fixture();
    assert_eq!(select(&service, "match[spec_version]=2.0").await, expected(&[2, 6]));
    assert_eq!(select(&service, "match[spec_version]=2.1").await, expected(&[1, 3, 4, 5]));
    // Both: D's two forms share one instant; versions order by instant then date_added
    // (src/index.rs), so `last` is the 2.1 form (added later) and `first` the 2.0 form.
    assert_eq!(select(&service, "match[spec_version]=2.0,2.1").await, expected(&[1, 3, 4, 5, 6]));
    assert_eq!(select(&service, "match[spec_version]=2.1,2.0").await, expected(&[1, 3, 4, 5, 6]));
    assert_eq!(
        select(&service, "match[spec_version]=2.0,2.1&match[version]=first").await,
        expected(&[0, 1, 2, 3, 6])
    );
    // A timestamp matches every version at that instant, in every listed spec version.
    assert_eq!(
        select(&service, "match[spec_version]=2.0,2.1&match[version]=2019-01-01T00:00:00Z").await,
        expected(&[2, 5])
    );
    assert_eq!(
        select(&service, "match[spec_version]=2.0,2.1&match[version]=all").await,
        expected(&[0, 1, 2, 3, 4, 5, 6, 7])
    );
}

#[tokio::test]
async fn match_spec_version_on_object_and_versions_endpoints() {
    let service = fixture();
    let object = get(&service, &coll(&format!("objects/{D}/"))).await.expect(200);
    assert_eq!(envelope_items(&object), expected(&[5]));
    let object = get(&service, &coll(&format!("objects/{D}/?match[spec_version]=2.0")))
        .await
        .expect(200);
    assert_eq!(envelope_items(&object), expected(&[2]));
    let object = get(&service, &coll(&format!("objects/{E}/"))).await.expect(200);
    assert_eq!(envelope_items(&object), expected(&[6]));
    get(&service, &coll(&format!("objects/{E}/?match[spec_version]=2.1")))
        .await
        .expect_error(404);
    let versions = get(&service, &coll(&format!("objects/{D}/versions/"))).await.expect(200);
    assert_eq!(versions, serde_json::json!({"versions": ["2019-01-01T00:00:00.000Z"]}));
    let versions = get(&service, &coll(&format!("objects/{D}/versions/?match[spec_version]=2.0,2.1")))
        .await
        .expect(200);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2, "{versions}");
}

#[tokio::test]
async fn malformed_spec_versions_are_400() {
    let service = fixture();
    for value in ["2", "two", "", "2.1,", "2.1,2.1", "v2.1"] {
        assert_400(&service, &format!("match[spec_version]={value}")).await;
    }
}

// --- which parameters each endpoint allows ---

#[tokio::test]
async fn parameters_not_allowed_on_an_endpoint_are_400() {
    let service = fixture();
    let cases = [
        coll(&format!("objects/{A}/?match[id]={A}")),
        coll(&format!("objects/{A}/?match[type]=indicator")),
        coll(&format!("objects/{A}/versions/?match[version]=all")),
        coll(&format!("objects/{A}/versions/?match[id]={A}")),
        coll(&format!("objects/{A}/versions/?match[type]=indicator")),
        at("collections/?limit=1"),
        at("collections/?added_after=2020-01-01T00:00:00Z"),
        at("collections/?match[type]=indicator"),
        at("collections/?next=abc"),
        coll("?limit=1"),
        coll("?match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
        at("?limit=1"),
        "/taxii2/?limit=1".to_owned(),
    ];
    for uri in cases {
        assert_bad_request(&get(&service, &uri).await, &uri);
    }
}

#[tokio::test]
async fn allowed_parameters_on_object_and_versions_endpoints_are_accepted() {
    let service = fixture();
    for uri in [
        coll(&format!(
            "objects/{A}/?limit=1&match[version]=all&match[spec_version]=2.1&added_after=2000-01-01T00:00:00Z"
        )),
        coll(&format!(
            "objects/{A}/versions/?limit=1&match[spec_version]=2.1&added_after=2000-01-01T00:00:00Z"
        )),
    ] {
        get(&service, &uri).await.expect(200);
    }
}

#[tokio::test]
async fn repeated_parameters_are_400() {
    let service = fixture();
    for query in [
        "match[type]=indicator&match[type]=malware",
        "match[type]=indicator&match[type]=indicator",
        "limit=1&limit=1",
        "added_after=2020-01-01T00:00:00Z&added_after=2021-01-01T00:00:00Z",
        "match[version]=first&match[version]=last",
        "match[spec_version]=2.0&match[spec_version]=2.1",
        "match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f&match%5Bid%5D=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "match[type]=indicator,indicator",
    ] {
        assert_400(&service, query).await;
    }
}

#[tokio::test]
async fn malformed_timestamps_are_400() {
    let service = fixture();
    for value in [
        "yesterday",
        "",
        "2020-01-01",
        "2020-01-01T00:00:00",
        "2020-01-01%2000:00:00Z",
        "2020-01-01T00:00:00.Z",
        "2020-13-01T00:00:00Z",
        "2020-02-30T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T00:00:00+0100",
        "1577836800",
    ] {
        assert_400(&service, &format!("added_after={value}")).await;
        if !value.is_empty() {
            assert_400(&service, &format!("match[version]={value}")).await;
        }
    }
}

#[tokio::test]
async fn malformed_ids_and_types_are_400() {
    let service = fixture();
    for query in [
        "match[id]=indicator--1",
        "match[id]=8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "match[id]=",
        "match[type]=",
        "match[type]=Indicator",
        "match[type]=indicator,,malware",
        "match[type]=a",
        "next=",
        "match[type]=%zz",
    ] {
        assert_400(&service, query).await;
    }
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let service = fixture();
    let unfiltered = select(&service, "").await;
    for query in [
        "foo=bar",
        "match[color]=red",
        "match[created_by_ref]=identity--x",
        "_=1&x",
        "MATCH[type]=zzz",
    ] {
        assert_eq!(select(&service, query).await, unfiltered, "{query}");
    }
    // Unknown parameters are ignored on every endpoint, even where no filter is allowed.
    get(&service, &at("collections/?foo=bar")).await.expect(200);
    assert_eq!(status_of(&service, "match[type]=indicator&whatever=1").await, 200);
}

#[tokio::test]
async fn percent_encoded_keys_and_values_are_decoded() {
    let service = fixture();
    let plain = select(&service, "match[type]=indicator,malware").await;
    assert_eq!(plain, expected(&[1, 4, 5, 6]));
    for query in [
        "match%5Btype%5D=indicator%2Cmalware",
        "match%5btype%5d=indicator%2cmalware",
        "match[type]=indicator%2Cmalware",
        "match%5Btype%5D=indicator,malware",
        "match%5Btype]=%69ndicator,malware",
    ] {
        assert_eq!(select(&service, query).await, plain, "{query}");
    }
    let dates = dates_added(&service).await;
    let encoded = dates[3].replace(':', "%3A");
    assert_eq!(select(&service, &format!("added_after={encoded}")).await, expected(&[4, 5, 6]));
    assert_eq!(
        select(&service, "match%5Bversion%5D=2021-01-01T00%3A00%3A00.000Z").await,
        expected(&[7])
    );
}
