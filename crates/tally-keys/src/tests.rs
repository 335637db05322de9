use std::os::unix::fs::PermissionsExt;

use super::*;

const SEED7_ID: &str = "2b2e70e97475b613";
const SEED7_PUBLIC: &str = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";

/// Written by the reward engine's own key code before this crate existed
/// (`tally_reward::keys`, commit 287f8e4): a secret key file and a
/// trusted-keys file of seed `[7; 32]`, and its signature over `hello` in
/// the manifest domain.
const OLD_SECRET_FILE: &str = "tally-reward-ed25519-secret-v1:0707070707070707070707070707070707070707070707070707070707070707\n";
const OLD_TRUSTED_FILE: &str = r#"{
  "keys": [
    {
      "key_id": "2b2e70e97475b613",
      "public_key": "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    }
  ]
}"#;
const OLD_MANIFEST_SIG: &str = "d134269233568bb4ddeb07e25a413d551ab9d841f3fc0b1bd2480ff8476ae3587151cef6416a21a1bc565cf99a0bb78d50ffe9fd4e9c10934e04fe14b833aa00";

fn key7() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

#[test]
fn key_ids_match_the_golden_vectors() {
    let k = key7();
    assert_eq!(k.id().to_string(), SEED7_ID);
    assert_eq!(hex::encode(&k.public_key()), SEED7_PUBLIC);
    assert_eq!(
        SigningKey::from_seed(&[1; 32]).id().to_string(),
        "3f9ac050dbec8be0"
    );
    assert_eq!(k.verifying_key().id(), k.id());
    assert_eq!(KeyId::of(&k.public_key()), k.id());
    assert_eq!(SEED7_ID.parse::<KeyId>().unwrap(), k.id());
    for bad in [
        "2B2E70E97475B613",
        "2b2e70e97475b6",
        "2b2e70e97475b61300",
        "",
    ] {
        assert!(bad.parse::<KeyId>().is_err(), "{bad}");
    }
}

#[test]
fn files_written_by_the_old_reward_code_load() {
    let k = SigningKey::parse(OLD_SECRET_FILE).unwrap();
    assert_eq!(k.id().to_string(), SEED7_ID);
    let trusted = TrustedKeys::from_json(OLD_TRUSTED_FILE.as_bytes()).unwrap();
    assert_eq!(trusted.len(), 1);
    let sig = Signature(hex::decode_array(OLD_MANIFEST_SIG, Case::Lower).unwrap());
    assert_eq!(k.sign("tally/reward/manifest/v1", b"hello"), sig);
    trusted
        .verify("tally/reward/manifest/v1", b"hello", k.id(), &sig)
        .unwrap();
    // The trusted-keys file is written exactly as before.
    assert_eq!(
        TrustedKeys::file_text(&[k.trusted_entry()]),
        OLD_TRUSTED_FILE
    );
}

#[test]
fn the_secret_key_file_format_round_trips_and_is_strict() {
    let k = key7();
    let text = k.to_file_text();
    assert_eq!(
        text.as_str(),
        "tally-ed25519-secret-v1:0707070707070707070707070707070707070707070707070707070707070707\n"
    );
    assert_eq!(SigningKey::parse(&text).unwrap().id(), k.id());
    for bad in [
        "",
        "tally-ed25519-secret-v1:",
        "tally-ed25519-secret-v1:00",
        "tally-ed25519-secret-v2:0707070707070707070707070707070707070707070707070707070707070707",
        "tally-ed25519-secret-v1:0707070707070707070707070707070707070707070707070707070707070707x",
        "tally-ed25519-secret-v1:0707070707070707070707070707070707070707070707070707070707070707\nmore",
        "tally-ed25519-secret-v1:07070707070707070707070707070707070707070707070707070707070707AA",
    ] {
        let err = SigningKey::parse(bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key: expected `tally-ed25519-secret-v1:` and 64 lower-case hex digits",
            "{bad:?}"
        );
    }
    assert_eq!(
        format!("{k:?}"),
        format!("SigningKey({SEED7_ID}, <redacted>)")
    );
    assert_eq!(
        format!("{:?}", k.verifying_key()),
        format!("VerifyingKey({SEED7_ID})")
    );
}

#[test]
fn key_files_are_private_0600_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    let k = SigningKey::generate().unwrap();
    k.create_file(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(SigningKey::read_file(&path).unwrap().id(), k.id());
    assert!(matches!(
        k.create_file(&path),
        Err(KeyError::File(FileError::Exists { .. }))
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        SigningKey::read_file(&path),
        Err(KeyError::File(FileError::NotPrivate { mode: 0o644, .. }))
    ));
    // A legacy file loads from disk too; a bad one is named.
    let legacy = dir.path().join("legacy");
    tally_files::private::create(&legacy, OLD_SECRET_FILE.as_bytes()).unwrap();
    assert_eq!(
        SigningKey::read_file(&legacy).unwrap().id().to_string(),
        SEED7_ID
    );
    let bad = dir.path().join("bad");
    tally_files::private::create(&bad, b"nope\n").unwrap();
    assert_eq!(
        SigningKey::read_file(&bad).unwrap_err().to_string(),
        format!(
            "{}: invalid key: expected `tally-ed25519-secret-v1:` and 64 lower-case hex digits",
            bad.display()
        )
    );
}

