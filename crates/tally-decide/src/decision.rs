//! The decision: what the kernel decided and why, and the names of its fields.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::CandidateId;

/// What to do with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The requested candidate won: execute it.
    ExecuteRequested,
    /// Another candidate won: execute it instead of the requested one.
    Substitute,
    /// No candidate may be executed.
    Reject,
}

impl Action {
    /// The stable code of the action (the byte in the decision digest).
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Action::ExecuteRequested => 1,
            Action::Substitute => 2,
            Action::Reject => 3,
        }
    }
}

/// Why the kernel decided what it did. Codes match Calybris's `KernelReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The requested candidate has the best utility.
    RequestedMaximizesUtility,
    /// Another candidate has the best utility.
    AlternativeMaximizesUtility,
    /// The request's risk is at or above the policy's hard limit.
    RiskHardLimit,
    /// The request's confidence is below the policy's minimum.
    ConfidenceHardLimit,
    /// The dominant rejection: candidates are disabled.
    NoEnabledCandidate,
    /// The dominant rejection: quality below the request's minimum.
    QualityConstraint,
    /// The dominant rejection: latency above the request's cap.
    LatencyConstraint,
    /// The dominant rejection: a required capability is missing.
    CapabilityConstraint,
    /// The dominant rejection: the provider is not allowed.
    ProviderConstraint,
    /// The dominant rejection: no required region is served.
    RegionConstraint,
    /// The dominant rejection: the cost exceeds the budget.
    BudgetConstraint,
    /// The dominant rejection: the utility is zero or negative.
    NonPositiveUtility,
    /// The dominant rejection: the request's risk exceeds the candidate's ceiling.
    RiskCeilingConstraint,
}

impl Reason {
    /// The stable code of the reason (the `u16` in the decision digest); the
    /// same numbers as Calybris's `KernelReason`.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            Reason::RequestedMaximizesUtility => 1,
            Reason::AlternativeMaximizesUtility => 2,
            Reason::RiskHardLimit => 100,
            Reason::ConfidenceHardLimit => 101,
            Reason::NoEnabledCandidate => 102,
            Reason::QualityConstraint => 103,
            Reason::LatencyConstraint => 104,
            Reason::CapabilityConstraint => 105,
            Reason::ProviderConstraint => 106,
            Reason::RegionConstraint => 107,
            Reason::BudgetConstraint => 108,
            Reason::NonPositiveUtility => 109,
            Reason::RiskCeilingConstraint => 110,
        }
    }
}

/// A decision: the kernel's answer to one request under one policy.
///
/// A decision names candidates by id, never by catalog position, so it does
/// not depend on the order in which the catalog was written. A recorded
/// decision is checked with [`crate::verify_decision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The request's sequence number.
    pub sequence: u64,
    /// What to do.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The winner; `None` when rejected.
    pub selected_id: Option<CandidateId>,
    /// The winner's cost; 0 when rejected.
    pub cost_microunits: u64,
    /// The winner's utility (always positive when selected); 0 when rejected.
    pub utility_microunits: i64,
    /// The second-best eligible candidate, if any.
    pub runner_up_id: Option<CandidateId>,
    /// The runner-up's utility; 0 when there is none.
    pub runner_up_utility_microunits: i64,
    /// Candidates looked at: the catalog size, or 0 when a hard limit
    /// rejected the request before any was looked at.
    pub evaluated_candidates: u16,
    /// Candidates that passed every gate with a positive utility.
    pub eligible_candidates: u16,
    /// The policy's `policy_epoch`.
    pub policy_epoch: u64,
    /// The policy's `catalog_epoch`.
    pub catalog_epoch: u64,
}

