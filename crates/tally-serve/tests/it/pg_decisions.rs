//! The decision log on PostgreSQL over real HTTP: servers over one
//! throw-away database (127.0.0.1:5432; never skipped) sharing one keys
//! directory, so one log for every process: the decision flows, proofs that
//! verify offline with the shared verifier key (no database), concurrent
//! appends through two processes giving one gap-free chain, consistency
//! between checkpoints signed by different processes, a row edited in the
//! database failing closed, a process with another checkpoint key serving
//! 503, and a retry after a lost answer appending nothing.

use std::time::Instant;

use sqlx::{Connection, Executor, PgConnection};
use tally_audit::NoteVerifier;
use tally_decide::Policy;
use tally_serve::config::Limits;
use tally_serve::decide::pg_proof::{PgConsistencyProof, PgDecisionProof};
use tally_token::Scope;

use crate::decisions::{POLICY, decide_body, fund_acme, store_policy, text};
use crate::pg::TestDb;
use crate::support::{Server, call, get, mint, post, runtime};

/// A server over `db` whose keys directory is `keys` (the one every
/// process of a deployment shares), or its own when `None`.
async fn server(db: &TestDb, keys: Option<&std::path::Path>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::support::config(dir.path(), Limits::default());
    c.database = Some(db.url.clone());
    if let Some(k) = keys {
        c.keys_dir = Some(k.to_path_buf());
    }
    Server::start_config(dir, c).await
}

fn keys(s: &Server) -> std::path::PathBuf {
    s.dir.path().join("keys")
}

fn vkey(s: &Server) -> NoteVerifier {
    let text = std::fs::read_to_string(keys(s).join("decisions-checkpoint.vkey")).unwrap();
    NoteVerifier::parse(text.trim()).unwrap()
}

