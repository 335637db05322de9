//! `explain`: every candidate's gate results and utility terms, exactly.
//!
//! This is the slow path. It evaluates every gate of every candidate (not
//! only the first that fails) in `u128`/`i128`, from the catalog entries
//! rather than the packed rows of the scan, so an explanation shows the whole
//! picture and is an independent check of the fast path.

use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, Reason};
use crate::kernel::{Terms, token_cost};
use crate::policy::{Candidate, Policy};
use crate::{CandidateId, Request};

/// A gate of the decision rule, in the order the rule applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Gate {
    /// The candidate is disabled.
    Disabled,
    /// Its quality is below the request's minimum.
    Quality,
    /// Its p95 latency is above the request's cap.
    Latency,
    /// It lacks a capability the request requires.
    Capability,
    /// Its provider is not in the request's allowed mask.
    Provider,
    /// It serves none of the request's required regions.
    Region,
    /// The request's risk is above its risk ceiling.
    RiskCeiling,
    /// Its cost is above the request's budget.
    Budget,
    /// Its utility is zero or negative.
    Utility,
}

impl Gate {
    /// Every gate, in rule order.
    pub const ALL: [Gate; 9] = [
        Gate::Disabled,
        Gate::Quality,
        Gate::Latency,
        Gate::Capability,
        Gate::Provider,
        Gate::Region,
        Gate::RiskCeiling,
        Gate::Budget,
        Gate::Utility,
    ];

    /// The reason a rejected decision gives when this gate dominates.
    #[must_use]
    pub const fn reason(self) -> Reason {
        match self {
            Gate::Disabled => Reason::NoEnabledCandidate,
            Gate::Quality => Reason::QualityConstraint,
            Gate::Latency => Reason::LatencyConstraint,
            Gate::Capability => Reason::CapabilityConstraint,
            Gate::Provider => Reason::ProviderConstraint,
            Gate::Region => Reason::RegionConstraint,
            Gate::RiskCeiling => Reason::RiskCeilingConstraint,
            Gate::Budget => Reason::BudgetConstraint,
            Gate::Utility => Reason::NonPositiveUtility,
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Gate::Disabled => "disabled",
            Gate::Quality => "quality",
            Gate::Latency => "latency",
            Gate::Capability => "capability",
            Gate::Provider => "provider",
            Gate::Region => "region",
            Gate::RiskCeiling => "risk_ceiling",
            Gate::Budget => "budget",
            Gate::Utility => "utility",
        };
        f.write_str(name)
    }
}

/// One candidate's evaluation: every gate it fails and its utility terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateReport {
    /// The candidate.
    pub id: CandidateId,
    /// Every gate it fails, in rule order (empty when eligible).
    pub failed_gates: Vec<Gate>,
    /// `floor(value × confidence × quality / 10^8)`.
    pub quality_value_microunits: u64,
    /// `floor(value × risk × risk multiplier / 10^8)` (the same for all).
    pub risk_penalty_microunits: u128,
    /// `ceil(input tokens × input price / 10^6) + ceil(output tokens × output price / 10^6)`.
    pub cost_microunits: u128,
    /// `p95 latency × latency penalty per ms`.
    pub latency_penalty_microunits: u128,
    /// Quality value minus the three charges, exact.
    pub utility_microunits: i128,
}

impl CandidateReport {
    /// The gate that counts against this candidate: the first it fails.
    #[must_use]
    pub fn verdict(&self) -> Option<Gate> {
        self.failed_gates.first().copied()
    }

    /// Whether it passed every gate with a positive utility.
    #[must_use]
    pub fn is_eligible(&self) -> bool {
        self.failed_gates.is_empty()
    }
}

/// A decision and the evaluation of every candidate behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The decision, exactly as [`Policy::prescribe`] gives it.
    pub decision: Decision,
    /// Every candidate, in id order. When a hard limit rejected the request,
    /// no candidate was considered; they are still evaluated here.
    pub candidates: Vec<CandidateReport>,
}

