//! Audited decisions over a real `tally-audit` log on disk: verified before
//! anything is written, replayed against the policy each record names.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde::Serialize;
use tally_audit::{AuditKey, AuditLog, Durability, Keyring, LogOptions, VerifyOptions};
use tally_decide::audited::{
    AuditedError, LogReplayReport, append_decision, append_decisions, replay_log_file,
    submit_decision,
};
use tally_decide::{
    AuditBundle, Decision, DecisionField, DecisionRecord, Error, Policy, PolicySet, RECORD_KIND,
    Request, decision_digest,
};

use crate::common;
use crate::properties::tamper;

fn other_policy() -> Policy {
    let mut spec = common::example_policy().into_spec();
    spec.policy_epoch += 1;
    spec.latency_penalty_microunits_per_ms = 1;
    Policy::new(spec).unwrap()
}

fn request(sequence: u64) -> Request {
    Request {
        sequence,
        ..common::example_request()
    }
}

fn new_log(dir: &Path, opts: LogOptions) -> (PathBuf, AuditLog) {
    let path = dir.join("decisions.jsonl");
    let log = AuditLog::create(&path, opts.durability(Durability::Batch)).unwrap();
    (path, log)
}

/// The canonical payload of a decision that does not replay, with digests
/// recomputed so that only re-execution can catch it (what an attacker who
/// can append plain records would write).
fn forged_payload(policy: &Policy, request: &Request, forged: &Decision) -> Vec<u8> {
    #[derive(Serialize)]
    struct Content<'a> {
        kind: &'a str,
        bundle: AuditBundle,
        request: &'a Request,
        decision: &'a Decision,
    }
    let honest = policy.prescribe(request);
    let mut bundle = AuditBundle::verified(policy, request, &honest).unwrap();
    bundle.decision_digest = decision_digest(forged);
    serde_json::to_vec(&Content {
        kind: RECORD_KIND,
        bundle,
        request,
        decision: forged,
    })
    .unwrap()
}

fn both_policies() -> PolicySet {
    let mut set = PolicySet::new();
    set.insert(common::example_policy());
    set.insert(other_policy());
    set
}

#[test]
fn a_forged_decision_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(dir.path(), LogOptions::new().checkpoint_on_close(false));
    let policy = common::example_policy();
    let honest = policy.prescribe(&request(1));
    append_decision(&log, &policy, &request(1), &honest).unwrap();
    let before = std::fs::read(&path).unwrap();
    for field in DecisionField::ALL {
        let forged = tamper(&honest, field);
        let err = append_decision(&log, &policy, &request(1), &forged).unwrap_err();
        assert!(
            matches!(err, AuditedError::Refused { index: 0, .. }),
            "{field}: {err}"
        );
        let err = submit_decision(&log, &policy, &request(1), &forged).unwrap_err();
        assert!(matches!(err, AuditedError::Refused { .. }), "{field}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{field} wrote bytes");
    }
    // The log still takes honest decisions after the refusals.
    let receipt = append_decision(&log, &policy, &request(2), &policy.prescribe(&request(2)));
    assert_eq!(receipt.unwrap().seq, 2);
    log.close().unwrap();
}

