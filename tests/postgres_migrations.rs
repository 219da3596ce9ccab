//! Upgrading a schema: a database made by a build before the `is_latest` marks
//! (schema version 1) migrates when a newer build connects, and the marks it
//! backfills select what the default query selected before: each object's latest
//! version by spec version, instant and `date_added`.
#![cfg(feature = "postgres")]

mod common;
mod postgres_support;

use bytes::Bytes;
use postgres_support::{admin, backend_in, drop_schemas, postgres_or_skip, unique_schema};
use tower_taxii::{
    CollectionInfo, ObjectFilter, ObjectQuery, PostgresBackend, Principal, SpecVersion, StorageBackend, VersionSelector,
    postgres::SCHEMA_VERSION,
};

const ROOT: &str = "api/v21";
const COLLECTION: &str = "c1";

/// An object of type `kind` numbered `n`, version `modified`, STIX 2.1 or (without
/// `spec_version`) 2.0.
fn object(kind: &str, n: u32, modified: &str, v21: bool) -> Bytes {
    let spec = if v21 { r#""spec_version":"2.1","# } else { "" };
    Bytes::from(format!(
        r#"{{"type":"{kind}",{spec}"id":"{kind}--{n:08x}-0000-4000-8000-000000000000","created":"2019-01-01T00:00:00Z","modified":"{modified}","name":"{kind} {n}"}}"#
    ))
}

/// (type and the id's first 8 digits, version, whether STIX 2.1) of the default query's whole answer, in order.
async fn latest(backend: &PostgresBackend) -> Vec<(String, String, bool)> {
    let query = ObjectQuery {
        filter: ObjectFilter::default(),
        limit: 1000,
        position: None,
    };
    let page = backend
        .objects(ROOT, COLLECTION, &query, &Principal::anonymous())
        .await
        .expect("objects");
    assert!(!page.more);
    let short = |id: &str| {
        id.split_once("--")
            .map(|(kind, uuid)| format!("{kind}--{}", &uuid[..8]))
            .unwrap_or_default()
    };
    page.items
        .iter()
        .map(|v| (short(v.id()), v.version().to_owned(), v.spec_version() == SpecVersion::V2_1))
        .collect()
}

fn expect(items: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    items.iter().map(|(id, v, s)| ((*id).to_owned(), (*v).to_owned(), *s)).collect()
}

/// Takes a schema back to version 1: what a build before the marks left behind.
async fn downgrade_to_version_1(schema: &str) {
    admin()
        .await
        .batch_execute(&format!(
            "DROP INDEX {schema}.versions_latest_id, {schema}.versions_latest, {schema}.versions_latest_type; \
             ALTER TABLE {schema}.versions DROP COLUMN is_latest; \
             DELETE FROM {schema}.schema_version WHERE version > 1"
        ))
        .await
        .expect("downgrade");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_backfills_the_latest_marks() {
    if !postgres_or_skip() {
        return;
    }
    assert_eq!(
        SCHEMA_VERSION, 2,
        "this test knows version 2's objects; update it for later migrations"
    );
    let schema = unique_schema("mig");
    let backend = backend_in(&schema).await;
    backend
        .add_collection(ROOT, CollectionInfo::new(COLLECTION, "c").access(true, true))
        .await
        .expect("add_collection");
    let objects = vec![
        // A: an older version added after the latest.
        object("tool", 1, "2020-01-01T00:00:00Z", true),
        object("tool", 1, "2022-01-01T00:00:00Z", true),
        object("tool", 1, "2021-01-01T00:00:00Z", true),
        // B: a later instant in 2.0 loses to the 2.1 version.
        object("malware", 2, "2023-01-01T00:00:00Z", false),
        object("malware", 2, "2020-01-01T00:00:00Z", true),
        // C: one instant spelled twice: the one added later is later.
        object("indicator", 3, "2020-01-01T00:00:00.000Z", true),
        object("indicator", 3, "2020-01-01T00:00:00Z", true),
        // D: one version.
        object("tool", 4, "2020-01-01T00:00:00Z", true),
        // E: its latest version is deleted below.
        object("malware", 5, "2020-01-01T00:00:00Z", true),
        object("malware", 5, "2021-01-01T00:00:00Z", true),
    ];
    let report = backend.insert_objects(ROOT, COLLECTION, objects).await.expect("insert_objects");
    assert_eq!(report.added, 10, "{report:?}");
    let last = VersionSelector::Pick {
        first: false,
        last: true,
        at: Vec::new(),
    };
    let removed = backend
        .delete_object(
            ROOT,
            COLLECTION,
            "malware--00000005-0000-4000-8000-000000000000",
            &last,
            None,
            &Principal::anonymous(),
        )
        .await
        .expect("delete_object");
    assert_eq!(removed, 1);
    let expected = expect(&[
        ("tool--00000001", "2022-01-01T00:00:00Z", true),
        ("malware--00000002", "2020-01-01T00:00:00Z", true),
        ("indicator--00000003", "2020-01-01T00:00:00Z", true),
        ("tool--00000004", "2020-01-01T00:00:00Z", true),
        ("malware--00000005", "2020-01-01T00:00:00Z", true),
    ]);
    assert_eq!(latest(&backend).await, expected, "the marks the writes kept");
    drop(backend);

    downgrade_to_version_1(&schema).await;
    let backend = backend_in(&schema).await;
    let versions: Vec<i32> = admin()
        .await
        .query(&format!("SELECT version FROM {schema}.schema_version ORDER BY version"), &[])
        .await
        .expect("schema_version")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2], "the upgrade applied version 2");
    assert_eq!(latest(&backend).await, expected, "the marks the upgrade backfilled");

    // Writes after the upgrade keep the marks.
    let report = backend
        .insert_objects(ROOT, COLLECTION, vec![object("tool", 1, "2024-01-01T00:00:00Z", true)])
        .await
        .expect("insert_objects");
    assert_eq!(report.added, 1);
    let mut now = expected[1..].to_vec();
    now.push(("tool--00000001".to_owned(), "2024-01-01T00:00:00Z".to_owned(), true));
    assert_eq!(latest(&backend).await, now, "a new latest version after the upgrade");
    drop(backend);
    drop_schemas(&[schema]).await;
}
