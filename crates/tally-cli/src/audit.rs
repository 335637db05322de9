//! `tally audit …`: create, append to, verify, checkpoint, rotate the key
//! of and prove tamper-evident audit logs (the `tally-audit` crate).
//!
//! Secrets (the HMAC key, the checkpoint signing key) are read from files
//! (mode 0600) or environment variables, never from arguments.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::input::{Failure, Lines, finish, read_text};
use clap::{Subcommand, ValueEnum};
use tally_audit::{
    AuditError, AuditKey, AuditLog, Checkpoint, CheckpointRef, CheckpointSigner, ConsistencyProof,
    Durability, ForwardSecure, Header, InclusionProof, KeyFileSink, Keyring, LogOptions, Mode,
    NoteVerifier, VerifiedReader, VerifyOptions,
};
use tally_serve::decide::pg_proof::{PgConsistencyProof, PgDecisionProof};

/// Environment variable holding the HMAC key file text.
const KEY_ENV: &str = "TALLY_AUDIT_KEY";
/// Environment variable holding the checkpoint signer key (`PRIVATE+KEY+…`,
/// or a workspace key `tally-ed25519-secret-v1:…`).
const SIGNER_ENV: &str = "TALLY_AUDIT_SIGNER_KEY";
/// Logs at least this large get a progress line on a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;
/// The most lines `tail` prints.
const TAIL_MAX_LINES: usize = 100_000;
/// The most bytes `append` reads from stdin in one run (256 MiB): all of it
/// is checked before anything is appended, so it is held, once, in memory.
const APPEND_MAX_BYTES: u64 = 256 << 20;
/// How many records `append` hands to the log per group commit.
const APPEND_CHUNK_RECORDS: usize = 4096;
/// The largest checkpoint note file read (64 KiB; a note is a few lines).
const CHECKPOINT_MAX_BYTES: u64 = 64 << 10;
/// The largest secret key file read (4 KiB).
const SECRET_MAX_BYTES: u64 = 4 << 10;
/// Records per key epoch of a forward-secure log, unless --epoch-records
/// says otherwise.
const DEFAULT_EPOCH_RECORDS: u64 = 1024;
/// The longest line of a log: the largest payload and its envelope.
const LOG_LINE_MAX_BYTES: usize =
    tally_audit::DEFAULT_MAX_PAYLOAD_BYTES + tally_audit::MAX_ENVELOPE_BYTES;

/// Tamper-evident audit logs.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DurabilityArg {
    None,
    Batch,
    Always,
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    /// HMAC key file (mode 0600); default: $TALLY_AUDIT_KEY if set.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Earlier HMAC key files, to verify records written before a rotation.
    #[arg(long)]
    old_key_file: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct EpochArgs {
    /// For a forward-secure log: records per key epoch. After this many
    /// records the key in --key-file evolves and its previous epoch is erased.
    #[arg(long, default_value_t = DEFAULT_EPOCH_RECORDS,
          value_parser = clap::value_parser!(u64).range(1..))]
    epoch_records: u64,
}

