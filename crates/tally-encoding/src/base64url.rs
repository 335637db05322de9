//! base64url (RFC 4648 §5): the workspace's one base64url codec.
//!
//! Encoded with `=` padding; decoded with or without padding. Only the
//! URL-safe alphabet is accepted and non-canonical trailing bits are refused,
//! and the decoder checks its bound before it allocates.
//!
//! Encoding is hand-written (it is most of the cost of encoding a Cashu V4
//! token: a table of symbol pairs turns three bytes into four symbols with
//! two lookups); decoding uses the `base64` crate's strict engine. Both are
//! checked against each other on random input
//! (`tests::encoder_matches_the_base64_crate`). Standard base64 (signed
//! notes, keyset ids) uses the `base64` crate directly.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_PAD_INDIFFERENT;

/// Why base64url text did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Base64Error {
    /// More text than the bound allows.
    TooLong {
        /// The largest number of characters allowed.
        max: usize,
        /// Characters found.
        found: usize,
    },
    /// A character outside the URL-safe alphabet, bad padding or non-zero
    /// trailing bits.
    Invalid,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { max, found } => {
                write!(f, "{found} base64url characters, more than {max}")
            }
            Self::Invalid => f.write_str("not base64url (alphabet, padding or trailing bits)"),
        }
    }
}

impl core::error::Error for Base64Error {}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Every pair of symbols for a 12-bit value (8 KiB, built at compile time):
/// three input bytes become four symbols with two lookups.
// Evaluated at compile time: an index out of range fails the build, so this
// indexing cannot panic at run time (const blocks cannot use iterators).
#[allow(clippy::indexing_slicing)]
const PAIRS: [[u8; 2]; 4096] = {
    let mut table = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = [ALPHABET[i >> 6], ALPHABET[i & 63]];
        i += 1;
    }
    table
};

fn pair(value: u32) -> [u8; 2] {
    // `& 0xfff` keeps the index in range, so the bound check folds away.
    PAIRS
        .get((value & 0xfff) as usize)
        .copied()
        .unwrap_or([b'A'; 2])
}

fn symbol(sextet: u32) -> u8 {
    ALPHABET
        .get((sextet & 63) as usize)
        .copied()
        .unwrap_or(b'A')
}

/// The padded base64url length of `len` bytes.
#[must_use]
pub fn encoded_len(len: usize) -> usize {
    len.div_ceil(3).saturating_mul(4)
}

/// `prefix` followed by the padded base64url of `bytes`, in one allocation.
///
/// ```
/// use tally_encoding::base64url::encode_with_prefix;
/// assert_eq!(encode_with_prefix("x:", b"\xfb\xff"), "x:-_8=");
/// ```
#[must_use]
pub fn encode_with_prefix(prefix: &str, bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(prefix.len().saturating_add(encoded_len(bytes.len())));
    out.extend_from_slice(prefix.as_bytes());
    encode_append(bytes, &mut out);
    // Only ASCII was written after a `&str` prefix: this conversion cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the padded base64url of `bytes` to `out` (no padding when
/// `bytes.len()` is a multiple of 3, so pieces can be encoded one by one).
pub fn encode_append(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start.saturating_add(encoded_len(bytes.len())), 0);
    if let Some((_, tail)) = out.split_at_mut_checked(start) {
        encode_into(bytes, tail);
    }
}

/// Writes the padded base64url of `bytes` into `out` (`encoded_len` bytes):
/// six input bytes at a time, then three at a time, then the padded tail.
fn encode_into(bytes: &[u8], out: &mut [u8]) {
    let groups = bytes.len() / 6;
    let (Some((in6, in3)), Some((out8, out4))) = (
        bytes.split_at_checked(groups * 6),
        out.split_at_mut_checked(groups * 8),
    ) else {
        return;
    };
    for (c, d) in in6.chunks_exact(6).zip(out8.chunks_exact_mut(8)) {
        if let ([a, b, c, e, f, g], [o0, o1, o2, o3, o4, o5, o6, o7]) = (c, d) {
            let n = u64::from_be_bytes([0, 0, *a, *b, *c, *e, *f, *g]);
            [*o0, *o1] = pair((n >> 36) as u32);
            [*o2, *o3] = pair((n >> 24) as u32);
            [*o4, *o5] = pair((n >> 12) as u32);
            [*o6, *o7] = pair(n as u32);
        }
    }
    let mut dst = out4.chunks_exact_mut(4);
    let mut src = in3.chunks_exact(3);
    // `src` first: it runs out first, so `zip` never takes a chunk from `dst` it cannot fill.
    for (c, d) in (&mut src).zip(&mut dst) {
        if let ([a, b, c], [p, q, r, s]) = (c, d) {
            let n = u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c);
            [*p, *q] = pair(n >> 12);
            [*r, *s] = pair(n);
        }
    }
    if let Some(d) = dst.next() {
        let last = match src.remainder() {
            [a] => {
                let n = u32::from(*a) << 16;
                [symbol(n >> 18), symbol(n >> 12), b'=', b'=']
            }
            [a, b] => {
                let n = u32::from(*a) << 16 | u32::from(*b) << 8;
                [symbol(n >> 18), symbol(n >> 12), symbol(n >> 6), b'=']
            }
            _ => [b'='; 4],
        };
        d.copy_from_slice(&last);
    }
}

/// base64url with `=` padding (the form the NUT-00 vectors show).
///
/// ```
/// assert_eq!(tally_encoding::base64url::encode(b"\xfb\xff"), "-_8=");
/// ```
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    encode_with_prefix("", bytes)
}

/// Decodes base64url of at most `max_chars` characters, with or without
/// padding.
///
/// ```
/// use tally_encoding::base64url::decode;
/// assert_eq!(decode("-_8=", 16).unwrap(), b"\xfb\xff");
/// assert_eq!(decode("-_8", 16).unwrap(), b"\xfb\xff");
/// assert!(decode("+/8=", 16).is_err());
/// assert!(decode("-_8=", 3).is_err());
/// ```
///
/// # Errors
/// [`Base64Error::TooLong`] past the bound (before anything is allocated),
/// [`Base64Error::Invalid`] on any character outside the URL-safe alphabet,
/// bad padding or non-zero trailing bits.
pub fn decode(text: &str, max_chars: usize) -> Result<Vec<u8>, Base64Error> {
    if text.len() > max_chars {
        return Err(Base64Error::TooLong {
            max: max_chars,
            found: text.len(),
        });
    }
    URL_SAFE_PAD_INDIFFERENT
        .decode(text)
        .map_err(|_| Base64Error::Invalid)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn encoder_matches_the_base64_crate(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let ours = encode(&bytes);
            prop_assert_eq!(&ours, &URL_SAFE.encode(&bytes));
            prop_assert_eq!(ours.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(&ours, usize::MAX).unwrap(), bytes);
        }
    }

    /// RFC 4648 §10's vectors, in the URL-safe alphabet (the same for these).
    #[test]
    fn rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded, 8).unwrap(), plain.as_bytes());
        }
    }
}
