//! Locked sends (NUT-11 P2PK, NUT-14 HTLC, NUT-28 P2BK) against the real
//! Nutshell mints: the token's proofs carry the lock, the right key or
//! preimage receives them, a wrong one is refused by the wallet before
//! anything is sent and, when the wallet lets the mint decide, by the mint
//! itself — with nothing changed: the receiver's balance, and the token's
//! proofs still unspent and still receivable with the right key. The
//! sender reclaims after the locktime with its refund key, not before.

use tally_cashu::crypto::SecretKey;
use tally_cashu::crypto::hash_to_curve;
use tally_cashu::nuts::nut00::MintUrl;
use tally_cashu::nuts::nut02::KeySetInfo;
use tally_cashu::nuts::nut10::{Kind, Nut10Secret};
use tally_cashu::nuts::nut11::{SigFlag, SpendingConditions};
use tally_cashu::secret::Preimage;
use tally_cashu::token::{Token, TokenProof};
use tally_wallet::client::MintClient;
use tally_wallet::lock::{SendLock, Unlock};
use tally_wallet::receive::ReceiveOptions;
use tally_wallet::send::{SendOptions, SentRef};
use tally_wallet::store::{ProofState, SentTokenState, SqliteStore, WalletStore};
use tally_wallet::wallet::Wallet;
use tally_wallet::{Error, Refusal};

use crate::faults::Proxy;
use crate::mint::{fees_mint, fresh_wallet, funded, plain_mint};
use crate::ops::assert_conserved;

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32]).unwrap()
}

fn ppk_fee(inputs: u64, ppk: u64) -> u64 {
    (inputs * ppk).div_ceil(1000)
}

async fn both() -> [(MintUrl, u64); 2] {
    [(plain_mint().await, 0), (fees_mint().await, 100)]
}

fn locked(lock: SendLock) -> SendOptions {
    SendOptions {
        lock: Some(lock),
        ..SendOptions::default()
    }
}

/// The token's proofs as written.
fn proofs_of(token: &str) -> Vec<TokenProof> {
    Token::decode(token).unwrap().proofs().to_vec()
}

/// Asks the mint for the states of the token's proofs.
async fn states(mint: &MintUrl, token: &str) -> Vec<String> {
    let ys: Vec<String> = proofs_of(token)
        .iter()
        .map(|p| hash_to_curve(p.secret.as_bytes()).unwrap().to_hex())
        .collect();
    MintClient::new(mint.clone())
        .unwrap()
        .check_state(&ys)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.state)
        .collect()
}

/// The next NUT-13 counter of the wallet's first keyset at `mint`.
async fn next_counter(w: &Wallet<SqliteStore>, mint: &MintUrl) -> u64 {
    let ks: Vec<KeySetInfo> = w.store().keysets(mint).await.unwrap();
    let active = ks.iter().find(|k| k.active).unwrap();
    w.store().next_counter(&active.id).await.unwrap()
}

/// What must hold after a refused receive: nothing held, nothing pending,
/// no history, the token's proofs unspent at the mint.
async fn assert_untouched(w: &Wallet<SqliteStore>, mint: &MintUrl, token: &str) {
    let b = w.balance(mint).await.unwrap();
    assert_eq!((b.unspent, b.reserved, b.pending, b.sent), (0, 0, 0, 0));
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    assert!(w.store().history(10).await.unwrap().is_empty());
    assert!(states(mint, token).await.iter().all(|s| s == "UNSPENT"));
}

