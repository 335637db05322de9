//! `tally ledger` on PostgreSQL: four processes transfer at once against
//! shared accounts in one database while one of them is killed with SIGKILL
//! at random moments; nothing is overspent, double entry holds, every
//! acknowledged transfer is there (resubmitted: `exists`), and the journal
//! verifies. The database is a throw-away one (random name), made and
//! dropped with `psql`; an unreachable server fails the test, never skips it.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::{run_with_stdin, tally};

/// The admin URL: `TALLY_TEST_PG`, or the local server with trust auth.
fn admin_url() -> String {
    std::env::var("TALLY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn psql(url: &str, statement: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", statement])
        .output()
        .unwrap_or_else(|e| panic!("psql is needed to make a test database: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL at {url} refused `{statement}` (these tests never skip: start it with \
         scripts/services/postgres, or point TALLY_TEST_PG at an admin URL): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away database, dropped when this goes out of scope.
pub(crate) struct TestDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl TestDb {
    pub(crate) fn create() -> Self {
        let admin = admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("tally_cli_test_{}_{nanos}", std::process::id());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.split('?').next().unwrap().to_owned();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        Self { admin, name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ledger(args: &[&str], stdin: &str) -> Output {
    let mut cmd = tally();
    cmd.arg("ledger").args(args);
    run_with_stdin(cmd, stdin.as_bytes())
}

/// A JSON field of a `lookup` line, as a number.
fn field(line: &str, name: &str) -> u128 {
    let at = line.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// Batch `b` of writer `w`: eight spends of 3 from the hot account 2 (which
/// may not spend more than it received) to 3, and two top-ups of 2 from 1.
fn batch(w: u64, b: u64) -> String {
    (0..10u64)
        .map(|i| {
            let id = 10_000 + w * 1_000 + b * 10 + i;
            let (debit, credit, amount) = if i < 8 { (2, 3, 3) } else { (1, 2, 2) };
            format!(
                "{{\"id\":{id},\"debit_account_id\":{debit},\"credit_account_id\":{credit},\"amount\":{amount},\"ledger\":1,\"code\":1}}\n"
            )
        })
        .collect()
}

/// What one writer saw: the batches whose results were all printed
/// (acknowledged), with those results, and how many runs were killed.
struct Seen {
    acknowledged: Vec<(String, Vec<String>)>,
    killed: u32,
}

fn writer(url: &str, w: u64, victim: bool, mut seed: u64) -> Seen {
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut seen = Seen {
        acknowledged: Vec::new(),
        killed: 0,
    };
    for b in 0..25 {
        let input = batch(w, b);
        let mut child = tally()
            .args(["ledger", "transfers", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        if victim && random(2) == 0 {
            std::thread::sleep(Duration::from_micros(random(60_000)));
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        if out.status.code().is_none() {
            seen.killed += 1;
        }
        let results: Vec<String> = text(&out).lines().map(str::to_owned).collect();
        if results.len() == 10 {
            seen.acknowledged.push((input, results));
        }
    }
    seen
}

#[test]
fn four_processes_one_killed_share_a_ledger_in_postgres() {
    let db = TestDb::create();
    let url = db.url.as_str();
    assert_eq!(ledger(&["init", url], "").status.code(), Some(0));
    let accounts = "{\"id\":1,\"ledger\":1,\"code\":1}\n\
                    {\"id\":2,\"ledger\":1,\"code\":1,\"flags\":[\"debits_must_not_exceed_credits\"]}\n\
                    {\"id\":3,\"ledger\":1,\"code\":1}\n";
    let out = ledger(&["accounts", url], accounts);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let fund = "{\"id\":1,\"debit_account_id\":1,\"credit_account_id\":2,\"amount\":300,\"ledger\":1,\"code\":1}\n";
    assert_eq!(ledger(&["transfers", url], fund).status.code(), Some(0));

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed:#x}");
    let seen: Vec<Seen> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|w| s.spawn(move || writer(url, w, w == 0, seed.wrapping_mul(w + 1) | 1)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let killed: u32 = seen.iter().map(|s| s.killed).sum();
    eprintln!(
        "killed {killed}; acknowledged per writer: {:?}",
        seen.iter()
            .map(|s| s.acknowledged.len())
            .collect::<Vec<_>>()
    );
    assert!(killed > 0, "no run was killed (seed {seed:#x})");
    // Some spends were refused: the hot account ran dry.
    let refused = seen
        .iter()
        .flat_map(|s| &s.acknowledged)
        .flat_map(|(_, r)| r)
        .filter(|l| l.contains("exceeds_credits"))
        .count();
    assert!(refused > 0, "the hot account never ran dry");

    // No overspend: the hot account never spent more than it received.
    let out = ledger(&["lookup", url, "2"], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let hot = text(&out);
    let (debits, credits) = (
        field(&hot, "debits_posted") + field(&hot, "debits_pending"),
        field(&hot, "credits_posted"),
    );
    assert!(debits <= credits, "overspent: {hot}");
    // Double entry holds and the journal verifies (chain, replay, tables),
    // also against a signed checkpoint.
    let out = ledger(&["verify", url], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).contains("double entry holds"), "{out:?}");
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("signer.key");
    let key = key.to_str().unwrap();
    let mut cmd = tally();
    cmd.args([
        "audit",
        "keygen",
        "--out",
        key,
        "--signer",
        "ledger.example/pg",
    ]);
    let out = run_with_stdin(cmd, b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let vkey = text(&out).trim().to_owned();
    let out = ledger(&["checkpoint", url, "--signer-key-file", key], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ledger(&["verify", url, "--vkey", &vkey], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).contains("1 signed checkpoints"), "{out:?}");

    // Every acknowledged transfer is there: resubmitted, it is `exists`
    // (and a refused one stays refused).
    for (input, results) in seen.iter().flat_map(|s| &s.acknowledged) {
        let again = text(&ledger(&["transfers", url], input));
        for (before, after) in results.iter().zip(again.lines()) {
            let want = if before.ends_with("\"result\":\"ok\"}") {
                "\"result\":\"exists\"}"
            } else {
                "\"result\":\"id_already_failed\"}"
            };
            assert!(after.ends_with(want), "{before} resubmitted: {after}");
        }
    }
    drop(db);
}
