//! Tampering is detected: flipped bytes, deleted, duplicated, reordered and
//! spliced lines, truncation against a trusted checkpoint; and a keyed chain
//! cannot be recomputed without the key (while a plain one can).

use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tally_audit::*;

use crate::common::*;

const RECORDS: u64 = 12;

fn keyed_log() -> (Vec<u8>, VerifyOptions) {
    let bytes = sim_log(RECORDS, Some(fixed_key()), 5);
    let opts = verify_opts(Some(fixed_key()));
    let summary = verify_bytes(&bytes, &opts).unwrap();
    let trusted = Checkpoint::new(&summary.header.origin, summary.records, summary.root).unwrap();
    (bytes, opts.trusted_checkpoint(trusted))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_flipped_byte_is_detected(pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let (mut bytes, opts) = keyed_log();
        let i = pos.index(bytes.len());
        bytes[i] ^= mask;
        prop_assert!(verify_bytes(&bytes, &opts).is_err(), "flip at {i}");
    }

    #[test]
    fn pipelined_and_streaming_verifiers_agree(
        pos in any::<prop::sample::Index>(), mask in 0u8..=255, trusted in any::<bool>(),
    ) {
        let (mut bytes, opts) = keyed_log();
        let opts = if trusted { opts } else { verify_opts(Some(fixed_key())) };
        let i = pos.index(bytes.len());
        bytes[i] ^= mask;
        let streaming = verify_bytes(&bytes, &opts);
        let pipelined = replay(&bytes[..], &opts, |_| Ok::<(), std::io::Error>(())).map_err(AuditError::from);
        match (streaming, pipelined) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.root, b.root);
                prop_assert_eq!(a.records, b.records);
                prop_assert_eq!(a.torn_tail, b.torn_tail);
            }
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.code(), b.code());
                prop_assert_eq!(a.seq(), b.seq());
                prop_assert_eq!(a.offset(), b.offset());
            }
            (a, b) => prop_assert!(false, "streaming {:?} vs pipelined {:?}", a.map(|s| s.records), b.map(|s| s.records)),
        }
    }

    #[test]
    fn deleted_duplicated_or_reordered_lines_are_detected(
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        op in 0u8..3,
    ) {
        let (bytes, opts) = keyed_log();
        let mut ls = lines(&bytes);
        let (i, j) = (a.index(ls.len()), b.index(ls.len()));
        match op {
            0 => { ls.remove(i); }
            1 => { let l = ls[i].clone(); ls.insert(j, l); }
            _ => {
                prop_assume!(i != j && ls[i] != ls[j]);
                ls.swap(i, j);
            }
        }
        prop_assert!(verify_bytes(&ls.concat(), &opts).is_err());
    }

    #[test]
    fn truncation_against_a_checkpoint_is_detected(cut in any::<prop::sample::Index>()) {
        let (bytes, opts) = keyed_log();
        let at = cut.index(bytes.len());
        let err = verify_bytes(&bytes[..at], &opts).unwrap_err();
        prop_assert!(
            matches!(err, AuditError::Truncated { .. } | AuditError::NotALog { .. }),
            "{err}"
        );
    }

    #[test]
    fn spliced_record_from_another_log_is_detected(pos in any::<prop::sample::Index>()) {
        let (bytes, opts) = keyed_log();
        // Same key, same content, different log id.
        let other = {
            let sim = tally_audit::storage::SimLog::new(Vec::new(), Default::default(), 3);
            let log = AuditLog::create_with(
                Box::new(sim.clone()),
                LogOptions::new().key(fixed_key()).signer(signer()).checkpoint_every(5)
                    .checkpoint_on_close(false).durability(Durability::None),
            ).unwrap();
            for i in 0..RECORDS {
                log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
            }
            drop(log);
            sim.contents()
        };
        let mut ls = lines(&bytes);
        let theirs = lines(&other);
        let i = pos.index(ls.len().min(theirs.len()));
        ls[i] = theirs[i].clone();
        prop_assert!(verify_bytes(&ls.concat(), &opts).is_err());
    }

    #[test]
    fn keyed_chain_cannot_be_recomputed_without_the_key(
        guess in prop::collection::vec(any::<u8>(), 32..64),
        at in 1usize..=RECORDS as usize,
    ) {
        prop_assume!(guess != vec![0x42; 32]);
        let bytes = plain_or_keyed(Some(fixed_key()));
        let forged = forge(&bytes, at, Some(&guess));
        let opts = VerifyOptions::new().keys(Keyring::new().with(fixed_key()));
        let err = verify_bytes(&forged, &opts).unwrap_err();
        prop_assert!(matches!(err, AuditError::HashMismatch { .. }), "{err}");
    }
}

