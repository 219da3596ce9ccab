//! What loading objects into a store reports, shared by the memory and PostgreSQL
//! backends' `load_bundle` and `insert_objects`.

use std::fmt;

use crate::backend::BackendError;
use crate::bundle::BundleError;
use crate::stix::InvalidObject;

/// What loading objects did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Versions stored anew.
    pub added: usize,
    /// Versions the collection already held (unchanged), the next field's included.
    pub duplicates: usize,
    /// Of the duplicates, those whose JSON differed from the stored copy: the same
    /// (id, version, spec version) republished with other content. The first copy is
    /// kept, as versions are immutable.
    pub conflicts: usize,
    /// Objects that could not be stored, with the reason.
    pub rejected: Vec<InvalidObject>,
}

/// Why objects could not be loaded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// No collection has that id in that API root.
    NoSuchCollection(String),
    /// The input is not a bundle.
    Bundle(BundleError),
    /// The store failed (a database backend); what was stored before the failure
    /// stays, and loading again is idempotent.
    Backend(BackendError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoSuchCollection(id) => write!(f, "no collection {id:?}"),
            LoadError::Bundle(e) => e.fmt(f),
            LoadError::Backend(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}
