//! The PostgreSQL backend (feature `postgres`): collections in a database that any
//! number of server instances share.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tower_taxii::{ApiRoot, CollectionInfo, PostgresConfig, TaxiiService};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = PostgresConfig::new("postgres://taxii@db.example.com/cti")?
//!     .schema("taxii")
//!     .pool_size(16)
//!     .timeout(Duration::from_secs(5))
//!     .connect()
//!     .await?;
//! backend.add_collection("api/v21", CollectionInfo::new("91a7b528-80eb-42ed-a74d-c6fbd5a26116", "Indicators")).await?;
//! let bundle = std::fs::read("enterprise-attack.json")?;
//! backend.load_bundle("api/v21", "91a7b528-80eb-42ed-a74d-c6fbd5a26116", &bundle).await?;
//! let taxii = TaxiiService::builder(Arc::new(backend)).api_root("api/v21", ApiRoot::new("CTI")).build();
//! # let _ = taxii; Ok(()) }
//! ```
//!
//! # How it stores
//! - [`connect`](PostgresConfig::connect) creates its schema (one PostgreSQL
//!   namespace, `taxii` by default) and applies the versioned migrations it lacks,
//!   under an advisory lock, so instances can start together.
//! - Each object version is a row holding the original JSON bytes unchanged plus the
//!   fields TAXII filters on; `date_added` is in microseconds, strictly increasing per
//!   collection across every writer on every instance (see the `write` module docs).
//! - Filters, version selection and keyset pagination run in SQL on indexes, so a
//!   page costs about the same at ten thousand and at a million versions (see
//!   `tests/postgres_plans.rs` for the query plans). Writes mark each object's
//!   latest version (`is_latest`), so a page of the default query reads those
//!   marked versions only, however many superseded versions lie in between.
//! - Statuses are rows too, so a status created through one instance is served by
//!   every other; the `next` cursor holds its whole position, so it works on any.
//!
//! # Failures
//! Every call runs under [`timeout`](PostgresConfig::timeout) (also the server-side
//! `statement_timeout`): past it, or when the database cannot be reached, the call
//! fails as [`unavailable`](crate::BackendError::unavailable) and the service
//! answers 503 with a TAXII error. A connection that failed or timed out is
//! dropped, not reused; new ones are made as needed, so service resumes by itself
//! when the database is back. A write is one transaction per request: its objects
//! and its status land together, or the request fails as a whole.
//!
//! # Principals
//! Like the memory backend, it gives every principal the same view; put
//! per-principal rules in an [`AccessPolicy`](crate::AccessPolicy).
//! Connections are plain TCP (no TLS).

mod error;
mod schema;
mod select;
mod status;
mod write;

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::backend::{BackendError, Page, Principal, StorageBackend};
use crate::bundle::bundle_objects;
use crate::load::{LoadError, LoadReport};
use crate::manifest::{ManifestJson, ManifestPage};
use crate::query::{ObjectQuery, VersionSelector};
use crate::resources::{COLLECTION_GONE, CollectionInfo, Status, StatusDetail, VersionRecord};
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::Timestamp;

use error::{db_error, pool_error};
pub use schema::SCHEMA_VERSION;
use select::{Walk, spec_from_code};
use write::{NOW_MICROS, Outcome};

/// How [`PostgresBackend`] connects; build one with [`PostgresConfig::new`].
#[derive(Clone)]
pub struct PostgresConfig {
    pg: tokio_postgres::Config,
    schema: String,
    pool_size: usize,
    timeout: Duration,
    status_ttl: Duration,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("hosts", &self.pg.get_hosts())
            .field("dbname", &self.pg.get_dbname())
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresConfig {
    /// The default schema name.
    pub const DEFAULT_SCHEMA: &'static str = "taxii";
    /// The default number of pooled connections.
    pub const DEFAULT_POOL_SIZE: usize = 16;
    /// The default time limit of one backend call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long statuses are kept by default: 24 hours.
    pub const DEFAULT_STATUS_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// A configuration from a connection URL (`postgres://user:password@host:port/db`)
    /// or a key-value string (`host=... dbname=...`).
    pub fn new(url: &str) -> Result<Self, BackendError> {
        let pg = url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| BackendError::internal(format!("invalid PostgreSQL connection string: {e}")))?;
        Ok(Self::from_config(pg))
    }

