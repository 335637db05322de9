//! The committed seeds of the `tally_audit_*` fuzz targets (`fuzz/seeds/`)
//! are real logs, proofs and notes written by this library. They are
//! deterministic (fixed log ids, keys and Ed25519 seeds), so this test
//! rebuilds them and compares them with the committed files byte for byte.
//! To rewrite the files after a format change:
//!
//! ```sh
//! TALLY_WRITE_FUZZ_SEEDS=1 cargo test -p tally-audit --test it fuzz_seeds
//! ```

use std::path::PathBuf;

use tally_audit::storage::{Faults, SimLog};
use tally_audit::*;

use crate::common::{LOG_ID, fixed_key, signer};

/// The key a keyed seed log rotates to (the fuzz targets hold it too).
fn second_key() -> AuditKey {
    AuditKey::from_bytes(vec![0x43; 32]).unwrap()
}

/// Stores evolved keys nowhere: the seeds need only the log.
struct Nowhere;

impl KeySink for Nowhere {
    fn store(&mut self, _: &AuditKey) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_id(last: u8) -> LogId {
    let mut id = LOG_ID;
    id[15] = last;
    LogId::from_bytes(id)
}

/// Writes a small log: three data records, a checkpoint, two more records
/// (rotating the key between them when `rotate`), and one more checkpoint.
fn write_log(opts: LogOptions, rotate: bool) -> Vec<u8> {
    let sim = SimLog::new(Vec::new(), Faults::default(), 1);
    let log = AuditLog::create_with(
        Box::new(sim.clone()),
        opts.durability(Durability::None)
            .checkpoint_every(0)
            .checkpoint_on_close(false),
    )
    .unwrap();
    for i in 0..3 {
        log.append(format!("{{\"n\":{i},\"decision\":\"allow\"}}").as_bytes())
            .unwrap();
    }
    log.checkpoint().unwrap();
    log.append(br#"{"n":3,"tags":["a","b"],"cost":{"minor":1250}}"#)
        .unwrap();
    if rotate {
        log.rotate_key(second_key()).unwrap();
    }
    log.append(br#"{"n":4,"note":"caf\u00e9"}"#).unwrap();
    log.checkpoint().unwrap();
    log.close().unwrap();
    sim.contents()
}

/// The seed logs: plain unsigned, plain signed, keyed (with a rotation),
/// forward-secure; all but the first with signed checkpoints.
fn logs() -> Vec<(&'static str, Vec<u8>, Option<Keyring>)> {
    let base = |last| LogOptions::new().log_id(log_id(last));
    let both = Keyring::new().with(fixed_key()).with(second_key());
    vec![
        ("plain_unsigned", write_log(base(1), false), None),
        ("plain", write_log(base(2).signer(signer()), false), None),
        (
            "keyed",
            write_log(base(3).signer(signer()).key(fixed_key()), true),
            Some(both),
        ),
        (
            "forward_secure",
            write_log(
                base(4)
                    .signer(signer())
                    .key(fixed_key())
                    .forward_secure(ForwardSecure {
                        epoch_records: 2,
                        sink: Box::new(Nowhere),
                    }),
                false,
            ),
            Some(Keyring::new().with(fixed_key())),
        ),
    ]
}

/// Every seed: `(target, file name, bytes)`.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, bytes, keys) in logs() {
        let mut opts = VerifyOptions::new();
        if let Some(k) = keys.clone() {
            opts = opts.keys(k);
        }
        let summary = VerifiedReader::new(&bytes[..], &opts).verify_all().unwrap();
        assert_eq!(summary.records, 8 + u64::from(name == "keyed"), "{name}");
        out.push(("tally_audit_log", format!("{name}.jsonl"), bytes.clone()));
        if name == "plain_unsigned" {
            continue;
        }
        let text = String::from_utf8(bytes.clone()).unwrap();
        // The checkpoint notes as stored in the checkpoint records.
        for (i, line) in text.lines().enumerate() {
            let rec = Record::parse_line(line.as_bytes()).unwrap();
            if rec.kind == RecordKind::Checkpoint {
                let payload: serde_json::Value = serde_json::from_slice(&rec.payload).unwrap();
                let note = payload["note"].as_str().unwrap().to_owned();
                out.push(("tally_audit_proof", format!("{name}_note_{i}"), note.into()));
            }
        }
        for seq in [0, 2, 4] {
            let proof = InclusionProof::from_log(&bytes[..], seq, &opts).unwrap();
            out.push((
                "tally_audit_proof",
                format!("{name}_proof_{seq}.json"),
                proof.to_json().into_bytes(),
            ));
        }
        let line = text.lines().nth(2).unwrap();
        out.push((
            "tally_audit_proof",
            format!("{name}_record_2"),
            line.as_bytes().to_vec(),
        ));
    }
    out.push((
        "tally_audit_proof",
        "verifier_key".into(),
        signer().verifier().to_vkey().into_bytes(),
    ));
    out.push((
        "tally_audit_proof",
        "key_file".into(),
        fixed_key().to_file_text().as_bytes().to_vec(),
    ));
    out
}

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

#[test]
fn fuzz_seeds_are_the_logs_this_library_writes() {
    let seeds = seeds();
    assert_eq!(seeds.len(), 4 + 3 * (2 + 3 + 1) + 2);
    let write = std::env::var_os("TALLY_WRITE_FUZZ_SEEDS").is_some();
    for (target, name, bytes) in &seeds {
        let path = seed_dir(target).join(name);
        if write {
            std::fs::create_dir_all(seed_dir(target)).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (see this module's docs)", path.display()));
        assert!(
            committed == *bytes,
            "{} differs from what the library writes now (see this module's docs)",
            path.display()
        );
    }
    for target in ["tally_audit_log", "tally_audit_proof"] {
        let mut committed: Vec<String> = std::fs::read_dir(seed_dir(target))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        committed.sort();
        let mut expected: Vec<String> = seeds
            .iter()
            .filter(|(t, _, _)| *t == target)
            .map(|(_, n, _)| n.clone())
            .collect();
        expected.sort();
        assert_eq!(committed, expected, "files in {target}'s seed directory");
    }
}

fn agree(a: &Result<VerifySummary>, b: &Result<VerifySummary>) -> std::result::Result<(), String> {
    match (a, b) {
        (Ok(a), Ok(b))
            if (a.records, a.root, a.head, a.mode, a.torn_tail)
                == (b.records, b.root, b.head, b.mode, b.torn_tail) =>
        {
            Ok(())
        }
        (Err(a), Err(b)) if (a.code(), a.seq(), a.offset()) == (b.code(), b.seq(), b.offset()) => {
            Ok(())
        }
        _ => Err(format!(
            "streaming {:?} vs pipelined {:?}",
            a.as_ref().map(|s| s.records).map_err(AuditError::code),
            b.as_ref().map(|s| s.records).map_err(AuditError::code)
        )),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// What the `tally_audit_log` fuzz target checks, in the ordinary test
    /// run: a seed log with a few bytes changed and perhaps cut short never
    /// panics a reader or the writer's open, and the streaming and the
    /// two-thread verifiers return the same result.
    #[test]
    fn edited_seed_logs_never_panic_and_both_verifiers_agree(
        which in 0usize..4,
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..4),
        cut in proptest::prelude::any::<Option<proptest::sample::Index>>(),
    ) {
        let (_, mut bytes, keys) = logs().swap_remove(which);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let keyring = keys.unwrap_or_default();
        for opts in [
            VerifyOptions::new(),
            VerifyOptions::new().keys(keyring.clone()).checkpoint_key(signer().verifier()),
        ] {
            let streaming = VerifiedReader::new(&bytes[..], &opts).verify_all();
            let pipelined = replay(&bytes[..], &opts, |_| Ok::<(), AuditError>(())).map_err(AuditError::from);
            proptest::prop_assert_eq!(agree(&streaming, &pipelined), Ok(()));
        }
        for trust in [false, true] {
            let sim = SimLog::new(bytes.clone(), Faults::default(), 0);
            let _ = AuditLog::open_with(
                Box::new(sim),
                LogOptions::new().key(fixed_key()).trust_checkpoint_prefix(trust),
            );
        }
    }
}
