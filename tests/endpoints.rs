//! The TAXII 2.1 endpoints (§4, §5) driven from the outside: discovery, API root,
//! collections, collection, status, the content endpoints' basic answers, routing
//! (trailing slashes, unknown paths, methods) and the form of every error.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use serde_json::{Value, json};
use support::*;
use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, Status, StatusDetail, StatusState, TaxiiService, Timestamp};

const INDICATOR: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
const STATUS_ID: &str = "2d086da7-4bdc-4f91-900e-d77486753710";

/// A backend with a populated collection (with an alias), an empty one, an
/// unreadable one, and a status resource.
fn fixture() -> (Arc<MemoryBackend>, TaxiiService) {
    let backend = Arc::new(MemoryBackend::new());
    backend.add_collection(
        ROOT,
        CollectionInfo::new(COLLECTION, "Indicators")
            .description("High-value indicators")
            .alias("high-value"),
    );
    backend.add_collection(ROOT, CollectionInfo::new(OTHER, "Empty"));
    backend.add_collection(ROOT, CollectionInfo::new(SECRET, "Secret").access(false, true));
    insert(
        &backend,
        [
            sdo(INDICATOR, "2020-01-01T00:00:00.000Z"),
            sdo(INDICATOR, "2021-01-01T00:00:00.000Z"),
        ],
    );
    insert_into(&backend, SECRET, [sdo(INDICATOR, "2020-01-01T00:00:00.000Z")]);
    backend.put_status(
        ROOT,
        Status {
            id: STATUS_ID.into(),
            status: StatusState::Complete,
            request_timestamp: Some("2021-01-01T00:00:00Z".parse::<Timestamp>().unwrap()),
            total_count: 1,
            success_count: 1,
            failure_count: 0,
            pending_count: 0,
            successes: vec![StatusDetail {
                id: INDICATOR.into(),
                version: "2021-01-01T00:00:00.000Z".into(),
                message: None,
            }],
            failures: Vec::new(),
            pendings: Vec::new(),
            collection: None,
        },
    );
    let service = TaxiiService::builder(backend.clone())
        .title("Test server")
        .description("For the tests")
        .contact("nobody@example.com")
        .api_root(ROOT, ApiRoot::new("Test root").description("The root").max_content_length(1000))
        .api_root("second", ApiRoot::new("Second root"))
        .build();
    (backend, service)
}

const SECRET: &str = "0c9c8d8a-6d8e-4a8f-9d2b-6a4d2b0c1e7f";

/// Every GET endpoint of the fixture, as a path ending in `/`.
fn every_endpoint() -> Vec<String> {
    vec![
        "/taxii2/".into(),
        at(""),
        at(&format!("status/{STATUS_ID}/")),
        at("collections/"),
        coll(""),
        coll("manifest/"),
        coll("objects/"),
        coll(&format!("objects/{INDICATOR}/")),
        coll(&format!("objects/{INDICATOR}/versions/")),
    ]
}

#[tokio::test]
async fn discovery_lists_title_roots_and_default() {
    let (_, service) = fixture();
    let reply = get(&service, "/taxii2/").await;
    assert_eq!(
        reply.expect(200),
        json!({
            "title": "Test server",
            "description": "For the tests",
            "contact": "nobody@example.com",
            "default": "/api/v21/",
            "api_roots": ["/api/v21/", "/second/"],
        })
    );
}

#[tokio::test]
async fn discovery_lists_absolute_urls_under_the_base_url() {
    let backend = backend();
    let service = builder(&backend)
        .base_url("https://cti.example.com/taxii/")
        .api_root("other", ApiRoot::new("Other"))
        .default_api_root("other")
        .build();
    let body = get(&service, "/taxii2/").await.expect(200);
    assert_eq!(
        body["api_roots"],
        json!(["https://cti.example.com/taxii/api/v21/", "https://cti.example.com/taxii/other/"])
    );
    assert_eq!(body["default"], "https://cti.example.com/taxii/other/");
}

#[tokio::test]
async fn discovery_can_be_turned_off() {
    let backend = backend();
    let service = builder(&backend).discovery(false).build();
    get(&service, "/taxii2/").await.expect_error(404);
    get(&service, &at("")).await.expect(200);
}

