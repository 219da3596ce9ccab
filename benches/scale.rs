//! Criterion benchmarks of the memory backend: the 100-item page query (and, timed
//! directly, the deletion of one object) at 10 thousand, 100 thousand and 1 million
//! objects (synthetic ATT&CK-shaped STIX, two versions per object on average, loaded
//! in release order); one add-objects request of 5000 versions, of one object and of
//! as many objects; and the time to load the real Enterprise bundle.
//!
//! ```text
//! cargo bench --bench scale                 # everything (about 2 minutes; 5.4 GB of memory at the peak)
//! cargo bench --bench scale -- page         # only the page queries
//! SCALE_MAX=100000 cargo bench --bench scale   # skip the 1 million objects
//! ```
//!
//! After criterion's own report, it prints the tables `benches/README.md` quotes: each
//! page query's median time at every size and its ratio to the time at 10 thousand
//! objects (the target: within 1.5x at 1 million for the memory backend), and the two
//! add-objects requests.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tower_taxii::{
    CollectionIndex, CollectionInfo, MemoryBackend, ObjectQuery, ObjectVersion, Position, Principal, Status, StorageBackend, Timestamp,
    VersionSelector,
};

#[path = "support/page_queries.rs"]
mod page_queries;
#[path = "support/synthetic.rs"]
mod synthetic;

use page_queries::Case;

const ENTERPRISE: &str = "../shared/data/attack/enterprise-attack-18.1-stix20.json";
/// Every version is added one microsecond after the previous one, from here.
const BASE: i64 = 1_700_000_000_000_000;

