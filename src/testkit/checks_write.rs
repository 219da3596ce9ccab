//! Checks of what writes do: duplicates, deletes, statuses, isolation between
//! collections, snapshots of paged walks, and concurrent writers.

use std::collections::HashSet;
use std::sync::Arc;

use super::BackendFactory;
use super::fixtures::{ROOT, Spec, Store, anonymous, everything, expect, id, keys, object, pick, short, writable};
use crate::cursor::Position;
use crate::query::{ObjectFilter, VersionSelector};
use crate::stix::SpecVersion;

const V20: SpecVersion = SpecVersion::V2_0;
const V21: SpecVersion = SpecVersion::V2_1;

/// A version a collection holds already is a success that adds nothing and changes
/// nothing: not its bytes (the first copy is kept, even when the second differs),
/// not its `date_added`; the same within one envelope.
pub async fn keeps_first_copy_of_duplicates(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let (x, y) = (id("indicator", 1), id("malware", 2));
    let t = "2020-01-01T00:00:00Z";
    store.add("tk-a", &[object(&x, t, Spec::V21, 0)]).await;
    let before = store.stored("tk-a").await;
    for variant in [0, 1] {
        let status = store.add("tk-a", &[object(&x, t, Spec::V21, variant)]).await;
        assert_eq!(
            (status.successes.len(), status.failures.len()),
            (1, 0),
            "a duplicate (variant {variant}) must be a success: {status:?}"
        );
        assert_eq!(status.successes[0].version, t);
        let after = store.stored("tk-a").await;
        assert_eq!(keys(&after), keys(&before), "a duplicate changed the stored versions");
        assert_eq!(after[0].json(), before[0].json(), "a duplicate replaced the first copy's bytes");
    }
    let status = store.add("tk-a", &[object(&y, t, Spec::V21, 0), object(&y, t, Spec::V21, 1)]).await;
    assert_eq!(status.successes.len(), 2, "both copies in one envelope are successes: {status:?}");
    let stored = store.stored("tk-a").await;
    assert_eq!(stored.len(), 2, "two copies in one envelope stored twice");
    assert_eq!(
        &stored[1].json()[..],
        object(&y, t, Spec::V21, 0).as_bytes(),
        "the first copy in an envelope is kept"
    );
}

/// Deleting removes the versions selected among those of the spec versions given
/// (all without), returns how many, leaves other objects and other collections
/// alone, makes an earlier version the latest, and later additions still get
/// `date_added` values above every earlier one (deleted ones included).
pub async fn deletes(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a"), writable("tk-b")]).await;
    let (x, y, w) = (id("indicator", 1), id("malware", 2), id("tool", 3));
    let (y20, y21, y22) = ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z");
    store
        .add(
            "tk-a",
            &[
                object(&x, y20, Spec::V20, 0),
                object(&x, y20, Spec::V21, 0),
                object(&x, y21, Spec::V21, 0),
                object(&x, y22, Spec::V21, 0),
                object(&y, y20, Spec::V21, 0),
                object(&w, y20, Spec::V21, 0),
                object(&w, y21, Spec::V21, 0),
            ],
        )
        .await;
    store.add("tk-b", &[object(&x, y20, Spec::V21, 0)]).await;
    let highest = store.stored("tk-a").await.iter().map(|v| v.date_added()).max();
    let delete = |object: String, versions: VersionSelector, specs: Option<Vec<SpecVersion>>| {
        let backend = Arc::clone(&store.backend);
        async move {
            backend
                .delete_object(ROOT, "tk-a", &object, &versions, specs.as_deref(), &anonymous())
                .await
                .expect("delete_object")
        }
    };
    let of = |versions: &[crate::stix::ObjectVersion], object: &str| {
        short(&versions.iter().filter(|v| v.id() == object).cloned().collect::<Vec<_>>())
    };

    assert_eq!(
        delete(x.clone(), pick(false, true, &[]), Some(vec![V21])).await,
        1,
        "delete the latest 2.1 version"
    );
    assert_eq!(
        of(&store.stored("tk-a").await, &x),
        expect(&[(&x, y20, V20), (&x, y20, V21), (&x, y21, V21)])
    );
    let latest = store.select("tk-a", &ObjectFilter::default()).await;
    assert_eq!(
        of(&latest, &x),
        expect(&[(&x, y21, V21)]),
        "after deleting the latest version, the one before is the latest"
    );

    assert_eq!(
        delete(x.clone(), pick(false, false, &[y20]), None).await,
        2,
        "delete both forms of one version"
    );
    assert_eq!(
        delete(x.clone(), VersionSelector::All, Some(vec![V20])).await,
        0,
        "no 2.0 version is left"
    );
    assert_eq!(delete(x.clone(), VersionSelector::All, None).await, 1);
    assert_eq!(delete(x.clone(), VersionSelector::All, None).await, 0, "deleting a deleted object");
    assert_eq!(
        delete(id("indicator", 99), VersionSelector::All, None).await,
        0,
        "deleting an object never stored"
    );
    assert_eq!(delete(w.clone(), pick(true, false, &[]), None).await, 1, "delete the first version");

    let left = store.stored("tk-a").await;
    assert_eq!(
        short(&left),
        expect(&[(&y, y20, V21), (&w, y21, V21)]),
        "what is left of the collection"
    );
    let other = store.stored("tk-b").await;
    assert_eq!(short(&other), expect(&[(&x, y20, V21)]), "another collection's copy must stay");

    store.add("tk-a", &[object(&x, y20, Spec::V21, 0)]).await;
    let readded = store
        .select(
            "tk-a",
            &ObjectFilter {
                ids: Some(vec![x.clone()]),
                ..ObjectFilter::default()
            },
        )
        .await;
    assert_eq!(readded.len(), 1, "a deleted version can be added again");
    assert!(
        Some(readded[0].date_added()) > highest,
        "a version added after deletes got a date_added not above every earlier one"
    );
}

