//! `tally token …`: capability tokens (tally-token), minted, attenuated and
//! inspected on the command line.
//!
//! Secrets never travel on the command line: a root key comes from a
//! private file (`--root-key-file`, mode 0600), a token from a file
//! (`--token-file`) or standard input, both bounded before they are read
//! whole. The only secret ever printed is the token a command makes (minted
//! or attenuated), on stdout or into `--out` (created with mode 0600, never
//! replacing a file). `inspect` prints the id, the epoch and the caveats,
//! never the tag.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Subcommand;
use tally_token::{
    Caveat, KeyFileError, Label, MAX_TOKEN_TEXT_BYTES, MemoryRevocations, Method, Methods,
    PathPrefix, RootKey, Scope, Scopes, Token, TokenError, TokenId, Verifier,
};
use zeroize::Zeroizing;

use crate::input::{Failure, finish};

/// The largest token file or standard input: the longest token text and a
/// little room for a line ending and surrounding blanks.
pub(crate) const MAX_TOKEN_FILE_BYTES: u64 = MAX_TOKEN_TEXT_BYTES as u64 + 64;

/// `tally token` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Mint a token under a root key; print it (or write it to --out, 0600).
    /// At least one --scope is required: a token without a scope caveat
    /// would carry every scope.
    Mint {
        /// The root key file (mode 0600; `tally token root-key generate`).
        #[arg(long, value_name = "PATH")]
        root_key_file: PathBuf,
        /// The root key's epoch.
        #[arg(long, value_name = "N")]
        epoch: u32,
        #[command(flatten)]
        caveats: CaveatArgs,
        /// Write the token to this file (mode 0600, must not exist) instead
        /// of stdout.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Add caveats to a token (from --token-file or stdin, never the
    /// command line); print the narrower token (or write it to --out, 0600).
    Attenuate {
        /// The token's file; standard input if absent or `-`.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
        #[command(flatten)]
        caveats: CaveatArgs,
        /// Write the token to this file (mode 0600, must not exist) instead
        /// of stdout.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Decode a token (from --token-file or stdin) and print its id, epoch
    /// and caveats; with --root-key-file, also verify its signature.
    Inspect {
        /// The token's file; standard input if absent or `-`.
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
        /// The root key file of the token's epoch: verify the signature.
        #[arg(long, value_name = "PATH")]
        root_key_file: Option<PathBuf>,
    },
    /// Root keys: generate one.
    RootKey {
        #[command(subcommand)]
        command: RootKeyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RootKeyCommand {
    /// Generate a root key file (mode 0600; must not exist).
    Generate {
        /// Where to write the root key.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
}

/// The caveats a command adds, one option per kind.
#[derive(Debug, clap::Args)]
struct CaveatArgs {
    /// Bind the token to this tenant.
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// Allow these scopes only (repeat for several): ledger.read,
    /// ledger.write, budget.reserve, rewarder.run, rewarder.inspect,
    /// decide.run, audit.read, admin.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<Scope>,
    /// Allow these HTTP methods only (repeat for several): GET, HEAD, POST,
    /// PUT, PATCH, DELETE.
    #[arg(long = "method", value_name = "M")]
    methods: Vec<Method>,
    /// Allow paths under this prefix only.
    #[arg(long, value_name = "P")]
    path_prefix: Option<String>,
    /// Expire this many seconds from now.
    #[arg(long, value_name = "SECS")]
    expires_in: Option<u64>,
    /// Allow at most this amount per request (minor units).
    #[arg(long, value_name = "A")]
    max_amount: Option<u128>,
    /// Bind the token to this reward epoch id.
    #[arg(long, value_name = "E")]
    epoch_id: Option<String>,
}

impl CaveatArgs {
    /// The caveats, in a fixed order (tenant, scopes, methods, path,
    /// expiry, amount, epoch id).
    fn caveats(&self, now_s: u64) -> Result<Vec<Caveat>, Failure> {
        let bad = |what: &str, e: tally_token::Malformed| Failure::usage(format!("--{what}: {e}"));
        let mut out = Vec::new();
        if let Some(t) = &self.tenant {
            out.push(Caveat::Tenant(Label::new(t).map_err(|e| bad("tenant", e))?));
        }
        if let Some(s) = Scopes::new(self.scopes.iter().copied()) {
            out.push(Caveat::Scopes(s));
        }
        if let Some(m) = Methods::new(self.methods.iter().copied()) {
            out.push(Caveat::Methods(m));
        }
        if let Some(p) = &self.path_prefix {
            let p = PathPrefix::new(p).map_err(|e| bad("path-prefix", e))?;
            out.push(Caveat::PathPrefix(p));
        }
        if let Some(secs) = self.expires_in {
            let at = now_s
                .checked_add(secs)
                .ok_or_else(|| Failure::usage("--expires-in: too far in the future"))?;
            out.push(Caveat::Expiry(at));
        }
        if let Some(a) = self.max_amount {
            out.push(Caveat::MaxAmount(a));
        }
        if let Some(e) = &self.epoch_id {
            out.push(Caveat::EpochId(
                Label::new(e).map_err(|e| bad("epoch-id", e))?,
            ));
        }
        Ok(out)
    }
}

/// Runs `tally token …`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        TokenCommand::Mint {
            root_key_file,
            epoch,
            caveats,
            out,
        } => mint(&root_key_file, epoch, &caveats, out.as_deref()),
        TokenCommand::Attenuate {
            token_file,
            caveats,
            out,
        } => attenuate(token_file.as_deref(), &caveats, out.as_deref()),
        TokenCommand::Inspect {
            token_file,
            root_key_file,
        } => inspect(token_file.as_deref(), root_key_file.as_deref()),
        TokenCommand::RootKey {
            command: RootKeyCommand::Generate { out },
        } => generate(&out),
    };
    finish("tally token", result)
}

impl From<TokenError> for Failure {
    /// A token that does not verify is a failed check; one that does not
    /// decode, or a caveat that cannot be added, is bad input.
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Malformed(_) => Self::usage(e.to_string()),
            _ => Self::failed(e.to_string()),
        }
    }
}

