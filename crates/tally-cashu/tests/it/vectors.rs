//! Every official test vector of NUT-00, 01, 02, 11 (with NUT-14 HTLC and
//! `SIG_ALL`), 12, 13 and 28, plus the BIP-32 vectors NUT-13 V1 relies on.
//!
//! Sources: `tests/vectors/SOURCE.md` (cashubtc/nuts commit 3ddb1ae767b5,
//! MIT, `tests/vectors/LICENSE`). Nothing is skipped: the table lists each
//! vector and the test that runs it; `nut11_every_vector_is_run` fails if the
//! NUT-11 file holds a vector no test claims.
//!
//! | spec file | vector | expected | test |
//! |---|---|---|---|
//! | 00-tests | hash_to_curve tests 1, 2, 3 | points | `nut00_hash_to_curve` |
//! | 00-tests | blinded messages tests 1, 2 | `B_` | `nut00_blinded_messages` |
//! | 00-tests | blinded signatures tests 1, 2 | `C_` | `nut00_blind_signatures` |
//! | 00-tests | serialization of TokenV3 | exact string | `nut00_token_v3_serialization` |
//! | 00-tests | TokenV3 with prefix `casshuA` | rejected | `nut00_token_v3_invalid_prefixes` |
//! | 00-tests | TokenV3 without prefix | rejected | `nut00_token_v3_invalid_prefixes` |
//! | 00-tests | correctly serialized TokenV3 | decodes | `nut00_token_v3_valid` |
//! | 00-tests | TokenV3 with and without padding | both decode | `nut00_token_v3_padding` |
//! | 00-tests | TokenV4 single keyset (with memo) | exact string | `nut00_token_v4_single_keyset` |
//! | 00-tests | TokenV4 multiple keysets | exact bytes | `nut00_token_v4_multiple_keysets` |
//! | 00-tests | raw TokenV4 | exact bytes | `nut00_token_raw_v4` |
//! | 00.md | TokenV4 example (CBOR hex) | exact bytes | `nut00_token_v4_spec_example_cbor` |
//! | 01-tests | keyset with a key missing a byte | rejected | `nut01_invalid_keysets` |
//! | 01-tests | keyset with an uncompressed key | rejected | `nut01_invalid_keysets` |
//! | 01-tests | 4-key keyset | accepted | `nut01_valid_keysets` |
//! | 01-tests | 64-key keyset up to 2^63 | accepted | `nut01_valid_keysets` |
//! | 02-tests | V1 ids `00456a94ab4e1c46`, `000f01df73ea149a` | ids | `nut02_v1_keyset_ids` |
//! | 02-tests | V2 vectors 1, 2, 3 | ids | `nut02_v2_keyset_ids` |
//! | 11-test | multisig proof, locktime multisig (2 sigs) | valid | `nut11_multisig_vectors` |
//! | 11-test | multisig proof, refund multisig (1 sig) | valid | `nut11_multisig_vectors` |
//! | 11-test | SIG_INPUTS valid signature | valid | `nut11_sig_inputs_vectors` |
//! | 11-test | SIG_INPUTS signature on another secret | invalid | `nut11_sig_inputs_vectors` |
//! | 11-test | SIG_INPUTS 2 signatures required, 2 given | valid | `nut11_sig_inputs_vectors` |
//! | 11-test | SIG_INPUTS 2 signatures required, 1 given | invalid | `nut11_sig_inputs_vectors` |
//! | 11-test | refund key, locktime in the past | valid | `nut11_sig_inputs_vectors` |
//! | 11-test | refund key, locktime in the future | invalid | `nut11_sig_inputs_vectors` |
//! | 11-test | SIG_ALL swap `msg_to_sign` and its SHA-256 | exact | `nut11_sig_all_swap_message` |
//! | 11-test | SIG_ALL swap, valid signature | valid | `nut11_sig_all_vectors` |
//! | 11-test | SIG_ALL swap, tags differ across inputs | invalid | `nut11_sig_all_vectors` |
//! | 11-test | SIG_ALL swap, multisig | valid | `nut11_sig_all_vectors` |
//! | 11-test | SIG_ALL swap, refund after locktime | valid | `nut11_sig_all_vectors` |
//! | 11-test | HTLC SIG_ALL swap with pubkey | valid | `nut14_htlc_vectors` |
//! | 11-test | HTLC refund signature before locktime | invalid | `nut14_htlc_vectors` |
//! | 11-test | HTLC multisig refund after locktime | valid | `nut14_htlc_vectors` |
//! | 11-test | SIG_ALL melt `msg_to_sign` and its SHA-256 | exact | `nut11_sig_all_melt_message` |
//! | 11-test | SIG_ALL melt, valid | valid | `nut11_sig_all_vectors` |
//! | 11-test | SIG_ALL melt, multisig | valid | `nut11_sig_all_vectors` |
//! | 14.md | hash lock example (`ec4916dd…` / `00…01`) | matches | `nut14_hash_lock_example` |
//! | 12-tests | `hash_e` | digest | `nut12_hash_e` |
//! | 12-tests | deterministic nonce (`a = 2`) | exact `e`, `s`; verifies | `nut12_deterministic_nonce` |
//! | 12-tests | DLEQ on a BlindSignature | valid | `nut12_blind_signature_dleq` |
//! | 12-tests | DLEQ on a Proof | valid | `nut12_proof_dleq` |
//! | 13-tests | V1 keyset id integer `864559728` | integer | `nut13_v1_keyset_id_integer` |
//! | 13-tests | V1 secrets 0–4 and `r` 0–4 | exact | `nut13_v1_secrets_and_blinding_factors` |
//! | 13-tests | V1 derivation paths 0–4 | exact | `nut13_v1_derivation_paths` |
//! | 13-tests | V2 secrets 0–4 and `r` 0–4 | exact | `nut13_v2_secrets_and_blinding_factors` |
//! | bip-0032 | test vectors 1, 2, 3, 4 (every chain) | exact key and chain code | `deterministic::bip32_official_vectors` |
//! | 28-tests | `E = e·G`, shared secret `Zx` (sender and receiver) | exact | `nut28_shared_secret_and_blinding_scalars` |
//! | 28-tests | blinding scalars `r0`–`r10` | exact | `nut28_shared_secret_and_blinding_scalars` |
//! | 28-tests | blinded public keys, slots 0–10 | exact | `nut28_blinded_public_keys` |
//! | 28-tests | derived secret keys `skStd` and `skNeg`, slots 0–10 | exact | `nut28_derived_secret_keys` |
//! | 28-tests | natural pubkey `pG`, parity mismatch | negated derivation | `nut28_derived_secret_keys` |
//! | 20-test | `msg_to_sign` of the 5-output request | exact bytes | `nut20_mint_request_signatures` |
//! | 20-test | request with a valid signature | verifies | `nut20_mint_request_signatures` |
//! | 20-test | request with an invalid signature | refused | `nut20_mint_request_signatures` |
//! | 28-tests | example P2BK proof (`p2pk_e`) | decodes, round-trips, derives `skNeg[0]` | `nut28_example_proof` |