#[tokio::test]
async fn api_root_describes_itself() {
    let (_, service) = fixture();
    let body = get(&service, &at("")).await.expect(200);
    assert_eq!(
        body,
        json!({
            "title": "Test root",
            "description": "The root",
            "versions": ["application/taxii+json;version=2.1"],
            "max_content_length": 1000,
        })
    );
}

#[tokio::test]
async fn unknown_api_root_is_404() {
    let (_, service) = fixture();
    get(&service, "/api/v20/").await.expect_error(404);
    get(&service, "/api/v20/collections/").await.expect_error(404);
}

#[tokio::test]
async fn collections_are_listed_in_a_stable_order_with_their_properties() {
    let (_, service) = fixture();
    let first = get(&service, &at("collections/")).await.expect(200);
    let second = get(&service, &at("collections/")).await.expect(200);
    assert_eq!(first, second, "the order is consistent across requests");
    assert_eq!(
        first,
        json!({"collections": [
            {
                "id": COLLECTION,
                "title": "Indicators",
                "description": "High-value indicators",
                "alias": "high-value",
                "can_read": true,
                "can_write": false,
                "media_types": ["application/stix+json;version=2.1"],
            },
            {"id": OTHER, "title": "Empty", "can_read": true, "can_write": false},
            {
                "id": SECRET,
                "title": "Secret",
                "can_read": false,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
            },
        ]})
    );
}

#[tokio::test]
async fn collections_of_a_root_without_any_is_an_empty_object() {
    let (_, service) = fixture();
    let reply = get(&service, "/second/collections/").await;
    reply.expect(200);
    assert_eq!(reply.text(), "{}");
}

#[tokio::test]
async fn collection_by_id_and_by_alias() {
    let (_, service) = fixture();
    let by_id = get(&service, &coll("")).await.expect(200);
    assert_eq!(by_id["id"], COLLECTION);
    assert_eq!(by_id["alias"], "high-value");
    assert_eq!(by_id["can_read"], true);
    let by_alias = get(&service, &at("collections/high-value/")).await.expect(200);
    assert_eq!(by_id, by_alias);
    let objects = get(&service, &at("collections/high-value/objects/")).await.expect(200);
    assert_eq!(id_versions(&objects), pairs(&[(INDICATOR, "2021-01-01T00:00:00.000Z")]));
}

#[tokio::test]
async fn unknown_collection_is_404_on_every_collection_endpoint() {
    let (_, service) = fixture();
    let missing = "3c5d6b1e-0000-4000-8000-000000000000";
    for rest in [
        "",
        "manifest/",
        "objects/",
        &format!("objects/{INDICATOR}/"),
        &format!("objects/{INDICATOR}/versions/"),
    ] {
        get(&service, &at(&format!("collections/{missing}/{rest}"))).await.expect_error(404);
    }
    // A collection of another root is not visible here.
    get(&service, &format!("/second/collections/{COLLECTION}/")).await.expect_error(404);
}

#[tokio::test]
async fn status_is_served_and_unknown_status_is_404() {
    let (_, service) = fixture();
    let body = get(&service, &at(&format!("status/{STATUS_ID}/"))).await.expect(200);
    assert_eq!(
        body,
        json!({
            "id": STATUS_ID,
            "status": "complete",
            "request_timestamp": "2021-01-01T00:00:00.000000Z",
            "total_count": 1,
            "success_count": 1,
            "failure_count": 0,
            "pending_count": 0,
            "successes": [{"id": INDICATOR, "version": "2021-01-01T00:00:00.000Z"}],
        })
    );
    get(&service, &at("status/0f6c6a1e-2b0c-4a6e-9e5c-1a2b3c4d5e6f/"))
        .await
        .expect_error(404);
    // A status belongs to its API root.
    get(&service, &format!("/second/status/{STATUS_ID}/")).await.expect_error(404);
}

#[tokio::test]
async fn every_path_is_served_with_and_without_trailing_slash() {
    let (_, service) = fixture();
    for path in every_endpoint() {
        let with = get(&service, &path).await;
        let without = get(&service, path.trim_end_matches('/')).await;
        assert_eq!(with.status, 200, "{path}: {}", with.text());
        assert_eq!(without.status, 200, "{path} without slash: {}", without.text());
        with.assert_taxii_content_type();
        without.assert_taxii_content_type();
        assert_eq!(with.json(), without.json(), "{path}: same answer either way");
    }
}