#[tokio::test]
async fn a_p2pk_send_is_received_with_the_right_key_and_a_wrong_key_is_refused_by_the_mint() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 64).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let (bob_key, wrong) = (key(0x21), key(0x22));
        let sent = alice
            .send(&mint, 20, &locked(SendLock::p2pk(bob_key.public_key())))
            .await
            .unwrap();
        assert!(sent.swapped);
        assert_eq!(sent.amount, 20);
        // Every proof of the token is locked to Bob's key (SIG_INPUTS).
        for p in proofs_of(&sent.token) {
            let secret = Nut10Secret::from_secret(&p.secret).unwrap().unwrap();
            assert_eq!(secret.kind, Kind::P2pk);
            assert_eq!(secret.data, bob_key.public_key().to_hex());
            assert_eq!(secret.nonce.len(), 64);
        }
        let b = alice.balance(&mint).await.unwrap();
        assert_eq!(b.sent, 20);
        assert_conserved(&alice, &mint).await;
        let receive = ReceiveOptions::default();
        // Without keys: refused as locked; with a wrong key: refused by the
        // wallet's own check; neither uses a counter or reaches the swap.
        let before = next_counter(&bob, &mint).await;
        let err = bob.receive(&sent.token, &receive).await.unwrap_err();
        assert!(matches!(err, Error::TokenRefused(Refusal::Locked)), "{err}");
        let err = bob
            .receive_with(&sent.token, &receive, &Unlock::keys(vec![wrong.clone()]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
            "{err}"
        );
        assert_eq!(next_counter(&bob, &mint).await, before);
        assert_untouched(&bob, &mint, &sent.token).await;
        // Letting the mint decide: the wrong key's signatures reach the mint,
        // which refuses them (NUT-11: witness not verified), definitively.
        let mint_decides = Unlock {
            mint_decides: true,
            ..Unlock::keys(vec![wrong])
        };
        let err = bob
            .receive_with(&sent.token, &receive, &mint_decides)
            .await
            .unwrap_err();
        assert!(err.is_witness_refused(), "ppk {ppk}: {err:?}");
        assert!(!err.is_ambiguous());
        assert_untouched(&bob, &mint, &sent.token).await;
        // The right key receives it.
        let got = bob
            .receive_with(&sent.token, &receive, &Unlock::keys(vec![bob_key]))
            .await
            .unwrap();
        let inputs = u64::try_from(proofs_of(&sent.token).len()).unwrap();
        assert_eq!(got, 20 - ppk_fee(inputs, ppk));
        assert_eq!(assert_conserved(&bob, &mint).await, got);
        assert!(
            states(&mint, &sent.token)
                .await
                .iter()
                .all(|s| s == "SPENT")
        );
        // Alice learns it was redeemed.
        assert_eq!(
            alice.check_state(&mint).await.unwrap().redeemed,
            usize::try_from(inputs).unwrap()
        );
        assert_eq!(alice.balance(&mint).await.unwrap().sent, 0);
        assert_conserved(&alice, &mint).await;
    }
}

#[tokio::test]
async fn an_htlc_send_is_received_with_the_preimage_and_a_wrong_preimage_is_refused_by_the_mint() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 64).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let preimage = Preimage::random(&mut getrandom::SysRng).unwrap();
        let wrong = Preimage::new([0x5a; 32]);
        let sent = alice
            .send(&mint, 12, &locked(SendLock::htlc(preimage.hash())))
            .await
            .unwrap();
        for p in proofs_of(&sent.token) {
            let c = SpendingConditions::from_secret(&p.secret).unwrap().unwrap();
            assert!(tally_cashu::nuts::nut14::preimage_matches(&c, &preimage));
        }
        let receive = ReceiveOptions::default();
        let err = bob
            .receive_with(
                &sent.token,
                &receive,
                &Unlock::preimage(wrong.clone(), vec![]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
            "{err}"
        );
        let mint_decides = Unlock {
            mint_decides: true,
            ..Unlock::preimage(wrong, vec![])
        };
        let err = bob
            .receive_with(&sent.token, &receive, &mint_decides)
            .await
            .unwrap_err();
        assert!(err.is_witness_refused(), "ppk {ppk}: {err:?}");
        assert_untouched(&bob, &mint, &sent.token).await;
        let got = bob
            .receive_with(&sent.token, &receive, &Unlock::preimage(preimage, vec![]))
            .await
            .unwrap();
        let inputs = u64::try_from(proofs_of(&sent.token).len()).unwrap();
        assert_eq!(got, 12 - ppk_fee(inputs, ppk));
        assert_eq!(assert_conserved(&bob, &mint).await, got);
        assert!(alice.check_state(&mint).await.unwrap().redeemed > 0);
        assert_conserved(&alice, &mint).await;
    }
}

