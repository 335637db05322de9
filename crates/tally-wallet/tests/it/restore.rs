//! Restore from the mnemonic (NUT-09 over NUT-13): against the real
//! Nutshell mints (V2 keysets, which is what Nutshell 0.21 issues), and
//! against a fake mint on loopback that serves a V1 (`00…`) keyset with
//! signatures made here, and lying ones.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tally_cashu::Amount;
use tally_cashu::crypto::{SecretKey, bdhke, dleq};
use tally_cashu::nuts::nut00::{BlindSignature, BlindedMessage, BlindedOutput, MintUrl};
use tally_cashu::nuts::nut02::KeysetId;
use tally_cashu::nuts::nut12::BlindSignatureDleq;
use tally_cashu::nuts::nut13::{self, Seed};
use tally_wallet::Error;
use tally_wallet::restore::{RestoreOptions, RestoreProgress, RestoreReport};
use tally_wallet::store::{MemoryStore, ProofState, SqliteStore, WalletStore};
use tally_wallet::wallet::Wallet;

use crate::common::{keyset, sqlite};
use crate::hostile::hostile;
use crate::mint::{fees_mint, plain_mint};

pub fn mnemonic() -> String {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).unwrap();
    bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string()
}

pub fn seed(words: &str) -> Seed {
    Seed::from_mnemonic(words, "").unwrap()
}

async fn unspent_ys<S: WalletStore>(w: &Wallet<S>, mint: &MintUrl) -> BTreeSet<String> {
    w.store()
        .proofs(mint, ProofState::Unspent)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.y)
        .collect()
}

async fn restore_quietly<S: WalletStore>(
    w: &Wallet<S>,
    mint: &MintUrl,
    options: RestoreOptions,
) -> (RestoreReport, Vec<RestoreProgress>) {
    let mut events = Vec::new();
    let report = w
        .restore(mint, options, &mut |p: &RestoreProgress| {
            events.push(p.clone())
        })
        .await
        .unwrap();
    (report, events)
}

/// Wallet A (mnemonic S) mints twice and swaps (spending some proofs); a
/// fresh store with S restores exactly A's unspent proofs, a second restore
/// adds nothing, and the restored wallet mints again without reusing a
/// counter (the mint would answer 11003).
#[tokio::test]
async fn restore_recovers_exactly_the_unspent_proofs_and_never_reuses_a_counter() {
    for mint in [plain_mint().await, fees_mint().await] {
        let words = mnemonic();
        let (store_a, _dir_a) = sqlite().await;
        let a = Wallet::new(store_a, seed(&words));
        a.add_mint(&mint).await.unwrap();
        for amount in [100, 27] {
            let quote = a.mint_quote(&mint, amount).await.unwrap();
            a.mint(&mint, &quote.id).await.unwrap();
        }
        a.swap(&mint, 37).await.unwrap();
        let expected = a.balance(&mint).await.unwrap().unspent;
        assert!(expected > 0 && expected <= 127);
        let spent = a.store().proofs(&mint, ProofState::Spent).await.unwrap();
        assert!(!spent.is_empty(), "the swap spent inputs");

        let (store_b, _dir_b) = sqlite().await;
        let b = Wallet::new(store_b, seed(&words));
        // Small batches, so that the scan crosses several batches and stops
        // on the empty ones.
        let options = RestoreOptions {
            batch_size: 4,
            empty_batches_to_stop: 2,
            batches_max: 100,
        };
        let (report, events) = restore_quietly(&b, &mint, options).await;
        assert_eq!(b.balance(&mint).await.unwrap().unspent, expected);
        assert_eq!(unspent_ys(&b, &mint).await, unspent_ys(&a, &mint).await);
        assert_eq!(report.amount_unspent(), expected);
        assert_eq!(report.amount_added(), expected);
        let ks = report.keysets.iter().find(|k| k.signed > 0).unwrap();
        assert_eq!(ks.spent, spent.len(), "the swap's inputs are found spent");
        assert!(!ks.truncated);
        assert_eq!(
            ks.next_counter,
            a.store().next_counter(&ks.id).await.unwrap(),
            "the counter moves past the last signed output"
        );
        // Batches: enough to cover the counters, then two empty ones.
        assert_eq!(u64::from(ks.batches), ks.next_counter.div_ceil(4) + 2);
        let batches = events
            .iter()
            .filter(|e| matches!(e, RestoreProgress::Batch { .. }))
            .count();
        let all_batches: u32 = report.keysets.iter().map(|k| k.batches).sum();
        assert_eq!(batches, all_batches as usize);
        assert!(matches!(
            events.first(),
            Some(RestoreProgress::Keyset { index: 0, .. })
        ));

        // Idempotent: nothing is added twice.
        let (again, _) = restore_quietly(&b, &mint, RestoreOptions::default()).await;
        assert_eq!(again.amount_added(), 0);
        assert_eq!(again.amount_unspent(), expected);
        assert_eq!(b.balance(&mint).await.unwrap().unspent, expected);

        // The restored wallet mints with fresh counters.
        let quote = b.mint_quote(&mint, 8).await.unwrap();
        assert_eq!(b.mint(&mint, &quote.id).await.unwrap(), 8);
        assert_eq!(b.balance(&mint).await.unwrap().unspent, expected + 8);
        // And spends what it restored.
        b.swap(&mint, expected).await.unwrap();
    }
}