async fn rows(db: &TestDb) -> (i64, Option<i64>) {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query_as("SELECT count(*), max(seq) FROM decide_log")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

async fn checkpoint_size(s: &Server, token: &str) -> u64 {
    let r = get(s.addr, "/v1/audit/checkpoint", token).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["size"].as_u64().unwrap()
}

/// A decision served by `s`, its proof checked offline: the record's bytes.
async fn proven(s: &Server, seq: u64, token: &str, vk: &NoteVerifier) -> serde_json::Value {
    let r = get(s.addr, &format!("/v1/decisions/{seq}"), token).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let v = r.json();
    let p = PgDecisionProof::from_json(v["proof"].as_str().unwrap()).unwrap();
    p.verify(vk).unwrap();
    assert_eq!(
        (p.seq, p.payload.as_str()),
        (seq, v["record"].as_str().unwrap())
    );
    v
}

#[test]
fn decisions_over_postgres_decide_hold_prove_and_keep_tenancy_through_two_processes() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        let a = server(&db, None).await;
        let b = server(&db, Some(&keys(&a))).await;
        let vk = vkey(&a);
        let acme = mint("acme", &[Scope::DecideRun, Scope::BudgetReserve], vec![]);
        let beta = mint("beta", &[Scope::DecideRun], vec![]);
        let auditor = mint("auditor", &[Scope::AuditRead], vec![]);
        let policy = Policy::from_json(POLICY).unwrap();
        // A policy stored through one process is the other's too.
        let digest = store_policy(&a, "p1").await;
        assert_eq!(digest, policy.digest().to_string());
        let r = call(
            b.addr,
            "POST",
            "/v1/decide/policies",
            Some(&b.admin),
            Some("p2"),
            POLICY,
        )
        .await;
        assert_eq!(r.json()["created"], false, "{}", text(&r));
        let r = get(b.addr, &format!("/v1/decide/policies/{digest}"), &acme).await;
        assert_eq!(
            Policy::from_json(&r.body).unwrap().digest(),
            policy.digest()
        );
        fund_acme(&a, 10_000).await;
        // Decided through b, the hold on the shared ledger.
        let first = decide_body(&digest, 1, Some(1));
        let r = post(b.addr, "/v1/decisions", &acme, "d1", &first).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let d1 = r.json();
        assert_eq!(d1["reservation"]["result"], "ok");
        let seq1 = d1["seq"].as_u64().unwrap();
        assert_eq!(seq1, 1, "the first decision is the first row");
        // The retry through a: the first answer, byte for byte.
        let again = post(a.addr, "/v1/decisions", &acme, "d1", &first).await;
        assert_eq!(
            (again.body.clone(), again.header("idempotent-replayed")),
            (r.body.clone(), Some("true"))
        );
        // All or nothing: a refused hold appends no row.
        let before = rows(&db).await;
        let r = post(
            a.addr,
            "/v1/decisions",
            &acme,
            "d2",
            &decide_body(&digest, 2, Some(2)),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["result"].as_str()),
            (409, Some("exceeds_credits"))
        );
        assert_eq!(rows(&db).await, before, "a refused hold appended a row");
        let r = post(
            a.addr,
            "/v1/decisions",
            &beta,
            "b2",
            &decide_body(&digest, 4, None),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let seq_beta = r.json()["seq"].as_u64().unwrap();
        assert_eq!(seq_beta, 3);
        // The record and its proof, from either process, checked offline.
        let va = proven(&a, seq1, &acme, &vk).await;
        let vb = proven(&b, seq1, &auditor, &vk).await;
        assert_eq!(
            (&va["decision"], &va["record"]),
            (&d1["decision"], &vb["record"])
        );
        let record =
            tally_decide::replay_record(va["record"].as_str().unwrap().as_bytes(), &policy)
                .unwrap();
        assert_eq!(serde_json::to_value(record.bundle()).unwrap(), d1["bundle"]);
        // A forged payload does not verify.
        let mut forged = PgDecisionProof::from_json(va["proof"].as_str().unwrap()).unwrap();
        forged.payload = forged
            .payload
            .replace("\"cost_microunits\":7000", "\"cost_microunits\":7001");
        assert!(forged.verify(&vk).is_err());
        // Tenancy: beta does not see acme's decision (as an unknown seq).
        for s in [&a, &b] {
            assert_eq!(
                get(s.addr, &format!("/v1/decisions/{seq1}"), &beta)
                    .await
                    .status,
                404
            );
            assert_eq!(
                get(s.addr, &format!("/v1/decisions/{seq_beta}"), &beta)
                    .await
                    .status,
                200
            );
            assert_eq!(
                get(s.addr, &format!("/v1/decisions/{seq_beta}"), &acme)
                    .await
                    .status,
                404
            );
        }
        // The entry route: the same row, proven; an owner row is served
        // there but is no decision.
        let r = get(b.addr, &format!("/v1/audit/entries/{}", seq1 + 1), &auditor).await;
        let owner = PgDecisionProof::from_json(&text(&r)).unwrap();
        owner.verify(&vk).unwrap();
        assert!(owner.payload.contains("decision-owner/v2"));
        assert_eq!(
            get(b.addr, &format!("/v1/decisions/{}", seq1 + 1), &auditor)
                .await
                .status,
            404
        );
        // Bounded inputs, as embedded.
        let len = rows(&db).await.0 as u64;
        for (path, want) in [
            ("/v1/decisions/abc".to_owned(), 400),
            ("/v1/decisions/0".to_owned(), 404),
            (format!("/v1/decisions/{}", len + 1), 404),
            ("/v1/decisions/18446744073709551615".to_owned(), 404),
            (format!("/v1/audit/entries/{}", len + 1), 404),
            ("/v1/audit/consistency?old=0&new=3".to_owned(), 400),
            (
                "/v1/audit/consistency?old=1&new=18446744073709551615".to_owned(),
                404,
            ),
        ] {
            let r = get(a.addr, &path, &auditor).await;
            assert_eq!(r.status, want, "{path}: {}", text(&r));
        }
        let zeros = "0".repeat(64);
        let r = post(
            a.addr,
            "/v1/decisions",
            &acme,
            "bad0",
            &decide_body(&zeros, 6, None),
        )
        .await;
        assert_eq!(r.status, 404);
        // Reads sign nothing new when nothing was appended.
        let size = checkpoint_size(&a, &auditor).await;
        assert_eq!(checkpoint_size(&b, &auditor).await, size);
        assert_eq!(rows(&db).await.0 as u64, size);
        // No process keeps a log of its own.
        assert!(
            !a.data().join("decisions.jsonl").exists()
                && !b.data().join("decisions.jsonl").exists()
        );
        // The scope matrix holds on PostgreSQL too.
        crate::decisions::scopes_hold(&a, &digest).await;
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}

