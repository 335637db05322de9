//! Reward policies: what a pool pays for, signed by a trusted key.
//!
//! JSON (unknown fields refused):
//!
//! ```json
//! {"schema":"tally/reward/policy/v1","id":"storage","version":3,
//!  "pool":1000000,"funding_account":"pool:storage","residual_sink":"treasury",
//!  "weights":{"bytes_stored":10000,"bytes_served":2500,"uptime_seconds":10000},
//!  "cap":250000,"min_payout":10,"rounding":"largest_remainder",
//!  "valid_from":1761955200,"valid_until":1798761600}
//! ```
//!
//! * `weights`: basis points per unit of a counter (10,000 = 1.0), 1 to
//!   [`MAX_WEIGHT_BPS`]; counters without a weight count for nothing.
//! * `cap`: the most one account receives (absent or `null`: no cap; 0 is
//!   refused). `min_payout`: amounts below it are not paid (they go to the
//!   residual sink).
//! * `rounding`: `largest_remainder` or `floor` (see [`crate::compute`]).
//! * `valid_from < valid_until` (Unix seconds): an epoch is computed only
//!   if its window lies inside.
//! * `funding_account` and `residual_sink` differ.
//! * `allow_input_reuse` (optional, default `false`): whether a service may
//!   pay the same measurements under more than one epoch id.
//!
//! A [`SignedPolicy`] carries the policy, the signer's key id and an Ed25519
//! signature over `tally/reward/policy/v1 || 0x00 || JCS(policy)`. Only
//! [`SignedPolicy::verify`] against [`TrustedKeys`] yields a
//! [`VerifiedPolicy`], the only form [`crate::compute::compute`] takes: the
//! pool always comes from a signed policy, never from a request.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::cid::Cid;
use crate::ident::{AccountId, PolicyId};
use crate::inputs::{NamedValues, Window};
use crate::jcs;
use crate::keys::{KeyId, Signature, SigningKey, TrustedKeys};

/// The policy schema this version reads.
pub const POLICY_SCHEMA: &str = "tally/reward/policy/v1";
/// The signature domain of policies.
pub const POLICY_DOMAIN: &str = "tally/reward/policy/v1";
/// The largest weight: 1,000× (10,000,000 basis points per unit).
pub const MAX_WEIGHT_BPS: u32 = 10_000_000;

/// How exact shares become whole minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Floor every share, then give one unit each to the largest
    /// remainders (ties by a per-epoch hash of the account, then its id).
    LargestRemainder,
    /// Floor every share; what is left goes to the residual sink.
    Floor,
}

/// A validated reward policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawPolicy")]
pub struct Policy {
    schema: String,
    /// The policy's name.
    pub id: PolicyId,
    /// Its version.
    pub version: u64,
    /// The amount distributed, in minor units.
    pub pool: u64,
    /// The account the pool is paid from.
    pub funding_account: AccountId,
    /// Where the residual goes.
    pub residual_sink: AccountId,
    /// Basis points per unit of each counter.
    pub weights: NamedValues<u32>,
    /// The most one account receives.
    pub cap: Option<u64>,
    /// Amounts below this are not paid.
    pub min_payout: u64,
    /// Rounding rule.
    pub rounding: Rounding,
    /// Start of validity (Unix seconds).
    pub valid_from: u64,
    /// End of validity (Unix seconds, exclusive).
    pub valid_until: u64,
    /// Whether the same measurements (accounts and counters) may be paid
    /// under more than one epoch id (default `false`: a service refuses a
    /// snapshot it already paid under another epoch). Written only when
    /// `true`, so the canonical bytes and CIDs of policies without it are
    /// unchanged.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub allow_input_reuse: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    schema: String,
    id: PolicyId,
    version: u64,
    pool: u64,
    funding_account: AccountId,
    residual_sink: AccountId,
    weights: NamedValues<u32>,
    #[serde(default)]
    cap: Option<u64>,
    min_payout: u64,
    rounding: Rounding,
    valid_from: u64,
    valid_until: u64,
    #[serde(default)]
    allow_input_reuse: bool,
}

