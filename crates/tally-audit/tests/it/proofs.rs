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

/// A signed log with its own id (and optionally a key) and payloads
/// `{"<tag>":i}`: `before` data records, a checkpoint, `after` more and the
/// closing checkpoint. Returns the bytes.
fn two_checkpoint_log(
    id: u8,
    key: Option<AuditKey>,
    tag: &str,
    before: u64,
    after: u64,
) -> Vec<u8> {
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
    for i in 0..before {
        log.append(format!("{{\"{tag}\":{i}}}").as_bytes()).unwrap();
    }
    log.checkpoint().unwrap();
    for i in 0..after {
        log.append(format!("{{\"{tag}\":{}}}", before + i).as_bytes())
            .unwrap();
    }
    log.close().unwrap();
    sim.contents()
}

/// The consistency proof from the first checkpoint (size `before + 1`) to
/// the last of a [`two_checkpoint_log`].
fn consistency(bytes: &[u8], key: Option<AuditKey>, old_size: u64) -> ConsistencyProof {
    ConsistencyProof::from_log(
        bytes,
        &CheckpointRef::Size(old_size),
        &CheckpointRef::Latest,
        &verify_opts(key),
    )
    .unwrap()
}

/// A note of `origin`, `size` and `root` signed by the shared test signer:
/// what a signer who rewrites history can make.
fn signed_note(size: u64, root: Hash) -> String {
    let cp = Checkpoint::new("example.org/audit", size, root).unwrap();
    signer().sign(&cp.body()).unwrap()
}

#[test]
fn a_consistency_proof_round_trips_and_verifies() {
    let vkey = signer().verifier();
    // header + 5 data, checkpoint of 6 (record 6), 4 data, closing
    // checkpoint of 11.
    let bytes = two_checkpoint_log(1, None, "n", 5, 4);
    let proof = consistency(&bytes, None, 6);
    assert_eq!((proof.old_size, proof.new_size), (6, 11));
    assert_eq!(proof.log_id, LogId::from_bytes([1; 16]));
    assert_eq!(ConsistencyProof::parse(&proof.to_json()).unwrap(), proof);
    assert_eq!(
        ConsistencyProof::parse(&format!("{}\n", proof.to_json())).unwrap(),
        proof
    );
    let proven = proof.verify(&vkey).unwrap();
    assert_eq!(proven.log_id, LogId::from_bytes([1; 16]));
    assert_eq!(proven.origin, "example.org/audit");
    assert_eq!(proven.mode, Mode::Plain);
    assert_eq!((proven.old.size(), proven.new.size()), (6, 11));
    // The old checkpoint given as a note kept outside the log: the same proof.
    let by_note = ConsistencyProof::from_log(
        &bytes[..],
        &CheckpointRef::Note(proof.old_checkpoint.clone()),
        &CheckpointRef::Size(11),
        &verify_opts(None),
    )
    .unwrap();
    assert_eq!(by_note, proof);
    // A checkpoint to itself: an empty path.
    let same = ConsistencyProof::from_log(
        &bytes[..],
        &CheckpointRef::Latest,
        &CheckpointRef::Latest,
        &verify_opts(None),
    )
    .unwrap();
    assert!(same.proof.is_empty());
    assert_eq!(same.verify(&vkey).unwrap().old.size(), 11);
    // Keyed logs prove the same way (no key needed to verify).
    let keyed = two_checkpoint_log(2, Some(fixed_key()), "n", 3, 3);
    let proof = consistency(&keyed, Some(fixed_key()), 4);
    assert_eq!(proof.verify(&vkey).unwrap().mode, Mode::Keyed);
    // No checkpoint of that size, or a newer one older than the old one.
    assert!(matches!(
        ConsistencyProof::from_log(
            &bytes[..],
            &CheckpointRef::Size(5),
            &CheckpointRef::Latest,
            &verify_opts(None)
        ),
        Err(AuditError::OutOfRange { .. })
    ));
    assert!(matches!(
        ConsistencyProof::from_log(
            &bytes[..],
            &CheckpointRef::Latest,
            &CheckpointRef::Size(6),
            &verify_opts(None)
        ),
        Err(AuditError::OutOfRange { .. })
    ));
}

