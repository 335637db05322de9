//! # tally-decide
//!
//! The deterministic decision kernel of Tally: a [`Policy`] (hard limits,
//! economic weights and a catalog of candidates: models, routes, venues) and a
//! [`Request`] give a [`Decision`] (execute the requested candidate,
//! substitute another, or reject), with the winner, the runner-up and a
//! reason. Anyone holding the policy and the request can replay the decision
//! ([`verify_decision`]) and check its [`AuditBundle`] of canonical SHA-256
//! digests ([`verify_bundle`]). The rule is the one of Calybris Core's
//! `PolicySnapshot::prescribe`, so a migrating user gets the same decisions,
//! without its order dependence (see *Known differences*).
//!
//! `#![no_std]` with `alloc`; [`Policy::prescribe`] does not allocate, uses
//! no floats, and does not panic on any input.
//!
//! ```
//! use tally_decide::{Action, Policy, Request, verify_bundle};
//!
//! let policy = Policy::from_json(include_bytes!("../examples/policy.json"))?;
//! let request = Request::from_json(include_bytes!("../examples/request.json"))?;
//! let (decision, bundle) = policy.decide(&request);
//! assert_eq!(decision.action, Action::ExecuteRequested);
//! assert_eq!(decision.selected_id.map(|id| id.get()), Some(20));
//! assert_eq!(decision.runner_up_id.map(|id| id.get()), Some(10));
//! verify_bundle(&policy, &request, &decision, &bundle)?;
//! # Ok::<(), tally_decide::Error>(())
//! ```
//!
//! ## The decision rule
//!
//! 1. **Hard limits.** If `request.risk_bps >= policy.hard_risk_limit_bps` the
//!    decision is `reject` / `risk_hard_limit`; otherwise if
//!    `request.confidence_bps < policy.minimum_confidence_bps` it is
//!    `reject` / `confidence_hard_limit`. In both cases no candidate is
//!    evaluated: `evaluated_candidates = eligible_candidates = 0`.
//! 2. **Gates**, per candidate, in this order (the first one failed is the one
//!    counted against it):
//!    `disabled` (not `enabled`); `quality` (`quality_bps <
//!    minimum_quality_bps`); `latency` (`max_p95_latency_ms > 0` and
//!    `p95_latency_ms > max_p95_latency_ms`); `capability`
//!    (`capabilities & required_capabilities != required_capabilities`);
//!    `provider` (`allowed_providers & (1 << provider) == 0`); `region`
//!    (`required_regions != 0` and `region_mask & required_regions == 0`);
//!    `risk_ceiling` (`risk_bps > risk_ceiling_bps`); `budget` (`cost >
//!    budget_microunits`); `utility` (`utility <= 0`).
//! 3. **Utility**, in exact integers (below). A candidate that passes every
//!    gate is *eligible*.
//! 4. **Ranking** of the eligible: utility descending, then cost ascending,
//!    then quality descending, then id ascending. Ids are unique, so this is a
//!    total order and the winner and the runner-up (the second in this order)
//!    do not depend on the order of the catalog.
//! 5. **Action.** With a winner: `execute_requested` /
//!    `requested_maximizes_utility` when its id is `request.requested_id`,
//!    otherwise `substitute` / `alternative_maximizes_utility`. Without one:
//!    `reject` with the *dominant* gate's reason: the gate that was the first
//!    failed by the most candidates; ties go to the gate later in the order
//!    capability, region, provider, quality, risk ceiling, latency, budget,
//!    utility, disabled (Calybris's tie order). `evaluated_candidates` is the
//!    catalog size, `eligible_candidates` the number of eligible candidates.
//!    A rejected decision has no selected or runner-up id and zero cost and
//!    utilities; a decision with a winner but no second eligible candidate has
//!    no runner-up and a runner-up utility of 0.
//!
//! ## Fixed-point arithmetic
//!
//! All quantities are integers in microunits; nothing is rounded except where
//! written, and no intermediate value overflows (every product is taken in a
//! width that holds it, or split so that it fits). With
//! `value = max(value_microunits, 0)`:
//!
//! ```text
//! quality_value = floor(value × confidence_bps × quality_bps / 10^8)
//! risk_penalty  = floor(value × risk_bps × risk_penalty_multiplier_bps / 10^8)
//! cost          = ceil(input_tokens  × input_price  / 10^6)
//!               + ceil(output_tokens × output_price / 10^6)
//! latency_pen   = p95_latency_ms × latency_penalty_microunits_per_ms
//! utility       = quality_value − risk_penalty − cost − latency_pen
//! ```
//!
//! The terms are bounded by `quality_value <= value < 2^63`, `risk_penalty <
//! 5 × 2^63`, `cost < 2^97` and `latency_pen < 2^96`, so `utility` is exact
//! in `i128` ([`Policy::explain`] reports it so). An eligible candidate has
//! `0 < utility <= quality_value < 2^63`, so the `utility_microunits` of a
//! decision is exact in `i64`, and its cost is at most the budget, so exact
//! in `u64`; a cost above `u64::MAX` exceeds every budget.
//!
//! How the kernel computes this without `i128` division: `value × confidence`
//! is split once per request as `hi × 10^8 + lo`, so `quality_value = hi ×
//! quality + floor(lo × quality / 10^8)` (both products fit `u64`); a price is
//! split as `over × 10^6 + under`, so `ceil(tokens × price / 10^6) = tokens ×
//! over + ceil(tokens × under / 10^6)`; when every `tokens × price + 999,999`
//! of the catalog fits `u64` (checked once per request) the cost is one
//! product and one division by a constant per side. The sum `risk_penalty +
//! cost + latency_pen` is checked: if it overflows `u64` it exceeds every
//! quality value, and the candidate is not eligible.
//!
//! ## JSON forms
//!
//! [`Policy`] (as [`PolicySpec`]), [`Request`], [`Decision`], [`AuditBundle`]
//! and [`Explanation`] have serde forms with the field names of their Rust
//! fields; unknown fields are refused, every range is checked on reading (bps
//! at most 10,000, provider at most 63, candidate ids not 0), and documents are
//! bounded ([`MAX_POLICY_JSON_BYTES`], [`MAX_DOCUMENT_JSON_BYTES`]). Absent
//! candidate ids (`requested_id`, `selected_id`, `runner_up_id`) are `null`.
//! `examples/policy.json` and `examples/request.json` in the crate show them.
//!
//! ## Canonical bytes and digests
//!
//! Each digest is SHA-256 over canonical bytes that begin with the domain tag,
//! length-prefixed: `u32 LE byte length ‖ tag (ASCII)`, followed by
//! fixed-width little-endian fields in the order below (`u8`: one byte;
//! `bool`: one byte, 0 or 1; an absent candidate id: 0, which no candidate
//! has).
//!
//! * **Policy**, tag [`POLICY_TAG`] = `tally/decide/policy/v1`:
//!   `policy_epoch u64, catalog_epoch u64, hard_risk_limit_bps u16,
//!   minimum_confidence_bps u16, risk_penalty_multiplier_bps u16,
//!   latency_penalty_microunits_per_ms u64, candidate count u32`, then each
//!   candidate **in ascending id order** (so the digest does not depend on the
//!   order the catalog was written in): `id u32, provider u8, quality_bps u16,
//!   risk_ceiling_bps u16, enabled bool, p95_latency_ms u32, capabilities u64,
//!   region_mask u64, input_price u64, output_price u64` (46 bytes).
//! * **Request**, tag [`REQUEST_TAG`] = `tally/decide/request/v1`:
//!   `sequence u64, requested_id u32, input_tokens u32, output_tokens u32,
//!   value_microunits i64, budget_microunits u64, risk_bps u16,
//!   confidence_bps u16, minimum_quality_bps u16, max_p95_latency_ms u32,
//!   required_capabilities u64, allowed_providers u64, required_regions u64`.
//! * **Decision**, tag [`DECISION_TAG`] = `tally/decide/decision/v1`:
//!   `sequence u64, action u8 (`[`Action::code`]`), reason u16
//!   (`[`Reason::code`]`), selected_id u32, cost_microunits u64,
//!   utility_microunits i64, runner_up_id u32, runner_up_utility_microunits
//!   i64, evaluated_candidates u16, eligible_candidates u16, policy_epoch u64,
//!   catalog_epoch u64`.
//!
//! Every field is fixed-width and the only variable-length parts (the tag and
//! the catalog) are length-prefixed, so two different values never share
//! canonical bytes, and the three tags keep the three kinds apart. The bytes
//! are [`Policy::canonical_bytes`], [`Request::canonical_bytes`] and
//! [`Decision::canonical_bytes`]; golden vectors in the tests pin them. Text
//! digests are exactly 64 lowercase hex digits ([`Digest::from_hex`] refuses
//! anything else).
//!
//! ## Audit bundle, record and replay
//!
//! An [`AuditBundle`] is `{"schema_version":"tally/decide/audit/v1",
//! "algorithm":"sha256","policy_digest":…,"request_digest":…,"decision_digest":…}`.
//! [`AuditBundle::verified`] and [`DecisionRecord::new`] replay the decision
//! first and refuse one that does not replay.
//!
//! A **decision record** is what an audited decision is stored as in the
//! audit log: the payload bytes of [`DecisionRecord::to_payload`], compact
//! JSON (no whitespace) with the fields in exactly this order:
//!
//! ```text
//! {"kind":"tally/decide/record/v1",
//!  "bundle":{"schema_version":…,"algorithm":…,"policy_digest":…,"request_digest":…,"decision_digest":…},
//!  "request":{"sequence":…,"requested_id":…,"input_tokens":…,"output_tokens":…,"value_microunits":…,
//!             "budget_microunits":…,"risk_bps":…,"confidence_bps":…,"minimum_quality_bps":…,
//!             "max_p95_latency_ms":…,"required_capabilities":…,"allowed_providers":…,"required_regions":…},
//!  "decision":{"sequence":…,"action":…,"reason":…,"selected_id":…,"cost_microunits":…,
//!              "utility_microunits":…,"runner_up_id":…,"runner_up_utility_microunits":…,
//!              "evaluated_candidates":…,"eligible_candidates":…,"policy_epoch":…,"catalog_epoch":…}}
//! ```
//!
//! (shown wrapped; the payload is one line). The policy the record names is
//! `bundle.policy_digest`; the policy itself is not in the record, it is
//! found by a [`PolicyResolver`]. The golden vector for the example policy and
//! request is in `tests/it/golden.rs` (`record_payload_golden_vector`), with
//! the SHA-256 of the payload.
//!
//! [`replay_records`] takes `(sequence, payload)` pairs in log order and a
//! resolver; it refuses a payload above [`MAX_RECORD_BYTES`], one that does not
//! parse strictly, one that is not byte-for-byte canonical, one naming an
//! unknown policy, and one whose digests or decision do not replay, and stops
//! at the first with [`Error::Record`] naming the sequence.
//!
//! ## Known differences from Calybris Core (1.3.0 and 0.3.10)
//!
//! The decision rule, the reason codes, the tie-breaks and the arithmetic
//! agree; the differential test compares action, reason, winner, runner-up,
//! cost, utilities, counts and epochs on random valid policies and requests.
//! Where they differ, on purpose:
//!
//! 1. **No catalog position.** Calybris decisions carry
//!    `selected_model_index`, the winner's position in the catalog as given
//!    (0.3.x keeps the caller's order; 1.3.0's `try_new_trusted` sorts by id,
//!    `try_new` does not), so the same policy written in two orders gives two
//!    decisions with different digests while its policy digest (sorted) is the
//!    same. Tally decisions name candidates by id only, and a policy is held
//!    in id order: permuting the catalog changes neither decision nor digest.
//! 2. **Costs above `u64::MAX`.** Calybris saturates such a cost to
//!    `u64::MAX`; with a budget of exactly `u64::MAX` the candidate then passes
//!    the budget gate and is counted as a non-positive utility. Tally counts it
//!    as over budget. Only the reason of a rejected decision can differ.
//! 3. **Validation.** Candidate id 0 is refused (0.3.x accepts it, though a
//!    rejected decision also "selects" 0); the catalog has at most
//!    [`MAX_CANDIDATES`]; basis points above 10,000, providers above 63 and
//!    risk multipliers above 50,000 cannot be built (Calybris's unchecked
//!    `prescribe` takes out-of-range request values). A policy whose every
//!    candidate is disabled is accepted (a kill switch: every request is
//!    rejected with `no_enabled_candidate`); Calybris refuses it.
//! 4. **Shapes.** `requested_id: null` stands for Calybris's requested id 0;
//!    absent ids in a decision are `null` instead of 0; `enabled` is a
//!    boolean; field names carry their units. Digests use Tally's tags and
//!    layouts, so Calybris digests and bundles are not interchangeable.
//!
//! ## Bounds
//!
//! [`MAX_CANDIDATES`] (65,535), [`MAX_RISK_PENALTY_MULTIPLIER_BPS`] (50,000),
//! [`MAX_POLICY_JSON_BYTES`] (32 MiB), [`MAX_DOCUMENT_JSON_BYTES`] (64 KiB),
//! [`MAX_RECORD_BYTES`] (16 KiB).
#![no_std]

extern crate alloc;
#[cfg(feature = "audit")]
extern crate std;

#[cfg(feature = "audit")]
pub mod audited;
mod decision;
mod digest;
mod error;
mod explain;
mod json;
mod kernel;
mod policy;
mod record;
mod request;
mod units;
mod verify;

pub use decision::{Action, Decision, DecisionField, FieldSet, Reason};
pub use digest::{
    DECISION_TAG, Digest, POLICY_TAG, REQUEST_TAG, decision_digest, policy_digest, request_digest,
};
pub use error::{Document, Error, Mismatch};
pub use explain::{CandidateReport, Explanation, Gate};
pub use json::{MAX_DOCUMENT_JSON_BYTES, MAX_POLICY_JSON_BYTES};
pub use policy::{Candidate, MAX_CANDIDATES, MAX_RISK_PENALTY_MULTIPLIER_BPS, Policy, PolicySpec};
pub use record::{
    DecisionRecord, MAX_RECORD_BYTES, PolicyResolver, PolicySet, RECORD_KIND, ReplayReport,
    replay_record, replay_records,
};
pub use request::Request;
pub use units::{Bps, CandidateId, ProviderId};
pub use verify::{Algorithm, AuditBundle, Schema, verify_bundle, verify_decision};
