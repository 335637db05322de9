//! Interoperability with CDK's protocol crate (`cashu` 0.18.3): tokens made
//! there decode here and vice versa, proof for proof (V3 and V4, V1 and V2
//! keysets, full and short ids, with and without DLEQ proofs); keyset ids,
//! BDHKE, DLEQ proofs and NUT-13 derivations agree.

use std::collections::BTreeMap;
use std::str::FromStr;

use proptest::prelude::*;
use tally_cashu::Amount;
use tally_cashu::crypto::{PublicKey, SecretKey, bdhke, dleq, hash_to_curve};
use tally_cashu::nuts::nut00::Proof;
use tally_cashu::nuts::nut01::{CurrencyUnit, Keys};
use tally_cashu::nuts::nut02::KeysetId;
use tally_cashu::nuts::nut12::BlindSignatureDleq;
use tally_cashu::nuts::nut13::{self, Seed};
use tally_cashu::token::{IdForm, Token};

use crate::support::{TestMint, rng};

fn to_cdk(proof: &Proof) -> cashu::Proof {
    serde_json::from_str(&serde_json::to_string(proof).unwrap()).unwrap()
}

fn from_cdk(proof: &cashu::Proof) -> Proof {
    serde_json::from_str(&serde_json::to_string(proof).unwrap()).unwrap()
}

fn cdk_infos(mint: &TestMint) -> Vec<cashu::KeySetInfo> {
    vec![serde_json::from_str(&serde_json::to_string(mint.keyset.info()).unwrap()).unwrap()]
}

fn proofs(mint: &TestMint, seed: u64, with_dleq: bool) -> Vec<Proof> {
    let mut rng = rng(seed);
    (0..5)
        .map(|i| {
            let mut p = mint.proof(&mut rng, 1 << i);
            if !with_dleq {
                p.dleq = None;
            }
            p
        })
        .collect()
}

