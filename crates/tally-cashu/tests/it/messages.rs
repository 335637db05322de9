//! Error messages of the decoders, as a user reads them: integers beyond
//! `u64` are "integer out of range" with the field named, and no message
//! carries Debug formatting or an internal type name.

use tally_cashu::encoding::base64url;
use tally_cashu::nuts::nut01::{Keyset, parse_keysets_response};
use tally_cashu::nuts::nut06::MintInfo;
use tally_cashu::secret::Secret;
use tally_cashu::token::Token;
use tally_cashu::{ConditionError, Error};

const BEYOND: &str = "18446744073709551616";

fn v3(json: &str) -> Result<Token, Error> {
    Token::decode(&format!("cashuA{}", base64url::encode(json.as_bytes())))
}

fn v3_with_amount(amount: &str) -> String {
    format!(
        r#"{{"token":[{{"mint":"https://m.example","proofs":[{{"amount":{amount},"id":"009a1f293253e41e","secret":"s","C":"02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea"}}]}}]}}"#
    )
}

fn keysets(field: &str, value: &str) -> String {
    format!(
        r#"{{"keysets":[{{"id":"009a1f293253e41e","unit":"sat","active":true,"{field}":{value}}}]}}"#
    )
}

/// No Debug formatting (`SecretLength`, `Some(..)`) and no internal type
/// names (`struct WireIn`, `Raw`) in a message.
fn readable(message: &str) {
    assert!(!message.contains("struct"), "{message}");
    assert!(!message.contains("Some("), "{message}");
    let camel = message
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    assert!(!camel, "{message}");
}

fn message<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    let message = result.unwrap_err().to_string();
    readable(&message);
    message
}

#[test]
fn integers_beyond_u64_are_out_of_range_by_name() {
    for (result, field) in [
        (message(v3(&v3_with_amount(BEYOND))), "amount"),
        (message(v3(&v3_with_amount("-1"))), "amount"),
        (
            message(parse_keysets_response(&keysets("input_fee_ppk", BEYOND))),
            "input_fee_ppk",
        ),
        (
            message(parse_keysets_response(&keysets("final_expiry", BEYOND))),
            "final_expiry",
        ),
        (
            message(Keyset::from_keys_response(&keysets(
                "input_fee_ppk",
                BEYOND,
            ))),
            "input_fee_ppk",
        ),
        (
            message(Keyset::from_keys_response(&keysets("final_expiry", BEYOND))),
            "final_expiry",
        ),
        (
            message(MintInfo::from_json(&format!(r#"{{"time":{BEYOND}}}"#))),
            "time",
        ),
        (
            message(MintInfo::from_json(&format!(
                r#"{{"nuts":{{"4":{{"methods":[{{"method":"bolt11","unit":"sat","max_amount":{BEYOND}}}]}}}}}}"#
            ))),
            "max_amount",
        ),
    ] {
        assert!(
            result.contains(&format!("`{field}`: integer out of range")),
            "{result}"
        );
        assert!(!result.contains("floating point"), "{result}");
    }
    // A keyset's amounts are the keys of its map, written as strings.
    let keys = message(Keyset::from_json(&format!(
        r#"{{"id":"009a1f293253e41e","unit":"sat","keys":{{"{BEYOND}":"02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea"}}}}"#
    )));
    assert!(
        keys.contains("invalid amount: integer out of range"),
        "{keys}"
    );
    let fraction = message(v3(&v3_with_amount("1.5")));
    assert!(fraction.contains("`amount`: not an integer"), "{fraction}");
    // u64::MAX itself is an amount (refused later only if it overflows a sum).
    assert!(v3(&v3_with_amount("18446744073709551615")).is_ok());
}

#[test]
fn decoder_messages_are_plain_words() {
    assert_eq!(
        message(Secret::new("a".repeat(1_025))),
        "secret length in bytes is 1025, above the limit of 1024"
    );
    assert_eq!(
        message(Token::from_raw_bytes(b"crawB\xa1\x61")),
        "malformed CBOR at byte 1: a length exceeds the bytes that remain"
    );
    assert_eq!(
        Error::from(ConditionError::NotEnoughSignatures).to_string(),
        "spending condition: not enough valid signatures"
    );
    let shape = message(v3("[]"));
    assert!(shape.contains("expected a V3 token object"), "{shape}");
    let entry = message(v3(r#"{"token":[7]}"#));
    assert!(
        entry.contains("expected a V3 token entry object"),
        "{entry}"
    );
    let proof = message(v3(
        r#"{"token":[{"mint":"https://m.example","proofs":[[]]}]}"#,
    ));
    assert!(proof.contains("expected a proof object"), "{proof}");
    let keyset = message(Keyset::from_json("[]"));
    assert!(keyset.contains("expected a keyset object"), "{keyset}");
    let info = message(MintInfo::from_json("7"));
    assert!(info.contains("expected a mint info object"), "{info}");
    let response = message(parse_keysets_response(r#"{"keysets":[7]}"#));
    assert!(
        response.contains("expected a keyset info object"),
        "{response}"
    );
}
