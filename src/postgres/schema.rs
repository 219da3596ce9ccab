//! The database schema and its versioned migrations.
//!
//! Every table lives in one PostgreSQL schema (namespace) named by the
//! configuration. `schema_version` records each migration applied. Migrating runs
//! in one transaction holding a transaction-scoped advisory lock derived from the
//! schema name, so several instances starting at once apply each migration exactly
//! once, and a failed migration leaves nothing behind.

use tokio_postgres::Client;

use crate::backend::BackendError;
use crate::cursor::Digest;

use super::error::db_error;

/// The migrations, in order; `{schema}` stands for the quoted schema name.
/// Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: collections, versions with their indexes, per-spec counts, statuses.
    r#"
CREATE TABLE {schema}.collections (
    cid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    api_root text NOT NULL,
    id text NOT NULL,
    title text NOT NULL,
    description text,
    alias text,
    can_read boolean NOT NULL,
    can_write boolean NOT NULL,
    last_added bigint NOT NULL DEFAULT -9223372036854775808,
    UNIQUE (api_root, id)
);
CREATE TABLE {schema}.versions (
    cid bigint NOT NULL REFERENCES {schema}.collections (cid) ON DELETE CASCADE,
    date_added bigint NOT NULL,
    object_id text NOT NULL,
    object_type text NOT NULL,
    spec bigint NOT NULL,
    version text NOT NULL,
    version_key text NOT NULL,
    v_secs bigint NOT NULL,
    v_nanos integer NOT NULL,
    digest bigint NOT NULL,
    json bytea NOT NULL,
    PRIMARY KEY (cid, date_added)
);
CREATE UNIQUE INDEX versions_key ON {schema}.versions (cid, object_id, version_key, spec);
CREATE INDEX versions_rank ON {schema}.versions (cid, object_id, spec, v_secs, v_nanos, date_added);
CREATE INDEX versions_type ON {schema}.versions (cid, object_type, date_added);
CREATE TABLE {schema}.spec_counts (
    cid bigint NOT NULL REFERENCES {schema}.collections (cid) ON DELETE CASCADE,
    spec bigint NOT NULL,
    versions bigint NOT NULL,
    PRIMARY KEY (cid, spec)
);
CREATE TABLE {schema}.statuses (
    api_root text NOT NULL,
    id text NOT NULL,
    created bigint NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (api_root, id)
);
CREATE INDEX statuses_created ON {schema}.statuses (created);
"#,
    // 2: `is_latest` marks each object's version the default query selects when it
    // sees the whole collection: the greatest by (spec, instant, date_added). Writers
    // keep it up to date under the collection's lock (see the `write` module), so
    // builds before this migration must not write to a migrated schema. Backfilled
    // here; the partial indexes let a default page skip superseded versions.
    r#"
ALTER TABLE {schema}.versions ADD COLUMN is_latest boolean NOT NULL DEFAULT false;
UPDATE {schema}.versions v SET is_latest = true
FROM (
    SELECT DISTINCT ON (cid, object_id) cid, date_added FROM {schema}.versions
    ORDER BY cid, object_id, spec DESC, v_secs DESC, v_nanos DESC, date_added DESC
) l
WHERE v.cid = l.cid AND v.date_added = l.date_added;
CREATE UNIQUE INDEX versions_latest_id ON {schema}.versions (cid, object_id) WHERE is_latest;
CREATE INDEX versions_latest ON {schema}.versions (cid, date_added) WHERE is_latest;
CREATE INDEX versions_latest_type ON {schema}.versions (cid, object_type, date_added) WHERE is_latest;
"#,
];

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Whether `name` can be a schema name as given (lower-case letters, digits and
/// `_`, not starting with a digit, at most 63 bytes), so it needs no quoting.
pub(crate) fn is_valid_schema_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// The advisory lock key of a schema's migrations.
fn lock_key(schema: &str) -> i64 {
    Digest::new().field(b"tower-taxii migrations").field(schema.as_bytes()).finish() as i64
}

/// Creates the schema if needed and applies the migrations it lacks. Refuses a
/// schema that a newer build has migrated further than this one knows.
pub(crate) async fn migrate(client: &mut Client, schema: &str) -> Result<(), BackendError> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(schema)])
        .await
        .map_err(db_error)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE IF NOT EXISTS {schema}.schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
    ))
    .await
    .map_err(db_error)?;
    let row = tx
        .query_one(&format!("SELECT coalesce(max(version), 0) FROM {schema}.schema_version"), &[])
        .await
        .map_err(db_error)?;
    let current: i32 = row.try_get(0).map_err(db_error)?;
    if current > SCHEMA_VERSION {
        return Err(BackendError::internal(format!(
            "schema {schema} is at version {current}, newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.batch_execute(&migration.replace("{schema}", schema)).await.map_err(db_error)?;
        let version = index as i32 + 1;
        tx.execute(&format!("INSERT INTO {schema}.schema_version (version) VALUES ($1)"), &[&version])
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_need_no_quoting() {
        for good in ["taxii", "t_1", "_x"] {
            assert!(is_valid_schema_name(good), "{good}");
        }
        for bad in ["", "1x", "Taxii", "a-b", "a;drop", "a\"b", &"x".repeat(64)] {
            assert!(!is_valid_schema_name(bad), "{bad}");
        }
    }
}
