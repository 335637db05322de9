//! `tally audit …` through the binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::support::{run_with_stdin, tally};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut cmd = tally();
    cmd.args(args);
    run_with_stdin(cmd, stdin.as_bytes())
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

/// The key id and epoch a key file holds, and its key bytes (hex).
fn key_file(path: &Path) -> (String, u64, String) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (
        v["kid"].as_str().unwrap().to_owned(),
        v["epoch"].as_u64().unwrap(),
        v["key"].as_str().unwrap().to_owned(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn append_to(log: &Path, key: &Path, skey: &Path, stdin: &str) -> String {
    ok(&run(
        &[
            "audit",
            "append",
            p(log),
            "--key-file",
            p(key),
            "--signer-key-file",
            p(skey),
            "--epoch-records",
            "2",
        ],
        stdin,
    ))
}

/// A forward-secure, signed log: the verifier's epoch-0 key file, the
/// writer's copy (which evolves), the signer and its vkey.
struct FsLog {
    dir: tempfile::TempDir,
    log: std::path::PathBuf,
    auditor: std::path::PathBuf,
    writer: std::path::PathBuf,
    skey: std::path::PathBuf,
    vkey: String,
}

fn fs_log() -> FsLog {
    let dir = tempfile::tempdir().unwrap();
    let auditor = dir.path().join("auditor.key");
    let writer = dir.path().join("writer.key");
    let skey = dir.path().join("signer.key");
    let log = dir.path().join("fs.jsonl");
    ok(&run(&["audit", "keygen", "--out", p(&auditor)], ""));
    std::fs::copy(&auditor, &writer).unwrap();
    assert_eq!(mode(&writer), 0o600);
    let vkey = ok(&run(
        &[
            "audit",
            "keygen",
            "--out",
            p(&skey),
            "--signer",
            "example.org/fs",
        ],
        "",
    ))
    .trim()
    .to_owned();
    let out = ok(&run(
        &[
            "audit",
            "init",
            p(&log),
            "--forward-secure",
            "--key-file",
            p(&writer),
            "--signer-key-file",
            p(&skey),
        ],
        "",
    ));
    assert!(out.contains("mode ForwardSecure"), "{out}");
    FsLog {
        dir,
        log,
        auditor,
        writer,
        skey,
        vkey,
    }
}

#[test]
fn forward_secure_init_append_rotate_key_append_verify() {
    let f = fs_log();
    let (kid0, _, secret0) = key_file(&f.auditor);
    let out = append_to(&f.log, &f.writer, &f.skey, "1\n2\n3\n4\n5\n");
    assert!(out.contains("appended 5 records (sequence 1..=5)"), "{out}");
    // The writer's key evolved (two records per epoch) and epoch 0 is gone.
    let (kid, epoch, secret) = key_file(&f.writer);
    assert_eq!(kid, kid0);
    assert!(epoch >= 2, "epoch {epoch}");
    assert_ne!(secret, secret0);
    // Rotate to a new key: the key file then holds it, and only it.
    let next = f.dir.path().join("next.key");
    ok(&run(&["audit", "keygen", "--out", p(&next)], ""));
    let (kid1, _, secret1) = key_file(&next);
    let out = ok(&run(
        &[
            "audit",
            "rotate-key",
            p(&f.log),
            "--key-file",
            p(&f.writer),
            "--next-key-file",
            p(&next),
            "--signer-key-file",
            p(&f.skey),
        ],
        "",
    ));
    assert!(
        out.starts_with(&format!("rotated to key id {kid1} at sequence 7")),
        "{out}"
    );
    let text = std::fs::read_to_string(&f.writer).unwrap();
    assert_eq!(text, std::fs::read_to_string(&next).unwrap());
    assert!(text.contains(&secret1), "{text}");
    assert!(
        !text.contains(&secret) && !text.contains(&secret0),
        "{text}"
    );
    assert_eq!(mode(&f.writer), 0o600);
    assert!(!f.dir.path().join("writer.key.next").exists());
    // Verify right after the rotation with the key file as it now is.
    let verify = |key: &Path| {
        run(
            &[
                "audit",
                "verify",
                p(&f.log),
                "--key-file",
                p(key),
                "--old-key-file",
                p(&f.auditor),
                "--vkey",
                &f.vkey,
            ],
            "",
        )
    };
    let out = ok(&verify(&f.writer));
    assert!(
        out.starts_with("ok: 9 records, mode forward-secure,"),
        "{out}"
    );
    // Append again under the new key; the verifier's copies check it all.
    let out = append_to(&f.log, &f.writer, &f.skey, "6\n7\n8\n");
    assert!(
        out.contains("appended 3 records (sequence 9..=11)"),
        "{out}"
    );
    let (kid, epoch, _) = key_file(&f.writer);
    assert_eq!((kid.as_str(), epoch >= 1), (kid1.as_str(), true));
    let out = ok(&verify(&next));
    assert!(
        out.starts_with("ok: 13 records, mode forward-secure,"),
        "{out}"
    );
    // The writer's evolved key cannot vouch for the earlier epochs.
    let out = run(
        &[
            "audit",
            "verify",
            p(&f.log),
            "--key-file",
            p(&f.writer),
            "--old-key-file",
            p(&f.auditor),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("audit.wrong_key"),
        "{out:?}"
    );
    // A forward-secure log's key must be a file: the environment will not do.
    let out = tally()
        .args(["audit", "append", p(&f.log)])
        .env("TALLY_AUDIT_KEY", text.trim())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --key-file"));
}

/// `rotate-key` stages the next key as `<key file>.next`: a crash before the
/// rotation record is durable leaves the old key working (the stale next key
/// is discarded), a crash after it but before the rename leaves the next key
/// staged, and the next writer finishes the rotation. Either way the next
/// command opens the log and appends.
#[test]
fn an_interrupted_rotate_key_leaves_a_usable_key() {
    let f = fs_log();
    append_to(&f.log, &f.writer, &f.skey, "1\n2\n");
    let old_key = std::fs::read_to_string(&f.writer).unwrap();
    let old_log = std::fs::read(&f.log).unwrap();
    let next = f.dir.path().join("next.key");
    ok(&run(&["audit", "keygen", "--out", p(&next)], ""));
    let next_text = std::fs::read_to_string(&next).unwrap();
    let (kid0, _, _) = key_file(&f.writer);
    let (kid1, _, _) = key_file(&next);
    ok(&run(
        &[
            "audit",
            "rotate-key",
            p(&f.log),
            "--key-file",
            p(&f.writer),
            "--next-key-file",
            p(&next),
        ],
        "",
    ));
    let rotated_log = std::fs::read(&f.log).unwrap();
    let staged = f.dir.path().join("writer.key.next");
    let stage = |log: &[u8]| {
        std::fs::write(&f.log, log).unwrap();
        std::fs::write(&f.writer, &old_key).unwrap();
        std::fs::write(&staged, &next_text).unwrap();
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    // 1. Staged, record never written: the old key goes on, the stage goes.
    stage(&old_log);
    append_to(&f.log, &f.writer, &f.skey, "3\n");
    assert!(!staged.exists());
    assert_eq!(key_file(&f.writer).0, kid0);
    // 2. Record durable, not renamed: the open finishes the rotation.
    stage(&rotated_log);
    append_to(&f.log, &f.writer, &f.skey, "3\n");
    assert!(!staged.exists());
    assert_eq!(key_file(&f.writer).0, kid1);
    let out = ok(&run(
        &[
            "audit",
            "verify",
            p(&f.log),
            "--key-file",
            p(&next),
            "--old-key-file",
            p(&f.auditor),
        ],
        "",
    ));
    assert!(out.starts_with("ok: "), "{out}");
}

#[test]
fn rotate_key_on_a_keyed_log_keeps_both_key_files() {
    let (dir, log, key, skey, vkey) = setup();
    let before = std::fs::read_to_string(&key).unwrap();
    let next = dir.path().join("next.key");
    ok(&run(&["audit", "keygen", "--out", p(&next)], ""));
    let out = ok(&run(
        &[
            "audit",
            "rotate-key",
            p(&log),
            "--key-file",
            p(&key),
            "--next-key-file",
            p(&next),
            "--signer-key-file",
            p(&skey),
        ],
        "",
    ));
    assert!(out.contains("at sequence 5"), "{out}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), before);
    // The old key no longer writes; the next one does.
    let out = run(&["audit", "append", p(&log), "--key-file", p(&key)], "1\n");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    ok(&run(
        &[
            "audit",
            "append",
            p(&log),
            "--key-file",
            p(&next),
            "--signer-key-file",
            p(&skey),
        ],
        "1\n",
    ));
    let out = ok(&run(
        &[
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&next),
            "--old-key-file",
            p(&key),
            "--vkey",
            &vkey,
        ],
        "",
    ));
    assert!(out.starts_with("ok: 9 records, mode keyed,"), "{out}");
    // A plain log has no key to rotate; a public next key file is refused.
    let plain = dir.path().join("plain.jsonl");
    ok(&run(&["audit", "init", p(&plain)], ""));
    let out = run(
        &[
            "audit",
            "rotate-key",
            p(&plain),
            "--next-key-file",
            p(&next),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(
        &[
            "audit",
            "rotate-key",
            p(&log),
            "--key-file",
            p(&next),
            "--next-key-file",
            p(&next),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

/// A signed checkpoint's note, written now, saved to `name`.
fn save_checkpoint(
    dir: &Path,
    log: &Path,
    key: &Path,
    skey: &Path,
    name: &str,
) -> std::path::PathBuf {
    let note = ok(&run(
        &[
            "audit",
            "checkpoint",
            p(log),
            "--key-file",
            p(key),
            "--signer-key-file",
            p(skey),
        ],
        "",
    ));
    let path = dir.join(name);
    std::fs::write(&path, note).unwrap();
    path
}

fn consistency_verify(proof: &str, dir: &Path, vkey: &str) -> Output {
    let file = dir.join("consistency.json");
    std::fs::write(&file, proof).unwrap();
    run(
        &["audit", "consistency", "verify", p(&file), "--vkey", vkey],
        "",
    )
}

fn consistency_prove(log: &Path, key: &Path, old: &str, new: Option<&str>) -> Output {
    let mut args = vec![
        "audit",
        "consistency",
        "prove",
        p(log),
        "--old",
        old,
        "--key-file",
        p(key),
    ];
    if let Some(n) = new {
        args.extend(["--new", n]);
    }
    run(&args, "")
}

#[test]
fn consistency_prove_and_verify() {
    let (dir, log, key, skey, vkey) = setup();
    // `append` closed with a checkpoint of size 4; save one of size 5.
    let saved = save_checkpoint(dir.path(), &log, &key, &skey, "five.note");
    append_to(&log, &key, &skey, "5\n6\n");
    // Sizes 4 and 5 by size and by note, to the last checkpoint: records 6
    // and 7, then the closing checkpoint at 8 (size 8).
    let proof = ok(&consistency_prove(&log, &key, "4", None));
    let out = ok(&consistency_verify(&proof, dir.path(), &vkey));
    assert!(
        out.starts_with("ok: example.org/log (log id ")
            && out.contains("mode keyed) at tree size 8 extends tree size 4"),
        "{out}"
    );
    let by_note = ok(&consistency_prove(&log, &key, p(&saved), Some("8")));
    let out = ok(&consistency_verify(&by_note, dir.path(), &vkey));
    assert!(out.contains("at tree size 8 extends tree size 5"), "{out}");
    // A path hash changed: exit 1.
    let v: serde_json::Value = serde_json::from_str(&proof).unwrap();
    let hash = v["proof"][0].as_str().unwrap();
    let other = if hash.starts_with('0') { "1" } else { "0" };
    let tampered = proof.replacen(hash, &format!("{other}{}", &hash[1..]), 1);
    let out = consistency_verify(&tampered, dir.path(), &vkey);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.invalid"));
    // A size changed: exit 1.
    let tampered = proof.replacen("\"new_size\":8", "\"new_size\":7", 1);
    assert_ne!(tampered, proof);
    let out = consistency_verify(&tampered, dir.path(), &vkey);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // Not a proof, or no such checkpoint: exit 2 and 1.
    let out = consistency_verify("{\"log_id\":1}", dir.path(), &vkey);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = consistency_prove(&log, &key, "3", None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no checkpoint of size 3"));
}

#[test]
fn a_consistency_proof_across_two_logs_sharing_a_signer_exits_1() {
    let (dir, log_a, key, skey, vkey) = setup();
    // A second log with the same signer (and origin) and the same records.
    let log_b = dir.path().join("b.jsonl");
    ok(&run(
        &[
            "audit",
            "init",
            p(&log_b),
            "--key-file",
            p(&key),
            "--signer-key-file",
            p(&skey),
        ],
        "",
    ));
    append_to(&log_b, &key, &skey, "{\"a\":1}\n[2,3]\n\"four\"\n");
    let a_note = save_checkpoint(dir.path(), &log_a, &key, &skey, "a.note");
    save_checkpoint(dir.path(), &log_b, &key, &skey, "b.note");
    append_to(&log_a, &key, &skey, "5\n");
    append_to(&log_b, &key, &skey, "5\n");
    let pa = ok(&consistency_prove(&log_a, &key, "5", None));
    let pb = ok(&consistency_prove(&log_b, &key, "5", None));
    ok(&consistency_verify(&pa, dir.path(), &vkey));
    ok(&consistency_verify(&pb, dir.path(), &vkey));
    // A's proof with B's newer checkpoint (same size, same signer): exit 1.
    let va: serde_json::Value = serde_json::from_str(&pa).unwrap();
    let vb: serde_json::Value = serde_json::from_str(&pb).unwrap();
    let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap();
    assert_eq!(va["new_size"], vb["new_size"]);
    let mixed = pa.replacen(
        &json(&va["new_checkpoint"]),
        &json(&vb["new_checkpoint"]),
        1,
    );
    assert_ne!(mixed, pa);
    let out = consistency_verify(&mixed, dir.path(), &vkey);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // B's proof claiming A's checkpoint: exit 1; B's prover refuses it: exit 1.
    let mixed = pb.replacen(
        &json(&vb["old_checkpoint"]),
        &json(&va["old_checkpoint"]),
        1,
    );
    assert_ne!(mixed, pb);
    let out = consistency_verify(&mixed, dir.path(), &vkey);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = consistency_prove(&log_b, &key, p(&a_note), None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.forked"));
}

#[test]
fn a_consistency_proof_over_a_rewritten_history_fails() {
    let (dir, log, key, skey, vkey) = setup();
    // A checkpoint of size 5 handed to an auditor.
    let saved = save_checkpoint(dir.path(), &log, &key, &skey, "five.note");
    // The writer (with key and signer) rewrites history: it cuts the log
    // back to record 1 and appends other records, closing with a checkpoint
    // of size 5 again, then one more of size 7.
    let text = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&log, format!("{}\n", kept.join("\n"))).unwrap();
    append_to(&log, &key, &skey, "\"x\"\n\"y\"\n\"z\"\n");
    append_to(&log, &key, &skey, "\"w\"\n");
    ok(&run(
        &["audit", "verify", p(&log), "--key-file", p(&key)],
        "",
    ));
    // The prover sees that the log does not extend the saved checkpoint.
    let out = consistency_prove(&log, &key, p(&saved), None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.forked"));
    // A proof from the rewritten log with the saved checkpoint spliced in.
    let proof = ok(&consistency_prove(&log, &key, "5", None));
    ok(&consistency_verify(&proof, dir.path(), &vkey));
    let v: serde_json::Value = serde_json::from_str(&proof).unwrap();
    let old = serde_json::to_string(&v["old_checkpoint"]).unwrap();
    let saved_note = std::fs::read_to_string(&saved).unwrap();
    assert_ne!(v["old_checkpoint"].as_str().unwrap(), saved_note);
    let spliced = proof.replacen(&old, &serde_json::to_string(&saved_note).unwrap(), 1);
    let out = consistency_verify(&spliced, dir.path(), &vkey);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not lead"));
}

/// One secret key file (`tally reward keygen`) signs a reward policy and
/// manifest and an audit log's checkpoints; its trusted-keys file verifies
/// all of them, and another key's trusted-keys file none.
#[test]
fn one_key_file_signs_reward_manifests_and_audit_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = d.join("signing.key");
    let trusted_text = ok(&run(&["reward", "keygen", "--out", p(&k)], ""));
    let trusted = d.join("trusted.json");
    std::fs::write(&trusted, &trusted_text).unwrap();
    assert_eq!(mode(&k), 0o600);
    assert!(
        std::fs::read_to_string(&k)
            .unwrap()
            .starts_with("tally-ed25519-secret-v1:")
    );
    let v: serde_json::Value = serde_json::from_str(&trusted_text).unwrap();
    let key_id = v["keys"][0]["key_id"].as_str().unwrap().to_owned();

    // Reward: the key signs the policy and the manifest; both verify.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tally-reward/examples");
    let policy = examples.join("policy.json");
    let inputs = examples.join("inputs.json");
    let sp = d.join("sp.json");
    let manifest = d.join("m.json");
    let signed = ok(&run(
        &[
            "reward",
            "sign-policy",
            "--policy",
            p(&policy),
            "--key-file",
            p(&k),
        ],
        "",
    ));
    std::fs::write(&sp, signed).unwrap();
    let files = [
        "--inputs",
        p(&inputs),
        "--policy",
        p(&sp),
        "--trusted-keys",
        p(&trusted),
    ];
    let intents = d.join("intents.json");
    let payouts = d.join("payouts.json");
    let mut compute = vec!["reward", "compute", "--key-file", p(&k)];
    compute.extend(files);
    compute.extend(["--intents", p(&intents), "--payouts", p(&payouts)]);
    std::fs::write(&manifest, ok(&run(&compute, ""))).unwrap();
    let mut verify = vec!["reward", "verify", p(&manifest)];
    verify.extend(files);
    assert!(ok(&run(&verify, "")).starts_with("verified: manifest bafkr4i"));

    // Audit: the same key file signs the checkpoints, under the note name
    // of its key id.
    let hmac = d.join("hmac.key");
    let log = d.join("audit.jsonl");
    ok(&run(&["audit", "keygen", "--out", p(&hmac)], ""));
    ok(&run(
        &[
            "audit",
            "init",
            p(&log),
            "--key-file",
            p(&hmac),
            "--signer-key-file",
            p(&k),
        ],
        "",
    ));
    append_to(&log, &hmac, &k, "1\n2\n");
    let note = save_checkpoint(d, &log, &hmac, &k, "cp.note");
    let note_text = std::fs::read_to_string(&note).unwrap();
    assert!(
        note_text.contains(&format!("\n\n\u{2014} tally-key-{key_id} ")),
        "{note_text}"
    );
    let out = ok(&run(
        &[
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&hmac),
            "--checkpoint",
            p(&note),
            "--trusted-keys",
            p(&trusted),
        ],
        "",
    ));
    assert!(
        out.contains("consistent with the trusted checkpoint"),
        "{out}"
    );
    // Without a checkpoint file: the log's header names its checkpoint key,
    // which must be in the trusted-keys file; every checkpoint is then
    // checked against it.
    let out = ok(&run(
        &[
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&hmac),
            "--trusted-keys",
            p(&trusted),
        ],
        "",
    ));
    assert!(out.starts_with("ok: "), "{out}");
    let proof = d.join("proof.json");
    let text = ok(&run(
        &["audit", "prove", p(&log), "1", "--key-file", p(&hmac)],
        "",
    ));
    std::fs::write(&proof, text).unwrap();
    let out = ok(&run(
        &[
            "audit",
            "verify-proof",
            p(&proof),
            "--trusted-keys",
            p(&trusted),
        ],
        "",
    ));
    // The log's origin is the signer's note name.
    assert!(
        out.starts_with(&format!("ok: record 1 is in tally-key-{key_id} (log id ")),
        "{out}"
    );
    append_to(&log, &hmac, &k, "3\n");
    let consistency = d.join("consistency.json");
    let text = ok(&consistency_prove(&log, &hmac, p(&note), None));
    std::fs::write(&consistency, text).unwrap();
    let out = ok(&run(
        &[
            "audit",
            "consistency",
            "verify",
            p(&consistency),
            "--trusted-keys",
            p(&trusted),
        ],
        "",
    ));
    assert!(
        out.starts_with(&format!("ok: tally-key-{key_id} (log id ")),
        "{out}"
    );

    // Another key's trusted-keys file verifies none of them: exit 1.
    let other = d.join("other.json");
    let other_text = ok(&run(
        &["reward", "keygen", "--out", p(&d.join("other.key"))],
        "",
    ));
    std::fs::write(&other, other_text).unwrap();
    for args in [
        vec![
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&hmac),
            "--checkpoint",
            p(&note),
            "--trusted-keys",
            p(&other),
        ],
        vec![
            "audit",
            "verify-proof",
            p(&proof),
            "--trusted-keys",
            p(&other),
        ],
        vec![
            "audit",
            "consistency",
            "verify",
            p(&consistency),
            "--trusted-keys",
            p(&other),
        ],
    ] {
        let out = run(&args, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no signature by a trusted key"),
            "{out:?}"
        );
    }
    let out = run(
        &[
            "audit",
            "verify",
            p(&log),
            "--key-file",
            p(&hmac),
            "--trusted-keys",
            p(&other),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("its checkpoint key is not in"),
        "{out:?}"
    );
    let mut verify = vec!["reward", "verify", p(&manifest)];
    verify.extend([
        "--inputs",
        p(&inputs),
        "--policy",
        p(&sp),
        "--trusted-keys",
        p(&other),
    ]);
    let out = run(&verify, "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // --trusted-keys with --vkey: a usage error.
    let out = run(
        &[
            "audit",
            "verify-proof",
            p(&proof),
            "--trusted-keys",
            p(&trusted),
            "--vkey",
            "x+00000000+AA",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// `tally reward` signs with a key file of either form: a checkpoint
/// signer's (`PRIVATE+KEY+…`) and the legacy reward form; the signature
/// names the key's tally-keys id.
#[test]
fn reward_signs_with_a_checkpoint_signer_or_a_legacy_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tally-reward/examples/policy.json");
    let skey = d.join("signer.key");
    ok(&run(
        &[
            "audit",
            "keygen",
            "--out",
            p(&skey),
            "--signer",
            "example.org/log",
        ],
        "",
    ));
    let want = tally_audit::CheckpointSigner::parse(&std::fs::read_to_string(&skey).unwrap())
        .unwrap()
        .signing_key()
        .id()
        .to_string();
    let legacy = d.join("legacy.key");
    std::fs::write(
        &legacy,
        format!("tally-reward-ed25519-secret-v1:{}\n", "07".repeat(32)),
    )
    .unwrap();
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();
    for (key, id) in [(&skey, want.as_str()), (&legacy, "2b2e70e97475b613")] {
        let out = ok(&run(
            &[
                "reward",
                "sign-policy",
                "--policy",
                p(&policy),
                "--key-file",
                p(key),
            ],
            "",
        ));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["key_id"].as_str(), Some(id), "{out}");
    }
    // A bad key file is exit 2, named.
    let bad = d.join("bad.key");
    std::fs::write(&bad, "PRIVATE+KEY+x\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(
        &[
            "reward",
            "sign-policy",
            "--policy",
            p(&policy),
            "--key-file",
            p(&bad),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{}: invalid signer key", p(&bad))),
        "{out:?}"
    );
}
