//! Tally's policy and request in calybris-core's types. Shared by the
//! differential test and the benchmarks (`#[path]`-included there), so both
//! race and compare the same inputs.

use calybris_core::kernel::{KernelInput, KernelModel, PolicySnapshot};
use tally_decide::{Policy, Request};

/// The same policy for Calybris, built with its trusted (id-sorting)
/// constructor; a policy with every candidate disabled, which that
/// constructor refuses, is built unchecked with the same sorted catalog.
pub fn calybris_policy(policy: &Policy) -> PolicySnapshot {
    let spec = policy.spec();
    let models: Vec<KernelModel> = spec
        .candidates
        .iter()
        .map(|c| KernelModel {
            model_id: c.id.get(),
            provider_id: u16::from(c.provider.get()),
            quality_bps: c.quality_bps.get(),
            risk_ceiling_bps: c.risk_ceiling_bps.get(),
            enabled: u8::from(c.enabled),
            p95_latency_ms: c.p95_latency_ms,
            capabilities: c.capabilities,
            region_mask: c.region_mask,
            input_cost_microunits_per_million_tokens: c.input_price_microunits_per_million_tokens,
            output_cost_microunits_per_million_tokens: c.output_price_microunits_per_million_tokens,
        })
        .collect();
    let args = (
        spec.policy_epoch,
        spec.catalog_epoch,
        spec.hard_risk_limit_bps.get(),
        spec.minimum_confidence_bps.get(),
        spec.risk_penalty_multiplier_bps,
        spec.latency_penalty_microunits_per_ms,
    );
    PolicySnapshot::try_new_trusted(
        args.0,
        args.1,
        args.2,
        args.3,
        args.4,
        args.5,
        models.clone(),
    )
    .unwrap_or_else(|_| {
        assert!(
            spec.candidates.iter().all(|c| !c.enabled),
            "Calybris refused a valid policy"
        );
        PolicySnapshot::new_unchecked(args.0, args.1, args.2, args.3, args.4, args.5, models)
    })
}

pub fn calybris_input(request: &Request) -> KernelInput {
    KernelInput {
        request_sequence: request.sequence,
        requested_model_id: request.requested_id.map_or(0, |id| id.get()),
        input_tokens: request.input_tokens,
        output_tokens: request.output_tokens,
        business_value_microunits: request.value_microunits,
        budget_limit_microunits: request.budget_microunits,
        risk_bps: request.risk_bps.get(),
        confidence_bps: request.confidence_bps.get(),
        minimum_quality_bps: request.minimum_quality_bps.get(),
        max_p95_latency_ms: request.max_p95_latency_ms,
        required_capabilities: request.required_capabilities,
        allowed_provider_mask: request.allowed_providers,
        required_region_mask: request.required_regions,
    }
}
