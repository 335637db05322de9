//! Hexadecimal (RFC 4648 base16): the workspace's one hex codec.
//!
//! Encoding writes lowercase digits. Decoding comes in two strictnesses,
//! chosen by [`Case`]: [`Case::Lower`] accepts only `0-9a-f` (the canonical
//! form of digests, ids and signatures, so one value has one spelling);
//! [`Case::Any`] also accepts `A-F` (keys and secrets written by other
//! software, as the Cashu specifications allow). Every decoder checks the
//! length before it writes anything, and the owned decoder checks its bound
//! before it allocates.
//!
//! The digits are converted by RustCrypto's `base16ct`, which avoids
//! data-dependent branches and table lookups (secret keys and seeds pass
//! through here). Only on failure does this module look at the text again, to
//! report the position of the first bad digit.
//!
//! ```
//! use tally_encoding::hex::{self, Case, HexError};
//! assert_eq!(hex::encode(&[0x00, 0xab]), "00ab");
//! assert_eq!(hex::decode_array::<2>("00ab", Case::Lower), Ok([0x00, 0xab]));
//! assert_eq!(hex::decode_array::<2>("00AB", Case::Any), Ok([0x00, 0xab]));
//! assert_eq!(
//!     hex::decode_array::<2>("00AB", Case::Lower),
//!     Err(HexError::Digit { position: 2, case: Case::Lower })
//! );
//! ```

use core::fmt;

/// Which digits a decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `0-9a-f` only: the canonical form.
    Lower,
    /// `0-9`, `a-f` and `A-F`.
    Any,
}

/// Why a hex text did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HexError {
    /// Not exactly the number of digits a fixed-size value has.
    Length {
        /// Digits expected.
        expected: usize,
        /// Digits found.
        found: usize,
    },
    /// An odd number of digits.
    OddLength {
        /// Digits found.
        found: usize,
    },
    /// More digits than the bound allows.
    TooLong {
        /// The largest number of digits allowed.
        max: usize,
        /// Digits found.
        found: usize,
    },
    /// A character that is not a digit of the accepted case.
    Digit {
        /// Its byte offset in the text.
        position: usize,
        /// The digits that were accepted.
        case: Case,
    },
    /// The output buffer is too small for the encoding.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Length { expected, found } => {
                write!(f, "expected {expected} hexadecimal digits, found {found}")
            }
            Self::OddLength { found } => {
                write!(f, "an odd number of hexadecimal digits ({found})")
            }
            Self::TooLong { max, found } => {
                write!(f, "{found} hexadecimal digits, more than {max}")
            }
            Self::Digit {
                position,
                case: Case::Lower,
            } => write!(
                f,
                "not a lowercase hexadecimal digit at position {position}"
            ),
            Self::Digit {
                position,
                case: Case::Any,
            } => write!(f, "not a hexadecimal digit at position {position}"),
            Self::BufferTooSmall { needed } => {
                write!(f, "the output needs {needed} bytes")
            }
        }
    }
}

impl core::error::Error for HexError {}

/// The number of digits of `bytes` bytes, if it fits in a `usize`.
fn digits_of(bytes: usize) -> Option<usize> {
    bytes.checked_mul(2)
}

fn is_digit(c: u8, case: Case) -> bool {
    match c {
        b'0'..=b'9' | b'a'..=b'f' => true,
        b'A'..=b'F' => case == Case::Any,
        _ => false,
    }
}

/// The error for a text whose length was right but whose digits were not.
fn first_bad_digit(text: &[u8], case: Case) -> HexError {
    let position = text
        .iter()
        .position(|&c| !is_digit(c, case))
        .unwrap_or(text.len());
    HexError::Digit { position, case }
}

/// Decodes `text` into exactly `out.len()` bytes. On error `out` may hold
/// part of the value; callers own a scratch buffer.
fn decode_exact(text: &[u8], out: &mut [u8], case: Case) -> Result<(), HexError> {
    let expected = digits_of(out.len()).ok_or(HexError::Length {
        expected: usize::MAX,
        found: text.len(),
    })?;
    if text.len() != expected {
        return Err(HexError::Length {
            expected,
            found: text.len(),
        });
    }
    let want = out.len();
    let decoded = match case {
        Case::Lower => base16ct::lower::decode(text, out),
        Case::Any => base16ct::mixed::decode(text, out),
    };
    match decoded {
        Ok(written) if written.len() == want => Ok(()),
        _ => Err(first_bad_digit(text, case)),
    }
}

