//! Content negotiation (§1.6.8, §3.1): which `Accept` headers get TAXII 2.1 and which
//! get 406, on every kind of endpoint.

mod support;

use support::*;
use tower_taxii::TaxiiService;

const INDICATOR: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";

fn fixture(lenient: bool) -> TaxiiService {
    let backend = backend();
    insert(&backend, [sdo(INDICATOR, "2020-01-01T00:00:00.000Z")]);
    builder(&backend).lenient_accept(lenient).build()
}

/// One path per endpoint kind: discovery, API root, collections, collection, and content.
fn paths() -> Vec<String> {
    vec![
        "/taxii2/".into(),
        at(""),
        at("collections/"),
        coll(""),
        coll("manifest/"),
        coll("objects/"),
        coll(&format!("objects/{INDICATOR}/")),
        coll(&format!("objects/{INDICATOR}/versions/")),
    ]
}

async fn assert_served(service: &TaxiiService, accept: Option<&str>) {
    for path in paths() {
        let reply = get_accepting(service, &path, accept).await;
        assert_eq!(reply.status, 200, "Accept {accept:?} on {path}: {}", reply.text());
        reply.assert_taxii_content_type();
    }
}

async fn assert_refused(service: &TaxiiService, accept: Option<&str>) {
    for path in paths() {
        let reply = get_accepting(service, &path, accept).await;
        assert_eq!(reply.status, 406, "Accept {accept:?} on {path}: {}", reply.text());
        reply.expect_error(406);
    }
}

#[tokio::test]
async fn taxii_21_is_served_in_every_spelling() {
    for lenient in [true, false] {
        let service = fixture(lenient);
        for accept in [
            "application/taxii+json;version=2.1",
            "application/taxii+json; version=2.1",
            "application/taxii+json ;version=2.1 ",
            "  application/taxii+json;version=2.1",
            "Application/TAXII+JSON;Version=2.1",
            "APPLICATION/TAXII+JSON;VERSION=2.1",
            "application/taxii+json;version=\"2.1\"",
            "application/taxii+json;charset=utf-8;version=2.1",
        ] {
            assert_served(&service, Some(accept)).await;
        }
    }
}

#[tokio::test]
async fn taxii_without_a_version_means_the_latest_and_is_served() {
    for lenient in [true, false] {
        let service = fixture(lenient);
        assert_served(&service, Some("application/taxii+json")).await;
        assert_served(&service, Some("application/taxii+json; charset=utf-8")).await;
    }
}

#[tokio::test]
async fn accept_lists_with_parameters_and_q_values_are_parsed() {
    let service = fixture(false);
    for accept in [
        // The manifest's required Accept in the OS text.
        "application/taxii+json;version=2.1,application/stix+json;version=2.1",
        "application/stix+json;version=2.1, application/taxii+json;version=2.1",
        "application/json;q=0.9, application/taxii+json;version=2.1;q=0.5",
        "text/html,application/xhtml+xml , application/taxii+json ; version=2.1 ; q=0.1",
        "application/taxii+json;version=2.0, application/taxii+json;version=2.1",
        "application/taxii+json;version=2.1;q=1.0",
        "application/taxii+json;q=0.001;version=2.1",
        "application/json,,application/taxii+json;version=2.1",
    ] {
        assert_served(&service, Some(accept)).await;
    }
}

#[tokio::test]
async fn plain_json_is_406() {
    for lenient in [true, false] {
        assert_refused(&fixture(lenient), Some("application/json")).await;
    }
}

#[tokio::test]
async fn other_taxii_versions_are_406() {
    for lenient in [true, false] {
        let service = fixture(lenient);
        for accept in [
            "application/taxii+json;version=2.0",
            "application/taxii+json;version=2.2",
            "application/taxii+json;version=3.0",
            "application/vnd.oasis.taxii+json; version=2.0",
            "application/vnd.oasis.taxii+json",
            "application/stix+json;version=2.1",
        ] {
            assert_refused(&service, Some(accept)).await;
        }
    }
}

#[tokio::test]
async fn a_range_with_q_zero_is_a_refusal() {
    for lenient in [true, false] {
        let service = fixture(lenient);
        for accept in [
            "application/taxii+json;version=2.1;q=0",
            "application/taxii+json;version=2.1;q=0.0",
            "application/taxii+json;version=2.1; q=0.000",
            "application/json, application/taxii+json;version=2.1;q=0",
        ] {
            assert_refused(&service, Some(accept)).await;
        }
    }
}

#[tokio::test]
async fn garbage_accept_headers_are_406() {
    let service = fixture(true);
    for accept in ["", "garbage", "application/", "/taxii+json", "text/html"] {
        assert_refused(&service, Some(accept)).await;
    }
}

#[tokio::test]
async fn wildcards_and_a_missing_accept_are_served_by_default() {
    let service = fixture(true);
    for accept in ["*/*", "application/*", "application/json, text/plain, */*", "*/*;q=0.8"] {
        assert_served(&service, Some(accept)).await;
    }
    assert_served(&service, None).await;
}

#[tokio::test]
async fn the_default_service_is_lenient() {
    let backend = backend();
    insert(&backend, [sdo(INDICATOR, "2020-01-01T00:00:00.000Z")]);
    let service = service(&backend);
    assert_served(&service, None).await;
    assert_served(&service, Some("*/*")).await;
}

#[tokio::test]
async fn wildcards_and_a_missing_accept_are_406_when_strict() {
    let service = fixture(false);
    for accept in ["*/*", "application/*", "application/json, text/plain, */*"] {
        assert_refused(&service, Some(accept)).await;
    }
    assert_refused(&service, None).await;
}

#[tokio::test]
async fn a_wildcard_with_q_zero_is_not_served() {
    let service = fixture(true);
    assert_refused(&service, Some("*/*;q=0")).await;
    assert_refused(&service, Some("application/json, */*;q=0")).await;
}

#[tokio::test]
async fn not_acceptable_does_not_hide_a_missing_path() {
    // Routing comes first: an unknown path is 404 whatever the Accept header.
    let service = fixture(false);
    let reply = get_accepting(&service, "/nowhere/", Some("application/json")).await;
    reply.expect_error(404);
}
