//! The writer: one per log, group commit, durability modes, poisoning.
//!
//! Appends from any number of threads are sequenced and hashed under one
//! short lock into a staging buffer. Whoever waits for durability first
//! becomes the leader: it takes the whole staging buffer, writes it with one
//! `write` (looping only on short writes) and, in [`Durability::Batch`],
//! calls `fdatasync` once for every record in it; then it wakes the others.
//! While the leader waits for the disk, new appends fill the next batch, so
//! the batch grows with the load (group commit). Any write or sync error
//! poisons the writer for good: the sync is never retried, because after a
//! failed `fsync` the kernel may have dropped the dirty pages.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::control::{CheckpointPayload, Header, LogId, Mode, rotation_payload};
use crate::error::{AuditError, Result};
use crate::json;
use crate::key::{AuditKey, KeySink, Keyring};
use crate::merkle::{Frontier, leaf_hash};
use crate::note::{Checkpoint, CheckpointSigner};
use crate::reader::{DEFAULT_MAX_PAYLOAD_BYTES, TornTail};
use crate::record::{self, Hash, MAX_ENVELOPE_BYTES, Meta, RecordKind};
use crate::recover::recover;
use crate::storage::{FileLog, LogFile};

mod live;

/// Staged bytes above which an append first helps flush (back-pressure).
pub const MAX_STAGED_BYTES: usize = 64 * 1024 * 1024;
/// The default number of records between automatic checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 65_536;

/// When an append is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Once the record is written to the operating system (survives a crash
    /// of the process, not of the machine).
    None,
    /// Once an `fdatasync` shared by the whole batch returns (group commit).
    #[default]
    Batch,
    /// Once an `fdatasync` of its own returns: one write and one sync per
    /// record, no sharing (the baseline group commit improves on).
    Always,
}

/// Forward-secure key evolution for a writer.
pub struct ForwardSecure {
    /// Records per key epoch.
    pub epoch_records: u64,
    /// Where each evolved key is stored (erasing the previous one).
    pub sink: Box<dyn KeySink>,
}

impl std::fmt::Debug for ForwardSecure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardSecure")
            .field("epoch_records", &self.epoch_records)
            .finish_non_exhaustive()
    }
}

/// How to create or open a log.
#[derive(Debug)]
pub struct LogOptions {
    durability: Durability,
    key: Option<AuditKey>,
    old_keys: Keyring,
    signer: Option<CheckpointSigner>,
    forward_secure: Option<ForwardSecure>,
    checkpoint_every: u64,
    checkpoint_on_close: bool,
    max_payload_bytes: usize,
    trust_checkpoint_prefix: bool,
    origin: Option<String>,
    log_id: Option<LogId>,
    proof_index: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Batch,
            key: None,
            old_keys: Keyring::new(),
            signer: None,
            forward_secure: None,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            checkpoint_on_close: true,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            trust_checkpoint_prefix: false,
            origin: None,
            log_id: None,
            proof_index: false,
        }
    }
}

impl LogOptions {
    /// Unkeyed, unsigned, [`Durability::Batch`], a checkpoint every
    /// [`DEFAULT_CHECKPOINT_EVERY`] records and on close.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The durability mode.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The HMAC key (a keyed log needs it to append and to verify on open).
    #[must_use]
    pub fn key(mut self, key: AuditKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Earlier keys, to verify records written before a rotation on open.
    #[must_use]
    pub fn old_keys(mut self, keys: Keyring) -> Self {
        self.old_keys = keys;
        self
    }

    /// The checkpoint signer (its key name becomes the origin on create).
    #[must_use]
    pub fn signer(mut self, signer: CheckpointSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Forward-secure mode (on create; needs a key).
    #[must_use]
    pub fn forward_secure(mut self, fs: ForwardSecure) -> Self {
        self.forward_secure = Some(fs);
        self
    }

    /// Records between automatic checkpoints; 0 disables them.
    #[must_use]
    pub fn checkpoint_every(mut self, records: u64) -> Self {
        self.checkpoint_every = records;
        self
    }

    /// Whether [`AuditLog::close`] writes a final checkpoint.
    #[must_use]
    pub fn checkpoint_on_close(mut self, on: bool) -> Self {
        self.checkpoint_on_close = on;
        self
    }

    /// The largest payload accepted (default 16 MiB).
    #[must_use]
    pub fn max_payload_bytes(mut self, max: usize) -> Self {
        self.max_payload_bytes = max;
        self
    }

    /// Trust the log up to its last **signed** checkpoint on open instead of
    /// verifying every record (the default): the header and that checkpoint
    /// record are verified (hash or MAC, signature, frontier leading to the
    /// signed root) and only the records after it are checked. Damage
    /// before the checkpoint then goes unnoticed by the writer (a reader's
    /// [`crate::verify_file`] still finds it); use this only for logs too
    /// large to verify at every open. A log whose header names no checkpoint
    /// key has no signed checkpoint and is verified whole regardless.
    #[must_use]
    pub fn trust_checkpoint_prefix(mut self, on: bool) -> Self {
        self.trust_checkpoint_prefix = on;
        self
    }

    /// The origin (on create; default the signer's name, else
    /// `tally-audit/<log id>`).
    #[must_use]
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// A fixed log id (on create; default random) — for tests and vectors.
    #[must_use]
    pub fn log_id(mut self, id: LogId) -> Self {
        self.log_id = Some(id);
        self
    }
}

/// Proof that a record is durable (per the log's durability mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's chain hash.
    pub hash: Hash,
}

/// A checkpoint written to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint record's own sequence number (= the tree size).
    pub seq: u64,
    /// The byte offset of the checkpoint record's line: with `seq`, where a
    /// reader resumes ([`SignedCheckpoint::resume_point`]).
    pub offset: u64,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note: signed when the log has a signer, else the bare body.
    pub note: String,
}

