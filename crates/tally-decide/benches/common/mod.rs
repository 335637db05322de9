//! The shared workload of the benchmarks (see `decide.rs`).

use calybris_core::kernel::ALL_PROVIDERS;
use tally_decide::{Bps, Candidate, CandidateId, Policy, PolicySpec, ProviderId, Request};

#[path = "../../tests/it/peer.rs"]
mod peer;

pub use peer::{calybris_input, calybris_policy};

pub const REQUESTS: usize = 1_024;

fn candidate(i: u32) -> Candidate {
    Candidate {
        id: CandidateId::new(i + 1).unwrap(),
        provider: ProviderId::new(u8::try_from(i % 6).unwrap()).unwrap(),
        quality_bps: Bps::new(u16::try_from(3_000 + (i * 300) % 7_001).unwrap()).unwrap(),
        risk_ceiling_bps: Bps::new(9_500).unwrap(),
        enabled: true,
        p95_latency_ms: 100 + i * 50,
        capabilities: 0,
        region_mask: u64::MAX,
        input_price_microunits_per_million_tokens: 10 + u64::from(i) * 50,
        output_price_microunits_per_million_tokens: 40 + u64::from(i) * 200,
    }
}

pub fn tally_policy(count: u32) -> Policy {
    Policy::new(PolicySpec {
        policy_epoch: 1,
        catalog_epoch: 1,
        hard_risk_limit_bps: Bps::new(9_600).unwrap(),
        minimum_confidence_bps: Bps::new(5_500).unwrap(),
        risk_penalty_multiplier_bps: 3_500,
        latency_penalty_microunits_per_ms: 0,
        candidates: (0..count).map(candidate).collect(),
    })
    .unwrap()
}

/// The requests both kernels see: Calybris's stream sampled with a stride,
/// so that 1,024 of them cover its whole range of risk, confidence, minimum
/// quality and token counts (Calybris's bench walks it from 1 upwards).
pub fn requests() -> Vec<Request> {
    (0..REQUESTS as u64)
        .map(|i| request(1 + i * 4_999))
        .collect()
}

/// The same stream with no quality floor: every candidate passes every gate
/// and is priced (the worst case for a scan that stops at the floor).
pub fn open_requests() -> Vec<Request> {
    let mut requests = requests();
    for request in &mut requests {
        request.minimum_quality_bps = Bps::ZERO;
    }
    requests
}

/// Calybris's request stream at sequence `seq`.
pub fn request(seq: u64) -> Request {
    let small = |modulus: u64| u32::try_from(seq % modulus).unwrap();
    Request {
        sequence: seq,
        requested_id: CandidateId::new(small(22) + 1).ok(),
        input_tokens: 500 + small(10_000),
        output_tokens: 200 + small(5_000),
        value_microunits: 50_000,
        budget_microunits: 10_000_000,
        risk_bps: Bps::new(u16::try_from(seq % 8_000).unwrap()).unwrap(),
        confidence_bps: Bps::new(6_000 + u16::try_from(seq % 4_000).unwrap()).unwrap(),
        minimum_quality_bps: Bps::new(3_000 + u16::try_from(seq % 5_000).unwrap()).unwrap(),
        max_p95_latency_ms: 0,
        required_capabilities: 0,
        allowed_providers: ALL_PROVIDERS,
        required_regions: 0,
    }
}
