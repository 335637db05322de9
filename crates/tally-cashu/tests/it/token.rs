//! Token properties: V3/V4/raw round trips, the token invariants, resolution
//! of short ids against known keysets, and the refusal of malformed tokens.

use proptest::prelude::*;
use tally_cashu::crypto::dleq::Dleq;
use tally_cashu::crypto::{PointBytes, Scalar, SecretKey};
use tally_cashu::nuts::nut00::{MintUrl, Witness};
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::nuts::nut02::{KeysetId, KeysetIndex, ShortKeysetId};
use tally_cashu::nuts::nut12::ProofDleq;
use tally_cashu::secret::Secret;
use tally_cashu::token::{IdForm, Token, TokenKeysetId, TokenProof};
use tally_cashu::{Amount, Error};

use crate::support::{TestMint, mint_url, rng};

fn keyset_id() -> impl Strategy<Value = TokenKeysetId> {
    prop_oneof![
        any::<[u8; 7]>().prop_map(|b| {
            let mut id = [0u8; 8];
            id[1..].copy_from_slice(&b);
            TokenKeysetId::Full(KeysetId::from_bytes(&id).unwrap())
        }),
        any::<[u8; 32]>().prop_map(|b| {
            let mut id = [1u8; 33];
            id[1..].copy_from_slice(&b);
            TokenKeysetId::Full(KeysetId::from_bytes(&id).unwrap())
        }),
        any::<[u8; 7]>().prop_map(|b| {
            let mut id = [1u8; 8];
            id[1..].copy_from_slice(&b);
            TokenKeysetId::Short(ShortKeysetId::new(id).unwrap())
        }),
    ]
}

fn scalar() -> impl Strategy<Value = Scalar> {
    any::<[u8; 32]>().prop_map(|mut b| {
        b[0] &= 0x7f; // below the group order
        b[31] |= 1; // non-zero
        Scalar::from_bytes(b).unwrap()
    })
}

fn dleq() -> impl Strategy<Value = Option<ProofDleq>> {
    proptest::option::of((scalar(), scalar(), scalar()).prop_map(|(e, s, r)| {
        ProofDleq::new(Dleq { e, s }, SecretKey::from_bytes(r.to_bytes()).unwrap())
    }))
}

fn proof() -> impl Strategy<Value = TokenProof> {
    (
        1u64..=(1 << 53),
        keyset_id(),
        "\\PC{1,80}",
        any::<(bool, [u8; 32])>(),
        proptest::option::of("\\PC{0,60}"),
        dleq(),
        proptest::option::of(any::<(bool, [u8; 32])>()),
    )
        .prop_map(|(amount, id, secret, (odd, x), witness, dleq, ephemeral)| {
            let point = |odd: bool, x: &[u8; 32]| {
                let mut c = [if odd { 3 } else { 2 }; 33];
                c[1..].copy_from_slice(x);
                PointBytes::new(c).unwrap()
            };
            TokenProof {
                amount: Amount::new(amount),
                keyset_id: id,
                secret: Secret::new(secret).unwrap(),
                c: point(odd, &x),
                witness: witness.map(|w| Witness::new(w).unwrap()),
                dleq,
                p2pk_e: ephemeral.map(|(odd, x)| point(odd, &x)),
            }
        })
}

