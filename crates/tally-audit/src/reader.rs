//! Streaming readers: verified (one pass, bounded memory), unverified, and
//! verified replay with a caller-supplied check.

use std::io::Read;

use crate::control::{Header, Mode};
use crate::error::{AuditError, Result};
use crate::key::Keyring;
use crate::note::{Checkpoint, NoteVerifier};
use crate::record::{self, Hash, MAX_ENVELOPE_BYTES, RecordKind};
use crate::verify::{Chain, KeyCache, Pre, precompute};

/// The default largest payload, in bytes (16 MiB).
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;
/// The bytes a reader asks the operating system for at a time.
pub const READ_CHUNK_BYTES: usize = 256 * 1024;

/// An incomplete last line: bytes after the last newline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Offset of its first byte (the length of the valid log).
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// Splits a byte stream into lines, bounded by a maximum line length.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    scanned: usize,
    offset: u64,
    eof: bool,
    max_line: usize,
    pub torn: Option<TornTail>,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(src: R, offset: u64, max_line: usize) -> Self {
        Self {
            src,
            buf: vec![0; READ_CHUNK_BYTES],
            start: 0,
            end: 0,
            scanned: 0,
            offset,
            eof: false,
            max_line,
            torn: None,
        }
    }

    /// The offset just after the last line returned.
    pub(crate) fn position(&self) -> u64 {
        self.offset
    }

    /// The next complete line (without `\n`) and its offset; `None` at the
    /// end, recording an unterminated fragment in `torn`.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        loop {
            let window = self.buf.get(self.scanned..self.end).unwrap_or_default();
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                let nl = self.scanned + i;
                let (s, at) = (self.start, self.offset);
                let len = nl - s;
                if len > self.max_line {
                    return Err(AuditError::LineTooLong {
                        offset: at,
                        max: self.max_line,
                    });
                }
                self.start = nl + 1;
                self.scanned = self.start;
                self.offset += len as u64 + 1;
                return Ok(Some((at, self.buf.get(s..nl).unwrap_or_default())));
            }
            self.scanned = self.end;
            if self.eof {
                if self.end > self.start {
                    let len = (self.end - self.start) as u64;
                    self.torn = Some(TornTail {
                        offset: self.offset,
                        len,
                    });
                    self.offset += len;
                    self.start = self.end;
                }
                return Ok(None);
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<()> {
        let pending = self.end - self.start;
        if pending > self.max_line {
            // No newline within the limit. A torn tail is part of one record
            // line, so it is never longer than a line may be: whatever follows
            // (a newline later or none at all) is damage. Refusing here keeps
            // the work bounded by the limit, even on an endless stream.
            return Err(AuditError::LineTooLong {
                offset: self.offset,
                max: self.max_line,
            });
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.scanned -= self.start;
            self.start = 0;
            self.end = pending;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(self.max_line + READ_CHUNK_BYTES);
            self.buf.resize(grown.max(self.end + READ_CHUNK_BYTES), 0);
        }
        let dst = self.buf.get_mut(self.end..).unwrap_or_default();
        let n = read_retry(&mut self.src, dst)?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(())
    }
}

fn read_retry<R: Read>(src: &mut R, dst: &mut [u8]) -> Result<usize> {
    loop {
        match src.read(dst) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AuditError::io("read", e)),
        }
    }
}

/// What a reader verifies against.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub(crate) keys: Keyring,
    pub(crate) checkpoint_key: Option<NoteVerifier>,
    pub(crate) trusted: Option<Checkpoint>,
    pub(crate) max_payload_bytes: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            keys: Keyring::new(),
            checkpoint_key: None,
            trusted: None,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

impl VerifyOptions {
    /// Options for an unkeyed log, with no trusted checkpoint.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The HMAC keys (all key ids the log uses; epoch 0 for a full check of
    /// a forward-secure log).
    #[must_use]
    pub fn keys(mut self, keys: Keyring) -> Self {
        self.keys = keys;
        self
    }

    /// The trusted checkpoint-signing key; the header must name the same key.
    #[must_use]
    pub fn checkpoint_key(mut self, key: NoteVerifier) -> Self {
        self.checkpoint_key = Some(key);
        self
    }

    /// A trusted checkpoint (kept outside the writer): the log must contain
    /// its tree, which detects truncation, rollback and forks.
    #[must_use]
    pub fn trusted_checkpoint(mut self, checkpoint: Checkpoint) -> Self {
        self.trusted = Some(checkpoint);
        self
    }

