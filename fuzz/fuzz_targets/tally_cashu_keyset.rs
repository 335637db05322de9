//! Keyset, keysets-response and mint-info parsing on arbitrary input: no
//! panic; a keyset that parses re-serializes to one that parses equal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_cashu::nuts::nut01::{Keyset, parse_keysets_response};
use tally_cashu::nuts::nut06::MintInfo;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(keyset) = Keyset::from_json(&text) {
        let json = keyset.to_json().expect("a parsed keyset serializes");
        assert_eq!(Keyset::from_json(&json).expect("keyset round trip"), keyset);
    }
    let _ = Keyset::from_keys_response(&text);
    let _ = parse_keysets_response(&text);
    let _ = MintInfo::from_json(&text);
});
