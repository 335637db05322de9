//! Unsigned LEB128 (the variable-length integers of DWARF, WebAssembly and
//! protobuf): seven bits per byte, least significant group first, the high
//! bit set on every byte but the last.
//!
//! Decoding is **canonical**: it refuses an encoding longer than needed (a
//! last byte of zero after the first), a value wider than the target type
//! and an input that ends inside the integer, so every value has exactly
//! one encoding and a decoded value re-encodes to the same bytes. Signed
//! values go through [`zigzag`] first.
//!
//! ```
//! use tally_encoding::leb128;
//! let mut buf = [0u8; leb128::MAX_BYTES];
//! let n = leb128::encode(300, &mut buf);
//! assert_eq!(&buf[..n], &[0xac, 0x02]);
//! assert_eq!(leb128::decode(&buf[..n]), Ok((300, 2)));
//! assert!(leb128::decode(&[0x80, 0x00]).is_err()); // not minimal
//! ```

/// The most bytes a `u128` takes.
pub const MAX_BYTES: usize = 19;

/// Why bytes are not one canonical LEB128 integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leb128Error {
    /// The input ended inside the integer.
    Truncated,
    /// Longer than the value needs (a trailing zero group).
    NotMinimal,
    /// Wider than the target type.
    Overflow,
}

impl core::fmt::Display for Leb128Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Truncated => "a variable-length integer is cut short",
            Self::NotMinimal => "a variable-length integer is longer than it needs to be",
            Self::Overflow => "a variable-length integer is too large",
        })
    }
}

/// Writes `v` into `out` and returns the bytes written (at most
/// [`MAX_BYTES`]).
#[inline]
#[must_use]
pub fn encode(mut v: u128, out: &mut [u8; MAX_BYTES]) -> usize {
    let mut n = 0;
    for slot in out.iter_mut() {
        // Truncation to the low seven bits is the point.
        #[allow(clippy::cast_possible_truncation)]
        let low = (v & 0x7f) as u8;
        v >>= 7;
        n += 1;
        if v == 0 {
            *slot = low;
            break;
        }
        *slot = low | 0x80;
    }
    n
}

/// Decodes one integer from the front of `bytes`: the value and the bytes
/// it took.
///
/// # Errors
/// [`Leb128Error`].
#[inline]
pub fn decode(bytes: &[u8]) -> Result<(u128, usize), Leb128Error> {
    // The common case, one byte.
    match bytes.first() {
        None => return Err(Leb128Error::Truncated),
        Some(b) if *b < 0x80 => return Ok((u128::from(*b), 1)),
        Some(_) => {}
    }
    let mut v = 0u128;
    for (i, b) in bytes.iter().enumerate().take(MAX_BYTES) {
        let group = u128::from(b & 0x7f);
        let shift = 7 * i;
        // The 19th byte holds the top two bits of a u128.
        if i == MAX_BYTES - 1 && group > 0b11 {
            return Err(Leb128Error::Overflow);
        }
        v |= group << shift;
        if b & 0x80 == 0 {
            if *b == 0 {
                return Err(Leb128Error::NotMinimal);
            }
            return Ok((v, i + 1));
        }
    }
    if bytes.len() < MAX_BYTES {
        Err(Leb128Error::Truncated)
    } else {
        Err(Leb128Error::Overflow)
    }
}

/// Decodes one integer that must fit `u64`.
///
/// # Errors
/// [`Leb128Error`].
#[inline]
pub fn decode_u64(bytes: &[u8]) -> Result<(u64, usize), Leb128Error> {
    let (v, n) = decode(bytes)?;
    Ok((u64::try_from(v).map_err(|_| Leb128Error::Overflow)?, n))
}

/// Maps a signed value to an unsigned one so that small magnitudes stay
/// small: 0, -1, 1, -2, … become 0, 1, 2, 3, ….
#[inline]
#[must_use]
pub const fn zigzag(v: i128) -> u128 {
    // Reinterpretation of the bits is the point.
    #[allow(clippy::cast_sign_loss)]
    let out = ((v << 1) ^ (v >> 127)) as u128;
    out
}

/// The inverse of [`zigzag`].
#[inline]
#[must_use]
pub const fn unzigzag(v: u128) -> i128 {
    // Reinterpretation of the bits is the point.
    #[allow(clippy::cast_possible_wrap)]
    let out = ((v >> 1) as i128) ^ -((v & 1) as i128);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent vectors: the LEB128 examples of the DWARF 5 standard
    /// (§7.6, figure 22) and the protobuf encoding guide (150 → 96 01).
    #[test]
    fn the_published_examples() {
        let cases: [(u128, &[u8]); 8] = [
            (2, &[2]),
            (127, &[127]),
            (128, &[0x80, 1]),
            (129, &[1 + 0x80, 1]),
            (130, &[2 + 0x80, 1]),
            (12857, &[57 + 0x80, 100]),
            (150, &[0x96, 0x01]),
            (0, &[0]),
        ];
        for (v, want) in cases {
            let mut buf = [0u8; MAX_BYTES];
            let n = encode(v, &mut buf);
            assert_eq!(&buf[..n], want, "{v}");
            assert_eq!(decode(want), Ok((v, want.len())), "{v}");
        }
        let mut buf = [0u8; MAX_BYTES];
        assert_eq!(encode(u128::MAX, &mut buf), MAX_BYTES);
        assert_eq!(buf[MAX_BYTES - 1], 0b11);
    }

    #[test]
    fn refuses_what_is_not_one_canonical_integer() {
        assert_eq!(decode(&[]), Err(Leb128Error::Truncated));
        assert_eq!(decode(&[0x80]), Err(Leb128Error::Truncated));
        assert_eq!(decode(&[0xff, 0xff]), Err(Leb128Error::Truncated));
        assert_eq!(decode(&[0x80, 0x00]), Err(Leb128Error::NotMinimal));
        assert_eq!(decode(&[0x81, 0x80, 0x00]), Err(Leb128Error::NotMinimal));
        let mut wide = [0xffu8; MAX_BYTES];
        wide[MAX_BYTES - 1] = 0b100;
        assert_eq!(decode(&wide), Err(Leb128Error::Overflow));
        assert_eq!(decode(&[0xff; 25]), Err(Leb128Error::Overflow));
        assert_eq!(
            decode_u64(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(Leb128Error::Overflow)
        );
    }

    proptest! {
        // Fails if any value does not round-trip or a decode consumes a
        // different length than the encode wrote.
        #[test]
        fn every_value_round_trips(v in any::<u128>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut buf = [0u8; MAX_BYTES];
            let n = encode(v, &mut buf);
            let mut bytes = buf[..n].to_vec();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(decode(&bytes), Ok((v, n)));
        }

        // Fails if two byte strings decode to the same value (canonical
        // decoding lets each value have one encoding).
        #[test]
        fn whatever_decodes_re_encodes_to_the_same_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok((v, n)) = decode(&bytes) {
                let mut buf = [0u8; MAX_BYTES];
                let m = encode(v, &mut buf);
                prop_assert_eq!(&buf[..m], &bytes[..n]);
            }
        }

        #[test]
        fn zigzag_is_a_bijection(v in any::<i128>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn zigzag_keeps_small_magnitudes_small() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
        assert_eq!(zigzag(i128::MAX), u128::MAX - 1);
        assert_eq!(zigzag(i128::MIN), u128::MAX);
    }
}
