//! `tally wallet`: end to end against the real Nutshell mint without fees
//! (`./scripts/services/nutshell start`, TALLY_TEST_MINT_URL), and bad
//! input (a wrong or missing passphrase, a bad mnemonic, an unsafe
//! directory), with the CLI's exit codes: 0 success, 1 the operation
//! failed, 2 bad usage or bad input.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

/// The passphrase the tests use.
const PASS: &str = "correct horse battery staple";

fn mint_url() -> String {
    std::env::var("TALLY_TEST_MINT_URL").unwrap_or_else(|_| "http://127.0.0.1:43338".to_owned())
}

/// A private (0700) wallet directory inside a temporary directory.
fn wallet_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let dir = tmp.path().join("w");
    (tmp, dir)
}

/// `tally wallet --dir DIR ARGS…` with the passphrase `pass` in the
/// environment (none if `None`); small Argon2id memory for `init`/`restore`.
fn wallet(dir: &Path, pass: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = crate::support::tally();
    cmd.env_remove("TALLY_WALLET_PASSPHRASE");
    if let Some(p) = pass {
        cmd.env("TALLY_WALLET_PASSPHRASE", p);
    }
    cmd.arg("wallet").arg("--dir").arg(dir).args(args);
    crate::support::run_with_stdin(cmd, b"")
}

fn ok(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn init(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["init", "--kdf-memory-kib", "64"];
    args.extend_from_slice(extra);
    wallet(dir, Some(PASS), &args)
}

#[test]
fn init_mint_balance_check_history_and_restore_against_a_real_mint() {
    let (tmp, dir) = wallet_dir();
    let words_file = tmp.path().join("words");
    let out = init(
        &dir,
        &["--mnemonic-file", words_file.to_str().unwrap(), "--json"],
    );
    ok(&out);
    // The mnemonic went to the file only: never to stdout or stderr.
    let words = std::fs::read_to_string(&words_file).unwrap();
    assert_eq!(words.split_whitespace().count(), 12);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(words.trim()));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(words.trim()));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&words_file), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("seed")), 0o600);
    let seed_text = std::fs::read_to_string(dir.join("seed")).unwrap();
    assert!(!seed_text.contains(words.trim()));

    let mint = mint_url();
    let added = ok(&wallet(&dir, Some(PASS), &["--json", "add-mint", &mint]));
    assert!(added["keysets"].as_u64().unwrap() >= 1);
    let quote = ok(&wallet(&dir, Some(PASS), &["--json", "mint-quote", "21"]));
    let id = quote["quote"].as_str().unwrap().to_owned();
    assert!(quote["request"].as_str().unwrap().starts_with("ln"));
    let minted = ok(&wallet(&dir, Some(PASS), &["--json", "mint", &id]));
    assert_eq!(minted["minted"], 21);
    // A quote is minted once: the mint refuses the second time (exit 1).
    let again = wallet(&dir, Some(PASS), &["mint", &id]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    let balance = ok(&wallet(&dir, Some(PASS), &["--json", "balance"]));
    assert_eq!(balance["total"], 21);
    assert_eq!(balance["mints"][0]["unspent"], 21);
    let check = ok(&wallet(&dir, Some(PASS), &["--json", "check"]));
    assert_eq!(check["mints"][0]["checked"], 3);
    assert_eq!(check["mints"][0]["newly_spent"], 0);
    let history = ok(&wallet(&dir, Some(PASS), &["--json", "history"]));
    assert_eq!(history["history"][0]["kind"], "mint");
    assert_eq!(history["history"][0]["amount_in"], 21);
    let recover = ok(&wallet(&dir, Some(PASS), &["--json", "recover"]));
    assert_eq!(recover["unresolved"], 0);
    assert_eq!(recover["pruned_melt_quotes"], 0, "no melt quote to prune");
    // Text output too.
    let text = wallet(&dir, Some(PASS), &["balance"]);
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("total: 21 sat"));

    // Another directory, the same mnemonic (from the file): restore.
    let (_tmp2, dir2) = wallet_dir();
    let out = wallet(
        &dir2,
        Some("another passphrase"),
        &[
            "--json",
            "restore",
            "--kdf-memory-kib",
            "64",
            "--mnemonic-file",
            words_file.to_str().unwrap(),
            "--mint",
            &mint,
        ],
    );
    let restored = ok(&out);
    assert_eq!(restored["mints"][0]["amount_unspent"], 21);
    assert_eq!(restored["mints"][0]["amount_added"], 21);
    assert!(String::from_utf8_lossy(&out.stderr).contains("restore: "));
    let balance = ok(&wallet(
        &dir2,
        Some("another passphrase"),
        &["--json", "balance"],
    ));
    assert_eq!(balance["total"], 21);
    // Restoring the wallet in place again adds nothing.
    let again = ok(&wallet(
        &dir2,
        Some("another passphrase"),
        &["--json", "restore"],
    ));
    assert_eq!(again["mints"][0]["amount_added"], 0);
    // And the restored wallet mints on fresh counters.
    let quote = ok(&wallet(
        &dir2,
        Some("another passphrase"),
        &["--json", "mint-quote", "5"],
    ));
    let minted = ok(&wallet(
        &dir2,
        Some("another passphrase"),
        &["--json", "mint", quote["quote"].as_str().unwrap()],
    ));
    assert_eq!(minted["minted"], 5);
}

