//! The policy: hard limits, economic weights and a validated candidate catalog.

use alloc::boxed::Box;
use alloc::vec::Vec;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{self, Digest};
use crate::{Bps, CandidateId, Error, ProviderId};

/// The largest catalog a policy may hold: 65,535 candidates.
///
/// The decision counts evaluated and eligible candidates in `u16`, so every
/// count a decision reports is exact.
pub const MAX_CANDIDATES: usize = u16::MAX as usize;

/// The largest risk penalty multiplier: 50,000 bps (5×), as in Calybris.
pub const MAX_RISK_PENALTY_MULTIPLIER_BPS: u16 = 50_000;

/// One entry of the catalog: a model, route or venue the kernel may select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidate {
    /// Identifier, unique within the policy; decisions name candidates by it.
    pub id: CandidateId,
    /// Provider index: the bit tested against the request's provider mask.
    pub provider: ProviderId,
    /// Quality; must be at least the request's minimum quality.
    pub quality_bps: Bps,
    /// The highest request risk this candidate accepts.
    pub risk_ceiling_bps: Bps,
    /// A disabled candidate is never selected.
    pub enabled: bool,
    /// 95th-percentile latency; compared with the request's cap and charged
    /// at the policy's latency penalty.
    pub p95_latency_ms: u32,
    /// Capability bits the candidate offers; it must offer every bit the
    /// request requires.
    pub capabilities: u64,
    /// Regions the candidate serves; it must share a bit with the request's
    /// required regions (when the request names any).
    pub region_mask: u64,
    /// Price of one million input tokens, in microunits.
    pub input_price_microunits_per_million_tokens: u64,
    /// Price of one million output tokens, in microunits.
    pub output_price_microunits_per_million_tokens: u64,
}

/// The fields of a policy, as written by its author (any catalog order).
///
/// Turn it into a [`Policy`] with [`Policy::new`], which validates it and
/// puts the catalog in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Version of the decision rules, echoed in every decision.
    pub policy_epoch: u64,
    /// Version of the catalog, echoed in every decision.
    pub catalog_epoch: u64,
    /// A request whose risk is at or above this limit is rejected outright.
    pub hard_risk_limit_bps: Bps,
    /// A request whose confidence is below this is rejected outright.
    pub minimum_confidence_bps: Bps,
    /// Scales the risk penalty; at most [`MAX_RISK_PENALTY_MULTIPLIER_BPS`].
    pub risk_penalty_multiplier_bps: u16,
    /// Charged per millisecond of a candidate's p95 latency, in microunits.
    pub latency_penalty_microunits_per_ms: u64,
    /// The catalog: 1 to [`MAX_CANDIDATES`] candidates with distinct ids.
    pub candidates: Vec<Candidate>,
}

/// A validated policy: the only input [`Policy::prescribe`] accepts.
///
/// Built only by [`Policy::new`] (or by deserializing, which calls it), so a
/// `Policy` always has 1 to [`MAX_CANDIDATES`] candidates with distinct
/// non-zero ids, held in ascending id order whatever order they were given
/// in, and in-range weights. Its canonical digest is computed once, at
/// construction.
#[derive(Clone, Debug)]
pub struct Policy {
    spec: PolicySpec,
    /// The catalog in scan order: quality descending, then id ascending, so
    /// that a scan can stop at the first candidate below the request's
    /// minimum quality (the ranking does not depend on the scan order).
    pub(crate) rows: Box<[Row]>,
    pub(crate) max_input_price: u64,
    pub(crate) max_output_price: u64,
    digest: Digest,
}

/// One candidate as the scan reads it: every field the kernel needs in one
/// 64-byte row (one cache line), with the per-policy terms precomputed.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Row {
    pub(crate) capabilities: u64,
    pub(crate) region_mask: u64,
    /// `1 << provider` when enabled, 0 when disabled: one test covers both.
    pub(crate) provider_bit: u64,
    pub(crate) input_price: u64,
    pub(crate) output_price: u64,
    /// `p95_latency_ms × latency penalty`, saturated at `u64::MAX`: any
    /// penalty that large already makes the utility non-positive.
    pub(crate) latency_penalty: u64,
    pub(crate) latency_ms: u32,
    pub(crate) id: u32,
    pub(crate) quality_bps: u16,
    pub(crate) risk_ceiling_bps: u16,
}

