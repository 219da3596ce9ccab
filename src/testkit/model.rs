//! A naive model of TAXII selection and deletion, written from the standard's
//! semantics as the README states them, without any of
//! [`CollectionIndex`](crate::CollectionIndex)'s machinery: every version is looked
//! at for every question.

use crate::query::{ObjectQuery, VersionSelector};
use crate::stix::{ObjectVersion, SpecVersion};
use crate::timestamp::Timestamp;

/// What a query should return from `stored` (every version of the collection):
/// the selected versions in `date_added` order, at most `limit`, and whether more
/// follow.
pub(crate) fn select(stored: &[ObjectVersion], query: &ObjectQuery) -> (Vec<ObjectVersion>, bool) {
    let filter = &query.filter;
    let snapshot = match query.position {
        Some(p) => p.snapshot,
        None => stored.iter().map(ObjectVersion::date_added).max().unwrap_or(Timestamp::MIN),
    };
    let visible: Vec<&ObjectVersion> = stored.iter().filter(|v| v.date_added() <= snapshot).collect();
    let mut selected: Vec<ObjectVersion> = Vec::new();
    for v in &visible {
        let same: Vec<&&ObjectVersion> = visible.iter().filter(|w| w.id() == v.id()).collect();
        let latest_spec = same.iter().map(|w| w.spec_version()).max();
        let in_spec = |w: &ObjectVersion| match &filter.spec_versions {
            Some(specs) => specs.contains(&w.spec_version()),
            None => Some(w.spec_version()) == latest_spec,
        };
        if !in_spec(v) {
            continue;
        }
        let rank = |w: &ObjectVersion| (w.version_instant(), w.spec_version(), w.date_added());
        let in_play: Vec<_> = same.iter().filter(|w| in_spec(w)).map(|w| rank(w)).collect();
        let picked = match &filter.versions {
            VersionSelector::All => true,
            VersionSelector::Pick { first, last, at } => {
                at.contains(&v.version_instant())
                    || (*first && in_play.iter().min() == Some(&rank(v)))
                    || (*last && in_play.iter().max() == Some(&rank(v)))
            }
        };
        let id_ok = filter.ids.as_ref().is_none_or(|ids| ids.iter().any(|i| i == v.id()));
        let type_ok = filter.types.as_ref().is_none_or(|ts| ts.iter().any(|t| t == v.object_type()));
        let added_ok = filter.added_after.is_none_or(|t| v.date_added() > t);
        let position_ok = query.position.is_none_or(|p| v.date_added() > p.after);
        if picked && id_ok && type_ok && added_ok && position_ok {
            selected.push((*v).clone());
        }
    }
    selected.sort_by_key(ObjectVersion::date_added);
    let more = selected.len() > query.limit;
    selected.truncate(query.limit);
    (selected, more)
}

/// What deleting `id`'s versions does to `stored` (every version of the collection,
/// in `date_added` order): among the object's versions whose spec version is in
/// `specs` (every one without), those `versions` picks go, `first` and `last` being
/// the least and greatest by (version instant, spec version, `date_added`) among
/// them, `at` their version instants. Returns how many went.
pub(crate) fn delete(stored: &mut Vec<ObjectVersion>, id: &str, versions: &VersionSelector, specs: Option<&[SpecVersion]>) -> usize {
    let in_play = |v: &ObjectVersion| v.id() == id && specs.is_none_or(|specs| specs.contains(&v.spec_version()));
    let rank = |v: &ObjectVersion| (v.version_instant(), v.spec_version(), v.date_added());
    let ranks: Vec<_> = stored.iter().filter(|v| in_play(v)).map(rank).collect();
    let doomed = |v: &ObjectVersion| {
        in_play(v)
            && match versions {
                VersionSelector::All => true,
                VersionSelector::Pick { first, last, at } => {
                    at.contains(&v.version_instant())
                        || (*first && ranks.iter().min() == Some(&rank(v)))
                        || (*last && ranks.iter().max() == Some(&rank(v)))
                }
            }
    };
    let before = stored.len();
    stored.retain(|v| !doomed(v));
    before - stored.len()
}
