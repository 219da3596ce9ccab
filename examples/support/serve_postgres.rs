//! `serve --postgres URL`: a [`PostgresBackend`](tower_taxii::PostgresBackend) with
//! the bundles loaded into it, idempotently, so every instance of a deployment can
//! be started with the same arguments (or with none, to serve what is there).

use std::path::PathBuf;
use std::sync::Arc;

use tower_taxii::StorageBackend;

/// Connects (creating or upgrading the schema), loads the bundles, makes the
/// `--writable` collections writable.
#[cfg(feature = "postgres")]
pub(crate) async fn backend(
    url: &str,
    bundles: &[(Option<String>, PathBuf)],
    writable: &[(String, Option<String>)],
) -> Result<Arc<dyn StorageBackend>, String> {
    use tower_taxii::{CollectionInfo, PostgresBackend, Principal, bundle_objects};

    use super::{API_ROOT, collection_for, print_load_report};

    let backend = PostgresBackend::connect(url).await.map_err(|e| format!("PostgreSQL: {e}"))?;
    let existing = |id: String| {
        let backend = backend.clone();
        async move {
            backend
                .collection(API_ROOT, &id, &Principal::anonymous())
                .await
                .map_err(|e| format!("PostgreSQL: {e}"))
        }
    };
    for (id, path) in bundles {
        let started = std::time::Instant::now();
        let json = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let objects = bundle_objects(&json).map_err(|e| format!("{}: {e}", path.display()))?;
        let info = collection_for(id.as_deref(), path, &objects);
        let collection = info.id.clone();
        // A collection another instance made writable stays writable.
        let info = match existing(collection.clone()).await? {
            Some(stored) => info.access(stored.can_read, stored.can_write),
            None => info,
        };
        backend
            .add_collection(API_ROOT, info)
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        let report = backend
            .insert_objects(API_ROOT, &collection, objects)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        print_load_report(path, &collection, " (PostgreSQL)", &report, started);
    }
    for (id, title) in writable {
        let info = match existing(id.clone()).await? {
            Some(stored) => CollectionInfo {
                title: title.clone().unwrap_or(stored.title.clone()),
                media_types: None,
                ..stored
            },
            None => CollectionInfo::new(id.as_str(), title.as_deref().unwrap_or(id)),
        };
        backend
            .add_collection(API_ROOT, info.access(true, true))
            .await
            .map_err(|e| format!("PostgreSQL: {e}"))?;
        eprintln!("collection {id} is writable");
    }
    let count = backend
        .collections(API_ROOT, &Principal::anonymous())
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?
        .len();
    eprintln!("serving {count} collection(s) from PostgreSQL schema {}", backend.schema());
    Ok(Arc::new(backend))
}

/// Without the `postgres` feature, `--postgres` is refused.
#[cfg(not(feature = "postgres"))]
pub(crate) async fn backend(
    _url: &str,
    _bundles: &[(Option<String>, PathBuf)],
    _writable: &[(String, Option<String>)],
) -> Result<Arc<dyn StorageBackend>, String> {
    Err("--postgres needs the `postgres` feature: cargo run --features postgres --example serve -- --postgres URL ...".into())
}