#[derive(Debug, Subcommand)]
enum ConsistencyCommand {
    /// Print a consistency proof (JSON) that an older signed checkpoint of
    /// the log is a prefix of a newer one.
    Prove {
        /// The log file.
        log: PathBuf,
        /// The older checkpoint: a tree size (one of the log's checkpoint
        /// records) or a signed checkpoint note file.
        #[arg(long)]
        old: String,
        /// The newer checkpoint, as --old; default: the log's last one.
        #[arg(long)]
        new: Option<String>,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Check a proof from `consistency prove` against the checkpoint
    /// verifier key: both signatures, the log id and the path between them.
    Verify {
        /// The proof file (JSON from `tally audit consistency prove`).
        proof: PathBuf,
        /// The checkpoint verifier key (`name+id+key`), trusted.
        #[arg(
            long,
            required_unless_present = "trusted_keys",
            conflicts_with = "trusted_keys"
        )]
        vkey: Option<String>,
        /// Instead of --vkey: a trusted-keys file (as for `tally reward`);
        /// the checkpoints must be signed by one of its keys.
        #[arg(long)]
        trusted_keys: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Generate a key file (mode 0600): an HMAC key, or with --signer NAME a
    /// checkpoint signing key (its verifier key is printed on stdout).
    Keygen {
        /// Where to write the key (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Generate an Ed25519 checkpoint signer with this name (origin).
        #[arg(long)]
        signer: Option<String>,
    },
    /// Create a new log.
    Init {
        /// The log file to create.
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Checkpoint signer key file (`tally audit keygen --signer`, or a
        /// `tally reward keygen` key, named by its key id); default:
        /// $TALLY_AUDIT_SIGNER_KEY if set.
        #[arg(long)]
        signer_key_file: Option<PathBuf>,
        /// Forward-secure mode: the writer's key in --key-file evolves every
        /// --epoch-records records and each epoch it leaves is erased. Keep a
        /// copy of the key file as it is now: verifying needs epoch 0.
        #[arg(long, requires = "key_file")]
        forward_secure: bool,
    },
    /// Append payloads read from stdin, one JSON value per line.
    Append {
        /// The log file.
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Checkpoint signer key file (`tally audit keygen --signer`, or a
        /// `tally reward keygen` key, named by its key id); default:
        /// $TALLY_AUDIT_SIGNER_KEY if set.
        #[arg(long)]
        signer_key_file: Option<PathBuf>,
        /// When an append counts as done.
        #[arg(long, value_enum, default_value = "batch")]
        durability: DurabilityArg,
        #[command(flatten)]
        epochs: EpochArgs,
    },
    /// Verify a whole log, optionally against a trusted checkpoint.
    Verify {
        /// The log file.
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// A trusted checkpoint (signed note file) kept outside the writer.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The trusted checkpoint verifier key (`name+id+key`, public).
        #[arg(long, conflicts_with = "trusted_keys")]
        vkey: Option<String>,
        /// Instead of --vkey: a trusted-keys file (as for `tally reward`).
        /// The log's checkpoint key (named in its header) must be one of
        /// its keys; with --checkpoint, the note must be signed by it.
        #[arg(long)]
        trusted_keys: Option<PathBuf>,
    },
    /// Write a checkpoint record now and print its note.
    Checkpoint {
        /// The log file.
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Checkpoint signer key file (`tally audit keygen --signer`, or a
        /// `tally reward keygen` key, named by its key id); default:
        /// $TALLY_AUDIT_SIGNER_KEY if set.
        #[arg(long)]
        signer_key_file: Option<PathBuf>,
        #[command(flatten)]
        epochs: EpochArgs,
    },
    /// Rotate a keyed or forward-secure log to the key in --next-key-file:
    /// a record authenticated by the current key names the next one, which
    /// authenticates every later record. In a forward-secure log the next
    /// key is first written beside the key file as `<key file>.next`, the
    /// record made durable, then renamed over the key file (the old key is
    /// erased; a crash at any step leaves a key that opens the log). In a
    /// keyed log the key files stay as they are: write with the next key
    /// from now on, verify with both.
    RotateKey {
        /// The log file.
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// The next key: a key file from `tally audit keygen` (mode 0600).
        /// Keep it: verifying the records after the rotation needs it.
        #[arg(long)]
        next_key_file: PathBuf,
        /// Checkpoint signer key file (`tally audit keygen --signer`, or a
        /// `tally reward keygen` key, named by its key id); default:
        /// $TALLY_AUDIT_SIGNER_KEY if set.
        #[arg(long)]
        signer_key_file: Option<PathBuf>,
        #[command(flatten)]
        epochs: EpochArgs,
    },
    /// Print an inclusion proof (JSON) of record SEQ under the log's last
    /// checkpoint.
    Prove {
        /// The log file.
        log: PathBuf,
        /// The record's sequence number.
        seq: u64,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Check a proof from `prove` against the checkpoint verifier key (and,
    /// for a keyed log, the record's MAC when the key is given).
    VerifyProof {
        /// The proof file (JSON from `tally audit prove`).
        proof: PathBuf,
        /// The checkpoint verifier key (`name+id+key`), trusted.
        #[arg(
            long,
            required_unless_present = "trusted_keys",
            conflicts_with = "trusted_keys"
        )]
        vkey: Option<String>,
        /// Instead of --vkey: a trusted-keys file (as for `tally reward`);
        /// the checkpoint must be signed by one of its keys.
        #[arg(long)]
        trusted_keys: Option<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Prove and verify that one signed checkpoint of a log extends another.
    Consistency {
        #[command(subcommand)]
        command: ConsistencyCommand,
    },
    /// Print the last lines of a log as stored (not verified).
    Tail {
        /// The log file.
        log: PathBuf,
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
    },
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Io { .. }
            | AuditError::InvalidKey { .. }
            | AuditError::AlreadyExists
            | AuditError::Invalid { .. }
            | AuditError::PayloadTooLarge { .. }
            | AuditError::PayloadNotJson { .. }
            | AuditError::NotALog { .. } => Self::Usage(format!("{e} [{}]", e.code())),
            AuditError::KeyRequired { .. } => Self::Usage(format!(
                "this log is keyed: give --key-file (or $TALLY_AUDIT_KEY) [{}]",
                e.code()
            )),
            other => Self::Failed(format!("{other} [{}]", other.code())),
        }
    }
}

/// Runs `tally audit …`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        AuditCommand::Keygen { out, signer } => keygen(&out, signer.as_deref()),
        AuditCommand::Init {
            log,
            keys,
            signer_key_file,
            forward_secure,
        } => init(&log, &keys, signer_key_file.as_deref(), forward_secure),
        AuditCommand::Append {
            log,
            keys,
            signer_key_file,
            durability,
            epochs,
        } => append(&log, &keys, signer_key_file.as_deref(), durability, &epochs),
        AuditCommand::Verify {
            log,
            keys,
            checkpoint,
            vkey,
            trusted_keys,
        } => verify(
            &log,
            &keys,
            checkpoint.as_deref(),
            vkey.as_deref(),
            trusted_keys.as_deref(),
        ),
        AuditCommand::Checkpoint {
            log,
            keys,
            signer_key_file,
            epochs,
        } => checkpoint(&log, &keys, signer_key_file.as_deref(), &epochs),
        AuditCommand::RotateKey {
            log,
            keys,
            next_key_file,
            signer_key_file,
            epochs,
        } => rotate_key(
            &log,
            &keys,
            &next_key_file,
            signer_key_file.as_deref(),
            &epochs,
        ),
        AuditCommand::Consistency {
            command:
                ConsistencyCommand::Prove {
                    log,
                    old,
                    new,
                    keys,
                },
        } => consistency_prove(&log, &old, new.as_deref(), &keys),
        AuditCommand::Consistency {
            command:
                ConsistencyCommand::Verify {
                    proof,
                    vkey,
                    trusted_keys,
                },
        } => consistency_verify(&proof, vkey.as_deref(), trusted_keys.as_deref()),
        AuditCommand::Prove { log, seq, keys } => prove(&log, seq, &keys),
        AuditCommand::VerifyProof {
            proof,
            vkey,
            trusted_keys,
            keys,
        } => verify_proof(&proof, vkey.as_deref(), trusted_keys.as_deref(), &keys),
        AuditCommand::Tail { log, lines } => tail(&log, lines),
    };
    finish("tally audit", result)
}

