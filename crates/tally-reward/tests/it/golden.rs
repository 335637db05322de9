//! Golden vectors computed independently of the crate, pinning every
//! canonical encoding: `tests/vectors/reward_golden.txt`, written by
//! `scripts/vectors/reward_golden.py` (Python's `blake3` and
//! `base64.b32encode`), and JCS cases from RFC 8785.

use tally_reward::cid::Cid;
use tally_reward::compute::Payout;
use tally_reward::ident::EpochId;
use tally_reward::manifest::{Hex32, run_key};
use tally_reward::settle::{Role, ledger_account_id, transfer_id};
use tally_reward::{jcs, merkle};

use crate::common::{account, vector};

#[test]
fn cids_match_an_independent_encoder() {
    assert_eq!(Cid::of(b"").to_string(), vector("cid.empty"));
    assert_eq!(Cid::of(b"abc").to_string(), vector("cid.abc"));
    let cid = Cid::of(b"abc");
    assert_eq!(cid.to_string().parse::<Cid>().unwrap(), cid);
}

#[test]
fn cid_text_is_canonical_only() {
    let text = Cid::of(b"abc").to_string();
    for bad in [
        text.to_uppercase(),
        text.replacen('b', "B", 1),
        format!("{text}a"),
        text[..text.len() - 1].to_owned(),
        // the last symbol carries 2 unused bits: they must be zero
        format!("{}r", &text[..text.len() - 1]),
        "bafkr4i".to_owned(),
        String::new(),
    ] {
        assert!(bad.parse::<Cid>().is_err(), "{bad}");
    }
}

#[test]
fn jcs_matches_rfc_8785_for_our_subset() {
    let cases: [(&str, &str); 5] = [
        (r#"{"b":1,"a":2}"#, r#"{"a":2,"b":1}"#),
        (
            "{\"\u{20ac}\":1,\"\\r\":2,\"1\":3,\"\u{1f600}\":4,\"\u{fb33}\":5}",
            // UTF-16 order: \r, 1, U+20AC, U+1F600 (surrogates D83D…), U+FB33
            "{\"\\r\":2,\"1\":3,\"\u{20ac}\":1,\"\u{1f600}\":4,\"\u{fb33}\":5}",
        ),
        (
            r#"["\u0001\b\t\n\f\r\"\\/"]"#,
            r#"["\u0001\b\t\n\f\r\"\\/"]"#,
        ),
        (
            r#"[0, -9223372036854775808, 18446744073709551615]"#,
            "[0,-9223372036854775808,18446744073709551615]",
        ),
        (
            r#"{"a":{"z":null,"y":[true,false]}}"#,
            r#"{"a":{"y":[true,false],"z":null}}"#,
        ),
    ];
    for (input, expected) in cases {
        let v: serde_json::Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            String::from_utf8(jcs::to_canonical(&v).unwrap()).unwrap(),
            expected,
            "{input}"
        );
    }
    let float: serde_json::Value = serde_json::from_str("[1.5]").unwrap();
    assert!(jcs::to_canonical(&float).is_err());
}

#[test]
fn run_key_layout() {
    let key = run_key(
        &EpochId::new("2026-w47").unwrap(),
        &Cid::of(b"in"),
        &Cid::of(b"pol"),
        "tally-reward/0.1.0",
    );
    assert_eq!(key.to_string(), vector("run_key"));
}

/// The run tag is the run key's first 16 bytes read little-endian: byte 0
/// of the key is the tag's lowest byte.
#[test]
fn run_tag_layout() {
    let rk = Hex32(core::array::from_fn(|i| i as u8));
    assert_eq!(
        format!("{:032x}", tally_reward::settle::run_tag(&rk)),
        "0f0e0d0c0b0a09080706050403020100"
    );
}

#[test]
fn transfer_id_layout() {
    let rk = Hex32(core::array::from_fn(|i| i as u8));
    assert_eq!(
        format!("{:032x}", transfer_id(&rk, Role::Payout, &account("alice"))),
        vector("transfer_id.payout.alice")
    );
    assert_eq!(
        format!(
            "{:032x}",
            transfer_id(&rk, Role::Residual, &account("treasury"))
        ),
        vector("transfer_id.residual.treasury")
    );
}

#[test]
fn merkle_layout() {
    let payouts = [("alice", 5), ("bob", 7), ("carol", 11)].map(|(a, amount)| Payout {
        account: account(a),
        amount,
    });
    assert_eq!(
        Hex32(merkle::root(&payouts)).to_string(),
        vector("merkle.root.3")
    );
    assert_eq!(
        Hex32(merkle::root(&[])).to_string(),
        vector("merkle.root.empty")
    );
}

/// The ledger's 128-bit account id of a reward account, as the independent
/// script derives it.
#[test]
fn ledger_account_id_layout() {
    for name in ["alice", "pool:test"] {
        assert_eq!(
            format!("{:032x}", ledger_account_id(&account(name))),
            vector(&format!("ledger_account.{name}"))
        );
    }
}

/// Integers are exact beyond 2^53, where RFC 8785's doubles (and
/// `serde_jcs`) would round: two amounts never share one canonical form.
#[test]
fn jcs_writes_integers_beyond_2_pow_53_exactly() {
    let v = serde_json::json!([
        9_007_199_254_740_992_u64,
        9_007_199_254_740_993_u64,
        -9_007_199_254_740_993_i64
    ]);
    assert_eq!(
        jcs::to_canonical(&v).unwrap(),
        b"[9007199254740992,9007199254740993,-9007199254740993]"
    );
}
