//! Proof files (inclusion and consistency), checkpoint notes, note keys,
//! workspace key files and trusted-keys files, and record lines from
//! arbitrary text: no panic; whatever parses re-encodes to something that
//! parses to the same value; proofs verify (or not) against the fixed
//! checkpoint key of the committed seeds, with and without the HMAC key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tally_audit::{
    AuditKey, Checkpoint, CheckpointSigner, ConsistencyProof, InclusionProof, Keyring,
    NoteVerifier, Record,
};

/// The key and signer of the committed seeds (see
/// `crates/tally-audit/tests/it/fuzz_seeds.rs`).
fn key() -> AuditKey {
    AuditKey::from_bytes(vec![0x42; 32]).expect("a 32-byte key")
}

/// The keys of the committed seeds (the keyed seed rotates from the first
/// to the second).
fn keyring() -> Keyring {
    Keyring::new()
        .with(key())
        .with(AuditKey::from_bytes(vec![0x43; 32]).expect("a 32-byte key"))
}

/// The seeds' checkpoint key, derived once.
fn verifier() -> &'static NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        CheckpointSigner::from_seed("example.org/audit", &[7; 32])
            .expect("a valid name")
            .verifier()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Record::parse_line(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let vkey = verifier();
    if let Ok(proof) = InclusionProof::parse(text) {
        let again = InclusionProof::parse(&proof.to_json()).expect("to_json parses");
        assert_eq!(again, proof);
        let unkeyed = proof.verify(vkey, &Keyring::new());
        let keyed = proof.verify(vkey, &keyring());
        if let (Ok(a), Ok(b)) = (&unkeyed, &keyed) {
            assert_eq!(a.record, b.record);
            assert_eq!(a.tree_size, b.tree_size);
            assert!(!a.hash_checked || b.hash_checked);
        }
        if let Ok(p) = &keyed {
            assert_eq!(p.record.seq, proof.seq);
            assert_eq!(p.log_id, proof.log_id);
        }
    }
    if let Ok(proof) = ConsistencyProof::parse(text) {
        let again = ConsistencyProof::parse(&proof.to_json()).expect("to_json parses");
        assert_eq!(again, proof);
        let _ = proof.verify(vkey);
    }
    if let Ok(key) = tally_keys::SigningKey::parse(text) {
        let back = tally_keys::SigningKey::parse(&key.to_file_text()).expect("file text parses");
        assert_eq!(back.id(), key.id());
    }
    if let Ok(trusted) = tally_keys::TrustedKeys::from_json(data) {
        let entries: Vec<_> = trusted.iter().map(|k| k.trusted_entry()).collect();
        let text = tally_keys::TrustedKeys::file_text(&entries);
        let back = tally_keys::TrustedKeys::from_json(text.as_bytes()).expect("file text parses");
        assert_eq!(back.len(), trusted.len());
        if let Ok(v) = NoteVerifier::for_note(text.as_str(), &trusted) {
            let _ = v.to_vkey();
        }
    }
    if let Ok(cp) = vkey.open_checkpoint(text) {
        assert_eq!(vkey.open(text).expect("it opened"), cp.body());
    }
    if let Ok(cp) = Checkpoint::parse_body(text) {
        // One spelling only: the body re-encodes to the very same text.
        assert_eq!(cp.body(), text);
    }
    if let Ok(v) = NoteVerifier::parse(text) {
        assert_eq!(
            NoteVerifier::parse(&v.to_vkey()).expect("to_vkey parses"),
            v
        );
    }
    if let Ok(s) = CheckpointSigner::parse(text) {
        let back = CheckpointSigner::parse(&s.to_skey()).expect("to_skey parses");
        assert_eq!(back.verifier(), s.verifier());
    }
    if let Ok(k) = AuditKey::parse(text) {
        let back = AuditKey::parse(&k.to_file_text()).expect("to_file_text parses");
        assert_eq!((back.kid(), back.epoch()), (k.kid(), k.epoch()));
    }
});