fn key(args: &KeyArgs) -> Result<Option<AuditKey>, Failure> {
    match &args.key_file {
        Some(path) => Ok(Some(AuditKey::load_file(path)?)),
        None if std::env::var_os(KEY_ENV).is_some() => Ok(Some(AuditKey::from_env(KEY_ENV)?)),
        None => Ok(None),
    }
}

pub(crate) fn keyring(args: &KeyArgs) -> Result<Keyring, Failure> {
    let mut ring = Keyring::new();
    if let Some(k) = key(args)? {
        ring = ring.with(k);
    }
    for path in &args.old_key_file {
        ring = ring.with(AuditKey::load_file(path)?);
    }
    Ok(ring)
}

fn signer(path: Option<&Path>) -> Result<Option<CheckpointSigner>, Failure> {
    match path {
        Some(p) => parse_signer(read_secret_file(p)?.as_str()).map_err(|e| e.in_file(p)),
        None => match std::env::var(SIGNER_ENV) {
            Ok(text) => parse_signer(&zeroize::Zeroizing::new(text)),
            Err(_) => return Ok(None),
        },
    }
    .map(Some)
}

/// The text of a secret signing key file, either form.
pub(crate) enum KeyText {
    /// A signed-note key (`PRIVATE+KEY+<name>+<id>+…`, `tally audit keygen
    /// --signer`).
    Note(CheckpointSigner),
    /// A workspace key (`tally-ed25519-secret-v1:…`, `tally reward keygen`;
    /// or the legacy `tally-reward-ed25519-secret-v1:…`).
    Workspace(tally_keys::SigningKey),
}

