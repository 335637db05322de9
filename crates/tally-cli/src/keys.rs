//! `tally keys …`: the workspace's signing keys (tally-keys), one story for
//! reward policies and manifests and audit checkpoints.
//!
//! A key file (`tally-ed25519-secret-v1:…`, mode 0600) signs; a trusted-keys
//! file (`{"keys":[{"key_id","public_key"}]}`) says whose signatures count.
//! `tally reward` takes them as `--key-file` / `--trusted-keys`; `tally
//! audit` takes the key file as a checkpoint signer (`--signer-key-file`) and
//! the trusted-keys file in place of `--vkey`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
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
}

/// Runs `tally keys …`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        KeysCommand::Generate { out } => generate(&out),
        KeysCommand::Trusted { key_files } => trusted(&key_files),
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
