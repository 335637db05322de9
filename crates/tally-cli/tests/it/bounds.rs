//! Every file and stream the CLI reads is bounded: endless or oversized
//! input (`/dev/zero`) is refused at the bound with exit 2, naming the source,
//! in bounded time and memory. Before the shared bounded reader these commands
//! read to a 2–4 GiB allocation or never returned.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any one refused command may take before the test calls it a hang.
const DEADLINE: Duration = Duration::from_secs(60);

fn tally(args: &[&str], stdin: Stdio) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env_remove("TALLY_AUDIT_KEY")
        .env_remove("TALLY_AUDIT_SIGNER_KEY")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("tally {args:?} did not return within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn zeros() -> Stdio {
    Stdio::from(std::fs::File::open("/dev/zero").unwrap())
}

fn refused(out: &Output, names: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(stderr.contains(names), "{names:?} not in {stderr:?}");
}

#[test]
fn endless_files_and_streams_are_refused_at_their_bound() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let log = log.to_str().unwrap();
    let out = tally(&["audit", "init", log], Stdio::null());
    assert!(out.status.success(), "{out:?}");
    let before = std::fs::read(log).unwrap();

    refused(
        &tally(&["audit", "append", log], zeros()),
        "stdin line 1: longer than",
    );
    assert_eq!(
        std::fs::read(log).unwrap(),
        before,
        "bad input changed the log"
    );
    refused(
        &tally(&["audit", "tail", "/dev/zero"], Stdio::null()),
        "/dev/zero line 1",
    );
    // The ledger: endless events on stdin, an endless proof file.
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    let out = tally(&["ledger", "init", data], Stdio::null());
    assert!(out.status.success(), "{out:?}");
    let journal = std::fs::read(dir.path().join("ledger/journal.jsonl")).unwrap();
    for what in ["accounts", "transfers"] {
        refused(
            &tally(&["ledger", what, data], zeros()),
            "stdin line 1: longer than",
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("ledger/journal.jsonl")).unwrap(),
        journal,
        "bad input changed the journal"
    );
    refused(
        &tally(
            &[
                "ledger",
                "verify-proof",
                "/dev/zero",
                "--id",
                "1",
                "--vkey",
                "x+00000000+AA",
            ],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    refused(
        &tally(
            &["audit", "verify", log, "--checkpoint", "/dev/zero"],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    let skey = dir.path().join("signer.key");
    let out = tally(
        &[
            "audit",
            "keygen",
            "--signer",
            "t",
            "--out",
            skey.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    let vkey = String::from_utf8(out.stdout).unwrap();
    let vkey = vkey.trim();
    refused(
        &tally(
            &["audit", "verify-proof", "/dev/zero", "--vkey", vkey],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    refused(
        &tally(
            &[
                "audit",
                "consistency",
                "verify",
                "/dev/zero",
                "--vkey",
                vkey,
            ],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    refused(
        &tally(
            &["audit", "consistency", "prove", log, "--old", "/dev/zero"],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    refused(
        &tally(
            &[
                "audit",
                "consistency",
                "prove",
                log,
                "--old",
                "1",
                "--new",
                "/dev/zero",
            ],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    let key = dir.path().join("hmac.key");
    let key = key.to_str().unwrap();
    let out = tally(&["audit", "keygen", "--out", key], Stdio::null());
    assert!(out.status.success(), "{out:?}");
    refused(
        &tally(
            &["audit", "rotate-key", "/dev/zero", "--next-key-file", key],
            Stdio::null(),
        ),
        "/dev/zero line 1: longer than",
    );
    refused(
        &tally(
            &["audit", "rotate-key", log, "--next-key-file", "/dev/zero"],
            Stdio::null(),
        ),
        "/dev/zero: cannot read: not a regular file",
    );
    refused(
        &tally(
            &["cashu", "decode", "--token-file", "/dev/zero"],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
    refused(&tally(&["cashu", "decode"], zeros()), "stdin: larger than");
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"dims":[{"name":"a","limit":5}]}"#).unwrap();
    let policy = policy.to_str().unwrap();
    let out = tally(&["meter", "run", "--policy", policy], zeros());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin line 1: longer than"));
    refused(
        &tally(&["meter", "run", "--policy", "/dev/zero"], Stdio::null()),
        "/dev/zero: larger than",
    );
    refused(
        &tally(
            &[
                "reward",
                "verify-proof",
                "/dev/zero",
                "--manifest",
                "/dev/zero",
                "--trusted-keys",
                "/dev/zero",
            ],
            Stdio::null(),
        ),
        "/dev/zero: larger than",
    );
}

/// A log reader given an endless file stops at the line bound (exit 1 or 2:
/// what a non-log is called belongs to the audit tests), in bounded time.
#[test]
fn endless_logs_are_refused_at_the_line_bound() {
    for args in [
        &["audit", "verify", "/dev/zero"][..],
        &["audit", "prove", "/dev/zero", "1"],
        &["audit", "consistency", "prove", "/dev/zero", "--old", "1"],
        &[
            "decide",
            "replay",
            "/dev/zero",
            "--policies",
            "/nonexistent-policies",
        ],
    ] {
        let out = tally(args, Stdio::null());
        assert!(!out.status.success(), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
}