/// `add_objects` returns the status it was given with a success per stored object
/// and the service's failures kept; the status endpoint serves it afterwards in its
/// own API root only; an unknown status is `None`.
pub async fn statuses(factory: Arc<dyn BackendFactory>) {
    let store = Store::with_roots(&*factory, &[(ROOT, writable("tk-a")), ("other/root", writable("tk-a"))]).await;
    let sent = [
        object(&id("indicator", 1), "2020-01-01T00:00:00Z", Spec::V21, 0),
        "[1, 2]".to_owned(),
        object(&id("indicator", 2), "2020-01-01T00:00:00Z", Spec::V21, 0),
    ];
    let status = store.add("tk-a", &sent).await;
    assert_eq!(
        (status.total_count, status.success_count, status.failure_count, status.pending_count),
        (3, 2, 1, 0),
        "{status:?}"
    );
    assert_eq!(status.status, crate::resources::StatusState::Complete);
    let kept = store.backend.status(ROOT, &status.id, &anonymous()).await.expect("status");
    let mut kept = kept.unwrap_or_else(|| panic!("status {} was not kept", status.id));
    kept.settle();
    assert_eq!(kept, status, "the status endpoint must serve the status add_objects returned");
    let unknown = store
        .backend
        .status(ROOT, "2d1c7ae5-5e4a-4b4b-8e5e-0a0a0a0a0a0a", &anonymous())
        .await
        .expect("status");
    assert!(unknown.is_none(), "an unknown status was found");
    let elsewhere = store.backend.status("other/root", &status.id, &anonymous()).await.expect("status");
    assert!(elsewhere.is_none(), "a status is served in another API root");
}

/// One object id in two collections, and one collection id in two API roots, are
/// separate: their versions, bytes, deletes and duplicates do not mix.
pub async fn isolates_collections(factory: Arc<dyn BackendFactory>) {
    let store = Store::with_roots(
        &*factory,
        &[(ROOT, writable("tk-a")), (ROOT, writable("tk-b")), ("other/root", writable("tk-a"))],
    )
    .await;
    let x = id("indicator", 1);
    let (y20, y21) = ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z");
    store.add("tk-a", &[object(&x, y20, Spec::V21, 0)]).await;
    store
        .add("tk-b", &[object(&x, y20, Spec::V21, 1), object(&x, y21, Spec::V21, 1)])
        .await;
    store.add_in("other/root", "tk-a", &[object(&x, y20, Spec::V21, 2)]).await;
    let a = store.stored("tk-a").await;
    let b = store.stored("tk-b").await;
    let other = store.select_in("other/root", "tk-a", &everything()).await;
    assert_eq!(short(&a), expect(&[(&x, y20, V21)]));
    assert_eq!(
        &a[0].json()[..],
        object(&x, y20, Spec::V21, 0).as_bytes(),
        "another collection's copy leaked"
    );
    assert_eq!(short(&b), expect(&[(&x, y20, V21), (&x, y21, V21)]));
    assert_eq!(&b[0].json()[..], object(&x, y20, Spec::V21, 1).as_bytes());
    assert_eq!(
        &other[0].json()[..],
        object(&x, y20, Spec::V21, 2).as_bytes(),
        "another API root's collection leaked"
    );
    let removed = store
        .backend
        .delete_object(ROOT, "tk-b", &x, &VersionSelector::All, None, &anonymous())
        .await
        .expect("delete_object");
    assert_eq!(removed, 2);
    assert_eq!(
        keys(&store.stored("tk-a").await),
        keys(&a),
        "a delete in another collection removed versions"
    );
    assert_eq!(store.select_in("other/root", "tk-a", &everything()).await.len(), 1);
    let status = store.add("tk-b", &[object(&x, y20, Spec::V21, 0)]).await;
    assert_eq!(status.successes.len(), 1);
    assert_eq!(
        store.stored("tk-b").await.len(),
        1,
        "a version of another collection counted as a duplicate"
    );
}