#[test]
fn a_wrong_or_missing_passphrase_is_a_clear_error_and_opens_nothing() {
    let (tmp, dir) = wallet_dir();
    ok(&{
        let o = init(&dir, &["--json"]);
        assert!(String::from_utf8_lossy(&o.stderr).contains("was not shown"));
        o
    });
    let out = wallet(&dir, Some("not it"), &["balance"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty());
    let out = wallet(&dir, None, &["balance"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TALLY_WALLET_PASSPHRASE"));
    // From a file: its first line.
    let pass_file = tmp.path().join("pass");
    std::fs::write(&pass_file, format!("{PASS}\n")).unwrap();
    let mut cmd = crate::support::tally();
    cmd.env_remove("TALLY_WALLET_PASSPHRASE").args([
        "wallet",
        "--dir",
        dir.to_str().unwrap(),
        "--passphrase-file",
        pass_file.to_str().unwrap(),
        "--json",
        "balance",
    ]);
    let out = crate::support::run_with_stdin(cmd, b"");
    assert_eq!(ok(&out)["total"], 0);
    // An empty passphrase is refused.
    let out = wallet(&dir, Some(""), &["balance"]);
    assert_eq!(out.status.code(), Some(2));
    // There is no argument for it.
    let out = wallet(&dir, Some(PASS), &["--passphrase", PASS, "balance"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let (tmp, dir) = wallet_dir();
    // No wallet yet.
    let out = wallet(&dir, Some(PASS), &["balance"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no wallet"));
    // A mnemonic file that is not a mnemonic: nothing is created.
    let words = tmp.path().join("words");
    std::fs::write(&words, "abandon abandon nonsense\n").unwrap();
    let out = wallet(
        &dir,
        Some(PASS),
        &[
            "restore",
            "--mnemonic-file",
            words.to_str().unwrap(),
            "--mint",
            "http://127.0.0.1:1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!dir.join("seed").exists());
    // KDF memory out of bounds.
    let out = wallet(&dir, Some(PASS), &["init", "--kdf-memory-kib", "8"]);
    assert_eq!(out.status.code(), Some(2));
    ok(&init(&dir, &["--json"]));
    // init twice, or restore from a mnemonic over it: refused, the wallet kept.
    let seed_before = std::fs::read(dir.join("seed")).unwrap();
    let out = init(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a wallet"));
    let valid = tmp.path().join("valid-words");
    std::fs::write(
        &valid,
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about\n",
    )
    .unwrap();
    let out = wallet(
        &dir,
        Some(PASS),
        &[
            "restore",
            "--kdf-memory-kib",
            "64",
            "--mnemonic-file",
            valid.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(dir.join("seed")).unwrap(), seed_before);
    // No mint added; a malformed URL; an amount out of range; a bad limit.
    for args in [
        &["mint-quote", "5"][..],
        &["add-mint", "not a url"],
        &["mint-quote", "0", "--mint", "http://127.0.0.1:1"],
        &["history", "--limit", "0"],
        &[
            "restore",
            "--batch-size",
            "0",
            "--mint",
            "http://127.0.0.1:1",
        ],
        &["mint", "no-such-quote", "--mint", "http://127.0.0.1:1"],
    ] {
        let out = wallet(&dir, Some(PASS), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    // An unreachable mint: the operation failed (exit 1).
    let out = wallet(&dir, Some(PASS), &["add-mint", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // A directory others can read: refused.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = wallet(&dir, Some(PASS), &["balance"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsafe permissions"));
}

#[test]
fn show_mnemonic_prints_it_once_on_stderr_only() {
    let (_tmp, dir) = wallet_dir();
    let out = init(&dir, &["--show-mnemonic", "--json"]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("mnemonic")).unwrap();
    let words: Vec<&str> = line.rsplit(": ").next().unwrap().split(' ').collect();
    assert_eq!(words.len(), 12);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(words[0]) || words[0].len() < 3);
    // Later commands never print it.
    let out = wallet(&dir, Some(PASS), &["balance"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&words.join(" ")));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&words.join(" ")));
}

/// `tally wallet --dir DIR --json ARGS…` with `stdin`.
fn wallet_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = crate::support::tally();
    cmd.env("TALLY_WALLET_PASSPHRASE", PASS);
    cmd.arg("wallet")
        .arg("--dir")
        .arg(dir)
        .arg("--json")
        .args(args);
    crate::support::run_with_stdin(cmd, stdin)
}

/// A wallet in `dir` holding `amount` sat minted at the test mint.
fn funded(dir: &Path, amount: u64) {
    ok(&init(dir, &["--json"]));
    ok(&wallet(
        dir,
        Some(PASS),
        &["--json", "add-mint", &mint_url()],
    ));
    let quote = ok(&wallet(
        dir,
        Some(PASS),
        &["--json", "mint-quote", &amount.to_string()],
    ));
    let id = quote["quote"].as_str().unwrap().to_owned();
    assert_eq!(
        ok(&wallet(dir, Some(PASS), &["--json", "mint", &id]))["minted"],
        amount
    );
}

fn unspent(dir: &Path) -> u64 {
    let b = ok(&wallet(dir, Some(PASS), &["--json", "balance"]));
    b["mints"][0]["unspent"].as_u64().unwrap()
}

/// Send from one wallet, receive in another (the token on stdin, never an
/// argument), a second receive of the same token refused, a reclaim of an
/// unredeemed token, and a melt of an invoice from the same (fake) mint:
/// the balances move exactly.
#[test]
fn send_receive_reclaim_and_melt_through_the_cli() {
    let (a_tmp, a) = wallet_dir();
    let (_b_tmp, b) = wallet_dir();
    funded(&a, 64);
    ok(&init(&b, &["--json"]));
    ok(&wallet(
        &b,
        Some(PASS),
        &["--json", "add-mint", &mint_url()],
    ));

    let sent = ok(&wallet(&a, Some(PASS), &["--json", "send", "20"]));
    assert_eq!(sent["amount"], 20);
    let token = sent["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cashuB"), "{token}");
    assert_eq!(unspent(&a), 44);
    let received = ok(&wallet_stdin(&b, &["receive"], token.as_bytes()));
    assert_eq!(received["received"], 20);
    assert_eq!(unspent(&b), 20);
    // The same token again: spent, refused, nothing changes.
    let again = wallet_stdin(&b, &["receive"], token.as_bytes());
    assert_ne!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(unspent(&b), 20);

    // A token nobody redeems comes back whole (no input fees here).
    let kept = ok(&wallet(&a, Some(PASS), &["--json", "send", "8"]));
    let id = kept["id"].as_str().unwrap().to_owned();
    assert_eq!(unspent(&a), 36);
    let back = ok(&wallet(&a, Some(PASS), &["--json", "reclaim", &id]));
    assert_eq!(back["reclaimed"], 8);
    assert_eq!(unspent(&a), 44);

    // In text mode the token alone goes to stdout: a file of it receives.
    let out = wallet(&a, Some(PASS), &["send", "4"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent 4 sat"));
    let file = a_tmp.path().join("token.txt");
    std::fs::write(&file, &out.stdout).unwrap();
    let got = ok(&wallet(
        &b,
        Some(PASS),
        &["--json", "receive", "--token-file", file.to_str().unwrap()],
    ));
    assert_eq!(got["received"], 4);
    assert_eq!((unspent(&a), unspent(&b)), (40, 24));

    // An invoice another mint's FakeWallet made (a mint quote's request
    // there; the plain mint's FakeWallet pays any invoice), paid by melt.
    let fees = std::env::var("TALLY_TEST_MINT_FEES_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:43339".into());
    ok(&wallet(&b, Some(PASS), &["--json", "add-mint", &fees]));
    let quote = ok(&wallet(
        &b,
        Some(PASS),
        &["--json", "mint-quote", "5", "--mint", &fees],
    ));
    let invoice = quote["request"].as_str().unwrap().to_owned();
    let melted = ok(&wallet(
        &a,
        Some(PASS),
        &["--json", "melt", &invoice, "--mint", &mint_url()],
    ));
    assert_eq!(melted["amount"], 5);
    let inputs = melted["inputs"].as_u64().unwrap();
    let change = melted["change"].as_u64().unwrap();
    assert!(inputs >= 5 + change, "{melted}");
    assert_eq!(unspent(&a), 40 - inputs + change);
}

/// A 0600 file holding `text`.
fn secret_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Locked sends through the CLI: `send --p2pk KEY` is received only with
/// `--p2pk-key-file` of that key, `send --htlc-hash H` only with
/// `--preimage-file` of its preimage; the secrets come from files.
#[test]
fn locked_sends_through_the_cli_need_the_key_or_preimage_file() {
    use tally_cashu::crypto::SecretKey;
    use tally_cashu::secret::Preimage;
    let (a_tmp, a) = wallet_dir();
    let (_b_tmp, b) = wallet_dir();
    funded(&a, 64);
    ok(&init(&b, &["--json"]));
    ok(&wallet(
        &b,
        Some(PASS),
        &["--json", "add-mint", &mint_url()],
    ));
    let key = SecretKey::from_bytes([0x33; 32]).unwrap();
    let key_file = secret_file(
        a_tmp.path(),
        "bob.key",
        &format!("{}\n", &*key.to_secret_hex()),
    );
    let wrong_file = secret_file(a_tmp.path(), "wrong.key", &"44".repeat(32));
    let pubkey = key.public_key().to_hex();
    let sent = ok(&wallet(
        &a,
        Some(PASS),
        &["--json", "send", "20", "--p2pk", &pubkey],
    ));
    let token = sent["token"].as_str().unwrap().to_owned();
    for args in [
        vec!["receive"],
        vec!["receive", "--p2pk-key-file", wrong_file.to_str().unwrap()],
    ] {
        let refused = wallet_stdin(&b, &args, token.as_bytes());
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        assert_eq!(unspent(&b), 0);
    }
    let got = ok(&wallet_stdin(
        &b,
        &["receive", "--p2pk-key-file", key_file.to_str().unwrap()],
        token.as_bytes(),
    ));
    assert_eq!(got["received"], 20);

    let preimage = Preimage::new([0x66; 32]);
    let preimage_file = secret_file(a_tmp.path(), "preimage", &"66".repeat(32));
    let hash = tally_encoding::hex::encode(&preimage.hash());
    let sent = ok(&wallet(
        &a,
        Some(PASS),
        &["--json", "send", "8", "--htlc-hash", &hash],
    ));
    let token = sent["token"].as_str().unwrap().to_owned();
    let refused = wallet_stdin(&b, &["receive"], token.as_bytes());
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let got = ok(&wallet_stdin(
        &b,
        &[
            "receive",
            "--preimage-file",
            preimage_file.to_str().unwrap(),
        ],
        token.as_bytes(),
    ));
    assert_eq!(got["received"], 8);
    assert_eq!(unspent(&b), 28);
    // A malformed key file is bad input (exit 2), naming the file.
    let bad = secret_file(a_tmp.path(), "bad.key", "not hex");
    let out = wallet_stdin(
        &b,
        &["receive", "--p2pk-key-file", bad.to_str().unwrap()],
        token.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.key"));
}

/// A melt quote asked for alone is stored and listed; `melt --quote ID` (as
/// after a crash between the two) pays it once; a second one is refused
/// before anything leaves; an unknown id is bad input.
#[test]
fn a_stored_melt_quote_is_listed_and_paid_by_its_id() {
    let (_tmp, a) = wallet_dir();
    funded(&a, 64);
    let fees = std::env::var("TALLY_TEST_MINT_FEES_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:43339".into());
    let (_other_tmp, other) = wallet_dir();
    ok(&init(&other, &["--json"]));
    ok(&wallet(&other, Some(PASS), &["--json", "add-mint", &fees]));
    let invoice = ok(&wallet(&other, Some(PASS), &["--json", "mint-quote", "5"]))["request"]
        .as_str()
        .unwrap()
        .to_owned();
    let quote = ok(&wallet(&a, Some(PASS), &["--json", "melt-quote", &invoice]));
    let id = quote["quote"].as_str().unwrap().to_owned();
    assert_eq!(
        (quote["amount"].as_u64(), quote["state"].as_str()),
        (Some(5), Some("UNPAID"))
    );
    let listed = ok(&wallet(&a, Some(PASS), &["--json", "melt-quotes"]));
    let row = &listed["melt_quotes"][0];
    assert_eq!(row["quote"], id.as_str());
    assert_eq!(row["request"], invoice.as_str());
    assert_eq!(row["unit"], "sat");
    assert_eq!(
        row["mint"].as_str().unwrap().trim_end_matches('/'),
        mint_url().trim_end_matches('/')
    );
    assert!(row["fee_reserve"].as_u64().is_some());
    let melted = ok(&wallet(&a, Some(PASS), &["--json", "melt", "--quote", &id]));
    assert_eq!(melted["quote"], id.as_str());
    let cost = melted["inputs"].as_u64().unwrap() - melted["change"].as_u64().unwrap();
    assert_eq!(unspent(&a), 64 - cost);
    let listed = ok(&wallet(&a, Some(PASS), &["--json", "melt-quotes"]));
    assert_eq!(listed["melt_quotes"][0]["state"], "PAID");
    // Paid: refused locally, nothing moves.
    let again = wallet(&a, Some(PASS), &["--json", "melt", "--quote", &id]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already paid"),
        "{again:?}"
    );
    assert_eq!(unspent(&a), 64 - cost);
    let unknown = wallet(&a, Some(PASS), &["--json", "melt", "--quote", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    // An invoice or a quote, not both, not neither.
    let both = wallet(&a, Some(PASS), &["melt", &invoice, "--quote", &id]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
    let neither = wallet(&a, Some(PASS), &["melt"]);
    assert_eq!(neither.status.code(), Some(2), "{neither:?}");
}

/// Without a terminal (stdin a pipe here) and with neither the file nor the
/// variable, no prompt: a clear error naming both ways, exit 2.
#[test]
fn without_a_terminal_a_missing_passphrase_is_a_clear_error() {
    let (_tmp, dir) = wallet_dir();
    let out = wallet(&dir, None, &["init", "--kdf-memory-kib", "64"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a terminal"), "{err}");
    assert!(
        err.contains("--passphrase-file") && err.contains("TALLY_WALLET_PASSPHRASE"),
        "{err}"
    );
    assert!(!dir.join("seed").exists());
}

/// Drives `tally ARGS…` on a pseudo-terminal (python3's pty module): each
/// time the output shows the next prompt, types the next line. Returns the
/// exit code and everything the terminal showed.
fn on_a_terminal(args: &[&str], lines: &[&str]) -> (i32, String) {
    const DRIVER: &str = r#"
import os, pty, sys, select, json
argv = json.loads(sys.argv[1]); lines = json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = b''
def read_some(timeout):
    global seen
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return False
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    if not data:
        return None
    seen += data
    return True
for line in lines:
    prompts = seen.count(b': ')
    while seen.count(b': ') == prompts:
        if read_some(30) is not True:
            break
    os.write(fd, line.encode() + b'\n')
while read_some(30) is True:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut argv = vec![env!("CARGO_BIN_EXE_tally").to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(serde_json::to_string(&argv).unwrap())
        .arg(serde_json::to_string(lines).unwrap())
        .env_remove("TALLY_WALLET_PASSPHRASE")
        .output()
        .expect("python3 drives the pseudo-terminal");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// On a terminal the passphrase is asked for with echo off (what is typed
/// never shows), twice for a new wallet (a mismatch is refused, nothing
/// made), once to open it; the wallet made this way opens with the same
/// passphrase from the environment.
#[test]
fn on_a_terminal_the_passphrase_is_prompted_for_without_echo() {
    let (_tmp, dir) = wallet_dir();
    let d = dir.to_str().unwrap();
    let typed = "prompted horse staple";
    let (code, screen) = on_a_terminal(
        &["wallet", "--dir", d, "init", "--kdf-memory-kib", "64"],
        &[typed, "something else"],
    );
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("differ"), "{screen}");
    assert!(!dir.join("seed").exists());
    let (code, screen) = on_a_terminal(
        &["wallet", "--dir", d, "init", "--kdf-memory-kib", "64"],
        &[typed, typed],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("wallet passphrase: ") && screen.contains("again: "),
        "{screen}"
    );
    assert!(
        !screen.contains(typed),
        "the passphrase was echoed: {screen}"
    );
    let (code, screen) = on_a_terminal(&["wallet", "--dir", d, "--json", "balance"], &[typed]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\"total\":0"), "{screen}");
    assert!(!screen.contains(typed), "{screen}");
    let (code, screen) = on_a_terminal(&["wallet", "--dir", d, "balance"], &["wrong one"]);
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("wrong passphrase"), "{screen}");
    assert_eq!(
        ok(&wallet(&dir, Some(typed), &["--json", "balance"]))["total"],
        0
    );
}

/// `mint Q1 Q2` mints both quotes in one NUT-29 batch; a repeated quote is
/// bad input.
#[test]
fn several_quotes_mint_in_one_batch() {
    let (_tmp, dir) = wallet_dir();
    ok(&init(&dir, &["--json"]));
    ok(&wallet(
        &dir,
        Some(PASS),
        &["--json", "add-mint", &mint_url()],
    ));
    let id = |amount: &str| {
        ok(&wallet(&dir, Some(PASS), &["--json", "mint-quote", amount]))["quote"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a, b) = (id("2"), id("8"));
    let twice = wallet(&dir, Some(PASS), &["--json", "mint", &a, &a]);
    assert_eq!(twice.status.code(), Some(2), "{twice:?}");
    let minted = ok(&wallet(&dir, Some(PASS), &["--json", "mint", &a, &b]));
    assert_eq!(minted["minted"], 10);
    assert_eq!(unspent(&dir), 10);
}
