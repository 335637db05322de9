//! `prescribe`: the allocation-free hot path.
//!
//! The policy holds its catalog twice: in id order (for digests, JSON and
//! `explain`) and as 64-byte rows in *quality-descending* order for the scan.
//! The ranking is a total order, so the scan order does not change the
//! result, and this one lets the scan stop at the first row below the
//! request's minimum quality: no candidate after it can be eligible, so the
//! eligible count stays exact. The other gates are tested together without
//! branching, only admitted rows are priced, and the best two are kept.
//! Everything is exact integer arithmetic in `u64`, with `u128` only in the
//! rare wide pricing path; see the crate docs for the rule. Rejection counts,
//! which only a rejected decision needs, come from the scan's budget and
//! utility tallies plus a pass over the rows when no candidate is eligible.

use crate::decision::{Action, Decision, Reason};
use crate::explain::Gate;
use crate::policy::{Candidate, Policy, Row};
use crate::{CandidateId, Request};

/// 10^8: basis points times basis points.
pub(crate) const BPS_SQUARED: u64 = 100_000_000;
/// 10^6: prices are per million tokens.
pub(crate) const TOKENS_PER_PRICE: u64 = 1_000_000;

/// The request's terms, computed once and applied to every candidate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Terms {
    min_quality: u16,
    risk: u16,
    /// `u32::MAX` when the request sets no latency cap.
    max_latency_ms: u32,
    required_capabilities: u64,
    allowed_providers: u64,
    required_regions: u64,
    any_region: bool,
    /// `value × confidence = value_hi × 10^8 + value_lo`, `value_lo < 10^8`.
    pub(crate) value_hi: u64,
    pub(crate) value_lo: u64,
    /// The exact risk penalty.
    pub(crate) risk_penalty: u128,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) budget: u64,
}

impl Terms {
    pub(crate) fn new(policy: &Policy, request: &Request) -> Self {
        let value = u64::try_from(request.value_microunits).unwrap_or(0);
        let (value_over, value_under) = (value / BPS_SQUARED, value % BPS_SQUARED);
        let confidence = u64::from(request.confidence_bps.get());
        // value_under × confidence < 10^12 and value_over × confidence < 2^63 / 10^4.
        let low = value_under * confidence;
        // At most 10^4 × 5·10^4 < 2^32, as `scaled_floor` needs.
        let risk_weight = u64::from(request.risk_bps.get())
            * u64::from(policy.spec().risk_penalty_multiplier_bps);
        Self {
            min_quality: request.minimum_quality_bps.get(),
            risk: request.risk_bps.get(),
            max_latency_ms: match request.max_p95_latency_ms {
                0 => u32::MAX,
                cap => cap,
            },
            required_capabilities: request.required_capabilities,
            allowed_providers: request.allowed_providers,
            required_regions: request.required_regions,
            any_region: request.required_regions == 0,
            value_hi: value_over * confidence + low / BPS_SQUARED,
            value_lo: low % BPS_SQUARED,
            risk_penalty: scaled_floor(value, risk_weight),
            input_tokens: u64::from(request.input_tokens),
            output_tokens: u64::from(request.output_tokens),
            budget: request.budget_microunits,
        }
    }

    /// `floor(value × confidence × quality / 10^8)`, exactly, in `u64`.
    #[inline(always)]
    pub(crate) fn quality_value(&self, quality_bps: u16) -> u64 {
        let quality = u64::from(quality_bps);
        // value_hi × quality <= value < 2^63; value_lo × quality < 10^12.
        self.value_hi * quality + self.value_lo * quality / BPS_SQUARED
    }

    /// Whether a candidate passes every gate before pricing but quality
    /// (which the scan tests first), without branches.
    #[inline(always)]
    fn admits(&self, row: &Row) -> bool {
        (row.latency_ms <= self.max_latency_ms)
            & (row.capabilities & self.required_capabilities == self.required_capabilities)
            & (row.provider_bit & self.allowed_providers != 0)
            & ((row.region_mask & self.required_regions != 0) | self.any_region)
            & (self.risk <= row.risk_ceiling_bps)
    }

