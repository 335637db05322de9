//! The ledger routes end to end, authentication and authorization, error
//! bodies, operations routes, a restart.

use tally_serve::config::Limits;

use crate::support::{
    ACME, BETA, READER, ROOT_BYTES, Server, accounts_body, call, get, mint, post, runtime,
    transfer_body,
};

#[test]
fn ledger_routes_end_to_end_and_state_survives_a_restart() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let r = post(
            s.addr,
            "/v1/ledger/accounts",
            &ACME,
            "a1",
            &accounts_body(1, 2),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["results"][0]["result"], "ok");
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "t1",
            &transfer_body(10, 1, 2, 75),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "ok");
        // A transfer id is idempotent on its own (a new key, the same id).
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "t2",
            &transfer_body(10, 1, 2, 75),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "exists");
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "t3",
            &transfer_body(11, 1, 3, 5),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "credit_account_not_found");
        let a = get(s.addr, "/v1/ledger/accounts/2", &ACME).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["credits_posted"], 75);
        let acme_reader = mint("acme", &[tally_token::Scope::LedgerRead], vec![]);
        let t = get(s.addr, "/v1/ledger/transfers/10", &acme_reader).await;
        assert_eq!(t.json()["amount"], 75);
        // Another tenant's reader does not see it.
        assert_eq!(
            get(s.addr, "/v1/ledger/transfers/10", &READER).await.status,
            404
        );
        let h = get(s.addr, "/v1/ledger/accounts/1/history?limit=10", &ACME).await;
        assert_eq!(h.status, 200);
        assert_eq!(h.json()["entries"][0]["balance"]["debits_posted"], 75);
        let bad = get(s.addr, "/v1/ledger/accounts/1/history?limit=1001", &ACME).await;
        assert_eq!(bad.status, 400);
        let c = get(s.addr, "/v1/ledger/conservation", &s.admin).await;
        assert_eq!(c.json()["balanced"], true);
        // The instance-wide totals are the operator's and auditors' only.
        assert_eq!(
            get(s.addr, "/v1/ledger/conservation", &ACME).await.status,
            403
        );
        let p = crate::tenancy::proof(s.addr, 10, &ACME).await;
        assert_eq!(p.status, 200, "{}", String::from_utf8_lossy(&p.body));
        assert!(p.json().is_object());
        assert_eq!(
            get(s.addr, "/v1/ledger/transfers/99/proof", &ACME)
                .await
                .status,
            404
        );
        assert_eq!(
            get(s.addr, "/v1/ledger/accounts/99", &ACME).await.status,
            404
        );
        let before = get(s.addr, "/v1/ledger/accounts/2", &ACME).await.body;
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
            get(s.addr, "/v1/ledger/accounts/2", &ACME).await.body,
            before
        );
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "t4",
            &transfer_body(12, 2, 1, 5),
        )
        .await;
        assert_eq!(r.json()["results"][0]["result"], "ok");
        assert_eq!(crate::tenancy::proof(s.addr, 12, &ACME).await.status, 200);
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

fn token_text(t: &tally_token::Token) -> String {
    t.to_text().as_str().to_owned()
}

