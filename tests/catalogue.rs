//! A catalogue of bad requests (issue 7): each malformed or hostile request gets the
//! TAXII status the standard gives it with a TAXII error message, the service keeps
//! serving, and the stored data is byte-identical afterwards. Then the limits, each
//! at its edge, and `next` cursors that must not reach what the principal may not read.

mod support;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request};
use http_body::{Body, Frame, SizeHint};
use serde_json::Value;
use support::*;
use tower_taxii::{
    Access, ApiRoot, CollectionInfo, DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_MATCH_VALUES, DEFAULT_MAX_OBJECTS_PER_ENVELOPE,
    DEFAULT_MAX_QUERY_LENGTH, MemoryBackend, Principal, StaticPolicy, TaxiiService,
};

const INDICATOR: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
const MALWARE: &str = "malware--31b940d4-6f7f-459a-80ea-9c1f17b58abc";
/// A writable collection where the requests that are meant to be stored go.
const SCRATCH: &str = "scratch";
/// `max_content_length` of the catalogue's API root: room for a 10 MB object.
const MAX_CONTENT_LENGTH: u64 = 12 * 1024 * 1024;

/// A request body: whole, or one that fails after some bytes (a client that stops midway).
enum TestBody {
    Whole(Option<Bytes>),
    Broken(Option<Bytes>),
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(match self.get_mut() {
            TestBody::Whole(data) => data.take().map(|d| Ok(Frame::data(d))),
            TestBody::Broken(data) => Some(match data.take() {
                Some(d) => Ok(Frame::data(d)),
                None => Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "client went away")),
            }),
        })
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Whole(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            TestBody::Broken(_) => SizeHint::default(),
        }
    }
}

/// What a catalogue entry must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A TAXII error with this status.
    Error(u16),
    /// This success status (a read).
    Ok(u16),
    /// 202 with every object in `failures`: refused object by object, nothing stored.
    AllFailed,
}

struct Case {
    name: String,
    method: Method,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: TestBody,
    expect: Expect,
}

fn case(name: impl Into<String>, uri: impl Into<String>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        method: Method::GET,
        uri: uri.into(),
        headers: vec![("accept", TAXII.to_owned())],
        body: TestBody::Whole(None),
        expect,
    }
}

fn post_case(name: impl Into<String>, collection: &str, body: impl Into<Bytes>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        method: Method::POST,
        uri: objects_uri(collection),
        headers: vec![("accept", TAXII.to_owned()), ("content-type", TAXII.to_owned())],
        body: TestBody::Whole(Some(body.into())),
        expect,
    }
}

async fn run(service: &TaxiiService, case: Case) -> (Reply, String) {
    let mut request = Request::builder().method(case.method).uri(&case.uri);
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    let request = request.body(case.body).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    (send(service, request).await, case.name)
}

/// The fixture: [`COLLECTION`] (read and write, 4 versions of 2 objects), [`OTHER`]
/// (read and write, 1 object) and [`SCRATCH`] (empty, writable).
fn fixture() -> (Arc<MemoryBackend>, TaxiiService) {
    let backend = Arc::new(MemoryBackend::new());
    for id in [COLLECTION, OTHER, SCRATCH] {
        backend.add_collection(ROOT, CollectionInfo::new(id, id).access(true, true));
    }
    insert(
        &backend,
        [
            sdo(INDICATOR, "2020-01-01T00:00:00.000Z"),
            sdo(INDICATOR, "2021-01-01T00:00:00.000Z"),
            sdo(MALWARE, "2020-06-01T00:00:00.000Z"),
            object(MALWARE, "2020-07-01T00:00:00.000Z", None),
        ],
    );
    insert_into(
        &backend,
        OTHER,
        [sdo(INDICATOR, "2022-01-01T00:00:00.000Z"), sdo(MALWARE, "2022-01-01T00:00:00.000Z")],
    );
    let service = TaxiiService::builder(backend.clone())
        .api_root(ROOT, ApiRoot::new("Catalogue root").max_content_length(MAX_CONTENT_LENGTH))
        .build();
    (backend, service)
}

