//! The durable ledger: every accepted batch is journaled in a tally-audit
//! log (group commit, tamper-evident) **before** it is applied and
//! acknowledged, and a restart replays the journal into an identical state.
//!
//! The state machine is deterministic, so the journal holds the batches (the
//! events and the timestamp they were applied at), not their effects: one
//! record per batch,
//!
//! ```text
//! {"kind":"tally/ledger/transfers/v1","now":<u64>,"events":[[<fields>],…]}
//! {"kind":"tally/ledger/accounts/v1","now":<u64>,"events":[[<fields>],…]}
//! ```
//!
//! with each event's fields in declaration order, 128-bit values as 32
//! lowercase hex digits and the others as JSON integers. A batch refused
//! whole (too large) is not journaled; an append that fails leaves the
//! state unchanged (the writer is then poisoned and refuses further batches:
//! it never retries and pretends).

use std::io::{Read, Seek};
use std::path::Path;

use crate::state::HashMap;

use serde_json::Value;
use tally_audit::{
    AuditError, AuditLog, InclusionProof, Keyring, NoteVerifier, RecordKind, Ticket,
    VerifiedReader, VerifyOptions,
};

use crate::result::{CreateAccountResult, CreateTransferResult};
use crate::snapshot::{SnapshotError, SnapshotInfo, SnapshotPoint};
use crate::state::{BatchError, Ledger};
use crate::types::{AccountFlags, MAX_BATCH_EVENTS, NewAccount, NewTransfer, TransferFlags};

/// The record kind of a batch of transfers.
pub const TRANSFERS_KIND: &str = "tally/ledger/transfers/v1";
/// The record kind of a batch of accounts.
pub const ACCOUNTS_KIND: &str = "tally/ledger/accounts/v1";
/// The record kind that binds a snapshot to the journal: the checkpoint it
/// was taken at and its digest.
pub const SNAPSHOT_KIND: &str = "tally/ledger/snapshot/v1";

/// Why the durable ledger refused or could not restore.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// The batch was refused whole (nothing journaled or applied).
    Batch(BatchError),
    /// The journal could not be written or read (nothing applied).
    Log(AuditError),
    /// A journal record is not a batch this version reads.
    Record {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        what: String,
    },
    /// A snapshot could not be written, or was refused.
    Snapshot(SnapshotError),
    /// The snapshot is well formed but the journal does not vouch for it:
    /// no record after its checkpoint binds its digest (`Unbound`: it was
    /// written but a crash came before its record; an older snapshot or a
    /// full replay restores), or one binds another digest (`Mismatch`: the
    /// snapshot was edited).
    SnapshotNotBound {
        /// The checkpoint the snapshot names.
        checkpoint: u64,
        /// Whether a record names the checkpoint with another digest.
        mismatch: bool,
    },
}

impl core::fmt::Display for JournalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Batch(e) => e.fmt(f),
            Self::Log(e) => write!(f, "journal: {e}"),
            Self::Record { seq, what } => write!(f, "journal record {seq}: {what}"),
            Self::Snapshot(e) => e.fmt(f),
            Self::SnapshotNotBound {
                checkpoint,
                mismatch: true,
            } => write!(
                f,
                "the snapshot at checkpoint {checkpoint} is not the one the journal binds (edited)"
            ),
            Self::SnapshotNotBound {
                checkpoint,
                mismatch: false,
            } => write!(
                f,
                "no journal record binds the snapshot at checkpoint {checkpoint} (written just before a crash?)"
            ),
        }
    }
}

impl std::error::Error for JournalError {}

impl From<AuditError> for JournalError {
    fn from(e: AuditError) -> Self {
        Self::Log(e)
    }
}

impl From<SnapshotError> for JournalError {
    fn from(e: SnapshotError) -> Self {
        Self::Snapshot(e)
    }
}

fn hex128(v: u128, out: &mut String) {
    out.push('"');
    tally_encoding::hex::encode_into(&v.to_be_bytes(), out);
    out.push('"');
}

