//! Decisions and the audit log over real HTTP: a stored policy, a decision
//! with a budget hold appended to the signed log (all or nothing: a refused
//! hold appends nothing), the record and its proofs verified offline with
//! tally-audit and tally-decide, tenancy, scopes, bounded inputs, and a
//! restart that keeps the log, the policies and the proofs.

use tally_audit::{ConsistencyProof, InclusionProof, Keyring, NoteVerifier, VerifyOptions};
use tally_decide::{Policy, audited};
use tally_serve::config::Limits;
use tally_token::Scope;

use crate::support::{Resp, Server, call, get, mint, post, runtime};

pub(crate) const POLICY: &[u8] = include_bytes!("../../../tally-decide/examples/policy.json");

/// The example request (sequence `seq`): candidate 20 wins at a cost of 7,000.
pub(crate) fn request(seq: u64) -> String {
    format!(
        r#"{{"sequence":{seq},"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}}"#
    )
}

pub(crate) fn decide_body(digest: &str, seq: u64, reserve: Option<u128>) -> String {
    let hold = reserve.map_or(String::new(), |id| format!(r#","reserve":{{"id":{id}}}"#));
    format!(
        r#"{{"policy":"{digest}","request":{}{hold}}}"#,
        request(seq)
    )
}

fn vkey(s: &Server) -> NoteVerifier {
    let text = std::fs::read_to_string(s.data().join("decisions.vkey")).unwrap();
    NoteVerifier::parse(text.trim()).unwrap()
}

pub(crate) fn text(r: &Resp) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

/// A GET, retried while the decision log's proof index is being built
/// (after a start: 503 with `Retry-After`).
pub(crate) async fn get_indexed(s: &Server, path: &str, token: &str) -> Resp {
    for _ in 0..100 {
        let r = get(s.addr, path, token).await;
        let indexing = r.status == 503
            && r.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("being built"));
        if !indexing {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the proof index was not built in 5 s");
}

async fn checkpoint_size(s: &Server, token: &str) -> u64 {
    let r = get(s.addr, "/v1/audit/checkpoint", token).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["size"].as_u64().unwrap()
}

/// Stores the example policy (admin) and returns its digest.
pub(crate) async fn store_policy(s: &Server, key: &str) -> String {
    let r = call(
        s.addr,
        "POST",
        "/v1/decide/policies",
        Some(&s.admin),
        Some(key),
        POLICY,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["digest"].as_str().unwrap().to_owned()
}

#[test]
fn decide_reserve_audit_and_prove_end_to_end_all_or_nothing_and_across_a_restart() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let acme = mint("acme", &[Scope::DecideRun, Scope::BudgetReserve], vec![]);
        let beta = mint("beta", &[Scope::DecideRun], vec![]);
        let auditor = mint("auditor", &[Scope::AuditRead], vec![]);
        let policy = Policy::from_json(POLICY).unwrap();
        // Policies: stored by content, by an admin only.
        let r = call(
            s.addr,
            "POST",
            "/v1/decide/policies",
            Some(&acme),
            Some("p0"),
            POLICY,
        )
        .await;
        assert_eq!(r.status, 403);
        let digest = store_policy(&s, "p1").await;
        assert_eq!(digest, policy.digest().to_string());
        let r = call(
            s.addr,
            "POST",
            "/v1/decide/policies",
            Some(&s.admin),
            Some("p2"),
            POLICY,
        )
        .await;
        assert_eq!(
            (r.json()["digest"].as_str(), r.json()["created"].as_bool()),
            (Some(digest.as_str()), Some(false))
        );
        let r = get(s.addr, &format!("/v1/decide/policies/{digest}"), &acme).await;
        assert_eq!(
            Policy::from_json(&r.body).unwrap().digest(),
            policy.digest()
        );
        // Acme's budget: 10,000; one hold of 7,000 fits, a second does not.
        fund_acme(&s, 10_000).await;
        let first = decide_body(&digest, 1, Some(1));
        let r = post(s.addr, "/v1/decisions", &acme, "d1", &first).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let d1 = r.json();
        assert_eq!(d1["decision"]["selected_id"], 20);
        assert_eq!(d1["decision"]["cost_microunits"], 7000);
        assert_eq!(d1["reservation"]["result"], "ok");
        assert_eq!(d1["reservation"]["amount"], 7000);
        let seq1 = d1["seq"].as_u64().unwrap();
        // A replay answers the same bytes and appends nothing.
        let again = post(s.addr, "/v1/decisions", &acme, "d1", &first).await;
        assert_eq!(
            (again.body.clone(), again.header("idempotent-replayed")),
            (r.body.clone(), Some("true"))
        );
        let view = get(s.addr, "/v1/budget/tenants/acme", &acme).await.json();
        assert_eq!(
            (view["reserved"].as_u64(), view["remaining"].as_u64()),
            (Some(7000), Some(3000))
        );
        // All or nothing: a hold the budget refuses appends no record.
        let before = checkpoint_size(&s, &auditor).await;
        let r = post(
            s.addr,
            "/v1/decisions",
            &acme,
            "d2",
            &decide_body(&digest, 2, Some(2)),
        )
        .await;
        assert_eq!(
            (r.status, r.json()["result"].as_str()),
            (409, Some("exceeds_credits")),
            "{}",
            text(&r)
        );
        assert_eq!(
            checkpoint_size(&s, &auditor).await,
            before,
            "a refused hold appended a record"
        );
        let view = get(s.addr, "/v1/budget/tenants/acme", &acme).await.json();
        assert_eq!(view["reserved"].as_u64(), Some(7000));
        // A tenant without a budget cannot hold: refused, nothing appended.
        let r = post(
            s.addr,
            "/v1/decisions",
            &beta,
            "b1",
            &decide_body(&digest, 3, Some(3)),
        )
        .await;
        assert_eq!(
            r.status,
            403,
            "decide.run alone may not hold budget: {}",
            text(&r)
        );
        // Without a hold, beta decides.
        let r = post(
            s.addr,
            "/v1/decisions",
            &beta,
            "b2",
            &decide_body(&digest, 4, None),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let seq_beta = r.json()["seq"].as_u64().unwrap();
        assert!(r.json().get("reservation").is_none());

        // The record with its proof, verified offline.
        let vk = vkey(&s);
        let r = get(s.addr, &format!("/v1/decisions/{seq1}"), &acme).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let v = r.json();
        assert_eq!(v["decision"], d1["decision"]);
        assert_eq!(v["bundle"], d1["bundle"]);
        let proof = InclusionProof::parse(v["proof"].as_str().unwrap()).unwrap();
        let proven = proof.verify(&vk, &Keyring::new()).unwrap();
        assert_eq!(proven.record.seq, seq1);
        assert_eq!(
            proven.record.payload,
            v["record"].as_str().unwrap().as_bytes()
        );
        let record = tally_decide::replay_record(&proven.record.payload, &policy).unwrap();
        assert_eq!(serde_json::to_value(record.bundle()).unwrap(), d1["bundle"]);
        // A tampered proof does not verify.
        let forged = v["proof"].as_str().unwrap().replace(
            "\\\"cost_microunits\\\":7000",
            "\\\"cost_microunits\\\":7001",
        );
        assert_ne!(forged, v["proof"].as_str().unwrap());
        let refused = InclusionProof::parse(&forged).and_then(|p| p.verify(&vk, &Keyring::new()));
        assert!(refused.is_err());
        // Tenancy: beta does not see acme's decision; an auditor does.
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
            get(s.addr, &format!("/v1/decisions/{seq1}"), &auditor)
                .await
                .status,
            200
        );
        // The audit entry route: the same record, proven.
        let r = get(s.addr, &format!("/v1/audit/entries/{seq1}"), &auditor).await;
        let p = InclusionProof::parse(&text(&r))
            .unwrap()
            .verify(&vk, &Keyring::new())
            .unwrap();
        assert_eq!(p.record.payload, proven.record.payload);
        // Consistency between two checkpoints.
        let old = checkpoint_size(&s, &auditor).await;
        let r = post(
            s.addr,
            "/v1/decisions",
            &beta,
            "b3",
            &decide_body(&digest, 5, None),
        )
        .await;
        assert_eq!(r.status, 200);
        let new = checkpoint_size(&s, &auditor).await;
        assert!(new > old);
        let r = get(
            s.addr,
            &format!("/v1/audit/consistency?old={old}&new={new}"),
            &auditor,
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let c = ConsistencyProof::parse(&text(&r))
            .unwrap()
            .verify(&vk)
            .unwrap();
        assert_eq!((c.old.size(), c.new.size()), (old, new));

        // Bounded and tampered inputs.
        let len = new + 1;
        for (path, want) in [
            ("/v1/decisions/abc".to_owned(), 400),
            ("/v1/decisions/99999999999999999999999".to_owned(), 400),
            (format!("/v1/decisions/{len}"), 404),
            ("/v1/decisions/18446744073709551615".to_owned(), 404),
            ("/v1/decisions/0".to_owned(), 404),
            (format!("/v1/audit/entries/{len}"), 404),
            ("/v1/audit/consistency?old=0&new=3".to_owned(), 400),
            (format!("/v1/audit/consistency?old={new}&new={old}"), 400),
            (
                "/v1/audit/consistency?old=1&new=99999999999999999999999".to_owned(),
                400,
            ),
            (
                format!("/v1/audit/consistency?old={old}&new=18446744073709551615"),
                404,
            ),
            (format!("/v1/audit/consistency?old=1&new={new}"), 404),
            ("/v1/audit/consistency?old=1".to_owned(), 400),
        ] {
            let r = get(s.addr, &path, &auditor).await;
            assert_eq!(r.status, want, "{path}: {}", text(&r));
        }
        let zeros = "0".repeat(64);
        let bodies = [
            (decide_body(&zeros, 6, None), 404),
            (decide_body("XYZ", 6, None), 400),
            (
                decide_body(&digest, 6, None).replace("\"risk_bps\":1000", "\"risk_bps\":20000"),
                400,
            ),
            (
                decide_body(&digest, 6, None).replace("\"sequence\"", "\"extra\":1,\"sequence\""),
                400,
            ),
            (
                decide_body(&digest, 6, Some(9)).replace("\"id\":9", "\"id\":9,\"timeout_s\":0"),
                400,
            ),
        ];
        let before = checkpoint_size(&s, &auditor).await;
        for (i, (body, want)) in bodies.iter().enumerate() {
            let r = post(s.addr, "/v1/decisions", &acme, &format!("bad{i}"), body).await;
            assert_eq!(r.status, *want, "{i}: {}", text(&r));
        }
        let r = call(
            s.addr,
            "POST",
            "/v1/decide/policies",
            Some(&s.admin),
            Some("p3"),
            b"{\"policy_epoch\":1}",
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(checkpoint_size(&s, &auditor).await, before);

        // A restart keeps the log, the policies and the proofs.
        let dir = s.stop().await;
        let path = dir.path().join("data/decisions.jsonl");
        let opts = VerifyOptions::new().checkpoint_key(vk.clone());
        let report = audited::replay_log_file(&path, &opts, &policy).unwrap();
        assert_eq!((report.decisions, report.skipped), (3, 3));
        let s = Server::start_in(dir, Limits::default(), None).await;
        let r = get_indexed(&s, &format!("/v1/decisions/{seq1}"), &acme).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(r.json()["record"], v["record"]);
        InclusionProof::parse(r.json()["proof"].as_str().unwrap())
            .unwrap()
            .verify(&vk, &Keyring::new())
            .unwrap();
        let after = checkpoint_size(&s, &auditor).await;
        let r = get_indexed(
            &s,
            &format!("/v1/audit/consistency?old={new}&new={after}"),
            &auditor,
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        ConsistencyProof::parse(&text(&r))
            .unwrap()
            .verify(&vk)
            .unwrap();
        let r = post(
            s.addr,
            "/v1/decisions",
            &beta,
            "b4",
            &decide_body(&digest, 7, None),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        assert!(r.json()["seq"].as_u64().unwrap() > after);
        s.stop().await;
    });
}

/// A route, a body, the tokens it allows and those it refuses (403).
type Cell<'a> = (&'a str, &'a str, &'a [u8], Vec<&'a str>, Vec<&'a str>);

#[test]
fn decision_and_audit_routes_need_their_scopes() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let digest = store_policy(&s, "p1").await;
        scopes_hold(&s, &digest).await;
        s.stop().await;
    });
}

/// Every decision and audit route against the tokens it allows and those
/// it refuses (embedded and on PostgreSQL); idempotency keys `scope-…`.
pub(crate) async fn scopes_hold(s: &Server, digest: &str) {
    let decider = mint("acme", &[Scope::DecideRun], vec![]);
    let auditor = mint("acme", &[Scope::AuditRead], vec![]);
    let ledger = mint(
        "acme",
        &[Scope::LedgerRead, Scope::LedgerWrite, Scope::BudgetReserve],
        vec![],
    );
    let r = post(
        s.addr,
        "/v1/decisions",
        &decider,
        "scope-d1",
        &decide_body(digest, 1, None),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let seq = r.json()["seq"].as_u64().unwrap();
    let body = decide_body(digest, 2, None);
    // (method, path, body, who may, who may not)
    let policy_path = format!("/v1/decide/policies/{digest}");
    let decision_path = format!("/v1/decisions/{seq}");
    let entry_path = format!("/v1/audit/entries/{seq}");
    let routes: Vec<Cell> = vec![
        (
            "POST",
            "/v1/decide/policies",
            POLICY,
            vec![&s.admin],
            vec![&decider, &auditor, &ledger],
        ),
        (
            "GET",
            &policy_path,
            b"",
            vec![&decider, &s.admin],
            vec![&auditor, &ledger],
        ),
        (
            "POST",
            "/v1/decisions",
            body.as_bytes(),
            vec![&decider, &s.admin],
            vec![&auditor, &ledger],
        ),
        (
            "GET",
            &decision_path,
            b"",
            vec![&decider, &auditor, &s.admin],
            vec![&ledger],
        ),
        (
            "GET",
            "/v1/audit/checkpoint",
            b"",
            vec![&auditor, &s.admin],
            vec![&decider, &ledger],
        ),
        (
            "GET",
            &entry_path,
            b"",
            vec![&auditor, &s.admin],
            vec![&decider, &ledger],
        ),
    ];
    let mut n = 0;
    for (method, path, body, allowed, refused) in routes {
        n += 1;
        let r = call(
            s.addr,
            method,
            path,
            None,
            Some(&format!("scope-k{n}")),
            body,
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (401, "UNAUTHENTICATED".to_owned()),
            "{method} {path}"
        );
        let r = call(
            s.addr,
            method,
            path,
            Some("tally1.forged"),
            Some(&format!("scope-k{n}")),
            body,
        )
        .await;
        assert_eq!(r.status, 401, "{method} {path}");
        for t in refused {
            n += 1;
            let r = call(
                s.addr,
                method,
                path,
                Some(t),
                Some(&format!("scope-k{n}")),
                body,
            )
            .await;
            assert_eq!(
                (r.status, r.code()),
                (403, "UNAUTHORIZED".to_owned()),
                "{method} {path}"
            );
        }
        for t in allowed {
            n += 1;
            let r = call(
                s.addr,
                method,
                path,
                Some(t),
                Some(&format!("scope-k{n}")),
                body,
            )
            .await;
            assert_eq!(r.status, 200, "{method} {path}: {}", text(&r));
        }
    }
}

#[test]
fn a_failed_append_releases_the_hold_it_made_and_appends_nothing() {
    use tally_audit::storage::{Faults, SimLog};
    use tally_audit::{AuditLog, CheckpointSigner, LogOptions};
    runtime().block_on(async {
        let disk = SimLog::new(Vec::new(), Faults::default(), 11);
        let signer = CheckpointSigner::generate("tally-serve/decisions").unwrap();
        let vkey = signer.verifier();
        let opts = LogOptions::new().signer(signer).proof_index(true);
        let log = AuditLog::create_with(Box::new(disk.clone()), opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = crate::support::config(dir.path(), Limits::default());
        c.decision_log = Some((log, vkey));
        let running = tally_serve::start(c).await.unwrap();
        let addr = running.addr;
        let admin = std::fs::read_to_string(&running.admin_token_file)
            .unwrap()
            .trim()
            .to_owned();
        let acme = mint("acme", &[Scope::DecideRun, Scope::BudgetReserve], vec![]);
        let r = call(
            addr,
            "POST",
            "/v1/decide/policies",
            Some(&admin),
            Some("p1"),
            POLICY,
        )
        .await;
        let digest = r.json()["digest"].as_str().unwrap().to_owned();
        post(
            addr,
            "/v1/budget/tenants/acme",
            &admin,
            "o1",
            r#"{"initial":20000,"funding_id":1}"#,
        )
        .await;
        let r = post(
            addr,
            "/v1/decisions",
            &acme,
            "d1",
            &decide_body(&digest, 1, Some(1)),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let records = disk.contents();
        // Every sync fails from now on: the append is not durable.
        disk.set_faults(Faults {
            sync_fail_permille: 1000,
            ..Faults::default()
        });
        let r = post(
            addr,
            "/v1/decisions",
            &acme,
            "d2",
            &decide_body(&digest, 2, Some(2)),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (503, "DEPENDENCY_UNAVAILABLE"),
            "{}",
            text(&r)
        );
        // The hold it made is released; the first decision's stays.
        let view = get(addr, "/v1/budget/tenants/acme", &acme).await.json();
        assert_eq!(
            (view["reserved"].as_u64(), view["remaining"].as_u64()),
            (Some(7000), Some(13000))
        );
        // Nothing the failed append wrote was acknowledged as durable.
        assert_eq!(disk.durable(), records);
        let ready = get(addr, "/readyz", "").await;
        assert_eq!(ready.status, 503);
        assert!(
            ready.json()["causes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "journal_poisoned")
        );
        running.stop().await;
    });
}

/// Tenant `acme`'s budget: `initial` from funding account 1.
/// A retry after a lost answer (`r`) answers the first decision afresh
/// (not an idempotent replay): its sequence number and decision, its hold
/// found (`exists`).
pub(crate) fn assert_first_decision(r: &Resp, first: &serde_json::Value) {
    assert_eq!(r.status, 200, "{}", text(r));
    assert_eq!(r.header("idempotent-replayed"), None);
    let retry = r.json();
    assert_eq!(
        (&retry["seq"], &retry["decision"]),
        (&first["seq"], &first["decision"])
    );
    assert_eq!(retry["reservation"]["result"], "exists");
}

pub(crate) async fn fund_acme(s: &Server, initial: u64) {
    let r = post(
        s.addr,
        "/v1/budget/tenants/acme",
        &s.admin,
        "o1",
        &format!(r#"{{"initial":{initial},"funding_id":1}}"#),
    )
    .await;
    assert_eq!(r.status, 200);
}

/// Deletes the idempotency record of `key` from a stopped server's SQLite:
/// the state a crash after the append and before the answer leaves.
async fn forget_answer(data: &std::path::Path, key: &str) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", data.join("serve.sqlite").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let done = sqlx::query("DELETE FROM idempotency WHERE key = ?")
        .bind(key)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    conn.close().await.unwrap();
}

#[test]
fn a_retry_after_a_lost_answer_answers_the_first_decision_and_appends_nothing() {
    runtime().block_on(async {
        let s = Server::start(Limits::default()).await;
        let acme = mint("acme", &[Scope::DecideRun, Scope::BudgetReserve], vec![]);
        let policy = Policy::from_json(POLICY).unwrap();
        let digest = store_policy(&s, "p1").await;
        fund_acme(&s, 20_000).await;
        let body = decide_body(&digest, 1, Some(1));
        let r = post(s.addr, "/v1/decisions", &acme, "d1", &body).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let first = r.json();
        // The answer is lost: the process stops and its idempotency record
        // of `d1` is gone, as after a crash between append and answer.
        let dir = s.stop().await;
        forget_answer(&dir.path().join("data"), "d1").await;
        // Restarted: the request index is rebuilt from the log, so the
        // retry answers the first decision (its hold found) and appends
        // nothing.
        let s = Server::start_in(dir, Limits::default(), None).await;
        let r = post(s.addr, "/v1/decisions", &acme, "d1", &body).await;
        crate::decisions::assert_first_decision(&r, &first);
        let view = get(s.addr, "/v1/budget/tenants/acme", &acme).await.json();
        assert_eq!(view["reserved"].as_u64(), Some(7000));
        // A new request is a new decision.
        let r = post(
            s.addr,
            "/v1/decisions",
            &acme,
            "d2",
            &decide_body(&digest, 2, None),
        )
        .await;
        assert_eq!(r.status, 200, "{}", text(&r));
        let auditor = mint("auditor", &[Scope::AuditRead], vec![]);
        checkpoint_size(&s, &auditor).await;
        let vk = vkey(&s);
        let dir = s.stop().await;
        let path = dir.path().join("data/decisions.jsonl");
        let opts = VerifyOptions::new().checkpoint_key(vk);
        let report = audited::replay_log_file(&path, &opts, &policy).unwrap();
        assert_eq!(report.decisions, 2, "the retry appended a second decision");
    });
}
