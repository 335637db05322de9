//! The ledger routes end to end, authentication and authorization, error
//! bodies, operations routes, a restart.

use tally_serve::config::Limits;

use crate::support::{
    ACME, READER, Server, accounts_body, call, get, post, runtime, transfer_body,
};

#[test]
fn ledger_routes_end_to_end_and_state_survives_a_restart() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let r = post(
            s.addr,
            "/v1/ledger/accounts",
            ACME,
            "a1",
            &accounts_body(1, 2),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["results"][0]["result"], "ok");
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            ACME,
            "t1",
            &transfer_body(10, 1, 2, 75),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "ok");
        // A transfer id is idempotent on its own (a new key, the same id).
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            ACME,
            "t2",
            &transfer_body(10, 1, 2, 75),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "exists");
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            ACME,
            "t3",
            &transfer_body(11, 1, 3, 5),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "credit_account_not_found");
        let a = get(s.addr, "/v1/ledger/accounts/2", ACME).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["credits_posted"], 75);
        let t = get(s.addr, "/v1/ledger/transfers/10", READER).await;
        assert_eq!(t.json()["amount"], 75);
        let h = get(s.addr, "/v1/ledger/accounts/1/history?limit=10", ACME).await;
        assert_eq!(h.status, 200);
        assert_eq!(h.json()["entries"][0]["balance"]["debits_posted"], 75);
        let bad = get(s.addr, "/v1/ledger/accounts/1/history?limit=1001", ACME).await;
        assert_eq!(bad.status, 400);
        let c = get(s.addr, "/v1/ledger/conservation", ACME).await;
        assert_eq!(c.json()["balanced"], true);
        let p = get(s.addr, "/v1/ledger/transfers/10/proof", ACME).await;
        assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
        assert!(p.json().is_object());
        assert_eq!(
            get(s.addr, "/v1/ledger/transfers/99/proof", ACME)
                .await
                .status,
            404
        );
        assert_eq!(
            get(s.addr, "/v1/ledger/accounts/99", ACME).await.status,
            404
        );
        let before = get(s.addr, "/v1/ledger/accounts/2", ACME).await.body;
        // Restart on the same directory: the same state (from a snapshot).
        let dir = s.stop().await;
        assert!(
            dir.path()
                .join("data/snapshots")
                .read_dir()
                .unwrap()
                .next()
                .is_some()
        );
        let s = Server::start_in(dir, Limits::default(), None).await;
        assert_eq!(
            get(s.addr, "/v1/ledger/accounts/2", ACME).await.body,
            before
        );
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            ACME,
            "t4",
            &transfer_body(12, 2, 1, 5),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "ok");
        assert_eq!(
            get(s.addr, "/v1/ledger/transfers/12/proof", ACME)
                .await
                .status,
            200
        );
        s.stop().await;
    });
}

#[test]
fn the_data_directory_and_the_admin_token_are_private() {
    use std::os::unix::fs::PermissionsExt;
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(s.data()), 0o700);
        assert_eq!(mode(s.data().join("admin.token")), 0o600);
        assert_eq!(mode(s.data().join("checkpoint.skey")), 0o600);
        // The admin token works.
        assert_eq!(
            get(s.addr, "/v1/ledger/conservation", &s.admin.clone())
                .await
                .status,
            200
        );
        s.stop().await;
    });
}

#[test]
fn authentication_and_authorization_matrix() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let routes: [(&str, &str); 4] = [
            ("GET", "/v1/ledger/accounts/1"),
            ("GET", "/v1/ledger/conservation"),
            ("POST", "/v1/ledger/accounts"),
            ("POST", "/v1/ledger/transfers"),
        ];
        let body = accounts_body(500, 501);
        for (method, path) in routes {
            let b = if method == "POST" {
                body.as_bytes()
            } else {
                b""
            };
            // Missing.
            let r = call(s.addr, method, path, None, Some("m"), b).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (401, "UNAUTHENTICATED"),
                "{method} {path}"
            );
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            // Malformed (not Bearer), unknown, forged by one character.
            let basic = tally_serve_raw(s.addr, method, path, "Basic YWRtaW46YWRtaW4=", b).await;
            assert_eq!(basic, 401, "{method} {path}");
            let r = call(s.addr, method, path, Some("nope"), Some("m"), b).await;
            assert_eq!(r.status, 401);
            let mut forged = ACME.to_owned();
            forged.pop();
            forged.push('X');
            let r = call(s.addr, method, path, Some(&forged), Some("m"), b).await;
            assert_eq!(r.status, 401);
            // Wrong scope: the reader may read, not write.
            let r = call(s.addr, method, path, Some(READER), Some("m"), b).await;
            let want = if method == "GET" {
                [200, 404]
            } else {
                [403, 403]
            };
            assert!(want.contains(&r.status), "{method} {path}: {}", r.status);
            if method == "POST" {
                assert_eq!(r.code(), "UNAUTHORIZED");
            }
        }
        let metrics = String::from_utf8(get(s.addr, "/metrics", ACME).await.body).unwrap();
        assert!(metrics.contains("auth_failures_total{scope=\"ledger.write\"}"));
        s.stop().await;
    });
}

async fn tally_serve_raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: &str,
    body: &[u8],
) -> u16 {
    let mut headers = vec![("Authorization", auth), ("Idempotency-Key", "m")];
    if method == "POST" {
        headers.push(("Content-Type", "application/json"));
    }
    crate::support::send(addr, &crate::support::raw(method, path, &headers, body))
        .await
        .status
}