impl SignedCheckpoint {
    /// Where [`crate::VerifiedReader::resume`] resumes from this checkpoint
    /// (a ledger stores it with its snapshot).
    #[must_use]
    pub fn resume_point(&self) -> ResumePoint {
        ResumePoint {
            seq: self.seq,
            offset: self.offset,
        }
    }
}

/// A checkpoint record's place in the log: its sequence number and the byte
/// offset of its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResumePoint {
    /// The checkpoint record's sequence number.
    pub seq: u64,
    /// The byte offset of its line.
    pub offset: u64,
}

/// What opening found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenReport {
    /// An incomplete last line that was cut (never an acknowledged record).
    pub torn_tail: Option<TornTail>,
    /// The checkpoint sequence the open resumed from, if it did.
    pub resumed_from: Option<u64>,
    /// Records verified during the open.
    pub verified_records: u64,
    /// Records in the log.
    pub records: u64,
}

struct State {
    next_seq: u64,
    prev: Hash,
    frontier: Frontier,
    key: Option<AuditKey>,
    fs: Option<ForwardSecure>,
    records_in_epoch: u64,
    /// A forward-secure rotation's next key is staged beside the current one
    /// and not yet committed: no evolution is stored meanwhile.
    rotation_pending: bool,
    signer: Option<CheckpointSigner>,
    checkpoint_every: u64,
    since_checkpoint: u64,
    staged: Vec<u8>,
    spare: Vec<u8>,
    staged_end: u64,
    /// The byte offset at which the next record's line starts.
    end_offset: u64,
    durable_end: u64,
    flushing: bool,
    poisoned: Option<(&'static str, io::ErrorKind)>,
    /// Async waiters, by the id of their future: woken after every group
    /// commit (they poll again and re-register if still not durable).
    wakers: HashMap<u64, Waker>,
    /// An async waiter asked the writer thread for a group commit.
    flush_requested: bool,
    /// The last handle is gone: the writer thread stops.
    shutdown: bool,
    /// The proof index, when the options ask for one.
    live: Option<live::LiveIndex>,
}

/// What the handles and the writer thread share: the state, the file and
/// the group commit.
struct Core {
    state: Mutex<State>,
    /// Signalled after every group commit (sync waiters wait on it).
    flushed: Condvar,
    /// Signalled when the writer thread has work (an async waiter).
    work: Condvar,
    file: Mutex<Box<dyn LogFile>>,
    durability: Durability,
}

struct Inner {
    core: Arc<Core>,
    /// The writer thread, started by the first async waiter.
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    max_payload_bytes: usize,
    checkpoint_on_close: bool,
    header: Header,
}

impl std::ops::Deref for Inner {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

/// A tamper-evident append-only log, open for writing. Cheap to clone; all
/// clones share one writer and may be used from many threads.
///
/// ```
/// use tally_audit::{AuditLog, LogOptions, Durability};
/// # let dir = tempfile::tempdir()?;
/// let log = AuditLog::create(dir.path().join("audit.jsonl"), LogOptions::new())?;
/// let receipt = log.append(br#"{"event":"opened"}"#)?;          // durable now
/// let tickets: Vec<_> = (0..3)
///     .map(|i| log.submit(format!("{{\"n\":{i}}}").as_bytes()))
///     .collect::<Result<_, _>>()?;                             // in flight
/// for t in tickets { t.wait()?; }                              // one shared fdatasync
/// assert_eq!(receipt.seq, 1);
/// log.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("log_id", &self.inner.header.log_id)
            .field("durability", &self.inner.durability)
            .finish_non_exhaustive()
    }
}

/// A record in flight; [`Ticket::wait`] returns once it is durable.
#[derive(Debug)]
#[must_use = "a ticket must be waited on to know the record is durable"]
pub struct Ticket {
    log: AuditLog,
    receipt: Receipt,
}

