//! Property checks: random data loaded in random requests, random queries compared
//! with the naive [`model`](super::model), random paged walks compared with the
//! unpaged answer, random deletes compared with the model's. Failures are shrunk to
//! a small case by proptest.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::BackendFactory;
use super::fixtures::{ROOT, Spec, Store, anonymous, check_order, id, keys, object, record_keys, writable};
use super::model;
use crate::cursor::Position;
use crate::query::{ObjectFilter, ObjectQuery, VersionSelector};
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::{Instant, Timestamp, parse_rfc3339};

/// The versions random objects take; the first two are one instant spelled twice.
const MODIFIED: [&str; 4] = [
    "2020-01-01T00:00:00Z",
    "2020-01-01T00:00:00.000Z",
    "2021-06-01T12:00:00.5Z",
    "2022-01-01T00:00:00Z",
];
const KINDS: [&str; 3] = ["indicator", "malware", "tool"];
const IDS: usize = 9;

/// One random object: which id, which version, which spec version, which bytes,
/// which of two collections.
#[derive(Debug, Clone)]
struct RandomObject {
    object: usize,
    modified: usize,
    v21: bool,
    variant: u32,
    collection: usize,
}

impl RandomObject {
    fn json(&self) -> String {
        let spec = if self.v21 { Spec::V21 } else { Spec::V20 };
        object(&object_id(self.object), MODIFIED[self.modified], spec, self.variant)
    }
}

fn object_id(n: usize) -> String {
    id(KINDS[n % KINDS.len()], n as u32)
}

/// The instants of these [`MODIFIED`] versions, each once.
fn instants(modified: &[usize]) -> Vec<Instant> {
    let mut at = Vec::new();
    for i in modified {
        let instant = parse_rfc3339(MODIFIED[*i]).unwrap_or_else(|| panic!("testkit bug: {}", MODIFIED[*i]));
        if !at.contains(&instant) {
            at.push(instant);
        }
    }
    at
}

/// A `match[spec_version]` list by number: none, 2.0, 2.1, or both.
fn spec_versions(n: usize) -> Option<Vec<SpecVersion>> {
    match n {
        0 => None,
        1 => Some(vec![SpecVersion::V2_0]),
        2 => Some(vec![SpecVersion::V2_1]),
        _ => Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]),
    }
}

/// A random query, with times given as positions in the stored versions (they are
/// only known once the data is stored).
#[derive(Debug, Clone)]
struct RandomQuery {
    ids: Option<Vec<usize>>,
    types: Option<Vec<usize>>,
    all: bool,
    first: bool,
    last: bool,
    at: Vec<usize>,
    specs: usize,
    added_after: Option<(usize, i64)>,
    position: Option<(usize, usize)>,
    limit: usize,
}

