//! The mint client's retries and circuit breaker, against a real mint behind
//! a loopback server that injects faults ([`FaultServer`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tally_cashu::nuts::nut00::MintUrl;
use tally_wallet::client::{ClientConfig, MintClient};
use tally_wallet::resilience::{BreakerPolicy, BreakerState, Call, RetryPolicy};
use tally_wallet::store::{SqliteStore, WalletStore};
use tally_wallet::wallet::Wallet;
use tally_wallet::{Error, Retry};

use crate::common::sqlite;
use crate::faults::{Fault, FaultServer};
use crate::mint::plain_mint;
use crate::ops::assert_conserved;

fn config(attempts: u32, base_ms: u64, cap_ms: u64, breaker: BreakerPolicy) -> ClientConfig {
    ClientConfig {
        connect_ms: 2_000,
        request_ms: 10_000,
        retry: RetryPolicy {
            attempts,
            base_ms,
            cap_ms,
        },
        breaker,
    }
}

/// A breaker that never opens in these tests.
const NEVER_OPENS: BreakerPolicy = BreakerPolicy {
    failures_to_open: 1_000,
    open_ms: 1,
};

fn fresh_seed() -> tally_cashu::nuts::nut13::Seed {
    let mut entropy = [0u8; 16];
    getrandom::fill(&mut entropy).unwrap();
    let words = bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string();
    tally_cashu::nuts::nut13::Seed::from_mnemonic(&words, "").unwrap()
}

/// A wallet that reaches the real mint only through `server`, funded with
/// `amount`.
async fn funded_through(
    server: &FaultServer,
    amount: u64,
    config: ClientConfig,
) -> (Wallet<SqliteStore>, tempfile::TempDir) {
    let (store, dir) = sqlite().await;
    let w = Wallet::new(store, fresh_seed()).with_client_config(config);
    w.add_mint(&server.url).await.unwrap();
    let q = w.mint_quote(&server.url, amount).await.unwrap();
    assert_eq!(w.mint(&server.url, &q.id).await.unwrap(), amount);
    (w, dir)
}