fn plain_or_keyed(key: Option<AuditKey>) -> Vec<u8> {
    let sim = tally_audit::storage::SimLog::new(Vec::new(), Default::default(), 9);
    let mut opts = LogOptions::new()
        .checkpoint_every(0)
        .checkpoint_on_close(false)
        .durability(Durability::None);
    if let Some(k) = key {
        opts = opts.key(k);
    }
    let log = AuditLog::create_with(Box::new(sim.clone()), opts).unwrap();
    for i in 0..RECORDS {
        log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
    drop(log);
    sim.contents()
}

/// An attacker with write access: changes record `at`'s payload and
/// recomputes every later hash per FORMAT.md, with `key` as the MAC key.
fn forge(bytes: &[u8], at: usize, key: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev: Option<String> = None;
    for (i, line) in lines(bytes).iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_slice(line).unwrap();
        if i < at {
            prev = Some(v["hash"].as_str().unwrap().to_owned());
            out.extend_from_slice(line);
            continue;
        }
        let prev_hex = prev.clone().unwrap();
        let payload = if i == at {
            br#"{"n":"forged"}"#.to_vec()
        } else {
            serde_json::to_vec(&v["payload"]).unwrap()
        };
        let seq = v["seq"].as_u64().unwrap();
        let kid = v["kid"].as_str().map(|k| {
            let b: Vec<u8> = (0..16)
                .step_by(2)
                .map(|j| u8::from_str_radix(&k[j..j + 2], 16).unwrap())
                .collect();
            b
        });
        let prev_bytes: Vec<u8> = (0..64)
            .step_by(2)
            .map(|j| u8::from_str_radix(&prev_hex[j..j + 2], 16).unwrap())
            .collect();
        let mut h = Sha256::new();
        h.update(b"tally/audit/record/v1");
        h.update(seq.to_be_bytes());
        h.update([1u8]);
        match &kid {
            Some(k) => {
                h.update([1u8]);
                h.update(k);
            }
            None => h.update([0u8; 9]),
        }
        h.update(0u64.to_be_bytes());
        h.update(&prev_bytes);
        h.update((payload.len() as u64).to_be_bytes());
        h.update(&payload);
        let digest: [u8; 32] = h.finalize().into();
        let hash: [u8; 32] = match key {
            Some(k) => {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(k).unwrap();
                m.update(&digest);
                m.finalize().into_bytes().into()
            }
            None => digest,
        };
        let hash_hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        v["prev"] = serde_json::Value::String(prev_hex);
        v["hash"] = serde_json::Value::String(hash_hex.clone());
        let kid_json = match &kid {
            Some(_) => format!("\"{}\"", v["kid"].as_str().unwrap()),
            None => "null".into(),
        };
        out.extend_from_slice(
            format!(
                "{{\"v\":1,\"seq\":{seq},\"kind\":\"data\",\"kid\":{kid_json},\"epoch\":0,\"prev\":\"{}\",\"hash\":\"{hash_hex}\",\"payload\":{}}}\n",
                v["prev"].as_str().unwrap(),
                String::from_utf8(payload).unwrap()
            )
            .as_bytes(),
        );
        prev = Some(hash_hex);
    }
    out
}

#[test]
fn plain_chain_can_be_recomputed_so_only_a_checkpoint_detects_it() {
    let bytes = plain_or_keyed(None);
    let summary = verify_bytes(&bytes, &VerifyOptions::new()).unwrap();
    let forged = forge(&bytes, 3, None);
    // The forgery verifies on its own: the residual risk of a plain log.
    verify_bytes(&forged, &VerifyOptions::new()).unwrap();
    // Against the checkpoint taken before, it is a fork.
    let trusted = Checkpoint::new(&summary.header.origin, summary.records, summary.root).unwrap();
    let err = verify_bytes(&forged, &VerifyOptions::new().trusted_checkpoint(trusted)).unwrap_err();
    assert!(matches!(err, AuditError::Forked { .. }), "{err}");
}