impl From<KeyFileError> for Failure {
    fn from(e: KeyFileError) -> Self {
        Self::usage(e.to_string())
    }
}

fn now_s() -> Result<u64, Failure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| Failure::usage("the system clock is before 1970"))
}

fn generate(out: &Path) -> Result<(), Failure> {
    let key = RootKey::generate().map_err(|_| Failure::usage("the random generator failed"))?;
    key.create_file(out)?;
    eprintln!("root key written to {}", out.display());
    Ok(())
}

fn mint(
    root_key_file: &Path,
    epoch: u32,
    args: &CaveatArgs,
    out: Option<&Path>,
) -> Result<(), Failure> {
    if args.scopes.is_empty() {
        return Err(Failure::usage(
            "at least one --scope is required (a token without one carries every scope)",
        ));
    }
    let caveats = args.caveats(now_s()?)?;
    let root = RootKey::read_file(root_key_file)?;
    let id = TokenId::random().map_err(|_| Failure::usage("the random generator failed"))?;
    let token = Token::mint(&root, epoch, id, caveats)?;
    emit(&token, out)?;
    eprintln!("token id {id}, root-key epoch {epoch}");
    Ok(())
}

fn attenuate(
    token_file: Option<&Path>,
    args: &CaveatArgs,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let caveats = args.caveats(now_s()?)?;
    if caveats.is_empty() {
        return Err(Failure::usage("no caveat to add"));
    }
    let token = caveats
        .into_iter()
        .try_fold(read_token(token_file)?, |t, c| t.attenuate(c))?;
    emit(&token, out)
}

fn inspect(token_file: Option<&Path>, root_key_file: Option<&Path>) -> Result<(), Failure> {
    let token = read_token(token_file)?;
    println!("token id {}", token.id());
    println!("root-key epoch {}", token.epoch());
    println!("caveats {}", token.caveats().len());
    for caveat in token.caveats() {
        println!("  {caveat}");
    }
    if let Some(path) = root_key_file {
        let root = RootKey::read_file(path)?;
        let mut verifier = Verifier::new(MemoryRevocations::new());
        verifier
            .add_epoch(token.epoch(), &root)
            .map_err(|e| Failure::usage(e.to_string()))?;
        verifier.authenticate(&token)?;
        println!("signature valid");
    }
    Ok(())
}

/// Reads a token's text from `path` (stdin when absent or `-`), at most
/// [`MAX_TOKEN_FILE_BYTES`] (refused past it before more is read).
fn read_token(path: Option<&Path>) -> Result<Token, Failure> {
    let (bytes, name) = match path {
        Some(p) if p != Path::new("-") => (tally_files::read_bounded(p, MAX_TOKEN_FILE_BYTES)?, p),
        _ => {
            let stdin = std::io::stdin().lock();
            let name = Path::new("stdin");
            (
                tally_files::read_bounded_from(stdin, name, MAX_TOKEN_FILE_BYTES)?,
                name,
            )
        }
    };
    let bytes = Zeroizing::new(bytes);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::usage(format!("{}: not UTF-8 text", name.display())))?;
    Token::from_text(text.trim()).map_err(|e| Failure::from(e).in_file(name))
}

/// Prints the token on stdout, or creates `out` (mode 0600) with it.
fn emit(token: &Token, out: Option<&Path>) -> Result<(), Failure> {
    let token = token.to_text();
    // Sized up front: no reallocation leaves a copy of the token behind.
    let mut text = Zeroizing::new(String::with_capacity(token.len() + 1));
    text.push_str(&token);
    text.push('\n');
    match out {
        Some(path) => tally_files::private::create(path, text.as_bytes())?,
        None => print!("{}", text.as_str()),
    }
    Ok(())
}