    /// Whether `candidate` fails `gate`; always false for the budget and
    /// utility gates, which need pricing. Reads the catalog entry itself,
    /// not the packed rows of the scan.
    pub(crate) fn fails(&self, candidate: &Candidate, gate: Gate) -> bool {
        match gate {
            Gate::Disabled => !candidate.enabled,
            Gate::Quality => candidate.quality_bps.get() < self.min_quality,
            Gate::Latency => candidate.p95_latency_ms > self.max_latency_ms,
            Gate::Capability => {
                candidate.capabilities & self.required_capabilities != self.required_capabilities
            }
            Gate::Provider => candidate.provider.mask_bit() & self.allowed_providers == 0,
            Gate::Region => !self.any_region && candidate.region_mask & self.required_regions == 0,
            Gate::RiskCeiling => self.risk > candidate.risk_ceiling_bps.get(),
            Gate::Budget | Gate::Utility => false,
        }
    }
}

impl Terms {
    /// The first gate (in rule order) a packed row fails before pricing.
    fn first_failed_gate(&self, row: &Row) -> Option<Gate> {
        if row.provider_bit == 0 {
            Some(Gate::Disabled)
        } else if row.quality_bps < self.min_quality {
            Some(Gate::Quality)
        } else if row.latency_ms > self.max_latency_ms {
            Some(Gate::Latency)
        } else if row.capabilities & self.required_capabilities != self.required_capabilities {
            Some(Gate::Capability)
        } else if row.provider_bit & self.allowed_providers == 0 {
            Some(Gate::Provider)
        } else if !self.any_region && row.region_mask & self.required_regions == 0 {
            Some(Gate::Region)
        } else if self.risk > row.risk_ceiling_bps {
            Some(Gate::RiskCeiling)
        } else {
            None
        }
    }
}

/// The gates in Calybris's tie order: the gate later in this list wins a tie
/// for the most rejections.
const TIE_ORDER: [Gate; 9] = [
    Gate::Capability,
    Gate::Region,
    Gate::Provider,
    Gate::Quality,
    Gate::RiskCeiling,
    Gate::Latency,
    Gate::Budget,
    Gate::Utility,
    Gate::Disabled,
];

/// How many candidates each gate rejected first, in [`TIE_ORDER`].
#[derive(Clone, Copy, Debug, Default)]
struct GateCounts([u32; 9]);

impl GateCounts {
    fn add(&mut self, gate: Gate, count: u32) {
        let rank = match gate {
            Gate::Capability => 0,
            Gate::Region => 1,
            Gate::Provider => 2,
            Gate::Quality => 3,
            Gate::RiskCeiling => 4,
            Gate::Latency => 5,
            Gate::Budget => 6,
            Gate::Utility => 7,
            Gate::Disabled => 8,
        };
        if let Some(slot) = self.0.get_mut(rank) {
            *slot += count;
        }
    }

    /// The gate that rejected the most candidates (ties: [`TIE_ORDER`]).
    fn dominant_reason(&self) -> Reason {
        let mut dominant = Gate::Disabled;
        let mut most = 0;
        for (gate, &count) in TIE_ORDER.iter().zip(self.0.iter()) {
            if count > 0 && count >= most {
                dominant = *gate;
                most = count;
            }
        }
        dominant.reason()
    }
}

/// `floor(value × weight / 10^8)` exactly, for `weight < 2^32`.
pub(crate) fn scaled_floor(value: u64, weight: u64) -> u128 {
    let (over, under) = (value / BPS_SQUARED, value % BPS_SQUARED);
    // under × weight < 10^8 × 2^32 < 2^64.
    u128::from(over) * u128::from(weight) + u128::from(under * weight / BPS_SQUARED)
}

/// `ceil(tokens × price / 10^6)` exactly, for `tokens < 2^32`.
pub(crate) fn token_cost(tokens: u64, price: u64) -> u128 {
    let (over, under) = (price / TOKENS_PER_PRICE, price % TOKENS_PER_PRICE);
    // tokens × under < 2^32 × 10^6 < 2^64.
    u128::from(tokens) * u128::from(over) + u128::from((tokens * under).div_ceil(TOKENS_PER_PRICE))
}

/// Prices a candidate: its exact cost, or `None` when it exceeds `u64::MAX`
/// (and so every budget).
trait Pricing {
    fn cost(row: &Row, terms: &Terms) -> Option<u64>;
}

