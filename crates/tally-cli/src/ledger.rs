//! `tally ledger …`: a durable double-entry ledger in a data directory.
//!
//! Wherever a command takes DIR, a PostgreSQL URL (`postgres://…` or
//! `postgresql://…`) puts the ledger in that database instead (build with
//! the `postgres` feature): init, accounts, transfers, lookup, history,
//! verify, checkpoint; any number of processes may share it.
//!
//! The directory holds the journal (`journal.jsonl`, a tally-audit log): every
//! batch is journaled before it is applied, and every command rebuilds the
//! state by verified replay, from the last snapshot (`snapshots/`) when
//! there is one: a ledger created with a checkpoint signer keeps the signer's
//! public key in `checkpoint.vkey`, and a snapshot is restored only when the
//! signed checkpoint it names verifies under that key and the journal after
//! it binds the snapshot's digest. Events are JSON lines on stdin; ids and amounts
//! are JSON integers up to 2^128 − 1; flags are lists of names. One result
//! per line comes out, in order.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde::{Deserialize, Serialize};
use tally_audit::{
    AuditLog, CheckpointSigner, Durability, InclusionProof, Keyring, LogOptions, NoteVerifier,
    VerifyOptions,
};
use tally_ledger::journal::{
    DurableLedger, FromSnapshot, JournalError, prove_transfer, restore_from_snapshot,
    verify_transfer_proof,
};
use tally_ledger::snapshot::SnapshotError;
use tally_ledger::{AccountFlags, MAX_BATCH_EVENTS, NewAccount, NewTransfer, TransferFlags};

use crate::input::{Failure, Lines, finish, read_text};

// ---- the ledger on PostgreSQL (DIR given as `postgres://…`): src/ledger/pg.rs ----
mod pg;

const JOURNAL: &str = "journal.jsonl";
/// The checkpoint verifier key, written by `init --signer-key-file`.
const VKEY: &str = "checkpoint.vkey";
/// The snapshots: `snapshots/<checkpoint seq, 20 digits>.snap`.
const SNAPSHOTS: &str = "snapshots";
/// Snapshots kept: the newest and the one before it.
const SNAPSHOTS_KEPT: usize = 2;
/// The largest event line.
const LINE_MAX_BYTES: usize = 4 << 10;
/// The largest input: a full batch of the largest lines.
const INPUT_MAX_BYTES: u64 = (MAX_BATCH_EVENTS as u64) * (LINE_MAX_BYTES as u64);
/// The largest proof file.
const PROOF_MAX_BYTES: u64 = 1 << 20;

/// `tally ledger` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LedgerCommand,
}

