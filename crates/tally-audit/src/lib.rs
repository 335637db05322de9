//! `tally-audit`: a tamper-evident, append-only log.
//!
//! One JSON record per line (readable with `jq`), each bound to its
//! predecessor by a SHA-256 (or HMAC-SHA256) chain that starts from the
//! log's random id; a Merkle tree (RFC 6962 / RFC 9162) over all records
//! with signed checkpoints (C2SP signed notes, Ed25519), inclusion and
//! consistency proofs. Writes use group commit: appends from many threads
//! share one `write` and one `fdatasync`, and each is acknowledged only once
//! durable. Opening cuts a torn last line, fails closed on any other damage
//! and resumes from the last checkpoint. Every byte is specified in
//! `FORMAT.md`.
//!
//! From async code, `ticket.await` (a [`Ticket`] or [`BatchTicket`] is
//! `IntoFuture`) waits for durability without blocking the task's thread: a
//! writer thread performs the group commit and wakes the task. A reader
//! restarts from a signed checkpoint with [`VerifiedReader::resume`] (the
//! [`ResumePoint`] a ledger stores with its snapshot), reading only what
//! follows it; [`replay`] hands a check's own typed error back in
//! [`ReplayError`].
//!
//! ```
//! use tally_audit::*;
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.jsonl");
//! let key = AuditKey::generate()?;
//! let signer = CheckpointSigner::generate("example.org/audit")?;
//! let vkey = signer.verifier();
//! let log = AuditLog::create(&path, LogOptions::new().key(key.clone()).signer(signer))?;
//! log.append(br#"{"decision":"allow","cost":12}"#)?;
//! let cp = log.checkpoint()?;                       // signed tree head
//! log.close()?;
//!
//! // Later, anyone holding the key verifies the whole log against the
//! // checkpoint kept elsewhere: truncation, rollback and forks are detected.
//! let trusted = vkey.open_checkpoint(&cp.note)?;
//! let opts = VerifyOptions::new().keys(Keyring::new().with(key)).checkpoint_key(vkey)
//!     .trusted_checkpoint(trusted);
//! let summary = verify_file(&path, &opts)?;
//! assert_eq!(summary.records, 3); // header, data, checkpoint (close adds none: nothing new)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod control;
mod error;
mod index;
mod json;
mod key;
mod log;
pub mod merkle;
mod note;
mod proof;
mod reader;
mod record;
mod recover;
pub mod rows;
pub mod storage;
mod verify;

pub use control::{Header, LogId, Mode};
pub use error::{AuditError, Result};
pub use index::ProofIndex;
pub use json::MAX_JSON_DEPTH;
pub use key::{AuditKey, KeyFileSink, KeySink, Keyring, MAX_KEY_BYTES, MIN_KEY_BYTES, MacKeyId};
pub use log::{
    AuditLog, BatchTicket, DEFAULT_CHECKPOINT_EVERY, Durability, Durable, ForwardSecure,
    LogOptions, MAX_STAGED_BYTES, OpenReport, Receipt, ResumePoint, SignedCheckpoint, Ticket,
};
pub use note::{Checkpoint, CheckpointSigner, MAX_NOTE_BYTES, NoteVerifier, key_note_name};
pub use proof::{
    CheckpointRef, ConsistencyProof, InclusionProof, MAX_CONSISTENCY_PROOF_TEXT_BYTES,
    MAX_PROOF_TEXT_BYTES, ProvenConsistency, ProvenRecord,
};
pub use reader::{
    DEFAULT_MAX_PAYLOAD_BYTES, PIPELINE_BATCH_LINES, PIPELINE_DEPTH, Record, RecordRef,
    ReplayError, TornTail, UnverifiedReader, VerifiedReader, VerifyOptions, VerifySummary, replay,
    verify_file, visit_verified,
};
pub use record::{FORMAT_VERSION, Hash, MAX_ENVELOPE_BYTES, RecordKind};

/// Constant-time equality of two hashes.
pub(crate) fn ct_eq(a: &Hash, b: &Hash) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