/// Decodes exactly `N` bytes from `2 × N` digits.
///
/// # Errors
/// [`HexError::Length`] for another number of digits, [`HexError::Digit`]
/// for a character that is not a digit of `case`.
pub fn decode_array<const N: usize>(
    text: impl AsRef<[u8]>,
    case: Case,
) -> Result<[u8; N], HexError> {
    let mut out = [0u8; N];
    decode_exact(text.as_ref(), &mut out, case)?;
    Ok(out)
}

/// Decodes `2 × out.len()` digits into `out`.
///
/// # Errors
/// As [`decode_array`]; on error `out` is unspecified.
pub fn decode_into(text: impl AsRef<[u8]>, out: &mut [u8], case: Case) -> Result<(), HexError> {
    decode_exact(text.as_ref(), out, case)
}

/// Decodes an even number of digits, at most `2 × max_bytes`, checking the
/// bound before allocating.
///
/// # Errors
/// [`HexError::TooLong`] past the bound, [`HexError::OddLength`],
/// [`HexError::Digit`].
#[cfg(feature = "alloc")]
pub fn decode_vec(
    text: impl AsRef<[u8]>,
    max_bytes: usize,
    case: Case,
) -> Result<alloc::vec::Vec<u8>, HexError> {
    let text = text.as_ref();
    let max = digits_of(max_bytes).unwrap_or(usize::MAX);
    if text.len() > max {
        return Err(HexError::TooLong {
            max,
            found: text.len(),
        });
    }
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength { found: text.len() });
    }
    let mut out = alloc::vec![0u8; text.len() / 2];
    decode_exact(text, &mut out, case)?;
    Ok(out)
}

/// Writes the lowercase hex of `bytes` into `buf` and returns it as text,
/// without allocating.
///
/// # Errors
/// [`HexError::BufferTooSmall`] if `buf` holds fewer than `2 ×
/// bytes.len()` bytes.
pub fn encode_to_slice<'a>(bytes: &[u8], buf: &'a mut [u8]) -> Result<&'a str, HexError> {
    let needed = digits_of(bytes.len()).unwrap_or(usize::MAX);
    base16ct::lower::encode_str(bytes, buf).map_err(|_| HexError::BufferTooSmall { needed })
}

/// Appends the lowercase hex of `bytes` to `out`.
#[cfg(feature = "alloc")]
pub fn encode_into(bytes: &[u8], out: &mut alloc::string::String) {
    let mut chunk = [0u8; 128];
    for part in bytes.chunks(64) {
        // 64 bytes always fit in 128 digits.
        if let Ok(text) = base16ct::lower::encode_str(part, &mut chunk) {
            out.push_str(text);
        }
    }
}

/// Appends the lowercase hex of `bytes` to a byte buffer (a record being
/// built), in one write.
#[cfg(feature = "alloc")]
pub fn encode_extend(bytes: &[u8], out: &mut alloc::vec::Vec<u8>) {
    let start = out.len();
    out.resize(start.saturating_add(digits_of(bytes.len()).unwrap_or(0)), 0);
    if let Some(tail) = out.get_mut(start..) {
        // The tail is exactly 2 × bytes.len() long.
        let _ = base16ct::lower::encode(bytes, tail);
    }
}

/// The lowercase hex of `bytes`.
#[cfg(feature = "alloc")]
#[must_use]
pub fn encode(bytes: &[u8]) -> alloc::string::String {
    let mut out = alloc::string::String::with_capacity(digits_of(bytes.len()).unwrap_or(0));
    encode_into(bytes, &mut out);
    out
}

/// The lowercase hex of a fixed-size value, on the stack: `D` must be
/// `2 × N` (checked when the function is instantiated).
///
/// ```
/// let text = tally_encoding::hex::Encoded::<2, 4>::new(&[0xde, 0xad]);
/// assert_eq!(text.as_str(), "dead");
/// ```
#[derive(Clone, Copy)]
pub struct Encoded<const N: usize, const D: usize>([u8; D]);

impl<const N: usize, const D: usize> Encoded<N, D> {
    const SIZE_MATCHES: () = assert!(D == 2 * N, "D must be 2 × N");

    /// Encodes `bytes`.
    #[must_use]
    pub fn new(bytes: &[u8; N]) -> Self {
        let () = Self::SIZE_MATCHES;
        let mut digits = [b'0'; D];
        // D == 2 × N, so the buffer always fits.
        let _ = base16ct::lower::encode(bytes, &mut digits);
        Self(digits)
    }

