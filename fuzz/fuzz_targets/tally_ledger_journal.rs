//! Journal records of tally-ledger from arbitrary bytes: no panic, and a
//! record that decodes re-encodes to a record that decodes to the same batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_ledger::journal::{Batch, decode, encode_accounts, encode_snapshot, encode_transfers};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = decode(data) {
        let again = match &batch {
            Batch::Accounts { now, events } => encode_accounts(events, *now),
            Batch::Transfers { now, events } => encode_transfers(events, *now),
            Batch::Snapshot { checkpoint, digest } => encode_snapshot(*checkpoint, digest),
        };
        assert_eq!(decode(again.as_bytes()).expect("re-encoded record decodes"), batch);
    }
});
