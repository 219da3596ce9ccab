//! A test suite for [`StorageBackend`]s (feature `testkit`): everything the service
//! relies on a backend for, checked against any backend, ours or yours.
//!
//! A backend has no trait method to create collections, so the suite takes a
//! [`BackendFactory`] that makes a fresh backend holding the collections each check
//! asks for. [`backend_tests!`](crate::backend_tests) turns the suite into one
//! `#[test]` per check:
//!
//! ```
//! // In tests/my_backend.rs (here with the memory backend's factory):
//! tower_taxii::backend_tests!(tower_taxii::testkit::MemoryFactory);
//! # fn main() {}
//! ```
//!
//! or run every check from your own async test with [`run_all`].
//!
//! # What is checked
//! Each check in [`checks`] documents what it asserts. Together they cover loading
//! and adding objects, byte-exact storage, version selection (`first`, `last`,
//! `all`, timestamps, their unions), the `spec_version` default, every filter alone
//! and combined, `date_added` order and its strict increase (also under concurrent
//! writers), paged walks at several page sizes (the union equals the unpaged answer,
//! no duplicates, no gaps, `more` consistent, a walk sees one snapshot),
//! `added_after` boundaries, duplicates, deletes, statuses, collection permissions,
//! isolation between collections and API roots, principal-based hiding, and an
//! end-to-end walk through [`TaxiiService`](crate::TaxiiService). Three property
//! checks load random data and compare random queries, random page walks, and
//! random deletes interleaved with more loading, with a naive model of the
//! standard's semantics (the reference semantics of
//! [`CollectionIndex`](crate::CollectionIndex)).
//!
//! # Principals
//! The checks call the backend as the anonymous principal and expect it to show
//! every collection the factory made with the `can_read`/`can_write` given.
//! Principal-based hiding is checked through the service and an
//! [`AccessPolicy`](crate::AccessPolicy), which works over any backend; a backend
//! that also hides data by principal itself should test that on its own.
//!
//! # Property checks
//! They run 32 cases each unless `PROPTEST_CASES` says otherwise, and make one
//! backend per case.

mod checks_read;
mod checks_service;
mod checks_write;
mod fixtures;
mod model;
mod properties;

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::StorageBackend;
use crate::resources::CollectionInfo;

/// Makes fresh backends for the checks.
#[async_trait]
pub trait BackendFactory: Send + Sync + 'static {
    /// A new backend, sharing no data with any other this factory made, holding
    /// exactly these collections, each `(API root, collection)`, empty, in this
    /// order. [`collections`](StorageBackend::collections) must list them with the
    /// `id`, `title`, `description`, `alias`, `can_read` and `can_write` given (any
    /// `media_types`), and a collection with `can_write` must take
    /// [`add_objects`](StorageBackend::add_objects).
    ///
    /// Panic when the backend cannot be made (the check then fails).
    async fn make(&self, collections: &[(&str, CollectionInfo)]) -> Arc<dyn StorageBackend>;

    /// Called once after each check, whether it passed or not, to remove what its
    /// backends left behind (schemas, files). The default does nothing.
    async fn cleanup(&self) {}
}

/// Makes [`MemoryBackend`](crate::MemoryBackend)s: the factory the crate's own tests use.
#[cfg(feature = "memory")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

#[cfg(feature = "memory")]
#[async_trait]
impl BackendFactory for MemoryFactory {
    async fn make(&self, collections: &[(&str, CollectionInfo)]) -> Arc<dyn StorageBackend> {
        let backend = crate::MemoryBackend::new();
        for (root, info) in collections {
            backend.add_collection(root, info.clone());
        }
        Arc::new(backend)
    }
}

/// Runs one check on a runtime of its own (two worker threads), then the factory's
/// [`cleanup`](BackendFactory::cleanup). This is what each test of
/// [`backend_tests!`](crate::backend_tests) does.
///
/// # Panics
/// When the check fails (that is how a test fails), or when no runtime can be built.
pub fn run<F, C, Fut>(factory: F, check: C)
where
    F: BackendFactory,
    C: FnOnce(Arc<dyn BackendFactory>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the testkit");
    runtime.block_on(async {
        let factory: Arc<dyn BackendFactory> = Arc::new(factory);
        let outcome = tokio::spawn(check(Arc::clone(&factory))).await;
        factory.cleanup().await;
        if let Err(error) = outcome {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("the check did not finish: {error}"),
            }
        }
    });
}

/// Runs every check in turn on the current runtime, which must be a multi-thread
/// one (the property checks block a thread of it). Panics at the first failure;
/// prefer [`backend_tests!`](crate::backend_tests), which reports each check as its
/// own test. Does not call [`cleanup`](BackendFactory::cleanup).
pub async fn run_all(factory: Arc<dyn BackendFactory>) {
    macro_rules! each {
        ($($check:ident),* $(,)?) => {
            $(checks::$check(Arc::clone(&factory)).await;)*
        };
    }
    crate::__testkit_for_each_check!([each]);
}

