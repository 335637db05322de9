//! `tally serve`'s rewarder as a process: killed with SIGKILL while it
//! settles an epoch, restarted on the same data directory, settled again:
//! the ledger holds every intent exactly once (the funding account paid
//! exactly the pool, each sampled payee exactly its payout), and the
//! manifest and its proofs verify offline with `tally reward verify-proof`.
//! With `--reward-pq-key-file` the service seals its manifests twice, and
//! `tally reward verify --pq-public-key --require-pq` checks both seals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use tally_reward::ident::AccountId;
use tally_reward::settle::ledger_account_id;

use crate::support::tally;

pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) token: String,
}

fn start(dir: &Path) -> Proc {
    start_with(dir, &[])
}

/// `tally serve` on `dir/data`, trusting `dir/trusted.json`, with `extra`
/// arguments.
pub(crate) fn start_with(dir: &Path, extra: &[&std::ffi::OsStr]) -> Proc {
    let mut child = tally()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--reward-trusted-keys")
        .arg(dir.join("trusted.json"))
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first.rsplit("http://").next().unwrap().to_owned();
    let _ = lines.next();
    let token = std::fs::read_to_string(dir.join("data/admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    Proc { child, addr, token }
}

/// A failed assertion must not leave the server running.
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request; `None` when the connection broke (the server was killed).
pub(crate) fn http(
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    key: &str,
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let kind = if path == "/v1/blobs" {
        "application/octet-stream"
    } else {
        "application/json"
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&out[..end])
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, out[end + 4..].to_vec()))
}

pub(crate) fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

pub(crate) fn inputs(epoch: &str, round: u64, n: usize) -> String {
    let start = 1_000 + round * 100;
    let accounts: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"account":"p{round}-{i:05}","counters":{{"bytes_stored":{}}}}}"#,
                (i * 7919) % 10_007 + 1
            )
        })
        .collect();
    format!(
        r#"{{"schema":"tally/reward/inputs/v1","epoch":"{epoch}","window":{{"start":{start},"end":{}}},"producer":"meter","accounts":[{}]}}"#,
        start + 100,
        accounts.join(",")
    )
}

