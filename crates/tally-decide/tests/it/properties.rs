//! Properties of the kernel, the verifier and the digests.

use proptest::prelude::*;
use tally_decide::{
    Action, Candidate, CandidateId, CandidateReport, Decision, DecisionField, Error, Gate, Policy,
    PolicySpec, Reason, Request, decision_digest, policy_digest, request_digest, verify_decision,
};

use crate::common;

/// Checks from the candidate's own fields (not the crate's gate code) that an
/// eligible candidate passes every gate.
fn passes_every_gate(c: &Candidate, r: &Request, report: &CandidateReport) -> bool {
    c.enabled
        && c.quality_bps >= r.minimum_quality_bps
        && (r.max_p95_latency_ms == 0 || c.p95_latency_ms <= r.max_p95_latency_ms)
        && c.capabilities & r.required_capabilities == r.required_capabilities
        && r.allowed_providers & c.provider.mask_bit() != 0
        && (r.required_regions == 0 || c.region_mask & r.required_regions != 0)
        && r.risk_bps <= c.risk_ceiling_bps
        && report.cost_microunits <= u128::from(r.budget_microunits)
        && report.utility_microunits > 0
}

fn utility_of(reports: &[CandidateReport], id: Option<CandidateId>) -> Option<i128> {
    let id = id?;
    reports
        .iter()
        .find(|r| r.id == id)
        .map(|r| r.utility_microunits)
}

/// A decision with exactly `field` changed to another value.
pub(crate) fn tamper(decision: &Decision, field: DecisionField) -> Decision {
    let mut d = *decision;
    let other_id = |id: Option<CandidateId>| match id {
        None => Some(common::id(1)),
        Some(id) if id.get() == u32::MAX => None,
        Some(id) => Some(common::id(id.get() + 1)),
    };
    match field {
        DecisionField::Sequence => d.sequence = d.sequence.wrapping_add(1),
        DecisionField::Action => {
            d.action = if d.action == Action::Reject {
                Action::Substitute
            } else {
                Action::Reject
            }
        }
        DecisionField::Reason => {
            d.reason = if d.reason == Reason::BudgetConstraint {
                Reason::RegionConstraint
            } else {
                Reason::BudgetConstraint
            }
        }
        DecisionField::SelectedId => d.selected_id = other_id(d.selected_id),
        DecisionField::CostMicrounits => d.cost_microunits ^= 1,
        DecisionField::UtilityMicrounits => d.utility_microunits ^= 1,
        DecisionField::RunnerUpId => d.runner_up_id = other_id(d.runner_up_id),
        DecisionField::RunnerUpUtilityMicrounits => d.runner_up_utility_microunits ^= 1,
        DecisionField::EvaluatedCandidates => d.evaluated_candidates ^= 1,
        DecisionField::EligibleCandidates => d.eligible_candidates ^= 1,
        DecisionField::PolicyEpoch => d.policy_epoch ^= 1,
        DecisionField::CatalogEpoch => d.catalog_epoch ^= 1,
    }
    d
}

/// Another basis-point value, still in range.
fn flip(value: u16) -> u16 {
    if value == 0 { 1 } else { value - 1 }
}

/// Every way of changing exactly one policy field (header or candidate).
fn policy_variants(spec: &PolicySpec) -> Vec<PolicySpec> {
    let mut out = Vec::new();
    let mut push = |change: &dyn Fn(&mut PolicySpec)| {
        let mut s = spec.clone();
        change(&mut s);
        out.push(s);
    };
    push(&|s| s.policy_epoch ^= 1);
    push(&|s| s.catalog_epoch ^= 1);
    push(&|s| s.hard_risk_limit_bps = common::bps(flip(s.hard_risk_limit_bps.get())));
    push(&|s| s.minimum_confidence_bps = common::bps(flip(s.minimum_confidence_bps.get())));
    push(&|s| s.risk_penalty_multiplier_bps = flip(s.risk_penalty_multiplier_bps));
    push(&|s| s.latency_penalty_microunits_per_ms ^= 1);
    let unused = (1..)
        .find(|v| spec.candidates.iter().all(|c| c.id.get() != *v))
        .unwrap();
    let unused = common::id(unused);
    push(&|s| {
        s.candidates.push(Candidate {
            id: unused,
            ..s.candidates[0]
        })
    });
    let per_candidate: Vec<fn(&mut Candidate)> = vec![
        |c| c.provider = tally_decide::ProviderId::new(c.provider.get() ^ 1).unwrap(),
        |c| c.quality_bps = common::bps(flip(c.quality_bps.get())),
        |c| c.risk_ceiling_bps = common::bps(flip(c.risk_ceiling_bps.get())),
        |c| c.enabled = !c.enabled,
        |c| c.p95_latency_ms ^= 1,
        |c| c.capabilities ^= 1,
        |c| c.region_mask ^= 1,
        |c| c.input_price_microunits_per_million_tokens ^= 1,
        |c| c.output_price_microunits_per_million_tokens ^= 1,
    ];
    for change in per_candidate {
        let mut s = spec.clone();
        change(&mut s.candidates[0]);
        out.push(s);
    }
    // The id itself (to one not in the catalog).
    let mut s = spec.clone();
    s.candidates[0].id = unused;
    out.push(s);
    out
}

