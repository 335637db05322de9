use std::os::unix::fs::PermissionsExt;

use super::*;

/// Wycheproof `mldsa_65_sign_seed_test.json` (C2SP/wycheproof, commit
/// dac1dd4), group 1, test 1 ("baseline"): the seed 0x2a × 32, the BLAKE3
/// of its public key, and of the deterministic signature of "Hello world"
/// with an empty context (the files hold the full values; BLAKE3 keeps
/// these 5 KiB out of the source).
const KAT_SEED: [u8; 32] = [0x2a; 32];
const KAT_PUBLIC_BLAKE3: &str = "5426533cae4671613ff65c832160a099360cd94ef5ae2850c4a6af0979eeae5e";
const KAT_SIG_BLAKE3: &str = "66987155702edd63355ed4b19dfb8db9e2499c9c3be78281331a8755ecd32884";

fn blake3_hex(bytes: &[u8]) -> String {
    hex::encode(blake3::hash(bytes).as_bytes())
}

#[test]
fn key_generation_and_deterministic_signing_match_the_fips_204_known_answers() {
    let key = MlDsaSigningKey::from_seed(&KAT_SEED);
    let public = key.verifying_key();
    assert_eq!(blake3_hex(public.to_bytes()), KAT_PUBLIC_BLAKE3);
    // FIPS 204 ML-DSA.Sign (deterministic variant) over the raw message.
    let sig = key.key.try_sign(b"Hello world").unwrap();
    assert_eq!(blake3_hex(sig.encode().as_slice()), KAT_SIG_BLAKE3);
    assert_eq!(public.id(), KeyId::of_ml_dsa(public.to_bytes()));
    assert_eq!(key.id(), public.id());
}

#[test]
fn signatures_round_trip_and_bind_domain_message_and_key() {
    let key = MlDsaSigningKey::from_seed(&[7; 32]);
    let other = MlDsaSigningKey::from_seed(&[8; 32]);
    let public = key.verifying_key();
    let sig = key.sign("tally/test/v1", b"message").unwrap();
    // Deterministic: the same signature again.
    assert_eq!(key.sign("tally/test/v1", b"message").unwrap(), sig);
    public.verify("tally/test/v1", b"message", &sig).unwrap();
    assert!(public.verify("tally/test/v2", b"message", &sig).is_err());
    assert!(public.verify("tally/test/v1", b"messagf", &sig).is_err());
    assert!(matches!(
        other
            .verifying_key()
            .verify("tally/test/v1", b"message", &sig),
        Err(KeyError::BadSignature { .. })
    ));
    // Every byte flipped in turn at a few places: refused, never a panic.
    for at in [0, 1, 47, 48, 1_000, 3_000, ML_DSA_SIGNATURE_BYTES - 1] {
        let mut bytes = *sig.as_bytes();
        bytes[at] ^= 1;
        let tampered = MlDsaSignature::from_slice(&bytes).unwrap();
        assert!(
            public
                .verify("tally/test/v1", b"message", &tampered)
                .is_err(),
            "{at}"
        );
    }
    // A signature that does not decode (hint bytes out of range).
    let junk = MlDsaSignature::from_slice(&[0xff; ML_DSA_SIGNATURE_BYTES]).unwrap();
    assert!(public.verify("tally/test/v1", b"message", &junk).is_err());
    let mut trusted = MlDsaTrustedKeys::new();
    assert!(trusted.insert(public));
    trusted
        .verify("tally/test/v1", b"message", key.id(), &sig)
        .unwrap();
    assert!(matches!(
        trusted.verify("tally/test/v1", b"message", other.id(), &sig),
        Err(KeyError::UntrustedKey { .. })
    ));
}

#[test]
fn the_ed25519_and_ml_dsa_ids_of_one_seed_differ() {
    assert_ne!(
        MlDsaSigningKey::from_seed(&[7; 32]).id(),
        crate::SigningKey::from_seed(&[7; 32]).id()
    );
}

#[test]
fn signature_text_is_bounded_and_strict() {
    let sig = MlDsaSigningKey::from_seed(&[7; 32])
        .sign("d", b"m")
        .unwrap();
    let text = serde_json::to_string(&sig).unwrap();
    assert_eq!(text.len(), ML_DSA_SIGNATURE_BYTES * 2 + 2);
    assert_eq!(serde_json::from_str::<MlDsaSignature>(&text).unwrap(), sig);
    let hex_text = &text[1..text.len() - 1];
    for bad in [
        format!("\"{}\"", &hex_text[2..]),
        format!("\"{hex_text}00\""),
        format!("\"{}\"", hex_text.to_uppercase()),
        format!("\"{}\"", "a".repeat(1 << 20)),
        "\"\"".to_owned(),
        "7".to_owned(),
    ] {
        assert!(serde_json::from_str::<MlDsaSignature>(&bad).is_err());
    }
    assert!(MlDsaSignature::from_slice(&[0; 10]).is_err());
}