use tally_cashu::crypto::dleq::{self, Dleq};
use tally_cashu::crypto::{PointBytes, PublicKey, Scalar, SecretKey, bdhke, hash_to_curve};
use tally_cashu::encoding::hex;
use tally_cashu::nuts::nut00::{BlindSignature, BlindedMessage, MintUrl, Proof};
use tally_cashu::nuts::nut01::{CurrencyUnit, Keys, Keyset};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};
use tally_cashu::nuts::nut11::{self, SpendingConditions, WitnessData};
use tally_cashu::nuts::nut13::{self, Seed};
use tally_cashu::nuts::nut14;
use tally_cashu::nuts::nut20;
use tally_cashu::nuts::nut28;
use tally_cashu::secret::{Preimage, Secret};
use tally_cashu::token::{Token, TokenKeysetId, TokenProof};
use tally_cashu::{Amount, ConditionError, Error};

use crate::support::{hex32, vector_json};

/// 2026-01-01T00:00:00Z: after the vectors' past locktimes, before their future ones.
const NOW: u64 = 1_767_225_600;

#[test]
fn nut00_hash_to_curve() {
    for (message, point) in [
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "024cce997d3b518f739663b757deaec95bcd9473c30a14ac2fd04023a739d1a725",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000001",
            "022e7158e11c9506f1aa4248bf531298daa7febd6194f003edcd9b93ade6253acf",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000002",
            "026cdbe15362df59cd1dd3c9c11de8aedac2106eca69236ecd9fbe117af897be4f",
        ),
    ] {
        assert_eq!(hash_to_curve(&hex32(message)).unwrap().to_hex(), point);
    }
}

#[test]
fn nut00_blinded_messages() {
    for (x, r, b) in [
        (
            "d341ee4871f1f889041e63cf0d3823c713eea6aff01e80f1719f08f9e5be98f6",
            "99fce58439fc37412ab3468b73db0569322588f62fb3a49182d67e23d877824a",
            "033b1a9737a40cc3fd9b6af4b723632b76a67a36782596304612a6c2bfb5197e6d",
        ),
        (
            "f1aaf16c2239746f369572c0784d9dd3d032d952c2d992175873fb58fae31a60",
            "f78476ea7cc9ade20f9e05e58a804cf19533f03ea805ece5fee88c8e2874ba50",
            "029bdf2d716ee366eddf599ba252786c1033f47e230248a4612a5670ab931f1763",
        ),
    ] {
        let r = SecretKey::from_hex(r).unwrap();
        assert_eq!(bdhke::blind(&hex32(x), &r).unwrap().to_hex(), b);
    }
}

#[test]
fn nut00_blind_signatures() {
    let b =
        PublicKey::from_hex("02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2")
            .unwrap();
    for (k, c) in [
        (
            "0000000000000000000000000000000000000000000000000000000000000001",
            "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2",
        ),
        (
            "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
            "0398bc70ce8184d27ba89834d19f5199c84443c31131e48d3c1214db24247d005d",
        ),
    ] {
        let k = SecretKey::from_hex(k).unwrap();
        assert_eq!(bdhke::sign(&k, &b).unwrap().to_hex(), c);
    }
}

const V3_SERIALIZED: &str = "cashuAeyJ0b2tlbiI6W3sibWludCI6Imh0dHBzOi8vODMzMy5zcGFjZTozMzM4IiwicHJvb2ZzIjpbeyJhbW91bnQiOjIsImlkIjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6IjQwNzkxNWJjMjEyYmU2MWE3N2UzZTZkMmFlYjRjNzI3OTgwYmRhNTFjZDA2YTZhZmMyOWUyODYxNzY4YTc4MzciLCJDIjoiMDJiYzkwOTc5OTdkODFhZmIyY2M3MzQ2YjVlNDM0NWE5MzQ2YmQyYTUwNmViNzk1ODU5OGE3MmYwY2Y4NTE2M2VhIn0seyJhbW91bnQiOjgsImlkIjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6ImZlMTUxMDkzMTRlNjFkNzc1NmIwZjhlZTBmMjNhNjI0YWNhYTNmNGUwNDJmNjE0MzNjNzI4YzcwNTdiOTMxYmUiLCJDIjoiMDI5ZThlNTA1MGI4OTBhN2Q2YzA5NjhkYjE2YmMxZDVkNWZhMDQwZWExZGUyODRmNmVjNjlkNjEyOTlmNjcxMDU5In1dfV0sInVuaXQiOiJzYXQiLCJtZW1vIjoiVGhhbmsgeW91LiJ9";

fn token_proof(amount: u64, id: &str, secret: &str, c: &str) -> TokenProof {
    TokenProof {
        amount: Amount::new(amount),
        keyset_id: TokenKeysetId::from_hex(id).unwrap(),
        secret: Secret::new(secret).unwrap(),
        c: PointBytes::from_hex(c).unwrap(),
        witness: None,
        dleq: None,
        p2pk_e: None,
    }
}

fn v3_vector_token(memo: &str) -> Token {
    Token::new(
        MintUrl::new("https://8333.space:3338").unwrap(),
        Some(CurrencyUnit::sat()),
        Some(memo.to_owned()),
        vec![
            token_proof(
                2,
                "009a1f293253e41e",
                "407915bc212be61a77e3e6d2aeb4c727980bda51cd06a6afc29e2861768a7837",
                "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea",
            ),
            token_proof(
                8,
                "009a1f293253e41e",
                "fe15109314e61d7756b0f8ee0f23a624acaa3f4e042f61433c728c7057b931be",
                "029e8e5050b890a7d6c0968db16bc1d5d5fa040ea1de284f6ec69d61299f671059",
            ),
        ],
    )
    .unwrap()
}

#[test]
fn nut00_token_v3_serialization() {
    assert_eq!(
        v3_vector_token("Thank you.").to_v3_string().unwrap(),
        V3_SERIALIZED
    );
}

#[test]
fn nut00_token_v3_invalid_prefixes() {
    let payload = V3_SERIALIZED.strip_prefix("cashuA").unwrap();
    for text in [format!("casshuA{payload}"), payload.to_owned()] {
        assert!(
            matches!(Token::decode(&text), Err(Error::UnknownTokenPrefix)),
            "{text}"
        );
    }
}

#[test]
fn nut00_token_v3_valid() {
    let token = Token::decode(V3_SERIALIZED).unwrap();
    assert_eq!(token, v3_vector_token("Thank you."));
    assert_eq!(token.value(), Amount::new(10));
}

