//! NUT-28 pay-to-blinded-key beyond the official vectors: the ephemeral key
//! travels in every token format byte for byte (and between CDK and here),
//! a P2BK lock is spendable by its receivers only, through every pathway,
//! and the derivation agrees with CDK's.

use std::str::FromStr;

use tally_cashu::crypto::{PublicKey, SecretKey};
use tally_cashu::nuts::nut00::Proof;
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::nuts::nut11::{self, Conditions, Lock, SigFlag, SpendingConditions};
use tally_cashu::nuts::nut28;
use tally_cashu::token::{IdForm, Token};
use tally_cashu::{ConditionError, Error};

use crate::support::{TestMint, mint_url, rng};

const NOW: u64 = 1_700_000_000;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32]).unwrap()
}

/// Proofs of `mint` whose secrets carry `conditions` and whose `p2pk_e` is `ephemeral`.
fn locked(mint: &TestMint, conditions: &SpendingConditions, ephemeral: PublicKey) -> Vec<Proof> {
    let mut rng = rng(81);
    (0..3)
        .map(|i| {
            let mut proof = mint.proof(&mut rng, 1 << i);
            proof.secret = conditions.to_secret(&format!("nonce{i}")).unwrap();
            proof.p2pk_e = Some(ephemeral);
            proof
        })
        .collect()
}

fn to_cdk(proof: &Proof) -> cashu::Proof {
    serde_json::from_str(&serde_json::to_string(proof).unwrap()).unwrap()
}

#[test]
fn tokens_keep_the_ephemeral_key_byte_for_byte() {
    // Made by CDK, decoded here; re-encoded here, the same bytes every time.
    let mint = TestMint::new(82, 4, true, 0);
    let receiver = key(0x21).public_key();
    let lock = SpendingConditions {
        lock: Lock::P2pk(receiver),
        conditions: Conditions::default(),
    };
    let (blinded, ephemeral) = nut28::lock(&lock, &mut rng(83)).unwrap();
    let proofs = locked(&mint, &blinded, ephemeral);
    let theirs = cashu::nuts::Token::new(
        cashu::MintUrl::from_str("https://mint.example.com").unwrap(),
        proofs.iter().map(to_cdk).collect(),
        None,
        cashu::nuts::CurrencyUnit::Sat,
    );
    // CDK 0.18 writes `pe` as hex text (NUT-28 says bytes): read either.
    let decoded = Token::decode(&theirs.to_string()).unwrap();
    assert!(
        decoded
            .proofs()
            .iter()
            .all(|p| p.p2pk_e == Some(ephemeral.into()))
    );
    let v4 = decoded.to_v4_string().unwrap();
    assert_eq!(Token::decode(&v4).unwrap().to_v4_string().unwrap(), v4);
    let resolved = decoded.resolve(&mint.index()).unwrap();
    assert!(resolved.iter().all(|p| p.p2pk_e == Some(ephemeral)));
    // V3 (`p2pk_e`) and raw V4: every re-encoding decodes to the same token
    // and encodes to the same bytes again.
    let v3 = decoded.to_v3_string().unwrap();
    assert!(
        String::from_utf8(tally_cashu::encoding::base64url::decode(&v3[6..]).unwrap())
            .unwrap()
            .contains(&format!("\"p2pk_e\":\"{}\"", ephemeral.to_hex()))
    );
    assert_eq!(Token::decode(&v3).unwrap(), decoded);
    assert_eq!(Token::decode(&v3).unwrap().to_v3_string().unwrap(), v3);
    let raw = decoded.to_raw_bytes().unwrap();
    assert_eq!(
        Token::from_raw_bytes(&raw).unwrap().to_raw_bytes().unwrap(),
        raw
    );
}

#[test]
fn an_invalid_ephemeral_key_is_refused_on_resolve() {
    let mint = TestMint::new(84, 2, false, 0);
    let mut proof = mint.proof(&mut rng(85), 1);
    proof.p2pk_e = Some(key(3).public_key());
    let token = Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![proof],
        IdForm::Full,
    )
    .unwrap();
    // An x-coordinate off the curve (x = 5 has no point) in place of `E`.
    let mut raw = token.to_raw_bytes().unwrap();
    let e = key(3).public_key().to_bytes();
    let at = raw.windows(33).position(|w| w == e).unwrap();
    raw[at + 1..at + 33].copy_from_slice(&{
        let mut x = [0u8; 32];
        x[31] = 5;
        x
    });
    let decoded = Token::from_raw_bytes(&raw).unwrap();
    assert!(matches!(
        decoded.resolve(&mint.index()),
        Err(Error::InvalidPoint)
    ));
    // A prefix other than 02/03 is refused while decoding.
    raw[at] = 0x04;
    assert!(matches!(
        Token::from_raw_bytes(&raw),
        Err(Error::InvalidPoint)
    ));
}

