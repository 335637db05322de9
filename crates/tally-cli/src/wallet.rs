//! `tally wallet …`: a Cashu wallet in a directory, over tally-wallet.
//!
//! DIR (mode 0700) holds `seed` (the mnemonic, encrypted at rest by
//! tally-wallet's secrets module: XChaCha20-Poly1305 under an Argon2id key
//! from the passphrase), `wallet.db` (the SQLite store: proofs, NUT-13
//! counters, operations, quotes, history) and `mints` (the mints added, a
//! JSON list, 0600).
//!
//! * **Passphrase**: from `--passphrase-file FILE` (its first line), the
//!   environment variable `TALLY_WALLET_PASSPHRASE`, or, when stdin is a
//!   terminal and neither is given, a prompt on the terminal with echo off
//!   (asked twice by `init` and `restore --mnemonic-file`); never from an
//!   argument (it would show in `ps` and in shell history). Without a
//!   terminal and without the file or the variable: a clear error (exit 2).
//!   A wrong passphrase is a clear error (exit 2) and nothing is opened: the
//!   wallet fails closed.
//! * **Mnemonic**: `init` never prints it unless asked. `--mnemonic-file
//!   FILE` writes it to a new 0600 file (never replacing one);
//!   `--show-mnemonic` prints it once on stderr (never stdout, so that
//!   output piped or captured as JSON never carries it). Without either the
//!   backup is the seed file together with its passphrase.
//! * **Mints**: `add-mint URL` records a mint; commands that need one take
//!   `--mint URL`, which may be left out when exactly one mint was added.
//! * **Locks**: `send --p2pk KEY` or `--htlc-hash HASH` (with `--p2bk`,
//!   `--locktime T` and `--refund KEY`) locks the token (NUT-11, NUT-14,
//!   NUT-28); `receive --p2pk-key-file FILE` / `--preimage-file FILE` and
//!   `reclaim --refund-key-file FILE` unlock: private keys and preimages
//!   come from files (64 hex digits), never from arguments.
//! * `--json` prints one JSON object on stdout instead of text.
//!
//! Exit codes: 0 success; 1 the operation ran and failed (the mint refused,
//! could not be reached, or answered something the wallet refuses); 2 bad
//! usage or bad input (a wrong passphrase, a malformed file or mnemonic, a
//! value out of range, an unknown quote).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};
use tally_cashu::crypto::{PublicKey, SecretKey};
use tally_cashu::nuts::nut00::MintUrl;
use tally_cashu::nuts::nut13::Seed;
use tally_cashu::secret::Preimage;
use tally_wallet::Error;
use tally_wallet::lock::{SendLock, Unlock};
use tally_wallet::melt::MeltQuote;
use tally_wallet::receive::ReceiveOptions;
use tally_wallet::restore::{RestoreOptions, RestoreProgress};
use tally_wallet::secrets::{self, KdfParams};
use tally_wallet::send::{SendOptions, SentRef};
use tally_wallet::store::{HISTORY_PAGE_MAX, OperationId, SqliteStore, TokenFormat, WalletStore};
use tally_wallet::wallet::Wallet;
use zeroize::Zeroizing;

use crate::input::{Failure, finish, read_text};

/// The secrets file in DIR.
const SEED: &str = "seed";
/// The store in DIR.
const DB: &str = "wallet.db";
/// The mints file in DIR.
const MINTS: &str = "mints";
/// The environment variable that may hold the passphrase.
pub(crate) const PASSPHRASE_ENV: &str = "TALLY_WALLET_PASSPHRASE";
/// The largest passphrase file.
const PASSPHRASE_FILE_MAX_BYTES: u64 = 1 << 10;
/// The largest mnemonic file (24 words are at most about 220 bytes).
const MNEMONIC_FILE_MAX_BYTES: u64 = 1 << 10;
/// The largest mints file.
const MINTS_FILE_MAX_BYTES: u64 = 64 << 10;
/// The most mints a wallet records.
const MINTS_MAX: usize = 64;
/// The least Argon2id memory `--kdf-memory-kib` accepts.
const KDF_MEMORY_KIB_MIN: u32 = 64;

/// How long `tally wallet recover` keeps a settled melt quote (30 days).
const MELT_QUOTES_KEEP_S: u64 = 30 * 24 * 3600;