/// For requests where `tokens × price + 999,999` fits `u64` for every price
/// in the catalog (checked once per request): one product and one division
/// by a constant per side.
struct Narrow;

impl Pricing for Narrow {
    // `(x + 999,999) / 10^6` is one addition; `div_ceil` tests the remainder,
    // which costs a multiplication more per side (measured). The addition
    // cannot overflow: `narrow_fits` checked it for the largest price.
    #[allow(clippy::manual_div_ceil)]
    #[inline(always)]
    fn cost(row: &Row, terms: &Terms) -> Option<u64> {
        // `narrow_fits` proved that neither sum overflows.
        let input =
            (terms.input_tokens * row.input_price + (TOKENS_PER_PRICE - 1)) / TOKENS_PER_PRICE;
        let output =
            (terms.output_tokens * row.output_price + (TOKENS_PER_PRICE - 1)) / TOKENS_PER_PRICE;
        // Each side is below 2^64 / 10^6, so the sum fits.
        Some(input + output)
    }
}

/// Any tokens and prices: exact in `u128`.
struct Wide;

impl Pricing for Wide {
    #[inline(always)]
    fn cost(row: &Row, terms: &Terms) -> Option<u64> {
        let input = token_cost(terms.input_tokens, row.input_price);
        let output = token_cost(terms.output_tokens, row.output_price);
        u64::try_from(input + output).ok()
    }
}

/// A ranked eligible candidate. `utility == 0` marks "none" (an eligible
/// candidate's utility is positive).
#[derive(Clone, Copy)]
struct Ranked {
    utility: u64,
    cost: u64,
    quality: u16,
    id: u32,
}

const NONE: Ranked = Ranked {
    utility: 0,
    cost: 0,
    quality: 0,
    id: 0,
};

/// Utility descending, then cost ascending, quality descending, id ascending.
#[inline(always)]
fn better(a: &Ranked, b: &Ranked) -> bool {
    if a.utility != b.utility {
        return a.utility > b.utility;
    }
    (a.cost, b.quality, a.id) < (b.cost, a.quality, b.id)
}

struct Scan {
    best: Ranked,
    second: Ranked,
    /// These three are at most the catalog size, so at most `u16::MAX`.
    eligible: u32,
    over_budget: u32,
    non_positive: u32,
}

#[inline(always)]
fn scan<P: Pricing>(policy: &Policy, terms: &Terms) -> Scan {
    let mut out = Scan {
        best: NONE,
        second: NONE,
        eligible: 0,
        over_budget: 0,
        non_positive: 0,
    };
    let risk_penalty = u64::try_from(terms.risk_penalty).unwrap_or(u64::MAX);
    for price in policy.rows.iter() {
        // Rows are in descending quality: the rest are all below the minimum.
        if price.quality_bps < terms.min_quality {
            break;
        }
        if !terms.admits(price) {
            continue;
        }
        let cost = match P::cost(price, terms) {
            Some(cost) if cost <= terms.budget => cost,
            _ => {
                out.over_budget += 1;
                continue;
            }
        };
        let value = terms.quality_value(price.quality_bps);
        // Overflow here means the charges exceed any value: not positive.
        let charges = risk_penalty
            .checked_add(cost)
            .and_then(|c| c.checked_add(price.latency_penalty));
        let utility = match charges {
            Some(charges) if value > charges => value - charges,
            _ => {
                out.non_positive += 1;
                continue;
            }
        };
        out.eligible += 1;
        let candidate = Ranked {
            utility,
            cost,
            quality: price.quality_bps,
            id: price.id,
        };
        if !better(&candidate, &out.second) {
            continue;
        }
        if better(&candidate, &out.best) {
            out.second = out.best;
            out.best = candidate;
        } else {
            out.second = candidate;
        }
    }
    out
}

/// Whether every `tokens × price + 999,999` of the catalog fits `u64`.
fn narrow_fits(policy: &Policy, terms: &Terms) -> bool {
    let fits = |tokens: u64, price: u64| {
        tokens
            .checked_mul(price)
            .and_then(|product| product.checked_add(TOKENS_PER_PRICE - 1))
    };
    fits(terms.input_tokens, policy.max_input_price).is_some()
        && fits(terms.output_tokens, policy.max_output_price).is_some()
}

