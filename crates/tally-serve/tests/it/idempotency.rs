//! `Idempotency-Key`: replay byte for byte, another payload 422, in flight
//! 409, a claim cut off released, across a restart.

use axum::http::Method;
use tally_serve::config::Limits;
use tally_serve::idem::{Begin, IdemStore};
use tally_serve::stack::fingerprint;

use crate::support::{ACME, BETA, Server, accounts_body, call, post, runtime, transfer_body};

#[test]
fn replays_are_byte_for_byte_and_other_payloads_get_422() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        post(
            s.addr,
            "/v1/ledger/accounts",
            &ACME,
            "setup",
            &accounts_body(1, 2),
        )
        .await;
        let body = transfer_body(7, 1, 2, 10);
        let first = post(s.addr, "/v1/ledger/transfers", &ACME, "pay-7", &body).await;
        assert_eq!(first.json()["results"][0]["result"], "ok");
        assert!(first.header("idempotent-replayed").is_none());
        let again = post(s.addr, "/v1/ledger/transfers", &ACME, "pay-7", &body).await;
        assert_eq!(again.status, first.status);
        assert_eq!(
            again.body, first.body,
            "replayed byte for byte (not `exists`)"
        );
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        let other = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "pay-7",
            &transfer_body(8, 1, 2, 10),
        )
        .await;
        assert_eq!(
            (other.status, other.code().as_str()),
            (422, "IDEMPOTENCY_KEY_REUSED")
        );
        // Keys are per tenant: beta's "pay-7" is its own (on its accounts).
        post(
            s.addr,
            "/v1/ledger/accounts",
            &BETA,
            "setup",
            &accounts_body(3, 4),
        )
        .await;
        let beta = post(
            s.addr,
            "/v1/ledger/transfers",
            &BETA,
            "pay-7",
            &transfer_body(9, 3, 4, 10),
        )
        .await;
        assert_eq!(beta.json()["results"][0]["result"], "ok");
        // Missing or oversized keys.
        let none = call(
            s.addr,
            "POST",
            "/v1/ledger/transfers",
            Some(&ACME),
            None,
            body.as_bytes(),
        )
        .await;
        assert_eq!(none.status, 400);
        let long = "k".repeat(256);
        assert_eq!(
            post(s.addr, "/v1/ledger/transfers", &ACME, &long, &body)
                .await
                .status,
            400
        );
        let max = "k".repeat(255);
        assert_eq!(
            post(s.addr, "/v1/ledger/transfers", &ACME, &max, &body)
                .await
                .status,
            200
        );
        // A first result that was an error is replayed as that error.
        let bad = r#"{"transfers":[]}"#;
        assert_eq!(
            post(s.addr, "/v1/ledger/transfers", &ACME, "bad", bad)
                .await
                .status,
            400
        );
        let bad_again = post(s.addr, "/v1/ledger/transfers", &ACME, "bad", bad).await;
        assert_eq!(
            (bad_again.status, bad_again.header("idempotent-replayed")),
            (400, Some("true"))
        );
        // Across a restart.
        let dir = s.stop().await;
        let s = Server::start_in(dir, Limits::default(), None).await;
        let after = post(s.addr, "/v1/ledger/transfers", &ACME, "pay-7", &body).await;
        assert_eq!(after.body, first.body);
        s.stop().await;
    });
}