impl Policy {
    /// Validates `spec` and builds the policy, with the catalog in id order.
    ///
    /// Refuses an empty catalog, more than [`MAX_CANDIDATES`] candidates, a
    /// repeated id and a risk multiplier above
    /// [`MAX_RISK_PENALTY_MULTIPLIER_BPS`]; the field types already refuse id
    /// 0, basis points above 10,000 and providers above 63.
    ///
    /// ```
    /// # use tally_decide::*;
    /// let candidate = |id| Candidate {
    ///     id: CandidateId::new(id).unwrap(),
    ///     provider: ProviderId::new(0).unwrap(),
    ///     quality_bps: Bps::new(9_000).unwrap(),
    ///     risk_ceiling_bps: Bps::MAX,
    ///     enabled: true,
    ///     p95_latency_ms: 100,
    ///     capabilities: 0,
    ///     region_mask: u64::MAX,
    ///     input_price_microunits_per_million_tokens: 1_000,
    ///     output_price_microunits_per_million_tokens: 4_000,
    /// };
    /// let spec = PolicySpec {
    ///     policy_epoch: 1,
    ///     catalog_epoch: 1,
    ///     hard_risk_limit_bps: Bps::new(9_600).unwrap(),
    ///     minimum_confidence_bps: Bps::new(5_000).unwrap(),
    ///     risk_penalty_multiplier_bps: 10_000,
    ///     latency_penalty_microunits_per_ms: 1,
    ///     candidates: vec![candidate(2), candidate(1)],
    /// };
    /// let policy = Policy::new(spec.clone()).unwrap();
    /// let ids: Vec<u32> = policy.candidates().iter().map(|c| c.id.get()).collect();
    /// assert_eq!(ids, [1, 2]);
    ///
    /// let mut twice = spec;
    /// twice.candidates.push(candidate(1));
    /// assert!(matches!(Policy::new(twice), Err(Error::DuplicateCandidateId { .. })));
    /// ```
    pub fn new(mut spec: PolicySpec) -> Result<Self, Error> {
        validate_shape(&spec)?;
        spec.candidates
            .sort_unstable_by_key(|candidate| candidate.id);
        if let Some(pair) = spec.candidates.windows(2).find(|pair| same_id(pair)) {
            let id = pair.first().map(|candidate| candidate.id);
            return Err(Error::DuplicateCandidateId {
                id: id.map_or(0, CandidateId::get),
            });
        }
        let rows = scan_rows(&spec);
        let max_input_price = max_of(&spec, |c| c.input_price_microunits_per_million_tokens);
        let max_output_price = max_of(&spec, |c| c.output_price_microunits_per_million_tokens);
        let digest = digest::policy_digest_of(&spec);
        Ok(Self {
            spec,
            rows,
            max_input_price,
            max_output_price,
            digest,
        })
    }

    /// The policy's canonical digest (see the crate docs for its bytes).
    #[must_use]
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The catalog, in ascending id order.
    #[must_use]
    pub fn candidates(&self) -> &[Candidate] {
        &self.spec.candidates
    }

    /// The candidate with `id`, if the catalog has it.
    #[must_use]
    pub fn candidate(&self, id: CandidateId) -> Option<&Candidate> {
        let index = self
            .spec
            .candidates
            .binary_search_by_key(&id, |c| c.id)
            .ok()?;
        self.spec.candidates.get(index)
    }

    /// The validated fields, catalog in id order.
    #[must_use]
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// Gives back the validated fields, catalog in id order.
    #[must_use]
    pub fn into_spec(self) -> PolicySpec {
        self.spec
    }
}

fn validate_shape(spec: &PolicySpec) -> Result<(), Error> {
    if spec.candidates.is_empty() {
        return Err(Error::EmptyCatalog);
    }
    if spec.candidates.len() > MAX_CANDIDATES {
        return Err(Error::TooManyCandidates {
            count: spec.candidates.len(),
            max: MAX_CANDIDATES,
        });
    }
    if spec.risk_penalty_multiplier_bps > MAX_RISK_PENALTY_MULTIPLIER_BPS {
        return Err(Error::RiskMultiplierOutOfRange {
            value: spec.risk_penalty_multiplier_bps,
            max: MAX_RISK_PENALTY_MULTIPLIER_BPS,
        });
    }
    Ok(())
}

fn same_id(pair: &[Candidate]) -> bool {
    matches!(pair, [a, b] if a.id == b.id)
}

fn max_of(spec: &PolicySpec, field: impl Fn(&Candidate) -> u64) -> u64 {
    spec.candidates.iter().map(field).max().unwrap_or(0)
}

fn scan_rows(spec: &PolicySpec) -> Box<[Row]> {
    let penalty = spec.latency_penalty_microunits_per_ms;
    let mut rows: Vec<Row> = spec
        .candidates
        .iter()
        .map(|c| Row::of(c, penalty))
        .collect();
    rows.sort_unstable_by_key(|row| (core::cmp::Reverse(row.quality_bps), row.id));
    rows.into_boxed_slice()
}

impl Row {
    fn of(candidate: &Candidate, penalty_per_ms: u64) -> Self {
        Self {
            capabilities: candidate.capabilities,
            region_mask: candidate.region_mask,
            provider_bit: if candidate.enabled {
                candidate.provider.mask_bit()
            } else {
                0
            },
            input_price: candidate.input_price_microunits_per_million_tokens,
            output_price: candidate.output_price_microunits_per_million_tokens,
            latency_penalty: u64::from(candidate.p95_latency_ms).saturating_mul(penalty_per_ms),
            latency_ms: candidate.p95_latency_ms,
            id: candidate.id.get(),
            quality_bps: candidate.quality_bps.get(),
            risk_ceiling_bps: candidate.risk_ceiling_bps.get(),
        }
    }
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        // Everything else is derived from the (canonically ordered) spec.
        self.spec == other.spec
    }
}

impl Eq for Policy {}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spec = PolicySpec::deserialize(deserializer)?;
        Policy::new(spec).map_err(serde::de::Error::custom)
    }
}