#[test]
fn nut00_token_v3_padding() {
    let padded = "cashuAeyJ0b2tlbiI6W3sibWludCI6Imh0dHBzOi8vODMzMy5zcGFjZTozMzM4IiwicHJvb2ZzIjpbeyJhbW91bnQiOjIsImlkIjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6IjQwNzkxNWJjMjEyYmU2MWE3N2UzZTZkMmFlYjRjNzI3OTgwYmRhNTFjZDA2YTZhZmMyOWUyODYxNzY4YTc4MzciLCJDIjoiMDJiYzkwOTc5OTdkODFhZmIyY2M3MzQ2YjVlNDM0NWE5MzQ2YmQyYTUwNmViNzk1ODU5OGE3MmYwY2Y4NTE2M2VhIn0seyJhbW91bnQiOjgsImlkIjoiMDA5YTFmMjkzMjUzZTQxZSIsInNlY3JldCI6ImZlMTUxMDkzMTRlNjFkNzc1NmIwZjhlZTBmMjNhNjI0YWNhYTNmNGUwNDJmNjE0MzNjNzI4YzcwNTdiOTMxYmUiLCJDIjoiMDI5ZThlNTA1MGI4OTBhN2Q2YzA5NjhkYjE2YmMxZDVkNWZhMDQwZWExZGUyODRmNmVjNjlkNjEyOTlmNjcxMDU5In1dfV0sInVuaXQiOiJzYXQiLCJtZW1vIjoiVGhhbmsgeW91IHZlcnkgbXVjaC4ifQ==";
    let unpadded = padded.trim_end_matches('=');
    let expected = v3_vector_token("Thank you very much.");
    assert_eq!(Token::decode(padded).unwrap(), expected);
    assert_eq!(Token::decode(unpadded).unwrap(), expected);
    assert_eq!(expected.to_v3_string().unwrap(), padded);
}

const V4_SINGLE: &str = "cashuBpGF0gaJhaUgArSaMTR9YJmFwgaNhYQFhc3hAOWE2ZGJiODQ3YmQyMzJiYTc2ZGIwZGYxOTcyMTZiMjlkM2I4Y2MxNDU1M2NkMjc4MjdmYzFjYzk0MmZlZGI0ZWFjWCEDhhhUP_trhpXfStS6vN6So0qWvc2X3O4NfM-Y1HISZ5JhZGlUaGFuayB5b3VhbXVodHRwOi8vbG9jYWxob3N0OjMzMzhhdWNzYXQ=";

fn v4_single_token() -> Token {
    Token::new(
        MintUrl::new("http://localhost:3338").unwrap(),
        Some(CurrencyUnit::sat()),
        Some("Thank you".to_owned()),
        vec![token_proof(
            1,
            "00ad268c4d1f5826",
            "9a6dbb847bd232ba76db0df197216b29d3b8cc14553cd27827fc1cc942fedb4e",
            "038618543ffb6b8695df4ad4babcde92a34a96bdcd97dcee0d7ccf98d472126792",
        )],
    )
    .unwrap()
}

#[test]
fn nut00_token_v4_single_keyset() {
    let expected = v4_single_token();
    assert_eq!(expected.to_v4_string().unwrap(), V4_SINGLE);
    assert_eq!(Token::decode(V4_SINGLE).unwrap(), expected);
}

const V4_MULTI: &str = "cashuBo2F0gqJhaUgA_9SLj17PgGFwgaNhYQFhc3hAYWNjMTI0MzVlN2I4NDg0YzNjZjE4NTAxNDkyMThhZjkwZjcxNmE1MmJmNGE1ZWQzNDdlNDhlY2MxM2Y3NzM4OGFjWCECRFODGd5IXVW-07KaZCvuWHk3WrnnpiDhHki6SCQh88-iYWlIAK0mjE0fWCZhcIKjYWECYXN4QDEzMjNkM2Q0NzA3YTU4YWQyZTIzYWRhNGU5ZjFmNDlmNWE1YjRhYzdiNzA4ZWIwZDYxZjczOGY0ODMwN2U4ZWVhY1ghAjRWqhENhLSsdHrr2Cw7AFrKUL9Ffr1XN6RBT6w659lNo2FhAWFzeEA1NmJjYmNiYjdjYzY0MDZiM2ZhNWQ1N2QyMTc0ZjRlZmY4YjQ0MDJiMTc2OTI2ZDNhNTdkM2MzZGNiYjU5ZDU3YWNYIQJzEpxXGeWZN5qXSmJjY8MzxWyvwObQGr5G1YCCgHicY2FtdWh0dHA6Ly9sb2NhbGhvc3Q6MzMzOGF1Y3NhdA";

fn v4_multi_token() -> Token {
    Token::new(
        MintUrl::new("http://localhost:3338").unwrap(),
        Some(CurrencyUnit::sat()),
        None,
        vec![
            token_proof(
                1,
                "00ffd48b8f5ecf80",
                "acc12435e7b8484c3cf1850149218af90f716a52bf4a5ed347e48ecc13f77388",
                "0244538319de485d55bed3b29a642bee5879375ab9e7a620e11e48ba482421f3cf",
            ),
            token_proof(
                2,
                "00ad268c4d1f5826",
                "1323d3d4707a58ad2e23ada4e9f1f49f5a5b4ac7b708eb0d61f738f48307e8ee",
                "023456aa110d84b4ac747aebd82c3b005aca50bf457ebd5737a4414fac3ae7d94d",
            ),
            token_proof(
                1,
                "00ad268c4d1f5826",
                "56bcbcbb7cc6406b3fa5d57d2174f4eff8b4402b176926d3a57d3c3dcbb59d57",
                "0273129c5719e599379a974a626363c333c56cafc0e6d01abe46d5808280789c63",
            ),
        ],
    )
    .unwrap()
}

#[test]
fn nut00_token_v4_multiple_keysets() {
    let expected = v4_multi_token();
    // This vector is written without base64 padding (the single-keyset one
    // with it); we always pad, so compare the characters before the padding.
    let ours = expected.to_v4_string().unwrap();
    assert!(ours.ends_with('='));
    assert_eq!(ours.trim_end_matches('='), V4_MULTI);
    assert_eq!(Token::decode(V4_MULTI).unwrap(), expected);
}

#[test]
fn nut00_token_v4_spec_example_cbor() {
    let cbor = "a3617482a261694800ffd48b8f5ecf80617081a36161016173784061636331323433356537623834383463336366313835303134393231386166393066373136613532626634613565643334376534386563633133663737333838616358210244538319de485d55bed3b29a642bee5879375ab9e7a620e11e48ba482421f3cfa261694800ad268c4d1f5826617082a3616102617378403133323364336434373037613538616432653233616461346539663166343966356135623461633762373038656230643631663733386634383330376538656561635821023456aa110d84b4ac747aebd82c3b005aca50bf457ebd5737a4414fac3ae7d94da36161016173784035366263626362623763633634303662336661356435376432313734663465666638623434303262313736393236643361353764336333646362623539643537616358210273129c5719e599379a974a626363c333c56cafc0e6d01abe46d5808280789c63616d75687474703a2f2f6c6f63616c686f73743a33333338617563736174";
    let raw = v4_multi_token().to_raw_bytes().unwrap();
    assert_eq!(hex::encode(&raw[5..]), cbor);
}

#[test]
fn nut00_token_raw_v4() {
    let raw = "6372617742a4617481a261694800ad268c4d1f5826617081a3616101617378403961366462623834376264323332626137366462306466313937323136623239643362386363313435353363643237383237666331636339343266656462346561635821038618543ffb6b8695df4ad4babcde92a34a96bdcd97dcee0d7ccf98d4721267926164695468616e6b20796f75616d75687474703a2f2f6c6f63616c686f73743a33333338617563736174";
    let bytes = hex::decode_vec(raw, 1024, "raw").unwrap();
    let expected = v4_single_token();
    assert_eq!(expected.to_raw_bytes().unwrap(), bytes);
    assert_eq!(Token::from_raw_bytes(&bytes).unwrap(), expected);
}

