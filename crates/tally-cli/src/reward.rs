//! `tally reward`: reward epochs on the command line (the `tally-reward`
//! crate).
//!
//! ```text
//! tally reward keygen --out K                          # secret key file (0600); prints the trusted-keys JSON
//! tally reward sign-policy --policy P.json --key-file K
//! tally reward compute --inputs I.json --policy SP.json --key-file K --trusted-keys T.json
//!                      [--previous M.json] [--intents OUT.json] [--payouts OUT.json]
//! tally reward verify M.json --inputs I.json --policy SP.json --trusted-keys T.json
//!                     [--previous PREV.json] [--pq-public-key P.pub]… [--require-pq]
//! tally reward prove M.json ACCOUNT --inputs I.json --policy SP.json --trusted-keys T.json
//! tally reward verify-proof PROOF.json --manifest M.json --trusted-keys T.json
//!                     [--pq-public-key P.pub]… [--require-pq]
//! tally reward manifests --data-dir DIR [--policy-hash H] [--run-key K] [--json]
//! tally reward diff --manifest M.json --inputs I.json --policy SP.json --trusted-keys T.json
//!                   [--payouts PL.json] [--max-differences N] [--json]
//! tally reward diff --data-dir DIR --run-key K --trusted-keys T.json [--inputs I.json]
//! tally reward duplicate-intents --data-dir DIR [--run-key K] [--json]
//! ```
//!
//! The last three are forensics over a `tally serve` data directory
//! ([`forensics`]).
//!
//! Post-quantum seals: `compute --pq-key-file K` (an ML-DSA-65 key file
//! from `tally keys generate-ml-dsa`) seals the manifest twice, Ed25519 and
//! ML-DSA-65 over the same bytes. `verify` and `verify-proof` check a
//! manifest's ML-DSA seal against the public keys of `--pq-public-key`:
//! when keys are given, a seal that does not verify, or is by a key not
//! given, fails (exit 1); without keys a present seal is reported as not
//! checked. With `--require-pq` (or `REQUIRE_PQ_ON=true`, which needs
//! `--pq-public-key`) a manifest without a valid ML-DSA seal fails too.
//!
//! The secret key is read from `--key-file` (mode 0600) or the environment
//! variable `TALLY_REWARD_KEY` (the file's text), never from an argument.
//! Exit codes: `0` done, `1` a check failed or the run was refused (a bad
//! signature, a manifest that does not recompute, a proof that does not
//! verify, a window outside the policy, a cost over the limit), `2` bad
//! usage or input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::input::{Failure, finish, read_file};

mod forensics;

use serde::Serialize;
use tally_reward::ident::AccountId;
use tally_reward::inputs::EpochInputs;
use tally_reward::keys::{MlDsaSigningKey, MlDsaTrustedKeys, SigningKey, TrustedKeys};
use tally_reward::manifest::{
    MAX_MANIFEST_BYTES, PayoutProof, PqStatus, SealedManifest, Sealer, payouts_bytes, prove,
    verify, verify_link, verify_proof,
};
use tally_reward::policy::{MAX_POLICY_BYTES, Policy, SignedPolicy};
use tally_reward::registry::{MemoryStore, RunOutcome, run_epoch};
use tally_reward::settle::Ledger;
use tally_reward::{Error, Limits};

/// Environment variable holding the secret key file's text.
const KEY_ENV: &str = "TALLY_REWARD_KEY";
/// The largest trusted-keys or proof file read: 1 MiB.
const MAX_SMALL_FILE: usize = 1 << 20;

/// Reward epochs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RewardCommand,
}

#[derive(Debug, clap::Args)]
struct RunFiles {
    /// Epoch inputs (JSON).
    #[arg(long, value_name = "I.json")]
    inputs: PathBuf,
    /// Signed policy (JSON, from `sign-policy`).
    #[arg(long, value_name = "SP.json")]
    policy: PathBuf,
    /// Trusted public keys (JSON, from `keygen`).
    #[arg(long, value_name = "T.json")]
    trusted_keys: PathBuf,
}

