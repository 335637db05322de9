//! `tally cashu decode`: tokens from files or stdin (never argv), JSON out,
//! offline DLEQ verification against saved keys, exit codes 0/1/2.

use std::process::Output;

use tally_cashu::Amount;
use tally_cashu::crypto::{SecretKey, bdhke, dleq};
use tally_cashu::nuts::nut00::{BlindSignature, BlindedOutput, MintUrl, Proof};
use tally_cashu::nuts::nut01::{CurrencyUnit, Keys, Keyset};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::nuts::nut12::BlindSignatureDleq;
use tally_cashu::secret::Secret;
use tally_cashu::token::{IdForm, Token};

/// The official single-keyset V4 vector (NUT-00 tests): 1 sat, memo "Thank you".
const V4: &str = "cashuBpGF0gaJhaUgArSaMTR9YJmFwgaNhYQFhc3hAOWE2ZGJiODQ3YmQyMzJiYTc2ZGIwZGYxOTcyMTZiMjlkM2I4Y2MxNDU1M2NkMjc4MjdmYzFjYzk0MmZlZGI0ZWFjWCEDhhhUP_trhpXfStS6vN6So0qWvc2X3O4NfM-Y1HISZ5JhZGlUaGFuayB5b3VhbXVodHRwOi8vbG9jYWxob3N0OjMzMzhhdWNzYXQ=";

fn tally(args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = crate::support::tally();
    cmd.args(args);
    crate::support::run_with_stdin(cmd, stdin)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn decodes_a_token_from_stdin_and_from_a_file() {
    let out = tally(&["cashu", "decode"], V4.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json(&out);
    assert_eq!(report["value"], 1);
    assert_eq!(report["mint"], "http://localhost:3338");
    assert_eq!(report["memo"], "Thank you");
    assert_eq!(report["proofs"][0]["id"], "00ad268c4d1f5826");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{V4}\n")).unwrap();
    let out = tally(
        &["cashu", "decode", "--token-file", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out), report);
}

/// A V4 token whose proof is locked with NUT-28 (P2BK): its ephemeral key
/// `pe` is shown as `p2pk_e`, never dropped (written by
/// `scripts/vectors/cashu/vectors.py`, in Nutshell's layout).
#[test]
fn shows_the_p2bk_ephemeral_key_of_each_proof() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tally-cashu/tests/vectors/independent.json"
    );
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for format in ["v4", "v3"] {
        let token = vectors["tokens"][format].as_str().unwrap();
        let out = tally(&["cashu", "decode"], token.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            json(&out)["proofs"][0]["p2pk_e"],
            "02a8cda4cf448bfce9a9e46e588c06ea1780fcb94e3bbdf3277f42995d403a8b0c",
            "{format}"
        );
    }
}

#[test]
fn bad_tokens_and_tokens_on_the_command_line_are_usage_errors() {
    let out = tally(&["cashu", "decode"], b"cashuBnot-a-token");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_"));
    // A token is bearer money: the command takes no positional token.
    let out = tally(&["cashu", "decode", V4], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// A one-keyset mint and a token of two honest proofs (with DLEQ proofs).
fn minted() -> (Keyset, Vec<SecretKey>, Token) {
    let keys: Vec<SecretKey> = (1..=4u8)
        .map(|i| SecretKey::from_bytes([i; 32]).unwrap())
        .collect();
    let public = Keys::new(
        keys.iter()
            .enumerate()
            .map(|(i, k)| (Amount::new(1 << i), k.public_key())),
    )
    .unwrap();
    let unit = CurrencyUnit::sat();
    let info = KeySetInfo {
        id: KeysetId::v2_from_keys(&public, &unit, 0, None),
        unit,
        active: true,
        input_fee_ppk: 0,
        final_expiry: None,
    };
    let keyset = Keyset::new(info, public).unwrap();
    let proofs: Vec<Proof> = [(1u64, 0usize), (4, 2)]
        .iter()
        .map(|&(amount, key)| {
            let output = BlindedOutput::new(
                Amount::new(amount),
                keyset.id(),
                Secret::new(format!("secret {amount}")).unwrap(),
                SecretKey::from_bytes([0x40 + amount as u8; 32]).unwrap(),
            )
            .unwrap();
            let b = output.message().blinded;
            let c_ = bdhke::sign(&keys[key], &b).unwrap();
            let signature = BlindSignature {
                amount: Amount::new(amount),
                keyset_id: keyset.id(),
                signature: c_,
                dleq: Some(BlindSignatureDleq::from(
                    dleq::create(&keys[key], &b, &c_).unwrap(),
                )),
            };
            output.into_proof(&signature, &keyset, true).unwrap()
        })
        .collect();
    let token = Token::from_proofs(
        MintUrl::new("https://mint.example.com").unwrap(),
        Some(CurrencyUnit::sat()),
        None,
        proofs,
        IdForm::Short,
    )
    .unwrap();
    (keyset, keys, token)
}

#[test]
fn verifies_dleq_proofs_against_saved_keys() {
    let (keyset, _, token) = minted();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        format!(r#"{{"keysets":[{}]}}"#, keyset.to_json().unwrap()),
    )
    .unwrap();
    let keys = keys.to_str().unwrap();

    let good = token.to_v4_string().unwrap();
    let out = tally(&["cashu", "decode", "--keys", keys], good.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json(&out);
    assert_eq!(report["dleq"][0]["dleq"], "valid");
    assert_eq!(report["dleq"][1]["dleq"], "valid");

    // Raw (binary) tokens are read too.
    let out = tally(
        &["cashu", "decode", "--keys", keys],
        &token.to_raw_bytes().unwrap(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // A proof whose signature was swapped for another valid point fails.
    let mut proofs = token.proofs().to_vec();
    proofs[0].c = proofs[1].c;
    let forged = Token::new(
        token.mint().clone(),
        Some(CurrencyUnit::sat()),
        None,
        proofs,
    )
    .unwrap();
    let out = tally(
        &["cashu", "decode", "--keys", keys],
        forged.to_v4_string().unwrap().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json(&out);
    assert_eq!(report["dleq"][0]["dleq"], "invalid");
    assert_eq!(report["dleq"][1]["dleq"], "valid");

    // Without the keyset the proofs cannot be checked: exit 1, not 0.
    let out = tally(&["cashu", "decode", "--keys", keys], V4.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json(&out)["dleq"][0]["dleq"], "unknown_keyset");

    // Keys that lie about their id are bad input.
    let other = KeysetId::from_hex("009a1f293253e41e").unwrap().to_hex();
    let lying = keyset
        .to_json()
        .unwrap()
        .replace(&keyset.id().to_hex(), &other);
    let path = dir.path().join("lying.json");
    std::fs::write(&path, format!(r#"{{"keysets":[{lying}]}}"#)).unwrap();
    let out = tally(
        &["cashu", "decode", "--keys", path.to_str().unwrap()],
        good.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