#[tokio::test]
async fn an_htlc_naming_a_key_needs_the_preimage_and_that_key() {
    let mint = plain_mint().await;
    let (alice, _a) = funded(&mint, 32).await;
    let (bob, _b) = fresh_wallet(&mint).await;
    let bob_key = key(0x31);
    let preimage = Preimage::new([0x44; 32]);
    let mut lock = SendLock::htlc(preimage.hash());
    lock.conditions.conditions.pubkeys = vec![bob_key.public_key()];
    let sent = alice.send(&mint, 8, &locked(lock)).await.unwrap();
    let receive = ReceiveOptions::default();
    // The preimage alone does not do (checked by the wallet, then the mint).
    let err = bob
        .receive_with(
            &sent.token,
            &receive,
            &Unlock::preimage(preimage.clone(), vec![]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
        "{err}"
    );
    let mint_decides = Unlock {
        mint_decides: true,
        ..Unlock::preimage(preimage.clone(), vec![])
    };
    let err = bob
        .receive_with(&sent.token, &receive, &mint_decides)
        .await
        .unwrap_err();
    assert!(err.is_witness_refused(), "{err:?}");
    assert_untouched(&bob, &mint, &sent.token).await;
    let got = bob
        .receive_with(
            &sent.token,
            &receive,
            &Unlock::preimage(preimage, vec![bob_key]),
        )
        .await
        .unwrap();
    assert_eq!(got, 8);
    assert_conserved(&bob, &mint).await;
}

#[tokio::test]
async fn a_locked_send_is_reclaimed_with_the_refund_key_after_its_locktime_only() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 64).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let (alice_key, bob_key) = (key(0x41), key(0x42));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let locktime = now + 10;
        let lock = SendLock::p2pk(bob_key.public_key())
            .with_refund(locktime, vec![alice_key.public_key()]);
        let sent = alice.send(&mint, 20, &locked(lock)).await.unwrap();
        // An HTLC with the same refund pathway.
        let htlc = SendLock::htlc(Preimage::new([0x77; 32]).hash())
            .with_refund(locktime, vec![alice_key.public_key()]);
        let htlc = alice.send(&mint, 8, &locked(htlc)).await.unwrap();
        let refund = Unlock::keys(vec![alice_key.clone()]);
        let err = alice
            .reclaim_with(SentRef::Id(&htlc.id), &refund)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
            "{err}"
        );
        // Before the locktime: the wallet refuses, and so does the mint;
        // the proofs stay given out (sent), not spendable by Alice.
        let err = alice
            .reclaim_with(SentRef::Id(&sent.id), &refund)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
            "{err}"
        );
        let early = Unlock {
            mint_decides: true,
            ..refund.clone()
        };
        let err = alice
            .reclaim_with(SentRef::Id(&sent.id), &early)
            .await
            .unwrap_err();
        assert!(err.is_witness_refused(), "ppk {ppk}: {err:?}");
        let b = alice.balance(&mint).await.unwrap();
        assert_eq!((b.sent, b.reserved, b.pending), (28, 0, 0));
        assert_conserved(&alice, &mint).await;
        // Plain reclaim (no keys) cannot move them either.
        let err = alice.reclaim(SentRef::Id(&sent.id)).await.unwrap_err();
        assert!(matches!(err, Error::TokenRefused(Refusal::Locked)), "{err}");
        // After the locktime (the mint's clock is this machine's).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            now < locktime,
            "the steps before the locktime took too long"
        );
        tokio::time::sleep(std::time::Duration::from_secs(locktime + 2 - now)).await;
        let report = alice
            .reclaim_with(SentRef::Id(&sent.id), &refund)
            .await
            .unwrap();
        let inputs = u64::try_from(proofs_of(&sent.token).len()).unwrap();
        assert_eq!(report.reclaimed, 20 - ppk_fee(inputs, ppk));
        let t = alice.store().sent_token(&sent.id).await.unwrap().unwrap();
        assert_eq!(t.state, SentTokenState::Reclaimed);
        let report = alice
            .reclaim_with(SentRef::Id(&htlc.id), &refund)
            .await
            .unwrap();
        let inputs = u64::try_from(proofs_of(&htlc.token).len()).unwrap();
        assert_eq!(report.reclaimed, 8 - ppk_fee(inputs, ppk));
        assert!(
            alice
                .store()
                .proofs(&mint, ProofState::Sent)
                .await
                .unwrap()
                .is_empty()
        );
        assert_conserved(&alice, &mint).await;
        // Bob's key comes too late.
        let err = bob
            .receive_with(
                &sent.token,
                &ReceiveOptions::default(),
                &Unlock::keys(vec![bob_key]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TokenRefused(Refusal::Spent)), "{err}");
    }
}

