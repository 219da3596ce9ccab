//! The reference implementation of TAXII filtering, version selection and pagination
//! over one collection held in memory. The memory backend is built on it, and a
//! custom backend over its own data can be too.
//!
//! ```
//! use tower_taxii::{CollectionIndex, ObjectQuery, ObjectFilter, Timestamp};
//!
//! let mut index = CollectionIndex::new();
//! for modified in ["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"] {
//!     let json = format!(r#"{{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b","created":"2020-01-01T00:00:00Z","modified":"{modified}","name":"x","is_family":false}}"#);
//!     index.insert_json(json.into_bytes().into(), Timestamp::now()).unwrap();
//! }
//! let page = index.query(&ObjectQuery { filter: ObjectFilter::default(), limit: 10, position: None });
//! assert_eq!(page.items.len(), 1); // the latest version only
//! assert_eq!(page.items[0].version(), "2021-01-01T00:00:00Z");
//! ```
//!
//! # Semantics
//! - `date_added` is strictly increasing within the collection: a version added at
//!   the same microsecond as the previous one gets the next microsecond.
//! - A version is keyed by (id, version string, spec version); adding one that is
//!   already there changes nothing (versions are immutable, the first copy is kept).
//!   Versions are ordered by their instant, then spec version, then `date_added`, so
//!   `first` and `last` pick one version even when two spellings name the same
//!   instant or one version is stored in STIX 2.0 and 2.1 form (`last` prefers 2.1);
//!   a `match[version]` timestamp matches every version at that instant.
//! - Selection order: the walk's snapshot first (versions added after it are not
//!   seen), then `match[spec_version]` (default: each object's latest spec version),
//!   then `match[version]` among what remains (default: latest), then `match[id]` and
//!   `match[type]`, and last `added_after` on the selected versions' `date_added`.
//!   So with the default `last`, `added_after` returns the objects whose latest
//!   version is new, which is what incremental synchronisation wants.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use bytes::Bytes;

use crate::backend::Page;
use crate::live_set::LiveSet;
use crate::manifest::{ManifestJson, ManifestPage, RECORD_SIZE, TimestampWriter, write_record};
use crate::query::{ObjectFilter, ObjectQuery, VersionSelector};
use crate::resources::VersionRecord;
use crate::stix::{InvalidObject, ObjectVersion, SpecVersion};
use crate::timestamp::{Instant, Timestamp};

/// What identifies a stored version: (id, version string, spec version). Unversioned
/// objects have one version at most, so their version string is left empty here.
type VersionKey = (Arc<str>, Arc<str>, SpecVersion);

/// How versions of one object order for `first` and `last`.
type Rank = (Instant, SpecVersion, Timestamp);

fn rank(v: &ObjectVersion) -> Rank {
    (v.version_instant(), v.spec_version(), v.date_added())
}

fn key(v: &ObjectVersion) -> VersionKey {
    let version = if v.is_versioned() {
        Arc::clone(v.shared_version())
    } else {
        Arc::from("")
    };
    (Arc::clone(v.shared_id()), version, v.spec_version())
}

/// How the default query (`match[version]=last` among each object's latest spec
/// version) orders one object's versions: the greatest is the one it selects.
fn default_rank(v: &ObjectVersion) -> (SpecVersion, Rank) {
    (v.spec_version(), rank(v))
}

/// A fast hasher for the small integer keys (object slots) of one query's selections.
#[derive(Default)]
struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One collection's object versions, indexed for TAXII queries.
///
/// A query costs time in proportion to the versions it steps over from its starting
/// point (found by binary search on `date_added`), not to the collection's size;
/// `match[id]` and `match[type]` use their own indexes, and each object's version
/// selection is worked out once per query however many versions it has. The default
/// selection (each object's latest version) has an index of its own, by type too, so
/// a page of latest versions does not step over the older versions before it.
///
/// A page of the default selection whose walk began before later writes costs, on
/// top of what it returns, the objects those writes gave a new latest version.
///
/// A deletion costs time in proportion to the object's versions: deleted versions
/// are taken out of every index but the list of all versions, where they are marked
/// and left in place until they make up a quarter of the stored ones, when the index
/// is rebuilt without them (so the rebuilds cost O(1) amortized per deleted version).
/// A scan of that list skips marked versions 64 at a time.
#[derive(Debug, Clone, Default)]
pub struct CollectionIndex {
    /// Every version, in `date_added` order, deleted ones included until the next
    /// compaction.
    versions: Vec<ObjectVersion>,
    /// Which versions are not deleted. A deleted version is in no index, and scans
    /// of `versions` skip it.
    live: LiveSet,
    /// How many versions are deleted.
    deleted_count: usize,
    /// For each version, its object's slot in `objects`.
    slots: Vec<usize>,
    /// Each object's version positions, ascending (deleted ones left out).
    objects: Vec<Vec<usize>>,
    /// Each id's slot in `objects`.
    by_id: HashMap<Arc<str>, usize>,
    /// Positions of each type's versions (deleted ones left out).
    by_type: HashMap<Arc<str>, BTreeSet<usize>>,
    /// The position of every stored version, by its key.
    keys: HashMap<VersionKey, usize>,
    /// For each object slot, the position of the version the default query selects
    /// when it sees the whole collection (the greatest by [`default_rank`]); `None`
    /// once every version of the object is deleted.
    default_of: Vec<Option<usize>>,
    /// Those positions, ascending: the default query's candidates.
    defaults: BTreeSet<usize>,
    /// The same, per type.
    defaults_by_type: HashMap<Arc<str>, BTreeSet<usize>>,
    /// Every version's manifest record, written once when it is added (its
    /// `date_added` never changes), one after the other in position order.
    records: Vec<u8>,
    /// Where each version's record ends in `records`.
    record_ends: Vec<usize>,
    record_dates: TimestampWriter,
    /// How many stored versions each spec version has.
    spec_versions: BTreeMap<SpecVersion, usize>,
    last_added: Option<Timestamp>,
    /// What queries cost: tests check it stays in proportion to what they return.
    #[cfg(test)]
    work: Arc<tests::Work>,
}

/// What [`CollectionIndex::insert`] did with a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored as a new version, with this `date_added`.
    Added(Timestamp),
    /// The collection already holds this (id, version, spec version); nothing changed.
    Duplicate {
        /// Whether the stored copy has the same bytes (false: republished with other content).
        identical: bool,
    },
}

