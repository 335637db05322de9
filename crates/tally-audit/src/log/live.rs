//! Inclusion proofs from the open log, without reading it
//! ([`LogOptions::proof_index`]).
//!
//! The log keeps, beside its frontier, a [`ProofIndex`] of every record's
//! leaf hash, each record line's byte offset and its last checkpoint, all
//! updated as records are staged. A proof of record `seq` is then the
//! index's `O(log n)` path and one positional read of the record line
//! (and of the header line), checked against its leaf before it is served:
//! its cost does not grow with the log.
//!
//! Opening stays as fast as without the index: the records already in the
//! file are indexed by [`AuditLog::index_prefix`] (one pass; or
//! [`AuditLog::spawn_index_prefix`] on a thread of its own) while new
//! records are appended; until it
//! has run, [`AuditLog::prove`] answers [`AuditError::OutOfRange`] and
//! [`AuditLog::proofs_ready`] is false. The prefix pass takes the file lock
//! one chunk at a time, and the tree it builds must have the root the open
//! verified (or resumed from a signed checkpoint), so a file changed behind
//! the log's back is refused, not indexed.
//!
//! Memory: about 72 bytes per record (two hashes and an offset).

use std::io::Read;

use std::sync::{Arc, Weak};

use super::{AuditLog, Core, Inner, LogOptions, lock};
use crate::control::CheckpointPayload;
use crate::error::{AuditError, Result};
use crate::index::ProofIndex;
use crate::merkle::leaf_hash;
use crate::proof::InclusionProof;
use crate::record::{self, Hash, MAX_ENVELOPE_BYTES, RecordKind};
use crate::recover::read_exact_at;

/// The bytes read per lock of the file while indexing the prefix.
const PREFIX_CHUNK_BYTES: usize = 1 << 20;

impl LogOptions {
    /// Keeps a proof index of the open log, so that [`AuditLog::prove`]
    /// answers without reading the log (off by default; see
    /// [`AuditLog::index_prefix`]).
    #[must_use]
    pub fn proof_index(mut self, on: bool) -> Self {
        self.proof_index = on;
        self
    }
}

/// The last checkpoint record: the size of its tree (= its own sequence
/// number) and its note.
#[derive(Clone, Debug)]
struct LastCheckpoint {
    size: u64,
    note: String,
}

/// The open log's proof index (in the writer's state).
#[derive(Debug)]
pub(super) struct LiveIndex {
    /// Leaves `0..index.size()`: empty until the prefix is read.
    index: ProofIndex,
    /// The byte offset of each indexed record's line.
    offsets: Vec<u64>,
    /// Records staged since the open, while the prefix is not indexed:
    /// their leaves and offsets, from sequence number `base`.
    tail: Vec<(Hash, u64)>,
    /// The records in the file at the open.
    base: u64,
    /// Where record `base` starts.
    base_end: u64,
    /// The verified root of the first `base` records.
    base_root: Hash,
    ready: bool,
    checkpoint: Option<LastCheckpoint>,
}

impl LiveIndex {
    /// The index of a log that held `base` records (`base_end` bytes,
    /// verified root `base_root`) when it was opened.
    pub(super) fn new(base: u64, base_end: u64, base_root: Hash) -> Self {
        Self {
            index: ProofIndex::new(),
            offsets: Vec::new(),
            tail: Vec::new(),
            base,
            base_end,
            base_root,
            ready: false,
            checkpoint: None,
        }
    }

    /// A record staged at `offset`.
    pub(super) fn push(&mut self, leaf: Hash, offset: u64) {
        if self.ready {
            self.index.push(leaf);
            self.offsets.push(offset);
        } else {
            self.tail.push((leaf, offset));
        }
    }

    /// A checkpoint record staged for the tree of `size` records.
    pub(super) fn checkpointed(&mut self, size: u64, note: String) {
        self.checkpoint = Some(LastCheckpoint { size, note });
    }

    /// The line of record `seq`: its offset and length (without `\n`).
    fn span(&self, seq: u64, end_offset: u64) -> Option<(u64, usize)> {
        let i = usize::try_from(seq).ok()?;
        let start = *self.offsets.get(i)?;
        let end = self
            .offsets
            .get(i.checked_add(1)?)
            .copied()
            .unwrap_or(end_offset);
        let len = end.checked_sub(start)?.checked_sub(1)?;
        Some((start, usize::try_from(len).ok()?))
    }
}

/// A `Read` over `pos..end` of the log's file, locking it per read; it
/// stops once every handle of the log is gone (a pass on its own thread
/// never keeps a closed log's file open).
struct LockedRange<'l> {
    log: &'l Weak<Inner>,
    pos: u64,
    end: u64,
}

impl Read for LockedRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(inner) = self.log.upgrade() else {
            return Err(std::io::Error::other("the log was closed"));
        };
        let core: &Core = &inner.core;
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left).min(PREFIX_CHUNK_BYTES);
        let n = lock(&core.file).read_at(self.pos, buf.get_mut(..want).unwrap_or_default())?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

/// What the prefix pass found.
struct Prefix {
    index: ProofIndex,
    offsets: Vec<u64>,
    checkpoint: Option<LastCheckpoint>,
}

