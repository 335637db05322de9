//! The crate's one error type.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use crate::decision::{Decision, FieldSet};
use crate::digest::Digest;

/// Everything that can go wrong in `tally-decide`. Each variant has a stable
/// [`code`](Error::code) for the wire.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A basis-point value above 10,000.
    #[error("basis points must be at most 10000, got {value}")]
    BpsOutOfRange {
        /// The value given.
        value: u16,
    },
    /// A candidate id of 0 (reserved: a rejected decision selects nothing).
    #[error("candidate id 0 is reserved")]
    ZeroCandidateId,
    /// A provider index above 63.
    #[error("provider must be at most 63, got {value}")]
    ProviderOutOfRange {
        /// The value given.
        value: u8,
    },
    /// A policy without candidates.
    #[error("the catalog is empty")]
    EmptyCatalog,
    /// A catalog larger than [`crate::MAX_CANDIDATES`].
    #[error("the catalog has {count} candidates; at most {max} are allowed")]
    TooManyCandidates {
        /// Candidates given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// Two candidates with the same id.
    #[error("candidate id {id} appears more than once")]
    DuplicateCandidateId {
        /// The repeated id.
        id: u32,
    },
    /// A risk penalty multiplier above the bound.
    #[error("risk_penalty_multiplier_bps must be at most {max}, got {value}")]
    RiskMultiplierOutOfRange {
        /// The value given.
        value: u16,
        /// The bound.
        max: u16,
    },
    /// A digest whose text is not exactly 64 lowercase hex digits.
    #[error("a digest must be exactly 64 lowercase hex digits (problem at character {position})")]
    DigestHex {
        /// Where the text stops being canonical.
        position: usize,
    },
    /// A JSON document larger than its bound.
    #[error("the {document} is {size_bytes} bytes; at most {max_bytes} are allowed")]
    TooLarge {
        /// Which document.
        document: Document,
        /// Its size.
        size_bytes: usize,
        /// The bound.
        max_bytes: usize,
    },
    /// A JSON document that does not parse into its type (unknown fields,
    /// missing fields, values out of range, trailing bytes...).
    #[error("invalid {document} JSON: {message}")]
    Json {
        /// Which document.
        document: Document,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A record whose bytes are not the canonical encoding of its content.
    #[error("the record is not in canonical form")]
    NonCanonicalRecord,
    /// The bundle names another policy than the one given.
    #[error("policy digest differs: the policy is {expected}, the record names {recorded}")]
    PolicyDigestMismatch {
        /// The digest of the policy given.
        expected: Digest,
        /// The digest the bundle records.
        recorded: Digest,
    },
    /// The bundle names another request than the one given.
    #[error("request digest differs: the request is {expected}, the record names {recorded}")]
    RequestDigestMismatch {
        /// The digest of the request given.
        expected: Digest,
        /// The digest the bundle records.
        recorded: Digest,
    },
    /// The recorded decision is not what the policy decides for the request.
    #[error("the decision does not replay: {} differ{}", .0.fields, if .0.fields.iter().count() == 1 { "s" } else { "" })]
    DecisionMismatch(Box<Mismatch>),
    /// The bundle's decision digest is not the digest of the recorded decision.
    #[error("decision digest differs: the decision is {expected}, the record names {recorded}")]
    DecisionDigestMismatch {
        /// The digest of the decision given.
        expected: Digest,
        /// The digest the bundle records.
        recorded: Digest,
    },
    /// No policy with this digest is known to the resolver.
    #[error("no policy with digest {digest}")]
    UnknownPolicy {
        /// The digest the record names.
        digest: Digest,
    },
    /// Records replayed out of order.
    #[error("record sequence {sequence} does not follow {previous}")]
    SequenceOrder {
        /// The record's sequence.
        sequence: u64,
        /// The sequence of the record before it.
        previous: u64,
    },
    /// A record failed replay; `cause` says how.
    #[error("record {sequence}: {cause}")]
    Record {
        /// The log sequence of the record.
        sequence: u64,
        /// What failed.
        cause: Box<Error>,
    },
}

/// A recorded decision next to its replay, and the fields that differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The fields in which they differ (never empty).
    pub fields: FieldSet,
    /// What the policy decides for the request.
    pub replayed: Decision,
    /// What was recorded.
    pub recorded: Decision,
}

/// The JSON documents the crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Document {
    /// A policy.
    Policy,
    /// A request.
    Request,
    /// A decision.
    Decision,
    /// An audit bundle.
    Bundle,
    /// A decision record (audit log payload).
    Record,
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Document::Policy => "policy",
            Document::Request => "request",
            Document::Decision => "decision",
            Document::Bundle => "audit bundle",
            Document::Record => "decision record",
        })
    }
}

impl Error {
    /// A stable identifier of the variant, for the wire and for logs.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Error::BpsOutOfRange { .. } => "decide.bps_out_of_range",
            Error::ZeroCandidateId => "decide.zero_candidate_id",
            Error::ProviderOutOfRange { .. } => "decide.provider_out_of_range",
            Error::EmptyCatalog => "decide.empty_catalog",
            Error::TooManyCandidates { .. } => "decide.too_many_candidates",
            Error::DuplicateCandidateId { .. } => "decide.duplicate_candidate_id",
            Error::RiskMultiplierOutOfRange { .. } => "decide.risk_multiplier_out_of_range",
            Error::DigestHex { .. } => "decide.digest_hex",
            Error::TooLarge { .. } => "decide.too_large",
            Error::Json { .. } => "decide.json",
            Error::NonCanonicalRecord => "decide.non_canonical_record",
            Error::PolicyDigestMismatch { .. } => "decide.policy_digest_mismatch",
            Error::RequestDigestMismatch { .. } => "decide.request_digest_mismatch",
            Error::DecisionMismatch(_) => "decide.decision_mismatch",
            Error::DecisionDigestMismatch { .. } => "decide.decision_digest_mismatch",
            Error::UnknownPolicy { .. } => "decide.unknown_policy",
            Error::SequenceOrder { .. } => "decide.sequence_order",
            Error::Record { .. } => "decide.record",
        }
    }
}