/// Hands the names of every check, in the order
/// [`run_all`](crate::testkit::run_all) runs them, to another macro:
/// `__testkit_for_each_check!([path::to::m] leading tokens)` expands to
/// `path::to::m! { leading tokens lists_collections, adds_and_reads_back_bytes, ... }`.
///
/// This is the one list of the checks: [`run_all`](crate::testkit::run_all) and
/// [`backend_tests!`](crate::backend_tests) both expand from it, so neither can miss
/// a check the other has. Not a stable API: use `backend_tests!` or `run_all`.
#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_for_each_check {
    ([$($callback:tt)*] $($leading:tt)*) => {
        $($callback)*! {
            $($leading)*
            lists_collections,
            adds_and_reads_back_bytes,
            selects_versions,
            defaults_to_latest_spec_version,
            filters_alone_and_combined,
            orders_by_date_added,
            walks_pages,
            added_after_boundaries,
            keeps_first_copy_of_duplicates,
            unversioned_objects,
            empty_collections,
            deletes,
            statuses,
            isolates_collections,
            walks_see_one_snapshot,
            concurrent_writers,
            permissions,
            principal_hiding,
            service_round_trip,
            random_queries_match_model,
            random_walks_equal_unpaged,
            random_deletes_match_model,
        }
    };
}

/// The checks, each an async function taking the factory. Each panics with a
/// message saying what differed when the backend gets something wrong.
pub mod checks {
    pub use super::checks_read::{
        added_after_boundaries, adds_and_reads_back_bytes, defaults_to_latest_spec_version, empty_collections, filters_alone_and_combined,
        lists_collections, orders_by_date_added, selects_versions, unversioned_objects, walks_pages,
    };
    pub use super::checks_service::{permissions, principal_hiding, service_round_trip};
    pub use super::checks_write::{
        concurrent_writers, deletes, isolates_collections, keeps_first_copy_of_duplicates, statuses, walks_see_one_snapshot,
    };
    pub use super::properties::{random_deletes_match_model, random_queries_match_model, random_walks_equal_unpaged};
}

/// Expands to one `#[test]` per testkit check, each making its backends with the
/// given factory expression (evaluated once per test). Put it in a test file:
///
/// ```
/// tower_taxii::backend_tests!(tower_taxii::testkit::MemoryFactory);
/// # fn main() {}
/// ```
///
/// With `optional`, the expression is an `Option` of a factory, and each test
/// returns early (passing) on `None`: for a backend whose server may be missing, the
/// expression can print why it skips.
///
/// ```
/// fn factory() -> Option<tower_taxii::testkit::MemoryFactory> {
///     Some(tower_taxii::testkit::MemoryFactory)
/// }
/// tower_taxii::backend_tests!(optional factory());
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! backend_tests {
    (@each (optional $factory:expr); $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some(factory) = $factory {
                    $crate::testkit::run(factory, $crate::testkit::checks::$check);
                }
            }
        )*
    };
    (@each (always $factory:expr); $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::testkit::run($factory, $crate::testkit::checks::$check);
            }
        )*
    };
    (@all $mode:tt) => {
        $crate::__testkit_for_each_check!([$crate::backend_tests] @each $mode;);
    };
    (optional $factory:expr) => {
        $crate::backend_tests!(@all (optional $factory));
    };
    ($factory:expr) => {
        $crate::backend_tests!(@all (always $factory));
    };
}

#[cfg(test)]
mod tests {
    /// The check list that [`run_all`](super::run_all) and `backend_tests!` expand from.
    fn listed() -> Vec<&'static str> {
        macro_rules! names {
            ($($check:ident),* $(,)?) => {
                vec![$(stringify!($check)),*]
            };
        }
        crate::__testkit_for_each_check!([names])
    }

    /// Every `pub async fn` taking the factory in the checks' source files.
    fn written() -> Vec<&'static str> {
        let sources = [
            include_str!("checks_read.rs"),
            include_str!("checks_service.rs"),
            include_str!("checks_write.rs"),
            include_str!("properties.rs"),
        ];
        sources
            .iter()
            .flat_map(|source| source.lines())
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(factory: Arc<dyn BackendFactory>)"))
            .map(|rest| &rest[..rest.find('(').expect("a parameter list")])
            .collect()
    }

    #[test]
    fn the_check_list_names_every_check_once() {
        let listed = listed();
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), listed.len(), "a check is listed twice: {listed:?}");
        let mut written = written();
        written.sort_unstable();
        assert_eq!(sorted, written, "the check list and the checks written differ");
    }
}
