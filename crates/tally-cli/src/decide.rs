//! `tally decide`: decide a request under a policy, and verify a recorded
//! decision by replay.
//!
//! ```text
//! tally decide --policy P.json --request R.json [--explain] [--log L [--key-file F]]
//! tally decide verify (--policy P.json | --policies DIR) --request R.json --decision D.json
//! tally decide replay LOG --policies DIR [--key-file F] [--old-key-file F…]
//! ```
//!
//! `tally decide` prints `{"decision":…,"bundle":…}` (plus `"explanation"`
//! with `--explain`); with `--log` it also appends the decision's record to
//! that audit log (after replaying it) and says so on stderr with the
//! record's sequence. `verify` takes that output back as `--decision` and
//! exits 1 naming what differs. With `--policies DIR` the policy is the one
//! of the directory's `*.json` files whose digest the bundle names. `replay`
//! verifies a whole audit log and re-runs every decision record in it
//! against the policy it names; it exits 1 at the first record that does
//! not check, naming its sequence.

use std::fs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::audit::{self, KeyArgs};
use crate::input::{Failure, finish, read_file};
use serde::{Deserialize, Serialize};
use tally_audit::{AuditLog, VerifyOptions};
use tally_decide::audited::{AuditedError, append_decision, replay_log_file};
use tally_decide::{
    AuditBundle, CandidateReport, Decision, Error, MAX_DOCUMENT_JSON_BYTES, MAX_POLICY_JSON_BYTES,
    Policy, PolicyResolver, PolicySet, Request, verify_bundle,
};

/// The largest file `--decision` reads: 64 MiB (an explanation of a full
/// catalog is about 20 MiB).
const MAX_DECISION_FILE_BYTES: u64 = 64 << 20;
/// The most policy files `--policies` reads from a directory.
const MAX_POLICY_FILES: usize = 1_024;

/// Arguments of `tally decide`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    verb: Option<Verb>,
    /// Policy file (JSON).
    #[arg(long, value_name = "P.json", required = true)]
    policy: Option<PathBuf>,
    /// Request file (JSON).
    #[arg(long, value_name = "R.json", required = true)]
    request: Option<PathBuf>,
    /// Also print every candidate's gate results and utility terms.
    #[arg(long)]
    explain: bool,
    /// Append the decision's record to this audit log (it must exist:
    /// `tally audit init`).
    #[arg(long, value_name = "LOG")]
    log: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Replay a recorded decision and check its bundle; exit 1 on a mismatch.
    Verify(VerifyArgs),
    /// Verify an audit log and replay every decision record in it; exit 1
    /// at the first record that does not check.
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The audit log.
    log: PathBuf,
    /// Directory of policy files; each record's policy digest picks one.
    #[arg(long, value_name = "DIR")]
    policies: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["policy", "policies"])))]
struct VerifyArgs {
    /// Policy file (JSON).
    #[arg(long, value_name = "P.json")]
    policy: Option<PathBuf>,
    /// Directory of policy files; the bundle's policy digest picks one.
    #[arg(long, value_name = "DIR")]
    policies: Option<PathBuf>,
    /// Request file (JSON).
    #[arg(long, value_name = "R.json")]
    request: PathBuf,
    /// The output of `tally decide` to verify.
    #[arg(long, value_name = "D.json")]
    decision: PathBuf,
}

/// What `tally decide` prints and `tally decide verify` reads back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recorded {
    decision: Decision,
    bundle: AuditBundle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    explanation: Option<Vec<CandidateReport>>,
}

/// Runs `tally decide …`.
pub fn run(args: Args) -> ExitCode {
    let outcome = match args.verb {
        Some(Verb::Verify(verify)) => run_verify(&verify),
        Some(Verb::Replay(replay)) => run_replay(&replay),
        None => run_decide(
            args.policy.as_deref(),
            args.request.as_deref(),
            args.explain,
            args.log.as_deref().map(|log| (log, &args.keys)),
        ),
    };
    finish("tally decide", outcome)
}

fn run_decide(
    policy: Option<&Path>,
    request: Option<&Path>,
    explain: bool,
    log: Option<(&Path, &KeyArgs)>,
) -> Result<(), Failure> {
    let (Some(policy), Some(request)) = (policy, request) else {
        return Err(Failure::Usage(
            "--policy and --request are required".to_owned(),
        ));
    };
    let policy = read_policy(policy)?;
    let request = read_request(request)?;
    let (decision, bundle) = policy.decide(&request);
    let explanation = explain.then(|| policy.explain(&request).candidates);
    if let Some((path, keys)) = log {
        let opts = audit::log_options(keys, None)?;
        let (log, _report) = AuditLog::open(path, opts).map_err(Failure::from)?;
        let receipt =
            append_decision(&log, &policy, &request, &decision).map_err(audited_failure)?;
        log.close().map_err(Failure::from)?;
        eprintln!("appended to {} as record {}", path.display(), receipt.seq);
    }
    print_json(&Recorded {
        decision,
        bundle,
        explanation,
    })
}