    /// The largest payload accepted (default [`DEFAULT_MAX_PAYLOAD_BYTES`]).
    #[must_use]
    pub fn max_payload_bytes(mut self, max: usize) -> Self {
        self.max_payload_bytes = max;
        self
    }

    pub(crate) fn max_line(&self) -> usize {
        self.max_payload_bytes.saturating_add(MAX_ENVELOPE_BYTES)
    }
}

/// A verified record, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// Sequence number (0 is the header).
    pub seq: u64,
    /// What the record is.
    pub kind: RecordKind,
    /// Byte offset of the record's line.
    pub offset: u64,
    /// The payload bytes exactly as stored.
    pub payload: &'a [u8],
    /// The chain hash (`hash` member).
    pub hash: Hash,
    /// The record digest (Merkle leaf data).
    pub digest: Hash,
    /// The whole line as stored, without its final `\n`.
    pub line: &'a [u8],
}

impl RecordRef<'_> {
    /// An owned copy.
    #[must_use]
    pub fn to_record(&self) -> Record {
        Record {
            seq: self.seq,
            kind: self.kind,
            offset: self.offset,
            payload: self.payload.to_vec(),
            hash: self.hash,
            digest: self.digest,
        }
    }
}

/// An owned record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sequence number (0 is the header).
    pub seq: u64,
    /// What the record is.
    pub kind: RecordKind,
    /// Byte offset of the record's line.
    pub offset: u64,
    /// The payload bytes exactly as stored.
    pub payload: Vec<u8>,
    /// The chain hash (`hash` member); not verified by [`UnverifiedReader`].
    pub hash: Hash,
    /// The record digest; not verified by [`UnverifiedReader`].
    pub digest: Hash,
}

impl Record {
    /// Parses one record line (with or without its final `\n`) without
    /// verifying its chain link or MAC, and computes its digest: what a
    /// third party needs to check an inclusion proof of that line.
    ///
    /// # Errors
    /// When the line is not a record line.
    pub fn parse_line(line: &[u8]) -> Result<Self> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let env = record::parse_line(line, 0)?;
        Ok(Self {
            seq: env.meta.seq,
            kind: env.meta.kind,
            offset: 0,
            payload: env.payload.to_vec(),
            hash: env.hash,
            digest: record::digest(&env.meta, env.payload),
        })
    }
}

/// What a verified pass found.
#[derive(Clone, Debug)]
pub struct VerifySummary {
    /// The header.
    pub header: Header,
    /// How the records were authenticated (the header's mode): print it with
    /// every verification result, since a plain log proves nothing against
    /// a forger who recomputes it.
    pub mode: Mode,
    /// Records verified (the tree size).
    pub records: u64,
    /// The Merkle root over all records.
    pub root: Hash,
    /// The last record's chain hash.
    pub head: Hash,
    /// The last checkpoint record seen: its sequence and checkpoint.
    pub last_checkpoint: Option<(u64, Checkpoint)>,
    /// An incomplete last line, if any (not verified, not counted).
    pub torn_tail: Option<TornTail>,
}

/// A streaming verified reader: yields a record only after verifying it and
/// everything before it; one pass, memory bounded by the longest line.
///
/// ```
/// # use tally_audit::*;
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log.jsonl");
/// let log = AuditLog::create(&path, LogOptions::new())?;
/// log.append(br#"{"n":1}"#)?;
/// log.close()?;
/// let mut reader = VerifiedReader::open(&path, &VerifyOptions::new())?;
/// let mut data = 0;
/// while let Some(rec) = reader.next_record()? {
///     if rec.kind == RecordKind::Data { data += 1; }
/// }
/// assert_eq!(data, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VerifiedReader<R> {
    lines: LineReader<R>,
    chain: Chain,
    trusted: Option<Checkpoint>,
    state: ReaderState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Reading,
    Done,
    Failed,
}

impl VerifiedReader<std::fs::File> {
    /// A verified reader over the file at `path`.
    ///
    /// # Errors
    /// [`AuditError::Io`] when it cannot be opened.
    pub fn open(path: &std::path::Path, opts: &VerifyOptions) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| AuditError::io("open", e))?;
        Ok(Self::new(file, opts))
    }
}

