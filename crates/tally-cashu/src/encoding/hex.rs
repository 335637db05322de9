//! Hex encoding (lowercase out; either case in).

use crate::Error;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
///
/// ```
/// assert_eq!(tally_cashu::encoding::hex::encode(&[0x00, 0xab]), "00ab");
/// ```
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    encode_to(bytes, &mut out);
    out
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn encode_to(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(digit(b >> 4)));
        out.push(char::from(digit(b & 0x0f)));
    }
}

fn digit(nibble: u8) -> u8 {
    DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
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
    let mut out = [0u8; N];
    decode_into(s.as_bytes(), &mut out, field)?;
    Ok(out)
}

/// Decodes hex of any even length up to `2 * max_len` digits.
///
/// # Errors
/// [`Error::InvalidHex`] naming `field` if `s` is not hex or is too long.
pub fn decode_vec(s: &str, max_len: usize, field: &'static str) -> Result<Vec<u8>, Error> {
    let digits = s.as_bytes();
    if !digits.len().is_multiple_of(2) || digits.len() / 2 > max_len {
        return Err(Error::InvalidHex { field });
    }
    let mut out = vec![0u8; digits.len() / 2];
    decode_into(digits, &mut out, field)?;
    Ok(out)
}

fn decode_into(digits: &[u8], out: &mut [u8], field: &'static str) -> Result<(), Error> {
    if digits.len() != out.len() * 2 {
        return Err(Error::InvalidHex { field });
    }
    for (pair, byte) in digits.chunks_exact(2).zip(out.iter_mut()) {
        let (hi, lo) = match pair {
            [hi, lo] => (nibble(*hi), nibble(*lo)),
            _ => (None, None),
        };
        match (hi, lo) {
            (Some(hi), Some(lo)) => *byte = hi << 4 | lo,
            _ => return Err(Error::InvalidHex { field }),
        }
    }
    Ok(())
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
        assert!(decode_vec("abc", 8, "t").is_err());
        assert!(decode_vec("zz", 8, "t").is_err());
        assert!(decode_vec("0000", 1, "t").is_err());
        assert!(decode_array::<2>("00", "t").is_err());
        assert!(decode_array::<1>("0g", "t").is_err());
    }
}
