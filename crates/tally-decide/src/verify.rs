//! Verification by replay, and the audit bundle that binds a decision to
//! its policy and request.

use alloc::boxed::Box;

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, FieldSet};
use crate::digest::{Digest, decision_digest, request_digest};
use crate::error::Mismatch;
use crate::{Error, Policy, Request};

/// The audit bundle schema: the only value is `"tally/decide/audit/v1"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Schema {
    /// Version 1: the digests of this crate's `v1` canonical bytes.
    #[default]
    #[serde(rename = "tally/decide/audit/v1")]
    V1,
}

/// The digest algorithm: the only value is `"sha256"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// SHA-256.
    #[default]
    #[serde(rename = "sha256")]
    Sha256,
}

/// Binds a decision to its policy and request by their digests.
///
/// Its JSON form is
/// `{"schema_version":"tally/decide/audit/v1","algorithm":"sha256","policy_digest":"<hex>","request_digest":"<hex>","decision_digest":"<hex>"}`;
/// unknown fields, other versions or algorithms and non-canonical hex are
/// refused when it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditBundle {
    /// The bundle schema.
    pub schema_version: Schema,
    /// The digest algorithm.
    pub algorithm: Algorithm,
    /// The policy's digest.
    pub policy_digest: Digest,
    /// The request's digest.
    pub request_digest: Digest,
    /// The decision's digest.
    pub decision_digest: Digest,
}

impl AuditBundle {
    /// Verifies `decision` by replay, then binds the three digests. A
    /// decision that does not replay gets no bundle.
    ///
    /// ```
    /// # use tally_decide::*;
    /// # let policy: Policy = serde_json::from_str(include_str!("../examples/policy.json")).unwrap();
    /// # let request: Request = serde_json::from_str(include_str!("../examples/request.json")).unwrap();
    /// let decision = policy.prescribe(&request);
    /// let bundle = AuditBundle::verified(&policy, &request, &decision).unwrap();
    /// assert_eq!(bundle.policy_digest, policy.digest());
    /// assert_eq!(verify_bundle(&policy, &request, &decision, &bundle), Ok(()));
    ///
    /// let forged = Decision { cost_microunits: 0, ..decision };
    /// assert!(AuditBundle::verified(&policy, &request, &forged).is_err());
    /// ```
    pub fn verified(
        policy: &Policy,
        request: &Request,
        decision: &Decision,
    ) -> Result<Self, Error> {
        verify_decision(policy, request, decision)?;
        Ok(Self::bind(policy, request, decision))
    }

    /// The bundle of a decision just made by `policy` (no replay needed).
    pub(crate) fn bind(policy: &Policy, request: &Request, decision: &Decision) -> Self {
        Self {
            schema_version: Schema::V1,
            algorithm: Algorithm::Sha256,
            policy_digest: policy.digest(),
            request_digest: request_digest(request),
            decision_digest: decision_digest(decision),
        }
    }
}

impl Policy {
    /// Decides `request` and binds the decision in an [`AuditBundle`].
    ///
    /// ```
    /// # use tally_decide::*;
    /// # let policy: Policy = serde_json::from_str(include_str!("../examples/policy.json")).unwrap();
    /// # let request: Request = serde_json::from_str(include_str!("../examples/request.json")).unwrap();
    /// let (decision, bundle) = policy.decide(&request);
    /// assert_eq!(verify_bundle(&policy, &request, &decision, &bundle), Ok(()));
    /// ```
    #[must_use]
    pub fn decide(&self, request: &Request) -> (Decision, AuditBundle) {
        let decision = self.prescribe(request);
        let bundle = AuditBundle::bind(self, request, &decision);
        (decision, bundle)
    }
}

/// Replays `request` under `policy` and compares with `recorded`, field by
/// field. On a difference the error names every differing field and
/// carries both decisions. Does not allocate on success.
///
/// ```
/// # use tally_decide::*;
/// # let policy: Policy = serde_json::from_str(include_str!("../examples/policy.json")).unwrap();
/// # let request: Request = serde_json::from_str(include_str!("../examples/request.json")).unwrap();
/// let decision = policy.prescribe(&request);
/// assert_eq!(verify_decision(&policy, &request, &decision), Ok(()));
/// let forged = Decision { utility_microunits: decision.utility_microunits + 1, ..decision };
/// let Err(Error::DecisionMismatch(mismatch)) = verify_decision(&policy, &request, &forged) else {
///     panic!("a forged decision verified");
/// };
/// assert_eq!(mismatch.fields.iter().collect::<Vec<_>>(), [DecisionField::UtilityMicrounits]);
/// ```
pub fn verify_decision(
    policy: &Policy,
    request: &Request,
    recorded: &Decision,
) -> Result<(), Error> {
    let replayed = policy.prescribe(request);
    let fields = FieldSet::differing(&replayed, recorded);
    if fields.is_empty() {
        return Ok(());
    }
    Err(Error::DecisionMismatch(Box::new(Mismatch {
        fields,
        replayed,
        recorded: *recorded,
    })))
}

/// Checks a recorded decision and its bundle against a policy and a request:
/// the policy digest, the request digest, the decision by replay, then the
/// decision digest, failing on the first that differs.
pub fn verify_bundle(
    policy: &Policy,
    request: &Request,
    decision: &Decision,
    bundle: &AuditBundle,
) -> Result<(), Error> {
    let expected = policy.digest();
    if bundle.policy_digest != expected {
        return Err(Error::PolicyDigestMismatch {
            expected,
            recorded: bundle.policy_digest,
        });
    }
    let expected = request_digest(request);
    if bundle.request_digest != expected {
        return Err(Error::RequestDigestMismatch {
            expected,
            recorded: bundle.request_digest,
        });
    }
    verify_decision(policy, request, decision)?;
    let expected = decision_digest(decision);
    if bundle.decision_digest != expected {
        return Err(Error::DecisionDigestMismatch {
            expected,
            recorded: bundle.decision_digest,
        });
    }
    Ok(())
}