impl<R: Read> VerifiedReader<R> {
    /// A verified reader over `src`, which must start at the header.
    pub fn new(src: R, opts: &VerifyOptions) -> Self {
        Self {
            lines: LineReader::new(src, 0, opts.max_line()),
            chain: Chain::new(
                KeyCache::new(opts.keys.clone(), false),
                opts.checkpoint_key.clone(),
                opts.max_payload_bytes,
            ),
            trusted: opts.trusted.clone(),
            state: ReaderState::Reading,
        }
    }

    /// A verified reader that resumes after the signed checkpoint at `at`
    /// (from [`crate::SignedCheckpoint::resume_point`]): it verifies the
    /// header and the checkpoint record (its hash, its MAC when keyed, its
    /// signature by `opts`' checkpoint key, and that its frontier leads to the
    /// signed root), then yields only the records after it, each verified
    /// against everything before it. The records before the checkpoint are
    /// not read: the signature vouches for them (so a ledger restarts from a
    /// snapshot taken at that checkpoint without reading the whole log).
    ///
    /// # Errors
    /// [`AuditError::Invalid`] without a checkpoint key; any verification
    /// error of the header or the checkpoint; [`AuditError::InvalidControl`]
    /// when the record at `at.offset` is not a checkpoint or not the
    /// sequence `at.seq`.
    pub fn resume(mut src: R, at: crate::ResumePoint, opts: &VerifyOptions) -> Result<Self>
    where
        R: std::io::Seek,
    {
        if opts.checkpoint_key.is_none() {
            return Err(AuditError::invalid(
                "resume",
                "resuming from a checkpoint needs the checkpoint key that vouches for the records before it",
            ));
        }
        let mut chain = Chain::new(
            KeyCache::new(opts.keys.clone(), false),
            opts.checkpoint_key.clone(),
            opts.max_payload_bytes,
        );
        let max_line = opts.max_line();
        {
            let mut head = LineReader::new(&mut src, 0, max_line);
            match head.next_line().map_err(|e| chain.not_a_log(e))? {
                Some((offset, line)) => {
                    chain.verify(line, offset)?;
                }
                None => {
                    return Err(AuditError::NotALog {
                        what: "no header record",
                    });
                }
            }
        }
        let not_here = |what: &str| AuditError::InvalidControl {
            kind: "checkpoint",
            seq: at.seq,
            offset: at.offset,
            what: what.into(),
        };
        if at.offset == 0 {
            return Err(not_here("the header is not a checkpoint"));
        }
        src.seek(std::io::SeekFrom::Start(at.offset))
            .map_err(|e| AuditError::io("seek", e))?;
        let mut lines = LineReader::new(src, at.offset, max_line);
        let Some((offset, line)) = lines.next_line()? else {
            return Err(not_here("no record at this offset"));
        };
        let env = crate::record::parse_line(line, offset)?;
        if env.meta.kind != RecordKind::Checkpoint {
            return Err(not_here("the record at this offset is not a checkpoint"));
        }
        if env.meta.seq != at.seq {
            return Err(not_here("the record at this offset has another sequence"));
        }
        chain.resume_before(line, offset)?;
        chain.verify(line, offset)?;
        Ok(Self {
            lines,
            chain,
            trusted: opts.trusted.clone(),
            state: ReaderState::Reading,
        })
    }

    /// The next verified record, or `None` at the end of the log.
    ///
    /// # Errors
    /// The first verification failure, naming the sequence and offset; the
    /// reader then yields nothing more.
    pub fn next_record(&mut self) -> Result<Option<RecordRef<'_>>> {
        if self.state != ReaderState::Reading {
            return Ok(None);
        }
        let result = step(&mut self.lines, &mut self.chain, self.trusted.as_ref());
        match &result {
            Err(_) => self.state = ReaderState::Failed,
            Ok(None) => self.state = ReaderState::Done,
            Ok(Some(_)) => {}
        }
        result
    }

    /// Reads to the end, verifying everything, and summarises.
    ///
    /// # Errors
    /// The first verification failure.
    pub fn verify_all(mut self) -> Result<VerifySummary> {
        while self.next_record()?.is_some() {}
        self.summary()
    }

    /// The summary after the last record (an error before the end).
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] before the end; [`AuditError::NotALog`]
    /// without a header.
    pub fn summary(&self) -> Result<VerifySummary> {
        if self.state != ReaderState::Done {
            return Err(AuditError::OutOfRange {
                what: "the reader has not reached the end".into(),
            });
        }
        let header = self.chain.header.clone().ok_or(AuditError::NotALog {
            what: "no header record",
        })?;
        Ok(VerifySummary {
            mode: header.mode,
            header,
            records: self.chain.frontier.size(),
            root: self.chain.frontier.root(),
            head: self.chain.prev,
            last_checkpoint: self.chain.last_checkpoint.clone(),
            torn_tail: self.lines.torn,
        })
    }
}