fn keys_from_json(value: &serde_json::Value) -> Result<Keys, Error> {
    serde_json::from_value(value.clone()).map_err(Error::Json)
}

#[test]
fn nut01_invalid_keysets() {
    let vectors = vector_json("nut01_keysets.json");
    let invalid = vectors["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 2);
    for keys in invalid {
        assert!(keys_from_json(keys).is_err(), "{keys}");
    }
    // The precise reasons: a 32-byte key, and an uncompressed (65-byte) key.
    assert!(PublicKey::from_hex(invalid[0]["1"].as_str().unwrap()).is_err());
    let uncompressed = invalid[1]["2"].as_str().unwrap();
    assert_eq!(uncompressed.len(), 130);
    assert!(PublicKey::from_hex(uncompressed).is_err());
}

#[test]
fn nut01_valid_keysets() {
    let vectors = vector_json("nut01_keysets.json");
    let valid = vectors["valid"].as_array().unwrap();
    assert_eq!(valid.len(), 2);
    let small = keys_from_json(&valid[0]).unwrap();
    assert_eq!(small.len(), 4);
    let big = keys_from_json(&valid[1]).unwrap();
    assert_eq!(big.len(), 64);
    assert!(big.get(Amount::MAX_DENOMINATION).is_some());
    assert_eq!(
        big.amounts().last(),
        Some(Amount::new(9_223_372_036_854_775_808))
    );
}

#[test]
fn nut02_v1_keyset_ids() {
    let vectors = vector_json("nut02_keysets.json");
    let v1 = vectors["v1"].as_array().unwrap();
    assert_eq!(v1.len(), 2);
    for vector in v1 {
        let keys = keys_from_json(&vector["keys"]).unwrap();
        let id = KeysetId::v1_from_keys(&keys);
        assert_eq!(id.to_hex(), vector["id"].as_str().unwrap());
        let info = KeySetInfo {
            id,
            unit: CurrencyUnit::sat(),
            active: true,
            input_fee_ppk: 0,
            final_expiry: None,
        };
        Keyset::new(info, keys).unwrap();
    }
}

#[test]
fn nut02_v2_keyset_ids() {
    let vectors = vector_json("nut02_keysets.json");
    let v2 = vectors["v2"].as_array().unwrap();
    assert_eq!(v2.len(), 3);
    for vector in v2 {
        let keys = keys_from_json(&vector["keys"]).unwrap();
        let unit = CurrencyUnit::new(vector["unit"].as_str().unwrap()).unwrap();
        let fee = vector["input_fee_ppk"].as_u64().unwrap();
        let expiry = vector["final_expiry"].as_u64();
        let id = KeysetId::v2_from_keys(&keys, &unit, fee, expiry);
        assert_eq!(id.to_hex(), vector["id"].as_str().unwrap());
        // The keyset verifies with its metadata and is refused with any change to it.
        let info = KeySetInfo {
            id,
            unit: unit.clone(),
            active: true,
            input_fee_ppk: fee,
            final_expiry: expiry,
        };
        Keyset::new(info.clone(), keys.clone()).unwrap();
        let altered = KeySetInfo {
            input_fee_ppk: fee + 1,
            ..info.clone()
        };
        assert!(matches!(
            Keyset::new(altered, keys.clone()),
            Err(Error::KeysetIdMismatch { .. })
        ));
        let altered = KeySetInfo {
            final_expiry: Some(expiry.unwrap_or(0) + 1),
            ..info
        };
        assert!(Keyset::new(altered, keys).is_err());
    }
}

fn nut11_vectors() -> Vec<serde_json::Value> {
    vector_json("nut11.json").as_array().unwrap().clone()
}

fn nut11_vector(name: &str) -> (serde_json::Value, bool) {
    let v = nut11_vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    let valid = v["expect"] != "invalid";
    (v["data"].clone(), valid)
}

fn verify_single(proof: &Proof, now: u64) -> Result<(), Error> {
    let conditions = SpendingConditions::from_secret(&proof.secret)?.unwrap();
    let witness = proof.witness.as_ref().map(WitnessData::parse).transpose()?;
    conditions.verify(
        &nut11::digest(proof.secret.as_bytes()),
        witness.as_ref(),
        now,
    )?;
    nut11::verify_transaction(std::slice::from_ref(proof), &[], None, now)
}

const MULTISIG: [&str; 2] = ["locktime_multisig_valid", "refund_multisig_valid"];
const SIG_INPUTS: [&str; 6] = [
    "sig_inputs_valid",
    "sig_inputs_signature_on_other_secret",
    "sig_inputs_two_of_three_valid",
    "sig_inputs_one_of_required_two",
    "refund_key_locktime_past",
    "refund_key_locktime_future",
];
const SIG_ALL: [&str; 6] = [
    "sig_all_swap_valid",
    "sig_all_swap_tags_differ",
    "sig_all_swap_multisig_valid",
    "sig_all_swap_refund_after_locktime",
    "sig_all_melt_valid",
    "sig_all_melt_multisig_valid",
];
const HTLC: [&str; 3] = [
    "htlc_sig_all_swap_with_pubkey",
    "htlc_sig_all_swap_refund_before_locktime",
    "htlc_sig_all_swap_multisig_refund",
];
const MESSAGES: [&str; 2] = ["sig_all_swap_example", "sig_all_melt_example"];

#[test]
fn nut11_every_vector_is_run() {
    let claimed: Vec<&str> = ["multisig_base_proof"]
        .iter()
        .chain(&MULTISIG)
        .chain(&SIG_INPUTS)
        .chain(&SIG_ALL)
        .chain(&HTLC)
        .chain(&MESSAGES)
        .copied()
        .collect();
    let names: Vec<String> = nut11_vectors()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 20);
    for name in &names {
        assert!(claimed.contains(&name.as_str()), "vector {name} is not run");
    }
}