#[tokio::test]
async fn doubled_slashes_are_collapsed() {
    let (_, service) = fixture();
    let body = get(&service, &format!("//{ROOT}//collections//{COLLECTION}//objects//"))
        .await
        .expect(200);
    assert_eq!(id_versions(&body), pairs(&[(INDICATOR, "2021-01-01T00:00:00.000Z")]));
}

#[tokio::test]
async fn unknown_paths_are_404_taxii_errors() {
    let (_, service) = fixture();
    for path in [
        "/".to_owned(),
        "/taxii2/extra/".into(),
        "/taxii/".into(),
        "/nope/".into(),
        at("status/"),
        at("collection/"),
        at("channels/"),
        coll("object/"),
        coll("objects/x/y/"),
        coll(&format!("objects/{INDICATOR}/versions/more/")),
        coll("manifest/extra/"),
    ] {
        get(&service, &path).await.expect_error(404);
    }
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let (_, service) = fixture();
    let cases = [
        ("PUT", "/taxii2/".to_owned()),
        ("POST", at("")),
        ("PATCH", at("collections/")),
        ("POST", at("collections/")),
        ("PUT", coll("")),
        ("POST", coll("manifest/")),
        ("PUT", coll("objects/")),
        ("PUT", coll(&format!("objects/{INDICATOR}/"))),
        ("POST", coll(&format!("objects/{INDICATOR}/versions/"))),
        ("PUT", at(&format!("status/{STATUS_ID}/"))),
    ];
    for (method, path) in cases {
        let reply = send(
            &service,
            Request::builder()
                .method(method)
                .uri(&path)
                .header("accept", TAXII)
                .body(String::new())
                .unwrap(),
        )
        .await;
        reply.expect_error(405);
        let allow = reply.header("allow").unwrap_or_else(|| panic!("{method} {path}: no Allow header"));
        let allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
        assert!(allowed.contains(&"GET"), "{method} {path}: Allow {allow:?} lists GET");
        assert!(
            !allowed.contains(&method),
            "{method} {path}: Allow {allow:?} must not list {method}"
        );
    }
}

#[tokio::test]
async fn every_response_carries_exactly_the_taxii_content_type() {
    let (_, service) = fixture();
    let mut requests: Vec<Request<String>> = every_endpoint()
        .into_iter()
        .map(|p| Request::get(p).header("accept", TAXII).body(String::new()).unwrap())
        .collect();
    requests.extend([
        Request::get("/nope/").header("accept", TAXII).body(String::new()).unwrap(),
        Request::get(coll("objects/"))
            .header("accept", "application/json")
            .body(String::new())
            .unwrap(),
        Request::get(coll("objects/?limit=0"))
            .header("accept", TAXII)
            .body(String::new())
            .unwrap(),
        Request::put(coll("objects/")).header("accept", TAXII).body(String::new()).unwrap(),
        Request::get(at(&format!("collections/{SECRET}/objects/")))
            .header("accept", TAXII)
            .body(String::new())
            .unwrap(),
        Request::get(coll("objects/?match[type]=indicator&added_after=2999-01-01T00:00:00Z"))
            .header("accept", TAXII)
            .body(String::new())
            .unwrap(),
    ]);
    for request in requests {
        let what = format!("{} {}", request.method(), request.uri());
        let reply = send(&service, request).await;
        let values: Vec<_> = reply.headers.get_all("content-type").iter().collect();
        assert_eq!(values, [TAXII], "{what} ({})", reply.status);
    }
}

#[tokio::test]
async fn error_bodies_have_a_title_and_http_status_as_a_string() {
    let (_, service) = fixture();
    for (path, accept, status) in [
        ("/nope/".to_owned(), TAXII, 404),
        (coll("objects/?limit=0"), TAXII, 400),
        (coll("objects/"), "application/json", 406),
        (at(&format!("collections/{SECRET}/objects/")), TAXII, 403),
    ] {
        let reply = get_accepting(&service, &path, Some(accept)).await;
        let body = reply.expect_error(status);
        assert!(body.as_object().unwrap().keys().all(|k| {
            [
                "title",
                "description",
                "error_id",
                "error_code",
                "http_status",
                "external_details",
                "details",
            ]
            .contains(&k.as_str())
        }));
    }
}