/// `tally wallet` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wallet directory (mode 0700).
    #[arg(long, global = true, default_value = ".")]
    dir: PathBuf,
    /// Read the passphrase from the first line of this file (otherwise from
    /// TALLY_WALLET_PASSPHRASE, else a prompt when stdin is a terminal).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: WalletCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum WalletCommand {
    /// Create a wallet in DIR: a fresh mnemonic, encrypted under the passphrase.
    Init {
        /// Print the mnemonic once, on stderr.
        #[arg(long)]
        show_mnemonic: bool,
        /// Write the mnemonic to this new file (mode 0600, never replaced).
        #[arg(long)]
        mnemonic_file: Option<PathBuf>,
        #[command(flatten)]
        kdf: Kdf,
    },
    /// Record a mint and fetch its keysets (active and inactive).
    AddMint {
        /// The mint's URL.
        url: String,
    },
    /// Ask the mint for a quote to mint AMOUNT sat (NUT-04).
    MintQuote {
        /// Amount, sat (1..=2^53).
        amount: u64,
        /// The mint (may be left out when only one was added).
        #[arg(long)]
        mint: Option<String>,
    },
    /// Mint the paid quote QUOTE; several quotes are minted in one NUT-29
    /// batch request (all or nothing).
    Mint {
        /// The quote id (repeat for a batch, at most 100).
        #[arg(required = true, num_args = 1..)]
        quote: Vec<String>,
        /// The mint (may be left out when only one was added).
        #[arg(long)]
        mint: Option<String>,
    },
    /// Print the balance per mint (unspent, reserved, pending).
    Balance,
    /// Ask every mint for the state of the wallet's proofs (NUT-07).
    Check,
    /// Resolve operations a crash or a lost answer left unfinished, then
    /// delete melt quotes settled more than 30 days ago (never a pending
    /// one, nor one an unfinished melt needs).
    Recover,
    /// Restore the wallet's proofs from its mnemonic (NUT-09, NUT-13).
    Restore {
        /// Create the wallet in DIR from the mnemonic in this file (DIR must
        /// not hold a wallet); without it, the wallet in DIR is restored.
        #[arg(long)]
        mnemonic_file: Option<PathBuf>,
        /// The mint to restore from (repeatable; default: every mint added).
        #[arg(long)]
        mint: Vec<String>,
        /// Outputs per request (1..=1,000).
        #[arg(long, default_value_t = tally_wallet::restore::BATCH_SIZE_DEFAULT)]
        batch_size: u32,
        /// Consecutive empty batches that end a keyset's scan (1..=100).
        #[arg(long, default_value_t = tally_wallet::restore::EMPTY_BATCHES_DEFAULT)]
        empty_batches: u32,
        #[command(flatten)]
        kdf: Kdf,
    },
    /// Swap proofs of keysets the mint retired into its active keyset.
    Rotate,
    /// Make a token worth AMOUNT sat and print it (offline when held proofs
    /// match exactly, else after a swap).
    Send {
        /// Amount, sat (1..=2^53).
        amount: u64,
        /// The mint (may be left out when only one was added).
        #[arg(long)]
        mint: Option<String>,
        /// Add the fee the receiver pays to swap it.
        #[arg(long)]
        include_fees: bool,
        /// A memo for the receiver.
        #[arg(long)]
        memo: Option<String>,
        /// A V3 (`cashuA`) token instead of V4 (`cashuB`).
        #[arg(long)]
        v3: bool,
        /// Never contact the mint: fail unless held proofs match exactly.
        #[arg(long)]
        offline: bool,
        /// Lock the token to this public key (NUT-11 P2PK; 33-byte hex).
        #[arg(long, conflicts_with = "htlc_hash", conflicts_with = "offline")]
        p2pk: Option<String>,
        /// Lock the token to SHA-256(preimage) = this hash (NUT-14 HTLC; hex).
        #[arg(long, conflicts_with = "offline")]
        htlc_hash: Option<String>,
        /// Blind the lock's keys (NUT-28 P2BK).
        #[arg(long)]
        p2bk: bool,
        /// Unix time after which the refund keys (anyone, if none) may spend it.
        #[arg(long)]
        locktime: Option<u64>,
        /// A refund public key (33-byte hex); repeat for several.
        #[arg(long, requires = "locktime")]
        refund: Vec<String>,
    },
    /// Receive a token read from FILE (or stdin: a token is a bearer secret,
    /// never an argument), after checking it (mint, keysets, DLEQ, state).
    Receive {
        /// The file holding the token; `-` or nothing: stdin.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Accept proofs without a DLEQ proof (not advised).
        #[arg(long)]
        allow_missing_dleq: bool,
        /// A file holding a private key (64 hex digits) that unlocks P2PK or
        /// P2BK proofs; repeat for several. Keys never go in arguments.
        #[arg(long)]
        p2pk_key_file: Vec<PathBuf>,
        /// A file holding the HTLC preimage (64 hex digits).
        #[arg(long)]
        preimage_file: Option<PathBuf>,
    },
    /// Take back a sent token the receiver has not redeemed (by the id
    /// `send` printed).
    Reclaim {
        /// The id `send` printed.
        id: String,
        /// For a locked token after its locktime: a file holding a refund
        /// private key (64 hex digits); repeat for several.
        #[arg(long)]
        refund_key_file: Vec<PathBuf>,
    },
    /// Ask the mint for a quote to pay a bolt11 INVOICE (NUT-05); the quote
    /// is stored and printed; `melt --quote ID` pays it.
    MeltQuote {
        /// The bolt11 invoice.
        invoice: String,
        /// The mint (may be left out when only one was added).
        #[arg(long)]
        mint: Option<String>,
    },
    /// Pay a bolt11 INVOICE from the wallet's proofs (NUT-05; change per
    /// NUT-08): asks the mint for a quote (stored first), then pays it. With
    /// `--quote ID` instead: pays a stored quote, or resumes its melt left
    /// unfinished by a crash or a pending payment.
    Melt {
        /// The bolt11 invoice.
        #[arg(required_unless_present = "quote", conflicts_with = "quote")]
        invoice: Option<String>,
        /// A stored melt quote's id (`melt-quote` or `melt-quotes` print it).
        #[arg(long)]
        quote: Option<String>,
        /// The mint (may be left out when only one was added).
        #[arg(long)]
        mint: Option<String>,
    },
    /// Print the newest melt quotes (id, mint, invoice, amount, fee
    /// reserve, unit, state, expiry).
    MeltQuotes {
        /// At most this many (1..=1,000).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Print the newest finished operations.
    History {
        /// At most this many (1..=1,000).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// The Argon2id cost of a new seed file.
#[derive(Debug, clap::Args)]
struct Kdf {
    /// Argon2id memory, KiB (64..=1,048,576). Less than the default makes a
    /// stolen seed file cheaper to attack: for tests only.
    #[arg(long, default_value_t = KdfParams::RECOMMENDED.memory_kib)]
    kdf_memory_kib: u32,
}

impl Kdf {
    fn params(&self) -> Result<KdfParams, Failure> {
        if !(KDF_MEMORY_KIB_MIN..=KdfParams::MEMORY_KIB_MAX).contains(&self.kdf_memory_kib) {
            return Err(Failure::usage(format!(
                "--kdf-memory-kib must be {KDF_MEMORY_KIB_MIN}..={}",
                KdfParams::MEMORY_KIB_MAX
            )));
        }
        Ok(KdfParams {
            memory_kib: self.kdf_memory_kib,
            ..KdfParams::RECOMMENDED
        })
    }
}

/// Runs `tally wallet …`.
pub fn run(args: Args) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("runtime: {e}")))
        .and_then(|rt| rt.block_on(dispatch(args)));
    finish("tally wallet", outcome)
}

