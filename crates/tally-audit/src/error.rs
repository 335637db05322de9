//! The crate's one public error type.

use std::io;

/// Every way an operation of this crate can fail.
///
/// Variants that concern a record on disk name its sequence number (when it
/// could be read) and the byte offset of the start of its line, so that a
/// failure can be located with `tail -c +OFFSET` or `jq`. [`AuditError::code`]
/// gives a stable, machine-readable code for each variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An operating-system I/O call failed.
    #[error("I/O error during {op}: {source}")]
    Io {
        /// What was being done (`"write"`, `"fdatasync"`, `"open"`, ...).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The writer saw an I/O or sync failure earlier and refuses all further
    /// appends; reopen the log to recover what is durable.
    #[error("the writer is poisoned by an earlier {op} failure ({kind}); reopen the log")]
    Poisoned {
        /// The operation that failed first.
        op: &'static str,
        /// The kind of the first failure.
        kind: io::ErrorKind,
    },
    /// Another writer holds the log's lock.
    #[error("another writer holds the lock on this log")]
    Locked,
    /// The log file exists already (on create).
    #[error("the log file exists already")]
    AlreadyExists,
    /// A payload is larger than the configured maximum; nothing was written.
    #[error("payload of {len} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Payload length in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A payload is not a single JSON value on one line; nothing was written.
    #[error("payload is not one JSON value on one line: {what} at byte {at}")]
    PayloadNotJson {
        /// What is wrong.
        what: &'static str,
        /// Byte position in the payload.
        at: usize,
    },
    /// A line is longer than the maximum line length.
    #[error("line at offset {offset} exceeds the maximum line length of {max} bytes")]
    LineTooLong {
        /// Offset of the line's first byte.
        offset: u64,
        /// The maximum line length.
        max: usize,
    },
    /// A stored record's payload exceeds the reader's maximum payload size.
    #[error("record {seq} at offset {offset} has a payload larger than {max} bytes")]
    RecordTooLarge {
        /// Sequence of the record.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
        /// The maximum payload size.
        max: usize,
    },
    /// A line is not valid UTF-8.
    #[error("invalid UTF-8 in the line at offset {offset}{}", sequence_note(*.seq))]
    InvalidUtf8 {
        /// The sequence number, when it could be read.
        seq: Option<u64>,
        /// Offset of the line's first byte.
        offset: u64,
    },
    /// A line does not follow the record grammar of FORMAT.md.
    #[error("malformed record at offset {offset}{}: {what}", sequence_note(*.seq))]
    Malformed {
        /// The sequence number, when it could be read.
        seq: Option<u64>,
        /// Offset of the line's first byte.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The record's format version is not one this build reads.
    #[error("unsupported format version {version} at offset {offset}")]
    UnsupportedVersion {
        /// The version found.
        version: u64,
        /// Offset of the line's first byte.
        offset: u64,
    },
    /// Sequence numbers are not contiguous: a record is missing (gap),
    /// repeated (duplicate) or out of order.
    #[error("expected sequence {expected}, found {found} at offset {offset}")]
    SequenceMismatch {
        /// The sequence that should come next.
        expected: u64,
        /// The sequence found.
        found: u64,
        /// Offset of the line's first byte.
        offset: u64,
    },
    /// The record's `prev` is not the previous record's hash.
    #[error("hash chain broken at sequence {seq} (offset {offset})")]
    ChainBroken {
        /// Sequence of the record whose link is wrong.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
    },
    /// The record's hash does not match its content: it was altered, or the
    /// key is wrong.
    #[error(
        "record hash mismatch at sequence {seq} (offset {offset}): altered record or wrong key"
    )]
    HashMismatch {
        /// Sequence of the record.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
    },
    /// The record needs a key that was not supplied, or a key for an epoch
    /// that the supplied key has already evolved past.
    #[error("no usable key for key id {kid} epoch {epoch} at sequence {seq} (offset {offset})")]
    WrongKey {
        /// Sequence of the record.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
        /// The key id the record names (`none` for an unkeyed record).
        kid: String,
        /// The key epoch the record names.
        epoch: u64,
    },
    /// The log is keyed (its header says so) but no key was given: a usage
    /// error, not tampering.
    #[error("this log is keyed: a key is required to read or write it{}", kid.as_ref().map_or_else(String::new, |k| format!(" (key id {k})")))]
    KeyRequired {
        /// The key id the header names, if it names one.
        kid: Option<String>,
    },
    /// A checkpoint key was given for a plain log that holds no checkpoint:
    /// nothing in it is authenticated (a keyed log rewritten as a plain one
    /// with its checkpoints dropped looks like this).
    #[error(
        "a checkpoint key was given but this plain log of {records} records has no checkpoint: nothing in it is authenticated"
    )]
    NoCheckpoint {
        /// Records in the log.
        records: u64,
    },
    /// A key was supplied for a log that is not keyed, or a keyed log was
    /// read without keys; or the record's key does not follow the header and
    /// rotation records.
    #[error("key mode mismatch at sequence {seq} (offset {offset}): {what}")]
    KeyMode {
        /// Sequence of the record.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The header or a control record (rotation, checkpoint) is invalid.
    #[error("invalid {kind} record at sequence {seq} (offset {offset}): {what}")]
    InvalidControl {
        /// `header`, `rotate` or `checkpoint`.
        kind: &'static str,
        /// Sequence of the record.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The log does not contain the tree of a trusted checkpoint: it was
    /// truncated or rolled back to before it.
    #[error(
        "log has {found} records but the trusted checkpoint covers {expected}: truncated or rolled back"
    )]
    Truncated {
        /// Size of the trusted checkpoint.
        expected: u64,
        /// Records found in the log.
        found: u64,
    },
    /// The log's Merkle root at the size of a trusted checkpoint differs
    /// from the checkpoint's root: the history was rewritten (a fork).
    #[error("log root at size {size} does not match the trusted checkpoint: history rewritten")]
    Forked {
        /// The checkpoint size.
        size: u64,
    },
    /// The file is empty or does not start with a header record.
    #[error("not a tally audit log: {what}")]
    NotALog {
        /// What is wrong.
        what: &'static str,
    },
    /// A key could not be loaded or is unacceptable.
    #[error("invalid key: {what}")]
    InvalidKey {
        /// What is wrong.
        what: &'static str,
    },
    /// A signed note, checkpoint, or proof is malformed or does not verify.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// `checkpoint`, `note`, `proof`, `verifier key`, ...
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The caller's per-record check rejected a record during replay.
    #[error("replay check failed at sequence {seq} (offset {offset}): {source}")]
    CheckFailed {
        /// Sequence of the rejected record.
        seq: u64,
        /// Offset of the line's first byte.
        offset: u64,
        /// The caller's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The log has reached the largest sequence number.
    #[error("the log is full (sequence space exhausted)")]
    Full,
    /// An argument is out of range (for example a proof for a leaf beyond the
    /// tree size).
    #[error("out of range: {what}")]
    OutOfRange {
        /// What is wrong.
        what: String,
    },
}