impl Ticket {
    /// The record's sequence number (assigned at submission).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.receipt.seq
    }

    /// Blocks until the record is durable.
    ///
    /// # Errors
    /// [`AuditError::Poisoned`] when the write or sync failed.
    pub fn wait(self) -> Result<Receipt> {
        self.log.wait_for(self.receipt.seq + 1)?;
        Ok(self.receipt)
    }
}

impl IntoFuture for Ticket {
    type Output = Result<Receipt>;
    type IntoFuture = Durable<Receipt>;

    /// Waits for durability without blocking the calling thread: the log's
    /// writer thread performs the write and the `fdatasync` (the same group
    /// commit as [`Ticket::wait`]) and wakes the task.
    fn into_future(self) -> Durable<Receipt> {
        Durable::new(self.log, self.receipt.seq + 1, self.receipt)
    }
}

/// A batch in flight; [`BatchTicket::wait`] returns once all are durable.
#[derive(Debug)]
#[must_use = "a ticket must be waited on to know the records are durable"]
pub struct BatchTicket {
    log: AuditLog,
    receipts: Vec<Receipt>,
}

impl BatchTicket {
    /// Blocks until every record of the batch is durable.
    ///
    /// # Errors
    /// [`AuditError::Poisoned`] when the write or sync failed.
    pub fn wait(self) -> Result<Vec<Receipt>> {
        if let Some(last) = self.receipts.last() {
            self.log.wait_for(last.seq + 1)?;
        }
        Ok(self.receipts)
    }
}

impl IntoFuture for BatchTicket {
    type Output = Result<Vec<Receipt>>;
    type IntoFuture = Durable<Vec<Receipt>>;

    /// As [`Ticket`]'s: awaits the whole batch without blocking the thread.
    fn into_future(self) -> Durable<Vec<Receipt>> {
        let target = self.receipts.last().map_or(0, |r| r.seq + 1);
        Durable::new(self.log, target, self.receipts)
    }
}

/// The future of a [`Ticket`] or [`BatchTicket`] (`ticket.await`): ready
/// once the records are durable, or with [`AuditError::Poisoned`]. Polling
/// never blocks and performs no I/O; it asks the log's writer thread for a
/// group commit and registers the task's waker.
#[must_use = "futures do nothing unless awaited"]
pub struct Durable<T> {
    log: AuditLog,
    target: u64,
    id: u64,
    value: Option<T>,
}

impl<T> std::fmt::Debug for Durable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl<T> Durable<T> {
    fn new(log: AuditLog, target: u64, value: T) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            log,
            target,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            value: Some(value),
        }
    }
}