#[test]
fn a_p2bk_lock_is_spendable_by_its_receivers_only() {
    let mint = TestMint::new(86, 4, true, 0);
    let (alice, bob, carol, refund) = (key(0x31), key(0x32), key(0x33), key(0x34));
    let plain = SpendingConditions {
        lock: Lock::P2pk(alice.public_key()),
        conditions: Conditions {
            pubkeys: vec![bob.public_key()],
            n_sigs: Some(2),
            locktime: Some(NOW - 1),
            refund: vec![refund.public_key()],
            ..Conditions::default()
        },
    };
    let (blinded, ephemeral) = nut28::lock(&plain, &mut rng(87)).unwrap();
    // The mint sees none of the receivers' keys.
    let visible: Vec<PublicKey> = blinded
        .main_keys()
        .into_iter()
        .chain(blinded.conditions.refund.iter().copied())
        .collect();
    for k in [&alice, &bob, &carol, &refund] {
        assert!(
            !visible
                .iter()
                .any(|v| v.x_only() == k.public_key().x_only())
        );
    }
    let proofs = locked(&mint, &blinded, ephemeral);
    let token = Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        proofs,
        IdForm::Short,
    )
    .unwrap();
    let received = Token::decode(&token.to_v4_string().unwrap())
        .unwrap()
        .resolve(&mint.index())
        .unwrap();
    let one = |who: &SecretKey, proof: &Proof| {
        let keys = nut28::signing_keys(proof, who).unwrap();
        assert!(keys.len() <= 1);
        keys.into_iter().next()
    };
    // Carol has no slot; the receivers each have exactly one.
    assert!(one(&carol, &received[0]).is_none());
    let spend = |signers: &[&SecretKey]| {
        let mut inputs = received.clone();
        for proof in &mut inputs {
            for signer in signers {
                let k = one(signer, proof).expect("a slot of this signer");
                nut11::sign_input(proof, &k, &mut rng(88)).unwrap();
            }
            proof.p2pk_e = None;
        }
        nut11::verify_transaction(&inputs, &[], None, NOW)
    };
    spend(&[&alice, &bob]).unwrap();
    assert!(matches!(
        spend(&[&alice]),
        Err(Error::Condition(ConditionError::NotEnoughSignatures))
    ));
    // The refund pathway (locktime passed) with the refund key's derived key.
    spend(&[&refund]).unwrap();
    // The unblinded keys themselves do not sign for the blinded lock.
    let mut inputs = received.clone();
    for proof in &mut inputs {
        nut11::sign_input(proof, &alice, &mut rng(89)).unwrap();
        nut11::sign_input(proof, &bob, &mut rng(89)).unwrap();
    }
    assert!(nut11::verify_transaction(&inputs, &[], None, NOW).is_err());
    // A locked proof without its ephemeral key cannot be claimed.
    let mut stripped = received[0].clone();
    stripped.p2pk_e = None;
    assert!(matches!(
        nut28::signing_keys(&stripped, &alice),
        Err(Error::Condition(ConditionError::MissingEphemeralKey))
    ));
}

#[test]
fn sig_all_outputs_share_one_ephemeral_key() {
    let receiver = key(0x41).public_key();
    let plain = SpendingConditions {
        lock: Lock::P2pk(receiver),
        conditions: Conditions {
            sig_flag: SigFlag::SigAll,
            ..Conditions::default()
        },
    };
    let e = key(0x42);
    assert_eq!(
        nut28::blind(&plain, &e).unwrap(),
        nut28::blind(&plain, &e).unwrap()
    );
    assert_ne!(
        nut28::blind(&plain, &e).unwrap(),
        nut28::blind(&plain, &key(0x43)).unwrap()
    );
}

#[test]
fn htlc_keys_start_at_slot_one() {
    let (e, receiver) = (key(0x51), key(0x52));
    let plain = tally_cashu::nuts::nut14::htlc(
        &[7u8; 32],
        Conditions {
            pubkeys: vec![receiver.public_key()],
            ..Conditions::default()
        },
    );
    let blinded = nut28::blind(&plain, &e).unwrap();
    let zx = nut28::shared_secret(&e, &receiver.public_key()).unwrap();
    let r1 = nut28::blinding_scalar(&zx, 1).unwrap();
    assert_eq!(
        blinded.conditions.pubkeys,
        [nut28::blind_key(&receiver.public_key(), &r1).unwrap()]
    );
    assert_eq!(blinded.lock, plain.lock);
    let keys = nut28::derive_signing_keys(&blinded, &e.public_key(), &receiver).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].public_key(), blinded.conditions.pubkeys[0]);
}

