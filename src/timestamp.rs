//! TAXII and STIX timestamps.
//!
//! TAXII 2.1 writes every timestamp it emits (`date_added`, `request_timestamp`,
//! the `X-TAXII-Date-Added-*` headers) as RFC 3339 in UTC with exactly six fraction
//! digits. Clients are less tidy: `taxii2-client` trims trailing zeros, STIX objects
//! carry milliseconds, and some peers send offsets. [`parse_rfc3339`] accepts all of
//! those; [`Timestamp`] always prints the strict form.
//!
//! ```
//! use tower_taxii::Timestamp;
//!
//! let t: Timestamp = "2024-01-02T03:04:05.5+01:00".parse().unwrap();
//! assert_eq!(t.to_string(), "2024-01-02T02:04:05.500000Z");
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

/// A point in time with microsecond precision, as TAXII's `date_added` needs.
///
/// Stored as microseconds since the Unix epoch; ordered, hashable and cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest representable timestamp; every `date_added` is after it.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable timestamp.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// A timestamp from microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time of the system clock.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// The next representable timestamp (one microsecond later), saturating at [`Timestamp::MAX`].
    pub const fn next(self) -> Self {
        Timestamp(self.0.saturating_add(1))
    }
}

/// The first and last microsecond of years 0000 to 9999, the range [`Timestamp::write_to`]
/// prints without chrono.
const FOUR_DIGIT_YEARS: std::ops::RangeInclusive<i64> = -62_167_219_200_000_000..=253_402_300_799_999_999;

impl Timestamp {
    /// The strict form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, 27 bytes) of a timestamp in years
    /// 0000 to 9999, written without going through a format string; `None` outside.
    pub(crate) fn strict_bytes(self) -> Option<[u8; 27]> {
        if !FOUR_DIGIT_YEARS.contains(&self.0) {
            return None;
        }
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let second_of_day = secs.rem_euclid(86_400) as u32;
        // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, second_of_day / 3600);
        put(14, 2, second_of_day / 60 % 60);
        put(17, 2, second_of_day % 60);
        put(20, 6, micros);
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(bytes) = self.strict_bytes() {
            // Only ASCII digits and punctuation.
            return f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?);
        }
        match DateTime::<Utc>::from_timestamp_micros(self.0) {
            Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            // Outside chrono's range (only the MIN/MAX sentinels get here).
            None => write!(
                f,
                "{}",
                if self.0 < 0 {
                    "0001-01-01T00:00:00.000000Z"
                } else {
                    "9999-12-31T23:59:59.999999Z"
                }
            ),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The error for text that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError;

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an RFC 3339 timestamp (expected YYYY-MM-DDTHH:MM:SS[.fraction]Z)")
    }
}

impl std::error::Error for TimestampError {}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Parses RFC 3339 with any number of fraction digits and `Z` or an offset;
    /// digits past the microsecond are dropped (which keeps `added_after`'s
    /// "strictly after" exact, since every `date_added` is a whole microsecond).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let instant = parse_rfc3339(s).ok_or(TimestampError)?;
        Ok(instant.to_timestamp())
    }
}

/// An instant with nanosecond precision, used to compare STIX `modified` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Instant {
    /// This instant truncated to a whole microsecond.
    pub fn to_timestamp(self) -> Timestamp {
        Timestamp(self.secs.saturating_mul(1_000_000).saturating_add(i64::from(self.nanos / 1000)))
    }
}

/// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of any
/// length (digits past nanoseconds are ignored), then `Z` or `±HH:MM`. `T` and `Z`
/// may be lower case. Returns `None` for anything else, including impossible dates.
pub fn parse_rfc3339(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits
            .iter()
            .try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
    };
    let year = num(0..4)?;
    let month = num(5..7)?;
    let day = num(8..10)?;
    let hour = num(11..13)?;
    let minute = num(14..16)?;
    let second = num(17..19)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut nanos = 0u32;
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let digits = pos - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i64 = match &b[pos..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |d: u8| d.is_ascii_digit().then(|| i64::from(d - b'0'));
            let hours = digit(*h1)? * 10 + digit(*h2)?;
            let minutes = digit(*m1)? * 10 + digit(*m2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    // A leap second (:60) is folded onto the next second, as chrono does.
    let days = date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days();
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second) - offset_secs;
    Some(Instant { secs, nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<String> {
        s.parse::<Timestamp>().ok().map(|t| t.to_string())
    }

    #[test]
    fn prints_like_chrono() {
        let chrono = |micros: i64| DateTime::<Utc>::from_timestamp_micros(micros).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        let mut samples: Vec<i64> = vec![
            0,
            -1,
            1,
            951_782_400_000_000,
            951_868_799_999_999,
            *FOUR_DIGIT_YEARS.start(),
            *FOUR_DIGIT_YEARS.end(),
            FOUR_DIGIT_YEARS.start() - 1,
            FOUR_DIGIT_YEARS.end() + 1,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x % 320_000_000_000_000_000) as i64 - 62_200_000_000_000_000);
        }
        for micros in samples {
            let ours = Timestamp(micros).to_string();
            if let Some(expected) = chrono(micros) {
                assert_eq!(ours, expected, "{micros}");
            }
            assert_eq!(
                ours.parse::<Timestamp>().map(|t| t.0).ok(),
                FOUR_DIGIT_YEARS.contains(&micros).then_some(micros)
            );
        }
    }

    #[test]
    fn prints_six_fraction_digits() {
        assert_eq!(ts("2016-11-04T03:04:05Z").unwrap(), "2016-11-04T03:04:05.000000Z");
        assert_eq!(ts("2016-11-04T03:04:05.1Z").unwrap(), "2016-11-04T03:04:05.100000Z");
        assert_eq!(ts("2016-11-04T03:04:05.123456789Z").unwrap(), "2016-11-04T03:04:05.123456Z");
        assert_eq!(ts("2016-11-04t03:04:05.123z").unwrap(), "2016-11-04T03:04:05.123000Z");
    }

    #[test]
    fn applies_offsets() {
        assert_eq!(ts("2016-11-04T03:04:05-02:30").unwrap(), "2016-11-04T05:34:05.000000Z");
        assert_eq!(ts("2016-01-01T00:30:00+01:00").unwrap(), "2015-12-31T23:30:00.000000Z");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2016-11-04",
            "2016-11-04T03:04:05",
            "2016-11-04T03:04:05.Z",
            "2016-11-04T03:04:051Z",
            "2016-13-04T03:04:05Z",
            "2016-02-30T03:04:05Z",
            "2016-11-04T24:04:05Z",
            "2016-11-04 03:04:05Z",
            "2016-11-04T03:04:05+0100",
            "2016-11-04T03:04:05ZZ",
            "+016-11-04T03:04:05Z",
            "2016-11-04T03:04:05.12a3Z",
            "2016-11-04T03:04:05+24:00",
        ] {
            assert!(ts(bad).is_none(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn orders_instants_beyond_microseconds() {
        let a = parse_rfc3339("2020-01-01T00:00:00.0000001Z").unwrap();
        let b = parse_rfc3339("2020-01-01T00:00:00.0000002Z").unwrap();
        assert!(a < b);
        assert_eq!(a.to_timestamp(), b.to_timestamp());
    }

    #[test]
    fn round_trips_through_display() {
        for micros in [0, 1, 999_999, 1_600_000_000_123_456, -1] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
    }
}