/// Stores the signed policy `signed`; returns its content id.
pub(crate) fn store_policy(p: &Proc, signed: &[u8]) -> String {
    let (status, body) = http(
        &p.addr,
        &p.token,
        "POST",
        "/v1/rewarder/policies",
        "pol",
        signed,
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json(&body)["cid"].as_str().unwrap().to_owned()
}

/// Uploads the inputs `doc` of `epoch` and computes it under the stored
/// policy `policy_cid`; returns the answer (the run's view).
pub(crate) fn compute(p: &Proc, policy_cid: &str, epoch: &str, doc: &str) -> serde_json::Value {
    let (status, body) = http(&p.addr, &p.token, "POST", "/v1/blobs", "-", doc.as_bytes()).unwrap();
    assert_eq!(status, 200);
    let inputs_cid = json(&body)["cid"].as_str().unwrap().to_owned();
    let req = format!(r#"{{"inputs_cid":"{inputs_cid}","policy_cid":"{policy_cid}"}}"#);
    let (status, body) = http(
        &p.addr,
        &p.token,
        "POST",
        &format!("/v1/rewarder/epochs/{epoch}/compute"),
        &format!("compute-{epoch}"),
        req.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json(&body)
}

fn credits(p: &Proc, account: &str) -> (u128, u128) {
    let id = ledger_account_id(&AccountId::new(account).unwrap());
    let (status, body) = http(
        &p.addr,
        &p.token,
        "GET",
        &format!("/v1/ledger/accounts/{id}"),
        "-",
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "{account}");
    let v = json(&body);
    let n = |f: &str| v[f].as_u64().map(u128::from).unwrap();
    (n("credits_posted"), n("debits_posted"))
}

/// A policy key (`pol.key`, trusted in `trusted.json`) and a policy paying
/// `pool` from `pool:storage`, signed by it (written to `sp.json` too).
pub(crate) fn policy_key_and_signed_policy(d: &Path, pool: u64) -> std::process::Output {
    let keygen = tally()
        .args(["reward", "keygen", "--out"])
        .arg(d.join("pol.key"))
        .output()
        .unwrap();
    assert!(keygen.status.success());
    std::fs::write(d.join("trusted.json"), &keygen.stdout).unwrap();
    let policy = format!(
        r#"{{"schema":"tally/reward/policy/v1","id":"storage","version":1,"pool":{pool},"funding_account":"pool:storage","residual_sink":"treasury","weights":{{"bytes_stored":10000}},"min_payout":1,"rounding":"largest_remainder","valid_from":0,"valid_until":4102444800}}"#
    );
    std::fs::write(d.join("policy.json"), policy).unwrap();
    let signed = tally()
        .args(["reward", "sign-policy", "--policy"])
        .arg(d.join("policy.json"))
        .arg("--key-file")
        .arg(d.join("pol.key"))
        .output()
        .unwrap();
    assert!(signed.status.success());
    std::fs::write(d.join("sp.json"), &signed.stdout).unwrap();
    signed
}

/// `all-keys.json`: the policy key and the service's seal key, trusted.
fn write_all_keys(d: &Path) {
    let keys = tally()
        .args(["keys", "trusted"])
        .arg(d.join("pol.key"))
        .arg(d.join("data/rewarder/seal.key"))
        .output()
        .unwrap();
    assert!(keys.status.success());
    std::fs::write(d.join("all-keys.json"), &keys.stdout).unwrap();
}

/// In `d`: a policy key (`pol.key`), its trusted-keys file
/// (`trusted.json`), the policy (`policy.json`, pool 987,654,321 from
/// `pool:storage`); returns the signed policy.
pub(crate) fn signed_policy(d: &Path) -> Vec<u8> {
    policy_key_and_signed_policy(d, 987_654_321).stdout
}

#[test]
fn a_rewarder_killed_mid_settlement_settles_every_payee_exactly_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let signed = signed_policy(d);
    let mut p = start(d);
    let policy_cid = store_policy(&p, &signed);
    let payees = 20_000;
    // Two epochs, killed at two points of their settlement.
    for (round, kill_after_ms) in [(0u64, 150u64), (1, 500)] {
        let epoch = format!("kill-{round}");
        let run = compute(&p, &policy_cid, &epoch, &inputs(&epoch, round, payees));
        let sealed = run["sealed"].clone();
        std::fs::write(d.join(format!("{epoch}.manifest.json")), sealed.to_string()).unwrap();

        // Settle, and SIGKILL the server while it does.
        let (addr, token, path) = (
            p.addr.clone(),
            p.token.clone(),
            format!("/v1/rewarder/epochs/{epoch}/settle"),
        );
        let settling = std::thread::spawn(move || {
            http(&addr, &token, "POST", &path, &format!("{path}-1"), b"")
        });
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        p.child.kill().unwrap();
        p.child.wait().unwrap();
        // Killed in flight (None), or answered before the kill.
        let _ = settling.join().unwrap();

        p = start(d);
        let (status, body) = http(
            &p.addr,
            &p.token,
            "POST",
            &format!("/v1/rewarder/epochs/{epoch}/settle"),
            &format!("settle-2-{epoch}"),
            b"",
        )
        .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v = json(&body);
        let transfers = v["transfers"].as_u64().unwrap();
        assert_eq!(
            v["accepted"].as_u64().unwrap() + v["dup"].as_u64().unwrap(),
            transfers
        );
        // Paid exactly once: the funding account paid the pool once per
        // epoch settled so far (a chain paid twice would debit it more).
        let (_, debited) = credits(&p, "pool:storage");
        assert_eq!(debited, 987_654_321 * u128::from(round + 1));
        // Sampled payees hold exactly their payout of each epoch, and the
        // proof verifies offline with the CLI.
        write_all_keys(d);
        for i in [0, payees / 2, payees - 1] {
            let name = format!("p{round}-{i:05}");
            let (status, body) = http(
                &p.addr,
                &p.token,
                "GET",
                &format!("/v1/rewarder/epochs/{epoch}/payouts/{name}"),
                "-",
                b"",
            )
            .unwrap();
            assert_eq!(status, 200);
            let proof_file = d.join(format!("{epoch}-{name}.proof.json"));
            std::fs::write(&proof_file, &body).unwrap();
            let verified = tally()
                .args(["reward", "verify-proof"])
                .arg(&proof_file)
                .arg("--manifest")
                .arg(d.join(format!("{epoch}.manifest.json")))
                .arg("--trusted-keys")
                .arg(d.join("all-keys.json"))
                .output()
                .unwrap();
            assert!(
                verified.status.success(),
                "{}",
                String::from_utf8_lossy(&verified.stderr)
            );
            let paid = u128::from(json(&body)["payout"]["amount"].as_u64().unwrap());
            let (credited, _) = credits(&p, &name);
            assert_eq!(credited, paid, "{name}");
        }
    }
    // A graceful stop still works after the kills.
    let pid = p.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(p.child.wait().unwrap().success());
}

/// `tally serve --reward-pq-key-file`: the manifest the service seals
/// verifies with `tally reward verify --pq-public-key P --require-pq`
/// (recomputed from the same inputs and policy), P the key's public file
/// or the answer of `GET /v1/rewarder/keys` saved as is (verified offline,
/// the server stopped), and fails (exit 1) with its ML-DSA seal stripped or
/// tampered with, or under another key's file.
#[test]
fn a_dual_signing_service_s_manifest_verifies_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pq = tally()
        .args(["keys", "generate-ml-dsa", "--out"])
        .arg(d.join("pq.key"))
        .output()
        .unwrap();
    assert!(pq.status.success());
    std::fs::write(d.join("pq.pub"), &pq.stdout).unwrap();
    let signed = policy_key_and_signed_policy(d, 1_000);

    let pq_key = d.join("pq.key");
    let p = start_with(d, &["--reward-pq-key-file".as_ref(), pq_key.as_os_str()]);
    let policy_cid = store_policy(&p, &signed.stdout);
    let doc = inputs("pq-0", 0, 25);
    std::fs::write(d.join("inputs.json"), &doc).unwrap();
    let (status, body) = http(&p.addr, &p.token, "POST", "/v1/blobs", "-", doc.as_bytes()).unwrap();
    assert_eq!(status, 200);
    let inputs_cid = json(&body)["cid"].as_str().unwrap().to_owned();
    let req = format!(r#"{{"inputs_cid":"{inputs_cid}","policy_cid":"{policy_cid}"}}"#);
    let (status, body) = http(
        &p.addr,
        &p.token,
        "POST",
        "/v1/rewarder/epochs/pq-0/compute",
        "c",
        req.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let sealed = json(&body)["sealed"].clone();
    assert_eq!(sealed["pq"]["alg"], "ml-dsa-65");
    std::fs::write(d.join("m.json"), sealed.to_string()).unwrap();
    // The keys route: the Ed25519 seal key as before, the ML-DSA key beside.
    let (status, keys) = http(&p.addr, &p.token, "GET", "/v1/rewarder/keys", "-", b"").unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&keys));
    let published = json(&keys);
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    let pq_pub = std::fs::read_to_string(d.join("pq.pub")).unwrap();
    assert_eq!(published["ml_dsa_keys"][0]["public_key"], pq_pub.trim());
    std::fs::write(d.join("keys.json"), &keys).unwrap();
    drop(p);
    write_all_keys(d);
    let verify_with = |manifest: &str, pq_file: &str| {
        tally()
            .current_dir(d)
            .args([
                "reward",
                "verify",
                manifest,
                "--inputs",
                "inputs.json",
                "--policy",
                "sp.json",
            ])
            .args([
                "--trusted-keys",
                "all-keys.json",
                "--pq-public-key",
                pq_file,
                "--require-pq",
            ])
            .output()
            .unwrap()
    };
    let verify = |manifest: &str| verify_with(manifest, "pq.pub");
    for pq_file in ["pq.pub", "keys.json"] {
        let out = verify_with("m.json", pq_file);
        assert!(
            out.status.success(),
            "{pq_file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("ML-DSA-65 seal verified"));
    }
    // The route's answer also serves as a trusted-keys file (its ML-DSA
    // keys aside), and another ML-DSA key's answer fails the seal.
    let other = tally()
        .args(["keys", "generate-ml-dsa", "--out"])
        .arg(d.join("other.key"))
        .output()
        .unwrap();
    assert!(other.status.success());
    let mut forged = published.clone();
    let other_pub = String::from_utf8(other.stdout).unwrap();
    let other_key = tally_keys::ml_dsa::MlDsaVerifyingKey::parse(&other_pub).unwrap();
    forged["ml_dsa_keys"][0] = serde_json::to_value(other_key.trusted_entry()).unwrap();
    std::fs::write(d.join("other-keys.json"), forged.to_string()).unwrap();
    assert_eq!(
        verify_with("m.json", "other-keys.json").status.code(),
        Some(1)
    );
    let t = tally_keys::TrustedKeys::read_file(&d.join("keys.json")).unwrap();
    assert_eq!(t.len(), 1);

    let mut stripped = sealed.clone();
    stripped.as_object_mut().unwrap().remove("pq");
    std::fs::write(d.join("stripped.json"), stripped.to_string()).unwrap();
    assert_eq!(verify("stripped.json").status.code(), Some(1));

    let mut tampered = sealed.clone();
    let sig = tampered["pq"]["signature"].as_str().unwrap().to_owned();
    let flipped = if sig.ends_with('0') { '1' } else { '0' };
    tampered["pq"]["signature"] = format!("{}{flipped}", &sig[..sig.len() - 1]).into();
    std::fs::write(d.join("tampered.json"), tampered.to_string()).unwrap();
    assert_eq!(verify("tampered.json").status.code(), Some(1));
}
