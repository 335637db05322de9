//! `tally serve` as a process: it prints where it listens and its admin
//! token file, serves the ledger over HTTP, stops on SIGTERM with a
//! snapshot, and restarts on the same data directory with the same state.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use crate::support::tally;

struct Serve {
    child: Child,
    addr: String,
    token_file: String,
}

fn start(dir: &std::path::Path) -> Serve {
    let mut child = tally()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().to_owned();
    let second = lines.next().unwrap().unwrap();
    let token_file = second
        .split(" in ")
        .nth(1)
        .unwrap()
        .split(" (")
        .next()
        .unwrap()
        .to_owned();
    Serve {
        child,
        addr,
        token_file,
    }
}

impl Serve {
    fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let token = std::fs::read_to_string(&self.token_file).unwrap();
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {}\r\nIdempotency-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            token.trim(),
            body.len(),
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split(' ').nth(1).unwrap().parse().unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn tally_serve_serves_stops_and_restarts_with_the_same_state() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tally-data");
    let s = start(&dir);
    let mode = std::fs::metadata(&s.token_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let (status, body) = s.call(
        "POST",
        "/v1/ledger/accounts",
        r#"{"accounts":[{"id":1,"ledger":1,"code":1},{"id":2,"ledger":1,"code":1}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.call(
        "POST",
        "/v1/ledger/transfers",
        r#"{"transfers":[{"id":9,"debit_account_id":1,"credit_account_id":2,"amount":30,"ledger":1,"code":1}]}"#,
    );
    assert_eq!(status, 200);
    assert!(body.contains(r#""result":"ok""#), "{body}");
    let (_, before) = s.call("GET", "/v1/ledger/accounts/2", "");
    s.stop();
    assert!(dir.join("snapshots").read_dir().unwrap().next().is_some());
    let s = start(&dir);
    let (status, after) = s.call("GET", "/v1/ledger/accounts/2", "");
    assert_eq!(status, 200);
    assert_eq!(after, before);
    // The journal is tally ledger's: the CLI verifies it.
    s.stop();
    let out = tally()
        .args(["ledger", "verify"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tally_serve_with_no_flags_keeps_its_state_in_tally_data() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = tally()
        .arg("serve")
        .current_dir(tmp.path())
        // Every flag at its default but the port (tests run side by side).
        .env("BIND_ADDR", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env_remove("TALLY_DATA_DIR")
        .env_remove("CAPS_KEYS_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("tally serve: listening on http://127.0.0.1:")
    );
    let second = lines.next().unwrap().unwrap();
    assert!(second.contains("./tally-data/admin.token"), "{second}");
    let dir = tmp.path().join("tally-data");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in [
        "admin.token",
        "journal.jsonl",
        "serve.sqlite",
        "keys/root-1.key",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
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

#[test]
fn the_systemd_unit_sets_every_limit_of_tally_serve_and_the_seeds_hardening() {
    let help = tally().args(["serve", "--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let unit = std::fs::read_to_string(root.join("deploy/tally-serve.service")).unwrap();
    let mut names = Vec::new();
    for part in help.split("[env: ").skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.push(name);
    }
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        // The database URL is a secret (an environment file), TLS a choice
        // (the unit shows its two files commented out).
        if name == "DATABASE_URL" || name == "BEHIND_TLS" {
            continue;
        }
        if name == "TLS_CERT_FILE" || name == "TLS_KEY_FILE" {
            assert!(
                unit.contains(&format!("#Environment={name}=")),
                "the unit does not show {name}"
            );
            continue;
        }
        assert!(
            unit.contains(&format!("Environment={name}=")),
            "the unit does not set {name}"
        );
    }
    for line in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/tally",
        "SystemCallFilter=~execve execveat ptrace",
        "CapabilityBoundingSet=\n",
        "LimitNOFILE=",
        "ExecStart=/usr/local/bin/tally serve\n",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
    let container = std::fs::read_to_string(root.join("deploy/Containerfile")).unwrap();
    assert!(container.contains("USER 10001"));
}

#[test]
fn tally_serve_logs_json_lines_and_never_the_authorization_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tally-data");
    let mut child = tally()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit("http://")
        .next()
        .unwrap()
        .to_owned();
    let token_file = dir.join("admin.token");
    let s = Serve {
        child,
        addr,
        token_file: token_file.display().to_string(),
    };
    let (status, _) = s.call("GET", "/v1/ledger/conservation", "");
    assert_eq!(status, 200);
    let mut forged = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    forged.push('A');
    let mut stream = TcpStream::connect(&s.addr).unwrap();
    write!(stream, "GET /v1/ledger/conservation HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {forged}\r\n\r\n").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 401"));
    let mut child = s.child;
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    let requests: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 2, "{err}");
    assert_eq!(requests[0]["fields"]["status"], 200);
    assert_eq!(requests[1]["fields"]["status"], 401);
    assert!(requests[0]["fields"]["corr_id"].is_string());
    assert_eq!(requests[0]["fields"]["tenant"], "admin");
    assert!(
        !err.contains(token) && !err.contains(&token[7..40]),
        "a token reached the log"
    );
    assert!(!err.to_ascii_lowercase().contains("authorization"));
}

#[test]
fn tally_serve_refuses_a_tls_key_file_others_can_read_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let cert = tmp.path().join("cert.pem");
    let key = tmp.path().join("key.pem");
    std::fs::write(&cert, "not a certificate\n").unwrap();
    std::fs::write(&key, "not a key\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = || {
        tally()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join("tally-data"))
            .env_remove("DATABASE_URL")
            .env("TLS_CERT_FILE", &cert)
            .env("TLS_KEY_FILE", &key)
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("mode 0644"), "{err}");
    // Private but no PEM key: named, its content not echoed.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(!err.contains("not a key"), "{err}");
    // One file without the other is a usage error.
    let out = tally()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .env_remove("TLS_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--tls-key"));
    assert!(!tmp.path().join("tally-data").exists());
}

/// `--tls-client-ca` needs `--tls-cert`, `--tls-client-auth` needs
/// `--tls-client-ca` and is `required` or `optional` (usage errors, exit 2,
/// nothing created); a client CA file with no certificate stops the start
/// naming it.
#[test]
fn tally_serve_checks_its_client_certificate_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("tally-data");
    let ca = tmp.path().join("client-ca.pem");
    std::fs::write(&ca, "no certificate here\n").unwrap();
    let serve = |args: &[&std::ffi::OsStr]| {
        tally()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("TLS_CERT_FILE")
            .env_remove("TLS_KEY_FILE")
            .env_remove("TLS_CLIENT_CA_FILE")
            .env_remove("TLS_CLIENT_AUTH")
            .output()
            .unwrap()
    };
    let out = serve(&["--tls-client-ca".as_ref(), ca.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--tls-cert")
    );
    let out = serve(&["--tls-client-auth".as_ref(), "optional".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--tls-client-ca")
    );
    assert!(!data.exists());

    // A real certificate and key, and a client CA file without a certificate.
    let made = rcgen::generate_simple_self_signed(vec!["tally.test".to_owned()]).unwrap();
    let cert = tmp.path().join("cert.pem");
    let key = tmp.path().join("key.pem");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    tally_files::private::create(&key, made.signing_key.serialize_pem().as_bytes()).unwrap();
    for auth in ["required", "optional", "sometimes"] {
        let out = serve(&[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
            "--tls-client-ca".as_ref(),
            ca.as_os_str(),
            "--tls-client-auth".as_ref(),
            auth.as_ref(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{auth}");
        let err = String::from_utf8(out.stderr).unwrap();
        if auth == "sometimes" {
            assert!(err.contains("sometimes"), "{err}");
        } else {
            assert!(err.contains(&ca.display().to_string()), "{err}");
        }
    }
    assert!(!data.exists());
}

/// A decision made through `tally serve` is checked offline by the CLI:
/// its inclusion proof with `tally audit verify-proof` and a consistency
/// proof between two checkpoints with `tally audit consistency verify`,
/// both against the server's `decisions.vkey`; a tampered proof fails.
#[test]
fn a_decision_from_tally_serve_verifies_offline_with_tally_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tally-data");
    let s = start(&dir);
    let policy = include_str!("../../../tally-decide/examples/policy.json");
    let (status, body) = s.call("POST", "/v1/decide/policies", policy);
    assert_eq!(status, 200, "{body}");
    let digest = serde_json::from_str::<serde_json::Value>(&body).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let decide = |seq: u64| {
        let body = format!(
            r#"{{"policy":"{digest}","request":{{"sequence":{seq},"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}}}}"#
        );
        // The helper's Idempotency-Key is the body's length: sequences of
        // different lengths make different keys.
        let (status, body) = s.call("POST", "/v1/decisions", &body);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let size = |s: &Serve| {
        let (status, body) = s.call("GET", "/v1/audit/checkpoint", "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["size"]
            .as_u64()
            .unwrap()
    };
    let seq = decide(1);
    let old = size(&s);
    decide(22);
    let new = size(&s);
    let (status, body) = s.call("GET", &format!("/v1/decisions/{seq}"), "");
    assert_eq!(status, 200, "{body}");
    let proof = serde_json::from_str::<serde_json::Value>(&body).unwrap()["proof"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, consistency) = s.call(
        "GET",
        &format!("/v1/audit/consistency?old={old}&new={new}"),
        "",
    );
    assert_eq!(status, 200, "{consistency}");
    s.stop();
    let vkey = std::fs::read_to_string(dir.join("decisions.vkey")).unwrap();
    let run = |args: &[&str], file: &std::path::Path| {
        tally()
            .args(args)
            .arg(file)
            .args(["--vkey", vkey.trim()])
            .output()
            .unwrap()
    };
    let proof_file = tmp.path().join("decision.proof");
    std::fs::write(&proof_file, &proof).unwrap();
    let out = run(&["audit", "verify-proof"], &proof_file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tampered = proof.replace(
        "\\\"cost_microunits\\\":7000",
        "\\\"cost_microunits\\\":7001",
    );
    assert_ne!(tampered, proof);
    std::fs::write(&proof_file, &tampered).unwrap();
    assert!(
        !run(&["audit", "verify-proof"], &proof_file)
            .status
            .success()
    );
    let consistency_file = tmp.path().join("decisions.consistency");
    std::fs::write(&consistency_file, &consistency).unwrap();
    let out = run(&["audit", "consistency", "verify"], &consistency_file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `tally serve` SIGKILLed while decisions are appended (some answers are
/// lost after their records were durable), restarted on the same data
/// directory, every request retried with its key: one decision per
/// request in the log, never two (SRV-94).
#[test]
fn a_serve_killed_under_decisions_records_each_request_once_after_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tally-data");
    let mut s = start(&dir);
    let token = std::fs::read_to_string(&s.token_file)
        .unwrap()
        .trim()
        .to_owned();
    let policy = include_str!("../../../tally-decide/examples/policy.json");
    let (status, body) = s.call("POST", "/v1/decide/policies", policy);
    assert_eq!(status, 200, "{body}");
    let digest = serde_json::from_str::<serde_json::Value>(&body).unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let decision = move |n: u32| {
        format!(
            r#"{{"policy":"{digest}","request":{{"sequence":{n},"requested_id":20,"input_tokens":1200,"output_tokens":400,"value_microunits":50000,"budget_microunits":10000,"risk_bps":1000,"confidence_bps":9000,"minimum_quality_bps":7000,"max_p95_latency_ms":500,"required_capabilities":1,"allowed_providers":18446744073709551615,"required_regions":1}}}}"#
        )
    };
    let clients: Vec<_> = (0..3u32)
        .map(|client| {
            let (addr, token, decision) = (s.addr.clone(), token.clone(), decision.clone());
            std::thread::spawn(move || {
                for i in 0..15u32 {
                    let n = 1 + client * 15 + i;
                    let _ = crate::support::post_key(
                        &addr,
                        &token,
                        &format!("dec-{n}"),
                        "/v1/decisions",
                        &decision(n),
                    );
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(40));
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    for c in clients {
        c.join().unwrap();
    }
    let s = start(&dir);
    let mut seqs = std::collections::BTreeSet::new();
    for n in 1..=45u32 {
        let mut answer = None;
        for _ in 0..40 {
            let a = crate::support::post_key(
                &s.addr,
                &token,
                &format!("dec-{n}"),
                "/v1/decisions",
                &decision(n),
            )
            .unwrap();
            // 503 while the request index is rebuilt after the start.
            if a.0 != 503 {
                answer = Some(a);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let (status, body) = answer.unwrap();
        assert_eq!(status, 200, "dec-{n}: {body}");
        let seq = serde_json::from_str::<serde_json::Value>(&body).unwrap()["seq"]
            .as_u64()
            .unwrap();
        assert!(
            seqs.insert(seq),
            "two requests answered one decision: {body}"
        );
    }
    let (status, _) = s.call("GET", "/v1/audit/checkpoint", "");
    assert_eq!(status, 200);
    s.stop();
    let vkey = std::fs::read_to_string(dir.join("decisions.vkey")).unwrap();
    let vkey = tally_audit::NoteVerifier::parse(vkey.trim()).unwrap();
    let policy = tally_decide::Policy::from_json(policy.as_bytes()).unwrap();
    let opts = tally_audit::VerifyOptions::new().checkpoint_key(vkey);
    let report =
        tally_decide::audited::replay_log_file(&dir.join("decisions.jsonl"), &opts, &policy)
            .unwrap();
    assert_eq!(report.decisions, 45, "a request was recorded twice");
}
