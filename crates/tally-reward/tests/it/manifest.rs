//! Sealed manifests: verification by recomputation, tamper detection,
//! payout proofs, settlement intents.

use tally_reward::compute::{Payout, compute};
use tally_reward::inputs::EpochInputs;
use tally_reward::keys::SigningKey;
use tally_reward::manifest::{
    Hex32, Manifest, Prover, SealedManifest, build, prove, seal, verify, verify_proof,
};
use tally_reward::policy::{Policy, SignedPolicy};
use tally_reward::settle::{
    CODE_PAYOUT, CODE_RESIDUAL, Ledger, Transfer, fingerprint_matches, intents, ledger_account_id,
};
use tally_reward::{Error, Limits, merkle};

use crate::common::{account, key, trusted};

fn example() -> (EpochInputs, SignedPolicy) {
    let inputs = EpochInputs::from_json(
        include_bytes!("../../examples/inputs.json"),
        &Limits::default(),
    )
    .unwrap();
    let policy = Policy::from_json(include_bytes!("../../examples/policy.json")).unwrap();
    (inputs, policy.sign(&key()).unwrap())
}

fn sealed() -> (EpochInputs, SignedPolicy, SealedManifest, Vec<Payout>) {
    let (inputs, signed) = example();
    let verified = signed.verify(&trusted()).unwrap();
    let d = compute(&inputs, &verified, &Limits::default())
        .unwrap()
        .distribution;
    let m = build(&inputs, inputs.cid().unwrap(), &verified, &d, None).unwrap();
    (inputs, signed, seal(m, &key()).unwrap(), d.payouts)
}

#[test]
fn an_honest_manifest_verifies_and_round_trips() {
    let (inputs, policy, sealed, payouts) = sealed();
    let d = verify(&sealed, &trusted(), &inputs, &policy, &Limits::default()).unwrap();
    assert_eq!(d.payouts, payouts);
    let text = serde_json::to_vec(&sealed).unwrap();
    assert_eq!(SealedManifest::from_json(&text).unwrap(), sealed);
    assert_eq!(
        sealed.manifest.paid + sealed.manifest.residual,
        sealed.manifest.pool
    );
}

/// Every field changed, then re-sealed by the trusted key (a buggy or
/// compromised sealer): the recomputation names the field.
#[test]
fn every_tampered_field_is_named() {
    let (inputs, policy, sealed, _) = sealed();
    let other = tally_reward::cid::Cid::of(b"other");
    type Edit = Box<dyn Fn(&mut Manifest)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("schema", Box::new(|m| m.schema.push('x'))),
        ("epoch", Box::new(|m| m.epoch = "other".parse().unwrap())),
        ("window", Box::new(|m| m.window.end += 1)),
        ("run_key", Box::new(|m| m.run_key.0[0] ^= 1)),
        ("inputs_cid", Box::new(move |m| m.inputs_cid = other)),
        ("policy_cid", Box::new(move |m| m.policy_cid = other)),
        (
            "policy_key_id",
            Box::new(|m| m.policy_key_id = SigningKey::from_seed(&[3; 32]).id()),
        ),
        ("engine", Box::new(|m| m.engine.push('x'))),
        ("pool", Box::new(|m| m.pool += 1)),
        (
            "funding_account",
            Box::new(|m| m.funding_account = account("x")),
        ),
        (
            "residual_sink",
            Box::new(|m| m.residual_sink = account("x")),
        ),
        ("paid", Box::new(|m| m.paid += 1)),
        ("residual", Box::new(|m| m.residual += 1)),
        ("payees", Box::new(|m| m.payees += 1)),
        ("accounts", Box::new(|m| m.accounts += 1)),
        ("capped", Box::new(|m| m.capped += 1)),
        ("below_minimum", Box::new(|m| m.below_minimum += 1)),
        (
            "rounding",
            Box::new(|m| m.rounding = tally_reward::policy::Rounding::Floor),
        ),
        ("payouts_root", Box::new(|m| m.payouts_root.0[31] ^= 1)),
        ("payouts_cid", Box::new(move |m| m.payouts_cid = other)),
    ];
    for (field, edit) in &edits {
        let mut m = sealed.manifest.clone();
        edit(&mut m);
        // Unsigned tampering breaks the seal.
        let mut forged = sealed.clone();
        forged.manifest = m.clone();
        assert!(
            matches!(
                verify(&forged, &trusted(), &inputs, &policy, &Limits::default()),
                Err(Error::BadSignature { .. })
            ),
            "{field}"
        );
        // Re-sealed, the recomputation catches it and names it.
        let resealed = seal(m, &key()).unwrap();
        assert_eq!(
            verify(&resealed, &trusted(), &inputs, &policy, &Limits::default()),
            Err(Error::ManifestMismatch { field }),
        );
    }
    // `previous` is the chain link, checked by the registry, not recomputed.
}