async fn dispatch(args: Args) -> Result<(), Failure> {
    let out = Out { json: args.json };
    let dir = args.dir.as_path();
    let pass = || passphrase(args.passphrase_file.as_deref(), false);
    let new_pass = || passphrase(args.passphrase_file.as_deref(), true);
    match &args.command {
        WalletCommand::Init {
            show_mnemonic,
            mnemonic_file,
            kdf,
        } => {
            init(
                dir,
                &new_pass()?,
                *show_mnemonic,
                mnemonic_file.as_deref(),
                kdf,
                out,
            )
            .await
        }
        WalletCommand::Restore {
            mnemonic_file,
            mint,
            batch_size,
            empty_batches,
            kdf,
        } => {
            let options = RestoreOptions {
                batch_size: *batch_size,
                empty_batches_to_stop: *empty_batches,
                ..RestoreOptions::default()
            };
            options.validate().map_err(failure)?;
            let pass = match mnemonic_file {
                Some(file) => {
                    let pass = new_pass()?;
                    create_from_mnemonic(dir, &pass, file, kdf).await?;
                    pass
                }
                None => pass()?,
            };
            let wallet = open(dir, &pass).await?;
            restore(dir, &wallet, mint, options, out).await
        }
        command => {
            let wallet = open(dir, &pass()?).await?;
            with_wallet(dir, &wallet, command, out).await
        }
    }
}