/// What one query needs to know about one object's versions: worked out once per
/// object and query, so an object with many versions costs no more per version.
#[derive(Debug, Clone, Copy)]
struct Selection {
    /// The latest spec version among the visible versions (the default filter).
    latest_spec: Option<SpecVersion>,
    /// The earliest and latest visible version that passes the spec filter.
    first: Option<Rank>,
    last: Option<Rank>,
}

impl CollectionIndex {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many versions are stored.
    pub fn len(&self) -> usize {
        self.versions.len() - self.deleted_count
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `date_added` of the most recently added version.
    pub fn last_added(&self) -> Option<Timestamp> {
        self.last_added
    }

    /// The spec versions of the stored objects, as the collection's `media_types`.
    pub fn media_types(&self) -> Option<Vec<String>> {
        (!self.spec_versions.is_empty()).then(|| self.spec_versions.keys().map(|v| v.media_type()).collect())
    }

    /// Every version of one object, in `date_added` order.
    pub fn versions_of(&self, id: &str) -> impl Iterator<Item = &ObjectVersion> {
        self.positions_of(id).iter().map(|&i| &self.versions[i])
    }

    fn positions_of(&self, id: &str) -> &[usize] {
        self.by_id.get(id).map_or(&[], |&slot| self.objects[slot].as_slice())
    }

    /// The stored copy of this version (same id, version and spec version), if any.
    pub fn stored(&self, version: &ObjectVersion) -> Option<&ObjectVersion> {
        self.keys.get(&key(version)).map(|&i| &self.versions[i])
    }

    /// Makes room for about `additional` more versions, so that a bulk load grows the
    /// index once instead of step by step (which leaves the old buffers' memory behind).
    pub fn reserve(&mut self, additional: usize) {
        self.versions.reserve(additional);
        self.live.reserve(additional);
        self.slots.reserve(additional);
        self.record_ends.reserve(additional);
        self.records.reserve(additional.saturating_mul(RECORD_SIZE));
    }

    /// Parses a STIX object and inserts it (see [`insert`](Self::insert)).
    pub fn insert_json(&mut self, json: Bytes, now: Timestamp) -> Result<Inserted, InvalidObject> {
        Ok(self.insert(ObjectVersion::parse(json, now)?, now))
    }

    /// Inserts a version, giving it a `date_added` of `now`, or one microsecond after
    /// the last one if that is not earlier than `now`. A version the collection holds
    /// already is an [`Inserted::Duplicate`] and changes nothing.
    pub fn insert(&mut self, version: ObjectVersion, now: Timestamp) -> Inserted {
        if let Some(stored) = self.stored(&version) {
            return Inserted::Duplicate {
                identical: stored.json() == version.json(),
            };
        }
        let date_added = match self.last_added {
            Some(last) if last >= now => last.next(),
            _ => now,
        };
        self.versions.push(version.with_date_added(date_added));
        self.live.push();
        self.index(self.versions.len() - 1);
        self.write_record(self.versions.len() - 1);
        self.last_added = Some(date_added);
        Inserted::Added(date_added)
    }

    /// Adds the version at `position` (the last one so far) to every index.
    fn index(&mut self, position: usize) {
        let version = &self.versions[position];
        let (spec, version_key) = (version.spec_version(), key(version));
        let (slot, replaced) = match self.by_id.get(version.id()) {
            Some(&slot) => match self.default_of[slot] {
                Some(current) if default_rank(version) <= default_rank(&self.versions[current]) => (slot, None),
                current => {
                    self.default_of[slot] = Some(position);
                    (slot, current)
                }
            },
            None => {
                self.objects.push(Vec::new());
                self.default_of.push(Some(position));
                self.by_id.insert(Arc::clone(version.shared_id()), self.objects.len() - 1);
                (self.objects.len() - 1, None)
            }
        };
        let new_default = self.default_of[slot] == Some(position);
        self.objects[slot].push(position);
        self.slots.push(slot);
        match self.by_type.get_mut(version.object_type()) {
            Some(positions) => {
                positions.insert(position);
            }
            None => {
                self.by_type.insert(Arc::from(version.object_type()), BTreeSet::from([position]));
            }
        }
        if new_default {
            let defaults_of_type = match self.defaults_by_type.get_mut(version.object_type()) {
                Some(set) => set,
                None => self.defaults_by_type.entry(Arc::from(version.object_type())).or_default(),
            };
            if let Some(old) = replaced {
                defaults_of_type.remove(&old);
                self.defaults.remove(&old);
            }
            defaults_of_type.insert(position);
            self.defaults.insert(position);
        }
        self.keys.insert(version_key, position);
        *self.spec_versions.entry(spec).or_default() += 1;
    }

    /// Writes the manifest record of the version at `position` (the last one so far).
    fn write_record(&mut self, position: usize) {
        let version = &self.versions[position];
        write_record(
            &mut self.records,
            &mut self.record_dates,
            version.id(),
            version.version(),
            version.spec_version(),
            version.date_added(),
        );
        self.record_ends.push(self.records.len());
    }

    /// Keeps the records of the positions `doomed` (ascending) does not name, moved
    /// down in place: deletions reuse the buffer instead of writing every record again
    /// into a new one (which left the old one's memory to the allocator each time).
    fn drop_records(&mut self, doomed: &[usize]) {
        let (mut from, mut to, mut kept) = (0, 0, 0);
        for position in 0..self.record_ends.len() {
            let end = self.record_ends[position];
            if doomed.binary_search(&position).is_err() {
                self.records.copy_within(from..end, to);
                to += end - from;
                self.record_ends[kept] = to;
                kept += 1;
            }
            from = end;
        }
        self.records.truncate(to);
        self.record_ends.truncate(kept);
    }

    /// The manifest record of the version at `position`.
    fn record(&self, position: usize) -> &[u8] {
        let start = position.checked_sub(1).map_or(0, |before| self.record_ends[before]);
        &self.records[start..self.record_ends[position]]
    }

    /// Deletes versions of one object: among its versions in `spec_versions` (all
    /// when `None`), those `versions` picks. Returns how many were removed.
    /// `date_added` values of later additions stay above every earlier one.
    pub fn delete(&mut self, id: &str, versions: &VersionSelector, spec_versions: Option<&[SpecVersion]>) -> usize {
        let in_play = |v: &ObjectVersion| spec_versions.is_none_or(|specs| specs.contains(&v.spec_version()));
        let positions = self.positions_of(id);
        let ranks = positions.iter().map(|&i| &self.versions[i]).filter(|v| in_play(v)).map(rank);
        let selection = Selection {
            latest_spec: None,
            first: ranks.clone().min(),
            last: ranks.max(),
        };
        let doomed: Vec<usize> = positions
            .iter()
            .copied()
            .filter(|&i| in_play(&self.versions[i]) && picks(versions, &self.versions[i], &selection))
            .collect();
        if doomed.is_empty() {
            return 0;
        }
        let slot = self.slots[doomed[0]];
        self.objects[slot].retain(|i| doomed.binary_search(i).is_err());
        for &position in &doomed {
            let version = &self.versions[position];
            self.keys.remove(&key(version));
            let spec = version.spec_version();
            if let Some(count) = self.spec_versions.get_mut(&spec) {
                *count -= 1;
                if *count == 0 {
                    self.spec_versions.remove(&spec);
                }
            }
            if let Some(positions) = self.by_type.get_mut(version.object_type()) {
                positions.remove(&position);
            }
            self.live.delete(position);
        }
        self.deleted_count += doomed.len();
        if let Some(old) = self.default_of[slot].filter(|old| doomed.binary_search(old).is_ok()) {
            self.replace_default(slot, old);
        }
        if self.deleted_count * 4 > self.versions.len() {
            self.compact();
        }
        doomed.len()
    }

    /// After the deletion of `old`, the default version of the object at `slot`: the
    /// greatest of what is left, or none.
    fn replace_default(&mut self, slot: usize, old: usize) {
        let new = self.default_before(slot, self.versions.len());
        self.default_of[slot] = new;
        let object_type = self.versions[old].object_type();
        self.defaults.remove(&old);
        if let Some(set) = self.defaults_by_type.get_mut(object_type) {
            set.remove(&old);
            set.extend(new);
        }
        self.defaults.extend(new);
    }

    /// Rebuilds the index without its deleted versions.
    fn compact(&mut self) {
        let doomed: Vec<usize> = (0..self.versions.len()).filter(|&i| !self.live.contains(i)).collect();
        let live = std::mem::take(&mut self.live);
        let kept: Vec<ObjectVersion> = std::mem::take(&mut self.versions)
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| live.contains(i).then_some(v))
            .collect();
        self.drop_records(&doomed);
        *self = CollectionIndex {
            last_added: self.last_added,
            records: std::mem::take(&mut self.records),
            record_ends: std::mem::take(&mut self.record_ends),
            #[cfg(test)]
            work: Arc::clone(&self.work),
            ..CollectionIndex::default()
        };
        self.live = LiveSet::all_live(kept.len());
        self.versions = kept;
        for position in 0..self.versions.len() {
            self.index(position);
        }
    }