/// The exact terms of one candidate (no allocation).
#[derive(Clone, Copy, Debug)]
struct Evaluation {
    pub(crate) quality_value: u64,
    pub(crate) cost: u128,
    pub(crate) latency_penalty: u128,
    pub(crate) utility: i128,
}

/// The gates checked before pricing, in rule order (all but budget and utility).
const STATIC_GATES: &[Gate] = Gate::ALL.split_at(7).0;

impl Evaluation {
    fn of(terms: &Terms, candidate: &Candidate, penalty_per_ms: u64) -> Self {
        let quality_value = terms.quality_value(candidate.quality_bps.get());
        let cost = token_cost(
            terms.input_tokens,
            candidate.input_price_microunits_per_million_tokens,
        ) + token_cost(
            terms.output_tokens,
            candidate.output_price_microunits_per_million_tokens,
        );
        let latency_penalty = u128::from(candidate.p95_latency_ms) * u128::from(penalty_per_ms);
        // Each term is below 2^98, so the sum cannot overflow i128.
        let utility = signed(quality_value.into())
            - signed(terms.risk_penalty)
            - signed(cost)
            - signed(latency_penalty);
        Self {
            quality_value,
            cost,
            latency_penalty,
            utility,
        }
    }

    fn over_budget(&self, terms: &Terms) -> bool {
        self.cost > u128::from(terms.budget)
    }
}

fn signed(value: u128) -> i128 {
    // The terms are below 2^98 (see the crate docs), so this never saturates.
    i128::try_from(value).unwrap_or(i128::MAX)
}

/// Evaluates every candidate in id order (no allocation).
fn evaluations<'a>(
    policy: &'a Policy,
    terms: &'a Terms,
) -> impl Iterator<Item = (&'a Candidate, Evaluation)> + 'a {
    let penalty = policy.spec().latency_penalty_microunits_per_ms;
    policy
        .candidates()
        .iter()
        .map(move |candidate| (candidate, Evaluation::of(terms, candidate, penalty)))
}

impl Policy {
    /// The decision together with every candidate's gate results and utility
    /// terms. Allocates one report per candidate; use [`Policy::prescribe`]
    /// on the hot path.
    ///
    /// ```
    /// # use tally_decide::*;
    /// # let policy: Policy = serde_json::from_str(include_str!("../examples/policy.json")).unwrap();
    /// # let request: Request = serde_json::from_str(include_str!("../examples/request.json")).unwrap();
    /// let explanation = policy.explain(&request);
    /// assert_eq!(explanation.decision, policy.prescribe(&request));
    /// assert_eq!(explanation.candidates.len(), policy.candidates().len());
    /// let eligible = explanation.candidates.iter().filter(|c| c.is_eligible()).count();
    /// assert_eq!(eligible, usize::from(explanation.decision.eligible_candidates));
    /// ```
    #[must_use]
    pub fn explain(&self, request: &Request) -> Explanation {
        let terms = Terms::new(self, request);
        let candidates = evaluations(self, &terms)
            .map(|(candidate, evaluation)| CandidateReport {
                id: candidate.id,
                failed_gates: failed_gates(&terms, candidate, &evaluation),
                quality_value_microunits: evaluation.quality_value,
                risk_penalty_microunits: terms.risk_penalty,
                cost_microunits: evaluation.cost,
                latency_penalty_microunits: evaluation.latency_penalty,
                utility_microunits: evaluation.utility,
            })
            .collect();
        Explanation {
            decision: self.prescribe(request),
            candidates,
        }
    }
}

/// Every gate the candidate fails, in rule order.
fn failed_gates(terms: &Terms, candidate: &Candidate, evaluation: &Evaluation) -> Vec<Gate> {
    let mut failed: Vec<Gate> = STATIC_GATES
        .iter()
        .copied()
        .filter(|gate| terms.fails(candidate, *gate))
        .collect();
    if evaluation.over_budget(terms) {
        failed.push(Gate::Budget);
    }
    if evaluation.utility <= 0 {
        failed.push(Gate::Utility);
    }
    failed
}
