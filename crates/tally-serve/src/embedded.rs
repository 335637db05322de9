//! The embedded ledger: a [`DurableLedger`] in the data directory (the same
//! layout as `tally ledger`: `journal.jsonl`, `checkpoint.vkey`,
//! `snapshots/`), owned by one writer thread.
//!
//! Group commit: the writer takes every request queued (up to
//! [`GROUP_COMMIT_MAX`]), journals each batch without waiting and applies
//! it, then waits once for the last record to be durable (one `fdatasync`
//! for the group) and only then answers the whole group. Reads queued in a
//! group are answered after the same wait, so no client ever sees a state
//! that is not durable. A failed wait poisons the journal: the writer then
//! answers every request with "unavailable" (the state in memory may be
//! ahead of the journal, so it is never served again) and `/readyz` reports
//! `journal_poisoned`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tally_audit::{
    AuditLog, CheckpointSigner, Durability, InclusionProof, LogOptions, NoteVerifier, Ticket,
    VerifyOptions,
};
use tally_ledger::journal::{DurableLedger, JournalError, restore_from_snapshot};
use tally_ledger::snapshot::SnapshotError;
use tally_ledger::{
    Account, AccountBalance, BatchError, CreateAccountResult, CreateTransferResult, NewAccount,
    NewTransfer, PendingState, Totals, Transfer,
};
use tokio::sync::{mpsc, oneshot};

use crate::config::{GROUP_COMMIT_MAX, WRITER_QUEUE_MAX};
use crate::metrics::Metrics;

/// The journal's file name.
pub const JOURNAL: &str = "journal.jsonl";
/// The checkpoint verifier key (public).
pub const VKEY: &str = "checkpoint.vkey";
/// The checkpoint signer key (0600).
pub const SKEY: &str = "checkpoint.skey";
/// The snapshots directory.
pub const SNAPSHOTS: &str = "snapshots";
/// Snapshots kept.
pub const SNAPSHOTS_KEPT: usize = 2;
/// The largest key file, bytes.
const KEY_FILE_MAX_BYTES: u64 = 4_096;

/// Why the embedded ledger could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A file of the data directory.
    #[error("{0}")]
    File(#[from] tally_files::FileError),
    /// The journal or a snapshot.
    #[error("{path}: {what}")]
    Journal {
        /// The file.
        path: PathBuf,
        /// What failed.
        what: String,
    },
}

/// Why a ledger call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerFail {
    /// The batch was refused whole.
    Batch(BatchError),
    /// Too many requests queued for the writer.
    Busy,
    /// Storage is unavailable (a poisoned journal, a database outage).
    Unavailable,
    /// The journal's proof index is still being built (after a start).
    Indexing,
}

type Reply<T> = oneshot::Sender<Result<T, LedgerFail>>;

enum Cmd {
    Accounts(Vec<NewAccount>, u64, Reply<Vec<CreateAccountResult>>),
    Transfers(Vec<NewTransfer>, u64, Reply<Vec<CreateTransferResult>>),
    Account(u128, Reply<Option<Account>>),
    Lookup(Vec<u128>, Reply<Vec<Account>>),
    Transfer(u128, Reply<Option<(Transfer, Option<PendingState>)>>),
    /// [`Cmd::Transfer`] answered at once, before the group is durable.
    TransferNow(u128, Reply<Option<(Transfer, Option<PendingState>)>>),
    History(
        u128,
        u64,
        usize,
        Reply<(Vec<Transfer>, Vec<AccountBalance>)>,
    ),
    Totals(Reply<BTreeMap<u32, Totals>>),
    /// The journal record of a transfer; with `true`, after a new signed
    /// checkpoint.
    JournalSeq(u128, bool, Reply<Option<u64>>),
}

/// The handle of the writer thread.
#[derive(Clone, Debug)]
pub struct Embedded {
    tx: mpsc::Sender<Cmd>,
    poisoned: Arc<AtomicBool>,
    /// The journal (for proofs from its index; the writer owns the writing).
    log: AuditLog,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cmd")
    }
}

/// The name an in-memory log goes by in errors.
const MEMORY: &str = "<memory>";

