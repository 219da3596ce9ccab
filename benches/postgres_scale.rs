//! Criterion benchmarks of the PostgreSQL backend (feature `postgres`): the 100-item
//! page query at 10 thousand, 100 thousand and 1 million synthetic objects (the data
//! of `scale.rs`: ATT&CK-shaped STIX 2.1, 1 to 4 versions each, loaded release by
//! release), through the `StorageBackend` API, as a server calls it.
//!
//! ```text
//! cargo bench --features postgres --bench postgres_scale                # everything
//! cargo bench --features postgres --bench postgres_scale -- page        # criterion's filter
//! SCALE_MAX=100000 cargo bench --features postgres --bench postgres_scale   # skip the million
//! ```
//!
//! The database is `TAXII_BENCH_DATABASE_URL`, else `TAXII_TEST_DATABASE_URL`, else
//! the local server's `test` database; when it does not answer, the benchmark says
//! `skipping: ...` and succeeds. Each size lives in a schema of its own,
//! `bench_scale_d{DATA_VERSION}_s{SCHEMA_VERSION}_{objects}`, filled through
//! [`PostgresBackend::insert_objects`] (what `load_bundle` and `serve --postgres`
//! use) the first time and kept, so later runs start measuring at once; schemas of
//! other data or schema versions are dropped. `SCALE_PG_DROP=1` drops this run's
//! schemas at the end.
//!
//! After criterion's report it prints the table `benches/README.md` quotes: each
//! query's median time at every size and its ratio to the time at 10 thousand objects
//! (the target: within 2x at 1 million).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group};
use tower_taxii::postgres::SCHEMA_VERSION;
use tower_taxii::{
    CollectionInfo, ObjectFilter, ObjectQuery, Position, PostgresBackend, PostgresConfig, Principal, StorageBackend, Timestamp,
};

#[path = "support/page_queries.rs"]
mod page_queries;
#[path = "support/synthetic.rs"]
mod synthetic;

use page_queries::Case;

const ROOT: &str = "api/v21";
const COLLECTION: &str = "synthetic";
/// Bump when the synthetic data or the way it is loaded changes: schemas filled under
/// another value are dropped and filled anew.
const DATA_VERSION: u32 = 1;
/// Versions per `insert_objects` call while filling (progress is printed after each).
const FILL_CHUNK: usize = 100_000;

fn database_url() -> String {
    std::env::var("TAXII_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TAXII_TEST_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn sizes() -> Vec<usize> {
    let max: usize = std::env::var("SCALE_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    [10_000, 100_000, 1_000_000].into_iter().filter(|&n| n <= max).collect()
}

const SCHEMA_PREFIX: &str = "bench_scale_";

fn schema_name(objects: usize) -> String {
    format!("{SCHEMA_PREFIX}d{DATA_VERSION}_s{SCHEMA_VERSION}_{objects}")
}

/// How many versions the synthetic data of `objects` objects has.
fn version_total(objects: usize) -> usize {
    (0..objects).map(synthetic::version_count).sum()
}

/// A database error with the server's message.
fn db(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(server) => format!("{e}: {}", server.message()),
        None => e.to_string(),
    }
}

/// A plain connection, for set-up.
async fn admin(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("PostgreSQL does not answer at {url}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn backend(url: &str, schema: &str) -> Result<PostgresBackend, String> {
    PostgresConfig::new(url)
        .map_err(|e| e.to_string())?
        .schema(schema)
        .pool_size(2)
        .timeout(Duration::from_secs(120))
        .connect()
        .await
        .map_err(|e| format!("PostgreSQL does not answer at {url}: {e}"))
}

/// Drops the schemas of earlier data or schema versions.
async fn drop_stale(client: &tokio_postgres::Client) -> Result<(), String> {
    let current = format!("{SCHEMA_PREFIX}d{DATA_VERSION}_s{SCHEMA_VERSION}_");
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)",
            &[&SCHEMA_PREFIX],
        )
        .await
        .map_err(db)?;
    for row in rows {
        let name: String = row.get(0);
        if !name.starts_with(&current) {
            eprintln!("dropping {name}: filled by another data or schema version");
            client.batch_execute(&format!("DROP SCHEMA {name} CASCADE")).await.map_err(db)?;
        }
    }
    Ok(())
}