#[test]
fn a_seal_by_an_untrusted_key_fails() {
    let (inputs, policy, sealed, _) = sealed();
    let stranger = SigningKey::from_seed(&[5; 32]);
    let resealed = seal(sealed.manifest, &stranger).unwrap();
    assert_eq!(
        verify(&resealed, &trusted(), &inputs, &policy, &Limits::default()),
        Err(Error::UntrustedKey {
            key_id: stranger.id()
        })
    );
}

#[test]
fn every_payee_can_prove_its_payout_and_nothing_else() {
    let (_, _, sealed, payouts) = sealed();
    assert!(!payouts.is_empty());
    for p in &payouts {
        let proof = prove(&sealed.manifest, &payouts, &p.account).unwrap();
        verify_proof(&proof, &sealed.manifest).unwrap();
        let mut more = proof.clone();
        more.payout.amount += 1;
        assert_eq!(verify_proof(&more, &sealed.manifest), Err(Error::BadProof));
        // The size is bound by the signed manifest (an RFC 6962 path alone
        // does not bind it).
        let mut resized = proof.clone();
        resized.size += 1;
        assert_eq!(
            verify_proof(&resized, &sealed.manifest),
            Err(Error::BadProof)
        );
        let mut moved = proof.clone();
        moved.index = (moved.index + 1) % moved.size;
        if moved.size > 1 {
            assert_eq!(verify_proof(&moved, &sealed.manifest), Err(Error::BadProof));
        }
    }
    assert!(matches!(
        prove(&sealed.manifest, &payouts, &account("nobody")),
        Err(Error::NoPayout { .. })
    ));
}

#[test]
fn one_prover_gives_every_payee_the_proof_that_prove_gives() {
    let (_, _, sealed, payouts) = sealed();
    let prover = Prover::new(&sealed.manifest, &payouts).unwrap();
    for p in &payouts {
        let proof = prover.prove(&p.account).unwrap();
        assert_eq!(
            proof,
            prove(&sealed.manifest, &payouts, &p.account).unwrap()
        );
        assert_eq!(&proof.payout, p);
        assert_eq!(proof.size, payouts.len() as u64);
        verify_proof(&proof, &sealed.manifest).unwrap();
    }
    assert!(matches!(
        prover.prove(&account("nobody")),
        Err(Error::NoPayout { .. })
    ));
}

/// An independent recursive root (RFC 6962 shape) and every proof, for
/// every size from 1 to 33.
#[test]
fn merkle_proofs_hold_for_every_leaf_of_every_size() {
    fn reference(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        merkle::node(&reference(&leaves[..k]), &reference(&leaves[k..]))
    }
    for n in 1..=33u64 {
        let payouts: Vec<Payout> = (0..n)
            .map(|i| Payout {
                account: account(&format!("p{i:03}")),
                amount: i + 1,
            })
            .collect();
        let leaves: Vec<[u8; 32]> = payouts.iter().map(merkle::leaf).collect();
        let root = merkle::root(&payouts);
        assert_eq!(root, reference(&leaves), "size {n}");
        for i in 0..n {
            let path = merkle::path(&payouts, i as usize).unwrap();
            merkle::verify(&leaves[i as usize], i, n, &path, &root).unwrap();
            if n > 1 {
                let mut bad = path.clone();
                bad[0][0] ^= 1;
                assert!(merkle::verify(&leaves[i as usize], i, n, &bad, &root).is_err());
                assert!(
                    merkle::verify(&leaves[i as usize], i, n, &path[..path.len() - 1], &root)
                        .is_err()
                );
            }
        }
        assert!(merkle::path(&payouts, n as usize).is_err());
    }
}

#[test]
fn intents_move_exactly_the_pool_in_one_linked_batch() {
    let (inputs, signed, sealed, payouts) = sealed();
    let d = verify(&sealed, &trusted(), &inputs, &signed, &Limits::default()).unwrap();
    let batch = intents(&sealed.manifest.run_key, &d, Ledger(7)).unwrap();
    assert_eq!(
        batch.iter().map(|t| t.amount).sum::<u64>(),
        sealed.manifest.pool
    );
    assert_eq!(batch.len(), payouts.len() + usize::from(d.residual > 0));
    assert!(batch[..batch.len() - 1].iter().all(|t| t.linked));
    assert!(!batch.last().unwrap().linked);
    assert!(batch.iter().all(|t| t.debit_account == d.funding_account));
    assert!(batch.iter().all(fingerprint_matches));
    // Ledger fields: one ledger, a code per role, the accounts' ledger ids.
    assert!(batch.iter().all(|t| t.ledger == Ledger(7)));
    let residual = usize::from(d.residual > 0);
    assert!(
        batch[..batch.len() - residual]
            .iter()
            .all(|t| t.code == CODE_PAYOUT)
    );
    if residual == 1 {
        assert_eq!(batch.last().unwrap().code, CODE_RESIDUAL);
    }
    assert!(batch.iter().all(|t| {
        t.debit_account_id == ledger_account_id(&d.funding_account)
            && t.credit_account_id == ledger_account_id(&t.credit_account)
    }));
    // Every field the ledger acts on is bound: a change is detected.
    let edits: [fn(&mut Transfer); 6] = [
        |t| t.amount += 1,
        |t| t.ledger = Ledger(8),
        |t| t.code = CODE_RESIDUAL + 1,
        |t| t.credit_account_id ^= 1,
        |t| t.debit_account_id ^= 1,
        |t| t.credit_account = account("mallory"),
    ];
    for edit in edits {
        let mut changed = batch[0].clone();
        edit(&mut changed);
        assert!(!fingerprint_matches(&changed), "{changed:?}");
    }
    // The same run derives the same batch; another run key, other ids.
    assert_eq!(
        intents(&sealed.manifest.run_key, &d, Ledger(7)).unwrap(),
        batch
    );
    let other = intents(&Hex32([9; 32]), &d, Ledger(7)).unwrap();
    assert!(batch.iter().zip(&other).all(|(a, b)| a.id != b.id));
    // JSON export, one idempotency key per intent.
    let json = serde_json::to_value(&batch).unwrap();
    let keys: std::collections::BTreeSet<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), batch.len());
}