#[test]
fn authentication_and_authorization_matrix() {
    use tally_token::{
        Caveat, Method, Methods, PathPrefix, RootKey, Scope, Scopes, Token, TokenId,
    };
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let rw = [Scope::LedgerRead, Scope::LedgerWrite];
        let expired = mint("acme", &rw, vec![Caveat::Expiry(now - 1)]);
        let not_yet = mint("acme", &rw, vec![Caveat::NotBefore(now + 3_600)]);
        let write_only = mint("acme", &[Scope::LedgerWrite], vec![]);
        let forged = token_text(
            &Token::mint(
                &RootKey::from_bytes(&[8; 32]),
                1,
                TokenId([1; 16]),
                vec![Caveat::Scopes(Scopes::new(rw).unwrap())],
            )
            .unwrap(),
        );
        let unknown_epoch = token_text(
            &Token::mint(
                &RootKey::from_bytes(&ROOT_BYTES),
                2,
                TokenId([2; 16]),
                vec![],
            )
            .unwrap(),
        );
        let acme = Token::from_text(&ACME).unwrap();
        let wrong_path = token_text(
            &acme
                .attenuate(Caveat::PathPrefix(
                    PathPrefix::new("/v1/ledger/transfers").unwrap(),
                ))
                .unwrap(),
        );
        let read_attenuated = token_text(
            &acme
                .attenuate(Caveat::Methods(Methods::new([Method::Get]).unwrap()))
                .unwrap(),
        );
        // Revoked through the admin route.
        let revoked = mint("acme", &rw, vec![]);
        let id = Token::from_text(&revoked).unwrap().id().to_string();
        let r = post(
            s.addr,
            &format!("/v1/tokens/{id}/revoke"),
            &s.admin,
            "rv1",
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        // Acme's accounts 1, 2 (beta's 3, 4, 5) and transfer 10 (with its
        // proof ready).
        crate::tenancy::two_tenants(s.addr).await;
        let pay = transfer_body(10, 1, 2, 3);
        let r = post(s.addr, "/v1/ledger/transfers", &ACME, "s2", &pay).await;
        assert_eq!(r.json()["results"][0]["result"], "ok");
        assert_eq!(crate::tenancy::proof(s.addr, 10, &ACME).await.status, 200);
        let accounts = accounts_body(500, 501);
        let transfer = transfer_body(11, 1, 2, 1);
        let routes: [(&str, &str, &str); 8] = [
            ("GET", "/v1/ledger/accounts/1", ""),
            ("GET", "/v1/ledger/accounts/1/history", ""),
            ("GET", "/v1/ledger/transfers/10", ""),
            ("GET", "/v1/ledger/transfers/10/proof", ""),
            ("GET", "/v1/ledger/conservation", ""),
            ("POST", "/v1/ledger/accounts", &accounts),
            ("POST", "/v1/ledger/transfers", &transfer),
            ("POST", "/v1/ledger/transfers", &accounts),
        ];
        let mut n = 0;
        for (method, path, body) in routes {
            let b = body.as_bytes();
            let get = method == "GET";
            // A batch of accounts sent as transfers is refused after auth.
            let ok = if body == accounts && path == "/v1/ledger/transfers" {
                [400]
            } else {
                [200]
            };
            // The instance-wide totals need `audit.read` (or admin): no
            // tenant's ledger token reads them.
            let totals = path == "/v1/ledger/conservation";
            let tenant_ok = if totals { vec![403] } else { ok.to_vec() };
            // Beta's token: acme's records are not found, acme's account
            // is not beta's to debit; its own accounts are beta's to make.
            let wrong_tenant = match path {
                "/v1/ledger/conservation" => vec![403],
                "/v1/ledger/accounts" => vec![200],
                "/v1/ledger/transfers" if ok == [400] => vec![400],
                "/v1/ledger/transfers" => vec![403],
                _ => vec![404],
            };
            let cells: Vec<(&str, Option<&str>, Vec<u16>)> = vec![
                ("missing", None, vec![401]),
                ("garbage", Some("nope"), vec![401]),
                ("forged", Some(&forged), vec![401]),
                ("unknown root epoch", Some(&unknown_epoch), vec![401]),
                ("expired", Some(&expired), vec![401]),
                ("not yet valid", Some(&not_yet), vec![401]),
                ("revoked", Some(&revoked), vec![401]),
                (
                    "wrong scope",
                    Some(if get { &write_only } else { &READER }),
                    vec![403],
                ),
                (
                    "wrong path",
                    Some(&wrong_path),
                    if path.starts_with("/v1/ledger/transfers") {
                        ok.to_vec()
                    } else {
                        vec![403]
                    },
                ),
                ("wrong tenant", Some(&BETA), wrong_tenant),
                (
                    "attenuated to GET",
                    Some(&read_attenuated),
                    if get { tenant_ok.clone() } else { vec![403] },
                ),
                ("valid", Some(&ACME), tenant_ok.clone()),
                ("admin", Some(&s.admin), ok.to_vec()),
            ];
            for (name, token, want) in cells {
                n += 1;
                let key = format!("m{n}");
                let r = call(s.addr, method, path, token, Some(&key), b).await;
                assert!(
                    want.contains(&r.status),
                    "{method} {path} {name}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                match r.status {
                    401 => {
                        assert_eq!(r.code(), "UNAUTHENTICATED");
                        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
                    }
                    403 => assert_eq!(r.code(), "UNAUTHORIZED"),
                    _ => {}
                }
            }
            let basic = tally_serve_raw(s.addr, method, path, "Basic YWRtaW46YWRtaW4=", b).await;
            assert_eq!(basic, 401, "{method} {path}");
        }
        let metrics = String::from_utf8(get(s.addr, "/metrics", &ACME).await.body).unwrap();
        assert!(metrics.contains("auth_failures_total{scope=\"ledger.write\"}"));
        // Token routes are admin only.
        let r = post(
            s.addr,
            "/v1/tokens",
            &ACME,
            "x",
            r#"{"scopes":["ledger.read"],"tenant":"acme"}"#,
        )
        .await;
        assert_eq!(r.status, 403);
        s.stop().await;
    });
}