fn push_u64(v: u64, out: &mut String) {
    out.push_str(&v.to_string());
}

fn header(kind: &str, now: u64, out: &mut String) {
    out.push_str("{\"kind\":\"");
    out.push_str(kind);
    out.push_str("\",\"now\":");
    push_u64(now, out);
    out.push_str(",\"events\":[");
}

/// The journal record of a batch of transfers.
#[must_use]
pub fn encode_transfers(events: &[NewTransfer], now: u64) -> String {
    let mut out = String::with_capacity(64 + events.len() * 200);
    header(TRANSFERS_KIND, now, &mut out);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for (j, v) in [
            e.id,
            e.debit_account_id,
            e.credit_account_id,
            e.amount,
            e.pending_id,
            e.user_data_128,
        ]
        .into_iter()
        .enumerate()
        {
            if j > 0 {
                out.push(',');
            }
            hex128(v, &mut out);
        }
        for v in [
            e.user_data_64,
            u64::from(e.user_data_32),
            u64::from(e.timeout),
            u64::from(e.ledger),
            u64::from(e.code),
            u64::from(e.flags.bits()),
        ] {
            out.push(',');
            push_u64(v, &mut out);
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

/// The journal record of a batch of accounts.
#[must_use]
pub fn encode_accounts(events: &[NewAccount], now: u64) -> String {
    let mut out = String::with_capacity(64 + events.len() * 100);
    header(ACCOUNTS_KIND, now, &mut out);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        hex128(e.id, &mut out);
        out.push(',');
        hex128(e.user_data_128, &mut out);
        for v in [
            e.user_data_64,
            u64::from(e.user_data_32),
            u64::from(e.ledger),
            u64::from(e.code),
            u64::from(e.flags.bits()),
        ] {
            out.push(',');
            push_u64(v, &mut out);
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

/// A decoded journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Accounts created at `now`.
    Accounts {
        /// The timestamp the batch was applied at.
        now: u64,
        /// The events.
        events: Vec<NewAccount>,
    },
    /// Transfers created at `now`.
    Transfers {
        /// The timestamp the batch was applied at.
        now: u64,
        /// The events.
        events: Vec<NewTransfer>,
    },
    /// A snapshot was taken at checkpoint `checkpoint`, with this digest
    /// (changes no state).
    Snapshot {
        /// The checkpoint's sequence number.
        checkpoint: u64,
        /// The snapshot's BLAKE3 digest.
        digest: [u8; 32],
    },
}

/// The journal record that binds a snapshot.
#[must_use]
pub fn encode_snapshot(checkpoint: u64, digest: &[u8; 32]) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("{\"kind\":\"");
    out.push_str(SNAPSHOT_KIND);
    out.push_str("\",\"checkpoint\":");
    push_u64(checkpoint, &mut out);
    out.push_str(",\"blake3\":\"");
    tally_encoding::hex::encode_into(digest, &mut out);
    out.push_str("\"}");
    out
}

fn field_u128(v: Option<&Value>) -> Result<u128, String> {
    let text = v
        .and_then(Value::as_str)
        .ok_or("a 128-bit field is not a string")?;
    tally_encoding::hex::decode_array::<16>(text, tally_encoding::hex::Case::Lower)
        .map(u128::from_be_bytes)
        .map_err(|e| e.to_string())
}

fn field_u64(v: Option<&Value>) -> Result<u64, String> {
    v.and_then(Value::as_u64)
        .ok_or_else(|| "an integer field is missing or out of range".to_owned())
}

fn narrow<T: TryFrom<u64>>(v: u64) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("{v} is out of range"))
}

