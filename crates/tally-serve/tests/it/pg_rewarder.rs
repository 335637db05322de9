//! The rewarder in PostgreSQL mode: several `tally serve` processes (here:
//! servers in one test process, each with its own data directory, so
//! nothing but the database is shared) over one throw-away database at
//! 127.0.0.1:5432 (never skipped). The embedded suite's bodies run here
//! too (`end_to_end`, `measurements_paid_once`,
//! `quarantine_never_settles`); the rest is what only several processes
//! can break: one accepted run per epoch, one chain, exactly-once
//! settlement, and the emission bound, each decided by the database.

use std::path::Path;

use sqlx::{Connection, Executor, PgConnection};
use tally_reward::manifest::SealedManifest;
use tally_reward::policy::Policy;
use tally_serve::config::Limits;

use crate::pg::TestDb;
use crate::rewarder::{
    abuse, assert_paid_once, compute, end_to_end, inputs_json, measurements_paid_once, ops,
    payouts_of, policy_json, policy_key, put_policy, quarantine_never_settles, rewarder_config,
    run, sealed_of, settle, upload,
};
use crate::support::{Resp, Server, get, runtime};

/// A process over `db` whose rewarder keys (the trusted policy key and the
/// one seal key) are the files in `keys`, shared by every process.
async fn start(db: &TestDb, keys: &Path) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::config(dir.path(), Limits::default());
    c.database = Some(db.url.clone());
    c.rewarder = rewarder_config(keys);
    Server::start_config(dir, c).await
}

/// A throw-away database, a shared key directory and two processes,
/// started together (both migrate the fresh database and record the seal
/// key: the advisory lock and the conflict-free insert make that once).
async fn two() -> (TestDb, tempfile::TempDir, Server, Server) {
    let db = TestDb::create().await;
    let keys = tempfile::tempdir().unwrap();
    let (a, b) = tokio::join!(start(&db, keys.path()), start(&db, keys.path()));
    (db, keys, a, b)
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn signed(pool: u64) -> String {
    let p = Policy::from_json(policy_json("pool:storage", pool, 4_102_444_800, false).as_bytes())
        .unwrap();
    serde_json::to_string(&p.sign(&policy_key()).unwrap()).unwrap()
}

async fn cid_of(r: Resp) -> String {
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["cid"].as_str().unwrap().to_owned()
}

#[test]
fn the_rewarder_runs_end_to_end_over_postgres_and_every_process_serves_the_same_records() {
    runtime().block_on(async {
        let (db, keys, a, b) = two().await;
        end_to_end(&a).await;
        let token = ops();
        // The other process: the same sealed manifest, proofs that verify,
        // the same run again answered with the first result, and a settle
        // that finds everything on the ledger.
        let from_a = sealed_of(&get(a.addr, "/v1/rewarder/epochs/2026-w49", &token).await);
        let from_b = get(b.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(from_b.status, 200, "{}", text(&from_b));
        assert_eq!(sealed_of(&from_b), from_a);
        let payouts = payouts_of(&b, &token, "2026-w49", 9, &from_a).await;
        assert_eq!(payouts.len() as u64, from_a.manifest.payees);
        let inputs = inputs_json("2026-w49", 1_000_000, 9);
        let again = upload(&b, &token, inputs.as_bytes()).await;
        assert_eq!(again.json()["created"], false);
        let inputs_cid = cid_of(again).await;
        let policy_cid = from_a.manifest.policy_cid.to_string();
        let p = get(b.addr, &format!("/v1/rewarder/policies/{policy_cid}"), &token).await;
        assert_eq!(p.status, 200);
        let same = compute(&b, &token, "b-again", "2026-w49", &inputs_cid, &policy_cid).await;
        assert_eq!(same.status, 200, "{}", text(&same));
        assert_eq!(sealed_of(&same), from_a);
        let st = settle(b.addr, &token, "b-settle", "2026-w49").await;
        assert_eq!(st.status, 200, "{}", text(&st));
        assert_eq!(st.json()["accepted"], 0);
        assert_eq!(st.json()["dup"], st.json()["transfers"]);
        assert_paid_once(&b, &from_a, &payouts).await;
        // A new process (nothing in memory): the same records.
        a.stop().await;
        let c = start(&db, keys.path()).await;
        let g = get(c.addr, "/v1/rewarder/epochs/2026-w49", &token).await;
        assert_eq!(sealed_of(&g), from_a);
        let st = settle(c.addr, &token, "c-settle", "2026-w49").await;
        assert_eq!((st.status, st.json()["accepted"].as_u64()), (200, Some(0)));
        let status = get(c.addr, "/v1/rewarder/epochs/2026-w49/settlement", &token).await;
        assert_eq!(status.json()["status"], "settled");
        assert_paid_once(&c, &from_a, &payouts).await;
        // A blob row changed in the database is never served nor run.
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "UPDATE reward_blobs SET bytes = convert_to(replace(convert_from(bytes, 'UTF8'), \
             '\"acct-1\"', '\"acct-9\"'), 'UTF8') WHERE cid = '{inputs_cid}'"
        )))
        .await
        .unwrap();
        let tampered = get(c.addr, &format!("/v1/blobs/{inputs_cid}"), &token).await;
        assert_eq!(tampered.status, 500, "{}", text(&tampered));
        let rerun = inputs_json("2026-w50", 1_001_000, 9);
        let rerun_cid = cid_of(upload(&c, &token, rerun.as_bytes()).await).await;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "UPDATE reward_blobs SET bytes = (SELECT bytes FROM reward_blobs WHERE cid = '{inputs_cid}') \
             WHERE cid = '{rerun_cid}'"
        )))
        .await
        .unwrap();
        let r = compute(&c, &token, "tampered", "2026-w50", &rerun_cid, &policy_cid).await;
        assert_eq!(r.status, 500, "{}", text(&r));
        assert_eq!(get(c.addr, "/v1/rewarder/epochs/2026-w50", &token).await.status, 404);
        b.stop().await;
        c.stop().await;
        db.drop().await;
    });
}

