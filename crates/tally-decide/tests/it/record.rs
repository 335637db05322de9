//! Decision records and replay: verified on the way in, checked on the way
//! out, failing closed at the first bad record with its sequence.

use proptest::prelude::*;
use tally_decide::{
    AuditBundle, Decision, DecisionField, DecisionRecord, Error, MAX_RECORD_BYTES, Policy,
    PolicySet, Request, replay_records,
};

use crate::common;

/// A second policy, so a log can span a policy change.
fn other_policy() -> Policy {
    let mut spec = common::example_policy().into_spec();
    spec.policy_epoch += 1;
    spec.latency_penalty_microunits_per_ms = 1;
    Policy::new(spec).unwrap()
}

fn record(policy: &Policy, sequence: u64) -> Vec<u8> {
    let request = Request {
        sequence,
        ..common::example_request()
    };
    let decision = policy.prescribe(&request);
    DecisionRecord::new(policy, &request, &decision)
        .unwrap()
        .to_payload()
}

fn log() -> (PolicySet, Vec<(u64, Vec<u8>)>) {
    let (a, b) = (common::example_policy(), other_policy());
    let records = (1..=6)
        .map(|s| (s, record(if s <= 3 { &a } else { &b }, s)))
        .collect();
    let mut set = PolicySet::new();
    set.insert(a);
    set.insert(b);
    (set, records)
}

fn cause(error: Error) -> (u64, Error) {
    match error {
        Error::Record { sequence, cause } => (sequence, *cause),
        other => panic!("expected a record error, got {other:?}"),
    }
}

#[test]
fn a_log_spanning_two_policies_replays() {
    let (set, records) = log();
    let report = replay_records(records.iter().map(|(s, p)| (*s, p.as_slice())), &set).unwrap();
    assert_eq!(report.records, 6);
    assert_eq!(report.last_sequence, Some(6));
    assert_eq!(
        replay_records(Vec::<(u64, Vec<u8>)>::new(), &set)
            .unwrap()
            .records,
        0
    );
}

/// A decision that does not replay gets neither a record nor an audit
/// bundle: each forgery (one field changed) is refused by both, naming the
/// field, while the honest decision gets both.
#[test]
fn a_forged_decision_never_becomes_a_record() {
    let policy = common::example_policy();
    let request = common::example_request();
    let decision = policy.prescribe(&request);
    assert!(DecisionRecord::new(&policy, &request, &decision).is_ok());
    assert!(AuditBundle::verified(&policy, &request, &decision).is_ok());
    let forgeries = [
        (
            Decision {
                runner_up_id: None,
                ..decision
            },
            DecisionField::RunnerUpId,
        ),
        (
            Decision {
                cost_microunits: decision.cost_microunits.wrapping_add(1),
                ..decision
            },
            DecisionField::CostMicrounits,
        ),
        (
            Decision {
                utility_microunits: decision.utility_microunits.wrapping_sub(1),
                ..decision
            },
            DecisionField::UtilityMicrounits,
        ),
        (
            Decision {
                policy_epoch: decision.policy_epoch.wrapping_add(1),
                ..decision
            },
            DecisionField::PolicyEpoch,
        ),
    ];
    for (forged, field) in forgeries {
        let Err(Error::DecisionMismatch(mismatch)) =
            DecisionRecord::new(&policy, &request, &forged)
        else {
            panic!("forged decision recorded ({field:?})");
        };
        assert_eq!(mismatch.fields.iter().collect::<Vec<_>>(), [field]);
        let Err(Error::DecisionMismatch(mismatch)) =
            AuditBundle::verified(&policy, &request, &forged)
        else {
            panic!("forged decision bundled ({field:?})");
        };
        assert_eq!(mismatch.fields.iter().collect::<Vec<_>>(), [field]);
    }
}

#[test]
fn replay_stops_at_the_first_bad_record_with_its_sequence() {
    let (set, mut records) = log();
    // Record 4 re-signed with a forged utility: JSON and canonical form are
    // fine, the decision digest no longer matches, and replay catches it.
    let text = String::from_utf8(records[3].1.clone()).unwrap();
    let forged = text.replacen("\"utility_microunits\":", "\"utility_microunits\":1", 1);
    records[3].1 = forged.into_bytes();
    let error = replay_records(records.iter().map(|(s, p)| (*s, p)), &set).unwrap_err();
    let (sequence, cause) = cause(error);
    assert_eq!(sequence, 4);
    assert!(matches!(cause, Error::DecisionMismatch(_)), "{cause:?}");
}

