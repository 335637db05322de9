//! `tally ledger …` through the binary: a data directory, JSON lines in,
//! one result per line out, verified replay on every command, and proofs.

use std::path::Path;
use std::process::Output;

use crate::support::{run_with_stdin, tally};

fn run(args: &[&str], stdin: &str) -> Output {
    let mut cmd = tally();
    cmd.args(args);
    run_with_stdin(cmd, stdin.as_bytes())
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_ledger_in_a_directory_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let key = tmp.path().join("signer.key");
    let out = run(
        &[
            "audit",
            "keygen",
            "--out",
            p(&key),
            "--signer",
            "ledger.example/j",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let vkey = text(&out).trim().to_owned();
    let out = run(
        &["ledger", "init", p(&dir), "--signer-key-file", p(&key)],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let accounts = "{\"id\":1,\"ledger\":1,\"code\":10}\n\
                    {\"id\":340282366920938463463374607431768211454,\"ledger\":1,\"code\":10,\"flags\":[\"debits_must_not_exceed_credits\",\"history\"]}\n";
    let out = run(&["ledger", "accounts", p(&dir)], accounts);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        text(&out),
        "{\"id\":1,\"result\":\"ok\"}\n{\"id\":340282366920938463463374607431768211454,\"result\":\"ok\"}\n"
    );
    // `account create` is the same command: the same accounts again are
    // `exists`.
    let out = run(&["ledger", "account", "create", p(&dir)], accounts);
    assert_eq!(out.status.code(), Some(1), "they exist: {out:?}");
    assert_eq!(
        text(&out),
        "{\"id\":1,\"result\":\"exists\"}\n{\"id\":340282366920938463463374607431768211454,\"result\":\"exists\"}\n"
    );
    // A transfer with a 128-bit amount, one the big account cannot pay
    // (it holds nothing), and a pending hold.
    let transfers = "{\"id\":18446744073709551617,\"debit_account_id\":1,\"credit_account_id\":340282366920938463463374607431768211454,\"amount\":100000000000000000000,\"ledger\":1,\"code\":1}\n\
                     {\"id\":2,\"debit_account_id\":340282366920938463463374607431768211454,\"credit_account_id\":1,\"amount\":100000000000000000001,\"ledger\":1,\"code\":1}\n\
                     {\"id\":3,\"debit_account_id\":340282366920938463463374607431768211454,\"credit_account_id\":1,\"amount\":5,\"ledger\":1,\"code\":1,\"flags\":[\"pending\"],\"timeout\":3600}\n";
    let out = run(&["ledger", "transfers", p(&dir)], transfers);
    assert_eq!(out.status.code(), Some(1), "some were refused: {out:?}");
    assert_eq!(
        text(&out),
        "{\"id\":18446744073709551617,\"result\":\"ok\"}\n{\"id\":2,\"result\":\"exceeds_credits\"}\n{\"id\":3,\"result\":\"ok\"}\n"
    );
    let out = run(
        &[
            "ledger",
            "lookup",
            p(&dir),
            "340282366920938463463374607431768211454",
        ],
        "",
    );
    let account = text(&out);
    assert!(
        account.contains("\"credits_posted\":100000000000000000000,"),
        "{account}"
    );
    assert!(account.contains("\"debits_pending\":5,"), "{account}");
    // Resubmitting is `exists`, and the failed id stays failed.
    let out = run(&["ledger", "transfers", p(&dir)], transfers);
    assert_eq!(
        text(&out),
        "{\"id\":18446744073709551617,\"result\":\"exists\"}\n{\"id\":2,\"result\":\"id_already_failed\"}\n{\"id\":3,\"result\":\"exists\"}\n"
    );
    let out = run(&["ledger", "history", p(&dir), "1"], "");
    assert_eq!(text(&out).lines().count(), 2, "{out:?}");
    let out = run(&["ledger", "verify", p(&dir)], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out).contains("ok: 2 accounts, 2 transfers, double entry holds"),
        "{out:?}"
    );

    // A bad line anywhere: exit 2, nothing journaled.
    let journal = std::fs::read(dir.join("journal.jsonl")).unwrap();
    for bad in [
        "{\"id\":9,\"debit_account_id\":1}\nnot json\n",
        "{\"id\":9,\"flags\":[\"sideways\"]}\n",
        "{\"id\":9,\"surprise\":1}\n",
    ] {
        let out = run(&["ledger", "transfers", p(&dir)], bad);
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("stdin line"),
            "{out:?}"
        );
    }
    assert_eq!(std::fs::read(dir.join("journal.jsonl")).unwrap(), journal);

    // A signed checkpoint, then a proof a stranger verifies offline.
    let out = run(
        &[
            "ledger",
            "checkpoint",
            p(&dir),
            "--signer-key-file",
            p(&key),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = run(
        &[
            "ledger",
            "prove",
            p(&dir),
            "18446744073709551617",
            "--vkey",
            &vkey,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let proof = tmp.path().join("proof.json");
    std::fs::write(&proof, &out.stdout).unwrap();
    let out = run(
        &[
            "ledger",
            "verify-proof",
            p(&proof),
            "--id",
            "18446744073709551617",
            "--vkey",
            &vkey,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text(&out)
            .starts_with("ok: transfer 18446744073709551617 of 100000000000000000000 from 1 to ")
    );
    // The proof covers its batch only; an id never applied has no proof.
    let out = run(
        &[
            "ledger",
            "verify-proof",
            p(&proof),
            "--id",
            "4",
            "--vkey",
            &vkey,
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = run(&["ledger", "prove", p(&dir), "2", "--vkey", &vkey], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// A child applying batches is killed with SIGKILL at random moments, 100
/// times. After each kill the journal verifies and double entry holds; at
/// the end every acknowledged transfer (its results were printed) is
/// `exists`. SIGKILL leaves the page cache alone, so this cannot show a
/// missing `fdatasync`: the simulated power-loss tests of tally-ledger's
/// journal (`journal.rs::nothing_acknowledged_is_lost_when_the_disk_fails`)
/// cover that.
#[test]
fn killed_at_random_moments_the_ledger_loses_nothing_acknowledged() {
    use std::io::Write as _;
    use std::process::Stdio;
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = run(&["ledger", "init", p(&dir)], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let accounts: String = (1..=4)
        .map(|id| format!("{{\"id\":{id},\"ledger\":1,\"code\":1}}\n"))
        .collect();
    assert_eq!(
        run(&["ledger", "accounts", p(&dir)], &accounts)
            .status
            .code(),
        Some(0)
    );
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut acknowledged: Vec<String> = Vec::new();
    let mut killed = 0;
    for round in 0..100u64 {
        let batch: String = (0..50u64)
            .map(|i| {
                let id = 1_000 + round * 100 + i;
                let debit = 1 + (id % 4);
                let credit = 1 + ((id + 1) % 4);
                format!(
                    "{{\"id\":{id},\"debit_account_id\":{debit},\"credit_account_id\":{credit},\"amount\":{},\"ledger\":1,\"code\":1}}\n",
                    1 + id % 7
                )
            })
            .collect();
        let mut child = tally()
            .args(["ledger", "transfers", p(&dir)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(batch.as_bytes());
        std::thread::sleep(Duration::from_micros(random(30_000)));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if out.status.code().is_none() {
            killed += 1;
        }
        // Acknowledged: all 50 results were printed.
        if text(&out).lines().count() == 50 {
            acknowledged.push(batch);
        }
        let out = run(&["ledger", "verify", p(&dir)], "");
        assert_eq!(out.status.code(), Some(0), "round {round}: {out:?}");
        assert!(text(&out).contains("double entry holds"), "{out:?}");
    }
    eprintln!(
        "killed {killed} of 100 runs, {} acknowledged",
        acknowledged.len()
    );
    assert!(killed > 0, "no run was killed");
    assert!(!acknowledged.is_empty(), "no run finished");
    for batch in &acknowledged {
        let out = run(&["ledger", "transfers", p(&dir)], batch);
        assert!(
            text(&out)
                .lines()
                .all(|l| l.ends_with("\"result\":\"exists\"}")),
            "{}",
            text(&out)
        );
    }
}

/// `tally ledger snapshot`: later commands restore from the snapshot and the
/// journal after it, see exactly what a full replay sees, and refuse an
/// edited snapshot rather than trust it.
#[test]
fn snapshots_restart_the_ledger_and_an_edited_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let key = tmp.path().join("signer.key");
    let out = run(
        &[
            "audit",
            "keygen",
            "--out",
            p(&key),
            "--signer",
            "ledger.example/s",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Without a checkpoint key there are no snapshots.
    let plain = tmp.path().join("plain");
    run(&["ledger", "init", p(&plain)], "");
    let out = run(
        &[
            "ledger",
            "snapshot",
            p(&plain),
            "--signer-key-file",
            p(&key),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    let out = run(
        &["ledger", "init", p(&dir), "--signer-key-file", p(&key)],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let accounts = "{\"id\":1,\"ledger\":1,\"code\":10}\n\
                    {\"id\":2,\"ledger\":1,\"code\":10,\"flags\":[\"debits_must_not_exceed_credits\"]}\n";
    assert_eq!(
        run(&["ledger", "accounts", p(&dir)], accounts)
            .status
            .code(),
        Some(0)
    );
    let transfers = |from: u128| -> String {
        (from..from + 20)
            .map(|id| {
                format!(
                    "{{\"id\":{id},\"debit_account_id\":{},\"credit_account_id\":{},\"amount\":{},\"ledger\":1,\"code\":1{}}}\n",
                    if id % 2 == 0 { 1 } else { 2 },
                    if id % 2 == 0 { 2 } else { 1 },
                    id % 7 + 1,
                    if id % 5 == 0 { ",\"flags\":[\"pending\"],\"timeout\":3600" } else { "" }
                )
            })
            .collect()
    };
    run(&["ledger", "transfer", p(&dir)], &transfers(100));
    let out = run(
        &["ledger", "snapshot", p(&dir), "--signer-key-file", p(&key)],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).contains("2 accounts"), "{out:?}");
    run(&["ledger", "transfer", p(&dir)], &transfers(200));
    // A second and a third snapshot: two are kept.
    for from in [300, 400] {
        let out = run(
            &["ledger", "snapshot", p(&dir), "--signer-key-file", p(&key)],
            "",
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        run(&["ledger", "transfer", p(&dir)], &transfers(from));
    }
    let snaps: Vec<_> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snaps.len(), 2, "{snaps:?}");

    let views = |dir: &Path| -> Vec<String> {
        [
            vec!["ledger", "verify", p(dir)],
            vec!["ledger", "balance", p(dir), "2"],
            vec!["ledger", "lookup", p(dir), "1"],
            vec!["ledger", "lookup", "--transfer", p(dir), "405"],
            vec!["ledger", "history", p(dir), "2", "--limit", "1000"],
        ]
        .iter()
        .map(|args| {
            let out = run(args, "");
            assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
            text(&out)
        })
        .collect()
    };
    let from_snapshot = views(&dir);
    assert!(
        from_snapshot[1].contains("\"available\":"),
        "{from_snapshot:?}"
    );
    assert!(
        from_snapshot[3].contains("\"pending\":\"pending\""),
        "{from_snapshot:?}"
    );
    // A resubmission after a restart from a snapshot is `exists`.
    let out = run(&["ledger", "transfer", p(&dir)], &transfers(100));
    assert!(
        text(&out)
            .lines()
            .all(|l| l.contains("\"exists\"") || l.contains("already_failed")),
        "{out:?}"
    );
    // The same views by a full replay (no snapshots).
    let replayed = tmp.path().join("replayed");
    std::fs::create_dir(&replayed).unwrap();
    std::fs::copy(dir.join("journal.jsonl"), replayed.join("journal.jsonl")).unwrap();
    assert_eq!(views(&replayed), from_snapshot);

    // An edited snapshot (a user-data byte of a transfer, digest left as it
    // was): refused, with the file named, not trusted and not skipped.
    let newest = snaps.iter().max().unwrap();
    let good = std::fs::read(newest).unwrap();
    let mut bad = good.clone();
    bad[96 + 2 * 128 + 90] ^= 1;
    std::fs::write(newest, &bad).unwrap();
    let out = run(&["ledger", "verify", p(&dir)], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snapshot") && err.contains(".snap"), "{err}");
    std::fs::write(newest, &good).unwrap();
    assert_eq!(views(&dir), from_snapshot);

    // Snapshots of another format version (an older build's) are skipped,
    // with a warning, for the whole journal: the same state.
    for snap in &snaps {
        let mut old = std::fs::read(snap).unwrap();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(snap, &old).unwrap();
    }
    let out = run(&["ledger", "verify", p(&dir)], "");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("format version 1"), "{err}");
    assert_eq!(views(&dir), from_snapshot);
}
