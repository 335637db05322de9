//! NUT-10 secrets, NUT-11/14 conditions and witnesses on arbitrary input: no
//! panic; valid conditions re-serialize to a secret with the same conditions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_cashu::nuts::nut00::Witness;
use tally_cashu::nuts::nut10::Nut10Secret;
use tally_cashu::nuts::nut11::{SpendingConditions, WitnessData};
use tally_cashu::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Nut10Secret::parse(&text);
    if let Ok(secret) = Secret::new(text.as_ref()) {
        if let Ok(Some(conditions)) = SpendingConditions::from_secret(&secret) {
            if let Ok(again) = conditions.to_secret("fuzz") {
                let parsed = SpendingConditions::from_secret(&again).expect("re-parse");
                assert_eq!(parsed, Some(conditions));
            }
        }
    }
    if let Ok(witness) = Witness::new(text.as_ref()) {
        if let Ok(parsed) = WitnessData::parse(&witness) {
            let again = parsed.to_witness().expect("re-encode");
            let reparsed = WitnessData::parse(&again).expect("re-parse");
            assert_eq!(reparsed.signatures, parsed.signatures);
        }
    }
});
