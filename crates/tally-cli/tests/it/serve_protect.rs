//! `tally serve`'s data-protection flags as a process: a new at-rest key,
//! a plain store sealed by `--at-rest-reencrypt` and served under the key,
//! and amnesia (the admin token only where `--admin-token-out` says, no
//! file in the working directory, `HOME` or `TMPDIR`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};

use crate::support::tally;

fn request(addr: &str, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    // Writes need an idempotency key (one per path here); blob uploads
    // and reads take none.
    let key = if method == "POST" && path != "/v1/blobs" {
        format!("Idempotency-Key: {path}\r\n")
    } else {
        String::new()
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n{key}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// `GET /v1/audit/entries/{seq}`, retried while the proof index is being
/// built (503 after a start).
fn entry_when_indexed(addr: &str, token: &str, seq: u64) -> String {
    for _ in 0..100 {
        let (status, body) = request(addr, token, "GET", &format!("/v1/audit/entries/{seq}"), "");
        if status == 200 {
            return body;
        }
        assert!(
            status == 503 && body.contains("being built"),
            "{status} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the decision log's proof index was not built in 5 s");
}

fn term(mut child: Child) {
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
}

/// `tally serve` on a data directory: the child, its address, its token.
fn serve(data: &Path, extra: &[&str]) -> (Child, String, String) {
    let mut child = tally()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().to_owned();
    let second = lines.next().unwrap().unwrap();
    let file = second
        .split(" in ")
        .nth(1)
        .unwrap()
        .split(" (")
        .next()
        .unwrap();
    let token = std::fs::read_to_string(file).unwrap().trim().to_owned();
    (child, addr, token)
}

#[test]
fn a_plain_store_is_sealed_by_at_rest_reencrypt_and_served_under_the_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = keys.join("k1.key");
    let made = tally()
        .args(["serve", "--at-rest-new-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    let said = String::from_utf8(made.stdout).unwrap();
    assert!(said.contains("at-rest key "), "{said}");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never replaces a key.
    let again = tally()
        .args(["serve", "--at-rest-new-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success());

    let data = tmp.path().join("data");
    let (child, addr, token) = serve(&data, &[]);
    let blob = r#"{"secret":"payee-ledger-figures"}"#;
    let (status, body) = request(&addr, &token, "POST", "/v1/blobs", blob);
    assert_eq!(status, 200, "{body}");
    let cid = serde_json::from_str::<serde_json::Value>(&body).unwrap()["cid"]
        .as_str()
        .unwrap()
        .to_owned();
    term(child);
    let path = data.join("rewarder").join("blobs").join(&cid);
    assert_eq!(std::fs::read(&path).unwrap(), blob.as_bytes());

    let sealed = tally()
        .args(["serve", "--data-dir"])
        .arg(&data)
        .arg("--at-rest-key-file")
        .arg(&key)
        .arg("--at-rest-reencrypt")
        .output()
        .unwrap();
    assert!(sealed.status.success(), "{sealed:?}");
    let said = String::from_utf8(sealed.stdout).unwrap();
    assert!(said.contains("0 resealed"), "{said}");
    let on_disk = std::fs::read(&path).unwrap();
    assert!(on_disk.starts_with(b"TALLYAR"));
    assert!(!on_disk.windows(6).any(|w| w == b"payee-"));

    let key_arg = key.to_str().unwrap();
    let (child, addr, token) = serve(&data, &["--at-rest-key-file", key_arg]);
    let (status, body) = request(&addr, &token, "GET", &format!("/v1/blobs/{cid}"), "");
    assert_eq!((status, body.as_str()), (200, blob));
    term(child);
}

#[test]
fn tally_serve_amnesia_hands_the_token_only_where_asked_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, home, tmpdir) = (
        tmp.path().join("work"),
        tmp.path().join("home"),
        tmp.path().join("tmp"),
    );
    for d in [&work, &home, &tmpdir] {
        std::fs::create_dir(d).unwrap();
    }
    let refused = tally()
        .args(["serve", "--amnesia", "--listen", "127.0.0.1:0"])
        .current_dir(&work)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--admin-token-out"),
        "{refused:?}"
    );
    let mut child = tally()
        .args([
            "serve",
            "--amnesia",
            "--admin-token-out",
            "-",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(&work)
        .env("HOME", &home)
        .env("TMPDIR", &tmpdir)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().to_owned();
    let second = lines.next().unwrap().unwrap();
    let token = second
        .strip_prefix("tally serve: admin token ")
        .unwrap()
        .to_owned();
    let third = lines.next().unwrap().unwrap();
    let vkey = third
        .strip_prefix("tally serve: decision log key ")
        .unwrap()
        .to_owned();
    let (status, body) = request(
        &addr,
        &token,
        "POST",
        "/v1/ledger/accounts",
        r#"{"accounts":[{"id":1,"ledger":1,"code":1},{"id":2,"ledger":1,"code":1}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    // A decision in the in-memory log, proved and checked offline under
    // the key printed at start (the proof file kept outside the watched
    // directories).
    let policy = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tally-decide/examples/policy.json"),
    )
    .unwrap();
    let (status, body) = request(&addr, &token, "POST", "/v1/decide/policies", &policy);
    assert_eq!(status, 200, "{body}");
    let digest = serde_json::from_str::<serde_json::Value>(&body).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let decide = format!(
        r#"{{"policy":"{digest}","request":{{"sequence":1,"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}}}}"#
    );
    let (status, body) = request(&addr, &token, "POST", "/v1/decisions", &decide);
    assert_eq!(status, 200, "{body}");
    let seq = serde_json::from_str::<serde_json::Value>(&body).unwrap()["seq"]
        .as_u64()
        .unwrap();
    let proof = entry_when_indexed(&addr, &token, seq);
    let proof_file = tmp.path().join("decision.proof.json");
    std::fs::write(&proof_file, proof).unwrap();
    let checked = tally()
        .args(["audit", "verify-proof"])
        .arg(&proof_file)
        .args(["--vkey", &vkey])
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    std::fs::remove_file(&proof_file).unwrap();
    term(child);
    for d in [&work, &home, &tmpdir] {
        let left: Vec<_> = std::fs::read_dir(d).unwrap().collect();
        assert!(left.is_empty(), "{}: {left:?}", d.display());
    }
}

/// `--at-rest-reencrypt` with `--database`: the rewarder's plain rows of a
/// store that had no key are sealed, and a process with the key serves
/// them; a second run finds every row under the key.
#[cfg(feature = "postgres")]
#[test]
fn over_postgres_at_rest_reencrypt_seals_the_rewarder_s_rows_for_the_keyed_process() {
    let db = crate::ledger_pg::TestDb::create();
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = keys.join("k1.key");
    assert!(
        tally()
            .args(["serve", "--at-rest-new-key"])
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let data = tmp.path().join("data");
    let (child, addr, token) = serve(&data, &["--database", &db.url]);
    let blob = r#"{"secret":"payee-ledger-figures"}"#;
    let (status, body) = request(&addr, &token, "POST", "/v1/blobs", blob);
    assert_eq!(status, 200, "{body}");
    let cid = serde_json::from_str::<serde_json::Value>(&body).unwrap()["cid"]
        .as_str()
        .unwrap()
        .to_owned();
    term(child);
    let key_arg = key.to_str().unwrap();
    // Under the key, the plain row is refused until it is sealed.
    let keyed = ["--database", &db.url, "--at-rest-key-file", key_arg];
    let (child, addr, token) = serve(&data, &keyed);
    let (status, _) = request(&addr, &token, "GET", &format!("/v1/blobs/{cid}"), "");
    assert_eq!(status, 500);
    term(child);
    let reencrypt = || {
        tally()
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(keyed)
            .arg("--at-rest-reencrypt")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let sealed = reencrypt();
    assert!(sealed.status.success(), "{sealed:?}");
    let said = String::from_utf8(sealed.stdout).unwrap();
    assert!(
        said.contains("0 resealed, 1 plain files sealed, 0 already"),
        "{said}"
    );
    let again = String::from_utf8(reencrypt().stdout).unwrap();
    assert!(
        again.contains("0 resealed, 0 plain files sealed, 1 already"),
        "{again}"
    );
    let (child, addr, token) = serve(&data, &keyed);
    let (status, body) = request(&addr, &token, "GET", &format!("/v1/blobs/{cid}"), "");
    assert_eq!((status, body.as_str()), (200, blob));
    term(child);
}