impl RandomQuery {
    fn filter(&self, stored: &[ObjectVersion]) -> ObjectFilter {
        let date = |(index, delta): (usize, i64)| match stored.len() {
            0 => Timestamp::from_micros(delta),
            n => Timestamp::from_micros(stored[index % n].date_added().as_micros() + delta),
        };
        let list = |items: &Option<Vec<usize>>, name: &dyn Fn(usize) -> String| {
            items.as_ref().map(|items| {
                let mut names: Vec<String> = Vec::new();
                for n in items.iter().map(|i| name(*i)) {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                names
            })
        };
        ObjectFilter {
            ids: list(&self.ids, &object_id),
            types: list(&self.types, &|i| KINDS[i].to_owned()),
            versions: if self.all {
                VersionSelector::All
            } else {
                VersionSelector::Pick {
                    first: self.first,
                    last: self.last,
                    at: instants(&self.at),
                }
            },
            spec_versions: spec_versions(self.specs),
            added_after: self.added_after.map(date),
        }
    }

    /// The default query (each object's latest version) in one page: what a backend
    /// may answer from an index of latest versions, which deletes must keep up.
    fn latest() -> RandomQuery {
        RandomQuery {
            ids: None,
            types: None,
            all: false,
            first: false,
            last: true,
            at: Vec::new(),
            specs: 0,
            added_after: None,
            position: None,
            limit: 1000,
        }
    }

    fn position(&self, stored: &[ObjectVersion]) -> Option<Position> {
        let (a, b) = self.position?;
        let n = stored.len();
        if n == 0 {
            return None;
        }
        let (x, y) = (stored[a % n].date_added(), stored[b % n].date_added());
        Some(Position {
            snapshot: x.max(y),
            after: x.min(y),
        })
    }
}

/// Which object a random delete names.
#[derive(Debug, Clone)]
enum Target {
    /// The object of tk-a's stored version at this position (modulo how many it
    /// holds); when it holds none, an object never stored.
    Stored(usize),
    /// [`object_id`] of this number, which may not be stored (`IDS` never is).
    Any(usize),
}

/// A random `delete_object` on tk-a.
#[derive(Debug, Clone)]
struct RandomDelete {
    target: Target,
    versions: VersionSelector,
    specs: Option<Vec<SpecVersion>>,
}

impl RandomDelete {
    /// The id deleted when tk-a holds `stored`.
    fn id(&self, stored: &[ObjectVersion]) -> String {
        match self.target {
            Target::Stored(_) if stored.is_empty() => object_id(IDS),
            Target::Stored(n) => stored[n % stored.len()].id().to_owned(),
            Target::Any(n) => object_id(n),
        }
    }
}

/// One step of [`random_deletes_match_model`]: a delete in tk-a, or more random
/// requests into both collections.
#[derive(Debug, Clone)]
enum Operation {
    Delete(RandomDelete),
    Add(Vec<Vec<RandomObject>>),
}

fn random_object() -> impl Strategy<Value = RandomObject> {
    (0..IDS, 0..MODIFIED.len(), any::<bool>(), 0..2u32, 0..2usize).prop_map(|(object, modified, v21, variant, collection)| RandomObject {
        object,
        modified,
        v21,
        variant,
        collection,
    })
}

fn random_batches() -> impl Strategy<Value = Vec<Vec<RandomObject>>> {
    vec(vec(random_object(), 2..10), 1..5)
}

fn random_query() -> impl Strategy<Value = RandomQuery> {
    (
        proptest::option::weighted(0.3, vec(0..IDS, 1..4)),
        proptest::option::weighted(0.3, vec(0..KINDS.len(), 1..3)),
        (any::<bool>(), any::<bool>(), any::<bool>(), vec(0..MODIFIED.len(), 0..3)),
        // Half the queries leave `match[spec_version]` out: the default is what most
        // clients get, and what a backend most easily gets wrong.
        prop_oneof![3 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize), 1 => Just(3usize)],
        // `added_after` falls exactly on a stored `date_added` half the time: the
        // boundary is where backends go wrong.
        proptest::option::weighted(
            0.5,
            (any::<usize>(), prop_oneof![2 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)]),
        ),
        proptest::option::weighted(0.3, (any::<usize>(), any::<usize>())),
        1..12usize,
    )
        .prop_map(
            |(ids, types, (all, first, last, at), specs, added_after, position, limit)| RandomQuery {
                ids,
                types,
                all: all && !first,
                first,
                last,
                at,
                specs,
                added_after,
                position,
                limit,
            },
        )
}

/// A random delete, weighted towards deletes that can go wrong: a delete of nothing
/// stored, or of every version, cannot show which versions a backend picks.
fn random_delete() -> impl Strategy<Value = RandomDelete> {
    (
        // Mostly an object tk-a holds, chosen by version, so objects with more
        // versions more often.
        prop_oneof![5 => any::<usize>().prop_map(Target::Stored), 1 => (0..=IDS).prop_map(Target::Any)],
        // Mostly `first`, `last` and instants (none at all sometimes), `all` seldom.
        proptest::option::weighted(0.85, (any::<bool>(), any::<bool>(), vec(0..MODIFIED.len(), 0..3))),
        // Mostly one spec version, where `match[spec_version]` makes a difference.
        prop_oneof![1 => Just(0usize), 2 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)],
    )
        .prop_map(|(target, pick, specs)| RandomDelete {
            target,
            versions: match pick {
                None => VersionSelector::All,
                Some((first, last, at)) => VersionSelector::Pick {
                    first,
                    last,
                    at: instants(&at),
                },
            },
            specs: spec_versions(specs),
        })
}

/// Three deletes for every request of more random data.
fn random_operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        3 => random_delete().prop_map(Operation::Delete),
        1 => random_batches().prop_map(Operation::Add),
    ]
}

type Check<V> = fn(Arc<dyn BackendFactory>, V) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a property with proptest on a blocking thread, each case on the runtime.
async fn run_property<S>(factory: Arc<dyn BackendFactory>, strategy: S, check: Check<S::Value>)
where
    S: Strategy + Send + 'static,
    S::Value: Debug + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut config = Config::default();
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = 32;
        }
        config.failure_persistence = None;
        config.max_shrink_iters = 200;
        let mut runner = TestRunner::new(config);
        runner
            .run(&strategy, |value| {
                handle.block_on(check(Arc::clone(&factory), value));
                Ok::<(), TestCaseError>(())
            })
            .map_err(|e| match e {
                TestError::Fail(reason, value) => format!("{reason}\nminimal failing case: {value:#?}"),
                TestError::Abort(reason) => format!("aborted: {reason}"),
            })
    })
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(message)) => panic!("property failed: {message}"),
        Err(e) => panic!("property runner failed: {e}"),
    }
}