/// What `tally ledger account` does.
#[derive(Debug, Subcommand)]
enum AccountAction {
    /// Create accounts: JSON lines on stdin, one result per line out.
    Create {
        /// The data directory, or a `postgres://` URL.
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Create a ledger in DIR (which must not hold one).
    Init {
        /// The data directory.
        dir: PathBuf,
        /// A checkpoint signer key file: the journal's checkpoints are then
        /// signed, so transfers can be proved.
        #[arg(long)]
        signer_key_file: Option<PathBuf>,
    },
    /// Create accounts: JSON lines on stdin, one result per line out.
    Accounts {
        /// The data directory.
        dir: PathBuf,
    },
    /// Accounts: `account create DIR` is `accounts DIR`.
    Account {
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Create transfers (posts, voids): JSON lines on stdin, one result per line.
    #[command(visible_alias = "transfer")]
    Transfers {
        /// The data directory.
        dir: PathBuf,
    },
    /// Print an account and its balances (or, with --transfer, a transfer).
    Lookup {
        /// The data directory.
        dir: PathBuf,
        /// The account id (the transfer id with --transfer).
        id: u128,
        /// Look up a transfer.
        #[arg(long)]
        transfer: bool,
    },
    /// Print an account's balances and what it can still spend.
    Balance {
        /// The data directory.
        dir: PathBuf,
        /// The account id.
        id: u128,
    },
    /// Write a snapshot at a new signed checkpoint (needs the signer), so
    /// that restarts read the snapshot and only the journal after it.
    Snapshot {
        /// The data directory.
        dir: PathBuf,
        /// The checkpoint signer key file given to `init`.
        #[arg(long)]
        signer_key_file: PathBuf,
    },
    /// Print an account's transfers, oldest first (at most --limit).
    History {
        /// The data directory.
        dir: PathBuf,
        /// The account id.
        id: u128,
        /// At most this many (up to 8,189).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Replay the journal, verifying it, and print the double-entry totals.
    Verify {
        /// The data directory.
        dir: PathBuf,
        /// With a database: the checkpoint verifier key (`name+id+key`);
        /// every stored checkpoint must then be signed by it.
        #[arg(long)]
        vkey: Option<String>,
    },
    /// Write a signed checkpoint of the journal (needs the signer).
    Checkpoint {
        /// The data directory.
        dir: PathBuf,
        /// The checkpoint signer key file given to `init`.
        #[arg(long)]
        signer_key_file: PathBuf,
    },
    /// Print the proof that a transfer was journaled (under the last signed checkpoint).
    Prove {
        /// The data directory.
        dir: PathBuf,
        /// The transfer id.
        id: u128,
        /// The checkpoint verifier key (`name+id+key`).
        #[arg(long)]
        vkey: String,
    },
    /// Verify a transfer proof offline and print the transfer.
    VerifyProof {
        /// The proof file.
        proof: PathBuf,
        /// The transfer id.
        #[arg(long)]
        id: u128,
        /// The checkpoint verifier key (`name+id+key`).
        #[arg(long)]
        vkey: String,
    },
}

/// An account as a JSON line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountLine {
    id: u128,
    ledger: u32,
    code: u16,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    user_data_128: u128,
    #[serde(default)]
    user_data_64: u64,
    #[serde(default)]
    user_data_32: u32,
}

/// A transfer as a JSON line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferLine {
    id: u128,
    #[serde(default)]
    debit_account_id: u128,
    #[serde(default)]
    credit_account_id: u128,
    #[serde(default)]
    amount: u128,
    #[serde(default)]
    pending_id: u128,
    #[serde(default)]
    ledger: u32,
    #[serde(default)]
    code: u16,
    #[serde(default)]
    timeout: u32,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    user_data_128: u128,
    #[serde(default)]
    user_data_64: u64,
    #[serde(default)]
    user_data_32: u32,
}

#[derive(Serialize)]
struct ResultLine<'a> {
    id: u128,
    result: &'a str,
}

fn account_flags(names: &[String], line: u64) -> Result<AccountFlags, Failure> {
    names.iter().try_fold(AccountFlags::empty(), |f, n| {
        Ok(f | match n.as_str() {
            "linked" => AccountFlags::LINKED,
            "debits_must_not_exceed_credits" => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            "credits_must_not_exceed_debits" => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            "history" => AccountFlags::HISTORY,
            other => {
                return Err(Failure::usage(format!(
                    "stdin line {line}: `flags`: unknown account flag {other:?}"
                )));
            }
        })
    })
}

fn transfer_flags(names: &[String], line: u64) -> Result<TransferFlags, Failure> {
    names.iter().try_fold(TransferFlags::empty(), |f, n| {
        Ok(f | match n.as_str() {
            "linked" => TransferFlags::LINKED,
            "pending" => TransferFlags::PENDING,
            "post_pending_transfer" => TransferFlags::POST_PENDING_TRANSFER,
            "void_pending_transfer" => TransferFlags::VOID_PENDING_TRANSFER,
            "balancing_debit" => TransferFlags::BALANCING_DEBIT,
            "balancing_credit" => TransferFlags::BALANCING_CREDIT,
            other => {
                return Err(Failure::usage(format!(
                    "stdin line {line}: `flags`: unknown transfer flag {other:?}"
                )));
            }
        })
    })
}