/// Parses a secret signing key text of either form.
pub(crate) fn parse_key_text(text: &str) -> Result<KeyText, Failure> {
    if text.trim_start().starts_with("PRIVATE+KEY+") {
        Ok(KeyText::Note(CheckpointSigner::parse(text)?))
    } else {
        Ok(KeyText::Workspace(tally_keys::SigningKey::parse(text)?))
    }
}

/// A checkpoint signer key: a signed-note key, or a workspace key, which
/// signs under the note key name of its id.
fn parse_signer(text: &str) -> Result<CheckpointSigner, Failure> {
    Ok(match parse_key_text(text)? {
        KeyText::Note(signer) => signer,
        KeyText::Workspace(key) => CheckpointSigner::from_key_named_by_id(key),
    })
}

/// The checkpoint verifier: the `--vkey` given, or the key of the
/// `--trusted-keys` file that signed `note`.
fn note_verifier(
    vkey: Option<&str>,
    trusted_keys: Option<&Path>,
    note: &str,
) -> Result<NoteVerifier, Failure> {
    match (vkey, trusted_keys) {
        (Some(v), _) => Ok(NoteVerifier::parse(v)?),
        (None, Some(path)) => {
            let trusted = tally_keys::TrustedKeys::read_file(path)?;
            NoteVerifier::for_note(note, &trusted)
                .map_err(|e| Failure::failed(format!("{}: {e} [{}]", path.display(), e.code())))
        }
        (None, None) => Err(Failure::usage("give --vkey or --trusted-keys")),
    }
}

/// The checkpoint verifier the log's header names, if its key is in the
/// `--trusted-keys` file: the header is read unverified here, and
/// verification then checks every checkpoint against this trusted key (a
/// header naming another key fails: its key is not trusted).
fn header_verifier(log: &Path, trusted_keys: &Path) -> Result<NoteVerifier, Failure> {
    let trusted = tally_keys::TrustedKeys::read_file(trusted_keys)?;
    let mut lines = Lines::open(log, LOG_LINE_MAX_BYTES, u64::MAX)?;
    let header = match lines.next_line()? {
        Some((_, line)) => Header::from_line(line)?,
        None => {
            return Err(Failure::usage(format!(
                "{}: empty file, not a tally audit log",
                log.display()
            )));
        }
    };
    let Some(named) = header.checkpoint_key else {
        return Err(Failure::failed(format!(
            "{}: this log's checkpoints are not signed: nothing in {} can vouch for it",
            log.display(),
            trusted_keys.display()
        )));
    };
    let key = named.key();
    match trusted.get(tally_keys::KeyId::of(&key.to_bytes())) {
        Some(t) if t.to_bytes() == key.to_bytes() => Ok(named),
        _ => Err(Failure::failed(format!(
            "{}: its checkpoint key is not in {}",
            log.display(),
            trusted_keys.display()
        ))),
    }
}

/// A secret key file: mode 0600 in a directory others cannot write, bounded.
fn read_secret_file(path: &Path) -> Result<tally_files::private::PrivateText, Failure> {
    Ok(tally_files::private::read(path, SECRET_MAX_BYTES)?)
}

/// A new secret key file (mode 0600), durable, never replacing one.
fn write_new_secret(path: &Path, text: &str) -> Result<(), Failure> {
    Ok(tally_files::private::create(path, text.as_bytes())?)
}

fn keygen(out: &Path, signer: Option<&str>) -> Result<(), Failure> {
    match signer {
        Some(name) => {
            let s = CheckpointSigner::generate(name)?;
            write_new_secret(out, &format!("{}\n", s.to_skey().as_str()))?;
            println!("{}", s.verifier().to_vkey());
        }
        None => {
            let k = AuditKey::generate()?;
            write_new_secret(out, &k.to_file_text())?;
            println!("key id {}", k.kid());
        }
    }
    Ok(())
}