fn sizes() -> Vec<usize> {
    let max: usize = std::env::var("SCALE_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    [10_000, 100_000, 1_000_000].into_iter().filter(|&n| n <= max).collect()
}

/// A collection of `objects` synthetic objects; version k gets `date_added` BASE + k.
fn build(objects: usize) -> CollectionIndex {
    let mut index = CollectionIndex::new();
    for (k, json) in synthetic::versions(objects).enumerate() {
        index
            .insert_json(json, Timestamp::from_micros(BASE + k as i64))
            .expect("synthetic objects are valid");
    }
    index
}

/// The page queries measured at every size: 100 items each.
fn queries(index: &CollectionIndex) -> Vec<Case> {
    let snapshot = index.last_added().expect("not empty");
    page_queries::cases(Position {
        snapshot,
        after: Timestamp::from_micros(BASE + index.len() as i64 / 2),
    })
}

fn run(index: &CollectionIndex, query: &ObjectQuery, manifest: bool) -> usize {
    if manifest {
        index.manifest_json(query).records.len()
    } else {
        index.query(query).items.len()
    }
}

fn page_queries(c: &mut Criterion) {
    let mut group = c.benchmark_group("page");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut summary: Vec<(usize, Vec<(&'static str, f64)>)> = Vec::new();
    for objects in sizes() {
        let started = Instant::now();
        let index = build(objects);
        eprintln!(
            "built {objects} objects ({} versions) in {:.1} s",
            index.len(),
            started.elapsed().as_secs_f64()
        );
        let mut medians = Vec::new();
        for (name, query, manifest) in queries(&index) {
            assert_eq!(run(&index, &query, manifest), 100, "{name} at {objects}: a full page");
            group.bench_with_input(BenchmarkId::new(name, objects), &query, |b, q| {
                b.iter(|| run(&index, black_box(q), manifest))
            });
            medians.push((name, median_micros(|| run(&index, &query, manifest))));
        }
        medians.push(("delete one object", delete_micros(index, objects)));
        summary.push((objects, medians));
    }
    group.finish();
    print_summary(&summary);
}

/// The median time of deleting one object (all its versions), in microseconds:
/// 15 rounds of 20 objects spread over the collection. Together they are far fewer
/// than the quarter of the versions that triggers a compaction, whose cost is
/// shared by that many deletions.
fn delete_micros(mut index: CollectionIndex, objects: usize) -> f64 {
    let stride = objects / 300;
    let mut rounds: Vec<f64> = (0..15)
        .map(|round| {
            let ids: Vec<String> = (0..20).map(|k| synthetic::object_id((round * 20 + k) * stride)).collect();
            let started = Instant::now();
            for id in &ids {
                assert!(index.delete(id, &VersionSelector::All, None) > 0, "{id} is stored");
            }
            started.elapsed().as_secs_f64() * 1e6 / ids.len() as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

/// The median of 15 rounds of 200 runs, in microseconds per run.
fn median_micros(mut f: impl FnMut() -> usize) -> f64 {
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..200 {
                black_box(f());
            }
            started.elapsed().as_secs_f64() * 1e6 / 200.0
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn print_summary(summary: &[(usize, Vec<(&'static str, f64)>)]) {
    let Some((base_size, base)) = summary.first() else { return };
    println!();
    println!("## Memory backend: a 100-item page, and deleting one object (median µs; ratio to {base_size} objects)");
    println!();
    let sizes: Vec<String> = summary.iter().map(|(n, _)| format!("{n} objects")).collect();
    println!(
        "| query | {} | ratio at {} |",
        sizes.join(" | "),
        summary.last().map_or(0, |(n, _)| *n)
    );
    println!("| --- |{} ---: |", " ---: |".repeat(sizes.len()));
    for (k, (name, first)) in base.iter().enumerate() {
        let cells: Vec<String> = summary.iter().map(|(_, m)| format!("{:.1}", m[k].1)).collect();
        let last = summary.last().map_or(*first, |(_, m)| m[k].1);
        println!("| {name} | {} | {:.2} |", cells.join(" | "), last / first);
    }
    println!();
}

/// How many versions one add-objects request of [`add_objects`] carries.
const POSTED: usize = 5_000;

/// One add-objects request (`StorageBackend::add_objects`, what a POST runs) of
/// [`POSTED`] versions, into a fresh collection: versions of one object, or one version
/// of each of as many objects. Prints the median of 5 requests each and their ratio:
/// a request of many versions of one object must cost no more per version than one of
/// many objects (it once looked for each version among all those before it).
fn add_objects(_c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let json = |n: usize, one_object: bool| {
        let object = if one_object { 0 } else { n };
        let id = format!("indicator--{object:08x}-17d4-4cbf-938f-98ee46b3cd3f");
        let modified = Timestamp::from_micros(BASE + n as i64 * 1000);
        Bytes::from(format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"2020-01-01T00:00:00.000Z","modified":"{modified}","pattern":"[x:y = 'z']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}}"#
        ))
    };
    let mut millis = Vec::new();
    for one_object in [true, false] {
        let objects: Vec<ObjectVersion> = (0..POSTED)
            .map(|n| ObjectVersion::parse(json(n, one_object), Timestamp::now()).expect("valid"))
            .collect();
        let mut rounds: Vec<f64> = (0..5)
            .map(|_| {
                let backend = MemoryBackend::new();
                backend.add_collection("api/v21", CollectionInfo::new("posts", "Posts").access(true, true));
                let status = Status::new("status", Timestamp::now(), objects.len(), "posts");
                let started = Instant::now();
                let status = runtime
                    .block_on(backend.add_objects("api/v21", "posts", objects.clone(), status, &Principal::anonymous()))
                    .expect("stored");
                let elapsed = started.elapsed().as_secs_f64() * 1e3;
                assert_eq!(status.success_count, POSTED as u64);
                elapsed
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        millis.push(rounds[rounds.len() / 2]);
    }
    println!("## Memory backend: one add-objects request of {POSTED} versions (median ms of 5)");
    println!();
    println!("| {POSTED} versions of one object | one version of {POSTED} objects | ratio |");
    println!("| ---: | ---: | ---: |");
    println!("| {:.1} | {:.1} | {:.2} |", millis[0], millis[1], millis[0] / millis[1]);
    println!();
}

fn load_enterprise(c: &mut Criterion) {
    let Ok(json) = std::fs::read(ENTERPRISE) else {
        eprintln!("skipping the load benchmark: {ENTERPRISE} is missing");
        return;
    };
    let mut group = c.benchmark_group("load");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.bench_function("enterprise bundle (24,771 objects, 33.4 MB)", |b| {
        b.iter(|| {
            let backend = MemoryBackend::new();
            backend.add_collection("api/v21", tower_taxii::CollectionInfo::new("enterprise", "Enterprise"));
            let report = backend.load_bundle("api/v21", "enterprise", black_box(&json)).expect("loads");
            assert_eq!(report.added, 24_771);
            backend
        })
    });
    group.finish();
}

criterion_group!(benches, page_queries, add_objects, load_enterprise);
criterion_main!(benches);