#[test]
fn minted_tokens_work_and_a_revoked_root_epoch_refuses_its_tokens() {
    use tally_token::RootKey;
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::support::config(dir.path(), Limits::default());
        // A second, newer epoch: the server mints under it.
        RootKey::from_bytes(&[9; 32])
            .create_file(&dir.path().join("keys/root-2.key"))
            .unwrap();
        let running = tally_serve::start(c).await.unwrap();
        let addr = running.addr;
        let admin = std::fs::read_to_string(&running.admin_token_file)
            .unwrap()
            .trim()
            .to_owned();
        let r = post(
            addr,
            "/v1/tokens",
            &admin,
            "-",
            r#"{"tenant":"acme","scopes":["ledger.read","audit.read"],"expires_in_s":600}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["epoch"], 2);
        let minted = r.json()["token"].as_str().unwrap().to_owned();
        assert_eq!(
            get(addr, "/v1/ledger/conservation", &minted).await.status,
            200
        );
        // Minting refuses what it cannot bound.
        for bad in [
            r#"{"scopes":[]}"#,
            r#"{"scopes":["ledger.read"]}"#,
            r#"{"tenant":"acme","scopes":["nope"]}"#,
            r#"{"tenant":"acme","scopes":["ledger.read"],"expires_in_s":7776001}"#,
        ] {
            assert_eq!(
                post(addr, "/v1/tokens", &admin, "-", bad).await.status,
                400,
                "{bad}"
            );
        }
        // Epoch 1 (ACME) works until it is revoked.
        assert_eq!(get(addr, "/v1/tokens/self", &ACME).await.status, 200);
        let r = post(addr, "/v1/tokens/epochs/1/revoke", &admin, "re1", "").await;
        assert_eq!(r.status, 200);
        assert_eq!(get(addr, "/v1/tokens/self", &ACME).await.status, 401);
        assert_eq!(
            get(addr, "/v1/ledger/conservation", &minted).await.status,
            200
        );
        // Revocations are durable: still refused after a restart.
        running.stop().await;
        let c = crate::support::config(dir.path(), Limits::default());
        let running = tally_serve::start(c).await.unwrap();
        assert_eq!(
            get(running.addr, "/v1/tokens/self", &ACME).await.status,
            401
        );
        assert_eq!(
            get(running.addr, "/v1/ledger/conservation", &minted)
                .await
                .status,
            200
        );
        running.stop().await;
    });
}

#[test]
fn a_max_amount_caveat_bounds_a_requests_total() {
    use tally_token::{Caveat, Scope};
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        post(s.addr, "/v1/ledger/accounts", &ACME, "a", &accounts_body(1, 2)).await;
        let capped = mint("acme", &[Scope::LedgerWrite], vec![Caveat::MaxAmount(100)]);
        let two = |a: u128, b: u128| format!(
            r#"{{"transfers":[{{"id":{a},"debit_account_id":1,"credit_account_id":2,"amount":{a},"ledger":1,"code":1}},{{"id":{b},"debit_account_id":1,"credit_account_id":2,"amount":{b},"ledger":1,"code":1}}]}}"#
        );
        // At the bound: 40 + 60.
        let r = post(s.addr, "/v1/ledger/transfers", &capped, "c1", &two(40, 60)).await;
        assert_eq!(r.status, 200);
        // One past: 40 + 61.
        let r = post(s.addr, "/v1/ledger/transfers", &capped, "c2", &two(41, 60)).await;
        assert_eq!((r.status, r.code().as_str()), (403, "UNAUTHORIZED"));
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
        let r = post(s.addr, "/v1/ledger/accounts", &ACME, "e1", &unknown).await;
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
            &ACME,
            "e2",
            &format!(r#"{{"accounts":[{{"id":1,"ledger":1,"code":1,"flags":["{marker}"]}}]}}"#),
        )
        .await;
        assert_eq!(r.status, 400);
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        let r = get(s.addr, &format!("/v1/ledger/accounts/{marker}"), &ACME).await;
        assert_eq!(r.status, 400);
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        let r = get(s.addr, &format!("/v1/{marker}"), &ACME).await;
        assert_eq!((r.status, r.code().as_str()), (404, "NOT_FOUND"));
        assert!(!String::from_utf8_lossy(&r.body).contains(marker));
        // JSON only.
        let r = crate::support::send(
            s.addr,
            &crate::support::raw(
                "POST",
                "/v1/ledger/accounts",
                &[
                    ("Authorization", &format!("Bearer {}", *ACME)),
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
            &ACME,
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
        // Every DTO's JSON Schema, standalone.
        for name in doc["components"]["schemas"].as_object().unwrap().keys() {
            let r = get(s.addr, &format!("/schema/{name}.json"), "").await;
            assert_eq!(r.status, 200, "{name}");
            let schema = r.json();
            assert!(schema["$schema"].as_str().unwrap().contains("2020-12"));
            assert!(!r.body.windows(12).any(|w| w == b"#/components"), "{name}");
        }
        assert_eq!(get(s.addr, "/schema/Nope.json", "").await.status, 404);
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
            &ACME,
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
                    &ACME,
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
            get(s.addr, "/v1/ledger/accounts/2", &ACME).await.json()["credits_posted"],
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
            &ACME,
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
            &ACME,
            "p2",
            &transfer_body(5, 1, 2, 9),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "DEPENDENCY_UNAVAILABLE")
        );
        // Never served again, not even reads (memory may be ahead of the journal).
        let r = get(addr, "/v1/ledger/accounts/1", &ACME).await;
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
            &ACME,
            "p2",
            &transfer_body(5, 1, 2, 9),
        )
        .await;
        assert_eq!(r.status, 503);
        running.stop().await;
    });
}