#[test]
fn over_postgres_quarantine_and_paid_measurements_hold_for_every_process() {
    runtime().block_on(async {
        let (db, _keys, a, b) = two().await;
        // Quarantined through one process (before any accepted epoch, so
        // the chain's order is not what refuses it).
        quarantine_never_settles(&b).await;
        let token = ops();
        let q = get(a.addr, "/v1/rewarder/epochs/q-1", &token).await;
        assert_eq!(q.json()["status"], "quarantined");
        assert_eq!(settle(a.addr, &token, "q-a", "q-1").await.status, 423);
        measurements_paid_once(&a).await;
        // The operator page's recent epochs (one query over both tables):
        // the quarantined run among them, never settled (RWD-51).
        let page = get(a.addr, "/", &a.admin).await;
        assert_eq!(page.status, 200);
        let html = text(&page);
        let row = "<tr><td><code>q-1</code></td><td class=\"bad\">quarantined</td><td class=\"na\">never settled</td>";
        assert!(html.contains(row), "{html}");
        assert!(html.contains("accepted</td>"), "{html}");
        // The abuse cases (caps, bomb, CID mismatch, forged policies)
        // through the other process.
        abuse(&b).await;
        // The measurements snap-1 paid, relabelled once more, through the
        // other process: refused there too.
        let relabelled = inputs_json("snap-3", 1_002_000, 4);
        let cid = cid_of(upload(&b, &token, relabelled.as_bytes()).await).await;
        let policy = cid_of(put_policy(&b, &token, "b-pol", &signed(1_000_003)).await).await;
        let c = compute(&b, &token, "b-replay", "snap-3", &cid, &policy).await;
        assert_eq!(
            (c.status, c.code().as_str()),
            (409, "CONFLICT"),
            "{}",
            text(&c)
        );
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}

/// Computes `epoch` (window from `start`, `payees` accounts) through `s`.
async fn accepted(s: &Server, epoch: &str, start: u64, payees: usize) -> SealedManifest {
    let (_, _, r) = run(s, &ops(), epoch, start, payees).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    sealed_of(&r)
}

#[test]
fn two_processes_settling_one_epoch_at_once_pay_once_and_a_repeated_settle_is_a_no_op() {
    runtime().block_on(async {
        let (db, _keys, a, b) = two().await;
        let token = ops();
        // Several rounds, so that the two settlements do overlap (each
        // round's measurements its own: one more payee).
        for round in 0..4u64 {
            let epoch = format!("conc-{round}");
            let payees = 12 + round as usize;
            let sealed = accepted(&a, &epoch, 1_000_000 + round * 1_000, payees).await;
            let (ta, tb) = (token.clone(), token.clone());
            let (ea, eb) = (epoch.clone(), epoch.clone());
            let (aa, ba) = (a.addr, b.addr);
            let x = tokio::spawn(async move { settle(aa, &ta, &format!("x-{ea}"), &ea).await });
            let y = tokio::spawn(async move { settle(ba, &tb, &format!("y-{eb}"), &eb).await });
            let (x, y) = (x.await.unwrap(), y.await.unwrap());
            assert_eq!(
                (x.status, y.status),
                (200, 200),
                "{} / {}",
                text(&x),
                text(&y)
            );
            let transfers = x.json()["transfers"].as_u64().unwrap();
            let accepted =
                x.json()["accepted"].as_u64().unwrap() + y.json()["accepted"].as_u64().unwrap();
            let dup = x.json()["dup"].as_u64().unwrap() + y.json()["dup"].as_u64().unwrap();
            assert_eq!((accepted, dup), (transfers, transfers), "round {round}");
            // Settled again, through either process: nothing moves.
            let again = settle(b.addr, &token, &format!("z-{epoch}"), &epoch).await;
            assert_eq!(again.json()["accepted"], 0);
            assert_eq!(again.json()["dup"].as_u64(), Some(transfers));
            let payouts = payouts_of(&a, &token, &epoch, payees, &sealed).await;
            // Each round pays the same payees again: their balances grow by
            // each round's payouts, once. The funding account and the
            // conservation totals are checked on the first round alone.
            if round == 0 {
                assert_paid_once(&b, &sealed, &payouts).await;
            }
            let emits = get(
                a.addr,
                &format!("/v1/rewarder/epochs/{epoch}/settlement"),
                &token,
            )
            .await
            .json()["emits"]
                .as_u64()
                .unwrap();
            assert!((1..=2).contains(&emits), "emits {emits}");
        }
        let c = get(a.addr, "/v1/ledger/conservation", &a.admin).await;
        assert_eq!(c.json()["balanced"], true);
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}

#[test]
fn max_ledger_emits_per_run_is_counted_in_the_database_for_every_process() {
    runtime().block_on(async {
        let (db, _keys, a, b) = two().await;
        let token = ops();
        let sealed = accepted(&a, "crash-1", 1_000_000, 5).await;
        // Three submissions counted (by processes that died before the
        // ledger had them): the bound, whichever process asks next.
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "INSERT INTO reward_settlements (run_key, emits, settled) VALUES ('{}', 3, false)",
            sealed.manifest.run_key
        )))
        .await
        .unwrap();
        let stuck = settle(b.addr, &token, "stuck", "crash-1").await;
        assert_eq!((stuck.status, stuck.code().as_str()), (409, "CONFLICT"));
        let status = get(a.addr, "/v1/rewarder/epochs/crash-1/settlement", &token).await;
        assert_eq!(status.json()["status"], "unsettled");
        assert_eq!(status.json()["emits"], 3);
        // One below the bound: exactly one more submission, which pays.
        conn.execute("UPDATE reward_settlements SET emits = 2")
            .await
            .unwrap();
        let st = settle(a.addr, &token, "unstuck", "crash-1").await;
        assert_eq!(st.status, 200, "{}", text(&st));
        assert_eq!(st.json()["emits"], 3);
        assert_eq!(st.json()["accepted"], st.json()["transfers"]);
        let payouts = payouts_of(&a, &token, "crash-1", 5, &sealed).await;
        assert_paid_once(&a, &sealed, &payouts).await;
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}

/// Computes `epoch` through `a` and `b` at once (`bodies`: each one's
/// inputs and policy CIDs; `tag` names the idempotency keys); both answers.
async fn race(
    a: &Server,
    b: &Server,
    epoch: &str,
    tag: &str,
    bodies: [(&str, &str); 2],
) -> (Resp, Resp) {
    let token = ops();
    let [(ia, pa), (ib, pb)] = bodies;
    let ka = format!("{tag}-a-{epoch}");
    let kb = format!("{tag}-b-{epoch}");
    tokio::join!(
        compute(a, &token, &ka, epoch, ia, pa),
        compute(b, &token, &kb, epoch, ib, pb)
    )
}

fn one_winner(x: &Resp, y: &Resp) -> SealedManifest {
    let mut statuses = [x.status, y.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", text(x), text(y));
    let loser = if x.status == 409 { x } else { y };
    assert_eq!(loser.code(), "CONFLICT");
    sealed_of(if x.status == 200 { x } else { y })
}

#[test]
fn processes_racing_get_one_accepted_run_per_epoch_and_one_chain() {
    runtime().block_on(async {
        let (db, _keys, a, b) = two().await;
        let token = ops();
        let big = cid_of(put_policy(&a, &token, "big", &signed(1_000_003)).await).await;
        let small = cid_of(put_policy(&a, &token, "small", &signed(5)).await).await;
        let mut previous = None;
        for round in 0..4u64 {
            let epoch = format!("race-{round}");
            let start = 1_000_000 + round * 1_000;
            let inputs = inputs_json(&epoch, start, 6 + round as usize);
            let cid = cid_of(upload(&a, &token, inputs.as_bytes()).await).await;
            // Two different runs of one epoch: one accepted, one CONFLICT.
            let (x, y) = race(&a, &b, &epoch, "two", [(&cid, &big), (&cid, &small)]).await;
            let winner = one_winner(&x, &y);
            for s in [&a, &b] {
                let g = get(s.addr, &format!("/v1/rewarder/epochs/{epoch}"), &token).await;
                assert_eq!(sealed_of(&g), winner);
            }
            // One chain: each epoch links to the one before.
            assert_eq!(winner.manifest.previous, previous);
            previous = Some(winner.manifest.cid().unwrap());
            // The same run through both at once: the first result twice.
            let (x, y) = race(&a, &b, &epoch, "same", [(&cid, &big), (&cid, &big)]).await;
            let same_policy = winner.manifest.policy_cid.to_string() == big;
            if same_policy {
                assert_eq!((x.status, y.status), (200, 200));
                assert_eq!(sealed_of(&x), winner);
                assert_eq!(sealed_of(&y), winner);
            } else {
                assert_eq!((x.status, y.status), (409, 409));
            }
        }
        // Two epochs at once, the second's window after the first's: both
        // built on the same head, one is inserted and the other relinked
        // (or refused, when it would now come before the head): never two
        // manifests linked to one.
        for round in 0..4u64 {
            let start = 1_500_000 + round * 2_000;
            let (ex, ey) = (format!("pair-{round}-x"), format!("pair-{round}-y"));
            let ix = inputs_json(&ex, start, 20 + 2 * round as usize);
            let iy = inputs_json(&ey, start + 1_000, 21 + 2 * round as usize);
            let cx = cid_of(upload(&a, &token, ix.as_bytes()).await).await;
            let cy = cid_of(upload(&b, &token, iy.as_bytes()).await).await;
            let (kx, ky) = (format!("p-{ex}"), format!("p-{ey}"));
            let (x, y) = tokio::join!(
                compute(&a, &token, &kx, &ex, &cx, &big),
                compute(&b, &token, &ky, &ey, &cy, &big)
            );
            assert_eq!(y.status, 200, "{}", text(&y));
            let y = sealed_of(&y);
            if x.status == 200 {
                let x = sealed_of(&x);
                assert_eq!(x.manifest.previous, previous, "round {round}");
                assert_eq!(y.manifest.previous, Some(x.manifest.cid().unwrap()));
            } else {
                assert_eq!((x.status, x.code().as_str()), (409, "CONFLICT"));
                assert_eq!(y.manifest.previous, previous, "round {round}");
            }
            previous = Some(y.manifest.cid().unwrap());
        }
        // Two epochs of the same measurements at once (the second's window
        // after the first's): one is paid, the other refused.
        let m1 = inputs_json("meas-1", 2_000_000, 4);
        let m2 = inputs_json("meas-2", 2_001_000, 4);
        let c1 = cid_of(upload(&a, &token, m1.as_bytes()).await).await;
        let c2 = cid_of(upload(&b, &token, m2.as_bytes()).await).await;
        let (x, y) = tokio::join!(
            compute(&a, &token, "m-a", "meas-1", &c1, &big),
            compute(&b, &token, "m-b", "meas-2", &c2, &big)
        );
        one_winner(&x, &y);
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}

#[test]
fn a_process_with_another_seal_key_serves_no_rewarder_route() {
    runtime().block_on(async {
        let (db, _keys, a, b) = two().await;
        let token = ops();
        accepted(&a, "seal-1", 1_000_000, 3).await;
        // Its own seal key (made in its data directory): its manifests
        // would not link to the database's, so it answers 503.
        let other = Server::start_in(
            tempfile::tempdir().unwrap(),
            Limits::default(),
            Some(db.url.clone()),
        )
        .await;
        for r in [
            upload(&other, &token, b"{}").await,
            get(other.addr, "/v1/rewarder/epochs/seal-1", &token).await,
            settle(other.addr, &token, "other-settle", "seal-1").await,
        ] {
            assert_eq!(
                (r.status, r.code().as_str()),
                (503, "DEPENDENCY_UNAVAILABLE")
            );
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(message.contains("seal key"), "{message}");
        }
        // The ledger routes of that process work.
        assert_eq!(get(other.addr, "/readyz", "").await.status, 200);
        let st = settle(b.addr, &token, "b-settle", "seal-1").await;
        assert_eq!(st.status, 200, "{}", text(&st));
        for s in [a, b, other] {
            s.stop().await;
        }
        db.drop().await;
    });
}

#[test]
fn a_settlement_whose_request_times_out_runs_to_its_end_and_is_counted_once() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        let keys = tempfile::tempdir().unwrap();
        let a = start(&db, keys.path()).await;
        // A process whose requests time out after 100 ms: settling 9,000
        // payees (two chains, 9,001 accounts) takes longer than that.
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            request_timeout: std::time::Duration::from_millis(100),
            ..Limits::default()
        };
        let mut c = crate::support::config(dir.path(), limits);
        c.database = Some(db.url.clone());
        c.rewarder = rewarder_config(keys.path());
        let hasty = Server::start_config(dir, c).await;
        let token = ops();
        let sealed = accepted(&a, "slow-1", 1_000_000, 9_000).await;
        let cut = settle(hasty.addr, &token, "cut", "slow-1").await;
        assert_eq!(cut.status, 408, "{}", text(&cut));
        // The settlement goes on without its request, to the end.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let st = get(a.addr, "/v1/rewarder/epochs/slow-1/settlement", &token).await;
            if st.json()["status"] == "settled" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still {} after the request timed out",
                st.json()["status"]
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let again = settle(a.addr, &token, "after-cut", "slow-1").await;
        assert_eq!(again.status, 200, "{}", text(&again));
        assert_eq!(again.json()["accepted"], 0);
        assert_eq!(again.json()["dup"], again.json()["transfers"]);
        assert_eq!(again.json()["emits"], 1);
        let payouts = payouts_of(&a, &token, "slow-1", 40, &sealed).await;
        assert!(!payouts.is_empty());
        let funding = crate::rewarder::account(&a, sealed.manifest.funding_account.as_str()).await;
        assert_eq!(
            funding["debits_posted"].as_u64(),
            Some(sealed.manifest.pool)
        );
        for s in [a, hasty] {
            s.stop().await;
        }
        db.drop().await;
    });
}