#[test]
fn errors_name_sequence_and_offset() {
    let bytes = plain_or_keyed(None);
    let ls = lines(&bytes);
    let offset: usize = ls[..4].iter().map(Vec::len).sum();
    let mut bad = ls.clone();
    bad[4] = String::from_utf8(bad[4].clone())
        .unwrap()
        .replace("{\"n\":3}", "{\"n\":4}")
        .into_bytes();
    let err = verify_bytes(&bad.concat(), &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(err, AuditError::HashMismatch { seq: 4, .. }),
        "{err}"
    );
    assert_eq!(err.offset(), Some(offset as u64));
    assert_eq!(err.code(), "audit.hash_mismatch");

    let mut gap = ls.clone();
    gap.remove(4);
    let err = verify_bytes(&gap.concat(), &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::SequenceMismatch {
                expected: 4,
                found: 5,
                ..
            }
        ),
        "{err}"
    );
    let mut dup = ls.clone();
    dup.insert(4, ls[3].clone());
    let err = verify_bytes(&dup.concat(), &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::SequenceMismatch {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );

    let mut utf = ls.clone();
    utf[2] = String::from_utf8(utf[2].clone())
        .unwrap()
        .replace("{\"n\":1}", "{\"n\":\"\u{e9}\"}")
        .into_bytes();
    let pos = utf[2].iter().position(|&b| b == 0xc3).unwrap();
    utf[2][pos] = 0xff;
    let err = verify_bytes(&utf.concat(), &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(err, AuditError::InvalidUtf8 { seq: Some(2), .. }),
        "{err}"
    );

    let mut v2 = ls.clone();
    v2[3] = String::from_utf8(v2[3].clone())
        .unwrap()
        .replacen("{\"v\":1", "{\"v\":2", 1)
        .into_bytes();
    let err = verify_bytes(&v2.concat(), &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(err, AuditError::UnsupportedVersion { version: 2, .. }),
        "{err}"
    );

    // A reader who offers a key refuses a plain log: it may be a keyed log
    // rewritten without the key (a downgrade).
    let err = verify_bytes(
        &bytes,
        &VerifyOptions::new().keys(Keyring::new().with(fixed_key())),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::KeyMode { seq: 0, .. }), "{err}");
    let keyed = plain_or_keyed(Some(fixed_key()));
    let other = AuditKey::from_bytes(vec![1; 32]).unwrap();
    let err = verify_bytes(
        &keyed,
        &VerifyOptions::new().keys(Keyring::new().with(other)),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::WrongKey { seq: 0, .. }), "{err}");
}

/// A keyed, signed log rewritten from scratch as a plain log with the same
/// log id, origin and checkpoint key, new payloads, its checkpoints dropped
/// (the forger cannot sign): everything about it verifies as a plain log.
fn downgraded() -> Vec<u8> {
    let keyed = sim_log(6, Some(fixed_key()), 3);
    let plain = sim_log(6, None, 0);
    let header = |b: &[u8]| {
        let first = lines(b)[0].clone();
        let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
        (
            v["payload"]["log_id"].clone(),
            v["payload"]["origin"].clone(),
        )
    };
    assert_eq!(header(&keyed), header(&plain));
    verify_bytes(&plain, &VerifyOptions::new()).unwrap();
    plain
}

#[test]
fn a_reader_with_a_key_refuses_a_plain_log() {
    let plain = downgraded();
    let err = verify_bytes(
        &plain,
        &VerifyOptions::new().keys(Keyring::new().with(fixed_key())),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::KeyMode { seq: 0, .. }), "{err}");
    let err = replay(&plain[..], &verify_opts(Some(fixed_key())), |_| {
        Ok::<(), std::io::Error>(())
    })
    .unwrap_err();
    assert!(
        matches!(err, ReplayError::Log(AuditError::KeyMode { seq: 0, .. })),
        "{err}"
    );
    // The writer refuses it too.
    let sim = storage::SimLog::new(plain, storage::Faults::default(), 0);
    let err = AuditLog::open_with(Box::new(sim), LogOptions::new().key(fixed_key())).unwrap_err();
    assert!(matches!(err, AuditError::KeyMode { seq: 0, .. }), "{err}");
}

#[test]
fn a_reader_with_a_checkpoint_key_refuses_a_plain_log_without_checkpoints() {
    let plain = downgraded();
    let err = verify_bytes(&plain, &verify_opts(None)).unwrap_err();
    assert!(
        matches!(err, AuditError::NoCheckpoint { records: 7 }),
        "{err}"
    );
    let err = replay(&plain[..], &verify_opts(None), |_| {
        Ok::<(), std::io::Error>(())
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            ReplayError::Log(AuditError::NoCheckpoint { records: 7 })
        ),
        "{err}"
    );
    // A plain log with a signed checkpoint verifies with the checkpoint key,
    // and the summary says it is plain.
    let signed = sim_log(6, None, 3);
    let summary = verify_bytes(&signed, &verify_opts(None)).unwrap();
    assert_eq!(summary.mode, Mode::Plain);
    assert_eq!(summary.mode.to_string(), "plain");
    let keyed = sim_log(6, Some(fixed_key()), 3);
    let summary = verify_bytes(&keyed, &verify_opts(Some(fixed_key()))).unwrap();
    assert_eq!(summary.mode, Mode::Keyed);
}
