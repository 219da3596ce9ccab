//! The database going away during requests: through a small TCP proxy that the
//! test cuts (connections closed, new ones refused) or stalls (bytes no longer
//! forwarded), and by terminating the backend's server processes mid-write. The
//! service must answer a TAXII error (503) within the configured timeout, never
//! hang, recover by itself when the database is back, and a write must land whole
//! or be reported failed. Only this test's own connections are touched, so other
//! tests keep running.
#![cfg(feature = "postgres")]

mod common;
mod postgres_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres_support::{admin, backend_in, database_url, drop_schemas, envelope, indicator, postgres_or_skip, send, unique_schema};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_taxii::{ApiRoot, CollectionInfo, PostgresBackend, PostgresConfig, TaxiiService};

const ROOT: &str = "api/v21";
const COLLECTION: &str = "c1";
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward both ways.
    Forward,
    /// Close every connection, and close new ones at once.
    Cut,
    /// Keep connections open but forward nothing (a hung server or network).
    Stall,
}

/// A TCP proxy on 127.0.0.1 to the test database's server.
struct Proxy {
    port: u16,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (mode, _) = watch::channel(Mode::Forward);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut changes = modes.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let mode = *changes.borrow_and_update();
                    if mode != Mode::Forward {
                        // Refused (cut) or held without an answer (stall).
                        if mode == Mode::Stall {
                            let _ = changes.changed().await;
                        }
                        return;
                    }
                    let (mut client, Ok(mut server)) = (client, TcpStream::connect(&target).await) else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = async {
                            while changes.changed().await.is_ok() {
                                if *changes.borrow() != Mode::Forward {
                                    break;
                                }
                            }
                        } => {}
                    }
                    if *changes.borrow() == Mode::Stall {
                        // Hold both sockets open, forwarding nothing, until the mode changes again.
                        let _ = changes.changed().await;
                    }
                });
            }
        });
        Proxy { port, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

fn target() -> String {
    let config: tokio_postgres::Config = database_url().parse().expect("a valid test database URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432))
}

/// A backend whose connections go through the proxy.
async fn backend_through(proxy: &Proxy, schema: &str) -> PostgresBackend {
    let direct: tokio_postgres::Config = database_url().parse().expect("a valid test database URL");
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(proxy.port);
    if let Some(user) = direct.get_user() {
        config.user(user);
    }
    if let Some(password) = direct.get_password() {
        config.password(password);
    }
    if let Some(dbname) = direct.get_dbname() {
        config.dbname(dbname);
    }
    let backend = PostgresConfig::from_config(config)
        .schema(schema)
        .pool_size(4)
        .timeout(TIMEOUT)
        .connect()
        .await
        .expect("connect through the proxy");
    backend
        .add_collection(ROOT, CollectionInfo::new(COLLECTION, "Failures").access(true, true))
        .await
        .expect("add_collection");
    backend
}

fn service(backend: &PostgresBackend) -> TaxiiService {
    TaxiiService::builder(Arc::new(backend.clone()))
        .api_root(ROOT, ApiRoot::new("Failures"))
        .build()
}

/// Asks until the answer is 200 (at most `within`), returning how many failed first.
async fn until_ok(service: &TaxiiService, uri: &str, within: Duration) -> usize {
    let started = Instant::now();
    let mut failures = 0;
    loop {
        let answer = send(service, "GET", uri, None).await;
        if answer.status == 200 {
            return failures;
        }
        failures += 1;
        assert!(
            started.elapsed() < within,
            "no recovery within {within:?}: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TAXII 503 error answered within the timeout (plus scheduling slack).
async fn expect_unavailable(service: &TaxiiService, method: &str, uri: &str, body: Option<String>) {
    let started = Instant::now();
    let answer = send(service, method, uri, body).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{method} {uri}: {}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/taxii+json;version=2.1");
    assert_eq!(answer.body["http_status"], "503", "{}", answer.body);
    assert!(took < TIMEOUT * 2, "{method} {uri} took {took:?}, past the timeout of {TIMEOUT:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_answer_503_and_recover() {
    if !postgres_or_skip() {
        return;
    }
    let proxy = Proxy::start(target()).await;
    let schema = unique_schema("fail_cut");
    let backend = backend_through(&proxy, &schema).await;
    let taxii = service(&backend);
    let objects = format!("/{ROOT}/collections/{COLLECTION}/objects/");
    let posted = send(&taxii, "POST", &objects, Some(envelope(&[indicator(1, "2020-01-01T00:00:00Z")]))).await;
    assert_eq!(posted.status, 202, "{}", posted.body);
    assert_eq!(send(&taxii, "GET", &objects, None).await.status, 200);

    proxy.set(Mode::Cut);
    expect_unavailable(&taxii, "GET", &objects, None).await;
    expect_unavailable(&taxii, "GET", &format!("/{ROOT}/collections/"), None).await;
    expect_unavailable(&taxii, "POST", &objects, Some(envelope(&[indicator(2, "2020-01-01T00:00:00Z")]))).await;

    proxy.set(Mode::Forward);
    let failures = until_ok(&taxii, &objects, Duration::from_secs(10)).await;
    assert!(failures <= 1, "{failures} failed requests after the database came back");
    let answer = send(&taxii, "GET", &objects, None).await;
    assert_eq!(
        answer.body["objects"].as_array().map(Vec::len),
        Some(1),
        "the refused write landed: {}",
        answer.body
    );
    drop(taxii);
    drop(backend);
    drop_schemas(&[schema]).await;
}

/// A collection removed after the service looked it up: the PostgreSQL backend
/// fails every object of the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_to_a_collection_that_is_gone_fails_every_object() {
    if !postgres_or_skip() {
        return;
    }
    let schema = unique_schema("fail_gone");
    let backend = backend_in(&schema).await;
    common::assert_adding_to_a_missing_collection_fails(&backend, ROOT).await;
    drop(backend);
    drop_schemas(&[schema]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_answers_503_within_the_timeout_and_recovers() {
    if !postgres_or_skip() {
        return;
    }
    let proxy = Proxy::start(target()).await;
    let schema = unique_schema("fail_stall");
    let backend = backend_through(&proxy, &schema).await;
    let taxii = service(&backend);
    let objects = format!("/{ROOT}/collections/{COLLECTION}/objects/");
    assert_eq!(send(&taxii, "GET", &objects, None).await.status, 200);

    proxy.set(Mode::Stall);
    expect_unavailable(&taxii, "GET", &objects, None).await;
    expect_unavailable(&taxii, "POST", &objects, Some(envelope(&[indicator(3, "2020-01-01T00:00:00Z")]))).await;
    expect_unavailable(
        &taxii,
        "GET",
        &format!("/{ROOT}/status/2d1c7ae5-5e4a-4b4b-8e5e-0a0a0a0a0a0a/"),
        None,
    )
    .await;

    proxy.set(Mode::Forward);
    until_ok(&taxii, &objects, Duration::from_secs(10)).await;
    let answer = send(&taxii, "GET", &objects, None).await;
    assert!(answer.body["objects"].is_null(), "a write reported failed landed: {}", answer.body);
    drop(taxii);
    drop(backend);
    drop_schemas(&[schema]).await;
}

/// Terminates the backend's server processes while large writes are in flight:
/// each write either answers 202 with every object stored, or fails (503) with
/// none or all of them stored (a commit whose answer was lost), never part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cut_mid_transaction_land_whole_or_not_at_all() {
    if !postgres_or_skip() {
        return;
    }
    let schema = unique_schema("fail_mid");
    let application = format!("taxii_{schema}");
    let mut config: tokio_postgres::Config = database_url().parse().expect("a valid test database URL");
    config.application_name(&application);
    let backend = PostgresConfig::from_config(config)
        .schema(&schema)
        .pool_size(2)
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect");
    let taxii = service(&backend);
    let admin = admin().await;
    let mut outcomes = Vec::new();
    for (round, delay) in [0u64, 50, 150, 300, 600, 1200].into_iter().enumerate() {
        let collection = format!("c{round}");
        backend
            .add_collection(ROOT, CollectionInfo::new(&collection, "Mid-write").access(true, true))
            .await
            .expect("add_collection");
        let objects: Vec<String> = (0..2000).map(|n| indicator(n, "2020-01-01T00:00:00Z")).collect();
        let uri = format!("/{ROOT}/collections/{collection}/objects/");
        let write = {
            let (taxii, uri, body) = (taxii.clone(), uri.clone(), envelope(&objects));
            tokio::spawn(async move { send(&taxii, "POST", &uri, Some(body)).await })
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&application],
            )
            .await
            .expect("terminate");
        let answer = write.await.expect("the write task");
        until_ok(&taxii, &format!("/{ROOT}/collections/"), Duration::from_secs(10)).await;
        let stored = send(&taxii, "GET", &format!("{uri}?limit=5000"), None).await;
        let count = stored.body["objects"].as_array().map_or(0, Vec::len);
        match answer.status.as_u16() {
            202 => assert_eq!(count, 2000, "a write answered 202 stored {count} of 2000"),
            503 => assert!(count == 0 || count == 2000, "a failed write stored {count} of 2000 objects"),
            other => panic!("a write cut mid-way answered {other}: {}", answer.body),
        }
        outcomes.push((delay, answer.status.as_u16(), count));
    }
    println!("(delay ms, status, objects stored): {outcomes:?}");
    drop(taxii);
    drop(backend);
    drop_schemas(&[schema]).await;
}
