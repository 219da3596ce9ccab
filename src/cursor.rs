//! The `next` cursor: a self-contained, URL-safe keyset position.
//!
//! A cursor holds where the previous page ended (its last `date_added`), the
//! collection's high-water mark when the walk began (so a walk sees the collection as
//! it was then, and writes that land meanwhile neither repeat nor shift items), and a
//! digest of the query it belongs to. It needs no server-side state, so it works on
//! every instance behind a load balancer, and it cannot widen a query: the server
//! re-applies the request's own filters and only moves the starting point.
//!
//! The text form is 34 characters of base64url without padding.

use crate::timestamp::Timestamp;

/// Where a paged walk stands: the backend continues after `after` and ignores
/// anything added after `snapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The collection's last `date_added` when the walk began; later versions are not part of it.
    pub snapshot: Timestamp,
    /// The `date_added` of the last item already returned; the next page starts strictly after it.
    pub after: Timestamp,
}

/// A decoded `next` value: a position plus the digest of the query that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) position: Position,
    pub(crate) digest: u64,
}

const FORMAT: u8 = 1;
const LEN: usize = 1 + 8 + 8 + 8;

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        let mut raw = [0u8; LEN];
        raw[0] = FORMAT;
        raw[1..9].copy_from_slice(&self.position.snapshot.as_micros().to_be_bytes());
        raw[9..17].copy_from_slice(&self.position.after.as_micros().to_be_bytes());
        raw[17..25].copy_from_slice(&self.digest.to_be_bytes());
        base64url_encode(&raw)
    }

    /// Decodes a cursor, or `None` for anything this server did not produce.
    pub(crate) fn decode(text: &str) -> Option<Cursor> {
        let raw = base64url_decode(text)?;
        let raw: [u8; LEN] = raw.try_into().ok()?;
        if raw[0] != FORMAT {
            return None;
        }
        let word = |range: std::ops::Range<usize>| -> [u8; 8] { raw[range].try_into().unwrap_or_default() };
        let position = Position {
            snapshot: Timestamp::from_micros(i64::from_be_bytes(word(1..9))),
            after: Timestamp::from_micros(i64::from_be_bytes(word(9..17))),
        };
        if position.after > position.snapshot {
            return None;
        }
        Some(Cursor {
            position,
            digest: u64::from_be_bytes(word(17..25)),
        })
    }
}

/// A 64-bit FNV-1a digest, stable across processes and versions (unlike `std`'s hasher).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Digest(u64);

impl Digest {
    pub(crate) fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    /// Adds one field; fields are length-prefixed so `("ab","c")` and `("a","bc")` differ.
    pub(crate) fn field(mut self, bytes: &[u8]) -> Self {
        for &b in (bytes.len() as u64).to_be_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 || text.len() > 64 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|&a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
        // Non-canonical encodings (stray low bits) are refused, so each cursor has one spelling.
        if bytes < 3 && n & (0x00ff_ffff >> (8 * bytes)) != 0 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cursor = Cursor {
            position: Position {
                snapshot: Timestamp::from_micros(1_700_000_000_000_001),
                after: Timestamp::from_micros(-5),
            },
            digest: 0xdead_beef_0123_4567,
        };
        let text = cursor.encode();
        assert_eq!(text.len(), 34);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Cursor::decode(&text), Some(cursor));
    }

    #[test]
    fn refuses_forgeries() {
        let text = Cursor {
            position: Position {
                snapshot: Timestamp::from_micros(9),
                after: Timestamp::from_micros(3),
            },
            digest: 1,
        }
        .encode();
        assert!(Cursor::decode(&text[..33]).is_none());
        assert!(Cursor::decode(&format!("{text}A")).is_none());
        assert!(Cursor::decode("").is_none());
        assert!(Cursor::decode("!!!!").is_none());
        assert!(Cursor::decode(&"A".repeat(10_000)).is_none());
        // `after` beyond the snapshot never comes from this server.
        let inverted = Cursor {
            position: Position {
                snapshot: Timestamp::from_micros(1),
                after: Timestamp::from_micros(3),
            },
            digest: 1,
        }
        .encode();
        assert!(Cursor::decode(&inverted).is_none());
    }

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url_encode(b"f"), "Zg");
        assert_eq!(base64url_encode(b"fo"), "Zm8");
        assert_eq!(base64url_encode(b"foo"), "Zm9v");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64url_decode("Zh").is_none(), "stray low bits");
    }

    #[test]
    fn digest_separates_fields() {
        assert_ne!(
            Digest::new().field(b"ab").field(b"c").finish(),
            Digest::new().field(b"a").field(b"bc").finish()
        );
    }
}
