//! The real MITRE ATT&CK data in PostgreSQL.
//!
//! - Every release we have (the ICS 2.1 releases in order, ICS 18.1 in STIX 2.0,
//!   Mobile 14.1 then 17.1, Enterprise 18.1 in STIX 2.0) loads into a
//!   `PostgresBackend` and into a `MemoryBackend`, and the two services give the
//!   same answers: the same objects byte-for-byte in the same order, the same
//!   manifests and version lists (but for the `date_added` values each store gave),
//!   for each collection, by paged walks, under several filters. Loading again adds
//!   nothing.
//! - The `serve --postgres` example, on a database of its own, passes the same
//!   Python client checks (`taxii2-client`, `stix2`) as the memory server.
#![cfg(all(feature = "postgres", feature = "memory"))]

mod common;
mod postgres_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    ICS_RELEASES, ServerGuard, attack_data_dir, example_binary, missing_attack_bundle, python_attack_bundles, python_missing,
    run_python_check, run_with_timeout, skip_or_fail,
};
use postgres_support::{admin, backend_in, database_url, drop_schemas, postgres_or_skip, send, unique_schema};
use serde_json::Value;
use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService};

const ROOT: &str = "api/v21";

/// (collection, bundles loaded into it in this order).
const COLLECTIONS: &[(&str, &[&str])] = &[
    ("ics", &ICS_RELEASES),
    ("ics-stix20", &["ics-attack-18.1-stix20.json"]),
    ("mobile", &["mobile-attack-14.1.json", "mobile-attack-17.1.json"]),
    ("enterprise", &["enterprise-attack-18.1-stix20.json"]),
];