    /// Runs a query: one page of the selected versions in `date_added` order.
    pub fn query(&self, query: &ObjectQuery) -> Page<ObjectVersion> {
        self.select(query).map(|i| self.versions[i].clone())
    }

    /// Runs a query for manifest records (or, with `match[version]=all`, a version list).
    pub fn manifest(&self, query: &ObjectQuery) -> Page<VersionRecord> {
        self.select(query).map(|i| VersionRecord::from(&self.versions[i]))
    }

    /// Runs a query for manifest records, copied from the records written when each
    /// version was added (what [`MemoryBackend`](crate::MemoryBackend) answers the
    /// manifest endpoint with).
    pub fn manifest_json(&self, query: &ObjectQuery) -> ManifestPage {
        let page = self.select(query);
        let mut records = ManifestJson::with_capacity(page.items.len());
        for &i in &page.items {
            records.push_written(self.record(i), self.versions[i].date_added());
        }
        ManifestPage {
            records,
            more: page.more,
            snapshot: page.snapshot,
        }
    }

    /// The positions of one page of selected versions.
    fn select(&self, query: &ObjectQuery) -> Page<usize> {
        let filter = &query.filter;
        let snapshot = match query.position {
            Some(p) => p.snapshot,
            None => self.last_added.unwrap_or(Timestamp::MIN),
        };
        let after = [filter.added_after, query.position.map(|p| p.after)].into_iter().flatten().max();
        match self.select_defaults(query, snapshot, after) {
            Some(page) => page,
            None => self.scan(query, snapshot, after),
        }
    }