/// Decodes a journal record (bounded: at most [`MAX_BATCH_EVENTS`] events).
///
/// # Errors
/// What is wrong, in words.
pub fn decode(payload: &[u8]) -> Result<Batch, String> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let kind = v.get("kind").and_then(Value::as_str).ok_or("no kind")?;
    if kind == SNAPSHOT_KIND {
        let fields = v.as_object().map_or(0, serde_json::Map::len);
        if fields != 3 {
            return Err("a snapshot record has 3 fields".to_owned());
        }
        let checkpoint = field_u64(v.get("checkpoint"))?;
        let digest = v
            .get("blake3")
            .and_then(Value::as_str)
            .ok_or("no digest")
            .and_then(|h| {
                tally_encoding::hex::decode_array::<32>(h, tally_encoding::hex::Case::Lower)
                    .map_err(|_| "the digest is not 64 lowercase hex digits")
            })?;
        return Ok(Batch::Snapshot { checkpoint, digest });
    }
    let now = field_u64(v.get("now"))?;
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .ok_or("no events")?;
    if events.len() > MAX_BATCH_EVENTS {
        return Err(format!(
            "{} events, more than {MAX_BATCH_EVENTS}",
            events.len()
        ));
    }
    match kind {
        TRANSFERS_KIND => {
            let events = events
                .iter()
                .map(|e| {
                    let f = e
                        .as_array()
                        .filter(|f| f.len() == 12)
                        .ok_or("a transfer has 12 fields")?;
                    let bits: u16 = narrow(field_u64(f.get(11))?)?;
                    Ok(NewTransfer {
                        id: field_u128(f.first())?,
                        debit_account_id: field_u128(f.get(1))?,
                        credit_account_id: field_u128(f.get(2))?,
                        amount: field_u128(f.get(3))?,
                        pending_id: field_u128(f.get(4))?,
                        user_data_128: field_u128(f.get(5))?,
                        user_data_64: field_u64(f.get(6))?,
                        user_data_32: narrow(field_u64(f.get(7))?)?,
                        timeout: narrow(field_u64(f.get(8))?)?,
                        ledger: narrow(field_u64(f.get(9))?)?,
                        code: narrow(field_u64(f.get(10))?)?,
                        flags: TransferFlags::from_bits(bits).ok_or("unknown transfer flags")?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Batch::Transfers { now, events })
        }
        ACCOUNTS_KIND => {
            let events = events
                .iter()
                .map(|e| {
                    let f = e
                        .as_array()
                        .filter(|f| f.len() == 7)
                        .ok_or("an account has 7 fields")?;
                    let bits: u16 = narrow(field_u64(f.get(6))?)?;
                    Ok(NewAccount {
                        id: field_u128(f.first())?,
                        user_data_128: field_u128(f.get(1))?,
                        user_data_64: field_u64(f.get(2))?,
                        user_data_32: narrow(field_u64(f.get(3))?)?,
                        ledger: narrow(field_u64(f.get(4))?)?,
                        code: narrow(field_u64(f.get(5))?)?,
                        flags: AccountFlags::from_bits(bits).ok_or("unknown account flags")?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Batch::Accounts { now, events })
        }
        other => Err(format!("unknown kind {other:?}")),
    }
}

/// The ledger, journaled.
#[derive(Debug)]
pub struct DurableLedger {
    ledger: Ledger,
    log: AuditLog,
    /// The journal record (sequence number) that created each transfer.
    journaled: HashMap<u128, u64>,
}

impl DurableLedger {
    /// A ledger over a new, empty journal.
    #[must_use]
    pub fn new(log: AuditLog) -> Self {
        Self {
            ledger: Ledger::new(),
            log,
            journaled: HashMap::default(),
        }
    }

    /// Restores the state from the whole journal in `src` (verified record
    /// by record), then continues writing to `log` (the same journal, open
    /// for append).
    ///
    /// # Errors
    /// [`JournalError::Log`] when the journal does not verify,
    /// [`JournalError::Record`] for a record that is not a batch.
    pub fn restore(
        src: impl Read,
        opts: &VerifyOptions,
        log: AuditLog,
    ) -> Result<Self, JournalError> {
        let (ledger, journaled) = replay_indexed(src, opts)?;
        Ok(Self {
            ledger,
            log,
            journaled,
        })
    }

    /// Continues from a state restored by [`restore_from_snapshot`],
    /// writing to `log` (the same journal, open for append).
    #[must_use]
    pub fn from_snapshot(restored: FromSnapshot, log: AuditLog) -> Self {
        Self {
            ledger: restored.ledger,
            log,
            journaled: restored.journaled,
        }
    }

    /// Takes a snapshot into `path` (replaced atomically): writes a signed
    /// checkpoint, the snapshot of the state at it (atomically, mode 0600),
    /// then the journal record that binds the snapshot's digest. A crash
    /// before that record leaves a snapshot that restores refuse as
    /// unbound.
    ///
    /// # Errors
    /// [`JournalError::Log`] (the checkpoint or the record),
    /// [`JournalError::Snapshot`] (the file).
    pub fn snapshot(&mut self, path: &Path) -> Result<SnapshotInfo, JournalError> {
        let cp = self.log.checkpoint()?;
        let at = SnapshotPoint {
            seq: cp.seq,
            offset: cp.offset,
        };
        let info = tally_files::write_atomic_with(path, 0o600, |w| {
            crate::snapshot::encode(&self.ledger, |id| self.journaled.get(&id).copied(), at, w)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| {
            JournalError::Snapshot(SnapshotError::Io(std::io::Error::other(e.to_string())))
        })?;
        self.log
            .append(encode_snapshot(cp.seq, &info.digest).as_bytes())?;
        Ok(info)
    }

    /// The sequence number of the journal record that created transfer `id`.
    #[must_use]
    pub fn journal_seq(&self, id: u128) -> Option<u64> {
        self.journaled
            .get(&id)
            .copied()
            .or_else(|| self.ledger.frozen_seq(id))
    }

    /// The state.
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The journal.
    #[must_use]
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Journals the batch (durably), then applies it.
    ///
    /// # Errors
    /// [`JournalError::Batch`] (nothing journaled), [`JournalError::Log`]
    /// (nothing applied).
    pub fn create_accounts(
        &mut self,
        events: &[NewAccount],
        now: u64,
    ) -> Result<Vec<CreateAccountResult>, JournalError> {
        self.check(events.len())?;
        self.log.append(encode_accounts(events, now).as_bytes())?;
        self.ledger
            .create_accounts(events, now)
            .map_err(JournalError::Batch)
    }

    /// Journals the batch (durably), then applies it.
    ///
    /// # Errors
    /// [`JournalError::Batch`] (nothing journaled), [`JournalError::Log`]
    /// (nothing applied).
    pub fn create_transfers(
        &mut self,
        events: &[NewTransfer],
        now: u64,
    ) -> Result<Vec<CreateTransferResult>, JournalError> {
        self.check(events.len())?;
        let receipt = self.log.append(encode_transfers(events, now).as_bytes())?;
        let results = self
            .ledger
            .create_transfers(events, now)
            .map_err(JournalError::Batch)?;
        index(&mut self.journaled, events, &results, receipt.seq);
        Ok(results)
    }

    /// Group commit for one writer: journals the batch **without waiting**
    /// for durability, applies it, and returns its results with the
    /// journal's [`Ticket`]. The caller must not acknowledge the results (nor
    /// anything read after them) before the ticket (or a later one) is
    /// durable; if that wait fails the journal is poisoned, and the state in
    /// memory is ahead of it: the caller must then stop serving this ledger.
    ///
    /// # Errors
    /// [`JournalError::Batch`] (nothing journaled), [`JournalError::Log`]
    /// (nothing applied).
    pub fn submit_transfers(
        &mut self,
        events: &[NewTransfer],
        now: u64,
    ) -> Result<(Vec<CreateTransferResult>, Ticket), JournalError> {
        self.check(events.len())?;
        let ticket = self.log.submit(encode_transfers(events, now).as_bytes())?;
        let results = self
            .ledger
            .create_transfers(events, now)
            .map_err(JournalError::Batch)?;
        index(&mut self.journaled, events, &results, ticket.seq());
        Ok((results, ticket))
    }

    /// As [`DurableLedger::submit_transfers`], for accounts.
    ///
    /// # Errors
    /// As [`DurableLedger::submit_transfers`].
    pub fn submit_accounts(
        &mut self,
        events: &[NewAccount],
        now: u64,
    ) -> Result<(Vec<CreateAccountResult>, Ticket), JournalError> {
        self.check(events.len())?;
        let ticket = self.log.submit(encode_accounts(events, now).as_bytes())?;
        let results = self
            .ledger
            .create_accounts(events, now)
            .map_err(JournalError::Batch)?;
        Ok((results, ticket))
    }

    /// Refuses what the state machine would refuse whole, before anything
    /// is journaled.
    fn check(&self, events: usize) -> Result<(), JournalError> {
        if events > MAX_BATCH_EVENTS {
            return Err(JournalError::Batch(BatchError::TooLarge { events }));
        }
        let needed = u64::try_from(events).unwrap_or(u64::MAX);
        if self.ledger.clock().checked_add(needed).is_none() {
            return Err(JournalError::Batch(BatchError::ClockExhausted));
        }
        Ok(())
    }
}

/// Records which journal record created each transfer a batch applied.
fn index(
    journaled: &mut HashMap<u128, u64>,
    events: &[NewTransfer],
    results: &[CreateTransferResult],
    seq: u64,
) {
    for (e, r) in events.iter().zip(results) {
        if *r == CreateTransferResult::Ok {
            journaled.insert(e.id, seq);
        }
    }
}

/// Rebuilds the state from a journal, verifying every record.
///
/// # Errors
/// As [`DurableLedger::restore`].
pub fn replay(src: impl Read, opts: &VerifyOptions) -> Result<Ledger, JournalError> {
    replay_indexed(src, opts).map(|(ledger, _)| ledger)
}

fn replay_indexed(
    src: impl Read,
    opts: &VerifyOptions,
) -> Result<(Ledger, HashMap<u128, u64>), JournalError> {
    let mut ledger = Ledger::new();
    let mut journaled = HashMap::default();
    apply_records(
        &mut VerifiedReader::new(src, opts),
        &mut ledger,
        &mut journaled,
        |_, _| Ok(()),
    )?;
    Ok((ledger, journaled))
}

/// Applies every record `reader` yields; `on_snapshot` sees the snapshot
/// records. Returns how many data records it read.
fn apply_records<R: Read>(
    reader: &mut VerifiedReader<R>,
    ledger: &mut Ledger,
    journaled: &mut HashMap<u128, u64>,
    mut on_snapshot: impl FnMut(u64, [u8; 32]) -> Result<(), JournalError>,
) -> Result<u64, JournalError> {
    let mut read = 0u64;
    while let Some(rec) = reader.next_record()? {
        if rec.kind != RecordKind::Data {
            continue;
        }
        read = read.saturating_add(1);
        let seq = rec.seq;
        match decode(rec.payload).map_err(|what| JournalError::Record { seq, what })? {
            Batch::Accounts { now, events } => {
                ledger
                    .create_accounts(&events, now)
                    .map_err(JournalError::Batch)?;
            }
            Batch::Transfers { now, events } => {
                let results = ledger
                    .create_transfers(&events, now)
                    .map_err(JournalError::Batch)?;
                index(journaled, &events, &results, seq);
            }
            Batch::Snapshot { checkpoint, digest } => on_snapshot(checkpoint, digest)?,
        }
    }
    Ok(read)
}

/// A state restored from a snapshot and the journal after it.
#[derive(Debug)]
pub struct FromSnapshot {
    /// The ledger.
    pub ledger: Ledger,
    /// The journal record that created each transfer.
    journaled: HashMap<u128, u64>,
    /// The snapshot it started from.
    pub info: SnapshotInfo,
    /// Journal records (batches and snapshot records) read after the
    /// snapshot's checkpoint.
    pub replayed: u64,
}

impl FromSnapshot {
    /// The sequence number of the journal record that created transfer `id`.
    #[must_use]
    pub fn journal_seq(&self, id: u128) -> Option<u64> {
        self.journaled
            .get(&id)
            .copied()
            .or_else(|| self.ledger.frozen_seq(id))
    }
}

/// Restores a state from the snapshot in `snapshot` (`len` bytes) and the
/// journal `src` after the snapshot's checkpoint: the checkpoint record is
/// verified (its signature by `opts`' checkpoint key, which vouches for
/// every record before it), every record after it is verified and applied,
/// and one of them must bind the snapshot's digest.
///
/// # Errors
/// [`JournalError::Snapshot`] for a malformed or torn snapshot,
/// [`JournalError::SnapshotNotBound`] when the journal does not vouch for
/// it, and the journal's verification errors.
pub fn restore_from_snapshot(
    snapshot: impl Read + Send,
    len: u64,
    src: impl Read + Seek,
    opts: &VerifyOptions,
) -> Result<FromSnapshot, JournalError> {
    let restored = crate::snapshot::decode(snapshot, len)?;
    let info = restored.info;
    let mut ledger = restored.ledger;
    // The restored transfers' records are in the ledger's frozen tier.
    let mut journaled = HashMap::default();
    let at = tally_audit::ResumePoint {
        seq: info.at.seq,
        offset: info.at.offset,
    };
    let mut reader = VerifiedReader::resume(src, at, opts)?;
    let mut bound = None;
    let replayed = apply_records(
        &mut reader,
        &mut ledger,
        &mut journaled,
        |checkpoint, digest| {
            if checkpoint == info.at.seq && bound != Some(true) {
                bound = Some(digest == info.digest);
            }
            Ok(())
        },
    )?;
    match bound {
        Some(true) => Ok(FromSnapshot {
            ledger,
            journaled,
            info,
            replayed,
        }),
        Some(false) => Err(JournalError::SnapshotNotBound {
            checkpoint: info.at.seq,
            mismatch: true,
        }),
        None => Err(JournalError::SnapshotNotBound {
            checkpoint: info.at.seq,
            mismatch: false,
        }),
    }
}

/// The proof that transfer `id` was journaled: the inclusion proof of the
/// journal record that created it, under the journal's last signed
/// checkpoint (read and verified from `src`, the whole journal).
///
/// # Errors
/// [`JournalError::Record`] when no journal record created `id`; the
/// journal's verification errors.
pub fn prove_transfer(
    ledger: &DurableLedger,
    src: impl Read + Send,
    id: u128,
    opts: &VerifyOptions,
) -> Result<InclusionProof, JournalError> {
    let seq = ledger.journal_seq(id).ok_or_else(|| JournalError::Record {
        seq: 0,
        what: format!("no journal record created transfer {id:032x}"),
    })?;
    Ok(InclusionProof::from_log(src, seq, opts)?)
}

/// Verifies a transfer proof offline with the journal's checkpoint key (and
/// the HMAC keys of a keyed journal, if held): the record is in the signed
/// tree, it is a batch, and it holds transfer `id`, which is returned as
/// submitted. The proof shows the transfer was journaled in that batch;
/// that it applied is what [`prove_transfer`] checks before it issues one
/// (a replay of the journal decides it for anyone else).
///
/// # Errors
/// The proof's verification errors; [`JournalError::Record`] when the
/// proven record is not a batch holding `id`.
pub fn verify_transfer_proof(
    proof: &InclusionProof,
    vkey: &NoteVerifier,
    keys: &Keyring,
    id: u128,
) -> Result<NewTransfer, JournalError> {
    let proven = proof.verify(vkey, keys)?;
    let seq = proven.record.seq;
    let not_here = |what: String| JournalError::Record { seq, what };
    match decode(&proven.record.payload).map_err(not_here)? {
        Batch::Transfers { events, .. } => events
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| not_here(format!("transfer {id:032x} is not in this record"))),
        Batch::Accounts { .. } => Err(not_here("a batch of accounts".to_owned())),
        Batch::Snapshot { .. } => Err(not_here("a snapshot record".to_owned())),
    }
}
