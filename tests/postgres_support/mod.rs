//! Helpers of the PostgreSQL tests: where the server is, whether it answers, a
//! schema of its own for each backend a test makes (so tests run in parallel), and
//! the testkit factory. Use with `mod common; mod postgres_support;`.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_taxii::testkit::BackendFactory;
use tower_taxii::{CollectionInfo, PostgresBackend, PostgresConfig, StorageBackend, async_trait};

/// The test database: `TAXII_TEST_DATABASE_URL`, else the local server's `test`
/// database with trust authentication.
pub fn database_url() -> String {
    std::env::var("TAXII_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether PostgreSQL answers; when it does not, says `skipping: ...` (or panics
/// when `CI` is set) and returns false.
pub fn postgres_or_skip() -> bool {
    let url = database_url();
    let answers = url
        .parse::<tokio_postgres::Config>()
        .ok()
        .and_then(|config| {
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                _ => "127.0.0.1".to_owned(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            (host.as_str(), port).to_socket_addrs().ok()?.next()
        })
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if !answers {
        crate::common::skip_or_fail(&format!("PostgreSQL does not answer at {url} (set TAXII_TEST_DATABASE_URL)"));
    }
    answers
}

/// A schema name no other test (in this or another process) uses.
pub fn unique_schema(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain connection to the test database, for set-up and inspection.
pub async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Drops schemas (and everything in them).
pub async fn drop_schemas(names: &[String]) {
    if names.is_empty() {
        return;
    }
    let client = admin().await;
    for name in names {
        if let Err(e) = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await {
            eprintln!("warning: could not drop schema {name}: {e}");
        }
    }
}

/// A backend in a new schema of the test database.
pub async fn backend_in(schema: &str) -> PostgresBackend {
    PostgresConfig::new(&database_url())
        .expect("a valid test database URL")
        .schema(schema)
        .pool_size(4)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", database_url()))
}

/// Makes each backend in a schema of its own and drops them all after the check.
#[derive(Default)]
pub struct PgFactory {
    made: Mutex<Vec<String>>,
}

impl PgFactory {
    /// A factory when PostgreSQL answers, else `None` (after saying it skips).
    pub fn if_available() -> Option<PgFactory> {
        postgres_or_skip().then(PgFactory::default)
    }
}

#[async_trait]
impl BackendFactory for PgFactory {
    async fn make(&self, collections: &[(&str, CollectionInfo)]) -> std::sync::Arc<dyn StorageBackend> {
        let schema = unique_schema("tk");
        self.made.lock().unwrap_or_else(|p| p.into_inner()).push(schema.clone());
        let backend = backend_in(&schema).await;
        for (root, info) in collections {
            backend.add_collection(root, info.clone()).await.expect("add_collection");
        }
        std::sync::Arc::new(backend)
    }

    async fn cleanup(&self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap_or_else(|p| p.into_inner()));
        drop_schemas(&made).await;
    }
}

/// What a request got back: status, headers, and the body as JSON (`null` when empty).
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

/// Sends one request through the service (anonymous), with the TAXII media type.
pub async fn send(service: &tower_taxii::TaxiiService, method: &str, uri: &str, body: Option<String>) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let taxii = "application/taxii+json;version=2.1";
    let mut request = http::Request::builder().method(method).uri(uri).header("accept", taxii);
    if body.is_some() {
        request = request.header("content-type", taxii);
    }
    let request = request.body(body.unwrap_or_default()).expect("a valid request");
    let response = service.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap_or_else(|never| match never {}).to_bytes();
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {uri}: not JSON ({e}): {bytes:?}"))
    };
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A STIX 2.1 indicator with a UUID made from `n`.
pub fn indicator(n: u32, modified: &str) -> String {
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{n:08x}-0000-4000-8000-000000000000","created":"2020-01-01T00:00:00Z","modified":"{modified}","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}}"#
    )
}

/// An envelope of these objects.
pub fn envelope(objects: &[String]) -> String {
    format!("{{\"objects\":[{}]}}", objects.join(","))
}
