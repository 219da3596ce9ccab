//! URL parameters: from the raw query string to one typed, validated [`ObjectQuery`].
//!
//! Each endpoint allows only some parameters (§3.4, the endpoint tables of §5).
//! Anything malformed, repeated, or known but not allowed on the endpoint is a 400;
//! unknown parameters, including `match[...]` fields the standard does not define,
//! are ignored as the standard permits.

use std::borrow::Cow;
use std::fmt;

use crate::cursor::{Cursor, Digest, Position};
use crate::stix::{SpecVersion, is_stix_type, split_stix_id};
use crate::timestamp::{Instant, Timestamp, parse_rfc3339};

/// Which versions of each object a query selects (`match[version]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// Every version (`all`).
    All,
    /// The union of the named selections (the default is `last` alone).
    Pick {
        /// The earliest version (`first`).
        first: bool,
        /// The latest version (`last`).
        last: bool,
        /// Versions whose `modified` (else `created`) is exactly one of these instants.
        at: Vec<Instant>,
    },
}

impl Default for VersionSelector {
    fn default() -> Self {
        VersionSelector::Pick {
            first: false,
            last: true,
            at: Vec::new(),
        }
    }
}

/// The filters of a query on a collection's objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    /// `match[id]` (or the object id of the path): only these ids.
    pub ids: Option<Vec<String>>,
    /// `match[type]`: only these types.
    pub types: Option<Vec<String>>,
    /// `match[version]`: which versions of each object (default: the latest).
    pub versions: VersionSelector,
    /// `match[spec_version]`: only these STIX versions. `None` means the latest spec
    /// version each object has, per object.
    pub spec_versions: Option<Vec<SpecVersion>>,
    /// `added_after`: only versions added strictly after this time.
    pub added_after: Option<Timestamp>,
}

impl ObjectFilter {
    /// Whether this filter selects each object's latest version among its latest spec
    /// version (`match[version]=last`, no `match[spec_version]`, no `match[id]`;
    /// `match[type]` and `added_after` allowed): the selection a backend can answer
    /// from an index of latest versions, as long as the walk's snapshot sees the whole
    /// collection.
    pub(crate) fn selects_latest_versions(&self) -> bool {
        self.spec_versions.is_none()
            && self.ids.is_none()
            && matches!(&self.versions, VersionSelector::Pick { first: false, last: true, at } if at.is_empty())
    }
}

/// A query on a collection's objects, manifest or versions, as a backend runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectQuery {
    /// What to select.
    pub filter: ObjectFilter,
    /// The most items to return (already capped by the server's page size limit).
    pub limit: usize,
    /// Where the walk stands, for pages after the first (from `next`).
    pub position: Option<Position>,
}

/// A parameter the request got wrong, reported to the client as a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError(pub(crate) String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The TAXII URL parameters, as a set an endpoint allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowed(u8);

impl Allowed {
    pub(crate) const NONE: Allowed = Allowed(0);
    const ADDED_AFTER: u8 = 1;
    const LIMIT: u8 = 2;
    const NEXT: u8 = 4;
    const ID: u8 = 8;
    const TYPE: u8 = 16;
    const VERSION: u8 = 32;
    const SPEC_VERSION: u8 = 64;
    /// Objects and manifest: all seven.
    pub(crate) const LISTING: Allowed = Allowed(127);
    /// Delete: only the version selectors.
    pub(crate) const DELETE: Allowed = Allowed(32 | 64);
    /// Get object: no `match[id]` or `match[type]`.
    pub(crate) const OBJECT: Allowed = Allowed(1 | 2 | 4 | 32 | 64);
    /// Versions: no `match[id]`, `match[type]` or `match[version]`.
    pub(crate) const VERSIONS: Allowed = Allowed(1 | 2 | 4 | 64);

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

const PARAMS: [(&str, u8); 7] = [
    ("added_after", Allowed::ADDED_AFTER),
    ("limit", Allowed::LIMIT),
    ("next", Allowed::NEXT),
    ("match[id]", Allowed::ID),
    ("match[type]", Allowed::TYPE),
    ("match[version]", Allowed::VERSION),
    ("match[spec_version]", Allowed::SPEC_VERSION),
];

/// The parameters of one request, parsed and validated but not yet bound to a page size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) filter: ObjectFilter,
    pub(crate) limit: Option<u64>,
    pub(crate) next: Option<String>,
    /// Whether `match[version]` was sent (DELETE's default differs from reads').
    pub(crate) version_given: bool,
}