#[tokio::test]
async fn a_wallet_that_never_minted_restores_nothing_and_keeps_its_counters() {
    let mint = plain_mint().await;
    let b = Wallet::new(MemoryStore::new(), seed(&mnemonic()));
    let (report, _) = restore_quietly(&b, &mint, RestoreOptions::default()).await;
    assert!(!report.keysets.is_empty());
    for k in &report.keysets {
        assert_eq!((k.signed, k.next_counter, k.batches), (0, 0, 3));
    }
    assert_eq!(b.balance(&mint).await.unwrap().unspent, 0);
}

#[tokio::test]
async fn restore_options_out_of_bounds_are_refused_before_any_request() {
    // The mint does not exist: a bound check must come first.
    let url = MintUrl::new("http://127.0.0.1:1").unwrap();
    let w = Wallet::new(MemoryStore::new(), seed(&mnemonic()));
    let ok = RestoreOptions::default();
    for bad in [
        RestoreOptions {
            batch_size: 0,
            ..ok
        },
        RestoreOptions {
            batch_size: tally_wallet::restore::BATCH_SIZE_MAX + 1,
            ..ok
        },
        RestoreOptions {
            empty_batches_to_stop: 0,
            ..ok
        },
        RestoreOptions {
            empty_batches_to_stop: tally_wallet::restore::EMPTY_BATCHES_MAX + 1,
            ..ok
        },
        RestoreOptions {
            batches_max: 0,
            ..ok
        },
        RestoreOptions {
            batches_max: tally_wallet::restore::BATCHES_MAX + 1,
            ..ok
        },
    ] {
        let err = w.restore(&url, bad, &mut |_: &RestoreProgress| {}).await;
        assert!(matches!(err, Err(Error::InvalidArgument(_))), "{bad:?}");
    }
    // At the bounds: accepted (and then the mint is unreachable).
    let edge = RestoreOptions {
        batch_size: tally_wallet::restore::BATCH_SIZE_MAX,
        empty_batches_to_stop: tally_wallet::restore::EMPTY_BATCHES_MAX,
        batches_max: tally_wallet::restore::BATCHES_MAX,
    };
    let err = w.restore(&url, edge, &mut |_: &RestoreProgress| {}).await;
    assert!(matches!(err, Err(Error::Unreachable(_))), "{err:?}");
}

/// A fake mint with one V1 keyset (`common::keyset(9, 8)`, private keys
/// known here) that signed the outputs at `signed` (counter, amount) of
/// `seed`, served in the order the wallet asks: the first restore request
/// gets the signatures for counters below `batch`, the second those below
/// `2 × batch`, and so on. `lie` alters the signatures it serves.
struct FakeV1 {
    url: MintUrl,
    id: KeysetId,
}

#[derive(Clone, Copy)]
enum Lie {
    None,
    /// Claims another amount (the DLEQ proof then fails).
    Amount,
    /// Leaves out the DLEQ proof.
    NoDleq,
    /// Answers an output that was not asked for.
    Unasked,
}

fn mint_key(seed_byte: u8, amount: u64) -> SecretKey {
    let mut bytes = [seed_byte; 32];
    bytes[31] = u8::try_from(amount.trailing_zeros() + 1).unwrap();
    SecretKey::from_bytes(bytes).unwrap()
}

