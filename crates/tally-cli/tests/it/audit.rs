//! `tally audit …` through the binary.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tally() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.env_remove("TALLY_AUDIT_KEY")
        .env_remove("TALLY_AUDIT_SIGNER_KEY");
    c
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = tally()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A keyed, signed log with three appended records; returns (dir, log,
/// key file, signer file, vkey).
fn setup() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    String,
) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    let skey = dir.path().join("signer.key");
    let log = dir.path().join("audit.jsonl");
    let out = ok(&run(&["audit", "keygen", "--out", p(&key)], ""));
    assert!(out.starts_with("key id "), "{out}");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let vkey = ok(&run(
        &[
            "audit",
            "keygen",
            "--out",
            p(&skey),
            "--signer",
            "example.org/log",
        ],
        "",
    ))
    .trim()
    .to_owned();
    assert!(vkey.starts_with("example.org/log+"), "{vkey}");
    ok(&run(
        &[
            "audit",
            "init",
            p(&log),
            "--key-file",
            p(&key),
            "--signer-key-file",
            p(&skey),
        ],
        "",
    ));
    let out = ok(&run(
        &[
            "audit",
            "append",
            p(&log),
            "--key-file",
            p(&key),
            "--signer-key-file",
            p(&skey),
        ],
        "{\"a\":1}\n\n[2,3]\n\"four\"\n",
    ));
    assert!(out.contains("appended 3 records (sequence 1..=3)"), "{out}");
    (dir, log, key, skey, vkey)
}

#[test]
fn init_append_verify_and_tail() {
    let (_dir, log, key, _skey, vkey) = setup();
    let out = ok(&run(
        &[
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&key),
            "--vkey",
            &vkey,
        ],
        "",
    ));
    assert!(out.starts_with("ok: 5 records, mode keyed,"), "{out}");
    let out = ok(&run(&["audit", "tail", p(&log), "-n", "2"], ""));
    assert_eq!(out.lines().count(), 2);
    assert!(
        out.lines().next().unwrap().contains("\"payload\":\"four\""),
        "{out}"
    );
    // Without the key, a keyed log does not verify: a usage error (exit 2)
    // that says what to give, not tampering (exit 1).
    let out = run(&["audit", "verify", p(&log)], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("this log is keyed: give --key-file"),
        "{out:?}"
    );
}

