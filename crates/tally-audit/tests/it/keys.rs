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

/// An in-memory key store with one injectable failing step, standing in for
/// the key file and its staged `.next` beside it.
#[derive(Default)]
struct MemKeys {
    current: Option<AuditKey>,
    next: Option<AuditKey>,
    fail: Option<&'static str>,
}

#[derive(Clone, Default)]
struct MemSink(std::sync::Arc<std::sync::Mutex<MemKeys>>);

impl MemSink {
    fn keys(&self) -> std::sync::MutexGuard<'_, MemKeys> {
        self.0.lock().unwrap()
    }
    fn step(&self, name: &'static str) -> std::io::Result<()> {
        if self.keys().fail == Some(name) {
            return Err(std::io::Error::other(format!("injected {name} failure")));
        }
        Ok(())
    }
}

impl KeySink for MemSink {
    fn store(&mut self, key: &AuditKey) -> std::io::Result<()> {
        self.step("store")?;
        self.keys().current = Some(key.clone());
        Ok(())
    }
    fn stage_next(&mut self, key: &AuditKey) -> std::io::Result<()> {
        self.step("stage")?;
        self.keys().next = Some(key.clone());
        Ok(())
    }
    fn commit_next(&mut self) -> std::io::Result<()> {
        self.step("commit")?;
        let mut k = self.keys();
        let next = k.next.take();
        k.current = next;
        Ok(())
    }
    fn staged_next(&mut self) -> std::io::Result<Option<AuditKey>> {
        Ok(self.keys().next.clone())
    }
    fn discard_next(&mut self) -> std::io::Result<()> {
        self.keys().next = None;
        Ok(())
    }
}

/// A forward-secure rotation interrupted at every step (the key store
/// failing to stage or to commit, the log write or its sync failing) never
/// leaves a log that no key opens: after a crash, the writer reopens with
/// whatever the key store holds, keeps the key the log names, and the whole
/// log verifies with both initial keys.
#[test]
fn an_interrupted_forward_secure_rotation_never_loses_the_key() {
    use tally_audit::storage::{Faults, SimLog};
    let k0 = fixed_key();
    let k1 = AuditKey::from_bytes(vec![0x77; 32]).unwrap();
    let write_fails = Faults {
        write_eio_permille: 1000,
        ..Faults::default()
    };
    let sync_fails = Faults {
        sync_fail_permille: 1000,
        ..Faults::default()
    };
    let cases: [(&str, Option<&'static str>, Faults); 5] = [
        ("nothing fails", None, Faults::default()),
        (
            "staging the next key fails",
            Some("stage"),
            Faults::default(),
        ),
        ("the log write fails", None, write_fails),
        ("the log sync fails", None, sync_fails),
        (
            "committing the next key fails",
            Some("commit"),
            Faults::default(),
        ),
    ];
    for seed in 0..8u64 {
        for (what, key_fault, log_faults) in cases {
            let sink = MemSink::default();
            sink.keys().current = Some(k0.clone());
            let fs = |s: &MemSink| ForwardSecure {
                epoch_records: 2,
                sink: Box::new(s.clone()),
            };
            let sim = SimLog::new(Vec::new(), Faults::default(), seed);
            let log = AuditLog::create_with(
                Box::new(sim.clone()),
                LogOptions::new()
                    .key(k0.clone())
                    .forward_secure(fs(&sink))
                    .checkpoint_every(0),
            )
            .unwrap();
            for i in 0..5 {
                log.append(format!("{{\"before\":{i}}}").as_bytes())
                    .unwrap();
            }
            let in_memory = log.len();
            sink.keys().fail = key_fault;
            sim.set_faults(log_faults);
            let rotated = log.rotate_key(k1.clone());
            assert_eq!(
                rotated.is_ok(),
                key_fault.is_none() && log_faults == Faults::default(),
                "{what}"
            );
            if key_fault == Some("stage") {
                assert_eq!(log.len(), in_memory, "{what}: nothing staged in the log");
                assert!(!log.is_poisoned(), "{what}");
            }
            drop(log);
            // Crash: the log keeps what was durable (plus a random part of
            // the rest); the key store keeps what it stored.
            let image = sim.crash_image();
            sink.keys().fail = None;
            let current = sink.keys().current.clone().unwrap();
            let reopened = SimLog::new(image, Faults::default(), seed);
            let (log, _) = AuditLog::open_with(
                Box::new(reopened.clone()),
                LogOptions::new().key(current).forward_secure(fs(&sink)),
            )
            .unwrap_or_else(|e| panic!("{what} (seed {seed}): the log does not open: {e}"));
            assert!(
                sink.keys().next.is_none(),
                "{what}: the staged key is resolved"
            );
            log.append(b"{\"after\":1}").unwrap();
            drop(log);
            let both = VerifyOptions::new().keys(Keyring::new().with(k0.clone()).with(k1.clone()));
            let summary = VerifiedReader::new(&reopened.contents()[..], &both)
                .verify_all()
                .unwrap_or_else(|e| panic!("{what} (seed {seed}): {e}"));
            assert!(summary.records >= 7, "{what}");
        }
    }
}

#[test]
fn a_key_file_rotation_stages_the_next_key_beside_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fs.jsonl");
    let key_path = dir.path().join("writer.key");
    let k0 = fixed_key();
    let k1 = AuditKey::from_bytes(vec![0x77; 32]).unwrap();
    k0.store_file(&key_path).unwrap();
    let sink = KeyFileSink::new(&key_path);
    let next_path = sink.next_path();
    let fs = || ForwardSecure {
        epoch_records: 100,
        sink: Box::new(KeyFileSink::new(&key_path)),
    };
    let log = AuditLog::create(
        &path,
        LogOptions::new()
            .key(k0.clone())
            .forward_secure(fs())
            .checkpoint_every(0),
    )
    .unwrap();
    log.append(b"1").unwrap();
    log.rotate_key(k1.clone()).unwrap();
    assert!(!next_path.exists(), "committed");
    assert_eq!(AuditKey::load_file(&key_path).unwrap().kid(), k1.kid());
    log.append(b"2").unwrap();
    drop(log);
    // A crash after the rotation record became durable but before the
    // rename: the key file still holds the old key, the next one is beside.
    k0.store_file(&key_path).unwrap();
    k1.store_file(&next_path).unwrap();
    let (log, _) = AuditLog::open(
        &path,
        LogOptions::new().key(k0.clone()).forward_secure(fs()),
    )
    .unwrap();
    log.append(b"3").unwrap();
    drop(log);
    assert!(!next_path.exists());
    assert_eq!(AuditKey::load_file(&key_path).unwrap().kid(), k1.kid());
    // A staged key the log does not name is discarded.
    let other = AuditKey::from_bytes(vec![0x31; 32]).unwrap();
    other.store_file(&next_path).unwrap();
    let (log, _) = AuditLog::open(
        &path,
        LogOptions::new().key(k1.clone()).forward_secure(fs()),
    )
    .unwrap();
    drop(log);
    assert!(!next_path.exists());
}

