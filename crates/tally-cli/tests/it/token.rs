//! `tally token root-key generate / mint / attenuate / inspect`: end to end,
//! secrets only in files and standard streams, bounded inputs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tally_token::{
    MemoryRevocations, Method, Request, RootKey, Scope, Token, TokenError, Verifier,
};

use crate::support::{run_with_stdin, tally};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn generate(dir: &Path, name: &str) -> std::path::PathBuf {
    let key = dir.join(name);
    let out = tally()
        .args(["token", "root-key", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "a root key is never printed");
    assert_eq!(mode(&key), 0o600);
    key
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn mint_attenuate_inspect_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate(dir.path(), "root");
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(key_text.starts_with("tally-token-root-v1:"));
    let minted = dir.path().join("token");
    let out = tally()
        .args(["token", "mint", "--root-key-file"])
        .arg(&key)
        .args(["--epoch", "3", "--tenant", "acme", "--scope", "ledger.read"])
        .args([
            "--scope",
            "ledger.write",
            "--method",
            "GET",
            "--method",
            "POST",
        ])
        .args(["--path-prefix", "/v1/ledger", "--expires-in", "3600"])
        .args(["--max-amount", "1000", "--epoch-id", "2026-12", "--out"])
        .arg(&minted)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "--out: nothing on stdout");
    assert_eq!(mode(&minted), 0o600);
    let text = std::fs::read_to_string(&minted).unwrap();
    assert!(text.starts_with("tally1.") && text.ends_with('\n'));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("token id ") && !stderr.contains("tally1."),
        "{stderr}"
    );
    let secret_hex = key_text
        .trim()
        .strip_prefix("tally-token-root-v1:")
        .unwrap();
    assert!(!stderr.contains(secret_hex));

    // Attenuate from stdin: the narrower token on stdout.
    let out = run_with_stdin(
        {
            let mut c = tally();
            c.args([
                "token",
                "attenuate",
                "--max-amount",
                "10",
                "--scope",
                "ledger.read",
            ]);
            c
        },
        text.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let narrow = String::from_utf8(out.stdout).unwrap();
    assert!(narrow.starts_with("tally1.") && narrow != text);

    // Inspect with the root key: caveats in order, signature valid, no tag.
    let out = run_with_stdin(
        {
            let mut c = tally();
            c.args(["token", "inspect", "--root-key-file"]).arg(&key);
            c
        },
        narrow.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let shown = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = shown.lines().collect();
    assert!(
        lines[0].starts_with("token id ") && lines[0].len() == 9 + 32,
        "{shown}"
    );
    assert_eq!(lines[1], "root-key epoch 3");
    assert_eq!(lines[2], "caveats 9");
    assert_eq!(lines[3], "  tenant = acme");
    assert_eq!(lines[4], "  scope = ledger.read ledger.write");
    assert_eq!(lines[5], "  method = GET POST");
    assert_eq!(lines[6], "  path-prefix = /v1/ledger");
    assert!(lines[7].starts_with("  expiry = "));
    assert_eq!(
        &lines[8..12],
        [
            "  max-amount = 1000",
            "  epoch-id = 2026-12",
            "  scope = ledger.read",
            "  max-amount = 10"
        ]
    );
    assert_eq!(lines[12], "signature valid");
    assert!(!shown.contains("tally1."));

    // The library verifies what the CLI made, with the caveats it shows.
    let root = RootKey::read_file(&key).unwrap();
    let mut verifier = Verifier::new(MemoryRevocations::new());
    verifier.add_epoch(3, &root).unwrap();
    let token = Token::from_text(narrow.trim()).unwrap();
    let request = Request {
        tenant: Some("acme"),
        scope: Scope::LedgerRead,
        method: Method::Get,
        path: "/v1/ledger/accounts",
        now_s: now_s(),
        amount: Some(10),
        epoch_id: Some("2026-12"),
    };
    let grant = verifier.verify(&token, &request).unwrap();
    assert_eq!(grant.max_amount, Some(10));
    assert!(
        verifier
            .verify(
                &token,
                &Request {
                    scope: Scope::LedgerWrite,
                    ..request
                }
            )
            .is_err()
    );
    assert!(
        verifier
            .verify(
                &token,
                &Request {
                    amount: Some(11),
                    ..request
                }
            )
            .is_err()
    );
}

#[test]
fn a_wrong_root_key_or_a_tampered_token_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate(dir.path(), "root");
    let other = generate(dir.path(), "other");
    let out = tally()
        .args(["token", "mint", "--root-key-file"])
        .arg(&key)
        .args(["--epoch", "1", "--scope", "audit.read"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let file = dir.path().join("t");
    std::fs::write(&file, &text).unwrap();
    let out = tally()
        .args(["token", "inspect", "--token-file"])
        .arg(&file)
        .arg("--root-key-file")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("tally token: {}", TokenError::BadSignature)
    );
    // One bit of the tag changed.
    let mut bytes = Token::from_text(text.trim()).unwrap().to_bytes().to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    let tampered = tally_encoding::base64url::encode_with_prefix("tally1.", &bytes);
    let out = run_with_stdin(
        {
            let mut c = tally();
            c.args(["token", "inspect", "--root-key-file"]).arg(&key);
            c
        },
        tampered.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad signature"));
}

#[test]
fn secrets_never_travel_on_the_command_line() {
    // No option takes a token or a root key as a value.
    for args in [
        ["token", "inspect", "--token", "tally1.AAAA"],
        ["token", "attenuate", "--token", "tally1.AAAA"],
        ["token", "mint", "--root-key", "00"],
    ] {
        let out = tally().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(out.stdout.is_empty());
    }
    // A token given as a path that does not exist is not echoed either.
    let out = tally()
        .args([
            "token",
            "inspect",
            "--token-file",
            "/nonexistent/tally1.secret",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // Mint without a scope: refused (it would carry every scope).
    let dir = tempfile::tempdir().unwrap();
    let key = generate(dir.path(), "root");
    let out = tally()
        .args(["token", "mint", "--root-key-file"])
        .arg(&key)
        .args(["--epoch", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least one --scope"));
    // A root key file others can read is refused; an unknown scope is bad usage.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = tally()
        .args(["token", "mint", "--root-key-file"])
        .arg(&key)
        .args(["--epoch", "1", "--scope", "admin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("lets group or others in"));
    let out = tally()
        .args(["token", "mint", "--root-key-file"])
        .arg(&key)
        .args(["--epoch", "1", "--scope", "ledger.intent.write"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // --out never replaces a file.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let existing = dir.path().join("existing");
    std::fs::write(&existing, "keep").unwrap();
    let out = tally()
        .args(["token", "mint", "--root-key-file"])
        .arg(&key)
        .args(["--epoch", "1", "--scope", "admin", "--out"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep");
}

#[test]
fn token_inputs_are_bounded_before_they_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    let mut text = b"tally1.".to_vec();
    text.resize(1 << 20, b'A');
    std::fs::write(&big, &text).unwrap();
    let out = tally()
        .args(["token", "inspect", "--token-file"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("larger than 2803 bytes"), "{stderr}");
    let out = run_with_stdin(
        {
            let mut c = tally();
            c.args(["token", "attenuate", "--max-amount", "1"]);
            c
        },
        &text,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin: larger than"));
    // An endless source costs the bound.
    let out = tally()
        .args(["token", "inspect", "--token-file", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
