//! A hostile mint on loopback: canned answers per request line (malformed,
//! oversized, failing and lying ones). The wallet must refuse every bad
//! answer, store no proof from it, and never roll back an operation whose
//! request the mint may have processed.

use std::sync::Arc;

use tally_cashu::nuts::nut00::MintUrl;
use tally_wallet::Error;
use tally_wallet::store::{ProofState, StoredProof, WalletStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::mint::{fresh_wallet, plain_mint};

pub type Answer = Arc<dyn Fn(&str) -> (u16, Vec<u8>) + Send + Sync>;
/// An answer that also sees the request body.
type BodyAnswer = Arc<dyn Fn(&str, &str) -> (u16, Vec<u8>) + Send + Sync>;

/// Serves `answer(request line)` to every request, one per connection
/// (status 0: never answers).
pub async fn hostile(answer: Answer) -> MintUrl {
    hostile_seeing_bodies(Arc::new(move |line: &str, _: &str| answer(line))).await
}

/// Serves `answer(request line, body)` to every request, as [`hostile`].
async fn hostile_seeing_bodies(answer: BodyAnswer) -> MintUrl {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = MintUrl::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Read the head and the body (Content-Length).
                let (line, request) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]);
                            break (
                                text.lines().next().unwrap_or("").to_owned(),
                                body.to_string(),
                            );
                        }
                    }
                };
                let (status, body) = answer(&line, &request);
                if status == 0 {
                    // Status 0: never answer (the connection stays open).
                    tokio::time::sleep(std::time::Duration::from_secs(3_600)).await;
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    url
}

const QUOTE: &str = r#"{"quote":"q1","request":"lnbc80n1","state":"PAID","expiry":null}"#;