fn token(require_unit: bool) -> impl Strategy<Value = Token> {
    (
        prop_oneof![
            Just("https://mint.example.com"),
            Just("http://localhost:3338"),
            Just("https://mint.host/path/x"),
        ],
        if require_unit {
            proptest::option::of(Just("sat"))
                .prop_map(|_| Some("sat"))
                .boxed()
        } else {
            proptest::option::of(prop_oneof![Just("sat"), Just("usd"), Just("msat")]).boxed()
        },
        proptest::option::of("\\PC{0,40}"),
        proptest::collection::vec(proof(), 1..12),
    )
        .prop_map(|(mint, unit, memo, proofs)| {
            // Make secrets unique (the token invariant) by suffixing the index.
            let proofs = proofs
                .into_iter()
                .enumerate()
                .map(|(i, mut p)| {
                    p.secret = Secret::new(format!("{}#{i}", p.secret.as_str())).unwrap();
                    p
                })
                .collect();
            Token::new(
                MintUrl::new(mint).unwrap(),
                unit.map(|u| CurrencyUnit::new(u).unwrap()),
                memo,
                proofs,
            )
            .unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v3_round_trip(t in token(false)) {
        let text = t.to_v3_string().unwrap();
        prop_assert_eq!(Token::decode(&text).unwrap(), t);
    }

    #[test]
    fn v4_round_trip(t in token(true)) {
        let text = t.to_v4_string().unwrap();
        prop_assert_eq!(Token::decode(&text).unwrap(), t.clone());
        // Unpadded input decodes too.
        prop_assert_eq!(Token::decode(text.trim_end_matches('=')).unwrap(), t);
    }

    #[test]
    fn raw_round_trip(t in token(true)) {
        let raw = t.to_raw_bytes().unwrap();
        prop_assert!(raw.starts_with(b"crawB"));
        prop_assert_eq!(Token::from_raw_bytes(&raw).unwrap(), t);
    }

    #[test]
    fn v3_and_v4_carry_the_same_token(t in token(true)) {
        let via_v3 = Token::decode(&t.to_v3_string().unwrap()).unwrap();
        let via_v4 = Token::decode(&via_v3.to_v4_string().unwrap()).unwrap();
        prop_assert_eq!(via_v4, t);
    }

    #[test]
    fn value_is_the_sum_of_the_proofs(t in token(false)) {
        let sum: u128 = t.proofs().iter().map(|p| u128::from(p.amount.value())).sum();
        prop_assert_eq!(u128::from(t.value().value()), sum);
    }
}

fn sample_proof(secret: &str, amount: u64) -> TokenProof {
    TokenProof {
        amount: Amount::new(amount),
        keyset_id: TokenKeysetId::from_hex("009a1f293253e41e").unwrap(),
        secret: Secret::new(secret).unwrap(),
        c: PointBytes::from_hex(
            "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea",
        )
        .unwrap(),
        witness: None,
        dleq: None,
        p2pk_e: None,
    }
}

#[test]
fn tokens_refuse_empty_zero_duplicate_and_overflowing_proofs() {
    let new = |proofs| Token::new(mint_url(), None, None, proofs);
    assert!(matches!(new(vec![]), Err(Error::EmptyToken)));
    assert!(matches!(
        new(vec![sample_proof("a", 0)]),
        Err(Error::ZeroAmount)
    ));
    assert!(matches!(
        new(vec![sample_proof("a", 1), sample_proof("a", 2)]),
        Err(Error::DuplicateProof)
    ));
    assert!(matches!(
        new(vec![sample_proof("a", u64::MAX), sample_proof("b", 1)]),
        Err(Error::AmountOverflow)
    ));
    let max = new(vec![
        sample_proof("a", 1 << 63),
        sample_proof("b", (1 << 63) - 1),
    ])
    .unwrap();
    assert_eq!(max.value(), Amount::new(u64::MAX));
}

#[test]
fn v4_needs_a_unit() {
    let t = Token::new(mint_url(), None, None, vec![sample_proof("a", 1)]).unwrap();
    assert!(matches!(t.to_v4_string(), Err(Error::MissingUnit)));
    assert!(matches!(t.to_raw_bytes(), Err(Error::MissingUnit)));
    t.to_v3_string().unwrap();
}

#[test]
fn multi_mint_v3_tokens_are_refused_and_same_mint_entries_merged() {
    let proof = |s: &str| {
        format!(
            r#"{{"amount":1,"id":"009a1f293253e41e","secret":"{s}","C":"02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea"}}"#
        )
    };
    let json = |m2: &str| {
        format!(
            r#"{{"token":[{{"mint":"https://a.example","proofs":[{}]}},{{"mint":"{m2}","proofs":[{}]}}]}}"#,
            proof("x"),
            proof("y")
        )
    };
    let encode = |j: String| {
        format!(
            "cashuA{}",
            tally_cashu::encoding::base64url::encode(j.as_bytes())
        )
    };
    assert!(matches!(
        Token::decode(&encode(json("https://b.example"))),
        Err(Error::MultipleMints)
    ));
    let merged = Token::decode(&encode(json("https://a.example/"))).unwrap();
    assert_eq!(merged.proofs().len(), 2);
}

#[test]
fn proofs_are_grouped_by_keyset_in_order_of_first_appearance() {
    let mut a = sample_proof("1", 1);
    let mut b = sample_proof("2", 2);
    let c = sample_proof("3", 4);
    a.keyset_id = TokenKeysetId::from_hex("00ad268c4d1f5826").unwrap();
    b.keyset_id = TokenKeysetId::from_hex("00ffd48b8f5ecf80").unwrap();
    let mut a2 = a.clone();
    a2.secret = Secret::new("4").unwrap();
    let t = Token::new(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![a, b, a2, c],
    )
    .unwrap();
    let ids: Vec<String> = t.proofs().iter().map(|p| p.keyset_id.to_hex()).collect();
    assert_eq!(
        ids,
        [
            "00ad268c4d1f5826",
            "00ad268c4d1f5826",
            "00ffd48b8f5ecf80",
            "009a1f293253e41e"
        ]
    );
    assert_eq!(Token::decode(&t.to_v4_string().unwrap()).unwrap(), t);
}

#[test]
fn resolve_turns_short_ids_into_known_keysets_and_validates_points() {
    let mint = TestMint::new(11, 8, true, 100);
    let mut rng = rng(12);
    let proofs = vec![mint.proof(&mut rng, 1), mint.proof(&mut rng, 4)];
    let token = Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        proofs.clone(),
        IdForm::Short,
    )
    .unwrap();
    assert!(matches!(
        token.proofs()[0].keyset_id,
        TokenKeysetId::Short(_)
    ));
    let decoded = Token::decode(&token.to_v4_string().unwrap()).unwrap();
    assert_eq!(decoded.resolve(&mint.index()).unwrap(), proofs);
    for proof in &proofs {
        proof.verify_dleq(&mint.keyset).unwrap();
    }
    // Unknown keyset: refused.
    assert!(matches!(
        decoded.resolve(&KeysetIndex::new()),
        Err(Error::UnknownKeyset)
    ));
    // A C that is not on the curve: decoding accepts it, resolving refuses it.
    let mut bad = decoded.proofs().to_vec();
    let off_curve = (1u8..=32)
        .map(|x| {
            let mut b = [0u8; 33];
            b[0] = 2;
            b[32] = x;
            PointBytes::new(b).unwrap()
        })
        .find(|p| p.to_point().is_err())
        .unwrap();
    bad[0].c = off_curve;
    let bad = Token::new(mint_url(), Some(CurrencyUnit::sat()), None, bad).unwrap();
    let bad = Token::decode(&bad.to_v4_string().unwrap()).unwrap();
    assert!(matches!(
        bad.resolve(&mint.index()),
        Err(Error::InvalidPoint)
    ));
}

#[test]
fn full_v2_ids_round_trip_in_both_formats() {
    let mint = TestMint::new(13, 4, true, 0);
    let mut rng = rng(14);
    let proofs = vec![mint.proof(&mut rng, 2)];
    let token = Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        proofs.clone(),
        IdForm::Full,
    )
    .unwrap();
    for text in [token.to_v3_string().unwrap(), token.to_v4_string().unwrap()] {
        let decoded = Token::decode(&text).unwrap();
        assert_eq!(
            decoded.proofs()[0].keyset_id,
            TokenKeysetId::Full(mint.keyset.id())
        );
        assert_eq!(decoded.resolve(&mint.index()).unwrap(), proofs);
    }
}