#[test]
fn two_processes_appending_at_once_make_one_gap_free_chain_every_process_proves() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        // Started together over a fresh database and a fresh shared keys
        // directory: one migration, one checkpoint key.
        let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut ca = crate::support::config(da.path(), Limits::default());
        let mut cb = crate::support::config(db_dir.path(), Limits::default());
        ca.database = Some(db.url.clone());
        cb.database = Some(db.url.clone());
        cb.keys_dir = ca.keys_dir.clone();
        let (a, b) = tokio::join!(Server::start_config(da, ca), Server::start_config(db_dir, cb));
        let vk = vkey(&a);
        let auditor = mint("auditor", &[Scope::AuditRead], vec![]);
        let decider = mint("acme", &[Scope::DecideRun], vec![]);
        let digest = store_policy(&a, "p1").await;
        // A checkpoint signed by a before the race.
        let r = post(a.addr, "/v1/decisions", &decider, "first", &decide_body(&digest, 1, None)).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let old = checkpoint_size(&a, &auditor).await;
        assert_eq!(old, 2);
        const EACH: u64 = 40;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..EACH * 2 {
            let (addr, token, body) = (
                if i % 2 == 0 { a.addr } else { b.addr },
                decider.clone(),
                decide_body(&digest, 10 + i, None),
            );
            tasks.spawn(async move {
                let r = post(addr, "/v1/decisions", &token, &format!("race{i}"), &body).await;
                assert_eq!(r.status, 200, "{}", text(&r));
                r.json()["seq"].as_u64().unwrap()
            });
        }
        let mut seqs = tasks.join_all().await;
        let elapsed = started.elapsed();
        eprintln!(
            "{} decisions through two processes over PostgreSQL in {elapsed:?} ({:.0}/s, debug build)",
            EACH * 2,
            (EACH * 2) as f64 / elapsed.as_secs_f64()
        );
        seqs.sort_unstable();
        // One chain without gaps: decisions on odd rows, owners after.
        let want: Vec<u64> = (0..EACH * 2).map(|i| 3 + 2 * i).collect();
        assert_eq!(seqs, want);
        // Reads racing appends: each decision read back, proven, through
        // the other process at once (its tree behind the other's, which
        // signs checkpoints past it meanwhile).
        const READS: u64 = 20;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..READS {
            let (from, to) = if i % 2 == 0 { (a.addr, b.addr) } else { (b.addr, a.addr) };
            let (token, auditor, vk) = (decider.clone(), auditor.clone(), vk.clone());
            let body = decide_body(&digest, 200 + i, None);
            tasks.spawn(async move {
                let r = post(from, "/v1/decisions", &token, &format!("read{i}"), &body).await;
                assert_eq!(r.status, 200, "{}", text(&r));
                let seq = r.json()["seq"].as_u64().unwrap();
                let r = get(to, &format!("/v1/decisions/{seq}"), &auditor).await;
                assert_eq!(r.status, 200, "{}", text(&r));
                let p = PgDecisionProof::from_json(r.json()["proof"].as_str().unwrap()).unwrap();
                p.verify(&vk).unwrap();
            });
        }
        tasks.join_all().await;
        let total = 2 + 4 * EACH + 2 * READS;
        assert_eq!(rows(&db).await, (total as i64, Some(total as i64)));
        // The newer checkpoint signed by b; a serves the consistency proof.
        let new = checkpoint_size(&b, &auditor).await;
        assert_eq!(new, total);
        for s in [&a, &b] {
            let r = get(s.addr, &format!("/v1/audit/consistency?old={old}&new={new}"), &auditor).await;
            assert_eq!(r.status, 200, "{}", text(&r));
            let (o, n) = PgConsistencyProof::from_json(&text(&r)).unwrap().verify(&vk).unwrap();
            assert_eq!((o.size(), n.size()), (old, new));
        }
        // A size that is no stored checkpoint is 404.
        let r = get(a.addr, &format!("/v1/audit/consistency?old=1&new={new}"), &auditor).await;
        assert_eq!(r.status, 404);
        // Every process serves every decision, proven.
        for seq in seqs.iter().step_by(7) {
            for s in [&a, &b] {
                proven(s, *seq, &auditor, &vk).await;
            }
        }
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}

