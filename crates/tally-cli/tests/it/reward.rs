//! `tally reward`: keys, signed policies, compute, verify, prove, through
//! the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tally(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .current_dir(dir)
        .env_remove("TALLY_REWARD_KEY")
        .arg("reward")
        .args(args)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tally-reward/examples")
        .join(name)
        .display()
        .to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Vec<u8> {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out.stdout
}

/// keygen + sign-policy + compute in `dir`; returns the manifest path.
fn setup(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("trusted.json"),
        ok(tally(dir, &["keygen", "--out", "k"])),
    )
    .unwrap();
    let policy = example("policy.json");
    std::fs::write(
        dir.join("sp.json"),
        ok(tally(
            dir,
            &["sign-policy", "--policy", &policy, "--key-file", "k"],
        )),
    )
    .unwrap();
    let inputs = example("inputs.json");
    let manifest = ok(tally(
        dir,
        &[
            "compute",
            "--inputs",
            &inputs,
            "--policy",
            "sp.json",
            "--key-file",
            "k",
            "--trusted-keys",
            "trusted.json",
            "--intents",
            "intents.json",
            "--payouts",
            "payouts.json",
        ],
    ));
    std::fs::write(dir.join("m.json"), manifest).unwrap();
    dir.join("m.json")
}

fn run_files() -> Vec<String> {
    run_files_with(&example("inputs.json"))
}

/// `--inputs inputs` and the signed policy and trusted keys of `setup`.
fn run_files_with(inputs: &str) -> Vec<String> {
    vec![
        "--inputs".into(),
        inputs.into(),
        "--policy".into(),
        "sp.json".into(),
        "--trusted-keys".into(),
        "trusted.json".into(),
    ]
}

fn with<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(tail.iter().map(String::as_str))
        .collect()
}