#[test]
fn nut11_multisig_vectors() {
    let (base, _) = nut11_vector("multisig_base_proof");
    let base: Proof = serde_json::from_value(base).unwrap();
    // Without a witness the proof is locked (a refund tag exists).
    assert!(verify_single(&base, NOW).is_err());
    for name in MULTISIG {
        let (data, valid) = nut11_vector(name);
        assert!(valid);
        let proof: Proof = serde_json::from_value(data).unwrap();
        verify_single(&proof, NOW).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // The refund pathway is the one that holds for the second vector: before
    // the locktime (21) it does not open.
    let (data, _) = nut11_vector("refund_multisig_valid");
    let proof: Proof = serde_json::from_value(data).unwrap();
    assert!(verify_single(&proof, 20).is_err());
}

#[test]
fn nut11_sig_inputs_vectors() {
    for name in SIG_INPUTS {
        let (data, valid) = nut11_vector(name);
        let proof: Proof = serde_json::from_value(data).unwrap();
        let result = verify_single(&proof, NOW);
        assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
        if !valid {
            assert!(
                matches!(
                    result,
                    Err(Error::Condition(ConditionError::NotEnoughSignatures))
                ),
                "{name}: {result:?}"
            );
        }
    }
}

struct Transaction {
    inputs: Vec<Proof>,
    outputs: Vec<BlindedMessage>,
    quote: Option<String>,
}

fn transaction(data: serde_json::Value) -> Transaction {
    Transaction {
        inputs: serde_json::from_value(data["inputs"].clone()).unwrap(),
        outputs: serde_json::from_value(data["outputs"].clone()).unwrap(),
        quote: data["quote"].as_str().map(str::to_owned),
    }
}

fn verify_transaction(t: &Transaction, now: u64) -> Result<(), Error> {
    nut11::verify_transaction(&t.inputs, &t.outputs, t.quote.as_deref(), now)
}

#[test]
fn nut11_sig_all_swap_message() {
    let (data, _) = nut11_vector("sig_all_swap_example");
    let t = transaction(data);
    let msg = nut11::sig_all_message(&t.inputs, &t.outputs, None);
    assert_eq!(
        msg,
        r#"["P2PK",{"nonce":"c7f280eb55c1e8564e03db06973e94bc9b666d9e1ca42ad278408fe625950303","data":"030d8acedfe072c9fa449a1efe0817157403fbec460d8e79f957966056e5dd76c1","tags":[["sigflag","SIG_ALL"]]}]02c97ee3d1db41cf0a3ddb601724be8711a032950811bf326f8219c50c4808d3cd2038ec853d65ae1b79b5cdbc2774150b2cb288d6d26e12958a16fb33c32d9a86c39"#
    );
    assert_eq!(
        hex::encode(&nut11::digest(msg.as_bytes())),
        "de7f9e3ca0fcc5ed3258fcf83dbf1be7fa78a5ed6da7bf2aa60d61e9dc6eb09a"
    );
    verify_transaction(&t, NOW).unwrap();
}

#[test]
fn nut11_sig_all_melt_message() {
    let (data, _) = nut11_vector("sig_all_melt_example");
    let t = transaction(data);
    let msg = nut11::sig_all_message(&t.inputs, &t.outputs, t.quote.as_deref());
    assert_eq!(
        msg,
        r#"["P2PK",{"nonce":"bbf9edf441d17097e39f5095a3313ba24d3055ab8a32f758ff41c10d45c4f3de","data":"029116d32e7da635c8feeb9f1f4559eb3d9b42d400f9d22a64834d89cde0eb6835","tags":[["sigflag","SIG_ALL"]]}]02a9d461ff36448469dccf828fa143833ae71c689886ac51b62c8d61ddaa10028b0038ec853d65ae1b79b5cdbc2774150b2cb288d6d26e12958a16fb33c32d9a86c39cF8911fzT88aEi1d-6boZZkq5lYxbUSVs-HbJxK0"#
    );
    assert_eq!(
        hex::encode(&nut11::digest(msg.as_bytes())),
        "9efa1067cc7dc870f4074f695115829c3cd817a6866c3b84e9814adf3c3cf262"
    );
    verify_transaction(&t, NOW).unwrap();
}

#[test]
fn nut11_sig_all_vectors() {
    for name in SIG_ALL {
        let (data, valid) = nut11_vector(name);
        let t = transaction(data);
        let result = verify_transaction(&t, NOW);
        assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
        if valid {
            // A SIG_ALL signature covers the outputs: changing one breaks it.
            let mut altered = transaction(nut11_vector(name).0);
            altered.outputs[0].amount = Amount::new(altered.outputs[0].amount.value() + 1);
            assert!(verify_transaction(&altered, NOW).is_err(), "{name} altered");
        }
    }
    let (data, _) = nut11_vector("sig_all_swap_tags_differ");
    assert!(matches!(
        verify_transaction(&transaction(data), NOW),
        Err(Error::Condition(ConditionError::SigAllMismatch))
    ));
}

#[test]
fn nut14_htlc_vectors() {
    for name in HTLC {
        let (data, valid) = nut11_vector(name);
        let result = verify_transaction(&transaction(data), NOW);
        assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
    }
    // The invalid vector becomes valid once its locktime (4854185133) passes:
    // the refund key's signature then opens the sender pathway.
    let (data, _) = nut11_vector("htlc_sig_all_swap_refund_before_locktime");
    verify_transaction(&transaction(data), 4_854_185_134).unwrap();
    // Without the preimage the receiver pathway of the first vector fails.
    let (data, _) = nut11_vector("htlc_sig_all_swap_with_pubkey");
    let mut t = transaction(data);
    let mut witness = WitnessData::parse(t.inputs[0].witness.as_ref().unwrap()).unwrap();
    witness.preimage = Some(Preimage::new([2u8; 32]));
    t.inputs[0].witness = Some(witness.to_witness().unwrap());
    assert!(matches!(
        verify_transaction(&t, NOW),
        Err(Error::Condition(ConditionError::PreimageMismatch))
    ));
}

#[test]
fn nut14_hash_lock_example() {
    let preimage =
        Preimage::from_hex("0000000000000000000000000000000000000000000000000000000000000001")
            .unwrap();
    assert_eq!(
        hex::encode(&preimage.hash()),
        "ec4916dd28fc4c10d78e287ca5d9cc51ee1ae73cbfde08c6b37324cbfaac8bc5"
    );
    let htlc = nut14::htlc(&preimage.hash(), Default::default());
    assert!(nut14::preimage_matches(&htlc, &preimage));
    assert!(!nut14::preimage_matches(&htlc, &Preimage::new([0u8; 32])));
}

#[test]
fn nut12_hash_e() {
    let p = |h: &str| PublicKey::from_hex(h).unwrap();
    let one = p("020000000000000000000000000000000000000000000000000000000000000001");
    let c = p("02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2");
    assert_eq!(
        hex::encode(&dleq::hash_e(&[&one, &one, &one, &c])),
        "a4dc034b74338c28c6bc3ea49731f2a24440fc7c4affc08b31a93fc9fbe6401e"
    );
}

#[test]
fn nut12_deterministic_nonce() {
    let a = SecretKey::from_hex("0000000000000000000000000000000000000000000000000000000000000002")
        .unwrap();
    let big_a =
        PublicKey::from_hex("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5")
            .unwrap();
    let b =
        PublicKey::from_hex("02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2")
            .unwrap();
    let c =
        PublicKey::from_hex("0244eccfc7a348274458bb38044c7f3c389b3c2086c7ec18b5812d2877ab937787")
            .unwrap();
    assert_eq!(a.public_key(), big_a);
    assert_eq!(bdhke::sign(&a, &b).unwrap(), c);
    let proof = dleq::create(&a, &b, &c).unwrap();
    assert_eq!(
        proof.e.to_hex(),
        "2a16ffee280aff3c429045607f9b8e0bf8b35910c44c1b20b9dfaf01b263d7b3"
    );
    assert_eq!(
        proof.s.to_hex(),
        "9df27731238334718d120d4f74611a7c668233f988e687ac3fb188f0a34a2dab"
    );
    dleq::verify(&big_a, &b, &c, &proof).unwrap();
}

fn vector_keyset(amount: u64, key_hex: &str) -> Keyset {
    // The vectors name keyset 00882760bfa2eb41 but not its keys; this
    // single-key keyset carries the vector's key under its own computed id.
    let keys = Keys::new([(Amount::new(amount), PublicKey::from_hex(key_hex).unwrap())]).unwrap();
    let info = KeySetInfo {
        id: KeysetId::v1_from_keys(&keys),
        unit: CurrencyUnit::sat(),
        active: true,
        input_fee_ppk: 0,
        final_expiry: None,
    };
    Keyset::new(info, keys).unwrap()
}

#[test]
fn nut12_blind_signature_dleq() {
    let a = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let b =
        PublicKey::from_hex("02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2")
            .unwrap();
    let mut signature: BlindSignature = serde_json::from_str(r#"{"amount":8,"id":"00882760bfa2eb41","C_":"02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2","dleq":{"e":"9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73d9","s":"9818e061ee51d5c8edc3342369a554998ff7b4381c8652d724cdf46429be73da"}}"#).unwrap();
    let keyset = vector_keyset(8, a);
    signature.keyset_id = keyset.id();
    signature.verify_dleq(&keyset, &b).unwrap();
    let d = signature.dleq.unwrap().dleq();
    dleq::verify(
        &PublicKey::from_hex(a).unwrap(),
        &b,
        &signature.signature,
        &d,
    )
    .unwrap();
}

#[test]
fn nut12_proof_dleq() {
    let a = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    let mut proof: Proof = serde_json::from_str(r#"{"amount":1,"id":"00882760bfa2eb41","secret":"daf4dd00a2b68a0858a80450f52c8a7d2ccf87d375e43e216e0c571f089f63e9","C":"024369d2d22a80ecf78f3937da9d5f30c1b9f74f0c32684d583cca0fa6a61cdcfc","dleq":{"e":"b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d4","s":"8fbae004c59e754d71df67e392b6ae4e29293113ddc2ec86592a0431d16306d8","r":"a6d13fcd7a18442e6076f5e1e7c887ad5de40a019824bdfa9fe740d302e8d861"}}"#).unwrap();
    let keyset = vector_keyset(1, a);
    proof.keyset_id = keyset.id();
    proof.verify_dleq(&keyset).unwrap();
    // Any altered field fails.
    let mut altered = proof.clone();
    altered.secret = Secret::new("daf4dd00").unwrap();
    assert!(matches!(
        altered.verify_dleq(&keyset),
        Err(Error::DleqInvalid)
    ));
    let dleq = proof.dleq.clone().unwrap();
    let e = Scalar::from_hex("b31e58ac6527f34975ffab13e70a48b6d2b0d35abc4b03f0151f09ee1a9763d5")
        .unwrap();
    let bad = Dleq {
        e,
        s: dleq.dleq().s,
    };
    assert!(
        dleq::verify_proof(
            &PublicKey::from_hex(a).unwrap(),
            proof.secret.as_bytes(),
            &proof.c,
            &bad,
            dleq.r()
        )
        .is_err()
    );
}

const MNEMONIC: &str =
    "half depart obvious quality work element tank gorilla view sugar picture humble";

/// Counters 0..5 of the vector mnemonic give `secrets` and `rs`.
fn check_derivations(id: &KeysetId, secrets: &[&str; 5], rs: &[&str; 5]) {
    let seed = Seed::from_mnemonic(MNEMONIC, "").unwrap();
    for (counter, (secret, r)) in secrets.iter().zip(rs).enumerate() {
        let (s, blinding) = nut13::derive(&seed, id, counter as u64).unwrap();
        assert_eq!(s.as_str(), *secret, "secret_{counter}");
        assert_eq!(blinding.to_secret_hex().as_str(), *r, "r_{counter}");
    }
}

#[test]
fn nut13_v1_keyset_id_integer() {
    let id = KeysetId::from_hex("009a1f293253e41e").unwrap();
    assert_eq!(id.to_u31(), 864_559_728);
}

#[test]
fn nut13_v1_secrets_and_blinding_factors() {
    let id = KeysetId::from_hex("009a1f293253e41e").unwrap();
    let secrets = [
        "485875df74771877439ac06339e284c3acfcd9be7abf3bc20b516faeadfe77ae",
        "8f2b39e8e594a4056eb1e6dbb4b0c38ef13b1b2c751f64f810ec04ee35b77270",
        "bc628c79accd2364fd31511216a0fab62afd4a18ff77a20deded7b858c9860c8",
        "59284fd1650ea9fa17db2b3acf59ecd0f2d52ec3261dd4152785813ff27a33bf",
        "576c23393a8b31cc8da6688d9c9a96394ec74b40fdaf1f693a6bb84284334ea0",
    ];
    let rs = [
        "ad00d431add9c673e843d4c2bf9a778a5f402b985b8da2d5550bf39cda41d679",
        "967d5232515e10b81ff226ecf5a9e2e2aff92d66ebc3edf0987eb56357fd6248",
        "b20f47bb6ae083659f3aa986bfa0435c55c6d93f687d51a01f26862d9b9a4899",
        "fb5fca398eb0b1deb955a2988b5ac77d32956155f1c002a373535211a2dfdc29",
        "5f09bfbfe27c439a597719321e061e2e40aad4a36768bb2bcc3de547c9644bf9",
    ];
    check_derivations(&id, &secrets, &rs);
}

#[test]
fn nut13_v1_derivation_paths() {
    let id = KeysetId::from_hex("009a1f293253e41e").unwrap();
    for counter in 0..5u64 {
        let path = nut13::v1_path(&id, counter, 0).unwrap();
        let text: Vec<String> = path[..4]
            .iter()
            .map(|i| format!("{}'", i & !tally_cashu::crypto::bip32::HARDENED))
            .collect();
        assert_eq!(
            format!("m/{}", text.join("/")),
            format!("m/129372'/0'/864559728'/{counter}'")
        );
        assert_eq!(path[4], 0);
        assert_eq!(nut13::v1_path(&id, counter, 1).unwrap()[4], 1);
    }
}

#[test]
fn nut13_v2_secrets_and_blinding_factors() {
    let id =
        KeysetId::from_hex("015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a")
            .unwrap();
    let secrets = [
        "db5561a07a6e6490f8dadeef5be4e92f7cebaecf2f245356b5b2a4ec40687298",
        "b70e7b10683da3bf1cdf0411206f8180c463faa16014663f39f2529b2fda922e",
        "78a7ac32ccecc6b83311c6081b89d84bb4128f5a0d0c5e1af081f301c7a513f5",
        "094a2b6c63bfa7970bc09cda0e1cfc9cd3d7c619b8e98fabcfc60aea9e4963e5",
        "5e89fc5d30d0bf307ddf0a3ac34aa7a8ee3702169dafa3d3fe1d0cae70ecd5ef",
    ];
    let rs = [
        "6d26181a3695e32e9f88b80f039ba1ae2ab5a200ad4ce9dbc72c6d3769f2b035",
        "bde4354cee75545bea1a2eee035a34f2d524cee2bb01613823636e998386952e",
        "f40cc1218f085b395c8e1e5aaa25dccc851be3c6c7526a0f4e57108f12d6dac4",
        "099ed70fc2f7ac769bc20b2a75cb662e80779827b7cc358981318643030577d0",
        "5550337312d223ba62e3f75cfe2ab70477b046d98e3e71804eade3956c7b98cf",
    ];
    check_derivations(&id, &secrets, &rs);
}

struct Nut28 {
    v: serde_json::Value,
}

impl Nut28 {
    fn load() -> Self {
        Self {
            v: vector_json("nut28.json"),
        }
    }
    fn str(&self, key: &str) -> &str {
        self.v[key].as_str().unwrap()
    }
    fn list(&self, key: &str) -> Vec<String> {
        self.v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    }
    fn secret(&self, key: &str) -> SecretKey {
        SecretKey::from_hex(self.str(key)).unwrap()
    }
    fn point(&self, key: &str) -> PublicKey {
        PublicKey::from_hex(self.str(key)).unwrap()
    }
}

fn secret_hex(key: &SecretKey) -> String {
    key.to_secret_hex().to_string()
}

/// A P2PK lock with `key` in all 11 slots (built directly: `from_nut10`
/// would refuse the repeated key, which is what the vectors use).
fn all_slots(key: PublicKey) -> SpendingConditions {
    SpendingConditions {
        lock: nut11::Lock::P2pk(key),
        conditions: nut11::Conditions {
            pubkeys: vec![key; 6],
            refund: vec![key; 4],
            ..nut11::Conditions::default()
        },
    }
}

fn slot_keys(c: &SpendingConditions) -> Vec<String> {
    let nut11::Lock::P2pk(data) = &c.lock else {
        panic!("P2PK lock expected")
    };
    core::iter::once(data)
        .chain(&c.conditions.pubkeys)
        .chain(&c.conditions.refund)
        .map(PublicKey::to_hex)
        .collect()
}

#[test]
fn nut28_shared_secret_and_blinding_scalars() {
    let v = Nut28::load();
    let (e, p) = (v.secret("e"), v.secret("p"));
    assert_eq!(e.public_key(), v.point("E"));
    let sender = nut28::shared_secret(&e, &v.point("P")).unwrap();
    let receiver = nut28::shared_secret(&p, &v.point("E")).unwrap();
    assert_eq!(hex::encode(sender.as_ref()), v.str("Zx"));
    assert_eq!(hex::encode(receiver.as_ref()), v.str("Zx"));
    for (slot, r) in (0u8..).zip(v.list("r")) {
        assert_eq!(
            secret_hex(&nut28::blinding_scalar(&sender, slot).unwrap()),
            r
        );
    }
    assert!(matches!(
        nut28::blinding_scalar(&sender, nut28::MAX_SLOT + 1),
        Err(Error::Condition(ConditionError::TooManyBlindedKeys))
    ));
}

#[test]
fn nut28_blinded_public_keys() {
    let v = Nut28::load();
    let (e, receiver) = (v.secret("e"), v.point("P"));
    let zx = nut28::shared_secret(&e, &receiver).unwrap();
    let expected = v.list("blinded");
    for (slot, blinded) in (0u8..).zip(&expected) {
        let r = nut28::blinding_scalar(&zx, slot).unwrap();
        assert_eq!(&nut28::blind_key(&receiver, &r).unwrap().to_hex(), blinded);
    }
    // The slot order [data, ...pubkeys, ...refund] of a whole lock.
    let blinded = nut28::blind(&all_slots(receiver), &e).unwrap();
    assert_eq!(slot_keys(&blinded), expected);
    // A twelfth key has no slot.
    let mut too_many = all_slots(receiver);
    too_many.conditions.refund.push(receiver);
    assert!(matches!(
        nut28::blind(&too_many, &e),
        Err(Error::Condition(ConditionError::TooManyBlindedKeys))
    ));
}

#[test]
fn nut28_derived_secret_keys() {
    let v = Nut28::load();
    let (e, p, receiver) = (v.secret("e"), v.secret("p"), v.point("P"));
    // The natural key p·G has odd Y; the sender used its even-Y twin P.
    assert_eq!(p.public_key().to_hex(), v.str("pG"));
    assert_eq!(p.public_key().x_only(), receiver.x_only());
    assert_ne!(p.public_key(), receiver);
    let blinded = nut28::blind(&all_slots(receiver), &e).unwrap();
    let derived = nut28::derive_signing_keys(&blinded, &v.point("E"), &p).unwrap();
    assert_eq!(
        derived.iter().map(secret_hex).collect::<Vec<_>>(),
        v.list("sk_neg")
    );
    // Locked to p·G itself, the parity matches: the standard derivation.
    let natural = nut28::blind(&all_slots(p.public_key()), &e).unwrap();
    let derived = nut28::derive_signing_keys(&natural, &v.point("E"), &p).unwrap();
    assert_eq!(
        derived.iter().map(secret_hex).collect::<Vec<_>>(),
        v.list("sk_std")
    );
    // Every derived key signs for its blinded key.
    for (key, blinded) in derived.iter().zip(slot_keys(&natural)) {
        assert_eq!(key.public_key().to_hex(), blinded);
    }
}

#[test]
fn nut28_example_proof() {
    let v = Nut28::load();
    let json = serde_json::to_string(&v.v["proof"]).unwrap();
    let proof: Proof = serde_json::from_str(&json).unwrap();
    assert_eq!(proof.p2pk_e, Some(v.point("E")));
    let conditions = SpendingConditions::from_secret(&proof.secret)
        .unwrap()
        .unwrap();
    assert_eq!(conditions.main_keys()[0].to_hex(), v.list("blinded")[0]);
    let keys = nut28::signing_keys(&proof, &v.secret("p")).unwrap();
    assert_eq!(
        keys.iter().map(secret_hex).collect::<Vec<_>>(),
        [v.list("sk_neg")[0].clone()]
    );
    // Another key has no slot here.
    assert!(
        nut28::signing_keys(&proof, &v.secret("e"))
            .unwrap()
            .is_empty()
    );
    // In a token (V3 and V4), the ephemeral key survives every re-encoding.
    let token_proof: TokenProof = serde_json::from_str(&json).unwrap();
    assert_eq!(token_proof.p2pk_e.unwrap().to_hex(), v.str("E"));
    let token = Token::new(
        MintUrl::new("http://localhost:3338").unwrap(),
        Some(CurrencyUnit::sat()),
        None,
        vec![token_proof],
    )
    .unwrap();
    for text in [token.to_v3_string().unwrap(), token.to_v4_string().unwrap()] {
        let decoded = Token::decode(&text).unwrap();
        assert_eq!(decoded, token);
        assert_eq!(decoded.proofs()[0].p2pk_e.unwrap().to_hex(), v.str("E"));
    }
}

/// A keyset that Nutshell 0.21.0's management RPC made (`mint-cli
/// next-keyset sat`, saved from `/v1/keys/{id}` of the rotation test mint):
/// its `final_expiry` is `0` and Nutshell hashed `|final_expiry:0` into the
/// id, which NUT-02 omits. It verifies, and only with that declared expiry.
#[test]
fn nutshell_rotated_keyset_with_a_zero_final_expiry_verifies() {
    let text = include_str!("../vectors/nutshell-0.21-rotated-keyset.json");
    let keysets = Keyset::from_keys_response(text).unwrap();
    let keyset = &keysets[0];
    assert_eq!(keyset.info().final_expiry, Some(0));
    let spec = KeysetId::v2_from_keys(keyset.keys(), &keyset.info().unit, 0, Some(0));
    assert_ne!(spec, keyset.id(), "the spec's form differs");
    assert_eq!(
        KeysetId::v2_from_keys_with_zero_expiry(keyset.keys(), &keyset.info().unit, 0),
        keyset.id()
    );
    // The same id with no expiry declared, or another one, is refused.
    for expiry in [None, Some(1)] {
        let info = KeySetInfo {
            final_expiry: expiry,
            ..keyset.info().clone()
        };
        assert!(matches!(
            Keyset::new(info, keyset.keys().clone()),
            Err(Error::KeysetIdMismatch { .. })
        ));
    }
}

/// NUT-20's vectors (`tests/20-test.md`): the message of a 5-output mint
/// request byte for byte, its valid signature verifying under the quote's
/// key, its invalid one refused, and a changed output or quote refused.
#[test]
fn nut20_mint_request_signatures() {
    let quote = "9d745270-1405-46de-b5c5-e2762b4f5e00";
    let key =
        PublicKey::from_hex("03d56ce4e446a85bbdaa547b4ec2b073d40ff802831352b8272b7dd7a4de5a7cac")
            .unwrap();
    let outputs: Vec<BlindedMessage> = [
        "0342e5bcc77f5b2a3c2afb40bb591a1e27da83cddc968abdc0ec4904201a201834",
        "032fd3c4dc49a2844a89998d5e9d5b0f0b00dde9310063acb8a92e2fdafa4126d4",
        "033b6fde50b6a0dfe61ad148fff167ad9cf8308ded5f6f6b2fe000a036c464c311",
        "02be5a55f03e5c0aaea77595d574bce92c6d57a2a0fb2b5955c0b87e4520e06b53",
        "02209fc2873f28521cbdde7f7b3bb1521002463f5979686fd156f23fe6a8aa2b79",
    ]
    .iter()
    .map(|b| {
        serde_json::from_str(&format!(
            r#"{{"amount":1,"id":"00456a94ab4e1c46","B_":"{b}"}}"#
        ))
        .unwrap()
    })
    .collect();
    let expected: &[u8] = &[
        57, 100, 55, 52, 53, 50, 55, 48, 45, 49, 52, 48, 53, 45, 52, 54, 100, 101, 45, 98, 53, 99,
        53, 45, 101, 50, 55, 54, 50, 98, 52, 102, 53, 101, 48, 48, 48, 51, 52, 50, 101, 53, 98, 99,
        99, 55, 55, 102, 53, 98, 50, 97, 51, 99, 50, 97, 102, 98, 52, 48, 98, 98, 53, 57, 49, 97,
        49, 101, 50, 55, 100, 97, 56, 51, 99, 100, 100, 99, 57, 54, 56, 97, 98, 100, 99, 48, 101,
        99, 52, 57, 48, 52, 50, 48, 49, 97, 50, 48, 49, 56, 51, 52, 48, 51, 50, 102, 100, 51, 99,
        52, 100, 99, 52, 57, 97, 50, 56, 52, 52, 97, 56, 57, 57, 57, 56, 100, 53, 101, 57, 100, 53,
        98, 48, 102, 48, 98, 48, 48, 100, 100, 101, 57, 51, 49, 48, 48, 54, 51, 97, 99, 98, 56, 97,
        57, 50, 101, 50, 102, 100, 97, 102, 97, 52, 49, 50, 54, 100, 52, 48, 51, 51, 98, 54, 102,
        100, 101, 53, 48, 98, 54, 97, 48, 100, 102, 101, 54, 49, 97, 100, 49, 52, 56, 102, 102,
        102, 49, 54, 55, 97, 100, 57, 99, 102, 56, 51, 48, 56, 100, 101, 100, 53, 102, 54, 102, 54,
        98, 50, 102, 101, 48, 48, 48, 97, 48, 51, 54, 99, 52, 54, 52, 99, 51, 49, 49, 48, 50, 98,
        101, 53, 97, 53, 53, 102, 48, 51, 101, 53, 99, 48, 97, 97, 101, 97, 55, 55, 53, 57, 53,
        100, 53, 55, 52, 98, 99, 101, 57, 50, 99, 54, 100, 53, 55, 97, 50, 97, 48, 102, 98, 50, 98,
        53, 57, 53, 53, 99, 48, 98, 56, 55, 101, 52, 53, 50, 48, 101, 48, 54, 98, 53, 51, 48, 50,
        50, 48, 57, 102, 99, 50, 56, 55, 51, 102, 50, 56, 53, 50, 49, 99, 98, 100, 100, 101, 55,
        102, 55, 98, 51, 98, 98, 49, 53, 50, 49, 48, 48, 50, 52, 54, 51, 102, 53, 57, 55, 57, 54,
        56, 54, 102, 100, 49, 53, 54, 102, 50, 51, 102, 101, 54, 97, 56, 97, 97, 50, 98, 55, 57,
    ];
    assert_eq!(nut20::message(quote, &outputs), expected);
    let sig = |h: &str| -> [u8; 64] { hex::decode_array(h, "signature").unwrap() };
    let valid = sig(
        "d4b386f21f7aa7172f0994ee6e4dd966539484247ea71c99b81b8e09b1bb2acbc0026a43c221fd773471dc30d6a32b04692e6837ddaccf0830a63128308e4ee0",
    );
    let invalid = sig(
        "cb2b8e7ea69362dfe2a07093f2bbc319226db33db2ef686c940b5ec976bcbfc78df0cd35b3e998adf437b09ee2c950bd66dfe9eb64abd706e43ebc7c669c36c3",
    );
    assert!(nut20::verify(&key, quote, &outputs, &valid));
    assert!(!nut20::verify(&key, quote, &outputs, &invalid));
    // The signature binds the outputs, their order and the quote.
    let mut swapped = outputs.clone();
    swapped.swap(0, 1);
    assert!(!nut20::verify(&key, quote, &swapped, &valid));
    assert!(!nut20::verify(&key, quote, &outputs[..4], &valid));
    assert!(!nut20::verify(
        &key,
        "9d745270-1405-46de-b5c5-e2762b4f5e01",
        &outputs,
        &valid
    ));
    // What this crate signs, it verifies (BIP-340 with fresh aux randomness).
    let ours = SecretKey::from_bytes([9; 32]).unwrap();
    let signed = nut20::sign(&ours, quote, &outputs, &[3; 32]);
    assert!(nut20::verify(&ours.public_key(), quote, &outputs, &signed));
    assert!(!nut20::verify(&key, quote, &outputs, &signed));
}
