//! End to end against real Nutshell 0.21.0 mints on loopback
//! (`./scripts/services/nutshell start`): one without input fees
//! (TALLY_TEST_MINT_URL) and one with 100 ppk (TALLY_TEST_MINT_FEES_URL).
//! These tests fail, never skip, when a mint does not answer.

use std::sync::Arc;

use tally_cashu::Amount;
use tally_cashu::nuts::nut00::{BlindedOutput, MintUrl};
use tally_cashu::nuts::nut13::Seed;
use tally_cashu::secret::Secret;
use tally_wallet::Error;
use tally_wallet::client::{MintClient, SwapRequest};
use tally_wallet::store::{OperationKind, ProofState, SqliteStore, WalletStore};
use tally_wallet::wallet::{RecoveryReport, Wallet};

use crate::common::sqlite;
use crate::faults::Proxy;

async fn mint_at(var: &str, default: &str) -> MintUrl {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let url = MintUrl::new(&url).unwrap();
    if let Err(e) = MintClient::new(url.clone()).unwrap().info().await {
        panic!(
            "the test mint at {} ({var}) does not answer: {e}. \
             Start the mints with `./scripts/services/nutshell start` \
             (or set {var} to a running Nutshell mint).",
            url.as_str()
        );
    }
    url
}

pub async fn plain_mint() -> MintUrl {
    mint_at("TALLY_TEST_MINT_URL", "http://127.0.0.1:43338").await
}

pub async fn fees_mint() -> MintUrl {
    mint_at("TALLY_TEST_MINT_FEES_URL", "http://127.0.0.1:43339").await
}

/// A mint whose FakeWallet answers every payment `PENDING` (a later state
/// check finds it settled).
pub async fn pending_mint() -> MintUrl {
    mint_at("TALLY_TEST_MINT_PENDING_URL", "http://127.0.0.1:43350").await
}

/// A mint whose FakeWallet fails every payment.
pub async fn failed_mint() -> MintUrl {
    mint_at("TALLY_TEST_MINT_FAILED_URL", "http://127.0.0.1:43351").await
}

fn fresh_seed() -> Seed {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).unwrap();
    let words = bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string();
    Seed::from_mnemonic(&words, "").unwrap()
}

pub async fn fresh_wallet(mint: &MintUrl) -> (Wallet<SqliteStore>, tempfile::TempDir) {
    wallet(mint).await
}

async fn wallet(mint: &MintUrl) -> (Wallet<SqliteStore>, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    let w = Wallet::new(store, fresh_seed());
    w.add_mint(mint).await.unwrap();
    (w, dir)
}

pub async fn funded(mint: &MintUrl, amount: u64) -> (Wallet<SqliteStore>, tempfile::TempDir) {
    let (w, dir) = wallet(mint).await;
    let quote = w.mint_quote(mint, amount).await.unwrap();
    assert_eq!(w.mint(mint, &quote.id).await.unwrap(), amount);
    (w, dir)
}