fn step<'a, R: Read>(
    lines: &'a mut LineReader<R>,
    chain: &mut Chain,
    trusted: Option<&Checkpoint>,
) -> Result<Option<RecordRef<'a>>> {
    let Some((offset, line)) = lines.next_line().map_err(|e| chain.not_a_log(e))? else {
        finish_checks(chain, trusted)?;
        return Ok(None);
    };
    let v = chain.verify(line, offset)?;
    if let Some(t) = trusted
        && chain.frontier.size() == t.size()
    {
        check_trusted(chain, t)?;
    }
    Ok(Some(RecordRef {
        seq: v.env.meta.seq,
        kind: v.env.meta.kind,
        offset,
        payload: v.env.payload,
        hash: v.env.hash,
        digest: v.digest,
        line,
    }))
}

fn finish_checks(chain: &Chain, trusted: Option<&Checkpoint>) -> Result<()> {
    let Some(header) = &chain.header else {
        return Err(AuditError::NotALog {
            what: "no complete header record",
        });
    };
    if chain.has_trusted_vkey() && !header.mode.is_keyed() && chain.last_checkpoint.is_none() {
        return Err(AuditError::NoCheckpoint {
            records: chain.frontier.size(),
        });
    }
    if let Some(t) = trusted {
        if chain.frontier.size() < t.size() {
            return Err(AuditError::Truncated {
                expected: t.size(),
                found: chain.frontier.size(),
            });
        }
        if t.size() == 0 {
            check_trusted(chain, t)?;
        }
    }
    Ok(())
}

fn check_trusted(chain: &Chain, trusted: &Checkpoint) -> Result<()> {
    let header = chain.header.as_ref().ok_or(AuditError::NotALog {
        what: "no header record",
    })?;
    if trusted.origin() != header.origin {
        return Err(AuditError::invalid(
            "checkpoint",
            "the trusted checkpoint is for another log (origin)",
        ));
    }
    if !crate::ct_eq(&chain.frontier.root(), trusted.root()) {
        return Err(AuditError::Forked {
            size: trusted.size(),
        });
    }
    Ok(())
}

impl<R: Read> Iterator for VerifiedReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
            .map(|r| r.map(|r| r.to_record()))
            .transpose()
    }
}

/// Lines per batch handed from the precomputing thread to the checker.
pub const PIPELINE_BATCH_LINES: usize = 1024;
/// Batches in flight between the two threads (bounds the memory to about
/// this many batches of lines).
pub const PIPELINE_DEPTH: usize = 4;

struct Batch {
    buf: Vec<u8>,
    items: Vec<(u64, std::ops::Range<usize>, Result<Pre>)>,
    torn: Option<TornTail>,
    done: bool,
}

/// Reads, splits and precomputes (parse, digest, MAC) on one thread;
/// batches come back through `recycled` to be reused without allocating.
fn precompute_batches<R: Read>(
    src: R,
    mut keys: KeyCache,
    max_payload: usize,
    max_line: usize,
    tx: &std::sync::mpsc::SyncSender<Batch>,
    recycled: &std::sync::mpsc::Receiver<Batch>,
) {
    let mut lines = LineReader::new(src, 0, max_line);
    // The position of the next line: records are expected in order from 0.
    let mut expected_seq = 0u64;
    loop {
        let mut batch = recycled.try_recv().unwrap_or_else(|_| Batch {
            buf: Vec::with_capacity(READ_CHUNK_BYTES),
            items: Vec::with_capacity(PIPELINE_BATCH_LINES),
            torn: None,
            done: false,
        });
        batch.buf.clear();
        batch.items.clear();
        while batch.items.len() < PIPELINE_BATCH_LINES && !batch.done {
            match lines.next_line() {
                Ok(Some((offset, line))) => {
                    let start = batch.buf.len();
                    batch.buf.extend_from_slice(line);
                    let pre = precompute(line, offset, expected_seq, &mut keys, max_payload);
                    expected_seq = expected_seq.saturating_add(1);
                    batch.done = pre.is_err();
                    batch.items.push((offset, start..batch.buf.len(), pre));
                }
                Ok(None) => {
                    batch.torn = lines.torn;
                    batch.done = true;
                }
                Err(e) => {
                    batch.items.push((lines.position(), 0..0, Err(e)));
                    batch.done = true;
                }
            }
        }
        let done = batch.done;
        if tx.send(batch).is_err() || done {
            return;
        }
    }
}