/// Amnesia's audit log (the ledger's journal, the decision log): in memory
/// only (tally-audit's in-memory log file, no fault injected), with a
/// proof index, its checkpoints signed by a key named `name` made in
/// memory, whose verifier is returned with it. Nothing touches a disk; the
/// log and the key die with the process.
///
/// # Errors
/// [`OpenError::Journal`] when the key cannot be made (no randomness) or
/// the log cannot be created.
pub(crate) fn memory_log(name: &str) -> Result<(AuditLog, NoteVerifier), OpenError> {
    let fail = |e: &dyn std::fmt::Display| OpenError::Journal {
        path: PathBuf::from(MEMORY),
        what: e.to_string(),
    };
    let signer = CheckpointSigner::generate(name).map_err(|e| fail(&e))?;
    let vkey = signer.verifier();
    let memory =
        tally_audit::storage::SimLog::new(Vec::new(), tally_audit::storage::Faults::default(), 0);
    let opts = LogOptions::new()
        .durability(Durability::Batch)
        .proof_index(true)
        .signer(signer);
    let log = AuditLog::create_with(Box::new(memory), opts).map_err(|e| fail(&e))?;
    Ok((log, vkey))
}

/// Reads or creates the checkpoint signer of the data directory.
fn signer(dir: &Path) -> Result<CheckpointSigner, OpenError> {
    load_signer(dir, SKEY, VKEY, "tally-serve")
}

/// The checkpoint signer whose private key is `dir/skey` (0600), made
/// (named `name`, its public key written to `dir/vkey`, 0644) if there is
/// none.
pub(crate) fn load_signer(
    dir: &Path,
    skey: &str,
    vkey: &str,
    name: &str,
) -> Result<CheckpointSigner, OpenError> {
    let path = dir.join(skey);
    let bad = |what: String| OpenError::Journal {
        path: path.clone(),
        what,
    };
    if path.exists() {
        let text = tally_files::private::read(&path, KEY_FILE_MAX_BYTES)?;
        return CheckpointSigner::parse(text.as_str().trim()).map_err(|e| bad(e.to_string()));
    }
    let signer = CheckpointSigner::generate(name).map_err(|e| bad(e.to_string()))?;
    tally_files::private::create(&path, signer.to_skey().as_bytes())?;
    tally_files::create_atomic(
        &dir.join(vkey),
        signer.verifier().to_vkey().as_bytes(),
        0o644,
    )?;
    Ok(signer)
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(SNAPSHOTS)) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    // Zero-padded sequence numbers: text order is age order, newest first.
    found.sort_unstable_by(|a, b| b.cmp(a));
    found
}

/// Restores the state: from the newest snapshot the journal binds, else by
/// replaying the whole journal.
fn restore(dir: &Path, vkey: &NoteVerifier, log: AuditLog) -> Result<DurableLedger, OpenError> {
    let journal = dir.join(JOURNAL);
    let fail = |path: &Path, e: &dyn std::fmt::Display| OpenError::Journal {
        path: path.to_path_buf(),
        what: e.to_string(),
    };
    let opts = VerifyOptions::new().checkpoint_key(vkey.clone());
    for snap in snapshots(dir) {
        let file = std::fs::File::open(&snap).map_err(|e| fail(&snap, &e))?;
        let len = file.metadata().map_err(|e| fail(&snap, &e))?.len();
        let src = std::fs::File::open(&journal).map_err(|e| fail(&journal, &e))?;
        match restore_from_snapshot(
            std::io::BufReader::with_capacity(1 << 16, file),
            len,
            std::io::BufReader::with_capacity(1 << 20, src),
            &opts,
        ) {
            Ok(from) => return Ok(DurableLedger::from_snapshot(from, log)),
            Err(JournalError::SnapshotNotBound {
                mismatch: false, ..
            }) => {
                tracing::warn!(snapshot = %snap.display(), "unbound snapshot (a crash while writing it?); using an older one");
            }
            Err(JournalError::Snapshot(e @ SnapshotError::OtherVersion(_))) => {
                tracing::warn!(snapshot = %snap.display(), error = %e, "skipped; using an older one or the whole journal");
            }
            Err(e) => return Err(fail(&snap, &e)),
        }
    }
    let src = std::fs::File::open(&journal).map_err(|e| fail(&journal, &e))?;
    DurableLedger::restore(std::io::BufReader::with_capacity(1 << 20, src), &opts, log)
        .map_err(|e| fail(&journal, &e))
}