/// A walk sees the collection as it was when it began: versions added between its
/// pages neither appear nor push out what they supersede; a new walk sees them.
pub async fn walks_see_one_snapshot(factory: Arc<dyn BackendFactory>) {
    let store = Store::new(&*factory, &[writable("tk-a")]).await;
    let objects: Vec<String> = (0..10)
        .map(|n| object(&id("indicator", n), "2020-01-01T00:00:00Z", Spec::V21, 0))
        .collect();
    store.add("tk-a", &objects).await;
    let filter = ObjectFilter::default();
    let before = store.select("tk-a", &filter).await;
    let first = store.page("tk-a", &filter, 3, None).await;
    assert!(first.more);
    store
        .add(
            "tk-a",
            &[
                object(&id("indicator", 0), "2021-01-01T00:00:00Z", Spec::V21, 0),
                object(&id("indicator", 7), "2021-01-01T00:00:00Z", Spec::V21, 0),
                object(&id("indicator", 50), "2021-01-01T00:00:00Z", Spec::V21, 0),
            ],
        )
        .await;
    let mut walked = first.items.clone();
    let snapshot = first.snapshot;
    loop {
        let after = walked.last().map(|v| v.date_added()).unwrap_or(crate::timestamp::Timestamp::MIN);
        let page = store.page("tk-a", &filter, 3, Some(Position { snapshot, after })).await;
        walked.extend(page.items);
        if !page.more {
            break;
        }
    }
    assert_eq!(keys(&walked), keys(&before), "a walk saw versions added after it began");
    let now = store.select("tk-a", &filter).await;
    assert_eq!(now.len(), 11, "a new query sees the new versions");
    assert!(
        now.iter()
            .any(|v| v.id() == id("indicator", 7) && v.version() == "2021-01-01T00:00:00Z")
    );
}

/// Concurrent `add_objects` calls on one collection all land: every version gets
/// its own `date_added`, in envelope order within each request; copies of one
/// version sent concurrently are stored once.
pub async fn concurrent_writers(factory: Arc<dyn BackendFactory>) {
    let store = Arc::new(Store::new(&*factory, &[writable("tk-a")]).await);
    let mut tasks = Vec::new();
    for writer in 0..8u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut requests = Vec::new();
            for request in 0..5u32 {
                let objects: Vec<String> = (0..4u32)
                    .map(|k| {
                        object(
                            &id("indicator", writer * 1000 + request * 10 + k),
                            "2020-01-01T00:00:00Z",
                            Spec::V21,
                            0,
                        )
                    })
                    .collect();
                let status = store.add("tk-a", &objects).await;
                assert_eq!(status.successes.len(), 4, "{status:?}");
                requests.push(
                    (0..4u32)
                        .map(|k| id("indicator", writer * 1000 + request * 10 + k))
                        .collect::<Vec<_>>(),
                );
            }
            requests
        }));
    }
    let mut requests = Vec::new();
    for task in tasks {
        requests.extend(task.await.expect("a writer task failed"));
    }
    let stored = store.stored("tk-a").await;
    assert_eq!(stored.len(), 160, "concurrent writes were lost");
    let dates: HashSet<_> = stored.iter().map(|v| v.date_added()).collect();
    assert_eq!(dates.len(), 160, "two versions share a date_added");
    for ids in requests {
        let dates: Vec<_> = ids
            .iter()
            .map(|i| stored.iter().find(|v| v.id() == i).map(|v| v.date_added()))
            .collect();
        assert!(
            dates.windows(2).all(|w| w[0] < w[1]),
            "one request's objects are not in envelope order"
        );
    }
    let same = object(&id("malware", 1), "2020-01-01T00:00:00Z", Spec::V21, 0);
    let mut copies = Vec::new();
    for _ in 0..6 {
        let store = Arc::clone(&store);
        let same = same.clone();
        copies.push(tokio::spawn(async move { store.add("tk-a", &[same]).await }));
    }
    for copy in copies {
        let status = copy.await.expect("a writer task failed");
        assert_eq!(status.successes.len(), 1, "{status:?}");
    }
    let malware = ObjectFilter {
        types: Some(vec!["malware".into()]),
        ..everything()
    };
    assert_eq!(
        store.select("tk-a", &malware).await.len(),
        1,
        "concurrent copies of one version were stored twice"
    );
}