pub(crate) fn log_options(
    keys: &KeyArgs,
    signer_file: Option<&Path>,
) -> Result<LogOptions, Failure> {
    let mut opts = LogOptions::new();
    if let Some(k) = key(keys)? {
        opts = opts.key(k);
    }
    if let Some(s) = signer(signer_file)? {
        opts = opts.signer(s);
    }
    let mut old = Keyring::new();
    for path in &keys.old_key_file {
        old = old.with(AuditKey::load_file(path)?);
    }
    Ok(opts.old_keys(old))
}

/// The forward-secure options of a writer whose key evolves in its key file.
fn forward_secure(keys: &KeyArgs, epoch_records: u64) -> Result<ForwardSecure, Failure> {
    let Some(path) = &keys.key_file else {
        return Err(Failure::usage(
            "a forward-secure log's key evolves in its key file: give --key-file \
             (not $TALLY_AUDIT_KEY)",
        ));
    };
    Ok(ForwardSecure {
        epoch_records,
        sink: Box::new(KeyFileSink::new(path)),
    })
}

/// The options to open the existing log at `log` for writing: as
/// [`log_options`], and forward-secure when the log's header says so (read
/// first, unverified; opening then verifies it).
fn writer_options(
    log: &Path,
    keys: &KeyArgs,
    signer_file: Option<&Path>,
    epochs: &EpochArgs,
) -> Result<LogOptions, Failure> {
    let mut lines = Lines::open(log, LOG_LINE_MAX_BYTES, u64::MAX)?;
    let header = match lines.next_line()? {
        Some((_, line)) => Header::from_line(line)?,
        None => {
            return Err(Failure::usage(format!(
                "{}: empty file, not a tally audit log",
                log.display()
            )));
        }
    };
    let opts = log_options(keys, signer_file)?;
    Ok(if header.mode == Mode::ForwardSecure {
        opts.forward_secure(forward_secure(keys, epochs.epoch_records)?)
    } else {
        opts
    })
}

fn init(
    log: &Path,
    keys: &KeyArgs,
    signer_file: Option<&Path>,
    forward: bool,
) -> Result<(), Failure> {
    let mut opts = log_options(keys, signer_file)?.checkpoint_on_close(false);
    if forward {
        // Creating writes only the header: no epoch ends before the next
        // writer opens the log with its own --epoch-records.
        opts = opts.forward_secure(forward_secure(keys, DEFAULT_EPOCH_RECORDS)?);
    }
    let log_handle = AuditLog::create(log, opts)?;
    let h = log_handle.header();
    println!(
        "created {} (log id {}, mode {:?}, origin {})",
        log.display(),
        h.log_id,
        h.mode,
        h.origin
    );
    if forward {
        eprintln!(
            "note: keep a copy of the key file as it is now for verifying: the writer erases \
             each key epoch it leaves"
        );
    }
    Ok(())
}

fn append(
    log: &Path,
    keys: &KeyArgs,
    signer_file: Option<&Path>,
    durability: DurabilityArg,
    epochs: &EpochArgs,
) -> Result<(), Failure> {
    let durability = match durability {
        DurabilityArg::None => Durability::None,
        DurabilityArg::Batch => Durability::Batch,
        DurabilityArg::Always => Durability::Always,
    };
    // All of stdin is read and checked before the log is opened, so bad input
    // changes nothing, not even a torn tail that opening would cut.
    let stdin = std::io::stdin().lock();
    let payloads = Payloads::read(Lines::new(
        stdin,
        "stdin",
        tally_audit::DEFAULT_MAX_PAYLOAD_BYTES,
        APPEND_MAX_BYTES,
    ))?;
    let opts = writer_options(log, keys, signer_file, epochs)?.durability(durability);
    let (log, report) = AuditLog::open(log, opts)?;
    if let Some(t) = report.torn_tail {
        eprintln!(
            "warning: cut an incomplete last line at offset {} ({} bytes)",
            t.offset, t.len
        );
    }
    let mut first = None;
    let mut last = None;
    let mut count = 0usize;
    let mut chunk: Vec<&[u8]> = Vec::with_capacity(APPEND_CHUNK_RECORDS);
    let mut lines = payloads.iter().peekable();
    while lines.peek().is_some() {
        chunk.clear();
        chunk.extend(lines.by_ref().take(APPEND_CHUNK_RECORDS));
        let receipts = log.append_batch(&chunk).map_err(|e| {
            let done = match (first, last) {
                (Some(a), Some(b)) => format!(" (records {a}..={b} were appended)"),
                _ => String::new(),
            };
            let failure = Failure::from(e);
            match failure {
                Failure::Usage(m) => Failure::Usage(format!("{m}{done}")),
                Failure::Failed(m) => Failure::Failed(format!("{m}{done}")),
                Failure::Found(m) => Failure::Found(format!("{m}{done}")),
            }
        })?;
        count += receipts.len();
        first = first.or(receipts.first().map(|r| r.seq));
        last = receipts.last().map(|r| r.seq).or(last);
    }
    log.close()?;
    match (first, last) {
        (Some(a), Some(b)) => println!("appended {count} records (sequence {a}..={b})"),
        _ => println!("appended 0 records"),
    }
    Ok(())
}

