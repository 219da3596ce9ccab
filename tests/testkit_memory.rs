//! The backend test suite (`tower_taxii::testkit`) against the memory backend, and
//! proof that the suite catches broken backends: the memory backend with one
//! behaviour broken at a time must fail the checks that cover it.
#![cfg(all(feature = "testkit", feature = "memory"))]

tower_taxii::backend_tests!(tower_taxii::testkit::MemoryFactory);

/// `run_all` expands from the same check list as `backend_tests!`: every check in one test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_on_the_memory_backend() {
    tower_taxii::testkit::run_all(std::sync::Arc::new(tower_taxii::testkit::MemoryFactory)).await;
}

mod broken {
    use std::sync::Arc;

    use tower_taxii::testkit::{BackendFactory, MemoryFactory, checks, run};
    use tower_taxii::{
        BackendError, CollectionInfo, ObjectQuery, ObjectVersion, Page, Principal, SpecVersion, Status, StorageBackend, Timestamp,
        VersionRecord, VersionSelector, async_trait,
    };

    /// One behaviour a backend can get wrong.
    #[derive(Clone, Copy)]
    enum Bug {
        /// Later pages see versions added after the walk began.
        IgnoresSnapshot,
        /// `more` is never set.
        NeverMore,
        /// Without `match[spec_version]`, every spec version is served.
        AllSpecsByDefault,
        /// `added_after` includes the version added at that time.
        InclusiveAddedAfter,
        /// A delete ignores its `match[spec_version]`: versions of every spec version go.
        DeleteIgnoresSpecFilter,
        /// A delete ignores its `match[version]`: every version (of the spec versions given) goes.
        DeleteAllVersions,
    }

    struct Broken {
        inner: Arc<dyn StorageBackend>,
        bug: Bug,
    }

    impl Broken {
        fn query(&self, query: &ObjectQuery) -> ObjectQuery {
            let mut query = query.clone();
            match self.bug {
                Bug::IgnoresSnapshot => {
                    if let Some(p) = &mut query.position {
                        p.snapshot = Timestamp::MAX;
                    }
                }
                Bug::AllSpecsByDefault => {
                    if query.filter.spec_versions.is_none() {
                        query.filter.spec_versions = Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]);
                    }
                }
                Bug::InclusiveAddedAfter => {
                    query.filter.added_after = query.filter.added_after.map(|t| Timestamp::from_micros(t.as_micros() - 1));
                }
                Bug::NeverMore | Bug::DeleteIgnoresSpecFilter | Bug::DeleteAllVersions => {}
            }
            query
        }

        fn page<T>(&self, mut page: Page<T>) -> Page<T> {
            if let Bug::NeverMore = self.bug {
                page.more = false;
            }
            page
        }
    }

    #[async_trait]
    impl StorageBackend for Broken {
        async fn collections(&self, api_root: &str, principal: &Principal) -> Result<Vec<CollectionInfo>, BackendError> {
            self.inner.collections(api_root, principal).await
        }

        async fn objects(&self, root: &str, c: &str, query: &ObjectQuery, p: &Principal) -> Result<Page<ObjectVersion>, BackendError> {
            Ok(self.page(self.inner.objects(root, c, &self.query(query), p).await?))
        }

        async fn manifest(&self, root: &str, c: &str, query: &ObjectQuery, p: &Principal) -> Result<Page<VersionRecord>, BackendError> {
            Ok(self.page(self.inner.manifest(root, c, &self.query(query), p).await?))
        }

        async fn status(&self, root: &str, id: &str, p: &Principal) -> Result<Option<Status>, BackendError> {
            self.inner.status(root, id, p).await
        }

        async fn add_objects(
            &self,
            root: &str,
            c: &str,
            objects: Vec<ObjectVersion>,
            status: Status,
            p: &Principal,
        ) -> Result<Status, BackendError> {
            self.inner.add_objects(root, c, objects, status, p).await
        }

        async fn delete_object(
            &self,
            root: &str,
            c: &str,
            id: &str,
            versions: &VersionSelector,
            specs: Option<&[SpecVersion]>,
            p: &Principal,
        ) -> Result<usize, BackendError> {
            match self.bug {
                Bug::DeleteIgnoresSpecFilter => self.inner.delete_object(root, c, id, versions, None, p).await,
                Bug::DeleteAllVersions => self.inner.delete_object(root, c, id, &VersionSelector::All, specs, p).await,
                _ => self.inner.delete_object(root, c, id, versions, specs, p).await,
            }
        }
    }

    struct BrokenFactory(Bug);

    #[async_trait]
    impl BackendFactory for BrokenFactory {
        async fn make(&self, collections: &[(&str, CollectionInfo)]) -> Arc<dyn StorageBackend> {
            Arc::new(Broken {
                inner: MemoryFactory.make(collections).await,
                bug: self.0,
            })
        }
    }

    #[test]
    #[should_panic(expected = "a walk saw versions added after it began")]
    fn a_walk_without_its_snapshot_fails() {
        run(BrokenFactory(Bug::IgnoresSnapshot), checks::walks_see_one_snapshot);
    }

    #[test]
    #[should_panic(expected = "property failed")]
    fn a_walk_without_its_snapshot_fails_the_property() {
        run(BrokenFactory(Bug::IgnoresSnapshot), checks::random_walks_equal_unpaged);
    }

    #[test]
    #[should_panic(expected = "differs from the unpaged answer")]
    fn pages_without_more_fail() {
        run(BrokenFactory(Bug::NeverMore), checks::walks_pages);
    }

    #[test]
    #[should_panic(expected = "match[spec_version] case default")]
    fn every_spec_version_by_default_fails() {
        run(BrokenFactory(Bug::AllSpecsByDefault), checks::defaults_to_latest_spec_version);
    }

    #[test]
    #[should_panic(expected = "property failed")]
    fn every_spec_version_by_default_fails_the_property() {
        run(BrokenFactory(Bug::AllSpecsByDefault), checks::random_queries_match_model);
    }

    #[test]
    #[should_panic(expected = "added_after case")]
    fn an_inclusive_added_after_fails() {
        run(BrokenFactory(Bug::InclusiveAddedAfter), checks::added_after_boundaries);
    }

    #[test]
    #[should_panic(expected = "property failed")]
    fn an_inclusive_added_after_fails_the_property() {
        run(BrokenFactory(Bug::InclusiveAddedAfter), checks::random_queries_match_model);
    }

    #[test]
    #[should_panic(expected = "property failed")]
    fn a_delete_ignoring_spec_versions_fails_the_property() {
        run(BrokenFactory(Bug::DeleteIgnoresSpecFilter), checks::random_deletes_match_model);
    }

    #[test]
    #[should_panic(expected = "property failed")]
    fn a_delete_of_every_version_fails_the_property() {
        run(BrokenFactory(Bug::DeleteAllVersions), checks::random_deletes_match_model);
    }
}