#[test]
fn uri_scheme_and_whitespace_are_accepted() {
    let t = Token::new(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![sample_proof("a", 1)],
    )
    .unwrap();
    let text = format!("  cashu:{}\n", t.to_v4_string().unwrap());
    assert_eq!(Token::decode(&text).unwrap(), t);
}

#[test]
fn v4_decoding_ignores_unknown_fields_and_null_optionals() {
    // {"t":[{"i":h'009a1f293253e41e',"p":[{"a":1,"s":"x","c":h'02bc…',"d":null,"w":null,"zz":[1,{"q":2}]}],"k":0}],"m":"http://a","u":"sat","d":null,"x":-1}
    let mut cbor = vec![0xa5, 0x61, b't', 0x81, 0xa3, 0x61, b'i', 0x48];
    cbor.extend_from_slice(
        &tally_cashu::encoding::hex::decode_vec("009a1f293253e41e", 8, "t").unwrap(),
    );
    cbor.extend_from_slice(&[
        0x61, b'p', 0x81, 0xa6, 0x61, b'a', 0x01, 0x61, b's', 0x61, b'x', 0x61, b'c', 0x58, 33,
    ]);
    cbor.extend_from_slice(
        &tally_cashu::encoding::hex::decode_vec(
            "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea",
            33,
            "t",
        )
        .unwrap(),
    );
    cbor.extend_from_slice(&[
        0x61, b'd', 0xf6, 0x61, b'w', 0xf6, 0x62, b'z', b'z', 0x82, 0x01, 0xa1, 0x61, b'q', 0x02,
    ]);
    cbor.extend_from_slice(&[0x61, b'k', 0x00]);
    cbor.extend_from_slice(&[0x61, b'm', 0x68]);
    cbor.extend_from_slice(b"http://a");
    cbor.extend_from_slice(&[0x61, b'u', 0x63]);
    cbor.extend_from_slice(b"sat");
    cbor.extend_from_slice(&[0x61, b'd', 0xf6, 0x61, b'x', 0x20]);
    let mut raw = b"crawB".to_vec();
    raw.extend_from_slice(&cbor);
    let t = Token::from_raw_bytes(&raw).unwrap();
    assert_eq!(t.value(), Amount::ONE);
    assert_eq!(t.memo(), None);
    // A repeated known key is refused.
    let mut dup = raw.clone();
    dup[5] = 0xa6;
    dup.extend_from_slice(&[0x61, b'u', 0x63]);
    dup.extend_from_slice(b"sat");
    assert!(matches!(
        Token::from_raw_bytes(&dup),
        Err(Error::Cbor { .. })
    ));
}

