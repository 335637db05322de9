//! `tally decide` and `tally decide verify`.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{run_with_stdin, tally};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tally-decide/examples")
        .join(name)
}

fn decide(extra: &[&str]) -> Output {
    tally()
        .args(["decide", "--policy"])
        .arg(example("policy.json"))
        .arg("--request")
        .arg(example("request.json"))
        .args(extra)
        .output()
        .unwrap()
}

fn verify(policy: &[&str], recorded: &Path) -> Output {
    tally()
        .args(["decide", "verify"])
        .args(policy)
        .arg("--request")
        .arg(example("request.json"))
        .arg("--decision")
        .arg(recorded)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn recorded(dir: &Path, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    let out = decide(extra);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.join("decision.json");
    std::fs::write(&path, &out.stdout).unwrap();
    (path, serde_json::from_slice(&out.stdout).unwrap())
}

fn policy_arg() -> Vec<String> {
    vec![
        "--policy".into(),
        example("policy.json").display().to_string(),
    ]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn decide_prints_the_decision_and_its_bundle() {
    let out = decide(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"]["action"], "execute_requested");
    assert_eq!(json["decision"]["selected_id"], 20);
    assert_eq!(json["decision"]["runner_up_id"], 10);
    assert_eq!(json["bundle"]["schema_version"], "tally/decide/audit/v1");
    assert_eq!(
        json["bundle"]["policy_digest"],
        "a5f0df84b40ce57f646148ab427f2d90afdd39250a573a2f0f1bd70acaf00cd8"
    );
    assert!(json.get("explanation").is_none());
}

#[test]
fn explain_lists_every_candidate_with_its_failed_gates() {
    let out = decide(&["--explain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let candidates = json["explanation"].as_array().unwrap();
    let ids: Vec<u64> = candidates
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [10, 20, 30, 40]);
    assert_eq!(candidates[2]["failed_gates"], serde_json::json!(["region"]));
    assert_eq!(candidates[3]["failed_gates"][0], "disabled");
    assert_eq!(candidates[1]["utility_microunits"], 29_850);
}

#[test]
fn verify_accepts_what_decide_printed() {
    let dir = tempfile::tempdir().unwrap();
    for extra in [&[][..], &["--explain"][..]] {
        let (path, _) = recorded(dir.path(), extra);
        let out = verify(&args(&policy_arg()), &path);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("verified: "));
    }
}

#[test]
fn verify_names_the_field_that_differs_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = recorded(dir.path(), &[]);
    let cases = [
        ("cost_microunits", serde_json::json!(6_999)),
        ("utility_microunits", serde_json::json!(29_851)),
        ("runner_up_id", serde_json::Value::Null),
        ("action", serde_json::json!("substitute")),
        ("eligible_candidates", serde_json::json!(3)),
    ];
    for (field, value) in cases {
        let mut forged = original.clone();
        forged["decision"][field] = value;
        std::fs::write(&path, serde_json::to_vec(&forged).unwrap()).unwrap();
        let out = verify(&args(&policy_arg()), &path);
        assert_eq!(out.status.code(), Some(1), "{field}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("field `{field}` differs")),
            "{}",
            stderr(&out)
        );
    }
    let mut forged = original.clone();
    forged["bundle"]["request_digest"] = serde_json::json!("00".repeat(32));
    std::fs::write(&path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = verify(&args(&policy_arg()), &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("request digest differs"),
        "{}",
        stderr(&out)
    );
    let mut forged = original;
    forged["explanation"] = serde_json::json!([]);
    std::fs::write(&path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = verify(&args(&policy_arg()), &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`explanation` differs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_resolves_the_policy_from_a_directory_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let text = std::fs::read_to_string(example("policy.json")).unwrap();
    std::fs::write(policies.join("a.json"), &text).unwrap();
    std::fs::write(
        policies.join("b.json"),
        text.replace("\"policy_epoch\": 7", "\"policy_epoch\": 8"),
    )
    .unwrap();
    let (path, _) = recorded(dir.path(), &[]);
    let dir_arg = ["--policies", policies.to_str().unwrap()];
    let out = verify(&dir_arg, &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    std::fs::remove_file(policies.join("a.json")).unwrap();
    let out = verify(&dir_arg, &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no policy in"), "{}", stderr(&out));

    std::fs::write(policies.join("c.json"), "{}").unwrap();
    let out = verify(&dir_arg, &path);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a non-policy file is bad input: {}",
        stderr(&out)
    );
}

#[test]
fn a_policy_with_another_digest_is_a_failed_check() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = recorded(dir.path(), &[]);
    let other = dir.path().join("other.json");
    let text = std::fs::read_to_string(example("policy.json")).unwrap();
    std::fs::write(
        &other,
        text.replace("\"catalog_epoch\": 11", "\"catalog_epoch\": 12"),
    )
    .unwrap();
    let out = verify(&["--policy", other.to_str().unwrap()], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("policy digest differs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_exits_2_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"sequence": 1, "surprise": true}"#).unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec![
            "decide".into(),
            "--policy".into(),
            "/no/such/file".into(),
            "--request".into(),
            example("request.json").display().to_string(),
        ],
        vec![
            "decide".into(),
            "--policy".into(),
            example("policy.json").display().to_string(),
            "--request".into(),
            bad.display().to_string(),
        ],
        vec![
            "decide".into(),
            "--policy".into(),
            example("request.json").display().to_string(),
            "--request".into(),
            example("request.json").display().to_string(),
        ],
        vec![
            "decide".into(),
            "--policy".into(),
            example("policy.json").display().to_string(),
        ],
        vec![
            "decide".into(),
            "verify".into(),
            "--request".into(),
            example("request.json").display().to_string(),
        ],
    ];
    for case in cases {
        let out = tally().args(&case).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{case:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{case:?}");
    }
}

#[test]
fn policy_directory_bound_holds_at_the_bound_and_one_past() {
    // MAX_POLICY_FILES = 1,024 in src/decide.rs.
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let text = std::fs::read_to_string(example("policy.json")).unwrap();
    for n in 0..1_024 {
        let epoch = if n == 0 { 7 } else { 1_000 + n };
        let body = text.replace("\"policy_epoch\": 7", &format!("\"policy_epoch\": {epoch}"));
        std::fs::write(policies.join(format!("p{n:04}.json")), body).unwrap();
    }
    let (path, _) = recorded(dir.path(), &[]);
    let dir_arg = ["--policies", policies.to_str().unwrap()];
    let out = verify(&dir_arg, &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(policies.join("p9999.json"), &text).unwrap();
    let out = verify(&dir_arg, &path);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("more than 1024 policy files"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn decision_file_bound_holds_at_the_bound_and_one_past() {
    // MAX_DECISION_FILE_BYTES = 64 MiB in src/decide.rs.
    const MAX: usize = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = recorded(dir.path(), &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.resize(MAX, b' ');
    std::fs::write(&path, &bytes).unwrap();
    let out = verify(&args(&policy_arg()), &path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    bytes.push(b' ');
    std::fs::write(&path, &bytes).unwrap();
    let out = verify(&args(&policy_arg()), &path);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
}

fn audit(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = tally();
    cmd.current_dir(dir).arg("audit").args(args);
    run_with_stdin(cmd, stdin.as_bytes())
}

fn decide_into_log(dir: &Path, log: &str, extra: &[&str]) -> Output {
    tally()
        .current_dir(dir)
        .args(["decide", "--policy"])
        .arg(example("policy.json"))
        .arg("--request")
        .arg(example("request.json"))
        .args(["--log", log])
        .args(extra)
        .output()
        .unwrap()
}

fn replay(dir: &Path, args: &[&str]) -> Output {
    tally()
        .current_dir(dir)
        .args(["decide", "replay"])
        .args(args)
        .output()
        .unwrap()
}

/// A directory holding the example policy, for `--policies`.
fn policy_dir(dir: &Path) -> PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::copy(example("policy.json"), policies.join("policy.json")).unwrap();
    policies
}

#[test]
fn decisions_appended_with_log_replay_from_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(audit(d, &["init", "l.jsonl"], "").status.success());
    for _ in 0..2 {
        let out = decide_into_log(d, "l.jsonl", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["decision"]["selected_id"], 20);
        assert!(stderr(&out).contains("as record"), "{}", stderr(&out));
    }
    let out = audit(d, &["append", "l.jsonl"], "{\"kind\":\"tally/ledger/x\"}\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let policies = policy_dir(d);
    let out = replay(d, &["l.jsonl", "--policies", policies.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("replayed 2 decisions under 1 policies (1 other records skipped"),
        "{text}"
    );
}

#[test]
fn replay_names_the_sequence_of_a_forged_record_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(audit(d, &["init", "l.jsonl"], "").status.success());
    assert!(decide_into_log(d, "l.jsonl", &[]).status.success());
    // The stored payload of record 1, with its cost changed, appended as a
    // plain record: the audit chain is intact, the decision is not.
    let text = std::fs::read_to_string(d.join("l.jsonl")).unwrap();
    let line = text.lines().nth(1).unwrap();
    let start = line.find("\"payload\":").unwrap() + "\"payload\":".len();
    let payload = &line[start..line.len() - 1];
    assert!(payload.starts_with("{\"kind\":\"tally/decide/record/v1\""));
    let cost = "\"cost_microunits\":";
    let at = payload.find(cost).unwrap() + cost.len();
    let forged = format!("{}9{}", &payload[..at], &payload[at..]);
    let out = audit(d, &["append", "l.jsonl"], &format!("{forged}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let policies = policy_dir(d);
    let out = replay(d, &["l.jsonl", "--policies", policies.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    // header 0, decision 1, checkpoint on close 2, the forged record 3
    assert!(
        stderr(&out).contains("record 3 (offset"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn replay_of_a_keyed_log_needs_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(audit(d, &["keygen", "--out", "k"], "").status.success());
    assert!(
        audit(d, &["init", "l.jsonl", "--key-file", "k"], "")
            .status
            .success()
    );
    let out = decide_into_log(d, "l.jsonl", &["--key-file", "k"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policies = policy_dir(d);
    let p = policies.to_str().unwrap();
    let out = replay(d, &["l.jsonl", "--policies", p, "--key-file", "k"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Without the key: a usage error (exit 2) that names what is missing.
    let out = replay(d, &["l.jsonl", "--policies", p]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("audit.key_required"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("give --key-file"), "{}", stderr(&out));
}

#[test]
fn replay_with_an_unknown_policy_or_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(audit(d, &["init", "l.jsonl"], "").status.success());
    assert!(decide_into_log(d, "l.jsonl", &[]).status.success());
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = replay(d, &["l.jsonl", "--policies", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("record 1"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no policy with digest"),
        "{}",
        stderr(&out)
    );

    let policies = policy_dir(d);
    let p = policies.to_str().unwrap();
    for args in [
        vec!["absent.jsonl", "--policies", p],
        vec!["l.jsonl", "--policies", "no-such-dir"],
        vec!["l.jsonl"],
    ] {
        let out = replay(d, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // `--log` naming a log that does not exist: bad input, nothing printed.
    let out = decide_into_log(d, "absent.jsonl", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

/// The CLI side of DEC-16: the binary computes every decision it appends, so
/// a forged decision cannot reach `--log` through it; what can reach it is a
/// failing run, and every failing `tally decide --log` leaves the log
/// byte-for-byte unchanged (bad request, out-of-range field, wrong key, no
/// key for a keyed log). The library tests feed forged decisions directly.
#[test]
fn a_failed_decide_with_log_leaves_the_log_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(audit(d, &["keygen", "--out", "k.key"], "").status.success());
    assert!(
        audit(d, &["keygen", "--out", "other.key"], "")
            .status
            .success()
    );
    let init = audit(d, &["init", "l.jsonl", "--key-file", "k.key"], "");
    assert!(init.status.success(), "{}", stderr(&init));
    let ok = decide_into_log(d, "l.jsonl", &["--key-file", "k.key"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let before = std::fs::read(d.join("l.jsonl")).unwrap();

    let request = std::fs::read_to_string(example("request.json")).unwrap();
    let bad = request.replace("\"sequence\": 1,", "\"sequence\": 18446744073709551616,");
    std::fs::write(d.join("bad.json"), bad).unwrap();
    std::fs::write(d.join("broken.json"), &request[..request.len() / 2]).unwrap();
    for (request, key) in [
        ("bad.json", "k.key"),
        ("broken.json", "k.key"),
        ("request.json", "other.key"),
    ] {
        let request = if request == "request.json" {
            example(request)
        } else {
            d.join(request)
        };
        let out = tally()
            .current_dir(d)
            .args(["decide", "--policy"])
            .arg(example("policy.json"))
            .arg("--request")
            .arg(&request)
            .args(["--log", "l.jsonl", "--key-file", key])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{request:?} {key}");
        assert!(out.stdout.is_empty(), "{request:?} {key}");
        let after = std::fs::read(d.join("l.jsonl")).unwrap();
        assert_eq!(after, before, "{request:?} with {key} changed the log");
    }
    let out = decide_into_log(d, "l.jsonl", &[]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(d.join("l.jsonl")).unwrap(),
        before,
        "no key changed the log"
    );
}
