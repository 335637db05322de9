//! Ledger records belong to tenants: an account is its creator's tenant's;
//! a batch debits only the caller's accounts (a post or void only the
//! caller's pending transfers); reads reach only the caller's accounts and
//! the transfers touching them, and anything else answers exactly as an id
//! that does not exist. Admin reaches everything. Ownership survives a
//! restart (embedded here; PostgreSQL in `pg.rs`).

use std::net::SocketAddr;

use tally_serve::auth::Tenant;
use tally_serve::config::Limits;
use tally_serve::tenancy::Owner;
use tally_token::Scope;

use crate::support::{
    ACME, BETA, Resp, Server, accounts_body, get, mint, post, runtime, transfer_body,
};

/// A proof, retried while the journal's proof index is still being built.
pub async fn proof(addr: SocketAddr, id: u128, token: &str) -> Resp {
    for _ in 0..200 {
        let r = get(addr, &format!("/v1/ledger/transfers/{id}/proof"), token).await;
        if r.status != 503 {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the proof index was never ready");
}

pub fn owner_tag(tenant: &str) -> u128 {
    Owner::of(&Tenant::new(tenant).unwrap()).tag()
}

/// The fields of an error answer a tenant can compare (not the
/// correlation id).
pub fn error_of(r: &Resp) -> (u16, serde_json::Value) {
    let mut e = r.json()["error"].clone();
    e.as_object_mut().unwrap().remove("correlation_id");
    (r.status, e)
}

fn pending_body(id: u128, from: u128, to: u128, amount: u128) -> String {
    format!(
        r#"{{"transfers":[{{"id":{id},"debit_account_id":{from},"credit_account_id":{to},"amount":{amount},"ledger":1,"code":1,"flags":["pending"]}}]}}"#
    )
}

fn settle_body(id: u128, pending: u128, flag: &str) -> String {
    format!(r#"{{"transfers":[{{"id":{id},"pending_id":{pending},"flags":["{flag}"]}}]}}"#)
}

/// Sets up acme's accounts 1, 2 and beta's 3, 4 (ledger 1) and 5 (ledger 2).
pub async fn two_tenants(addr: SocketAddr) {
    let r = post(
        addr,
        "/v1/ledger/accounts",
        &ACME,
        "ta",
        &accounts_body(1, 2),
    )
    .await;
    assert_eq!(r.json()["results"][1]["result"], "ok");
    let r = post(
        addr,
        "/v1/ledger/accounts",
        &BETA,
        "tb",
        &accounts_body(3, 4),
    )
    .await;
    assert_eq!(r.json()["results"][1]["result"], "ok");
    let other_ledger = r#"{"accounts":[{"id":5,"ledger":2,"code":1}]}"#;
    let r = post(addr, "/v1/ledger/accounts", &BETA, "tc", other_ledger).await;
    assert_eq!(r.json()["results"][0]["result"], "ok");
}

/// The refusal of a batch whose event `event` debits out of reach.
fn assert_foreign(r: &Resp, event: u64) {
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "UNAUTHORIZED"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["error"]["event"], event);
}

/// Through `a` (with its admin token): transfers, posts and voids.
pub async fn transfers_and_settlements_debit_only_the_callers_accounts(a: SocketAddr, admin: &str) {
    let r = post(
        a,
        "/v1/ledger/transfers",
        &ACME,
        "x1",
        &transfer_body(10, 1, 2, 5),
    )
    .await;
    assert_eq!(r.json()["results"][0]["result"], "ok");
    // Crediting another tenant's account is a payment.
    let r = post(
        a,
        "/v1/ledger/transfers",
        &ACME,
        "x2",
        &transfer_body(11, 1, 3, 4),
    )
    .await;
    assert_eq!(r.json()["results"][0]["result"], "ok");
    // On another ledger the ledger's own code answers.
    let r = post(
        a,
        "/v1/ledger/transfers",
        &ACME,
        "x3",
        &transfer_body(12, 1, 5, 1),
    )
    .await;
    assert_eq!(
        r.json()["results"][0]["result"],
        "accounts_must_have_the_same_ledger"
    );
    // Debiting beta's account, or one that does not exist: the same refusal.
    let foreign = post(
        a,
        "/v1/ledger/transfers",
        &ACME,
        "x4",
        &transfer_body(13, 3, 1, 1),
    )
    .await;
    assert_foreign(&foreign, 0);
    let unknown = post(
        a,
        "/v1/ledger/transfers",
        &ACME,
        "x5",
        &transfer_body(14, 999, 1, 1),
    )
    .await;
    assert_eq!(error_of(&foreign), error_of(&unknown));
    // The whole batch is refused, naming the first foreign event.
    let batch = r#"{"transfers":[
        {"id":15,"debit_account_id":1,"credit_account_id":2,"amount":1,"ledger":1,"code":1},
        {"id":16,"debit_account_id":4,"credit_account_id":2,"amount":1,"ledger":1,"code":1}]}"#;
    assert_foreign(
        &post(a, "/v1/ledger/transfers", &ACME, "x6", batch).await,
        1,
    );
    for id in [13, 14, 15, 16] {
        let r = get(a, &format!("/v1/ledger/transfers/{id}"), admin).await;
        assert_eq!(r.status, 404, "transfer {id} was applied");
    }
    // A pending transfer is posted or voided by its debit owner only.
    let r = post(
        a,
        "/v1/ledger/transfers",
        &BETA,
        "x7",
        &pending_body(20, 3, 1, 7),
    )
    .await;
    assert_eq!(r.json()["results"][0]["result"], "ok");
    for (key, flag) in [
        ("x8", "post_pending_transfer"),
        ("x9", "void_pending_transfer"),
    ] {
        let r = post(
            a,
            "/v1/ledger/transfers",
            &ACME,
            key,
            &settle_body(21, 20, flag),
        )
        .await;
        assert_foreign(&r, 0);
    }
    let r = post(
        a,
        "/v1/ledger/transfers",
        &BETA,
        "x10",
        &settle_body(21, 20, "post_pending_transfer"),
    )
    .await;
    assert_eq!(r.json()["results"][0]["result"], "ok");
    // A post of a pending transfer made in the same batch is refused.
    let same_batch = r#"{"transfers":[
        {"id":30,"debit_account_id":1,"credit_account_id":2,"amount":1,"ledger":1,"code":1,"flags":["pending"]},
        {"id":31,"pending_id":30,"flags":["post_pending_transfer"]}]}"#;
    assert_foreign(
        &post(a, "/v1/ledger/transfers", &ACME, "x11", same_batch).await,
        1,
    );
    // Admin debits anything.
    let r = post(
        a,
        "/v1/ledger/transfers",
        admin,
        "x12",
        &transfer_body(40, 3, 2, 1),
    )
    .await;
    assert_eq!(r.json()["results"][0]["result"], "ok");
}

