//! The server on real data: the MITRE ATT&CK bundles of `../shared/data/attack/`
//! (see its README), loaded as the `serve` example loads them and queried in-process
//! through `tower::ServiceExt::oneshot`.
//!
//! Every expectation is computed here, from the bundle files, by code of this file
//! (`serde_json::Value` plus a small scanner for the objects' byte ranges), never
//! from the server. The documented semantics it encodes:
//! - a stored version is a distinct (id, version, spec_version), version = `modified`,
//!   else `created`, as a string; the first copy is kept, later copies are duplicates;
//! - versions order by instant, then `date_added` (`…00Z` and `…00.000Z` are two
//!   versions of one instant, the later added is the later); a `match[version]`
//!   timestamp matches every version at its instant;
//! - `date_added` order is the order in which versions were first seen;
//! - the default selection is, per object, the latest `modified` among the versions of
//!   its latest spec version; `match[version]` picks among the versions of the spec
//!   versions asked for; `added_after` applies last, to the selected versions;
//! - objects are returned byte-for-byte as they were in the file.
//!
//! Without the data directory the tests print `skipping: ...` and pass, unless `CI`
//! is set, in which case they fail.
#![cfg(feature = "memory")]

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use common::{ICS_RELEASES, MOBILE_17_1};
use http::StatusCode;
use serde_json::Value;
use support::{ROOT, Reply, at, collection_uri, is_taxii_timestamp, manifest_uri, object_uri, objects_uri, versions_uri};
use tower_taxii::{ApiRoot, CollectionInfo, LoadReport, MemoryBackend, TaxiiService, bundle_objects};

const STIX20: &str = "application/stix+json;version=2.0";
const STIX21: &str = "application/stix+json;version=2.1";

/// ICS 18.1's place in [`ICS_RELEASES`] (the six ICS 2.1 releases, oldest first).
const ICS_18_1: usize = 5;
const ICS_18_1_STIX20: &str = "ics-attack-18.1-stix20.json";
const ENTERPRISE_STIX20: &str = "enterprise-attack-18.1-stix20.json";

/// The collection ids the README names.
const ICS_COLLECTION: &str = "x-mitre-collection--90c00720-636b-4485-b342-8751d232bf09";
const MOBILE_COLLECTION: &str = "x-mitre-collection--dac0d2d7-8653-445c-9bff-82f934c1e858";
/// Explicit collection ids (the `serve` example's `ID=BUNDLE` form).
const MIXED_COLLECTION: &str = "ics-attack-18.1-both-spec-versions";
const ENTERPRISE_COLLECTION: &str = "enterprise-attack-18.1-stix20";

/// The README's figure for the six ICS releases: (versions per object, objects).
const README_HISTOGRAM: [(usize, usize); 6] = [(1, 508), (2, 1023), (3, 343), (4, 305), (5, 102), (6, 15)];
const README_ICS_OBJECTS: usize = 2296;
const README_ENTERPRISE_OBJECTS: usize = 24_771;

// ---------------------------------------------------------------------------------
// Reading the bundle files (independently of the crate).
// ---------------------------------------------------------------------------------

/// A bundle file: its bytes, its objects, and each object's byte range in the file.
struct Bundle {
    name: &'static str,
    bytes: Bytes,
    objects: Vec<Value>,
    slices: Vec<Range<usize>>,
}

impl Bundle {
    fn read(name: &'static str) -> Bundle {
        let path = common::attack_data_dir().join(name);
        let bytes = Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())));
        let whole: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        let Value::Object(mut whole) = whole else {
            panic!("{name} is not a JSON object")
        };
        let Some(Value::Array(objects)) = whole.remove("objects") else {
            panic!("{name} has no \"objects\" array")
        };
        let slices = object_slices(&bytes);
        assert_eq!(
            slices.len(),
            objects.len(),
            "{name}: the scanner found another number of objects than serde_json"
        );
        for (slice, object) in slices.iter().zip(&objects) {
            let scanned: Value = serde_json::from_slice(&bytes[slice.clone()]).unwrap_or_else(|e| panic!("{name}: scanned slice: {e}"));
            assert_eq!(
                &scanned, object,
                "{name}: the scanned slice {slice:?} is not the object serde_json read there"
            );
        }
        Bundle {
            name,
            bytes,
            objects,
            slices,
        }
    }

    /// The object's exact bytes in the file.
    fn raw(&self, i: usize) -> Bytes {
        self.bytes.slice(self.slices[i].clone())
    }
}

/// The byte ranges of the elements of a bundle's top-level `"objects"` array, found by
/// a scanner that only follows strings and nesting.
fn object_slices(json: &[u8]) -> Vec<Range<usize>> {
    let mut slices = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut string_start, mut last_string_at_top) = (0usize, 0..0);
    let (mut in_objects, mut start) = (false, 0usize);
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if depth == 1 {
                    last_string_at_top = string_start..i;
                }
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b'{' | b'[' => {
                if depth == 1 && b == b'[' && &json[last_string_at_top.clone()] == b"objects" {
                    in_objects = true;
                }
                if in_objects && depth == 2 && b == b'{' {
                    start = i;
                }
                depth += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                if in_objects && depth == 2 && b == b'}' {
                    slices.push(start..i + 1);
                }
                if depth == 1 {
                    in_objects = false;
                }
            }
            _ => {}
        }
    }
    slices
}

/// A STIX spec version as (major, minor).
type Spec = (u16, u16);

fn spec_of(object: &Value) -> Spec {
    match object.get("spec_version") {
        // ATT&CK has no cyber-observables, so no spec_version means STIX 2.0.
        None => (2, 0),
        Some(v) => parse_spec(v.as_str().expect("spec_version is a string")),
    }
}

fn parse_spec(s: &str) -> Spec {
    let (major, minor) = s.split_once('.').unwrap_or_else(|| panic!("spec version {s:?}"));
    (major.parse().unwrap(), minor.parse().unwrap())
}

/// A STIX timestamp as (`YYYY-MM-DDTHH:MM:SS`, nanoseconds): ordered like the instants.
type When = (String, u32);

fn when(timestamp: &str) -> When {
    let bad = || panic!("{timestamp:?} is not a UTC RFC 3339 timestamp of the form this suite reads");
    let body = timestamp.strip_suffix('Z').unwrap_or_else(bad);
    let (secs, fraction) = body.split_once('.').unwrap_or((body, ""));
    let shape = secs.bytes().enumerate().all(|(i, c)| match i {
        4 | 7 => c == b'-',
        10 => c == b'T',
        13 | 16 => c == b':',
        _ => c.is_ascii_digit(),
    });
    if secs.len() != 19 || !shape || fraction.len() > 9 || !fraction.bytes().all(|c| c.is_ascii_digit()) {
        bad();
    }
    (secs.to_owned(), format!("{fraction:0<9}").parse().unwrap())
}

