//! NUT-17: a mint quote's payment seen over the real Nutshell mint's
//! websocket; polling when the socket is refused or the mint offers none;
//! and a socket that lies is never believed over the NUT-04 state.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use tally_cashu::nuts::nut00::MintUrl;
use tally_wallet::Error;
use tally_wallet::client::MintClient;
use tally_wallet::wallet::{PaymentSeen, QUOTE_SOCKET_CHECK_MS, QUOTE_WAIT_MS_MAX, Wallet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::sqlite;
use crate::faults::Proxy;
use crate::hostile::hostile;
use crate::mint::{fresh_wallet, plain_mint};

#[tokio::test]
async fn nutshell_offers_nut17_for_mint_quotes() {
    let info = MintClient::new(plain_mint().await)
        .unwrap()
        .info()
        .await
        .unwrap();
    assert!(info.supports(17));
    assert!(info.supports_websocket("bolt11", "sat", "bolt11_mint_quote"));
}

#[tokio::test]
async fn a_paid_quote_is_seen_over_the_websocket_and_minted() {
    let mint = plain_mint().await;
    let (w, _dir) = fresh_wallet(&mint).await;
    // mint_quote opens no socket; watch_quote subscribes at once.
    let quote = w.mint_quote(&mint, 8).await.unwrap();
    assert!(!w.is_watching(&mint, &quote.id));
    assert!(w.watch_quote(&mint, &quote.id).await.unwrap());
    assert!(w.is_watching(&mint, &quote.id));
    // FakeWallet pays at once, possibly before the subscription was
    // registered (Nutshell may then miss the update): the wait checks the
    // first notification, so either way it ends at once.
    let started = std::time::Instant::now();
    w.wait_for_payment(&mint, &quote.id).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(QUOTE_SOCKET_CHECK_MS));
    assert!(!w.is_watching(&mint, &quote.id));
    assert_eq!(w.mint(&mint, &quote.id).await.unwrap(), 8);
    // A quote known to be paid, waited for by another wallet over the same
    // store (a later process) that subscribes first: the mint's first
    // notification is the current state, paid, and the NUT-04 state
    // confirms it: seen over the socket.
    let quote = w.mint_quote(&mint, 16).await.unwrap();
    let client = MintClient::new(mint.clone()).unwrap();
    while client.mint_quote_state(&quote.id).await.unwrap().state != "PAID" {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let later = Wallet::new(w.store().clone(), seed());
    assert!(later.watch_quote(&mint, &quote.id).await.unwrap());
    assert_eq!(
        later.wait_for_payment(&mint, &quote.id).await.unwrap(),
        PaymentSeen::Socket
    );
    // Without a subscription the state is asked first: paid, so no socket
    // is opened (seen by polling, at once).
    let again = Wallet::new(w.store().clone(), seed());
    assert_eq!(
        again.wait_for_payment(&mint, &quote.id).await.unwrap(),
        PaymentSeen::Polling
    );
    assert_eq!(w.mint(&mint, &quote.id).await.unwrap(), 16);
}

#[tokio::test]
async fn a_refused_websocket_falls_back_to_polling() {
    let mint = plain_mint().await;
    let proxy = Proxy::start(&mint).await;
    // The mint's answer to the upgrade never reaches the wallet.
    proxy.drop_answers_to(Some("GET /v1/ws"));
    let (w, _dir) = fresh_wallet(&proxy.url).await;
    let quote = w.mint_quote(&proxy.url, 8).await.unwrap();
    assert!(!w.watch_quote(&proxy.url, &quote.id).await.unwrap());
    assert!(!w.is_watching(&proxy.url, &quote.id));
    assert_eq!(
        w.wait_for_payment(&proxy.url, &quote.id).await.unwrap(),
        PaymentSeen::Polling
    );
    assert_eq!(w.mint(&proxy.url, &quote.id).await.unwrap(), 8);
}

#[tokio::test]
async fn a_mint_without_nut17_is_polled() {
    let gets = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&gets);
    let url = hostile(Arc::new(move |line: &str| {
        if line.starts_with("GET /v1/info") {
            (
                200,
                br#"{"nuts":{"4":{"methods":[],"disabled":false}}}"#.to_vec(),
            )
        } else if line.starts_with("POST /v1/mint/quote/bolt11") {
            (200, QUOTE_UNPAID.as_bytes().to_vec())
        } else if line.starts_with("GET /v1/mint/quote/bolt11/q1") {
            // Paid at the third check.
            let state = if seen.fetch_add(1, Ordering::SeqCst) >= 2 {
                "PAID"
            } else {
                "UNPAID"
            };
            (200, QUOTE_UNPAID.replace("UNPAID", state).into_bytes())
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    quote_seen_by_polling(&url).await;
    assert_eq!(gets.load(Ordering::SeqCst), 3);
}

/// A fresh wallet's quote at `url`: no subscription after `mint_quote`,
/// and the wait ends paid, seen by polling.
async fn quote_seen_by_polling(url: &MintUrl) {
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed());
    let quote = w.mint_quote(url, 8).await.unwrap();
    assert!(!w.is_watching(url, &quote.id));
    assert_eq!(
        w.wait_for_payment(url, &quote.id).await.unwrap(),
        PaymentSeen::Polling
    );
}

const QUOTE_UNPAID: &str = r#"{"quote":"q1","request":"lnbc80n1","state":"UNPAID","expiry":null}"#;

fn seed() -> tally_cashu::nuts::nut13::Seed {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).unwrap();
    let words = bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string();
    tally_cashu::nuts::nut13::Seed::from_mnemonic(&words, "").unwrap()
}

/// A mint whose websocket says every quote is paid (again and again) while
/// its NUT-04 state says unpaid: the wallet asks the state after each
/// notification and never takes the socket's word; the wait ends unpaid.
#[tokio::test]
async fn a_socket_that_says_paid_is_not_believed_over_the_quote_state() {
    let checks = Arc::new(AtomicUsize::new(0));
    let url = lying_socket_mint(Arc::clone(&checks), Socket::SaysPaid).await;
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed());
    let quote = w.mint_quote(&url, 8).await.unwrap();
    let started = std::time::Instant::now();
    let err = w.wait_for_payment(&url, &quote.id).await.unwrap_err();
    assert!(matches!(err, Error::Mint { code: 20001, .. }), "{err}");
    assert!(started.elapsed().as_millis() >= u128::from(QUOTE_WAIT_MS_MAX));
    // Each "paid" notification (every 200 ms) made the wallet check.
    assert!(checks.load(Ordering::SeqCst) >= 10, "{checks:?}");
}

/// A notification of `PAID` padded past the wallet's frame bound: refused
/// unread, the wallet polls instead (and the quote, unpaid at the first
/// check and paid from the second, is then seen by polling, not over the
/// socket).
#[tokio::test]
async fn an_oversized_socket_message_is_refused_and_the_wallet_polls() {
    let checks = Arc::new(AtomicUsize::new(0));
    let url = lying_socket_mint(Arc::clone(&checks), Socket::Oversized).await;
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed());
    let quote = w.mint_quote(&url, 8).await.unwrap();
    assert!(
        !w.is_watching(&url, &quote.id),
        "mint_quote opens no socket"
    );
    assert_eq!(
        w.wait_for_payment(&url, &quote.id).await.unwrap(),
        PaymentSeen::Polling
    );
    // Unpaid at the first check, so the wallet subscribed: the oversized
    // notification was refused and the second check (polling) saw it paid.
    assert_eq!(checks.load(Ordering::SeqCst), 2);
}

