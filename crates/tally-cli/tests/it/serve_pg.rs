//! Three `tally serve` processes over one PostgreSQL database (a
//! throw-away one; never skipped), one SIGKILLed under load and restarted:
//! no double spend, conservation holds, every acknowledged transfer is
//! there, and a retry through another process gets the first answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::ledger_pg::TestDb;
use crate::support::{post_key as post, tally};

struct Proc {
    child: Child,
    addr: String,
}

fn start(db: &str, keys: &Path, data: &Path) -> Proc {
    let mut child = tally()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--keys-dir")
        .arg(keys)
        .env("DATABASE_URL", db)
        // A claim cut off by the kill is taken over after twice this.
        .env("REQUEST_TIMEOUT_MS", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().to_owned();
    // Both lines read before the pipe closes.
    let _token_line = lines.next().unwrap().unwrap();
    Proc { child, addr }
}

fn get(addr: &str, token: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

fn transfer(id: u32) -> String {
    format!(
        r#"{{"transfers":[{{"id":{id},"debit_account_id":2,"credit_account_id":3,"amount":10,"ledger":1,"code":1}}]}}"#
    )
}

#[test]
fn three_serve_processes_over_postgres_one_killed_no_double_spend() {
    let db = TestDb::create();
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let a = start(&db.url, &keys, &tmp.path().join("a"));
    let mut b = start(&db.url, &keys, &tmp.path().join("b"));
    let c = start(&db.url, &keys, &tmp.path().join("c"));
    // Every process mints its admin token under the shared root key.
    let token = std::fs::read_to_string(tmp.path().join("a/admin.token")).unwrap();
    let token = token.trim().to_owned();
    let (status, _) = post(&a.addr, &token, "acc", "/v1/ledger/accounts",
        r#"{"accounts":[{"id":1,"ledger":1,"code":1},{"id":2,"ledger":1,"code":1,"flags":["debits_must_not_exceed_credits"]},{"id":3,"ledger":1,"code":1}]}"#).unwrap();
    assert_eq!(status, 200);
    let fund = r#"{"transfers":[{"id":1,"debit_account_id":1,"credit_account_id":2,"amount":100,"ledger":1,"code":1}]}"#;
    assert_eq!(
        post(&c.addr, &token, "fund", "/v1/ledger/transfers", fund)
            .unwrap()
            .0,
        200
    );
    // 30 spends of 10 from an account holding 100, spread over the three
    // processes by three clients; b is killed while they run.
    let addrs = [a.addr.clone(), b.addr.clone(), c.addr.clone()];
    let clients: Vec<_> = (0..3u32)
        .map(|client| {
            let addrs = addrs.clone();
            let token = token.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                for i in 0..10u32 {
                    let id = 100 + client * 10 + i;
                    let addr = &addrs[((client + i) % 3) as usize];
                    let answer = post(
                        addr,
                        &token,
                        &format!("spend-{id}"),
                        "/v1/ledger/transfers",
                        &transfer(id),
                    );
                    answers.push((id, answer));
                }
                answers
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let answers: Vec<(u32, Option<(u16, String)>)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    // Retry everything through a: acknowledged ones replay their first body;
    // one cut off in flight by the kill is 409 until its claim is stale.
    let mut ok = 0;
    for (id, first) in &answers {
        let mut tries = 0;
        let (status, body) = loop {
            let key = format!("spend-{id}");
            let answer = post(
                &a.addr,
                &token,
                &key,
                "/v1/ledger/transfers",
                &transfer(*id),
            )
            .unwrap();
            tries += 1;
            if answer.0 != 409 || tries > 10 {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(status == 200, "retry of {id}: {status} {body}");
        if let Some((200, first_body)) = first {
            assert_eq!(&body, first_body, "a retry of {id} through another process");
        }
        // Applied: `ok`, or `exists` when the killed process applied the
        // transfer but died before its idempotency record was finished (the
        // retry then runs again once the claim is stale, and the ledger's id
        // answers `exists`: applied once, never twice).
        if body.contains(r#""result":"ok""#) || body.contains(r#""result":"exists""#) {
            ok += 1;
        }
    }
    // No double spend: exactly 100 / 10 spends went through (each id once).
    assert_eq!(ok, 10);
    let account = get(&c.addr, &token, "/v1/ledger/accounts/2");
    assert!(account.contains(r#""debits_posted":100"#), "{account}");
    assert!(get(&c.addr, &token, "/v1/ledger/conservation").contains(r#""balanced":true"#));
    // b comes back and answers the same.
    let b2 = start(&db.url, &keys, &tmp.path().join("b"));
    let (status, body) = post(
        &b2.addr,
        &token,
        "spend-100",
        "/v1/ledger/transfers",
        &transfer(100),
    )
    .unwrap();
    assert_eq!(status, 200);
    let (_, from_a) = post(
        &a.addr,
        &token,
        "spend-100",
        "/v1/ledger/transfers",
        &transfer(100),
    )
    .unwrap();
    assert_eq!(body, from_a);
    // The funding transfer's inclusion proof, from the restarted process,
    // checks offline with `tally ledger verify-proof` under the shared
    // keys directory's ledger checkpoint key; for another id it fails.
    let proof = get(&b2.addr, &token, "/v1/ledger/transfers/1/proof");
    let file = tmp.path().join("proof.json");
    std::fs::write(&file, &proof).unwrap();
    let vkey = std::fs::read_to_string(keys.join("ledger-checkpoint.vkey")).unwrap();
    let verify = |id: &str| {
        tally()
            .args(["ledger", "verify-proof"])
            .arg(&file)
            .args(["--id", id, "--vkey", vkey.trim()])
            .output()
            .unwrap()
    };
    let out = verify("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PostgreSQL journal"));
    assert!(!verify("2").status.success());
    for mut p in [a, c, b2] {
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }
}

fn decision(digest: &str, seq: u32) -> String {
    format!(
        r#"{{"policy":"{digest}","request":{{"sequence":{seq},"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}}}}"#
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A POST retried through `addr` while its key is in flight (a claim cut
/// off by a kill is taken over once stale).
fn settle(addr: &str, token: &str, key: &str, path: &str, body: &str) -> (u16, String) {
    for _ in 0..20 {
        let answer = post(addr, token, key, path, body).unwrap();
        if answer.0 != 409 {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{key} stayed in flight");
}

#[test]
fn decisions_over_postgres_one_process_killed_each_request_recorded_once_proofs_verify_offline() {
    let db = TestDb::create();
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let a = start(&db.url, &keys, &tmp.path().join("a"));
    let mut b = start(&db.url, &keys, &tmp.path().join("b"));
    let token = std::fs::read_to_string(tmp.path().join("a/admin.token")).unwrap();
    let token = token.trim().to_owned();
    let policy = include_str!("../../../tally-decide/examples/policy.json");
    let (status, body) = post(&a.addr, &token, "policy", "/v1/decide/policies", policy).unwrap();
    assert_eq!(status, 200, "{body}");
    let digest = json(&body)["digest"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &a.addr,
        &token,
        "dec-0",
        "/v1/decisions",
        &decision(&digest, 1),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let first_seq = json(&body)["seq"].as_u64().unwrap();
    let old = json(&get(&a.addr, &token, "/v1/audit/checkpoint"))["size"]
        .as_u64()
        .unwrap();
    // 45 decisions over the two processes by three clients; b is killed
    // while they run, so some answers are lost after their rows committed.
    let addrs = [a.addr.clone(), b.addr.clone()];
    let clients: Vec<_> = (0..3u32)
        .map(|client| {
            let (addrs, token, digest) = (addrs.clone(), token.clone(), digest.clone());
            std::thread::spawn(move || {
                for i in 0..15u32 {
                    let n = 10 + client * 15 + i;
                    let addr = &addrs[((client + i) % 2) as usize];
                    let _ = post(
                        addr,
                        &token,
                        &format!("dec-{n}"),
                        "/v1/decisions",
                        &decision(&digest, n),
                    );
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    for c in clients {
        c.join().unwrap();
    }
    // Every request retried through a: one decision each, never two.
    let mut seqs = std::collections::BTreeSet::new();
    for n in 10..55u32 {
        let (status, body) = settle(
            &a.addr,
            &token,
            &format!("dec-{n}"),
            "/v1/decisions",
            &decision(&digest, n),
        );
        assert_eq!(status, 200, "dec-{n}: {body}");
        assert!(
            seqs.insert(json(&body)["seq"].as_u64().unwrap()),
            "two requests, one decision: {body}"
        );
    }
    let new = json(&get(&a.addr, &token, "/v1/audit/checkpoint"))["size"]
        .as_u64()
        .unwrap();
    assert_eq!(new, 2 + 45 * 2, "a decision was recorded twice");
    // A decision's proof and the consistency proof between the two
    // checkpoints check offline with `tally audit`, under the shared keys
    // directory's decision checkpoint key; a tampered proof does not.
    let view = json(&get(&a.addr, &token, &format!("/v1/decisions/{first_seq}")));
    let proof = view["proof"].as_str().unwrap().to_owned();
    let consistency = get(
        &a.addr,
        &token,
        &format!("/v1/audit/consistency?old={old}&new={new}"),
    );
    let vkey = std::fs::read_to_string(keys.join("decisions-checkpoint.vkey")).unwrap();
    let run = |args: &[&str], text: &str| {
        let file = tmp.path().join("proof.json");
        std::fs::write(&file, text).unwrap();
        tally()
            .args(args)
            .arg(&file)
            .args(["--vkey", vkey.trim()])
            .output()
            .unwrap()
    };
    let out = run(&["audit", "verify-proof"], &proof);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PostgreSQL decision log"));
    let tampered = proof.replace(
        "\\\"cost_microunits\\\":7000",
        "\\\"cost_microunits\\\":7001",
    );
    assert_ne!(tampered, proof);
    assert!(!run(&["audit", "verify-proof"], &tampered).status.success());
    let out = run(&["audit", "consistency", "verify"], &consistency);
    assert!(
        out.status.success(),
        "{consistency}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