/// The backend on the schema of `objects` objects, filled first unless a complete
/// fill is there already (`bench_filled` records one).
async fn filled(url: &str, client: &tokio_postgres::Client, objects: usize) -> Result<PostgresBackend, String> {
    let schema = schema_name(objects);
    let total = version_total(objects);
    let done = client
        .query_one(&format!("SELECT to_regclass('{schema}.bench_filled') IS NOT NULL"), &[])
        .await
        .map_err(db)?
        .get::<_, bool>(0);
    if done {
        let row = client
            .query_one(&format!("SELECT versions FROM {schema}.bench_filled"), &[])
            .await
            .map_err(db)?;
        if row.get::<_, i64>(0) == total as i64 {
            eprintln!("{schema}: {objects} objects ({total} versions) are there already");
            return backend(url, &schema).await;
        }
    }
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .map_err(db)?;
    let backend = backend(url, &schema).await?;
    backend
        .add_collection(ROOT, CollectionInfo::new(COLLECTION, "Synthetic ATT&CK-shaped objects"))
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("{schema}: filling {objects} objects ({total} versions)");
    let started = Instant::now();
    let mut versions = synthetic::versions(objects);
    let mut stored = 0;
    loop {
        let chunk: Vec<Bytes> = versions.by_ref().take(FILL_CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let report = backend
            .insert_objects(ROOT, COLLECTION, chunk)
            .await
            .map_err(|e| format!("filling {schema}: {e}"))?;
        stored += report.added;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "  {stored}/{total} versions in {seconds:.0} s ({:.0} versions/s)",
            stored as f64 / seconds.max(1e-9)
        );
    }
    if stored != total {
        return Err(format!("{schema}: stored {stored} versions, expected {total}"));
    }
    // What autovacuum would do after a load this size (statistics, visibility map),
    // done now so the first measurements do not race it.
    client
        .batch_execute(&format!("VACUUM ANALYZE {schema}.versions"))
        .await
        .map_err(db)?;
    client
        .batch_execute(&format!(
            "CREATE TABLE {schema}.bench_filled (versions bigint NOT NULL); INSERT INTO {schema}.bench_filled VALUES ({total})"
        ))
        .await
        .map_err(db)?;
    eprintln!("{schema}: filled in {:.0} s", started.elapsed().as_secs_f64());
    Ok(backend)
}

/// The page queries measured at every size: 100 items each, from the start or from
/// the middle of the collection's `date_added` order (as a `next` link gives).
async fn queries(client: &tokio_postgres::Client, backend: &PostgresBackend, objects: usize) -> Result<Vec<Case>, String> {
    let schema = schema_name(objects);
    let page = |filter: ObjectFilter, position: Option<Position>| ObjectQuery {
        filter,
        limit: 100,
        position,
    };
    let first = backend
        .objects(ROOT, COLLECTION, &page(ObjectFilter::default(), None), &Principal::anonymous())
        .await
        .map_err(|e| e.to_string())?;
    let half = (version_total(objects) / 2) as i64;
    let after = client
        .query_one(
            &format!("SELECT date_added FROM {schema}.versions ORDER BY date_added OFFSET $1 LIMIT 1"),
            &[&half],
        )
        .await
        .map_err(db)?
        .get::<_, i64>(0);
    let middle = Position {
        snapshot: first.snapshot,
        after: Timestamp::from_micros(after),
    };
    Ok(page_queries::cases(middle))
}

/// Runs one page query; the number of items.
async fn run(backend: &PostgresBackend, query: &ObjectQuery, manifest: bool) -> usize {
    let anyone = Principal::anonymous();
    let items = if manifest {
        // What the service asks for a manifest page.
        backend
            .manifest_json(ROOT, COLLECTION, query, &anyone)
            .await
            .map(|p| p.records.len())
    } else {
        backend.objects(ROOT, COLLECTION, query, &anyone).await.map(|p| p.items.len())
    };
    items.unwrap_or_else(|e| panic!("page query: {e}"))
}

/// One size's backend and its queries.
struct Size {
    objects: usize,
    backend: PostgresBackend,
    cases: Vec<Case>,
}

fn page_queries(c: &mut Criterion) {
    let url = database_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let client = match runtime.block_on(admin(&url)) {
        Ok(client) => client,
        Err(e) => {
            println!("skipping: {e} (set TAXII_BENCH_DATABASE_URL)");
            return;
        }
    };
    runtime
        .block_on(drop_stale(&client))
        .unwrap_or_else(|e| panic!("dropping stale schemas: {e}"));
    let mut set = Vec::new();
    for objects in sizes() {
        let backend = runtime.block_on(filled(&url, &client, objects)).unwrap_or_else(|e| panic!("{e}"));
        let cases = runtime
            .block_on(queries(&client, &backend, objects))
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, query, manifest) in &cases {
            assert_eq!(
                runtime.block_on(run(&backend, query, *manifest)),
                100,
                "{name} at {objects}: a full page"
            );
        }
        set.push(Size { objects, backend, cases });
    }
    let mut group = c.benchmark_group("postgres page");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for size in &set {
        for (name, query, manifest) in &size.cases {
            let run = |q: &ObjectQuery| runtime.block_on(run(&size.backend, q, *manifest));
            group.bench_with_input(BenchmarkId::new(*name, size.objects), query, |b, q| b.iter(|| run(black_box(q))));
        }
    }
    group.finish();
    print_summary(&interleaved_medians(&runtime, &set));
    print_server_side(&runtime, &set);
    if std::env::var_os("SCALE_PG_DROP").is_some_and(|v| v == "1") {
        for size in &set {
            let schema = schema_name(size.objects);
            runtime
                .block_on(client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                .unwrap_or_else(|e| panic!("dropping {schema}: {e}"));
            eprintln!("dropped {schema}");
        }
    }
}