/// Payloads read from a stream, held in one buffer (one allocation for the
/// bytes, one offset each), so memory stays close to the input's size.
struct Payloads {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Payloads {
    /// Every non-blank line, each checked to be JSON; the first bad line
    /// stops the read, naming its number.
    fn read<R: std::io::BufRead>(mut lines: Lines<R>) -> Result<Self, Failure> {
        let mut payloads = Self {
            bytes: Vec::new(),
            ends: Vec::new(),
        };
        while let Some((number, line)) = lines.next_line()? {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                return Err(Failure::usage(format!(
                    "{} line {number}: not JSON: {e}",
                    lines.source().display()
                )));
            }
            payloads.bytes.extend_from_slice(line);
            payloads.ends.push(payloads.bytes.len());
        }
        Ok(payloads)
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| self.bytes.get(a..b).unwrap_or_default())
    }
}

fn trusted_checkpoint(path: &Path, vkey: Option<&NoteVerifier>) -> Result<Checkpoint, Failure> {
    let text = read_text(path, CHECKPOINT_MAX_BYTES)?;
    match vkey {
        Some(v) => Ok(v.open_checkpoint(&text)?),
        None if text.contains("\n\n") => Err(Failure::Usage(
            "a signed checkpoint needs --vkey to check its signature".into(),
        )),
        None => Ok(Checkpoint::parse_body(&text)?),
    }
}

fn verify(
    log: &Path,
    keys: &KeyArgs,
    checkpoint: Option<&Path>,
    vkey: Option<&str>,
    trusted_keys: Option<&Path>,
) -> Result<(), Failure> {
    let vkey = match (vkey, trusted_keys, checkpoint) {
        (Some(v), _, _) => Some(NoteVerifier::parse(v)?),
        (None, Some(trusted), Some(path)) => {
            let note = read_text(path, CHECKPOINT_MAX_BYTES)?;
            Some(note_verifier(None, Some(trusted), &note)?)
        }
        (None, Some(trusted), None) => Some(header_verifier(log, trusted)?),
        (None, None, _) => None,
    };
    let mut opts = VerifyOptions::new().keys(keyring(keys)?);
    if let Some(v) = &vkey {
        opts = opts.checkpoint_key(v.clone());
    }
    if let Some(path) = checkpoint {
        opts = opts.trusted_checkpoint(trusted_checkpoint(path, vkey.as_ref())?);
    }
    let total = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let progress = std::io::stderr().is_terminal() && total >= PROGRESS_MIN_BYTES;
    let mut reader = VerifiedReader::open(log, &opts)?;
    let mut last_shown = std::time::Instant::now();
    while let Some(rec) = reader.next_record()? {
        if progress && last_shown.elapsed().as_millis() >= 250 {
            last_shown = std::time::Instant::now();
            let pct = rec.offset.saturating_mul(100) / total.max(1);
            eprint!("\rverifying: {pct:>3}%  {} records", rec.seq + 1);
        }
    }
    if progress {
        eprintln!("\rverifying: 100%");
    }
    let s = reader.summary()?;
    if let Some(t) = s.torn_tail {
        eprintln!(
            "warning: incomplete last line at offset {} ({} bytes), not verified",
            t.offset, t.len
        );
    }
    let cp = s
        .last_checkpoint
        .as_ref()
        .map_or_else(|| "none".to_owned(), |(seq, _)| seq.to_string());
    println!(
        "ok: {} records, mode {}, root {}, log id {}, last checkpoint at {}{}",
        s.records,
        s.mode,
        tally_encoding::hex::encode(&s.root),
        s.header.log_id,
        cp,
        if checkpoint.is_some() {
            ", consistent with the trusted checkpoint"
        } else {
            ""
        }
    );
    Ok(())
}