impl Embedded {
    /// Opens (or creates, 0700) the data directory and starts the writer;
    /// the writer's thread ends (after a snapshot) once every handle is
    /// dropped.
    ///
    /// # Errors
    /// [`OpenError`] when the directory, its keys, its journal or its
    /// snapshots cannot be read or do not verify.
    pub fn open(
        dir: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, std::thread::JoinHandle<()>), OpenError> {
        if !dir.exists() {
            tally_files::private::create_dir(dir)?;
        }
        let signer = signer(dir)?;
        let vkey = signer.verifier();
        let journal = dir.join(JOURNAL);
        let opts = LogOptions::new()
            .durability(Durability::Batch)
            .checkpoint_on_close(true)
            .proof_index(true)
            .signer(signer);
        let fail = |e: &dyn std::fmt::Display| OpenError::Journal {
            path: journal.clone(),
            what: e.to_string(),
        };
        let ledger = if journal.exists() {
            let (log, _) = AuditLog::open(&journal, opts.trust_checkpoint_prefix(true))
                .map_err(|e| fail(&e))?;
            restore(dir, &vkey, log)?
        } else {
            let log = AuditLog::create(&journal, opts).map_err(|e| fail(&e))?;
            // A signed checkpoint at once: a journal killed (SIGKILL) before
            // its first close still opens, its records after the checkpoint
            // checked by their hash chain (without one, the open refuses a
            // keyed journal with no checkpoint at all).
            log.checkpoint().map_err(|e| fail(&e))?;
            DurableLedger::new(log)
        };
        Self::start(ledger, dir, vkey, metrics).map_err(|e| fail(&e))
    }

    /// Starts the writer over `ledger` (whose journal is `dir`'s, or, in
    /// tests, a simulated disk with faults), and indexes the journal's
    /// records for proofs on a thread of its own (proofs answer
    /// [`LedgerFail::Indexing`] until it is done; a journal opened without
    /// [`LogOptions::proof_index`] never proves).
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn start(
        ledger: DurableLedger,
        dir: &Path,
        _vkey: NoteVerifier,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        Self::start_writer(ledger, Some(dir.to_path_buf()), metrics)
    }

    /// Amnesia: a journal in memory only (tally-audit's in-memory log file,
    /// no fault injected), signed by a checkpoint key made in memory, and
    /// no snapshot at shutdown: the ledger dies with the process.
    ///
    /// # Errors
    /// [`OpenError`] when the journal cannot be made or a thread spawned.
    pub fn open_in_memory(
        metrics: Arc<Metrics>,
    ) -> Result<(Self, std::thread::JoinHandle<()>), OpenError> {
        let (log, _vkey) = memory_log("tally-serve")?;
        let fail = |e: &dyn std::fmt::Display| OpenError::Journal {
            path: PathBuf::from(MEMORY),
            what: e.to_string(),
        };
        log.checkpoint().map_err(|e| fail(&e))?;
        Self::start_writer(DurableLedger::new(log), None, metrics).map_err(|e| fail(&e))
    }

    fn start_writer(
        ledger: DurableLedger,
        dir: Option<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(WRITER_QUEUE_MAX);
        let poisoned = Arc::new(AtomicBool::new(ledger.log().is_poisoned()));
        let log = ledger.log().clone();
        log.spawn_index_prefix(|outcome| {
            if let Err(e) = outcome {
                tracing::error!(error = %e, "the journal's proof index was not built");
            }
        })?;
        let writer = Writer {
            ledger,
            dir,
            poisoned: Arc::clone(&poisoned),
            metrics,
        };
        let handle = std::thread::Builder::new()
            .name("tally-ledger-writer".to_owned())
            .spawn(move || writer.run(rx))?;
        Ok((Self { tx, poisoned, log }, handle))
    }

