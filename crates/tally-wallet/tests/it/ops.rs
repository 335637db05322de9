//! send, receive, reclaim and melt against the real Nutshell mints (with and
//! without input fees), two wallets with their own stores and seeds; after
//! every operation the balance invariant holds: what the wallet counts
//! (spendable + reserved + pending + sent) is what the mint says it owns
//! (NUT-07 over every proof the wallet knows), and every proof the wallet
//! marked spent is spent at the mint.

use tally_cashu::crypto::SecretKey;
use tally_cashu::nuts::nut00::MintUrl;
use tally_cashu::nuts::nut12::ProofDleq;
use tally_cashu::token::Token;
use tally_wallet::client::MintClient;
use tally_wallet::melt::{MeltQuote, MeltQuoteState, blank_outputs};
use tally_wallet::receive::ReceiveOptions;
use tally_wallet::send::{ReclaimReport, SendOptions, SentRef};
use tally_wallet::store::{
    OperationKind, ProofState, SentTokenState, SqliteStore, TokenFormat, WalletStore,
};
use tally_wallet::wallet::{RecoveryReport, Wallet};
use tally_wallet::{Error, Refusal, Retry};

use crate::faults::Proxy;
use crate::mint::{failed_mint, fees_mint, fresh_wallet, funded, pending_mint, plain_mint};

/// The balance invariant (module docs); returns what the wallet owns.
pub async fn assert_conserved<S: WalletStore>(w: &Wallet<S>, mint: &MintUrl) -> u64 {
    let client = MintClient::new(mint.clone()).unwrap();
    let (mut counted, mut owned) = (0u64, 0u64);
    for state in ProofState::ALL {
        let proofs = w.store().proofs(mint, state).await.unwrap();
        for chunk in proofs.chunks(100) {
            let ys: Vec<String> = chunk.iter().map(|p| p.y.clone()).collect();
            let states = client.check_state(&ys).await.unwrap();
            for (p, s) in chunk.iter().zip(states) {
                let amount = p.proof.amount.value();
                if state == ProofState::Spent {
                    assert_eq!(s.state, "SPENT", "a proof marked spent is not spent");
                } else {
                    counted += amount;
                }
                if s.state != "SPENT" {
                    owned += amount;
                }
            }
        }
    }
    let b = w.balance(mint).await.unwrap();
    assert_eq!(
        b.unspent + b.reserved + b.pending + b.sent,
        counted,
        "{b:?}"
    );
    assert_eq!(
        counted, owned,
        "the wallet counts {counted}, the mint says {owned}"
    );
    owned
}

/// A bolt11 invoice of `amount` sat that `mint`'s FakeWallet made (another
/// mint's FakeWallet pays any invoice).
pub async fn invoice_from(mint: &MintUrl, amount: u64) -> String {
    MintClient::new(mint.clone())
        .unwrap()
        .mint_quote(amount, "sat", None)
        .await
        .unwrap()
        .request
}

fn ppk_fee(inputs: u64, ppk: u64) -> u64 {
    (inputs * ppk).div_ceil(1000)
}

async fn both() -> [(MintUrl, u64); 2] {
    [(plain_mint().await, 0), (fees_mint().await, 100)]
}

