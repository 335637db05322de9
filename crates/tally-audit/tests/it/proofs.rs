//! Inclusion and consistency proofs from a log, checked by the RFC 9162
//! verifiers and against an independent recursive Merkle definition.

use proptest::prelude::*;
use tally_audit::merkle::{leaf_hash, node_hash, verify_consistency, verify_inclusion};
use tally_audit::*;

use crate::common::*;

/// RFC 6962 MTH by its recursive definition (independent of the index).
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => tally_audit::merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_proof_verifies_and_a_wrong_one_does_not(
        n in 1u64..300, i in any::<prop::sample::Index>(), m in any::<prop::sample::Index>(),
    ) {
        let leaves: Vec<Hash> = (0..n).map(|x| leaf_hash(&x.to_be_bytes())).collect();
        let mut index = ProofIndex::new();
        for l in &leaves { index.push(*l); }
        let i = i.index(n as usize) as u64;
        let m = m.index(n as usize + 1) as u64;
        let root = index.root(n).unwrap();
        prop_assert_eq!(root, mth(&leaves));
        prop_assert_eq!(index.root(m).unwrap(), mth(&leaves[..m as usize]));
        let proof = index.inclusion_proof(i, n).unwrap();
        verify_inclusion(&leaves[i as usize], i, n, &proof, &root).unwrap();
        let other = (i + 1) % n;
        if other != i {
            prop_assert!(verify_inclusion(&leaves[other as usize], i, n, &proof, &root).is_err());
        }
        let cproof = index.consistency_proof(m, n).unwrap();
        let old_root = index.root(m).unwrap();
        verify_consistency(m, n, &old_root, &root, &cproof).unwrap();
        if m > 0 && m < n {
            let mut bad = cproof.clone();
            bad[0][0] ^= 1;
            prop_assert!(verify_consistency(m, n, &old_root, &root, &bad).is_err());
            prop_assert!(verify_consistency(m, n, &leaves[0], &root, &cproof).is_err() || m == 1);
        }
        prop_assert_eq!(index.frontier(m).unwrap().root(), old_root);
    }
}

#[test]
fn a_record_line_proves_its_inclusion_under_a_signed_checkpoint() {
    let bytes = sim_log(40, Some(fixed_key()), 16);
    let (index, summary) =
        ProofIndex::from_log(&bytes[..], &verify_opts(Some(fixed_key()))).unwrap();
    assert_eq!(index.root(summary.records).unwrap(), summary.root);
    let (cp_seq, cp) = summary.last_checkpoint.clone().unwrap();
    assert_eq!(cp.size(), cp_seq);
    // A third party holds only the line, the proof and the signed checkpoint.
    let line = &lines(&bytes)[7];
    let rec = Record::parse_line(line).unwrap();
    let proof = index.inclusion_proof(rec.seq, cp.size()).unwrap();
    verify_inclusion(
        &leaf_hash(&rec.digest),
        rec.seq,
        cp.size(),
        &proof,
        cp.root(),
    )
    .unwrap();
    // Consistency between the two checkpoints in the log.
    let first = 16 + 1;
    let c = index.consistency_proof(first, cp.size()).unwrap();
    verify_consistency(first, cp.size(), &index.root(first).unwrap(), cp.root(), &c).unwrap();
    assert!(index.inclusion_proof(cp.size(), cp.size()).is_err());
    assert!(index.consistency_proof(2, index.size() + 1).is_err());
}

#[test]
fn oversized_proofs_are_refused() {
    let h = [0u8; 32];
    let long = vec![h; tally_audit::merkle::MAX_PROOF_HASHES + 1];
    assert!(verify_inclusion(&h, 0, u64::MAX, &long, &h).is_err());
    assert!(verify_consistency(1, u64::MAX, &h, &h, &long).is_err());
}