/// Through `a` (with its admin token): reads, after the transfers above;
/// with `proofs`, the visible transfers' proofs too (embedded mode).
pub async fn reads_reach_only_the_callers_records(a: SocketAddr, admin: &str, proofs: bool) {
    let gamma = mint("gamma", &[Scope::LedgerRead], vec![]);
    let not_found = error_of(&get(a, "/v1/ledger/accounts/999", &ACME).await);
    assert_eq!(not_found.0, 404);
    let acme = get(a, "/v1/ledger/accounts/1", &ACME).await;
    assert_eq!(acme.status, 200);
    // The tag is above 2^64: compared as text.
    let stamped = format!("\"user_data_128\":{},", owner_tag("acme"));
    assert!(String::from_utf8_lossy(&acme.body).contains(&stamped));
    assert_eq!(acme.json()["debits_posted"], 9);
    for (path, token) in [
        ("/v1/ledger/accounts/1", &*BETA),
        ("/v1/ledger/accounts/3", &*ACME),
        ("/v1/ledger/accounts/1/history", &*BETA),
        ("/v1/ledger/accounts/999/history", &*ACME),
        // Acme's own transfer; beta's pending one and its post.
        ("/v1/ledger/transfers/10", &*BETA),
        ("/v1/ledger/transfers/10/proof", &*BETA),
        ("/v1/ledger/transfers/11", &gamma),
        ("/v1/ledger/transfers/11/proof", &gamma),
        ("/v1/ledger/transfers/999", &*ACME),
    ] {
        let r = get(a, path, token).await;
        assert_eq!(error_of(&r), not_found, "{path}");
    }
    // The budgets' accounts (service ids) are nobody's on these routes.
    let operator = format!("/v1/ledger/accounts/{}", tally_serve::budget::OPERATOR);
    assert_eq!(get(a, &operator, admin).await.status, 200);
    assert_eq!(error_of(&get(a, &operator, &ACME).await), not_found);
    // A transfer is visible to its debit and its credit owner.
    for token in [&*ACME, &*BETA, admin] {
        assert_eq!(get(a, "/v1/ledger/transfers/11", token).await.status, 200);
        if proofs {
            assert_eq!(proof(a, 11, token).await.status, 200);
        }
    }
    for token in [&*ACME, admin] {
        let r = get(a, "/v1/ledger/accounts/1/history", token).await;
        assert_eq!(r.status, 200);
        // Transfers 10 and 11, beta's pending 20 and its post 21.
        assert_eq!(r.json()["entries"].as_array().unwrap().len(), 4);
    }
    assert_eq!(get(a, "/v1/ledger/accounts/3", admin).await.status, 200);
}

#[test]
fn ledger_records_belong_to_the_tenant_that_created_them_and_still_after_a_restart() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        two_tenants(s.addr).await;
        // The owner is the service's to set.
        let r = post(
            s.addr,
            "/v1/ledger/accounts",
            &ACME,
            "owner",
            r#"{"accounts":[{"id":9,"ledger":1,"code":1,"user_data_128":1}]}"#,
        )
        .await;
        assert_eq!((r.status, r.code().as_str()), (400, "BAD_REQUEST"));
        // An id taken by another tenant is not taken over.
        let r = post(
            s.addr,
            "/v1/ledger/accounts",
            &BETA,
            "steal",
            &accounts_body(1, 6),
        )
        .await;
        assert_eq!(
            r.json()["results"][0]["result"],
            "exists_with_different_user_data_128"
        );
        transfers_and_settlements_debit_only_the_callers_accounts(s.addr, &s.admin).await;
        reads_reach_only_the_callers_records(s.addr, &s.admin, true).await;
        // The owners are in the journal and its snapshot: after a restart,
        // the same answers.
        let dir = s.stop().await;
        let s = Server::start_in(dir, Limits::default(), None).await;
        reads_reach_only_the_callers_records(s.addr, &s.admin, true).await;
        let r = post(
            s.addr,
            "/v1/ledger/transfers",
            &ACME,
            "y1",
            &transfer_body(50, 3, 1, 1),
        )
        .await;
        assert_foreign(&r, 0);
        s.stop().await;
    });
}