/// Every field of a consistency proof, edited one at a time, is refused.
#[test]
fn every_named_edit_of_a_consistency_proof_is_refused() {
    let vkey = signer().verifier();
    let bytes = two_checkpoint_log(1, None, "n", 5, 4);
    let good = consistency(&bytes, None, 6);
    good.verify(&vkey).unwrap();
    let old = vkey.open_checkpoint(&good.old_checkpoint).unwrap();
    let new = vkey.open_checkpoint(&good.new_checkpoint).unwrap();
    let refused = |p: &ConsistencyProof, why: &str| {
        let err = p.verify(&vkey).unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::Invalid {
                    what: "consistency proof",
                    ..
                }
            ),
            "{why}: {err}"
        );
        assert!(err.to_string().contains(why), "{why} not in {err}");
    };
    let edit = |f: &dyn Fn(&mut ConsistencyProof)| {
        let mut p = good.clone();
        f(&mut p);
        p
    };
    // Either root, re-signed by the signer (a valid signature on a wrong
    // root): the path does not lead there.
    let mut root = *old.root();
    root[0] ^= 1;
    refused(
        &edit(&|p| p.old_checkpoint = signed_note(6, root)),
        "header_proof does not lead",
    );
    let mut root = *new.root();
    root[31] ^= 0x80;
    refused(
        &edit(&|p| p.new_checkpoint = signed_note(11, root)),
        "proof does not lead from the old root to the new root",
    );
    // Either root edited in the note text: the signature breaks.
    let edited = good
        .new_checkpoint
        .replacen(&good.new_checkpoint[22..30], "AAAAAAAA", 1);
    assert_ne!(edited, good.new_checkpoint);
    refused(
        &edit(&|p| p.new_checkpoint = edited.clone()),
        "new_checkpoint",
    );
    // Either size: the member, or a re-signed note of another size.
    refused(&edit(&|p| p.old_size = 5), "old_size is not");
    refused(&edit(&|p| p.new_size = 12), "new_size is not");
    // A size in a note's text: the signature breaks. (A size is the signer's
    // word: a note the signer signs with another size is trusted as signed.)
    let old_text = good.old_checkpoint.replacen("\n6\n", "\n7\n", 1);
    assert_ne!(old_text, good.old_checkpoint);
    refused(
        &edit(&|p| {
            p.old_size = 7;
            p.old_checkpoint = old_text.clone();
        }),
        "old_checkpoint",
    );
    let new_text = good.new_checkpoint.replacen("\n11\n", "\n12\n", 1);
    assert_ne!(new_text, good.new_checkpoint);
    refused(
        &edit(&|p| {
            p.new_size = 12;
            p.new_checkpoint = new_text.clone();
        }),
        "new_checkpoint",
    );
    // The checkpoints swapped: old larger than new.
    refused(
        &edit(&|p| {
            std::mem::swap(&mut p.old_checkpoint, &mut p.new_checkpoint);
            std::mem::swap(&mut p.old_size, &mut p.new_size);
        }),
        "the old checkpoint is larger than the new one",
    );
    // A path hash, a header path hash, a hash dropped or added.
    refused(
        &edit(&|p| p.proof[0][5] ^= 4),
        "proof does not lead from the old root",
    );
    refused(&edit(&|p| p.header_proof[0][0] ^= 1), "header_proof");
    refused(
        &edit(&|p| {
            p.proof.pop();
        }),
        "proof does not lead from the old root",
    );
    refused(
        &edit(&|p| p.proof.push([0; 32])),
        "proof does not lead from the old root",
    );
    // The log id.
    refused(
        &edit(&|p| p.log_id = LogId::from_bytes([9; 16])),
        "log_id is not the one the header names",
    );
    // A signature.
    let at = good.old_checkpoint.rfind(' ').unwrap() + 20;
    let mut sig = good.old_checkpoint.clone().into_bytes();
    sig[at] = if sig[at] == b'A' { b'B' } else { b'A' };
    let sig = String::from_utf8(sig).unwrap();
    refused(&edit(&|p| p.old_checkpoint = sig.clone()), "old_checkpoint");
    // The header's hash in a plain log.
    let head = &good.header;
    let at = head.find("\"hash\":\"").unwrap() + 8;
    let zeroed = format!("{}{}{}", &head[..at], "0".repeat(64), &head[at + 64..]);
    refused(
        &edit(&|p| p.header = zeroed.clone()),
        "the header's hash is not its digest",
    );
    // Another signer's key.
    let other = CheckpointSigner::from_seed("example.org/audit", &[8; 32]).unwrap();
    assert!(good.verify(&other.verifier()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any one bit flipped anywhere in a consistency proof's fields is
    /// refused: by `verify`, or already by `parse` of its file.
    #[test]
    fn any_bit_flip_in_a_consistency_proof_is_refused(
        field in 0usize..8, at in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let vkey = signer().verifier();
        let bytes = two_checkpoint_log(1, None, "n", 5, 4);
        let good = consistency(&bytes, None, 6);
        let mut p = good.clone();
        let flip_text = |t: &mut String| -> bool {
            let mut b = t.clone().into_bytes();
            let i = at.index(b.len());
            b[i] ^= 1 << bit;
            match String::from_utf8(b) {
                Ok(s) => { *t = s; true }
                Err(_) => false,
            }
        };
        let flip_hashes = |h: &mut Vec<Hash>| {
            let i = at.index(h.len() * 32);
            h[i / 32][i % 32] ^= 1 << bit;
        };
        let changed = match field {
            0 => { let mut id = *p.log_id.as_bytes(); id[at.index(16)] ^= 1 << bit; p.log_id = LogId::from_bytes(id); true }
            1 => { p.old_size ^= 1 << (bit + 8 * (at.index(8) as u8)); true }
            2 => { p.new_size ^= 1 << (bit + 8 * (at.index(8) as u8)); true }
            3 => flip_text(&mut p.header),
            4 => { flip_hashes(&mut p.header_proof); true }
            5 => flip_text(&mut p.old_checkpoint),
            6 => flip_text(&mut p.new_checkpoint),
            _ => { flip_hashes(&mut p.proof); true }
        };
        prop_assume!(changed);
        prop_assert_ne!(&p, &good);
        prop_assert!(p.verify(&vkey).is_err(), "accepted: field {field}");
        if let Ok(back) = ConsistencyProof::parse(&p.to_json()) {
            prop_assert!(back.verify(&vkey).is_err());
        }
    }
}

#[test]
fn consistency_proofs_of_two_logs_sharing_a_signer_do_not_cross_verify() {
    let vkey = signer().verifier();
    // Same signer, origin and shape; different log ids.
    let a = two_checkpoint_log(1, None, "n", 5, 4);
    let b = two_checkpoint_log(2, None, "n", 5, 4);
    let pa = consistency(&a, None, 6);
    let pb = consistency(&b, None, 6);
    assert_eq!(pa.verify(&vkey).unwrap().log_id, LogId::from_bytes([1; 16]));
    assert_eq!(pb.verify(&vkey).unwrap().log_id, LogId::from_bytes([2; 16]));
    // A's old checkpoint, B's new one (with or without B's path).
    let mut mix = pa.clone();
    mix.new_checkpoint = pb.new_checkpoint.clone();
    assert!(mix.verify(&vkey).is_err());
    mix.proof = pb.proof.clone();
    assert!(mix.verify(&vkey).is_err());
    // B's old checkpoint and header under A's id, or A's id on B's proof.
    let mut mix = pa.clone();
    mix.old_checkpoint = pb.old_checkpoint.clone();
    assert!(mix.verify(&vkey).is_err());
    mix.header = pb.header.clone();
    mix.header_proof = pb.header_proof.clone();
    assert!(mix.verify(&vkey).is_err());
    mix.log_id = pb.log_id;
    assert!(mix.verify(&vkey).is_err());
    let mut claim = pb.clone();
    claim.log_id = pa.log_id;
    assert!(claim.verify(&vkey).is_err());
    // The prover refuses another log's checkpoint: it is not this log's tree.
    let err = ConsistencyProof::from_log(
        &b[..],
        &CheckpointRef::Note(pa.old_checkpoint.clone()),
        &CheckpointRef::Latest,
        &verify_opts(None),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::Forked { size: 6 }), "{err}");
}