#[test]
fn derivation_agrees_with_cdk() {
    for seed in 0u8..16 {
        let e = key(0x60 + seed);
        let p = key(0x90 + seed);
        let cdk_e = cashu::SecretKey::from_slice(&e.to_secret_bytes()[..]).unwrap();
        let cdk_p = cashu::SecretKey::from_slice(&p.to_secret_bytes()[..]).unwrap();
        let cdk_pub = cashu::PublicKey::from_slice(&p.public_key().to_bytes()).unwrap();
        let zx = nut28::shared_secret(&e, &p.public_key()).unwrap();
        for slot in 0..=nut28::MAX_SLOT {
            let r = nut28::blinding_scalar(&zx, slot).unwrap();
            let theirs = cashu::nuts::nut28::ecdh_kdf(&cdk_e, &cdk_pub, slot).unwrap();
            assert_eq!(theirs.to_secret_bytes(), *r.to_secret_bytes());
            let blinded = nut28::blind_key(&p.public_key(), &r).unwrap();
            let cdk_blinded = cashu::nuts::nut28::blind_public_key(&cdk_pub, &theirs).unwrap();
            assert_eq!(cdk_blinded.to_bytes(), blinded.to_bytes());
            let cdk_key =
                cashu::nuts::nut28::derive_signing_key_bip340(&cdk_p, &theirs, &cdk_blinded)
                    .unwrap();
            // CDK may pick either key with the blinded key's x-coordinate;
            // both sign the same BIP-340 key.
            let ours = SecretKey::from_bytes(cdk_key.to_secret_bytes()).unwrap();
            assert_eq!(ours.public_key().x_only(), blinded.x_only());
        }
    }
}

/// Tokens written by `scripts/vectors/cashu/vectors.py` (CBOR by `cbor2`, in
/// Nutshell 0.21's key order) around the NUT-28 example proof.
#[test]
fn independent_p2bk_tokens_re_encode_byte_for_byte() {
    let v = crate::support::vector_json("independent.json");
    let e = "02a8cda4cf448bfce9a9e46e588c06ea1780fcb94e3bbdf3277f42995d403a8b0c";
    let v4 = v["tokens"]["v4"].as_str().unwrap();
    let token = Token::decode(v4).unwrap();
    assert_eq!(
        token.proofs()[0].p2pk_e.map(|p| p.to_hex()).as_deref(),
        Some(e)
    );
    assert_eq!(token.to_v4_string().unwrap().trim_end_matches('='), v4);
    let v3 = v["tokens"]["v3"].as_str().unwrap();
    let token = Token::decode(v3).unwrap();
    assert_eq!(
        token.proofs()[0].p2pk_e.map(|p| p.to_hex()).as_deref(),
        Some(e)
    );
    assert_eq!(token.to_v3_string().unwrap(), v3);
}

/// A lock with three receivers (`data`, `pubkeys`, `refund`), blinded and
/// derived by `scripts/vectors/cashu/vectors.py` with `coincurve`.
#[test]
fn independent_p2bk_lock_with_three_receivers() {
    let v = &crate::support::vector_json("independent.json")["p2bk"];
    let e = SecretKey::from_hex(v["e"].as_str().unwrap()).unwrap();
    let ephemeral = PublicKey::from_hex(v["E"].as_str().unwrap()).unwrap();
    assert_eq!(e.public_key(), ephemeral);
    let slots = v["slots"].as_array().unwrap();
    let public = |i: usize| PublicKey::from_hex(slots[i]["public_key"].as_str().unwrap()).unwrap();
    let blinded_hex = |i: usize| slots[i]["blinded"].as_str().unwrap().to_owned();
    let plain = SpendingConditions {
        lock: Lock::P2pk(public(0)),
        conditions: Conditions {
            pubkeys: vec![public(1)],
            refund: vec![public(2)],
            locktime: Some(NOW),
            ..Conditions::default()
        },
    };
    let blinded = nut28::blind(&plain, &e).unwrap();
    let Lock::P2pk(data) = &blinded.lock else {
        panic!("P2PK lock expected")
    };
    assert_eq!(data.to_hex(), blinded_hex(0));
    assert_eq!(blinded.conditions.pubkeys[0].to_hex(), blinded_hex(1));
    assert_eq!(blinded.conditions.refund[0].to_hex(), blinded_hex(2));
    for slot in slots {
        let key = SecretKey::from_hex(slot["secret_key"].as_str().unwrap()).unwrap();
        let expected: Vec<String> = slot["derived"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        let derived = nut28::derive_signing_keys(&blinded, &ephemeral, &key).unwrap();
        let derived: Vec<String> = derived
            .iter()
            .map(|k| k.to_secret_hex().to_string())
            .collect();
        assert_eq!(derived, expected, "{}", slot["role"]);
    }
}
