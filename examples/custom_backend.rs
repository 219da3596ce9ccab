//! A read-only backend of your own in a few lines: objects from a file (or a `Vec`),
//! with the crate's own filtering, version selection and paging.
//!
//! ```text
//! cargo run --example custom_backend -- [--listen ADDR] [FILE]
//! ```
//!
//! FILE is a STIX bundle or a file of one JSON object per line; without it a few
//! generated objects are served. The collection is at
//! `/api/v21/collections/feed/` and discovery at `/taxii2/`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use bytes::Bytes;
use tower_taxii::{
    ApiRoot, BackendError, CollectionIndex, CollectionInfo, ObjectQuery, ObjectVersion, Page, Principal, StorageBackend, TaxiiService,
    Timestamp, async_trait, bundle_objects,
};

/// One read-only collection over objects given at start-up.
struct FeedBackend {
    collection: CollectionInfo,
    index: CollectionIndex,
}

impl FeedBackend {
    fn new(objects: Vec<Bytes>) -> Self {
        let mut index = CollectionIndex::new();
        for json in objects {
            if let Err(invalid) = index.insert_json(json, Timestamp::now()) {
                eprintln!("skipping an object: {invalid}");
            }
        }
        FeedBackend {
            collection: CollectionInfo::new("feed", "My feed"),
            index,
        }
    }
}

// The whole backend: what collections there are, and one page of objects. The
// manifest, versions and object endpoints are derived from `objects`; writes
// answer "read-only" by default.
#[async_trait]
impl StorageBackend for FeedBackend {
    async fn collections(&self, _api_root: &str, _principal: &Principal) -> Result<Vec<CollectionInfo>, BackendError> {
        Ok(vec![CollectionInfo {
            media_types: self.index.media_types(),
            ..self.collection.clone()
        }])
    }

    async fn objects(
        &self,
        _api_root: &str,
        _collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<Page<ObjectVersion>, BackendError> {
        Ok(self.index.query(query))
    }
}

/// The objects of a bundle, or of a file with one JSON object per line.
fn read_objects(path: &str) -> Result<Vec<Bytes>, Box<dyn std::error::Error>> {
    let text = std::fs::read(path)?;
    match bundle_objects(&text) {
        Ok(objects) => Ok(objects),
        Err(_) => Ok(text
            .split(|&b| b == b'\n')
            .filter(|line| !line.trim_ascii().is_empty())
            .map(Bytes::copy_from_slice)
            .collect()),
    }
}

fn demo_objects() -> Vec<Bytes> {
    (1..=5)
        .map(|i| {
            Bytes::from(format!(
                r#"{{"type":"identity","spec_version":"2.1","id":"identity--{i:08}-1111-4111-8111-111111111111","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-0{i}T00:00:00.000Z","name":"Source {i}","identity_class":"organization"}}"#
            ))
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?.parse()?,
            path => file = Some(path.to_owned()),
        }
    }
    let objects = match &file {
        Some(path) => read_objects(path)?,
        None => demo_objects(),
    };
    let taxii = TaxiiService::builder(Arc::new(FeedBackend::new(objects)))
        .api_root("api/v21", ApiRoot::new("Feed"))
        .build();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // TCP_NODELAY: large pages are streamed, and their last small write should not
    // wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, axum::Router::new().fallback_service(taxii))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