    /// A configuration from a driver configuration.
    pub fn from_config(pg: tokio_postgres::Config) -> Self {
        PostgresConfig {
            pg,
            schema: Self::DEFAULT_SCHEMA.to_owned(),
            pool_size: Self::DEFAULT_POOL_SIZE,
            timeout: Self::DEFAULT_TIMEOUT,
            status_ttl: Self::DEFAULT_STATUS_TTL,
        }
    }

    /// The schema (namespace) holding the tables: lower-case letters, digits and
    /// `_`, not starting with a digit (default `taxii`). Instances that share one
    /// must use the same.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// The most connections kept open (default 16; at least 1).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// The time limit of one backend call, waiting for a connection included
    /// (default 10 s). Past it the call fails as unavailable (503).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long status resources are kept (default 24 hours).
    pub fn status_ttl(mut self, ttl: Duration) -> Self {
        self.status_ttl = ttl;
        self
    }

    /// Connects, creates or upgrades the schema, and returns the backend.
    pub async fn connect(self) -> Result<PostgresBackend, BackendError> {
        if !schema::is_valid_schema_name(&self.schema) {
            return Err(BackendError::internal(format!(
                "schema name {:?} must be lower-case letters, digits and _",
                self.schema
            )));
        }
        let mut pg = self.pg.clone();
        let millis = self.timeout.as_millis().max(1);
        let options = pg.get_options().map(|o| format!("{o} ")).unwrap_or_default();
        pg.options(format!("{options}-c statement_timeout={millis}"));
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(self.timeout);
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(self.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.timeout))
            .create_timeout(Some(self.timeout))
            .recycle_timeout(Some(self.timeout))
            .build()
            .map_err(|e| BackendError::internal(format!("PostgreSQL pool: {e}")))?;
        let backend = PostgresBackend {
            shared: Arc::new(Shared {
                pool,
                schema: self.schema,
                timeout: self.timeout,
                status_ttl: self.status_ttl,
            }),
        };
        backend
            .within(async {
                let mut conn = backend.conn().await?;
                schema::migrate(&mut conn, &backend.shared.schema).await?;
                conn.release();
                Ok(())
            })
            .await?;
        Ok(backend)
    }
}

/// A [`StorageBackend`] on PostgreSQL. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresBackend {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    schema: String,
    timeout: Duration,
    status_ttl: Duration,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("schema", &self.shared.schema)
            .field("pool", &self.shared.pool.status())
            .finish_non_exhaustive()
    }
}

/// A pooled connection that goes back to the pool only when released after a
/// successful call; dropped otherwise (an error or a timeout may have left it
/// broken or mid-transaction), so the pool makes a fresh one.
struct Conn(Option<deadpool_postgres::Object>);

impl Conn {
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

impl Deref for Conn {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &Self::Target {
        // Only `release` and `drop` empty the option, and both consume or end the guard.
        self.0.as_deref().unwrap_or_else(|| unreachable!("a released connection is used"))
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("a released connection is used"))
    }
}

/// Versions per transaction when loading.
const LOAD_BATCH: usize = 5000;

impl PostgresBackend {
    /// Connects with the default configuration (see [`PostgresConfig`]).
    pub async fn connect(url: &str) -> Result<Self, BackendError> {
        PostgresConfig::new(url)?.connect().await
    }

    /// The schema holding this backend's tables.
    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    async fn conn(&self) -> Result<Conn, BackendError> {
        Ok(Conn(Some(self.shared.pool.get().await.map_err(pool_error)?)))
    }

