//! The audit record of a decision, policy resolution by digest, and replay
//! of a sequence of records.
//!
//! This is the pure half of audited decisions: the audit log (another crate)
//! stores [`DecisionRecord::to_payload`] bytes and hands them back with
//! their sequence numbers to [`replay_records`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Document;
use crate::json::decode;
use crate::verify::verify_bundle;
use crate::{AuditBundle, Decision, Error, Policy, Request};

/// The kind tag of a decision record: `"tally/decide/record/v1"`.
pub const RECORD_KIND: &str = "tally/decide/record/v1";

/// The largest record payload replayed: 16 KiB (a record is under 1.5 KiB).
pub const MAX_RECORD_BYTES: usize = 16 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    #[serde(rename = "tally/decide/record/v1")]
    V1,
}

/// The serialized form; field order here is the canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Content {
    kind: Kind,
    bundle: AuditBundle,
    request: Request,
    decision: Decision,
}

/// A verified decision, ready to be appended to an audit log.
///
/// It can only be built by [`DecisionRecord::new`], which replays the
/// decision first: a forged decision never becomes a record. Its payload is
/// compact JSON in a fixed field order (see the crate docs):
/// `{"kind":"tally/decide/record/v1","bundle":{…},"request":{…},"decision":{…}}`.
/// The policy it names is `bundle.policy_digest`; there is deliberately no
/// second copy of that digest that could disagree with the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionRecord(Content);

impl DecisionRecord {
    /// Verifies `decision` against `policy` and `request` and builds its
    /// record, or says what differs.
    ///
    /// ```
    /// # use tally_decide::*;
    /// # let policy = Policy::from_json(include_bytes!("../examples/policy.json")).unwrap();
    /// # let request = Request::from_json(include_bytes!("../examples/request.json")).unwrap();
    /// let decision = policy.prescribe(&request);
    /// let record = DecisionRecord::new(&policy, &request, &decision).unwrap();
    /// let payload = record.to_payload();
    /// let report = replay_records([(1, &payload)], &policy).unwrap();
    /// assert_eq!(report.records, 1);
    /// ```
    pub fn new(policy: &Policy, request: &Request, decision: &Decision) -> Result<Self, Error> {
        let bundle = AuditBundle::verified(policy, request, decision)?;
        Ok(Self(Content {
            kind: Kind::V1,
            bundle,
            request: *request,
            decision: *decision,
        }))
    }

    /// The digest of the policy the record names.
    #[must_use]
    pub fn policy_digest(&self) -> Digest {
        self.0.bundle.policy_digest
    }

    /// The audit bundle.
    #[must_use]
    pub fn bundle(&self) -> &AuditBundle {
        &self.0.bundle
    }

    /// The request.
    #[must_use]
    pub fn request(&self) -> &Request {
        &self.0.request
    }

    /// The decision.
    #[must_use]
    pub fn decision(&self) -> &Decision {
        &self.0.decision
    }

    /// The canonical payload bytes (compact JSON, fixed field order).
    #[must_use]
    pub fn to_payload(&self) -> Vec<u8> {
        encode(&self.0)
    }
}

fn encode(content: &Content) -> Vec<u8> {
    // Serializing plain structs of integers, strings and enums cannot fail.
    serde_json::to_vec(content).unwrap_or_default()
}

/// Finds a policy by its digest, so that a log spanning policy changes
/// replays each record against the policy that decided it.
pub trait PolicyResolver {
    /// The policy whose [`Policy::digest`] is `digest`, if known.
    fn resolve(&self, digest: &Digest) -> Option<&Policy>;
}

/// A single policy resolves its own digest.
impl PolicyResolver for Policy {
    fn resolve(&self, digest: &Digest) -> Option<&Policy> {
        (self.digest() == *digest).then_some(self)
    }
}

impl<R: PolicyResolver + ?Sized> PolicyResolver for &R {
    fn resolve(&self, digest: &Digest) -> Option<&Policy> {
        (**self).resolve(digest)
    }
}