    /// The positions of one page of selected versions, found by stepping over the
    /// versions from the starting point and working out each object's selection.
    fn scan(&self, query: &ObjectQuery, snapshot: Timestamp, after: Option<Timestamp>) -> Page<usize> {
        let filter = &query.filter;
        let first = self.first_after(after);
        let candidates: Box<dyn Iterator<Item = usize> + '_> = match (&filter.ids, &filter.types) {
            (Some(ids), _) => Box::new(merge_ascending(
                ids.iter()
                    .map(|id| self.positions_of(id))
                    .map(|p| &p[p.partition_point(|&i| i < first)..])
                    .collect(),
            )),
            (None, Some(types)) => Box::new(merge_iters(
                types
                    .iter()
                    .filter_map(|t| self.by_type.get(t.as_str()))
                    .map(|set| set.range(first..).copied().peekable())
                    .collect(),
            )),
            (None, None) => Box::new(self.live_from(first)),
        };
        // One selection per object met: at most one per id asked for, else about one
        // per item (a larger page grows it).
        let objects = filter.ids.as_ref().map_or(query.limit, Vec::len).min(query.limit).min(1024);
        let mut selections: HashMap<usize, Selection, BuildHasherDefault<SlotHasher>> =
            HashMap::with_capacity_and_hasher(objects, BuildHasherDefault::default());
        let mut items = Vec::new();
        let mut more = false;
        for position in candidates {
            self.count_steps(1);
            let version = &self.versions[position];
            if version.date_added() > snapshot {
                break;
            }
            if !self.passes_id_and_type(version, filter) {
                continue;
            }
            let slot = self.slots[position];
            let selection = *selections.entry(slot).or_insert_with(|| self.selection(slot, filter, snapshot));
            if !spec_passes(filter, &selection, version) || !picks(&filter.versions, version, &selection) {
                continue;
            }
            if filter.added_after.is_some_and(|after| version.date_added() <= after) {
                continue;
            }
            if items.len() == query.limit {
                more = true;
                break;
            }
            items.push(position);
        }
        Page { items, more, snapshot }
    }

    /// The first position whose version was added after `after` (0 without it).
    fn first_after(&self, after: Option<Timestamp>) -> usize {
        after.map_or(0, |after| self.versions.partition_point(|v| v.date_added() <= after))
    }

    /// The live positions from `from` on, ascending.
    fn live_from(&self, from: usize) -> impl Iterator<Item = usize> + '_ {
        let mut next = from;
        std::iter::from_fn(move || {
            let (found, words) = self.live.next_live(next);
            self.count_steps(words);
            let at = found?;
            next = at + 1;
            Some(at)
        })
    }

    /// The default query (`match[version]=last` without `match[spec_version]` or
    /// `match[id]`), read from the index of each object's latest version, so the page
    /// costs what it returns, however many older versions lie before it. `None` when
    /// that index does not answer the query.
    ///
    /// When versions were added after the walk's snapshot, an object whose latest
    /// version is older than the snapshot had that latest version at the snapshot too
    /// (the snapshot saw fewer versions, that one among them), so the index answers
    /// for it; for each object whose latest version came later, the greatest of the
    /// versions the snapshot sees is worked out and merged in.
    fn select_defaults(&self, query: &ObjectQuery, snapshot: Timestamp, after: Option<Timestamp>) -> Option<Page<usize>> {
        let filter = &query.filter;
        if !filter.selects_latest_versions() {
            return None;
        }
        let start = self.first_after(after);
        // Positions from `unseen` on were added after the snapshot.
        let unseen = self.versions.partition_point(|v| v.date_added() <= snapshot).max(start);
        let mut older: Vec<usize> = Vec::new();
        for &latest in self.defaults.range(unseen..) {
            self.count_steps(1);
            // The default query has no `match[id]`: this checks `match[type]`.
            if self.passes_id_and_type(&self.versions[latest], filter) {
                older.extend(self.default_before(self.slots[latest], unseen).filter(|&p| p >= start));
            }
        }
        older.sort_unstable();
        let mut sources: Vec<Source<'_>> = match &filter.types {
            None => vec![source(self.defaults.range(start..unseen).copied())],
            Some(types) => types
                .iter()
                .filter_map(|t| self.defaults_by_type.get(t.as_str()))
                .map(|set| source(set.range(start..unseen).copied()))
                .collect(),
        };
        sources.push(source(older.into_iter()));
        let mut candidates = merge_iters(sources).inspect(|_| self.count_steps(1));
        let items: Vec<usize> = candidates.by_ref().take(query.limit).collect();
        let more = candidates.next().is_some();
        Some(Page { items, more, snapshot })
    }

    /// The version the default query selects for the object at `slot` among its
    /// versions at positions below `end`.
    fn default_before(&self, slot: usize, end: usize) -> Option<usize> {
        let positions = &self.objects[slot];
        let seen = &positions[..positions.partition_point(|&i| i < end)];
        self.count_steps(seen.len());
        seen.iter().copied().max_by_key(|&i| default_rank(&self.versions[i]))
    }

    fn passes_id_and_type(&self, version: &ObjectVersion, filter: &ObjectFilter) -> bool {
        filter.ids.as_ref().is_none_or(|ids| ids.iter().any(|id| id == version.id()))
            && filter
                .types
                .as_ref()
                .is_none_or(|types| types.iter().any(|t| t == version.object_type()))
    }

    /// Works out which of one object's versions are in play for a query: those
    /// visible at the snapshot that pass the spec version filter.
    fn selection(&self, slot: usize, filter: &ObjectFilter, snapshot: Timestamp) -> Selection {
        #[cfg(test)]
        self.work.selections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let positions = &self.objects[slot];
        let (first, last) = match &filter.versions {
            VersionSelector::All => (false, false),
            VersionSelector::Pick { first, last, .. } => (*first, *last),
        };
        // When the snapshot sees every version of the object, its default version
        // (the greatest of its latest spec version) tells the latest spec version, and
        // without `match[spec_version]` the latest version too: no need to look at
        // each version, unless the query wants the first.
        let all_seen = positions.last().is_some_and(|&p| self.versions[p].date_added() <= snapshot);
        if let Some(default) = self.default_of[slot].filter(|_| all_seen && !first) {
            let default = &self.versions[default];
            let latest_spec = Some(default.spec_version());
            match (&filter.spec_versions, last) {
                (None, _) => {
                    return Selection {
                        latest_spec,
                        first: None,
                        last: Some(rank(default)),
                    };
                }
                (Some(_), false) => {
                    return Selection {
                        latest_spec,
                        first: None,
                        last: None,
                    };
                }
                (Some(_), true) => {}
            }
        }
        let visible = &positions[..positions.partition_point(|&i| self.versions[i].date_added() <= snapshot)];
        self.count_steps(visible.len());
        let visible = || visible.iter().map(|&i| &self.versions[i]);
        let latest_spec = visible().map(ObjectVersion::spec_version).max();
        let in_play = Selection {
            latest_spec,
            first: None,
            last: None,
        };
        let ranks = visible().filter(|v| spec_passes(filter, &in_play, v)).map(rank);
        Selection {
            latest_spec,
            first: ranks.clone().min(),
            last: ranks.max(),
        }
    }

    /// Counts `n` positions or versions stepped over, for the tests of what queries cost.
    fn count_steps(&self, _n: usize) {
        #[cfg(test)]
        self.work.steps.fetch_add(_n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a version passes `match[spec_version]` (default: its object's latest).
fn spec_passes(filter: &ObjectFilter, selection: &Selection, version: &ObjectVersion) -> bool {
    match &filter.spec_versions {
        Some(specs) => specs.contains(&version.spec_version()),
        None => Some(version.spec_version()) == selection.latest_spec,
    }
}

/// Whether `selector` picks `version`, given its object's earliest and latest
/// versions in play. Versions order by instant, then spec version, then date_added:
/// a version's STIX 2.1 form is later than its 2.0 form, and of two spellings of one
/// instant (`…00Z`, `…00.000Z`), which are two versions, the one added later is later.
fn picks(selector: &VersionSelector, version: &ObjectVersion, selection: &Selection) -> bool {
    match selector {
        VersionSelector::All => true,
        VersionSelector::Pick { first, last, at } => {
            at.contains(&version.version_instant())
                || (*first && selection.first == Some(rank(version)))
                || (*last && selection.last == Some(rank(version)))
        }
    }
}

/// One of the ascending position sequences [`merge_iters`] merges, whatever its kind.
type Source<'a> = std::iter::Peekable<Box<dyn Iterator<Item = usize> + 'a>>;

fn source<'a>(positions: impl Iterator<Item = usize> + 'a) -> Source<'a> {
    let boxed: Box<dyn Iterator<Item = usize> + 'a> = Box::new(positions);
    boxed.peekable()
}

/// Merges ascending position sequences into one ascending sequence without repeats.
fn merge_iters<I: Iterator<Item = usize>>(mut sources: Vec<std::iter::Peekable<I>>) -> impl Iterator<Item = usize> {
    let mut last = None;
    std::iter::from_fn(move || {
        loop {
            let k = if sources.len() == 1 {
                0
            } else {
                sources
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(k, s)| s.peek().map(|&h| (k, h)))
                    .min_by_key(|&(_, h)| h)?
                    .0
            };
            let head = sources.get_mut(k)?.next()?;
            if last != Some(head) {
                last = Some(head);
                return Some(head);
            }
        }
    })
}

