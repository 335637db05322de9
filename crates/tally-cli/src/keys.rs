//! `tally keys …`: the workspace's signing keys (tally-keys), one story for
//! reward policies and manifests and audit checkpoints.
//!
//! A key file (`tally-ed25519-secret-v1:…`, mode 0600) signs; a trusted-keys
//! file (`{"keys":[{"key_id","public_key"}]}`) says whose signatures count.
//! `tally reward` takes them as `--key-file` / `--trusted-keys`; `tally
//! audit` takes the key file as a checkpoint signer (`--signer-key-file`) and
//! the trusted-keys file in place of `--vkey`.
//!
//! Post-quantum keys (ML-DSA-65, FIPS 204): `generate-ml-dsa --out K`
//! writes a key file (`tally-ml-dsa-65-secret-v1:…`, 0600) and prints its
//! public key file (`tally-ml-dsa-65-public-v1:…`); `ml-dsa-public K`
//! prints the public key file of a key file. `tally serve
//! --reward-pq-key-file K` and `tally reward compute --pq-key-file K` seal
//! with it; `tally reward verify --pq-public-key P` checks the seals.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use tally_keys::ml_dsa::MlDsaSigningKey;
use tally_keys::{SigningKey, TrustedKeys};

use crate::input::{Failure, finish};

/// `tally keys` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a signing key file (mode 0600; must not exist) and print the
    /// trusted-keys JSON of its public key.
    Generate {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the trusted-keys JSON of the public keys of key files.
    Trusted {
        /// Secret key files (mode 0600).
        #[arg(required = true)]
        key_files: Vec<PathBuf>,
    },
    /// Generate an ML-DSA-65 (post-quantum) key file (mode 0600; must not
    /// exist) and print its public key file.
    GenerateMlDsa {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key file of an ML-DSA-65 key file.
    MlDsaPublic {
        /// The secret key file (mode 0600).
        key_file: PathBuf,
    },
}

/// Runs `tally keys …`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        KeysCommand::Generate { out } => generate(&out),
        KeysCommand::Trusted { key_files } => trusted(&key_files),
        KeysCommand::GenerateMlDsa { out } => generate_ml_dsa(&out),
        KeysCommand::MlDsaPublic { key_file } => ml_dsa_public(&key_file),
    };
    finish("tally keys", result)
}

/// Generates a key file at `out` and prints its trusted-keys JSON (the key
/// id on stderr).
pub(crate) fn generate(out: &Path) -> Result<(), Failure> {
    let key = SigningKey::generate()?;
    key.create_file(out)?;
    println!("{}", TrustedKeys::file_text(&[key.trusted_entry()]));
    eprintln!("key id {}", key.id());
    Ok(())
}

fn trusted(files: &[PathBuf]) -> Result<(), Failure> {
    let entries = files
        .iter()
        .map(|f| SigningKey::read_file(f).map(|k| k.trusted_entry()))
        .collect::<Result<Vec<_>, _>>()?;
    println!("{}", TrustedKeys::file_text(&entries));
    Ok(())
}

fn generate_ml_dsa(out: &Path) -> Result<(), Failure> {
    let key = MlDsaSigningKey::generate()?;
    key.create_file(out)?;
    print!("{}", key.verifying_key().to_file_text());
    eprintln!("ML-DSA-65 key id {}", key.id());
    Ok(())
}

fn ml_dsa_public(key_file: &Path) -> Result<(), Failure> {
    let key = MlDsaSigningKey::read_file(key_file)?;
    print!("{}", key.verifying_key().to_file_text());
    Ok(())
}
