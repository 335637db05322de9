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

/// `value`'s object at `pointer` rewritten in serde's sequence form of a
/// struct: an array of its values in the order of `fields`.
fn sequence_form(mut value: serde_json::Value, pointer: &str, fields: &[&str]) -> String {
    let object = value.pointer_mut(pointer).unwrap();
    let items: Vec<serde_json::Value> = fields.iter().map(|f| object[*f].clone()).collect();
    assert_eq!(items.len(), object.as_object().unwrap().len());
    *object = serde_json::Value::Array(items);
    value.to_string()
}

const INPUTS_FIELDS: [&str; 5] = ["schema", "epoch", "window", "producer", "accounts"];
const POLICY_FIELDS: [&str; 12] = [
    "schema",
    "id",
    "version",
    "pool",
    "funding_account",
    "residual_sink",
    "weights",
    "cap",
    "min_payout",
    "rounding",
    "valid_from",
    "valid_until",
];

/// Every document, and every struct inside one, is read only in its
/// documented object form: serde's array form of a struct would be a second
/// spelling of the same inputs (the same CID) or policy.
#[test]
fn structs_written_as_arrays_are_refused() {
    let inputs: serde_json::Value =
        serde_json::from_str(&inputs_json(r#"{"account":"a","counters":{"x":1}}"#)).unwrap();
    assert!(decode(&inputs.to_string()).is_ok());
    let cases = [
        sequence_form(inputs.clone(), "", &INPUTS_FIELDS),
        sequence_form(inputs.clone(), "/window", &["start", "end"]),
        sequence_form(inputs.clone(), "/accounts/0", &["account", "counters"]),
    ];
    for json in &cases {
        let err = decode(json).unwrap_err();
        assert!(
            matches!(&err, Error::Json { message, .. } if message.contains("expected an object, found sequence")),
            "{json}: {err}"
        );
    }
    let policy = policy_json();
    let err = Policy::from_json(sequence_form(policy.clone(), "", &POLICY_FIELDS).as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("expected an object"), "{err}");
    let signed = serde_json::to_value(
        Policy::from_json(policy.to_string().as_bytes())
            .unwrap()
            .sign(&key())
            .unwrap(),
    )
    .unwrap();
    for json in [
        sequence_form(signed.clone(), "", &["policy", "key_id", "signature"]),
        sequence_form(signed.clone(), "/policy", &POLICY_FIELDS),
    ] {
        let err = SignedPolicy::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("expected an object"), "{err}");
    }
    let trusted = serde_json::json!({"keys": [key().trusted_entry()]});
    assert!(TrustedKeys::from_json(trusted.to_string().as_bytes()).is_ok());
    let json = sequence_form(trusted, "/keys/0", &["key_id", "public_key"]);
    assert!(TrustedKeys::from_json(json.as_bytes()).is_err());
}

/// The error of `bytes` decoded as inputs, as the user reads it.
fn inputs_message(json: &str) -> String {
    decode(json).unwrap_err().to_string()
}

fn policy_message(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut p = policy_json();
    edit(&mut p);
    Policy::from_json(p.to_string().as_bytes())
        .unwrap_err()
        .to_string()
}

/// Messages name the field and the problem: an integer beyond its type is
/// "integer out of range", not serde's "invalid type: floating point"; no
/// doubled prefix, no internal type name, no Debug formatting.
#[test]
fn decoding_errors_name_the_field_and_the_problem() {
    let counter = |value: &str| {
        inputs_message(&inputs_json(&format!(
            r#"{{"account":"a","counters":{{"x":0}}}},{{"account":"b","counters":{{"y":{value}}}}}"#
        )))
    };
    let messages = [
        (
            counter("18446744073709551616"),
            "invalid inputs: field `accounts[1].counters.y`: integer out of range (0 to 18446744073709551615) (line 1,",
        ),
        (
            counter("-1"),
            "invalid inputs: field `accounts[1].counters.y`: integer out of range (0 to 18446744073709551615)",
        ),
        (
            counter("1.5"),
            "invalid inputs: field `accounts[1].counters.y`: not an integer: 1.5",
        ),
        (
            counter("1e3"),
            "invalid inputs: field `accounts[1].counters.y`: not an integer: 1000",
        ),
        (
            counter("\"1\""),
            "invalid inputs: field `accounts[1].counters.y`: invalid type: string \"1\", expected an integer (0 to 18446744073709551615)",
        ),
        (
            inputs_message(&inputs_json("").replace(r#""end":2"#, r#""end":99999999999999999999"#)),
            "invalid inputs: field `window.end`: integer out of range",
        ),
        (
            inputs_message("\"inputs\""),
            "invalid inputs: expected an object, found string \"inputs\"",
        ),
        (
            inputs_message(&inputs_json(r#"{"account":"a\u0001b","counters":{}}"#)),
            "invalid inputs: field `accounts[0].account`: invalid account id \"a?b\"",
        ),
        (
            policy_message(|p| p["pool"] = serde_json::from_str("18446744073709551616").unwrap()),
            "invalid policy: field `pool`: integer out of range (0 to 18446744073709551615)",
        ),
        (
            policy_message(|p| p["weights"]["x"] = 4_294_967_296u64.into()),
            "invalid policy: field `weights.x`: integer out of range (0 to 4294967295)",
        ),
        (
            policy_message(|p| p["residual_sink"] = p["funding_account"].clone()),
            "invalid policy: the funding account and the residual sink must differ",
        ),
        (
            policy_message(|p| p["schema"] = "x".into()),
            "invalid policy: unknown policy schema",
        ),
    ];
    for (got, want) in &messages {
        assert!(got.starts_with(want), "got  {got}\nwant {want}");
        for internal in ["Raw", "struct", "u64", "u32", "floating point", "\\u{"] {
            assert!(!got.contains(internal), "{internal} in {got}");
        }
        for doubled in [
            "invalid policy: invalid policy",
            "invalid inputs: invalid inputs",
        ] {
            assert!(!got.contains(doubled), "{got}");
        }
    }
    // A signed policy whose policy breaks a rule is a policy error, once.
    let mut signed = serde_json::to_value(
        Policy::from_json(policy_json().to_string().as_bytes())
            .unwrap()
            .sign(&key())
            .unwrap(),
    )
    .unwrap();
    signed["policy"]["residual_sink"] = signed["policy"]["funding_account"].clone();
    assert_eq!(
        SignedPolicy::from_json(signed.to_string().as_bytes()).unwrap_err(),
        Error::Policy {
            reason: "the funding account and the residual sink must differ".to_owned()
        }
    );
}