/// Rounds of the summary's measurement, and runs of one query per round.
const ROUNDS: usize = 21;
const RUNS: usize = 40;

/// Each query's median time per run at each size, in microseconds: every round
/// times every query at every size in turn, so that a busy moment of the machine
/// (shared with other work) falls on all sizes alike rather than on one.
fn interleaved_medians(runtime: &tokio::runtime::Runtime, set: &[Size]) -> Vec<(usize, Vec<(&'static str, f64)>)> {
    let mut rounds: Vec<Vec<Vec<f64>>> = set.iter().map(|size| vec![Vec::new(); size.cases.len()]).collect();
    for _ in 0..ROUNDS {
        for (size, timings) in set.iter().zip(&mut rounds) {
            for ((_, query, manifest), timing) in size.cases.iter().zip(timings.iter_mut()) {
                let started = Instant::now();
                for _ in 0..RUNS {
                    black_box(runtime.block_on(run(&size.backend, query, *manifest)));
                }
                timing.push(started.elapsed().as_secs_f64() * 1e6 / RUNS as f64);
            }
        }
    }
    set.iter()
        .zip(rounds)
        .map(|(size, timings)| {
            let medians = size
                .cases
                .iter()
                .zip(timings)
                .map(|((name, _, _), mut rounds)| {
                    rounds.sort_by(f64::total_cmp);
                    (*name, rounds[rounds.len() / 2])
                })
                .collect();
            (size.objects, medians)
        })
        .collect()
}

fn print_summary(summary: &[(usize, Vec<(&'static str, f64)>)]) {
    let Some((base_size, base)) = summary.first() else { return };
    let last_size = summary.last().map_or(*base_size, |(n, _)| *n);
    println!();
    println!("## PostgreSQL backend, 100-item page (median µs; ratio to {base_size} objects; target ≤ 2 at 1,000,000)");
    println!();
    let sizes: Vec<String> = summary.iter().map(|(n, _)| format!("{n} objects")).collect();
    println!("| query | {} | ratio at {last_size} | target |", sizes.join(" | "));
    println!("| --- |{} ---: | --- |", " ---: |".repeat(sizes.len()));
    for (k, (name, first)) in base.iter().enumerate() {
        let cells: Vec<String> = summary.iter().map(|(_, m)| format!("{:.0}", m[k].1)).collect();
        let last = summary.last().map_or(*first, |(_, m)| m[k].1);
        let ratio = last / first;
        let verdict = match (last_size >= 1_000_000, ratio <= 2.0) {
            (false, _) => "(not measured at 1,000,000)",
            (true, true) => "met",
            (true, false) => "**missed**",
        };
        println!("| {name} | {} | {ratio:.2} | ≤ 2 {verdict} |", cells.join(" | "));
    }
    println!();
}

/// What the database does for each query at each size (`EXPLAIN (ANALYZE,
/// BUFFERS)` of its page statement, warm): execution time and shared buffers read.
fn print_server_side(runtime: &tokio::runtime::Runtime, set: &[Size]) {
    let Some(first) = set.first() else { return };
    println!("## The same queries in the database: execution ms / shared buffers (EXPLAIN ANALYZE, warm)");
    println!();
    let sizes: Vec<String> = set.iter().map(|size| format!("{} objects", size.objects)).collect();
    println!("| query | {} |", sizes.join(" | "));
    println!("| --- |{}", " ---: |".repeat(sizes.len()));
    for (k, (name, _, _)) in first.cases.iter().enumerate() {
        let cells: Vec<String> = set
            .iter()
            .map(|size| {
                let (_, query, manifest) = &size.cases[k];
                let plan = runtime
                    .block_on(size.backend.explain(ROOT, COLLECTION, query, !manifest))
                    .unwrap_or_else(|e| panic!("explain: {e}"));
                let (millis, buffers) = plan_figures(&plan);
                format!("{millis:.2} / {buffers}")
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
}

/// A plan's execution time (ms) and the shared buffers its top node read (hit plus read).
fn plan_figures(plan: &str) -> (f64, u64) {
    let millis = plan
        .lines()
        .find_map(|l| l.trim().strip_prefix("Execution Time:"))
        .and_then(|rest| rest.trim().trim_end_matches("ms").trim().parse().ok())
        .unwrap_or(f64::NAN);
    let buffers = plan
        .lines()
        .find(|l| l.trim_start().starts_with("Buffers:"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .filter(|(k, _)| matches!(*k, "hit" | "read"))
                .filter_map(|(_, v)| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    (millis, buffers)
}

criterion_group!(benches, page_queries);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
