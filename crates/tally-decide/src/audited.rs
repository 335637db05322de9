//! Audited decisions over a real `tally-audit` log (feature `audit`).
//!
//! * [`append_decision`] replays a decision before it writes anything: a
//!   forged decision is refused and the log is left byte-for-byte as it was.
//!   [`append_decisions`] does the same for a batch, all or nothing, in one
//!   group commit; [`submit_decision`] keeps appends in flight.
//! * [`replay_log`] streams a log through `tally-audit`'s verified reader
//!   (every chain link, MAC and checkpoint is checked before a record is
//!   seen) and re-runs every decision record against the policy it names,
//!   found by digest through a [`PolicyResolver`], so a log that spans policy
//!   changes replays. It fails closed at the first record that does not
//!   check, with that record's log sequence.
//!
//! Which records are decisions: a data record whose payload is a JSON object
//! with a top-level `"kind"` member equal to [`RECORD_KIND`]. Such a record
//! must replay exactly (canonical bytes included). A payload whose `kind`
//! starts with `tally/decide/` but is not a kind this version knows is an
//! error, never skipped, so a newer record format cannot pass unchecked; so is
//! a payload whose `kind` cannot be read as one string (a duplicate or
//! non-string `kind`) when it mentions `tally/decide/` anywhere. Every other
//! data record (other components' payloads) is skipped and counted.
//!
//! ```
//! use tally_audit::{AuditLog, LogOptions, VerifyOptions};
//! use tally_decide::{Policy, Request, audited};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("decisions.jsonl");
//! let policy = Policy::from_json(include_bytes!("../examples/policy.json"))?;
//! let request = Request::from_json(include_bytes!("../examples/request.json"))?;
//! let log = AuditLog::create(&path, LogOptions::new())?;
//! let decision = policy.prescribe(&request);
//! let receipt = audited::append_decision(&log, &policy, &request, &decision)?;
//! log.close()?;
//!
//! let report = audited::replay_log_file(&path, &VerifyOptions::new(), &policy)?;
//! assert_eq!(report.decisions, 1);
//! assert_eq!(report.last_decision, Some(receipt.seq));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use tally_audit::{AuditError, AuditLog, BatchTicket, Receipt, Ticket, VerifyOptions};

use crate::record::{DecisionRecord, PolicyResolver, RECORD_KIND, replay_record};
use crate::{Decision, Digest, Error, Policy, Request};

/// The prefix of every decision record kind, current or future.
const KIND_FAMILY: &str = "tally/decide/";

/// Why an audited operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditedError {
    /// A decision did not replay: nothing was written. `index` is its
    /// position in the batch (0 for a single append).
    #[error("decision {index} refused, nothing written: {cause}")]
    Refused {
        /// Position in the batch.
        index: usize,
        /// Why it does not replay.
        cause: Error,
    },
    /// A decision record in the log failed replay.
    #[error("log record {seq} (offset {offset}): {cause}")]
    Replay {
        /// The record's log sequence.
        seq: u64,
        /// Byte offset of the record's line.
        offset: u64,
        /// Why it does not replay.
        cause: Error,
    },
    /// A data record claims the decision family with a kind this version
    /// does not know.
    #[error("log record {seq} (offset {offset}): unknown decision record kind")]
    UnknownKind {
        /// The record's log sequence.
        seq: u64,
        /// Byte offset of the record's line.
        offset: u64,
    },
    /// The log file could not be opened.
    #[error("cannot open the log: {0}")]
    Open(#[source] std::io::Error),
    /// The log itself failed: verification, I/O, a poisoned writer.
    #[error(transparent)]
    Log(#[from] AuditError),
}

impl AuditedError {
    /// The log sequence the error names, if any.
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Replay { seq, .. } | Self::UnknownKind { seq, .. } => Some(*seq),
            Self::Refused { .. } | Self::Open(_) => None,
            Self::Log(e) => e.seq(),
        }
    }
}

/// Verifies `decision` by replay and appends its record; returns once the
/// record is durable (per the log's durability mode).
///
/// # Errors
/// [`AuditedError::Refused`] when the decision does not replay (nothing is
/// written), [`AuditedError::Log`] when the append fails.
pub fn append_decision(
    log: &AuditLog,
    policy: &Policy,
    request: &Request,
    decision: &Decision,
) -> Result<Receipt, AuditedError> {
    Ok(submit_decision(log, policy, request, decision)?.wait()?)
}

/// Like [`append_decision`] but returns at once: the [`Ticket`] waits for
/// durability, so many appends can be in flight in one group commit.
///
/// # Errors
/// As [`append_decision`]; a refused decision is never staged.
pub fn submit_decision(
    log: &AuditLog,
    policy: &Policy,
    request: &Request,
    decision: &Decision,
) -> Result<Ticket, AuditedError> {
    let record = DecisionRecord::new(policy, request, decision)
        .map_err(|cause| AuditedError::Refused { index: 0, cause })?;
    Ok(log.submit(&record.to_payload())?)
}