/// Runs `tally ledger …`.
pub fn run(args: Args) -> ExitCode {
    // `account create DIR` is `accounts DIR`: one path from here on.
    let command = match args.command {
        LedgerCommand::Account {
            action: AccountAction::Create { dir },
        } => LedgerCommand::Accounts { dir },
        other => other,
    };
    // The ledger on PostgreSQL: DIR given as a `postgres://` URL.
    if let Some(url) = pg::database(&command) {
        return finish("tally ledger", pg::run(&url, command));
    }
    let result = match command {
        LedgerCommand::Init {
            dir,
            signer_key_file,
        } => init(&dir, signer_key_file.as_deref()),
        LedgerCommand::Accounts { dir }
        | LedgerCommand::Account {
            action: AccountAction::Create { dir },
        } => accounts(&dir),
        LedgerCommand::Transfers { dir } => transfers(&dir),
        LedgerCommand::Lookup { dir, id, transfer } => {
            if transfer {
                lookup_transfer(&dir, id)
            } else {
                lookup(&dir, id)
            }
        }
        LedgerCommand::Balance { dir, id } => balance(&dir, id),
        LedgerCommand::Snapshot {
            dir,
            signer_key_file,
        } => snapshot(&dir, &signer_key_file),
        LedgerCommand::History { dir, id, limit } => history(&dir, id, limit),
        LedgerCommand::Verify { dir, .. } => verify(&dir),
        LedgerCommand::Checkpoint {
            dir,
            signer_key_file,
        } => checkpoint(&dir, &signer_key_file),
        LedgerCommand::Prove { dir, id, vkey } => prove(&dir, id, &vkey),
        LedgerCommand::VerifyProof { proof, id, vkey } => verify_proof(&proof, id, &vkey),
    };
    finish("tally ledger", result)
}

fn signer(path: &Path) -> Result<CheckpointSigner, Failure> {
    let text = tally_files::private::read(path, 4096)?;
    CheckpointSigner::parse(text.as_str())
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

fn init(dir: &Path, signer_file: Option<&Path>) -> Result<(), Failure> {
    tally_files::private::create_dir(dir)?;
    let mut opts = LogOptions::new().durability(Durability::Batch);
    if let Some(path) = signer_file {
        let signer = signer(path)?;
        let vkey = dir.join(VKEY);
        tally_files::create_atomic(&vkey, signer.verifier().to_vkey().as_bytes(), 0o644)?;
        opts = opts.signer(signer);
    }
    let log = AuditLog::create(dir.join(JOURNAL), opts)
        .map_err(|e| Failure::usage(format!("{}: {e}", dir.join(JOURNAL).display())))?;
    log.close().map_err(|e| Failure::failed(e.to_string()))?;
    println!("ledger created in {}", dir.display());
    Ok(())
}

/// The ledger in `dir`, restored (from its last snapshot when it has one)
/// and open for writing.
fn open(dir: &Path, signer_file: Option<&Path>) -> Result<DurableLedger, Failure> {
    let path = dir.join(JOURNAL);
    let mut opts = LogOptions::new()
        .durability(Durability::Batch)
        .checkpoint_on_close(false);
    if let Some(s) = signer_file {
        opts = opts.signer(signer(s)?);
    }
    // The lock first: nothing appends between the restore and our writes.
    // Opening checks only the records after the last signed checkpoint:
    // the restore below verifies the rest (the whole journal, or the
    // snapshot's checkpoint and everything after it).
    let (log, _) = AuditLog::open(&path, opts.trust_checkpoint_prefix(true))
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    let state = restore(dir)?;
    Ok(match state {
        Restored::Snapshot(from) => DurableLedger::from_snapshot(*from, log),
        Restored::Replayed => {
            let journal = std::fs::File::open(&path).map_err(|e| Failure::io(&path, &e))?;
            DurableLedger::restore(journal, &VerifyOptions::new(), log)
                .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?
        }
    })
}

/// How [`restore`] restored.
enum Restored {
    /// From a snapshot and the journal after it.
    Snapshot(Box<FromSnapshot>),
    /// No usable snapshot: the caller replays the whole journal.
    Replayed,
}

/// The checkpoint verifier key of the ledger in `dir`, if it has one.
fn vkey_of(dir: &Path) -> Result<Option<NoteVerifier>, Failure> {
    let path = dir.join(VKEY);
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(&path, 4096)?;
    NoteVerifier::parse(text.trim())
        .map(Some)
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))
}