/// Fails if a claim did not exclude a second request with the same key
/// (`InFlight`), missed another payload (`Mismatch`), stayed after its
/// request was dropped, or if a result were not durable and replayed.
#[test]
fn an_embedded_claim_excludes_its_key_until_finished_or_dropped() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = IdemStore::open_sqlite(dir.path()).await.unwrap();
        let fp = fingerprint(&Method::POST, "/v1/ledger/transfers", b"{}");
        let fp2 = fingerprint(&Method::POST, "/v1/ledger/transfers", b"{ }");
        let now = 1_000_000;
        let Begin::Fresh(first) = store.begin("acme", "k", &fp, now, 10_000).await.unwrap() else {
            panic!("a new key is fresh")
        };
        assert_eq!(
            store.begin("acme", "k", &fp, now, 10_000).await.unwrap(),
            Begin::InFlight
        );
        assert_eq!(
            store.begin("acme", "k", &fp2, now, 10_000).await.unwrap(),
            Begin::Mismatch
        );
        // Another tenant's "k" is its own.
        assert!(matches!(
            store.begin("beta", "k", &fp, now, 10_000).await.unwrap(),
            Begin::Fresh(_)
        ));
        assert_eq!(store.claims().unwrap().len(), 1, "beta's claim was dropped");
        // A request cut off (its claim dropped) frees the key at once.
        drop(first);
        let Begin::Fresh(second) = store.begin("acme", "k", &fp, now, 10_000).await.unwrap() else {
            panic!("a dropped claim frees its key")
        };
        let stored = tally_serve::idem::Stored {
            status: 200,
            content_type: "application/json".into(),
            body: b"{\"ok\":1}".to_vec(),
        };
        store.finish(second, &stored).await.unwrap();
        assert!(store.claims().unwrap().is_empty());
        assert_eq!(
            store.begin("acme", "k", &fp, now, 10_000).await.unwrap(),
            Begin::Replay(stored.clone())
        );
        assert_eq!(
            store.begin("acme", "k", &fp2, now, 10_000).await.unwrap(),
            Begin::Mismatch
        );
        // Durable: a store opened afresh (a restart) replays it.
        drop(store);
        let store = IdemStore::open_sqlite(dir.path()).await.unwrap();
        assert_eq!(
            store.begin("acme", "k", &fp, now, 10_000).await.unwrap(),
            Begin::Replay(stored.clone())
        );
        // An abandoned claim stores nothing.
        let Begin::Fresh(c) = store.begin("acme", "gone", &fp, now, 10_000).await.unwrap() else {
            panic!("fresh")
        };
        store.abandon(c).await.unwrap();
        assert!(matches!(
            store.begin("acme", "gone", &fp, now, 10_000).await.unwrap(),
            Begin::Fresh(_)
        ));
        // Records older than the retention are purged, newer ones kept.
        assert_eq!(store.purge(now - 86_400_000).await.unwrap(), 0);
        assert_eq!(store.purge(now + 60_000).await.unwrap(), 1);
    });
}

/// Many identical requests at once with one key: one runs, the others are
/// refused in flight (409) or replay it byte for byte; the transfer is
/// applied once. Fails if two ran (their bodies would differ: `ok` and
/// `exists`) or if a 409 were answered after the result was stored.
#[test]
fn concurrent_requests_with_one_key_run_once() {
    runtime().block_on(async {
        let s = Server::start(Limits {
            max_rps: 100_000,
            rps_burst: 100_000,
            tenant_rps: 100_000,
            tenant_burst: 100_000,
            ..Limits::default()
        })
        .await;
        post(
            s.addr,
            "/v1/ledger/accounts",
            &ACME,
            "setup",
            &accounts_body(1, 2),
        )
        .await;
        for round in 0..8_u32 {
            let id = 100 + round;
            let body = transfer_body(u128::from(id), 1, 2, 10);
            let key = format!("race-{round}");
            let answers = futures_join(
                (0..16)
                    .map(|_| {
                        let (body, key) = (body.clone(), key.clone());
                        let addr = s.addr;
                        tokio::spawn(async move {
                            post(addr, "/v1/ledger/transfers", &ACME, &key, &body).await
                        })
                    })
                    .collect(),
            )
            .await;
            let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
            assert!(!ok.is_empty(), "one of them ran");
            for r in &answers {
                assert!(
                    r.status == 200 || (r.status, r.code().as_str()) == (409, "CONFLICT"),
                    "{} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }
            for r in &ok {
                assert_eq!(r.body, ok[0].body, "one result, replayed");
                assert_eq!(r.json()["results"][0]["result"], "ok");
            }
            // After the answers, the key replays (no claim is left).
            let after = post(s.addr, "/v1/ledger/transfers", &ACME, &key, &body).await;
            assert_eq!((after.status, &after.body), (200, &ok[0].body));
            assert_eq!(after.header("idempotent-replayed"), Some("true"));
        }
        s.stop().await;
    });
}

async fn futures_join(
    handles: Vec<tokio::task::JoinHandle<crate::support::Resp>>,
) -> Vec<crate::support::Resp> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