#[tokio::test]
async fn send_then_receive_moves_value_between_two_wallets() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 100).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        // 100 = 64 + 32 + 4 holds no 30: a swap makes 16 + 8 + 4 + 2.
        let options = SendOptions {
            memo: Some("lunch".into()),
            ..SendOptions::default()
        };
        let sent = alice.send(&mint, 30, &options).await.unwrap();
        assert!(sent.swapped && sent.token.starts_with("cashuB"));
        assert_eq!(sent.amount, 30);
        let token = Token::decode(&sent.token).unwrap();
        assert_eq!((token.memo(), token.value().value()), (Some("lunch"), 30));
        // One input (64) pays the swap's fee.
        let swap_fee = ppk_fee(1, ppk);
        let b = alice.balance(&mint).await.unwrap();
        assert_eq!((b.unspent, b.sent), (70 - swap_fee, 30));
        assert_eq!(assert_conserved(&alice, &mint).await, 100 - swap_fee);
        // Bob receives (4 proofs in, one fee).
        let got = bob
            .receive(&sent.token, &ReceiveOptions::default())
            .await
            .unwrap();
        assert_eq!(got, 30 - ppk_fee(4, ppk));
        assert_eq!(assert_conserved(&bob, &mint).await, got);
        assert_eq!(
            bob.store().history(1).await.unwrap()[0].kind,
            OperationKind::Receive
        );
        // Alice learns the token was redeemed.
        assert_eq!(alice.check_state(&mint).await.unwrap().redeemed, 4);
        assert_eq!(alice.balance(&mint).await.unwrap().sent, 0);
        assert_eq!(assert_conserved(&alice, &mint).await, 70 - swap_fee);
        // V3, with the receiver's fee included: Bob gets exactly 8.
        let options = SendOptions {
            include_fees: true,
            format: TokenFormat::V3,
            ..SendOptions::default()
        };
        let sent = alice.send(&mint, 8, &options).await.unwrap();
        assert!(sent.token.starts_with("cashuA"));
        let got = bob
            .receive(&sent.token, &ReceiveOptions::default())
            .await
            .unwrap();
        assert_eq!(got, 8, "ppk {ppk}");
        assert!(alice.check_state(&mint).await.unwrap().redeemed > 0);
        assert_conserved(&alice, &mint).await;
        assert_conserved(&bob, &mint).await;
    }
}

