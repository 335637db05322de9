//! Content ids: CIDv1, raw codec, BLAKE3 multihash, multibase base32.
//!
//! Binary form (36 bytes): `0x01` (CID version 1), `0x55` (raw), `0x1e`
//! (BLAKE3 multihash code), `0x20` (digest length 32), then the BLAKE3 hash
//! of the content. Text form: `b` followed by the RFC 4648 base32 of the
//! binary form in lower case without padding (58 characters), which always
//! starts `bafkr4i`.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

const PREFIX: [u8; 4] = [0x01, 0x55, 0x1e, 0x20];
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Length of the text form.
pub const CID_TEXT_LEN: usize = 59;

/// A CIDv1 (raw, BLAKE3-256).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid([u8; 32]);

impl Cid {
    /// The content id of `bytes`.
    ///
    /// ```
    /// let cid = tally_reward::cid::Cid::of(b"");
    /// assert!(cid.to_string().starts_with("bafkr4i"));
    /// ```
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The content id of content whose BLAKE3 digest is `digest` (hashed
    /// as it streamed by).
    #[must_use]
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The BLAKE3 digest it carries.
    #[must_use]
    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 36-byte binary form.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        let (head, tail) = out.split_at_mut(4);
        head.copy_from_slice(&PREFIX);
        tail.copy_from_slice(&self.0);
        out
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let mut text = String::with_capacity(CID_TEXT_LEN);
        text.push('b');
        let (mut acc, mut bits) = (0u32, 0u32);
        for &b in &bytes {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                text.push(symbol(acc >> bits));
            }
        }
        if bits > 0 {
            text.push(symbol(acc << (5 - bits)));
        }
        f.write_str(&text)
    }
}

fn symbol(value: u32) -> char {
    char::from(ALPHABET.get((value & 31) as usize).copied().unwrap_or(b'a'))
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl FromStr for Cid {
    type Err = Error;

    /// Accepts only the canonical text form (what [`Cid`]'s `Display`
    /// writes).
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidCid {
            text: crate::de::shown(text, 80),
        };
        let body = text.strip_prefix('b').ok_or_else(bad)?;
        if text.len() != CID_TEXT_LEN {
            return Err(bad());
        }
        let mut bytes = Vec::with_capacity(36);
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in body.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).ok_or_else(bad)?;
            acc = (acc << 5) | v as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push(((acc >> bits) & 0xff) as u8);
            }
        }
        // Leftover bits must be zero for the text to be canonical.
        if acc & ((1 << bits) - 1) != 0 {
            return Err(bad());
        }
        let (prefix, digest) = bytes.split_at_checked(4).ok_or_else(bad)?;
        if prefix != PREFIX {
            return Err(bad());
        }
        let digest: [u8; 32] = digest.try_into().map_err(|_| bad())?;
        Ok(Self(digest))
    }
}

impl Serialize for Cid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