#[test]
fn a_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(dir.path(), LogOptions::new().checkpoint_on_close(false));
    let (a, b) = (common::example_policy(), other_policy());
    let requests: Vec<Request> = (1..=5).map(request).collect();
    let mut decisions: Vec<Decision> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| if i % 2 == 0 { &a } else { &b }.prescribe(r))
        .collect();
    let honest = decisions.clone();
    decisions[3] = tamper(&decisions[3], DecisionField::CostMicrounits);
    let before = std::fs::read(&path).unwrap();
    let items = |ds: &[Decision]| -> Vec<(Policy, Request, Decision)> {
        ds.iter()
            .zip(&requests)
            .enumerate()
            .map(|(i, (d, r))| (if i % 2 == 0 { a.clone() } else { b.clone() }, *r, *d))
            .collect()
    };
    let forged_items = items(&decisions);
    let err = append_decisions(&log, forged_items.iter().map(|(p, r, d)| (p, r, d))).unwrap_err();
    assert!(
        matches!(err, AuditedError::Refused { index: 3, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let honest_items = items(&honest);
    let receipts = append_decisions(&log, honest_items.iter().map(|(p, r, d)| (p, r, d))).unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    log.close().unwrap();
    let report = replay_log_file(&path, &VerifyOptions::new(), &both_policies()).unwrap();
    assert_eq!(report.decisions, 5);
    assert_eq!(report.policies.len(), 2);
}

#[test]
fn a_log_spanning_two_policies_and_other_records_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(dir.path(), LogOptions::new());
    let (a, b) = (common::example_policy(), other_policy());
    append_decision(&log, &a, &request(1), &a.prescribe(&request(1))).unwrap();
    log.append(br#"{"kind":"tally/ledger/transfer/v1","amount":5}"#)
        .unwrap();
    log.append(br"[1,2,3]").unwrap();
    append_decision(&log, &b, &request(2), &b.prescribe(&request(2))).unwrap();
    log.append(br#"{"note":"no kind"}"#).unwrap();
    log.close().unwrap();
    let report = replay_log_file(&path, &VerifyOptions::new(), &both_policies()).unwrap();
    assert_eq!(report.decisions, 2);
    assert_eq!(report.skipped, 3);
    assert_eq!(report.last_decision, Some(4));
    assert_eq!(report.policies.iter().copied().collect::<Vec<_>>(), {
        let mut v = vec![a.digest(), b.digest()];
        v.sort();
        v
    });
    // header + 5 data records + the checkpoint written on close
    assert_eq!(report.records, 7);
}

#[test]
fn an_unknown_policy_fails_with_the_record_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(dir.path(), LogOptions::new());
    let (a, b) = (common::example_policy(), other_policy());
    append_decision(&log, &a, &request(1), &a.prescribe(&request(1))).unwrap();
    log.append(br#"{"other":true}"#).unwrap();
    append_decision(&log, &b, &request(2), &b.prescribe(&request(2))).unwrap();
    log.close().unwrap();
    let err = replay_log_file(&path, &VerifyOptions::new(), &a).unwrap_err();
    match err {
        AuditedError::Replay {
            seq: 3,
            cause: Error::UnknownPolicy { digest },
            ..
        } => assert_eq!(digest, b.digest()),
        other => panic!("expected an unknown policy at 3, got {other}"),
    }
}

#[test]
fn a_tampered_byte_is_caught_by_the_chain_before_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (path, log) = new_log(dir.path(), LogOptions::new());
    let a = common::example_policy();
    for s in 1..=3 {
        append_decision(&log, &a, &request(s), &a.prescribe(&request(s))).unwrap();
    }
    log.close().unwrap();
    // Change the cost of the second decision in place, keeping valid JSON.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let line = lines[2].clone();
    let at = line.find("\"cost_microunits\":").unwrap() + "\"cost_microunits\":".len();
    let digit = line.as_bytes()[at];
    let replacement = if digit == b'9' {
        '8'
    } else {
        (digit + 1) as char
    };
    lines[2] = format!("{}{}{}", &line[..at], replacement, &line[at + 1..]);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = replay_log_file(&path, &VerifyOptions::new(), &a).unwrap_err();
    let AuditedError::Log(log_err) = &err else {
        panic!("the chain must catch it first, got {err}");
    };
    assert_eq!(log_err.seq(), Some(2), "{log_err}");
    assert_eq!(err.seq(), Some(2));
}

#[test]
fn unknown_decision_kinds_and_ambiguous_kinds_fail_closed() {
    let a = common::example_policy();
    for payload in [
        br#"{"kind":"tally/decide/record/v2","x":1}"#.as_slice(),
        br#"{"kind":"tally/decide/record/v1","kind":"other"}"#.as_slice(),
        br#"{"kind":7,"note":"tally/decide/record/v1"}"#.as_slice(),
        br#"{"kind":7,"note":"tally\/decide\/record\/v1"}"#.as_slice(),
        // Escaped slashes are the same string: parsed, not matched as bytes.
        br#"{"kind":"tally\/decide\/record\/v2"}"#.as_slice(),
        br#"{"kind":"other","kind":"tally\/decide\/record\/v1"}"#.as_slice(),
        br#"{"kind":"tally\u002fdecide\u002frecord\u002fv1","kind":"x"}"#.as_slice(),
        br#"{"kind":{"family":"tally\/decide\/"}}"#.as_slice(),
        br#"{"kind":7,"note":"tally\/decide\/x","note":"y"}"#.as_slice(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = new_log(dir.path(), LogOptions::new());
        append_decision(&log, &a, &request(1), &a.prescribe(&request(1))).unwrap();
        log.append(payload).unwrap();
        log.close().unwrap();
        let err = replay_log_file(&path, &VerifyOptions::new(), &a).unwrap_err();
        assert!(
            matches!(err, AuditedError::UnknownKind { seq: 2, .. }),
            "{}: {err}",
            String::from_utf8_lossy(payload)
        );
    }
}

#[test]
fn a_keyed_log_replays_with_its_key_and_fails_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let key = AuditKey::generate().unwrap();
    let (path, log) = new_log(dir.path(), LogOptions::new().key(key.clone()));
    let a = common::example_policy();
    append_decision(&log, &a, &request(1), &a.prescribe(&request(1))).unwrap();
    log.close().unwrap();
    let ok = VerifyOptions::new().keys(Keyring::new().with(key));
    assert_eq!(replay_log_file(&path, &ok, &a).unwrap().decisions, 1);
    let wrong = VerifyOptions::new().keys(Keyring::new().with(AuditKey::generate().unwrap()));
    let err = replay_log_file(&path, &wrong, &a).unwrap_err();
    assert!(matches!(err, AuditedError::Log(_)), "{err}");
    let err = replay_log_file(&path, &VerifyOptions::new(), &a).unwrap_err();
    assert!(matches!(err, AuditedError::Log(_)), "{err}");
}

#[test]
fn a_missing_log_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = replay_log_file(
        &dir.path().join("absent.jsonl"),
        &VerifyOptions::new(),
        &common::example_policy(),
    )
    .unwrap_err();
    assert!(matches!(err, AuditedError::Open(_)), "{err}");
}

