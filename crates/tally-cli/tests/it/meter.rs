//! `tally meter run` through the binary: the README's quick start, refusals,
//! record mode, resuming from a snapshot, and bad input (exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository root: the README's command runs from there.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `tally meter run <args>` with `stdin`.
fn meter(args: &[&str], stdin: &str) -> Output {
    let mut cmd = crate::support::tally();
    cmd.args(["meter", "run"])
        .args(args)
        .current_dir(repo_root());
    crate::support::run_with_stdin(cmd, stdin.as_bytes())
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn policy_file(dir: &Path, json: &str) -> String {
    let path = dir.join("policy.json");
    std::fs::write(&path, json).unwrap();
    path.to_str().unwrap().to_owned()
}

const SMALL: &str =
    r#"{"dims":[{"name":"tokens","limit":100,"warn":[50]},{"name":"calls","limit":2}]}"#;

#[test]
fn the_readme_quick_start_runs_and_admits_every_charge() {
    let charges =
        std::fs::read_to_string(repo_root().join("examples/meter/charges.jsonl")).unwrap();
    let out = meter(&["--policy", "examples/meter/limits.json"], &charges);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = lines(&out);
    assert_eq!(lines.len(), 6);
    assert!(lines[..5].iter().all(|l| l["status"] == "ok"));
    assert_eq!(lines[3]["verdicts"]["tokens"]["warn"]["crossed"], true);
    let summary = &lines[5]["summary"];
    assert_eq!(summary["charges"], 5);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["dims"]["tokens"]["spent"], 17_300);
    assert_eq!(summary["dims"]["tokens"]["remaining"], 2_700);
    assert_eq!(summary["dims"]["tool_calls"]["spent"], 7);
}

#[test]
fn a_refused_charge_records_nothing_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), SMALL);
    let out = meter(
        &["--policy", &policy],
        "{\"tokens\": 60, \"calls\": 1}\n\n{\"tokens\": 50, \"calls\": 2}\n{\"calls\": 1}\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = lines(&out);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["verdicts"]["tokens"]["warn"]["threshold"], 50);
    assert_eq!(lines[1]["line"], 3);
    assert_eq!(lines[1]["status"], "refused");
    assert_eq!(lines[1]["refused"]["tokens"]["shortfall"], 10);
    assert_eq!(lines[1]["refused"]["calls"]["shortfall"], 1);
    assert_eq!(lines[2]["verdicts"]["calls"], "continue");
    let summary = &lines[3]["summary"];
    assert_eq!(
        (summary["charges"].as_u64(), summary["failed"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(summary["dims"]["tokens"]["spent"], 60);
    assert_eq!(summary["dims"]["calls"]["spent"], 2);
}

#[test]
fn record_mode_records_past_the_limit_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), SMALL);
    let out = meter(
        &["--policy", &policy, "--mode", "record"],
        "{\"tokens\": 130}\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = lines(&out);
    assert_eq!(lines[0]["status"], "exhausted");
    assert_eq!(lines[0]["verdicts"]["tokens"], "exhausted");
    assert_eq!(lines[1]["summary"]["dims"]["tokens"]["overrun"], 30);
}

#[test]
fn a_run_resumes_from_the_previous_summary_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), SMALL);
    let first = meter(
        &["--policy", &policy, "--input", "/dev/stdin"],
        "{\"tokens\": 70}\n",
    );
    assert_eq!(first.status.code(), Some(0));
    let snapshot = lines(&first)[1]["summary"]["snapshot"].to_string();
    let snapshot_path = dir.path().join("snapshot.json");
    std::fs::write(&snapshot_path, snapshot).unwrap();
    let resume = snapshot_path.to_str().unwrap();
    let second = meter(
        &["--policy", &policy, "--resume", resume],
        "{\"tokens\": 31}\n{\"tokens\": 30}\n",
    );
    assert_eq!(second.status.code(), Some(1));
    let lines = lines(&second);
    assert_eq!(lines[0]["status"], "refused");
    assert_eq!(lines[1]["status"], "ok");
    assert_eq!(lines[2]["summary"]["dims"]["tokens"]["spent"], 100);
    // The snapshot does not restore under another policy.
    let other = policy_file(
        dir.path(),
        r#"{"dims":[{"name":"tokens","limit":101,"warn":[50]},{"name":"calls","limit":2}]}"#,
    );
    let out = meter(&["--policy", &other, "--resume", resume], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("meter.snapshot_policy_mismatch"));
}