/// Loads the batches, each request into the collection its objects name.
async fn load(store: &Store, batches: &[Vec<RandomObject>]) {
    for batch in batches {
        for (c, collection) in ["tk-a", "tk-b"].into_iter().enumerate() {
            let objects: Vec<String> = batch.iter().filter(|o| o.collection == c).map(RandomObject::json).collect();
            if !objects.is_empty() {
                store.add(collection, &objects).await;
            }
        }
    }
}

/// A stored version as the properties compare what a collection holds: (id, version,
/// spec version, bytes).
type Content = (String, String, SpecVersion, String);

/// The contents of some versions, in their order.
fn contents(versions: &[ObjectVersion]) -> Vec<Content> {
    versions
        .iter()
        .map(|v| {
            (
                v.id().to_owned(),
                v.version().to_owned(),
                v.spec_version(),
                String::from_utf8_lossy(v.json()).into_owned(),
            )
        })
        .collect()
}

/// What loading the batches should add to a collection holding `held`: the first
/// copy of each (id, version string, spec version) it does not hold, in the order
/// sent.
fn new_versions(held: &[ObjectVersion], batches: &[Vec<RandomObject>], collection: usize) -> Vec<Content> {
    let mut new: Vec<Content> = Vec::new();
    for o in batches.iter().flatten().filter(|o| o.collection == collection) {
        let spec = if o.v21 { SpecVersion::V2_1 } else { SpecVersion::V2_0 };
        let (id, version) = (object_id(o.object), MODIFIED[o.modified]);
        let holds = held
            .iter()
            .any(|v| v.id() == id && v.version() == version && v.spec_version() == spec);
        if !holds && !new.iter().any(|(i, v, s, _)| *i == id && v == version && *s == spec) {
            new.push((id, version.to_owned(), spec, o.json()));
        }
    }
    new
}

/// Runs random queries on tk-a, which holds `stored`: each page (items and `more`),
/// on objects and manifest alike, must equal the naive model's.
async fn check_queries(store: &Store, stored: &[ObjectVersion], queries: &[RandomQuery]) {
    for random in queries {
        let query = ObjectQuery {
            filter: random.filter(stored),
            limit: random.limit,
            position: random.position(stored),
        };
        let (expected, more) = model::select(stored, &query);
        let page = store.page("tk-a", &query.filter, query.limit, query.position).await;
        check_order(&page.items, &query.filter);
        assert_eq!(keys(&page.items), keys(&expected), "items for {query:?}");
        assert_eq!(page.more, more, "`more` for {query:?}");
        let manifest = store.manifest("tk-a", &query.filter, query.limit, query.position).await;
        assert_eq!(record_keys(&manifest.items), keys(&expected), "manifest for {query:?}");
        assert_eq!(manifest.more, more, "manifest `more` for {query:?}");
    }
}

/// Random requests into two collections, then random queries: each collection holds
/// the first copy of every distinct version in the order sent, and every query's
/// page (items and `more`), on objects and manifest alike, equals the naive model's.
pub async fn random_queries_match_model(factory: Arc<dyn BackendFactory>) {
    let strategy = (random_batches(), vec(random_query(), 4..12));
    run_property(factory, strategy, |factory, (batches, queries)| {
        Box::pin(async move {
            let store = Store::new(&*factory, &[writable("tk-a"), writable("tk-b")]).await;
            load(&store, &batches).await;
            for (c, collection) in ["tk-a", "tk-b"].into_iter().enumerate() {
                let stored = store.stored(collection).await;
                let expected = new_versions(&[], &batches, c);
                assert_eq!(contents(&stored), expected, "what {collection} holds after loading");
            }
            check_queries(&store, &store.stored("tk-a").await, &queries).await;
        })
    })
    .await;
}

/// Random data, then random queries each walked at a random page size, with more
/// random requests landing between its pages: every walk equals the unpaged answer
/// at the time its first page was served.
pub async fn random_walks_equal_unpaged(factory: Arc<dyn BackendFactory>) {
    let strategy = (random_batches(), vec((random_query(), random_batches()), 2..6));
    run_property(factory, strategy, |factory, (batches, walks)| {
        Box::pin(async move {
            let store = Store::new(&*factory, &[writable("tk-a"), writable("tk-b")]).await;
            load(&store, &batches).await;
            for (random, later) in &walks {
                let stored = store.stored("tk-a").await;
                let filter = random.filter(&stored);
                let limit = 1 + random.limit % 5;
                let unpaged = store.select("tk-a", &filter).await;
                let mut walked = Vec::new();
                let mut position: Option<Position> = None;
                for page_number in 0..1000 {
                    let page = store.page("tk-a", &filter, limit, position).await;
                    assert!(page.items.len() <= limit);
                    walked.extend(page.items);
                    if let Some(batch) = later.get(page_number) {
                        load(&store, std::slice::from_ref(batch)).await;
                    }
                    if !page.more {
                        break;
                    }
                    position = Some(Position {
                        snapshot: position.map_or(page.snapshot, |p| p.snapshot),
                        after: walked.last().map_or(Timestamp::MIN, ObjectVersion::date_added),
                    });
                }
                check_order(&walked, &filter);
                assert_eq!(keys(&walked), keys(&unpaged), "a walk at limit {limit} for {filter:?}");
            }
        })
    })
    .await;
}

