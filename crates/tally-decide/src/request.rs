//! The request: what the caller asks the kernel to decide.

use serde::{Deserialize, Serialize};

use crate::{Bps, CandidateId};

/// A request to decide, with the caller's constraints and economics.
///
/// Every field is in range by its type, so every `Request` is valid: the
/// kernel gives a decision for any value, including extremes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The caller's sequence number, echoed in the decision.
    pub sequence: u64,
    /// The candidate the caller asked for; `None` when it has no preference.
    /// The decision is `execute_requested` when this candidate wins.
    pub requested_id: Option<CandidateId>,
    /// Input tokens, priced at each candidate's input price.
    pub input_tokens: u32,
    /// Output tokens, priced at each candidate's output price.
    pub output_tokens: u32,
    /// Business value of the request, in microunits. A negative value is
    /// treated as 0 (so nothing can be worth selecting).
    pub value_microunits: i64,
    /// The most the selected candidate may cost, in microunits.
    pub budget_microunits: u64,
    /// Risk of the request: rejected outright at or above the policy's hard
    /// limit, and refused by candidates whose risk ceiling is lower.
    pub risk_bps: Bps,
    /// Confidence in the value estimate: rejected outright below the
    /// policy's minimum, and scales the value.
    pub confidence_bps: Bps,
    /// Candidates of lower quality are refused.
    pub minimum_quality_bps: Bps,
    /// Candidates slower than this p95 latency are refused; 0 means no cap.
    pub max_p95_latency_ms: u32,
    /// Capability bits a candidate must all offer.
    pub required_capabilities: u64,
    /// Providers allowed: a candidate whose provider bit is not set is
    /// refused. `u64::MAX` allows every provider.
    pub allowed_providers: u64,
    /// Regions: a candidate sharing no bit with this mask is refused; 0
    /// means no region constraint.
    pub required_regions: u64,
}