#[tokio::test]
async fn an_exact_send_needs_no_mint_and_includes_the_fee_exactly() {
    for (mint, ppk) in both().await {
        let proxy = Proxy::start(&mint).await;
        let (alice, _a) = funded(&proxy.url, 100).await;
        // The mint cannot be heard: 36 = 32 + 4 is sent from held proofs.
        proxy.drop_answers(true);
        let sent = alice
            .send(&proxy.url, 36, &SendOptions::default())
            .await
            .unwrap();
        assert!(!sent.swapped);
        let offline = SendOptions {
            offline_only: true,
            ..SendOptions::default()
        };
        let err = alice.send(&proxy.url, 3, &offline).await.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        proxy.drop_answers(false);
        let b = alice.balance(&proxy.url).await.unwrap();
        assert_eq!((b.unspent, b.sent), (64, 36));
        assert_eq!(assert_conserved(&alice, &proxy.url).await, 100);
        let entry = &alice.store().history(1).await.unwrap()[0];
        assert_eq!((entry.kind, entry.amount_out), (OperationKind::Send, 36));
        // The receiver's fee included: at 100 ppk no held proofs pay 35 and
        // their own fee exactly, so a swap makes 32 + 4 (35 after the fee).
        alice.reclaim(SentRef::Id(&sent.id)).await.unwrap();
        let (bob, _b) = fresh_wallet(&mint).await;
        let want = if ppk == 0 { 36 } else { 35 };
        let options = SendOptions {
            include_fees: true,
            ..SendOptions::default()
        };
        let sent = alice.send(&proxy.url, want, &options).await.unwrap();
        let token = Token::decode(&sent.token).unwrap();
        let received = bob
            .receive(
                &Token::new(
                    mint.clone(),
                    token.unit().cloned(),
                    None,
                    token.proofs().to_vec(),
                )
                .unwrap()
                .to_v4_string()
                .unwrap(),
                &ReceiveOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(received, want);
        assert_eq!(sent.swapped, ppk > 0);
        // Until the mint is asked, the redeemed token still counts as sent.
        assert_eq!(alice.balance(&proxy.url).await.unwrap().sent, sent.amount);
        assert_eq!(
            alice.check_state(&proxy.url).await.unwrap().redeemed,
            token.proofs().len()
        );
        assert_conserved(&alice, &proxy.url).await;
    }
}

/// A copy of `text` with its mint or its proofs changed.
fn altered(
    text: &str,
    mint: Option<&MintUrl>,
    change: impl Fn(&mut Vec<tally_cashu::token::TokenProof>),
) -> String {
    let token = Token::decode(text).unwrap();
    let mut proofs = token.proofs().to_vec();
    change(&mut proofs);
    Token::new(
        mint.cloned().unwrap_or_else(|| token.mint().clone()),
        token.unit().cloned(),
        None,
        proofs,
    )
    .unwrap()
    .to_v4_string()
    .unwrap()
}

#[tokio::test]
async fn receive_refuses_bad_tokens_with_typed_errors_and_changes_nothing() {
    let mint = plain_mint().await;
    let other = fees_mint().await;
    let (alice, _a) = funded(&mint, 64).await;
    let (bob, _b) = fresh_wallet(&mint).await;
    bob.add_mint(&other).await.unwrap();
    let sent = alice
        .send(&mint, 20, &SendOptions::default())
        .await
        .unwrap();
    let r = SecretKey::from_bytes([9; 32]).unwrap();
    let cases = [
        (
            "a DLEQ proof that does not verify",
            altered(&sent.token, None, |p| {
                let d = p[0].dleq.clone().unwrap();
                p[0].dleq = Some(ProofDleq::new(d.dleq(), r.clone()));
            }),
            Refusal::DleqInvalid,
        ),
        (
            "no DLEQ proof",
            altered(&sent.token, None, |p| p[1].dleq = None),
            Refusal::DleqMissing,
        ),
        (
            "a mint the wallet does not use",
            altered(
                &sent.token,
                Some(&MintUrl::new("http://127.0.0.1:9").unwrap()),
                |_| {},
            ),
            Refusal::UnknownMint,
        ),
        (
            "proofs of one mint named as another's",
            altered(&sent.token, Some(&other), |_| {}),
            Refusal::UnknownKeyset,
        ),
    ];
    let counters_before = {
        let ks = bob.store().keysets(&mint).await.unwrap();
        bob.store().next_counter(&ks[0].id).await.unwrap()
    };
    for (what, token, want) in cases {
        let err = bob
            .receive(&token, &ReceiveOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::TokenRefused(w) if w == want),
            "{what}: {err}"
        );
        assert_eq!(err.retry(), Retry::No, "{what}");
    }
    let garbage = bob
        .receive("cashuBnot-a-token", &ReceiveOptions::default())
        .await;
    assert!(matches!(garbage, Err(Error::Cashu(_))), "{garbage:?}");
    let oversized = "cashuB".to_owned() + &"A".repeat(tally_cashu::limits::MAX_TOKEN_LEN_BYTES);
    let err = bob
        .receive(&oversized, &ReceiveOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cashu(_)), "{err}");
    // Nothing changed: no proof, no operation, no counter used.
    for m in [&mint, &other] {
        let b = bob.balance(m).await.unwrap();
        assert_eq!((b.unspent, b.reserved, b.pending, b.sent), (0, 0, 0, 0));
    }
    assert!(
        bob.store()
            .incomplete_operations()
            .await
            .unwrap()
            .is_empty()
    );
    assert!(bob.store().history(10).await.unwrap().is_empty());
    let ks = bob.store().keysets(&mint).await.unwrap();
    assert_eq!(
        bob.store().next_counter(&ks[0].id).await.unwrap(),
        counters_before
    );
    // The token itself is still good; without a DLEQ proof only if allowed.
    let no_dleq = altered(&sent.token, None, |p| p[1].dleq = None);
    let allow = ReceiveOptions {
        allow_missing_dleq: true,
        ..ReceiveOptions::default()
    };
    assert_eq!(bob.receive(&no_dleq, &allow).await.unwrap(), 20);
    assert_conserved(&bob, &mint).await;
    // Alice cannot receive her own token: she reclaims it.
    let sent = alice.send(&mint, 4, &SendOptions::default()).await.unwrap();
    let err = alice
        .receive(&sent.token, &ReceiveOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TokenRefused(Refusal::AlreadyHeld)),
        "{err}"
    );
}

#[tokio::test]
async fn a_second_receive_of_a_token_fails_as_spent_and_loses_nothing() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 64).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let (carol, _c) = fresh_wallet(&mint).await;
        let sent = alice
            .send(&mint, 20, &SendOptions::default())
            .await
            .unwrap();
        let got = bob
            .receive(&sent.token, &ReceiveOptions::default())
            .await
            .unwrap();
        assert_eq!(got, 20 - ppk_fee(2, ppk));
        for w in [&bob, &carol] {
            let err = w
                .receive(&sent.token, &ReceiveOptions::default())
                .await
                .unwrap_err();
            assert!(matches!(err, Error::TokenRefused(Refusal::Spent)), "{err}");
            assert!(w.store().incomplete_operations().await.unwrap().is_empty());
        }
        assert_eq!(assert_conserved(&bob, &mint).await, got);
        assert_eq!(assert_conserved(&carol, &mint).await, 0);
    }
}