#[test]
fn compute_verify_prove_and_verify_proof() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let files = run_files();
    let sealed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("m.json")).unwrap()).unwrap();
    let m = &sealed["manifest"];
    assert_eq!(m["pool"], 1_000_000);
    assert_eq!(
        m["paid"].as_u64().unwrap() + m["residual"].as_u64().unwrap(),
        1_000_000
    );
    assert!(m["inputs_cid"].as_str().unwrap().starts_with("bafkr4i"));
    let intents: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("intents.json")).unwrap()).unwrap();
    let moved: u64 = intents
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_u64().unwrap())
        .sum();
    assert_eq!(moved, 1_000_000);
    // The ledger fields: ledger 1 by default, a code per role, 128-bit
    // account ids as 32 hex digits.
    for t in intents.as_array().unwrap() {
        assert_eq!(t["ledger"], 1, "{t}");
        assert!(t["code"] == 1 || t["code"] == 2, "{t}");
        for field in ["debit_account_id", "credit_account_id"] {
            assert_eq!(t[field].as_str().unwrap().len(), 32, "{t}");
        }
    }

    let text = String::from_utf8(ok(tally(d, &with(&["verify", "m.json"], &files)))).unwrap();
    assert!(text.starts_with("verified: manifest bafkr4i"), "{text}");
    let proof = ok(tally(d, &with(&["prove", "m.json", "alice"], &files)));
    std::fs::write(d.join("proof.json"), &proof).unwrap();
    let args = [
        "verify-proof",
        "proof.json",
        "--manifest",
        "m.json",
        "--trusted-keys",
        "trusted.json",
    ];
    ok(tally(d, &args));

    // A proof with another amount fails with exit 1.
    let mut bad: serde_json::Value = serde_json::from_slice(&proof).unwrap();
    bad["payout"]["amount"] = (bad["payout"]["amount"].as_u64().unwrap() + 1).into();
    std::fs::write(d.join("proof.json"), bad.to_string()).unwrap();
    let out = tally(d, &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    // An account with no payout.
    let out = tally(d, &with(&["prove", "m.json", "nobody"], &files));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_tampered_manifest_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let files = run_files();
    let text = std::fs::read_to_string(d.join("m.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["manifest"]["residual"] = 1.into();
    std::fs::write(d.join("m.json"), v.to_string()).unwrap();
    let out = tally(d, &with(&["verify", "m.json"], &files));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("does not verify"), "{}", stderr(&out));
}

#[test]
fn an_untrusted_signer_and_a_chain_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // A second key, not in trusted.json, signs the policy: compute refuses.
    ok(tally(d, &["keygen", "--out", "k2"]));
    let policy = example("policy.json");
    let sp2 = ok(tally(
        d,
        &["sign-policy", "--policy", &policy, "--key-file", "k2"],
    ));
    std::fs::write(d.join("sp2.json"), sp2).unwrap();
    let inputs = example("inputs.json");
    let out = tally(
        d,
        &[
            "compute",
            "--inputs",
            &inputs,
            "--policy",
            "sp2.json",
            "--key-file",
            "k",
            "--trusted-keys",
            "trusted.json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not trusted"), "{}", stderr(&out));
    // --previous links the next epoch's manifest to this one; the key from
    // the env.
    let inputs = inputs_of_epoch(d, "next.json", "2026-w48", 1);
    let key_text = std::fs::read_to_string(d.join("k")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .current_dir(d)
        .env("TALLY_REWARD_KEY", key_text)
        .args([
            "reward",
            "compute",
            "--inputs",
            &inputs,
            "--policy",
            "sp.json",
            "--trusted-keys",
            "trusted.json",
            "--previous",
            "m.json",
        ])
        .output()
        .unwrap();
    let next: serde_json::Value = serde_json::from_slice(&ok(out)).unwrap();
    assert!(
        next["manifest"]["previous"]
            .as_str()
            .unwrap()
            .starts_with("bafkr4i")
    );
}

#[test]
fn bad_input_exits_2_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    std::fs::write(d.join("garbage.json"), "{").unwrap();
    std::fs::write(d.join("open-key"), std::fs::read(d.join("k")).unwrap()).unwrap();
    let policy = example("policy.json");
    let inputs = example("inputs.json");
    let cases: Vec<Vec<&str>> = vec![
        vec!["sign-policy", "--policy", "garbage.json", "--key-file", "k"],
        vec!["sign-policy", "--policy", &policy, "--key-file", "open-key"],
        vec!["sign-policy", "--policy", &policy],
        vec!["sign-policy", "--policy", "absent.json", "--key-file", "k"],
        vec![
            "compute",
            "--inputs",
            "garbage.json",
            "--policy",
            "sp.json",
            "--key-file",
            "k",
            "--trusted-keys",
            "trusted.json",
        ],
        vec![
            "compute",
            "--inputs",
            &inputs,
            "--policy",
            "garbage.json",
            "--key-file",
            "k",
            "--trusted-keys",
            "trusted.json",
        ],
        vec![
            "compute",
            "--inputs",
            &inputs,
            "--policy",
            "sp.json",
            "--key-file",
            "k",
            "--trusted-keys",
            "garbage.json",
        ],
        vec![
            "verify",
            "garbage.json",
            "--inputs",
            &inputs,
            "--policy",
            "sp.json",
            "--trusted-keys",
            "trusted.json",
        ],
        vec![
            "prove",
            "m.json",
            "not an account",
            "--inputs",
            &inputs,
            "--policy",
            "sp.json",
            "--trusted-keys",
            "trusted.json",
        ],
        vec!["keygen", "--out", "k"],
        vec!["frobnicate"],
    ];
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perm = std::fs::metadata(d.join("open-key")).unwrap().permissions();
        perm.set_mode(0o644);
        std::fs::set_permissions(d.join("open-key"), perm).unwrap();
    }
    for args in cases {
        let out = tally(d, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// The example inputs as epoch `epoch`, `weeks` weeks later, written to
/// `name` in `dir`.
fn inputs_of_epoch(dir: &Path, name: &str, epoch: &str, weeks: u64) -> String {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(example("inputs.json")).unwrap()).unwrap();
    v["epoch"] = epoch.into();
    for end in ["start", "end"] {
        let t = v["window"][end].as_u64().unwrap() + weeks * 7 * 24 * 3600;
        v["window"][end] = t.into();
    }
    std::fs::write(dir.join(name), v.to_string()).unwrap();
    name.to_owned()
}

fn compute_epoch(dir: &Path, inputs: &str, previous: &str) -> Output {
    let files = run_files_with(inputs);
    tally(
        dir,
        &with(
            &["compute", "--key-file", "k", "--previous", previous],
            &files,
        ),
    )
}

/// `verify --previous` checks the link of a chain of epochs: the previous
/// manifest's seal, its CID as the link, and the order of the epochs;
/// without it the link is reported as not checked.
#[test]
fn verify_checks_the_chain_link_with_previous() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let next = inputs_of_epoch(d, "next.json", "2026-w48", 1);
    std::fs::write(d.join("m2.json"), ok(compute_epoch(d, &next, "m.json"))).unwrap();
    let next_files = run_files_with(&next);
    let text = String::from_utf8(ok(tally(
        d,
        &with(&["verify", "m2.json", "--previous", "m.json"], &next_files),
    )))
    .unwrap();
    assert!(text.contains("follows manifest bafkr4i"), "{text}");
    assert!(text.contains("(epoch 2026-w47)"), "{text}");
    let text = String::from_utf8(ok(tally(d, &with(&["verify", "m2.json"], &next_files)))).unwrap();
    assert!(text.contains("not checked: give --previous"), "{text}");
    let first_files = run_files();
    let text = String::from_utf8(ok(tally(d, &with(&["verify", "m.json"], &first_files)))).unwrap();
    assert!(text.contains("first of its chain"), "{text}");

    // A link to another manifest, or none at all, is broken: exit 1.
    for (manifest, previous, files) in [
        ("m2.json", "m2.json", &next_files),
        ("m.json", "m2.json", &first_files),
    ] {
        let out = tally(
            d,
            &with(&["verify", manifest, "--previous", previous], files),
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(stderr(&out).contains("previous link"), "{}", stderr(&out));
    }
    // An edited previous manifest does not verify: exit 1.
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("m.json")).unwrap()).unwrap();
    forged["manifest"]["paid"] = 1.into();
    std::fs::write(d.join("forged.json"), forged.to_string()).unwrap();
    let out = tally(
        d,
        &with(
            &["verify", "m2.json", "--previous", "forged.json"],
            &next_files,
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // An epoch that does not come after the previous one cannot be computed
    // onto the chain (same window, or the same epoch id later).
    for (name, epoch, weeks) in [("same.json", "2026-w47b", 0), ("again.json", "2026-w47", 2)] {
        let inputs = inputs_of_epoch(d, name, epoch, weeks);
        let out = compute_epoch(d, &inputs, "m.json");
        assert_eq!(out.status.code(), Some(1), "{epoch}: {}", stderr(&out));
        assert!(stderr(&out).contains("does not follow"), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

fn keys_cmd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .current_dir(dir)
        .arg("keys")
        .args(args)
        .output()
        .unwrap()
}

/// `tally reward verify` with `REQUIRE_PQ_ON` in its environment.
fn verify_requiring_pq(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .current_dir(dir)
        .env("REQUIRE_PQ_ON", "true")
        .arg("reward")
        .args(args)
        .output()
        .unwrap()
}

/// `compute --pq-key-file` seals twice; `verify --pq-public-key` checks
/// the ML-DSA seal whenever it is there (a tampered one fails, required or
/// not), `--require-pq` / `REQUIRE_PQ_ON` fail a manifest without one, and
/// a seal by another key fails.
#[test]
fn a_dual_sealed_manifest_verifies_and_the_pq_seal_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let files = run_files();
    let public = ok(keys_cmd(d, &["generate-ml-dsa", "--out", "pq.key"]));
    std::fs::write(d.join("pq.pub"), &public).unwrap();
    assert_eq!(ok(keys_cmd(d, &["ml-dsa-public", "pq.key"])), public);
    std::fs::write(
        d.join("other.pub"),
        ok(keys_cmd(d, &["generate-ml-dsa", "--out", "other.key"])),
    )
    .unwrap();
    let inputs = example("inputs.json");
    let dual = ok(tally(
        d,
        &with(
            &["compute", "--key-file", "k", "--pq-key-file", "pq.key"],
            &run_files_with(&inputs),
        ),
    ));
    std::fs::write(d.join("dual.json"), &dual).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&dual).unwrap();
    assert_eq!(v["pq"]["alg"], "ml-dsa-65");

    let pq = ["--pq-public-key", "pq.pub"];
    let verify = |m: &str, extra: &[&str]| {
        let mut args = vec!["verify", m];
        args.extend_from_slice(extra);
        tally(d, &with(&args, &files))
    };
    let text = String::from_utf8(ok(verify(
        "dual.json",
        &[&pq[..], &["--require-pq"]].concat(),
    )))
    .unwrap();
    assert!(text.contains("ML-DSA-65 seal verified"), "{text}");
    let text = String::from_utf8(ok(verify("dual.json", &[]))).unwrap();
    assert!(text.contains("not checked"), "{text}");

    // The classical manifest: fine unless a PQ seal is required.
    let text = String::from_utf8(ok(verify("m.json", &pq))).unwrap();
    assert!(text.contains("no ML-DSA seal"), "{text}");
    let out = verify("m.json", &[&pq[..], &["--require-pq"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no ML-DSA signature"),
        "{}",
        stderr(&out)
    );
    let out = verify_requiring_pq(
        d,
        &with(&["verify", "m.json", "--pq-public-key", "pq.pub"], &files),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Stripped from the dual manifest: the same.
    let mut stripped = v.clone();
    stripped.as_object_mut().unwrap().remove("pq");
    std::fs::write(d.join("stripped.json"), stripped.to_string()).unwrap();
    let out = verify("stripped.json", &[&pq[..], &["--require-pq"]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Tampered: one hex digit of the ML-DSA signature.
    let mut tampered = v.clone();
    let sig = tampered["pq"]["signature"].as_str().unwrap().to_owned();
    let flipped = if &sig[200..201] == "0" { "1" } else { "0" };
    tampered["pq"]["signature"] = format!("{}{flipped}{}", &sig[..200], &sig[201..]).into();
    std::fs::write(d.join("tampered.json"), tampered.to_string()).unwrap();
    let out = verify("tampered.json", &pq);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ML-DSA signature"),
        "{}",
        stderr(&out)
    );

    // Another key's public key: the seal's key is not trusted.
    let out = verify("dual.json", &["--pq-public-key", "other.pub"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // verify-proof applies the same rule.
    std::fs::write(
        d.join("proof.json"),
        ok(tally(d, &with(&["prove", "dual.json", "alice"], &files))),
    )
    .unwrap();
    let proof = |m: &str, extra: &[&str]| {
        let mut args = vec![
            "verify-proof",
            "proof.json",
            "--manifest",
            m,
            "--trusted-keys",
            "trusted.json",
        ];
        args.extend_from_slice(extra);
        tally(d, &args)
    };
    ok(proof("dual.json", &[&pq[..], &["--require-pq"]].concat()));
    let out = proof("tampered.json", &pq);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Requiring a PQ seal without a key to check it with is bad usage.
    let out = verify("dual.json", &["--require-pq"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
