//! Golden vectors: the canonical bytes and digests of the example policy,
//! request and decision, and the record payload. The expected bytes are built
//! here by hand from the layout in the crate docs, not by the crate's encoder,
//! and the digests are pinned as hex.

use sha2::Digest as _;
use tally_decide::{Candidate, DecisionRecord, Digest, Request};

use crate::common;

const POLICY_DIGEST: &str = "a5f0df84b40ce57f646148ab427f2d90afdd39250a573a2f0f1bd70acaf00cd8";
const REQUEST_DIGEST: &str = "16c5c6ae3053c54994524dfa87ad0653961eaba182de371f3b3d8e70789fc340";
const DECISION_DIGEST: &str = "4b92fcfe6ca84d039b9a28418d33cde57e02a3602b631d22065a9acba17bd8e4";

/// The record payload of the example policy, request and decision.
const RECORD: &str = concat!(
    r#"{"kind":"tally/decide/record/v1","bundle":{"schema_version":"tally/decide/audit/v1","#,
    r#""algorithm":"sha256","#,
    r#""policy_digest":"a5f0df84b40ce57f646148ab427f2d90afdd39250a573a2f0f1bd70acaf00cd8","#,
    r#""request_digest":"16c5c6ae3053c54994524dfa87ad0653961eaba182de371f3b3d8e70789fc340","#,
    r#""decision_digest":"4b92fcfe6ca84d039b9a28418d33cde57e02a3602b631d22065a9acba17bd8e4"},"#,
    r#""request":{"sequence":1,"requested_id":20,"input_tokens":1200,"output_tokens":400,"#,
    r#""value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"#,
    r#""minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"#,
    r#""allowed_providers":18446744073709551615,"required_regions":1},"#,
    r#""decision":{"sequence":1,"action":"execute_requested","reason":"requested_maximizes_utility","#,
    r#""selected_id":20,"cost_microunits":7000,"utility_microunits":29850,"runner_up_id":10,"#,
    r#""runner_up_utility_microunits":29440,"evaluated_candidates":4,"eligible_candidates":2,"#,
    r#""policy_epoch":7,"catalog_epoch":11}}"#,
);
const RECORD_SHA256: &str = "763243c973c30ad8b6c8f7add62f85df953f1a60de71eff354fbbaad0d3e667b";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tagged(tag: &str) -> Vec<u8> {
    let mut out = u32::try_from(tag.len()).unwrap().to_le_bytes().to_vec();
    out.extend_from_slice(tag.as_bytes());
    out
}

fn candidate_bytes(c: &Candidate) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(c.id.get().to_le_bytes());
    out.push(c.provider.get());
    out.extend(c.quality_bps.get().to_le_bytes());
    out.extend(c.risk_ceiling_bps.get().to_le_bytes());
    out.push(u8::from(c.enabled));
    out.extend(c.p95_latency_ms.to_le_bytes());
    out.extend(c.capabilities.to_le_bytes());
    out.extend(c.region_mask.to_le_bytes());
    out.extend(c.input_price_microunits_per_million_tokens.to_le_bytes());
    out.extend(c.output_price_microunits_per_million_tokens.to_le_bytes());
    assert_eq!(out.len(), 46);
    out
}

#[test]
fn policy_canonical_bytes_and_digest() {
    let policy = common::example_policy();
    let s = policy.spec();
    let mut expected = tagged("tally/decide/policy/v1");
    expected.extend(7_u64.to_le_bytes());
    expected.extend(11_u64.to_le_bytes());
    expected.extend(9_600_u16.to_le_bytes());
    expected.extend(5_500_u16.to_le_bytes());
    expected.extend(10_000_u16.to_le_bytes());
    expected.extend(2_u64.to_le_bytes());
    expected.extend(4_u32.to_le_bytes());
    // The example file lists 20, 10, 30, 40; canonical order is by id.
    let ids: Vec<u32> = s.candidates.iter().map(|c| c.id.get()).collect();
    assert_eq!(ids, [10, 20, 30, 40]);
    for candidate in &s.candidates {
        expected.extend(candidate_bytes(candidate));
    }
    assert_eq!(hex(&policy.canonical_bytes()), hex(&expected));
    assert_eq!(hex(&sha2::Sha256::digest(&expected)), POLICY_DIGEST);
    assert_eq!(policy.digest().to_string(), POLICY_DIGEST);
    // And the first candidate's bytes, spelled out.
    assert_eq!(
        hex(&candidate_bytes(&s.candidates[0])),
        "0a00000000781e2823017800000001000000000000000100000000000000f049020000000000c027090000000000"
    );
}

