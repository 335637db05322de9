//! `tally reward manifests | diff | duplicate-intents`: forensics by run key
//! and policy hash over a `tally serve` data directory (tally-serve's
//! [`tally_serve::forensics`], read-only: safe while the server runs).
//!
//! ```text
//! tally reward manifests --data-dir DIR [--policy-hash H] [--run-key K] [--json]
//! tally reward diff --manifest M.json --inputs I.json --policy SP.json --trusted-keys T.json
//!                   [--payouts PL.json] [--max-differences N] [--json]
//! tally reward diff --data-dir DIR --run-key K --trusted-keys T.json [--inputs I.json] [...]
//! tally reward duplicate-intents --data-dir DIR [--run-key K] [--json]
//! ```
//!
//! A store sealed at rest is read with the server's key file
//! (`--at-rest-key-file`, mode 0600, and `--at-rest-keyring` for old keys).
//! Exit codes: `0` nothing found (identical; no duplicate), `3` found (a
//! difference; an intent paid more than once, a foreign payment or a
//! conflicting id), `1` a check failed (a policy not signed by a trusted
//! key, a recomputation refused), `2` bad usage or input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tally_reward::Limits;
use tally_reward::compute::{Payout, compute};
use tally_reward::manifest::{Manifest, build, differences};
use tally_reward::registry::AcceptedRun;
use tally_serve::forensics::{
    IntentCount, Listed, PayoutDiff, Store, count_payments, diff_payouts,
};
use tally_serve::vault::Keyring;

use crate::input::{Failure, read_file};

use super::{load_inputs, load_manifest, load_trusted, print_json, with_path};

/// The largest payout list read (`--payouts`): 1 GiB.
const MAX_PAYOUTS_BYTES: u64 = 1 << 30;

/// The at-rest keys that open a store sealed at rest (the server's).
#[derive(Clone, Debug, clap::Args)]
pub(super) struct AtRestKeys {
    /// The at-rest key file (the server's `--at-rest-key-file`), when the
    /// store is sealed at rest.
    #[arg(long, env = "AT_REST_KEY_FILE", value_name = "FILE")]
    at_rest_key_file: Option<PathBuf>,
    /// Old at-rest keys (the server's `--at-rest-keyring`).
    #[arg(
        long,
        env = "AT_REST_KEYRING",
        requires = "at_rest_key_file",
        value_name = "DIR"
    )]
    at_rest_keyring: Option<PathBuf>,
}

/// The server's data directory and the at-rest keys that open it.
#[derive(Debug, clap::Args)]
pub(super) struct DataDir {
    /// The server's data directory (`tally serve --data-dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    keys: AtRestKeys,
}

impl DataDir {
    fn open(&self) -> Result<Store, Failure> {
        let keys = match &self.keys.at_rest_key_file {
            Some(key) => Some(Arc::new(
                Keyring::load(key, self.keys.at_rest_keyring.as_deref())
                    .map_err(|e| Failure::usage(e.to_string()))?,
            )),
            None => None,
        };
        Store::open(&self.data_dir, keys).map_err(store_failure)
    }
}

fn store_failure(e: tally_serve::forensics::ForensicsError) -> Failure {
    use tally_serve::forensics::ForensicsError as E;
    match e {
        // A stored file that does not open (tampered, unknown key) or
        // decode: the store failed a check.
        E::File { .. } => Failure::failed(e.to_string()),
        E::NoStore(_) | E::TooMany => Failure::usage(e.to_string()),
    }
}