/// The post-quantum check of `verify` and `verify-proof`.
#[derive(Debug, clap::Args)]
struct PqArgs {
    /// An ML-DSA-65 public key file (`tally keys generate-ml-dsa`) whose
    /// seals are accepted; repeat for several. A manifest's ML-DSA seal is
    /// checked whenever one is given.
    #[arg(long, value_name = "P.pub")]
    pq_public_key: Vec<PathBuf>,
    /// Fail a manifest without a valid ML-DSA seal.
    #[arg(long, env = "REQUIRE_PQ_ON", requires = "pq_public_key")]
    require_pq: bool,
}

impl PqArgs {
    /// Checks `sealed`'s ML-DSA seal; says what was found.
    fn check(&self, sealed: &SealedManifest) -> Result<String, Failure> {
        let keys = MlDsaTrustedKeys::read_files(&self.pq_public_key)?;
        Ok(match sealed.verify_pq(&keys, self.require_pq)? {
            PqStatus::Verified(id) => format!("ML-DSA-65 seal verified (key {id})"),
            PqStatus::Absent => "no ML-DSA seal".to_owned(),
            PqStatus::Unchecked(id) => {
                format!("ML-DSA-65 seal by key {id} not checked: give --pq-public-key")
            }
        })
    }
}

#[derive(Debug, clap::Subcommand)]
enum RewardCommand {
    /// Generate a signing key file (mode 0600; must not exist) and print the
    /// trusted-keys JSON of its public key (the same as `tally keys generate`).
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a policy and print the signed policy.
    SignPolicy {
        /// The policy (JSON).
        #[arg(long, value_name = "P.json")]
        policy: PathBuf,
        /// Secret key file (`tally reward keygen`, or a checkpoint signer's
        /// from `tally audit keygen --signer`); default: $TALLY_REWARD_KEY.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Compute an epoch and print its sealed manifest.
    Compute {
        #[command(flatten)]
        files: RunFiles,
        /// Secret key file that seals the manifest (either form, as for
        /// `sign-policy`); default: $TALLY_REWARD_KEY.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Also seal with this ML-DSA-65 key file (mode 0600; from `tally
        /// keys generate-ml-dsa`): a second, post-quantum signature.
        #[arg(long, value_name = "K")]
        pq_key_file: Option<PathBuf>,
        /// The previous epoch's sealed manifest (the chain link): its seal
        /// must be trusted and its epoch must come first.
        #[arg(long, value_name = "M.json")]
        previous: Option<PathBuf>,
        /// Also write the settlement intents (JSON) here.
        #[arg(long, value_name = "OUT.json")]
        intents: Option<PathBuf>,
        /// Also write the payout list (canonical JSON) here.
        #[arg(long, value_name = "OUT.json")]
        payouts: Option<PathBuf>,
        /// The ledger the intents settle on (1 to 4294967295).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        ledger: u32,
    },
    /// Verify a sealed manifest: its seal, the policy's signature, and a
    /// recomputation from the inputs (Merkle root included); with
    /// `--previous`, also its link in the chain of epochs.
    Verify {
        /// The sealed manifest.
        manifest: PathBuf,
        #[command(flatten)]
        files: RunFiles,
        /// The previous epoch's sealed manifest: its seal must be trusted,
        /// its CID must be the manifest's `previous` link, and its epoch must
        /// come first (another id, a window ending at or before this one's
        /// start). Verify it in full with its own inputs and policy; without
        /// this option the link is reported, not checked.
        #[arg(long, value_name = "PREV.json")]
        previous: Option<PathBuf>,
        #[command(flatten)]
        pq: PqArgs,
    },
    /// Print the proof of an account's payout under a manifest.
    Prove {
        /// The sealed manifest.
        manifest: PathBuf,
        /// The account.
        account: String,
        #[command(flatten)]
        files: RunFiles,
    },
    /// List the runs a server's data directory stores (sealed, settled,
    /// quarantined), read-only: safe while the server runs.
    Manifests {
        #[command(flatten)]
        dir: forensics::DataDir,
        /// Only the runs of this policy (its content id).
        #[arg(long, value_name = "H")]
        policy_hash: Option<String>,
        /// Only this run (64 hex digits).
        #[arg(long, value_name = "K")]
        run_key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recompute a run and compare it with its manifest: exit 0
    /// "identical", exit 3 listing the fields and the payees that differ.
    Diff(Box<forensics::DiffArgs>),
    /// Count the payments of each stored run's intents on the server's
    /// ledger (same data directory): exit 3 when an intent is paid more
    /// than once (or a payment tagged with a run matches none of its
    /// intents, or an intent's id holds another transfer).
    DuplicateIntents {
        #[command(flatten)]
        dir: forensics::DataDir,
        /// Only this run (64 hex digits).
        #[arg(long, value_name = "K")]
        run_key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a payout proof against a sealed manifest.
    VerifyProof {
        /// The proof (JSON, from `prove`).
        proof: PathBuf,
        /// The sealed manifest.
        #[arg(long, value_name = "M.json")]
        manifest: PathBuf,
        /// Trusted public keys (JSON).
        #[arg(long, value_name = "T.json")]
        trusted_keys: PathBuf,
        #[command(flatten)]
        pq: PqArgs,
    },
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::UntrustedKey { .. }
            | Error::BadSignature { .. }
            | Error::ManifestMismatch { .. }
            | Error::BadProof
            | Error::NoPayout { .. }
            | Error::OutsideValidity
            | Error::PoolAccountAsPayee { .. }
            | Error::OverCost { .. }
            | Error::Overflow
            | Error::InvariantBreach { .. }
            | Error::Conflict { .. }
            | Error::BrokenChain { .. }
            | Error::ChainOrder { .. }
            | Error::DryRun
            | Error::UntrustedPqKey { .. }
            | Error::BadPqSignature { .. }
            | Error::PqSignatureRequired => Self::Failed(e.to_string()),
            other => Self::Usage(other.to_string()),
        }
    }
}

/// Runs `tally reward …`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        RewardCommand::Keygen { out } => crate::keys::generate(&out),
        RewardCommand::SignPolicy { policy, key_file } => sign_policy(&policy, key_file.as_deref()),
        RewardCommand::Compute {
            files,
            key_file,
            pq_key_file,
            previous,
            intents,
            payouts,
            ledger,
        } => run_compute(
            &files,
            Keys {
                ed25519: key_file.as_deref(),
                ml_dsa: pq_key_file.as_deref(),
            },
            previous.as_deref(),
            Outputs {
                intents: intents.as_deref(),
                payouts: payouts.as_deref(),
            },
            Ledger(ledger),
        ),
        RewardCommand::Verify {
            manifest,
            files,
            previous,
            pq,
        } => run_verify(&manifest, &files, previous.as_deref(), &pq),
        RewardCommand::Prove {
            manifest,
            account,
            files,
        } => run_prove(&manifest, &account, &files),
        RewardCommand::VerifyProof {
            proof,
            manifest,
            trusted_keys,

            pq,
        } => run_verify_proof(&proof, &manifest, &trusted_keys, &pq),
        RewardCommand::Manifests {
            dir,
            policy_hash,
            run_key,
            json,
        } => forensics::manifests(&dir, policy_hash.as_deref(), run_key.as_deref(), json),
        RewardCommand::Diff(args) => forensics::diff(&args),
        RewardCommand::DuplicateIntents { dir, run_key, json } => {
            forensics::duplicate_intents(&dir, run_key.as_deref(), json)
        }
    };
    finish("tally reward", result)
}

