//! A TAXII 2.1 server on real data: loads STIX bundles into memory and serves them.
//!
//! ```text
//! cargo run --release --example serve -- [--listen ADDR] [--page-size N] [--base-url URL] [--writable ID[=TITLE]]... [--accept-bundles] [--token TOKEN]... [--postgres URL] [--stop-on-stdin-eof] [ID=]BUNDLE...
//! ```
//!
//! Discovery is at `/taxii2/` and the one API root at `/api/v21/`, as on MITRE's
//! server. A bundle given as `ID=PATH` goes into collection `ID`; otherwise its
//! `x-mitre-collection` object names the collection (id, title, description), and a
//! bundle without one goes into a collection named after the file. Bundles load in
//! the order given, so several releases of one collection build its version history.
//! With no bundle (and no `--writable`), a small generated demo collection is served.
//! `--writable ID[=TITLE]` (repeatable) makes a loaded collection writable, or
//! creates an empty writable one, so clients can add and delete objects;
//! `--accept-bundles` also takes STIX bundles as add-objects bodies (what `stix2`'s
//! `TAXIICollectionSink` sends). `--token TOKEN` (repeatable) requires
//! `Authorization: Bearer TOKEN` on every request (401 otherwise).
//! `--postgres URL` (feature `postgres`) serves a PostgreSQL database instead of
//! memory: the bundles given are loaded into it idempotently (versions it holds
//! already stay as they are), and with none it serves what the database holds, so
//! any number of instances can serve one database. `--stop-on-stdin-eof` stops the
//! server when its standard input closes: a program that starts it with a pipe as its
//! stdin (the load harness, `benches/load.rs`) takes it down with itself, however it
//! ends, even killed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use axum::serve::ListenerExt;

#[path = "support/bearer.rs"]
mod bearer;
#[path = "support/serve_postgres.rs"]
mod serve_postgres;

use tower_taxii::{ApiRoot, CollectionInfo, LoadReport, MemoryBackend, Principal, StorageBackend, TaxiiService, bundle_objects};

const API_ROOT: &str = "api/v21";

struct Options {
    listen: SocketAddr,
    page_size: Option<usize>,
    base_url: Option<String>,
    bundles: Vec<(Option<String>, PathBuf)>,
    writable: Vec<(String, Option<String>)>,
    accept_bundles: bool,
    tokens: Vec<String>,
    postgres: Option<String>,
    stop_on_stdin_eof: bool,
}

const USAGE: &str = "usage: serve [--listen ADDR] [--page-size N] [--base-url URL] [--writable ID[=TITLE]]... [--accept-bundles] [--token TOKEN]... [--postgres URL] [--stop-on-stdin-eof] [ID=]BUNDLE...";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        listen: ([127, 0, 0, 1], 8080).into(),
        page_size: None,
        base_url: None,
        bundles: Vec::new(),
        writable: Vec::new(),
        accept_bundles: false,
        tokens: Vec::new(),
        postgres: None,
        stop_on_stdin_eof: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => options.listen = value("--listen")?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--page-size" => {
                let n: usize = value("--page-size")?.parse().map_err(|e| format!("--page-size: {e}"))?;
                if n == 0 {
                    return Err("--page-size must be at least 1".into());
                }
                options.page_size = Some(n);
            }
            "--base-url" => options.base_url = Some(value("--base-url")?),
            "--writable" => {
                let spec = value("--writable")?;
                let (id, title) = match spec.split_once('=') {
                    Some((id, title)) => (id.to_owned(), Some(title.to_owned())),
                    None => (spec, None),
                };
                if id.is_empty() {
                    return Err("--writable needs a collection id".into());
                }
                options.writable.push((id, title));
            }
            "--accept-bundles" => options.accept_bundles = true,
            "--token" => {
                let token = value("--token")?;
                if token.is_empty() {
                    return Err("--token needs a non-empty token".into());
                }
                options.tokens.push(token);
            }
            "--postgres" => options.postgres = Some(value("--postgres")?),
            "--stop-on-stdin-eof" => options.stop_on_stdin_eof = true,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            bundle => options.bundles.push(match bundle.split_once('=') {
                Some((id, path)) if !id.is_empty() => (Some(id.to_owned()), PathBuf::from(path)),
                _ => (None, PathBuf::from(bundle)),
            }),
        }
    }
    Ok(options)
}

