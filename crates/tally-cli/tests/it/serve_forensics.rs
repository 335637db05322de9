//! `tally reward manifests | diff | duplicate-intents` over a running
//! `tally serve`'s data directory, sealed at rest: the runs listed with
//! their status and filtered, a run recomputed identical (exit 0) and a
//! changed one listing its differing payees, bounded (exit 3), and the
//! ledger's payments counted: none twice after a normal settlement, then a
//! planted second payment of one intent found (exit 3).

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use tally_reward::ident::AccountId;
use tally_reward::manifest::Hex32;
use tally_reward::settle::{Role, ledger_account_id, run_tag, transfer_id};

use crate::serve_reward::{compute, http, inputs, json, signed_policy, start_with, store_policy};
use crate::support::tally;

/// Payees per epoch.
const PAYEES: usize = 40;

fn forensics(args: &[&str], data: &Path, key: &Path) -> Output {
    tally()
        .arg("reward")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--at-rest-key-file")
        .arg(key)
        .env_remove("AT_REST_KEY_FILE")
        .env_remove("AT_REST_KEYRING")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn forensics_list_diff_and_count_the_runs_of_a_sealed_store_and_find_a_planted_double_payment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let signed = signed_policy(d);
    let key = d.join("at-rest.key");
    let made = tally()
        .args(["serve", "--at-rest-new-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let p = start_with(d, &[OsStr::new("--at-rest-key-file"), key.as_os_str()]);
    let data = d.join("data");
    let policy_cid = store_policy(&p, &signed);
    // Epoch f-0 computed and settled, f-1 computed only.
    let doc0 = inputs("f-0", 0, PAYEES);
    let run0 = compute(&p, &policy_cid, "f-0", &doc0);
    let (status, _) = http(
        &p.addr,
        &p.token,
        "POST",
        "/v1/rewarder/epochs/f-0/settle",
        "settle-f-0",
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    let run1 = compute(&p, &policy_cid, "f-1", &inputs("f-1", 1, PAYEES));
    let key0 = run0["run_key"].as_str().unwrap().to_owned();
    let key1 = run1["run_key"].as_str().unwrap().to_owned();

    // manifests: read while the server runs, through the at-rest key.
    let listed = forensics(&["manifests", "--json"], &data, &key);
    assert!(listed.status.success(), "{listed:?}");
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(
        (rows[0]["epoch"].as_str(), rows[0]["status"].as_str()),
        (Some("f-0"), Some("settled"))
    );
    assert_eq!(
        (rows[1]["epoch"].as_str(), rows[1]["status"].as_str()),
        (Some("f-1"), Some("sealed"))
    );
    assert_eq!(rows[0]["run_key"].as_str(), Some(key0.as_str()));
    assert_eq!(rows[0]["policy_hash"].as_str(), Some(policy_cid.as_str()));
    assert_eq!(
        rows[0]["manifest_cid"].as_str(),
        run0["manifest_cid"].as_str()
    );
    let one = forensics(&["manifests", "--run-key", &key1], &data, &key);
    assert!(one.status.success());
    let text = stdout(&one);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains(&key1) && !text.contains(&key0), "{text}");
    let none = forensics(
        &["manifests", "--policy-hash", "bafkrnone", "--json"],
        &data,
        &key,
    );
    assert_eq!(stdout(&none).trim(), "[]");
    // Without the key the sealed files do not open: a failed check.
    let sealed = tally()
        .args(["reward", "manifests", "--data-dir"])
        .arg(&data)
        .env_remove("AT_REST_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(sealed.status.code(), Some(1), "{sealed:?}");

    // diff: the stored run recomputes to its manifest.
    let trusted = d.join("trusted.json");
    let t = trusted.to_str().unwrap();
    let same = forensics(
        &["diff", "--run-key", &key0, "--trusted-keys", t],
        &data,
        &key,
    );
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    assert!(
        stdout(&same).starts_with("identical: manifest "),
        "{}",
        stdout(&same)
    );
    // Other measurements for the same epoch: every payee differs; the
    // output is bounded, the count is not.
    let changed = d.join("changed.json");
    std::fs::write(
        &changed,
        doc0.replace(r#""bytes_stored":"#, r#""bytes_stored":1"#),
    )
    .unwrap();
    let differs = forensics(
        &[
            "diff",
            "--run-key",
            &key0,
            "--trusted-keys",
            t,
            "--inputs",
            changed.to_str().unwrap(),
            "--max-differences",
            "3",
            "--json",
        ],
        &data,
        &key,
    );
    assert_eq!(differs.status.code(), Some(3), "{differs:?}");
    let r: serde_json::Value = serde_json::from_slice(&differs.stdout).unwrap();
    assert_eq!(r["identical"], false);
    assert_ne!(r["manifest_root"], r["recomputed_root"]);
    let fields: Vec<&str> = r["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"payouts_root") && fields.contains(&"inputs_cid"),
        "{fields:?}"
    );
    assert_eq!(r["differences"].as_array().unwrap().len(), 3, "{r}");
    let differing = r["payees_differing"].as_u64().unwrap();
    assert!(differing > 3 && differing <= PAYEES as u64, "{r}");
    let first = &r["differences"][0];
    assert_ne!(first["manifest"], first["recomputed"]);

    // diff from files: the manifest, its payout list, the inputs, the policy.
    let m = d.join("m0.json");
    std::fs::write(&m, run0["sealed"].to_string()).unwrap();
    let i = d.join("i0.json");
    std::fs::write(&i, &doc0).unwrap();
    let sp = d.join("sp.json");
    std::fs::write(&sp, &signed).unwrap();
    let files = |inputs: &Path| {
        tally()
            .args(["reward", "diff", "--manifest"])
            .arg(&m)
            .arg("--inputs")
            .arg(inputs)
            .arg("--policy")
            .arg(&sp)
            .arg("--trusted-keys")
            .arg(&trusted)
            .output()
            .unwrap()
    };
    let same = files(&i);
    assert_eq!(same.status.code(), Some(0), "{same:?}");
    let differs = files(&changed);
    assert_eq!(differs.status.code(), Some(3), "{differs:?}");
    assert!(
        stdout(&differs).contains("payees: not compared"),
        "{}",
        stdout(&differs)
    );

    // duplicate-intents: a normal settlement pays every intent once.
    let counted = forensics(&["duplicate-intents", "--json"], &data, &key);
    assert_eq!(counted.status.code(), Some(0), "{counted:?}");
    let c: serde_json::Value = serde_json::from_slice(&counted.stdout).unwrap();
    let intents = c[0]["intents"].as_u64().unwrap();
    assert!(intents >= PAYEES as u64, "{c}");
    assert_eq!(c[0]["accepted"].as_u64(), Some(intents), "{c}");
    assert_eq!(c[0]["duplicates"].as_u64(), Some(0), "{c}");
    assert_eq!(c[1]["accepted"].as_u64(), Some(0), "{c}");

    // A second payment of one intent, under another id, tagged with the run.
    let payee = "p0-00007";
    let (status, body) = http(
        &p.addr,
        &p.token,
        "GET",
        &format!("/v1/rewarder/epochs/f-0/payouts/{payee}"),
        "-",
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    let amount = json(&body)["payout"]["amount"].as_u64().unwrap();
    let rk: [u8; 32] =
        tally_encoding::hex::decode_array(&key0, tally_encoding::hex::Case::Lower).unwrap();
    // The service tags its settlement transfers with the run.
    let paid = transfer_id(&Hex32(rk), Role::Payout, &AccountId::new(payee).unwrap());
    let (status, body) = http(
        &p.addr,
        &p.token,
        "GET",
        &format!("/v1/ledger/transfers/{paid}"),
        "-",
        b"",
    )
    .unwrap();
    assert_eq!(status, 200);
    // (As text: a JSON value would read a 128-bit integer as a float.)
    let tag = format!(r#""user_data_128":{}"#, run_tag(&Hex32(rk)));
    assert!(String::from_utf8_lossy(&body).contains(&tag), "{tag}");
    let transfer = format!(
        r#"{{"transfers":[{{"id":4242,"debit_account_id":{},"credit_account_id":{},"amount":{amount},"ledger":1,"code":1,"user_data_128":{}}}]}}"#,
        ledger_account_id(&AccountId::new("pool:storage").unwrap()),
        ledger_account_id(&AccountId::new(payee).unwrap()),
        run_tag(&Hex32(rk)),
    );
    let (status, body) = http(
        &p.addr,
        &p.token,
        "POST",
        "/v1/ledger/transfers",
        "twice",
        transfer.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        json(&body)["results"][0]["result"],
        "ok",
        "{}",
        String::from_utf8_lossy(&body)
    );
    let found = forensics(&["duplicate-intents", "--run-key", &key0], &data, &key);
    assert_eq!(found.status.code(), Some(3), "{found:?}");
    let text = stdout(&found);
    let row = text.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        &cells[1..5],
        [
            key0.as_str(),
            &intents.to_string(),
            &intents.to_string(),
            "1"
        ],
        "{text}"
    );
    assert!(text.contains(&format!("{:032x}", 4242)), "{text}");
    assert!(
        String::from_utf8_lossy(&found.stderr).contains("1 duplicate payment"),
        "{found:?}"
    );
}