async fn fake_v1(seed: &Seed, signed: &[(u64, u64)], batch: u64, lie: Lie, spent: u64) -> FakeV1 {
    let ks = keyset(9, 8);
    let id = ks.id();
    assert_eq!(id.version(), Some(0), "a V1 keyset id");
    let mut batches: Vec<(Vec<BlindedMessage>, Vec<BlindSignature>)> = Vec::new();
    let mut ys = Vec::new();
    for &(counter, amount) in signed {
        let (secret, r) = nut13::derive(seed, &id, counter).unwrap();
        let output = BlindedOutput::new(Amount::new(amount), id, secret.clone(), r).unwrap();
        let mut message = output.message().clone();
        let k = mint_key(9, amount);
        let c = bdhke::sign(&k, &message.blinded).unwrap();
        let proof = dleq::create(&k, &message.blinded, &c).unwrap();
        let mut sig = BlindSignature {
            amount: Amount::new(amount),
            keyset_id: id,
            signature: c,
            dleq: Some(BlindSignatureDleq {
                e: proof.e,
                s: proof.s,
            }),
        };
        match lie {
            Lie::None => {}
            Lie::Amount => sig.amount = Amount::new(amount * 2),
            Lie::NoDleq => sig.dleq = None,
            Lie::Unasked => message.blinded = SecretKey::from_bytes([5; 32]).unwrap().public_key(),
        }
        let slot = usize::try_from(counter / batch).unwrap();
        while batches.len() <= slot {
            batches.push((Vec::new(), Vec::new()));
        }
        batches[slot].0.push(message);
        batches[slot].1.push(sig);
        let y = tally_cashu::crypto::hash_to_curve(secret.as_bytes())
            .unwrap()
            .to_hex();
        let state = if counter == spent { "SPENT" } else { "UNSPENT" };
        ys.push(format!(r#"{{"Y":"{y}","state":"{state}"}}"#));
    }
    let keysets = format!(
        r#"{{"keysets":[{}]}}"#,
        serde_json::to_string(ks.info()).unwrap()
    );
    let keys = format!(r#"{{"keysets":[{}]}}"#, ks.to_json().unwrap());
    let states = format!(r#"{{"states":[{}]}}"#, ys.join(","));
    let restores: Vec<String> = batches
        .iter()
        .map(|(o, s)| {
            format!(
                r#"{{"outputs":{},"signatures":{}}}"#,
                serde_json::to_string(o).unwrap(),
                serde_json::to_string(s).unwrap()
            )
        })
        .collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let keys_path = format!("GET /v1/keys/{}", id.to_hex());
    let url = hostile(Arc::new(move |line: &str| {
        if line.starts_with("GET /v1/keysets") {
            (200, keysets.clone().into_bytes())
        } else if line.starts_with(&keys_path) {
            (200, keys.clone().into_bytes())
        } else if line.starts_with("POST /v1/restore") {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let body = restores
                .get(n)
                .cloned()
                .unwrap_or_else(|| r#"{"outputs":[],"signatures":[]}"#.to_owned());
            (200, body.into_bytes())
        } else if line.starts_with("POST /v1/checkstate") {
            (200, states.clone().into_bytes())
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    FakeV1 { url, id }
}

#[tokio::test]
async fn a_v1_keyset_restores_by_its_bip32_derivation_across_a_gap() {
    let words = mnemonic();
    // Counters 0, 1, 2 and (after a gap) 5; counter 1 is spent.
    let signed = [(0, 1), (1, 2), (2, 4), (5, 8)];
    let fake = fake_v1(&seed(&words), &signed, 4, Lie::None, 1).await;
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed(&words));
    let options = RestoreOptions {
        batch_size: 4,
        empty_batches_to_stop: 2,
        batches_max: 10,
    };
    let (report, events) = restore_quietly(&w, &fake.url, options).await;
    let k = &report.keysets[0];
    assert_eq!(k.id, fake.id);
    assert_eq!((k.signed, k.unspent, k.spent, k.pending), (4, 3, 1, 0));
    assert_eq!((k.amount_unspent, k.amount_added), (13, 13));
    assert_eq!((k.next_counter, k.batches, k.truncated), (6, 4, false));
    assert_eq!(w.store().next_counter(&fake.id).await.unwrap(), 6);
    assert_eq!(w.balance(&fake.url).await.unwrap().unspent, 13);
    assert_eq!(events.len(), 1 + 4);
    // Every stored proof carries its DLEQ proof and verifies offline.
    let ks = keyset(9, 8);
    for p in w
        .store()
        .proofs(&fake.url, ProofState::Unspent)
        .await
        .unwrap()
    {
        p.proof.verify_dleq(&ks).unwrap();
    }
}

#[tokio::test]
async fn a_restore_that_stops_at_its_batch_bound_says_so() {
    let words = mnemonic();
    let fake = fake_v1(&seed(&words), &[(0, 1), (1, 2)], 4, Lie::None, 99).await;
    let w = Wallet::new(MemoryStore::new(), seed(&words));
    let options = RestoreOptions {
        batch_size: 4,
        empty_batches_to_stop: 2,
        batches_max: 1,
    };
    let (report, _) = restore_quietly(&w, &fake.url, options).await;
    let k = &report.keysets[0];
    assert_eq!(
        (k.batches, k.signed, k.truncated, k.next_counter),
        (1, 2, true, 2)
    );
}

#[tokio::test]
async fn lying_restore_answers_store_nothing() {
    for lie in [Lie::Amount, Lie::NoDleq, Lie::Unasked] {
        let words = mnemonic();
        let fake = fake_v1(&seed(&words), &[(0, 1), (1, 2)], 100, lie, 99).await;
        let w = Wallet::new(MemoryStore::new(), seed(&words));
        let err = w
            .restore(
                &fake.url,
                RestoreOptions::default(),
                &mut |_: &RestoreProgress| {},
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidResponse(_) | Error::Cashu(_)),
            "{err}"
        );
        assert_eq!(w.balance(&fake.url).await.unwrap().unspent, 0);
        assert_eq!(w.store().next_counter(&fake.id).await.unwrap(), 0);
    }
}

/// A fresh SQLite wallet with the seed of `words`, restored at `mint`.
pub async fn restored(
    mint: &MintUrl,
    words: &str,
) -> (Wallet<SqliteStore>, RestoreReport, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    let w = Wallet::new(store, seed(words));
    let (report, _) = restore_quietly(&w, mint, RestoreOptions::default()).await;
    (w, report, dir)
}