/// A budget commit reads its reservation without waiting for durability
/// (the write it then makes is journaled after what it read), yet it is
/// acknowledged only once that write is durable: with every sync failing,
/// the commit and the release answer 503, never `ok`. Fails if either were
/// answered from its read.
#[test]
fn a_commit_after_an_unsynced_read_is_acknowledged_only_once_durable() {
    use tally_audit::storage::{Faults, SimLog};
    use tally_audit::{AuditLog, CheckpointSigner, LogOptions};
    use tally_ledger::journal::DurableLedger;
    use tally_token::Scope;
    runtime().block_on(async {
        let disk = SimLog::new(Vec::new(), Faults::default(), 11);
        let signer = CheckpointSigner::generate("test").unwrap();
        let vkey = signer.verifier();
        let log = AuditLog::create_with(Box::new(disk.clone()), LogOptions::new().signer(signer))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.journal = Some((DurableLedger::new(log), vkey));
        let running = tally_serve::start(c).await.unwrap();
        let addr = running.addr;
        let admin = std::fs::read_to_string(&running.admin_token_file).unwrap();
        let admin = admin.trim();
        let acme = crate::support::mint("acme", &[Scope::BudgetReserve], vec![]);
        let base = "/v1/budget/tenants/acme";
        let r = post(
            addr,
            base,
            admin,
            "o1",
            r#"{"initial":1000,"funding_id":1}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let res = format!("{base}/reservations");
        for (id, key) in [(1, "r1"), (2, "r2")] {
            let body = format!(r#"{{"id":{id},"amount":100}}"#);
            let r = post(addr, &res, &acme, key, &body).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
        disk.set_faults(Faults {
            sync_fail_permille: 1000,
            ..Faults::default()
        });
        let r = post(
            addr,
            &format!("{res}/1/commit"),
            &acme,
            "c1",
            r#"{"actual":60}"#,
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "DEPENDENCY_UNAVAILABLE")
        );
        let r = post(addr, &format!("{res}/2/release"), &acme, "l2", "").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "DEPENDENCY_UNAVAILABLE")
        );
        running.stop().await;
    });
}

#[test]
fn a_token_introspects_itself() {
    use tally_token::{Caveat, PathPrefix, Scope, Token};
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let r = get(s.addr, "/v1/tokens/self", &ACME).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert_eq!(v["tenant"], "acme");
        assert_eq!(
            v["scopes"],
            serde_json::json!(["ledger.read", "ledger.write"])
        );
        assert_eq!(v["id"], Token::from_text(&ACME).unwrap().id().to_string());
        // Narrowed away from this path: still introspects, and says so.
        let narrow = Token::from_text(&ACME)
            .unwrap()
            .attenuate(Caveat::PathPrefix(PathPrefix::new("/v1/ledger/").unwrap()))
            .unwrap()
            .attenuate(Caveat::MaxAmount(5))
            .unwrap();
        let r = get(s.addr, "/v1/tokens/self", narrow.to_text().as_str()).await;
        assert_eq!(
            r.json()["path_prefixes"],
            serde_json::json!(["/v1/ledger/"])
        );
        assert_eq!(r.json()["max_amount"], 5);
        // Expired, revoked-epoch-less forgeries and no token: 401.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let expired = mint("acme", &[Scope::LedgerRead], vec![Caveat::Expiry(now - 1)]);
        assert_eq!(get(s.addr, "/v1/tokens/self", &expired).await.status, 401);
        assert_eq!(
            call(s.addr, "GET", "/v1/tokens/self", None, None, b"")
                .await
                .status,
            401
        );
        assert_eq!(
            get(s.addr, "/v1/tokens/self", "tally1.AAAA").await.status,
            401
        );
        s.stop().await;
    });
}