/// `tally reward manifests`.
pub(super) fn manifests(
    dir: &DataDir,
    policy_hash: Option<&str>,
    run_key: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let listed: Vec<Listed> = dir
        .open()?
        .manifests()
        .map_err(store_failure)?
        .into_iter()
        .filter(|l| policy_hash.is_none_or(|h| l.policy_hash.as_deref() == Some(h)))
        .filter(|l| run_key.is_none_or(|k| l.run_key == k))
        .collect();
    if json {
        return print_json(&listed);
    }
    println!("epoch\tstatus\trun_key\tpolicy_hash\tinputs_cid\tmanifest_cid");
    for l in &listed {
        let status = serde_json::to_value(l.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!(
            "{}\t{status}\t{}\t{}\t{}\t{}",
            l.epoch,
            l.run_key,
            l.policy_hash.as_deref().unwrap_or("-"),
            l.inputs_cid.as_deref().unwrap_or("-"),
            l.manifest_cid.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// What `diff` compares: given as files, or read from a data directory.
#[derive(Debug, clap::Args)]
pub(super) struct DiffArgs {
    /// The sealed manifest (JSON), with --inputs and --policy.
    #[arg(long, value_name = "M.json", conflicts_with_all = ["data_dir", "run_key"],
        requires_all = ["inputs", "policy"])]
    manifest: Option<PathBuf>,
    /// The manifest's payout list (canonical JSON, `compute --payouts`),
    /// checked against its `payouts_cid`: without it only the manifest's
    /// fields are compared, not its payees.
    #[arg(long, value_name = "PL.json", requires = "manifest")]
    payouts: Option<PathBuf>,
    /// The epoch inputs (JSON); with --data-dir, instead of the stored blob.
    #[arg(long, value_name = "I.json")]
    inputs: Option<PathBuf>,
    /// The signed policy (JSON), with --manifest.
    #[arg(long, value_name = "SP.json", requires = "manifest")]
    policy: Option<PathBuf>,
    /// The server's data directory: the run, its policy and its inputs
    /// are read from its store.
    #[arg(long, value_name = "DIR", requires = "run_key")]
    data_dir: Option<PathBuf>,
    /// The run (64 hex digits), with --data-dir.
    #[arg(long, value_name = "K", requires = "data_dir")]
    run_key: Option<String>,
    #[command(flatten)]
    keys: AtRestKeys,
    /// Trusted public keys (JSON): the policy's signer must be one.
    #[arg(long, value_name = "T.json")]
    trusted_keys: PathBuf,
    /// Differing payees shown at most (the count is of all of them).
    #[arg(long, default_value_t = 20, value_name = "N",
        value_parser = clap::value_parser!(u32).range(0..=100_000))]
    max_differences: u32,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The run under examination: its manifest, the payouts it settles (when
/// known), and what recomputes it.
struct Examined {
    manifest: Manifest,
    manifest_cid: String,
    payouts: Option<Vec<Payout>>,
    inputs: tally_reward::inputs::EpochInputs,
    policy: tally_reward::policy::SignedPolicy,
}

fn examined_from_files(a: &DiffArgs, manifest: &Path) -> Result<Examined, Failure> {
    let (Some(inputs), Some(policy)) = (&a.inputs, &a.policy) else {
        return Err(Failure::usage("--manifest needs --inputs and --policy"));
    };
    let sealed = load_manifest(manifest)?;
    let payouts = match &a.payouts {
        Some(path) => {
            let bytes = read_file(path, MAX_PAYOUTS_BYTES)?;
            if tally_reward::cid::Cid::of(&bytes) != sealed.manifest.payouts_cid {
                return Err(Failure::usage(format!(
                    "{}: not the manifest's payout list (its CID is not the manifest's payouts_cid)",
                    path.display()
                )));
            }
            let list: Vec<Payout> = serde_json::from_slice(&bytes)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            Some(list)
        }
        None => None,
    };
    let signed = with_path(
        policy,
        tally_reward::policy::SignedPolicy::from_json(&read_file(
            policy,
            tally_reward::policy::MAX_POLICY_BYTES as u64,
        )?),
    )?;
    Ok(Examined {
        manifest_cid: sealed.manifest.cid()?.to_string(),
        manifest: sealed.manifest,
        payouts,
        inputs: load_inputs(inputs, &Limits::default())?,
        policy: signed,
    })
}

fn examined_from_store(a: &DiffArgs, data_dir: &Path, run_key: &str) -> Result<Examined, Failure> {
    let store = DataDir {
        data_dir: data_dir.to_path_buf(),
        keys: a.keys.clone(),
    }
    .open()?;
    let run: AcceptedRun = store.run(run_key).map_err(store_failure)?.ok_or_else(|| {
        Failure::usage(format!(
            "no accepted run with run key {run_key} in {}",
            data_dir.display()
        ))
    })?;
    let m = &run.sealed.manifest;
    let policy = store
        .policy(&m.policy_cid)
        .map_err(store_failure)?
        .ok_or_else(|| Failure::usage(format!("policy {} is not stored", m.policy_cid)))?;
    let limits = Limits::default();
    let inputs = match &a.inputs {
        Some(path) => load_inputs(path, &limits)?,
        None => store
            .inputs(&m.inputs_cid, &limits)
            .map_err(store_failure)?
            .ok_or_else(|| {
                Failure::usage(format!(
                    "no stored blob holds the inputs {} (give them with --inputs)",
                    m.inputs_cid
                ))
            })?,
    };
    Ok(Examined {
        manifest_cid: run.manifest_cid.to_string(),
        payouts: Some(run.payouts),
        manifest: run.sealed.manifest,
        inputs,
        policy,
    })
}

#[derive(Serialize)]
struct DiffReport<'a> {
    identical: bool,
    epoch: String,
    run_key: String,
    manifest_cid: &'a str,
    manifest_root: String,
    recomputed_root: String,
    /// The manifest fields that differ.
    fields: Vec<&'static str>,
    /// Whether the payees were compared (the payout list was known).
    payees_compared: bool,
    /// Payees whose payout differs, in all.
    payees_differing: u64,
    /// The first of them.
    differences: Vec<PayoutDiff>,
}

/// `tally reward diff`.
pub(super) fn diff(a: &DiffArgs) -> Result<(), Failure> {
    let ex = match (&a.manifest, &a.data_dir, &a.run_key) {
        (Some(m), _, _) => examined_from_files(a, m)?,
        (None, Some(dir), Some(key)) => examined_from_store(a, dir, key)?,
        _ => {
            return Err(Failure::usage(
                "give --manifest with --inputs and --policy, or --data-dir with --run-key",
            ));
        }
    };
    let trusted = load_trusted(&a.trusted_keys)?;
    let policy = ex.policy.verify(&trusted)?;
    let limits = Limits::default();
    let outcome = compute(&ex.inputs, &policy, &limits)?;
    let d = &outcome.distribution;
    let recomputed = build(
        &ex.inputs,
        ex.inputs.cid()?,
        &policy,
        d,
        ex.manifest.previous,
    )?;
    let fields = differences(&ex.manifest, &recomputed);
    let max = usize::try_from(a.max_differences).unwrap_or(usize::MAX);
    let (shown, count) = match &ex.payouts {
        Some(p) => diff_payouts(p, &d.payouts, max),
        None => (Vec::new(), 0),
    };
    let report = DiffReport {
        identical: fields.is_empty() && count == 0,
        epoch: ex.manifest.epoch.to_string(),
        run_key: ex.manifest.run_key.to_string(),
        manifest_cid: &ex.manifest_cid,
        manifest_root: ex.manifest.payouts_root.to_string(),
        recomputed_root: recomputed.payouts_root.to_string(),
        fields,
        payees_compared: ex.payouts.is_some(),
        payees_differing: count,
        differences: shown,
    };
    if a.json {
        print_json(&report)?;
    } else {
        print_diff(&report);
    }
    if report.identical {
        Ok(())
    } else {
        Err(Failure::Found(format!(
            "manifest {} does not recompute: {} field(s), {} payee(s) differ",
            report.manifest_cid,
            report.fields.len(),
            report.payees_differing
        )))
    }
}

fn print_diff(r: &DiffReport<'_>) {
    if r.identical {
        println!(
            "identical: manifest {} (epoch {}, run key {}) recomputes to the same root {}",
            r.manifest_cid, r.epoch, r.run_key, r.manifest_root
        );
        return;
    }
    println!(
        "differs: manifest {} (epoch {}, run key {})",
        r.manifest_cid, r.epoch, r.run_key
    );
    println!(
        "root: manifest {} recomputed {}",
        r.manifest_root, r.recomputed_root
    );
    println!("fields: {}", r.fields.join(", "));
    if !r.payees_compared {
        println!("payees: not compared (give --payouts, or read the run from --data-dir)");
        return;
    }
    println!(
        "payees differing: {} (first {} shown)",
        r.payees_differing,
        r.differences.len()
    );
    println!("account\tmanifest\trecomputed");
    let amount = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    for d in &r.differences {
        println!(
            "{}\t{}\t{}",
            d.account,
            amount(d.manifest),
            amount(d.recomputed)
        );
    }
}

/// `tally reward duplicate-intents`.
pub(super) fn duplicate_intents(
    dir: &DataDir,
    run_key: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let store = dir.open()?;
    let mut runs = store.runs().map_err(store_failure)?;
    if let Some(k) = run_key {
        runs.retain(|r| r.sealed.manifest.run_key.to_string() == k);
        if runs.is_empty() {
            return Err(Failure::usage(format!(
                "no accepted run with run key {k} in {}",
                dir.data_dir.display()
            )));
        }
    }
    runs.sort_by(|a, b| a.sealed.manifest.epoch.cmp(&b.sealed.manifest.epoch));
    // The ledger of the same data directory (the server's journal and
    // snapshots), read without a lock.
    let ledger = crate::ledger::load(&dir.data_dir)?;
    let counts: Vec<IntentCount> = count_payments(&ledger, &runs)?;
    if json {
        print_json(&counts)?;
    } else {
        println!("epoch\trun_key\tintents\taccepted\tduplicates\tforeign\tconflicts");
        for c in &counts {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.epoch, c.run_key, c.intents, c.accepted, c.duplicates, c.foreign, c.conflicts
            );
            if !c.extra_ids.is_empty() {
                println!("  extra payments: {}", c.extra_ids.join(" "));
            }
        }
    }
    let bad: Vec<&IntentCount> = counts.iter().filter(|c| c.suspicious()).collect();
    if bad.is_empty() {
        Ok(())
    } else {
        let dups: u64 = bad
            .iter()
            .map(|c| c.duplicates)
            .fold(0, u64::saturating_add);
        Err(Failure::Found(format!(
            "{} run(s) paid more than their intents ({dups} duplicate payment(s))",
            bad.len()
        )))
    }
}