impl Params {
    /// A digest of everything that defines the result set except the walk position:
    /// a `next` cursor is only honoured with the query that issued it. `added_after`
    /// is left out, so clients that drop it on follow-up pages (rstix) still page.
    pub(crate) fn digest(&self, scope: &[&str]) -> u64 {
        let mut d = Digest::new();
        for part in scope {
            d = d.field(part.as_bytes());
        }
        let list = |d: Digest, items: &Option<Vec<String>>| match items {
            None => d.field(b"-"),
            Some(items) => items.iter().fold(d.field(b"+"), |d, i| d.field(i.as_bytes())),
        };
        d = list(d, &self.filter.ids);
        d = list(d, &self.filter.types);
        d = match &self.filter.versions {
            VersionSelector::All => d.field(b"all"),
            VersionSelector::Pick { first, last, at } => at.iter().fold(d.field(&[u8::from(*first), u8::from(*last)]), |d, i| {
                d.field(&i.secs.to_be_bytes()).field(&i.nanos.to_be_bytes())
            }),
        };
        let specs = self
            .filter
            .spec_versions
            .as_ref()
            .map(|v| v.iter().map(|s| s.to_string()).collect());
        list(d, &specs).finish()
    }

    /// Decodes `next` and checks it belongs to this query (same digest, worked out
    /// only when there is a `next`).
    pub(crate) fn position(&self, digest: impl FnOnce() -> u64) -> Result<Option<Position>, QueryError> {
        let Some(text) = &self.next else { return Ok(None) };
        match Cursor::decode(text) {
            Some(cursor) if cursor.digest == digest() => Ok(Some(cursor.position)),
            Some(_) => Err(QueryError(
                "\"next\" belongs to another query: send it with the parameters of the request that returned it".into(),
            )),
            None => Err(QueryError("\"next\" is not a cursor this server issued".into())),
        }
    }
}

/// Bounds on a query string, checked before any of it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueryLimits {
    /// The most octets the raw query string (after `?`) may have.
    pub(crate) max_length: usize,
    /// The most comma-separated values all `match[...]` parameters together may carry.
    pub(crate) max_match_values: usize,
}

/// Parses a raw query string for an endpoint that allows `allowed`, within `limits`.
pub(crate) fn parse(raw: Option<&str>, allowed: Allowed, limits: QueryLimits) -> Result<Params, QueryError> {
    let raw = raw.unwrap_or("");
    if raw.len() > limits.max_length {
        return Err(QueryError(format!(
            "the query string has {} octets; this server takes at most {}",
            raw.len(),
            limits.max_length
        )));
    }
    let mut params = Params::default();
    let mut seen = 0u8;
    let mut match_values = 0usize;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key =
            percent_decode(key).ok_or_else(|| QueryError(format!("the parameter name {key:?} is not valid percent-encoded UTF-8")))?;
        let Some(&(name, bit)) = PARAMS.iter().find(|(name, _)| *name == key) else {
            continue; // Unknown parameters, `match[...]` fields included, are ignored (§3.4.1).
        };
        if !allowed.has(bit) {
            return Err(QueryError(format!("the parameter \"{name}\" is not allowed on this endpoint")));
        }
        if seen & bit != 0 {
            return Err(QueryError(format!("the parameter \"{name}\" appears more than once")));
        }
        seen |= bit;
        let value =
            percent_decode(value).ok_or_else(|| QueryError(format!("the value of \"{name}\" is not valid percent-encoded UTF-8")))?;
        if name.starts_with("match[") {
            match_values += value.split(',').count();
            if match_values > limits.max_match_values {
                return Err(QueryError(format!(
                    "the match[...] parameters list more than {} values in all",
                    limits.max_match_values
                )));
            }
        }
        match bit {
            Allowed::ADDED_AFTER => {
                params.filter.added_after = Some(
                    value
                        .parse()
                        .map_err(|_| QueryError(format!("\"added_after\" {value:?} is not an RFC 3339 timestamp")))?,
                );
            }
            Allowed::LIMIT => params.limit = Some(parse_limit(&value)?),
            Allowed::NEXT => {
                if value.is_empty() {
                    return Err(QueryError("\"next\" is empty".into()));
                }
                params.next = Some(value.into_owned());
            }
            Allowed::ID => params.filter.ids = Some(parse_list(name, &value, |v| split_stix_id(v).is_some(), "a STIX id (type--UUID)")?),
            Allowed::TYPE => params.filter.types = Some(parse_list(name, &value, is_stix_type, "a STIX type name")?),
            Allowed::VERSION => {
                params.filter.versions = parse_versions(&value)?;
                params.version_given = true;
            }
            _ => {
                let specs = parse_list(name, &value, |v| v.parse::<SpecVersion>().is_ok(), "a spec version such as 2.1")?;
                params.filter.spec_versions = Some(specs.iter().filter_map(|s| s.parse().ok()).collect());
            }
        }
    }
    Ok(params)
}

