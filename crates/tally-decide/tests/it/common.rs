//! Builders and proptest strategies shared by the test modules.

use proptest::prelude::*;
use tally_decide::{Bps, Candidate, CandidateId, Policy, PolicySpec, ProviderId, Request};

pub fn bps(value: u16) -> Bps {
    Bps::new(value).unwrap()
}

pub fn id(value: u32) -> CandidateId {
    CandidateId::new(value).unwrap()
}

pub fn example_policy() -> Policy {
    Policy::from_json(include_bytes!("../../examples/policy.json")).unwrap()
}

pub fn example_request() -> Request {
    Request::from_json(include_bytes!("../../examples/request.json")).unwrap()
}

/// A plain, eligible-looking candidate.
pub fn candidate(value: u32) -> Candidate {
    Candidate {
        id: id(value),
        provider: ProviderId::new(0).unwrap(),
        quality_bps: bps(8_000),
        risk_ceiling_bps: bps(9_500),
        enabled: true,
        p95_latency_ms: 200,
        capabilities: 0,
        region_mask: u64::MAX,
        input_price_microunits_per_million_tokens: 100,
        output_price_microunits_per_million_tokens: 400,
    }
}

pub fn spec_with(candidates: Vec<Candidate>) -> PolicySpec {
    PolicySpec {
        policy_epoch: 1,
        catalog_epoch: 2,
        hard_risk_limit_bps: bps(9_600),
        minimum_confidence_bps: bps(5_000),
        risk_penalty_multiplier_bps: 3_500,
        latency_penalty_microunits_per_ms: 1,
        candidates,
    }
}

pub fn plain_request() -> Request {
    Request {
        sequence: 1,
        requested_id: Some(id(1)),
        input_tokens: 1_000,
        output_tokens: 500,
        value_microunits: 1_000_000,
        budget_microunits: 1_000_000,
        risk_bps: bps(1_000),
        confidence_bps: bps(9_000),
        minimum_quality_bps: bps(5_000),
        max_p95_latency_ms: 0,
        required_capabilities: 0,
        allowed_providers: u64::MAX,
        required_regions: 0,
    }
}

fn bps_any() -> impl Strategy<Value = Bps> {
    prop_oneof![
        2 => prop::sample::select(vec![0_u16, 5_000, 7_000, 8_000, 9_000, 10_000]),
        3 => 0_u16..=10_000,
    ]
    .prop_map(bps)
}

fn price() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => prop::sample::select(vec![0_u64, 1, 100, 999_999, 1_000_000, 2_500_000]),
        4 => 0_u64..20_000_000,
        1 => any::<u64>(),
        1 => Just(u64::MAX),
    ]
}