#[test]
fn backoff_is_exponential_capped_and_fully_jittered_and_policies_are_bounded() {
    let p = RetryPolicy {
        attempts: 5,
        base_ms: 100,
        cap_ms: 1_000,
    };
    let bounds: Vec<u64> = (0..6).map(|n| p.bound_ms(n)).collect();
    assert_eq!(bounds, [100, 200, 400, 800, 1_000, 1_000]);
    assert_eq!(p.bound_ms(200), 1_000, "no overflow past 2^63");
    for n in 0..8 {
        for random in [0, 1, 99, 100, 101, u64::MAX / 3, u64::MAX] {
            assert!(p.delay_ms(n, random) <= p.bound_ms(n));
        }
    }
    // Full jitter: the whole range is reachable, not one fixed delay.
    assert_eq!(p.delay_ms(0, 0), 0);
    assert_eq!(p.delay_ms(0, 100), 100);
    assert_eq!(p.delay_ms(0, 150), 49);
    for bad in [
        RetryPolicy { attempts: 0, ..p },
        RetryPolicy { attempts: 11, ..p },
        RetryPolicy {
            base_ms: 2_000,
            ..p
        },
        RetryPolicy {
            cap_ms: 3_600_000,
            base_ms: 1,
            ..p
        },
    ] {
        assert!(
            matches!(bad.validate(), Err(Error::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    assert!(
        BreakerPolicy {
            failures_to_open: 0,
            open_ms: 10
        }
        .validate()
        .is_err()
    );
    assert!(
        BreakerPolicy {
            failures_to_open: 1,
            open_ms: 0
        }
        .validate()
        .is_err()
    );
    assert!(MintClient::with_config(plain_url(), config(0, 1, 1, NEVER_OPENS)).is_err());
}

fn plain_url() -> MintUrl {
    MintUrl::new("http://127.0.0.1:1").unwrap()
}

#[test]
fn only_what_the_error_type_says_is_safe_is_retried() {
    let unreachable = Error::Unreachable("refused".into());
    let ambiguous = Error::Ambiguous("reset".into());
    assert_eq!(unreachable.retry(), Retry::Safe);
    for call in [Call::Read, Call::Write] {
        assert!(RetryPolicy::may_retry(call, &unreachable), "{call:?}");
    }
    assert!(RetryPolicy::may_retry(Call::Read, &ambiguous));
    assert!(!RetryPolicy::may_retry(Call::Write, &ambiguous));
    for never in [
        Error::Mint {
            code: 11001,
            detail: "spent".into(),
        },
        Error::InvalidResponse("lies".into()),
        Error::MeltPending,
    ] {
        for call in [Call::Read, Call::Write] {
            assert!(!RetryPolicy::may_retry(call, &never), "{never}");
        }
    }
}

#[tokio::test]
async fn reads_are_retried_through_resets_and_server_errors() {
    let server = FaultServer::start(&plain_mint().await).await;
    let client =
        MintClient::with_config(server.url.clone(), config(3, 20, 100, NEVER_OPENS)).unwrap();
    server.inject("GET /v1/keysets", Fault::Reset, 1);
    server.inject("GET /v1/keysets", Fault::Status(503), 1);
    assert!(!client.keysets().await.unwrap().is_empty());
    assert_eq!(server.seen("GET /v1/keysets"), 3);
    // A read POST (NUT-07) too.
    server.inject("POST /v1/checkstate", Fault::DropAnswer, 1);
    let y = tally_cashu::crypto::SecretKey::from_bytes([3; 32])
        .unwrap()
        .public_key()
        .to_hex();
    let states = client.check_state(std::slice::from_ref(&y)).await.unwrap();
    assert_eq!(states[0].state, "UNSPENT");
    assert_eq!(server.seen("POST /v1/checkstate"), 2);
    // Past the attempts, the last error comes back.
    server.inject("GET /v1/info", Fault::Status(502), 3);
    let err = client.info().await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(server.seen("GET /v1/info"), 3);
}

#[tokio::test]
async fn a_write_that_left_is_never_retried_and_recover_resolves_it() {
    let server = FaultServer::start(&plain_mint().await).await;
    let (w, _dir) = funded_through(&server, 64, config(5, 20, 100, NEVER_OPENS)).await;
    let url = server.url.clone();
    for fault in [Fault::Reset, Fault::Status(503), Fault::DropAnswer] {
        let before = server.seen("POST /v1/swap");
        server.inject("POST /v1/swap", fault, 1);
        let err = w.swap(&url, 5).await.unwrap_err();
        assert!(err.is_ambiguous(), "{fault:?}: {err}");
        assert_eq!(err.retry(), Retry::AfterRecover);
        // Sent once, not again: the operation waits for recover.
        assert_eq!(server.seen("POST /v1/swap"), before + 1, "{fault:?}");
        assert_eq!(w.store().incomplete_operations().await.unwrap().len(), 1);
        let report = w.recover().await.unwrap();
        assert_eq!(report.unresolved, 0, "{fault:?}: {report:?}");
        // Recover sends the stored request once more.
        assert_eq!(server.seen("POST /v1/swap"), before + 2, "{fault:?}");
        assert_eq!(assert_conserved(&w, &url).await, 64, "{fault:?}");
    }
}

#[tokio::test]
async fn a_write_whose_connection_was_refused_is_retried_with_backoff() {
    let server = Arc::new(FaultServer::start(&plain_mint().await).await);
    let (w, _dir) = funded_through(&server, 64, config(6, 50, 400, NEVER_OPENS)).await;
    let url = server.url.clone();
    server.stop();
    server.restart_after(Duration::from_millis(30));
    let started = Instant::now();
    w.swap(&url, 5).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
    // The refused attempts never arrived; the one that did went through.
    assert_eq!(server.seen("POST /v1/swap"), 1);
    assert!(w.store().incomplete_operations().await.unwrap().is_empty());
    assert_eq!(assert_conserved(&w, &url).await, 64);
    // With retries off, a refused connection is a definitive failure that
    // releases the inputs.
    let (store, _d2) = sqlite().await;
    let once = Wallet::new(store, fresh_seed()).with_client_config(config(1, 0, 0, NEVER_OPENS));
    server.stop();
    let err = once.add_mint(&url).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err}");
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_transport_failures_and_a_probe_closes_it() {
    let server = FaultServer::start(&plain_mint().await).await;
    let breaker = BreakerPolicy {
        failures_to_open: 3,
        open_ms: 300,
    };
    let client = MintClient::with_config(server.url.clone(), config(1, 0, 0, breaker)).unwrap();
    // A refusal is an answer: it resets the count.
    server.inject("GET /v1/info", Fault::Status(503), 2);
    assert!(client.info().await.unwrap_err().is_ambiguous());
    assert!(client.info().await.unwrap_err().is_ambiguous());
    assert_eq!(client.breaker().state(), BreakerState::Closed(2));
    let refused = client.mint_quote_state("no-such-quote").await.unwrap_err();
    assert!(matches!(refused, Error::Mint { .. }), "{refused}");
    assert_eq!(client.breaker().state(), BreakerState::Closed(0));
    // Three transport failures in a row open it.
    server.inject("GET /v1/info", Fault::Status(503), 2);
    server.inject("GET /v1/keysets", Fault::Reset, 1);
    assert!(client.info().await.is_err());
    assert!(client.info().await.is_err());
    assert!(client.keysets().await.is_err());
    assert!(matches!(client.breaker().state(), BreakerState::Open(_)));
    // Open: calls fail at once, definitively, and nothing is sent.
    let before = server.seen("");
    let err = client.info().await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err}");
    assert_eq!(err.retry(), Retry::Safe);
    // Clones share the breaker.
    assert!(client.clone().keysets().await.is_err());
    assert_eq!(server.seen(""), before);
    // Half-open: one probe goes; its failure opens it again.
    tokio::time::sleep(Duration::from_millis(320)).await;
    server.inject("GET /v1/info", Fault::Reset, 1);
    assert!(client.info().await.unwrap_err().is_ambiguous());
    assert_eq!(server.seen(""), before + 1);
    assert!(matches!(client.breaker().state(), BreakerState::Open(_)));
    assert!(matches!(client.info().await, Err(Error::Unreachable(_))));
    assert_eq!(server.seen(""), before + 1);
    // Its success closes it.
    tokio::time::sleep(Duration::from_millis(320)).await;
    client.info().await.unwrap();
    assert_eq!(client.breaker().state(), BreakerState::Closed(0));
    client.keysets().await.unwrap();
    assert_eq!(server.seen(""), before + 3);
}

#[tokio::test]
async fn an_open_breaker_fails_a_saga_definitively_and_recover_waits_for_the_mint() {
    let server = FaultServer::start(&plain_mint().await).await;
    let breaker = BreakerPolicy {
        failures_to_open: 2,
        open_ms: 300,
    };
    let (w, _dir) = funded_through(&server, 96, config(1, 0, 0, breaker)).await;
    let url = server.url.clone();
    // A swap the mint processed, whose answer was lost: ambiguous.
    server.inject("POST /v1/swap", Fault::DropAnswer, 1);
    assert!(w.swap(&url, 5).await.unwrap_err().is_ambiguous());
    // One more transport failure opens the breaker (the quote: the mint's
    // info is cached since `add_mint`).
    server.inject("POST /v1/mint/quote/bolt11", Fault::Status(503), 1);
    assert!(w.mint_quote(&url, 8).await.is_err());
    // Recover cannot reach the mint: the swap stays for later, not rolled
    // back.
    let report = w.recover().await.unwrap();
    assert_eq!(report.unresolved, 1, "{report:?}");
    assert_eq!(w.store().incomplete_operations().await.unwrap().len(), 1);
    // A new swap fails at once, nothing sent, its inputs released.
    let swaps = server.seen("POST /v1/swap");
    let err = w.swap(&url, 3).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err}");
    assert_eq!(server.seen("POST /v1/swap"), swaps);
    // Once the breaker lets a probe through, recover resolves the first.
    tokio::time::sleep(Duration::from_millis(320)).await;
    let report = w.recover().await.unwrap();
    assert_eq!((report.unresolved, report.finished), (0, 1), "{report:?}");
    assert_eq!(assert_conserved(&w, &url).await, 96);
}