impl<T: Unpin> Future for Durable<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let inner = &this.log.inner;
        let mut st = lock(&inner.state);
        let outcome = if st.durable_end >= this.target {
            Ok(())
        } else if let Some((op, kind)) = st.poisoned {
            Err(AuditError::Poisoned { op, kind })
        } else {
            st.wakers.insert(this.id, cx.waker().clone());
            st.flush_requested = true;
            drop(st);
            if let Err(e) = inner.start_writer() {
                lock(&inner.state).wakers.remove(&this.id);
                return Poll::Ready(Err(e));
            }
            inner.work.notify_one();
            return Poll::Pending;
        };
        st.wakers.remove(&this.id);
        drop(st);
        match outcome {
            Ok(()) => match this.value.take() {
                Some(value) => Poll::Ready(Ok(value)),
                None => Poll::Ready(Err(AuditError::invalid(
                    "future",
                    "polled again after it completed",
                ))),
            },
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<T> Drop for Durable<T> {
    fn drop(&mut self) {
        lock(&self.log.inner.state).wakers.remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AuditLog {
    /// Creates a new log at `path` (fails if it exists): the header record is
    /// written to a temporary file, synced, linked into place and the
    /// directory synced, so a crash never leaves a half-created log.
    ///
    /// # Errors
    /// [`AuditError::AlreadyExists`], [`AuditError::Io`], or invalid options.
    pub fn create(path: impl AsRef<Path>, opts: LogOptions) -> Result<Self> {
        let path = path.as_ref();
        let line = header_line(&opts)?;
        tally_files::create_atomic(path, &line, 0o644).map_err(|e| match e {
            tally_files::FileError::Exists { .. } => AuditError::AlreadyExists,
            e => AuditError::io("create log", e.into()),
        })?;
        let file = FileLog::open_locked(path)?;
        Ok(Self::open_with(Box::new(file), opts)?.0)
    }

    /// Opens an existing log for writing, taking its lock.
    ///
    /// # Errors
    /// [`AuditError::Locked`] when another writer has it; any verification
    /// error of the records checked (naming sequence and offset).
    pub fn open(path: impl AsRef<Path>, opts: LogOptions) -> Result<(Self, OpenReport)> {
        let file = FileLog::open_locked(path.as_ref())?;
        Self::open_with(Box::new(file), opts)
    }

    /// Creates a log in an empty [`LogFile`] (for example a
    /// [`crate::storage::SimLog`]).
    ///
    /// # Errors
    /// As [`AuditLog::create`]; [`AuditError::AlreadyExists`] if not empty.
    pub fn create_with(mut file: Box<dyn LogFile>, opts: LogOptions) -> Result<Self> {
        if file.len().map_err(|e| AuditError::io("stat", e))? != 0 {
            return Err(AuditError::AlreadyExists);
        }
        let line = header_line(&opts)?;
        write_all(file.as_mut(), &line)?;
        file.sync_data()
            .map_err(|e| AuditError::io("fdatasync", e))?;
        Ok(Self::open_with(file, opts)?.0)
    }

    /// Opens the log in `file`: cuts a torn tail (and syncs), then resumes
    /// from the last checkpoint or verifies everything.
    ///
    /// # Errors
    /// As [`AuditLog::open`].
    pub fn open_with(
        mut file: Box<dyn LogFile>,
        mut opts: LogOptions,
    ) -> Result<(Self, OpenReport)> {
        let mut keys = opts.old_keys.clone();
        if let Some(k) = &opts.key {
            keys = keys.with(k.clone());
        }
        // A forward-secure rotation interrupted by a crash leaves its next
        // key staged beside the current one: the log decides which it uses.
        let staged = match opts.forward_secure.as_mut() {
            Some(fs) => fs
                .sink
                .staged_next()
                .map_err(|e| AuditError::io("read staged key", e))?,
            None => None,
        };
        if let Some(next) = &staged
            && opts.key.as_ref().is_some_and(|k| k.kid() != next.kid())
        {
            keys = keys.with(next.clone());
        }
        let max_line = opts.max_payload_bytes.saturating_add(MAX_ENVELOPE_BYTES);
        let rec = recover(file.as_mut(), keys, !opts.trust_checkpoint_prefix, max_line)?;
        if rec.torn.is_some() {
            file.truncate(rec.end)
                .map_err(|e| AuditError::io("truncate", e))?;
            file.sync_data()
                .map_err(|e| AuditError::io("fdatasync", e))?;
        }
        let chain = rec.chain;
        let header = chain.header.clone().ok_or(AuditError::NotALog {
            what: "no header record",
        })?;
        let (kid, epoch) = match chain.pending_kid {
            Some(next) => (Some(next), 0),
            None => (chain.kid, chain.epoch),
        };
        if let (Some(next), Some(fs)) = (staged, opts.forward_secure.as_mut()) {
            let current = opts.key.as_ref().map(AuditKey::kid);
            if Some(next.kid()) == kid && current != kid {
                // The rotation record is durable: finish the rotation.
                fs.sink
                    .commit_next()
                    .map_err(|e| AuditError::io("commit staged key", e))?;
                opts.key = Some(next);
            } else {
                // The rotation never became durable (or was committed).
                fs.sink
                    .discard_next()
                    .map_err(|e| AuditError::io("discard staged key", e))?;
            }
        }
        check_writer_key(&header, &opts, kid, epoch, chain.next_seq)?;
        let can_checkpoint = check_signer(&header, opts.signer.as_ref())?;
        let report = OpenReport {
            torn_tail: rec.torn,
            resumed_from: rec.resumed_from,
            verified_records: rec.verified,
            records: chain.next_seq,
        };
        let live = opts
            .proof_index
            .then(|| live::LiveIndex::new(chain.next_seq, rec.end, chain.frontier.root()));
        let state = State {
            next_seq: chain.next_seq,
            prev: chain.prev,
            frontier: chain.frontier,
            key: opts.key,
            fs: opts.forward_secure,
            records_in_epoch: 0,
            rotation_pending: false,
            signer: opts.signer,
            checkpoint_every: if can_checkpoint {
                opts.checkpoint_every
            } else {
                0
            },
            since_checkpoint: 0,
            staged: Vec::new(),
            spare: Vec::new(),
            staged_end: chain.next_seq,
            end_offset: rec.end,
            durable_end: chain.next_seq,
            flushing: false,
            poisoned: None,
            wakers: HashMap::new(),
            flush_requested: false,
            shutdown: false,
            live,
        };
        let inner = Inner {
            core: Arc::new(Core {
                state: Mutex::new(state),
                flushed: Condvar::new(),
                work: Condvar::new(),
                file: Mutex::new(file),
                durability: opts.durability,
            }),
            writer: Mutex::new(None),
            max_payload_bytes: opts.max_payload_bytes,
            checkpoint_on_close: opts.checkpoint_on_close && can_checkpoint,
            header,
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    /// The log's header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.inner.header
    }

    /// The number of records submitted so far (the next sequence number).
    #[must_use]
    pub fn len(&self) -> u64 {
        lock(&self.inner.state).next_seq
    }

    /// Whether the log holds only its header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }

    /// The number of records known durable.
    #[must_use]
    pub fn durable_len(&self) -> u64 {
        lock(&self.inner.state).durable_end
    }

    /// Whether an I/O failure has poisoned the writer.
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        lock(&self.inner.state).poisoned.is_some()
    }

    fn check_payload(&self, payload: &[u8]) -> Result<()> {
        let max = self.inner.max_payload_bytes;
        if payload.len() > max {
            return Err(AuditError::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        json::validate(payload).map_err(|(what, at)| AuditError::PayloadNotJson { what, at })
    }

    /// Locks the state for staging: refuses when poisoned, and first helps
    /// flush while too much is staged.
    fn staging_lock(&self) -> Result<MutexGuard<'_, State>> {
        let mut st = lock(&self.inner.state);
        loop {
            if let Some((op, kind)) = st.poisoned {
                return Err(AuditError::Poisoned { op, kind });
            }
            if st.staged.len() < MAX_STAGED_BYTES {
                return Ok(st);
            }
            st = if st.flushing {
                self.inner
                    .flushed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            } else {
                self.inner.flush_once(st)
            };
        }
    }

    /// Submits one payload (a JSON value on one line) and returns at once;
    /// the [`Ticket`] waits for durability. Submitting many before waiting
    /// keeps many appends in flight in one batch.
    ///
    /// # Errors
    /// [`AuditError::PayloadTooLarge`], [`AuditError::PayloadNotJson`] (and
    /// nothing is written), [`AuditError::Poisoned`], [`AuditError::Full`].
    pub fn submit(&self, payload: &[u8]) -> Result<Ticket> {
        self.check_payload(payload)?;
        let mut st = self.staging_lock()?;
        let receipt = self.stage(&mut st, RecordKind::Data, payload)?;
        self.maybe_checkpoint(&mut st)?;
        Ok(Ticket {
            log: self.clone(),
            receipt,
        })
    }

    /// Appends one payload and returns once it is durable.
    ///
    /// # Errors
    /// As [`AuditLog::submit`] and [`Ticket::wait`].
    pub fn append(&self, payload: &[u8]) -> Result<Receipt> {
        self.submit(payload)?.wait()
    }

    /// Submits a batch: all payloads are checked first (one bad payload
    /// rejects the batch and nothing is written), then staged contiguously:
    /// the batch's records have consecutive sequence numbers, with no other
    /// writer's record and no checkpoint between them (a checkpoint that
    /// falls due during the batch is written right after it).
    ///
    /// # Errors
    /// As [`AuditLog::submit`].
    pub fn submit_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<BatchTicket> {
        for p in payloads {
            self.check_payload(p.as_ref())?;
        }
        let mut st = self.staging_lock()?;
        let mut receipts = Vec::with_capacity(payloads.len());
        for p in payloads {
            receipts.push(self.stage(&mut st, RecordKind::Data, p.as_ref())?);
        }
        // A due checkpoint goes after the batch, never inside it.
        self.maybe_checkpoint(&mut st)?;
        Ok(BatchTicket {
            log: self.clone(),
            receipts,
        })
    }

    /// Appends a batch and returns once all of it is durable.
    ///
    /// # Errors
    /// As [`AuditLog::submit_batch`] and [`BatchTicket::wait`].
    pub fn append_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> Result<Vec<Receipt>> {
        self.submit_batch(payloads)?.wait()
    }

    /// Writes a checkpoint record now (signed when the log has a signer)
    /// and returns once it is durable.
    ///
    /// # Errors
    /// [`AuditError::Poisoned`], [`AuditError::Io`].
    pub fn checkpoint(&self) -> Result<SignedCheckpoint> {
        let mut st = self.staging_lock()?;
        let cp = self.stage_checkpoint(&mut st)?;
        drop(st);
        self.wait_for(cp.seq + 1)?;
        Ok(cp)
    }

    /// Rotates to `next`: a rotation record authenticated by the current
    /// key names `next`, which authenticates every later record.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] for an unkeyed log or the same key;
    /// [`AuditError::Poisoned`].
    pub fn rotate_key(&self, next: AuditKey) -> Result<Receipt> {
        let mut st = self.staging_lock()?;
        let Some(current) = &st.key else {
            return Err(AuditError::InvalidKey {
                what: "an unkeyed log has no key to rotate",
            });
        };
        if current.kid() == next.kid() {
            return Err(AuditError::InvalidKey {
                what: "the next key is the current key",
            });
        }
        if self.inner.header.mode == Mode::Keyed && next.epoch() != 0 {
            return Err(AuditError::InvalidKey {
                what: "a keyed log's keys are at epoch 0",
            });
        }
        let forward_secure = st.fs.is_some();
        if forward_secure {
            if st.rotation_pending {
                return Err(AuditError::InvalidKey {
                    what: "another rotation is not yet committed",
                });
            }
            if next.epoch() > st.next_seq.saturating_add(1) {
                return Err(AuditError::InvalidKey {
                    what: "the next key's epoch is beyond the log's sequence",
                });
            }
            // 1. The next key goes beside the current one; the current key
            //    file stays until the rotation record is durable.
            if let Some(fs) = st.fs.as_mut() {
                fs.sink
                    .stage_next(&next)
                    .map_err(|e| AuditError::io("stage next key", e))?;
            }
        }
        // 2. The rotation record, authenticated by the current key.
        let receipt = self.stage(&mut st, RecordKind::Rotate, &rotation_payload(next.kid()))?;
        st.key = Some(next);
        st.records_in_epoch = 0;
        st.rotation_pending = forward_secure;
        drop(st);
        let durable = self.wait_for(receipt.seq + 1);
        if forward_secure {
            // 3. Only now does the next key replace the current one. If the
            //    record never became durable the writer is poisoned and the
            //    staged key is left for the next open to discard.
            let mut st = lock(&self.inner.state);
            if durable.is_ok()
                && let Some(fs) = st.fs.as_mut()
                && let Err(e) = fs.sink.commit_next()
            {
                st.poisoned = Some(("commit next key", e.kind()));
                return Err(AuditError::io("commit next key", e));
            }
            st.rotation_pending = false;
        }
        durable?;
        Ok(receipt)
    }

    /// Blocks until everything submitted so far is durable.
    ///
    /// # Errors
    /// [`AuditError::Poisoned`].
    pub fn flush(&self) -> Result<()> {
        let target = lock(&self.inner.state).staged_end;
        self.wait_for(target)
    }

    /// Writes a final checkpoint (unless disabled or nothing changed), makes
    /// everything durable and releases this handle.
    ///
    /// # Errors
    /// [`AuditError::Poisoned`], [`AuditError::Io`].
    pub fn close(self) -> Result<()> {
        let need = {
            let st = lock(&self.inner.state);
            st.since_checkpoint > 0 || st.next_seq == 1
        };
        if self.inner.checkpoint_on_close && need {
            self.checkpoint()?;
        }
        self.flush()
    }

    fn stage(&self, st: &mut State, kind: RecordKind, payload: &[u8]) -> Result<Receipt> {
        if st.next_seq == u64::MAX {
            return Err(AuditError::Full);
        }
        self.maybe_evolve(st)?;
        let meta = Meta {
            seq: st.next_seq,
            kind,
            kid: st.key.as_ref().map(AuditKey::kid),
            epoch: st.key.as_ref().map_or(0, AuditKey::epoch),
            prev: st.prev,
        };
        let digest = record::digest(&meta, payload);
        let hash = record::chain_hash(&digest, st.key.as_ref());
        let line_offset = st.end_offset;
        let before = st.staged.len();
        record::encode_line(&mut st.staged, &meta, &hash, payload);
        st.end_offset = st
            .end_offset
            .saturating_add(st.staged.len().saturating_sub(before) as u64);
        let leaf = leaf_hash(&digest);
        st.frontier.push(leaf);
        if let Some(live) = st.live.as_mut() {
            live.push(leaf, line_offset);
        }
        st.prev = hash;
        st.next_seq += 1;
        st.staged_end = st.next_seq;
        st.records_in_epoch += 1;
        st.since_checkpoint += 1;
        Ok(Receipt {
            seq: meta.seq,
            hash,
        })
    }

    fn maybe_evolve(&self, st: &mut State) -> Result<()> {
        let Some(fs) = st.fs.as_mut() else {
            return Ok(());
        };
        if fs.epoch_records == 0 || st.records_in_epoch < fs.epoch_records || st.rotation_pending {
            return Ok(());
        }
        let Some(key) = st.key.as_mut() else {
            return Ok(());
        };
        // A record's epoch never exceeds its sequence (readers enforce it,
        // which bounds the key derivation any record can ask of them).
        if key.epoch() >= st.next_seq {
            return Ok(());
        }
        key.evolve()?;
        if let Err(e) = fs.sink.store(key) {
            st.poisoned = Some(("key store", e.kind()));
            return Err(AuditError::io("key store", e));
        }
        st.records_in_epoch = 0;
        Ok(())
    }

    fn maybe_checkpoint(&self, st: &mut State) -> Result<()> {
        if st.checkpoint_every > 0 && st.since_checkpoint >= st.checkpoint_every {
            self.stage_checkpoint(st)?;
        }
        Ok(())
    }

    fn stage_checkpoint(&self, st: &mut State) -> Result<SignedCheckpoint> {
        let header = &self.inner.header;
        if header.checkpoint_key.is_some() && st.signer.is_none() {
            return Err(AuditError::invalid(
                "checkpoint",
                "this log's checkpoints are signed: open it with its signer to write one",
            ));
        }
        let checkpoint = Checkpoint::new(&header.origin, st.frontier.size(), st.frontier.root())?;
        let note = match &st.signer {
            Some(signer) => signer.sign(&checkpoint.body())?,
            None => checkpoint.body(),
        };
        let payload = CheckpointPayload::new(&st.frontier, note.clone()).to_payload();
        let offset = st.end_offset;
        let receipt = self.stage(st, RecordKind::Checkpoint, &payload)?;
        if let Some(live) = st.live.as_mut() {
            live.checkpointed(checkpoint.size(), note.clone());
        }
        st.since_checkpoint = 0;
        Ok(SignedCheckpoint {
            seq: receipt.seq,
            offset,
            checkpoint,
            note,
        })
    }

    fn wait_for(&self, target: u64) -> Result<()> {
        let mut st = lock(&self.inner.state);
        loop {
            if st.durable_end >= target {
                return Ok(());
            }
            if let Some((op, kind)) = st.poisoned {
                return Err(AuditError::Poisoned { op, kind });
            }
            st = if st.flushing {
                self.inner
                    .flushed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            } else {
                self.inner.flush_once(st)
            };
        }
    }
}

impl Inner {
    /// Starts the writer thread if it is not running (the first async
    /// waiter does). It holds the shared core, never a handle, so dropping
    /// the last handle stops it.
    fn start_writer(&self) -> Result<()> {
        let mut writer = lock(&self.writer);
        if writer.is_none() {
            let core = Arc::clone(&self.core);
            let handle = std::thread::Builder::new()
                .name("tally-audit-writer".to_owned())
                .spawn(move || core.serve())
                .map_err(|e| AuditError::io("start the writer thread", e))?;
            *writer = Some(handle);
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.core.state);
            st.shutdown = true;
        }
        self.core.work.notify_all();
        let writer = self
            .writer
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        // Never join from the writer thread itself (a waker it ran may have
        // dropped the last handle): it sees `shutdown` and returns.
        if let Some(handle) = writer
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
        // The last handle is gone: write what is staged (best effort; a
        // caller who needs to know uses `flush` or `close`).
        let st = &mut *lock(&self.core.state);
        if st.poisoned.is_none() && !st.staged.is_empty() {
            let mut file = lock(&self.core.file);
            if write_raw(file.as_mut(), &st.staged).is_ok()
                && self.core.durability != Durability::None
            {
                let _ = file.sync_data();
            }
        }
    }
}

impl Core {
    /// The writer thread: performs a group commit whenever an async waiter
    /// asks for one, until the last handle is dropped.
    fn serve(&self) {
        let mut st = lock(&self.state);
        loop {
            if st.shutdown {
                return;
            }
            st = if st.flush_requested && !st.flushing {
                st.flush_requested = false;
                self.flush_once(st)
            } else {
                self.work
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            };
        }
    }

    /// Leads one group commit: takes everything staged, writes and syncs it
    /// without holding the state lock, then publishes the outcome.
    fn flush_once<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.flushing = true;
        let spare = std::mem::take(&mut st.spare);
        let batch = std::mem::replace(&mut st.staged, spare);
        let target = st.staged_end;
        drop(st);
        let outcome = self.write_out(&batch);
        let mut st = lock(&self.state);
        match outcome {
            Ok(()) => st.durable_end = st.durable_end.max(target),
            Err((op, e)) => {
                if st.poisoned.is_none() {
                    st.poisoned = Some((op, e.kind()));
                }
            }
        }
        let mut batch = batch;
        batch.clear();
        if batch.capacity() <= MAX_STAGED_BYTES {
            st.spare = batch;
        }
        st.flushing = false;
        self.flushed.notify_all();
        if st.flush_requested {
            self.work.notify_one();
        }
        if st.wakers.is_empty() {
            return st;
        }
        // Wake async waiters outside the lock: a waker may run code that
        // takes it (a future dropped, a poll on this thread).
        let wakers: Vec<Waker> = st.wakers.drain().map(|(_, w)| w).collect();
        drop(st);
        for waker in wakers {
            waker.wake();
        }
        lock(&self.state)
    }

    fn write_out(&self, batch: &[u8]) -> Result<(), (&'static str, io::Error)> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut file = lock(&self.file);
        match self.durability {
            Durability::None => write_raw(file.as_mut(), batch),
            Durability::Batch => {
                write_raw(file.as_mut(), batch)?;
                file.sync_data().map_err(|e| ("fdatasync", e))
            }
            Durability::Always => {
                for line in batch.split_inclusive(|&b| b == b'\n') {
                    write_raw(file.as_mut(), line)?;
                    file.sync_data().map_err(|e| ("fdatasync", e))?;
                }
                Ok(())
            }
        }
    }
}

/// Writes all of `bytes`, looping over short writes.
fn write_raw(file: &mut dyn LogFile, mut bytes: &[u8]) -> Result<(), (&'static str, io::Error)> {
    while !bytes.is_empty() {
        match file.append(bytes) {
            Ok(0) => return Err(("write", io::ErrorKind::WriteZero.into())),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(("write", e)),
        }
    }
    Ok(())
}

fn write_all(file: &mut dyn LogFile, bytes: &[u8]) -> Result<()> {
    write_raw(file, bytes).map_err(|(op, e)| AuditError::io(op, e))
}

/// The header line for a new log.
fn header_line(opts: &LogOptions) -> Result<Vec<u8>> {
    let mode = match (&opts.key, &opts.forward_secure) {
        (None, None) => Mode::Plain,
        (Some(_), None) => Mode::Keyed,
        (Some(k), Some(_)) if k.epoch() != 0 => {
            return Err(AuditError::InvalidKey {
                what: "a new forward-secure log starts at key epoch 0",
            });
        }
        (Some(_), Some(_)) => Mode::ForwardSecure,
        (None, Some(_)) => {
            return Err(AuditError::InvalidKey {
                what: "forward-secure mode needs a key",
            });
        }
    };
    let log_id = match opts.log_id {
        Some(id) => id,
        None => LogId::generate()?,
    };
    let origin = match (&opts.origin, &opts.signer) {
        (Some(o), _) => o.clone(),
        (None, Some(s)) => s.name().to_owned(),
        (None, None) => format!("tally-audit/{log_id}"),
    };
    if !crate::note::is_valid_name(&origin) {
        return Err(AuditError::invalid("origin", "not a valid note name"));
    }
    let checkpoint_key = opts.signer.as_ref().map(CheckpointSigner::verifier);
    if checkpoint_key.as_ref().is_some_and(|v| v.name() != origin) {
        return Err(AuditError::invalid(
            "origin",
            "the signer's key name must be the origin",
        ));
    }
    let header = Header {
        log_id,
        mode,
        origin,
        checkpoint_key,
    };
    let payload = header.to_payload();
    let meta = Meta {
        seq: 0,
        kind: RecordKind::Header,
        kid: opts.key.as_ref().map(AuditKey::kid),
        epoch: opts.key.as_ref().map_or(0, AuditKey::epoch),
        prev: record::genesis(log_id.as_bytes()),
    };
    let digest = record::digest(&meta, &payload);
    let hash = record::chain_hash(&digest, opts.key.as_ref());
    let mut line = Vec::new();
    record::encode_line(&mut line, &meta, &hash, &payload);
    Ok(line)
}

/// A signer must be the header's checkpoint key; a log without one takes no
/// signer. Returns whether this writer can write checkpoints (a signed log
/// opened without its signer appends but writes no checkpoint).
fn check_signer(header: &Header, signer: Option<&CheckpointSigner>) -> Result<bool> {
    match (&header.checkpoint_key, signer) {
        (Some(key), Some(s)) if s.verifier() != *key => Err(AuditError::invalid(
            "signer",
            "the signer is not the log's checkpoint key",
        )),
        (Some(_), None) => Ok(false),
        (None, Some(_)) => Err(AuditError::invalid(
            "signer",
            "the log was created without a checkpoint key",
        )),
        _ => Ok(true),
    }
}

/// The writer's key must be the one the log's last record (or rotation)
/// names, at an epoch not older than the log's.
fn check_writer_key(
    header: &Header,
    opts: &LogOptions,
    kid: Option<crate::key::MacKeyId>,
    epoch: u64,
    next_seq: u64,
) -> Result<()> {
    let bad = |what| Err(AuditError::InvalidKey { what });
    match (header.mode, &opts.key) {
        (Mode::Plain, None) => Ok(()),
        (Mode::Plain, Some(_)) => bad("the log is not keyed"),
        (_, None) => Err(AuditError::KeyRequired {
            kid: kid.map(|k| k.to_string()),
        }),
        (mode, Some(key)) => {
            if Some(key.kid()) != kid {
                return bad("the key is not the log's current key");
            }
            if mode == Mode::ForwardSecure && opts.forward_secure.is_none() {
                return bad("a forward-secure log needs forward-secure options");
            }
            if mode == Mode::Keyed && opts.forward_secure.is_some() {
                return bad("the log is not forward-secure");
            }
            if key.epoch() < epoch {
                return bad("the key's epoch is older than the log's");
            }
            if key.epoch() > next_seq {
                return bad("the key's epoch is beyond the log's next sequence");
            }
            Ok(())
        }
    }
}