/// Merges ascending position lists into one ascending sequence without repeats.
fn merge_ascending(mut sources: Vec<&[usize]>) -> impl Iterator<Item = usize> + '_ {
    let mut last = None;
    std::iter::from_fn(move || {
        loop {
            let (k, &head) = sources
                .iter()
                .enumerate()
                .filter_map(|(k, s)| s.first().map(|h| (k, h)))
                .min_by_key(|&(_, h)| h)?;
            sources[k] = &sources[k][1..];
            if last != Some(head) {
                last = Some(head);
                return Some(head);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::cursor::Position;

    /// What an index's queries have cost since the last reset.
    #[derive(Debug, Default)]
    pub(super) struct Work {
        /// Per-object selections worked out.
        pub(super) selections: AtomicUsize,
        /// Positions and versions stepped over (a word of 64 deleted positions counts one).
        pub(super) steps: AtomicUsize,
    }

    impl Work {
        fn reset(&self) {
            self.selections.store(0, Ordering::Relaxed);
            self.steps.store(0, Ordering::Relaxed);
        }

        fn steps(&self) -> usize {
            self.steps.load(Ordering::Relaxed)
        }
    }

    const A: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    const B: &str = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b";

    fn object(id: &str, modified: &str, spec: Option<&str>) -> Bytes {
        let (t, _) = id.split_once("--").unwrap();
        let spec = spec.map(|s| format!(r#","spec_version":"{s}""#)).unwrap_or_default();
        Bytes::from(format!(
            r#"{{"type":"{t}","id":"{id}"{spec},"created":"2019-01-01T00:00:00Z","modified":"{modified}"}}"#
        ))
    }

    fn index(objects: &[(&str, &str, Option<&str>)]) -> CollectionIndex {
        let mut index = CollectionIndex::new();
        for (id, modified, spec) in objects {
            index
                .insert_json(object(id, modified, *spec), Timestamp::from_micros(1000))
                .unwrap();
        }
        index
    }

    fn run(index: &CollectionIndex, filter: ObjectFilter, limit: usize) -> Vec<(String, String)> {
        let page = index.query(&ObjectQuery {
            filter,
            limit,
            position: None,
        });
        page.items.iter().map(|v| (v.id().to_owned(), v.version().to_owned())).collect()
    }

    /// Four objects of three types.
    const FOUR_IDS: [&str; 4] = [
        A,
        B,
        "tool--2f2d6f3b-5b8e-4c2a-9c6e-1d3e4f5a6b7c",
        "malware--6b616fc1-1505-48e3-8b2c-0d19337bff38",
    ];

    /// A small deterministic generator: each call gives a number below `n`.
    fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    fn pick(first: bool, last: bool) -> VersionSelector {
        VersionSelector::Pick {
            first,
            last,
            at: Vec::new(),
        }
    }

    #[test]
    fn date_added_is_strictly_increasing_and_duplicates_add_nothing() {
        let mut ix = index(&[(A, "2020-01-01T00:00:00Z", Some("2.1")), (B, "2020-01-01T00:00:00Z", Some("2.1"))]);
        assert_eq!(
            ix.insert_json(object(A, "2020-01-01T00:00:00Z", Some("2.1")), Timestamp::from_micros(0))
                .unwrap(),
            Inserted::Duplicate { identical: true }
        );
        assert_eq!(ix.len(), 2);
        let dates: Vec<i64> = ix.versions.iter().map(|v| v.date_added().as_micros()).collect();
        assert_eq!(dates, vec![1000, 1001]);
    }

    #[test]
    fn selects_versions() {
        let ix = index(&[
            (A, "2020-01-01T00:00:00Z", Some("2.1")),
            (B, "2020-01-01T00:00:00Z", Some("2.1")),
            (A, "2022-01-01T00:00:00Z", Some("2.1")),
            (A, "2021-01-01T00:00:00Z", Some("2.1")),
        ]);
        let f = |versions| ObjectFilter {
            versions,
            ..Default::default()
        };
        assert_eq!(
            run(&ix, f(pick(false, true)), 10),
            vec![(B.into(), "2020-01-01T00:00:00Z".into()), (A.into(), "2022-01-01T00:00:00Z".into())]
        );
        assert_eq!(
            run(&ix, f(pick(true, false)), 10),
            vec![(A.into(), "2020-01-01T00:00:00Z".into()), (B.into(), "2020-01-01T00:00:00Z".into())]
        );
        assert_eq!(run(&ix, f(VersionSelector::All), 10).len(), 4);
        let at = crate::timestamp::parse_rfc3339("2021-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            run(
                &ix,
                f(VersionSelector::Pick {
                    first: false,
                    last: false,
                    at: vec![at]
                }),
                10
            ),
            vec![(A.into(), "2021-01-01T00:00:00Z".into())]
        );
        assert_eq!(run(&ix, f(pick(true, true)), 10).len(), 3);
    }

    #[test]
    fn two_spellings_of_one_instant_are_two_versions_ordered_by_date_added() {
        let ix = index(&[
            (A, "2020-01-01T00:00:00Z", Some("2.1")),
            (A, "2020-01-01T00:00:00.000Z", Some("2.1")),
        ]);
        let f = |versions| ObjectFilter {
            versions,
            ..Default::default()
        };
        assert_eq!(
            run(&ix, f(pick(false, true)), 10),
            vec![(A.into(), "2020-01-01T00:00:00.000Z".into())]
        );
        assert_eq!(run(&ix, f(pick(true, false)), 10), vec![(A.into(), "2020-01-01T00:00:00Z".into())]);
        let at = crate::timestamp::parse_rfc3339("2020-01-01T00:00:00.0Z").unwrap();
        assert_eq!(
            run(
                &ix,
                f(VersionSelector::Pick {
                    first: false,
                    last: false,
                    at: vec![at]
                }),
                10
            )
            .len(),
            2
        );
    }

    #[test]
    fn defaults_to_each_objects_latest_spec_version() {
        let ix = index(&[
            (A, "2020-01-01T00:00:00Z", Some("2.1")),
            (A, "2020-01-01T00:00:00Z", None),
            (B, "2021-01-01T00:00:00Z", None),
        ]);
        let all = |specs| {
            run(
                &ix,
                ObjectFilter {
                    spec_versions: specs,
                    ..Default::default()
                },
                10,
            )
        };
        assert_eq!(all(None).len(), 2, "A in 2.1 and B in 2.0");
        assert_eq!(
            all(Some(vec![SpecVersion::V2_0])),
            vec![(A.into(), "2020-01-01T00:00:00Z".into()), (B.into(), "2021-01-01T00:00:00Z".into())]
        );
        assert_eq!(all(Some(vec![SpecVersion::V2_1])), vec![(A.into(), "2020-01-01T00:00:00Z".into())]);
    }

    #[test]
    fn filters_by_id_type_and_added_after() {
        let ix = index(&[
            (A, "2020-01-01T00:00:00Z", Some("2.1")),
            (B, "2020-01-01T00:00:00Z", Some("2.1")),
            (A, "2021-01-01T00:00:00Z", Some("2.1")),
        ]);
        let types = ObjectFilter {
            types: Some(vec!["malware".into(), "tool".into()]),
            ..Default::default()
        };
        assert_eq!(run(&ix, types, 10), vec![(B.into(), "2020-01-01T00:00:00Z".into())]);
        let ids = ObjectFilter {
            ids: Some(vec![A.into()]),
            versions: VersionSelector::All,
            ..Default::default()
        };
        assert_eq!(run(&ix, ids, 10).len(), 2);
        // Latest versions added strictly after B's date_added: only A's second version.
        let after = ObjectFilter {
            added_after: Some(Timestamp::from_micros(1001)),
            ..Default::default()
        };
        assert_eq!(run(&ix, after, 10), vec![(A.into(), "2021-01-01T00:00:00Z".into())]);
        let after_all = ObjectFilter {
            added_after: Some(Timestamp::from_micros(1002)),
            ..Default::default()
        };
        assert!(run(&ix, after_all, 10).is_empty());
    }

    #[test]
    fn pages_see_one_snapshot() {
        let mut ix = index(&[(A, "2020-01-01T00:00:00Z", Some("2.1")), (B, "2020-01-01T00:00:00Z", Some("2.1"))]);
        let first = ix.query(&ObjectQuery {
            filter: ObjectFilter::default(),
            limit: 1,
            position: None,
        });
        assert!(first.more);
        // A new version of A lands between pages: the walk still ends with B, once.
        ix.insert_json(object(A, "2021-01-01T00:00:00Z", Some("2.1")), Timestamp::from_micros(5000))
            .unwrap();
        let position = Position {
            snapshot: first.snapshot,
            after: first.items[0].date_added(),
        };
        let second = ix.query(&ObjectQuery {
            filter: ObjectFilter::default(),
            limit: 1,
            position: Some(position),
        });
        assert_eq!(second.items.iter().map(|v| v.id()).collect::<Vec<_>>(), vec![B]);
        assert!(!second.more);
    }

    #[test]
    fn deletes_selected_versions_only() {
        let mut ix = index(&[
            (A, "2020-01-01T00:00:00Z", Some("2.1")),
            (B, "2020-01-01T00:00:00Z", Some("2.1")),
            (A, "2021-01-01T00:00:00Z", Some("2.1")),
            (A, "2021-01-01T00:00:00Z", None),
        ]);
        assert_eq!(ix.delete(A, &pick(false, true), Some(&[SpecVersion::V2_1])), 1);
        let all = ObjectFilter {
            versions: VersionSelector::All,
            spec_versions: Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]),
            ..Default::default()
        };
        assert_eq!(run(&ix, all.clone(), 10).len(), 3);
        assert_eq!(ix.delete(A, &VersionSelector::All, None), 2);
        assert_eq!(run(&ix, all.clone(), 10), vec![(B.into(), "2020-01-01T00:00:00Z".into())]);
        assert_eq!(ix.delete(A, &VersionSelector::All, None), 0);
        assert_eq!(ix.media_types(), Some(vec!["application/stix+json;version=2.1".to_owned()]));
        // Later additions still get later date_added values.
        let last = ix.last_added().unwrap();
        assert_eq!(
            ix.insert_json(object(A, "2022-01-01T00:00:00Z", None), Timestamp::from_micros(0))
                .unwrap(),
            Inserted::Added(last.next())
        );
    }

    #[test]
    fn each_objects_selection_is_worked_out_once_per_query() {
        let modified: Vec<String> = (0..500).map(|i| format!("2020-01-01T00:{:02}:{:02}Z", i / 60, i % 60)).collect();
        let mut objects: Vec<(&str, &str, Option<&str>)> = modified.iter().map(|m| (A, m.as_str(), Some("2.1"))).collect();
        objects.push((B, "2020-01-01T00:00:00Z", Some("2.1")));
        let ix = index(&objects);
        for filter in [
            ObjectFilter::default(),
            ObjectFilter {
                versions: pick(true, false),
                ..Default::default()
            },
        ] {
            ix.work.reset();
            assert_eq!(run(&ix, filter, 10).len(), 2);
            // 501 versions stepped over, two objects: two selections at most, not one per
            // version (none for the default query, which reads the index of latest versions).
            assert!(ix.work.selections.load(Ordering::Relaxed) <= 2);
        }
    }

    #[test]
    fn the_index_of_latest_versions_answers_like_a_scan() {
        // Objects with versions in and out of order, in two spec versions, two
        // spellings of one instant, and deletions: every default query, whatever its
        // starting point, limit and types, gives the page a scan gives.
        let ids = FOUR_IDS;
        let mut random = xorshift(7);
        for round in 0..60 {
            let mut ix = CollectionIndex::new();
            for k in 0..40 {
                let id = ids[random(4) as usize];
                let modified = format!("2020-01-{:02}T00:00:00{}Z", 1 + random(9), if random(3) == 0 { ".000" } else { "" });
                let spec = [Some("2.1"), None][random(2) as usize];
                ix.insert_json(object(id, &modified, spec), Timestamp::from_micros(1000 + k))
                    .unwrap();
            }
            if round % 3 == 0 {
                ix.delete(ids[random(4) as usize], &pick(false, true), None);
            }
            let last = ix.last_added().unwrap().as_micros();
            // Walks that began when the collection held all, 30 and 15 of the versions.
            for snapshot in [last, 1029, 1014] {
                for after in [None, Some(1000), Some(1010), Some(1025), Some(last)] {
                    for limit in [1, 3, 100] {
                        for types in [
                            None,
                            Some(vec!["malware".to_owned()]),
                            Some(vec!["tool".to_owned(), "indicator".to_owned()]),
                        ] {
                            let query = ObjectQuery {
                                filter: ObjectFilter {
                                    types: types.clone(),
                                    ..Default::default()
                                },
                                limit,
                                position: after.map(|a| Position {
                                    snapshot: Timestamp::from_micros(snapshot),
                                    after: Timestamp::from_micros(a),
                                }),
                            };
                            let (snapshot, after) = (Timestamp::from_micros(snapshot), after.map(Timestamp::from_micros));
                            let fast = ix.select_defaults(&query, snapshot, after).expect("the default query");
                            assert_eq!(
                                fast,
                                ix.scan(&query, snapshot, after),
                                "round {round}, {snapshot:?}, {after:?}, {limit}, {types:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn manifest_records_written_on_insert_are_the_records_of_the_page() {
        // The records kept since insertion (and rebuilt by deletions) are byte for byte
        // the ones written afresh from the page's versions, for every kind of query.
        let ids = [A, B, "tool--2f2d6f3b-5b8e-4c2a-9c6e-1d3e4f5a6b7c"];
        let mut ix = CollectionIndex::new();
        for k in 0..60u8 {
            let id = ids[usize::from(k % 3)];
            let modified = format!("2020-01-{:02}T00:00:0{}Z", 1 + k % 7, k % 10);
            let spec = [Some("2.1"), None][usize::from(k % 2)];
            ix.insert_json(object(id, &modified, spec), Timestamp::from_micros(5_000_000 * i64::from(k)))
                .unwrap();
            if k % 17 == 16 {
                let buffer = ix.records.as_ptr();
                assert!(ix.delete(ids[usize::from(k % 3)], &pick(true, false), None) > 0);
                assert_eq!(ix.records.as_ptr(), buffer, "a deletion wrote the records into a new buffer");
            }
        }
        for versions in [pick(false, true), pick(true, false), VersionSelector::All] {
            for types in [None, Some(vec!["tool".to_owned()])] {
                for limit in [1, 7, 100] {
                    let filter = ObjectFilter {
                        versions: versions.clone(),
                        types: types.clone(),
                        ..Default::default()
                    };
                    let query = ObjectQuery {
                        filter,
                        limit,
                        position: None,
                    };
                    let written = ix.manifest_json(&query);
                    assert_eq!(written, ManifestPage::from(ix.manifest(&query)), "{versions:?} {types:?} {limit}");
                    assert_eq!(written.records.len(), ix.manifest(&query).items.len());
                }
            }
        }
    }

    #[test]
    fn deleted_versions_stay_marked_until_they_are_a_quarter_of_the_index() {
        let ids: Vec<String> = (0..100)
            .map(|n| format!("indicator--{n:08x}-17d4-4cbf-938f-98ee46b3cd3f"))
            .collect();
        let objects: Vec<(&str, &str, Option<&str>)> = ids.iter().map(|id| (id.as_str(), "2020-01-01T00:00:00Z", Some("2.1"))).collect();
        let mut ix = index(&objects);
        ix.insert_json(object(B, "2020-01-01T00:00:00Z", None), Timestamp::from_micros(1000))
            .unwrap();
        assert_eq!(ix.media_types().map(|m| m.len()), Some(2));
        assert_eq!(ix.delete(B, &VersionSelector::All, None), 1);
        assert_eq!(
            ix.media_types(),
            Some(vec!["application/stix+json;version=2.1".to_owned()]),
            "the last STIX 2.0 version is gone"
        );
        assert_eq!((ix.versions.len(), ix.len()), (101, 100));
        let buffer = ix.records.as_ptr();
        for (n, id) in ids.iter().take(24).enumerate() {
            assert_eq!(ix.delete(id, &VersionSelector::All, None), 1);
            // Marked in place: nothing was rebuilt.
            assert_eq!((ix.versions.len(), ix.len(), ix.deleted_count), (101, 99 - n, n + 2));
        }
        assert_eq!(run(&ix, ObjectFilter::default(), 1000).len(), 76);
        assert_eq!(ix.delete(&ids[24], &VersionSelector::All, None), 1);
        assert_eq!((ix.versions.len(), ix.len(), ix.deleted_count), (75, 75, 0), "compacted");
        assert_eq!(ix.records.as_ptr(), buffer, "the compaction wrote the records into a new buffer");
        assert_eq!(run(&ix, ObjectFilter::default(), 1000).len(), 75);
        assert_eq!(ix.record_ends.len(), 75);
    }

    #[test]
    fn an_index_with_deleted_versions_answers_like_its_compacted_copy() {
        // Random inserts and deletions (of random versions in random spec versions);
        // after each, every kind of query, the manifest, each object's versions and
        // the media types are the same as those of a copy rebuilt without the
        // deleted versions.
        let ids = FOUR_IDS;
        let mut random = xorshift(11);
        let keys = |page: &Page<ObjectVersion>| -> Vec<(String, String, SpecVersion, Timestamp)> {
            page.items
                .iter()
                .map(|v| (v.id().to_owned(), v.version().to_owned(), v.spec_version(), v.date_added()))
                .collect()
        };
        let mut marked_checked = 0;
        for round in 0..40 {
            let mut ix = CollectionIndex::new();
            let mut micros = 1000;
            for step in 0..60 {
                if step < 30 || random(3) > 0 {
                    let id = ids[random(4) as usize];
                    let modified = format!("2020-01-{:02}T00:00:00Z", 1 + random(9));
                    let spec = [Some("2.1"), None][random(2) as usize];
                    micros += 1;
                    ix.insert_json(object(id, &modified, spec), Timestamp::from_micros(micros)).unwrap();
                    continue;
                }
                let selector = match random(4) {
                    0 => VersionSelector::All,
                    1 => pick(true, false),
                    2 => pick(false, true),
                    _ => VersionSelector::Pick {
                        first: false,
                        last: false,
                        at: vec![crate::timestamp::parse_rfc3339(&format!("2020-01-{:02}T00:00:00Z", 1 + random(9))).unwrap()],
                    },
                };
                let specs: Option<&[SpecVersion]> = match random(3) {
                    0 => None,
                    1 => Some(&[SpecVersion::V2_0]),
                    _ => Some(&[SpecVersion::V2_1]),
                };
                ix.delete(ids[random(4) as usize], &selector, specs);
                let mut compacted = ix.clone();
                compacted.compact();
                marked_checked += usize::from(ix.deleted_count > 0);
                assert_eq!(ix.len(), compacted.len());
                assert_eq!(ix.media_types(), compacted.media_types(), "round {round} step {step}");
                for id in ids {
                    let versions = |ix: &CollectionIndex| {
                        ix.versions_of(id)
                            .map(|v| (v.version().to_owned(), v.date_added()))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(versions(&ix), versions(&compacted), "versions of {id}, round {round} step {step}");
                }
                let last = ix.last_added().unwrap().as_micros();
                for versions in [pick(false, true), pick(true, false), VersionSelector::All] {
                    for spec_versions in [
                        None,
                        Some(vec![SpecVersion::V2_0]),
                        Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]),
                    ] {
                        for types in [None, Some(vec!["malware".to_owned()])] {
                            for ids in [None, Some(vec![A.to_owned(), B.to_owned()])] {
                                for after in [None, Some(1010), Some(last - 5)] {
                                    for limit in [1, 4, 100] {
                                        let query = ObjectQuery {
                                            filter: ObjectFilter {
                                                ids: ids.clone(),
                                                types: types.clone(),
                                                versions: versions.clone(),
                                                spec_versions: spec_versions.clone(),
                                                added_after: None,
                                            },
                                            limit,
                                            position: after.map(|a| Position {
                                                snapshot: Timestamp::from_micros(last),
                                                after: Timestamp::from_micros(a),
                                            }),
                                        };
                                        let (page, expected) = (ix.query(&query), compacted.query(&query));
                                        assert_eq!(keys(&page), keys(&expected), "round {round} step {step} {query:?}");
                                        assert_eq!(page.more, expected.more, "round {round} step {step} {query:?}");
                                        assert_eq!(ix.manifest_json(&query), compacted.manifest_json(&query), "{query:?}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            marked_checked > 100,
            "only {marked_checked} checks ran with deleted versions marked"
        );
    }

    #[test]
    fn merges_sources_without_repeats() {
        let merged: Vec<usize> = merge_ascending(vec![&[1, 4, 9], &[2, 4, 10], &[]]).collect();
        assert_eq!(merged, vec![1, 2, 4, 9, 10]);
    }

    /// `count` distinct indicators, one version each, added one microsecond apart from 1000.
    fn indicators(count: usize) -> CollectionIndex {
        let mut ix = CollectionIndex::new();
        for n in 0..count {
            let id = format!("indicator--{n:08x}-17d4-4cbf-938f-98ee46b3cd3f");
            ix.insert_json(object(&id, "2020-01-01T00:00:00Z", Some("2.1")), Timestamp::from_micros(1000))
                .unwrap();
        }
        ix
    }

    /// Runs a query and says how many positions and versions it stepped over.
    fn work_of(ix: &CollectionIndex, query: &ObjectQuery) -> (Page<usize>, usize) {
        ix.work.reset();
        let page = ix.select(query);
        (page, ix.work.steps())
    }

    #[test]
    fn a_default_walk_that_writes_outdated_still_reads_the_latest_versions_index() {
        // One object with 2000 versions, interleaved with 2000 others: a default walk
        // whose snapshot a later write left behind costs what its pages return and
        // the objects written since, not every version after its position.
        let mut ix = CollectionIndex::new();
        for n in 0..2000 {
            let id = format!("malware--{n:08x}-17d4-4cbf-938f-98ee46b3cd3f");
            ix.insert_json(object(&id, "2020-01-01T00:00:00Z", Some("2.1")), Timestamp::from_micros(1000))
                .unwrap();
            let modified = format!("2020-01-01T{:02}:{:02}:{:02}Z", n / 3600, n / 60 % 60, n % 60);
            ix.insert_json(object(A, &modified, Some("2.1")), Timestamp::from_micros(1000))
                .unwrap();
        }
        let first = ix.select(&ObjectQuery {
            filter: ObjectFilter::default(),
            limit: 10,
            position: None,
        });
        let after = ix.versions[*first.items.last().unwrap()].date_added();
        ix.insert_json(object(B, "2020-01-01T00:00:00Z", Some("2.1")), Timestamp::from_micros(0))
            .unwrap();
        let next = ObjectQuery {
            filter: ObjectFilter::default(),
            limit: 10,
            position: Some(Position {
                snapshot: first.snapshot,
                after,
            }),
        };
        let (page, steps) = work_of(&ix, &next);
        assert_eq!(page, ix.scan(&next, first.snapshot, Some(after)));
        assert_eq!(page.items.len(), 10);
        assert!(steps <= 40, "the second page stepped over {steps} positions and versions");
    }

    #[test]
    fn pages_step_over_deleted_versions_without_looking_at_each() {
        // Just under a quarter of the collection deleted (no compaction yet), all of it
        // before the rest: queries that scan do not pay for each deleted version.
        let mut ix = indicators(4000);
        for n in 0..999 {
            let id = format!("indicator--{n:08x}-17d4-4cbf-938f-98ee46b3cd3f");
            assert_eq!(ix.delete(&id, &VersionSelector::All, None), 1);
        }
        assert_eq!(ix.deleted_count, 999, "not compacted");
        for types in [None, Some(vec!["indicator".to_owned()])] {
            for (versions, spec_versions) in [
                (VersionSelector::All, None),
                (pick(true, false), None),
                (pick(false, true), Some(vec![SpecVersion::V2_1])),
            ] {
                let query = ObjectQuery {
                    filter: ObjectFilter {
                        types: types.clone(),
                        versions: versions.clone(),
                        spec_versions,
                        ..Default::default()
                    },
                    limit: 1,
                    position: None,
                };
                let (page, steps) = work_of(&ix, &query);
                assert_eq!(page.items, vec![999], "{query:?}");
                assert!(steps <= 40, "{steps} steps for {query:?}");
            }
        }
    }

    #[test]
    fn a_versions_page_costs_what_it_steps_over_not_every_version() {
        let modified: Vec<String> = (0..3000)
            .map(|i| format!("2020-01-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60))
            .collect();
        let objects: Vec<(&str, &str, Option<&str>)> = modified.iter().map(|m| (A, m.as_str(), Some("2.1"))).collect();
        let ix = index(&objects);
        let last = ix.last_added().unwrap();
        for (versions, expected) in [(VersionSelector::All, 2998), (pick(false, true), 2999)] {
            let query = ObjectQuery {
                filter: ObjectFilter {
                    ids: Some(vec![A.to_owned()]),
                    versions,
                    ..Default::default()
                },
                limit: 1,
                position: Some(Position {
                    snapshot: last,
                    after: ix.versions[2997].date_added(),
                }),
            };
            let (page, steps) = work_of(&ix, &query);
            assert_eq!(page.items, vec![expected], "{query:?}");
            assert!(steps <= 10, "{steps} steps for {query:?}");
        }
    }
}