#[test]
fn signatures_are_domain_separated() {
    let k = key7();
    let mut trusted = TrustedKeys::new();
    assert_eq!(trusted.insert(&k.public_key()).unwrap(), k.id());
    let sig = k.sign("tally/reward/manifest/v1", b"doc");
    trusted
        .verify("tally/reward/manifest/v1", b"doc", k.id(), &sig)
        .unwrap();
    assert!(matches!(
        trusted.verify("tally/reward/policy/v1", b"doc", k.id(), &sig),
        Err(KeyError::BadSignature { key_id }) if key_id == k.id()
    ));
    assert!(matches!(
        trusted.verify("tally/reward/manifest/v1", b"doc!", k.id(), &sig),
        Err(KeyError::BadSignature { .. })
    ));
    let stranger = SigningKey::from_seed(&[8; 32]);
    assert_eq!(
        trusted
            .verify("tally/reward/manifest/v1", b"doc", stranger.id(), &sig)
            .unwrap_err()
            .to_string(),
        format!("key {} is not trusted", stranger.id())
    );
    // A domain-separated signature is a valid Ed25519 signature over bytes
    // holding 0x00, which a NUL-free format never signs or accepts.
    let signed = b"tally/reward/manifest/v1\0doc";
    assert!(k.verifying_key().verify_nul_free(signed, &sig).is_err());
    assert!(k.sign_nul_free(signed).is_err());
    // And a NUL-free signature is valid in no domain.
    let note = k.sign_nul_free(b"origin\n1\n").unwrap();
    k.verifying_key()
        .verify_nul_free(b"origin\n1\n", &note)
        .unwrap();
    assert!(k.verifying_key().verify("origin\n1\n", b"", &note).is_err());
    assert!(k.verifying_key().verify("", b"origin\n1\n", &note).is_err());
}

#[test]
fn trusted_keys_files_are_checked_and_bounded() {
    let k = key7();
    let wrong_id = OLD_TRUSTED_FILE.replace(SEED7_ID, "0000000000000000");
    assert_eq!(
        TrustedKeys::from_json(wrong_id.as_bytes())
            .unwrap_err()
            .to_string(),
        "invalid key: a key id is not the id of its public key"
    );
    let upper = OLD_TRUSTED_FILE.replace(SEED7_PUBLIC, &SEED7_PUBLIC.to_uppercase());
    assert!(TrustedKeys::from_json(upper.as_bytes()).is_err());
    assert!(matches!(
        TrustedKeys::from_json(b"{\"keys\":[],\"x\":1}"),
        Err(KeyError::Json { .. })
    ));
    // A small-order point is not a key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        VerifyingKey::from_bytes(&identity).unwrap_err().to_string(),
        "invalid key: an Ed25519 public key of small order"
    );
    // At most MAX_TRUSTED_KEYS keys.
    let entries: Vec<TrustedKey> = (0..=MAX_TRUSTED_KEYS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SigningKey::from_seed(&seed).trusted_entry()
        })
        .collect();
    let at_limit = TrustedKeys::file_text(&entries[..MAX_TRUSTED_KEYS]);
    assert_eq!(
        TrustedKeys::from_json(at_limit.as_bytes()).unwrap().len(),
        MAX_TRUSTED_KEYS
    );
    let past = TrustedKeys::file_text(&entries);
    assert_eq!(
        TrustedKeys::from_json(past.as_bytes())
            .unwrap_err()
            .to_string(),
        "invalid key: more than 1,024 trusted keys"
    );
    // At most MAX_TRUSTED_FILE_BYTES bytes, checked before decoding.
    let mut big = OLD_TRUSTED_FILE.as_bytes().to_vec();
    big.resize(MAX_TRUSTED_FILE_BYTES as usize, b' ');
    assert_eq!(TrustedKeys::from_json(&big).unwrap().len(), 1);
    big.push(b' ');
    assert_eq!(
        TrustedKeys::from_json(&big).unwrap_err().to_string(),
        "invalid key: a trusted-keys file is at most 1 MiB"
    );
    // Files are named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trusted.json");
    std::fs::write(&path, wrong_id).unwrap();
    assert_eq!(
        TrustedKeys::read_file(&path).unwrap_err().to_string(),
        format!(
            "{}: invalid key: a key id is not the id of its public key",
            path.display()
        )
    );
    std::fs::write(&path, "{\"keys\":[],\"x\":1}").unwrap();
    let message = TrustedKeys::read_file(&path).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("{}: invalid trusted keys: ", path.display())),
        "{message}"
    );
    std::fs::write(&path, OLD_TRUSTED_FILE).unwrap();
    assert_eq!(
        TrustedKeys::read_file(&path)
            .unwrap()
            .get(k.id())
            .map(VerifyingKey::to_bytes),
        Some(k.public_key())
    );
}
