//! Checks through [`TaxiiService`]: collection permissions, principal-based hiding,
//! and an end-to-end round trip with statuses, `next` cursors and deletes.

use std::sync::Arc;

use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::BackendFactory;
use super::fixtures::{ROOT, Spec, Store, id, object, writable};
use crate::access::{Access, StaticPolicy};
use crate::backend::Principal;
use crate::resources::{ApiRoot, CollectionInfo};
use crate::service::TaxiiService;

const ACCEPT: &str = "application/taxii+json;version=2.1";

/// What a request got back: status, headers and the body as JSON (`null` when empty).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

/// Sends one request to the service as `principal` (anonymous when `None`).
pub(crate) async fn send(service: &TaxiiService, method: Method, uri: &str, principal: Option<&str>, body: Option<String>) -> Answer {
    let mut request = Request::builder().method(method.clone()).uri(uri).header("accept", ACCEPT);
    if body.is_some() {
        request = request.header("content-type", ACCEPT);
    }
    let mut request = request.body(body.unwrap_or_default()).expect("a valid request");
    if let Some(name) = principal {
        request.extensions_mut().insert(Principal::named(name));
    }
    let response = service.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap_or_else(|never| match never {}).to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {uri}: the body is not JSON ({e}): {bytes:?}"))
    };
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

fn service(store: &Store) -> TaxiiService {
    TaxiiService::builder(Arc::clone(&store.backend))
        .api_root(ROOT, ApiRoot::new("Testkit"))
        .build()
}

fn envelope(objects: &[String]) -> String {
    format!("{{\"objects\":[{}]}}", objects.join(","))
}