#[tokio::test]
async fn object_endpoint_returns_the_latest_version_in_an_envelope() {
    let (_, service) = fixture();
    let reply = get(&service, &coll(&format!("objects/{INDICATOR}/"))).await;
    let body = reply.expect(200);
    assert_eq!(id_versions(&body), pairs(&[(INDICATOR, "2021-01-01T00:00:00.000Z")]));
    assert!(body.get("more").is_none() && body.get("next").is_none(), "{body}");
}

#[tokio::test]
async fn object_endpoint_is_404_for_an_unknown_object() {
    let (_, service) = fixture();
    let unknown = "indicator--00000000-0000-4000-8000-000000000000";
    get(&service, &coll(&format!("objects/{unknown}/"))).await.expect_error(404);
    get(&service, &coll(&format!("objects/{unknown}/versions/")))
        .await
        .expect_error(404);
    // The object exists, but in another collection.
    get(&service, &at(&format!("collections/{OTHER}/objects/{INDICATOR}/")))
        .await
        .expect_error(404);
}

#[tokio::test]
async fn object_endpoint_is_404_for_a_version_that_does_not_exist() {
    let (_, service) = fixture();
    let reply = get(
        &service,
        &coll(&format!("objects/{INDICATOR}/?match[version]=2020-06-01T00:00:00.000Z")),
    )
    .await;
    reply.expect_error(404);
    // The same endpoint with an existing version is found.
    let body = get(
        &service,
        &coll(&format!("objects/{INDICATOR}/?match[version]=2020-01-01T00:00:00.000Z")),
    )
    .await
    .expect(200);
    assert_eq!(id_versions(&body), pairs(&[(INDICATOR, "2020-01-01T00:00:00.000Z")]));
}

#[tokio::test]
async fn versions_endpoint_lists_every_version() {
    let (_, service) = fixture();
    let reply = get(&service, &coll(&format!("objects/{INDICATOR}/versions/"))).await;
    let body = reply.expect(200);
    assert_eq!(body, json!({"versions": ["2020-01-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z"]}));
}