/// Every item of a paged walk by `next` (limit 2000 a page).
async fn walk(service: &TaxiiService, uri: &str, list: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    let join = if uri.contains('?') { '&' } else { '?' };
    for _ in 0..1000 {
        let page_uri = match &next {
            Some(n) => format!("{uri}{join}limit=2000&next={n}"),
            None => format!("{uri}{join}limit=2000"),
        };
        let answer = send(service, "GET", &page_uri, None).await;
        assert_eq!(answer.status, 200, "{page_uri}: {}", answer.body);
        items.extend(answer.body[list].as_array().cloned().unwrap_or_default());
        next = answer.body["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    items
}

/// Manifest records without their `date_added`, which each store gives its own.
fn without_dates(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .map(|mut r| {
            if let Some(object) = r.as_object_mut() {
                assert!(object.remove("date_added").is_some(), "a manifest record without date_added");
            }
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_data_answers_like_the_memory_backend() {
    let data = attack_data_dir();
    if let Some(missing) = missing_attack_bundle(COLLECTIONS.iter().flat_map(|(_, files)| files.iter().copied())) {
        return skip_or_fail(&missing);
    }
    if !postgres_or_skip() {
        return;
    }
    let schema = unique_schema("attack");
    let postgres = backend_in(&schema).await;
    let memory = MemoryBackend::new();
    let started = Instant::now();
    for (collection, files) in COLLECTIONS {
        let info = CollectionInfo::new(*collection, *collection);
        memory.add_collection(ROOT, info.clone());
        postgres.add_collection(ROOT, info).await.expect("add_collection");
        for file in *files {
            let json = std::fs::read(data.join(file)).expect("read the bundle");
            let expected = memory.load_bundle(ROOT, collection, &json).expect("load into memory");
            let loaded = postgres.load_bundle(ROOT, collection, &json).await.expect("load into PostgreSQL");
            assert_eq!(
                (loaded.added, loaded.duplicates, loaded.conflicts, loaded.rejected.len()),
                (expected.added, expected.duplicates, expected.conflicts, expected.rejected.len()),
                "{file}: load reports differ"
            );
        }
    }
    println!("loaded every ATT&CK release into both stores in {:?}", started.elapsed());
    let again = std::fs::read(data.join("ics-attack-18.1.json")).expect("read the bundle");
    let reload = postgres.load_bundle(ROOT, "ics", &again).await.expect("reload");
    assert_eq!(reload.added, 0, "loading a release again added versions");

    let on_memory = TaxiiService::builder(Arc::new(memory))
        .api_root(ROOT, ApiRoot::new("ATT&CK"))
        .build();
    let on_postgres = TaxiiService::builder(Arc::new(postgres.clone()))
        .api_root(ROOT, ApiRoot::new("ATT&CK"))
        .max_page_size(2000)
        .build();
    let collections = format!("/{ROOT}/collections/");
    assert_eq!(
        send(&on_postgres, "GET", &collections, None).await.body,
        send(&on_memory, "GET", &collections, None).await.body,
        "the collections resources differ"
    );
    let filters = [
        "",
        "?match[version]=all",
        "?match[version]=first",
        "?match[spec_version]=2.0",
        "?match[spec_version]=2.0,2.1&match[version]=last",
        "?match[type]=attack-pattern,malware&match[version]=all",
        "?match[version]=2018-10-17T00:14:20.652Z,first",
    ];
    for (collection, _) in COLLECTIONS {
        let base = format!("/{ROOT}/collections/{collection}");
        for filter in filters {
            let uri = format!("{base}/objects/{filter}");
            let expected = walk(&on_memory, &uri, "objects").await;
            let got = walk(&on_postgres, &uri, "objects").await;
            assert_eq!(got.len(), expected.len(), "{uri}: how many objects");
            assert!(got == expected, "{uri}: the objects differ");
            let uri = format!("{base}/manifest/{filter}");
            let expected = without_dates(walk(&on_memory, &uri, "objects").await);
            let got = without_dates(walk(&on_postgres, &uri, "objects").await);
            assert!(got == expected, "{uri}: the manifests differ");
        }
        let everything = walk(&on_memory, &format!("{base}/manifest/?match[version]=all"), "objects").await;
        let mut ids: Vec<&str> = everything.iter().filter_map(|r| r["id"].as_str()).collect();
        ids.dedup();
        for id in ids.iter().step_by(ids.len() / 25 + 1) {
            for endpoint in [
                format!("{base}/objects/{id}/versions/"),
                format!("{base}/objects/{id}/?match[version]=all"),
            ] {
                let expected = send(&on_memory, "GET", &endpoint, None).await;
                let got = send(&on_postgres, "GET", &endpoint, None).await;
                assert_eq!(got.status, expected.status, "{endpoint}");
                assert!(got.body == expected.body, "{endpoint}: the answers differ");
            }
        }
        println!("{collection}: {} versions answer alike", everything.len());
    }
    drop(on_postgres);
    drop(postgres);
    drop_schemas(&[schema]).await;
}

#[test]
fn python_clients_against_serve_on_postgres() {
    let data = attack_data_dir();
    if let Some(missing) = missing_attack_bundle(python_attack_bundles()) {
        return skip_or_fail(&missing);
    }
    if !postgres_or_skip() {
        return;
    }
    if let Some(reason) = python_missing("taxii2client, stix2", "taxii2-client stix2") {
        return skip_or_fail(&reason);
    }
    let Some(serve) = example_binary("serve") else {
        return skip_or_fail("the serve example is not built (run `cargo build --example serve`)");
    };
    // A database of its own: `serve` uses the default schema.
    with_database("taxii_attack", |url| {
        let mut args = vec![
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--postgres".to_owned(),
            url.to_owned(),
        ];
        args.extend(python_attack_bundles().map(|b| data.join(b).display().to_string()));
        // The first instance loads; a second one given the same bundles loads nothing
        // new and serves the same data, which the clients check.
        drop(ServerGuard::start(&serve, &args, Duration::from_secs(300)).unwrap_or_else(|e| panic!("starting serve: {e}")));
        let server = ServerGuard::start(&serve, &args, Duration::from_secs(300)).unwrap_or_else(|e| panic!("starting serve again: {e}"));
        run_python_check(
            "check_attack.py",
            &[server.url.as_ref(), data.as_os_str()],
            Duration::from_secs(600),
        );
    });
}

/// `serve --postgres` given a port that is taken fails before it reads a bundle or
/// touches the database (a new user saw it load a release, then fail to listen).
#[test]
fn serve_on_a_taken_port_fails_before_storing_anything() {
    let bundle = attack_data_dir().join("ics-attack-18.1.json");
    if let Some(missing) = missing_attack_bundle(["ics-attack-18.1.json"]) {
        return skip_or_fail(&missing);
    }
    if !postgres_or_skip() {
        return;
    }
    let Some(serve) = example_binary("serve") else {
        return skip_or_fail("the serve example is not built (run `cargo build --example serve`)");
    };
    with_database("taxii_taken_port", |url| {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = taken.local_addr().expect("an address").to_string();
        let mut command = std::process::Command::new(&serve);
        command.args(["--listen", &addr, "--postgres", url]).arg(&bundle);
        let finished = run_with_timeout(&mut command, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!finished.status.success(), "serve ran on a taken port: {}", finished.stderr);
        assert!(
            finished.stderr.contains("cannot listen") && !finished.stderr.contains("loaded"),
            "stderr: {}",
            finished.stderr
        );
        let schemas = tokio::runtime::Runtime::new().expect("a runtime").block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            let row = client
                .query_one(
                    "SELECT count(*) FROM information_schema.schemata WHERE schema_name <> 'public' \
                     AND schema_name <> 'information_schema' AND schema_name NOT LIKE 'pg\\_%'",
                    &[],
                )
                .await
                .expect("count the schemas");
            row.get::<_, i64>(0)
        });
        assert_eq!(schemas, 0, "serve created its schema before failing to listen");
    });
}

/// Runs `check` with the URL of a new database of its own, dropped afterwards (also
/// when `check` panics).
fn with_database(prefix: &str, check: impl FnOnce(&str) + std::panic::UnwindSafe) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let database = unique_schema(prefix);
    runtime.block_on(async {
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .expect("create the test database");
    });
    let mut config: tokio_postgres::Config = database_url().parse().expect("a valid test database URL");
    config.dbname(&database);
    let url = postgres_url(&config);
    let outcome = std::panic::catch_unwind(|| check(&url));
    runtime.block_on(async {
        let _ = admin()
            .await
            .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .await;
    });
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A `postgres://` URL for a configuration (user, password, first TCP host and port, database).
fn postgres_url(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!(
        "postgres://{user}{password}@{host}:{port}/{}",
        config.get_dbname().unwrap_or("postgres")
    )
}
