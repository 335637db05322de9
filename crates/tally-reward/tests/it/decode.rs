//! Decoding: every bad input is a typed error.

use tally_reward::inputs::EpochInputs;
use tally_reward::keys::{SigningKey, TrustedKeys};
use tally_reward::policy::{Policy, SignedPolicy};
use tally_reward::{Error, Limits};

use crate::common::{key, trusted};

fn inputs_json(accounts: &str) -> String {
    format!(
        r#"{{"schema":"tally/reward/inputs/v1","epoch":"e1","window":{{"start":1,"end":2}},"producer":"m","accounts":[{accounts}]}}"#
    )
}

fn decode(json: &str) -> Result<EpochInputs, Error> {
    EpochInputs::from_json(json.as_bytes(), &Limits::default())
}

fn is_json_error(r: Result<EpochInputs, Error>) -> bool {
    matches!(r, Err(Error::Json { .. }))
}

#[test]
fn good_inputs_decode_in_account_order() {
    let i = decode(&inputs_json(
        r#"{"account":"b","counters":{"x":1}},{"account":"a","counters":{}}"#,
    ))
    .unwrap();
    let ids: Vec<&str> = i.account_ids().iter().map(|a| a.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn bad_values_are_refused() {
    for counters in [
        r#"{"x":-1}"#,
        r#"{"x":1.5}"#,
        r#"{"x":1e3}"#,
        r#"{"x":18446744073709551616}"#,
        r#"{"x":"1"}"#,
        r#"{"x":null}"#,
        r#"{"x":1,"x":2}"#,
        r#"{"X":1}"#,
        r#"{"":1}"#,
    ] {
        let json = inputs_json(&format!(r#"{{"account":"a","counters":{counters}}}"#));
        assert!(is_json_error(decode(&json)), "{counters}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("\"c{i}\":1")).collect();
    let json = inputs_json(&format!(
        r#"{{"account":"a","counters":{{{}}}}}"#,
        many.join(",")
    ));
    assert!(is_json_error(decode(&json)));
    let at_bound: Vec<String> = (0..64).map(|i| format!("\"c{i}\":1")).collect();
    let json = inputs_json(&format!(
        r#"{{"account":"a","counters":{{{}}}}}"#,
        at_bound.join(",")
    ));
    assert!(decode(&json).is_ok());
}

#[test]
fn bad_shapes_are_refused() {
    let good = r#"{"account":"a","counters":{"x":1}}"#;
    assert!(is_json_error(decode(
        &inputs_json(good).replace(r#""producer""#, r#""extra":1,"producer""#)
    )));
    assert!(is_json_error(decode(&inputs_json(
        r#"{"account":"a","counters":{},"more":1}"#
    ))));
    assert!(is_json_error(decode(&inputs_json(
        r#"{"account":"a b","counters":{}}"#
    ))));
    assert!(is_json_error(decode("not json")));
    assert!(matches!(
        decode(&inputs_json(good).replace("inputs/v1", "inputs/v2")),
        Err(Error::Inputs { .. })
    ));
    assert!(matches!(
        decode(&inputs_json(good).replace(r#""end":2"#, r#""end":1"#)),
        Err(Error::Inputs { .. })
    ));
    let dup = format!("{good},{good}");
    assert!(matches!(
        decode(&inputs_json(&dup)),
        Err(Error::DuplicateAccount { .. })
    ));
}

#[test]
fn size_and_count_bounds_hold_at_the_bound_and_one_past() {
    let accounts: Vec<String> = (0..3)
        .map(|i| format!(r#"{{"account":"a{i}","counters":{{}}}}"#))
        .collect();
    let json = inputs_json(&accounts.join(","));
    let limits = |max_accounts, max_input_bytes| Limits {
        max_accounts,
        max_input_bytes,
        ..Limits::default()
    };
    assert!(EpochInputs::from_json(json.as_bytes(), &limits(3, json.len())).is_ok());
    assert_eq!(
        EpochInputs::from_json(json.as_bytes(), &limits(2, json.len())),
        Err(Error::TooManyAccounts { count: 3, max: 2 })
    );
    assert!(matches!(
        EpochInputs::from_json(json.as_bytes(), &limits(3, json.len() - 1)),
        Err(Error::TooLarge { .. })
    ));
}

fn policy_json() -> serde_json::Value {
    serde_json::from_slice(include_bytes!("../../examples/policy.json")).unwrap()
}

#[test]
fn bad_policies_are_refused() {
    let edits: [(&str, serde_json::Value); 9] = [
        ("schema", "tally/reward/policy/v9".into()),
        ("weights", serde_json::json!({})),
        ("weights", serde_json::json!({"x": 0})),
        ("weights", serde_json::json!({"x": 10_000_001})),
        ("cap", 0.into()),
        ("valid_until", 1_761_955_200u64.into()),
        ("residual_sink", "pool:storage".into()),
        ("pool", (-1).into()),
        ("rounding", "nearest".into()),
    ];
    for (field, value) in edits {
        let mut p = policy_json();
        p[field] = value.clone();
        let err = Policy::from_json(p.to_string().as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::Policy { .. } | Error::Json { .. }),
            "{field}={value}: {err:?}"
        );
    }
    let mut p = policy_json();
    p["unknown"] = 1.into();
    assert!(Policy::from_json(p.to_string().as_bytes()).is_err());
    let mut p = policy_json();
    p["weights"]["x"] = 10_000_000.into();
    assert!(Policy::from_json(p.to_string().as_bytes()).is_ok());
}

#[test]
fn only_a_trusted_valid_signature_verifies_a_policy() {
    let policy = Policy::from_json(&serde_json::to_vec(&policy_json()).unwrap()).unwrap();
    let signed = policy.sign(&key()).unwrap();
    let text = serde_json::to_string(&signed).unwrap();
    let back = SignedPolicy::from_json(text.as_bytes()).unwrap();
    assert!(back.verify(&trusted()).is_ok());

    let stranger = SigningKey::from_seed(&[8; 32]);
    assert_eq!(
        policy
            .sign(&stranger)
            .unwrap()
            .verify(&trusted())
            .unwrap_err(),
        Error::UntrustedKey {
            key_id: stranger.id()
        }
    );
    // Any change to the signed policy breaks the signature.
    let mut tampered = signed.clone();
    tampered.policy.pool += 1;
    assert!(matches!(
        tampered.verify(&trusted()),
        Err(Error::BadSignature { .. })
    ));
    let mut tampered = signed.clone();
    tampered.signature.0[0] ^= 1;
    assert!(matches!(
        tampered.verify(&trusted()),
        Err(Error::BadSignature { .. })
    ));
    // A manifest signature over the same bytes is not a policy signature.
    let bytes = policy.canonical_bytes().unwrap();
    let mut cross = signed;
    cross.signature = key().sign("tally/reward/manifest/v1", &bytes);
    assert!(matches!(
        cross.verify(&trusted()),
        Err(Error::BadSignature { .. })
    ));
}

#[test]
fn keys_round_trip_and_trusted_files_are_checked() {
    let k = key();
    let again = SigningKey::parse(&k.to_file_text()).unwrap();
    assert_eq!(again.public_key(), k.public_key());
    for bad in [
        "",
        "tally-reward-ed25519-secret-v1:",
        "tally-reward-ed25519-secret-v1:00",
        &k.to_file_text().to_uppercase(),
    ] {
        assert!(SigningKey::parse(bad).is_err(), "{bad}");
    }
    let file = TrustedKeys::file_text(&[k.trusted_entry()]);
    assert!(TrustedKeys::from_json(file.as_bytes()).is_ok());
    let wrong_id = file.replace(
        &k.id().to_string(),
        &SigningKey::from_seed(&[9; 32]).id().to_string(),
    );
    assert!(TrustedKeys::from_json(wrong_id.as_bytes()).is_err());
    assert!(TrustedKeys::from_json(b"{\"keys\":[],\"x\":1}").is_err());
}