    /// The digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // base16ct wrote ASCII digits only.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize, const D: usize> fmt::Display for Encoded<N, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize, const D: usize> fmt::Debug for Encoded<N, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    /// RFC 4648 §10's base16 vectors (uppercase there; both cases here).
    #[test]
    fn rfc_4648_vectors() {
        for (plain, upper) in [
            ("", ""),
            ("f", "66"),
            ("fo", "666F"),
            ("foo", "666F6F"),
            ("foob", "666F6F62"),
            ("fooba", "666F6F6261"),
            ("foobar", "666F6F626172"),
        ] {
            let lower = upper.to_ascii_lowercase();
            assert_eq!(encode(plain.as_bytes()), lower);
            assert_eq!(decode_vec(upper, 6, Case::Any).unwrap(), plain.as_bytes());
            assert_eq!(
                decode_vec(&lower, 6, Case::Lower).unwrap(),
                plain.as_bytes()
            );
            if !plain.is_empty() && upper.bytes().any(|c| c.is_ascii_uppercase()) {
                assert!(matches!(
                    decode_vec(upper, 6, Case::Lower),
                    Err(HexError::Digit { .. })
                ));
            }
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let text = encode(&all);
        assert_eq!(text.len(), 512);
        assert_eq!(decode_vec(&text, 256, Case::Lower).unwrap(), all);
        assert_eq!(
            decode_vec(text.to_ascii_uppercase(), 256, Case::Any).unwrap(),
            all
        );
        let mut buf = [0u8; 512];
        assert_eq!(encode_to_slice(&all, &mut buf).unwrap(), text);
        let mut out = String::from(">");
        encode_into(&all, &mut out);
        assert_eq!(out, alloc::format!(">{text}"));
        let mut bytes = b">".to_vec();
        encode_extend(&all, &mut bytes);
        assert_eq!(bytes, alloc::format!(">{text}").into_bytes());
    }

    #[test]
    fn errors_name_what_was_wrong() {
        assert_eq!(
            decode_array::<2>("00a", Case::Lower),
            Err(HexError::Length {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            decode_array::<2>("00ag", Case::Any),
            Err(HexError::Digit {
                position: 3,
                case: Case::Any
            })
        );
        assert_eq!(
            decode_vec("abc", 8, Case::Lower),
            Err(HexError::OddLength { found: 3 })
        );
        assert_eq!(
            decode_vec("000000", 2, Case::Lower),
            Err(HexError::TooLong { max: 4, found: 6 })
        );
        assert_eq!(
            decode_array::<1>(" 0", Case::Lower),
            Err(HexError::Digit {
                position: 0,
                case: Case::Lower
            })
        );
        assert_eq!(
            encode_to_slice(&[1, 2], &mut [0u8; 3]),
            Err(HexError::BufferTooSmall { needed: 4 })
        );
        assert_eq!(
            HexError::Digit {
                position: 3,
                case: Case::Lower
            }
            .to_string(),
            "not a lowercase hexadecimal digit at position 3"
        );
    }

    #[test]
    fn the_stack_form_matches_the_owned_form() {
        let bytes = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        assert_eq!(Encoded::<8, 16>::new(&bytes).to_string(), encode(&bytes));
    }

    proptest::proptest! {
        #[test]
        fn decoding_inverts_encoding(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let text = encode(&bytes);
            proptest::prop_assert_eq!(decode_vec(&text, 200, Case::Lower).unwrap(), bytes.clone());
            proptest::prop_assert_eq!(decode_vec(text.to_ascii_uppercase(), 200, Case::Any).unwrap(), bytes);
        }

        /// Any text decodes or is refused with the first bad digit named; a
        /// text that decodes re-encodes to itself (lowercase) or to its
        /// lowercase form (any case).
        #[test]
        fn hostile_text_is_refused_precisely(text in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            for case in [Case::Lower, Case::Any] {
                match decode_vec(&text, 64, case) {
                    Ok(bytes) => {
                        proptest::prop_assert_eq!(encode(&bytes).into_bytes(), text.to_ascii_lowercase());
                        proptest::prop_assert!(case == Case::Any || text == text.to_ascii_lowercase());
                    }
                    Err(HexError::OddLength { found }) => proptest::prop_assert_eq!(found % 2, 1),
                    Err(HexError::Digit { position, .. }) => {
                        proptest::prop_assert!(!is_digit(text[position], case));
                        proptest::prop_assert!(text[..position].iter().all(|&c| is_digit(c, case)));
                    }
                    Err(e) => proptest::prop_assert!(false, "{e}"),
                }
            }
        }
    }
}
