//! Proofs from the open log's proof index (`LogOptions::proof_index`):
//! the same proofs as a full read, at the cost of reading one record line
//! and the header (counted through the file, not timed), after a reopen
//! too, and never over a file changed behind the log's back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tally_audit::storage::{CountingLog, Faults, SimLog};
use tally_audit::*;

use crate::common::*;

fn opts() -> LogOptions {
    LogOptions::new()
        .signer(signer())
        .checkpoint_every(1_000)
        .durability(Durability::None)
        .proof_index(true)
}

fn counting(disk: &SimLog) -> (Box<CountingLog<SimLog>>, Arc<AtomicU64>) {
    let (file, read) = CountingLog::new(disk.clone());
    (Box::new(file), read)
}

fn payload(i: u64) -> String {
    format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(200))
}

/// The proof of the full read (`InclusionProof::from_log`) of the disk.
fn full_read_proof(disk: &SimLog, seq: u64) -> InclusionProof {
    let opts = VerifyOptions::new().checkpoint_key(signer().verifier());
    InclusionProof::from_log(&disk.contents()[..], seq, &opts).unwrap()
}

/// Record `seq`'s line length, without its newline.
fn line_len(disk: &SimLog, seq: u64) -> u64 {
    lines(&disk.contents())[seq as usize].len() as u64 - 1
}

#[test]
fn a_proof_from_the_index_reads_one_record_and_equals_the_full_reads() {
    let disk = SimLog::new(Vec::new(), Faults::default(), 3);
    let (file, read) = counting(&disk);
    let log = AuditLog::create_with(file, opts()).unwrap();
    // A new log: the prefix is its header.
    assert!(!log.proofs_ready());
    log.index_prefix().unwrap();
    assert!(log.proofs_ready());
    let n = 5_000u64;
    for i in 0..n {
        log.append(payload(i).as_bytes()).unwrap();
    }
    log.checkpoint().unwrap();
    let journal_bytes = disk.contents().len() as u64;
    assert!(journal_bytes > 1_000_000, "{journal_bytes}");
    let vkey = signer().verifier();
    for seq in [1, 2, 999, 1_001, 2_500, 4_999, n] {
        let before = read.load(Ordering::Relaxed);
        let proof = log.prove(seq).unwrap();
        let bytes_read = read.load(Ordering::Relaxed) - before;
        // The record line and the header line, without their newlines.
        assert_eq!(
            bytes_read,
            line_len(&disk, seq) + line_len(&disk, 0),
            "{seq}"
        );
        assert_eq!(proof, full_read_proof(&disk, seq), "{seq}");
        let proven = proof.verify(&vkey, &Keyring::new()).unwrap();
        assert_eq!(proven.record.seq, seq);
        assert!(proof.proof.len() <= 64);
    }
    // Not covered by the last checkpoint: refused until the next one.
    let last = log.append(payload(n).as_bytes()).unwrap().seq;
    assert!(matches!(
        log.prove(last),
        Err(AuditError::OutOfRange { .. })
    ));
    log.checkpoint().unwrap();
    assert_eq!(log.prove(last).unwrap(), full_read_proof(&disk, last));
    log.close().unwrap();
}

#[test]
fn a_reopened_log_indexes_its_prefix_while_records_are_appended() {
    let disk = SimLog::new(Vec::new(), Faults::default(), 4);
    let log = AuditLog::create_with(Box::new(disk.clone()), opts()).unwrap();
    for i in 0..2_500u64 {
        log.append(payload(i).as_bytes()).unwrap();
    }
    log.close().unwrap();
    let at_open = disk.contents().len() as u64;
    let (file, read) = counting(&disk);
    let (log, report) = AuditLog::open_with(file, opts().trust_checkpoint_prefix(true)).unwrap();
    // The open resumed from the last checkpoint: it did not index the prefix.
    assert!(report.resumed_from.is_some());
    assert!(!log.proofs_ready());
    assert!(matches!(log.prove(5), Err(AuditError::OutOfRange { .. })));
    // Appended while the prefix is not indexed.
    for i in 0..300u64 {
        log.append(payload(10_000 + i).as_bytes()).unwrap();
    }
    let before = read.load(Ordering::Relaxed);
    log.index_prefix().unwrap();
    // One pass over what the file held at the open.
    assert_eq!(read.load(Ordering::Relaxed) - before, at_open);
    assert!(log.proofs_ready());
    log.checkpoint().unwrap();
    let size = report.records + 300;
    for seq in [1, 1_000, 2_499, report.records, size - 1] {
        assert_eq!(
            log.prove(seq).unwrap(),
            full_read_proof(&disk, seq),
            "{seq}"
        );
    }
    // Indexing again is a no-op.
    let before = read.load(Ordering::Relaxed);
    log.index_prefix().unwrap();
    assert_eq!(read.load(Ordering::Relaxed), before);
    log.close().unwrap();
}

