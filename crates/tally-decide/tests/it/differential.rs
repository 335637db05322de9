//! Differential test against calybris-core 1.3.0: on random valid policies
//! and requests, Calybris and Tally give the same decision, field for field,
//! except for the known differences listed in the crate docs (no catalog
//! index; the reason when a cost above `u64::MAX` meets a `u64::MAX` budget).

use calybris_core::kernel::{KernelAction, KernelDecision};
use proptest::prelude::*;
use tally_decide::{Action, Decision, Policy, Request};

use crate::common;
use crate::peer::{calybris_input, calybris_policy};

/// Calybris's decision in Tally's shape (dropping `selected_model_index`).
fn translate(d: &KernelDecision) -> (Action, u16, Option<u32>, Option<u32>, [i128; 8]) {
    let action = match d.action {
        KernelAction::ExecuteRequested => Action::ExecuteRequested,
        KernelAction::Substitute => Action::Substitute,
        KernelAction::Reject => Action::Reject,
    };
    let id = |raw: u32| (raw != 0).then_some(raw);
    (
        action,
        d.reason as u16,
        id(d.selected_model_id),
        id(d.counterfactual_model_id),
        [
            i128::from(d.request_sequence),
            i128::from(d.estimated_cost_microunits),
            i128::from(d.expected_utility_microunits),
            i128::from(d.counterfactual_utility_microunits),
            i128::from(d.evaluated_models),
            i128::from(d.eligible_models),
            i128::from(d.policy_epoch),
            i128::from(d.catalog_epoch),
        ],
    )
}

fn ours(d: &Decision) -> (Action, u16, Option<u32>, Option<u32>, [i128; 8]) {
    (
        d.action,
        d.reason.code(),
        d.selected_id.map(|id| id.get()),
        d.runner_up_id.map(|id| id.get()),
        [
            i128::from(d.sequence),
            i128::from(d.cost_microunits),
            i128::from(d.utility_microunits),
            i128::from(d.runner_up_utility_microunits),
            i128::from(d.evaluated_candidates),
            i128::from(d.eligible_candidates),
            i128::from(d.policy_epoch),
            i128::from(d.catalog_epoch),
        ],
    )
}

/// Known difference 2: some candidate passes every gate before pricing, its
/// exact cost exceeds `u64::MAX`, and the budget is `u64::MAX`.
fn saturated_cost_case(policy: &Policy, request: &Request) -> bool {
    request.budget_microunits == u64::MAX
        && policy.explain(request).candidates.iter().any(|report| {
            report.cost_microunits > u128::from(u64::MAX)
                && report.verdict() == Some(tally_decide::Gate::Budget)
        })
}

fn compare(policy: &Policy, request: &Request) -> Result<(), TestCaseError> {
    let theirs = translate(&calybris_policy(policy).prescribe(calybris_input(request)));
    let mine = ours(&policy.prescribe(request));
    if saturated_cost_case(policy, request) && mine.0 == Action::Reject {
        prop_assert_eq!(
            (mine.0, mine.2, mine.3, mine.4),
            (theirs.0, theirs.2, theirs.3, theirs.4)
        );
    } else {
        prop_assert_eq!(mine, theirs);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_024))]

    #[test]
    fn decisions_match_calybris_on_random_inputs((policy, request) in common::case(24)) {
        compare(&policy, &request)?;
    }

    #[test]
    fn decisions_match_calybris_with_many_eligible_and_ties(
        policy in common::policy(64),
        sequence in any::<u64>(),
        requested in 1_u32..=64,
    ) {
        let request = Request {
            sequence,
            requested_id: Some(common::id(requested)),
            ..common::plain_request()
        };
        compare(&policy, &request)?;
    }
}

#[test]
fn the_example_matches_calybris() {
    let policy = common::example_policy();
    let request = common::example_request();
    compare(&policy, &request).unwrap();
}

#[test]
fn the_known_cost_saturation_difference_is_real_and_confined_to_the_reason() {
    // One candidate whose exact cost exceeds u64::MAX, budget u64::MAX: Calybris
    // counts it as non-positive utility, Tally as over budget.
    let mut candidate = common::candidate(1);
    candidate.input_price_microunits_per_million_tokens = u64::MAX;
    let policy = Policy::new(common::spec_with(vec![candidate])).unwrap();
    let request = Request {
        input_tokens: u32::MAX,
        budget_microunits: u64::MAX,
        ..common::plain_request()
    };
    let theirs = calybris_policy(&policy).prescribe(calybris_input(&request));
    let mine = policy.prescribe(&request);
    assert_eq!(
        theirs.reason as u16,
        tally_decide::Reason::NonPositiveUtility.code()
    );
    assert_eq!(mine.reason, tally_decide::Reason::BudgetConstraint);
    assert!(saturated_cost_case(&policy, &request));
}