async fn with_wallet(
    dir: &Path,
    wallet: &Wallet<SqliteStore>,
    command: &WalletCommand,
    out: Out,
) -> Result<(), Failure> {
    match command {
        WalletCommand::AddMint { url } => add_mint(dir, wallet, url, out).await,
        WalletCommand::MintQuote { amount, mint } => {
            let mint = pick_mint(dir, mint.as_deref())?;
            if *amount == 0 || *amount > (1 << 53) {
                return Err(Failure::usage("AMOUNT must be 1..=2^53"));
            }
            let q = wallet.mint_quote(&mint, *amount).await.map_err(failure)?;
            out.print(
                &json!({"quote": q.id, "request": q.request, "state": q.state, "amount": q.amount, "expiry": q.expiry_s}),
                &format!("quote {} ({} sat, {})\n{}", q.id, q.amount, q.state, q.request),
            );
            Ok(())
        }
        WalletCommand::Mint { quote, mint } => {
            let mint = pick_mint(dir, mint.as_deref())?;
            let amount = match quote.as_slice() {
                [one] => wallet.mint(&mint, one).await,
                many => {
                    let ids: Vec<&str> = many.iter().map(String::as_str).collect();
                    wallet.mint_batch(&mint, &ids).await
                }
            }
            .map_err(failure)?;
            out.print(&json!({"minted": amount}), &format!("minted {amount} sat"));
            Ok(())
        }
        WalletCommand::Balance => balance(dir, wallet, out).await,
        WalletCommand::Check => check(dir, wallet, out).await,
        WalletCommand::Recover => {
            let r = wallet.recover().await.map_err(failure)?;
            // After recover: a melt it finished is no longer unfinished.
            let pruned = wallet
                .prune_melt_quotes(MELT_QUOTES_KEEP_S)
                .await
                .map_err(failure)?;
            out.print(
                &json!({"finished": r.finished, "failed": r.failed, "unresolved": r.unresolved,
                    "pruned_melt_quotes": pruned}),
                &format!(
                    "recovered: {} finished, {} failed, {} unresolved; {pruned} settled melt quotes pruned",
                    r.finished, r.failed, r.unresolved
                ),
            );
            Ok(())
        }
        WalletCommand::Rotate => rotate(dir, wallet, out).await,
        WalletCommand::Send {
            amount,
            mint,
            include_fees,
            memo,
            v3,
            offline,
            p2pk,
            htlc_hash,
            p2bk,
            locktime,
            refund,
        } => {
            let mint = pick_mint(dir, mint.as_deref())?;
            if *amount == 0 || *amount > (1 << 53) {
                return Err(Failure::usage("AMOUNT must be 1..=2^53"));
            }
            let lock = send_lock(
                p2pk.as_deref(),
                htlc_hash.as_deref(),
                *p2bk,
                *locktime,
                refund,
            )?;
            let options = SendOptions {
                include_fees: *include_fees,
                memo: memo.clone(),
                format: if *v3 {
                    TokenFormat::V3
                } else {
                    TokenFormat::V4
                },
                offline_only: *offline,
                lock,
            };
            let sent = wallet
                .send(&mint, *amount, &options)
                .await
                .map_err(failure)?;
            // Text: the token alone on stdout (`send 20 > token.txt`), the
            // summary on stderr.
            if out.json {
                out.print(
                    &json!({"id": sent.id.0, "amount": sent.amount, "swapped": sent.swapped, "token": sent.token}),
                    "",
                );
            } else {
                eprintln!("sent {} sat (id {}, for reclaim)", sent.amount, sent.id.0);
                println!("{}", sent.token);
            }
            Ok(())
        }
        WalletCommand::Receive {
            token_file,
            allow_missing_dleq,
            p2pk_key_file,
            preimage_file,
        } => {
            let unlock = Unlock {
                keys: read_keys(p2pk_key_file)?,
                preimage: preimage_file
                    .as_deref()
                    .map(|p| {
                        let text = Zeroizing::new(read_text(p, SECRET_FILE_MAX_BYTES)?);
                        Preimage::from_hex(text.trim()).map_err(|_| {
                            Failure::usage(format!("{}: not 64 hex digits", p.display()))
                        })
                    })
                    .transpose()?,
                mint_decides: false,
            };
            let bytes = crate::cashu::read_input(token_file.as_ref()).map_err(Failure::usage)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Failure::usage("the token is not UTF-8 text"))?;
            let options = ReceiveOptions {
                allow_missing_dleq: *allow_missing_dleq,
                ..ReceiveOptions::default()
            };
            let amount = wallet
                .receive_with(text.trim(), &options, &unlock)
                .await
                .map_err(failure)?;
            out.print(
                &json!({"received": amount}),
                &format!("received {amount} sat"),
            );
            Ok(())
        }
        WalletCommand::Reclaim {
            id,
            refund_key_file,
        } => {
            let id = OperationId(id.clone());
            let unlock = Unlock::keys(read_keys(refund_key_file)?);
            let r = wallet
                .reclaim_with(SentRef::Id(&id), &unlock)
                .await
                .map_err(failure)?;
            out.print(
                &json!({"reclaimed": r.reclaimed, "redeemed": r.redeemed, "pending": r.pending}),
                &format!(
                    "reclaimed {} sat; {} sat redeemed by the receiver; {} sat pending",
                    r.reclaimed, r.redeemed, r.pending
                ),
            );
            Ok(())
        }
        WalletCommand::MeltQuote { invoice, mint } => {
            let mint = pick_mint(dir, mint.as_deref())?;
            let q = wallet.melt_quote(&mint, invoice).await.map_err(failure)?;
            out.print(
                &melt_quote_json(&q),
                &format!(
                    "melt quote {} ({} sat + up to {} sat fee, {})",
                    q.id,
                    q.amount,
                    q.fee_reserve,
                    q.state.as_str()
                ),
            );
            Ok(())
        }
        WalletCommand::Melt {
            invoice,
            quote,
            mint,
        } => {
            melt(
                dir,
                wallet,
                invoice.as_deref(),
                quote.as_deref(),
                mint.as_deref(),
                out,
            )
            .await
        }
        WalletCommand::MeltQuotes { limit } => melt_quotes(wallet, *limit, out).await,
        WalletCommand::History { limit } => history(wallet, *limit, out).await,
        WalletCommand::Init { .. } | WalletCommand::Restore { .. } => Err(Failure::usage(
            "init and restore open the wallet themselves",
        )),
    }
}

/// How results are printed.
#[derive(Clone, Copy)]
struct Out {
    json: bool,
}

impl Out {
    fn print(self, value: &Value, text: &str) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}

/// Maps a wallet error to the CLI's exit classes.
/// The largest key or preimage file.
const SECRET_FILE_MAX_BYTES: u64 = 1 << 10;
/// The most key files one command takes.
const KEY_FILES_MAX: usize = 16;

