//! The SQL of one page: filters, version selection and keyset pagination, all in
//! the database, so that a page costs what it steps over, not the collection's size.
//!
//! The page walks the primary key `(cid, date_added)` from the position on,
//! bounded by the walk's snapshot, and keeps a version when it passes the filters:
//! - `match[id]`/`match[type]`: `= ANY(...)` (the planner may use the
//!   `(cid, object_id, ...)` or `(cid, object_type, date_added)` indexes instead);
//! - the default spec version: no visible version of the object has a later spec
//!   (`NOT EXISTS` on `versions_rank`);
//! - `last`/`first`: no visible version of the object in play ranks after/before it
//!   by (instant, spec version, date_added) (`NOT EXISTS` on `versions_rank`);
//! - timestamps: the version's instant is one of those listed.
//!
//! Each correlated `NOT EXISTS` is one index probe per candidate row, so the page
//! costs O(rows stepped over x log n), the same shape as the reference
//! [`CollectionIndex`](crate::CollectionIndex). One more row than the page holds
//! is fetched to tell `more`.
//!
//! The default query (`match[version]=last` without `match[spec_version]` or
//! `match[id]`) would step over every superseded version that way. When the walk's
//! snapshot sees the whole collection (no version was added after it began), its
//! answer is exactly the versions marked `is_latest`, which [`Walk::Latest`] walks
//! on their own partial indexes, so a page costs what it returns. The caller picks
//! that walk when the collection's `last_added` it read is not above the snapshot;
//! the statement checks it again itself (a one-time filter), so a write landing in
//! between cannot pair a later set of marks with an earlier snapshot: the statement
//! then returns a single row of NULLs instead, and the caller reads the page with
//! [`Walk::LatestAt`]. (One statement holding both walks would say the same, but
//! PostgreSQL plans it anew at every call on a large collection, which cost more
//! than reading the page.)
//!
//! When versions were added after the snapshot, [`Walk::LatestAt`] answers the
//! default query instead: an object whose marked version is not above the snapshot
//! had that version as its latest at the snapshot too (the snapshot saw fewer
//! versions, that one among them), so the marked versions up to the snapshot answer
//! for those objects; each object whose marked version came later gets the greatest
//! version the snapshot sees (one backward probe of `versions_rank`), merged in. A
//! page then costs what it returns plus the objects the writes since the snapshot
//! changed, not the superseded versions after the position.

use tokio_postgres::types::ToSql;

use crate::query::{ObjectFilter, ObjectQuery, VersionSelector};
use crate::stix::SpecVersion;
use crate::timestamp::Timestamp;

