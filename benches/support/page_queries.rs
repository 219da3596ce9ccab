//! The page queries both scale benchmarks measure, so that the memory and PostgreSQL
//! figures are of the same queries.

use tower_taxii::{ObjectFilter, ObjectQuery, Position, Timestamp, VersionSelector};

/// A query's name, the query, and whether it asks for the manifest.
pub type Case = (&'static str, ObjectQuery, bool);

/// The six 100-item page queries: the default query's first page, and pages from
/// `middle` (as a `next` link gives) of the default query, of the same in a walk
/// that began just before the collection's last write (its snapshot one microsecond
/// earlier, so the last version added is after it), of `match[type]`, of
/// `match[version]=all`, and of the manifest.
pub fn cases(middle: Position) -> Vec<Case> {
    let page = |filter: ObjectFilter, position: Option<Position>| ObjectQuery {
        filter,
        limit: 100,
        position,
    };
    let types = ObjectFilter {
        types: Some(vec!["attack-pattern".into()]),
        ..ObjectFilter::default()
    };
    let all = ObjectFilter {
        versions: VersionSelector::All,
        ..ObjectFilter::default()
    };
    let before_the_last_write = Position {
        snapshot: Timestamp::from_micros(middle.snapshot.as_micros() - 1),
        ..middle
    };
    vec![
        ("objects first page", page(ObjectFilter::default(), None), false),
        ("objects next page (middle)", page(ObjectFilter::default(), Some(middle)), false),
        (
            "objects next page, walk begun before a write",
            page(ObjectFilter::default(), Some(before_the_last_write)),
            false,
        ),
        ("objects match[type] next page", page(types, Some(middle)), false),
        ("objects match[version]=all next page", page(all, Some(middle)), false),
        ("manifest next page", page(ObjectFilter::default(), Some(middle)), true),
    ]
}