fn with_path<T>(path: &Path, r: Result<T, Error>) -> Result<T, Failure> {
    r.map_err(|e| Failure::from(e).in_file(path))
}

fn signing_key(path: Option<&Path>) -> Result<SigningKey, Failure> {
    match path {
        // A secret key file: mode 0600 in a directory others cannot write.
        Some(p) => {
            let text = tally_files::private::read(p, tally_keys::MAX_SECRET_FILE_BYTES)?;
            key_of(text.as_str()).map_err(|e| e.in_file(p))
        }
        None => {
            let text = zeroize::Zeroizing::new(std::env::var(KEY_ENV).map_err(|_| {
                Failure::Usage(format!("no key: give --key-file or set {KEY_ENV}"))
            })?);
            key_of(&text)
        }
    }
}

/// A workspace key (`tally-ed25519-secret-v1:…`), or the key of a
/// checkpoint signer's key file (`PRIVATE+KEY+…`): one key file signs both.
fn key_of(text: &str) -> Result<SigningKey, Failure> {
    Ok(match crate::audit::parse_key_text(text)? {
        crate::audit::KeyText::Workspace(key) => key,
        crate::audit::KeyText::Note(signer) => signer.into_signing_key(),
    })
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Usage(format!("cannot encode the output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A new output file, whole and durable, never replacing one.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    Ok(tally_files::create_atomic(path, bytes, 0o644)?)
}

fn sign_policy(policy: &Path, key_file: Option<&Path>) -> Result<(), Failure> {
    let bytes = read_file(policy, MAX_POLICY_BYTES as u64)?;
    let policy_doc = with_path(policy, Policy::from_json(&bytes))?;
    let key = signing_key(key_file)?;
    print_json(&policy_doc.sign(&key)?)
}

struct Loaded {
    inputs: EpochInputs,
    policy: SignedPolicy,
    trusted: TrustedKeys,
}

fn load_trusted(path: &Path) -> Result<TrustedKeys, Failure> {
    Ok(TrustedKeys::read_file(path)?)
}

fn load(files: &RunFiles) -> Result<Loaded, Failure> {
    let limits = Limits::default();
    let trusted = load_trusted(&files.trusted_keys)?;
    let policy = with_path(
        &files.policy,
        SignedPolicy::from_json(&read_file(&files.policy, MAX_POLICY_BYTES as u64)?),
    )?;
    let inputs = load_inputs(&files.inputs, &limits)?;
    Ok(Loaded {
        inputs,
        policy,
        trusted,
    })
}

/// The inputs file decoded as it streams: never held whole, at most
/// `limits.max_input_bytes` bytes read (tally-reward's streaming decoder
/// bounds and counts them).
fn load_inputs(path: &Path, limits: &Limits) -> Result<EpochInputs, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::Usage(format!("{}: cannot open: {e}", path.display())))?;
    with_path(path, EpochInputs::from_reader(file, limits))
}

