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
//! a payload with several `kind` members or a non-string `kind` when any of
//! them names `tally/decide/`. The kind is parsed as JSON (escapes such as
//! `tally\/decide\/…` decoded), never matched on raw bytes. Every other
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
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use tally_audit::{AuditError, AuditLog, BatchTicket, Receipt, ReplayError, Ticket, VerifyOptions};

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
    let outcome = tally_audit::replay(src, opts, |rec| match classify(rec.payload) {
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
    });
    match outcome {
        Ok(summary) => {
            report.records = summary.records;
            Ok(report)
        }
        Err(ReplayError::Check { error, .. }) => Err(error),
        Err(ReplayError::Log(e)) => Err(AuditedError::Log(e)),
    }
}

enum Class {
    Decision,
    UnknownDecisionKind,
    Other,
}

/// Every top-level `kind` member of a payload, parsed (JSON string escapes
/// decoded), duplicates included; everything else is skipped by the parser
/// without being kept.
struct Kinds(Vec<serde_json::Value>);

impl<'de> Deserialize<'de> for Kinds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Kinds;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Kinds, A::Error> {
                let mut kinds = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "kind" {
                        kinds.push(map.next_value::<serde_json::Value>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Kinds(kinds))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Kinds, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Kinds(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kinds, E> {
                Ok(Kinds(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Kinds, E> {
                Ok(Kinds(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Kinds, E> {
                Ok(Kinds(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Kinds, E> {
                Ok(Kinds(Vec::new()))
            }
            fn visit_str<E>(self, _: &str) -> Result<Kinds, E> {
                Ok(Kinds(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Kinds, E> {
                Ok(Kinds(Vec::new()))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Whether a parsed value names the decision family anywhere (a string in
/// it, at any depth, starts with it).
fn names_family(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.starts_with(KIND_FAMILY),
        serde_json::Value::Array(items) => items.iter().any(names_family),
        serde_json::Value::Object(members) => members
            .iter()
            .any(|(name, v)| name.starts_with(KIND_FAMILY) || names_family(v)),
        _ => false,
    }
}

/// Whether a payload names the decision family anywhere: any string or
/// member name at any depth, parsed (escapes decoded), duplicate members
/// included (a map type would keep only one of them).
struct Mentions(bool);

impl<'de> Deserialize<'de> for Mentions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Mentions;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Mentions, A::Error> {
                let mut found = false;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    found |= key.starts_with(KIND_FAMILY);
                    found |= map.next_value::<Mentions>()?.0;
                }
                Ok(Mentions(found))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Mentions, A::Error> {
                let mut found = false;
                while let Some(Mentions(m)) = seq.next_element::<Mentions>()? {
                    found |= m;
                }
                Ok(Mentions(found))
            }
            fn visit_str<E>(self, s: &str) -> Result<Mentions, E> {
                Ok(Mentions(s.starts_with(KIND_FAMILY)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Mentions, E> {
                Ok(Mentions(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Mentions, E> {
                Ok(Mentions(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Mentions, E> {
                Ok(Mentions(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Mentions, E> {
                Ok(Mentions(false))
            }
            fn visit_unit<E>(self) -> Result<Mentions, E> {
                Ok(Mentions(false))
            }
        }
        d.deserialize_any(Visit)
    }
}

fn classify(payload: &[u8]) -> Class {
    // The kind is parsed, never matched on raw bytes: `tally\/decide\/…`
    // (escaped slashes) is the same string. A payload with more than one
    // `kind`, or a `kind` that is not a string, is ambiguous (another
    // parser may keep another member): if any of them names the decision
    // family it fails closed.
    let Ok(Kinds(kinds)) = serde_json::from_slice::<Kinds>(payload) else {
        // Payloads are valid JSON (the log checks that); fail closed anyway.
        return Class::UnknownDecisionKind;
    };
    match kinds.as_slice() {
        [] => Class::Other,
        [serde_json::Value::String(kind)] if kind == RECORD_KIND => Class::Decision,
        [serde_json::Value::String(kind)] if kind.starts_with(KIND_FAMILY) => {
            Class::UnknownDecisionKind
        }
        [serde_json::Value::String(_)] => Class::Other,
        // Ambiguous: fail closed if the family is named anywhere in it.
        many if many.iter().any(names_family) => Class::UnknownDecisionKind,
        _ => match serde_json::from_slice::<Mentions>(payload) {
            Ok(Mentions(false)) => Class::Other,
            _ => Class::UnknownDecisionKind,
        },
    }
}