// ---------------------------------------------------------------------------------
// The expected collection contents.
// ---------------------------------------------------------------------------------

/// What identifies a stored version: (id, version, spec_version).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    id: String,
    version: String,
    spec: Spec,
}

struct Stored {
    key: Key,
    object_type: String,
    when: When,
    /// Index of the bundle (in load order) the kept copy came from.
    source: usize,
    raw: Bytes,
    value: Value,
}

/// A collection as the documented semantics say the server holds it.
#[derive(Default)]
struct Model {
    /// In `date_added` order (first-seen order).
    versions: Vec<Stored>,
    by_id: HashMap<String, Vec<usize>>,
    /// Later copies of a stored version whose JSON differs from the kept first copy.
    differing_duplicates: usize,
    /// Versions stored beside another spelling of the same instant (`…00Z`, `…00.000Z`).
    respelled: usize,
}

#[derive(Clone, Copy, Default)]
enum Pick<'a> {
    #[default]
    Last,
    First,
    FirstLast,
    All,
    At(&'a str),
}

/// A query on the model; `after` keeps versions added after the version at that index.
#[derive(Clone, Copy, Default)]
struct Select<'a> {
    specs: Option<&'a [Spec]>,
    pick: Pick<'a>,
    types: Option<&'a [&'a str]>,
    ids: Option<&'a [&'a str]>,
    after: Option<usize>,
}

impl Model {
    /// Adds a bundle's objects in order; returns (new versions, duplicates).
    fn load(&mut self, bundle: &Bundle, source: usize) -> (usize, usize) {
        let (mut added, mut duplicates) = (0, 0);
        for (i, object) in bundle.objects.iter().enumerate() {
            let text = |name: &str| {
                object
                    .get(name)
                    .map(|v| v.as_str().unwrap_or_else(|| panic!("{name} is not a string")))
            };
            let id = text("id").expect("every object has an id").to_owned();
            let version = text("modified")
                .or_else(|| text("created"))
                .unwrap_or_else(|| panic!("{id} in {} has neither modified nor created", bundle.name))
                .to_owned();
            let spec = spec_of(object);
            let key = Key { id, version, spec };
            let when = when(&key.version);
            let kept = self.positions(&key.id).find(|&j| self.versions[j].key == key);
            if let Some(j) = kept {
                if self.versions[j].value != *object {
                    self.differing_duplicates += 1;
                }
                duplicates += 1;
                continue;
            }
            if self
                .positions(&key.id)
                .any(|j| self.versions[j].key.spec == spec && self.versions[j].when == when)
            {
                self.respelled += 1;
            }
            self.by_id.entry(key.id.clone()).or_default().push(self.versions.len());
            self.versions.push(Stored {
                object_type: text("type").expect("every object has a type").to_owned(),
                key,
                when,
                source,
                raw: bundle.raw(i),
                value: object.clone(),
            });
            added += 1;
        }
        (added, duplicates)
    }