fn load_manifest(path: &Path) -> Result<SealedManifest, Failure> {
    with_path(
        path,
        SealedManifest::from_json(&read_file(path, MAX_MANIFEST_BYTES as u64)?),
    )
}

/// The key files that seal `compute`'s manifest.
struct Keys<'a> {
    ed25519: Option<&'a Path>,
    ml_dsa: Option<&'a Path>,
}

/// Where `compute` writes what it writes besides the manifest.
struct Outputs<'a> {
    intents: Option<&'a Path>,
    payouts: Option<&'a Path>,
}

fn run_compute(
    files: &RunFiles,
    keys: Keys<'_>,
    previous: Option<&Path>,
    out: Outputs<'_>,
    ledger: Ledger,
) -> Result<(), Failure> {
    let run = load(files)?;
    let key = signing_key(keys.ed25519)?;
    let pq_key = keys.ml_dsa.map(MlDsaSigningKey::read_file).transpose()?;
    // The same path as the service: run_epoch over a store that holds the
    // chain's head (the previous manifest, when given).
    let mut store = match previous {
        Some(path) => MemoryStore::following(load_manifest(path)?)?,
        None => MemoryStore::new(),
    };
    let accepted = match run_epoch(
        &mut store,
        &run.inputs,
        &run.policy,
        &run.trusted,
        &Limits::default(),
        Sealer {
            ed25519: &key,
            ml_dsa: pq_key.as_ref(),
        },
        ledger,
    )? {
        RunOutcome::Accepted(accepted) | RunOutcome::Existing(accepted) => accepted,
        RunOutcome::DryRun(_) => return Err(Failure::from(Error::DryRun)),
        RunOutcome::Quarantined(q) => {
            return Err(Failure::failed(format!(
                "epoch {} quarantined (run key {}): {}; nothing was sealed or written",
                q.epoch, q.run_key, q.reason
            )));
        }
    };
    if let Some(path) = out.intents {
        let text = serde_json::to_vec_pretty(&accepted.intents()?)
            .map_err(|e| Failure::Usage(format!("cannot encode the intents: {e}")))?;
        write_new(path, &text)?;
    }
    if let Some(path) = out.payouts {
        write_new(path, &payouts_bytes(&accepted.payouts)?)?;
    }
    print_json(&accepted.sealed)
}