/// The policy is loaded at run time with its own dimension count: a snapshot
/// with another count is refused naming both, one with the right count but
/// impossible amounts by the library's check, and 16 dimensions resume.
#[test]
fn a_snapshot_with_another_dimension_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), SMALL);
    let snapshot_path = dir.path().join("snapshot.json");
    let resume = snapshot_path.to_str().unwrap();
    let fingerprint = {
        let first = meter(&["--policy", &policy], "");
        lines(&first)[0]["summary"]["snapshot"]["policy"].clone()
    };
    let cases = [
        (
            r#"[1],"reserved":[0]"#,
            "1 amounts per array, the policy has 2 dimensions",
        ),
        (
            r#"[1,2,3],"reserved":[0,0,0]"#,
            "3 amounts per array, the policy has 2 dimensions",
        ),
        (
            r#"[1,2],"reserved":[0]"#,
            "as many reserved amounts as spent amounts",
        ),
        (r#"[],"reserved":[]"#, "invalid length 0"),
        (r#"[1,2],"reserved":[0,3]"#, "meter.snapshot_invalid"),
    ];
    for (arrays, expected) in cases {
        let text = format!(r#"{{"version":1,"policy":{fingerprint},"spent":{arrays}}}"#);
        std::fs::write(&snapshot_path, &text).unwrap();
        let out = meter(&["--policy", &policy, "--resume", resume], "");
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(out.stdout.is_empty(), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
    let sixteen: Vec<String> = (0..16)
        .map(|i| format!(r#"{{"name":"d{i}","limit":5}}"#))
        .collect();
    let sixteen = policy_file(
        dir.path(),
        &format!(r#"{{"dims":[{}]}}"#, sixteen.join(",")),
    );
    let first = meter(&["--policy", &sixteen], "{\"d15\": 4}\n");
    let snapshot = lines(&first)[1]["summary"]["snapshot"].clone();
    assert_eq!(snapshot["spent"].as_array().unwrap().len(), 16);
    std::fs::write(&snapshot_path, snapshot.to_string()).unwrap();
    let second = meter(
        &["--policy", &sixteen, "--resume", resume],
        "{\"d15\": 2}\n",
    );
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(lines(&second)[0]["refused"]["d15"]["remaining"], 1);
}

#[test]
fn a_bad_policy_is_a_usage_error_that_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let seventeen: Vec<String> = (0..17)
        .map(|i| format!(r#"{{"name":"d{i}","limit":1}}"#))
        .collect();
    let seventeen = format!(r#"{{"dims":[{}]}}"#, seventeen.join(","));
    let sixteen: Vec<String> = (0..16)
        .map(|i| format!(r#"{{"name":"d{i}","limit":1}}"#))
        .collect();
    let sixteen = format!(r#"{{"dims":[{}]}}"#, sixteen.join(","));
    let out = meter(
        &["--policy", &policy_file(dir.path(), &sixteen)],
        "{\"d15\": 1}\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "16 dimensions is the command-line bound"
    );
    let cases = [
        (
            r#"{"dims":[{"name":"tokens","limit":0}]}"#,
            "meter.zero_limit",
        ),
        (
            r#"{"dims":[{"name":"a","limit":1},{"name":"a","limit":2}]}"#,
            "meter.duplicate_name",
        ),
        (
            r#"{"dims":[{"name":"a","limit":10,"warn":[10]}]}"#,
            "meter.warn_not_below_limit",
        ),
        (
            r#"{"dims":[{"name":"a","limit":10,"warn":[1,2,3,4,5]}]}"#,
            "meter.too_many_warn_levels",
        ),
        (
            r#"{"dims":[{"name":"a b","limit":10}]}"#,
            "meter.invalid_name",
        ),
        (r#"{"dims":[]}"#, "at least one dimension"),
        (r#"{"dims":[{"name":"a","limit":-1}]}"#, "policy"),
        (
            r#"{"dims":[{"name":"a","limit":1,"extra":1}]}"#,
            "unknown field",
        ),
        (r#"not json"#, "policy"),
        (&seventeen, "at most 16 dimensions"),
    ];
    for (json, expected) in cases {
        let out = meter(&["--policy", &policy_file(dir.path(), json)], "{}\n");
        assert_eq!(out.status.code(), Some(2), "{json}");
        assert!(out.stdout.is_empty(), "{json}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{json}: {stderr}");
    }
    let huge = format!(
        r#"{{"dims":[{{"name":"a","limit":1}}],"pad":"{}"}}"#,
        "x".repeat(70_000)
    );
    let out = meter(&["--policy", &policy_file(dir.path(), &huge)], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than 65536 bytes"));
    let out = meter(&["--policy", "/no/such/file.json"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bad_charge_line_stops_the_run_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), SMALL);
    let long = format!("{{\"tokens\": 1{}}}", " ".repeat(70_000));
    let cases: [(&str, &str); 8] = [
        ("{\"bogus\": 1}", "unknown dimension \"bogus\""),
        ("{\"tokens\": 1, \"tokens\": 2}", "given twice"),
        ("{\"tokens\": -1}", "line 2"),
        ("{\"tokens\": 1.5}", "line 2"),
        ("{\"tokens\": 18446744073709551616}", "line 2"),
        ("[1, 2]", "line 2"),
        ("{\"tokens\": 1", "line 2"),
        (&long, "longer than 65536 bytes"),
    ];
    for (line, expected) in cases {
        let out = meter(
            &["--policy", &policy],
            &format!("{{\"calls\": 1}}\n{line}\n{{\"calls\": 1}}\n"),
        );
        assert_eq!(out.status.code(), Some(2), "{line}");
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        // The line before is applied and printed, then the summary of what
        // was applied (its snapshot resumes the run); nothing after the bad line.
        let printed: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            printed.len(),
            2,
            "the line before and the summary: {stdout}"
        );
        assert!(
            printed[0].starts_with(r#"{"line":1,"status":"ok""#),
            "{stdout}"
        );
        let summary: serde_json::Value = serde_json::from_str(printed[1]).unwrap();
        assert_eq!(summary["summary"]["charges"], 1, "{stdout}");
        assert_eq!(summary["summary"]["snapshot"]["spent"][1], 1, "{stdout}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{line}: {stderr}");
    }
}

#[test]
fn file_and_line_sizes_are_bounded_at_64_kib() {
    let dir = tempfile::tempdir().unwrap();
    // A policy file of exactly 65536 bytes is read; one byte more is refused.
    let padded = |total: usize| {
        let mut text = SMALL.to_owned();
        text.push_str(&" ".repeat(total - SMALL.len()));
        text
    };
    let at = meter(&["--policy", &policy_file(dir.path(), &padded(65_536))], "");
    assert_eq!(at.status.code(), Some(0), "{at:?}");
    let past = meter(&["--policy", &policy_file(dir.path(), &padded(65_537))], "");
    assert_eq!(past.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&past.stderr).contains("larger than 65536 bytes"));
    // A charge line of exactly 65536 bytes (newline excluded) is read.
    let policy = policy_file(dir.path(), SMALL);
    let line = |total: usize| format!("{{\"tokens\": 1{}}}", " ".repeat(total - 13));
    assert_eq!(line(65_536).len(), 65_536);
    let at = meter(&["--policy", &policy], &format!("{}\n", line(65_536)));
    assert_eq!(at.status.code(), Some(0), "{at:?}");
    let past = meter(&["--policy", &policy], &format!("{}\n", line(65_537)));
    assert_eq!(past.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&past.stderr).contains("line 1: longer than 65536 bytes"));
}

#[test]
fn help_lists_the_meter_subcommand() {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("meter"));
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["meter", "run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--policy"));
}

/// In record mode, once a dimension is exhausted every later line names it,
/// also a line that charges only other dimensions (before, such a line said
/// "exhausted" with no dimension).
#[test]
fn every_line_after_exhaustion_names_the_exhausted_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), SMALL);
    let out = meter(
        &["--policy", &policy, "--mode", "record"],
        "{\"calls\": 3}\n{\"tokens\": 1}\n{\"calls\": 1, \"tokens\": 1}\n",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = lines(&out);
    assert_eq!(lines.len(), 4);
    for line in &lines[..3] {
        assert_eq!(line["status"], "exhausted", "{line}");
        assert_eq!(line["exhausted"], serde_json::json!(["calls"]), "{line}");
    }
    assert_eq!(lines[1]["verdicts"]["tokens"], "continue");
}