fn run_verify(args: &VerifyArgs) -> Result<(), Failure> {
    let request = read_request(&args.request)?;
    let bytes = read_file(&args.decision, MAX_DECISION_FILE_BYTES)?;
    let recorded: Recorded = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.decision.display())))?;
    let policy = match (&args.policy, &args.policies) {
        (Some(path), _) => read_policy(path)?,
        (None, Some(dir)) => {
            let set = read_policy_dir(dir)?;
            let digest = recorded.bundle.policy_digest;
            let Some(policy) = set.resolve(&digest) else {
                let message = format!("no policy in {} has digest {digest}", dir.display());
                return Err(Failure::Failed(message));
            };
            policy.clone()
        }
        (None, None) => {
            return Err(Failure::Usage(
                "--policy or --policies is required".to_owned(),
            ));
        }
    };
    verify_bundle(&policy, &request, &recorded.decision, &recorded.bundle)
        .map_err(|error| Failure::Failed(describe(&error)))?;
    if let Some(explanation) = &recorded.explanation
        && *explanation != policy.explain(&request).candidates
    {
        return Err(Failure::Failed(
            "field `explanation` differs from its replay".to_owned(),
        ));
    }
    println!(
        "verified: decision {} replays under policy {}",
        recorded.bundle.decision_digest, recorded.bundle.policy_digest
    );
    Ok(())
}

fn run_replay(args: &ReplayArgs) -> Result<(), Failure> {
    let policies = read_policy_dir(&args.policies)?;
    let opts = VerifyOptions::new().keys(audit::keyring(&args.keys)?);
    let report = replay_log_file(&args.log, &opts, &policies).map_err(audited_failure)?;
    println!(
        "replayed {} decisions under {} policies ({} other records skipped, {} records verified{})",
        report.decisions,
        report.policies.len(),
        report.skipped,
        report.records,
        report
            .last_decision
            .map(|seq| format!(", last decision at record {seq}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Replay failures and refusals are failed checks (exit 1); the log's own
/// errors keep the audit command's classification.
fn audited_failure(error: AuditedError) -> Failure {
    match error {
        AuditedError::Log(e) => Failure::from(e),
        AuditedError::Open(e) => Failure::Usage(format!("cannot open the log: {e}")),
        AuditedError::Replay { seq, offset, cause } => Failure::Failed(format!(
            "record {seq} (offset {offset}) does not replay: {}",
            describe(&cause)
        )),
        other => Failure::Failed(other.to_string()),
    }
}

/// A verification failure, naming every differing field with both values.
fn describe(error: &Error) -> String {
    let Error::DecisionMismatch(mismatch) = error else {
        return format!("verification failed: {error}");
    };
    let recorded = serde_json::to_value(mismatch.recorded).unwrap_or_default();
    let replayed = serde_json::to_value(mismatch.replayed).unwrap_or_default();
    let lines: Vec<String> = mismatch
        .fields
        .iter()
        .map(|field| {
            let name = field.name();
            let null = serde_json::Value::Null;
            let recorded = recorded.get(name).unwrap_or(&null);
            let replayed = replayed.get(name).unwrap_or(&null);
            format!("field `{name}` differs: recorded {recorded}, replayed {replayed}")
        })
        .collect();
    format!(
        "verification failed: the decision does not replay\n  {}",
        lines.join("\n  ")
    )
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Usage(format!("cannot encode the output: {e}")))?;
    println!("{text}");
    Ok(())
}

fn read_policy(path: &Path) -> Result<Policy, Failure> {
    let bytes = read_file(path, MAX_POLICY_JSON_BYTES as u64)?;
    Policy::from_json(&bytes).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

fn read_request(path: &Path) -> Result<Request, Failure> {
    let bytes = read_file(path, MAX_DOCUMENT_JSON_BYTES as u64)?;
    Request::from_json(&bytes).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

/// Every `*.json` file of `dir` (at most [`MAX_POLICY_FILES`]) as a policy,
/// indexed by digest. A file that is not a valid policy is an error.
fn read_policy_dir(dir: &Path) -> Result<PolicySet, Failure> {
    let entries =
        fs::read_dir(dir).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?
            .path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            paths.push(path);
        }
        if paths.len() > MAX_POLICY_FILES {
            let message = format!(
                "{} has more than {MAX_POLICY_FILES} policy files",
                dir.display()
            );
            return Err(Failure::Usage(message));
        }
    }
    paths.sort();
    let mut set = PolicySet::new();
    for path in paths {
        set.insert(read_policy(&path)?);
    }
    Ok(set)
}
