//! Content negotiation: does the request's `Accept` (and, on POST, `Content-Type`)
//! name TAXII 2.1?
//!
//! `application/taxii+json` is TAXII 2.1 with `version=2.1` or with no version (which
//! means "the latest", §1.6.8). Accept lists may carry parameters and q-values; a
//! range with `q=0` is a refusal. Wildcards (`*/*`, `application/*`) and a missing
//! `Accept` are served unless the service is configured to be strict.

/// The outcome of matching one media range against TAXII 2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// Names TAXII 2.1 exactly.
    Taxii,
    /// A wildcard that covers it.
    Wildcard,
    /// Anything else, including TAXII of another version.
    No,
}

/// One media range of an `Accept` or `Content-Type` value.
struct MediaRange<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
}

fn parse_range(text: &str) -> Option<MediaRange<'_>> {
    let mut parts = text.split(';');
    let essence = parts.next()?.trim();
    let (kind, subtype) = essence.split_once('/')?;
    if kind.is_empty() || subtype.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        params.push((name.trim().to_ascii_lowercase(), value.trim().trim_matches('"')));
    }
    Some(MediaRange {
        essence: essence.to_ascii_lowercase(),
        params,
    })
}

fn classify(range: &MediaRange<'_>) -> Match {
    let version = range.params.iter().find(|(n, _)| n == "version").map(|(_, v)| *v);
    match range.essence.as_str() {
        "application/taxii+json" if matches!(version, None | Some("2.1")) => Match::Taxii,
        "*/*" | "application/*" => Match::Wildcard,
        _ => Match::No,
    }
}

/// Whether an `Accept` header value admits a TAXII 2.1 response.
/// `lenient` also admits wildcards and a missing header.
pub(crate) fn accepts_taxii(accept: Option<&str>, lenient: bool) -> bool {
    let Some(accept) = accept else { return lenient };
    accept.split(',').filter_map(parse_range).any(|range| {
        let q_zero = range
            .params
            .iter()
            .any(|(n, v)| n == "q" && v.parse::<f32>().is_ok_and(|q| q <= 0.0));
        !q_zero
            && match classify(&range) {
                Match::Taxii => true,
                Match::Wildcard => lenient,
                Match::No => false,
            }
    })
}

/// Whether a POST's `Content-Type` is TAXII 2.1 (parameters, case and spacing tolerated).
pub(crate) fn is_taxii_content_type(content_type: Option<&str>) -> bool {
    content_type
        .and_then(parse_range)
        .is_some_and(|range| classify(&range) == Match::Taxii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_taxii_21_in_any_spelling() {
        for accept in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "Application/TAXII+JSON ; version=\"2.1\"",
            "application/taxii+json;version=2.1,application/stix+json;version=2.1",
            "application/json;q=0.9, application/taxii+json;version=2.1;q=0.5",
            "application/taxii+json; charset=utf-8; version=2.1",
        ] {
            assert!(accepts_taxii(Some(accept), false), "{accept}");
        }
    }

    #[test]
    fn refuses_other_types_and_versions() {
        for accept in [
            "application/json",
            "text/html",
            "application/taxii+json;version=2.0",
            "application/vnd.oasis.taxii+json; version=2.0",
            "application/taxii+json;version=2.1;q=0",
            "application/taxii+json;version=2.1;q=0.0",
            "",
            "garbage",
            "application/",
        ] {
            assert!(!accepts_taxii(Some(accept), true), "{accept}");
        }
    }

    #[test]
    fn wildcards_depend_on_leniency() {
        for accept in ["*/*", "application/*", "application/json, text/plain, */*"] {
            assert!(accepts_taxii(Some(accept), true), "{accept}");
            assert!(!accepts_taxii(Some(accept), false), "{accept}");
        }
        assert!(accepts_taxii(None, true));
        assert!(!accepts_taxii(None, false));
    }

    #[test]
    fn checks_content_type() {
        assert!(is_taxii_content_type(Some("application/taxii+json;version=2.1")));
        assert!(is_taxii_content_type(Some("application/taxii+json ; version=2.1 ")));
        assert!(is_taxii_content_type(Some("Application/TAXII+JSON")));
        assert!(!is_taxii_content_type(Some("application/json")));
        assert!(!is_taxii_content_type(Some("application/taxii+json;version=2.0")));
        assert!(!is_taxii_content_type(Some("*/*")));
        assert!(!is_taxii_content_type(Some("")));
        assert!(!is_taxii_content_type(None));
    }
}
