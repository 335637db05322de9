//! `--database postgres://…`: two servers over one PostgreSQL database (a
//! throw-away one at 127.0.0.1:5432; never skipped): the ledger and the
//! idempotency records are shared, so a retry through the other server gets
//! the first result; a database outage degrades `/readyz`.

use std::hash::{BuildHasher, Hasher};

use sqlx::{Connection, Executor, PgConnection};
use tally_serve::config::Limits;

use crate::support::{ACME, BETA, Server, accounts_body, get, post, runtime, transfer_body};

fn admin_url() -> String {
    std::env::var("TALLY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub(crate) struct TestDb {
    name: String,
    pub(crate) url: String,
}

async fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url}: {e}. These tests never skip: start it \
             with scripts/services/postgres, or point TALLY_TEST_PG at an admin URL."
        )
    })
}

impl TestDb {
    pub(crate) async fn create() -> Self {
        let mut conn = admin().await;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let name = format!("tally_serve_test_{:016x}", h.finish());
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin_url();
        let base = base.split('?').next().unwrap().to_owned();
        let cut = base.rfind('/').unwrap();
        let url = format!("{}/{name}", &base[..cut]);
        Self { name, url }
    }

    pub(crate) async fn drop(self) {
        let mut conn = admin().await;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .await
        .unwrap();
    }
}