#[tokio::test]
async fn reclaim_swaps_back_an_unredeemed_token_and_marks_a_redeemed_one() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 64).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let sent = alice
            .send(&mint, 20, &SendOptions::default())
            .await
            .unwrap();
        let swap_fee = ppk_fee(1, ppk);
        let report = alice.reclaim(SentRef::Id(&sent.id)).await.unwrap();
        let back_fee = ppk_fee(2, ppk);
        assert_eq!(
            report,
            ReclaimReport {
                reclaimed: 20 - back_fee,
                redeemed: 0,
                pending: 0
            }
        );
        let t = alice.store().sent_token(&sent.id).await.unwrap().unwrap();
        assert_eq!(t.state, SentTokenState::Reclaimed);
        let b = alice.balance(&mint).await.unwrap();
        assert_eq!((b.unspent, b.sent), (64 - swap_fee - back_fee, 0));
        assert_conserved(&alice, &mint).await;
        // The reclaimed token is worth nothing to Bob now.
        let err = bob
            .receive(&sent.token, &ReceiveOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TokenRefused(Refusal::Spent)), "{err}");
        // Reclaiming again finds nothing.
        assert!(matches!(
            alice.reclaim(SentRef::Id(&sent.id)).await,
            Err(Error::NotFound { .. })
        ));
        // A token Bob redeemed is only marked (found by its text).
        let sent = alice.send(&mint, 8, &SendOptions::default()).await.unwrap();
        bob.receive(&sent.token, &ReceiveOptions::default())
            .await
            .unwrap();
        let report = alice.reclaim(SentRef::Token(&sent.token)).await.unwrap();
        assert_eq!((report.reclaimed, report.redeemed), (0, 8));
        let t = alice.store().sent_token(&sent.id).await.unwrap().unwrap();
        assert_eq!(t.state, SentTokenState::Redeemed);
        assert_eq!(alice.balance(&mint).await.unwrap().sent, 0);
        assert_conserved(&alice, &mint).await;
        assert_conserved(&bob, &mint).await;
    }
}