#[test]
fn a_prefix_changed_behind_the_logs_back_is_not_indexed() {
    let disk = SimLog::new(Vec::new(), Faults::default(), 5);
    let log = AuditLog::create_with(Box::new(disk.clone()), opts()).unwrap();
    for i in 0..50u64 {
        log.append(payload(i).as_bytes()).unwrap();
    }
    log.close().unwrap();
    // One payload byte of record 7 changed (same length, still JSON): the
    // open trusts the signed checkpoint's prefix and does not see it.
    let mut bytes = disk.contents();
    let at = bytes.windows(6).position(|w| w == b"\"n\":7,").unwrap();
    bytes[at + 4] = b'8';
    let tampered = SimLog::new(bytes, Faults::default(), 6);
    let (log, _) =
        AuditLog::open_with(Box::new(tampered), opts().trust_checkpoint_prefix(true)).unwrap();
    assert!(matches!(
        log.index_prefix(),
        Err(AuditError::Invalid { .. })
    ));
    assert!(!log.proofs_ready());
    assert!(matches!(log.prove(3), Err(AuditError::OutOfRange { .. })));
    // On a thread of its own, reporting its outcome.
    let fresh = AuditLog::create_with(
        Box::new(SimLog::new(Vec::new(), Faults::default(), 8)),
        opts(),
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    fresh
        .spawn_index_prefix(move |outcome| tx.send(outcome).unwrap())
        .unwrap();
    rx.recv().unwrap().unwrap();
    assert!(fresh.proofs_ready());
    // A log that keeps no index says so.
    let plain = AuditLog::create_with(
        Box::new(SimLog::new(Vec::new(), Faults::default(), 7)),
        LogOptions::new().signer(signer()),
    )
    .unwrap();
    assert!(plain.index_prefix().is_err());
    assert!(!plain.proofs_ready());
}

#[test]
fn a_consistency_proof_from_the_index_equals_the_full_reads_and_refuses_other_sizes() {
    let disk = SimLog::new(Vec::new(), Faults::default(), 5);
    let log = AuditLog::create_with(Box::new(disk.clone()), opts()).unwrap();
    log.index_prefix().unwrap();
    for i in 0..300 {
        log.append(payload(i).as_bytes()).unwrap();
    }
    let old = log.checkpoint().unwrap();
    for i in 300..2_500 {
        log.append(payload(i).as_bytes()).unwrap();
    }
    let new = log.checkpoint().unwrap();
    let (o, n) = (old.checkpoint.size(), new.checkpoint.size());
    let vopts = VerifyOptions::new().checkpoint_key(signer().verifier());
    for (a, b) in [(o, n), (o, o)] {
        let live = log.prove_consistency(a, b).unwrap();
        let full = ConsistencyProof::from_log(
            &disk.contents()[..],
            &CheckpointRef::Size(a),
            &CheckpointRef::Size(b),
            &vopts,
        )
        .unwrap();
        assert_eq!(live, full, "{a} → {b}");
        live.verify(&signer().verifier()).unwrap();
    }
    // Sizes that are not durable checkpoints, an empty or inverted pair.
    for (a, b) in [
        (0, n),
        (n, o),
        (o, o + 1),
        (o + 1, n),
        (o, n + 1),
        (o, u64::MAX),
    ] {
        assert!(
            matches!(
                log.prove_consistency(a, b),
                Err(AuditError::OutOfRange { .. })
            ),
            "{a} → {b}"
        );
    }
}