fn request_variants(r: &Request) -> Vec<Request> {
    let flip_bps = |b: tally_decide::Bps| common::bps(flip(b.get()));
    vec![
        Request {
            sequence: r.sequence ^ 1,
            ..*r
        },
        Request {
            requested_id: match r.requested_id {
                None => Some(common::id(1)),
                Some(_) => None,
            },
            ..*r
        },
        Request {
            input_tokens: r.input_tokens ^ 1,
            ..*r
        },
        Request {
            output_tokens: r.output_tokens ^ 1,
            ..*r
        },
        Request {
            value_microunits: r.value_microunits ^ 1,
            ..*r
        },
        Request {
            budget_microunits: r.budget_microunits ^ 1,
            ..*r
        },
        Request {
            risk_bps: flip_bps(r.risk_bps),
            ..*r
        },
        Request {
            confidence_bps: flip_bps(r.confidence_bps),
            ..*r
        },
        Request {
            minimum_quality_bps: flip_bps(r.minimum_quality_bps),
            ..*r
        },
        Request {
            max_p95_latency_ms: r.max_p95_latency_ms ^ 1,
            ..*r
        },
        Request {
            required_capabilities: r.required_capabilities ^ 1,
            ..*r
        },
        Request {
            allowed_providers: r.allowed_providers ^ 1,
            ..*r
        },
        Request {
            required_regions: r.required_regions ^ 1,
            ..*r
        },
    ]
}

