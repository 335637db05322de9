//! JSON forms: strict (unknown fields, ranges, canonical hex), bounded, and
//! panic-free on any bytes.

use proptest::prelude::*;
use tally_decide::{
    AuditBundle, Decision, Digest, Document, Error, MAX_DOCUMENT_JSON_BYTES, MAX_POLICY_JSON_BYTES,
    Policy, Request,
};

use crate::common;

fn with_field(json: &str, field: &str) -> String {
    let cut = json.rfind('}').unwrap();
    format!("{},{field}}}", &json[..cut])
}

fn replace(json: &str, from: &str, to: &str) -> String {
    assert!(json.contains(from), "{from} not in {json}");
    json.replacen(from, to, 1)
}

#[test]
fn documents_round_trip() {
    let policy = common::example_policy();
    let request = common::example_request();
    let (decision, bundle) = policy.decide(&request);
    let policy_json = serde_json::to_vec(&policy).unwrap();
    assert_eq!(Policy::from_json(&policy_json).unwrap(), policy);
    assert_eq!(
        Request::from_json(&serde_json::to_vec(&request).unwrap()).unwrap(),
        request
    );
    assert_eq!(
        Decision::from_json(&serde_json::to_vec(&decision).unwrap()).unwrap(),
        decision
    );
    assert_eq!(
        AuditBundle::from_json(&serde_json::to_vec(&bundle).unwrap()).unwrap(),
        bundle
    );
}

#[test]
fn unknown_fields_are_refused_everywhere() {
    let policy = common::example_policy();
    let request = common::example_request();
    let (decision, bundle) = policy.decide(&request);
    let extra = "\"extra\":1";
    let policy_json = with_field(&serde_json::to_string(&policy).unwrap(), extra);
    assert!(matches!(
        Policy::from_json(policy_json.as_bytes()),
        Err(Error::Json {
            document: Document::Policy,
            ..
        })
    ));
    let candidate_json = replace(
        &serde_json::to_string(&policy).unwrap(),
        "\"id\":10,",
        "\"id\":10,\"extra\":1,",
    );
    assert!(Policy::from_json(candidate_json.as_bytes()).is_err());
    let request_json = with_field(&serde_json::to_string(&request).unwrap(), extra);
    assert!(Request::from_json(request_json.as_bytes()).is_err());
    let decision_json = with_field(&serde_json::to_string(&decision).unwrap(), extra);
    assert!(Decision::from_json(decision_json.as_bytes()).is_err());
    let bundle_json = with_field(&serde_json::to_string(&bundle).unwrap(), extra);
    assert!(AuditBundle::from_json(bundle_json.as_bytes()).is_err());
}

#[test]
fn out_of_range_values_are_refused_on_reading() {
    let request = serde_json::to_string(&common::example_request()).unwrap();
    for (from, to) in [
        ("\"risk_bps\":1000", "\"risk_bps\":10001"),
        ("\"confidence_bps\":9000", "\"confidence_bps\":65535"),
        ("\"requested_id\":20", "\"requested_id\":0"),
        ("\"input_tokens\":1200", "\"input_tokens\":4294967296"),
        (
            "\"value_microunits\":50000",
            "\"value_microunits\":9223372036854775808",
        ),
        ("\"value_microunits\":50000", "\"value_microunits\":1.5"),
    ] {
        let bad = replace(&request, from, to);
        assert!(Request::from_json(bad.as_bytes()).is_err(), "{to} accepted");
    }
    let policy = serde_json::to_string(&common::example_policy()).unwrap();
    for (from, to) in [
        ("\"id\":10,", "\"id\":0,"),
        ("\"provider\":0,", "\"provider\":64,"),
        ("\"quality_bps\":7800", "\"quality_bps\":10001"),
        ("\"enabled\":true", "\"enabled\":1"),
        (
            "\"hard_risk_limit_bps\":9600",
            "\"hard_risk_limit_bps\":10001",
        ),
    ] {
        let bad = replace(&policy, from, to);
        assert!(Policy::from_json(bad.as_bytes()).is_err(), "{to} accepted");
    }
    let duplicate = replace(&policy, "\"id\":20,", "\"id\":10,");
    assert_eq!(
        Policy::from_json(duplicate.as_bytes()),
        Err(Error::DuplicateCandidateId { id: 10 })
    );
    let empty = serde_json::to_string(&tally_decide::PolicySpec {
        candidates: vec![],
        ..common::example_policy().into_spec()
    })
    .unwrap();
    assert_eq!(
        Policy::from_json(empty.as_bytes()),
        Err(Error::EmptyCatalog)
    );
}