/// Everything the two protected collections hold, as served: every version of every
/// object, the manifest and one versions list.
async fn snapshot(service: &TaxiiService) -> Vec<Bytes> {
    let mut pages = Vec::new();
    for collection in [COLLECTION, OTHER] {
        for rest in [
            "objects/?match[version]=all&match[spec_version]=2.0,2.1".to_owned(),
            "manifest/?match[version]=all&match[spec_version]=2.0,2.1".to_owned(),
            format!("objects/{INDICATOR}/versions/?match[spec_version]=2.0,2.1"),
        ] {
            let reply = get(service, &at(&format!("collections/{collection}/{rest}"))).await;
            reply.expect(200);
            pages.push(reply.body);
        }
    }
    pages
}

/// A `next` token from a real first page (`limit=1` on `uri`).
async fn next_token(service: &TaxiiService, uri: &str) -> String {
    let page = get(service, &with_param(uri, "limit", "1")).await.expect(200);
    assert_eq!(page["more"], true, "{uri} has more than one item");
    page["next"].as_str().expect("next").to_owned()
}

/// `n` distinct STIX type names, comma-separated.
fn types(n: usize) -> String {
    (0..n).map(|i| format!("t-{i:04}")).collect::<Vec<_>>().join(",")
}

#[tokio::test]
async fn every_bad_request_gets_its_taxii_error_and_changes_nothing() {
    let (_backend, service) = fixture();
    let before = snapshot(&service).await;
    let objects = coll("objects/");
    let ind = sdo(INDICATOR, "2023-01-01T00:00:00.000Z");
    let token = next_token(&service, &objects).await;
    let other_token = next_token(&service, &at(&format!("collections/{OTHER}/manifest/?match[version]=all"))).await;
    let manifest_token = next_token(&service, &coll("manifest/")).await;
    let typed_token = next_token(&service, &coll("objects/?match[type]=indicator,malware")).await;

    let mut cases = Vec::new();
    let bad = |name: &str, query: &str| case(name, format!("{objects}?{query}"), Expect::Error(400));
    let good = |name: &str, query: &str| case(name, format!("{objects}?{query}"), Expect::Ok(200));

    // Percent-encoding errors, in the query (400) and in the path (no such endpoint: 404).
    for query in [
        "match[type]=%zz",
        "match[type]=%",
        "match[type]=indicator%f",
        "%zz=1",
        "added_after=%G0",
    ] {
        cases.push(bad(&format!("percent error {query}"), query));
    }
    cases.push(good("an unknown, half-encoded name is ignored", "match%5Btype=indicator"));
    for path in ["collections/%zz/", "collections/c%/objects/", "collections/%/"] {
        cases.push(case(format!("percent error in {path}"), at(path), Expect::Error(404)));
    }
    // Invalid UTF-8 (raw bytes cannot reach the service: the http crate refuses them in a URI).
    for query in ["match[type]=%ff%fe", "added_after=%c3%28", "%ff=1", "next=%80"] {
        cases.push(bad(&format!("invalid UTF-8 {query}"), query));
    }
    for path in ["collections/%ff/", &format!("collections/{COLLECTION}/objects/indicator--%c3%28/")] {
        cases.push(case(format!("invalid UTF-8 in {path}"), at(path), Expect::Error(404)));
    }
    // `..` and encoded slashes stay inside their segment: they name nothing.
    for path in [
        "collections/../collections/".to_owned(),
        "collections/%2e%2e/objects/".to_owned(),
        format!("collections/{COLLECTION}%2Fobjects/"),
        format!("collections/..%2F{COLLECTION}/objects/"),
        format!("collections/{COLLECTION}/objects/..%2F..%2F{OTHER}/"),
        format!("collections/{COLLECTION}/objects/{INDICATOR}%2Fversions/"),
        format!("collections/{COLLECTION}/objects/%2E%2E/versions/"),
    ] {
        cases.push(case(format!("dots or slashes in {path}"), at(&path), Expect::Error(404)));
    }
    let mut delete = case(
        "DELETE of an encoded-slash id",
        coll(&format!("objects/..%2F{INDICATOR}/")),
        Expect::Error(404),
    );
    delete.method = Method::DELETE;
    cases.push(delete);
    // Ids of 60 KB (a URI of 64 KB or more never reaches the service, see below).
    let long = format!("indicator--{}", "a".repeat(60_000));
    cases.push(case("a 60 KB object id", coll(&format!("objects/{long}/")), Expect::Error(404)));
    cases.push(case(
        "a 60 KB collection id",
        at(&format!("collections/{long}/manifest/")),
        Expect::Error(404),
    ));
    cases.push(case("a 60 KB status id", at(&format!("status/{long}/")), Expect::Error(404)));
    cases.push(bad("a 60 KB match[id]", &format!("match[id]={long}")));
    cases.push(bad(
        "an 8 KB match[id] within the query limit",
        &format!("match[id]={}", &long[..8000]),
    ));
    // Thousands of match values; repeated parameters.
    cases.push(good("1000 match[type] values", &format!("match[type]={}", types(1000))));
    cases.push(bad("1001 match[type] values", &format!("match[type]={}", types(1001))));
    cases.push(bad(
        "1001 values over two match parameters",
        &format!("match[type]={}&match[spec_version]=2.0,2.1", types(999)),
    ));
    cases.push(bad(
        "5000 match[type] values (past the length limit too)",
        &format!("match[type]={}", types(5000)),
    ));
    cases.push(bad(
        "100 match[id] parameters",
        &vec![format!("match[id]={INDICATOR}"); 100].join("&"),
    ));
    cases.push(good("a thousand unknown parameters", &vec!["x=1"; 1000].join("&")));
    cases.push(bad("unknown parameters past the length limit", &vec!["x=1"; 3000].join("&")));
    for query in [
        "limit=1&limit=1",
        "limit=1&%6Cimit=2",
        "added_after=2020-01-01T00:00:00Z&added_after=2020-01-01T00:00:00Z",
        "match[type]=indicator&match[type]=malware",
        "match[version]=all&match%5Bversion%5D=all",
        "match[spec_version]=2.1&match[spec_version]=2.0",
        "match[type]=indicator,indicator",
    ] {
        cases.push(bad(&format!("repeated {query}"), query));
    }
    // `limit`.
    for limit in ["0", "-1", "1e9", "ten", "", "+5", "5.0", "%205", "0x10", "%EF%BC%91"] {
        cases.push(bad(&format!("limit={limit}"), &format!("limit={limit}")));
    }
    for limit in ["1", "1000000000", "18446744073709551615", "18446744073709551616", &"9".repeat(1000)] {
        cases.push(good(&format!("limit={limit} (capped)"), &format!("limit={limit}")));
    }
    // Timestamps: every malformed form is a 400, valid ones with any offset and 0 to 9
    // (or more) fraction digits are taken, in `added_after` and `match[version]`.
    for ts in [
        "",
        "0",
        "yesterday",
        "2020-01-01",
        "2020-01-01T00:00:00",
        "2020-01-01%2000:00:00Z",
        "2020-01-01T00:00Z",
        "2020-1-1T0:0:0Z",
        "20200101T000000Z",
        "2020-13-01T00:00:00Z",
        "2020-00-10T00:00:00Z",
        "2020-02-30T00:00:00Z",
        "2019-02-29T00:00:00Z",
        "2020-01-32T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T00:60:00Z",
        "2020-01-01T00:00:61Z",
        "2020-01-01T00:00:00.Z",
        "2020-01-01T00:00:00,5Z",
        "2020-01-01T00:00:00ZZ",
        "2020-01-01T00:00:00+24:00",
        "2020-01-01T00:00:00+01",
        "2020-01-01T00:00:00+0100",
        "2020-01-01T00:00:00+01:60",
        "2020-01-01T00:00:00%2001:00",
        "-2020-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "%EF%BC%92020-01-01T00:00:00Z",
        "2020-01-01T00:00:00Z%00",
    ] {
        cases.push(bad(&format!("added_after={ts}"), &format!("added_after={ts}")));
        if !ts.is_empty() {
            cases.push(bad(&format!("match[version]={ts}"), &format!("match[version]={ts}")));
        }
    }
    let mut valid = vec![
        "2020-01-01T00:00:00Z".to_owned(),
        "2020-01-01t00:00:00z".to_owned(),
        "2020-01-01T01:00:00+01:00".to_owned(),
        "2020-01-01T01:00:00%2B01:00".to_owned(),
        "2019-12-31T18:30:00-05:30".to_owned(),
        "2020-01-01T00:00:00-00:00".to_owned(),
        "2016-12-31T23:59:60Z".to_owned(),
        "0000-01-01T00:00:00Z".to_owned(),
        "9999-12-31T23:59:59.999999999Z".to_owned(),
        format!("2020-01-01T00:00:00.{}Z", "1".repeat(30)),
    ];
    valid.extend((1..=9).map(|n| format!("2020-01-01T00:00:00.{}Z", "0".repeat(n))));
    for ts in &valid {
        cases.push(good(&format!("added_after={ts}"), &format!("added_after={ts}")));
        cases.push(good(&format!("match[version]={ts}"), &format!("match[version]={ts}")));
    }
    // `next`: forged, truncated, extended, from another collection, endpoint or query.
    let forged = [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "!!!!".to_owned(),
        "%00".to_owned(),
        token[..33].to_owned(),
        token[..32].to_owned(),
        format!("{token}A"),
        format!("{token}AAAA"),
        token.to_lowercase(),
        "A".repeat(8000),
    ];
    for next in &forged {
        cases.push(bad(&format!("forged next {:.40}", next), &format!("next={next}")));
    }
    cases.push(bad("next from another collection", &format!("next={other_token}")));
    cases.push(bad("next from the manifest", &format!("next={manifest_token}")));
    cases.push(bad("next from another query", &format!("next={typed_token}")));
    cases.push(bad("next with other filters", &format!("next={token}&match[type]=indicator")));
    cases.push(case(
        "next of objects on the manifest",
        coll(&format!("manifest/?next={token}")),
        Expect::Error(400),
    ));
    cases.push(good("next with its own query", &format!("next={token}")));
    cases.push(good(
        "next with another added_after",
        &format!("next={token}&added_after=2000-01-01T00:00:00Z"),
    ));

    // POST bodies, to the protected collection: nothing of these may be stored.
    let post = |name: &str, body: String, expect: Expect| post_case(name, COLLECTION, body, expect);
    let nested = |n: usize| format!("{{\"objects\":[{}{}]}}", "[".repeat(n), "]".repeat(n));
    cases.push(post("100,000 nested arrays", nested(100_000), Expect::Error(400)));
    cases.push(post(
        "100,000 nested objects",
        format!("{{\"objects\":[{}1{}]}}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
        Expect::Error(400),
    ));
    cases.push(post("101 levels deep", nested(DEFAULT_MAX_JSON_DEPTH - 1), Expect::Error(400)));
    cases.push(post(
        "nesting inside a valid object",
        envelope(&[ind.replacen('{', &format!("{{\"x\":{}{},", "[".repeat(200), "]".repeat(200)), 1)]),
        Expect::Error(400),
    ));
    cases.push(post("a huge number as the body", "1e999999".into(), Expect::Error(422)));
    cases.push(post("a million digits as the body", "9".repeat(1_000_000), Expect::Error(422)));
    cases.push(post(
        "duplicate \"objects\" keys",
        format!("{{\"objects\":[{ind}],\"objects\":[{ind}]}}"),
        Expect::Error(422),
    ));
    cases.push(post(
        "duplicate keys in an object",
        envelope(&[ind.replacen('{', "{\"id\":\"indicator--00000000-0000-4000-8000-000000000000\",", 1)]),
        Expect::AllFailed,
    ));
    cases.push(post(
        "a 100 KB id in an object",
        envelope(&[ind.replace(INDICATOR, &format!("indicator--{}", "a".repeat(100_000)))]),
        Expect::AllFailed,
    ));
    cases.push(post(
        "a 13 MB object, past max_content_length",
        envelope(&[ind.replacen('{', &format!("{{\"x\":\"{}\",", "a".repeat(13_000_000)), 1)]),
        Expect::Error(413),
    ));
    cases.push(post(
        "100,000 tiny objects",
        format!("{{\"objects\":[{}]}}", vec!["{}"; 100_000].join(",")),
        Expect::Error(413),
    ));
    cases.push(post(
        "10,000 tiny objects (the limit), each a failure",
        format!("{{\"objects\":[{}]}}", vec!["{}"; DEFAULT_MAX_OBJECTS_PER_ENVELOPE].join(",")),
        Expect::AllFailed,
    ));
    let whole = envelope(std::slice::from_ref(&ind));
    for cut in [1, 10, whole.len() / 2, whole.len() - 1] {
        cases.push(post(
            &format!("a body that stops after {cut} bytes"),
            whole[..cut].to_owned(),
            Expect::Error(400),
        ));
    }
    let mut broken = post("a body whose stream fails midway", String::new(), Expect::Error(400));
    broken.body = TestBody::Broken(Some(Bytes::from(whole[..whole.len() / 2].to_owned())));
    cases.push(broken);
    let mut liar = post("a Content-Length longer than the body", whole[..20].to_owned(), Expect::Error(400));
    liar.headers.push(("content-length", whole.len().to_string()));
    cases.push(liar);
    cases.push(post("an empty body", String::new(), Expect::Error(400)));
    cases.push(post_case(
        "a body that is not UTF-8",
        COLLECTION,
        &b"{\"objects\":[\"\xff\"]}"[..],
        Expect::Error(400),
    ));
    cases.push(post(
        "a lone surrogate escape",
        envelope(&[r#"{"type":"\ud800"}"#.to_owned()]),
        Expect::AllFailed,
    ));
    cases.push(post("an array, not an envelope", format!("[null,[{ind}]]"), Expect::Error(422)));
    cases.push(post(
        "a STIX bundle",
        format!("{{\"type\":\"bundle\",\"objects\":[{ind}]}}"),
        Expect::Error(422),
    ));
    let mut wrong_type = post("a JSON Content-Type", whole.clone(), Expect::Error(415));
    wrong_type.headers[1].1 = "application/json".into();
    cases.push(wrong_type);
    let mut wrong_accept = post("an Accept of HTML", whole.clone(), Expect::Error(406));
    wrong_accept.headers[0].1 = "text/html".into();
    cases.push(wrong_accept);
    let mut with_query = post("URL parameters on POST", whole.clone(), Expect::Error(400));
    with_query.uri.push_str("?limit=1");
    cases.push(with_query);
    // Headers and methods.
    let mut huge_accept = case("a 60 KB Accept list naming TAXII last", coll("objects/"), Expect::Ok(200));
    huge_accept.headers[0].1 = format!("{}{TAXII}", "text/x;q=0.1, ".repeat(4000));
    cases.push(huge_accept);
    let mut refused = case("a 60 KB Accept list of other types", coll("objects/"), Expect::Error(406));
    refused.headers[0].1 = format!("text/x{}", ";a=\"b,c;d\"".repeat(6000));
    cases.push(refused);
    for method in ["PUT", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO"] {
        let mut c = case(format!("method {method}"), coll("objects/"), Expect::Error(405));
        c.method = Method::from_bytes(method.as_bytes()).unwrap();
        cases.push(c);
    }

    let count = cases.len();
    for case in cases {
        let expect = case.expect;
        let (reply, name) = run(&service, case).await;
        match expect {
            Expect::Error(status) => {
                assert_eq!(reply.status.as_u16(), status, "{name}: {}", truncate(&reply.body));
                let body = reply.expect_error(status);
                let description = body["description"].as_str().unwrap_or_default();
                assert!(!description.is_empty(), "{name}: the error explains itself: {body}");
                assert!(description.len() < 200_000, "{name}: description of {} bytes", description.len());
            }
            Expect::Ok(status) => {
                assert_eq!(reply.status.as_u16(), status, "{name}: {}", truncate(&reply.body));
                reply.assert_taxii_content_type();
            }
            Expect::AllFailed => {
                assert_eq!(reply.status.as_u16(), 202, "{name}: {}", truncate(&reply.body));
                let status = reply.expect(202);
                assert_eq!(status["success_count"], 0, "{name}: {}", truncate(&reply.body));
                assert_eq!(status["failure_count"], status["total_count"], "{name}");
            }
        }
        // Still serving after each one.
        get(&service, &at("collections/")).await.expect(200);
    }
    println!("{count} catalogue cases");
    assert!(count > 150, "the catalogue has {count} cases");
    assert!(snapshot(&service).await == before, "the stored data changed");
    let page = get(&service, &coll(&format!("objects/?next={token}"))).await.expect(200);
    assert_eq!(
        page["objects"].as_array().map(Vec::len),
        Some(1),
        "a normal follow-up page still works"
    );
}

fn truncate(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

/// URIs of 64 KiB and more are refused by the `http` crate (and so by hyper, which
/// answers 414 itself) before any service sees them; raw non-ASCII bytes likewise.
#[test]
fn oversized_and_non_ascii_uris_never_reach_the_service() {
    let long = coll(&format!("objects/indicator--{}/", "a".repeat(100_000)));
    assert!(http::Uri::try_from(long.as_str()).is_err());
    assert!(http::Uri::try_from(&b"/api/v21/collections/\xff/"[..]).is_err());
    assert!(http::Uri::try_from(&b"/api/v21/collections/x/objects/?match[type]=\xc3\x28"[..]).is_err());
}

/// Requests that are meant to be stored are: huge numbers, objects nested to the
/// depth limit and a 10 MB object, each read back byte for byte.
#[tokio::test]
async fn large_but_valid_objects_are_stored_byte_for_byte() {
    let (_backend, service) = fixture();
    let big = sdo(INDICATOR, "2023-01-01T00:00:00.000Z").replacen('{', &format!("{{\"x\":\"{}\",", "a".repeat(10_000_000)), 1);
    // The envelope, its list and the object take three levels: the rest may nest 97 deep.
    let depth = DEFAULT_MAX_JSON_DEPTH - 3;
    let deep = sdo(MALWARE, "2023-01-01T00:00:00.000Z").replacen(
        '{',
        &format!(
            "{{\"x\":{}1e999999{},\"y\":-123456789012345678901234567890,",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        1,
    );
    for (id, object) in [(INDICATOR, big), (MALWARE, deep)] {
        let reply = run(
            &service,
            post_case("valid", SCRATCH, envelope(std::slice::from_ref(&object)), Expect::Ok(202)),
        )
        .await
        .0;
        let status = reply.expect(202);
        assert_eq!(status["success_count"], 1, "{}", truncate(&reply.body));
        let served = get(&service, &at(&format!("collections/{SCRATCH}/objects/{id}/"))).await;
        assert_eq!(served.status, 200);
        served.assert_taxii_content_type();
        assert!(
            served.body.ends_with(format!("[{object}]}}").as_bytes()),
            "{id} is served byte for byte"
        );
    }
}

/// Each limit at its edge, with the builder's setters.
#[tokio::test]
async fn limits_hold_at_their_edges_and_are_configurable() {
    assert_eq!(
        (DEFAULT_MAX_QUERY_LENGTH, DEFAULT_MAX_MATCH_VALUES, DEFAULT_MAX_JSON_DEPTH),
        (8192, 1000, 100)
    );
    let (backend, _) = fixture();
    let service = builder(&backend)
        .max_query_length(100)
        .max_match_values(3)
        .max_json_depth(4)
        .max_page_size(2)
        .max_objects_per_envelope(2)
        .build();
    let objects = coll("objects/");
    // Query length: 100 octets pass, 101 do not.
    let padded = |n: usize| format!("{objects}?x={}", "y".repeat(n - 2));
    get(&service, &padded(100)).await.expect(200);
    let e = get(&service, &padded(101)).await.expect_error(400);
    assert!(e["description"].as_str().unwrap().contains("at most 100"), "{e}");
    // Match values: three across parameters pass, four do not.
    get(
        &service,
        &format!("{objects}?match[type]=indicator,malware&match[spec_version]=2.1"),
    )
    .await
    .expect(200);
    let e = get(
        &service,
        &format!("{objects}?match[type]=indicator,malware&match[spec_version]=2.0,2.1"),
    )
    .await
    .expect_error(400);
    assert!(e["description"].as_str().unwrap().contains("more than 3 values"), "{e}");
    // Page size: capped, with `more` and `next`.
    let page = get(&service, &format!("{objects}?limit=1000000000&match[version]=all"))
        .await
        .expect(200);
    assert_eq!(page["objects"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["more"], true);
    // Depth: 4 levels pass (envelope, list, object, list), 5 do not; objects per envelope.
    let post = |body: String| run(&service, post_case("limit", SCRATCH, body, Expect::Ok(202)));
    let obj = |x: &str| sdo(MALWARE, "2023-01-01T00:00:00.000Z").replacen('{', &format!("{{\"x\":{x},"), 1);
    post(envelope(&[obj("[1]")])).await.0.expect(202);
    let e = post(envelope(&[obj("[[1]]")])).await.0.expect_error(400);
    assert!(e["description"].as_str().unwrap().contains("more than 4 levels"), "{e}");
    post(envelope(&[obj("1"), obj("2")])).await.0.expect(202);
    post(envelope(&[obj("1"), obj("2"), obj("3")])).await.0.expect_error(413);
    // The smallest settings still let an envelope of flat objects through.
    let tiny = builder(&backend).max_json_depth(0).max_match_values(0).build();
    run(&tiny, post_case("flat", SCRATCH, envelope(&[obj("1")]), Expect::Ok(202)))
        .await
        .0
        .expect(202);
    get(&tiny, &format!("{objects}?match[type]=indicator")).await.expect(200);
}

/// A `next` cursor carries no authority: the collection is checked for the principal
/// first (404 exactly like a missing one), and a cursor from a collection the principal
/// may read does not open another one.
#[tokio::test]
async fn next_cursors_reach_nothing_the_principal_may_not_read() {
    let (backend, _) = fixture();
    let policy = StaticPolicy::new()
        .grant("alice", ROOT, COLLECTION, Access::READ)
        .grant("alice", ROOT, OTHER, Access::READ)
        .grant("bob", ROOT, OTHER, Access::READ);
    let service = builder(&backend).access_policy(policy).build();
    let as_user = |user: &str, uri: String| {
        let mut request = Request::get(uri).header("accept", TAXII).body(String::new()).unwrap();
        request.extensions_mut().insert(Principal::named(user));
        send(&service, request)
    };
    for kind in ["objects/", "manifest/", &format!("objects/{INDICATOR}/versions/")] {
        let first = as_user("alice", coll(&format!("{kind}?limit=1&match[spec_version]=2.0,2.1")))
            .await
            .expect(200);
        let token = first["next"].as_str().expect("alice gets a next").to_owned();
        let follow = format!("{kind}?limit=1&match[spec_version]=2.0,2.1&next={token}");
        as_user("alice", coll(&follow)).await.expect(200);
        // Bob may not see COLLECTION: the token changes nothing, it is a 404 like without it.
        let without = as_user("bob", coll(kind)).await.expect_error(404);
        let with = as_user("bob", coll(&follow)).await.expect_error(404);
        assert_eq!(with, without, "{kind}: the cursor changes bob's answer");
        as_user("carol", coll(&follow)).await.expect_error(404);
        // In a collection bob may read, a cursor of another collection is refused.
        let elsewhere = at(&format!("collections/{OTHER}/{follow}"));
        let refused = as_user("bob", elsewhere).await.expect_error(400);
        let description = refused["description"].as_str().unwrap_or_default();
        assert!(!description.contains(COLLECTION), "{kind}: {refused}");
    }
    // The anonymous principal sees neither.
    let token = next_token(&builder(&backend).build(), &coll("objects/")).await;
    let anonymous = send(
        &service,
        Request::get(coll(&format!("objects/?next={token}")))
            .header("accept", TAXII)
            .body(String::new())
            .unwrap(),
    )
    .await;
    let body: Value = anonymous.expect_error(404);
    assert!(!body.to_string().contains("indicator--"), "{body}");
}
