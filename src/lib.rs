//! # tower-taxii
//!
//! A [TAXII 2.1](https://docs.oasis-open.org/cti/taxii/v2.1/taxii-v2.1.html) server
//! as a tower [`Service`](tower_service::Service): mount [`TaxiiService`] in an axum
//! (or any tower) application, wrap it in your own authentication layers, and serve
//! STIX threat intelligence that every TAXII 2.1 client can read.
//!
//! The service does routing, content negotiation, filtering (`added_after`, `limit`,
//! `next`, `match[id|type|version|spec_version]`), pagination and every TAXII error
//! response. Storage is a [`StorageBackend`] you supply, or the in-memory
//! [`MemoryBackend`] that loads STIX bundles. STIX objects are kept and returned
//! byte-for-byte as they were loaded.
//!
//! ```
//! use std::sync::Arc;
//! use tower::ServiceExt;
//! use tower_taxii::{ApiRoot, CollectionInfo, MemoryBackend, TaxiiService};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let backend = Arc::new(MemoryBackend::new());
//! backend.add_collection("api/v21", CollectionInfo::new("91a7b528-80eb-42ed-a74d-c6fbd5a26116", "Indicators"));
//! let taxii = TaxiiService::builder(backend).api_root("api/v21", ApiRoot::new("Demo")).build();
//!
//! let request = http::Request::get("/api/v21/collections/")
//!     .header("accept", "application/taxii+json;version=2.1")
//!     .body(String::new())
//!     .unwrap();
//! let response = taxii.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "application/taxii+json;version=2.1");
//! # });
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
mod access;
pub mod auth;
mod backend;
mod body;
mod bundle;
mod cursor;
mod error;
mod index;
mod ingest;
mod layer;
mod live_set;
mod load;
mod manifest;
#[cfg(feature = "memory")]
mod memory;
mod negotiate;
#[cfg(feature = "postgres")]
pub mod postgres;
mod query;
mod resources;
mod response;
mod route;
mod service;
mod stix;
#[cfg(feature = "testkit")]
pub mod testkit;
mod timestamp;

pub use async_trait::async_trait;

pub use access::{Access, AccessPolicy, OpenPolicy, StaticPolicy};
pub use backend::{BackendError, BackendErrorKind, Page, Principal, StorageBackend};
pub use body::TaxiiBody;
pub use bundle::{BundleError, bundle_objects};
pub use cursor::Position;
pub use error::TaxiiError;
pub use index::{CollectionIndex, Inserted};
pub use layer::{TaxiiLayer, WithTaxii};
pub use load::{LoadError, LoadReport};
pub use manifest::{ManifestJson, ManifestPage};
#[cfg(feature = "memory")]
pub use memory::MemoryBackend;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresBackend, PostgresConfig};
pub use query::{ObjectFilter, ObjectQuery, VersionSelector};
pub use resources::{ApiRoot, CollectionInfo, Status, StatusDetail, StatusState, TAXII_MEDIA_TYPE, VersionRecord};
pub use response::{DATE_ADDED_FIRST, DATE_ADDED_LAST};
pub use service::{
    DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_MATCH_VALUES, DEFAULT_MAX_OBJECTS_PER_ENVELOPE, DEFAULT_MAX_PAGE_SIZE, DEFAULT_MAX_QUERY_LENGTH,
    DEFAULT_PAGE_SIZE, ResponseFuture, TaxiiService, TaxiiServiceBuilder,
};
pub use stix::{InvalidObject, ObjectVersion, SpecVersion, is_stix_type, is_uuid, split_stix_id};
pub use timestamp::{Instant, Timestamp, TimestampError, parse_rfc3339};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