/// A mint that behaves until `POST /v1/mint/bolt11`, then answers `status`
/// and `body`.
fn minting(status: u16, body: Vec<u8>) -> Answer {
    Arc::new(move |line: &str| {
        if line.starts_with("GET /v1/info") {
            (200, b"{}".to_vec())
        } else if line.contains("/v1/mint/quote/bolt11") {
            (200, QUOTE.as_bytes().to_vec())
        } else if line.starts_with("POST /v1/mint/bolt11") {
            (status, body.clone())
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    })
}

/// A wallet whose keysets (from the real mint) are also filed under `url`.
async fn wallet_for(
    url: &MintUrl,
) -> (
    tally_wallet::wallet::Wallet<tally_wallet::store::SqliteStore>,
    tempfile::TempDir,
) {
    let real = plain_mint().await;
    let (w, dir) = fresh_wallet(&real).await;
    for info in w.store().keysets(&real).await.unwrap() {
        let k = w.store().keyset(&info.id).await.unwrap().unwrap();
        w.store().put_keyset(url, &info, Some(&k)).await.unwrap();
    }
    (w, dir)
}

async fn mint_against(status: u16, body: Vec<u8>) -> (Error, usize, u64) {
    let url = hostile(minting(status, body)).await;
    let (w, _dir) = wallet_for(&url).await;
    let quote = w.mint_quote(&url, 8).await.unwrap();
    let err = w.mint(&url, &quote.id).await.unwrap_err();
    let open = w.store().incomplete_operations().await.unwrap().len();
    let unspent = w.balance(&url).await.unwrap().unspent;
    (err, open, unspent)
}

fn signature(keyset: &str, amount: u64, dleq: Option<(&str, &str)>) -> Vec<u8> {
    let c = "02a9acc1e48c25eeeb9289b5031cc57da9fe72f3fe2861d264bdc074209b107ba2";
    let dleq = dleq.map_or(String::new(), |(e, s)| {
        format!(r#","dleq":{{"e":"{e}","s":"{s}"}}"#)
    });
    format!(r#"{{"signatures":[{{"amount":{amount},"id":"{keyset}","C_":"{c}"{dleq}}}]}}"#)
        .into_bytes()
}

async fn active_keyset_hex() -> String {
    let real = plain_mint().await;
    let (w, _dir) = fresh_wallet(&real).await;
    let ks = w.store().keysets(&real).await.unwrap();
    ks.iter().find(|k| k.active).unwrap().id.to_hex()
}

#[tokio::test]
async fn lying_signatures_are_refused_and_the_operation_is_not_rolled_back() {
    let id = active_keyset_hex().await;
    let scalar = "0000000000000000000000000000000000000000000000000000000000000001";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no signature", br#"{"signatures":[]}"#.to_vec()),
        ("two signatures for one output", {
            let one = signature(&id, 8, Some((scalar, scalar)));
            let text = String::from_utf8(one).unwrap();
            let sig = &text[15..text.len() - 2];
            format!(r#"{{"signatures":[{sig},{sig}]}}"#).into_bytes()
        }),
        ("wrong amount", signature(&id, 4, Some((scalar, scalar)))),
        (
            "other keyset",
            signature("00ffd48b8f5ecf80", 8, Some((scalar, scalar))),
        ),
        ("no DLEQ", signature(&id, 8, None)),
        ("DLEQ that fails", signature(&id, 8, Some((scalar, scalar)))),
        ("not JSON", b"<html>".to_vec()),
        (
            "oversized",
            vec![b' '; tally_wallet::client::RESPONSE_LEN_MAX + 1],
        ),
    ];
    for (what, body) in cases {
        let (err, open, unspent) = mint_against(200, body).await;
        assert!(
            matches!(err, Error::InvalidResponse(_) | Error::Cashu(_)),
            "{what}: {err}"
        );
        assert_eq!(unspent, 0, "{what}: a proof was stored");
        assert_eq!(
            open, 1,
            "{what}: the mint answered 200, so it may have signed: keep it"
        );
    }
}

#[tokio::test]
async fn a_server_error_is_ambiguous_and_a_refusal_is_definitive() {
    let (err, open, unspent) = mint_against(500, b"{}".to_vec()).await;
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!((open, unspent), (1, 0));
    let refusal = br#"{"code":20002,"detail":"quote already issued"}"#.to_vec();
    let (err, open, unspent) = mint_against(400, refusal).await;
    assert!(matches!(err, Error::Mint { code: 20002, .. }), "{err}");
    assert_eq!((open, unspent), (0, 0));
    // A long detail is truncated, never echoed whole.
    let long = format!(r#"{{"code":11000,"detail":"{}"}}"#, "x".repeat(10_000)).into_bytes();
    let (err, _, _) = mint_against(400, long).await;
    let Error::Mint { detail, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(detail.len(), tally_wallet::client::DETAIL_LEN_MAX);
}

#[tokio::test]
async fn a_check_state_answer_that_does_not_match_the_question_is_refused() {
    let url = hostile(Arc::new(|line: &str| {
        if line.starts_with("POST /v1/checkstate") {
            (
                200,
                br#"{"states":[{"Y":"02aa","state":"SPENT"}]}"#.to_vec(),
            )
        } else {
            (404, b"{}".to_vec())
        }
    }))
    .await;
    let (w, _dir) = wallet_for(&url).await;
    let ks = w.store().keysets(&url).await.unwrap();
    let p = crate::common::proof(&ks[0].id, 8, 1);
    w.store()
        .add_proofs(&[StoredProof::new(url.clone(), p, ProofState::Unspent, None).unwrap()])
        .await
        .unwrap();
    let err = w.check_state(&url).await.unwrap_err();
    assert!(matches!(err, Error::InvalidResponse(_)), "{err}");
    assert_eq!(
        w.balance(&url).await.unwrap().unspent,
        8,
        "nothing marked spent"
    );
}

#[tokio::test]
async fn a_mint_that_never_answers_times_out_as_ambiguous() {
    // The mint takes the request and never answers.
    let url = hostile(minting(0, Vec::new())).await;
    let (w, _dir) = wallet_for(&url).await;
    let w = w.with_timeouts(1_000, 400);
    let quote = w.mint_quote(&url, 8).await.unwrap();
    let err = w.mint(&url, &quote.id).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(w.store().incomplete_operations().await.unwrap().len(), 1);
    assert_eq!(w.balance(&url).await.unwrap().unspent, 0);
}

/// A NUT-07 answer giving every `Y` asked the state `state`.
fn states_for(request: &str, state: &str) -> Vec<u8> {
    let asked: serde_json::Value = serde_json::from_str(request).unwrap();
    let states: Vec<serde_json::Value> = asked["Ys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| serde_json::json!({"Y": y, "state": state}))
        .collect();
    serde_json::json!({ "states": states })
        .to_string()
        .into_bytes()
}

/// A real token (from the real mint) named as `url`'s.
async fn token_for(url: &MintUrl) -> String {
    let real = plain_mint().await;
    let (alice, _dir) = fresh_wallet(&real).await;
    let quote = alice.mint_quote(&real, 64).await.unwrap();
    alice.mint(&real, &quote.id).await.unwrap();
    let sent = alice
        .send(&real, 20, &tally_wallet::send::SendOptions::default())
        .await
        .unwrap();
    let token = tally_cashu::token::Token::decode(&sent.token).unwrap();
    tally_cashu::token::Token::new(
        url.clone(),
        token.unit().cloned(),
        None,
        token.proofs().to_vec(),
    )
    .unwrap()
    .to_v4_string()
    .unwrap()
}

#[tokio::test]
async fn a_hostile_mint_cannot_make_receive_store_a_bad_proof_or_drop_a_sent_swap() {
    use tally_wallet::receive::ReceiveOptions;
    use tally_wallet::{Refusal, Retry};
    // Says every proof is `state`, then answers the swap with `swap`.
    let mint = |state: &'static str, swap: Vec<u8>| -> BodyAnswer {
        Arc::new(move |line: &str, body: &str| {
            if line.starts_with("POST /v1/checkstate") {
                (200, states_for(body, state))
            } else if line.starts_with("POST /v1/swap") {
                (200, swap.clone())
            } else {
                (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
            }
        })
    };
    // Lying signatures: the wallet keeps the operation (the mint may have
    // signed) and stores nothing.
    let url = hostile_seeing_bodies(mint("UNSPENT", br#"{"signatures":[]}"#.to_vec())).await;
    let (bob, _dir) = wallet_for(&url).await;
    let token = token_for(&url).await;
    let err = bob
        .receive(&token, &ReceiveOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse(_)), "{err}");
    assert_eq!(err.retry(), Retry::AfterRecover);
    assert_eq!(bob.store().incomplete_operations().await.unwrap().len(), 1);
    assert_eq!(bob.balance(&url).await.unwrap().unspent, 0);
    // With the NUT-07 check asked for: a mint that says the proofs are
    // spent or pending refuses them before any swap, nothing written.
    let checked = ReceiveOptions {
        check_state: true,
        ..ReceiveOptions::default()
    };
    for (state, want) in [("SPENT", Refusal::Spent), ("PENDING", Refusal::Pending)] {
        let url = hostile_seeing_bodies(mint(state, Vec::new())).await;
        let (carol, _dir) = wallet_for(&url).await;
        let next = carol
            .store()
            .next_counter(&active_id(&carol, &url).await)
            .await
            .unwrap();
        let err = carol
            .receive(&token_for(&url).await, &checked)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TokenRefused(r) if r == want), "{err}");
        assert!(
            carol
                .store()
                .incomplete_operations()
                .await
                .unwrap()
                .is_empty()
        );
        assert!(carol.store().history(1).await.unwrap().is_empty());
        let after = carol
            .store()
            .next_counter(&active_id(&carol, &url).await)
            .await
            .unwrap();
        assert_eq!(after, next, "no counter used before the check");
    }
}

/// WAL-54: without the NUT-07 pre-check (the default) a receive sends its
/// swap at once; the mint's refusal of a spent (11001) or pending (11002)
/// input is definitive: `Refusal::Spent` / `Refusal::Pending`, the
/// operation failed (none left incomplete), no history, no balance, the
/// counters it used skipped (the next receive derives new ones), and no
/// `POST /v1/checkstate` was sent.
#[tokio::test]
async fn a_receive_refused_by_the_swap_fails_its_operation_and_skips_its_counters() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tally_wallet::receive::ReceiveOptions;
    use tally_wallet::{Refusal, Retry};
    for (code, want) in [(11001, Refusal::Spent), (11002, Refusal::Pending)] {
        let checks = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&checks);
        let refusal = format!(r#"{{"code":{code},"detail":"refused"}}"#).into_bytes();
        let url = hostile_seeing_bodies(Arc::new(move |line: &str, _body: &str| {
            if line.starts_with("POST /v1/checkstate") {
                seen.fetch_add(1, Ordering::SeqCst);
                (500, b"{}".to_vec())
            } else if line.starts_with("POST /v1/swap") {
                (400, refusal.clone())
            } else {
                (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
            }
        }))
        .await;
        let (carol, _dir) = wallet_for(&url).await;
        let id = active_id(&carol, &url).await;
        let next = carol.store().next_counter(&id).await.unwrap();
        let err = carol
            .receive(&token_for(&url).await, &ReceiveOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TokenRefused(r) if r == want), "{err}");
        assert_eq!(
            err.retry(),
            if want == Refusal::Pending {
                Retry::Safe
            } else {
                Retry::No
            }
        );
        assert_eq!(checks.load(Ordering::SeqCst), 0, "no NUT-07 pre-check");
        assert!(
            carol
                .store()
                .incomplete_operations()
                .await
                .unwrap()
                .is_empty()
        );
        assert!(carol.store().history(1).await.unwrap().is_empty());
        let b = carol.balance(&url).await.unwrap();
        assert_eq!((b.unspent, b.reserved, b.pending, b.sent), (0, 0, 0, 0));
        assert!(
            carol.store().next_counter(&id).await.unwrap() > next,
            "the refused swap's counters are skipped, never derived again"
        );
    }
}

async fn active_id(
    w: &tally_wallet::wallet::Wallet<tally_wallet::store::SqliteStore>,
    url: &MintUrl,
) -> tally_cashu::nuts::nut02::KeysetId {
    w.store()
        .keysets(url)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.active)
        .unwrap()
        .id
}

#[tokio::test]
async fn a_pending_melt_is_kept_until_the_mint_settles_it_and_lying_change_is_refused() {
    use std::sync::Mutex;
    use tally_wallet::Retry;
    use tally_wallet::wallet::RecoveryReport;
    let id = active_keyset_hex().await;
    let scalar = "0000000000000000000000000000000000000000000000000000000000000001";
    let lie = String::from_utf8(signature(&id, 8, Some((scalar, scalar)))).unwrap();
    let lying_change = lie.replace(r#"{"signatures":"#, "").replace("]}", "]");
    let quote_state = Arc::new(Mutex::new("PENDING".to_owned()));
    let shared = Arc::clone(&quote_state);
    let url = hostile_seeing_bodies(Arc::new(move |line: &str, body: &str| {
        let quote = |state: &str, change: &str| {
            format!(r#"{{"quote":"m1","amount":10,"fee_reserve":2,"state":"{state}","expiry":null{change}}}"#)
                .into_bytes()
        };
        if line.starts_with("POST /v1/melt/quote/bolt11") {
            (200, quote("UNPAID", ""))
        } else if line.starts_with("POST /v1/melt/bolt11") {
            // Once the quote reads unpaid, the melt sent again by recover
            // is refused.
            if shared.lock().unwrap().as_str() == "UNPAID" {
                (400, br#"{"code":20007,"detail":"quote expired"}"#.to_vec())
            } else {
                (200, quote("PENDING", ""))
            }
        } else if line.starts_with("GET /v1/melt/quote/bolt11/m1") {
            let state = shared.lock().unwrap().clone();
            match state.as_str() {
                "PAID" => (200, quote("PAID", &format!(r#","change":{lying_change}"#))),
                other => (200, quote(other, "")),
            }
        } else if line.starts_with("POST /v1/checkstate") {
            (200, states_for(body, "UNSPENT"))
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    let (w, _dir) = wallet_for(&url).await;
    let ks = w.store().keysets(&url).await.unwrap();
    let active = ks.iter().find(|k| k.active).unwrap().id;
    let p = crate::common::proof(&active, 64, 7);
    w.store()
        .add_proofs(&[StoredProof::new(url.clone(), p, ProofState::Unspent, None).unwrap()])
        .await
        .unwrap();
    let quote = w.melt_quote(&url, "lnbc100n1fake").await.unwrap();
    let err = w.melt(&url, &quote).await.unwrap_err();
    assert!(matches!(err, Error::MeltPending), "{err}");
    assert!(err.is_ambiguous());
    assert_eq!(err.retry(), Retry::AfterRecover);
    let pending = |report: RecoveryReport| (report.finished, report.failed, report.unresolved);
    // Pending at the mint: kept, inputs pending.
    assert_eq!(pending(w.recover().await.unwrap()), (0, 0, 1));
    assert_eq!(w.balance(&url).await.unwrap().pending, 64);
    // "Paid", with change that does not verify: nothing stored, kept; the
    // stored quote is not marked paid on the mint's word.
    *quote_state.lock().unwrap() = "PAID".into();
    assert_eq!(pending(w.recover().await.unwrap()), (0, 0, 1));
    let b = w.balance(&url).await.unwrap();
    assert_eq!((b.unspent, b.pending), (0, 64));
    let stored = w.store().melt_quote(&url, "m1").await.unwrap().unwrap();
    assert_eq!(stored.state, tally_wallet::melt::MeltQuoteState::Pending);
    // Unpaid: recover sends the melt again; refused, with the quote still
    // unpaid and the inputs unspent: it did not happen; inputs released.
    *quote_state.lock().unwrap() = "UNPAID".into();
    assert_eq!(pending(w.recover().await.unwrap()), (0, 1, 0));
    let b = w.balance(&url).await.unwrap();
    assert_eq!((b.unspent, b.pending), (64, 0));
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    let stored = w.store().melt_quote(&url, "m1").await.unwrap().unwrap();
    assert_eq!(stored.state, tally_wallet::melt::MeltQuoteState::Unpaid);
}

#[tokio::test]
async fn recover_keeps_a_swap_the_mint_may_still_be_processing() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tally_wallet::wallet::RecoveryReport;
    // The first swap fails with a 5xx (ambiguous); the swap sent again by
    // recover is refused (its inputs are pending: the mint is at work on
    // the first copy); restore finds nothing signed yet; NUT-07 says what
    // `inputs` holds.
    let inputs = Arc::new(Mutex::new("PENDING".to_owned()));
    let shared = Arc::clone(&inputs);
    let swaps = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&swaps);
    let url = hostile_seeing_bodies(Arc::new(move |line: &str, body: &str| {
        if line.starts_with("POST /v1/swap") {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                (500, b"{}".to_vec())
            } else {
                (
                    400,
                    br#"{"code":11002,"detail":"proofs are pending"}"#.to_vec(),
                )
            }
        } else if line.starts_with("POST /v1/restore") {
            (200, br#"{"outputs":[],"signatures":[]}"#.to_vec())
        } else if line.starts_with("POST /v1/checkstate") {
            (200, states_for(body, shared.lock().unwrap().as_str()))
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    let (w, _dir) = wallet_for(&url).await;
    let ks = w.store().keysets(&url).await.unwrap();
    let active = ks.iter().find(|k| k.active).unwrap().id;
    let p = crate::common::proof(&active, 64, 9);
    w.store()
        .add_proofs(&[StoredProof::new(url.clone(), p, ProofState::Unspent, None).unwrap()])
        .await
        .unwrap();
    assert!(w.swap(&url, 5).await.unwrap_err().is_ambiguous());
    let outcome = |r: RecoveryReport| (r.finished, r.failed, r.unresolved);
    // Inputs pending: the mint may still sign: kept, never rolled back.
    for _ in 0..2 {
        assert_eq!(outcome(w.recover().await.unwrap()), (0, 0, 1));
        let b = w.balance(&url).await.unwrap();
        assert_eq!((b.unspent, b.pending), (0, 64));
    }
    // Inputs unspent and nothing signed: it never happened; released.
    *inputs.lock().unwrap() = "UNSPENT".into();
    assert_eq!(outcome(w.recover().await.unwrap()), (0, 1, 0));
    let b = w.balance(&url).await.unwrap();
    assert_eq!((b.unspent, b.pending), (64, 0));
    assert_eq!(swaps.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn recover_keeps_a_mint_whose_quote_is_paid_but_not_issued() {
    use std::sync::Mutex;
    use tally_wallet::wallet::RecoveryReport;
    // The first mint request fails with a 5xx (ambiguous); sent again by
    // recover it is refused (the mint is at work on the first copy);
    // restore finds nothing signed yet; the quote reads `quote`.
    let quote = Arc::new(Mutex::new("PAID".to_owned()));
    let shared = Arc::clone(&quote);
    let mints = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&mints);
    let url = hostile(Arc::new(move |line: &str| {
        if line.starts_with("GET /v1/info") {
            (200, b"{}".to_vec())
        } else if line.contains("/v1/mint/quote/bolt11") {
            let state = shared.lock().unwrap().clone();
            (200, QUOTE.replace("PAID", &state).into_bytes())
        } else if line.starts_with("POST /v1/mint/bolt11") {
            if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                (500, b"{}".to_vec())
            } else {
                (
                    400,
                    br#"{"code":20005,"detail":"quote is pending"}"#.to_vec(),
                )
            }
        } else if line.starts_with("POST /v1/restore") {
            (200, br#"{"outputs":[],"signatures":[]}"#.to_vec())
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    let (w, _dir) = wallet_for(&url).await;
    let q = w.mint_quote(&url, 8).await.unwrap();
    assert!(w.mint(&url, &q.id).await.unwrap_err().is_ambiguous());
    let outcome = |r: RecoveryReport| (r.finished, r.failed, r.unresolved);
    // Paid, not issued, this copy refused: the other may still be signed.
    assert_eq!(outcome(w.recover().await.unwrap()), (0, 0, 1));
    assert_eq!(w.store().incomplete_operations().await.unwrap().len(), 1);
    // Issued, and restore (asked again) finds none of these outputs: it
    // was not this operation's; failed.
    *quote.lock().unwrap() = "ISSUED".into();
    assert_eq!(outcome(w.recover().await.unwrap()), (0, 1, 0));
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
}

#[tokio::test]
async fn recover_sends_an_unpaid_melt_again_and_the_mint_pays_it_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tally_wallet::wallet::RecoveryReport;
    // The melt's answer is lost (5xx); the quote reads unpaid (the request
    // may still be queued); sent again, the mint pays it.
    let melts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&melts);
    let url = hostile_seeing_bodies(Arc::new(move |line: &str, body: &str| {
        let quote = |state: &str| {
            format!(
                r#"{{"quote":"m2","amount":10,"fee_reserve":0,"state":"{state}","expiry":null}}"#
            )
            .into_bytes()
        };
        if line.starts_with("POST /v1/melt/quote/bolt11") {
            (200, quote("UNPAID"))
        } else if line.starts_with("POST /v1/melt/bolt11") {
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                (500, b"{}".to_vec())
            } else {
                (200, quote("PAID"))
            }
        } else if line.starts_with("GET /v1/melt/quote/bolt11/m2") {
            (200, quote("UNPAID"))
        } else if line.starts_with("POST /v1/checkstate") {
            (200, states_for(body, "UNSPENT"))
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    let (w, _dir) = wallet_for(&url).await;
    let ks = w.store().keysets(&url).await.unwrap();
    let active = ks.iter().find(|k| k.active).unwrap().id;
    let p = crate::common::proof(&active, 10, 11);
    w.store()
        .add_proofs(&[StoredProof::new(url.clone(), p, ProofState::Unspent, None).unwrap()])
        .await
        .unwrap();
    let quote = w.melt_quote(&url, "lnbc100n1fake").await.unwrap();
    assert!(w.melt(&url, &quote).await.unwrap_err().is_ambiguous());
    let outcome = |r: RecoveryReport| (r.finished, r.failed, r.unresolved);
    // Not failed on "unpaid, inputs unspent": sent again, paid, finished.
    assert_eq!(outcome(w.recover().await.unwrap()), (1, 0, 0));
    assert_eq!(melts.load(Ordering::SeqCst), 2);
    let b = w.balance(&url).await.unwrap();
    assert_eq!((b.unspent, b.reserved, b.pending), (0, 0, 0));
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
}
