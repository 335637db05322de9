//! Opening: torn tails, fail-closed corruption, resume from checkpoints,
//! the writer lock, limits, readers.

use std::io::Write;

use tally_audit::*;

use crate::common::*;

fn new_log(dir: &tempfile::TempDir, opts: LogOptions) -> (std::path::PathBuf, AuditLog) {
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::create(&path, opts).unwrap();
    (path, log)
}

fn append_n(log: &AuditLog, n: u64) {
    for i in 0..n {
        log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
}

#[test]
fn torn_tail_is_cut_and_reported_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(&dir, LogOptions::new().durability(Durability::None));
    append_n(&log, 5);
    log.close().unwrap();
    let good_len = std::fs::metadata(&path).unwrap().len();
    let fragment = br#"{"v":1,"seq":7,"kind":"data","kid":null,"ep"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(fragment)
        .unwrap();

    // A read-only verification reports the fragment and does not change it.
    let s = verify_file(&path, &VerifyOptions::new()).unwrap();
    assert_eq!(
        s.torn_tail,
        Some(TornTail {
            offset: good_len,
            len: fragment.len() as u64
        })
    );

    let (log, report) = AuditLog::open(&path, LogOptions::new()).unwrap();
    assert_eq!(
        report.torn_tail,
        Some(TornTail {
            offset: good_len,
            len: fragment.len() as u64
        })
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    log.append(br#"{"after":"crash"}"#).unwrap();
    log.close().unwrap();
    let s = verify_file(&path, &VerifyOptions::new()).unwrap();
    assert_eq!(s.torn_tail, None);
}

#[test]
fn a_complete_but_corrupt_last_line_fails_closed_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(
        &dir,
        LogOptions::new()
            .durability(Durability::None)
            .checkpoint_on_close(false),
    );
    append_n(&log, 3);
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    let last_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    std::fs::write(&path, text.replace("{\"n\":2}", "{\"n\":9}")).unwrap();
    let err = AuditLog::open(&path, LogOptions::new()).unwrap_err();
    assert!(
        matches!(err, AuditError::HashMismatch { seq: 3, .. }),
        "{err}"
    );
    assert_eq!(err.offset(), Some(last_start as u64));
    // Nothing was cut.
    assert_eq!(std::fs::read_to_string(&path).unwrap().len(), text.len());
}

#[test]
fn open_verifies_everything_unless_told_to_trust_the_signed_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        LogOptions::new()
            .durability(Durability::None)
            .signer(signer())
            .checkpoint_every(10)
    };
    let (path, log) = new_log(&dir, opts());
    append_n(&log, 95);
    log.close().unwrap();
    let trusting = || opts().trust_checkpoint_prefix(true);
    let (log, report) = AuditLog::open(&path, trusting()).unwrap();
    let records = report.records;
    assert_eq!(report.resumed_from, Some(records - 1), "{report:?}");
    assert_eq!(report.verified_records, 2, "header and checkpoint");
    append_n(&log, 3);
    drop(log);
    let (_log, report) = AuditLog::open(&path, trusting()).unwrap();
    assert_eq!(report.resumed_from, Some(records - 1));
    assert_eq!(report.verified_records, 5);
    drop(_log);
    let (_log, report) = AuditLog::open(&path, opts()).unwrap();
    assert_eq!(report.resumed_from, None);
    assert_eq!(report.verified_records, records + 3);
}

#[test]
fn a_tampered_checkpoint_fails_the_resume_closed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        LogOptions::new()
            .durability(Durability::None)
            .signer(signer())
            .checkpoint_every(0)
    };
    let (path, log) = new_log(&dir, opts());
    append_n(&log, 6);
    log.close().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.rfind("\"frontier\":[\"").unwrap() + 13;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, &bytes).unwrap();
    let err = AuditLog::open(&path, opts()).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::HashMismatch { .. } | AuditError::InvalidControl { .. }
        ),
        "{err}"
    );
}

#[test]
fn a_second_writer_gets_a_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(&dir, LogOptions::new());
    let err = AuditLog::open(&path, LogOptions::new()).unwrap_err();
    assert!(matches!(err, AuditError::Locked), "{err}");
    assert_eq!(err.code(), "audit.locked");
    drop(log);
    AuditLog::open(&path, LogOptions::new()).unwrap();
}

