//! NUT-10/11/14 beyond the official vectors: malformed secrets are refused
//! with the precise reason, n-of-m multisig holds exactly at n, locktime and
//! refund pathways open at the right time, SIG_ALL binds every input and
//! output, and secrets built here parse back to the same conditions.

use proptest::prelude::*;
use tally_cashu::crypto::{PublicKey, SecretKey};
use tally_cashu::nuts::nut00::{BlindedMessage, Proof};
use tally_cashu::nuts::nut10::{Nut10Secret, Tag};
use tally_cashu::nuts::nut11::{self, Conditions, Lock, SigFlag, SpendingConditions};
use tally_cashu::nuts::nut14;
use tally_cashu::secret::{Preimage, Secret};
use tally_cashu::{Amount, ConditionError, Error};

use crate::support::{TestMint, rng};

const NOW: u64 = 1_700_000_000;

fn keys(n: usize, seed: u8) -> Vec<SecretKey> {
    (0..n)
        .map(|i| SecretKey::from_bytes([seed.wrapping_add(i as u8).max(1); 32]).unwrap())
        .collect()
}

fn pubs(keys: &[SecretKey]) -> Vec<PublicKey> {
    keys.iter().map(SecretKey::public_key).collect()
}

/// A proof minted by `mint` whose secret carries `conditions`.
fn locked_proof(
    mint: &TestMint,
    conditions: &SpendingConditions,
    nonce: &str,
    amount: u64,
) -> Proof {
    let mut rng = rng(u64::from(nonce.len() as u32) + amount);
    let mut proof = mint.proof(&mut rng, amount);
    proof.secret = conditions.to_secret(nonce).unwrap();
    proof
}

fn p2pk(key: PublicKey, c: Conditions) -> SpendingConditions {
    SpendingConditions {
        lock: Lock::P2pk(key),
        conditions: c,
    }
}

fn verify(proofs: &[Proof], now: u64) -> Result<(), Error> {
    nut11::verify_transaction(proofs, &[], None, now)
}

