//! Writes: storing versions with strictly increasing `date_added`, and deleting.
//!
//! A write locks its collection's row (`SELECT ... FOR UPDATE`) for the length of
//! its transaction. That row holds the last `date_added` given out, so writers on
//! any number of instances take turns per collection, each new version gets a
//! `date_added` above every earlier one (the database's clock, or one microsecond
//! after the last value when the clock is not ahead of it), and a reader never sees
//! a later `date_added` before an earlier one has committed: what `added_after`
//! and the `next` cursor rely on.
//!
//! Under the same lock, writes keep `is_latest` true on exactly one version of
//! each object: the greatest by (spec version, instant, `date_added`), the one the
//! default query selects when it sees the whole collection. A write marks the new
//! versions that take that place and unmarks the ones they supersede; a delete
//! marks the best version left when it removed the marked one.

use std::collections::HashMap;

use tokio_postgres::Transaction;

use super::select::{spec_code, spec_from_code};
use crate::cursor::Digest;
use crate::query::VersionSelector;
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::{Instant, Timestamp};

/// Rows per `INSERT`.
const CHUNK: usize = 1000;

/// What storing one version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Stored, under this version string.
    Added(String),
    /// The collection holds this version already (under this version string).
    Duplicate {
        /// The stored version string.
        version: String,
        /// Whether the stored copy has the same bytes.
        identical: bool,
    },
}

/// (id, version key, spec code): how a stored version is identified.
type Key = (String, String, i64);

fn key(v: &ObjectVersion) -> Key {
    let version = if v.is_versioned() { v.version().to_owned() } else { String::new() };
    (v.id().to_owned(), version, spec_code(v.spec_version()))
}

fn digest(v: &ObjectVersion) -> i64 {
    Digest::new().field(v.json()).finish() as i64
}

/// The current time of the database's clock, in microseconds.
pub(crate) const NOW_MICROS: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

/// Stores versions in collection `cid`, in order, inside `tx` (which the caller
/// commits). Versions the collection holds already, or that come earlier in the
/// same call, are duplicates and change nothing.
pub(crate) async fn store_versions(
    tx: &Transaction<'_>,
    schema: &str,
    cid: i64,
    versions: Vec<ObjectVersion>,
) -> Result<Vec<Outcome>, tokio_postgres::Error> {
    let row = tx
        .query_one(
            &format!("SELECT last_added, {NOW_MICROS} FROM {schema}.collections WHERE cid = $1 FOR UPDATE"),
            &[&cid],
        )
        .await?;
    let (mut last, now): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let keys: Vec<Key> = versions.iter().map(key).collect();
    let mut held: HashMap<Key, (String, i64)> = HashMap::new();
    let existing = tx
        .query(
            &format!(
                "SELECT k.object_id, k.version_key, k.spec, v.version, v.digest \
                 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(object_id, version_key, spec) \
                 JOIN {schema}.versions v ON v.cid = $4 AND v.object_id = k.object_id AND v.version_key = k.version_key AND v.spec = k.spec"
            ),
            &[
                &keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.2).collect::<Vec<_>>(),
                &cid,
            ],
        )
        .await?;
    for row in existing {
        held.insert(
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?),
            (row.try_get(3)?, row.try_get(4)?),
        );
    }
    let mut outcomes = Vec::with_capacity(versions.len());
    let mut added: Vec<ObjectVersion> = Vec::new();
    for (version, key) in versions.into_iter().zip(keys) {
        let mine = digest(&version);
        if let Some((stored, theirs)) = held.get(&key) {
            outcomes.push(Outcome::Duplicate {
                version: stored.clone(),
                identical: *theirs == mine,
            });
            continue;
        }
        let date_added = if last >= now { last.saturating_add(1) } else { now };
        last = date_added;
        let version = version.with_date_added(Timestamp::from_micros(date_added));
        held.insert(key, (version.version().to_owned(), mine));
        outcomes.push(Outcome::Added(version.version().to_owned()));
        added.push(version);
    }
    if added.is_empty() {
        return Ok(outcomes);
    }
    let latest = mark_latest(tx, schema, cid, &added).await?;
    let insert = format!(
        "INSERT INTO {schema}.versions (cid, date_added, object_id, object_type, spec, version, version_key, v_secs, v_nanos, digest, json, is_latest) \
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::integer[], $10::bigint[], $11::bytea[], $12::boolean[])"
    );
    let statement = tx.prepare(&insert).await?;
    for (chunk, latest) in added.chunks(CHUNK).zip(latest.chunks(CHUNK)) {
        let keys: Vec<Key> = chunk.iter().map(key).collect();
        tx.execute(
            &statement,
            &[
                &cid,
                &chunk.iter().map(|v| v.date_added().as_micros()).collect::<Vec<_>>(),
                &chunk.iter().map(ObjectVersion::id).collect::<Vec<_>>(),
                &chunk.iter().map(ObjectVersion::object_type).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.2).collect::<Vec<_>>(),
                &chunk.iter().map(ObjectVersion::version).collect::<Vec<_>>(),
                &keys.iter().map(|k| k.1.as_str()).collect::<Vec<_>>(),
                &chunk.iter().map(|v| v.version_instant().secs).collect::<Vec<_>>(),
                &chunk.iter().map(|v| v.version_instant().nanos as i32).collect::<Vec<_>>(),
                &chunk.iter().map(digest).collect::<Vec<_>>(),
                &chunk.iter().map(|v| &v.json()[..]).collect::<Vec<_>>(),
                &latest,
            ],
        )
        .await?;
    }
    tx.execute(
        &format!("UPDATE {schema}.collections SET last_added = $2 WHERE cid = $1"),
        &[&cid, &last],
    )
    .await?;
    count_specs(tx, schema, cid, added.iter().map(|v| (spec_code(v.spec_version()), 1))).await?;
    Ok(outcomes)
}