fn parse_limit(value: &str) -> Result<u64, QueryError> {
    let bad = || QueryError(format!("\"limit\" {value:?} is not an integer greater than 0"));
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // All digits: only overflow can fail, and any huge limit is simply capped.
    let limit = value.parse::<u64>().unwrap_or(u64::MAX);
    if limit == 0 { Err(bad()) } else { Ok(limit) }
}

/// Splits a comma list, refusing empty items, repeats and items `valid` refuses.
fn parse_list(name: &str, value: &str, valid: impl Fn(&str) -> bool, what: &str) -> Result<Vec<String>, QueryError> {
    let mut items: Vec<String> = Vec::new();
    for item in value.split(',') {
        if !valid(item) {
            return Err(QueryError(format!("\"{name}\": {item:?} is not {what}")));
        }
        if items.iter().any(|i| i == item) {
            return Err(QueryError(format!("\"{name}\": {item:?} is listed twice")));
        }
        items.push(item.to_owned());
    }
    Ok(items)
}

fn parse_versions(value: &str) -> Result<VersionSelector, QueryError> {
    let items = parse_list(
        "match[version]",
        value,
        |v| matches!(v, "first" | "last" | "all") || parse_rfc3339(v).is_some(),
        "first, last, all or a timestamp",
    )?;
    if items.iter().any(|i| i == "all") {
        return if items.len() == 1 {
            Ok(VersionSelector::All)
        } else {
            Err(QueryError(
                "\"match[version]\": \"all\" cannot be combined with other values".into(),
            ))
        };
    }
    let mut at: Vec<Instant> = Vec::new();
    for item in items.iter().filter(|i| !matches!(i.as_str(), "first" | "last")) {
        let instant = parse_rfc3339(item).unwrap_or(Instant { secs: 0, nanos: 0 });
        if at.contains(&instant) {
            return Err(QueryError(format!("\"match[version]\": {item:?} names a time already listed")));
        }
        at.push(instant);
    }
    Ok(VersionSelector::Pick {
        first: items.iter().any(|i| i == "first"),
        last: items.iter().any(|i| i == "last"),
        at,
    })
}

