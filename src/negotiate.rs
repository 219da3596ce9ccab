//! Content negotiation: does the request's `Accept` (and, on POST, `Content-Type`)
//! name TAXII 2.1?
//!
//! `application/taxii+json` is TAXII 2.1 with `version=2.1` or with no version (which
//! means "the latest", §1.6.8). Accept lists may carry parameters and q-values; a
//! range with `q=0` is a refusal. Wildcards (`*/*`, `application/*`) and a missing
//! `Accept` are served unless the service is configured to be strict.

use crate::resources::TAXII_MEDIA_TYPE;

/// How specifically a media range names TAXII 2.1 (RFC 9110 §12.5.1: the most
/// specific range that matches decides), or `None` when it does not cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    /// `*/*`.
    Any,
    /// `application/*`.
    Application,
    /// `application/taxii+json` without a version.
    Taxii,
    /// `application/taxii+json;version=2.1`.
    Taxii21,
}

/// One media range of an `Accept` or `Content-Type` value.
struct MediaRange {
    essence: String,
    params: Vec<(String, String)>,
}

impl MediaRange {
    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The q-value (1 when absent; an unreadable one counts as 1, as if absent).
    fn q(&self) -> f32 {
        self.param("q")
            .and_then(|q| q.parse::<f32>().ok())
            .filter(|q| !q.is_nan())
            .unwrap_or(1.0)
    }

    fn specificity(&self) -> Option<Specificity> {
        match (self.essence.as_str(), self.param("version")) {
            ("application/taxii+json", Some("2.1")) => Some(Specificity::Taxii21),
            ("application/taxii+json", None) => Some(Specificity::Taxii),
            ("application/*", _) => Some(Specificity::Application),
            ("*/*", _) => Some(Specificity::Any),
            _ => None,
        }
    }
}

/// Splits `text` on `delimiter` where it is not inside a quoted string.
fn split_unquoted(text: &str, delimiter: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_range(text: &str) -> Option<MediaRange> {
    let parts = split_unquoted(text, ';');
    let essence = parts[0].trim();
    let (kind, subtype) = essence.split_once('/')?;
    if kind.is_empty() || subtype.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    for param in &parts[1..] {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        params.push((name.trim().to_ascii_lowercase(), value.trim().trim_matches('"').to_owned()));
    }
    Some(MediaRange {
        essence: essence.to_ascii_lowercase(),
        params,
    })
}

/// Whether the `Accept` header lines (all of them, as one list) admit a TAXII 2.1
/// response. The most specific range that covers TAXII 2.1 decides, by its q-value:
/// `application/taxii+json;version=2.1;q=0` refuses even beside `*/*`. Wildcards, and
/// a request without `Accept`, are served only when `lenient`.
pub(crate) fn accepts_taxii<'a>(accept: impl IntoIterator<Item = &'a [u8]>, lenient: bool) -> bool {
    let mut best: Option<(Specificity, f32)> = None;
    let mut any = false;
    for line in accept {
        // What taxii2-client and most clients send: the most specific range with q=1,
        // which no other range can outrank.
        if line == TAXII_MEDIA_TYPE.as_bytes() {
            return true;
        }
        any = true;
        let line = String::from_utf8_lossy(line);
        for range in split_unquoted(&line, ',').into_iter().filter_map(parse_range) {
            if let Some(specificity) = range.specificity() {
                let q = range.q();
                best = match best {
                    Some((s, best_q)) if s > specificity || (s == specificity && best_q >= q) => Some((s, best_q)),
                    _ => Some((specificity, q)),
                };
            }
        }
    }
    match best {
        None => !any && lenient,
        Some((specificity, q)) => q > 0.0 && (specificity >= Specificity::Taxii || lenient),
    }
}

/// Whether a POST's `Content-Type` is TAXII 2.1 (parameters, case and spacing tolerated).
pub(crate) fn is_taxii_content_type(content_type: Option<&[u8]>) -> bool {
    content_type
        .and_then(|value| parse_range(&String::from_utf8_lossy(value)))
        .is_some_and(|range| range.specificity() >= Some(Specificity::Taxii))
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
            assert!(accepts_taxii([accept.as_bytes()], false), "{accept}");
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
            assert!(!accepts_taxii([accept.as_bytes()], true), "{accept}");
        }
    }

    #[test]
    fn wildcards_depend_on_leniency() {
        for accept in ["*/*", "application/*", "application/json, text/plain, */*"] {
            assert!(accepts_taxii([accept.as_bytes()], true), "{accept}");
            assert!(!accepts_taxii([accept.as_bytes()], false), "{accept}");
        }
        assert!(accepts_taxii([], true));
        assert!(!accepts_taxii([], false));
    }

    #[test]
    fn the_most_specific_range_decides() {
        assert!(!accepts_taxii([b"application/taxii+json;version=2.1;q=0, */*".as_slice()], true));
        assert!(!accepts_taxii([b"application/taxii+json;q=0, application/*".as_slice()], true));
        assert!(accepts_taxii(
            [b"application/taxii+json;q=0, application/taxii+json;version=2.1".as_slice()],
            false
        ));
        assert!(accepts_taxii([b"*/*;q=0, application/taxii+json".as_slice()], false));
        // The exact media type on a line of its own (read without parsing) is as
        // specific as a range gets, with q=1: a refusal beside it does not outrank it.
        let refusal = b"application/taxii+json;version=2.1;q=0".as_slice();
        let exact = b"application/taxii+json;version=2.1".as_slice();
        assert!(accepts_taxii([refusal, exact], false));
        assert!(accepts_taxii([exact, refusal], false));
        assert!(!accepts_taxii([refusal], true));
    }

    #[test]
    fn reads_every_header_line_quoted_values_and_stray_bytes() {
        assert!(accepts_taxii(
            [b"text/html".as_slice(), b"application/taxii+json;version=2.1".as_slice()],
            false
        ));
        assert!(accepts_taxii(
            [b"application/taxii+json;version=2.1;ext=\"a;b,c\"".as_slice()],
            false
        ));
        assert!(accepts_taxii(
            [b"application/taxii+json;version=2.1, text/x;a=\xe9".as_slice()],
            false
        ));
        assert!(is_taxii_content_type(Some(b"application/taxii+json;version=2.1;ext=\"a;b\"")));
    }

    #[test]
    fn checks_content_type() {
        assert!(is_taxii_content_type(Some(b"application/taxii+json;version=2.1")));
        assert!(is_taxii_content_type(Some(b"application/taxii+json ; version=2.1 ")));
        assert!(is_taxii_content_type(Some(b"Application/TAXII+JSON")));
        assert!(!is_taxii_content_type(Some(b"application/json")));
        assert!(!is_taxii_content_type(Some(b"application/taxii+json;version=2.0")));
        assert!(!is_taxii_content_type(Some(b"*/*")));
        assert!(!is_taxii_content_type(Some(b"")));
        assert!(!is_taxii_content_type(None));
    }
}