/// One field of a [`Decision`], to name what differs in a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DecisionField {
    /// `sequence`
    Sequence,
    /// `action`
    Action,
    /// `reason`
    Reason,
    /// `selected_id`
    SelectedId,
    /// `cost_microunits`
    CostMicrounits,
    /// `utility_microunits`
    UtilityMicrounits,
    /// `runner_up_id`
    RunnerUpId,
    /// `runner_up_utility_microunits`
    RunnerUpUtilityMicrounits,
    /// `evaluated_candidates`
    EvaluatedCandidates,
    /// `eligible_candidates`
    EligibleCandidates,
    /// `policy_epoch`
    PolicyEpoch,
    /// `catalog_epoch`
    CatalogEpoch,
}

impl DecisionField {
    /// Every field, in declaration order.
    pub const ALL: [DecisionField; 12] = [
        DecisionField::Sequence,
        DecisionField::Action,
        DecisionField::Reason,
        DecisionField::SelectedId,
        DecisionField::CostMicrounits,
        DecisionField::UtilityMicrounits,
        DecisionField::RunnerUpId,
        DecisionField::RunnerUpUtilityMicrounits,
        DecisionField::EvaluatedCandidates,
        DecisionField::EligibleCandidates,
        DecisionField::PolicyEpoch,
        DecisionField::CatalogEpoch,
    ];

    /// The field's name in the JSON form.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            DecisionField::Sequence => "sequence",
            DecisionField::Action => "action",
            DecisionField::Reason => "reason",
            DecisionField::SelectedId => "selected_id",
            DecisionField::CostMicrounits => "cost_microunits",
            DecisionField::UtilityMicrounits => "utility_microunits",
            DecisionField::RunnerUpId => "runner_up_id",
            DecisionField::RunnerUpUtilityMicrounits => "runner_up_utility_microunits",
            DecisionField::EvaluatedCandidates => "evaluated_candidates",
            DecisionField::EligibleCandidates => "eligible_candidates",
            DecisionField::PolicyEpoch => "policy_epoch",
            DecisionField::CatalogEpoch => "catalog_epoch",
        }
    }

    /// Whether `a` and `b` differ in this field.
    #[must_use]
    pub fn differs(self, a: &Decision, b: &Decision) -> bool {
        match self {
            DecisionField::Sequence => a.sequence != b.sequence,
            DecisionField::Action => a.action != b.action,
            DecisionField::Reason => a.reason != b.reason,
            DecisionField::SelectedId => a.selected_id != b.selected_id,
            DecisionField::CostMicrounits => a.cost_microunits != b.cost_microunits,
            DecisionField::UtilityMicrounits => a.utility_microunits != b.utility_microunits,
            DecisionField::RunnerUpId => a.runner_up_id != b.runner_up_id,
            DecisionField::RunnerUpUtilityMicrounits => {
                a.runner_up_utility_microunits != b.runner_up_utility_microunits
            }
            DecisionField::EvaluatedCandidates => a.evaluated_candidates != b.evaluated_candidates,
            DecisionField::EligibleCandidates => a.eligible_candidates != b.eligible_candidates,
            DecisionField::PolicyEpoch => a.policy_epoch != b.policy_epoch,
            DecisionField::CatalogEpoch => a.catalog_epoch != b.catalog_epoch,
        }
    }
}

impl fmt::Display for DecisionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`DecisionField`]s (a bit set; no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(u16);

impl FieldSet {
    /// The fields in which `a` and `b` differ.
    #[must_use]
    pub fn differing(a: &Decision, b: &Decision) -> Self {
        let mut set = FieldSet::default();
        for field in DecisionField::ALL {
            if field.differs(a, b) {
                set.0 |= 1 << field as u8;
            }
        }
        set
    }

    /// Whether the set has no field.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `field` is in the set.
    #[must_use]
    pub fn contains(self, field: DecisionField) -> bool {
        self.0 & (1 << field as u8) != 0
    }

    /// The fields in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = DecisionField> {
        DecisionField::ALL
            .into_iter()
            .filter(move |field| self.contains(*field))
    }
}

impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, field) in self.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            f.write_str(field.name())?;
        }
        Ok(())
    }
}