#[test]
fn replay_refuses_an_unknown_policy() {
    let (_, records) = log();
    let only_first = common::example_policy();
    let error = replay_records(records.iter().map(|(s, p)| (*s, p)), &only_first).unwrap_err();
    let (sequence, cause) = cause(error);
    assert_eq!(sequence, 4);
    assert_eq!(
        cause,
        Error::UnknownPolicy {
            digest: other_policy().digest()
        }
    );
}

#[test]
fn replay_refuses_non_canonical_bytes() {
    let (set, records) = log();
    let pretty = {
        let value: serde_json::Value = serde_json::from_slice(&records[0].1).unwrap();
        serde_json::to_vec_pretty(&value).unwrap()
    };
    let error = replay_records([(1, pretty)], &set).unwrap_err();
    assert_eq!(cause(error), (1, Error::NonCanonicalRecord));
    let mut trailing = records[0].1.clone();
    trailing.push(b' ');
    assert_eq!(
        cause(replay_records([(1, trailing)], &set).unwrap_err()),
        (1, Error::NonCanonicalRecord)
    );
}

#[test]
fn replay_refuses_out_of_order_sequences() {
    let (set, records) = log();
    let swapped = [records[1].clone(), records[0].clone()];
    assert_eq!(
        replay_records(swapped.iter().map(|(s, p)| (*s, p)), &set),
        Err(Error::SequenceOrder {
            sequence: 1,
            previous: 2
        })
    );
    let repeated = [records[0].clone(), records[0].clone()];
    assert!(matches!(
        replay_records(repeated.iter().map(|(s, p)| (*s, p)), &set),
        Err(Error::SequenceOrder { .. })
    ));
}

#[test]
fn replay_refuses_a_record_past_the_size_bound() {
    let (set, records) = log();
    let mut big = records[0].1.clone();
    big.resize(MAX_RECORD_BYTES + 1, b' ');
    assert!(matches!(
        cause(replay_records([(1, big)], &set).unwrap_err()).1,
        Error::TooLarge { .. }
    ));
    let mut at_bound = records[0].1.clone();
    at_bound.resize(MAX_RECORD_BYTES, b' ');
    // At the bound it is read (and then refused as non-canonical, not as too large).
    assert_eq!(
        cause(replay_records([(1, at_bound)], &set).unwrap_err()).1,
        Error::NonCanonicalRecord
    );
}

#[test]
fn a_record_moved_to_another_policy_is_refused() {
    // The bundle names policy A; an attacker rewrites it to name B.
    let (set, records) = log();
    let text = String::from_utf8(records[0].1.clone()).unwrap();
    let a = common::example_policy().digest().to_string();
    let b = other_policy().digest().to_string();
    let moved = text.replacen(&a, &b, 1);
    let (_, cause) = cause(replay_records([(1, moved.into_bytes())], &set).unwrap_err());
    assert!(matches!(cause, Error::DecisionMismatch(_)), "{cause:?}");
}

proptest! {
    #[test]
    fn any_single_byte_change_fails_replay(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (set, records) = log();
        let mut payload = records[2].1.clone();
        let at = position.index(payload.len());
        prop_assume!(payload[at] != byte);
        payload[at] = byte;
        let result = replay_records([(3, payload)], &set);
        prop_assert!(matches!(result, Err(Error::Record { sequence: 3, .. })), "{:?}", result);
    }

    #[test]
    fn arbitrary_payloads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let (set, _) = log();
        prop_assert!(replay_records([(0, bytes)], &set).is_err());
    }

    #[test]
    fn records_of_random_decisions_replay(policy in common::policy(16), request in common::request()) {
        let decision = policy.prescribe(&request);
        let record = DecisionRecord::new(&policy, &request, &decision).unwrap();
        prop_assert_eq!(record.decision(), &decision);
        prop_assert_eq!(record.request(), &request);
        prop_assert_eq!(record.policy_digest(), policy.digest());
        prop_assert!(record.to_payload().len() <= MAX_RECORD_BYTES);
        let report = replay_records([(7, record.to_payload())], &policy).unwrap();
        prop_assert_eq!(report.last_sequence, Some(7));
    }
}