/// Decodes `%XX` escapes; `+` stays a plus (timestamps carry offsets like `+01:00`).
/// `None` for a broken escape or bytes that are not UTF-8. Text without escapes is
/// borrowed, not copied.
pub(crate) fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: QueryLimits = QueryLimits {
        max_length: 8192,
        max_match_values: 1000,
    };

    fn parse(raw: Option<&str>, allowed: Allowed) -> Result<Params, QueryError> {
        super::parse(raw, allowed, LIMITS)
    }

    fn ok(q: &str) -> Params {
        parse(Some(q), Allowed::LISTING).unwrap()
    }

    fn err(q: &str, allowed: Allowed) -> String {
        parse(Some(q), allowed).unwrap_err().0
    }

    #[test]
    fn parses_every_filter() {
        let p = ok(
            "added_after=2020-01-01T00:00:00Z&limit=10&match%5Btype%5D=indicator%2Cmalware&match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f&match[version]=first,2018-03-02T01:01:01.123Z,last&match[spec_version]=2.0,2.1",
        );
        assert_eq!(p.limit, Some(10));
        assert_eq!(p.filter.types, Some(vec!["indicator".to_string(), "malware".to_string()]));
        assert_eq!(p.filter.ids.as_ref().unwrap().len(), 1);
        assert_eq!(p.filter.spec_versions, Some(vec![SpecVersion::V2_0, SpecVersion::V2_1]));
        let VersionSelector::Pick { first, last, at } = p.filter.versions else {
            panic!()
        };
        assert!(first && last);
        assert_eq!(at, vec![parse_rfc3339("2018-03-02T01:01:01.123Z").unwrap()]);
        assert_eq!(p.filter.added_after, Some("2020-01-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn defaults_to_latest_version() {
        assert_eq!(ok("").filter.versions, VersionSelector::default());
        assert_eq!(ok("match[version]=all").filter.versions, VersionSelector::All);
    }

    #[test]
    fn refuses_malformed_values() {
        for q in [
            "limit=0",
            "limit=-1",
            "limit=1e9",
            "limit=ten",
            "limit=",
            "limit=+5",
            "added_after=yesterday",
            "added_after=",
            "match[type]=",
            "match[type]=indicator,,malware",
            "match[type]=Indicator",
            "match[id]=indicator--1",
            "match[version]=all,last",
            "match[version]=newest",
            "match[version]=last,last",
            "match[version]=2020-01-01T00:00:00Z,2020-01-01T00:00:00.000Z",
            "match[spec_version]=2",
            "match[type]=%zz",
            "match[type]=%ff",
            "limit=1&limit=2",
            "next=",
        ] {
            assert!(parse(Some(q), Allowed::LISTING).is_err(), "{q} should be refused");
        }
    }

    #[test]
    fn refuses_parameters_the_endpoint_does_not_allow() {
        assert!(err("match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", Allowed::OBJECT).contains("not allowed"));
        assert!(err("match[version]=all", Allowed::VERSIONS).contains("not allowed"));
        assert!(err("limit=5", Allowed::DELETE).contains("not allowed"));
        assert!(
            parse(Some("match[version]=last&match[spec_version]=2.1"), Allowed::DELETE)
                .unwrap()
                .version_given
        );
        assert!(err("limit=5", Allowed::NONE).contains("not allowed"));
    }

    #[test]
    fn ignores_unknown_parameters_and_caps_huge_limits() {
        let p = ok("match[color]=red&foo=bar&_=1&limit=18446744073709551616");
        assert_eq!(p.limit, Some(u64::MAX));
        assert_eq!(p.filter, ObjectFilter::default());
    }

    #[test]
    fn keeps_plus_and_decodes_offsets() {
        let p = ok("added_after=2020-01-01T01:00:00%2B01:00");
        assert_eq!(p.filter.added_after, Some("2020-01-01T00:00:00Z".parse().unwrap()));
        let p = ok("added_after=2020-01-01T01:00:00+01:00");
        assert_eq!(p.filter.added_after, Some("2020-01-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn digest_depends_on_filters_but_not_added_after() {
        let scope = ["root", "collection"];
        let base = ok("match[type]=indicator").digest(&scope);
        assert_eq!(
            base,
            ok("match[type]=indicator&added_after=2020-01-01T00:00:00Z&limit=3").digest(&scope)
        );
        assert_ne!(base, ok("match[type]=malware").digest(&scope));
        assert_ne!(base, ok("match[type]=indicator&match[version]=all").digest(&scope));
        assert_ne!(base, ok("match[type]=indicator").digest(&["root", "other"]));
    }

    #[test]
    fn enforces_the_length_and_match_value_limits() {
        let small = QueryLimits {
            max_length: 64,
            max_match_values: 3,
        };
        let at_limit = format!("limit=5&x={}", "a".repeat(64 - 10));
        assert_eq!(at_limit.len(), 64);
        assert!(super::parse(Some(&at_limit), Allowed::LISTING, small).is_ok());
        let e = super::parse(Some(&format!("{at_limit}a")), Allowed::LISTING, small).unwrap_err();
        assert!(e.0.contains("at most 64"), "{e}");
        // Counted across every match[...] parameter, after percent-decoding.
        assert!(super::parse(Some("match[type]=a-b,c-d&match[spec_version]=2.1"), Allowed::LISTING, small).is_ok());
        let e = super::parse(Some("match[type]=a-b%2Cc-d&match[spec_version]=2.0,2.1"), Allowed::LISTING, small).unwrap_err();
        assert!(e.0.contains("more than 3 values"), "{e}");
        // Unknown match fields are ignored, and so not counted.
        assert!(super::parse(Some("match[x]=1,2,3,4,5&match[type]=a-b"), Allowed::LISTING, small).is_ok());
    }
}