/// Policies indexed by digest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicySet {
    by_digest: BTreeMap<Digest, Policy>,
}

impl PolicySet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `policy` and returns its digest (adding it twice keeps one).
    pub fn insert(&mut self, policy: Policy) -> Digest {
        let digest = policy.digest();
        self.by_digest.insert(digest, policy);
        digest
    }

    /// How many distinct policies the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The digests held, in order.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        self.by_digest.keys()
    }
}

impl PolicyResolver for PolicySet {
    fn resolve(&self, digest: &Digest) -> Option<&Policy> {
        self.by_digest.get(digest)
    }
}

/// What a successful replay covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records replayed.
    pub records: u64,
    /// The sequence of the last record, if any.
    pub last_sequence: Option<u64>,
}

/// Replays `(sequence, payload)` records in order against the policies of
/// `resolver`, and fails closed on the first record that does not check.
///
/// Each payload must be at most [`MAX_RECORD_BYTES`], parse strictly, be
/// byte-for-byte the canonical encoding of its content, name a policy the
/// resolver knows, and pass [`crate::verify_bundle`] against it. Sequences
/// must increase strictly. The error is [`Error::Record`] with the record's
/// sequence and the cause (or [`Error::SequenceOrder`]).
pub fn replay_records<I, B, R>(records: I, resolver: &R) -> Result<ReplayReport, Error>
where
    I: IntoIterator<Item = (u64, B)>,
    B: AsRef<[u8]>,
    R: PolicyResolver + ?Sized,
{
    let mut report = ReplayReport::default();
    for (sequence, payload) in records {
        if let Some(previous) = report.last_sequence
            && sequence <= previous
        {
            return Err(Error::SequenceOrder { sequence, previous });
        }
        replay_one(payload.as_ref(), resolver).map_err(|cause| Error::Record {
            sequence,
            cause: cause.into(),
        })?;
        report.records = report.records.saturating_add(1);
        report.last_sequence = Some(sequence);
    }
    Ok(report)
}

fn replay_one<R: PolicyResolver + ?Sized>(payload: &[u8], resolver: &R) -> Result<(), Error> {
    replay_record(payload, resolver).map(|_| ())
}

/// Replays one record payload against the policy it names and returns the
/// verified record.
///
/// The payload must be at most [`MAX_RECORD_BYTES`], parse strictly, be
/// byte-for-byte the canonical encoding of its content, name a policy the
/// resolver knows, and pass [`crate::verify_bundle`] against it.
///
/// ```
/// # use tally_decide::*;
/// # let policy = Policy::from_json(include_bytes!("../examples/policy.json")).unwrap();
/// # let request = Request::from_json(include_bytes!("../examples/request.json")).unwrap();
/// let record = DecisionRecord::new(&policy, &request, &policy.prescribe(&request)).unwrap();
/// let replayed = replay_record(&record.to_payload(), &policy).unwrap();
/// assert_eq!(replayed, record);
/// ```
///
/// # Errors
/// [`Error::Json`]-family errors for bytes that do not parse,
/// [`Error::NonCanonicalRecord`], [`Error::UnknownPolicy`], or the
/// verification error of [`crate::verify_bundle`].
pub fn replay_record<R: PolicyResolver + ?Sized>(
    payload: &[u8],
    resolver: &R,
) -> Result<DecisionRecord, Error> {
    let content: Content = decode(Document::Record, payload, MAX_RECORD_BYTES)?;
    if encode(&content) != payload {
        return Err(Error::NonCanonicalRecord);
    }
    let digest = content.bundle.policy_digest;
    let policy = resolver
        .resolve(&digest)
        .ok_or(Error::UnknownPolicy { digest })?;
    verify_bundle(policy, &content.request, &content.decision, &content.bundle)?;
    Ok(DecisionRecord(content))
}
