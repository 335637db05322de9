//! Adversarial inputs: extremes, zero prices, empty and maximal catalogs.
//! Tests run with overflow checks on, so any overflow would fail them.

use proptest::prelude::*;
use tally_decide::{
    Action, Bps, Candidate, Error, MAX_CANDIDATES, Policy, PolicySpec, ProviderId, Reason, Request,
    verify_decision,
};

use crate::common;
use crate::reference::reference_decide;

fn extreme_candidate(value: u32) -> Candidate {
    Candidate {
        id: common::id(value),
        provider: ProviderId::MAX,
        quality_bps: Bps::MAX,
        risk_ceiling_bps: Bps::MAX,
        enabled: true,
        p95_latency_ms: u32::MAX,
        capabilities: u64::MAX,
        region_mask: u64::MAX,
        input_price_microunits_per_million_tokens: u64::MAX,
        output_price_microunits_per_million_tokens: u64::MAX,
    }
}

fn extreme_request() -> Request {
    Request {
        sequence: u64::MAX,
        requested_id: Some(common::id(u32::MAX)),
        input_tokens: u32::MAX,
        output_tokens: u32::MAX,
        value_microunits: i64::MAX,
        budget_microunits: u64::MAX,
        risk_bps: Bps::ZERO,
        confidence_bps: Bps::MAX,
        minimum_quality_bps: Bps::ZERO,
        max_p95_latency_ms: u32::MAX,
        required_capabilities: u64::MAX,
        allowed_providers: u64::MAX,
        required_regions: u64::MAX,
    }
}

fn extreme_spec(candidates: Vec<Candidate>) -> PolicySpec {
    PolicySpec {
        policy_epoch: u64::MAX,
        catalog_epoch: u64::MAX,
        hard_risk_limit_bps: Bps::MAX,
        minimum_confidence_bps: Bps::ZERO,
        risk_penalty_multiplier_bps: tally_decide::MAX_RISK_PENALTY_MULTIPLIER_BPS,
        latency_penalty_microunits_per_ms: u64::MAX,
        candidates,
    }
}

fn agrees(policy: &Policy, request: &Request) -> tally_decide::Decision {
    let decision = policy.prescribe(request);
    assert_eq!(decision, reference_decide(policy.spec(), request));
    assert_eq!(verify_decision(policy, request, &decision), Ok(()));
    decision
}

#[test]
fn maximal_values_everywhere_do_not_overflow() {
    let policy = Policy::new(extreme_spec(vec![
        extreme_candidate(u32::MAX),
        extreme_candidate(1),
    ]))
    .unwrap();
    for value in [i64::MAX, i64::MIN, 0, -1, 1] {
        for budget in [u64::MAX, 0] {
            let request = Request {
                value_microunits: value,
                budget_microunits: budget,
                ..extreme_request()
            };
            let decision = agrees(&policy, &request);
            assert_eq!(decision.action, Action::Reject);
        }
    }
    let explanation = policy.explain(&extreme_request());
    let report = &explanation.candidates[0];
    // cost = 2 × ceil((2^32 − 1)(2^64 − 1) / 10^6): exact, far above u64::MAX.
    let side = (u128::from(u32::MAX) * u128::from(u64::MAX)).div_ceil(1_000_000);
    assert_eq!(report.cost_microunits, 2 * side);
    assert_eq!(
        report.latency_penalty_microunits,
        u128::from(u32::MAX) * u128::from(u64::MAX)
    );
    assert!(report.utility_microunits < 0);
}

#[test]
fn maximal_value_with_zero_prices_selects_exactly() {
    let mut free = extreme_candidate(7);
    free.input_price_microunits_per_million_tokens = 0;
    free.output_price_microunits_per_million_tokens = 0;
    free.p95_latency_ms = 0;
    let mut spec = extreme_spec(vec![free]);
    spec.risk_penalty_multiplier_bps = 0;
    let policy = Policy::new(spec).unwrap();
    let request = Request {
        requested_id: Some(common::id(7)),
        ..extreme_request()
    };
    let decision = agrees(&policy, &request);
    assert_eq!(decision.action, Action::ExecuteRequested);
    assert_eq!(decision.cost_microunits, 0);
    assert_eq!(decision.utility_microunits, i64::MAX);
}

#[test]
fn negative_value_never_selects() {
    let policy = Policy::new(common::spec_with(vec![common::candidate(1)])).unwrap();
    for value in [i64::MIN, -1, 0] {
        let request = Request {
            value_microunits: value,
            ..common::plain_request()
        };
        let decision = agrees(&policy, &request);
        assert_eq!(
            (decision.action, decision.reason),
            (Action::Reject, Reason::NonPositiveUtility)
        );
    }
}

#[test]
fn zero_prices_cost_nothing() {
    let mut candidate = common::candidate(1);
    candidate.input_price_microunits_per_million_tokens = 0;
    candidate.output_price_microunits_per_million_tokens = 0;
    let policy = Policy::new(common::spec_with(vec![candidate])).unwrap();
    let request = Request {
        budget_microunits: 0,
        input_tokens: u32::MAX,
        ..common::plain_request()
    };
    let decision = agrees(&policy, &request);
    assert_eq!(decision.action, Action::ExecuteRequested);
    assert_eq!(decision.cost_microunits, 0);
}