    /// Whether the journal is poisoned (a failed write or sync).
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed)
    }

    /// The share of the writer's queue in use, percent.
    #[must_use]
    pub fn queue_used_percent(&self) -> usize {
        let free = self.tx.capacity();
        WRITER_QUEUE_MAX.saturating_sub(free).saturating_mul(100) / WRITER_QUEUE_MAX
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T, LedgerFail> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(make(reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LedgerFail::Busy,
            mpsc::error::TrySendError::Closed(_) => LedgerFail::Unavailable,
        })?;
        rx.await.map_err(|_| LedgerFail::Unavailable)?
    }

    /// Creates accounts (durable when it returns).
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn create_accounts(
        &self,
        events: Vec<NewAccount>,
        now: u64,
    ) -> Result<Vec<CreateAccountResult>, LedgerFail> {
        self.call(|r| Cmd::Accounts(events, now, r)).await
    }

    /// Creates transfers (durable when it returns).
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn create_transfers(
        &self,
        events: Vec<NewTransfer>,
        now: u64,
    ) -> Result<Vec<CreateTransferResult>, LedgerFail> {
        self.call(|r| Cmd::Transfers(events, now, r)).await
    }

    /// An account.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn account(&self, id: u128) -> Result<Option<Account>, LedgerFail> {
        self.call(|r| Cmd::Account(id, r)).await
    }

    /// The accounts of `ids` that exist.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn accounts(&self, ids: Vec<u128>) -> Result<Vec<Account>, LedgerFail> {
        self.call(|r| Cmd::Lookup(ids, r)).await
    }

    /// A transfer and, for a pending one, where it stands.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn transfer(
        &self,
        id: u128,
    ) -> Result<Option<(Transfer, Option<PendingState>)>, LedgerFail> {
        self.call(|r| Cmd::Transfer(id, r)).await
    }

    /// [`Embedded::transfer`] answered as soon as the writer reads it, not
    /// after the group it lands in is durable: the state read may include
    /// writes not yet durable. Only for a caller that answers its client
    /// after a write of its own that depends on what it read (a write
    /// journaled after the ones it saw, so durable only once they are);
    /// a caller that answers from the read alone must use
    /// [`Embedded::transfer`].
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn transfer_unsynced(
        &self,
        id: u128,
    ) -> Result<Option<(Transfer, Option<PendingState>)>, LedgerFail> {
        self.call(|r| Cmd::TransferNow(id, r)).await
    }

    /// An account's transfers after `after` (timestamp) and its balances
    /// after each, at most `limit`.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn history(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<Transfer>, Vec<AccountBalance>), LedgerFail> {
        self.call(|r| Cmd::History(account, after, limit, r)).await
    }

    /// The double-entry totals per ledger.
    ///
    /// # Errors
    /// [`LedgerFail`].
    pub async fn totals(&self) -> Result<BTreeMap<u32, Totals>, LedgerFail> {
        self.call(Cmd::Totals).await
    }

    /// The inclusion proof of the journal record that created transfer
    /// `id`, under a signed checkpoint (`None`: no record created it), from
    /// the journal's proof index: `O(log n)` hashes and one read of the
    /// record line, whatever the journal's length. When the last
    /// checkpoint does not cover the record, the writer signs a new one.
    ///
    /// # Errors
    /// [`LedgerFail::Indexing`] until the index is built;
    /// [`LedgerFail::Unavailable`] when the journal cannot prove.
    pub async fn prove(&self, id: u128) -> Result<Option<InclusionProof>, LedgerFail> {
        if !self.log.proofs_ready() {
            return Err(LedgerFail::Indexing);
        }
        for fresh_checkpoint in [false, true] {
            let Some(seq) = self
                .call(|r| Cmd::JournalSeq(id, fresh_checkpoint, r))
                .await?
            else {
                return Ok(None);
            };
            let log = self.log.clone();
            let proof = tokio::task::spawn_blocking(move || log.prove(seq))
                .await
                .map_err(|_| LedgerFail::Unavailable)?;
            match proof {
                Ok(p) => return Ok(Some(p)),
                // Not covered by a durable signed checkpoint yet: sign one.
                Err(tally_audit::AuditError::OutOfRange { .. }) if !fresh_checkpoint => {}
                Err(e) => {
                    tracing::error!(error = %e, "a journal proof failed");
                    return Err(LedgerFail::Unavailable);
                }
            }
        }
        Err(LedgerFail::Unavailable)
    }
}

struct Writer {
    ledger: DurableLedger,
    /// Where snapshots go at shutdown; `None` in amnesia (none is written).
    dir: Option<PathBuf>,
    poisoned: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

type Answer = Box<dyn FnOnce(bool) + Send>;

fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T, LedgerFail>) -> Answer {
    Box::new(move |durable| {
        let _ = reply.send(if durable {
            result
        } else {
            Err(LedgerFail::Unavailable)
        });
    })
}

/// A transfer and, for a pending one, where it stands.
fn transfer_state(l: &DurableLedger, id: u128) -> Option<(Transfer, Option<PendingState>)> {
    l.ledger()
        .transfer(id)
        .map(|t| (t, l.ledger().pending_state(id)))
}