#[tokio::test]
async fn mint_stores_proofs_whose_dleq_verifies_on_both_mints() {
    for mint in [plain_mint().await, fees_mint().await] {
        let (w, _dir) = funded(&mint, 100).await;
        let b = w.balance(&mint).await.unwrap();
        assert_eq!((b.unspent, b.reserved, b.pending), (100, 0, 0));
        let proofs = w.store().proofs(&mint, ProofState::Unspent).await.unwrap();
        assert_eq!(proofs.len(), 3, "100 = 64 + 32 + 4");
        for p in &proofs {
            let keyset = w.store().keyset(&p.proof.keyset_id).await.unwrap().unwrap();
            p.proof.verify_dleq(&keyset).unwrap();
        }
        // The mint agrees: all unspent.
        let report = w.check_state(&mint).await.unwrap();
        assert_eq!((report.checked, report.newly_spent), (3, 0));
        // The quote cannot be minted twice: a definitive refusal, nothing stored.
        let quote_id = w.store().history(1).await.unwrap()[0].operation.clone();
        let op = w.store().operation(&quote_id).await.unwrap().unwrap();
        assert_eq!(op.kind, OperationKind::Mint);
        // Nutshell supports NUT-20: the quote was locked to a key and the
        // mint request signed with it.
        assert!(
            MintClient::new(mint.clone())
                .unwrap()
                .info()
                .await
                .unwrap()
                .supports(20)
        );
        let quote = w
            .store()
            .quote(op.quote_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        // Locked by a key derived from the seed: the store holds only its
        // nonce.
        assert!(quote.key_nonce.is_some() && quote.signing_key.is_none());
        assert_eq!(quote.state, "ISSUED");
        let again = w
            .mint(&mint, op.quote_id.as_deref().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(again, Error::Mint { .. }), "{again}");
        assert_eq!(w.balance(&mint).await.unwrap().unspent, 100);
        assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn swap_pays_exactly_the_input_fee() {
    for (mint, ppk) in [(plain_mint().await, 0u64), (fees_mint().await, 100)] {
        let (w, _dir) = funded(&mint, 100).await;
        let send = w.swap(&mint, 37).await.unwrap();
        let sent: u64 = send.iter().map(|p| p.amount.value()).sum();
        assert_eq!(sent, 37);
        let entry = &w.store().history(1).await.unwrap()[0];
        assert_eq!(entry.kind, OperationKind::Swap);
        let fee = entry.amount_out - entry.amount_in;
        let inputs = w
            .store()
            .proofs(&mint, ProofState::Spent)
            .await
            .unwrap()
            .len() as u64;
        // NUT-02: ceil(inputs × ppk / 1000).
        assert_eq!(fee, (inputs * ppk).div_ceil(1000), "inputs {inputs}");
        let b = w.balance(&mint).await.unwrap();
        assert_eq!((b.unspent, b.reserved, b.pending), (100 - fee, 0, 0));
        // The spent inputs are spent at the mint; the new proofs are not.
        assert_eq!(w.check_state(&mint).await.unwrap().newly_spent, 0);
        assert!(w.swap(&mint, 10_000).await.is_err());
        assert_eq!(w.balance(&mint).await.unwrap().unspent, 100 - fee);
    }
}

#[tokio::test]
async fn check_state_marks_proofs_spent_elsewhere() {
    let mint = plain_mint().await;
    let (w, _dir) = funded(&mint, 8).await;
    let proof = w
        .store()
        .proofs(&mint, ProofState::Unspent)
        .await
        .unwrap()
        .remove(0);
    // Someone else holding the same proof spends it at the mint.
    let keyset = w
        .store()
        .keyset(&proof.proof.keyset_id)
        .await
        .unwrap()
        .unwrap();
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let r = tally_cashu::crypto::SecretKey::random(&mut getrandom::SysRng).unwrap();
    let output = BlindedOutput::new(
        Amount::new(8),
        keyset.id(),
        Secret::from_bytes_hex(&secret),
        r,
    )
    .unwrap();
    let mut input = proof.proof.clone();
    input.dleq = None;
    let request = SwapRequest {
        inputs: vec![input],
        outputs: vec![output.message().clone()],
    };
    MintClient::new(mint.clone())
        .unwrap()
        .swap(serde_json::to_string(&request).unwrap())
        .await
        .unwrap();
    let report = w.check_state(&mint).await.unwrap();
    assert_eq!(report.newly_spent, 1);
    assert_eq!(w.balance(&mint).await.unwrap().unspent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_swaps_never_pick_the_same_proofs() {
    let mint = plain_mint().await;
    let (w, _dir) = funded(&mint, 100).await;
    // Split into many small proofs first.
    let _ = w.swap(&mint, 15).await.unwrap();
    let w = Arc::new(w);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let w = Arc::clone(&w);
        let mint = mint.clone();
        tasks.push(tokio::spawn(async move { w.swap(&mint, 9).await }));
    }
    for t in tasks {
        // A double pick would make the mint refuse one swap (11001 spent).
        t.await.unwrap().unwrap();
    }
    let b = w.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.reserved, b.pending), (100, 0, 0));
    assert_eq!(w.check_state(&mint).await.unwrap().newly_spent, 0);
}

#[tokio::test]
async fn an_unreachable_mint_is_a_definitive_failure_that_releases_the_inputs() {
    let mint = plain_mint().await;
    let (w, _dir) = funded(&mint, 16).await;
    // The wallet's keysets for a mint that is down: copy them under a dead URL.
    let dead = MintUrl::new("http://127.0.0.1:9").unwrap();
    for info in w.store().keysets(&mint).await.unwrap() {
        let k = w.store().keyset(&info.id).await.unwrap().unwrap();
        w.store().put_keyset(&dead, &info, Some(&k)).await.unwrap();
    }
    let mut p = w
        .store()
        .proofs(&mint, ProofState::Unspent)
        .await
        .unwrap()
        .remove(0);
    p.mint = dead.clone();
    let mut other = p.proof.clone();
    other.secret = Secret::new(format!("{:064x}", 42)).unwrap();
    let moved =
        tally_wallet::store::StoredProof::new(dead.clone(), other, ProofState::Unspent, None)
            .unwrap();
    w.store().add_proofs(&[moved]).await.unwrap();
    let err = w.swap(&dead, 8).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err}");
    assert!(!err.is_ambiguous());
    assert_eq!(w.balance(&dead).await.unwrap().unspent, 16);
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_swap_whose_answer_is_lost_is_never_rolled_back_and_recover_finishes_it() {
    for (mint, fee) in [(plain_mint().await, 0), (fees_mint().await, 1)] {
        let proxy = Proxy::start(&mint).await;
        let (w, _dir) = funded(&proxy.url, 64).await;
        proxy.drop_answers(true);
        let err = w.swap(&proxy.url, 20).await.unwrap_err();
        assert!(err.is_ambiguous(), "{err}");
        // Not rolled back: the input stays pending, the operation sent.
        let b = w.balance(&proxy.url).await.unwrap();
        assert_eq!((b.unspent, b.reserved, b.pending), (0, 0, 64));
        assert_eq!(w.store().incomplete_operations().await.unwrap().len(), 1);
        // While the mint cannot be heard, recover changes nothing.
        assert_eq!(
            w.recover().await.unwrap(),
            RecoveryReport {
                finished: 0,
                failed: 0,
                unresolved: 1
            }
        );
        assert_eq!(w.balance(&proxy.url).await.unwrap().pending, 64);
        proxy.drop_answers(false);
        assert_eq!(
            w.recover().await.unwrap(),
            RecoveryReport {
                finished: 1,
                failed: 0,
                unresolved: 0
            }
        );
        let b = w.balance(&proxy.url).await.unwrap();
        assert_eq!((b.unspent, b.reserved, b.pending), (64 - fee, 0, 0));
        assert_eq!(w.check_state(&proxy.url).await.unwrap().newly_spent, 0);
        assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_mint_whose_answer_is_lost_is_recovered_without_minting_twice() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    let (w, _dir) = wallet(&proxy.url).await;
    let quote = w.mint_quote(&proxy.url, 50).await.unwrap();
    let counter_before = {
        let ks = w.store().keysets(&proxy.url).await.unwrap();
        w.store().next_counter(&ks[0].id).await.unwrap()
    };
    // The mint signs; the wallet never hears its answer.
    proxy.drop_answers_to(Some("POST /v1/mint/bolt11"));
    let err = w.mint(&proxy.url, &quote.id).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    proxy.drop_answers(false);
    assert_eq!(w.balance(&proxy.url).await.unwrap().unspent, 0);
    let report = w.recover().await.unwrap();
    assert_eq!(
        report,
        RecoveryReport {
            finished: 1,
            failed: 0,
            unresolved: 0
        }
    );
    assert_eq!(w.balance(&proxy.url).await.unwrap().unspent, 50);
    // The counters were reserved once, before the request left.
    let ks = w.store().keysets(&proxy.url).await.unwrap();
    assert!(w.store().next_counter(&ks[0].id).await.unwrap() > counter_before);
    // Recovering again finds nothing to do.
    assert_eq!(w.recover().await.unwrap(), RecoveryReport::default());
}

#[tokio::test]
async fn an_operation_prepared_but_never_sent_fails_on_recover_and_frees_its_inputs() {
    let mint = plain_mint().await;
    let (w, _dir) = funded(&mint, 32).await;
    let input = w
        .store()
        .proofs(&mint, ProofState::Unspent)
        .await
        .unwrap()
        .remove(0);
    let id = tally_wallet::store::OperationId::random().unwrap();
    w.store()
        .reserve_proofs(std::slice::from_ref(&input.y), &id)
        .await
        .unwrap();
    // A crash here, after the operation is written and before it is sent.
    let ks = w.store().keysets(&mint).await.unwrap();
    let op = tally_wallet::store::Operation {
        id: id.clone(),
        mint: mint.clone(),
        kind: OperationKind::Swap,
        state: tally_wallet::store::OperationState::Prepared,
        keyset_id: ks[0].id,
        counters: w.store().reserve_counters(&ks[0].id, 1).await.unwrap(),
        amounts: vec![32],
        request: "{}".into(),
        quote_id: None,
        created_s: 0,
        lock: None,
    };
    w.store().add_operation(&op).await.unwrap();
    assert_eq!(w.balance(&mint).await.unwrap().reserved, 32);
    assert_eq!(
        w.recover().await.unwrap(),
        RecoveryReport {
            finished: 0,
            failed: 1,
            unresolved: 0
        }
    );
    assert_eq!(w.balance(&mint).await.unwrap().unspent, 32);
}

#[tokio::test]
async fn a_lost_refusal_is_recovered_as_failed_and_spent_inputs_are_marked() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    let (w, _dir) = funded(&proxy.url, 8).await;
    let proof = w
        .store()
        .proofs(&proxy.url, ProofState::Unspent)
        .await
        .unwrap()
        .remove(0);
    // Someone else holding the same proof spends it first.
    let keyset = w
        .store()
        .keyset(&proof.proof.keyset_id)
        .await
        .unwrap()
        .unwrap();
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let r = tally_cashu::crypto::SecretKey::random(&mut getrandom::SysRng).unwrap();
    let output = BlindedOutput::new(
        Amount::new(8),
        keyset.id(),
        Secret::from_bytes_hex(&secret),
        r,
    )
    .unwrap();
    let mut input = proof.proof.clone();
    input.dleq = None;
    let request = SwapRequest {
        inputs: vec![input],
        outputs: vec![output.message().clone()],
    };
    MintClient::new(mint.clone())
        .unwrap()
        .swap(serde_json::to_string(&request).unwrap())
        .await
        .unwrap();
    // Our swap is refused (spent), but the refusal is lost: ambiguous.
    proxy.drop_answers_to(Some("POST /v1/swap"));
    let err = w.swap(&proxy.url, 3).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(w.balance(&proxy.url).await.unwrap().pending, 8);
    proxy.drop_answers(false);
    assert_eq!(
        w.recover().await.unwrap(),
        RecoveryReport {
            finished: 0,
            failed: 1,
            unresolved: 0
        }
    );
    let b = w.balance(&proxy.url).await.unwrap();
    assert_eq!((b.unspent, b.reserved, b.pending), (0, 0, 0));
    assert_eq!(
        w.store()
            .proofs(&proxy.url, ProofState::Spent)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// NUT-20 against Nutshell: a quote locked to a key is not minted without
/// the signature, nor with a signature over other outputs, nor by another
/// key (a definitive refusal each time, nothing signed); the signature
/// `tally_cashu::nuts::nut20` makes is accepted. The wallet locks every
/// quote when the mint offers NUT-20 (the quote echoes the key).
#[tokio::test]
async fn a_locked_quote_is_minted_only_with_its_nut20_signature() {
    use tally_cashu::crypto::SecretKey;
    use tally_cashu::nuts::nut20;
    use tally_wallet::client::MintRequest;
    let mint = plain_mint().await;
    let client = MintClient::new(mint.clone()).unwrap();
    assert!(client.info().await.unwrap().supports(20));
    let (w, _dir) = fresh_wallet(&mint).await;
    let locked = w.mint_quote(&mint, 4).await.unwrap();
    assert!(locked.key_nonce.is_some() && locked.signing_key.is_none());
    let key = SecretKey::random(&mut getrandom::SysRng).unwrap();
    let quote = client
        .mint_quote(4, "sat", Some(key.public_key().to_hex()))
        .await
        .unwrap();
    assert_eq!(quote.pubkey, Some(key.public_key().to_hex()));
    // Paid first, so that a refusal below can only be about the signature.
    while client.mint_quote_state(&quote.quote).await.unwrap().state != "PAID" {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let keyset = w
        .store()
        .keyset(
            &w.store()
                .keysets(&mint)
                .await
                .unwrap()
                .iter()
                .find(|k| k.active)
                .unwrap()
                .id,
        )
        .await
        .unwrap()
        .unwrap();
    let output = |amount: u64| {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).unwrap();
        let r = SecretKey::random(&mut getrandom::SysRng).unwrap();
        BlindedOutput::new(
            Amount::new(amount),
            keyset.id(),
            Secret::from_bytes_hex(&secret),
            r,
        )
        .unwrap()
        .message()
        .clone()
    };
    let outputs = vec![output(4)];
    let other_outputs = vec![output(4)];
    let mut aux = [0u8; 32];
    getrandom::fill(&mut aux).unwrap();
    let hex = |s: [u8; 64]| tally_encoding::hex::encode(&s);
    let stranger = SecretKey::random(&mut getrandom::SysRng).unwrap();
    for (what, signature) in [
        ("no signature", None),
        (
            "over other outputs",
            Some(hex(nut20::sign(&key, &quote.quote, &other_outputs, &aux))),
        ),
        (
            "by another key",
            Some(hex(nut20::sign(&stranger, &quote.quote, &outputs, &aux))),
        ),
    ] {
        let request = MintRequest {
            quote: quote.quote.clone(),
            outputs: outputs.clone(),
            signature,
        };
        let err = client
            .mint(serde_json::to_string(&request).unwrap())
            .await
            .unwrap_err();
        // 20008 (NUT-20), or Nutshell's 11000 catch-all naming the signature.
        assert!(
            matches!(&err, Error::Mint { code: 20008, .. })
                || matches!(&err, Error::Mint { detail, .. } if detail.to_lowercase().contains("signature")),
            "{what}: {err}"
        );
    }
    let request = MintRequest {
        quote: quote.quote.clone(),
        signature: Some(hex(nut20::sign(&key, &quote.quote, &outputs, &aux))),
        outputs,
    };
    let signed = client
        .mint(serde_json::to_string(&request).unwrap())
        .await
        .unwrap();
    assert_eq!(signed.len(), 1);
}

/// NUT-29 against Nutshell (which offers it): two NUT-20 locked quotes
/// minted in one request, each signed over every output; neither mints
/// again; bad batches are refused before anything leaves.
#[tokio::test]
async fn two_locked_quotes_are_minted_in_one_nut29_batch() {
    let mint = plain_mint().await;
    assert!(
        MintClient::new(mint.clone())
            .unwrap()
            .info()
            .await
            .unwrap()
            .supports(29)
    );
    let (w, _dir) = fresh_wallet(&mint).await;
    let a = w.mint_quote(&mint, 8).await.unwrap();
    let b = w.mint_quote(&mint, 16).await.unwrap();
    assert!(a.key_nonce.is_some() && b.key_nonce.is_some());
    for bad in [&[][..], &[a.id.as_str(), a.id.as_str()][..]] {
        let err = w.mint_batch(&mint, bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    assert_eq!(w.mint_batch(&mint, &[&a.id, &b.id]).await.unwrap(), 24);
    assert_eq!(w.balance(&mint).await.unwrap().unspent, 24);
    let entry = &w.store().history(1).await.unwrap()[0];
    assert_eq!(
        (entry.kind, entry.amount_in),
        (OperationKind::MintBatch, 24)
    );
    for id in [&a.id, &b.id] {
        assert_eq!(w.store().quote(id).await.unwrap().unwrap().state, "ISSUED");
        let err = w.mint(&mint, id).await.unwrap_err();
        assert!(matches!(err, Error::Mint { code: 20002, .. }), "{err}");
    }
    assert_eq!(crate::ops::assert_conserved(&w, &mint).await, 24);
}

/// A batch whose answer is lost stays sent (never rolled back) and
/// `recover` finishes it from the stored request: the mint refuses it
/// again, NUT-09 restore of the stored outputs returns the signatures.
#[tokio::test]
async fn a_nut29_batch_whose_answer_is_lost_is_finished_by_recover() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    let (w, _dir) = fresh_wallet(&proxy.url).await;
    let a = w.mint_quote(&proxy.url, 4).await.unwrap();
    let b = w.mint_quote(&proxy.url, 32).await.unwrap();
    proxy.drop_answers_to(Some("POST /v1/mint/bolt11/batch"));
    let err = w.mint_batch(&proxy.url, &[&a.id, &b.id]).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(w.balance(&proxy.url).await.unwrap().unspent, 0);
    proxy.drop_answers(false);
    assert_eq!(
        w.recover().await.unwrap(),
        RecoveryReport {
            finished: 1,
            ..RecoveryReport::default()
        }
    );
    assert_eq!(w.balance(&proxy.url).await.unwrap().unspent, 36);
    assert_eq!(crate::ops::assert_conserved(&w, &proxy.url).await, 36);
    // Both quotes are issued in the store, not only the batch's first (a
    // later mint of the second would otherwise be tried and refused).
    for id in [&a.id, &b.id] {
        let quote = w.store().quote(id).await.unwrap().unwrap();
        assert_eq!(quote.state, "ISSUED", "{id}");
    }
}

/// A locked quote's key is derived from the seed (the store holds only a
/// nonce): a thief with a copy of the quote's record but another seed
/// cannot mint it (the mint refuses the signature, nothing is stored),
/// while its owner can. A quote stored with its key (before derivation)
/// still mints. If the key were stored, or derived without the seed, the
/// thief's mint would succeed.
#[tokio::test]
async fn a_copied_quote_record_without_the_seed_cannot_be_minted() {
    use tally_cashu::crypto::SecretKey;
    use tally_wallet::store::MintQuote;
    let mint = plain_mint().await;
    let (owner, _dir) = fresh_wallet(&mint).await;
    let quote = owner.mint_quote(&mint, 8).await.unwrap();
    assert!(quote.key_nonce.is_some() && quote.signing_key.is_none());
    let record = owner.store().quote(&quote.id).await.unwrap().unwrap();
    let (thief, _dir2) = fresh_wallet(&mint).await;
    thief.store().put_quote(&record).await.unwrap();
    let err = thief.mint(&mint, &quote.id).await.unwrap_err();
    assert!(
        matches!(err, Error::Mint { .. }) && !err.is_ambiguous(),
        "{err}"
    );
    assert_eq!(thief.balance(&mint).await.unwrap().unspent, 0);
    assert_eq!(owner.mint(&mint, &quote.id).await.unwrap(), 8);
    // A quote stored with its key, as earlier versions did, still mints.
    let client = MintClient::new(mint.clone()).unwrap();
    let key = SecretKey::random(&mut getrandom::SysRng).unwrap();
    let r = client
        .mint_quote(4, "sat", Some(key.public_key().to_hex()))
        .await
        .unwrap();
    owner
        .store()
        .put_quote(&MintQuote {
            id: r.quote.clone(),
            mint: mint.clone(),
            amount: 4,
            unit: "sat".into(),
            request: r.request,
            state: r.state,
            expiry_s: r.expiry,
            signing_key: Some(key.to_secret_hex().to_string()),
            key_nonce: None,
        })
        .await
        .unwrap();
    assert_eq!(owner.mint(&mint, &r.quote).await.unwrap(), 4);
    assert_eq!(owner.balance(&mint).await.unwrap().unspent, 12);
}