/// The snapshots in `dir`, newest first.
fn snapshots(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let sdir = dir.join(SNAPSHOTS);
    if !sdir.exists() {
        return Ok(Vec::new());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&sdir)
        .map_err(|e| Failure::io(&sdir, &e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    // Names are zero-padded sequence numbers: text order is age order.
    found.sort_unstable_by(|a, b| b.cmp(a));
    Ok(found)
}

/// Restores from the newest snapshot the journal binds. A snapshot no
/// record binds (written just before a crash) is skipped for the one
/// before it; anything else wrong with a snapshot or the journal fails
/// closed.
fn restore(dir: &Path) -> Result<Restored, Failure> {
    let Some(vkey) = vkey_of(dir)? else {
        return Ok(Restored::Replayed);
    };
    let path = dir.join(JOURNAL);
    let opts = VerifyOptions::new().checkpoint_key(vkey);
    for snap in snapshots(dir)? {
        let file = std::fs::File::open(&snap).map_err(|e| Failure::io(&snap, &e))?;
        let len = file.metadata().map_err(|e| Failure::io(&snap, &e))?.len();
        let journal = std::fs::File::open(&path).map_err(|e| Failure::io(&path, &e))?;
        match restore_from_snapshot(
            std::io::BufReader::with_capacity(1 << 16, file),
            len,
            std::io::BufReader::with_capacity(1 << 20, journal),
            &opts,
        ) {
            Ok(from) => return Ok(Restored::Snapshot(Box::new(from))),
            Err(JournalError::SnapshotNotBound {
                mismatch: false, ..
            }) => {
                eprintln!(
                    "tally ledger: {}: no journal record binds this snapshot (written just before a crash?); using an older one",
                    snap.display()
                );
            }
            Err(JournalError::Snapshot(e @ SnapshotError::OtherVersion(_))) => {
                eprintln!(
                    "tally ledger: {}: {e}; using an older one or the whole journal",
                    snap.display()
                );
            }
            Err(e) => return Err(Failure::failed(format!("{}: {e}", snap.display()))),
        }
    }
    Ok(Restored::Replayed)
}

/// The state of the ledger in `dir`, for reading: the last snapshot and the
/// journal after it (or one verified replay of the whole journal), without
/// opening it for writing (no lock, no second pass).
pub(crate) fn load(dir: &Path) -> Result<tally_ledger::Ledger, Failure> {
    if let Restored::Snapshot(from) = restore(dir)? {
        return Ok(from.ledger);
    }
    let path = dir.join(JOURNAL);
    let journal = std::fs::File::open(&path).map_err(|e| Failure::io(&path, &e))?;
    tally_ledger::journal::replay(journal, &VerifyOptions::new())
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))
}

/// The ledger's clock: nanoseconds since the Unix epoch (the state machine
/// keeps its timestamps strictly increasing whatever this says).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Reads every line of stdin (bounded) and decodes it, before anything is
/// journaled: a bad line changes nothing.
fn read_events<T: serde::de::DeserializeOwned>() -> Result<Vec<(u64, T)>, Failure> {
    let stdin = std::io::stdin().lock();
    let mut lines = Lines::new(stdin, "stdin", LINE_MAX_BYTES, INPUT_MAX_BYTES);
    let mut out = Vec::new();
    while let Some((n, line)) = lines.next_line()? {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if out.len() >= MAX_BATCH_EVENTS {
            return Err(Failure::usage(format!(
                "stdin: more than {MAX_BATCH_EVENTS} events (one batch)"
            )));
        }
        let event = serde_json::from_slice(line)
            .map_err(|e| Failure::usage(format!("stdin line {n}: {e}")))?;
        out.push((n, event));
    }
    Ok(out)
}

fn print_results<R: std::fmt::Display>(ids: &[u128], results: &[R]) -> Result<(), Failure> {
    let mut failed = false;
    for (id, r) in ids.iter().zip(results) {
        let text = r.to_string();
        failed |= text != "ok";
        let line = serde_json::to_string(&ResultLine {
            id: *id,
            result: &text,
        })
        .map_err(|e| Failure::usage(e.to_string()))?;
        println!("{line}");
    }
    if failed {
        return Err(Failure::failed(
            "some events were not applied (see their results)",
        ));
    }
    Ok(())
}