/// The collection a bundle names with its `x-mitre-collection` object, if it has one.
fn mitre_collection(objects: &[bytes::Bytes]) -> Option<CollectionInfo> {
    objects.iter().find_map(|json| {
        if !json.windows(20).any(|w| w == b"\"x-mitre-collection\"") {
            return None;
        }
        let value: serde_json::Value = serde_json::from_slice(json).ok()?;
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

/// The collection a bundle goes into: the `ID=` given, else its `x-mitre-collection`, else its file's name.
fn collection_for(id: Option<&str>, path: &Path, objects: &[bytes::Bytes]) -> CollectionInfo {
    match (id, mitre_collection(objects)) {
        (Some(id), Some(named)) => CollectionInfo {
            id: id.to_owned(),
            ..named
        },
        (Some(id), None) => CollectionInfo::new(id, id),
        (None, Some(named)) => named,
        (None, None) => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("collection");
            eprintln!(
                "note: {} has no x-mitre-collection object; serving it as collection {stem:?}",
                path.display()
            );
            CollectionInfo::new(stem, stem)
        }
    }
}

fn load(backend: &MemoryBackend, id: Option<&str>, path: &Path) -> Result<(), String> {
    let started = Instant::now();
    let json = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let objects = bundle_objects(&json).map_err(|e| format!("{}: {e}", path.display()))?;
    let info = collection_for(id, path, &objects);
    // The objects were read only to name the collection: free them before the backend
    // makes its own copies, so the bundle is not held twice at the peak.
    drop(objects);
    let collection = info.id.clone();
    backend.add_collection(API_ROOT, info);
    let report = backend
        .load_bundle(API_ROOT, &collection, &json)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    print_load_report(path, &collection, "", &report, started);
    Ok(())
}

/// Prints what loading the bundle at `path` into `collection` did, begun at
/// `started`, and the first rejections; `store` follows the collection's name
/// (empty for memory).
fn print_load_report(path: &Path, collection: &str, store: &str, report: &LoadReport, started: Instant) {
    eprintln!(
        "loaded {} into {collection}{store}: {} new versions, {} duplicates ({} with other content; first copy kept), {} rejected ({} ms)",
        path.display(),
        report.added,
        report.duplicates,
        report.conflicts,
        report.rejected.len(),
        started.elapsed().as_millis()
    );
    for rejected in report.rejected.iter().take(5) {
        eprintln!("  rejected {rejected}");
    }
}

/// A small collection with a version history, for trying the server without data.
fn demo(backend: &MemoryBackend) {
    let collection = "365fed99-08fa-fdcd-a1b3-fb247eb41d01";
    backend.add_collection(
        API_ROOT,
        CollectionInfo::new(collection, "Demo collection").description("Generated by tower-taxii's serve example"),
    );
    let mut objects = Vec::new();
    for i in 0..20u32 {
        let id = format!("indicator--{:08x}-0000-4000-8000-{:012x}", i, i);
        for v in 0..=(i % 3) {
            objects.push(format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"{id}","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-0{}T00:00:00.000Z","name":"Demo indicator {i}","pattern":"[ipv4-addr:value = '198.51.100.{i}']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}}"#,
                v + 1
            ));
        }
    }
    let report = backend
        .insert_objects(API_ROOT, collection, objects.into_iter().map(bytes::Bytes::from))
        .expect("the demo collection exists");
    eprintln!(
        "serving a demo collection {collection} ({} versions); pass bundle files to serve real data",
        report.added
    );
}

/// The memory backend with the bundles and writable collections asked for (the demo collection without them).
fn memory_backend(options: &Options) -> Result<Arc<dyn StorageBackend>, String> {
    let backend = Arc::new(MemoryBackend::new());
    if options.bundles.is_empty() && options.writable.is_empty() {
        demo(&backend);
    }
    for (id, path) in &options.bundles {
        load(&backend, id.as_deref(), path)?;
    }
    for (id, title) in &options.writable {
        let info = match backend.collection_info(API_ROOT, id) {
            Some(loaded) => CollectionInfo {
                title: title.clone().unwrap_or(loaded.title.clone()),
                ..loaded
            },
            None => CollectionInfo::new(id.as_str(), title.as_deref().unwrap_or(id)),
        };
        backend.add_collection(API_ROOT, info.access(true, true));
        eprintln!("collection {id} is writable");
    }
    Ok(backend)
}

/// Resolves when standard input reaches its end, if `watch`; else never. Read on a
/// thread of its own, which does not keep the process alive after `main` returns.
async fn stdin_closed(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let (closed, on_close) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        while std::io::Read::read(&mut std::io::stdin(), &mut sink).is_ok_and(|n| n > 0) {}
        let _ = closed.send(());
    });
    let _ = on_close.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("serve: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Bind first: a taken port fails at once, before any bundle is read or stored.
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("serve: cannot listen on {}: {e}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    let backend = match &options.postgres {
        Some(url) => serve_postgres::backend(url, &options.bundles, &options.writable).await,
        None => memory_backend(&options),
    };
    let backend = match backend {
        Ok(backend) => backend,
        Err(message) => {
            eprintln!("serve: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = TaxiiService::builder(backend)
        .title("tower-taxii example server")
        .description("STIX 2.1 and 2.0 collections served by tower-taxii")
        .api_root(API_ROOT, ApiRoot::new("TAXII 2.1 API root"))
        .accept_bundles(options.accept_bundles);
    if let Some(n) = options.page_size {
        builder = builder.max_page_size(n);
    }
    if let Some(url) = &options.base_url {
        builder = builder.base_url(url);
    }
    let mut app = axum::Router::new().fallback_service(builder.build());
    if !options.tokens.is_empty() {
        let holders = options
            .tokens
            .iter()
            .enumerate()
            .map(|(i, token)| (token.clone(), Principal::named(format!("token-{}", i + 1))));
        app = app.layer(bearer::BearerTokens::new(holders).layer());
        eprintln!("requests need one of the {} bearer token(s) given", options.tokens.len());
    }

    let addr = listener.local_addr().expect("a bound listener has an address");
    println!("listening on http://{addr}");
    let stdin_closed = stdin_closed(options.stop_on_stdin_eof);
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stdin_closed => {}
        }
    };
    // Without TCP_NODELAY, the last small write of a large streamed page can wait
    // for the client's delayed ACK: about 40 ms now and then on a keep-alive
    // connection.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("serve: cannot set TCP_NODELAY: {e}");
        }
    });
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("serve: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
