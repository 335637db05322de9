//! Work bounds: no edited field makes verification or opening do more than
//! linear work. Each check runs under a deadline on its own thread, so a
//! regression fails the test instead of hanging it.

use std::sync::mpsc;
use std::time::Duration;

use tally_audit::storage::{Faults, SimLog};
use tally_audit::*;

use crate::common::*;

/// Far more than any of these checks takes (milliseconds), far less than
/// the years an epoch of `u64::MAX` would take to derive.
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `f` on a thread and fails if it has not returned by the deadline.
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{what} did not return within {DEADLINE:?}"))
}

/// Replaces the `"epoch":E` of line `at` with `epoch`.
fn with_epoch(bytes: &[u8], at: usize, epoch: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, line) in lines(bytes).iter().enumerate() {
        if i == at {
            let text = String::from_utf8(line.clone()).unwrap();
            let start = text.find("\"epoch\":").unwrap() + "\"epoch\":".len();
            let end = start + text[start..].find(',').unwrap();
            out.extend_from_slice(&text.as_bytes()[..start]);
            out.extend_from_slice(epoch.to_string().as_bytes());
            out.extend_from_slice(&text.as_bytes()[end..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Every way a log is read: the streaming reader, the two-thread verifier,
/// replay, and opening for append (with and without trusting the prefix).
fn every_reader_fails_promptly(bytes: Vec<u8>, key: AuditKey, at_seq: u64) {
    let opts = VerifyOptions::new().keys(Keyring::new().with(key.clone()));
    let (b, o) = (bytes.clone(), opts.clone());
    let err = within_deadline("the verified reader", move || {
        VerifiedReader::new(&b[..], &o).verify_all().unwrap_err()
    });
    assert_eq!(err.seq(), Some(at_seq), "{err}");
    let (b, o) = (bytes.clone(), opts.clone());
    let err = within_deadline("replay", move || {
        replay(&b[..], &o, |_| Ok::<(), AuditError>(()))
            .map_err(AuditError::from)
            .unwrap_err()
    });
    assert_eq!(err.seq(), Some(at_seq), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.jsonl");
    std::fs::write(&path, &bytes).unwrap();
    let err = within_deadline("verify_file", move || {
        verify_file(&path, &opts).unwrap_err()
    });
    assert_eq!(err.seq(), Some(at_seq), "{err}");
    for trust in [false, true] {
        let (b, k) = (bytes.clone(), key.clone());
        let err = within_deadline("open", move || {
            let sim = SimLog::new(b, Faults::default(), 0);
            AuditLog::open_with(
                Box::new(sim),
                LogOptions::new().key(k).trust_checkpoint_prefix(trust),
            )
            .unwrap_err()
        });
        assert_eq!(err.seq(), Some(at_seq), "{err}");
    }
}

#[test]
fn a_huge_epoch_in_a_keyed_log_fails_promptly() {
    let key = fixed_key();
    let bytes = sim_log(20, Some(key.clone()), 0);
    // Line 5 is data record 5; every reader must refuse it without deriving
    // 2^64 - 1 key epochs.
    every_reader_fails_promptly(with_epoch(&bytes, 5, u64::MAX), key, 5);
}

#[test]
fn a_huge_epoch_after_the_last_checkpoint_fails_promptly() {
    let key = fixed_key();
    let bytes = sim_log(20, Some(key.clone()), 8);
    let n = lines(&bytes).len();
    every_reader_fails_promptly(with_epoch(&bytes, n - 1, u64::MAX), key, n as u64 - 1);
}

fn forward_secure_log(n: u64) -> (Vec<u8>, AuditKey) {
    struct Nowhere;
    impl KeySink for Nowhere {
        fn store(&mut self, _: &AuditKey) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sim = SimLog::new(Vec::new(), Faults::default(), 1);
    let key = fixed_key();
    let log = AuditLog::create_with(
        Box::new(sim.clone()),
        LogOptions::new()
            .key(key.clone())
            .forward_secure(ForwardSecure {
                epoch_records: 2,
                sink: Box::new(Nowhere),
            })
            .durability(Durability::None)
            .checkpoint_every(0),
    )
    .unwrap();
    for i in 0..n {
        log.append(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
    }
    log.flush().unwrap();
    drop(log);
    (sim.contents(), key)
}

#[test]
fn a_forward_secure_epoch_beyond_the_sequence_fails_promptly() {
    let (bytes, key) = forward_secure_log(12);
    VerifiedReader::new(
        &bytes[..],
        &VerifyOptions::new().keys(Keyring::new().with(key.clone())),
    )
    .verify_all()
    .unwrap();
    every_reader_fails_promptly(with_epoch(&bytes, 7, u64::MAX), key.clone(), 7);
    // One past the sequence is refused as such, before any MAC.
    let err = VerifiedReader::new(
        &with_epoch(&bytes, 7, 8)[..],
        &VerifyOptions::new().keys(Keyring::new().with(key)),
    )
    .verify_all()
    .unwrap_err();
    assert!(matches!(err, AuditError::KeyMode { seq: 7, .. }), "{err}");
}

#[test]
fn a_huge_sequence_on_a_checkpoint_fails_promptly() {
    let key = fixed_key();
    let bytes = sim_log(20, Some(key.clone()), 8);
    // The last checkpoint (a trusted-prefix open resumes from it) claims a
    // sequence and epoch near the end of the sequence space.
    let text = String::from_utf8(bytes).unwrap();
    let mut out = String::new();
    let n = text.lines().count();
    let last_cp = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("\"kind\":\"checkpoint\""))
        .map(|(i, _)| i)
        .last()
        .unwrap();
    for (i, line) in text.lines().enumerate() {
        if i == last_cp {
            let big = (u64::MAX - 1).to_string();
            let line = line.replacen(&format!("\"seq\":{i},"), &format!("\"seq\":{big},"), 1);
            out.push_str(&line.replacen("\"epoch\":0,", &format!("\"epoch\":{big},"), 1));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert_eq!(out.lines().count(), n);
    let bytes = out.into_bytes();
    for trust in [false, true] {
        let (b, k) = (bytes.clone(), key.clone());
        within_deadline("open", move || {
            let sim = SimLog::new(b, Faults::default(), 0);
            AuditLog::open_with(
                Box::new(sim),
                LogOptions::new().key(k).trust_checkpoint_prefix(trust),
            )
            .unwrap_err()
        });
    }
}