fn changed(what: &'static str) -> AuditError {
    AuditError::invalid("proof index", what)
}

fn read_prefix(log: &Weak<Inner>, base: u64, base_end: u64, max_line: usize) -> Result<Prefix> {
    let src = LockedRange {
        log,
        pos: 0,
        end: base_end,
    };
    let mut lines = crate::reader::LineReader::new(src, 0, max_line);
    let mut index = ProofIndex::new();
    let mut offsets = Vec::with_capacity(usize::try_from(base).unwrap_or(0));
    let mut checkpoint = None;
    while let Some((offset, line)) = lines.next_line()? {
        let env = record::parse_line(line, offset)?;
        if env.meta.seq != index.size() {
            return Err(changed("a record is out of sequence"));
        }
        if env.meta.kind == RecordKind::Checkpoint {
            let cp = CheckpointPayload::parse(env.payload)
                .map_err(|_| changed("a checkpoint record does not parse"))?;
            checkpoint = Some(LastCheckpoint {
                size: cp.size,
                note: cp.note,
            });
        }
        index.push(leaf_hash(&record::digest(&env.meta, env.payload)));
        offsets.push(offset);
    }
    Ok(Prefix {
        index,
        offsets,
        checkpoint,
    })
}

fn closed() -> AuditError {
    AuditError::invalid("proof index", "the log was closed")
}

/// The prefix pass (see [`AuditLog::index_prefix`]).
fn index_prefix(log: &Weak<Inner>) -> Result<()> {
    let (base, base_end, base_root, max_line) = {
        let inner = log.upgrade().ok_or_else(closed)?;
        let st = lock(&inner.state);
        let live = st
            .live
            .as_ref()
            .ok_or_else(|| AuditError::invalid("proof index", "the log keeps none"))?;
        if live.ready {
            return Ok(());
        }
        let max_line = inner.max_payload_bytes.saturating_add(MAX_ENVELOPE_BYTES);
        (live.base, live.base_end, live.base_root, max_line)
    };
    let mut prefix = read_prefix(log, base, base_end, max_line)?;
    if prefix.index.size() != base {
        return Err(changed("the file holds another number of records"));
    }
    if !crate::ct_eq(&prefix.index.root(base)?, &base_root) {
        return Err(changed("the file's records are not the verified tree"));
    }
    let inner = log.upgrade().ok_or_else(closed)?;
    let mut st = lock(&inner.state);
    let Some(live) = st.live.as_mut() else {
        return Err(AuditError::invalid("proof index", "the log keeps none"));
    };
    for (leaf, offset) in live.tail.drain(..) {
        prefix.index.push(leaf);
        prefix.offsets.push(offset);
    }
    live.index = prefix.index;
    live.offsets = prefix.offsets;
    if live.checkpoint.is_none() {
        live.checkpoint = prefix.checkpoint;
    }
    live.ready = true;
    Ok(())
}

impl AuditLog {
    /// Indexes the records that were in the file when the log was opened
    /// (one pass over them; later records are indexed as they are staged).
    /// Does nothing when already done.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] when the log keeps no proof index or the
    /// file's records do not make the tree the open verified; read errors.
    pub fn index_prefix(&self) -> Result<()> {
        index_prefix(&Arc::downgrade(&self.inner))
    }

    /// [`AuditLog::index_prefix`] on a thread of its own, which holds no
    /// handle: once every handle is dropped it stops (the file is not kept
    /// open). `done` gets the outcome.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn_index_prefix(
        &self,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> std::io::Result<()> {
        let log = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("tally-audit-proof-index".to_owned())
            .spawn(move || done(index_prefix(&log)))
            .map(|_| ())
    }

    /// Whether [`AuditLog::prove`] can answer (the log keeps a proof index
    /// and its prefix is indexed).
    #[must_use]
    pub fn proofs_ready(&self) -> bool {
        lock(&self.inner.state)
            .live
            .as_ref()
            .is_some_and(|l| l.ready)
    }

