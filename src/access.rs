//! Who may do what: an [`AccessPolicy`] decides, per principal, which API roots it
//! sees and what it may do in each collection.
//!
//! The host's authentication layer puts a [`Principal`] into the request
//! extensions; the service asks the policy before it touches any collection data.
//! A collection the principal may neither read nor write is answered exactly like
//! one that does not exist (404, same body, and none of its data is loaded); one it
//! may only read or only write answers 403 to what it may not do, as TAXII's tables
//! require (§5.3 to §5.8, and the DELETE matrix of §5.7).
//!
//! ```
//! use tower_taxii::{Access, CollectionInfo, Principal, StaticPolicy, AccessPolicy};
//!
//! let policy = StaticPolicy::new()
//!     .grant("alice", "api/v21", "c1", Access::READ_WRITE)
//!     .grant("bob", "api/v21", "c1", Access::READ);
//! let c1 = CollectionInfo::new("c1", "Indicators").access(true, true);
//! assert_eq!(policy.collection(&Principal::named("bob"), "api/v21", &c1), Access::READ);
//! assert_eq!(policy.collection(&Principal::anonymous(), "api/v21", &c1), Access::NONE);
//! ```

use std::collections::HashMap;
use std::fmt;

use crate::backend::Principal;
use crate::resources::CollectionInfo;

/// What a principal may do in a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Access {
    /// May read objects, the manifest and versions.
    pub read: bool,
    /// May add objects (and, with `read`, delete them).
    pub write: bool,
}

impl Access {
    /// Neither read nor write: the collection is hidden.
    pub const NONE: Access = Access { read: false, write: false };
    /// Read only.
    pub const READ: Access = Access { read: true, write: false };
    /// Write only.
    pub const WRITE: Access = Access { read: false, write: true };
    /// Read and write.
    pub const READ_WRITE: Access = Access { read: true, write: true };

    /// Whether the principal may know the collection exists at all.
    pub fn is_visible(self) -> bool {
        self.read || self.write
    }

    /// This access limited by `other` (both must allow).
    pub fn and(self, other: Access) -> Access {
        Access {
            read: self.read && other.read,
            write: self.write && other.write,
        }
    }
}

/// Decides what a principal may do. Methods are synchronous and called on every
/// request: resolve what they need (roles, grants) in the authentication layer and
/// carry it in the [`Principal`], or keep it in memory.
pub trait AccessPolicy: Send + Sync + 'static {
    /// Whether the principal may use this API root at all. A hidden root answers
    /// 404 everywhere and is left out of discovery. Default: every root is open.
    fn api_root(&self, principal: &Principal, api_root: &str) -> bool {
        let _ = (principal, api_root);
        true
    }

    /// The principal's access to a collection. The result is further limited by the
    /// collection's own `can_read`/`can_write` as the backend reports them. Default:
    /// exactly what the backend reports.
    fn collection(&self, principal: &Principal, api_root: &str, collection: &CollectionInfo) -> Access {
        let _ = (principal, api_root);
        Access {
            read: collection.can_read,
            write: collection.can_write,
        }
    }
}

/// The default policy: everyone gets what the backend reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenPolicy;

impl AccessPolicy for OpenPolicy {}

/// A policy from a fixed table of grants: (principal name, API root, collection id)
/// to [`Access`]. Anything not granted is hidden; the anonymous principal gets
/// what is granted to the name given to [`anonymous`](Self::anonymous), if any.
#[derive(Clone, Default)]
pub struct StaticPolicy {
    grants: HashMap<(String, String, String), Access>,
    anonymous: Option<String>,
}

impl fmt::Debug for StaticPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticPolicy")
            .field("grants", &self.grants.len())
            .finish_non_exhaustive()
    }
}

impl StaticPolicy {
    /// A policy that grants nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants `access` to `principal` on one collection (by id) of one API root.
    pub fn grant(mut self, principal: &str, api_root: &str, collection: &str, access: Access) -> Self {
        self.grants.insert(
            (principal.to_owned(), api_root.trim_matches('/').to_owned(), collection.to_owned()),
            access,
        );
        self
    }

    /// Treats requests without a principal as the principal with this name.
    pub fn anonymous(mut self, as_principal: &str) -> Self {
        self.anonymous = Some(as_principal.to_owned());
        self
    }

    fn name<'a>(&'a self, principal: &'a Principal) -> Option<&'a str> {
        principal.name().or(self.anonymous.as_deref())
    }
}

impl AccessPolicy for StaticPolicy {
    fn api_root(&self, principal: &Principal, api_root: &str) -> bool {
        let Some(name) = self.name(principal) else { return false };
        self.grants
            .iter()
            .any(|((p, root, _), access)| p == name && root == api_root && access.is_visible())
    }

    fn collection(&self, principal: &Principal, api_root: &str, collection: &CollectionInfo) -> Access {
        let Some(name) = self.name(principal) else { return Access::NONE };
        self.grants
            .get(&(name.to_owned(), api_root.to_owned(), collection.id.clone()))
            .copied()
            .unwrap_or(Access::NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_policy_grants_only_what_it_lists() {
        let policy = StaticPolicy::new()
            .grant("alice", "/api/v21/", "c1", Access::WRITE)
            .anonymous("guest")
            .grant("guest", "api/v21", "c2", Access::READ);
        let c1 = CollectionInfo::new("c1", "one");
        let c2 = CollectionInfo::new("c2", "two");
        let alice = Principal::named("alice");
        assert_eq!(policy.collection(&alice, "api/v21", &c1), Access::WRITE);
        assert_eq!(policy.collection(&alice, "api/v21", &c2), Access::NONE);
        assert_eq!(policy.collection(&Principal::anonymous(), "api/v21", &c2), Access::READ);
        assert!(policy.api_root(&alice, "api/v21"));
        assert!(!policy.api_root(&alice, "other"));
        assert!(!policy.api_root(&Principal::named("mallory"), "api/v21"));
    }

    #[test]
    fn open_policy_follows_the_collection() {
        let c = CollectionInfo::new("c", "c").access(true, false);
        assert_eq!(OpenPolicy.collection(&Principal::anonymous(), "r", &c), Access::READ);
        assert!(OpenPolicy.api_root(&Principal::anonymous(), "r"));
    }
}