/// Verifies a whole log on two threads: one reads and precomputes every
/// line's order-independent work (parsing, digest, MAC, leaf hash), the
/// other applies the sequential checks and calls `on_record` for each
/// verified record, in order. Memory stays bounded by [`PIPELINE_DEPTH`]
/// batches; the result is exactly that of a [`VerifiedReader`].
fn verify_pipelined<R, F>(src: R, opts: &VerifyOptions, mut on_record: F) -> Result<VerifySummary>
where
    R: Read + Send,
    F: FnMut(&RecordRef<'_>) -> Result<()>,
{
    let mut chain = Chain::new(
        KeyCache::new(opts.keys.clone(), false),
        opts.checkpoint_key.clone(),
        opts.max_payload_bytes,
    );
    let (keys, max_payload) = chain.precompute_state();
    let max_line = opts.max_line();
    let trusted = opts.trusted.as_ref();
    let stopped = || AuditError::io("read", std::io::Error::other("the reading thread stopped"));
    let torn = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(PIPELINE_DEPTH);
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Batch>(PIPELINE_DEPTH + 1);
        let reader =
            s.spawn(move || precompute_batches(src, keys, max_payload, max_line, &tx, &back_rx));
        // Takes the receiving ends by value: when it returns (at the end or
        // at the first failure) they are dropped, so a reader blocked on a
        // full channel stops.
        let mut check = |rx: std::sync::mpsc::Receiver<Batch>,
                         back_tx: std::sync::mpsc::SyncSender<Batch>|
         -> Result<Option<TornTail>> {
            for mut batch in rx {
                let (torn, done) = (batch.torn, batch.done);
                for (offset, range, pre) in batch.items.drain(..) {
                    let line = batch.buf.get(range).unwrap_or_default();
                    let pre = pre.map_err(|e| chain.not_a_log(e))?;
                    let v = chain.apply(&pre, line, offset)?;
                    if let Some(t) = trusted
                        && chain.frontier.size() == t.size()
                    {
                        check_trusted(&chain, t)?;
                    }
                    on_record(&RecordRef {
                        seq: v.env.meta.seq,
                        kind: v.env.meta.kind,
                        offset,
                        payload: v.env.payload,
                        hash: v.env.hash,
                        digest: v.digest,
                        line,
                    })?;
                }
                if done {
                    return Ok(torn);
                }
                let _ = back_tx.try_send(batch);
            }
            Err(stopped())
        };
        let checked = check(rx, back_tx);
        // An explicit join: the scope's implicit one returns once the
        // thread's closure has finished, before the thread has exited (its
        // thread-locals destroyed, its memory freed), so the thread would
        // outlive this call.
        match reader.join() {
            Ok(()) => checked,
            Err(_) => Err(stopped()),
        }
    })?;
    finish_checks(&chain, trusted)?;
    let header = chain.header.clone().ok_or(AuditError::NotALog {
        what: "no header record",
    })?;
    Ok(VerifySummary {
        mode: header.mode,
        header,
        records: chain.frontier.size(),
        root: chain.frontier.root(),
        head: chain.prev,
        last_checkpoint: chain.last_checkpoint.clone(),
        torn_tail: torn,
    })
}

/// Verifies the whole log at `path` (on two threads; see [`replay`]).
///
/// # Errors
/// The first failure, naming its sequence and offset.
pub fn verify_file(path: &std::path::Path, opts: &VerifyOptions) -> Result<VerifySummary> {
    let file = std::fs::File::open(path).map_err(|e| AuditError::io("open", e))?;
    verify_pipelined(file, opts, |_| Ok(()))
}

/// Why a [`replay`] stopped: the log did not verify, or the caller's check
/// rejected a record (its own error, typed, with where it happened).
#[derive(Debug)]
pub enum ReplayError<E> {
    /// The log did not verify (the error names the sequence and offset).
    Log(AuditError),
    /// The caller's check rejected a record.
    Check {
        /// The rejected record's sequence number.
        seq: u64,
        /// The offset of its line's first byte.
        offset: u64,
        /// The caller's error.
        error: E,
    },
}