/// A statement with its parameters.
pub(crate) struct Statement {
    pub(crate) text: String,
    pub(crate) params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Statement {
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// The parameters as the driver takes them.
    pub(crate) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

/// A spec version as stored: `major << 16 | minor`, ordered like the versions.
pub(crate) fn spec_code(spec: SpecVersion) -> i64 {
    i64::from(spec.major) << 16 | i64::from(spec.minor)
}

/// A stored spec version code back as a spec version.
pub(crate) fn spec_from_code(code: i64) -> SpecVersion {
    SpecVersion {
        major: u16::try_from(code >> 16).unwrap_or(u16::MAX),
        minor: (code & 0xffff) as u16,
    }
}

/// How a page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The versions marked `is_latest`: the default query, when the snapshot sees
    /// the whole collection.
    Latest,
    /// The default query when versions were added after the snapshot: the marked
    /// versions the snapshot sees, and for each object marked later, the greatest
    /// version the snapshot sees.
    LatestAt,
    /// Every version from the position on, each checked against the filters.
    General,
}

impl Walk {
    /// The walk for `filter` at `snapshot`, in a collection whose last version was
    /// added at `last_added`.
    pub(crate) fn for_query(filter: &ObjectFilter, snapshot: Timestamp, last_added: Timestamp) -> Walk {
        match filter.selects_latest_versions() {
            false => Walk::General,
            true if last_added <= snapshot => Walk::Latest,
            true => Walk::LatestAt,
        }
    }
}

/// Whether the rows of a [`Walk::Latest`] statement say that a version was added
/// after the snapshot (a row of NULLs), so the page must be read the general way.
pub(crate) fn is_stale(rows: &[tokio_postgres::Row]) -> bool {
    rows.iter().any(|row| matches!(row.try_get::<_, Option<i64>>(0), Ok(None)))
}

/// The page query of `query` in collection `cid` at `snapshot`, read by `walk`.
/// Columns: date_added, object_id, version, spec, and json when `with_json`.
pub(crate) fn page(schema: &str, with_json: bool, cid: i64, snapshot: Timestamp, query: &ObjectQuery, walk: Walk) -> Statement {
    let filter = &query.filter;
    let mut s = Statement {
        text: String::new(),
        params: Vec::new(),
    };
    let after = [filter.added_after, query.position.map(|p| p.after)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(Timestamp::MIN);
    let cid = s.bind(cid);
    let after = s.bind(after.as_micros());
    let snap = s.bind(snapshot.as_micros());
    let mut conditions = vec![
        format!("v.cid = {cid}"),
        format!("v.date_added > {after}"),
        format!("v.date_added <= {snap}"),
    ];
    let types = match walk {
        Walk::General => {
            conditions = general_conditions(&mut s, schema, &snap, conditions, filter);
            None
        }
        Walk::Latest | Walk::LatestAt => {
            conditions.push("v.is_latest".to_owned());
            if walk == Walk::Latest {
                conditions.push(format!("{} <= {snap}", last_added(schema, &cid)));
            }
            // Each type's own ordered walk, merged: a walk of `= ANY(...)` comes out
            // of the index unordered, and sorting it would cost every match after
            // the position.
            filter.types.as_ref().map(|types| {
                let mut types = types.clone();
                types.sort_unstable();
                types.dedup();
                conditions.push("v.object_type = t.name".to_owned());
                s.bind(types)
            })
        }
    };
    let fetch = i64::try_from(query.limit).unwrap_or(i64::MAX - 1).saturating_add(1);
    let limit = s.bind(fetch);
    let (json, nulls) = if with_json { (", v.json", ", NULL") } else { ("", "") };
    let select = format!(
        "SELECT v.date_added, v.object_id, v.version, v.spec{json} FROM {schema}.versions v WHERE {} ORDER BY v.date_added LIMIT {limit}",
        conditions.join(" AND ")
    );
    s.text = match walk {
        Walk::General => select,
        Walk::Latest | Walk::LatestAt => {
            let latest = match &types {
                None => select,
                Some(types) => {
                    format!("SELECT v.* FROM unnest({types}::text[]) AS t(name) CROSS JOIN LATERAL ({select}) v ORDER BY 1 LIMIT {limit}")
                }
            };
            let other = match walk {
                Walk::LatestAt => marked_later(schema, with_json, [&cid, &after, &snap], types.as_deref()),
                _ => format!("SELECT NULL, NULL, NULL, NULL{nulls} WHERE {} > {snap}", last_added(schema, &cid)),
            };
            format!("({latest}) UNION ALL ({other}) ORDER BY 1 LIMIT {limit}")
        }
    };
    s
}

/// For each object whose marked version was added after the snapshot: the greatest
/// of its versions the snapshot sees, by (spec version, instant, date_added), the
/// order of the marks, if it was added after the position. `types` is the bound list
/// of `match[type]`, if any.
fn marked_later(schema: &str, with_json: bool, [cid, after, snap]: [&str; 3], types: Option<&str>) -> String {
    let json = if with_json { ", w.json" } else { "" };
    let of_type = types.map(|t| format!(" AND l.object_type = ANY({t}::text[])")).unwrap_or_default();
    format!(
        "SELECT b.* FROM {schema}.versions l CROSS JOIN LATERAL (\
         SELECT w.date_added, w.object_id, w.version, w.spec{json} FROM {schema}.versions w \
         WHERE w.cid = l.cid AND w.object_id = l.object_id AND w.date_added <= {snap} \
         ORDER BY w.spec DESC, w.v_secs DESC, w.v_nanos DESC, w.date_added DESC LIMIT 1) b \
         WHERE l.cid = {cid} AND l.is_latest AND l.date_added > {snap} AND b.date_added > {after}{of_type}"
    )
}

/// The collection's `last_added`, as a subquery.
fn last_added(schema: &str, cid: &str) -> String {
    format!("(SELECT c.last_added FROM {schema}.collections c WHERE c.cid = {cid})")
}

/// The conditions of the general page query: `window` (collection, position,
/// snapshot), then the filters and the version selection, correlated on `v`.
fn general_conditions(s: &mut Statement, schema: &str, snap: &str, mut conditions: Vec<String>, filter: &ObjectFilter) -> Vec<String> {
    if let Some(ids) = &filter.ids {
        conditions.push(format!("v.object_id = ANY({}::text[])", s.bind(ids.clone())));
    }
    if let Some(types) = &filter.types {
        conditions.push(format!("v.object_type = ANY({}::text[])", s.bind(types.clone())));
    }
    // Which other versions of the object are in play, and how they rank against v.
    let (in_play, later, earlier) = match &filter.spec_versions {
        Some(specs) => {
            let specs = s.bind(specs.iter().copied().map(spec_code).collect::<Vec<i64>>());
            conditions.push(format!("v.spec = ANY({specs}::bigint[])"));
            (
                format!("w.spec = ANY({specs}::bigint[])"),
                "(w.v_secs, w.v_nanos, w.spec, w.date_added) > (v.v_secs, v.v_nanos, v.spec, v.date_added)",
                "(w.v_secs, w.v_nanos, w.spec, w.date_added) < (v.v_secs, v.v_nanos, v.spec, v.date_added)",
            )
        }
        None => {
            conditions.push(format!(
                "NOT EXISTS (SELECT 1 FROM {schema}.versions w WHERE w.cid = v.cid AND w.object_id = v.object_id AND w.spec > v.spec AND w.date_added <= {snap})"
            ));
            (
                "w.spec = v.spec".to_owned(),
                "(w.v_secs, w.v_nanos, w.date_added) > (v.v_secs, v.v_nanos, v.date_added)",
                "(w.v_secs, w.v_nanos, w.date_added) < (v.v_secs, v.v_nanos, v.date_added)",
            )
        }
    };
    if let VersionSelector::Pick { first, last, at } = &filter.versions {
        let none_ranks = |order: &str| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {schema}.versions w WHERE w.cid = v.cid AND w.object_id = v.object_id AND w.date_added <= {snap} AND {in_play} AND {order})"
            )
        };
        let mut picks = Vec::new();
        if *last {
            picks.push(none_ranks(later));
        }
        if *first {
            picks.push(none_ranks(earlier));
        }
        if !at.is_empty() {
            let secs = s.bind(at.iter().map(|i| i.secs).collect::<Vec<i64>>());
            let nanos = s.bind(at.iter().map(|i| i.nanos as i32).collect::<Vec<i32>>());
            picks.push(format!(
                "(v.v_secs, v.v_nanos) IN (SELECT t.s, t.n FROM unnest({secs}::bigint[], {nanos}::integer[]) AS t(s, n))"
            ));
        }
        conditions.push(if picks.is_empty() {
            "false".to_owned()
        } else {
            format!("({})", picks.join(" OR "))
        });
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_codes_order_like_spec_versions() {
        assert!(spec_code(SpecVersion::V2_0) < spec_code(SpecVersion::V2_1));
        assert_eq!(spec_from_code(spec_code(SpecVersion::V2_1)), SpecVersion::V2_1);
    }

    #[test]
    fn binds_every_value_as_a_parameter() {
        let query = ObjectQuery {
            filter: ObjectFilter {
                ids: Some(vec!["x'; DROP TABLE versions; --".into()]),
                types: Some(vec!["indicator".into()]),
                ..ObjectFilter::default()
            },
            limit: usize::MAX,
            position: None,
        };
        let s = page("taxii", true, 7, Timestamp::MAX, &query, Walk::General);
        assert!(!s.text.contains("DROP"));
        assert_eq!(s.params.len(), 6);
        assert!(s.text.ends_with("LIMIT $6"));
    }
}