#[test]
fn create_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _log) = new_log(&dir, LogOptions::new());
    let err = AuditLog::create(&path, LogOptions::new()).unwrap_err();
    assert!(matches!(err, AuditError::AlreadyExists), "{err}");
}

#[test]
fn payload_limit_at_the_bound_and_one_past_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let max = 300;
    let (path, log) = new_log(
        &dir,
        LogOptions::new()
            .max_payload_bytes(max)
            .durability(Durability::None),
    );
    let at_bound = format!("\"{}\"", "a".repeat(max - 2));
    log.append(at_bound.as_bytes()).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    let past = format!("\"{}\"", "a".repeat(max - 1));
    let err = log.append(past.as_bytes()).unwrap_err();
    assert!(
        matches!(err, AuditError::PayloadTooLarge { len: 301, max: 300 }),
        "{err}"
    );
    let err = log
        .append_batch(&[b"1".as_slice(), past.as_bytes()])
        .unwrap_err();
    assert!(matches!(err, AuditError::PayloadTooLarge { .. }), "{err}");
    log.flush().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert_eq!(log.len(), 2);

    // Readers bound the line the same way: a short limit refuses the line.
    drop(log);
    let err = verify_file(&path, &VerifyOptions::new().max_payload_bytes(max - 1)).unwrap_err();
    assert!(
        matches!(err, AuditError::RecordTooLarge { seq: 1, .. }),
        "{err}"
    );
    verify_file(&path, &VerifyOptions::new().max_payload_bytes(max)).unwrap();
}

#[test]
fn default_payload_limit_is_16_mib() {
    assert_eq!(DEFAULT_MAX_PAYLOAD_BYTES, 16 * 1024 * 1024);
    let sim = tally_audit::storage::SimLog::new(Vec::new(), Default::default(), 0);
    let log = AuditLog::create_with(
        Box::new(sim),
        LogOptions::new().durability(Durability::None),
    )
    .unwrap();
    let mut big = vec![b'"'; DEFAULT_MAX_PAYLOAD_BYTES + 1];
    big[1..DEFAULT_MAX_PAYLOAD_BYTES].fill(b'a');
    assert!(matches!(
        log.append(&big).unwrap_err(),
        AuditError::PayloadTooLarge { .. }
    ));
    big.truncate(DEFAULT_MAX_PAYLOAD_BYTES);
    *big.last_mut().unwrap() = b'"';
    log.append(&big).unwrap();
}

#[test]
fn payloads_must_be_one_line_of_json() {
    let sim = tally_audit::storage::SimLog::new(Vec::new(), Default::default(), 0);
    let log = AuditLog::create_with(Box::new(sim.clone()), LogOptions::new()).unwrap();
    let before = sim.contents().len();
    for bad in [
        &b"{\"a\":1"[..],
        b"[1]\n",
        b"[1,\n2]",
        b"",
        b"\xff",
        b"{} {}",
        b"NaN",
    ] {
        let err = log.append(bad).unwrap_err();
        assert!(
            matches!(err, AuditError::PayloadNotJson { .. }),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(sim.contents().len(), before);
}

#[test]
fn an_empty_or_headerless_file_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(
        AuditLog::open(&path, LogOptions::new()).unwrap_err(),
        AuditError::NotALog { .. }
    ));
    assert!(matches!(
        verify_file(&path, &VerifyOptions::new()).unwrap_err(),
        AuditError::NotALog { .. }
    ));
}