#[tokio::test]
async fn manifest_records_have_id_date_added_version_and_media_type() {
    let (_, service) = fixture();
    let body = get(&service, &coll("manifest/")).await.expect(200);
    let records = body["objects"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let record = records[0].as_object().unwrap();
    assert_eq!(record["id"], INDICATOR);
    assert_eq!(record["version"], "2021-01-01T00:00:00.000Z");
    assert_eq!(record["media_type"], "application/stix+json;version=2.1");
    assert!(is_taxii_timestamp(record["date_added"].as_str().unwrap()), "{record:?}");
    assert_eq!(record.len(), 4, "no other properties: {record:?}");
}

#[tokio::test]
async fn objects_come_back_byte_for_byte() {
    let backend = backend();
    let odd = [
        // Whitespace, key order, number formats, unicode escapes and raw non-ASCII.
        "{ \"name\" : \"caf\\u00e9 \\ud83d\\ude00 \u{e9}\",\n\t\"x_number\": 1.50e+02, \"x_int\":-0,\"x_float\":0.10000000000000000555,\n  \"modified\":\"2021-01-01T00:00:00.123456789Z\", \"created\":\"2020-01-01T00:00:00Z\",\"id\":\"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b\", \"spec_version\":\"2.1\",\"type\":\"malware\",\"is_family\":false,\"x_empty\":{},\"x_list\":[ 1 ,2\t]}",
        r#"{"type":"identity","spec_version":"2.1","id":"identity--311b2d2d-f010-4473-83ec-1edf84858f4c","created":"2017-06-01T00:00:00.000Z","modified":"2017-06-01T00:00:00.000Z","name":"A \"quoted\" \/ name","x_big":123456789012345678901234567890}"#,
    ];
    insert(&backend, odd.iter().map(|o| Bytes::from_static(o.as_bytes())));
    let service = service(&backend);
    let reply = get(&service, &coll("objects/")).await;
    reply.expect(200);
    assert_eq!(reply.text(), format!("{{\"objects\":[{},{}]}}", odd[0], odd[1]));
    let one = get(&service, &coll("objects/malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b/")).await;
    one.expect(200);
    assert_eq!(one.text(), format!("{{\"objects\":[{}]}}", odd[0]));
    // The version reported is `modified` exactly as written.
    let versions = get(&service, &coll("objects/malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b/versions/"))
        .await
        .expect(200);
    assert_eq!(versions, json!({"versions": ["2021-01-01T00:00:00.123456789Z"]}));
}

#[tokio::test]
async fn bundle_objects_come_back_byte_for_byte() {
    let backend = backend();
    let object = "{\"type\": \"indicator\",  \"id\": \"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f\",\r\n \"created\": \"2016-04-06T20:03:48.000Z\", \"modified\": \"2016-04-06T20:03:48.000Z\", \"spec_version\": \"2.1\", \"pattern\": \"[ipv4-addr:value = '198.51.100.1']\", \"x_n\": 1E3}";
    let bundle = format!("{{\"type\":\"bundle\",\"id\":\"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\",\"objects\":[ \n {object} \n]}}");
    let report = backend.load_bundle(ROOT, COLLECTION, bundle.as_bytes()).unwrap();
    assert_eq!(report.added, 1);
    let reply = get(&service(&backend), &coll("objects/")).await;
    reply.expect(200);
    assert_eq!(reply.text(), format!("{{\"objects\":[{object}]}}"));
}

#[tokio::test]
async fn unreadable_collection_is_403_on_content_endpoints() {
    let (_, service) = fixture();
    let base = format!("collections/{SECRET}/");
    for rest in [
        "manifest/",
        "objects/",
        &format!("objects/{INDICATOR}/"),
        &format!("objects/{INDICATOR}/versions/"),
    ] {
        let reply = get(&service, &at(&format!("{base}{rest}"))).await;
        let body = reply.expect_error(403);
        assert!(reply.header("x-taxii-date-added-first").is_none(), "{rest}");
        assert!(!reply.text().contains(INDICATOR), "{rest}: no content leaks: {body}");
    }
    // The collection itself is still described.
    let info = get(&service, &at(&base)).await.expect(200);
    assert_eq!(info["can_read"], false);
}

#[tokio::test]
async fn empty_collection_answers_empty_resources() {
    let (_, service) = fixture();
    for rest in ["manifest/", "objects/"] {
        let reply = get(&service, &at(&format!("collections/{OTHER}/{rest}"))).await;
        reply.expect(200);
        assert_eq!(reply.text(), "{}", "{rest}");
        assert_eq!(reply.date_added_headers(), (None, None), "{rest}");
    }
}

#[tokio::test]
async fn head_is_allowed_where_get_is() {
    let (_, service) = fixture();
    let reply = send(
        &service,
        Request::head(coll("objects/")).header("accept", TAXII).body(String::new()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    reply.assert_taxii_content_type();
}

#[tokio::test]
async fn percent_encoded_path_segments_are_decoded() {
    let (_, service) = fixture();
    let encoded = INDICATOR.replace("-", "%2D");
    let body = get(&service, &coll(&format!("objects/{encoded}/"))).await.expect(200);
    assert_eq!(id_versions(&body), pairs(&[(INDICATOR, "2021-01-01T00:00:00.000Z")]));
}

#[tokio::test]
async fn bad_request_errors_describe_the_problem() {
    let (_, service) = fixture();
    let body: Value = get(&service, &coll("objects/?limit=x")).await.expect_error(400);
    assert_eq!(body["http_status"], "400");
    assert!(body["description"].is_string());
}

#[tokio::test]
async fn a_collection_nobody_may_read_or_write_is_hidden() {
    let (backend, service) = fixture();
    backend.add_collection(
        ROOT,
        CollectionInfo::new("7d1c3f0e-5a2b-4c6d-8e9f-0a1b2c3d4e5f", "Closed").access(false, false),
    );
    let listed = get(&service, &at("collections/")).await.expect(200);
    assert!(!listed.to_string().contains("Closed"), "{listed}");
    for path in ["", "objects/", "manifest/"] {
        let hidden = get(&service, &at(&format!("collections/7d1c3f0e-5a2b-4c6d-8e9f-0a1b2c3d4e5f/{path}")))
            .await
            .expect_error(404);
        let missing = get(&service, &at(&format!("collections/00000000-5a2b-4c6d-8e9f-0a1b2c3d4e5f/{path}")))
            .await
            .expect_error(404);
        assert_eq!(hidden.to_string().replace("7d1c3f0e", "00000000"), missing.to_string(), "{path}");
    }
}
