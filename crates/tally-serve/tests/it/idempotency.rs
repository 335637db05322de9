//! `Idempotency-Key`: replay byte for byte, another payload 422, in flight
//! 409, a stale in-flight record taken over, across a restart.

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

#[test]
fn a_key_in_flight_gets_409_and_a_stale_one_is_taken_over() {
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
        let store = IdemStore::open_sqlite(&s.data()).await.unwrap();
        let body = transfer_body(7, 1, 2, 10);
        let fp = fingerprint(&Method::POST, "/v1/ledger/transfers", body.as_bytes());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        // In flight now (another process, say).
        assert_eq!(
            store.begin("acme", "busy", &fp, now, 10_000).await.unwrap(),
            Begin::Fresh
        );
        let r = post(s.addr, "/v1/ledger/transfers", &ACME, "busy", &body).await;
        assert_eq!((r.status, r.code().as_str()), (409, "CONFLICT"));
        // The same key, another payload, while in flight: 422 first.
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "busy",
            &transfer_body(8, 1, 2, 1),
        )
        .await;
        assert_eq!(r.status, 422);
        // In flight since long ago (a crash): taken over.
        assert_eq!(
            store
                .begin("acme", "stale", &fp, now - 60_000, 10_000)
                .await
                .unwrap(),
            Begin::Fresh
        );
        let r = post(s.addr, "/v1/ledger/transfers", &ACME, "stale", &body).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["results"][0]["result"], "ok");
        // Records older than the retention are purged, newer ones kept.
        assert_eq!(store.purge(now - 86_400_000).await.unwrap(), 0);
        assert_eq!(store.purge(now + 60_000).await.unwrap(), 3);
        s.stop().await;
    });
}
