//! Unambiguous framing of the fields a hash covers.
//!
//! A hash over several variable-length fields must not let two different
//! tuples give the same bytes (`("ab", "c")` and `("a", "bc")`). Every
//! variable-length field is framed as its length in 8 little-endian bytes,
//! then its bytes; fixed-width fields (integers, 32-byte hashes) go in as
//! they are. Domain separation is the hash's own (BLAKE3 `derive_key`
//! contexts, or a tag that ends in a byte no field starts with); this
//! module only frames what follows it. No allocation, no hash dependency:
//! the caller passes where the bytes go.
//!
//! ```
//! use tally_encoding::framing::length_prefixed;
//! let mut bytes = Vec::new();
//! length_prefixed(b"ab", |b| bytes.extend_from_slice(b));
//! assert_eq!(bytes, [2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
//! ```

/// Feeds `field` to `absorb` as `u64le(len) ‖ field`.
pub fn length_prefixed(field: &[u8], mut absorb: impl FnMut(&[u8])) {
    absorb(&(field.len() as u64).to_le_bytes());
    absorb(field);
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn framed(fields: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in fields {
            length_prefixed(f, |b| out.extend_from_slice(b));
        }
        out
    }

    /// Two different splits of the same bytes never frame alike.
    #[test]
    fn splits_of_the_same_bytes_frame_differently() {
        assert_ne!(framed(&[b"ab", b"c"]), framed(&[b"a", b"bc"]));
        assert_ne!(framed(&[b"", b"x"]), framed(&[b"x", b""]));
        assert_eq!(framed(&[b""]), [0u8; 8]);
    }

    proptest::proptest! {
        /// Framing is injective: the fields can be read back from the bytes.
        #[test]
        fn fields_read_back_from_their_framing(
            fields in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..20), 0..6)
        ) {
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            let bytes = framed(&refs);
            let mut rest = bytes.as_slice();
            let mut back = Vec::new();
            while !rest.is_empty() {
                let (len, tail) = rest.split_at(8);
                let len = usize::try_from(u64::from_le_bytes(len.try_into().unwrap())).unwrap();
                let (field, tail) = tail.split_at(len);
                back.push(field.to_vec());
                rest = tail;
            }
            proptest::prop_assert_eq!(back, fields);
        }
    }
}
