//! LEB128 integers from arbitrary bytes: no panic, and whatever decodes
//! re-encodes to exactly the bytes it took (the decoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_encoding::leb128;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((v, n)) = leb128::decode(rest) {
        let mut buf = [0u8; leb128::MAX_BYTES];
        let m = leb128::encode(v, &mut buf);
        assert_eq!(&buf[..m], &rest[..n], "a decoded integer re-encodes to its bytes");
        assert_eq!(leb128::unzigzag(leb128::zigzag(leb128::unzigzag(v))), leb128::unzigzag(v));
        rest = &rest[n..];
    }
});