fn journal_fail(e: &JournalError) -> LedgerFail {
    match e {
        JournalError::Batch(b) => LedgerFail::Batch(*b),
        _ => LedgerFail::Unavailable,
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut group = Vec::with_capacity(GROUP_COMMIT_MAX);
        while let Some(first) = rx.blocking_recv() {
            group.push(first);
            while group.len() < GROUP_COMMIT_MAX {
                match rx.try_recv() {
                    Ok(cmd) => group.push(cmd),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
        self.close();
    }

    fn commit_group(&mut self, group: &mut Vec<Cmd>) {
        let started = Instant::now();
        let requests = group.len();
        let mut answers: Vec<Answer> = Vec::with_capacity(requests);
        let mut last: Option<Ticket> = None;
        for cmd in group.drain(..) {
            if self.poisoned.load(Ordering::Relaxed) {
                answers.push(Box::new(|_| {}));
                drop(cmd);
                continue;
            }
            answers.push(self.apply(cmd, &mut last));
        }
        let durable = match last {
            Some(ticket) => {
                let ok = ticket.wait().is_ok();
                self.metrics
                    .group_commit
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.group_requests.observe(requests as f64);
                ok
            }
            None => true,
        };
        if !durable || self.ledger.log().is_poisoned() {
            self.poisoned.store(true, Ordering::Relaxed);
            self.metrics.storage_errors.inc();
            tracing::error!("the journal is poisoned: the ledger refuses every request");
        }
        let durable = durable && !self.poisoned.load(Ordering::Relaxed);
        for a in answers {
            a(durable);
        }
    }

    fn apply(&mut self, cmd: Cmd, last: &mut Option<Ticket>) -> Answer {
        let l = &mut self.ledger;
        match cmd {
            Cmd::Accounts(events, now, reply) => {
                self.metrics.batch_events.observe(events.len() as f64);
                let r = l.submit_accounts(&events, now).map(|(r, t)| {
                    *last = Some(t);
                    r
                });
                answer(reply, r.map_err(|e| journal_fail(&e)))
            }
            Cmd::Transfers(events, now, reply) => {
                self.metrics.batch_events.observe(events.len() as f64);
                let r = l.submit_transfers(&events, now).map(|(r, t)| {
                    *last = Some(t);
                    r
                });
                answer(reply, r.map_err(|e| journal_fail(&e)))
            }
            Cmd::Account(id, reply) => answer(reply, Ok(l.ledger().account(id).copied())),
            Cmd::Lookup(ids, reply) => {
                let found = ids
                    .iter()
                    .filter_map(|id| l.ledger().account(*id).copied())
                    .collect();
                answer(reply, Ok(found))
            }
            Cmd::Transfer(id, reply) => answer(reply, Ok(transfer_state(l, id))),
            Cmd::TransferNow(id, reply) => {
                let _ = reply.send(Ok(transfer_state(l, id)));
                Box::new(|_| {})
            }
            Cmd::History(account, after, limit, reply) => {
                let transfers = l.ledger().account_transfers(account, after, limit);
                let balances = l.ledger().account_balances(account, after, limit);
                answer(reply, Ok((transfers, balances)))
            }
            Cmd::Totals(reply) => answer(reply, Ok(l.ledger().totals())),
            Cmd::JournalSeq(id, checkpoint, reply) => {
                let seq = l.journal_seq(id);
                if checkpoint && seq.is_some() && l.log().checkpoint().is_err() {
                    return answer(reply, Err(LedgerFail::Unavailable));
                }
                answer(reply, Ok(seq))
            }
        }
    }

    /// At shutdown: a snapshot bound to a signed checkpoint (so the next
    /// start reads it instead of the whole journal), then the journal closed.
    fn close(mut self) {
        if self.poisoned.load(Ordering::Relaxed) {
            return;
        }
        let Some(dir) = self.dir.take() else {
            return;
        };
        let sdir = dir.join(SNAPSHOTS);
        if !sdir.exists() && tally_files::private::create_dir(&sdir).is_err() {
            return;
        }
        let next = self.ledger.log().len();
        let path = sdir.join(format!("{next:020}.snap"));
        match self.ledger.snapshot(&path) {
            Ok(_) => {
                for old in snapshots(&dir).into_iter().skip(SNAPSHOTS_KEPT) {
                    let _ = std::fs::remove_file(old);
                }
            }
            Err(e) => tracing::error!(error = %e, "snapshot at shutdown failed"),
        }
    }
}