/// Private keys, each from its file (64 hex digits).
fn read_keys(files: &[PathBuf]) -> Result<Vec<SecretKey>, Failure> {
    if files.len() > KEY_FILES_MAX {
        return Err(Failure::usage("at most 16 key files"));
    }
    files
        .iter()
        .map(|p| {
            let text = Zeroizing::new(read_text(p, SECRET_FILE_MAX_BYTES)?);
            SecretKey::from_hex(text.trim()).map_err(|_| {
                Failure::usage(format!(
                    "{}: not a private key (64 hex digits)",
                    p.display()
                ))
            })
        })
        .collect()
}

fn public_key(text: &str, what: &str) -> Result<PublicKey, Failure> {
    PublicKey::from_hex(text)
        .map_err(|_| Failure::usage(format!("{what}: not a public key (33-byte hex)")))
}

/// The lock `send` asked for, if any.
fn send_lock(
    p2pk: Option<&str>,
    htlc_hash: Option<&str>,
    p2bk: bool,
    locktime: Option<u64>,
    refund: &[String],
) -> Result<Option<SendLock>, Failure> {
    let lock = match (p2pk, htlc_hash) {
        (Some(key), None) => SendLock::p2pk(public_key(key, "--p2pk")?),
        (None, Some(hash)) => SendLock::htlc(
            tally_cashu::encoding::hex::decode_array(hash, "htlc-hash")
                .map_err(|_| Failure::usage("--htlc-hash: not 32 bytes of hex"))?,
        ),
        (None, None) if p2bk || locktime.is_some() => {
            return Err(Failure::usage(
                "--p2bk and --locktime need --p2pk or --htlc-hash",
            ));
        }
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => return Err(Failure::usage("--p2pk or --htlc-hash, not both")),
    };
    let lock = match locktime {
        Some(t) => lock.with_refund(
            t,
            refund
                .iter()
                .map(|k| public_key(k, "--refund"))
                .collect::<Result<_, _>>()?,
        ),
        None => lock,
    };
    Ok(Some(if p2bk { lock.blinded() } else { lock }))
}

fn failure(e: Error) -> Failure {
    match e {
        Error::WrongPassphrase
        | Error::SecretsFormat(_)
        | Error::UnsafePermissions { .. }
        | Error::InvalidArgument(_)
        | Error::NotFound { .. }
        | Error::File(_)
        | Error::Cashu(tally_cashu::Error::InvalidMnemonic) => Failure::usage(e.to_string()),
        other => Failure::failed(other.to_string()),
    }
}

/// Where the passphrase comes from, in this order: the first line of
/// `--passphrase-file`, the environment variable, or (only when stdin is a
/// terminal) a prompt on the terminal with echo off. Never an argument.
/// `confirm` (for `init` and `restore --mnemonic-file`, which make a seed
/// file) asks twice at the prompt.
fn passphrase(file: Option<&Path>, confirm: bool) -> Result<Zeroizing<String>, Failure> {
    let text = match file {
        Some(path) => Zeroizing::new(read_text(path, PASSPHRASE_FILE_MAX_BYTES)?),
        None => match std::env::var(PASSPHRASE_ENV) {
            Ok(v) => Zeroizing::new(v),
            Err(_) if std::io::stdin().is_terminal() => {
                let first = prompt::read_hidden("wallet passphrase: ", PASSPHRASE_FILE_MAX_BYTES)?;
                if confirm {
                    let again = prompt::read_hidden("again: ", PASSPHRASE_FILE_MAX_BYTES)?;
                    if again != first {
                        return Err(Failure::usage("the passphrases differ"));
                    }
                }
                first
            }
            Err(_) => {
                return Err(Failure::usage(format!(
                    "no passphrase: stdin is not a terminal to ask on; give --passphrase-file FILE or set {PASSPHRASE_ENV}"
                )));
            }
        },
    };
    let line = Zeroizing::new(text.lines().next().unwrap_or_default().to_owned());
    if line.is_empty() {
        return Err(Failure::usage("the passphrase is empty"));
    }
    Ok(line)
}

/// Reading a secret on the controlling terminal with echo off, without
/// `unsafe` and without a terminal crate: `stty -echo` on `/dev/tty` (stty
/// is POSIX), the line read byte by byte into zeroized memory, echo turned
/// back on when the guard drops (also on error). A signal that kills the
/// process while it waits leaves echo off, as with any such prompt (`stty
/// echo` or `reset` restores it).
mod prompt {
    use std::fs::{File, OpenOptions};
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    use zeroize::Zeroizing;

    use crate::input::Failure;

    /// Turns echo back on when dropped.
    struct EchoOff(File);

    impl Drop for EchoOff {
        fn drop(&mut self) {
            let _ = stty(&self.0, "echo");
        }
    }