#[test]
fn replay_stops_at_the_first_rejected_record_with_its_sequence() {
    let bytes = sim_log(10, None, 0);
    let mut seen = Vec::new();
    let err = replay(&bytes[..], &VerifyOptions::new(), |rec| {
        let v: serde_json::Value = serde_json::from_slice(rec.payload).unwrap();
        seen.push(rec.seq);
        if v["n"] == 4 {
            Err("n = 4 is not allowed")
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    // The caller gets its own error back, typed, with where it happened.
    let ReplayError::Check { seq, offset, error } = &err else {
        panic!("expected the check's error, got {err}");
    };
    assert_eq!((*seq, *error), (5, "n = 4 is not allowed"));
    assert!(*offset > 0);
    assert_eq!(
        err.to_string(),
        format!("replay check failed at sequence 5 (offset {offset}): n = 4 is not allowed")
    );
    // One error type for callers that want it.
    assert!(matches!(
        AuditError::from(err),
        AuditError::CheckFailed { seq: 5, .. }
    ));
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    let s = replay(&bytes[..], &VerifyOptions::new(), |_| {
        Ok::<(), std::io::Error>(())
    })
    .unwrap();
    assert_eq!(s.records, 11);
}

#[test]
fn unverified_reader_reads_from_an_offset_and_records_parse_alone() {
    let bytes = sim_log(4, None, 0);
    let ls = lines(&bytes);
    let offset: usize = ls[..3].iter().map(Vec::len).sum();
    let recs: Vec<Record> = UnverifiedReader::new(&bytes[offset..], offset as u64, 1024)
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(recs[0].offset, offset as u64);
    let alone = Record::parse_line(&ls[3]).unwrap();
    assert_eq!(alone.payload, recs[0].payload);
    assert_eq!(alone.digest, recs[0].digest);
    let verified: Vec<Record> = VerifiedReader::new(&bytes[..], &VerifyOptions::new())
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(verified[3].digest, alone.digest);
}

#[test]
fn the_verified_reader_never_yields_a_bad_record() {
    let bytes = sim_log(6, None, 0);
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace("{\"n\":3}", "{\"n\":7}");
    let mut reader = VerifiedReader::new(text.as_bytes(), &verify_opts(None));
    let mut seen = Vec::new();
    let err = loop {
        match reader.next_record() {
            Ok(Some(rec)) => seen.push(rec.seq),
            Ok(None) => panic!("the altered record was accepted"),
            Err(e) => break e,
        }
    };
    assert_eq!(seen, vec![0, 1, 2, 3]);
    assert!(
        matches!(err, AuditError::HashMismatch { seq: 4, .. }),
        "{err}"
    );
    assert!(
        reader.next_record().unwrap().is_none(),
        "the reader stays stopped"
    );
}

#[test]
fn a_signed_log_needs_its_own_signer_to_checkpoint() {
    let sim = tally_audit::storage::SimLog::new(sim_log(2, None, 0), Default::default(), 0);
    // Without the signer: appends work, checkpoints are refused, close adds none.
    let (log, _) = AuditLog::open_with(Box::new(sim.clone()), LogOptions::new()).unwrap();
    log.append(b"1").unwrap();
    assert!(matches!(
        log.checkpoint().unwrap_err(),
        AuditError::Invalid { .. }
    ));
    log.close().unwrap();
    // Another key under the same name is refused.
    let other = CheckpointSigner::from_seed("example.org/audit", &[8; 32]).unwrap();
    let err =
        AuditLog::open_with(Box::new(sim.clone()), LogOptions::new().signer(other)).unwrap_err();
    assert!(
        matches!(err, AuditError::Invalid { what: "signer", .. }),
        "{err}"
    );
    // With its signer, checkpoints verify.
    let (log, _) =
        AuditLog::open_with(Box::new(sim.clone()), LogOptions::new().signer(signer())).unwrap();
    log.checkpoint().unwrap();
    drop(log);
    let s = verify_bytes(&sim.contents(), &verify_opts(None)).unwrap();
    assert_eq!(s.last_checkpoint.unwrap().0, 4);
    // A log created without a checkpoint key refuses a signer.
    let unsigned = tally_audit::storage::SimLog::new(Vec::new(), Default::default(), 0);
    drop(AuditLog::create_with(Box::new(unsigned.clone()), LogOptions::new()).unwrap());
    let err =
        AuditLog::open_with(Box::new(unsigned), LogOptions::new().signer(signer())).unwrap_err();
    assert!(
        matches!(err, AuditError::Invalid { what: "signer", .. }),
        "{err}"
    );
}

/// An endless stream with no newline (`/dev/zero`) is refused at the line
/// bound, by every reader, instead of being read for ever. Before the fix the
/// readers kept reading to find out whether the overlong line was a torn tail.
#[test]
fn an_endless_line_is_refused_at_the_line_bound() {
    let opts = VerifyOptions::new().max_payload_bytes(4096);
    let endless = || std::io::Read::take(std::io::repeat(0), 1 << 40);

    let err = VerifiedReader::new(endless(), &opts)
        .verify_all()
        .unwrap_err();
    assert!(matches!(err, AuditError::NotALog { .. }), "{err:?}");

    let err = replay(endless(), &opts, |_| Ok::<(), std::io::Error>(()))
        .map_err(AuditError::from)
        .unwrap_err();
    assert!(matches!(err, AuditError::NotALog { .. }), "{err:?}");

    let mut unverified = UnverifiedReader::new(endless(), 0, 4096);
    let first = unverified.next().unwrap();
    assert!(
        matches!(first, Err(AuditError::LineTooLong { offset: 0, .. })),
        "{first:?}"
    );

    // An overlong line after good records is refused at its own offset.
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(&dir, LogOptions::new().durability(Durability::None));
    append_n(&log, 3);
    log.close().unwrap();
    let good_len = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::iter::repeat_n(b'x', 5000));
    let err = VerifiedReader::new(&bytes[..], &opts)
        .verify_all()
        .unwrap_err();
    assert!(
        matches!(err, AuditError::LineTooLong { offset, .. } if offset == good_len),
        "{err:?}"
    );
}

/// Messages say the sequence when it is known and nothing otherwise: no
/// Debug forms such as `(sequence None)` or `(sequence Some(3))`.
#[test]
fn error_messages_have_no_debug_forms() {
    let none = AuditError::Malformed {
        seq: None,
        offset: 5,
        what: "no kind",
    };
    assert_eq!(none.to_string(), "malformed record at offset 5: no kind");
    let some = AuditError::InvalidUtf8 {
        seq: Some(3),
        offset: 9,
    };
    assert_eq!(
        some.to_string(),
        "invalid UTF-8 in the line at offset 9 (sequence 3)"
    );
}

fn signed_log(dir: &tempfile::TempDir) -> (std::path::PathBuf, Vec<u8>) {
    let opts = LogOptions::new()
        .durability(Durability::None)
        .signer(signer())
        .checkpoint_every(4);
    let (path, log) = new_log(dir, opts);
    append_n(&log, 13);
    log.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn writer_opts() -> LogOptions {
    LogOptions::new()
        .signer(signer())
        .durability(Durability::None)
}

#[test]
fn damage_before_the_last_checkpoint_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = signed_log(&dir);
    let ls = lines(&bytes);
    // An edited payload in record 2 (well before the last checkpoint).
    let mut edited = ls.clone();
    edited[2] = String::from_utf8(edited[2].clone())
        .unwrap()
        .replacen("{\"n\":1}", "{\"n\":7}", 1)
        .into_bytes();
    std::fs::write(&path, edited.concat()).unwrap();
    let err = AuditLog::open(&path, writer_opts()).unwrap_err();
    assert!(
        matches!(err, AuditError::HashMismatch { seq: 2, .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        edited.concat(),
        "nothing changed"
    );
    // Only the explicit option trusts the signed prefix (and says so).
    let (log, report) = AuditLog::open(&path, writer_opts().trust_checkpoint_prefix(true)).unwrap();
    assert!(report.resumed_from.is_some());
    drop(log);
    // A torn line in the middle: record 3 cut short, the rest intact.
    let mut torn = ls.clone();
    let half = torn[3].len() / 2;
    torn[3].truncate(half);
    torn[3].push(b'\n');
    std::fs::write(&path, torn.concat()).unwrap();
    let err = AuditLog::open(&path, writer_opts()).unwrap_err();
    assert!(err.offset().is_some(), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        torn.concat(),
        "nothing changed"
    );
}

#[test]
fn trusting_the_prefix_needs_a_signed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        LogOptions::new()
            .durability(Durability::None)
            .checkpoint_every(4)
    };
    let (path, log) = new_log(&dir, opts());
    append_n(&log, 9);
    log.close().unwrap();
    let (log, report) = AuditLog::open(&path, opts().trust_checkpoint_prefix(true)).unwrap();
    assert_eq!(
        report.resumed_from, None,
        "unsigned checkpoints vouch for nothing"
    );
    assert_eq!(report.verified_records, report.records);
    drop(log);
}

#[test]
fn a_keyed_log_without_a_key_and_a_file_that_is_not_a_log_have_their_own_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyed.jsonl");
    std::fs::write(&path, sim_log(3, Some(fixed_key()), 2)).unwrap();
    let kid = fixed_key().kid().to_string();
    let err = verify_file(&path, &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(err, AuditError::KeyRequired { kid: Some(ref k) } if *k == kid),
        "{err}"
    );
    assert_eq!(err.code(), "audit.key_required");
    let err = VerifiedReader::open(&path, &VerifyOptions::new())
        .unwrap()
        .verify_all()
        .unwrap_err();
    assert!(matches!(err, AuditError::KeyRequired { .. }), "{err}");
    let err = AuditLog::open(&path, LogOptions::new()).unwrap_err();
    assert!(matches!(err, AuditError::KeyRequired { .. }), "{err}");
    // Not a log: text, binary zeros, a line too long, a JSON object.
    let small = VerifyOptions::new().max_payload_bytes(1024);
    for bytes in [
        b"hello\n".to_vec(),
        vec![0; 10_000],
        vec![b'x'; 5000],
        b"{\"v\":1}\n".to_vec(),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = verify_file(&path, &small).unwrap_err();
        assert!(matches!(err, AuditError::NotALog { .. }), "{err}");
        let err = VerifiedReader::new(&bytes[..], &small)
            .verify_all()
            .unwrap_err();
        assert!(matches!(err, AuditError::NotALog { .. }), "{err}");
        let err = AuditLog::open(&path, LogOptions::new().max_payload_bytes(1024)).unwrap_err();
        assert!(matches!(err, AuditError::NotALog { .. }), "{err}");
    }
}

#[test]
fn a_batch_is_contiguous_and_a_due_checkpoint_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(
        &dir,
        LogOptions::new()
            .durability(Durability::None)
            .checkpoint_every(3),
    );
    let batch: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("{{\"b\":{i}}}").into_bytes())
        .collect();
    let receipts = log.append_batch(&batch).unwrap();
    let seqs: Vec<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "contiguous");
    log.append(b"{\"after\":1}").unwrap();
    drop(log);
    let kinds: Vec<(u64, RecordKind)> = VerifiedReader::open(&path, &VerifyOptions::new())
        .unwrap()
        .map(|r| r.map(|r| (r.seq, r.kind)))
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(kinds[11], (11, RecordKind::Checkpoint), "{kinds:?}");
    assert!(kinds[1..11].iter().all(|(_, k)| *k == RecordKind::Data));
}