#[tokio::test]
async fn a_p2bk_send_hides_the_key_and_is_received_with_it() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 64).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let bob_key = key(0x51);
        let sent = alice
            .send(
                &mint,
                20,
                &locked(SendLock::p2pk(bob_key.public_key()).blinded()),
            )
            .await
            .unwrap();
        // The mint sees blinded keys only, a different one per proof; each
        // proof carries its ephemeral key.
        let proofs = proofs_of(&sent.token);
        let mut seen = Vec::new();
        for p in &proofs {
            let secret = Nut10Secret::from_secret(&p.secret).unwrap().unwrap();
            assert_ne!(secret.data, bob_key.public_key().to_hex());
            assert!(!seen.contains(&secret.data));
            seen.push(secret.data);
            assert!(p.p2pk_e.is_some());
        }
        let receive = ReceiveOptions::default();
        let err = bob
            .receive_with(&sent.token, &receive, &Unlock::keys(vec![key(0x52)]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
            "{err}"
        );
        let got = bob
            .receive_with(&sent.token, &receive, &Unlock::keys(vec![bob_key]))
            .await
            .unwrap();
        let inputs = u64::try_from(proofs.len()).unwrap();
        assert_eq!(got, 20 - ppk_fee(inputs, ppk));
        assert_conserved(&bob, &mint).await;
        assert_eq!(
            alice.check_state(&mint).await.unwrap().redeemed,
            proofs.len()
        );
        assert_conserved(&alice, &mint).await;
    }
}

#[tokio::test]
async fn a_sig_all_p2pk_send_is_received_with_one_signature_over_the_swap() {
    let mint = plain_mint().await;
    let (alice, _a) = funded(&mint, 64).await;
    let (bob, _b) = fresh_wallet(&mint).await;
    let bob_key = key(0x61);
    let mut lock = SendLock::p2pk(bob_key.public_key());
    lock.conditions.conditions.sig_flag = SigFlag::SigAll;
    let sent = alice.send(&mint, 20, &locked(lock)).await.unwrap();
    let got = bob
        .receive_with(
            &sent.token,
            &ReceiveOptions::default(),
            &Unlock::keys(vec![bob_key]),
        )
        .await
        .unwrap();
    assert_eq!(got, 20);
    assert_conserved(&bob, &mint).await;
}

#[tokio::test]
async fn a_locked_send_whose_answer_is_lost_is_finished_by_recover_with_the_same_lock() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    let (alice, _a) = funded(&proxy.url, 64).await;
    let bob_key = key(0x71);
    proxy.drop_answers_to(Some("POST /v1/swap"));
    let err = alice
        .send(
            &proxy.url,
            20,
            &locked(SendLock::p2pk(bob_key.public_key()).blinded()),
        )
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    proxy.drop_answers(false);
    // The lock was stored with the operation before the swap left: recover
    // re-derives the very outputs the mint signed.
    assert_eq!(alice.recover().await.unwrap().finished, 1);
    let token = alice.unredeemed(&proxy.url).await.unwrap().remove(0);
    assert_eq!(token.amount, 20);
    assert_conserved(&alice, &proxy.url).await;
    let (bob, _b) = fresh_wallet(&proxy.url).await;
    let got = bob
        .receive_with(
            &token.token,
            &ReceiveOptions::default(),
            &Unlock::keys(vec![bob_key]),
        )
        .await
        .unwrap();
    assert_eq!(got, 20);
    assert_conserved(&bob, &proxy.url).await;
}