#[test]
fn errors_have_stable_codes_and_never_echo_the_request() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let marker = "zz_secret_marker_zz";
        let unknown = format!(r#"{{"accounts":[],"{marker}":1}}"#);
        let r = post(s.addr, "/v1/ledger/accounts", ACME, "e1", &unknown).await;
        assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"));
        let corr = r.json()["error"]["correlation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(r.header("x-request-id"), Some(corr.as_str()));
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        let r = post(
            s.addr,
            "/v1/ledger/accounts",
            ACME,
            "e2",
            &format!(r#"{{"accounts":[{{"id":1,"ledger":1,"code":1,"flags":["{marker}"]}}]}}"#),
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        let r = get(s.addr, &format!("/v1/ledger/accounts/{marker}"), ACME).await;
        assert_eq!(r.status, 400);
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        let r = get(s.addr, &format!("/v1/{marker}"), ACME).await;
        assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        // JSON only.
        let r = crate::support::send(
            s.addr,
            &crate::support::raw(
                "POST",
                "/v1/ledger/accounts",
                &[
                    ("Authorization", &format!("Bearer {ACME}")),
                    ("Idempotency-Key", "e3"),
                    ("Content-Type", "text/plain"),
                ],
                accounts_body(1, 2).as_bytes(),
            ),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (415, "UNSUPPORTED_MEDIA_TYPE")
        );
        // Empty and oversized batches.
        let r = post(
            s.addr,
            "/v1/ledger/accounts",
            ACME,
            "e4",
            r#"{"accounts":[]}"#,
        )
        .await;
        assert_eq!(r.status, 400);
        // Headers on every answer.
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(r.header("strict-transport-security").is_none());
        assert!(r.header("access-control-allow-origin").is_none());
        s.stop().await;
    });
}

#[test]
fn operations_routes() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        assert_eq!(get(s.addr, "/healthz", "").await.status, 200);
        let ready = get(s.addr, "/readyz", "").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.json()["ready"], true);
        let doc = get(s.addr, "/openapi.json", "").await.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(doc["paths"]["/v1/ledger/transfers"]["post"].is_object());
        assert!(doc["components"]["schemas"]["TransfersRequest"].is_object());
        let m = String::from_utf8(get(s.addr, "/metrics", "").await.body).unwrap();
        for name in [
            "http_request_duration_seconds",
            "rejected_total",
            "readyz_degraded",
            "ledger_group_commit_seconds",
        ] {
            assert!(m.contains(name), "{name}");
        }
        s.stop().await;
    });
}

#[test]
fn group_commit_shares_one_sync_between_concurrent_batches() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        post(
            s.addr,
            "/v1/ledger/accounts",
            ACME,
            "g0",
            &accounts_body(1, 2),
        )
        .await;
        let mut tasks = Vec::new();
        for i in 0..64u128 {
            let addr = s.addr;
            tasks.push(tokio::spawn(async move {
                post(
                    addr,
                    "/v1/ledger/transfers",
                    ACME,
                    &format!("g{}", i + 1),
                    &transfer_body(100 + i, 1, 2, 1),
                )
                .await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.json()["results"][0]["result"], "ok");
        }
        assert_eq!(
            get(s.addr, "/v1/ledger/accounts/2", ACME).await.json()["credits_posted"],
            64
        );
        s.stop().await;
    });
}

#[test]
fn a_poisoned_journal_fails_closed_and_degrades_readyz() {
    use tally_audit::storage::{Faults, SimLog};
    use tally_audit::{AuditLog, CheckpointSigner, LogOptions};
    use tally_ledger::journal::DurableLedger;
    runtime().block_on(async {
        let disk = SimLog::new(Vec::new(), Faults::default(), 7);
        let signer = CheckpointSigner::generate("test").unwrap();
        let vkey = signer.verifier();
        let log = AuditLog::create_with(Box::new(disk.clone()), LogOptions::new().signer(signer))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.journal = Some((DurableLedger::new(log), vkey));
        let running = tally_serve::start(c).await.unwrap();
        let addr = running.addr;
        let r = post(
            addr,
            "/v1/ledger/accounts",
            ACME,
            "p1",
            &accounts_body(1, 2),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(get(addr, "/readyz", "").await.status, 200);
        // Every sync fails from now on.
        disk.set_faults(Faults {
            sync_fail_permille: 1000,
            ..Faults::default()
        });
        let r = post(
            addr,
            "/v1/ledger/transfers",
            ACME,
            "p2",
            &transfer_body(5, 1, 2, 9),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "DEPENDENCY_UNAVAILABLE")
        );
        // Never served again, not even reads (memory may be ahead of the journal).
        let r = get(addr, "/v1/ledger/accounts/1", ACME).await;
        assert_eq!(r.status, 503);
        let ready = get(addr, "/readyz", "").await;
        assert_eq!(ready.status, 503);
        assert!(
            ready.json()["causes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "journal_poisoned")
        );
        let m = String::from_utf8(get(addr, "/metrics", "").await.body).unwrap();
        assert!(
            m.contains("readyz_degraded{cause=\"journal_poisoned\"} 1"),
            "{m}"
        );
        // A retry with the same key is not stuck: the failure was not kept.
        let r = post(
            addr,
            "/v1/ledger/transfers",
            ACME,
            "p2",
            &transfer_body(5, 1, 2, 9),
        )
        .await;
        assert_eq!(r.status, 503);
        running.stop().await;
    });
}