#[test]
fn missing_fields_are_refused_but_absent_ids_may_be_null() {
    let request = serde_json::to_string(&common::example_request()).unwrap();
    let missing = replace(&request, "\"sequence\":1,", "");
    assert!(Request::from_json(missing.as_bytes()).is_err());
    let null = replace(&request, "\"requested_id\":20", "\"requested_id\":null");
    assert_eq!(
        Request::from_json(null.as_bytes()).unwrap().requested_id,
        None
    );
}

#[test]
fn digest_hex_is_canonical_only() {
    let hex = "0123456789abcdef".repeat(4);
    let digest = Digest::from_hex(&hex).unwrap();
    assert_eq!(digest.to_string(), hex);
    for bad in [
        hex.to_uppercase(),
        format!("0x{}", &hex[2..]),
        hex[..63].to_string(),
        format!("{hex}0"),
        format!(" {}", &hex[1..]),
        hex.replacen('a', "g", 1),
        String::new(),
        "é".repeat(32),
    ] {
        assert!(
            matches!(Digest::from_hex(&bad), Err(Error::DigestHex { .. })),
            "{bad:?}"
        );
    }
    let bundle = serde_json::to_string(
        &common::example_policy()
            .decide(&common::example_request())
            .1,
    )
    .unwrap();
    let upper = bundle.replacen(
        &common::example_policy().digest().to_string(),
        &common::example_policy().digest().to_string().to_uppercase(),
        1,
    );
    assert!(AuditBundle::from_json(upper.as_bytes()).is_err());
    for (from, to) in [
        ("tally/decide/audit/v1", "tally/decide/audit/v2"),
        ("sha256", "SHA256"),
    ] {
        assert!(AuditBundle::from_json(replace(&bundle, from, to).as_bytes()).is_err());
    }
}

#[test]
fn size_bounds_hold_at_the_bound_and_one_past() {
    let request = serde_json::to_string(&common::example_request()).unwrap();
    let pad = |len: usize| format!("{request}{}", " ".repeat(len - request.len()));
    assert_eq!(
        Request::from_json(pad(MAX_DOCUMENT_JSON_BYTES).as_bytes()).unwrap(),
        common::example_request()
    );
    assert_eq!(
        Request::from_json(pad(MAX_DOCUMENT_JSON_BYTES + 1).as_bytes()),
        Err(Error::TooLarge {
            document: Document::Request,
            size_bytes: MAX_DOCUMENT_JSON_BYTES + 1,
            max_bytes: MAX_DOCUMENT_JSON_BYTES,
        })
    );
    let policy = serde_json::to_string(&common::example_policy()).unwrap();
    let padded = format!(
        "{policy}{}",
        " ".repeat(MAX_POLICY_JSON_BYTES - policy.len())
    );
    assert!(Policy::from_json(padded.as_bytes()).is_ok());
    let over = format!("{padded} ");
    assert!(matches!(
        Policy::from_json(over.as_bytes()),
        Err(Error::TooLarge { .. })
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Policy::from_json(&bytes);
        let _ = Request::from_json(&bytes);
        let _ = Decision::from_json(&bytes);
        let _ = AuditBundle::from_json(&bytes);
        let _ = Digest::from_hex(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_documents_never_panic(position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut json = serde_json::to_vec(&common::example_policy()).unwrap();
        let at = position.index(json.len());
        json[at] = byte;
        let _ = Policy::from_json(&json);
        let mut json = serde_json::to_vec(&common::example_request()).unwrap();
        let at = position.index(json.len());
        json[at] = byte;
        let _ = Request::from_json(&json);
    }
}