#[tokio::test]
async fn a_lock_is_refused_where_it_cannot_work() {
    let mint = plain_mint().await;
    let (alice, _a) = funded(&mint, 8).await;
    let lock = SendLock::p2pk(key(0x81).public_key());
    // Offline sends use held (plain) proofs: no lock possible.
    let options = SendOptions {
        offline_only: true,
        ..locked(lock.clone())
    };
    assert!(matches!(
        alice.send(&mint, 8, &options).await,
        Err(Error::InvalidArgument(_))
    ));
    // n_sigs above the keys named: a mint would refuse to spend it.
    let mut bad = lock.clone();
    bad.conditions.conditions.n_sigs = Some(2);
    assert!(matches!(
        alice.send(&mint, 4, &locked(bad)).await,
        Err(Error::InvalidArgument(_))
    ));
    // More keys than fit in a secret the mint accepts.
    let mut big = lock;
    big.conditions.conditions.pubkeys = (1..=40).map(|i| key(i).public_key()).collect();
    assert!(matches!(
        alice.send(&mint, 4, &locked(big)).await,
        Err(Error::InvalidArgument(_))
    ));
    // Nothing moved.
    assert_eq!(alice.balance(&mint).await.unwrap().unspent, 8);
    // Refusals of another class are not taken for a witness refusal.
    for (code, detail) in [
        (11000, "Transaction is not balanced."),
        (11001, "Token already spent."),
    ] {
        let other = Error::Mint {
            code,
            detail: detail.into(),
        };
        assert!(!other.is_witness_refused(), "{other}");
    }
    assert!(
        alice
            .store()
            .incomplete_operations()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_refused_reclaim_resolved_by_recover_gives_the_locked_proofs_back_to_the_token() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    let (alice, _a) = funded(&proxy.url, 64).await;
    let (alice_key, bob_key) = (key(0x91), key(0x92));
    let lock = SendLock::p2pk(bob_key.public_key())
        .with_refund(u64::MAX / 2, vec![alice_key.public_key()]);
    let sent = alice.send(&proxy.url, 20, &locked(lock)).await.unwrap();
    // A reclaim before the locktime the mint refuses, its answer lost:
    // ambiguous, the proofs pending until recover resolves it.
    let early = Unlock {
        mint_decides: true,
        ..Unlock::keys(vec![alice_key])
    };
    proxy.drop_answers_to(Some("POST /v1/swap"));
    let err = alice
        .reclaim_with(SentRef::Id(&sent.id), &early)
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(alice.balance(&proxy.url).await.unwrap().pending, 20);
    proxy.drop_answers(false);
    // The mint refuses the resent swap and signed none of its outputs:
    // the operation failed, and the locked proofs go back to the token,
    // not to the spendable balance.
    assert_eq!(alice.recover().await.unwrap().failed, 1);
    let b = alice.balance(&proxy.url).await.unwrap();
    assert_eq!((b.unspent, b.sent, b.pending), (44, 20, 0));
    assert_eq!(alice.unredeemed(&proxy.url).await.unwrap()[0].id, sent.id);
    assert_conserved(&alice, &proxy.url).await;
    // Still Bob's to receive.
    let (bob, _b) = fresh_wallet(&proxy.url).await;
    let got = bob
        .receive_with(
            &sent.token,
            &ReceiveOptions::default(),
            &Unlock::keys(vec![bob_key]),
        )
        .await
        .unwrap();
    assert_eq!(got, 20);
}

/// Nutshell 0.21.0's own wallet (`cashu`, from the virtualenv
/// `scripts/services/nutshell` caches) with its own throw-away HOME, at
/// `mint`.
struct NutshellWallet {
    cashu: std::path::PathBuf,
    home: tempfile::TempDir,
    mint: MintUrl,
}

impl NutshellWallet {
    fn new(mint: &MintUrl) -> Self {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache")
            });
        let cashu = std::fs::read_dir(cache.join("tally"))
            .expect("the Nutshell virtualenv (run scripts/services/nutshell start)")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("nutshell-0.21.0-"))
            })
            .expect("the Nutshell 0.21.0 virtualenv")
            .join("bin/cashu");
        Self {
            cashu,
            home: crate::common::private_dir(),
            mint: mint.clone(),
        }
    }

    /// Runs `cashu ARGS…` from its home (no `.env` read but its own) and
    /// returns stdout; panics on failure.
    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(&self.cashu)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.home.path())
            .env("MINT_URL", self.mint.as_str())
            .current_dir(self.home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "cashu {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The word after `marker` in `text`.
    fn after<'a>(text: &'a str, marker: &str) -> &'a str {
        let rest = &text[text
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} in {text}"))
            + marker.len()..];
        rest.split_whitespace().next().unwrap()
    }

    fn balance(&self) -> u64 {
        Self::after(&self.run(&["balance"]), "Balance:")
            .parse()
            .unwrap()
    }
}