/// A rule of a valid policy that a decoded one breaks: its message is the
/// reason alone (serde's decoders and [`Error::Policy`] add their own
/// prefix).
#[derive(Debug)]
pub struct PolicyRule(&'static str);

impl core::fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

impl From<PolicyRule> for Error {
    fn from(rule: PolicyRule) -> Self {
        Error::Policy {
            reason: rule.0.to_owned(),
        }
    }
}

impl TryFrom<RawPolicy> for Policy {
    type Error = PolicyRule;
    fn try_from(raw: RawPolicy) -> Result<Self, PolicyRule> {
        let bad = PolicyRule;
        if raw.schema != POLICY_SCHEMA {
            return Err(bad("unknown policy schema"));
        }
        if raw.weights.0.is_empty() {
            return Err(bad("at least one weight is needed"));
        }
        if raw
            .weights
            .0
            .values()
            .any(|&w| w == 0 || w > MAX_WEIGHT_BPS)
        {
            return Err(bad("weights must be 1 to 10,000,000 basis points"));
        }
        if raw.cap == Some(0) {
            return Err(bad("a cap of 0 pays nobody; leave it out for no cap"));
        }
        if raw.valid_from >= raw.valid_until {
            return Err(bad("valid_from must be before valid_until"));
        }
        if raw.funding_account == raw.residual_sink {
            return Err(bad("the funding account and the residual sink must differ"));
        }
        Ok(Self {
            schema: raw.schema,
            id: raw.id,
            version: raw.version,
            pool: raw.pool,
            funding_account: raw.funding_account,
            residual_sink: raw.residual_sink,
            weights: raw.weights,
            cap: raw.cap,
            min_payout: raw.min_payout,
            rounding: raw.rounding,
            valid_from: raw.valid_from,
            valid_until: raw.valid_until,
            allow_input_reuse: raw.allow_input_reuse,
        })
    }
}

impl Policy {
    /// Decodes and validates a policy.
    ///
    /// # Errors
    /// [`Error::Json`] or [`Error::Policy`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let raw: RawPolicy = decode("policy", bytes)?;
        Ok(Self::try_from(raw)?)
    }

    /// The canonical (JCS) bytes.
    ///
    /// # Errors
    /// Never for a valid policy.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, Error> {
        jcs::canonical(self)
    }

    /// Whether the window lies inside the validity period.
    #[must_use]
    pub fn covers(&self, window: Window) -> bool {
        self.valid_from <= window.start && window.end <= self.valid_until
    }

    /// Signs the policy.
    ///
    /// # Errors
    /// Never for a valid policy.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedPolicy, Error> {
        let signature = key.sign(POLICY_DOMAIN, &self.canonical_bytes()?);
        Ok(SignedPolicy {
            policy: self.clone(),
            key_id: key.id(),
            signature,
        })
    }
}

/// The largest policy document read: 64 KiB.
pub const MAX_POLICY_BYTES: usize = 64 << 10;

fn decode<T: serde::de::DeserializeOwned>(
    document: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    crate::de::from_json_bounded(document, bytes, MAX_POLICY_BYTES)
}

/// A signed policy as decoded, before its policy is validated.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigned {
    policy: RawPolicy,
    key_id: KeyId,
    signature: Signature,
}

/// A policy with its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPolicy {
    /// The policy.
    pub policy: Policy,
    /// The signer's key id.
    pub key_id: KeyId,
    /// Ed25519 over `tally/reward/policy/v1 || 0x00 || JCS(policy)`.
    pub signature: Signature,
}

impl SignedPolicy {
    /// Decodes a signed policy (its signature is not checked yet).
    ///
    /// # Errors
    /// [`Error::Json`], [`Error::Policy`], [`Error::TooLarge`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let raw: RawSigned = decode("signed policy", bytes)?;
        Ok(Self {
            policy: Policy::try_from(raw.policy)?,
            key_id: raw.key_id,
            signature: raw.signature,
        })
    }

    /// Checks the signature against the trusted keys.
    ///
    /// # Errors
    /// [`Error::UntrustedKey`], [`Error::BadSignature`].
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<VerifiedPolicy, Error> {
        let bytes = self.policy.canonical_bytes()?;
        trusted.verify(POLICY_DOMAIN, &bytes, self.key_id, &self.signature)?;
        Ok(VerifiedPolicy {
            policy: self.policy.clone(),
            cid: Cid::of(&bytes),
            key_id: self.key_id,
        })
    }
}

/// A policy whose signature checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPolicy {
    policy: Policy,
    cid: Cid,
    key_id: KeyId,
}

impl VerifiedPolicy {
    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The content id of the policy's canonical bytes.
    #[must_use]
    pub fn cid(&self) -> Cid {
        self.cid
    }

    /// Who signed it.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}