#[tokio::test]
async fn melt_pays_an_invoice_and_stores_the_change() {
    let plain = plain_mint().await;
    let fees = fees_mint().await;
    for (mint, other, ppk) in [(&plain, &fees, 0u64), (&fees, &plain, 100)] {
        let (w, _dir) = funded(mint, 100).await;
        let quote = w
            .melt_quote(mint, &invoice_from(other, 10).await)
            .await
            .unwrap();
        assert_eq!(
            (quote.amount, quote.fee_reserve, quote.state),
            (10, 2, MeltQuoteState::Unpaid)
        );
        let melted = w.melt(mint, &quote).await.unwrap();
        // 100 = 64 + 32 + 4: 64 covers 10 + 2 + its fee; FakeWallet's fee is
        // 1 sat; the rest comes back as NUT-08 change.
        let input_fee = ppk_fee(1, ppk);
        assert_eq!(melted.inputs, 64);
        assert_eq!(melted.change, 64 - 10 - 1 - input_fee);
        assert_eq!(melted.cost(), 11 + input_fee);
        let b = w.balance(mint).await.unwrap();
        assert_eq!(
            (b.unspent, b.reserved, b.pending),
            (100 - 11 - input_fee, 0, 0)
        );
        assert_eq!(assert_conserved(&w, mint).await, 100 - 11 - input_fee);
        let entry = &w.store().history(1).await.unwrap()[0];
        assert_eq!(
            (entry.kind, entry.amount_out, entry.amount_in),
            (OperationKind::Melt, 64, melted.change)
        );
        let state = MintClient::new(mint.clone())
            .unwrap()
            .melt_quote_state(&quote.id)
            .await
            .unwrap();
        assert_eq!(state.state, "PAID");
        // The stored quote is paid, in the transaction that finished the
        // melt: a second melt is refused before anything leaves, nothing
        // lost.
        let stored = w
            .store()
            .melt_quote(mint, &quote.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.state, MeltQuoteState::Paid);
        let err = w.melt(mint, &quote).await.unwrap_err();
        assert!(matches!(err, Error::QuotePaid), "{err}");
        assert_eq!(err.retry(), Retry::No);
        assert_eq!(assert_conserved(&w, mint).await, 100 - 11 - input_fee);
        assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_melt_whose_answer_is_lost_is_finished_by_recover_with_its_change() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    let (w, _dir) = funded(&proxy.url, 64).await;
    let quote = w
        .melt_quote(&proxy.url, &invoice_from(&fees_mint().await, 10).await)
        .await
        .unwrap();
    proxy.drop_answers_to(Some("POST /v1/melt/bolt11"));
    let err = w.melt(&proxy.url, &quote).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(err.retry(), Retry::AfterRecover);
    // Never rolled back: the input stays pending.
    assert_eq!(w.balance(&proxy.url).await.unwrap().pending, 64);
    proxy.drop_answers(false);
    assert_eq!(
        w.recover().await.unwrap(),
        RecoveryReport {
            finished: 1,
            ..RecoveryReport::default()
        }
    );
    let b = w.balance(&proxy.url).await.unwrap();
    assert_eq!((b.unspent, b.pending), (64 - 11, 0));
    assert_eq!(assert_conserved(&w, &proxy.url).await, 53);
}

#[tokio::test]
async fn a_send_or_receive_whose_answer_is_lost_is_finished_by_recover() {
    for (mint, ppk) in both().await {
        let proxy = Proxy::start(&mint).await;
        let (alice, _a) = funded(&proxy.url, 64).await;
        proxy.drop_answers_to(Some("POST /v1/swap"));
        let err = alice
            .send(&proxy.url, 20, &SendOptions::default())
            .await
            .unwrap_err();
        assert!(err.is_ambiguous(), "{err}");
        assert!(alice.unredeemed(&proxy.url).await.unwrap().is_empty());
        proxy.drop_answers(false);
        assert_eq!(alice.recover().await.unwrap().finished, 1);
        // The token exists now; it is found and received like any other.
        let token = alice.unredeemed(&proxy.url).await.unwrap().remove(0);
        assert_eq!(token.amount, 20);
        let (bob, _b) = fresh_wallet(&proxy.url).await;
        proxy.drop_answers_to(Some("POST /v1/swap"));
        let err = bob
            .receive(&token.token, &ReceiveOptions::default())
            .await
            .unwrap_err();
        assert!(err.is_ambiguous(), "{err}");
        proxy.drop_answers(false);
        assert_eq!(bob.recover().await.unwrap().finished, 1);
        assert_eq!(
            assert_conserved(&bob, &proxy.url).await,
            20 - ppk_fee(2, ppk)
        );
        assert_eq!(alice.check_state(&proxy.url).await.unwrap().redeemed, 2);
        assert_conserved(&alice, &proxy.url).await;
    }
}

/// A wallet holding 64 sat at `mint` and its quote to pay a 10 sat invoice
/// of the plain mint.
async fn quoted_melt(mint: &MintUrl) -> (Wallet<SqliteStore>, tempfile::TempDir, MeltQuote) {
    let (w, dir) = funded(mint, 64).await;
    let invoice = invoice_from(&plain_mint().await, 10).await;
    let quote = w.melt_quote(mint, &invoice).await.unwrap();
    (w, dir, quote)
}

#[tokio::test]
async fn a_melt_the_mint_leaves_pending_is_kept_and_recover_settles_it() {
    let mint = pending_mint().await;
    let (w, _dir, quote) = quoted_melt(&mint).await;
    let err = w.melt(&mint, &quote).await.unwrap_err();
    assert!(matches!(err, Error::MeltPending), "{err}");
    assert_eq!(err.retry(), Retry::AfterRecover);
    // Never rolled back: the input stays pending, here and at the mint.
    let b = w.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.pending), (0, 64));
    assert_eq!(assert_conserved(&w, &mint).await, 64);
    // The mint's state check finds the payment settled: recover finishes
    // the melt with its change.
    let report = w.recover().await.unwrap();
    assert_eq!((report.finished, report.unresolved), (1, 0), "{report:?}");
    let b = w.balance(&mint).await.unwrap();
    assert_eq!(b.pending, 0);
    assert!(b.unspent >= 64 - 10 - quote.fee_reserve, "{b:?}");
    assert_eq!(assert_conserved(&w, &mint).await, b.unspent);
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_melt_whose_payment_fails_releases_its_inputs() {
    let mint = failed_mint().await;
    let (w, _dir, quote) = quoted_melt(&mint).await;
    let err = w.melt(&mint, &quote).await.unwrap_err();
    assert!(matches!(err, Error::Mint { .. }), "{err}");
    assert!(!err.is_ambiguous());
    let b = w.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.reserved, b.pending), (64, 0, 0));
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    assert_eq!(assert_conserved(&w, &mint).await, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_never_share_a_proof() {
    let mint = plain_mint().await;
    let (alice, _a) = funded(&mint, 100).await;
    // Many small proofs first, so that exact sends and swaps both race.
    alice.swap(&mint, 15).await.unwrap();
    let alice = std::sync::Arc::new(alice);
    let mut tasks = Vec::new();
    for amount in [3u64, 5, 7, 9, 11, 13] {
        let alice = std::sync::Arc::clone(&alice);
        let mint = mint.clone();
        tasks.push(tokio::spawn(async move {
            alice.send(&mint, amount, &SendOptions::default()).await
        }));
    }
    let (bob, _b) = fresh_wallet(&mint).await;
    let (mut sent_total, mut received, mut refused) = (0, 0, 0);
    for (t, amount) in tasks.into_iter().zip([3u64, 5, 7, 9, 11, 13]) {
        match t.await.unwrap() {
            Ok(sent) => {
                assert_eq!(sent.amount, amount);
                sent_total += amount;
                // A proof in two tokens would make one of these fail.
                received += bob
                    .receive(&sent.token, &ReceiveOptions::default())
                    .await
                    .unwrap();
            }
            // While other sends hold the large proofs in their swaps, a send
            // may find too little free: refused, nothing changed.
            Err(Error::InsufficientFunds { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused < 6);
    assert_eq!(received, sent_total);
    assert_eq!(alice.check_state(&mint).await.unwrap().newly_spent, 0);
    assert_eq!(assert_conserved(&alice, &mint).await, 100 - sent_total);
    assert_eq!(assert_conserved(&bob, &mint).await, sent_total);
    assert!(
        alice
            .store()
            .incomplete_operations()
            .await
            .unwrap()
            .is_empty()
    );
}

#[test]
fn blank_outputs_follow_nut08() {
    // max(ceil(log2(x)), 1), none for 0; enough bits for any change up to x.
    for (x, n) in [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 3),
        (1000, 10),
        (1024, 10),
        (1025, 11),
    ] {
        assert_eq!(blank_outputs(x), n, "{x}");
    }
    assert_eq!(blank_outputs(u64::MAX), 64);
    for x in 1..300u64 {
        for change in 1..=x {
            assert!(
                u64::from(change.count_ones()) <= blank_outputs(x),
                "{change} of {x}"
            );
        }
    }
}

/// The amounts of a token's proofs, ascending.
fn token_amounts(token: &str) -> Vec<u64> {
    let mut amounts: Vec<u64> = Token::decode(token)
        .unwrap()
        .proofs()
        .iter()
        .map(|p| p.amount.value())
        .collect();
    amounts.sort_unstable();
    amounts
}

/// WAL-53: a send that needs a swap gives held proofs whose amounts are
/// among the token's as they are and swaps only for the rest. 1,000 sat
/// held as 512+256+128+64+32+8, sending 100 (64+32+4): the 64 and the 32
/// go into the token unchanged, the smallest proof that covers 4 and its
/// fee (the 8) is the swap's only input, and the swap's outputs are the 4
/// and the change. The held proofs are reserved with the swap's input,
/// `sent` (never `spent`) once the token is made, and counted in
/// `Balance::sent`; the receiver gets the whole token.
#[tokio::test]
async fn a_send_gives_held_proofs_as_they_are_and_swaps_only_for_the_rest() {
    for (mint, ppk) in both().await {
        let (alice, _a) = funded(&mint, 1_000).await;
        let (bob, _b) = fresh_wallet(&mint).await;
        let held: Vec<(u64, String)> = alice
            .store()
            .proofs(&mint, ProofState::Unspent)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.proof.amount.value(), p.y))
            .collect();
        let sent = alice
            .send(&mint, 100, &SendOptions::default())
            .await
            .unwrap();
        assert!(sent.swapped);
        assert_eq!(token_amounts(&sent.token), [4, 32, 64]);
        let op = alice.store().operation(&sent.id).await.unwrap().unwrap();
        let request: tally_wallet::client::SwapRequest = serde_json::from_str(&op.request).unwrap();
        let inputs: Vec<u64> = request.inputs.iter().map(|p| p.amount.value()).collect();
        assert_eq!(inputs, [8], "only the 8 is swapped");
        let change = 8 - ppk_fee(1, ppk) - 4;
        assert_eq!(
            request.outputs.len(),
            1 + change.count_ones() as usize,
            "the 4 and the change"
        );
        // The 64 and the 32 are the ones held before, now sent.
        let token = alice.store().sent_token(&sent.id).await.unwrap().unwrap();
        let sent_proofs = alice.store().proofs(&mint, ProofState::Sent).await.unwrap();
        for (amount, y) in held.iter().filter(|(a, _)| *a == 64 || *a == 32) {
            assert!(token.ys.contains(y), "held {amount} in the token");
            assert!(sent_proofs.iter().any(|p| &p.y == y));
        }
        let b = alice.balance(&mint).await.unwrap();
        assert_eq!(
            (b.unspent, b.reserved, b.pending, b.sent),
            (1_000 - 100 - ppk_fee(1, ppk), 0, 0, 100)
        );
        assert_conserved(&alice, &mint).await;
        let history = alice.store().history(1).await.unwrap();
        assert_eq!(
            (history[0].amount_out, history[0].amount_in),
            (8 + 96, change)
        );
        let got = bob
            .receive(&sent.token, &ReceiveOptions::default())
            .await
            .unwrap();
        assert_eq!(got, 100 - ppk_fee(3, ppk));
        assert_conserved(&bob, &mint).await;
        assert_eq!(alice.check_state(&mint).await.unwrap().redeemed, 3);
        assert_eq!(alice.balance(&mint).await.unwrap().sent, 0);
    }
}

/// WAL-53: the held proofs a send swap gives as they are follow its saga: a
/// refused swap releases them with its input (the token abandoned, nothing
/// lost); a swap whose answer was lost keeps them pending until `recover`
/// finishes it from the mint's answer and makes the token with them.
#[tokio::test]
async fn the_held_proofs_of_a_send_swap_follow_its_saga() {
    use crate::faults::{Fault, FaultServer};
    let server = FaultServer::start(&plain_mint().await).await;
    let mint = server.url.clone();
    let (alice, _a) = funded(&mint, 1_000).await;
    // Refused: released.
    server.inject("POST /v1/swap", Fault::Status(400), 1);
    let err = alice
        .send(&mint, 100, &SendOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Mint { .. }), "{err}");
    let b = alice.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.reserved, b.pending, b.sent), (1_000, 0, 0, 0));
    assert_eq!(
        alice
            .store()
            .sent_tokens(&mint, SentTokenState::Abandoned)
            .await
            .unwrap()
            .len(),
        1
    );
    // The answer lost: the swap's input and the held proofs stay pending.
    server.inject("POST /v1/swap", Fault::DropAnswer, 1);
    let err = alice
        .send(&mint, 100, &SendOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    let b = alice.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.pending, b.sent), (1_000 - 8 - 96, 8 + 96, 0));
    let report = alice.recover().await.unwrap();
    assert_eq!(report.finished, 1);
    let tokens = alice.unredeemed(&mint).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(token_amounts(&tokens[0].token), [4, 32, 64]);
    let b = alice.balance(&mint).await.unwrap();
    assert_eq!((b.unspent, b.pending, b.sent), (900, 0, 100));
    assert_conserved(&alice, &mint).await;
    // Reclaimed whole: the held proofs were the wallet's all along.
    let back = alice.reclaim(SentRef::Id(&tokens[0].id)).await.unwrap();
    assert_eq!(back.reclaimed, 100);
    assert_eq!(alice.balance(&mint).await.unwrap().unspent, 1_000);
    assert_conserved(&alice, &mint).await;
}
