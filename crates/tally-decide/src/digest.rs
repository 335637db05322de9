//! Canonical bytes and SHA-256 digests of policies, requests and decisions.
//!
//! The layouts are specified in the crate docs and pinned by golden vectors
//! in the tests. Bytes are produced by one encoder per type, written either
//! into a `Vec` ([`Policy::canonical_bytes`] and friends) or streamed into the
//! hash without allocating; the two cannot drift apart.

use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::decision::Decision;
use crate::policy::{Candidate, Policy, PolicySpec};
use crate::{Error, Request};

/// Domain tag of the policy digest.
pub const POLICY_TAG: &str = "tally/decide/policy/v1";
/// Domain tag of the request digest.
pub const REQUEST_TAG: &str = "tally/decide/request/v1";
/// Domain tag of the decision digest.
pub const DECISION_TAG: &str = "tally/decide/decision/v1";

/// A SHA-256 digest. Its text form is exactly 64 lowercase hex digits; no
/// other spelling (upper case, prefix, spaces, other length) is accepted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the canonical text form: exactly 64 characters `0-9a-f`.
    ///
    /// ```
    /// use tally_decide::Digest;
    /// let hex = "00".repeat(31) + "ff";
    /// assert_eq!(Digest::from_hex(&hex).unwrap().as_bytes()[31], 0xff);
    /// assert!(Digest::from_hex(&hex.to_uppercase()).is_err());
    /// assert!(Digest::from_hex(&hex[..62]).is_err());
    /// ```
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        use tally_encoding::hex::{Case, HexError, decode_array};
        decode_array(text, Case::Lower).map(Self).map_err(|e| {
            let position = match e {
                HexError::Digit { position, .. } => position,
                _ => text.len().min(64),
            };
            Error::DigestHex { position }
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(tally_encoding::hex::Encoded::<32, 64>::new(&self.0).as_str())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Hex;
        impl Visitor<'_> for Hex {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 lowercase hex digits")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Digest, E> {
                Digest::from_hex(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Hex)
    }
}

/// Where canonical bytes go: a buffer or a hash.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Fills a fixed array field by field, so a record costs one `put`.
struct Fields<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Fields<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn put(mut self, field: &[u8]) -> Self {
        let end = self.len + field.len();
        if let Some(slot) = self.bytes.get_mut(self.len..end) {
            slot.copy_from_slice(field);
            self.len = end;
        }
        debug_assert_eq!(self.len, end, "record layout larger than its array");
        self
    }

    fn done(self) -> [u8; N] {
        debug_assert_eq!(self.len, N, "record layout smaller than its array");
        self.bytes
    }
}

fn put_tag(sink: &mut impl Sink, tag: &str) {
    let len = u32::try_from(tag.len()).unwrap_or(u32::MAX);
    sink.put(&len.to_le_bytes());
    sink.put(tag.as_bytes());
}

/// Policy header after the tag: epochs, limits, weights, candidate count.
const POLICY_HEADER_BYTES: usize = 8 + 8 + 2 + 2 + 2 + 8 + 4;
/// One candidate: id, provider, quality, ceiling, enabled, latency, capabilities,
/// regions, input price, output price.
pub(crate) const CANDIDATE_BYTES: usize = 4 + 1 + 2 + 2 + 1 + 4 + 8 + 8 + 8 + 8;
const REQUEST_BYTES: usize = 8 + 4 + 4 + 4 + 8 + 8 + 2 + 2 + 2 + 4 + 8 + 8 + 8;
const DECISION_BYTES: usize = 8 + 1 + 2 + 4 + 8 + 8 + 4 + 8 + 2 + 2 + 8 + 8;

fn encode_policy(spec: &PolicySpec, sink: &mut impl Sink) {
    put_tag(sink, POLICY_TAG);
    let count = u32::try_from(spec.candidates.len()).unwrap_or(u32::MAX);
    let header = Fields::<POLICY_HEADER_BYTES>::new()
        .put(&spec.policy_epoch.to_le_bytes())
        .put(&spec.catalog_epoch.to_le_bytes())
        .put(&spec.hard_risk_limit_bps.get().to_le_bytes())
        .put(&spec.minimum_confidence_bps.get().to_le_bytes())
        .put(&spec.risk_penalty_multiplier_bps.to_le_bytes())
        .put(&spec.latency_penalty_microunits_per_ms.to_le_bytes())
        .put(&count.to_le_bytes())
        .done();
    sink.put(&header);
    // A `PolicySpec` inside a `Policy` is in id order; the digest of a bare
    // spec is only ever taken from one.
    for candidate in &spec.candidates {
        sink.put(&candidate_bytes(candidate));
    }
}