fn accounts(dir: &Path) -> Result<(), Failure> {
    let lines: Vec<(u64, AccountLine)> = read_events()?;
    let events = lines
        .iter()
        .map(|(n, a)| {
            Ok(NewAccount {
                id: a.id,
                ledger: a.ledger,
                code: a.code,
                flags: account_flags(&a.flags, *n)?,
                user_data_128: a.user_data_128,
                user_data_64: a.user_data_64,
                user_data_32: a.user_data_32,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    apply(dir, &ids, |l| l.create_accounts(&events, now()))
}

/// Opens the ledger in `dir`, applies one batch with `create` and prints a
/// result per event.
fn apply<R: std::fmt::Display>(
    dir: &Path,
    ids: &[u128],
    create: impl FnOnce(&mut DurableLedger) -> Result<Vec<R>, tally_ledger::journal::JournalError>,
) -> Result<(), Failure> {
    let mut ledger = open(dir, None)?;
    let results = create(&mut ledger).map_err(|e| Failure::failed(e.to_string()))?;
    print_results(ids, &results)
}

fn transfers(dir: &Path) -> Result<(), Failure> {
    let lines: Vec<(u64, TransferLine)> = read_events()?;
    let events = lines
        .iter()
        .map(|(n, t)| {
            Ok(NewTransfer {
                id: t.id,
                debit_account_id: t.debit_account_id,
                credit_account_id: t.credit_account_id,
                amount: t.amount,
                pending_id: t.pending_id,
                ledger: t.ledger,
                code: t.code,
                timeout: t.timeout,
                flags: transfer_flags(&t.flags, *n)?,
                user_data_128: t.user_data_128,
                user_data_64: t.user_data_64,
                user_data_32: t.user_data_32,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    apply(dir, &ids, |l| l.create_transfers(&events, now()))
}

fn lookup(dir: &Path, id: u128) -> Result<(), Failure> {
    let ledger = load(dir)?;
    let a = ledger
        .account(id)
        .ok_or_else(|| Failure::failed(format!("no account {id}")))?;
    // JSON numbers may be as long as they need: 128-bit values are written
    // in full (serde_json's `Value` holds at most 64 bits).
    let json = format!(
        "{{\"id\":{},\"ledger\":{},\"code\":{},\"debits_pending\":{},\"debits_posted\":{},\"credits_pending\":{},\"credits_posted\":{},\"timestamp\":{}}}",
        a.id,
        a.ledger,
        a.code,
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
        a.timestamp
    );
    println!("{json}");
    Ok(())
}

fn lookup_transfer(dir: &Path, id: u128) -> Result<(), Failure> {
    let ledger = load(dir)?;
    let t = ledger
        .transfer(id)
        .ok_or_else(|| Failure::failed(format!("no transfer {id}")))?;
    println!("{}", transfer_line(&t, ledger.pending_state(id)));
    Ok(())
}

/// A transfer as `lookup --transfer` prints it, with where a pending one
/// stands.
fn transfer_line(
    t: &tally_ledger::Transfer,
    pending: Option<tally_ledger::PendingState>,
) -> String {
    let state = match pending {
        None => String::new(),
        Some(tally_ledger::PendingState::Pending) => ",\"pending\":\"pending\"".to_owned(),
        Some(tally_ledger::PendingState::Posted(amount)) => {
            format!(",\"pending\":\"posted\",\"posted_amount\":{amount}")
        }
        Some(tally_ledger::PendingState::Voided) => ",\"pending\":\"voided\"".to_owned(),
        Some(tally_ledger::PendingState::Expired) => ",\"pending\":\"expired\"".to_owned(),
    };
    format!(
        "{{\"id\":{},\"debit_account_id\":{},\"credit_account_id\":{},\"amount\":{},\"pending_id\":{},\"ledger\":{},\"code\":{},\"flags\":{},\"timeout\":{},\"timestamp\":{}{state}}}",
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.pending_id,
        t.ledger,
        t.code,
        t.flags.bits(),
        t.timeout,
        t.timestamp
    )
}

fn balance(dir: &Path, id: u128) -> Result<(), Failure> {
    let ledger = load(dir)?;
    let a = ledger
        .account(id)
        .ok_or_else(|| Failure::failed(format!("no account {id}")))?;
    println!("{}", balance_line(a));
    Ok(())
}

/// An account's balances as `balance` prints them, with what it can still
/// send: posted credits less every debit (held or posted) for an account
/// that may not overdraw; `null` (unbounded) otherwise.
fn balance_line(a: &tally_ledger::Account) -> String {
    let available = if a
        .flags
        .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
    {
        a.credits_posted
            .saturating_sub(a.debits_posted.saturating_add(a.debits_pending))
            .to_string()
    } else {
        "null".to_owned()
    };
    format!(
        "{{\"id\":{},\"debits_pending\":{},\"debits_posted\":{},\"credits_pending\":{},\"credits_posted\":{},\"available\":{available}}}",
        a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted
    )
}

fn snapshot(dir: &Path, signer_file: &Path) -> Result<(), Failure> {
    if vkey_of(dir)?.is_none() {
        return Err(Failure::usage(format!(
            "{}: this ledger has no checkpoint key (created without --signer-key-file): its snapshots could not be verified",
            dir.display()
        )));
    }
    let mut ledger = open(dir, Some(signer_file))?;
    let sdir = dir.join(SNAPSHOTS);
    if !sdir.exists() {
        tally_files::private::create_dir(&sdir)?;
    }
    // The checkpoint the snapshot is taken at is the journal's next record.
    let next = ledger.log().len();
    let path = sdir.join(format!("{next:020}.snap"));
    let info = ledger
        .snapshot(&path)
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    for old in snapshots(dir)?.into_iter().skip(SNAPSHOTS_KEPT) {
        std::fs::remove_file(&old).map_err(|e| Failure::io(&old, &e))?;
    }
    let (accounts, transfers) = ledger.ledger().len();
    println!(
        "snapshot {} at checkpoint {}: {} bytes, {accounts} accounts, {transfers} transfers, blake3 {}",
        path.display(),
        info.at.seq,
        info.bytes,
        tally_encoding::hex::encode(&info.digest)
    );
    Ok(())
}

fn history(dir: &Path, id: u128, limit: usize) -> Result<(), Failure> {
    let ledger = load(dir)?;
    for t in ledger.account_transfers(id, 0, limit) {
        let json = format!(
            "{{\"id\":{},\"debit_account_id\":{},\"credit_account_id\":{},\"amount\":{},\"pending_id\":{},\"timestamp\":{}}}",
            t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id, t.timestamp
        );
        println!("{json}");
    }
    Ok(())
}

fn verify(dir: &Path) -> Result<(), Failure> {
    let ledger = load(dir)?;
    let (accounts, transfers) = ledger.len();
    let mut balanced = true;
    for (id, t) in ledger.totals() {
        balanced &= t.balanced();
        println!(
            "ledger {id}: debits pending {} posted {}, credits pending {} posted {}",
            t.debits_pending.lo, t.debits_posted.lo, t.credits_pending.lo, t.credits_posted.lo
        );
    }
    if !balanced {
        return Err(Failure::failed("double entry does not hold"));
    }
    println!("ok: {accounts} accounts, {transfers} transfers, double entry holds");
    Ok(())
}

fn checkpoint(dir: &Path, signer_file: &Path) -> Result<(), Failure> {
    let ledger = open(dir, Some(signer_file))?;
    let cp = ledger
        .log()
        .checkpoint()
        .map_err(|e| Failure::failed(e.to_string()))?;
    print!("{}", cp.note);
    Ok(())
}

fn prove(dir: &Path, id: u128, vkey: &str) -> Result<(), Failure> {
    let vkey = NoteVerifier::parse(vkey).map_err(|e| Failure::usage(format!("--vkey: {e}")))?;
    let ledger = open(dir, None)?;
    let path = dir.join(JOURNAL);
    let journal = std::fs::File::open(&path).map_err(|e| Failure::io(&path, &e))?;
    let opts = VerifyOptions::new().checkpoint_key(vkey);
    let proof =
        prove_transfer(&ledger, journal, id, &opts).map_err(|e| Failure::failed(e.to_string()))?;
    println!("{}", proof.to_json());
    Ok(())
}

fn verify_proof(path: &Path, id: u128, vkey: &str) -> Result<(), Failure> {
    let text = read_text(path, PROOF_MAX_BYTES)?;
    let vkey = NoteVerifier::parse(vkey).map_err(|e| Failure::usage(format!("--vkey: {e}")))?;
    // A PostgreSQL journal's proof (`tally serve --database`) names its format.
    if let Ok(pg) = tally_ledger::pg_proof::PgInclusionProof::from_json(&text) {
        let (transfer, seq) = pg
            .verify(&vkey)
            .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
        if transfer != id {
            return Err(Failure::failed(format!(
                "{}: the proof is of transfer {transfer}, not {id}",
                path.display()
            )));
        }
        println!("ok: transfer {transfer} is in record {seq} of the PostgreSQL journal");
        return Ok(());
    }
    let proof = InclusionProof::parse(&text)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let t = verify_transfer_proof(&proof, &vkey, &Keyring::new(), id)
        .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    println!(
        "ok: transfer {} of {} from {} to {} is in the journal",
        t.id, t.amount, t.debit_account_id, t.credit_account_id
    );
    Ok(())
}
