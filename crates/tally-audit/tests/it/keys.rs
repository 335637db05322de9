//! Keys: rotation, forward-secure evolution with erasure, wrong keys, key
//! files and the environment.

use std::os::unix::fs::PermissionsExt;

use tally_audit::*;

use crate::common::*;

#[test]
fn rotation_is_a_record_and_both_keys_verify_their_parts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let k1 = fixed_key();
    let k2 = AuditKey::from_bytes(vec![0x55; 40]).unwrap();
    let log = AuditLog::create(
        &path,
        LogOptions::new()
            .key(k1.clone())
            .durability(Durability::None),
    )
    .unwrap();
    log.append(b"1").unwrap();
    let r = log.rotate_key(k2.clone()).unwrap();
    log.append(b"2").unwrap();
    log.close().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("\"kind\":\"rotate\",\"kid\":\"{}\"", k1.kid())));
    assert!(text.contains(&format!("\"payload\":{{\"kid\":\"{}\"}}", k2.kid())));
    assert_eq!(r.seq, 2);
    let both = VerifyOptions::new().keys(Keyring::new().with(k1.clone()).with(k2.clone()));
    verify_file(&path, &both).unwrap();
    let only_old = VerifyOptions::new().keys(Keyring::new().with(k1.clone()));
    let err = verify_file(&path, &only_old).unwrap_err();
    assert!(matches!(err, AuditError::WrongKey { seq: 3, .. }), "{err}");
    // The writer reopens with the new key (and the old one to check the tail).
    let (log, _) = AuditLog::open(
        &path,
        LogOptions::new()
            .key(k2.clone())
            .old_keys(Keyring::new().with(k1.clone())),
    )
    .unwrap();
    log.append(b"3").unwrap();
    drop(log);
    let err = AuditLog::open(&path, LogOptions::new().key(k1)).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::InvalidKey { .. } | AuditError::WrongKey { .. }
        ),
        "{err}"
    );
}

#[test]
fn forward_secure_keys_evolve_are_erased_and_bind_the_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fs.jsonl");
    let key_path = dir.path().join("writer.key");
    let k0 = fixed_key();
    k0.store_file(&key_path).unwrap();
    let fs = || ForwardSecure {
        epoch_records: 3,
        sink: Box::new(KeyFileSink::new(&key_path)),
    };
    let log = AuditLog::create(
        &path,
        LogOptions::new()
            .key(k0.clone())
            .forward_secure(fs())
            .durability(Durability::None)
            .checkpoint_every(4),
    )
    .unwrap();
    for i in 0..10 {
        log.append(format!("{i}").as_bytes()).unwrap();
    }
    log.close().unwrap();
    // The key file now holds a later epoch; epoch 0 is gone from disk.
    let current = AuditKey::load_file(&key_path).unwrap();
    assert!(current.epoch() >= 3, "epoch {}", current.epoch());
    assert_eq!(current.kid(), k0.kid());
    // The auditor with the initial key verifies everything.
    verify_file(
        &path,
        &VerifyOptions::new().keys(Keyring::new().with(k0.clone())),
    )
    .unwrap();
    // The current key cannot vouch for (or forge) earlier epochs.
    let err = verify_file(
        &path,
        &VerifyOptions::new().keys(Keyring::new().with(current.clone())),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::WrongKey {
                seq: 0,
                epoch: 0,
                ..
            }
        ),
        "{err}"
    );
    // Relabelling a record's epoch (keeping its MAC) breaks it: the epoch is
    // bound into every MAC.
    let text = std::fs::read_to_string(&path).unwrap();
    let forged = text.replacen("\"epoch\":1,", "\"epoch\":2,", 1);
    assert_ne!(forged, text);
    let err = VerifiedReader::new(
        forged.as_bytes(),
        &VerifyOptions::new().keys(Keyring::new().with(k0)),
    )
    .verify_all()
    .unwrap_err();
    assert!(matches!(err, AuditError::HashMismatch { .. }), "{err}");
    // The writer reopens with only its current key and keeps appending.
    let (log, _) =
        AuditLog::open(&path, LogOptions::new().key(current).forward_secure(fs())).unwrap();
    log.append(b"11").unwrap();
}

#[test]
fn key_files_must_be_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let key = AuditKey::generate().unwrap();
    key.store_file(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(AuditKey::load_file(&path).unwrap().kid(), key.kid());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        AuditKey::load_file(&path).unwrap_err(),
        AuditError::InvalidKey { .. }
    ));
    assert!(AuditKey::from_env("TALLY_AUDIT_TEST_KEY_UNSET").is_err());
}

#[test]
fn a_keyed_log_refuses_a_writer_without_its_key() {
    let bytes = sim_log(2, Some(fixed_key()), 0);
    let sim = tally_audit::storage::SimLog::new(bytes, Default::default(), 0);
    let err = AuditLog::open_with(Box::new(sim.clone()), LogOptions::new()).unwrap_err();
    assert!(
        matches!(err, AuditError::KeyRequired { kid: Some(ref k) } if *k == fixed_key().kid().to_string()),
        "{err}"
    );
    let other = AuditKey::from_bytes(vec![9; 32]).unwrap();
    let err = AuditLog::open_with(Box::new(sim), LogOptions::new().key(other)).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::WrongKey { .. } | AuditError::InvalidKey { .. }
        ),
        "{err}"
    );
}