fn replay(path: &Path, policy: &Policy) -> Result<LogReplayReport, AuditedError> {
    replay_log_file(path, &VerifyOptions::new(), policy)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random valid decisions appended through the audited API replay; the
    /// same log with one forged record (digests recomputed, appended as a
    /// plain record) fails at exactly that record's sequence, for every
    /// field of the decision.
    #[test]
    fn forged_records_fail_replay_at_their_sequence(
        (policy, first) in common::case(12),
        count in 1_usize..5,
        at in 0_usize..5,
    ) {
        let at = at % count;
        let requests: Vec<Request> = (0..count)
            .map(|i| Request { sequence: first.sequence.wrapping_add(i as u64), ..first })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = new_log(dir.path(), LogOptions::new().checkpoint_on_close(false));
        for r in &requests {
            append_decision(&log, &policy, r, &policy.prescribe(r)).unwrap();
        }
        log.close().unwrap();
        let report = replay(&path, &policy).unwrap();
        prop_assert_eq!(report.decisions, count as u64);

        for field in DecisionField::ALL {
            let dir = tempfile::tempdir().unwrap();
            let (path, log) = new_log(dir.path(), LogOptions::new().checkpoint_on_close(false));
            for (i, r) in requests.iter().enumerate() {
                let honest = policy.prescribe(r);
                if i == at {
                    log.append(&forged_payload(&policy, r, &tamper(&honest, field))).unwrap();
                } else {
                    let payload = DecisionRecord::new(&policy, r, &honest).unwrap().to_payload();
                    log.append(&payload).unwrap();
                }
            }
            log.close().unwrap();
            match replay(&path, &policy) {
                Err(AuditedError::Replay { seq, .. }) => prop_assert_eq!(seq, at as u64 + 1, "{}", field),
                other => return Err(TestCaseError::fail(format!("{field}: expected a replay failure, got {other:?}"))),
            }
        }
    }
}