#[test]
fn key_files_round_trip_private_and_public() {
    let dir = tempfile::tempdir().unwrap();
    let key = MlDsaSigningKey::generate().unwrap();
    let secret = dir.path().join("pq.key");
    key.create_file(&secret).unwrap();
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(key.create_file(&secret).is_err(), "never replaces a file");
    let loaded = MlDsaSigningKey::read_file(&secret).unwrap();
    assert_eq!(loaded.id(), key.id());
    let text = key.to_file_text();
    assert!(text.starts_with(ML_DSA_SECRET_PREFIX));
    assert!(!format!("{key:?}").contains(&text[ML_DSA_SECRET_PREFIX.len()..][..16]));
    // A secret file others can read is refused.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(MlDsaSigningKey::read_file(&secret).is_err());

    let public = dir.path().join("pq.pub");
    std::fs::write(&public, key.verifying_key().to_file_text()).unwrap();
    let read = MlDsaVerifyingKey::read_file(&public).unwrap();
    assert_eq!(read, key.verifying_key());
    assert_eq!(read.id(), key.id());
    let keys = MlDsaTrustedKeys::read_files(&[&public]).unwrap();
    assert_eq!(keys.len(), 1);
}

#[test]
fn bad_key_texts_are_refused() {
    let public = MlDsaSigningKey::from_seed(&[7; 32])
        .verifying_key()
        .to_file_text();
    for bad in [
        public.replace(ML_DSA_PUBLIC_PREFIX, "tally-ml-dsa-87-public-v1:"),
        public.trim_end()[..public.len() - 3].to_owned(),
        format!("{}00", public.trim_end()),
        public.to_uppercase(),
        String::new(),
    ] {
        assert!(MlDsaVerifyingKey::parse(&bad).is_err());
    }
    assert!(MlDsaVerifyingKey::from_bytes(&[0; 32]).is_err());
    for bad in [
        "tally-ml-dsa-65-secret-v1:00",
        "tally-ed25519-secret-v1:0707070707070707070707070707070707070707070707070707070707070707",
        "",
    ] {
        assert!(MlDsaSigningKey::parse(bad).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pub");
    std::fs::write(&big, vec![b'a'; 9_000]).unwrap();
    assert!(MlDsaVerifyingKey::read_file(&big).is_err());
}

#[test]
fn the_trusted_set_is_bounded() {
    let mut keys = MlDsaTrustedKeys::new();
    for i in 0..MAX_ML_DSA_TRUSTED_KEYS {
        let seed = [u8::try_from(i).unwrap(); 32];
        assert!(keys.insert(MlDsaSigningKey::from_seed(&seed).verifying_key()));
    }
    assert!(!keys.insert(MlDsaSigningKey::from_seed(&[200; 32]).verifying_key()));
    // The same key again is not a new one.
    assert!(keys.insert(MlDsaSigningKey::from_seed(&[0; 32]).verifying_key()));
    assert_eq!(keys.len(), MAX_ML_DSA_TRUSTED_KEYS);
}

#[test]
fn a_trusted_keys_file_carries_ml_dsa_keys_for_both_readers() {
    let dir = tempfile::tempdir().unwrap();
    let ed = crate::SigningKey::from_seed(&[3; 32]);
    let pq = MlDsaSigningKey::from_seed(&[4; 32]);
    let entry = pq.verifying_key().trusted_entry();
    assert_eq!(entry.key_id, pq.id());
    // The entry's value is a public key file.
    assert_eq!(
        MlDsaVerifyingKey::parse(&entry.public_key).unwrap(),
        pq.verifying_key()
    );
    let doc = serde_json::json!({"keys": [ed.trusted_entry()], "ml_dsa_keys": [entry]});
    let path = dir.path().join("keys.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    // The Ed25519 reader takes the file (the ML-DSA keys aside) ...
    let ed_keys = crate::TrustedKeys::read_file(&path).unwrap();
    assert_eq!(ed_keys.len(), 1);
    assert!(ed_keys.get(ed.id()).is_some());
    // ... and the ML-DSA reader its ML-DSA keys, with public key files.
    let public = dir.path().join("pq.pub");
    std::fs::write(
        &public,
        MlDsaSigningKey::from_seed(&[5; 32])
            .verifying_key()
            .to_file_text(),
    )
    .unwrap();
    let keys = MlDsaTrustedKeys::read_files(&[&path, &public]).unwrap();
    assert_eq!(keys.len(), 2);
    let sig = pq.sign("example/v1", b"m").unwrap();
    keys.verify("example/v1", b"m", pq.id(), &sig).unwrap();
    // A file without ML-DSA keys gives none; a wrong id or an unknown
    // member is refused.
    let plain = crate::TrustedKeys::file_text(&[ed.trusted_entry()]);
    assert!(
        MlDsaTrustedKeys::from_json(plain.as_bytes())
            .unwrap()
            .is_empty()
    );
    let mut wrong = doc.clone();
    wrong["ml_dsa_keys"][0]["key_id"] = serde_json::json!(ed.id().to_string());
    let wrong = serde_json::to_vec(&wrong).unwrap();
    assert!(MlDsaTrustedKeys::from_json(&wrong).is_err());
    let mut extra = doc;
    extra["ml_dsa_keys"][0]["alg"] = serde_json::json!("ml-dsa-65");
    let extra = serde_json::to_vec(&extra).unwrap();
    assert!(MlDsaTrustedKeys::from_json(&extra).is_err());
    assert!(crate::TrustedKeys::from_json(&extra).is_err());
}
