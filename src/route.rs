//! Routing: from a request path to a TAXII endpoint.
//!
//! Paths are matched with or without their trailing slash, and empty segments
//! (`//`) are ignored. Each segment is percent-decoded on its own, so an encoded
//! slash stays inside its segment. API roots are matched by name, longest first.

use std::borrow::Cow;

use http::Method;

use crate::query::{Allowed, percent_decode};

/// A TAXII endpoint with the ids its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Discovery,
    ApiRoot,
    Status(String),
    Collections,
    Collection(String),
    Manifest(String),
    Objects(String),
    Object(String, String),
    Versions(String, String),
}

impl Endpoint {
    /// The methods the endpoint answers.
    pub(crate) fn methods(&self) -> &'static [Method] {
        match self {
            Endpoint::Objects(_) => &[Method::GET, Method::HEAD, Method::POST],
            Endpoint::Object(..) => &[Method::GET, Method::HEAD, Method::DELETE],
            _ => &[Method::GET, Method::HEAD],
        }
    }

    /// The URL parameters the endpoint allows with this method.
    pub(crate) fn allowed(&self, method: &Method) -> Allowed {
        match (self, method) {
            (Endpoint::Objects(_), &Method::POST) => Allowed::NONE,
            (Endpoint::Object(..), &Method::DELETE) => Allowed::DELETE,
            (Endpoint::Manifest(_) | Endpoint::Objects(_), _) => Allowed::LISTING,
            (Endpoint::Object(..), _) => Allowed::OBJECT,
            (Endpoint::Versions(..), _) => Allowed::VERSIONS,
            _ => Allowed::NONE,
        }
    }
}

/// A routed request: which API root (an index into the configured roots) and endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) root: Option<usize>,
    pub(crate) endpoint: Endpoint,
}

/// Routes `path`. `roots` are the API root names split into segments, `discovery`
/// whether `/taxii2/` is served here.
pub(crate) fn route(path: &str, roots: &[Vec<String>], discovery: bool) -> Option<Route> {
    let segments: Vec<Cow<'_, str>> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect::<Option<_>>()?;
    if discovery && segments.len() == 1 && segments[0] == "taxii2" {
        return Some(Route {
            root: None,
            endpoint: Endpoint::Discovery,
        });
    }
    let starts_with = |root: &[String]| root.len() <= segments.len() && root.iter().zip(&segments).all(|(r, s)| r == s);
    let mut candidates: Vec<(usize, &Vec<String>)> = roots.iter().enumerate().filter(|(_, r)| starts_with(r)).collect();
    candidates.sort_by_key(|(_, r)| std::cmp::Reverse(r.len()));
    candidates
        .into_iter()
        .find_map(|(i, root)| endpoint(&segments[root.len()..]).map(|endpoint| Route { root: Some(i), endpoint }))
}

fn endpoint(rest: &[Cow<'_, str>]) -> Option<Endpoint> {
    let s: Vec<&str> = rest.iter().map(|segment| segment.as_ref()).collect();
    Some(match s.as_slice() {
        [] => Endpoint::ApiRoot,
        ["status", id] => Endpoint::Status((*id).to_owned()),
        ["collections"] => Endpoint::Collections,
        ["collections", c] => Endpoint::Collection((*c).to_owned()),
        ["collections", c, "manifest"] => Endpoint::Manifest((*c).to_owned()),
        ["collections", c, "objects"] => Endpoint::Objects((*c).to_owned()),
        ["collections", c, "objects", o] => Endpoint::Object((*c).to_owned(), (*o).to_owned()),
        ["collections", c, "objects", o, "versions"] => Endpoint::Versions((*c).to_owned(), (*o).to_owned()),
        _ => return None,
    })
}

/// Splits an API root name such as `/api/v21/` into its segments.
pub(crate) fn root_segments(name: &str) -> Vec<String> {
    name.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> Vec<Vec<String>> {
        vec![root_segments("api/v21"), root_segments("api"), root_segments("other")]
    }

    fn r(path: &str) -> Option<(Option<usize>, Endpoint)> {
        route(path, &roots(), true).map(|r| (r.root, r.endpoint))
    }

    #[test]
    fn routes_every_endpoint_with_and_without_slash() {
        let c = || "c1".to_owned();
        let o = || "indicator--1".to_owned();
        let cases = [
            ("/taxii2/", None, Endpoint::Discovery),
            ("/api/v21/", Some(0), Endpoint::ApiRoot),
            ("/api/", Some(1), Endpoint::ApiRoot),
            ("/api/v21/status/s1", Some(0), Endpoint::Status("s1".into())),
            ("/api/v21/collections/", Some(0), Endpoint::Collections),
            ("/api/v21/collections/c1", Some(0), Endpoint::Collection(c())),
            ("/api/v21/collections/c1/manifest/", Some(0), Endpoint::Manifest(c())),
            ("/api/v21/collections/c1/objects", Some(0), Endpoint::Objects(c())),
            ("/api/v21/collections/c1/objects/indicator--1/", Some(0), Endpoint::Object(c(), o())),
            (
                "/api/v21/collections/c1/objects/indicator--1/versions",
                Some(0),
                Endpoint::Versions(c(), o()),
            ),
            ("/api/collections/c1/", Some(1), Endpoint::Collection(c())),
            ("//api//v21//collections//", Some(0), Endpoint::Collections),
            ("/api/v21/collections/c%2F1/", Some(0), Endpoint::Collection("c/1".into())),
        ];
        for (path, root, endpoint) in cases {
            assert_eq!(r(path), Some((root, endpoint)), "{path}");
        }
    }

    #[test]
    fn unknown_paths_route_nowhere() {
        for path in [
            "/",
            "/taxii2/x/",
            "/nope/",
            "/api/v21/collections/c1/objects/o/versions/x",
            "/api/v21/status/",
            "/api/v21/collections/c%zz/",
            "/api/v21/collections/%ff/",
        ] {
            assert_eq!(r(path), None, "{path}");
        }
        assert_eq!(route("/taxii2/", &roots(), false), None);
    }
}