    /// The inclusion proof of record `seq` under the log's last checkpoint
    /// (signed and durable), from the proof index: `O(log n)` hashes and a
    /// positional read of the record line and the header line, each checked
    /// against its leaf. The same proof as [`InclusionProof::from_log`]
    /// over the whole file.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] when the index is not ready, the log's
    /// checkpoints are not signed, or no durable checkpoint covers `seq`;
    /// [`AuditError::Invalid`] when a line read does not match its leaf;
    /// read errors.
    pub fn prove(&self, seq: u64) -> Result<InclusionProof> {
        let out_of_range = |what: &str| AuditError::OutOfRange { what: what.into() };
        if self.inner.header.checkpoint_key.is_none() {
            return Err(out_of_range("the log's checkpoints are not signed"));
        }
        let (cp, proof, header_proof, record_at, header_at, leaves) = {
            let st = lock(&self.inner.state);
            let live = st
                .live
                .as_ref()
                .filter(|l| l.ready)
                .ok_or_else(|| out_of_range("the proof index is not ready"))?;
            let cp = live
                .checkpoint
                .clone()
                .ok_or_else(|| out_of_range("the log has no checkpoint yet"))?;
            // The checkpoint record is record `cp.size`.
            if cp.size >= st.durable_end {
                return Err(out_of_range("the last checkpoint is not durable yet"));
            }
            if seq >= cp.size {
                return Err(out_of_range(
                    "the record is not covered by the last checkpoint",
                ));
            }
            let at = |s| {
                live.span(s, st.end_offset)
                    .ok_or_else(|| out_of_range("record line"))
            };
            let leaf = |s| live.index.leaf(s).ok_or_else(|| out_of_range("leaf"));
            (
                cp.clone(),
                live.index.inclusion_proof(seq, cp.size)?,
                live.index.inclusion_proof(0, cp.size)?,
                at(seq)?,
                at(0)?,
                (leaf(seq)?, leaf(0)?),
            )
        };
        let record = self.read_line(record_at, seq, leaves.0)?;
        let header = self.read_line(header_at, 0, leaves.1)?;
        Ok(InclusionProof {
            log_id: self.inner.header.log_id,
            seq,
            tree_size: cp.size,
            record,
            proof,
            header,
            header_proof,
            checkpoint: cp.note,
        })
    }

    /// Reads record `seq`'s line at `(offset, len)` and checks it is the
    /// record whose leaf hash is `leaf`.
    fn read_line(&self, (offset, len): (u64, usize), seq: u64, leaf: Hash) -> Result<String> {
        let max_line = self
            .inner
            .max_payload_bytes
            .saturating_add(MAX_ENVELOPE_BYTES);
        if len > max_line {
            return Err(changed("a record line is over the log's limit"));
        }
        let mut buf = vec![0u8; len];
        read_exact_at(lock(&self.inner.file).as_mut(), offset, &mut buf)?;
        let env = record::parse_line(&buf, offset)?;
        let digest = record::digest(&env.meta, env.payload);
        if env.meta.seq != seq || !crate::ct_eq(&leaf_hash(&digest), &leaf) {
            return Err(changed("a record line read is not the indexed record"));
        }
        String::from_utf8(buf).map_err(|_| changed("a record line is not UTF-8"))
    }
}

impl AuditLog {
    /// The consistency proof between the log's signed checkpoints of
    /// `old_size` and `new_size` records (the checkpoint records at those
    /// sequence numbers, durable), from the proof index: `O(log n)` hashes
    /// and positional reads of three lines (the header and both checkpoint
    /// records), each checked against its leaf. The same proof as
    /// [`crate::ConsistencyProof::from_log`] with [`crate::CheckpointRef::Size`].
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] when the index is not ready, the log's
    /// checkpoints are not signed, `old_size` is 0 or above `new_size`, or
    /// a size is not that of a durable checkpoint record of the log;
    /// [`AuditError::Invalid`] when a line read does not match its leaf;
    /// read errors.
    pub fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<crate::proof::ConsistencyProof> {
        let out_of_range = |what: &str| AuditError::OutOfRange { what: what.into() };
        let Some(vkey) = self.inner.header.checkpoint_key.clone() else {
            return Err(out_of_range("the log's checkpoints are not signed"));
        };
        if old_size == 0 || old_size > new_size {
            return Err(out_of_range(
                "the old checkpoint must be non-empty and no larger than the new one",
            ));
        }
        let spans = {
            let st = lock(&self.inner.state);
            let live = st
                .live
                .as_ref()
                .filter(|l| l.ready)
                .ok_or_else(|| out_of_range("the proof index is not ready"))?;
            // A checkpoint of `size` records is record `size`.
            if new_size >= st.durable_end {
                return Err(out_of_range("no durable checkpoint of that size"));
            }
            let mut spans = Vec::with_capacity(3);
            for seq in [0, old_size, new_size] {
                let at = live
                    .span(seq, st.end_offset)
                    .ok_or_else(|| out_of_range("record line"))?;
                let leaf = live.index.leaf(seq).ok_or_else(|| out_of_range("leaf"))?;
                spans.push((seq, at, leaf));
            }
            spans
        };
        let mut lines = Vec::with_capacity(3);
        for (seq, at, leaf) in spans {
            lines.push(self.read_line(at, seq, leaf)?);
        }
        let note = |line: &str| -> Result<String> {
            let env = record::parse_line(line.as_bytes(), 0)?;
            if env.meta.kind != RecordKind::Checkpoint {
                return Err(out_of_range("no checkpoint of that size"));
            }
            CheckpointPayload::parse(env.payload)
                .map(|cp| cp.note)
                .map_err(|_| changed("a checkpoint record does not parse"))
        };
        let (header, old_note, new_note) = match lines.as_slice() {
            [h, o, n] => (h.clone(), note(o)?, note(n)?),
            _ => return Err(out_of_range("record line")),
        };
        let st = lock(&self.inner.state);
        let live = st
            .live
            .as_ref()
            .filter(|l| l.ready)
            .ok_or_else(|| out_of_range("the proof index is not ready"))?;
        crate::proof::ConsistencyProof::from_index(
            &live.index,
            &header,
            &vkey,
            &old_note,
            &new_note,
        )
    }
}