fn candidate_bytes(c: &Candidate) -> [u8; CANDIDATE_BYTES] {
    Fields::<CANDIDATE_BYTES>::new()
        .put(&c.id.get().to_le_bytes())
        .put(&[c.provider.get()])
        .put(&c.quality_bps.get().to_le_bytes())
        .put(&c.risk_ceiling_bps.get().to_le_bytes())
        .put(&[u8::from(c.enabled)])
        .put(&c.p95_latency_ms.to_le_bytes())
        .put(&c.capabilities.to_le_bytes())
        .put(&c.region_mask.to_le_bytes())
        .put(&c.input_price_microunits_per_million_tokens.to_le_bytes())
        .put(&c.output_price_microunits_per_million_tokens.to_le_bytes())
        .done()
}

fn encode_request(r: &Request, sink: &mut impl Sink) {
    put_tag(sink, REQUEST_TAG);
    let requested = r.requested_id.map_or(0, |id| id.get());
    let fields = Fields::<REQUEST_BYTES>::new()
        .put(&r.sequence.to_le_bytes())
        .put(&requested.to_le_bytes())
        .put(&r.input_tokens.to_le_bytes())
        .put(&r.output_tokens.to_le_bytes())
        .put(&r.value_microunits.to_le_bytes())
        .put(&r.budget_microunits.to_le_bytes())
        .put(&r.risk_bps.get().to_le_bytes())
        .put(&r.confidence_bps.get().to_le_bytes())
        .put(&r.minimum_quality_bps.get().to_le_bytes())
        .put(&r.max_p95_latency_ms.to_le_bytes())
        .put(&r.required_capabilities.to_le_bytes())
        .put(&r.allowed_providers.to_le_bytes())
        .put(&r.required_regions.to_le_bytes())
        .done();
    sink.put(&fields);
}

fn encode_decision(d: &Decision, sink: &mut impl Sink) {
    put_tag(sink, DECISION_TAG);
    let id = |id: Option<crate::CandidateId>| id.map_or(0, |id| id.get()).to_le_bytes();
    let fields = Fields::<DECISION_BYTES>::new()
        .put(&d.sequence.to_le_bytes())
        .put(&[d.action.code()])
        .put(&d.reason.code().to_le_bytes())
        .put(&id(d.selected_id))
        .put(&d.cost_microunits.to_le_bytes())
        .put(&d.utility_microunits.to_le_bytes())
        .put(&id(d.runner_up_id))
        .put(&d.runner_up_utility_microunits.to_le_bytes())
        .put(&d.evaluated_candidates.to_le_bytes())
        .put(&d.eligible_candidates.to_le_bytes())
        .put(&d.policy_epoch.to_le_bytes())
        .put(&d.catalog_epoch.to_le_bytes())
        .done();
    sink.put(&fields);
}

fn hashed(encode: impl FnOnce(&mut Sha256)) -> Digest {
    let mut hasher = Sha256::new();
    encode(&mut hasher);
    Digest(hasher.finalize().into())
}

/// Computes the policy digest (a `Policy` caches it: see [`Policy::digest`]).
pub(crate) fn policy_digest_of(spec: &PolicySpec) -> Digest {
    hashed(|hasher| encode_policy(spec, hasher))
}

/// Computes the digest of `policy` from its canonical bytes, without the
/// cache. [`Policy::digest`] returns the same value computed at construction.
#[must_use]
pub fn policy_digest(policy: &Policy) -> Digest {
    policy_digest_of(policy.spec())
}

/// The request's digest: SHA-256 of [`Request::canonical_bytes`].
#[must_use]
pub fn request_digest(request: &Request) -> Digest {
    hashed(|hasher| encode_request(request, hasher))
}

/// The decision's digest: SHA-256 of [`Decision::canonical_bytes`].
#[must_use]
pub fn decision_digest(decision: &Decision) -> Digest {
    hashed(|hasher| encode_decision(decision, hasher))
}

impl Policy {
    /// The canonical bytes the policy digest is taken over (crate docs).
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(
            4 + POLICY_TAG.len() + POLICY_HEADER_BYTES + CANDIDATE_BYTES * self.candidates().len(),
        );
        encode_policy(self.spec(), &mut bytes);
        bytes
    }
}

impl Request {
    /// The canonical bytes the request digest is taken over (crate docs).
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + REQUEST_TAG.len() + REQUEST_BYTES);
        encode_request(self, &mut bytes);
        bytes
    }
}

impl Decision {
    /// The canonical bytes the decision digest is taken over (crate docs).
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 + DECISION_TAG.len() + DECISION_BYTES);
        encode_decision(self, &mut bytes);
        bytes
    }
}