#[test]
fn malformed_tokens_are_refused_with_typed_errors() {
    let good = Token::new(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![sample_proof("a", 1)],
    )
    .unwrap()
    .to_v4_string()
    .unwrap();
    assert!(matches!(
        Token::decode("cashuB!!!"),
        Err(Error::InvalidBase64)
    ));
    assert!(matches!(
        Token::decode("cashuC"),
        Err(Error::UnknownTokenPrefix)
    ));
    assert!(matches!(Token::decode("cashuA"), Err(Error::Json(_))));
    assert!(matches!(Token::decode("cashuB"), Err(Error::Cbor { .. })));
    let truncated = &good[..good.len() - 8];
    assert!(Token::decode(truncated).is_err());
    // Standard-alphabet base64 is not base64url.
    let standard = good.replace('-', "+").replace('_', "/");
    if standard != good {
        assert!(matches!(
            Token::decode(&standard),
            Err(Error::InvalidBase64)
        ));
    }
}

/// An old V3 token whose proofs name a legacy (base64) keyset id decodes,
/// resolves against the keyset, and re-encodes as V3 byte for byte; V4
/// (whose ids are bytes) refuses it instead of writing a wrong id.
#[test]
fn v3_tokens_with_legacy_keyset_ids() {
    let v = crate::support::vector_json("independent.json");
    let entry = &v["keysets"][1];
    let legacy = entry["legacy_id"].as_str().unwrap();
    let json = format!(
        r#"{{"token":[{{"mint":"https://m.example","proofs":[{{"amount":1,"id":"{legacy}","secret":"s1","C":"02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea"}}]}}],"unit":"sat"}}"#
    );
    let text = format!(
        "cashuA{}",
        tally_cashu::encoding::base64url::encode(json.as_bytes())
    );
    let token = Token::decode(&text).unwrap();
    assert_eq!(token.proofs()[0].keyset_id.to_text(), legacy);
    assert_eq!(token.to_v3_string().unwrap(), text);
    let keys: tally_cashu::nuts::nut01::Keys =
        serde_json::from_value(entry["keys"].clone()).unwrap();
    let mut index = tally_cashu::nuts::nut02::KeysetIndex::new();
    index
        .insert(tally_cashu::nuts::nut02::KeySetInfo {
            id: tally_cashu::nuts::nut02::KeysetId::legacy_from_keys(&keys),
            unit: CurrencyUnit::sat(),
            active: false,
            input_fee_ppk: 0,
            final_expiry: None,
        })
        .unwrap();
    let proofs = token.resolve(&index).unwrap();
    assert_eq!(proofs[0].keyset_id.to_text(), legacy);
    for result in [
        token.to_v4_string().map(|_| ()),
        token.to_raw_bytes().map(|_| ()),
    ] {
        assert!(matches!(
            result,
            Err(tally_cashu::Error::InvalidField { field: "id", .. })
        ));
    }
}
