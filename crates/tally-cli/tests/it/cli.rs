//! The binary's surface: help, version, usage errors.

use crate::support::tally;

#[test]
fn help_succeeds_and_names_the_program() {
    let out = tally().arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Usage: tally"), "{text}");
    assert!(text.contains("conservation-first value engine"), "{text}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = tally().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), format!("tally {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = tally().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}

/// The subcommand names listed under "Commands:" in a help text.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command's `--help`, found by walking the tree from the top, ends
/// with the exit codes.
#[test]
fn every_help_documents_the_exit_codes() {
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let out = tally().args(&path).arg("--help").output().unwrap();
        assert!(out.status.success(), "{path:?}: {out:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains("Exit status: 0 success; 1 the operation ran and failed"),
            "{path:?} --help has no exit codes:\n{help}"
        );
        for name in subcommands(&help) {
            let mut next = path.clone();
            next.push(name);
            pending.push(next);
        }
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} commands were walked");
}

/// Numbers beyond their type say "integer out of range" and name the field,
/// in every decoder the CLI reaches, with exit 2.
#[test]
fn out_of_range_integers_name_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"dims":[{"name":"a","limit":18446744073709551616}]}"#,
    )
    .unwrap();
    let out = tally()
        .args(["meter", "run", "--policy", policy.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field `dims[0].limit`: integer out of range (0 to 18446744073709551615)"),
        "{stderr}"
    );
    assert!(!stderr.contains("floating point"), "{stderr}");

    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tally-decide/examples");
    let request = std::fs::read_to_string(examples.join("request.json")).unwrap();
    let request = request.replace("\"sequence\": 1,", "\"sequence\": 18446744073709551616,");
    let path = dir.path().join("request.json");
    std::fs::write(&path, request).unwrap();
    let out = tally()
        .args(["decide", "--policy"])
        .arg(examples.join("policy.json"))
        .arg("--request")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("field `sequence`: integer out of range"),
        "{stderr}"
    );
}