#[test]
fn a_rewritten_history_fails_consistency_with_the_old_checkpoint() {
    let vkey = signer().verifier();
    // The same log (id, signer) written twice: the second rewrites every
    // data record, and its signer signs checkpoints at the same sizes.
    let original = two_checkpoint_log(1, None, "n", 5, 4);
    let rewritten = two_checkpoint_log(1, None, "m", 5, 4);
    let before = consistency(&original, None, 6);
    let after = consistency(&rewritten, None, 6);
    after.verify(&vkey).unwrap();
    assert_ne!(before.old_checkpoint, after.old_checkpoint);
    // The prover sees the fork at the old checkpoint's size.
    let err = ConsistencyProof::from_log(
        &rewritten[..],
        &CheckpointRef::Note(before.old_checkpoint.clone()),
        &CheckpointRef::Latest,
        &verify_opts(None),
    )
    .unwrap_err();
    assert!(matches!(err, AuditError::Forked { size: 6 }), "{err}");
    // A proof spliced from the old checkpoint and the rewritten log fails.
    let mut spliced = after.clone();
    spliced.old_checkpoint = before.old_checkpoint.clone();
    let err = spliced.verify(&vkey).unwrap_err();
    assert!(
        err.to_string().contains("header_proof does not lead"),
        "{err}"
    );
    spliced.header_proof = before.header_proof.clone();
    let err = spliced.verify(&vkey).unwrap_err();
    assert!(
        err.to_string()
            .contains("proof does not lead from the old root to the new root"),
        "{err}"
    );
}