/// A socket that keeps saying `UNPAID` (every 50 ms) cannot hold the wait
/// off: the state is asked at least every `QUOTE_SOCKET_CHECK_MS`, and the
/// payment the mint's state shows (from its second check) ends the wait.
#[tokio::test]
async fn a_socket_that_spams_unpaid_does_not_hold_off_the_state_checks() {
    let checks = Arc::new(AtomicUsize::new(0));
    let url = lying_socket_mint(Arc::clone(&checks), Socket::SpamsUnpaid).await;
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed());
    let quote = w.mint_quote(&url, 8).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        w.wait_for_payment(&url, &quote.id).await.unwrap(),
        PaymentSeen::Polling
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(3 * QUOTE_SOCKET_CHECK_MS));
    assert_eq!(checks.load(Ordering::SeqCst), 2);
}

/// What the test mint's websocket does after acknowledging `subscribe`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// Claims `PAID` every 200 ms; the quote's state says unpaid.
    SaysPaid,
    /// Sends one `PAID` notification of 40 KiB (past `WS_FRAME_LEN_MAX`);
    /// the quote's state says paid from its second check on.
    Oversized,
    /// Says `UNPAID` every 50 ms; the quote's state says paid from its
    /// second check on.
    SpamsUnpaid,
}

/// Serves `/v1/info` (NUT-17 offered), the quote (its GETs counted in
/// `checks`) and a websocket that acknowledges `subscribe`, then behaves as
/// `mode` says.
async fn lying_socket_mint(checks: Arc<AtomicUsize>, mode: Socket) -> MintUrl {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = MintUrl::new(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(lying_connection(socket, Arc::clone(&checks), mode));
        }
    });
    url
}