fn checkpoint(
    log: &Path,
    keys: &KeyArgs,
    signer_file: Option<&Path>,
    epochs: &EpochArgs,
) -> Result<(), Failure> {
    let opts = writer_options(log, keys, signer_file, epochs)?.checkpoint_on_close(false);
    let (log, _) = AuditLog::open(log, opts)?;
    let cp = log.checkpoint()?;
    print!("{}", cp.note);
    Ok(())
}

fn rotate_key(
    log: &Path,
    keys: &KeyArgs,
    next_file: &Path,
    signer_file: Option<&Path>,
    epochs: &EpochArgs,
) -> Result<(), Failure> {
    let next = AuditKey::parse(read_secret_file(next_file)?.as_str())
        .map_err(|e| Failure::usage(format!("{}: {e}", next_file.display())))?;
    let next_kid = next.kid();
    let opts = writer_options(log, keys, signer_file, epochs)?;
    let (handle, report) = AuditLog::open(log, opts)?;
    if let Some(t) = report.torn_tail {
        eprintln!(
            "warning: cut an incomplete last line at offset {} ({} bytes)",
            t.offset, t.len
        );
    }
    let forward = handle.header().mode == Mode::ForwardSecure;
    let receipt = handle.rotate_key(next)?;
    handle.close()?;
    println!(
        "rotated to key id {next_kid} at sequence {}{}",
        receipt.seq,
        if forward {
            " (the key file now holds the next key)"
        } else {
            " (write with the next key from now on; verify earlier records with --old-key-file)"
        }
    );
    Ok(())
}

fn prove(log: &Path, seq: u64, keys: &KeyArgs) -> Result<(), Failure> {
    let opts = VerifyOptions::new().keys(keyring(keys)?);
    let file =
        std::fs::File::open(log).map_err(|e| Failure::Usage(format!("{}: {e}", log.display())))?;
    let proof = InclusionProof::from_log(file, seq, &opts).map_err(|e| match e {
        AuditError::OutOfRange { what } => Failure::Failed(format!(
            "no proof of record {seq}: {what} (run `tally audit checkpoint` with the signer)"
        )),
        other => Failure::from(other),
    })?;
    println!("{}", proof.to_json());
    Ok(())
}

fn verify_proof(
    proof: &Path,
    vkey: Option<&str>,
    trusted_keys: Option<&Path>,
    keys: &KeyArgs,
) -> Result<(), Failure> {
    let keys = keyring(keys)?;
    let text = read_text(proof, tally_audit::MAX_PROOF_TEXT_BYTES as u64)?;
    // The decision log of `tally serve --database` names its proofs' format.
    if let Ok(pg) = PgDecisionProof::from_json(&text) {
        let vkey = note_verifier(vkey, trusted_keys, &pg.checkpoint)?;
        let cp = pg
            .verify(&vkey)
            .map_err(|e| Failure::Failed(format!("{}: {e}", proof.display())))?;
        println!(
            "ok: row {} is in {} (PostgreSQL decision log) at tree size {}",
            pg.seq,
            cp.origin(),
            cp.size()
        );
        return Ok(());
    }
    let proof = InclusionProof::parse(&text)
        .map_err(|e| Failure::Usage(format!("{}: malformed proof: {e}", proof.display())))?;
    let vkey = note_verifier(vkey, trusted_keys, &proof.checkpoint)?;
    let proven = proof
        .verify(&vkey, &keys)
        .map_err(|e| Failure::Failed(format!("{e} [{}]", e.code())))?;
    println!(
        "ok: record {} is in {} (log id {}, mode {}) at tree size {}{}",
        proven.record.seq,
        proven.origin,
        proven.log_id,
        proven.mode,
        proven.tree_size,
        if proven.hash_checked {
            ""
        } else {
            " (record hash not checked: keyed log, give --key-file to check it)"
        }
    );
    Ok(())
}

