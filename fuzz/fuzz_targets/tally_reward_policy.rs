//! Policies, signed policies and sealed manifests on arbitrary bytes: no
//! panic; a decoded policy re-encodes canonically to the same policy, and a
//! decoded signed policy never verifies against a key that did not sign it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_reward::keys::{SigningKey, TrustedKeys};
use tally_reward::manifest::SealedManifest;
use tally_reward::policy::{Policy, SignedPolicy};

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = Policy::from_json(data) {
        let bytes = policy.canonical_bytes().expect("canonical bytes");
        assert_eq!(Policy::from_json(&bytes).expect("re-decode"), policy);
    }
    if let Ok(signed) = SignedPolicy::from_json(data) {
        let mut trusted = TrustedKeys::new();
        trusted
            .insert(&SigningKey::from_seed(&[42; 32]).public_key())
            .expect("key");
        // Forging an Ed25519 signature from fuzz input would be a break.
        assert!(signed.verify(&trusted).is_err());
    }
    let _ = SealedManifest::from_json(data);
    let _ = TrustedKeys::from_json(data);
});