fn mask() -> impl Strategy<Value = u64> {
    prop_oneof![3 => 0_u64..8, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

fn candidate_with(value: u32) -> impl Strategy<Value = Candidate> {
    (
        prop_oneof![4 => 0_u8..4, 1 => 0_u8..=63],
        bps_any(),
        bps_any(),
        prop::bool::weighted(0.85),
        prop_oneof![4 => 0_u32..1_000, 1 => any::<u32>()],
        mask(),
        mask(),
        price(),
        price(),
    )
        .prop_map(
            move |(provider, quality, ceiling, enabled, latency, caps, regions, input, output)| {
                Candidate {
                    id: id(value),
                    provider: ProviderId::new(provider).unwrap(),
                    quality_bps: quality,
                    risk_ceiling_bps: ceiling,
                    enabled,
                    p95_latency_ms: latency,
                    capabilities: caps,
                    region_mask: regions,
                    input_price_microunits_per_million_tokens: input,
                    output_price_microunits_per_million_tokens: output,
                }
            },
        )
}

/// Distinct ids, mostly small (so requests name them), sometimes huge.
fn ids(max: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::btree_set(prop_oneof![8 => 1_u32..=64, 1 => 1_u32..=u32::MAX], 1..=max)
        .prop_map(|set| set.into_iter().collect())
}

/// Catalogs of 1 to `max` candidates, in ascending id order.
pub fn catalog(max: usize) -> impl Strategy<Value = Vec<Candidate>> {
    ids(max).prop_flat_map(|ids| ids.into_iter().map(candidate_with).collect::<Vec<_>>())
}

pub fn spec(max: usize) -> impl Strategy<Value = PolicySpec> {
    (
        any::<u64>(),
        any::<u64>(),
        prop_oneof![3 => 8_000_u16..=10_000, 1 => 0_u16..=10_000].prop_map(bps),
        prop_oneof![3 => 0_u16..=5_000, 1 => 0_u16..=10_000].prop_map(bps),
        prop_oneof![3 => 0_u16..=12_000, 1 => 0_u16..=50_000],
        prop_oneof![3 => 0_u64..10, 1 => any::<u64>()],
        catalog(max),
    )
        .prop_map(
            |(policy_epoch, catalog_epoch, hard, confidence, multiplier, latency, candidates)| {
                PolicySpec {
                    policy_epoch,
                    catalog_epoch,
                    hard_risk_limit_bps: hard,
                    minimum_confidence_bps: confidence,
                    risk_penalty_multiplier_bps: multiplier,
                    latency_penalty_microunits_per_ms: latency,
                    candidates,
                }
            },
        )
}

pub fn policy(max: usize) -> impl Strategy<Value = Policy> {
    spec(max).prop_map(|spec| Policy::new(spec).unwrap())
}

pub fn request() -> impl Strategy<Value = Request> {
    let economics = (
        any::<u64>(),
        prop_oneof![4 => (1_u32..=64).prop_map(Some), 1 => any::<u32>().prop_map(Some), 1 => Just(None)],
        prop_oneof![4 => 0_u32..5_000, 1 => any::<u32>()],
        prop_oneof![4 => 0_u32..5_000, 1 => any::<u32>()],
        prop_oneof![
            4 => 0_i64..100_000_000,
            1 => any::<i64>(),
            1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]),
        ],
        prop_oneof![4 => 0_u64..1_000_000, 1 => any::<u64>(), 1 => Just(u64::MAX)],
    );
    let constraints = (
        prop_oneof![3 => 0_u16..=3_000, 1 => 0_u16..=10_000].prop_map(bps),
        prop_oneof![3 => 5_000_u16..=10_000, 1 => 0_u16..=10_000].prop_map(bps),
        prop_oneof![3 => 0_u16..=5_000, 1 => 0_u16..=10_000].prop_map(bps),
        prop_oneof![3 => Just(0_u32), 1 => 0_u32..1_000, 1 => any::<u32>()],
        prop_oneof![3 => Just(0_u64), 2 => 0_u64..8, 1 => any::<u64>()],
        prop_oneof![3 => Just(u64::MAX), 2 => 0_u64..16, 1 => any::<u64>()],
        prop_oneof![3 => Just(0_u64), 2 => 0_u64..8, 1 => any::<u64>()],
    );
    (economics, constraints).prop_map(
        |(
            (sequence, requested, input, output, value, budget),
            (risk, conf, quality, latency, caps, providers, regions),
        )| {
            Request {
                sequence,
                requested_id: requested.and_then(|raw| CandidateId::new(raw).ok()),
                input_tokens: input,
                output_tokens: output,
                value_microunits: value,
                budget_microunits: budget,
                risk_bps: risk,
                confidence_bps: conf,
                minimum_quality_bps: quality,
                max_p95_latency_ms: latency,
                required_capabilities: caps,
                allowed_providers: providers,
                required_regions: regions,
            }
        },
    )
}

/// A policy and a request that, half of the time, asks for a candidate of
/// the catalog (so `execute_requested` decisions are common).
pub fn case(max: usize) -> impl Strategy<Value = (Policy, Request)> {
    (
        policy(max),
        request(),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(policy, mut request, pick, from_catalog)| {
            if from_catalog {
                let ids: Vec<CandidateId> = policy.candidates().iter().map(|c| c.id).collect();
                request.requested_id = Some(*pick.get(&ids));
            }
            (policy, request)
        })
}