fn listed(answer: &Answer) -> Vec<(String, bool, bool)> {
    answer.body["collections"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["id"].as_str().unwrap_or_default().to_owned(),
                        c["can_read"].as_bool().unwrap_or_default(),
                        c["can_write"].as_bool().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The collections' `can_read`/`can_write`, as the backend reports them, decide
/// what the service allows: listing, 403 for what is not allowed, 404 for a
/// collection that allows nothing, 202 for a write to a writable one.
pub async fn permissions(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(
        &*factory,
        &[
            writable("tk-rw"),
            CollectionInfo::new("tk-ro", "Read only"),
            CollectionInfo::new("tk-wo", "Write only").access(false, true),
            CollectionInfo::new("tk-none", "Hidden").access(false, false),
        ],
    )
    .await;
    let taxii = service(&store);
    let post = |collection: &str| {
        (
            Method::POST,
            format!("/{ROOT}/collections/{collection}/objects/"),
            Some(envelope(&[object(&id("indicator", 1), "2020-01-01T00:00:00Z", Spec::V21, 0)])),
        )
    };
    let collections = send(&taxii, Method::GET, &format!("/{ROOT}/collections/"), None, None).await;
    assert_eq!(
        listed(&collections),
        vec![
            ("tk-rw".to_owned(), true, true),
            ("tk-ro".to_owned(), true, false),
            ("tk-wo".to_owned(), false, true)
        ],
        "the collections listed"
    );
    for (method, uri, body, expected) in [
        (Method::GET, format!("/{ROOT}/collections/tk-none/"), None, StatusCode::NOT_FOUND),
        (
            Method::GET,
            format!("/{ROOT}/collections/tk-none/objects/"),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            format!("/{ROOT}/collections/tk-wo/objects/"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (Method::GET, format!("/{ROOT}/collections/tk-ro/objects/"), None, StatusCode::OK),
        (Method::GET, format!("/{ROOT}/collections/tk-ro/manifest/"), None, StatusCode::OK),
    ] {
        let answer = send(&taxii, method.clone(), &uri, None, body).await;
        assert_eq!(answer.status, expected, "{method} {uri}: {}", answer.body);
    }
    for (collection, expected) in [
        ("tk-ro", StatusCode::FORBIDDEN),
        ("tk-none", StatusCode::NOT_FOUND),
        ("tk-wo", StatusCode::ACCEPTED),
        ("tk-rw", StatusCode::ACCEPTED),
    ] {
        let (method, uri, body) = post(collection);
        let answer = send(&taxii, method, &uri, None, body).await;
        assert_eq!(answer.status, expected, "POST {uri}: {}", answer.body);
    }
    let delete = format!("/{ROOT}/collections/tk-wo/objects/{}/", id("indicator", 1));
    assert_eq!(
        send(&taxii, Method::DELETE, &delete, None, None).await.status,
        StatusCode::FORBIDDEN
    );
    let read = send(&taxii, Method::GET, &format!("/{ROOT}/collections/tk-rw/objects/"), None, None).await;
    assert_eq!(
        read.body["objects"].as_array().map(Vec::len),
        Some(1),
        "what was posted is served: {}",
        read.body
    );
}

/// Hiding by principal, through an [`AccessPolicy`](crate::AccessPolicy) over the
/// backend: each principal lists and reaches only what it is granted, a hidden
/// collection is a 404 like one that does not exist, and a principal with no grant
/// in the API root gets 404 for the root.
pub async fn principal_hiding(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a"), writable("tk-b")]).await;
    let policy = StaticPolicy::new()
        .grant("alice", ROOT, "tk-a", Access::READ_WRITE)
        .grant("bob", ROOT, "tk-a", Access::READ)
        .grant("carol", ROOT, "tk-b", Access::READ);
    let taxii = TaxiiService::builder(Arc::clone(&store.backend))
        .api_root(ROOT, ApiRoot::new("Testkit"))
        .access_policy(policy)
        .build();
    let collections = format!("/{ROOT}/collections/");
    let objects = |c: &str| format!("/{ROOT}/collections/{c}/objects/");
    let body = || Some(envelope(&[object(&id("indicator", 1), "2020-01-01T00:00:00Z", Spec::V21, 0)]));
    let alice = send(&taxii, Method::GET, &collections, Some("alice"), None).await;
    assert_eq!(listed(&alice), vec![("tk-a".to_owned(), true, true)]);
    let carol = send(&taxii, Method::GET, &collections, Some("carol"), None).await;
    assert_eq!(listed(&carol), vec![("tk-b".to_owned(), true, false)]);
    let cases = [
        ("alice", Method::POST, objects("tk-a"), body(), StatusCode::ACCEPTED),
        ("bob", Method::GET, objects("tk-a"), None, StatusCode::OK),
        ("bob", Method::POST, objects("tk-a"), body(), StatusCode::FORBIDDEN),
        ("bob", Method::GET, objects("tk-b"), None, StatusCode::NOT_FOUND),
        ("carol", Method::GET, objects("tk-a"), None, StatusCode::NOT_FOUND),
        (
            "carol",
            Method::GET,
            format!("/{ROOT}/collections/tk-a/"),
            None,
            StatusCode::NOT_FOUND,
        ),
        ("carol", Method::GET, objects("tk-b"), None, StatusCode::OK),
        ("mallory", Method::GET, collections.clone(), None, StatusCode::NOT_FOUND),
        ("mallory", Method::GET, format!("/{ROOT}/"), None, StatusCode::NOT_FOUND),
    ];
    for (who, method, uri, body, expected) in cases {
        let answer = send(&taxii, method.clone(), &uri, Some(who), body).await;
        assert_eq!(answer.status, expected, "{who}: {method} {uri}: {}", answer.body);
    }
    let bob = send(&taxii, Method::GET, &objects("tk-a"), Some("bob"), None).await;
    assert_eq!(bob.body["objects"].as_array().map(Vec::len), Some(1), "bob reads what alice wrote");
    let anonymous = send(&taxii, Method::GET, &collections, None, None).await;
    assert_eq!(anonymous.status, StatusCode::NOT_FOUND, "an anonymous request reached the API root");
}

/// The whole path through the service: a POST answered 202 with a status the status
/// endpoint then serves, paged walks of objects and of the manifest by `next`
/// (equal to the unpaged answers, with `X-TAXII-Date-Added-*` headers matching),
/// the object and versions endpoints, and a delete.
pub async fn service_round_trip(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let taxii = service(&store);
    let base = format!("/{ROOT}/collections/tk-a");
    let mut objects: Vec<String> = (0..9)
        .map(|n| object(&id("indicator", n), "2020-01-01T00:00:00Z", Spec::V21, 0))
        .collect();
    objects.push(object(&id("indicator", 3), "2021-01-01T00:00:00Z", Spec::V21, 0));
    let posted = send(&taxii, Method::POST, &format!("{base}/objects/"), None, Some(envelope(&objects))).await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
    assert_eq!(posted.body["success_count"], 10, "{}", posted.body);
    let status_id = posted.body["id"].as_str().unwrap_or_default().to_owned();
    let status = send(&taxii, Method::GET, &format!("/{ROOT}/status/{status_id}/"), None, None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body, posted.body, "the status endpoint serves the status the POST answered");

    for (endpoint, list) in [("objects", "objects"), ("manifest", "objects")] {
        let whole = send(&taxii, Method::GET, &format!("{base}/{endpoint}/?match[version]=all"), None, None).await;
        let whole_items = whole.body[list].as_array().cloned().unwrap_or_default();
        assert_eq!(whole_items.len(), 10, "{endpoint}: {}", whole.body);
        let mut walked = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..20 {
            let uri = match &next {
                Some(n) => format!("{base}/{endpoint}/?match[version]=all&limit=3&next={n}"),
                None => format!("{base}/{endpoint}/?match[version]=all&limit=3"),
            };
            let page = send(&taxii, Method::GET, &uri, None, None).await;
            assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
            let items = page.body[list].as_array().cloned().unwrap_or_default();
            if endpoint == "manifest" {
                let header = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                assert_eq!(
                    header("x-taxii-date-added-first").as_deref(),
                    items.first().and_then(|i| i["date_added"].as_str())
                );
                assert_eq!(
                    header("x-taxii-date-added-last").as_deref(),
                    items.last().and_then(|i| i["date_added"].as_str())
                );
            }
            walked.extend(items);
            next = page.body["next"].as_str().map(str::to_owned);
            assert_eq!(
                page.body["more"].as_bool().unwrap_or(false),
                next.is_some(),
                "`more` without `next` or the reverse"
            );
            if next.is_none() {
                break;
            }
        }
        assert_eq!(walked, whole_items, "a {endpoint} walk by `next` differs from the unpaged answer");
    }

    let object_uri = format!("{base}/objects/{}/", id("indicator", 3));
    let one = send(&taxii, Method::GET, &object_uri, None, None).await;
    assert_eq!(one.body["objects"][0]["modified"], "2021-01-01T00:00:00Z", "{}", one.body);
    let versions = send(&taxii, Method::GET, &format!("{object_uri}versions/"), None, None).await;
    assert_eq!(
        versions.body["versions"],
        serde_json::json!(["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]),
        "{}",
        versions.body
    );
    assert_eq!(send(&taxii, Method::DELETE, &object_uri, None, None).await.status, StatusCode::OK);
    assert_eq!(
        send(&taxii, Method::GET, &object_uri, None, None).await.status,
        StatusCode::NOT_FOUND
    );
    let rest = send(&taxii, Method::GET, &format!("{base}/objects/"), None, None).await;
    assert_eq!(rest.body["objects"].as_array().map(Vec::len), Some(8));
}