/// Verifies every decision of the batch first; if all replay, appends them
/// contiguously in one group commit and returns once all are durable.
/// One forged decision refuses the whole batch and nothing is written.
///
/// # Errors
/// [`AuditedError::Refused`] naming the first decision that does not
/// replay, or [`AuditedError::Log`].
pub fn append_decisions<'a, I>(log: &AuditLog, items: I) -> Result<Vec<Receipt>, AuditedError>
where
    I: IntoIterator<Item = (&'a Policy, &'a Request, &'a Decision)>,
{
    Ok(submit_decisions(log, items)?.wait()?)
}

/// Like [`append_decisions`] but returns at once with a [`BatchTicket`].
///
/// # Errors
/// As [`append_decisions`].
pub fn submit_decisions<'a, I>(log: &AuditLog, items: I) -> Result<BatchTicket, AuditedError>
where
    I: IntoIterator<Item = (&'a Policy, &'a Request, &'a Decision)>,
{
    let payloads = items
        .into_iter()
        .enumerate()
        .map(|(index, (policy, request, decision))| {
            DecisionRecord::new(policy, request, decision)
                .map(|record| record.to_payload())
                .map_err(|cause| AuditedError::Refused { index, cause })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(log.submit_batch(&payloads)?)
}

/// What an audited replay covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogReplayReport {
    /// Records in the log, every kind (the tree size).
    pub records: u64,
    /// Decision records replayed.
    pub decisions: u64,
    /// Data records that are not decisions, skipped.
    pub skipped: u64,
    /// The log sequence of the last decision replayed.
    pub last_decision: Option<u64>,
    /// The digests of the policies the decisions named.
    pub policies: BTreeSet<Digest>,
}

/// Replays a log file; see [`replay_log`].
///
/// # Errors
/// As [`replay_log`], and [`AuditedError::Open`] when the file cannot be
/// opened.
pub fn replay_log_file<R: PolicyResolver + ?Sized>(
    path: &Path,
    opts: &VerifyOptions,
    resolver: &R,
) -> Result<LogReplayReport, AuditedError> {
    let file = std::fs::File::open(path).map_err(AuditedError::Open)?;
    replay_log(file, opts, resolver)
}

/// Verifies the whole log (with `opts`: keys, trusted checkpoint) and
/// replays every decision record against the policy it names.
///
/// # Errors
/// The first failure, in log order: a verification error of the log
/// ([`AuditedError::Log`], naming the sequence and offset),
/// [`AuditedError::Replay`] for a decision that does not replay (including
/// an unknown policy), [`AuditedError::UnknownKind`].
pub fn replay_log<S, R>(
    src: S,
    opts: &VerifyOptions,
    resolver: &R,
) -> Result<LogReplayReport, AuditedError>
where
    S: Read + Send,
    R: PolicyResolver + ?Sized,
{
    let mut report = LogReplayReport::default();
    let mut failure: Option<AuditedError> = None;
    let outcome = tally_audit::replay(src, opts, |rec| {
        let result = match classify(rec.payload) {
            Class::Other => {
                report.skipped = report.skipped.saturating_add(1);
                Ok(())
            }
            Class::UnknownDecisionKind => Err(AuditedError::UnknownKind {
                seq: rec.seq,
                offset: rec.offset,
            }),
            Class::Decision => match replay_record(rec.payload, resolver) {
                Ok(record) => {
                    report.decisions = report.decisions.saturating_add(1);
                    report.last_decision = Some(rec.seq);
                    report.policies.insert(record.policy_digest());
                    Ok(())
                }
                Err(cause) => Err(AuditedError::Replay {
                    seq: rec.seq,
                    offset: rec.offset,
                    cause,
                }),
            },
        };
        result.map_err(|e| {
            let message = alloc::string::ToString::to_string(&e);
            failure = Some(e);
            Box::<dyn std::error::Error + Send + Sync>::from(message)
        })
    });
    match outcome {
        Ok(summary) => {
            report.records = summary.records;
            Ok(report)
        }
        Err(e) => Err(match (e, failure) {
            (AuditError::CheckFailed { .. }, Some(ours)) => ours,
            (e, _) => AuditedError::Log(e),
        }),
    }
}

enum Class {
    Decision,
    UnknownDecisionKind,
    Other,
}

/// Only the top-level `kind` member matters; everything else is skipped by
/// the parser without being kept.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
}

fn classify(payload: &[u8]) -> Class {
    // Payloads are valid JSON (the log checks that). A payload whose `kind`
    // cannot be read as one string (a duplicate `kind`, a non-string `kind`)
    // but that mentions the decision family fails closed: a reader with
    // another JSON parser could take it for a decision.
    let kind = match serde_json::from_slice::<Probe<'_>>(payload) {
        Ok(Probe { kind: Some(kind) }) => kind,
        Ok(Probe { kind: None }) => return Class::Other,
        Err(_) if mentions_family(payload) => return Class::UnknownDecisionKind,
        Err(_) => return Class::Other,
    };
    if kind == RECORD_KIND {
        Class::Decision
    } else if kind.starts_with(KIND_FAMILY) {
        Class::UnknownDecisionKind
    } else {
        Class::Other
    }
}

fn mentions_family(payload: &[u8]) -> bool {
    payload
        .windows(KIND_FAMILY.len())
        .any(|w| w == KIND_FAMILY.as_bytes())
}