/// What the property knows a collection holds: every version in `date_added`
/// order, and the greatest `date_added` the collection ever gave (deleted versions'
/// included).
struct Model {
    stored: Vec<ObjectVersion>,
    highest: Timestamp,
}

impl Model {
    fn new() -> Model {
        Model {
            stored: Vec::new(),
            highest: Timestamp::MIN,
        }
    }

    /// Checks that `collection` holds what the model holds followed by `new`, the
    /// versions just sent that it did not hold: the versions held before come back
    /// unchanged, `date_added` included, and each new one has a `date_added` above
    /// every the collection gave before. Then the model takes in the new versions.
    async fn check(&mut self, store: &Store, collection: &str, new: Vec<Content>, step: &str) {
        let stored = store.stored(collection).await;
        let mut expected = contents(&self.stored);
        expected.extend(new);
        assert_eq!(contents(&stored), expected, "what {collection} holds after {step}");
        let held = self.stored.len();
        assert_eq!(
            keys(&stored[..held]),
            keys(&self.stored),
            "the date_added of versions {collection} held before {step}"
        );
        for v in &stored[held..] {
            assert!(
                v.date_added() > self.highest,
                "{} {} added to {collection} at {step} got date_added {}, not above {} given before",
                v.id(),
                v.version(),
                v.date_added(),
                self.highest
            );
        }
        self.highest = stored.iter().map(ObjectVersion::date_added).fold(self.highest, Timestamp::max);
        self.stored = stored;
    }
}

/// Loads the batches and checks both collections against their models.
async fn add(store: &Store, models: &mut [Model; 2], batches: &[Vec<RandomObject>], step: &str) {
    let new: Vec<Vec<Content>> = (0..2).map(|c| new_versions(&models[c].stored, batches, c)).collect();
    load(store, batches).await;
    for ((model, new), collection) in models.iter_mut().zip(new).zip(["tk-a", "tk-b"]) {
        model.check(store, collection, new, step).await;
    }
}

/// Random requests into two collections, then random deletes in one (of stored
/// objects and others, any versions, any spec versions) interleaved with more random
/// requests. Each delete removes and counts what the naive model's does; after each
/// step both collections hold exactly what the model holds (bytes and `date_added`
/// kept), versions added after deletes get `date_added` values above every earlier
/// one (deleted ones included), and random queries answer as the model does.
pub async fn random_deletes_match_model(factory: Arc<dyn BackendFactory>) {
    // At least four operations: with fewer, too many cases hold no delete that tells
    // a broken backend from a good one (the mutants in tests/testkit_memory.rs must be
    // caught in almost every run of 32 cases).
    let strategy = (random_batches(), vec((random_operation(), vec(random_query(), 1..3)), 4..12));
    run_property(factory, strategy, |factory, (batches, operations)| {
        Box::pin(async move {
            let store = Store::new(&*factory, &[writable("tk-a"), writable("tk-b")]).await;
            let mut models = [Model::new(), Model::new()];
            add(&store, &mut models, &batches, "loading").await;
            for (n, (operation, queries)) in operations.iter().enumerate() {
                match operation {
                    Operation::Delete(delete) => {
                        let [a, b] = &mut models;
                        let id = delete.id(&a.stored);
                        let step = format!("operation {n}, deleting {id} {:?} {:?}", delete.versions, delete.specs);
                        let expected = model::delete(&mut a.stored, &id, &delete.versions, delete.specs.as_deref());
                        let deleted = store
                            .backend
                            .delete_object(ROOT, "tk-a", &id, &delete.versions, delete.specs.as_deref(), &anonymous())
                            .await
                            .unwrap_or_else(|e| panic!("delete_object at {step} failed: {e:?}"));
                        assert_eq!(deleted, expected, "how many versions {step} deleted");
                        a.check(&store, "tk-a", Vec::new(), &step).await;
                        b.check(&store, "tk-b", Vec::new(), &step).await;
                    }
                    Operation::Add(batches) => add(&store, &mut models, batches, &format!("operation {n}, adding")).await,
                }
                check_queries(&store, &models[0].stored, queries).await;
                check_queries(&store, &models[0].stored, &[RandomQuery::latest()]).await;
            }
        })
    })
    .await;
}
