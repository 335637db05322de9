//! A whole audit log from arbitrary bytes, read every way a log is read: the
//! streaming verifier and the two-thread one (unkeyed, and with the fixed key
//! and checkpoint key of the committed seeds), and opening it for append.
//! No panic; the two verifiers agree exactly; a log that verifies
//! re-verifies with the same summary; a log that opens (verifying every
//! record) still verifies after one more append. Slow inputs (anything but
//! linear work) are caught by `./scripts/fuzz`'s per-input timeout.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tally_audit::storage::{Faults, SimLog};
use tally_audit::{
    AuditError, AuditKey, AuditLog, CheckpointSigner, Durability, Keyring, LogOptions,
    NoteVerifier, Result, VerifiedReader, VerifyOptions, VerifySummary, replay,
};

/// The key and signer of the committed seeds (see
/// `crates/tally-audit/tests/it/fuzz_seeds.rs`).
fn key() -> AuditKey {
    AuditKey::from_bytes(vec![0x42; 32]).expect("a 32-byte key")
}

/// The keys of the committed seeds (the keyed seed rotates from the first
/// to the second).
fn keyring() -> Keyring {
    Keyring::new().with(key()).with(second_key())
}

fn second_key() -> AuditKey {
    AuditKey::from_bytes(vec![0x43; 32]).expect("a 32-byte key")
}

/// The seeds' checkpoint key, derived once (deriving it costs a scalar
/// multiplication per input otherwise).
fn verifier() -> NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            CheckpointSigner::from_seed("example.org/audit", &[7; 32])
                .expect("a valid name")
                .verifier()
        })
        .clone()
}

/// Small limits keep each run short; the limits themselves are tested
/// elsewhere.
const MAX_PAYLOAD: usize = 64 * 1024;

fn same(a: &VerifySummary, b: &VerifySummary) {
    assert_eq!(a.mode, b.mode);
    assert_eq!(a.header, b.header);
    assert_eq!(a.records, b.records);
    assert_eq!(a.root, b.root);
    assert_eq!(a.head, b.head);
    assert_eq!(a.last_checkpoint, b.last_checkpoint);
    assert_eq!(a.torn_tail, b.torn_tail);
}

fn agree(a: &Result<VerifySummary>, b: &Result<VerifySummary>) {
    match (a, b) {
        (Ok(a), Ok(b)) => same(a, b),
        (Err(a), Err(b)) => {
            assert_eq!(a.code(), b.code(), "{a} / {b}");
            assert_eq!(a.seq(), b.seq(), "{a} / {b}");
            assert_eq!(a.offset(), b.offset(), "{a} / {b}");
        }
        (a, b) => panic!(
            "the verifiers disagree: streaming ok {}, pipelined ok {}",
            a.is_ok(),
            b.is_ok()
        ),
    }
}

fn verify(data: &[u8], opts: &VerifyOptions) -> Result<VerifySummary> {
    let streaming = VerifiedReader::new(data, opts).verify_all();
    let pipelined = replay(data, opts, |_| Ok::<(), std::io::Error>(())).map_err(AuditError::from);
    agree(&streaming, &pipelined);
    if let Ok(summary) = &streaming {
        let again = VerifiedReader::new(data, opts).verify_all();
        same(
            summary,
            again.as_ref().expect("a verified log verifies again"),
        );
    }
    streaming
}

/// Opens `data` for append (verifying every record, or trusting the signed
/// prefix), appends one record and closes; a fully verified open must leave
/// a log that verifies.
fn open_and_append(data: &[u8], key: Option<AuditKey>, trust: bool) {
    let sim = SimLog::new(data.to_vec(), Faults::default(), 0);
    // No signer: the open still checks every checkpoint signature against
    // the header's key; the writer then writes no checkpoint.
    let mut opts = LogOptions::new()
        .durability(Durability::None)
        .max_payload_bytes(MAX_PAYLOAD)
        .trust_checkpoint_prefix(trust);
    let mut vopts = VerifyOptions::new().max_payload_bytes(MAX_PAYLOAD);
    if let Some(k) = key {
        vopts = vopts.keys(keyring());
        opts = opts.key(k);
    }
    let Ok((log, _report)) = AuditLog::open_with(Box::new(sim.clone()), opts) else {
        return;
    };
    let appended = log.append(br#"{"fuzz":1}"#).is_ok();
    let closed = log.close().is_ok();
    if !trust && appended && closed {
        let after = sim.contents();
        if let Err(e) = VerifiedReader::new(&after[..], &vopts).verify_all() {
            panic!("a log that opened and took an append does not verify: {e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let plain = VerifyOptions::new().max_payload_bytes(MAX_PAYLOAD);
    let unkeyed = verify(data, &plain);
    let keyed = VerifyOptions::new()
        .max_payload_bytes(MAX_PAYLOAD)
        .keys(keyring())
        .checkpoint_key(verifier());
    let _ = verify(data, &keyed);
    // The writer needs the key the header asks for: open keyed only what
    // the unkeyed reader refused for want of a key (which saves the work
    // of opens that fail at once on the header).
    let keys = match unkeyed {
        Err(AuditError::KeyRequired { .. }) => vec![Some(key()), Some(second_key())],
        _ => vec![None, Some(key())],
    };
    for trust in [false, true] {
        for key in &keys {
            open_and_append(data, key.clone(), trust);
        }
    }
});