#[test]
fn request_canonical_bytes_and_digest() {
    let r: Request = common::example_request();
    let mut expected = tagged("tally/decide/request/v1");
    expected.extend(1_u64.to_le_bytes());
    expected.extend(20_u32.to_le_bytes());
    expected.extend(1_200_u32.to_le_bytes());
    expected.extend(400_u32.to_le_bytes());
    expected.extend(50_000_i64.to_le_bytes());
    expected.extend(10_000_u64.to_le_bytes());
    expected.extend(1_000_u16.to_le_bytes());
    expected.extend(9_000_u16.to_le_bytes());
    expected.extend(7_000_u16.to_le_bytes());
    expected.extend(500_u32.to_le_bytes());
    expected.extend(1_u64.to_le_bytes());
    expected.extend(u64::MAX.to_le_bytes());
    expected.extend(1_u64.to_le_bytes());
    assert_eq!(hex(&r.canonical_bytes()), hex(&expected));
    assert_eq!(tally_decide::request_digest(&r).to_string(), REQUEST_DIGEST);
    // No preference is encoded as id 0.
    let none = Request {
        requested_id: None,
        ..r
    };
    assert_eq!(
        &none.canonical_bytes()[4 + 23 + 8..4 + 23 + 12],
        &[0, 0, 0, 0]
    );
}

#[test]
fn decision_canonical_bytes_and_digest() {
    let policy = common::example_policy();
    let d = policy.prescribe(&common::example_request());
    let mut expected = tagged("tally/decide/decision/v1");
    expected.extend(1_u64.to_le_bytes());
    expected.push(1); // execute_requested
    expected.extend(1_u16.to_le_bytes()); // requested_maximizes_utility
    expected.extend(20_u32.to_le_bytes());
    expected.extend(7_000_u64.to_le_bytes());
    expected.extend(29_850_i64.to_le_bytes());
    expected.extend(10_u32.to_le_bytes());
    expected.extend(29_440_i64.to_le_bytes());
    expected.extend(4_u16.to_le_bytes());
    expected.extend(2_u16.to_le_bytes());
    expected.extend(7_u64.to_le_bytes());
    expected.extend(11_u64.to_le_bytes());
    assert_eq!(hex(&d.canonical_bytes()), hex(&expected));
    assert_eq!(
        tally_decide::decision_digest(&d).to_string(),
        DECISION_DIGEST
    );
}

#[test]
fn record_payload_golden_vector() {
    let policy = common::example_policy();
    let request = common::example_request();
    let decision = policy.prescribe(&request);
    let payload = DecisionRecord::new(&policy, &request, &decision)
        .unwrap()
        .to_payload();
    assert_eq!(String::from_utf8(payload.clone()).unwrap(), RECORD);
    assert_eq!(hex(&sha2::Sha256::digest(&payload)), RECORD_SHA256);
    let bundle = policy.decide(&request).1;
    assert_eq!(
        bundle.policy_digest,
        Digest::from_hex(POLICY_DIGEST).unwrap()
    );
    assert_eq!(
        bundle.request_digest,
        Digest::from_hex(REQUEST_DIGEST).unwrap()
    );
    assert_eq!(
        bundle.decision_digest,
        Digest::from_hex(DECISION_DIGEST).unwrap()
    );
}

#[test]
fn the_three_tags_keep_equal_fields_apart() {
    // Same numeric content under different tags never shares bytes.
    let tags = [
        "tally/decide/policy/v1",
        "tally/decide/request/v1",
        "tally/decide/decision/v1",
    ];
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(tagged(a), tagged(b));
        }
    }
}