impl<E: std::fmt::Display> std::fmt::Display for ReplayError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Log(e) => e.fmt(f),
            Self::Check { seq, offset, error } => {
                write!(
                    f,
                    "replay check failed at sequence {seq} (offset {offset}): {error}"
                )
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ReplayError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Log(e) => Some(e),
            Self::Check { error, .. } => Some(error),
        }
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<ReplayError<E>> for AuditError {
    /// For callers that keep one error type: a rejected record becomes
    /// [`AuditError::CheckFailed`].
    fn from(e: ReplayError<E>) -> Self {
        match e {
            ReplayError::Log(e) => e,
            ReplayError::Check { seq, offset, error } => Self::CheckFailed {
                seq,
                offset,
                source: error.into(),
            },
        }
    }
}

/// Verified replay: verifies every record and calls `check` on each data
/// record in order, stopping at the first verification failure or the first
/// record `check` rejects. Reading, parsing and hashing run on a second
/// thread ahead of the sequential checks; `check` sees a record only after
/// it and everything before it verified.
///
/// # Errors
/// [`ReplayError::Log`] for a verification error, [`ReplayError::Check`]
/// with the caller's own error and the sequence and offset of the rejected
/// record.
pub fn replay<R, F, E>(
    src: R,
    opts: &VerifyOptions,
    mut check: F,
) -> std::result::Result<VerifySummary, ReplayError<E>>
where
    R: Read + Send,
    F: FnMut(&RecordRef<'_>) -> std::result::Result<(), E>,
{
    let mut rejected: Option<(u64, u64, E)> = None;
    let outcome = verify_pipelined(src, opts, |rec| {
        if rec.kind != RecordKind::Data {
            return Ok(());
        }
        check(rec).map_err(|error| {
            rejected = Some((rec.seq, rec.offset, error));
            // Stops the pipeline; replaced by the caller's error below.
            AuditError::CheckFailed {
                seq: rec.seq,
                offset: rec.offset,
                source: "rejected by the replay check".into(),
            }
        })
    });
    match (outcome, rejected) {
        (Ok(summary), _) => Ok(summary),
        (Err(AuditError::CheckFailed { .. }), Some((seq, offset, error))) => {
            Err(ReplayError::Check { seq, offset, error })
        }
        (Err(e), _) => Err(ReplayError::Log(e)),
    }
}

/// Verifies every record like [`replay`] and calls `visit` on each record
/// of every kind, in order (for callers that also need control records,
/// such as a proof index).
///
/// # Errors
/// A verification error, or the first error `visit` returns.
pub fn visit_verified<R, F>(src: R, opts: &VerifyOptions, visit: F) -> Result<VerifySummary>
where
    R: Read + Send,
    F: FnMut(&RecordRef<'_>) -> Result<()>,
{
    verify_pipelined(src, opts, visit)
}

/// An explicitly unverified reader: parses each line's envelope (and checks
/// that the payload is JSON) but checks no hash, link or key. For tools
/// such as `tail`; never for decisions.
#[derive(Debug)]
pub struct UnverifiedReader<R> {
    lines: LineReader<R>,
    failed: bool,
}

impl<R: Read> UnverifiedReader<R> {
    /// An unverified reader over `src` starting at byte `offset` of the log
    /// (which must be the start of a line).
    pub fn new(src: R, offset: u64, max_payload_bytes: usize) -> Self {
        Self {
            lines: LineReader::new(
                src,
                offset,
                max_payload_bytes.saturating_add(MAX_ENVELOPE_BYTES),
            ),
            failed: false,
        }
    }

    /// The incomplete last line, once the end is reached.
    #[must_use]
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.lines.torn
    }
}

impl<R: Read> Iterator for UnverifiedReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = (|| {
            let Some((offset, line)) = self.lines.next_line()? else {
                return Ok(None);
            };
            let env = record::parse_line(line, offset)?;
            Ok(Some(Record {
                seq: env.meta.seq,
                kind: env.meta.kind,
                offset,
                payload: env.payload.to_vec(),
                hash: env.hash,
                digest: record::digest(&env.meta, env.payload),
            }))
        })();
        if result.is_err() {
            self.failed = true;
        }
        result.transpose()
    }
}