#[test]
fn two_servers_share_one_postgres_ledger_and_idempotency_records() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        let a = Server::start_in(
            tempfile::tempdir().unwrap(),
            Limits::default(),
            Some(db.url.clone()),
        )
        .await;
        let b = Server::start_in(
            tempfile::tempdir().unwrap(),
            Limits::default(),
            Some(db.url.clone()),
        )
        .await;
        let r = post(
            a.addr,
            "/v1/ledger/accounts",
            &ACME,
            "acc",
            &accounts_body(1, 2),
        )
        .await;
        assert_eq!(r.json()["results"][1]["result"], "ok");
        let body = transfer_body(10, 1, 2, 40);
        let first = post(a.addr, "/v1/ledger/transfers", &ACME, "pay", &body).await;
        assert_eq!(first.json()["results"][0]["result"], "ok");
        // The retry goes to the other process: the first result, byte for byte.
        let retry = post(b.addr, "/v1/ledger/transfers", &ACME, "pay", &body).await;
        assert_eq!(retry.body, first.body);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        let other = post(
            b.addr,
            "/v1/ledger/transfers",
            &ACME,
            "pay",
            &transfer_body(11, 1, 2, 1),
        )
        .await;
        assert_eq!(other.status, 422);
        assert_eq!(
            get(b.addr, "/v1/ledger/accounts/2", &ACME).await.json()["credits_posted"],
            40
        );
        let h = get(b.addr, "/v1/ledger/accounts/2/history", &ACME).await;
        assert_eq!(h.json()["entries"][0]["transfer"]["id"], 10);
        assert_eq!(
            get(a.addr, "/v1/ledger/conservation", &a.admin)
                .await
                .json()["balanced"],
            true
        );
        // The instance-wide totals are not a tenant's to read.
        assert_eq!(
            get(a.addr, "/v1/ledger/conservation", &ACME).await.status,
            403
        );
        assert_eq!(get(a.addr, "/readyz", &ACME).await.status, 200);
        // A transfer's inclusion proof: the journal row under a checkpoint
        // the first process signed and stored (the processes of a real
        // deployment share one keys directory, so one key); the other
        // process serves that stored checkpoint; both check offline.
        let vkey =
            std::fs::read_to_string(a.dir.path().join("keys/ledger-checkpoint.vkey")).unwrap();
        let vkey = tally_audit::NoteVerifier::parse(vkey.trim()).unwrap();
        let pa = get(a.addr, "/v1/ledger/transfers/10/proof", &ACME).await;
        assert_eq!(pa.status, 200, "{}", String::from_utf8_lossy(&pa.body));
        let pa = tally_ledger::pg_proof::PgInclusionProof::from_json(
            std::str::from_utf8(&pa.body).unwrap(),
        )
        .unwrap();
        assert_eq!(pa.verify(&vkey).unwrap().0, 10);
        let pb = get(b.addr, "/v1/ledger/transfers/10/proof", &ACME).await;
        assert_eq!(pb.status, 200);
        let pb = tally_ledger::pg_proof::PgInclusionProof::from_json(
            std::str::from_utf8(&pb.body).unwrap(),
        )
        .unwrap();
        assert_eq!(pb, pa);
        // Another tenant cannot see it; an unknown transfer is 404.
        assert_eq!(
            get(b.addr, "/v1/ledger/transfers/10/proof", &BETA)
                .await
                .status,
            404
        );
        assert_eq!(
            get(b.addr, "/v1/ledger/transfers/99/proof", &ACME)
                .await
                .status,
            404
        );
        // Budgets are ledger transfers in the same database: opened through
        // one process, reserved and committed through the other.
        let budget = crate::support::mint("acme", &[tally_token::Scope::BudgetReserve], vec![]);
        let r = post(
            a.addr,
            "/v1/budget/tenants/acme",
            &a.admin,
            "bo",
            r#"{"initial":100,"funding_id":1}"#,
        )
        .await;
        assert_eq!(r.status, 200);
        let r = post(
            b.addr,
            "/v1/budget/tenants/acme/reservations",
            &budget,
            "br",
            r#"{"id":1,"amount":60}"#,
        )
        .await;
        assert_eq!(r.status, 200);
        let r = post(
            b.addr,
            "/v1/budget/tenants/acme/reservations/1/commit",
            &budget,
            "bc",
            r#"{"actual":50}"#,
        )
        .await;
        assert_eq!(r.json()["result"], "ok");
        let v = get(a.addr, "/v1/budget/tenants/acme", &budget).await.json();
        assert_eq!(
            (v["committed"].as_u64(), v["remaining"].as_u64()),
            (Some(50), Some(50))
        );
        // The database goes away: both degrade with dep_outage.
        a.stop().await;
        db.drop().await;
        let ready = get(b.addr, "/readyz", &ACME).await;
        assert_eq!(ready.status, 503);
        assert!(
            ready.json()["causes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "dep_outage")
        );
        let r = post(
            b.addr,
            "/v1/ledger/transfers",
            &ACME,
            "late",
            &transfer_body(12, 1, 2, 1),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "DEPENDENCY_UNAVAILABLE")
        );
        b.stop().await;
    });
}

#[test]
fn ledger_ownership_is_the_same_for_every_process_over_one_postgres() {
    use crate::tenancy::{
        reads_reach_only_the_callers_records,
        transfers_and_settlements_debit_only_the_callers_accounts, two_tenants,
    };
    runtime().block_on(async {
        let db = TestDb::create().await;
        let start = || {
            Server::start_in(
                tempfile::tempdir().unwrap(),
                Limits::default(),
                Some(db.url.clone()),
            )
        };
        let (a, b) = (start().await, start().await);
        // Accounts made through one process, moved and read through the other.
        two_tenants(a.addr).await;
        transfers_and_settlements_debit_only_the_callers_accounts(b.addr, &b.admin).await;
        reads_reach_only_the_callers_records(a.addr, &a.admin, false).await;
        // The owner is in the account's row: a new process knows it.
        a.stop().await;
        let c = start().await;
        reads_reach_only_the_callers_records(c.addr, &c.admin, false).await;
        let r = post(
            c.addr,
            "/v1/ledger/transfers",
            &crate::support::BETA,
            "z1",
            &transfer_body(60, 1, 3, 1),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["error"]["event"].as_u64()),
            (403, Some(0))
        );
        b.stop().await;
        c.stop().await;
        db.drop().await;
    });
}