/// The Debug forms of every type that holds an HMAC key or a signing seed
/// are pinned to exact strings, taken from the very values built from the
/// secret bytes (nothing is evolved or re-derived first): a type that
/// printed its secret in any form (hex, decimal, base64, derived Debug)
/// would differ. The secret's hex, raw and base64 forms are also searched for.
#[test]
fn secret_holders_print_exact_redacted_debug() {
    let secret = *b"tally-audit-test-key-0123456789!";
    let seed = *b"tally-audit-signer-seed-01234567";
    let key = AuditKey::from_bytes(secret.to_vec()).unwrap();
    let signer = CheckpointSigner::from_seed("example.org/audit", &seed).unwrap();
    let kid = key.kid().to_string();
    let vkey = signer.verifier().to_vkey();
    let sid = vkey.split('+').nth(1).unwrap().to_owned();
    let key_debug =
        format!("AuditKey {{ kid: MacKeyId({kid}), epoch: 0, secret: \"<redacted>\" }}");
    let signer_debug = format!("CheckpointSigner {{ name: \"example.org/audit\", id: {sid}, .. }}");
    let keyring = Keyring::new().with(key.clone());
    let forward_secure = ForwardSecure {
        epoch_records: 2,
        sink: Box::new(KeyFileSink::new("/keys/audit.key")),
    };
    let options = LogOptions::new()
        .key(key.clone())
        .old_keys(keyring.clone())
        .signer(CheckpointSigner::from_seed("example.org/audit", &seed).unwrap())
        .forward_secure(ForwardSecure {
            epoch_records: 2,
            sink: Box::new(KeyFileSink::new("/keys/audit.key")),
        });
    let verify_options = VerifyOptions::new().keys(keyring.clone());
    let printed = [
        (format!("{key:?}"), key_debug.clone()),
        (format!("{signer:?}"), signer_debug.clone()),
        (
            format!("{keyring:?}"),
            format!("Keyring {{ keys: [{key_debug}] }}"),
        ),
        (
            format!("{forward_secure:?}"),
            "ForwardSecure { epoch_records: 2, .. }".to_owned(),
        ),
        (
            format!("{options:?}"),
            format!(
                "LogOptions {{ durability: Batch, key: Some({key_debug}), old_keys: Keyring {{ keys: [{key_debug}] }}, \
                 signer: Some({signer_debug}), forward_secure: Some(ForwardSecure {{ epoch_records: 2, .. }}), \
                 checkpoint_every: 65536, checkpoint_on_close: true, max_payload_bytes: 16777216, \
                 trust_checkpoint_prefix: false, origin: None, log_id: None, proof_index: false }}"
            ),
        ),
        (
            format!("{verify_options:?}"),
            format!(
                "VerifyOptions {{ keys: Keyring {{ keys: [{key_debug}] }}, checkpoint_key: None, \
                 trusted: None, max_payload_bytes: 16777216 }}"
            ),
        ),
    ];
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let forbidden = [
        hex(&secret)[..16].to_owned(),
        "tally-audit-test".to_owned(),
        b64(&secret)[..12].to_owned(),
        hex(&seed)[..16].to_owned(),
        "tally-audit-signer".to_owned(),
        b64(&seed)[..12].to_owned(),
        format!("{:?}", &secret[..4])
            .trim_end_matches(']')
            .to_owned(),
        format!("{:?}", &seed[..4]).trim_end_matches(']').to_owned(),
    ];
    for (debug, expected) in &printed {
        assert_eq!(debug, expected);
        for f in &forbidden {
            assert!(!debug.contains(f.as_str()), "{f} in {debug}");
        }
    }
    // The forbidden forms are the ones the secrets really have.
    assert!(key.to_file_text().contains(&hex(&secret)));
    assert!(
        signer
            .to_skey()
            .contains(&b64(&[&[1u8][..], &seed].concat())[..40])
    );
}
