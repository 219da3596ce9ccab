//! TAXII inside an axum app, behind bearer-token authentication, with each token's
//! principal seeing its own collections.
//!
//! ```text
//! cargo run --example axum_bearer -- [--listen ADDR] [BUNDLE]
//! ```
//!
//! Two collections in API root `api/v21`: "Shared indicators" (loaded from BUNDLE
//! if given, else a few demo indicators) and "Team notes" (empty, writable).
//! Tokens (demo values; a real app reads them from its secret store):
//! - `alice-token`: alice reads and writes both collections;
//! - `bob-token`: bob reads "Shared indicators" only (he does not see "Team notes").
//!
//! Without a valid token every TAXII request gets 401 with `WWW-Authenticate: Bearer`
//! and a TAXII error body. The app's own `/health` route needs no token.

#[path = "support/bearer.rs"]
mod bearer;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use axum::{Router, routing::get};
use tower_taxii::{Access, ApiRoot, CollectionInfo, MemoryBackend, Principal, StaticPolicy, TaxiiService};

const ROOT: &str = "api/v21";
const SHARED: &str = "5ab8ba20-6e1b-4c5c-9d0e-4f4a0a5b3c11";
const NOTES: &str = "9e0c1d7a-3b2f-4e6a-8c5d-2f1e0b9a8d77";

fn demo_indicators() -> Vec<bytes::Bytes> {
    (1..=3)
        .map(|i| {
            bytes::Bytes::from(format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{i:08}-0000-4000-8000-000000000000","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"Demo {i}","pattern":"[ipv4-addr:value = '198.51.100.{i}']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}}"#
            ))
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut bundle = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?.parse()?,
            path => bundle = Some(path.to_owned()),
        }
    }

    let backend = Arc::new(MemoryBackend::new());
    backend.add_collection(ROOT, CollectionInfo::new(SHARED, "Shared indicators").access(true, true));
    backend.add_collection(ROOT, CollectionInfo::new(NOTES, "Team notes").access(true, true));
    match bundle {
        Some(path) => backend.load_bundle(ROOT, SHARED, &std::fs::read(&path)?)?,
        None => backend.insert_objects(ROOT, SHARED, demo_indicators())?,
    };

    // Who may do what: the policy sees the principal the token layer put in the request.
    let policy = StaticPolicy::new()
        .grant("alice", ROOT, SHARED, Access::READ_WRITE)
        .grant("alice", ROOT, NOTES, Access::READ_WRITE)
        .grant("bob", ROOT, SHARED, Access::READ);
    let taxii = TaxiiService::builder(backend)
        .title("ACME threat intelligence")
        .api_root(ROOT, ApiRoot::new("ACME"))
        .access_policy(policy)
        .build();
    let tokens = bearer::BearerTokens::new([
        ("alice-token".to_owned(), Principal::named("alice")),
        ("bob-token".to_owned(), Principal::named("bob")),
    ]);

    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(Router::new().fallback_service(taxii).layer(tokens.layer()));

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // TCP_NODELAY: large pages are streamed, and their last small write should not
    // wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