fn malformed(tags: &str, data: &str) -> Result<Option<SpendingConditions>, Error> {
    let text = format!(r#"["P2PK",{{"nonce":"n","data":"{data}","tags":{tags}}}]"#);
    SpendingConditions::from_secret(&Secret::new(text).unwrap())
}

const K1: &str = "02698c4e2b5f9534cd0687d87513c759790cf829aa5739184a3e3735471fbda904";
const K1_ODD: &str = "03698c4e2b5f9534cd0687d87513c759790cf829aa5739184a3e3735471fbda904";
const K2: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

fn reason(result: Result<Option<SpendingConditions>, Error>) -> ConditionError {
    match result {
        Err(Error::Condition(reason)) => reason,
        other => panic!("expected a condition error, got {other:?}"),
    }
}

#[test]
fn malformed_secrets_are_refused_with_the_reason() {
    use ConditionError::*;
    assert_eq!(
        reason(malformed(
            r#"[["sigflag","SIG_ALL"],["sigflag","SIG_ALL"]]"#,
            K1
        )),
        DuplicateTag
    );
    assert_eq!(
        reason(malformed(r#"[["n_sigs","0"]]"#, K1)),
        InvalidSignatureCount
    );
    assert_eq!(
        reason(malformed(r#"[["n_sigs","2"]]"#, K1)),
        InvalidSignatureCount
    );
    assert_eq!(
        reason(malformed(r#"[["n_sigs","x"]]"#, K1)),
        InvalidSignatureCount
    );
    assert_eq!(
        reason(malformed(r#"[["n_sigs_refund","1"]]"#, K1)),
        InvalidSignatureCount
    );
    assert_eq!(
        reason(malformed(r#"[["sigflag","SIG_SOME"]]"#, K1)),
        InvalidSigFlag
    );
    assert_eq!(
        reason(malformed(&format!(r#"[["pubkeys","{K1_ODD}"]]"#), K1)),
        DuplicateKey
    );
    assert_eq!(
        reason(malformed(
            &format!(r#"[["refund","{K2}","{}"]]"#, K2.to_uppercase()),
            K1
        )),
        DuplicateKey
    );
    assert_eq!(reason(malformed(r#"[["pubkeys","02zz"]]"#, K1)), InvalidKey);
    assert_eq!(reason(malformed("[]", "not a key")), InvalidKey);
    assert_eq!(
        reason(malformed(r#"[["locktime",1765300829]]"#, K1)),
        MalformedTag
    );
    assert_eq!(reason(malformed(r#"[["locktime",""]]"#, K1)), MalformedTag);
    assert_eq!(reason(malformed("[[]]", K1)), MalformedTag);
    let htlc = Secret::new(r#"["HTLC",{"nonce":"n","data":"abcd"}]"#).unwrap();
    assert_eq!(
        reason(SpendingConditions::from_secret(&htlc)),
        InvalidHashLock
    );
    let other = Secret::new(r#"["XYZ",{"nonce":"n","data":"d"}]"#).unwrap();
    assert_eq!(
        reason(SpendingConditions::from_secret(&other)),
        UnsupportedKind
    );
    let broken = Secret::new(r#"["P2PK",{"nonce":"n"}]"#).unwrap();
    assert_eq!(
        reason(SpendingConditions::from_secret(&broken)),
        MalformedSecret
    );
    // The same key may appear in both pathways; a bad locktime means permanent.
    let ok = malformed(
        &format!(r#"[["refund","{K1_ODD}"],["locktime","soon"]]"#),
        K1,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ok.conditions.locktime, None);
    // A plain secret has no conditions.
    assert!(
        SpendingConditions::from_secret(&Secret::new("plain").unwrap())
            .unwrap()
            .is_none()
    );
}

fn conditions_strategy() -> impl Strategy<Value = (usize, Conditions)> {
    (
        1usize..4,
        0usize..3,
        proptest::option::of(0u64..2_000_000_000),
        any::<bool>(),
    )
        .prop_map(|(extra, refund, locktime, sig_all)| {
            let main = keys(extra, 10);
            let refund_keys = keys(refund, 50);
            let c = Conditions {
                sig_flag: if sig_all {
                    SigFlag::SigAll
                } else {
                    SigFlag::SigInputs
                },
                pubkeys: pubs(&main),
                n_sigs: Some((extra as u64).div_ceil(2) + 1),
                locktime,
                refund: pubs(&refund_keys),
                n_sigs_refund: (refund > 0).then_some(refund as u64),
            };
            (extra, c)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn secrets_built_here_parse_back_to_the_same_conditions(
        (_, c) in conditions_strategy(),
        htlc in any::<bool>(),
    ) {
        let lock = if htlc { Lock::Htlc([7u8; 32]) } else { Lock::P2pk(keys(1, 200)[0].public_key()) };
        let mut c = c;
        if htlc {
            // For an HTLC the main pathway is `pubkeys` alone.
            c.n_sigs = c.n_sigs.map(|n| n.min(c.pubkeys.len() as u64));
        }
        let spend = SpendingConditions { lock, conditions: c };
        let secret = spend.to_secret("00ff").unwrap();
        prop_assert_eq!(SpendingConditions::from_secret(&secret).unwrap().unwrap(), spend);
    }

    #[test]
    fn multisig_holds_exactly_at_n_distinct_signers(m in 1usize..5, n_raw in 1usize..5, signers in 0usize..5) {
        let n = n_raw.min(m);
        let signers = signers.min(m);
        let mint = TestMint::new(1, 4, true, 0);
        let all = keys(m, 90);
        let spend = p2pk(all[0].public_key(), Conditions {
            pubkeys: pubs(&all[1..]),
            n_sigs: Some(n as u64),
            ..Conditions::default()
        });
        let mut proof = locked_proof(&mint, &spend, "n", 1);
        let mut rng = rng(5);
        for key in &all[..signers] {
            nut11::sign_input(&mut proof, key, &mut rng).unwrap();
        }
        // A repeated signer does not count twice.
        if signers > 0 {
            nut11::sign_input(&mut proof, &all[0], &mut rng).unwrap();
        }
        prop_assert_eq!(verify(&[proof], NOW).is_ok(), signers >= n);
    }
}

#[test]
fn refund_pathway_opens_only_after_the_locktime() {
    let mint = TestMint::new(2, 4, true, 0);
    let owner = keys(1, 1);
    let refund = keys(1, 40);
    let spend = p2pk(
        owner[0].public_key(),
        Conditions {
            locktime: Some(NOW),
            refund: pubs(&refund),
            ..Conditions::default()
        },
    );
    let mut proof = locked_proof(&mint, &spend, "r", 2);
    nut11::sign_input(&mut proof, &refund[0], &mut rng(3)).unwrap();
    assert!(
        verify(std::slice::from_ref(&proof), NOW).is_err(),
        "at the locktime: still locked"
    );
    verify(std::slice::from_ref(&proof), NOW + 1).unwrap();
    // The owner can always spend.
    let mut owned = locked_proof(&mint, &spend, "r", 2);
    nut11::sign_input(&mut owned, &owner[0], &mut rng(4)).unwrap();
    verify(&[owned], 0).unwrap();
}

#[test]
fn expired_lock_without_refund_keys_is_anyone_can_spend() {
    let mint = TestMint::new(3, 4, true, 0);
    let spend = p2pk(
        keys(1, 1)[0].public_key(),
        Conditions {
            locktime: Some(NOW),
            ..Conditions::default()
        },
    );
    let proof = locked_proof(&mint, &spend, "a", 1);
    assert!(verify(std::slice::from_ref(&proof), NOW).is_err());
    verify(&[proof], NOW + 1).unwrap();
}

#[test]
fn htlc_pathways() {
    let mint = TestMint::new(4, 4, true, 0);
    let preimage = Preimage::new([9u8; 32]);
    let receiver = keys(1, 7);
    let sender = keys(1, 70);
    let spend = nut14::htlc(
        &preimage.hash(),
        Conditions {
            pubkeys: pubs(&receiver),
            locktime: Some(NOW),
            refund: pubs(&sender),
            ..Conditions::default()
        },
    );
    // Receiver: preimage and signature.
    let mut proof = locked_proof(&mint, &spend, "h", 1);
    nut11::set_preimage(&mut proof, preimage.clone()).unwrap();
    assert!(matches!(
        verify(std::slice::from_ref(&proof), NOW),
        Err(Error::Condition(ConditionError::NotEnoughSignatures))
    ));
    nut11::sign_input(&mut proof, &receiver[0], &mut rng(1)).unwrap();
    verify(&[proof], NOW).unwrap();
    // Sender: refund signature after the locktime, no preimage.
    let mut refund = locked_proof(&mint, &spend, "h", 1);
    nut11::sign_input(&mut refund, &sender[0], &mut rng(2)).unwrap();
    assert!(matches!(
        verify(std::slice::from_ref(&refund), NOW),
        Err(Error::Condition(ConditionError::PreimageMismatch))
    ));
    verify(&[refund], NOW + 1).unwrap();
    // Without `pubkeys`, the preimage alone spends.
    let bare = nut14::htlc(&preimage.hash(), Conditions::default());
    let mut proof = locked_proof(&mint, &bare, "b", 1);
    nut11::set_preimage(&mut proof, preimage).unwrap();
    verify(&[proof], NOW).unwrap();
}

fn outputs(mint: &TestMint, amounts: &[u64]) -> Vec<BlindedMessage> {
    amounts
        .iter()
        .map(|a| BlindedMessage {
            amount: Amount::new(*a),
            keyset_id: mint.keyset.id(),
            blinded: tally_cashu::crypto::hash_to_curve(&a.to_le_bytes()).unwrap(),
        })
        .collect()
}

#[test]
fn sig_all_binds_every_input_and_output() {
    let mint = TestMint::new(5, 4, true, 0);
    let owner = keys(1, 3);
    let spend = p2pk(
        owner[0].public_key(),
        Conditions {
            sig_flag: SigFlag::SigAll,
            ..Conditions::default()
        },
    );
    let nut10 = spend.to_nut10("same");
    let mut inputs: Vec<Proof> = [1u64, 2]
        .iter()
        .map(|a| {
            let mut p = mint.proof(&mut rng(*a), *a);
            p.secret = nut10.to_secret().unwrap();
            p
        })
        .collect();
    // Same secret twice would be a double spend; give each its own nonce but
    // identical data and tags, as SIG_ALL requires.
    inputs[1].secret = Nut10Secret {
        nonce: "other".to_owned(),
        ..nut10.clone()
    }
    .to_secret()
    .unwrap();
    let outs = outputs(&mint, &[1, 2]);
    nut11::sign_sig_all(&mut inputs, &outs, None, &owner[0], &mut rng(9)).unwrap();
    nut11::verify_transaction(&inputs, &outs, None, NOW).unwrap();
    // Melt binds the quote id.
    assert!(nut11::verify_transaction(&inputs, &outs, Some("quote"), NOW).is_err());
    // Another output set fails.
    assert!(nut11::verify_transaction(&inputs, &outputs(&mint, &[3]), None, NOW).is_err());
    // Reordering inputs fails (the first input carries the signature).
    let swapped = vec![inputs[1].clone(), inputs[0].clone()];
    assert!(nut11::verify_transaction(&swapped, &outs, None, NOW).is_err());
    // An input with other tags breaks SIG_ALL.
    let mut mixed = inputs.clone();
    mixed[1].secret = Nut10Secret {
        tags: vec![
            Tag::new("sigflag", ["SIG_ALL".to_owned()]),
            Tag::new("x", ["1".to_owned()]),
        ],
        ..nut10.clone()
    }
    .to_secret()
    .unwrap();
    assert!(matches!(
        nut11::verify_transaction(&mixed, &outs, None, NOW),
        Err(Error::Condition(ConditionError::SigAllMismatch))
    ));
    // A plain input next to a SIG_ALL input breaks it too.
    let mut plain = inputs.clone();
    plain[1].secret = Secret::new("plain").unwrap();
    assert!(nut11::verify_transaction(&plain, &outs, None, NOW).is_err());
    assert!(matches!(
        nut11::verify_transaction(&[], &outs, None, NOW),
        Err(Error::Condition(ConditionError::NoInputs))
    ));
}

#[test]
fn malformed_witnesses_are_refused() {
    let mint = TestMint::new(6, 4, true, 0);
    let spend = p2pk(keys(1, 1)[0].public_key(), Conditions::default());
    let mut proof = locked_proof(&mint, &spend, "w", 1);
    for witness in [
        "not json",
        r#"{"signatures":["00"]}"#,
        r#"{"signatures":"x"}"#,
        r#"{"preimage":"zz"}"#,
    ] {
        proof.witness = Some(tally_cashu::nuts::nut00::Witness::new(witness).unwrap());
        assert!(
            matches!(
                verify(std::slice::from_ref(&proof), NOW),
                Err(Error::Condition(ConditionError::MalformedWitness))
            ),
            "{witness}"
        );
    }
}
