//! Ledger snapshots from arbitrary bytes: no panic, no allocation beyond what
//! the input's length allows, and a snapshot that decodes re-encodes to the
//! same bytes (the format is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_ledger::snapshot::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(restored) = decode(data, data.len() as u64) {
        let mut again = Vec::new();
        encode(
            &restored.ledger,
            |id| restored.journal_seq(id),
            restored.info.at,
            &mut again,
        )
        .expect("encoding into memory");
        assert_eq!(again, data, "a decoded snapshot re-encodes to its bytes");
    }
});