#[tokio::test]
async fn p2pk_tokens_cross_between_nutshells_wallet_and_ours_both_ways() {
    let mint = plain_mint().await;
    let nutshell = NutshellWallet::new(&mint);
    let quote = nutshell.run(&["invoice", "64", "--no-check"]);
    let id = NutshellWallet::after(&quote, "--id").to_owned();
    nutshell.run(&["invoice", "64", "--id", &id]);
    assert_eq!(nutshell.balance(), 64);
    // Nutshell locks to our key (its default adds a locktime a day ahead).
    let (bob, _b) = fresh_wallet(&mint).await;
    let bob_key = key(0xb1);
    let lock = format!("P2PK:{}", bob_key.public_key().to_hex());
    let out = nutshell.run(&["send", "10", "--dleq", "--lock", &lock]);
    let token = out
        .lines()
        .find(|l| l.starts_with("cashuB"))
        .unwrap()
        .to_owned();
    let receive = ReceiveOptions::default();
    let err = bob
        .receive_with(&token, &receive, &Unlock::keys(vec![key(0xb2)]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TokenRefused(Refusal::LockNotSatisfied)),
        "{err}"
    );
    let got = bob
        .receive_with(&token, &receive, &Unlock::keys(vec![bob_key]))
        .await
        .unwrap();
    assert_eq!(got, 10);
    assert_conserved(&bob, &mint).await;
    // We lock to Nutshell's key; its wallet receives with its own key.
    let theirs = NutshellWallet::after(&nutshell.run(&["lock", "p2pk"]), "P2PK:").to_owned();
    let theirs = tally_cashu::crypto::PublicKey::from_hex(&theirs).unwrap();
    let before = nutshell.balance();
    let sent = bob
        .send(&mint, 8, &locked(SendLock::p2pk(theirs)))
        .await
        .unwrap();
    nutshell.run(&["receive", &sent.token]);
    assert_eq!(nutshell.balance(), before + 8);
    assert_eq!(
        bob.check_state(&mint).await.unwrap().redeemed,
        proofs_of(&sent.token).len()
    );
    assert_conserved(&bob, &mint).await;
}

/// Plain tokens, both encodings, both directions: Nutshell's wallet sends
/// V4 (`cashuB`) and V3 (`cashuA`, its `--legacy`) tokens with DLEQ proofs
/// and ours receives them (verifying the DLEQ, expanding V4's short keyset
/// ids); ours sends V4 and V3 and Nutshell's wallet receives them. Fails if
/// either decoder, either encoder or the keyset-id expansion disagreed with
/// Nutshell's: a receive errs or a balance is off.
#[tokio::test]
async fn plain_v3_and_v4_tokens_cross_between_nutshells_wallet_and_ours_both_ways() {
    let mint = plain_mint().await;
    let nutshell = NutshellWallet::new(&mint);
    let quote = nutshell.run(&["invoice", "64", "--no-check"]);
    let id = NutshellWallet::after(&quote, "--id").to_owned();
    nutshell.run(&["invoice", "64", "--id", &id]);
    assert_eq!(nutshell.balance(), 64);
    let (ours, _o) = fresh_wallet(&mint).await;
    let mut received = 0;
    for (amount, legacy) in [(10u64, false), (12, true)] {
        let amount_text = amount.to_string();
        let mut args = vec!["send", amount_text.as_str(), "--dleq"];
        if legacy {
            args.push("--legacy");
        }
        let out = nutshell.run(&args);
        let prefix = if legacy { "cashuA" } else { "cashuB" };
        let token = out
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("a {prefix} token in {out}"))
            .to_owned();
        let got = ours
            .receive(&token, &ReceiveOptions::default())
            .await
            .unwrap();
        assert_eq!(got, amount, "{prefix}");
        received += amount;
    }
    assert_eq!(nutshell.balance(), 64 - received);
    assert_conserved(&ours, &mint).await;
    for (amount, format) in [
        (7u64, tally_wallet::store::TokenFormat::V4),
        (9, tally_wallet::store::TokenFormat::V3),
    ] {
        let before = nutshell.balance();
        let sent = ours
            .send(
                &mint,
                amount,
                &SendOptions {
                    format,
                    ..SendOptions::default()
                },
            )
            .await
            .unwrap();
        let prefix = if format == tally_wallet::store::TokenFormat::V3 {
            "cashuA"
        } else {
            "cashuB"
        };
        assert!(sent.token.starts_with(prefix), "{}", sent.token);
        nutshell.run(&["receive", &sent.token]);
        assert_eq!(nutshell.balance(), before + amount, "{prefix}");
        // Nutshell's wallet swapped them: ours sees the token redeemed.
        assert_eq!(
            ours.check_state(&mint).await.unwrap().redeemed,
            proofs_of(&sent.token).len(),
            "{prefix}"
        );
    }
    assert_conserved(&ours, &mint).await;
}