#[test]
fn cdk_tokens_decode_here_proof_for_proof() {
    for (v2, with_dleq) in [(false, false), (false, true), (true, false), (true, true)] {
        let mint = TestMint::new(51, 8, v2, 100);
        let ours = proofs(&mint, 52, with_dleq);
        let cdk_token = cashu::nuts::Token::new(
            cashu::MintUrl::from_str("https://mint.example.com").unwrap(),
            ours.iter().map(to_cdk).collect(),
            Some("from cdk".to_owned()),
            cashu::nuts::CurrencyUnit::Sat,
        );
        for text in [cdk_token.to_string(), cdk_token.to_v3_string()] {
            let decoded = Token::decode(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(decoded.memo(), Some("from cdk"));
            assert_eq!(decoded.unit().unwrap().as_str(), "sat");
            assert_eq!(decoded.mint().as_str(), "https://mint.example.com");
            let mut resolved = decoded.resolve(&mint.index()).unwrap();
            // CDK groups proofs per keyset in a hash map; compare as sets.
            resolved.sort_by_key(|p| p.amount);
            assert_eq!(resolved, ours, "v2={v2} dleq={with_dleq}");
            if with_dleq {
                for p in &resolved {
                    p.verify_dleq(&mint.keyset).unwrap();
                }
            }
        }
    }
}

#[test]
fn tokens_encoded_here_decode_in_cdk_proof_for_proof() {
    for (v2, form, with_dleq) in [
        (false, IdForm::Full, true),
        (true, IdForm::Short, true),
        (true, IdForm::Full, false),
        (true, IdForm::Short, false),
    ] {
        let mint = TestMint::new(53, 8, v2, 100);
        let ours = proofs(&mint, 54, with_dleq);
        let token = Token::from_proofs(
            crate::support::mint_url(),
            Some(CurrencyUnit::sat()),
            Some("from tally".to_owned()),
            ours.clone(),
            form,
        )
        .unwrap();
        for text in [token.to_v4_string().unwrap(), token.to_v3_string().unwrap()] {
            let theirs =
                cashu::nuts::Token::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(theirs.memo().as_deref(), Some("from tally"));
            assert_eq!(
                theirs.mint_url().unwrap().to_string(),
                "https://mint.example.com"
            );
            let back: Vec<Proof> = theirs
                .proofs(&cdk_infos(&mint))
                .unwrap()
                .iter()
                .map(from_cdk)
                .collect();
            assert_eq!(back, ours, "v2={v2} form={form:?} dleq={with_dleq}");
            if with_dleq {
                let key =
                    cashu::PublicKey::from_slice(&mint.keyset.key(Amount::ONE).unwrap().to_bytes())
                        .unwrap();
                theirs.proofs(&cdk_infos(&mint)).unwrap()[0]
                    .verify_dleq(key)
                    .unwrap();
            }
        }
    }
}

fn cdk_keys(keys: &Keys) -> cashu::Keys {
    cashu::Keys::new(
        keys.iter()
            .map(|(a, k)| {
                (
                    cashu::Amount::from(a.value()),
                    cashu::PublicKey::from_slice(&k.to_bytes()).unwrap(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn keyset_ids_agree_with_cdk(
        amounts in proptest::collection::btree_set(1u64..u64::MAX, 1..20),
        fee in prop_oneof![Just(0u64), 1u64..5_000],
        expiry in proptest::option::of(prop_oneof![Just(0u64), 1u64..4_000_000_000]),
        unit in prop_oneof![Just("sat"), Just("usd"), Just("msat")],
    ) {
        let keys = Keys::new(amounts.iter().map(|a| (Amount::new(*a), hash_to_curve(&a.to_le_bytes()).unwrap()))).unwrap();
        let theirs = cdk_keys(&keys);
        prop_assert_eq!(KeysetId::v1_from_keys(&keys).to_hex(), cashu::Id::v1_from_keys(&theirs).to_string());
        let cdk_unit = cashu::nuts::CurrencyUnit::from_str(unit).unwrap();
        prop_assert_eq!(
            KeysetId::v2_from_keys(&keys, &CurrencyUnit::new(unit).unwrap(), fee, expiry).to_hex(),
            cashu::Id::v2_from_data(&theirs, &cdk_unit, fee, expiry).to_string()
        );
    }

    #[test]
    fn bdhke_and_dleq_agree_with_cdk(secret in proptest::collection::vec(any::<u8>(), 1..64), seed in any::<u64>()) {
        let mut rng = rng(seed);
        let (r, k) = (SecretKey::random(&mut rng).unwrap(), SecretKey::random(&mut rng).unwrap());
        let cdk_r = cashu::SecretKey::from_slice(r.to_secret_bytes().as_ref()).unwrap();
        let cdk_k = cashu::SecretKey::from_slice(k.to_secret_bytes().as_ref()).unwrap();
        let pk = |p: &cashu::PublicKey| PublicKey::from_bytes(&p.to_bytes()).unwrap();
        prop_assert_eq!(hash_to_curve(&secret).unwrap(), pk(&cashu::dhke::hash_to_curve(&secret).unwrap()));
        let b = bdhke::blind(&secret, &r).unwrap();
        let (cdk_b, _) = cashu::dhke::blind_message(&secret, Some(cdk_r.clone())).unwrap();
        prop_assert_eq!(b, pk(&cdk_b));
        let c_ = bdhke::sign(&k, &b).unwrap();
        let cdk_c_ = cashu::dhke::sign_message(&cdk_k, &cdk_b).unwrap();
        prop_assert_eq!(c_, pk(&cdk_c_));
        let c = bdhke::unblind(&c_, &r, &k.public_key()).unwrap();
        let cdk_c = cashu::dhke::unblind_message(&cdk_c_, &cdk_r, &cdk_k.public_key()).unwrap();
        prop_assert_eq!(c, pk(&cdk_c));
        // CDK's DLEQ (same deterministic nonce) equals ours and verifies here, and ours there.
        let theirs = cashu::BlindSignature::new(cashu::Amount::from(1), cdk_c_, cashu::Id::from_str("009a1f293253e41e").unwrap(), &cdk_b, &cdk_k).unwrap();
        let their_dleq: BlindSignatureDleq = serde_json::from_value(serde_json::to_value(theirs.dleq.as_ref().unwrap()).unwrap()).unwrap();
        let ours = dleq::create(&k, &b, &c_).unwrap();
        prop_assert_eq!(their_dleq.dleq(), ours);
        prop_assert!(dleq::verify(&k.public_key(), &b, &c_, &their_dleq.dleq()).is_ok());
        prop_assert!(theirs.verify_dleq(cdk_k.public_key(), cdk_b).is_ok());
    }

    #[test]
    fn nut13_derivation_agrees_with_cdk(seed in any::<[u8; 32]>(), counter in 0u32..1_000_000, v2 in any::<bool>()) {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&seed);
        bytes[32..].copy_from_slice(&seed);
        let id = if v2 {
            "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a"
        } else {
            "009a1f293253e41e"
        };
        let (secret, r) = nut13::derive(&Seed::from_bytes(bytes), &KeysetId::from_hex(id).unwrap(), u64::from(counter)).unwrap();
        let cdk_id = cashu::Id::from_str(id).unwrap();
        let cdk_secret = cashu::secret::Secret::from_seed(&bytes, cdk_id, counter).unwrap();
        let cdk_r = cashu::SecretKey::from_seed(&bytes, cdk_id, counter).unwrap();
        prop_assert_eq!(secret.as_str(), cdk_secret.to_string());
        let r_hex = r.to_secret_hex();
        prop_assert_eq!(r_hex.as_str(), cdk_r.to_secret_hex());
    }
}