#[test]
fn a_file_that_is_not_a_log_is_exit_2_and_a_plain_log_with_a_key_is_exit_1() {
    let (dir, _log, key, _skey, _vkey) = setup();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello\n").unwrap();
    let out = run(&["audit", "verify", p(&text)], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a tally audit log"));
    let plain = dir.path().join("plain.jsonl");
    ok(&run(&["audit", "init", p(&plain)], ""));
    let out = ok(&run(&["audit", "verify", p(&plain)], ""));
    assert!(out.contains("mode plain"), "{out}");
    let out = run(&["audit", "verify", p(&plain), "--key-file", p(&key)], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn key_from_the_environment_and_refused_public_key_files() {
    let (_dir, log, key, _skey, _vkey) = setup();
    let text = std::fs::read_to_string(&key).unwrap();
    let out = tally()
        .args(["audit", "verify", p(&log)])
        .env("TALLY_AUDIT_KEY", text.trim())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["audit", "verify", p(&log), "--key-file", p(&key)], "");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

#[test]
fn tampering_fails_verification_with_exit_1() {
    let (_dir, log, key, _skey, _vkey) = setup();
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replace("[2,3]", "[2,4]")).unwrap();
    let out = run(&["audit", "verify", p(&log), "--key-file", p(&key)], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sequence 2") && err.contains("audit.hash_mismatch"),
        "{err}"
    );
}

#[test]
fn truncation_is_caught_by_a_saved_checkpoint() {
    let (dir, log, key, skey, vkey) = setup();
    let note = ok(&run(
        &[
            "audit",
            "checkpoint",
            p(&log),
            "--key-file",
            p(&key),
            "--signer-key-file",
            p(&skey),
        ],
        "",
    ));
    let cp = dir.path().join("trusted.note");
    std::fs::write(&cp, &note).unwrap();
    let args = [
        "audit",
        "verify",
        p(&log),
        "--key-file",
        p(&key),
        "--checkpoint",
        p(&cp),
        "--vkey",
        &vkey,
    ];
    assert!(ok(&run(&args, "")).contains("consistent with the trusted checkpoint"));
    // Cut the last two whole lines: the chain alone cannot see it.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log, format!("{}\n", lines[..lines.len() - 2].join("\n"))).unwrap();
    ok(&run(
        &["audit", "verify", p(&log), "--key-file", p(&key)],
        "",
    ));
    let out = run(&args, "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.truncated"));
    // A signed checkpoint without --vkey is a usage error.
    let out = run(
        &[
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&key),
            "--checkpoint",
            p(&cp),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn prove_and_verify_proof() {
    let (dir, log, key, skey, vkey) = setup();
    // `append` closed the log with a checkpoint of size 4; record 4 is that
    // checkpoint itself and not covered until the next one.
    let out = run(&["audit", "prove", p(&log), "4", "--key-file", p(&key)], "");
    assert_eq!(out.status.code(), Some(1), "not covered yet: {out:?}");
    ok(&run(
        &[
            "audit",
            "checkpoint",
            p(&log),
            "--key-file",
            p(&key),
            "--signer-key-file",
            p(&skey),
        ],
        "",
    ));
    ok(&run(
        &["audit", "prove", p(&log), "4", "--key-file", p(&key)],
        "",
    ));
    let proof = ok(&run(
        &["audit", "prove", p(&log), "2", "--key-file", p(&key)],
        "",
    ));
    let file = dir.path().join("proof.json");
    std::fs::write(&file, &proof).unwrap();
    let out = ok(&run(
        &["audit", "verify-proof", p(&file), "--vkey", &vkey],
        "",
    ));
    assert!(out.contains("record 2 is in example.org/log"), "{out}");
    assert!(out.contains("record hash not checked"), "{out}");
    let out = ok(&run(
        &[
            "audit",
            "verify-proof",
            p(&file),
            "--vkey",
            &vkey,
            "--key-file",
            p(&key),
        ],
        "",
    ));
    assert!(!out.contains("not checked"), "{out}");
    std::fs::write(&file, proof.replace("[2,3]", "[2,9]")).unwrap();
    let out = run(&["audit", "verify-proof", p(&file), "--vkey", &vkey], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The record's hash replaced by zeros: refused by whoever holds the key.
    let mut v: serde_json::Value = serde_json::from_str(&proof).unwrap();
    let line = v["record"].as_str().unwrap().to_owned();
    let at = line.find("\"hash\":\"").unwrap() + 8;
    let zeroed = format!("{}{}{}", &line[..at], "0".repeat(64), &line[at + 64..]);
    v["record"] = serde_json::Value::String(zeroed);
    std::fs::write(&file, v.to_string()).unwrap();
    let out = run(
        &[
            "audit",
            "verify-proof",
            p(&file),
            "--vkey",
            &vkey,
            "--key-file",
            p(&key),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // Another log id: refused (the header binds it).
    let mut v: serde_json::Value = serde_json::from_str(&proof).unwrap();
    v["log_id"] = serde_json::Value::String("00".repeat(16));
    std::fs::write(&file, v.to_string()).unwrap();
    let out = run(&["audit", "verify-proof", p(&file), "--vkey", &vkey], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn bad_input_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.jsonl");
    assert_eq!(
        run(&["audit", "verify", p(&missing)], "").status.code(),
        Some(2)
    );
    let log = dir.path().join("l.jsonl");
    ok(&run(&["audit", "init", p(&log)], ""));
    let out = run(&["audit", "append", p(&log)], "{not json}\n");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin line 1"));
    // Secrets are never arguments: there is no --key option.
    assert_eq!(
        run(&["audit", "verify", p(&log), "--key", "abc"], "")
            .status
            .code(),
        Some(2)
    );
}