#[test]
fn an_edited_row_fails_closed_and_a_process_with_another_key_serves_no_decision_route() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        let a = server(&db, None).await;
        let auditor = mint("auditor", &[Scope::AuditRead], vec![]);
        let decider = mint("acme", &[Scope::DecideRun], vec![]);
        let digest = store_policy(&a, "p1").await;
        for i in 0..3 {
            let r = post(a.addr, "/v1/decisions", &decider, &format!("d{i}"), &decide_body(&digest, i + 1, None)).await;
            assert_eq!(r.status, 200, "{}", text(&r));
        }
        assert_eq!(get(a.addr, "/v1/decisions/3", &auditor).await.status, 200);
        // Another checkpoint key (its own keys directory): 503 on every
        // decision route, naming the key; its ledger routes still answer.
        let other = server(&db, None).await;
        for (method, path, body) in [
            ("POST", "/v1/decide/policies".to_owned(), POLICY.to_vec()),
            ("POST", "/v1/decisions".to_owned(), decide_body(&digest, 9, None).into_bytes()),
            ("GET", "/v1/decisions/1".to_owned(), Vec::new()),
            ("GET", "/v1/audit/checkpoint".to_owned(), Vec::new()),
            ("GET", "/v1/audit/entries/1".to_owned(), Vec::new()),
            ("GET", "/v1/audit/consistency?old=1&new=2".to_owned(), Vec::new()),
        ] {
            let r = call(other.addr, method, &path, Some(&other.admin), Some("k"), &body).await;
            assert_eq!((r.status, r.code().as_str()), (503, "DEPENDENCY_UNAVAILABLE"), "{method} {path}");
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(message.contains("checkpoint key"), "{message}");
        }
        assert_eq!(get(other.addr, "/readyz", &other.admin).await.status, 200);
        assert_eq!(rows(&db).await.0, 6, "the other process appended");
        other.stop().await;
        // The log, its checkpoints and its policies are append-only in the
        // database: an edit, a delete or a truncate is refused, and nothing
        // changes (with no trigger, the first UPDATE would succeed).
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        let before = rows(&db).await;
        for sql in [
            "UPDATE decide_log SET payload = payload WHERE seq = 3",
            "DELETE FROM decide_log WHERE seq = 6",
            "TRUNCATE decide_log",
            "UPDATE decide_checkpoints SET note = note",
            "DELETE FROM decide_checkpoints",
            "TRUNCATE decide_checkpoints",
            "UPDATE decide_policies SET n = n",
            "DELETE FROM decide_policies",
            "TRUNCATE decide_policies",
        ] {
            let err = conn.execute(sql).await.expect_err(sql).to_string();
            assert!(err.contains("is refused: the table is append-only"), "{sql}: {err}");
        }
        assert_eq!(rows(&db).await, before);
        // An owner of the tables can disable the triggers: what follows is
        // caught by the chain. A decision row edited in the database: the
        // process that read it before and a process reading it afresh both
        // refuse (500).
        for sql in [
            "ALTER TABLE decide_log DISABLE TRIGGER USER",
            "ALTER TABLE decide_policies DISABLE TRIGGER USER",
        ] {
            conn.execute(sql).await.unwrap();
        }
        let done = conn
            .execute(r#"UPDATE decide_log SET payload = replace(payload, '"cost_microunits":7000', '"cost_microunits":7001') WHERE seq = 3"#)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        let fresh = server(&db, Some(&keys(&a))).await;
        for s in [&a, &fresh] {
            let r = get(s.addr, "/v1/decisions/3", &auditor).await;
            assert_eq!((r.status, r.code().as_str()), (500, "INTERNAL"), "{}", text(&r));
            let r = get(s.addr, "/v1/audit/entries/3", &auditor).await;
            assert_eq!(r.status, 500);
        }
        // The fresh process cannot read past the edit at all.
        assert_eq!(get(fresh.addr, "/v1/audit/checkpoint", &auditor).await.status, 500);
        // A stored policy edited in the database is refused where it is
        // read afresh (it is not the document of its digest).
        conn.execute(r#"UPDATE decide_policies SET policy = convert_to(replace(convert_from(policy, 'UTF8'), '"policy_epoch": 7', '"policy_epoch": 8'), 'UTF8')"#)
            .await
            .unwrap();
        let late = server(&db, Some(&keys(&a))).await;
        let r = get(late.addr, &format!("/v1/decide/policies/{digest}"), &decider).await;
        assert_eq!(r.status, 500, "{}", text(&r));
        late.stop().await;
        a.stop().await;
        fresh.stop().await;
        db.drop().await;
    });
}

/// The state a crash after the append and before the answer leaves: the
/// decision's rows in the log and no idempotency record of its key.
async fn forget_answer(db: &TestDb, key: &str) {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let done = sqlx::query("DELETE FROM serve_idempotency WHERE key = $1")
        .bind(key)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

#[test]
fn on_postgres_a_retry_after_a_lost_answer_answers_the_first_decision_and_appends_nothing() {
    runtime().block_on(async {
        let db = TestDb::create().await;
        let a = server(&db, None).await;
        let b = server(&db, Some(&keys(&a))).await;
        let acme = mint("acme", &[Scope::DecideRun, Scope::BudgetReserve], vec![]);
        let digest = store_policy(&a, "p1").await;
        fund_acme(&a, 20_000).await;
        let body = decide_body(&digest, 1, Some(1));
        let r = post(a.addr, "/v1/decisions", &acme, "d1", &body).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let first = r.json();
        forget_answer(&db, "d1").await;
        // The retry, through the other process: decided again, the hold
        // found (`exists`), the first decision answered, nothing appended.
        let r = post(b.addr, "/v1/decisions", &acme, "d1", &body).await;
        crate::decisions::assert_first_decision(&r, &first);
        assert_eq!(rows(&db).await, (2, Some(2)));
        let view = get(b.addr, "/v1/budget/tenants/acme", &acme).await.json();
        assert_eq!(view["reserved"].as_u64(), Some(7000));
        // The same key with another tenant, or another body, is another
        // request: a decision of its own.
        let r = post(b.addr, "/v1/decisions", &acme, "d1-other", &body).await;
        assert_eq!(r.json()["seq"], 3, "{}", text(&r));
        a.stop().await;
        b.stop().await;
        db.drop().await;
    });
}
