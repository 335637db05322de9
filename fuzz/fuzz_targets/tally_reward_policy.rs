//! Policies, signed policies and sealed manifests on arbitrary bytes: no
//! panic; a decoded policy re-encodes canonically to the same policy, and a
//! decoded signed policy never verifies against a key that did not sign it;
//! a decoded sealed manifest re-encodes to itself, and its post-quantum
//! (ML-DSA-65) seal never verifies against a key that did not make it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_reward::keys::{MlDsaSigningKey, MlDsaTrustedKeys, SigningKey, TrustedKeys};
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
    if let Ok(sealed) = SealedManifest::from_json(data) {
        let bytes = tally_reward::jcs::canonical(&sealed).expect("encode");
        assert_eq!(SealedManifest::from_json(&bytes).expect("re-decode"), sealed);
        let mut pq = MlDsaTrustedKeys::new();
        assert!(pq.insert(MlDsaSigningKey::from_seed(&[43; 32]).verifying_key()));
        // Forging an ML-DSA signature from fuzz input would be a break: a
        // present seal fails, an absent one fails when required.
        assert!(sealed.verify_pq(&pq, true).is_err());
        assert_eq!(sealed.verify_pq(&pq, false).is_ok(), sealed.pq.is_none());
    }
    let _ = TrustedKeys::from_json(data);
});