async fn lying_connection(mut socket: TcpStream, checks: Arc<AtomicUsize>, mode: Socket) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let line = head.lines().next().unwrap_or("").to_owned();
    if line.starts_with("GET /v1/ws") {
        let key = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default();
        let mut sha = Sha1::new();
        sha.update(key.as_bytes());
        sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        let request = read_client_frame(&mut socket).await;
        let request: serde_json::Value = serde_json::from_slice(&request).unwrap();
        let sub_id = request["params"]["subId"].as_str().unwrap().to_owned();
        let ok = serde_json::json!({"jsonrpc": "2.0", "result": {"status": "OK", "subId": sub_id}, "id": request["id"]});
        send_server_frame(&mut socket, ok.to_string().as_bytes()).await;
        let lie = serde_json::json!({"jsonrpc": "2.0", "method": "subscribe", "params": {"subId": sub_id, "payload": {"quote": "q1", "request": "lnbc80n1", "state": "PAID"}}});
        if mode == Socket::Oversized {
            let mut big = lie.to_string();
            big.push_str(&" ".repeat((40 << 10) - big.len()));
            let _ = socket.write_all(&server_frame(big.as_bytes())).await;
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            return;
        }
        let (message, every_ms) = if mode == Socket::SpamsUnpaid {
            (lie.to_string().replace("PAID", "UNPAID"), 50)
        } else {
            (lie.to_string(), 200)
        };
        loop {
            if socket
                .write_all(&server_frame(message.as_bytes()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(every_ms)).await;
        }
    }
    let body = if line.starts_with("GET /v1/info") {
        r#"{"nuts":{"17":{"supported":[{"method":"bolt11","unit":"sat","commands":["bolt11_mint_quote"]}]}}}"#.to_owned()
    } else {
        if line.starts_with("GET /v1/mint/quote/bolt11/q1") {
            let seen = checks.fetch_add(1, Ordering::SeqCst);
            if (mode == Socket::Oversized || mode == Socket::SpamsUnpaid) && seen >= 1 {
                QUOTE_UNPAID.replace("UNPAID", "PAID")
            } else {
                QUOTE_UNPAID.to_owned()
            }
        } else {
            QUOTE_UNPAID.to_owned()
        }
    };
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
}

/// One masked client frame's payload (short or 16-bit length).
async fn read_client_frame(socket: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 2];
    socket.read_exact(&mut head).await.unwrap();
    assert!(head[1] & 0x80 != 0, "client frames are masked");
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            socket.read_exact(&mut b).await.unwrap();
            usize::from(u16::from_be_bytes(b))
        }
        n => usize::from(n),
    };
    let mut mask = [0u8; 4];
    socket.read_exact(&mut mask).await.unwrap();
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await.unwrap();
    payload
        .iter()
        .zip(mask.iter().cycle())
        .map(|(b, m)| b ^ m)
        .collect()
}