#[test]
fn empty_catalog_is_refused() {
    assert_eq!(
        Policy::new(common::spec_with(vec![])),
        Err(Error::EmptyCatalog)
    );
}

#[test]
fn every_candidate_disabled_rejects_every_request() {
    let mut candidate = common::candidate(1);
    candidate.enabled = false;
    let policy = Policy::new(common::spec_with(vec![candidate])).unwrap();
    let decision = agrees(&policy, &common::plain_request());
    assert_eq!(
        (decision.action, decision.reason),
        (Action::Reject, Reason::NoEnabledCandidate)
    );
}

fn full_catalog(count: usize) -> Vec<Candidate> {
    (1..=u32::try_from(count).unwrap())
        .map(|value| {
            let mut c = common::candidate(value);
            // Spread quality and prices so utilities differ and tie in places.
            c.quality_bps = common::bps(u16::try_from(value % 10_001).unwrap());
            c.input_price_microunits_per_million_tokens = u64::from(value % 97) * 1_000;
            c
        })
        .collect()
}

#[test]
fn largest_catalog_is_accepted_and_counted_exactly() {
    let policy = Policy::new(common::spec_with(full_catalog(MAX_CANDIDATES))).unwrap();
    let request = Request {
        minimum_quality_bps: Bps::ZERO,
        ..common::plain_request()
    };
    let decision = agrees(&policy, &request);
    assert_eq!(usize::from(decision.evaluated_candidates), MAX_CANDIDATES);
    assert_eq!(decision.evaluated_candidates, u16::MAX);
    assert!(decision.eligible_candidates > 60_000, "{decision:?}");
    // All of them rejected by one gate: the count is exact, not saturated.
    let none = Request {
        required_capabilities: 1,
        ..request
    };
    let decision = agrees(&policy, &none);
    assert_eq!(
        (decision.action, decision.reason),
        (Action::Reject, Reason::CapabilityConstraint)
    );
}

#[test]
fn one_past_the_largest_catalog_is_refused() {
    let spec = common::spec_with(full_catalog(MAX_CANDIDATES + 1));
    assert_eq!(
        Policy::new(spec),
        Err(Error::TooManyCandidates {
            count: MAX_CANDIDATES + 1,
            max: MAX_CANDIDATES
        })
    );
}

#[test]
fn risk_multiplier_bound_holds_at_the_bound_and_one_past() {
    let mut spec = common::spec_with(vec![common::candidate(1)]);
    spec.risk_penalty_multiplier_bps = 50_000;
    assert!(Policy::new(spec.clone()).is_ok());
    spec.risk_penalty_multiplier_bps = 50_001;
    assert_eq!(
        Policy::new(spec),
        Err(Error::RiskMultiplierOutOfRange {
            value: 50_001,
            max: 50_000
        })
    );
}

#[test]
fn duplicate_ids_are_refused_in_any_order() {
    let spec = common::spec_with(vec![
        common::candidate(5),
        common::candidate(2),
        common::candidate(5),
    ]);
    assert_eq!(
        Policy::new(spec),
        Err(Error::DuplicateCandidateId { id: 5 })
    );
}

#[test]
fn hard_limits_hold_at_the_bound_and_one_past() {
    let policy = Policy::new(common::spec_with(vec![common::candidate(1)])).unwrap();
    // hard_risk_limit 9,600: 9,599 passes, 9,600 is rejected.
    let at = |risk| Request {
        risk_bps: common::bps(risk),
        ..common::plain_request()
    };
    let mut ceiling = common::candidate(1);
    ceiling.risk_ceiling_bps = Bps::MAX;
    let policy_high = Policy::new(common::spec_with(vec![ceiling])).unwrap();
    assert_ne!(
        policy_high.prescribe(&at(9_599)).reason,
        Reason::RiskHardLimit
    );
    assert_eq!(
        policy_high.prescribe(&at(9_600)).reason,
        Reason::RiskHardLimit
    );
    // minimum confidence 5,000: 5,000 passes, 4,999 is rejected.
    let conf = |c| Request {
        confidence_bps: common::bps(c),
        ..common::plain_request()
    };
    assert_ne!(
        policy.prescribe(&conf(5_000)).reason,
        Reason::ConfidenceHardLimit
    );
    assert_eq!(
        policy.prescribe(&conf(4_999)).reason,
        Reason::ConfidenceHardLimit
    );
}

proptest! {
    #[test]
    fn arbitrary_extreme_mixes_never_panic_and_match_the_reference(
        policy in common::policy(16),
        sequence in any::<u64>(),
        tokens in prop::sample::select(vec![0_u32, 1, u32::MAX]),
        value in prop::sample::select(vec![i64::MIN, -1, 0, 1, i64::MAX]),
        budget in prop::sample::select(vec![0_u64, 1, u64::MAX]),
    ) {
        let request = Request {
            sequence,
            input_tokens: tokens,
            output_tokens: tokens,
            value_microunits: value,
            budget_microunits: budget,
            ..extreme_request()
        };
        prop_assert_eq!(policy.prescribe(&request), reference_decide(policy.spec(), &request));
        let _ = policy.explain(&request);
    }
}