#[test]
fn consistency_proof_files_are_bounded_and_strict() {
    let bytes = two_checkpoint_log(1, None, "n", 5, 4);
    let good = consistency(&bytes, None, 6);
    let text = good.to_json();
    let err_of = |t: &str| ConsistencyProof::parse(t).unwrap_err().to_string();
    // Too large, whatever it holds.
    let big = " ".repeat(MAX_CONSISTENCY_PROOF_TEXT_BYTES + 1);
    assert!(err_of(&big).contains("proof file too large"));
    // More path hashes than any tree needs.
    let mut long = good.clone();
    long.proof = vec![[7; 32]; tally_audit::merkle::MAX_PROOF_HASHES + 1];
    assert!(err_of(&long.to_json()).contains("proof has too many hashes"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["extra"] = serde_json::json!(1);
    assert!(err_of(&v.to_string()).contains("unknown member"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("old_checkpoint");
    assert!(err_of(&v.to_string()).contains("missing member old_checkpoint"));
    // One spelling only: no repeated member, no other whitespace or case.
    let repeated = text.replacen('{', "{\"old_size\":1,", 1);
    assert!(err_of(&repeated).contains("not in the one form"));
    let spaced = text.replacen(",\"", ", \"", 1);
    assert!(err_of(&spaced).contains("not in the one form"));
    let upper = text.replacen(
        &tally_audit_hex(&good.proof[0]),
        &tally_audit_hex(&good.proof[0]).to_uppercase(),
        1,
    );
    assert_ne!(upper, text);
    assert!(err_of(&upper).contains("proof holds a hash that is not 64 hex digits"));
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["new_size"] = serde_json::json!(-1);
    assert!(err_of(&v.to_string()).contains("new_size is not an integer"));
    assert!(err_of("[1]").contains("not a JSON object"));
}

fn tally_audit_hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_header_of_a_log_reads_from_its_first_line() {
    let bytes = two_checkpoint_log(3, Some(fixed_key()), "n", 1, 0);
    let first = &lines(&bytes)[0];
    let header = Header::from_line(first.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(header.log_id, LogId::from_bytes([3; 16]));
    assert_eq!(header.mode, Mode::Keyed);
    assert_eq!(header.checkpoint_key, Some(signer().verifier()));
    let second = &lines(&bytes)[1];
    assert!(matches!(
        Header::from_line(second.strip_suffix(b"\n").unwrap()),
        Err(AuditError::NotALog { .. })
    ));
    assert!(matches!(
        Header::from_line(b"hello"),
        Err(AuditError::NotALog { .. })
    ));
}
