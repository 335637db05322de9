//! Budget routes end to end: tenants, top-up, reserve, commit (within,
//! overrun, idempotent), release, expiry, a tenant's view, tenant
//! isolation, and durability across a restart.

use tally_serve::config::Limits;
use tally_token::Scope;

use crate::support::{ACME, Server, get, mint, post, runtime};

fn view(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    let f = |k: &str| v[k].as_u64().unwrap();
    (f("funded"), f("reserved"), f("committed"), f("remaining"))
}

#[test]
fn budgets_reserve_commit_release_expire_and_survive_a_restart() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let admin = s.admin.clone();
        let acme = mint("acme", &[Scope::BudgetReserve], vec![]);
        let beta = mint("beta", &[Scope::BudgetReserve], vec![]);
        let base = "/v1/budget/tenants/acme";
        // Only an admin opens and funds a tenant.
        let r = post(s.addr, base, &acme, "o0", r#"{"initial":1000,"funding_id":1}"#).await;
        assert_eq!(r.status, 403);
        let r = post(s.addr, base, &admin, "o1", r#"{"initial":1000,"funding_id":1}"#).await;
        assert_eq!((r.status, r.json()["result"].as_str()), (200, Some("ok")));
        let r = post(s.addr, &format!("{base}/top-up"), &admin, "o2", r#"{"amount":500,"funding_id":2}"#).await;
        assert_eq!(r.status, 200);
        assert_eq!(view(&get(s.addr, base, &acme).await.json()), (1500, 0, 0, 1500));
        // Reserve, commit within.
        let res = format!("{base}/reservations");
        let r = post(s.addr, &res, &acme, "r1", r#"{"id":1,"amount":300}"#).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(view(&get(s.addr, base, &acme).await.json()), (1500, 300, 0, 1200));
        let r = post(s.addr, &format!("{res}/1/commit"), &acme, "c1", r#"{"actual":250}"#).await;
        assert_eq!(r.json()["result"], "ok");
        assert_eq!(view(&get(s.addr, base, &acme).await.json()), (1500, 0, 250, 1250));
        // The same commit again (another key): idempotent.
        let r = post(s.addr, &format!("{res}/1/commit"), &acme, "c1b", r#"{"actual":250}"#).await;
        assert_eq!((r.status, r.json()["result"].as_str()), (200, Some("already_committed")));
        // More than remains: refused, nothing held.
        let r = post(s.addr, &res, &acme, "r2", r#"{"id":2,"amount":1251}"#).await;
        assert_eq!((r.status, r.json()["result"].as_str()), (409, Some("exceeds_credits")));
        // Release.
        post(s.addr, &res, &acme, "r3", r#"{"id":3,"amount":100}"#).await;
        let r = post(s.addr, &format!("{res}/3/release"), &acme, "l3", "").await;
        assert_eq!(r.json()["result"], "ok");
        // An overrun within means: the post and the overrun together.
        post(s.addr, &res, &acme, "r4", r#"{"id":4,"amount":100}"#).await;
        let r = post(s.addr, &format!("{res}/4/commit"), &acme, "c4", r#"{"actual":150}"#).await;
        assert_eq!(r.json()["result"], "ok");
        assert_eq!(view(&get(s.addr, base, &acme).await.json()), (1500, 0, 400, 1100));
        // An overrun beyond means: refused, nothing changes.
        post(s.addr, &res, &acme, "r5", r#"{"id":5,"amount":100}"#).await;
        let r = post(s.addr, &format!("{res}/5/commit"), &acme, "c5", r#"{"actual":1300}"#).await;
        assert_eq!((r.status, r.json()["result"].as_str()), (409, Some("overrun_exceeds_credits")));
        assert_eq!(view(&get(s.addr, base, &acme).await.json()), (1500, 100, 400, 1000));
        // Expiry: a 1 s hold is released by the next write after it.
        post(s.addr, &res, &acme, "r6", r#"{"id":6,"amount":10,"timeout_s":1}"#).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        post(s.addr, &format!("{res}/5/release"), &acme, "l5", "").await;
        assert_eq!(view(&get(s.addr, base, &acme).await.json()), (1500, 0, 400, 1100));
        let r = post(s.addr, &format!("{res}/6/commit"), &acme, "c6", r#"{"actual":10}"#).await;
        assert_eq!(r.json()["result"], "pending_transfer_expired");
        // Unknown reservations and other tenants.
        let r = post(s.addr, &format!("{res}/99/commit"), &acme, "c99", r#"{"actual":1}"#).await;
        assert_eq!(r.json()["result"], "unknown_reservation");
        assert_eq!(get(s.addr, base, &beta).await.status, 403);
        let r = post(s.addr, &res, &beta, "rb", r#"{"id":7,"amount":1}"#).await;
        assert_eq!(r.status, 403);
        assert_eq!(get(s.addr, base, &ACME).await.status, 403, "a ledger token has no budget scope");
        // The ledger routes cannot touch the service's ids.
        let r = post(s.addr, "/v1/ledger/transfers", &ACME, "x1", &format!(
            r#"{{"transfers":[{{"id":1,"debit_account_id":{},"credit_account_id":1,"amount":1,"ledger":1,"code":1}}]}}"#,
            tally_serve::budget::tenant_account("acme")
        )).await;
        assert_eq!(r.status, 400);
        // Conservation holds on every ledger, budgets included.
        assert_eq!(get(s.addr, "/v1/ledger/conservation", &admin).await.json()["balanced"], true);
        // Durable: the same view after a restart.
        let before = get(s.addr, base, &acme).await.body;
        let dir = s.stop().await;
        let s = Server::start_in(dir, Limits::default(), None).await;
        assert_eq!(get(s.addr, base, &acme).await.body, before);
        s.stop().await;
    });
}