proptest! {
    #[test]
    fn prescribe_is_deterministic((policy, request) in common::case(24)) {
        let first = policy.prescribe(&request);
        prop_assert_eq!(policy.prescribe(&request), first);
        prop_assert_eq!(policy.clone().prescribe(&request), first);
        let rebuilt = Policy::new(policy.spec().clone()).unwrap();
        prop_assert_eq!(rebuilt.prescribe(&request), first);
        prop_assert_eq!(policy.explain(&request).decision, first);
    }

    #[test]
    fn catalog_order_changes_nothing(
        (spec, shuffled) in common::spec(24).prop_flat_map(|spec| {
            let candidates = spec.candidates.clone();
            (Just(spec), Just(candidates).prop_shuffle())
        }),
        request in common::request(),
    ) {
        let sorted = Policy::new(spec.clone()).unwrap();
        let permuted = Policy::new(PolicySpec { candidates: shuffled, ..spec }).unwrap();
        prop_assert_eq!(&permuted, &sorted);
        prop_assert_eq!(permuted.digest(), sorted.digest());
        prop_assert_eq!(permuted.canonical_bytes(), sorted.canonical_bytes());
        prop_assert_eq!(permuted.prescribe(&request), sorted.prescribe(&request));
    }

    #[test]
    fn no_eligible_candidate_violates_a_gate((policy, request) in common::case(24)) {
        let explanation = policy.explain(&request);
        let decision = explanation.decision;
        let mut eligible = 0_usize;
        for (candidate, report) in policy.candidates().iter().zip(&explanation.candidates) {
            prop_assert_eq!(candidate.id, report.id);
            prop_assert_eq!(report.is_eligible(), passes_every_gate(candidate, &request, report));
            eligible += usize::from(report.is_eligible());
        }
        if decision.evaluated_candidates > 0 {
            prop_assert_eq!(eligible, usize::from(decision.eligible_candidates));
        }
        if decision.action == Action::Reject {
            prop_assert!(decision.selected_id.is_none());
        } else {
            for id in [decision.selected_id, decision.runner_up_id].into_iter().flatten() {
                let report = explanation.candidates.iter().find(|r| r.id == id).unwrap();
                prop_assert!(report.is_eligible(), "selected or runner-up {} is not eligible", id);
            }
        }
    }

    #[test]
    fn the_winner_has_the_largest_utility((policy, request) in common::case(24)) {
        let explanation = policy.explain(&request);
        let decision = explanation.decision;
        let reports = &explanation.candidates;
        let best = reports.iter().filter(|r| r.is_eligible()).map(|r| r.utility_microunits).max();
        if decision.action == Action::Reject {
            prop_assert!(best.is_none() || decision.evaluated_candidates == 0);
            return Ok(());
        }
        prop_assert_eq!(utility_of(reports, decision.selected_id), best);
        prop_assert_eq!(Some(i128::from(decision.utility_microunits)), best);
        let second = reports
            .iter()
            .filter(|r| r.is_eligible() && Some(r.id) != decision.selected_id)
            .map(|r| r.utility_microunits)
            .max();
        prop_assert_eq!(utility_of(reports, decision.runner_up_id), second);
        prop_assert_eq!(i128::from(decision.runner_up_utility_microunits), second.unwrap_or(0));
    }

    #[test]
    fn any_single_field_change_fails_verification(
        (policy, request) in common::case(24),
    ) {
        let decision = policy.prescribe(&request);
        prop_assert_eq!(verify_decision(&policy, &request, &decision), Ok(()));
        for field in DecisionField::ALL {
            let forged = tamper(&decision, field);
            let Err(Error::DecisionMismatch(mismatch)) = verify_decision(&policy, &request, &forged) else {
                return Err(TestCaseError::fail(format!("changing {field} went unnoticed")));
            };
            prop_assert_eq!(mismatch.fields.iter().collect::<Vec<_>>(), vec![field]);
            prop_assert_eq!(mismatch.replayed, decision);
            prop_assert_eq!(mismatch.recorded, forged);
        }
    }

    #[test]
    fn digests_change_with_every_field(policy in common::policy(8), request in common::request()) {
        for variant in policy_variants(policy.spec()) {
            // Every variant is valid: ids stay distinct, values in range.
            let changed = Policy::new(variant).unwrap();
            prop_assert_ne!(changed.digest(), policy.digest());
        }
        for variant in request_variants(&request) {
            prop_assert_ne!(request_digest(&variant), request_digest(&request));
        }
        let decision = policy.prescribe(&request);
        for field in DecisionField::ALL {
            prop_assert_ne!(decision_digest(&tamper(&decision, field)), decision_digest(&decision));
        }
    }

    #[test]
    fn cached_policy_digest_is_the_digest_of_its_canonical_bytes(policy in common::policy(24)) {
        use sha2::Digest as _;
        let expected: [u8; 32] = sha2::Sha256::digest(policy.canonical_bytes()).into();
        prop_assert_eq!(*policy.digest().as_bytes(), expected);
        prop_assert_eq!(policy_digest(&policy), policy.digest());
    }

    #[test]
    fn batch_equals_one_by_one(policy in common::policy(24), requests in prop::collection::vec(common::request(), 0..8)) {
        let batch: Vec<Decision> = policy.prescribe_batch(&requests).collect();
        let single: Vec<Decision> = requests.iter().map(|r| policy.prescribe(r)).collect();
        prop_assert_eq!(batch, single);
    }

    #[test]
    fn explanation_gates_are_in_rule_order_and_verdict_is_the_first(
        (policy, request) in common::case(24),
    ) {
        for report in policy.explain(&request).candidates {
            let positions: Vec<usize> = report
                .failed_gates
                .iter()
                .map(|g| Gate::ALL.iter().position(|x| x == g).unwrap())
                .collect();
            prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(report.verdict(), report.failed_gates.first().copied());
        }
    }
}

#[test]
fn tampering_covers_every_field_of_a_selected_and_a_rejected_decision() {
    let policy = common::example_policy();
    let selecting = common::example_request();
    let rejecting = Request {
        risk_bps: common::bps(10_000),
        ..selecting
    };
    for request in [selecting, rejecting] {
        let decision = policy.prescribe(&request);
        for field in DecisionField::ALL {
            let forged = tamper(&decision, field);
            assert!(field.differs(&forged, &decision), "{field}");
            assert!(
                verify_decision(&policy, &request, &forged).is_err(),
                "{field}"
            );
        }
    }
}