    /// The indexes of one object's versions, in `date_added` order.
    fn positions(&self, id: &str) -> impl Iterator<Item = usize> + '_ {
        self.by_id.get(id).into_iter().flatten().copied()
    }

    /// The indexes of the selected versions, in `date_added` order.
    fn select(&self, q: &Select<'_>) -> Vec<usize> {
        let candidates: Vec<usize> = match q.ids {
            Some(ids) => {
                let mut positions: Vec<usize> = ids.iter().filter_map(|id| self.by_id.get(*id)).flatten().copied().collect();
                positions.sort_unstable();
                positions
            }
            None => (0..self.versions.len()).collect(),
        };
        candidates
            .into_iter()
            .filter(|&i| {
                let v = &self.versions[i];
                if q.types.is_some_and(|types| !types.contains(&v.object_type.as_str()))
                    || q.ids.is_some_and(|ids| !ids.contains(&v.key.id.as_str()))
                    || q.after.is_some_and(|after| i <= after)
                {
                    return false;
                }
                let siblings = &self.by_id[&v.key.id];
                let latest_spec = siblings.iter().map(|&j| self.versions[j].key.spec).max();
                let spec_ok = |j: usize| match q.specs {
                    Some(specs) => specs.contains(&self.versions[j].key.spec),
                    None => Some(self.versions[j].key.spec) == latest_spec,
                };
                if !spec_ok(i) {
                    return false;
                }
                // Versions order by instant, then spec version, then date_added (two spellings
                // of one instant are two versions); a timestamp matches every version at its instant.
                let order = |j: usize| (&self.versions[j].when, self.versions[j].key.spec, j);
                let candidates = || siblings.iter().copied().filter(|&j| spec_ok(j)).map(order);
                let (is_last, is_first) = (candidates().max() == Some(order(i)), candidates().min() == Some(order(i)));
                match q.pick {
                    Pick::All => true,
                    Pick::Last => is_last,
                    Pick::First => is_first,
                    Pick::FirstLast => is_last || is_first,
                    Pick::At(t) => v.when == when(t),
                }
            })
            .collect()
    }

    fn keys(&self, selected: &[usize]) -> Vec<Key> {
        selected.iter().map(|&i| self.versions[i].key.clone()).collect()
    }

    /// Object ids in the order their first version was added.
    fn ids(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.versions
            .iter()
            .map(|v| v.key.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// One object's version strings, in `date_added` order.
    fn version_strings(&self, selected: &[usize]) -> Vec<String> {
        selected.iter().map(|&i| self.versions[i].key.version.clone()).collect()
    }
}

// ---------------------------------------------------------------------------------
// Loading the server, as the `serve` example does.
// ---------------------------------------------------------------------------------

/// The collection a bundle names with its `x-mitre-collection` object (serve's rule).
fn mitre_collection(objects: &[Bytes]) -> Option<CollectionInfo> {
    objects.iter().find_map(|json| {
        let value: Value = serde_json::from_slice(json).ok()?;
        if value["type"] != "x-mitre-collection" {
            return None;
        }
        let id = value["id"].as_str()?;
        let mut info = CollectionInfo::new(id, value["name"].as_str().unwrap_or(id));
        if let Some(description) = value["description"].as_str() {
            info = info.description(description);
        }
        Some(info)
    })
}

/// Loads a bundle like `serve [ID=]BUNDLE`: into collection `id` if given, else into
/// the collection its `x-mitre-collection` object names. Returns that collection's id.
fn load_like_serve(backend: &MemoryBackend, id: Option<&str>, bundle: &Bundle) -> (String, LoadReport) {
    let objects = bundle_objects(&bundle.bytes).unwrap_or_else(|e| panic!("{}: {e}", bundle.name));
    let info = match (id, mitre_collection(&objects)) {
        (Some(id), Some(named)) => CollectionInfo {
            id: id.to_owned(),
            ..named
        },
        (Some(id), None) => CollectionInfo::new(id, id),
        (None, Some(named)) => named,
        (None, None) => panic!("{} has no x-mitre-collection object: give a collection id", bundle.name),
    };
    let collection = info.id.clone();
    backend.add_collection(ROOT, info);
    let report = backend
        .load_bundle(ROOT, &collection, &bundle.bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", bundle.name));
    (collection, report)
}

fn service(backend: Arc<MemoryBackend>) -> TaxiiService {
    TaxiiService::builder(backend)
        .title("tower-taxii on ATT&CK")
        .api_root(ROOT, ApiRoot::new("TAXII 2.1 API root"))
        .build()
}

/// The shared server: ICS history, Mobile, and ICS 18.1 in both spec versions.
struct Fixture {
    service: TaxiiService,
    ics: Model,
    /// (bundle name, expected (added, duplicates), server's report) per ICS load.
    ics_loads: Vec<(&'static str, (usize, usize), LoadReport)>,
    mobile: Model,
    mobile_load: ((usize, usize), LoadReport),
    mixed: Model,
    mixed_loads: Vec<(&'static str, (usize, usize), LoadReport)>,
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    let fixture = FIXTURE.get_or_init(|| {
        let mut needed = ICS_RELEASES.to_vec();
        needed.extend([ICS_18_1_STIX20, MOBILE_17_1]);
        if let Some(missing) = common::missing_attack_bundle(needed) {
            return Err(missing);
        }
        let started = Instant::now();
        let backend = Arc::new(MemoryBackend::new());
        let releases: Vec<Bundle> = ICS_RELEASES.iter().map(|name| Bundle::read(name)).collect();

        let mut ics = Model::default();
        let mut ics_loads = Vec::new();
        for (source, bundle) in releases.iter().enumerate() {
            let expected = ics.load(bundle, source);
            let (collection, report) = load_like_serve(&backend, None, bundle);
            assert_eq!(collection, ICS_COLLECTION, "{} names another collection", bundle.name);
            ics_loads.push((bundle.name, expected, report));
        }

        let mobile_bundle = Bundle::read(MOBILE_17_1);
        let mut mobile = Model::default();
        let expected = mobile.load(&mobile_bundle, 0);
        let (collection, report) = load_like_serve(&backend, None, &mobile_bundle);
        assert_eq!(collection, MOBILE_COLLECTION);
        let mobile_load = (expected, report);

        let stix20 = Bundle::read(ICS_18_1_STIX20);
        let mut mixed = Model::default();
        let mut mixed_loads = Vec::new();
        for (source, bundle) in [&releases[ICS_18_1], &stix20].into_iter().enumerate() {
            let expected = mixed.load(bundle, source);
            let (collection, report) = load_like_serve(&backend, Some(MIXED_COLLECTION), bundle);
            assert_eq!(collection, MIXED_COLLECTION);
            mixed_loads.push((bundle.name, expected, report));
        }
        eprintln!("fixture: read and loaded 9 bundles in {:?}", started.elapsed());
        Ok(Fixture {
            service: service(backend),
            ics,
            ics_loads,
            mobile,
            mobile_load,
            mixed,
            mixed_loads,
        })
    });
    match fixture {
        Ok(fixture) => Some(fixture),
        Err(reason) => {
            common::skip_or_fail(reason);
            None
        }
    }
}

// ---------------------------------------------------------------------------------
// Talking to the service.
// ---------------------------------------------------------------------------------

/// What only these tests ask of the shared [`Reply`].
impl Reply {
    /// The X-TAXII-Date-Added-First/Last pair, checked to be both there or both absent.
    fn date_headers(&self) -> Option<(String, String)> {
        match (self.header("x-taxii-date-added-first"), self.header("x-taxii-date-added-last")) {
            (Some(first), Some(last)) => {
                assert!(
                    is_taxii_timestamp(first) && is_taxii_timestamp(last),
                    "GET {}: {first} / {last}",
                    self.uri
                );
                Some((first.to_owned(), last.to_owned()))
            }
            (None, None) => None,
            other => panic!("GET {}: only one X-TAXII-Date-Added header: {other:?}", self.uri),
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

async fn get(service: &TaxiiService, path: &str, params: &[(&str, &str)]) -> Reply {
    let mut uri = path.to_owned();
    for (i, (key, value)) in params.iter().enumerate() {
        let _ = write!(
            uri,
            "{}{}={}",
            if i == 0 { '?' } else { '&' },
            percent_encode(key),
            percent_encode(value)
        );
    }
    support::get(service, &uri).await
}

/// The items under `key` (`objects` or `versions`) of a TAXII resource; an absent key
/// is no items, and a present one must not be an empty list (TAXII lists have ≥ 1 item).
fn items(resource: &Value, key: &str, uri: &str) -> Vec<Value> {
    match resource.get(key) {
        None => Vec::new(),
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(other) => panic!("GET {uri}: \"{key}\" is {other}"),
    }
}

/// A whole walk through the pages of one query.
struct Walk {
    items: Vec<Value>,
    /// Each page's X-TAXII-Date-Added-First/Last.
    page_dates: Vec<Option<(String, String)>>,
    /// Each page's body.
    bodies: Vec<Bytes>,
}

/// Follows `next` from the first page until `more` is false (or `max_pages` pages).
async fn walk(service: &TaxiiService, path: &str, params: &[(&str, &str)], limit: usize, key: &str, max_pages: Option<usize>) -> Walk {
    let limit_text = limit.to_string();
    let mut next: Option<String> = None;
    let mut walked = Walk {
        items: Vec::new(),
        page_dates: Vec::new(),
        bodies: Vec::new(),
    };
    loop {
        let mut page_params = params.to_vec();
        page_params.push(("limit", &limit_text));
        if let Some(next) = &next {
            page_params.push(("next", next));
        }
        let reply = get(service, path, &page_params).await;
        let resource = reply.expect(200);
        let page = items(&resource, key, &reply.uri);
        assert!(
            page.len() <= limit,
            "GET {}: {} items on a page of limit {limit}",
            reply.uri,
            page.len()
        );
        let dates = reply.date_headers();
        assert_eq!(
            dates.is_some(),
            !page.is_empty(),
            "GET {}: date headers iff the page has items",
            reply.uri
        );
        if key == "objects" && path.ends_with("/manifest/") {
            if let Some((first, last)) = &dates {
                assert_eq!(page[0]["date_added"], **first, "GET {}: X-TAXII-Date-Added-First", reply.uri);
                assert_eq!(
                    page[page.len() - 1]["date_added"],
                    **last,
                    "GET {}: X-TAXII-Date-Added-Last",
                    reply.uri
                );
            }
        }
        walked.items.extend(page);
        walked.page_dates.push(dates);
        walked.bodies.push(reply.body.clone());
        match resource.get("more") {
            Some(Value::Bool(true)) => {
                let token = resource["next"].as_str();
                next = Some(
                    token
                        .unwrap_or_else(|| panic!("GET {}: more is true without next", reply.uri))
                        .to_owned(),
                );
            }
            None | Some(Value::Bool(false)) => {
                assert!(resource.get("next").is_none(), "GET {}: next without more", reply.uri);
                return walked;
            }
            Some(other) => panic!("GET {}: more is {other}", reply.uri),
        }
        if max_pages.is_some_and(|max| walked.page_dates.len() >= max) {
            return walked;
        }
    }
}

/// One page that must hold the whole answer (limit 10000, the default cap).
async fn all_in_one_page(service: &TaxiiService, path: &str, params: &[(&str, &str)], key: &str) -> (Vec<Value>, Reply) {
    let mut page_params = params.to_vec();
    page_params.push(("limit", "10000"));
    let reply = get(service, path, &page_params).await;
    let resource = reply.expect(200);
    assert!(
        resource.get("more").is_none_or(|m| m == false),
        "GET {}: more than one page",
        reply.uri
    );
    let found = items(&resource, key, &reply.uri);
    (found, reply)
}

fn key_of_object(object: &Value) -> Key {
    let id = object["id"].as_str().expect("an object id").to_owned();
    let version = object.get("modified").or_else(|| object.get("created"));
    Key {
        id,
        version: version.and_then(Value::as_str).expect("modified or created").to_owned(),
        spec: spec_of(object),
    }
}

fn key_of_record(record: &Value) -> Key {
    let media_type = record["media_type"].as_str().expect("a manifest record's media_type");
    let spec = media_type
        .strip_prefix("application/stix+json;version=")
        .unwrap_or_else(|| panic!("media_type {media_type:?}"));
    Key {
        id: record["id"].as_str().expect("a manifest record's id").to_owned(),
        version: record["version"].as_str().expect("a manifest record's version").to_owned(),
        spec: parse_spec(spec),
    }
}

/// Equal lists, or a panic saying where they first differ (not the whole lists).
fn assert_same<T: PartialEq + std::fmt::Debug>(context: &str, got: &[T], expected: &[T]) {
    if got == expected {
        return;
    }
    let at = got
        .iter()
        .zip(expected)
        .position(|(g, e)| g != e)
        .unwrap_or(got.len().min(expected.len()));
    panic!(
        "{context}: {} items, expected {}; first difference at index {at}: got {:?}, expected {:?}",
        got.len(),
        expected.len(),
        got.get(at),
        expected.get(at)
    );
}

fn assert_no_repeats(context: &str, keys: &[Key]) {
    let mut seen = HashSet::new();
    if let Some(repeated) = keys.iter().find(|k| !seen.insert(*k)) {
        panic!("{context}: {repeated:?} appears twice");
    }
}

/// The served objects are the expected versions, in order, each equal to the file's object.
fn assert_objects(context: &str, got: &[Value], model: &Model, expected: &[usize]) {
    let keys: Vec<Key> = got.iter().map(key_of_object).collect();
    assert_same(context, &keys, &model.keys(expected));
    for (object, &i) in got.iter().zip(expected) {
        assert!(
            *object == model.versions[i].value,
            "{context}: {:?} differs from the file's object",
            model.versions[i].key
        );
    }
}

/// The manifest records are the expected versions, in order, with strictly increasing
/// TAXII-format `date_added`.
fn assert_records(context: &str, got: &[Value], model: &Model, expected: &[usize]) {
    let keys: Vec<Key> = got.iter().map(key_of_record).collect();
    assert_same(context, &keys, &model.keys(expected));
    let dates: Vec<&str> = got.iter().map(|r| r["date_added"].as_str().expect("a date_added string")).collect();
    if let Some(bad) = dates.iter().find(|d| !is_taxii_timestamp(d)) {
        panic!("{context}: date_added {bad:?} is not a TAXII timestamp");
    }
    if let Some(w) = dates.windows(2).find(|w| w[0] >= w[1]) {
        panic!("{context}: date_added not strictly increasing: {} then {}", w[0], w[1]);
    }
}

/// Every expected object's raw bytes appear verbatim in `body`, in order.
fn assert_raw_in_order(context: &str, body: &[u8], model: &Model, expected: &[usize]) {
    let mut from = 0;
    for &i in expected {
        let raw = &model.versions[i].raw;
        match body[from..].windows(raw.len()).position(|w| w == &raw[..]) {
            Some(at) => from += at + raw.len(),
            None => panic!(
                "{context}: the bytes of {:?} as in the file ({} bytes) are not in the body after offset {from}",
                model.versions[i].key,
                raw.len()
            ),
        }
    }
}

fn histogram(lengths: impl IntoIterator<Item = usize>) -> Vec<(usize, usize)> {
    let mut counts = BTreeMap::new();
    for n in lengths {
        *counts.entry(n).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

// ---------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn bundles_load_with_no_rejection_and_the_expected_duplicates() {
    let Some(f) = fixture() else { return };
    let loads = f.ics_loads.iter().chain(&f.mixed_loads);
    let mobile = std::iter::once((MOBILE_17_1, f.mobile_load.0, f.mobile_load.1.clone()));
    for (name, (added, duplicates), report) in loads.cloned().chain(mobile) {
        assert!(report.rejected.is_empty(), "{name}: rejected {:?}", report.rejected);
        assert_eq!(
            (report.added, report.duplicates),
            (added, duplicates),
            "{name}: (added, duplicates)"
        );
    }
    // The ICS releases re-publish some versions with other content: the first copy is kept.
    assert!(
        f.ics.differing_duplicates > 0,
        "the ICS data no longer exercises the first-copy rule"
    );
    eprintln!(
        "ICS: {} versions of {} objects; {} later copies differ from the kept first copy; {} versions re-spell an instant",
        f.ics.versions.len(),
        f.ics.ids().len(),
        f.ics.differing_duplicates,
        f.ics.respelled
    );
}

#[tokio::test]
async fn ics_version_histogram_matches_the_readme_and_the_versions_endpoint() {
    let Some(f) = fixture() else { return };
    let ids = f.ics.ids();
    let expected = histogram(ids.iter().map(|id| f.ics.by_id[*id].len()));
    assert_eq!(ids.len(), README_ICS_OBJECTS, "distinct ICS objects");
    assert_eq!(expected, README_HISTOGRAM, "versions per ICS object, computed from the files");

    let mut served = Vec::new();
    for id in &ids {
        let reply = get(&f.service, &versions_uri(ICS_COLLECTION, id), &[]).await;
        let resource = reply.expect(200);
        assert!(resource.get("more").is_none(), "GET {}: more", reply.uri);
        assert!(reply.date_headers().is_some(), "GET {}: no X-TAXII-Date-Added headers", reply.uri);
        let versions: Vec<String> = items(&resource, "versions", &reply.uri)
            .iter()
            .map(|v| v.as_str().expect("a version string").to_owned())
            .collect();
        // Every version, in date_added (first-seen) order.
        assert_same(&format!("GET {}", reply.uri), &versions, &f.ics.version_strings(&f.ics.by_id[*id]));
        served.push(versions.len());
    }
    assert_eq!(histogram(served), README_HISTOGRAM, "versions per ICS object, served");

    // An object the collection does not hold.
    let absent = f.mobile.ids().into_iter().find(|id| !f.ics.by_id.contains_key(*id)).unwrap();
    let reply = get(&f.service, &versions_uri(ICS_COLLECTION, absent), &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "GET {}", reply.uri);
}

#[tokio::test]
async fn latest_version_counts_per_type() {
    let Some(f) = fixture() else { return };
    for (collection, model) in [(ICS_COLLECTION, &f.ics), (MOBILE_COLLECTION, &f.mobile)] {
        let latest = model.select(&Select::default());
        let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in &latest {
            *per_type.entry(&model.versions[i].object_type).or_default() += 1;
        }
        eprintln!("{collection}: {} latest objects: {per_type:?}", latest.len());
        let path = objects_uri(collection);
        let mut served_total = 0;
        for (object_type, &count) in &per_type {
            let (objects, reply) = all_in_one_page(&f.service, &path, &[("match[type]", object_type)], "objects").await;
            let expected = model.select(&Select {
                types: Some(&[object_type]),
                ..Select::default()
            });
            assert_eq!(objects.len(), count, "GET {}: count", reply.uri);
            assert_objects(&format!("GET {}", reply.uri), &objects, model, &expected);
            served_total += objects.len();
        }
        assert_eq!(served_total, latest.len(), "{collection}: the per-type counts add up");

        let (objects, reply) = all_in_one_page(&f.service, &path, &[], "objects").await;
        assert_eq!(objects.len(), latest.len(), "GET {}: unfiltered total", reply.uri);
        assert_objects(&format!("GET {}", reply.uri), &objects, model, &latest);
        let (records, reply) = all_in_one_page(&f.service, &manifest_uri(collection), &[], "objects").await;
        assert_records(&format!("GET {}", reply.uri), &records, model, &latest);

        // Two types at once, and a type the collection does not hold.
        let two = ["attack-pattern", "malware"];
        let (objects, reply) = all_in_one_page(&f.service, &path, &[("match[type]", &two.join(","))], "objects").await;
        let expected = model.select(&Select {
            types: Some(&two),
            ..Select::default()
        });
        assert_objects(&format!("GET {}", reply.uri), &objects, model, &expected);
        let reply = get(&f.service, &path, &[("match[type]", "indicator")]).await;
        assert_eq!(reply.expect(200), serde_json::json!({}), "GET {}", reply.uri);
        assert_eq!(reply.date_headers(), None, "GET {}", reply.uri);
    }
}

#[tokio::test]
async fn match_version_on_the_objects_endpoint() {
    let Some(f) = fixture() else { return };
    let path = objects_uri(ICS_COLLECTION);
    let manifest = manifest_uri(ICS_COLLECTION);
    let cases = [
        (None, Pick::Last),
        (Some("last"), Pick::Last),
        (Some("first"), Pick::First),
        (Some("all"), Pick::All),
        (Some("first,last"), Pick::FirstLast),
    ];
    for (param, pick) in cases {
        let params: Vec<(&str, &str)> = param.map(|p| ("match[version]", p)).into_iter().collect();
        let expected = f.ics.select(&Select { pick, ..Select::default() });
        let (objects, reply) = all_in_one_page(&f.service, &path, &params, "objects").await;
        assert_objects(&format!("GET {}", reply.uri), &objects, &f.ics, &expected);
        let (records, reply) = all_in_one_page(&f.service, &manifest, &params, "objects").await;
        assert_records(&format!("GET {}", reply.uri), &records, &f.ics, &expected);
    }
    // `first` and `last` differ where versions exist, and `all` is every stored version.
    assert_eq!(
        f.ics
            .select(&Select {
                pick: Pick::All,
                ..Select::default()
            })
            .len(),
        f.ics.versions.len()
    );
    assert_ne!(
        f.ics.select(&Select::default()),
        f.ics.select(&Select {
            pick: Pick::First,
            ..Select::default()
        })
    );
}

#[tokio::test]
async fn match_version_on_the_object_endpoint() {
    let Some(f) = fixture() else { return };
    let mut timestamps_checked = 0;
    for id in f.ics.ids() {
        let path = object_uri(ICS_COLLECTION, id);
        let ids = [id];
        for (param, pick) in [(None, Pick::Last), (Some("first"), Pick::First), (Some("all"), Pick::All)] {
            let params: Vec<(&str, &str)> = param.map(|p| ("match[version]", p)).into_iter().collect();
            let reply = get(&f.service, &path, &params).await;
            let objects = items(&reply.expect(200), "objects", &reply.uri);
            let expected = f.ics.select(&Select {
                pick,
                ids: Some(&ids),
                ..Select::default()
            });
            assert_objects(&format!("GET {}", reply.uri), &objects, &f.ics, &expected);
        }
        // A version named by its timestamp: the middle one of objects with three or more.
        let versions = &f.ics.by_id[id];
        if versions.len() >= 3 {
            let version = &f.ics.versions[versions[versions.len() / 2]].key.version;
            let reply = get(&f.service, &path, &[("match[version]", version)]).await;
            let objects = items(&reply.expect(200), "objects", &reply.uri);
            let expected = f.ics.select(&Select {
                pick: Pick::At(version),
                ids: Some(&ids),
                ..Select::default()
            });
            assert_eq!(expected.len(), 1);
            assert_objects(&format!("GET {}", reply.uri), &objects, &f.ics, &expected);
            timestamps_checked += 1;
        }
    }
    assert!(timestamps_checked > 700, "{timestamps_checked} objects with three or more versions");

    // A timestamp that is no version of the object, and an object not in the collection.
    let id = f.ics.ids()[0];
    let reply = get(
        &f.service,
        &object_uri(ICS_COLLECTION, id),
        &[("match[version]", "1999-01-01T00:00:00.000Z")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "GET {}", reply.uri);
    let absent = f.mobile.ids().into_iter().find(|id| !f.ics.by_id.contains_key(*id)).unwrap();
    let reply = get(&f.service, &object_uri(ICS_COLLECTION, absent), &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "GET {}", reply.uri);
}

#[tokio::test]
async fn paged_walks_equal_the_unpaged_answer() {
    let Some(f) = fixture() else { return };
    let objects = objects_uri(ICS_COLLECTION);
    let manifest = manifest_uri(ICS_COLLECTION);
    let latest = f.ics.select(&Select::default());
    let every = f.ics.select(&Select {
        pick: Pick::All,
        ..Select::default()
    });

    let (unpaged_objects, _) = all_in_one_page(&f.service, &objects, &[], "objects").await;
    let (unpaged_records, _) = all_in_one_page(&f.service, &manifest, &[], "objects").await;
    assert_objects("unpaged objects", &unpaged_objects, &f.ics, &latest);
    assert_records("unpaged manifest", &unpaged_records, &f.ics, &latest);
    let unpaged_keys: Vec<Key> = unpaged_objects.iter().map(key_of_object).collect();

    for limit in [7, 100, 1000] {
        let context = format!("objects walked at limit {limit}");
        let walked = walk(&f.service, &objects, &[], limit, "objects", None).await;
        let keys: Vec<Key> = walked.items.iter().map(key_of_object).collect();
        assert_no_repeats(&context, &keys);
        assert_same(&context, &keys, &unpaged_keys);
        assert_objects(&context, &walked.items, &f.ics, &latest);

        let context = format!("manifest walked at limit {limit}");
        let records = walk(&f.service, &manifest, &[], limit, "objects", None).await;
        let keys: Vec<Key> = records.items.iter().map(key_of_record).collect();
        assert_no_repeats(&context, &keys);
        assert_same(&context, &keys, &unpaged_keys);
        assert_same(&context, &records.items, &unpaged_records);
        // The same query pages the same way on both endpoints.
        assert_same(
            &format!("date headers per page at limit {limit}"),
            &walked.page_dates,
            &records.page_dates,
        );
    }

    for limit in [100, 1000] {
        let context = format!("match[version]=all walked at limit {limit}");
        let params = [("match[version]", "all")];
        let walked = walk(&f.service, &objects, &params, limit, "objects", None).await;
        assert_no_repeats(&context, &walked.items.iter().map(key_of_object).collect::<Vec<_>>());
        assert_objects(&context, &walked.items, &f.ics, &every);
        let records = walk(&f.service, &manifest, &params, limit, "objects", None).await;
        assert_records(&context, &records.items, &f.ics, &every);
    }

    // limit=1 over every small type, on both endpoints.
    let mut per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &latest {
        *per_type.entry(&f.ics.versions[i].object_type).or_default() += 1;
    }
    let small: Vec<&str> = per_type.iter().filter(|(_, n)| **n <= 20).map(|(t, _)| *t).collect();
    assert!(
        small.iter().any(|t| per_type[t] > 5),
        "a small type with several objects: {per_type:?}"
    );
    for object_type in small {
        let types = [object_type];
        let expected = f.ics.select(&Select {
            types: Some(&types),
            ..Select::default()
        });
        let params = [("match[type]", object_type)];
        let context = format!("match[type]={object_type} walked at limit 1");
        let walked = walk(&f.service, &objects, &params, 1, "objects", None).await;
        assert_eq!(walked.page_dates.len(), expected.len(), "{context}: pages");
        assert_objects(&context, &walked.items, &f.ics, &expected);
        let records = walk(&f.service, &manifest, &params, 1, "objects", None).await;
        assert_records(&context, &records.items, &f.ics, &expected);
    }

    // limit=1 over the whole collection, for a bounded number of pages.
    let pages = 40;
    let walked = walk(&f.service, &objects, &[], 1, "objects", Some(pages)).await;
    assert_eq!(walked.items.len(), pages);
    assert_objects("the first pages at limit 1", &walked.items, &f.ics, &latest[..pages]);

    // Mobile too, at one limit.
    let mobile_latest = f.mobile.select(&Select::default());
    let walked = walk(&f.service, &objects_uri(MOBILE_COLLECTION), &[], 100, "objects", None).await;
    assert_objects("Mobile objects walked at limit 100", &walked.items, &f.mobile, &mobile_latest);
}

#[tokio::test]
async fn added_after_at_date_added_boundaries() {
    let Some(f) = fixture() else { return };
    let objects = objects_uri(ICS_COLLECTION);
    let manifest = manifest_uri(ICS_COLLECTION);
    let every = f.ics.select(&Select {
        pick: Pick::All,
        ..Select::default()
    });
    let (all_records, _) = all_in_one_page(&f.service, &manifest, &[("match[version]", "all")], "objects").await;
    // date_added order is first-seen order, strictly increasing.
    assert_records("manifest of every version", &all_records, &f.ics, &every);

    let latest = f.ics.select(&Select::default());
    let boundaries = [
        // The last version the oldest release brought.
        f.ics.versions.iter().rposition(|v| v.source == 0).unwrap(),
        // The version of the middle record of the default manifest.
        latest[latest.len() / 2],
        // The last version of the release before the current one.
        f.ics.versions.iter().rposition(|v| v.source == ICS_18_1 - 1).unwrap(),
    ];
    for boundary in boundaries {
        let date_added = all_records[boundary]["date_added"].as_str().unwrap();
        let after = [("added_after", date_added)];
        for (pick_param, pick) in [(None, Pick::Last), (Some("all"), Pick::All), (Some("first"), Pick::First)] {
            let mut params = after.to_vec();
            params.extend(pick_param.map(|p| ("match[version]", p)));
            let expected = f.ics.select(&Select {
                pick,
                after: Some(boundary),
                ..Select::default()
            });
            assert!(!expected.is_empty());
            let (served, reply) = all_in_one_page(&f.service, &objects, &params, "objects").await;
            assert_objects(&format!("GET {}", reply.uri), &served, &f.ics, &expected);
            let (records, reply) = all_in_one_page(&f.service, &manifest, &params, "objects").await;
            assert_records(&format!("GET {}", reply.uri), &records, &f.ics, &expected);
            assert!(records[0]["date_added"].as_str().unwrap() > date_added, "GET {}", reply.uri);
            // Paged with added_after kept on every request.
            let walked = walk(&f.service, &objects, &params, 100, "objects", None).await;
            assert_objects(&format!("{params:?} walked at limit 100"), &walked.items, &f.ics, &expected);
        }
    }

    // One object with versions on both sides of the first boundary: object and versions endpoints.
    let boundary = boundaries[0];
    let date_added = all_records[boundary]["date_added"].as_str().unwrap();
    let id = f
        .ics
        .ids()
        .into_iter()
        .find(|id| {
            let versions = &f.ics.by_id[*id];
            versions[0] <= boundary && versions.len() >= 3 && versions[versions.len() - 2] > boundary
        })
        .expect("an object with versions before and after the boundary");
    let ids = [id];
    let expected = f.ics.select(&Select {
        pick: Pick::All,
        ids: Some(&ids),
        after: Some(boundary),
        ..Select::default()
    });
    assert!(expected.len() >= 2);
    let reply = get(
        &f.service,
        &object_uri(ICS_COLLECTION, id),
        &[("added_after", date_added), ("match[version]", "all")],
    )
    .await;
    assert_objects(
        &format!("GET {}", reply.uri),
        &items(&reply.expect(200), "objects", &reply.uri),
        &f.ics,
        &expected,
    );
    let reply = get(&f.service, &versions_uri(ICS_COLLECTION, id), &[("added_after", date_added)]).await;
    let versions: Vec<String> = items(&reply.expect(200), "versions", &reply.uri)
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_same(&format!("GET {}", reply.uri), &versions, &f.ics.version_strings(&expected));

    // After the last date_added there is nothing: the empty envelope, no date headers.
    let last = all_records.last().unwrap()["date_added"].as_str().unwrap();
    for path in [&objects, &manifest] {
        let reply = get(&f.service, path, &[("added_after", last)]).await;
        assert_eq!(reply.expect(200), serde_json::json!({}), "GET {}", reply.uri);
        assert_eq!(reply.date_headers(), None, "GET {}", reply.uri);
    }
}

#[tokio::test]
async fn objects_are_served_byte_for_byte() {
    let Some(f) = fixture() else { return };
    let cases = [
        (ICS_COLLECTION, &f.ics, None),
        (ICS_COLLECTION, &f.ics, Some("all")),
        (MOBILE_COLLECTION, &f.mobile, None),
    ];
    for (collection, model, pick_param) in cases {
        let params: Vec<(&str, &str)> = pick_param.map(|p| ("match[version]", p)).into_iter().collect();
        let pick = if pick_param.is_some() { Pick::All } else { Pick::Last };
        let expected = model.select(&Select { pick, ..Select::default() });
        // The files are pretty-printed: the objects' bytes carry their indentation.
        let indented = expected
            .iter()
            .filter(|&&i| model.versions[i].raw.windows(9).any(|w| w == b"\n        "))
            .count();
        assert_eq!(indented, expected.len(), "objects with indentation inside");
        let (objects, reply) = all_in_one_page(&f.service, &objects_uri(collection), &params, "objects").await;
        let context = format!("GET {}", reply.uri);
        assert_objects(&context, &objects, model, &expected);
        assert_raw_in_order(&context, &reply.body, model, &expected);
        // Paged bodies too.
        let walked = walk(&f.service, &objects_uri(collection), &params, 1000, "objects", None).await;
        let mut from = 0;
        for body in &walked.bodies {
            let on_page = objects_in(body);
            assert_raw_in_order(&format!("{context} at limit 1000"), body, model, &expected[from..from + on_page]);
            from += on_page;
        }
        assert_eq!(from, expected.len());
    }

    // The object endpoint, for the versions the later releases re-published with other content.
    let mut checked = 0;
    for id in f.ics.ids() {
        let versions = &f.ics.by_id[id];
        let reply = get(&f.service, &object_uri(ICS_COLLECTION, id), &[("match[version]", "all")]).await;
        assert_raw_in_order(&format!("GET {}", reply.uri), &reply.body, &f.ics, versions);
        checked += 1;
    }
    assert_eq!(checked, README_ICS_OBJECTS);
}

/// How many objects an envelope body holds.
fn objects_in(body: &[u8]) -> usize {
    let resource: Value = serde_json::from_slice(body).unwrap();
    resource.get("objects").and_then(Value::as_array).map_or(0, Vec::len)
}

#[tokio::test]
async fn collections_are_listed_with_their_media_types() {
    let Some(f) = fixture() else { return };
    let reply = get(&f.service, &at("collections/"), &[]).await;
    let listed = reply.expect(200)["collections"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ICS_COLLECTION, MOBILE_COLLECTION, MIXED_COLLECTION], "GET {}", reply.uri);
    assert_eq!(listed[0]["title"], "ICS ATT&CK");
    assert_eq!(listed[1]["title"], "Mobile ATT&CK");
    for (collection, media_types) in [
        (ICS_COLLECTION, vec![STIX21]),
        (MOBILE_COLLECTION, vec![STIX21]),
        (MIXED_COLLECTION, vec![STIX20, STIX21]),
    ] {
        let reply = get(&f.service, &collection_uri(collection), &[]).await;
        let resource = reply.expect(200);
        assert_eq!(resource["id"], collection, "GET {}", reply.uri);
        let served: BTreeSet<&str> = resource["media_types"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {}: no media_types", reply.uri))
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(served, media_types.into_iter().collect(), "GET {}", reply.uri);
    }
}

#[tokio::test]
async fn both_spec_versions_of_ics_18_1_in_one_collection() {
    let Some(f) = fixture() else { return };
    let model = &f.mixed;
    let objects = objects_uri(MIXED_COLLECTION);
    let manifest = manifest_uri(MIXED_COLLECTION);
    let ids_2_1: HashSet<&str> = model.versions.iter().filter(|v| v.source == 0).map(|v| v.key.id.as_str()).collect();
    let ids_2_0: HashSet<&str> = model.versions.iter().filter(|v| v.source == 1).map(|v| v.key.id.as_str()).collect();
    assert!(
        ids_2_0.iter().filter(|id| ids_2_1.contains(*id)).count() > 1800,
        "the two files share their ids"
    );

    // Default: each object's latest spec version, so the 2.1 form of every 2.1 object.
    let latest = model.select(&Select::default());
    let (served, reply) = all_in_one_page(&f.service, &objects, &[], "objects").await;
    assert_objects(&format!("GET {}", reply.uri), &served, model, &latest);
    let served_2_1 = served.iter().filter(|o| o["spec_version"] == "2.1").count();
    assert_eq!(served_2_1, ids_2_1.len(), "GET {}: objects in their 2.1 form", reply.uri);
    let (records, reply) = all_in_one_page(&f.service, &manifest, &[], "objects").await;
    assert_records(&format!("GET {}", reply.uri), &records, model, &latest);

    for (param, specs) in [("2.0", &[(2, 0)][..]), ("2.1", &[(2, 1)][..]), ("2.0,2.1", &[(2, 0), (2, 1)][..])] {
        let params = [("match[spec_version]", param)];
        let expected = model.select(&Select {
            specs: Some(specs),
            ..Select::default()
        });
        let (served, reply) = all_in_one_page(&f.service, &objects, &params, "objects").await;
        assert_objects(&format!("GET {}", reply.uri), &served, model, &expected);
        assert_raw_in_order(&format!("GET {}", reply.uri), &reply.body, model, &expected);
        let (records, reply) = all_in_one_page(&f.service, &manifest, &params, "objects").await;
        assert_records(&format!("GET {}", reply.uri), &records, model, &expected);
        if param == "2.0" {
            assert_eq!(served.len(), ids_2_0.len(), "GET {}: every 2.0 object", reply.uri);
            assert!(
                served.iter().all(|o| o.get("spec_version").is_none()),
                "2.0 forms have no spec_version"
            );
        }
    }

    // Per object: the object and versions endpoints, default and per spec version.
    for id in model
        .ids()
        .into_iter()
        .filter(|id| ids_2_1.contains(id) && ids_2_0.contains(id))
        .take(100)
    {
        let ids = [id];
        for (param, specs) in [(None, None), (Some("2.0"), Some(&[(2, 0)][..])), (Some("2.1"), Some(&[(2, 1)][..]))] {
            let params: Vec<(&str, &str)> = param.map(|p| ("match[spec_version]", p)).into_iter().collect();
            let expected = model.select(&Select {
                specs,
                ids: Some(&ids),
                ..Select::default()
            });
            let reply = get(&f.service, &object_uri(MIXED_COLLECTION, id), &params).await;
            let served = items(&reply.expect(200), "objects", &reply.uri);
            assert_objects(&format!("GET {}", reply.uri), &served, model, &expected);
            let expected_spec = specs.map_or((2, 1), |s| s[0]);
            assert_eq!(spec_of(&served[0]), expected_spec, "GET {}", reply.uri);

            let reply = get(&f.service, &versions_uri(MIXED_COLLECTION, id), &params).await;
            let versions: Vec<String> = items(&reply.expect(200), "versions", &reply.uri)
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            let all_versions = model.select(&Select {
                specs,
                pick: Pick::All,
                ids: Some(&ids),
                ..Select::default()
            });
            assert_same(&format!("GET {}", reply.uri), &versions, &model.version_strings(&all_versions));
        }
    }
}

#[tokio::test]
async fn enterprise_stix20_bundle_is_served_whole() {
    if let Some(missing) = common::missing_attack_bundle([ENTERPRISE_STIX20]) {
        return common::skip_or_fail(&missing);
    }
    let started = Instant::now();
    let path = common::attack_data_dir().join(ENTERPRISE_STIX20);
    let bytes = std::fs::read(&path).unwrap();
    // Expectations from the file: its objects, their ids and their distinct versions.
    let file: FileBundle = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(file.objects.len(), README_ENTERPRISE_OBJECTS, "objects in the file");
    assert!(
        file.objects
            .iter()
            .all(|o| o.spec_version.is_none() && o.object_type != "x-mitre-collection"),
        "a STIX 2.0 bundle without x-mitre-collection"
    );
    let distinct_versions: HashSet<(&str, &str)> = file
        .objects
        .iter()
        .map(|o| {
            (
                o.id.as_str(),
                o.modified.as_deref().or(o.created.as_deref()).expect("modified or created"),
            )
        })
        .collect();
    let ids: HashSet<&str> = file.objects.iter().map(|o| o.id.as_str()).collect();

    let backend = Arc::new(MemoryBackend::new());
    backend.add_collection(ROOT, CollectionInfo::new(ENTERPRISE_COLLECTION, ENTERPRISE_COLLECTION));
    let report = backend.load_bundle(ROOT, ENTERPRISE_COLLECTION, &bytes).unwrap();
    assert!(
        report.rejected.is_empty(),
        "rejected: {:?}",
        &report.rejected[..report.rejected.len().min(5)]
    );
    assert_eq!(report.added, distinct_versions.len(), "versions added");
    assert_eq!(report.added + report.duplicates, README_ENTERPRISE_OBJECTS);
    let service = service(backend);
    eprintln!("enterprise: read and loaded in {:?}", started.elapsed());

    let reply = get(&service, &collection_uri(ENTERPRISE_COLLECTION), &[]).await;
    assert_eq!(reply.expect(200)["media_types"], serde_json::json!([STIX20]), "GET {}", reply.uri);

    for params in [&[][..], &[("match[spec_version]", "2.0")][..]] {
        let served = walk_light(&service, &objects_uri(ENTERPRISE_COLLECTION), params, 10_000).await;
        let served_ids: HashSet<&str> = served.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(served.len(), ids.len(), "{params:?}: objects served");
        assert_eq!(served_ids, ids, "{params:?}: every object, once");
        assert!(served.iter().all(|o| o.spec_version.is_none()), "{params:?}: 2.0 objects");
    }
    for path in [objects_uri(ENTERPRISE_COLLECTION), manifest_uri(ENTERPRISE_COLLECTION)] {
        let reply = get(&service, &path, &[("match[spec_version]", "2.1")]).await;
        assert_eq!(reply.expect(200), serde_json::json!({}), "GET {}", reply.uri);
        assert_eq!(&reply.body[..], b"{}", "GET {}", reply.uri);
        assert_eq!(reply.date_headers(), None, "GET {}", reply.uri);
    }
    eprintln!("enterprise: done in {:?}", started.elapsed());
}

#[derive(serde::Deserialize)]
struct FileBundle {
    objects: Vec<LightObject>,
}

#[derive(serde::Deserialize)]
struct LightObject {
    id: String,
    #[serde(rename = "type")]
    object_type: String,
    spec_version: Option<String>,
    created: Option<String>,
    modified: Option<String>,
}

#[derive(serde::Deserialize)]
struct LightEnvelope {
    more: Option<bool>,
    next: Option<String>,
    objects: Option<Vec<LightObject>>,
}

/// Walks an objects query reading only each object's head (the Enterprise pages are big).
async fn walk_light(service: &TaxiiService, path: &str, params: &[(&str, &str)], limit: usize) -> Vec<LightObject> {
    let limit_text = limit.to_string();
    let mut next: Option<String> = None;
    let mut served = Vec::new();
    loop {
        let mut page_params = params.to_vec();
        page_params.push(("limit", &limit_text));
        if let Some(next) = &next {
            page_params.push(("next", next));
        }
        let reply = get(service, path, &page_params).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {}", reply.uri);
        let page: LightEnvelope = serde_json::from_slice(&reply.body).unwrap();
        let objects = page.objects.unwrap_or_default();
        assert!(objects.len() <= limit, "GET {}", reply.uri);
        served.extend(objects);
        if page.more != Some(true) {
            return served;
        }
        next = Some(page.next.unwrap_or_else(|| panic!("GET {}: more without next", reply.uri)));
    }
}
