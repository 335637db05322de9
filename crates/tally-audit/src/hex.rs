//! Lower-case hexadecimal, strict: decoding accepts only `0-9a-f`.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lower-case hex of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len().saturating_mul(2));
    for &b in bytes {
        let [hi, lo] =
            [b >> 4, b & 0x0f].map(|n| DIGITS.get(usize::from(n)).copied().unwrap_or(b'0'));
        out.push(hi);
        out.push(lo);
    }
}

/// The lower-case hex of `bytes`.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(2));
    encode_into(bytes, &mut out);
    // Only ASCII digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

const fn nibble_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0xff,
    }
}

/// Value of each byte as a lower-case hex digit; 0xff when it is not one.
// Evaluated at compile time: an index out of bounds fails the build.
#[allow(clippy::indexing_slicing)]
const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = nibble_value(i as u8);
        i += 1;
    }
    t
};

/// The table lookup; every `u8` is in bounds, so the check compiles away.
fn table(c: u8) -> u8 {
    NIBBLE.get(usize::from(c)).copied().unwrap_or(0xff)
}

fn nibble(c: u8) -> Option<u8> {
    let v = table(c);
    (v != 0xff).then_some(v)
}

/// Decodes exactly `N` bytes from `2 * N` lower-case hex digits.
pub(crate) fn decode_array<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != N.checked_mul(2)? {
        return None;
    }
    let mut out = [0u8; N];
    // Branch-free accumulation: any invalid digit sets a high bit in `bad`.
    let mut bad = 0u8;
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        let (h, l) = (table(*hi), table(*lo));
        bad |= h | l;
        *slot = (h << 4) | (l & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Decodes any even number of lower-case hex digits.
pub(crate) fn decode_vec(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_upper_case() {
        let bytes = [0x00, 0x7f, 0xab, 0xff];
        let text = encode(&bytes);
        assert_eq!(text, "007fabff");
        assert_eq!(decode_array::<4>(text.as_bytes()), Some(bytes));
        assert_eq!(decode_array::<4>(b"007FABFF"), None);
        assert_eq!(decode_array::<4>(b"007fab"), None);
        assert_eq!(decode_vec(b"0"), None);
        assert_eq!(decode_vec(b"00ff"), Some(vec![0, 255]));
    }
}