impl AuditError {
    /// A stable code for each variant, for logs, metrics and wire formats.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "audit.io",
            Self::Poisoned { .. } => "audit.poisoned",
            Self::Locked => "audit.locked",
            Self::AlreadyExists => "audit.exists",
            Self::PayloadTooLarge { .. } => "audit.payload_too_large",
            Self::PayloadNotJson { .. } => "audit.payload_not_json",
            Self::LineTooLong { .. } => "audit.line_too_long",
            Self::RecordTooLarge { .. } => "audit.record_too_large",
            Self::InvalidUtf8 { .. } => "audit.invalid_utf8",
            Self::Malformed { .. } => "audit.malformed",
            Self::UnsupportedVersion { .. } => "audit.unsupported_version",
            Self::SequenceMismatch { .. } => "audit.sequence",
            Self::ChainBroken { .. } => "audit.chain_broken",
            Self::HashMismatch { .. } => "audit.hash_mismatch",
            Self::WrongKey { .. } => "audit.wrong_key",
            Self::KeyMode { .. } => "audit.key_mode",
            Self::KeyRequired { .. } => "audit.key_required",
            Self::NoCheckpoint { .. } => "audit.no_checkpoint",
            Self::InvalidControl { .. } => "audit.invalid_control",
            Self::Truncated { .. } => "audit.truncated",
            Self::Forked { .. } => "audit.forked",
            Self::NotALog { .. } => "audit.not_a_log",
            Self::InvalidKey { .. } => "audit.invalid_key",
            Self::Invalid { .. } => "audit.invalid",
            Self::CheckFailed { .. } => "audit.check_failed",
            Self::Full => "audit.full",
            Self::OutOfRange { .. } => "audit.out_of_range",
        }
    }

    /// The sequence number the error names, if any.
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Malformed { seq, .. } | Self::InvalidUtf8 { seq, .. } => *seq,
            Self::SequenceMismatch { found, .. } => Some(*found),
            Self::ChainBroken { seq, .. }
            | Self::HashMismatch { seq, .. }
            | Self::WrongKey { seq, .. }
            | Self::KeyMode { seq, .. }
            | Self::InvalidControl { seq, .. }
            | Self::CheckFailed { seq, .. }
            | Self::RecordTooLarge { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The byte offset of the offending line, if the error names one.
    #[must_use]
    pub fn offset(&self) -> Option<u64> {
        match self {
            Self::LineTooLong { offset, .. }
            | Self::InvalidUtf8 { offset, .. }
            | Self::Malformed { offset, .. }
            | Self::UnsupportedVersion { offset, .. }
            | Self::SequenceMismatch { offset, .. }
            | Self::ChainBroken { offset, .. }
            | Self::HashMismatch { offset, .. }
            | Self::WrongKey { offset, .. }
            | Self::KeyMode { offset, .. }
            | Self::InvalidControl { offset, .. }
            | Self::CheckFailed { offset, .. }
            | Self::RecordTooLarge { offset, .. } => Some(*offset),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        Self::Io { op, source }
    }

    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            why: why.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// " (sequence N)" when the sequence is known, nothing otherwise.
fn sequence_note(seq: Option<u64>) -> String {
    seq.map_or_else(String::new, |seq| format!(" (sequence {seq})"))
}