/// How versions of one object rank for the default query: (spec code, instant
/// seconds, nanoseconds, `date_added`); the greatest is the object's latest.
type Rank = (i64, i64, i32, i64);

fn rank(v: &ObjectVersion) -> Rank {
    let instant = v.version_instant();
    (
        spec_code(v.spec_version()),
        instant.secs,
        instant.nanos as i32,
        v.date_added().as_micros(),
    )
}

/// Which version holds an object's `is_latest` mark.
#[derive(Clone, Copy)]
enum Latest {
    /// The stored version that holds it now.
    Stored,
    /// One of the versions being added, by position.
    Added(usize),
}

/// Works out which of `added` (new versions with their `date_added`, not stored
/// yet) become their object's latest version, unmarks the stored versions they
/// supersede, and returns the marks of `added`.
async fn mark_latest(tx: &Transaction<'_>, schema: &str, cid: i64, added: &[ObjectVersion]) -> Result<Vec<bool>, tokio_postgres::Error> {
    let mut best: HashMap<&str, (Rank, Latest)> = HashMap::with_capacity(added.len());
    for (position, version) in added.iter().enumerate() {
        let candidate = (rank(version), Latest::Added(position));
        best.entry(version.id())
            .and_modify(|current| {
                if candidate.0 > current.0 {
                    *current = candidate;
                }
            })
            .or_insert(candidate);
    }
    let ids: Vec<&str> = best.keys().copied().collect();
    // One probe of the unique `(cid, object_id) WHERE is_latest` index per id (a
    // lateral join runs as such whatever the statistics; `= ANY(...)` of thousands of
    // ids on a table never analyzed was planned as a scan of the whole collection).
    let rows = tx
        .query(
            &format!(
                "SELECT l.object_id, l.spec, l.v_secs, l.v_nanos, l.date_added FROM unnest($2::text[]) AS k(object_id) \
                 CROSS JOIN LATERAL (SELECT v.object_id, v.spec, v.v_secs, v.v_nanos, v.date_added FROM {schema}.versions v \
                 WHERE v.cid = $1 AND v.object_id = k.object_id AND v.is_latest LIMIT 1) AS l"
            ),
            &[&cid, &ids],
        )
        .await?;
    let mut superseded = Vec::new();
    for row in &rows {
        let id: &str = row.try_get(0)?;
        let rank: Rank = (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
        match best.get_mut(id) {
            Some(current) if rank > current.0 => *current = (rank, Latest::Stored),
            _ => superseded.push(rank.3),
        }
    }
    let mut latest = vec![false; added.len()];
    for (_, holder) in best.values() {
        if let Latest::Added(position) = *holder {
            latest[position] = true;
        }
    }
    if !superseded.is_empty() {
        // A join, probing the primary key per row (see the lookup above).
        tx.execute(
            &format!(
                "UPDATE {schema}.versions v SET is_latest = false FROM unnest($2::bigint[]) AS d(date_added) \
                 WHERE v.cid = $1 AND v.date_added = d.date_added"
            ),
            &[&cid, &superseded],
        )
        .await?;
    }
    Ok(latest)
}

/// Adds `delta` to the count of versions of each spec version (the collection's
/// `media_types` are those with a count above zero).
async fn count_specs(
    tx: &Transaction<'_>,
    schema: &str,
    cid: i64,
    deltas: impl Iterator<Item = (i64, i64)>,
) -> Result<(), tokio_postgres::Error> {
    let mut totals: HashMap<i64, i64> = HashMap::new();
    for (spec, delta) in deltas {
        *totals.entry(spec).or_default() += delta;
    }
    let (specs, counts): (Vec<i64>, Vec<i64>) = totals.into_iter().unzip();
    tx.execute(
        &format!(
            "INSERT INTO {schema}.spec_counts (cid, spec, versions) SELECT $1, s, n FROM unnest($2::bigint[], $3::bigint[]) AS t(s, n) \
             ON CONFLICT (cid, spec) DO UPDATE SET versions = {schema}.spec_counts.versions + excluded.versions"
        ),
        &[&cid, &specs, &counts],
    )
    .await?;
    Ok(())
}

/// One stored version of an object, as deleting needs to rank it.
struct Stored {
    date_added: i64,
    spec: SpecVersion,
    instant: Instant,
    is_latest: bool,
}

/// Deletes the selected versions of one object in collection `cid` inside `tx`;
/// returns how many. Selection follows the reference semantics: among the object's
/// versions in `spec_versions` (all when `None`), `versions` picks by rank
/// (instant, spec version, date_added) or by instant.
pub(crate) async fn delete_versions(
    tx: &Transaction<'_>,
    schema: &str,
    cid: i64,
    object_id: &str,
    versions: &VersionSelector,
    spec_versions: Option<&[SpecVersion]>,
) -> Result<usize, tokio_postgres::Error> {
    tx.execute(&format!("SELECT 1 FROM {schema}.collections WHERE cid = $1 FOR UPDATE"), &[&cid])
        .await?;
    let rows = tx
        .query(
            &format!("SELECT date_added, spec, v_secs, v_nanos, is_latest FROM {schema}.versions WHERE cid = $1 AND object_id = $2"),
            &[&cid, &object_id],
        )
        .await?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in rows {
        let nanos: i32 = row.try_get(3)?;
        stored.push(Stored {
            date_added: row.try_get(0)?,
            spec: spec_from_code(row.try_get(1)?),
            instant: Instant {
                secs: row.try_get(2)?,
                nanos: u32::try_from(nanos).unwrap_or_default(),
            },
            is_latest: row.try_get(4)?,
        });
    }
    let in_play = |s: &&Stored| spec_versions.is_none_or(|specs| specs.contains(&s.spec));
    let rank = |s: &Stored| (s.instant, s.spec, s.date_added);
    let first = stored.iter().filter(in_play).map(rank).min();
    let last = stored.iter().filter(in_play).map(rank).max();
    let (doomed, kept): (Vec<&Stored>, Vec<&Stored>) = stored.iter().partition(|s| {
        in_play(s)
            && match versions {
                VersionSelector::All => true,
                VersionSelector::Pick { first: f, last: l, at } => {
                    at.contains(&s.instant) || (*f && first == Some(rank(s))) || (*l && last == Some(rank(s)))
                }
            }
    });
    if doomed.is_empty() {
        return Ok(0);
    }
    let dates: Vec<i64> = doomed.iter().map(|s| s.date_added).collect();
    let removed = tx
        .execute(
            &format!("DELETE FROM {schema}.versions WHERE cid = $1 AND date_added = ANY($2::bigint[])"),
            &[&cid, &dates],
        )
        .await?;
    if doomed.iter().any(|s| s.is_latest) {
        let heir = kept.iter().max_by_key(|s| (s.spec, s.instant, s.date_added));
        if let Some(heir) = heir {
            tx.execute(
                &format!("UPDATE {schema}.versions SET is_latest = true WHERE cid = $1 AND date_added = $2"),
                &[&cid, &heir.date_added],
            )
            .await?;
        }
    }
    count_specs(tx, schema, cid, doomed.iter().map(|s| (spec_code(s.spec), -1))).await?;
    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
}