/// The sealed manifest at `path`, verified completely against `files`, and
/// the distribution it seals.
fn load_verified(
    path: &Path,
    files: &RunFiles,
) -> Result<(SealedManifest, tally_reward::compute::Distribution), Failure> {
    let sealed = load_manifest(path)?;
    let run = load(files)?;
    let limits = Limits::default();
    let d = verify(&sealed, &run.trusted, &run.inputs, &run.policy, &limits)?;
    Ok((sealed, d))
}

fn run_verify(
    manifest: &Path,
    files: &RunFiles,
    previous: Option<&Path>,
    pq: &PqArgs,
) -> Result<(), Failure> {
    let (sealed, d) = load_verified(manifest, files)?;
    let pq_status = pq.check(&sealed).map_err(|e| e.in_file(manifest))?;
    let chain = match (previous, sealed.manifest.previous) {
        (Some(path), _) => {
            let previous = load_manifest(path)?;
            let trusted = load_trusted(&files.trusted_keys)?;
            let cid = verify_link(&sealed.manifest, &previous, &trusted)?;
            format!("follows manifest {cid} (epoch {})", previous.manifest.epoch)
        }
        (None, None) => "first of its chain".to_owned(),
        (None, Some(cid)) => format!("links to manifest {cid} (not checked: give --previous)"),
    };
    println!(
        "verified: manifest {} pays {} accounts {} of {} (residual {}); {chain}; {pq_status}",
        sealed.manifest.cid()?,
        d.payouts.len(),
        sealed.manifest.paid,
        sealed.manifest.pool,
        sealed.manifest.residual
    );
    Ok(())
}

fn run_prove(manifest: &Path, account: &str, files: &RunFiles) -> Result<(), Failure> {
    let account = AccountId::new(account).map_err(Failure::from)?;
    let (sealed, d) = load_verified(manifest, files)?;
    print_json(&prove(&sealed.manifest, &d.payouts, &account)?)
}

fn run_verify_proof(
    proof: &Path,
    manifest: &Path,
    trusted: &Path,
    pq: &PqArgs,
) -> Result<(), Failure> {
    let trusted = load_trusted(trusted)?;
    let sealed = load_manifest(manifest)?;
    sealed.verify_signature(&trusted)?;
    let pq_status = pq.check(&sealed).map_err(|e| e.in_file(manifest))?;
    let bytes = read_file(proof, MAX_SMALL_FILE as u64)?;
    let proof = with_path(proof, PayoutProof::from_json(&bytes))?;
    verify_proof(&proof, &sealed.manifest)?;
    println!(
        "verified: {} is paid {} under manifest {}; {pq_status}",
        proof.payout.account, proof.payout.amount, proof.manifest_cid
    );
    Ok(())
}
