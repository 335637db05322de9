//! Epoch inputs on arbitrary bytes: no panic; decoded inputs re-encode to
//! canonical bytes that decode to the same inputs with the same CID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_reward::Limits;
use tally_reward::inputs::EpochInputs;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_accounts: 1_000,
        max_input_bytes: 1 << 20,
        ..Limits::default()
    };
    if let Ok(inputs) = EpochInputs::from_json(data, &limits) {
        let bytes = inputs.canonical_bytes().expect("canonical bytes");
        let again = EpochInputs::from_json(&bytes, &limits).expect("canonical bytes decode");
        assert_eq!(again, inputs);
        assert_eq!(again.cid().expect("cid"), inputs.cid().expect("cid"));
    }
});