impl Policy {
    /// Decides `request` under this policy. Does not allocate, does not
    /// panic, and gives the same decision for the same policy and request on
    /// every machine. The rule is in the crate docs.
    ///
    /// ```
    /// # use tally_decide::*;
    /// let policy: Policy = serde_json::from_str(include_str!("../examples/policy.json")).unwrap();
    /// let request: Request = serde_json::from_str(include_str!("../examples/request.json")).unwrap();
    /// let decision = policy.prescribe(&request);
    /// assert_eq!(decision.sequence, request.sequence);
    /// assert_eq!(verify_decision(&policy, &request, &decision), Ok(()));
    /// ```
    #[must_use]
    pub fn prescribe(&self, request: &Request) -> Decision {
        let spec = self.spec();
        if request.risk_bps >= spec.hard_risk_limit_bps {
            return self.rejected(request, Reason::RiskHardLimit, 0, 0);
        }
        if request.confidence_bps < spec.minimum_confidence_bps {
            return self.rejected(request, Reason::ConfidenceHardLimit, 0, 0);
        }
        let terms = Terms::new(self, request);
        let found = if narrow_fits(self, &terms) {
            scan::<Narrow>(self, &terms)
        } else {
            scan::<Wide>(self, &terms)
        };
        let evaluated = u16::try_from(self.rows.len()).unwrap_or(u16::MAX);
        if found.best.utility == 0 {
            let reason = self.rejection_counts(&terms, &found).dominant_reason();
            return self.rejected(request, reason, evaluated, 0);
        }
        self.selected(request, &found, evaluated)
    }

    /// Decides every request of `requests`, in order, lazily: no allocation
    /// unless the caller collects.
    ///
    /// ```
    /// # use tally_decide::*;
    /// # let policy: Policy = serde_json::from_str(include_str!("../examples/policy.json")).unwrap();
    /// # let request: Request = serde_json::from_str(include_str!("../examples/request.json")).unwrap();
    /// let requests = [request, Request { sequence: 2, ..request }];
    /// let decisions: Vec<Decision> = policy.prescribe_batch(&requests).collect();
    /// assert_eq!(decisions[1], policy.prescribe(&requests[1]));
    /// ```
    pub fn prescribe_batch<'a>(
        &'a self,
        requests: &'a [Request],
    ) -> impl ExactSizeIterator<Item = Decision> + 'a {
        requests.iter().map(|request| self.prescribe(request))
    }

    /// The rejection counts of a scan that found no eligible candidate: the
    /// scan counted the budget and utility failures; the gates before
    /// pricing are classified here (only a rejection needs them).
    fn rejection_counts(&self, terms: &Terms, found: &Scan) -> GateCounts {
        let mut counts = GateCounts::default();
        counts.add(Gate::Budget, found.over_budget);
        counts.add(Gate::Utility, found.non_positive);
        for row in self.rows.iter() {
            if let Some(gate) = terms.first_failed_gate(row) {
                counts.add(gate, 1);
            }
        }
        counts
    }

    fn selected(&self, request: &Request, found: &Scan, evaluated: u16) -> Decision {
        let best = CandidateId::new(found.best.id).ok();
        let runner_up = CandidateId::new(found.second.id).ok();
        let requested = best.is_some() && best == request.requested_id;
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
            selected_id: best,
            cost_microunits: found.best.cost,
            utility_microunits: i64::try_from(found.best.utility).unwrap_or(i64::MAX),
            runner_up_id: runner_up,
            runner_up_utility_microunits: i64::try_from(found.second.utility).unwrap_or(i64::MAX),
            evaluated_candidates: evaluated,
            eligible_candidates: u16::try_from(found.eligible).unwrap_or(u16::MAX),
            policy_epoch: self.spec().policy_epoch,
            catalog_epoch: self.spec().catalog_epoch,
        }
    }

    fn rejected(
        &self,
        request: &Request,
        reason: Reason,
        evaluated: u16,
        eligible: u16,
    ) -> Decision {
        Decision {
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
            policy_epoch: self.spec().policy_epoch,
            catalog_epoch: self.spec().catalog_epoch,
        }
    }
}