    fn stty(tty: &File, setting: &str) -> Result<(), Failure> {
        let status = Command::new("stty")
            .arg(setting)
            .stdin(Stdio::from(tty.try_clone().map_err(io)?))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| Failure::failed(format!("stty {setting}: {e}")))?;
        if !status.success() {
            return Err(Failure::failed(format!("stty {setting}: {status}")));
        }
        Ok(())
    }

    fn io(e: std::io::Error) -> Failure {
        Failure::failed(format!("/dev/tty: {e}"))
    }

    /// Prints `prompt` on the terminal and reads one line (at most
    /// `max_bytes`) with echo off. Refuses to read at all if echo cannot
    /// be turned off.
    pub(super) fn read_hidden(prompt: &str, max_bytes: u64) -> Result<Zeroizing<String>, Failure> {
        let mut tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(io)?;
        stty(&tty, "-echo")?;
        let _echo = EchoOff(tty.try_clone().map_err(io)?);
        tty.write_all(prompt.as_bytes()).map_err(io)?;
        tty.flush().map_err(io)?;
        let mut line = Zeroizing::new(Vec::new());
        let mut byte = [0u8; 1];
        loop {
            let n = tty.read(&mut byte).map_err(io)?;
            if n == 0 || byte == *b"\n" {
                break;
            }
            if u64::try_from(line.len()).unwrap_or(u64::MAX) >= max_bytes {
                return Err(Failure::usage(format!(
                    "the passphrase is longer than {max_bytes} bytes"
                )));
            }
            line.extend_from_slice(&byte);
        }
        tty.write_all(b"\n").map_err(io)?;
        let text = std::str::from_utf8(&line)
            .map_err(|_| Failure::usage("the passphrase is not UTF-8"))?;
        Ok(Zeroizing::new(text.trim_end_matches('\r').to_owned()))
    }
}

fn seed_path(dir: &Path) -> PathBuf {
    dir.join(SEED)
}

fn refuse_existing(dir: &Path) -> Result<(), Failure> {
    if seed_path(dir).exists() {
        return Err(Failure::usage(format!(
            "{} already holds a wallet",
            dir.display()
        )));
    }
    Ok(())
}

async fn init(
    dir: &Path,
    pass: &str,
    show: bool,
    mnemonic_file: Option<&Path>,
    kdf: &Kdf,
    out: Out,
) -> Result<(), Failure> {
    let params = kdf.params()?;
    refuse_existing(dir)?;
    if let Some(file) = mnemonic_file
        && file.exists()
    {
        return Err(Failure::usage(format!("{} exists", file.display())));
    }
    let words =
        secrets::create_mnemonic_file(&seed_path(dir), pass.as_bytes(), params).map_err(failure)?;
    SqliteStore::open(&dir.join(DB)).await.map_err(failure)?;
    if let Some(file) = mnemonic_file {
        let mut text = Zeroizing::new(words.to_string());
        text.push('\n');
        tally_files::private::create(file, text.as_bytes())?;
    }
    if show {
        eprintln!("mnemonic (shown once; write it down): {}", words.as_str());
    } else if mnemonic_file.is_none() {
        eprintln!(
            "the mnemonic was not shown: the wallet's backup is {} with its passphrase",
            seed_path(dir).display()
        );
    }
    out.print(
        &json!({"dir": dir.display().to_string()}),
        &format!("wallet created in {}", dir.display()),
    );
    Ok(())
}

async fn create_from_mnemonic(
    dir: &Path,
    pass: &str,
    file: &Path,
    kdf: &Kdf,
) -> Result<(), Failure> {
    let params = kdf.params()?;
    refuse_existing(dir)?;
    let text = Zeroizing::new(read_text(file, MNEMONIC_FILE_MAX_BYTES)?);
    let words = Zeroizing::new(text.split_whitespace().collect::<Vec<_>>().join(" "));
    Seed::from_mnemonic(&words, "")
        .map_err(|_| Failure::usage(format!("{}: not a BIP-39 mnemonic", file.display())))?;
    secrets::create_file(&seed_path(dir), &words, pass.as_bytes(), params).map_err(failure)?;
    SqliteStore::open(&dir.join(DB)).await.map_err(failure)?;
    Ok(())
}

/// Opens the wallet in `dir` with `pass` (fails closed without it).
pub(crate) async fn open(dir: &Path, pass: &str) -> Result<Wallet<SqliteStore>, Failure> {
    if !seed_path(dir).exists() {
        return Err(Failure::usage(format!(
            "{} holds no wallet (run `tally wallet init`)",
            dir.display()
        )));
    }
    let seed = secrets::open_seed(&seed_path(dir), pass.as_bytes()).map_err(failure)?;
    let store = SqliteStore::open(&dir.join(DB)).await.map_err(failure)?;
    Ok(Wallet::new(store, seed))
}

fn read_mints(dir: &Path) -> Result<Vec<MintUrl>, Failure> {
    let path = dir.join(MINTS);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = read_text(&path, MINTS_FILE_MAX_BYTES)?;
    let urls: Vec<String> = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    if urls.len() > MINTS_MAX {
        return Err(Failure::usage(format!(
            "{}: more than {MINTS_MAX} mints",
            path.display()
        )));
    }
    urls.iter().map(|u| parse_mint(u)).collect()
}

fn parse_mint(url: &str) -> Result<MintUrl, Failure> {
    MintUrl::new(url).map_err(|e| Failure::usage(format!("mint URL {url:?}: {e}")))
}

