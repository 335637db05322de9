//! Hex encoding (lowercase out; either case in), with tally-cashu's error.
//!
//! The codec is the workspace's one (`tally_encoding::hex`, RustCrypto's
//! constant-time `base16ct` underneath); this module only maps its errors to
//! [`Error::InvalidHex`] naming the field.

use tally_encoding::hex::{self, Case};

use crate::Error;

/// Lowercase hex of `bytes`.
///
/// ```
/// assert_eq!(tally_cashu::encoding::hex::encode(&[0x00, 0xab]), "00ab");
/// ```
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn encode_to(bytes: &[u8], out: &mut String) {
    hex::encode_into(bytes, out);
}

/// Decodes exactly `N` bytes of hex (either case).
///
/// ```
/// let bytes: [u8; 2] = tally_cashu::encoding::hex::decode_array("00AB", "example").unwrap();
/// assert_eq!(bytes, [0x00, 0xab]);
/// ```
///
/// # Errors
/// [`Error::InvalidHex`] naming `field` if `s` is not `2 * N` hex digits.
pub fn decode_array<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N], Error> {
    hex::decode_array(s, Case::Any).map_err(|_| Error::InvalidHex { field })
}

/// Decodes hex of any even length up to `2 * max_len` digits.
///
/// # Errors
/// [`Error::InvalidHex`] naming `field` if `s` is not hex or is too long.
pub fn decode_vec(s: &str, max_len: usize, field: &'static str) -> Result<Vec<u8>, Error> {
    hex::decode_vec(s, max_len, Case::Any).map_err(|_| Error::InvalidHex { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = encode(&all);
        assert_eq!(decode_vec(&text, 256, "t").unwrap(), all);
        assert_eq!(decode_vec(&text.to_uppercase(), 256, "t").unwrap(), all);
    }

    #[test]
    fn rejects_odd_length_bad_digits_and_wrong_size() {
        for (result, field) in [
            (decode_vec("abc", 8, "odd"), "odd"),
            (decode_vec("zz", 8, "digit"), "digit"),
            (decode_vec("0000", 1, "long"), "long"),
        ] {
            assert!(matches!(result, Err(Error::InvalidHex { field: f }) if f == field));
        }
        assert!(matches!(
            decode_array::<2>("00", "short"),
            Err(Error::InvalidHex { field: "short" })
        ));
        assert!(matches!(
            decode_array::<1>("0g", "digit"),
            Err(Error::InvalidHex { field: "digit" })
        ));
    }
}