/// A checkpoint named on the command line: a tree size, or a signed note
/// file (read bounded).
fn checkpoint_ref(arg: &str) -> Result<CheckpointRef, Failure> {
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        return arg
            .parse()
            .map(CheckpointRef::Size)
            .map_err(|_| Failure::usage(format!("checkpoint size {arg}: integer out of range")));
    }
    Ok(CheckpointRef::Note(read_text(
        Path::new(arg),
        CHECKPOINT_MAX_BYTES,
    )?))
}

fn consistency_prove(
    log: &Path,
    old: &str,
    new: Option<&str>,
    keys: &KeyArgs,
) -> Result<(), Failure> {
    let old = checkpoint_ref(old)?;
    let new = new.map_or(Ok(CheckpointRef::Latest), checkpoint_ref)?;
    let opts = VerifyOptions::new().keys(keyring(keys)?);
    let file = std::fs::File::open(log).map_err(|e| Failure::io(log, &e))?;
    let proof = ConsistencyProof::from_log(file, &old, &new, &opts).map_err(|e| match e {
        AuditError::OutOfRange { what } => Failure::failed(format!(
            "no consistency proof: {what} (run `tally audit checkpoint` with the signer)"
        )),
        other => Failure::from(other),
    })?;
    println!("{}", proof.to_json());
    Ok(())
}

fn consistency_verify(
    proof: &Path,
    vkey: Option<&str>,
    trusted_keys: Option<&Path>,
) -> Result<(), Failure> {
    let text = read_text(proof, tally_audit::MAX_CONSISTENCY_PROOF_TEXT_BYTES as u64)?;
    if let Ok(pg) = PgConsistencyProof::from_json(&text) {
        let vkey = note_verifier(vkey, trusted_keys, &pg.new)?;
        let (old, new) = pg
            .verify(&vkey)
            .map_err(|e| Failure::failed(format!("{}: {e}", proof.display())))?;
        println!(
            "ok: {} (PostgreSQL decision log) at tree size {} extends tree size {}",
            new.origin(),
            new.size(),
            old.size()
        );
        return Ok(());
    }
    let parsed = ConsistencyProof::parse(&text)
        .map_err(|e| Failure::usage(format!("{}: malformed proof: {e}", proof.display())))?;
    let vkey = note_verifier(vkey, trusted_keys, &parsed.new_checkpoint)?;
    let proven = parsed
        .verify(&vkey)
        .map_err(|e| Failure::failed(format!("{}: {e} [{}]", proof.display(), e.code())))?;
    println!(
        "ok: {} (log id {}, mode {}) at tree size {} extends tree size {}",
        proven.origin,
        proven.log_id,
        proven.mode,
        proven.new.size(),
        proven.old.size()
    );
    Ok(())
}

fn tail(log: &Path, lines: usize) -> Result<(), Failure> {
    use std::io::{Read as _, Seek as _};
    let wanted = lines.min(TAIL_MAX_LINES);
    // Where the last lines are (offset and length), not the lines themselves:
    // memory stays bounded by the line count, whatever the lines' sizes.
    let mut last: std::collections::VecDeque<(u64, usize)> =
        std::collections::VecDeque::with_capacity(wanted);
    let mut reader = Lines::open(log, LOG_LINE_MAX_BYTES, u64::MAX)?;
    let mut offset = reader.consumed();
    while let Some((_, line)) = reader.next_line()? {
        let len = line.len();
        if wanted > 0 {
            if last.len() == wanted {
                last.pop_front();
            }
            last.push_back((offset, len));
        }
        offset = reader.consumed();
    }
    eprintln!("(unverified: run `tally audit verify` to check these records)");
    let mut file = std::fs::File::open(log).map_err(|e| Failure::io(log, &e))?;
    let mut out = std::io::stdout().lock();
    let mut line = Vec::new();
    for (at, len) in last {
        line.resize(len, 0);
        file.seek(std::io::SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut line))
            .map_err(|e| Failure::io(log, &e))?;
        out.write_all(&line)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| Failure::failed(format!("stdout: {e}")))?;
    }
    Ok(())
}