/// The mint named, or the only one added.
pub(crate) fn pick_mint(dir: &Path, named: Option<&str>) -> Result<MintUrl, Failure> {
    if let Some(url) = named {
        return parse_mint(url);
    }
    let mints = read_mints(dir)?;
    match mints.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Failure::usage(
            "no mint added (run `tally wallet add-mint URL`)",
        )),
        _ => Err(Failure::usage("several mints added: give --mint URL")),
    }
}

async fn add_mint(
    dir: &Path,
    wallet: &Wallet<SqliteStore>,
    url: &str,
    out: Out,
) -> Result<(), Failure> {
    let mint = parse_mint(url)?;
    wallet.add_mint(&mint).await.map_err(failure)?;
    remember(dir, &mint)?;
    let keysets = wallet.store().keysets(&mint).await.map_err(failure)?.len();
    out.print(
        &json!({"mint": mint.as_str(), "keysets": keysets}),
        &format!("added {} ({} keysets)", mint.as_str(), keysets),
    );
    Ok(())
}

/// Adds `mint` to the mints file (once).
fn remember(dir: &Path, mint: &MintUrl) -> Result<(), Failure> {
    let mut mints = read_mints(dir)?;
    if mints.contains(mint) {
        return Ok(());
    }
    if mints.len() >= MINTS_MAX {
        return Err(Failure::usage(format!("at most {MINTS_MAX} mints")));
    }
    mints.push(mint.clone());
    let urls: Vec<&str> = mints.iter().map(MintUrl::as_str).collect();
    let text = serde_json::to_string(&urls).map_err(|e| Failure::failed(e.to_string()))?;
    tally_files::private::replace(&dir.join(MINTS), text.as_bytes())?;
    Ok(())
}

async fn balance(dir: &Path, wallet: &Wallet<SqliteStore>, out: Out) -> Result<(), Failure> {
    let mut rows = Vec::new();
    let mut text = Vec::new();
    let mut total = 0u64;
    for mint in read_mints(dir)? {
        let b = wallet.balance(&mint).await.map_err(failure)?;
        total = total.saturating_add(b.unspent);
        rows.push(json!({"mint": mint.as_str(), "unspent": b.unspent, "reserved": b.reserved, "pending": b.pending, "sent": b.sent}));
        text.push(format!(
            "{}: {} sat ({} reserved, {} pending, {} in sent tokens not yet redeemed)",
            mint.as_str(),
            b.unspent,
            b.reserved,
            b.pending,
            b.sent
        ));
    }
    text.push(format!("total: {total} sat"));
    out.print(&json!({"mints": rows, "total": total}), &text.join("\n"));
    Ok(())
}

/// Runs `each` for every mint added, in order, and prints its rows as
/// `{"mints": […]}` (or its lines of text).
async fn for_each_mint(
    dir: &Path,
    out: Out,
    mut each: impl AsyncFnMut(&MintUrl) -> Result<(Value, String), Failure>,
) -> Result<(), Failure> {
    let mut rows = Vec::new();
    let mut text = Vec::new();
    for mint in read_mints(dir)? {
        let (row, line) = each(&mint).await?;
        rows.push(row);
        text.push(format!("{}: {line}", mint.as_str()));
    }
    out.print(&json!({"mints": rows}), &text.join("\n"));
    Ok(())
}

async fn check(dir: &Path, wallet: &Wallet<SqliteStore>, out: Out) -> Result<(), Failure> {
    for_each_mint(dir, out, async |mint: &MintUrl| {
        let r = wallet.check_state(mint).await.map_err(failure)?;
        Ok((
            json!({"mint": mint.as_str(), "checked": r.checked, "newly_spent": r.newly_spent, "pending": r.pending}),
            format!(
                "{} checked, {} newly spent, {} pending",
                r.checked, r.newly_spent, r.pending
            ),
        ))
    })
    .await
}

async fn rotate(dir: &Path, wallet: &Wallet<SqliteStore>, out: Out) -> Result<(), Failure> {
    for_each_mint(dir, out, async |mint: &MintUrl| {
        let r = wallet.rotate(mint).await.map_err(failure)?;
        Ok((
            json!({"mint": mint.as_str(), "proofs_moved": r.proofs_moved, "amount_in": r.amount_in, "amount_out": r.amount_out, "dust": r.dust}),
            format!(
                "{} proofs moved ({} sat in, {} sat out, {} dust)",
                r.proofs_moved, r.amount_in, r.amount_out, r.dust
            ),
        ))
    })
    .await
}

async fn history(wallet: &Wallet<SqliteStore>, limit: usize, out: Out) -> Result<(), Failure> {
    if limit == 0 || limit > HISTORY_PAGE_MAX {
        return Err(Failure::usage(format!(
            "--limit must be 1..={HISTORY_PAGE_MAX}"
        )));
    }
    let entries = wallet.store().history(limit).await.map_err(failure)?;
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| json!({"operation": e.operation.0, "mint": e.mint.as_str(), "kind": e.kind, "amount_in": e.amount_in, "amount_out": e.amount_out, "at_s": e.at_s}))
        .collect();
    let text: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {:?} in {} out {} at {} ({})",
                e.mint.as_str(),
                e.kind,
                e.amount_in,
                e.amount_out,
                e.at_s,
                e.operation.0
            )
        })
        .collect();
    out.print(&json!({"history": rows}), &text.join("\n"));
    Ok(())
}