/// A log with its own id, signed by the shared test signer, with `n` data
/// records and a final checkpoint.
fn signed_log(id: u8, key: Option<AuditKey>, n: u64) -> Vec<u8> {
    let sim = storage::SimLog::new(Vec::new(), storage::Faults::default(), 1);
    let mut opts = LogOptions::new()
        .log_id(LogId::from_bytes([id; 16]))
        .signer(signer())
        .checkpoint_every(0)
        .durability(Durability::None);
    if let Some(k) = key {
        opts = opts.key(k);
    }
    let log = AuditLog::create_with(Box::new(sim.clone()), opts).unwrap();
    for i in 0..n {
        log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
    log.close().unwrap();
    sim.contents()
}

fn zero_hash(line: &str) -> String {
    let at = line.find("\"hash\":\"").unwrap() + 8;
    format!("{}{}{}", &line[..at], "0".repeat(64), &line[at + 64..])
}

#[test]
fn a_proof_binds_the_record_hash() {
    let vkey = signer().verifier();
    let none = Keyring::new();
    // Plain: the hash is the digest, checked by anyone.
    let plain = signed_log(1, None, 6);
    let proof = InclusionProof::from_log(&plain[..], 3, &verify_opts(None)).unwrap();
    let back = InclusionProof::parse(&proof.to_json()).unwrap();
    assert_eq!(back, proof);
    let proven = proof.verify(&vkey, &none).unwrap();
    assert!(proven.hash_checked);
    assert_eq!((proven.record.seq, proven.mode), (3, Mode::Plain));
    let mut zeroed = proof.clone();
    zeroed.record = zero_hash(&proof.record);
    let err = zeroed.verify(&vkey, &none).unwrap_err();
    assert!(err.to_string().contains("hash is not its digest"), "{err}");
    // Keyed: the hash is a MAC, checked by whoever holds the key; without
    // the key the proof says it did not check it.
    let keyed = signed_log(2, Some(fixed_key()), 6);
    let proof = InclusionProof::from_log(&keyed[..], 3, &verify_opts(Some(fixed_key()))).unwrap();
    let with_key = Keyring::new().with(fixed_key());
    assert!(proof.verify(&vkey, &with_key).unwrap().hash_checked);
    assert!(!proof.verify(&vkey, &none).unwrap().hash_checked);
    let mut zeroed = proof.clone();
    zeroed.record = zero_hash(&proof.record);
    let err = zeroed.verify(&vkey, &with_key).unwrap_err();
    assert!(err.to_string().contains("hash is not its MAC"), "{err}");
}

#[test]
fn a_proof_binds_its_log_id() {
    let vkey = signer().verifier();
    let none = Keyring::new();
    // Two logs that share a signer and an origin.
    let a = signed_log(1, None, 6);
    let b = signed_log(2, None, 6);
    let pa = InclusionProof::from_log(&a[..], 3, &verify_opts(None)).unwrap();
    let pb = InclusionProof::from_log(&b[..], 3, &verify_opts(None)).unwrap();
    assert_ne!(pa.log_id, pb.log_id);
    assert_eq!(
        pa.verify(&vkey, &none).unwrap().log_id,
        LogId::from_bytes([1; 16])
    );
    assert_eq!(
        pb.verify(&vkey, &none).unwrap().log_id,
        LogId::from_bytes([2; 16])
    );
    // Claiming the other log's id, with or without its header, fails.
    let mut claim = pa.clone();
    claim.log_id = pb.log_id;
    assert!(claim.verify(&vkey, &none).is_err());
    claim.header = pb.header.clone();
    claim.header_proof = pb.header_proof.clone();
    assert!(claim.verify(&vkey, &none).is_err());
    // A proof file without the header (the old form) is refused.
    let mut v: serde_json::Value = serde_json::from_str(&pa.to_json()).unwrap();
    v.as_object_mut().unwrap().remove("header");
    let err = InclusionProof::parse(&v.to_string()).unwrap_err();
    assert!(err.to_string().contains("missing member header"), "{err}");
    // Not covered by a checkpoint: no proof.
    let n = lines(&a).len() as u64;
    assert!(matches!(
        InclusionProof::from_log(&a[..], n - 1, &verify_opts(None)),
        Err(AuditError::OutOfRange { .. })
    ));
}