    /// Runs `call` under the configured timeout.
    async fn within<T>(&self, call: impl Future<Output = Result<T, BackendError>>) -> Result<T, BackendError> {
        match tokio::time::timeout(self.shared.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::unavailable(format!(
                "PostgreSQL did not answer within {:?}",
                self.shared.timeout
            ))),
        }
    }

    /// Adds a collection to an API root, or updates the descriptive fields and
    /// access of the one with the same id (keeping its objects). `can_read` and
    /// `can_write` apply to every principal; collections are listed in the order
    /// they were first added.
    pub async fn add_collection(&self, api_root: &str, info: CollectionInfo) -> Result<(), BackendError> {
        let schema = &self.shared.schema;
        self.within(async {
            let conn = self.conn().await?;
            let sql = format!(
                "INSERT INTO {schema}.collections (api_root, id, title, description, alias, can_read, can_write) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (api_root, id) DO UPDATE SET title = excluded.title, description = excluded.description, alias = excluded.alias, \
                 can_read = excluded.can_read, can_write = excluded.can_write"
            );
            let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
            conn.execute(
                &statement,
                &[&api_root, &info.id, &info.title, &info.description, &info.alias, &info.can_read, &info.can_write],
            )
            .await
            .map_err(db_error)?;
            conn.release();
            Ok(())
        })
        .await
    }

    /// Loads every object of a STIX bundle into a collection (see [`insert_objects`](Self::insert_objects)).
    pub async fn load_bundle(&self, api_root: &str, collection: &str, json: &[u8]) -> Result<LoadReport, LoadError> {
        let objects = bundle_objects(json).map_err(LoadError::Bundle)?;
        self.insert_objects(api_root, collection, objects).await
    }

    /// Stores objects (each one JSON object, kept byte-for-byte) in a collection, in
    /// order, in transactions of up to 5000 versions (each under the timeout). New
    /// (id, version, spec version) triples get strictly increasing `date_added`
    /// values; ones already there are counted as duplicates and left unchanged, so
    /// loading the same data again changes nothing; invalid ones are reported.
    /// Objects are read from `objects` one transaction's worth at a time, so a lazy
    /// iterator loads any amount in bounded memory.
    pub async fn insert_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: impl IntoIterator<Item = Bytes>,
    ) -> Result<LoadReport, LoadError> {
        let cid = self
            .within(self.collection_row(api_root, collection))
            .await
            .map_err(LoadError::Backend)?
            .map(|(cid, _)| cid)
            .ok_or_else(|| LoadError::NoSuchCollection(collection.to_owned()))?;
        let mut report = LoadReport::default();
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        let now = Timestamp::now();
        let mut objects = objects.into_iter().peekable();
        while let Some(json) = objects.next() {
            match ObjectVersion::parse(json, now) {
                Ok(version) => batch.push(version),
                Err(invalid) => report.rejected.push(invalid),
            }
            if batch.is_empty() || (batch.len() < LOAD_BATCH && objects.peek().is_some()) {
                continue;
            }
            let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
            let outcomes = self.within(self.store(cid, full, None)).await.map_err(LoadError::Backend)?;
            for outcome in outcomes {
                match outcome {
                    Outcome::Added(_) => report.added += 1,
                    Outcome::Duplicate { identical, .. } => {
                        report.duplicates += 1;
                        report.conflicts += usize::from(!identical);
                    }
                }
            }
        }
        Ok(report)
    }

    /// How PostgreSQL runs the page query of `query` (objects, or with `with_json`
    /// false the manifest's): the text of `EXPLAIN (ANALYZE, BUFFERS)`, for checking
    /// that pages use the indexes. It runs the query.
    pub async fn explain(&self, api_root: &str, collection: &str, query: &ObjectQuery, with_json: bool) -> Result<String, BackendError> {
        self.within(async {
            let Some((cid, last_added)) = self.collection_row(api_root, collection).await? else {
                return Err(BackendError::internal(format!("no collection {collection:?}")));
            };
            let last_added = Timestamp::from_micros(last_added);
            let snapshot = query.position.map_or(last_added, |p| p.snapshot);
            let walk = Walk::for_query(&query.filter, snapshot, last_added);
            let statement = select::page(&self.shared.schema, with_json, cid, snapshot, query, walk);
            let conn = self.conn().await?;
            let text = format!("EXPLAIN (ANALYZE, BUFFERS) {}", statement.text);
            let rows = conn.query(&text, &statement.params()).await.map_err(db_error)?;
            conn.release();
            let mut plan = String::new();
            for row in rows {
                let line: String = row.try_get(0).map_err(db_error)?;
                plan.push_str(&line);
                plan.push('\n');
            }
            Ok(plan)
        })
        .await
    }

    /// Drops this backend's schema with everything in it. For tests and teardown.
    pub async fn drop_schema(&self) -> Result<(), BackendError> {
        self.within(async {
            let conn = self.conn().await?;
            conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.shared.schema))
                .await
                .map_err(db_error)?;
            conn.release();
            Ok(())
        })
        .await
    }

    /// The collection's key and high-water mark, or `None` when it does not exist.
    async fn collection_row(&self, api_root: &str, id: &str) -> Result<Option<(i64, i64)>, BackendError> {
        let conn = self.conn().await?;
        let sql = format!(
            "SELECT cid, last_added FROM {}.collections WHERE api_root = $1 AND id = $2",
            self.shared.schema
        );
        let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
        let row = conn.query_opt(&statement, &[&api_root, &id]).await.map_err(db_error)?;
        let found = match row {
            Some(row) => Some((row.try_get(0).map_err(db_error)?, row.try_get(1).map_err(db_error)?)),
            None => None,
        };
        conn.release();
        Ok(found)
    }

    /// Stores versions in one transaction. With a status (and its API root), adds a
    /// success per version to it and stores it in the same transaction.
    async fn store(
        &self,
        cid: i64,
        versions: Vec<ObjectVersion>,
        status: Option<(&str, &mut Status)>,
    ) -> Result<Vec<Outcome>, BackendError> {
        let schema = &self.shared.schema;
        let ids: Vec<String> = versions.iter().map(|v| v.id().to_owned()).collect();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(db_error)?;
        let outcomes = write::store_versions(&tx, schema, cid, versions).await.map_err(db_error)?;
        if let Some((api_root, status)) = status {
            for (id, outcome) in ids.into_iter().zip(&outcomes) {
                let (Outcome::Added(version) | Outcome::Duplicate { version, .. }) = outcome;
                status.successes.push(StatusDetail {
                    id,
                    version: version.clone(),
                    message: None,
                });
            }
            status.settle();
            let body = status::encode(status).map_err(|e| BackendError::internal(format!("status JSON: {e}")))?;
            let ttl = i64::try_from(self.shared.status_ttl.as_micros()).unwrap_or(i64::MAX);
            tx.execute(&format!("DELETE FROM {schema}.statuses WHERE created < {NOW_MICROS} - $1"), &[&ttl])
                .await
                .map_err(db_error)?;
            tx.execute(
                &format!(
                    "INSERT INTO {schema}.statuses (api_root, id, created, body) VALUES ($1, $2, {NOW_MICROS}, $3) \
                     ON CONFLICT (api_root, id) DO UPDATE SET body = excluded.body"
                ),
                &[&api_root, &status.id, &body],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        conn.release();
        Ok(outcomes)
    }

    /// Runs a page query; `with_json` loads the objects, else only their records.
    async fn page(&self, api_root: &str, collection: &str, query: &ObjectQuery, with_json: bool) -> Result<Page<Row>, BackendError> {
        let Some((cid, last_added)) = self.collection_row(api_root, collection).await? else {
            return Ok(Page {
                items: Vec::new(),
                more: false,
                snapshot: Timestamp::MIN,
            });
        };
        let last_added = Timestamp::from_micros(last_added);
        let snapshot = query.position.map_or(last_added, |p| p.snapshot);
        let conn = self.conn().await?;
        let run = |walk: Walk| {
            let statement = select::page(&self.shared.schema, with_json, cid, snapshot, query, walk);
            let conn = &conn;
            async move {
                let prepared = conn.prepare_cached(&statement.text).await.map_err(db_error)?;
                conn.query(&prepared, &statement.params()).await.map_err(db_error)
            }
        };
        let walk = Walk::for_query(&query.filter, snapshot, last_added);
        let mut rows = run(walk).await?;
        if walk == Walk::Latest && select::is_stale(&rows) {
            // A version was added after the collection was read: its marks are newer than the snapshot.
            rows = run(Walk::LatestAt).await?;
        }
        conn.release();
        let more = rows.len() > query.limit;
        let mut items = Vec::with_capacity(rows.len().min(query.limit));
        for row in rows.into_iter().take(query.limit) {
            items.push(Row {
                date_added: Timestamp::from_micros(row.try_get(0).map_err(db_error)?),
                id: row.try_get(1).map_err(db_error)?,
                version: row.try_get(2).map_err(db_error)?,
                spec: spec_from_code(row.try_get(3).map_err(db_error)?),
                json: if with_json { Some(row.try_get(4).map_err(db_error)?) } else { None },
            });
        }
        Ok(Page { items, more, snapshot })
    }
}

/// One row of a page.
struct Row {
    date_added: Timestamp,
    id: String,
    version: String,
    spec: SpecVersion,
    json: Option<Vec<u8>>,
}

#[async_trait]
impl StorageBackend for PostgresBackend {
    async fn collections(&self, api_root: &str, _principal: &Principal) -> Result<Vec<CollectionInfo>, BackendError> {
        let schema = &self.shared.schema;
        self.within(async {
            let conn = self.conn().await?;
            let sql = format!(
                "SELECT c.id, c.title, c.description, c.alias, c.can_read, c.can_write, \
                 ARRAY(SELECT s.spec FROM {schema}.spec_counts s WHERE s.cid = c.cid AND s.versions > 0 ORDER BY s.spec) \
                 FROM {schema}.collections c WHERE c.api_root = $1 ORDER BY c.cid"
            );
            let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
            let rows = conn.query(&statement, &[&api_root]).await.map_err(db_error)?;
            conn.release();
            let mut collections = Vec::with_capacity(rows.len());
            for row in rows {
                let specs: Vec<i64> = row.try_get(6).map_err(db_error)?;
                collections.push(CollectionInfo {
                    id: row.try_get(0).map_err(db_error)?,
                    title: row.try_get(1).map_err(db_error)?,
                    description: row.try_get(2).map_err(db_error)?,
                    alias: row.try_get(3).map_err(db_error)?,
                    can_read: row.try_get(4).map_err(db_error)?,
                    can_write: row.try_get(5).map_err(db_error)?,
                    media_types: (!specs.is_empty()).then(|| specs.into_iter().map(|s| spec_from_code(s).media_type()).collect()),
                });
            }
            Ok(collections)
        })
        .await
    }

    async fn objects(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<Page<ObjectVersion>, BackendError> {
        let page = self.within(self.page(api_root, collection, query, true)).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for row in page.items {
            let json = Bytes::from(row.json.unwrap_or_default());
            let version = ObjectVersion::parse(json, row.date_added)
                .map_err(|e| BackendError::internal(format!("a stored object no longer parses: {e}")))?;
            items.push(version);
        }
        Ok(Page {
            items,
            more: page.more,
            snapshot: page.snapshot,
        })
    }

    async fn manifest(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<Page<VersionRecord>, BackendError> {
        let page = self.within(self.page(api_root, collection, query, false)).await?;
        Ok(page.map(|row| VersionRecord {
            id: Arc::from(row.id),
            version: Arc::from(row.version),
            spec_version: row.spec,
            date_added: row.date_added,
        }))
    }

    async fn manifest_json(
        &self,
        api_root: &str,
        collection: &str,
        query: &ObjectQuery,
        _principal: &Principal,
    ) -> Result<ManifestPage, BackendError> {
        let page = self.within(self.page(api_root, collection, query, false)).await?;
        let mut records = ManifestJson::with_capacity(page.items.len());
        for row in &page.items {
            records.push(&row.id, &row.version, row.spec, row.date_added);
        }
        Ok(ManifestPage {
            records,
            more: page.more,
            snapshot: page.snapshot,
        })
    }

    async fn status(&self, api_root: &str, id: &str, _principal: &Principal) -> Result<Option<Status>, BackendError> {
        let schema = &self.shared.schema;
        let ttl = i64::try_from(self.shared.status_ttl.as_micros()).unwrap_or(i64::MAX);
        self.within(async {
            let conn = self.conn().await?;
            let sql = format!("SELECT body FROM {schema}.statuses WHERE api_root = $1 AND id = $2 AND created >= {NOW_MICROS} - $3");
            let statement = conn.prepare_cached(&sql).await.map_err(db_error)?;
            let row = conn.query_opt(&statement, &[&api_root, &id, &ttl]).await.map_err(db_error)?;
            conn.release();
            match row {
                Some(row) => {
                    let body: String = row.try_get(0).map_err(db_error)?;
                    status::decode(&body)
                        .map(Some)
                        .ok_or_else(|| BackendError::internal(format!("status {id} is stored in a form this build cannot read")))
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn add_objects(
        &self,
        api_root: &str,
        collection: &str,
        objects: Vec<ObjectVersion>,
        mut status: Status,
        _principal: &Principal,
    ) -> Result<Status, BackendError> {
        self.within(async {
            let Some((cid, _)) = self.collection_row(api_root, collection).await? else {
                status.fail_all(objects, COLLECTION_GONE);
                status.settle();
                return Ok(status);
            };
            // The status is stored with the objects; the caller gets it only once both landed.
            let mut settled = status.clone();
            self.store(cid, objects, Some((api_root, &mut settled))).await?;
            Ok(settled)
        })
        .await
    }

    async fn delete_object(
        &self,
        api_root: &str,
        collection: &str,
        object_id: &str,
        versions: &VersionSelector,
        spec_versions: Option<&[SpecVersion]>,
        _principal: &Principal,
    ) -> Result<usize, BackendError> {
        self.within(async {
            let Some((cid, _)) = self.collection_row(api_root, collection).await? else {
                return Ok(0);
            };
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(db_error)?;
            let removed = write::delete_versions(&tx, &self.shared.schema, cid, object_id, versions, spec_versions)
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            conn.release();
            Ok(removed)
        })
        .await
    }
}