/// A sealed manifest of epoch `epoch` (window `week` weeks after the
/// common one) linked to `previous`.
fn sealed_epoch(epoch: &str, week: u64, previous: Option<&SealedManifest>) -> SealedManifest {
    use tally_reward::ident::EpochId;
    use tally_reward::inputs::{AccountCounters, NamedValues, Window};
    let week_seconds = 7 * 24 * 3600;
    let window = Window {
        start: crate::common::WINDOW.start + week * week_seconds,
        end: crate::common::WINDOW.end + week * week_seconds,
    };
    let accounts = (0..3u64)
        .map(|i| AccountCounters {
            account: account(&format!("a{i}")),
            counters: NamedValues([("units".to_owned(), i + 1)].into_iter().collect()),
        })
        .collect();
    let inputs = EpochInputs::new(
        EpochId::new(epoch).unwrap(),
        window,
        account("meter-1"),
        accounts,
        &Limits::default(),
    )
    .unwrap();
    let policy = crate::common::verified(&crate::common::policy(
        600,
        None,
        0,
        tally_reward::policy::Rounding::LargestRemainder,
    ));
    let d = compute(&inputs, &policy, &Limits::default())
        .unwrap()
        .distribution;
    let link = previous.map(|p| p.manifest.cid().unwrap());
    let m = build(&inputs, inputs.cid().unwrap(), &policy, &d, link).unwrap();
    seal(m, &key()).unwrap()
}

/// A chain of epochs verifies link by link: each link is the previous
/// manifest's CID, the previous seal is trusted, and epochs come in order
/// with windows that do not overlap.
#[test]
fn a_chain_of_epochs_verifies_link_by_link() {
    use tally_reward::manifest::{verify_chain, verify_link};
    let first = sealed_epoch("w1", 0, None);
    let second = sealed_epoch("w2", 1, Some(&first));
    let third = sealed_epoch("w3", 3, Some(&second));
    let first_cid = first.manifest.cid().unwrap();
    assert_eq!(
        verify_link(&second.manifest, &first, &trusted()),
        Ok(first_cid)
    );
    let chain = [first.clone(), second.clone(), third.clone()];
    verify_chain(&chain, &trusted()).unwrap();
    // A link to another manifest, or none, is broken.
    let broken = Error::BrokenChain {
        previous: first_cid,
    };
    assert_eq!(
        verify_link(&third.manifest, &first, &trusted()),
        Err(broken.clone())
    );
    assert_eq!(
        verify_link(&first.manifest, &first, &trusted()),
        Err(broken.clone())
    );
    assert_eq!(
        verify_chain(&[first.clone(), third.clone()], &trusted()),
        Err(broken)
    );
    // An epoch whose window starts before the previous one ends, or the
    // same epoch id again, is out of order.
    for (epoch, week) in [("w0", 0), ("w2b", 0), ("w1", 1)] {
        let next = sealed_epoch(epoch, week, Some(&first));
        assert_eq!(
            verify_link(&next.manifest, &first, &trusted()),
            Err(Error::ChainOrder {
                previous: first.manifest.epoch.clone(),
                next: next.manifest.epoch.clone(),
            }),
            "{epoch}"
        );
    }
    // The previous manifest's seal must be trusted, and every seal in a chain.
    let stranger = SigningKey::from_seed(&[6; 32]);
    let foreign = seal(first.manifest.clone(), &stranger).unwrap();
    assert!(matches!(
        verify_link(&second.manifest, &foreign, &trusted()),
        Err(Error::UntrustedKey { .. })
    ));
    let mut forged = third.clone();
    forged.manifest.paid += 1;
    assert!(matches!(
        verify_chain(&[first, second, forged], &trusted()),
        Err(Error::BadSignature { .. })
    ));
}