fn server_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    if payload.len() < 126 {
        frame.push(u8::try_from(payload.len()).unwrap());
    } else {
        frame.push(126);
        frame.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    }
    frame.extend_from_slice(payload);
    frame
}

async fn send_server_frame(socket: &mut TcpStream, payload: &[u8]) {
    socket.write_all(&server_frame(payload)).await.unwrap();
}

/// WAL-55: the mint's info (NUT-06) is asked once per client and reused
/// (for at most `INFO_MAX_AGE_MS`): three quotes, one `GET /v1/info`. A
/// keyset refusal (NUT error 12001) drops it, so the next use asks again;
/// `fetch_info` always asks.
#[tokio::test]
async fn the_mint_info_is_reused_until_a_keyset_refusal() {
    let infos = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&infos);
    let url = hostile(Arc::new(move |line: &str| {
        if line.starts_with("GET /v1/info") {
            seen.fetch_add(1, Ordering::SeqCst);
            (200, br#"{"nuts":{}}"#.to_vec())
        } else if line.starts_with("POST /v1/mint/quote/bolt11") {
            (200, QUOTE_UNPAID.as_bytes().to_vec())
        } else if line.starts_with("GET /v1/keysets") {
            (400, br#"{"code":12001,"detail":"unknown keyset"}"#.to_vec())
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    let (store, _dir) = sqlite().await;
    let w = Wallet::new(store, seed());
    for _ in 0..3 {
        w.mint_quote(&url, 8).await.unwrap();
    }
    assert_eq!(infos.load(Ordering::SeqCst), 1);
    let client = MintClient::new(url.clone()).unwrap();
    client.info().await.unwrap();
    client.info().await.unwrap();
    assert_eq!(infos.load(Ordering::SeqCst), 2, "one more for a new client");
    let err = client.keysets().await.unwrap_err();
    assert!(matches!(err, Error::Mint { code: 12001, .. }), "{err}");
    client.info().await.unwrap();
    client.info().await.unwrap();
    assert_eq!(infos.load(Ordering::SeqCst), 3, "asked again after 12001");
    client.fetch_info().await.unwrap();
    assert_eq!(infos.load(Ordering::SeqCst), 4);
}

/// WAL-56: a quote the mint says is paid at the first check is minted
/// without a websocket: `mint_quote` opens none, and the wait asks the
/// state once (no `GET /v1/ws`, though the mint offers NUT-17). A quote
/// unpaid at the first check is subscribed then (the spam test above).
#[tokio::test]
async fn a_quote_paid_at_the_first_check_needs_no_websocket() {
    let sockets = Arc::new(AtomicUsize::new(0));
    let states = Arc::new(AtomicUsize::new(0));
    let (ws, gets) = (Arc::clone(&sockets), Arc::clone(&states));
    let url = hostile(Arc::new(move |line: &str| {
        if line.starts_with("GET /v1/info") {
            (
                200,
                br#"{"nuts":{"17":{"supported":[{"method":"bolt11","unit":"sat","commands":["bolt11_mint_quote"]}]}}}"#.to_vec(),
            )
        } else if line.starts_with("GET /v1/ws") {
            ws.fetch_add(1, Ordering::SeqCst);
            (404, b"{}".to_vec())
        } else if line.starts_with("POST /v1/mint/quote/bolt11") {
            (200, QUOTE_UNPAID.as_bytes().to_vec())
        } else if line.starts_with("GET /v1/mint/quote/bolt11/q1") {
            gets.fetch_add(1, Ordering::SeqCst);
            (200, QUOTE_UNPAID.replace("UNPAID", "PAID").into_bytes())
        } else {
            (404, br#"{"code":0,"detail":"not here"}"#.to_vec())
        }
    }))
    .await;
    quote_seen_by_polling(&url).await;
    assert_eq!(sockets.load(Ordering::SeqCst), 0, "no websocket");
    assert_eq!(states.load(Ordering::SeqCst), 1, "one state check");
}