fn melt_quote_json(q: &MeltQuote) -> Value {
    json!({"quote": q.id, "mint": q.mint.as_str(), "request": q.request, "amount": q.amount,
        "fee_reserve": q.fee_reserve, "unit": q.unit, "state": q.state.as_str(),
        "expiry": q.expiry_s, "created_s": q.created_s})
}

/// `melt INVOICE` (a new quote, stored, then paid) or `melt --quote ID` (a
/// stored quote paid, or its unfinished melt resumed).
async fn melt(
    dir: &Path,
    wallet: &Wallet<SqliteStore>,
    invoice: Option<&str>,
    quote_id: Option<&str>,
    mint: Option<&str>,
    out: Out,
) -> Result<(), Failure> {
    let mint = pick_mint(dir, mint)?;
    let quote = match (invoice, quote_id) {
        (Some(invoice), None) => wallet.melt_quote(&mint, invoice).await.map_err(failure)?,
        (None, Some(id)) => wallet
            .store()
            .melt_quote(&mint, id)
            .await
            .map_err(failure)?
            .ok_or_else(|| {
                Failure::usage(format!("no stored melt quote {id} at {}", mint.as_str()))
            })?,
        _ => return Err(Failure::usage("give an INVOICE or --quote ID")),
    };
    let melted = match wallet.melt(&mint, &quote).await {
        Ok(m) => m,
        Err(e) if e.is_ambiguous() => {
            return Err(Failure::failed(format!(
                "{e}: the melt of quote {} is kept; run `tally wallet melt --quote {}` or `tally wallet recover` later",
                quote.id, quote.id
            )));
        }
        Err(e) => return Err(failure(e)),
    };
    out.print(
        &json!({"quote": quote.id, "amount": quote.amount, "fee_reserve": quote.fee_reserve, "inputs": melted.inputs, "change": melted.change}),
        &format!(
            "paid {} sat (quote {}): {} sat of proofs in, {} sat change",
            quote.amount, quote.id, melted.inputs, melted.change
        ),
    );
    Ok(())
}

async fn melt_quotes(wallet: &Wallet<SqliteStore>, limit: usize, out: Out) -> Result<(), Failure> {
    if limit == 0 || limit > HISTORY_PAGE_MAX {
        return Err(Failure::usage(format!(
            "--limit must be 1..={HISTORY_PAGE_MAX}"
        )));
    }
    let quotes = wallet.store().melt_quotes(limit).await.map_err(failure)?;
    let rows: Vec<Value> = quotes.iter().map(melt_quote_json).collect();
    let text: Vec<String> = quotes
        .iter()
        .map(|q| {
            format!(
                "{} {} {} sat (fee reserve {}) {} {}",
                q.mint.as_str(),
                q.id,
                q.amount,
                q.fee_reserve,
                q.state.as_str(),
                q.request
            )
        })
        .collect();
    out.print(&json!({"melt_quotes": rows}), &text.join("\n"));
    Ok(())
}

async fn restore(
    dir: &Path,
    wallet: &Wallet<SqliteStore>,
    named: &[String],
    options: RestoreOptions,
    out: Out,
) -> Result<(), Failure> {
    let mints = if named.is_empty() {
        read_mints(dir)?
    } else {
        named
            .iter()
            .map(|u| parse_mint(u))
            .collect::<Result<_, _>>()?
    };
    if mints.is_empty() {
        return Err(Failure::usage("no mint to restore from: give --mint URL"));
    }
    let mut rows = Vec::new();
    let mut text = Vec::new();
    for mint in mints {
        remember(dir, &mint)?;
        let mut progress = |p: &RestoreProgress| match p {
            RestoreProgress::Keyset {
                id,
                active,
                index,
                count,
            } => eprintln!(
                "restore: {} keyset {} ({}/{count}, {})",
                mint.as_str(),
                id.to_hex(),
                index.saturating_add(1),
                if *active { "active" } else { "inactive" }
            ),
            RestoreProgress::Batch {
                counters,
                signed_total,
                ..
            } => eprintln!(
                "restore:   counters {}..{}: {signed_total} found",
                counters.start, counters.end
            ),
        };
        let r = wallet
            .restore(&mint, options, &mut progress)
            .await
            .map_err(failure)?;
        rows.push(json!({
            "mint": mint.as_str(),
            "amount_unspent": r.amount_unspent(),
            "amount_added": r.amount_added(),
            "keysets": r.keysets.iter().map(|k| json!({
                "id": k.id.to_hex(), "active": k.active, "signed": k.signed,
                "unspent": k.unspent, "spent": k.spent, "pending": k.pending,
                "added": k.added, "next_counter": k.next_counter, "truncated": k.truncated,
            })).collect::<Vec<_>>(),
        }));
        text.push(format!(
            "{}: {} sat unspent found, {} sat added",
            mint.as_str(),
            r.amount_unspent(),
            r.amount_added()
        ));
    }
    out.print(&json!({"mints": rows}), &text.join("\n"));
    Ok(())
}
