//! A reference implementation of the decision rule, written from the crate
//! docs without any of the crate's helpers: plain `i128`, a `Vec` of eligible
//! candidates sorted by the ranking key, counts in an array. The optimised
//! kernel must agree with it on every input.

use std::cmp::Reverse;

use proptest::prelude::*;
use tally_decide::{Action, Decision, Policy, PolicySpec, Reason, Request};

use crate::common;

/// Gate indices, in rule order.
const DISABLED: usize = 0;
const QUALITY: usize = 1;
const LATENCY: usize = 2;
const CAPABILITY: usize = 3;
const PROVIDER: usize = 4;
const REGION: usize = 5;
const RISK_CEILING: usize = 6;
const BUDGET: usize = 7;
const UTILITY: usize = 8;

fn ceil_div(numerator: i128, denominator: i128) -> i128 {
    (numerator + denominator - 1) / denominator
}

pub fn reference_decide(spec: &PolicySpec, request: &Request) -> Decision {
    let reject = |reason, evaluated, eligible| Decision {
        sequence: request.sequence,
        action: Action::Reject,
        reason,
        selected_id: None,
        cost_microunits: 0,
        utility_microunits: 0,
        runner_up_id: None,
        runner_up_utility_microunits: 0,
        evaluated_candidates: evaluated,
        eligible_candidates: eligible,
        policy_epoch: spec.policy_epoch,
        catalog_epoch: spec.catalog_epoch,
    };
    if request.risk_bps.get() >= spec.hard_risk_limit_bps.get() {
        return reject(Reason::RiskHardLimit, 0, 0);
    }
    if request.confidence_bps.get() < spec.minimum_confidence_bps.get() {
        return reject(Reason::ConfidenceHardLimit, 0, 0);
    }
    let value = i128::from(request.value_microunits.max(0));
    let confidence = i128::from(request.confidence_bps.get());
    let risk = i128::from(request.risk_bps.get());
    let risk_penalty = value * risk * i128::from(spec.risk_penalty_multiplier_bps) / 100_000_000;

    let mut counts = [0_u32; 9];
    // (utility, cost, quality, id)
    let mut eligible: Vec<(i128, i128, u16, u32)> = Vec::new();
    for c in &spec.candidates {
        let quality = c.quality_bps.get();
        let gate_failed = if !c.enabled {
            Some(DISABLED)
        } else if quality < request.minimum_quality_bps.get() {
            Some(QUALITY)
        } else if request.max_p95_latency_ms > 0 && c.p95_latency_ms > request.max_p95_latency_ms {
            Some(LATENCY)
        } else if c.capabilities & request.required_capabilities != request.required_capabilities {
            Some(CAPABILITY)
        } else if request.allowed_providers & (1_u64 << c.provider.get()) == 0 {
            Some(PROVIDER)
        } else if request.required_regions != 0 && c.region_mask & request.required_regions == 0 {
            Some(REGION)
        } else if request.risk_bps.get() > c.risk_ceiling_bps.get() {
            Some(RISK_CEILING)
        } else {
            None
        };
        if let Some(gate) = gate_failed {
            counts[gate] += 1;
            continue;
        }
        let cost = ceil_div(
            i128::from(request.input_tokens)
                * i128::from(c.input_price_microunits_per_million_tokens),
            1_000_000,
        ) + ceil_div(
            i128::from(request.output_tokens)
                * i128::from(c.output_price_microunits_per_million_tokens),
            1_000_000,
        );
        if cost > i128::from(request.budget_microunits) {
            counts[BUDGET] += 1;
            continue;
        }
        let quality_value = value * confidence * i128::from(quality) / 100_000_000;
        let latency_penalty =
            i128::from(c.p95_latency_ms) * i128::from(spec.latency_penalty_microunits_per_ms);
        let utility = quality_value - risk_penalty - cost - latency_penalty;
        if utility <= 0 {
            counts[UTILITY] += 1;
            continue;
        }
        eligible.push((utility, cost, quality, c.id.get()));
    }
    let evaluated = u16::try_from(spec.candidates.len()).unwrap();
    let eligible_count = u16::try_from(eligible.len()).unwrap();
    eligible.sort_by_key(|&(utility, cost, quality, id)| {
        (Reverse(utility), cost, Reverse(quality), id)
    });
    let Some(&(utility, cost, _, winner)) = eligible.first() else {
        return reject(dominant(&counts), evaluated, eligible_count);
    };
    let runner_up = eligible.get(1);
    let requested = request.requested_id.map(|id| id.get()) == Some(winner);
    Decision {
        sequence: request.sequence,
        action: if requested {
            Action::ExecuteRequested
        } else {
            Action::Substitute
        },
        reason: if requested {
            Reason::RequestedMaximizesUtility
        } else {
            Reason::AlternativeMaximizesUtility
        },
        selected_id: Some(common::id(winner)),
        cost_microunits: u64::try_from(cost).unwrap(),
        utility_microunits: i64::try_from(utility).unwrap(),
        runner_up_id: runner_up.map(|r| common::id(r.3)),
        runner_up_utility_microunits: runner_up.map_or(0, |r| i64::try_from(r.0).unwrap()),
        evaluated_candidates: evaluated,
        eligible_candidates: eligible_count,
        policy_epoch: spec.policy_epoch,
        catalog_epoch: spec.catalog_epoch,
    }
}

/// Most counted gate; ties to the later one in Calybris's list.
fn dominant(counts: &[u32; 9]) -> Reason {
    let order = [
        (CAPABILITY, Reason::CapabilityConstraint),
        (REGION, Reason::RegionConstraint),
        (PROVIDER, Reason::ProviderConstraint),
        (QUALITY, Reason::QualityConstraint),
        (RISK_CEILING, Reason::RiskCeilingConstraint),
        (LATENCY, Reason::LatencyConstraint),
        (BUDGET, Reason::BudgetConstraint),
        (UTILITY, Reason::NonPositiveUtility),
        (DISABLED, Reason::NoEnabledCandidate),
    ];
    let mut best = (0, Reason::NoEnabledCandidate);
    for (gate, reason) in order {
        if counts[gate] > 0 && counts[gate] >= best.0 {
            best = (counts[gate], reason);
        }
    }
    best.1
}

fn check(policy: &Policy, request: &Request) -> Result<(), TestCaseError> {
    let expected = reference_decide(policy.spec(), request);
    prop_assert_eq!(policy.prescribe(request), expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_024))]

    #[test]
    fn kernel_matches_the_reference_on_random_inputs((policy, request) in common::case(24)) {
        check(&policy, &request)?;
    }

    #[test]
    fn kernel_matches_the_reference_with_many_eligible_and_ties(
        policy in common::policy(64),
        sequence in any::<u64>(),
    ) {
        // A generous, unconstrained request: most candidates are eligible,
        // and the small value domains produce utility and cost ties.
        let request = Request { sequence, ..common::plain_request() };
        check(&policy, &request)?;
    }
}

#[test]
fn reference_agrees_on_the_example() {
    let policy = common::example_policy();
    let request = common::example_request();
    assert_eq!(
        policy.prescribe(&request),
        reference_decide(policy.spec(), &request)
    );
}