/// The two-thread verifier's reading thread has fully exited (its
/// thread-locals destroyed, its memory freed) when `replay` returns, on
/// success and on failure. The source is read on that thread, so a
/// thread-local set there is destroyed at its exit; its destructor is slow
/// on purpose, so a verifier that returned before the thread exited would
/// find it still running. (Found by the `tally_audit_log` fuzz target:
/// LeakSanitizer saw the thread's memory still allocated after the call.)
#[test]
fn the_reading_thread_has_exited_when_replay_returns() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static EXITED: AtomicU32 = AtomicU32::new(0);
    struct OnExit;
    impl OnExit {
        fn mark(&self) {}
    }
    impl Drop for OnExit {
        fn drop(&mut self) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            EXITED.fetch_add(1, Ordering::SeqCst);
        }
    }
    thread_local! {
        static MARK: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) };
    }
    /// Reads `bytes`, marking the reading thread.
    struct Marking<'a>(&'a [u8]);
    impl std::io::Read for Marking<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            MARK.with(|m| m.borrow_mut().get_or_insert_with(|| OnExit).mark());
            self.0.read(buf)
        }
    }
    let good = sim_log(5, None, 2);
    let mut bad = good.clone();
    let at = bad.len() - 10;
    bad[at] ^= 1;
    for (i, bytes) in [good, bad].iter().enumerate() {
        let result = replay(Marking(bytes), &VerifyOptions::new(), |_| {
            Ok::<(), AuditError>(())
        });
        assert_eq!(result.is_ok(), i == 0);
        assert_eq!(EXITED.load(Ordering::SeqCst), i as u32 + 1, "case {i}");
    }
}
