//! Run keys, sealed manifests and payout proofs.
//!
//! * **Run key**: BLAKE3 `derive_key("tally/reward/run/v1", m)` where `m` is
//!   `u64le(len) ‖ bytes` for, in order, the epoch id, the inputs CID
//!   (binary, 36 bytes), the policy CID (binary) and the engine version.
//! * **Manifest**: the JCS object of [`Manifest`]; its CID is the CID of those
//!   bytes. It binds the epoch and window, the run key, the inputs and policy
//!   CIDs and the policy's signer, the previous manifest's CID (a chain of
//!   epochs; `null` for the first), the engine version, the pool, its
//!   accounts, the totals, the residual, and both the Merkle root
//!   ([`crate::merkle`]) and the CID of the JCS payout list
//!   (`[{"account":…,"amount":…},…]` in account order). Delivery status is
//!   never part of it.
//! * **Chain**: [`verify_link`] checks that a manifest follows another (the
//!   link is the other's CID, the other is sealed by a trusted key, and its
//!   epoch comes first: another id, a window that ends before this one
//!   starts); [`verify_chain`] checks a whole chain. [`verify`] recomputes a
//!   manifest but takes its link as written.
//! * **Seal**: Ed25519 over `tally/reward/manifest/v1 ‖ 0x00 ‖ JCS(manifest)`
//!   by a key whose id is carried beside it ([`SealedManifest`]).
//! * **Post-quantum seal** (optional, [`PqSeal`]): a second signature,
//!   ML-DSA-65 (FIPS 204, pure, empty context, deterministic; see
//!   [`tally_keys::ml_dsa`]) over the *same* bytes as the Ed25519 seal,
//!   carried in the member `pq` of the sealed manifest:
//!   `{"alg":"ml-dsa-65","key_id":…,"signature":…}`. The same bytes: the
//!   domain already separates manifests from every other signed kind, and
//!   one definition of "what is signed" is one thing to audit; a sealed
//!   manifest without `pq` is encoded exactly as before (the member is
//!   omitted, never `null`), so every manifest sealed earlier keeps its
//!   bytes. Neither signature covers the other, so `pq` can be stripped:
//!   a verifier that needs the post-quantum seal says so
//!   ([`SealedManifest::verify_pq`] with `require`), and a `pq` member that
//!   is present is checked whenever ML-DSA keys are given and fails the
//!   manifest when it does not verify.

use core::fmt;

use serde::{Deserialize, Serialize};
use tally_encoding::hex::{self, Case};

use crate::cid::Cid;
use crate::compute::{Distribution, Payout, compute};
use crate::ident::{AccountId, EpochId};
use crate::inputs::{EpochInputs, Window};
use crate::keys::{
    KeyError, KeyId, MlDsaSignature, MlDsaSigningKey, MlDsaTrustedKeys, Signature, SigningKey,
    TrustedKeys,
};
use crate::policy::{Rounding, SignedPolicy, VerifiedPolicy};
use crate::{ENGINE_VERSION, Error, Limits, jcs, merkle};

/// The manifest schema.
pub const MANIFEST_SCHEMA: &str = "tally/reward/manifest/v1";
/// The signature domain of manifests.
pub const MANIFEST_DOMAIN: &str = "tally/reward/manifest/v1";

/// A 32-byte value written as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hex32(pub [u8; 32]);

impl fmt::Display for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for Hex32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hex32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode_array::<32>(&text, Case::Lower)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("expected 64 lower-case hex digits"))
    }
}

/// The key of a run: what makes two runs the same run.
pub type RunKey = Hex32;

/// The run key of an epoch, inputs, policy and engine version.
#[must_use]
pub fn run_key(epoch: &EpochId, inputs: &Cid, policy: &Cid, engine: &str) -> RunKey {
    let mut m = Vec::with_capacity(160);
    for part in [
        epoch.as_str().as_bytes(),
        &inputs.to_bytes(),
        &policy.to_bytes(),
        engine.as_bytes(),
    ] {
        tally_encoding::framing::length_prefixed(part, |b| m.extend_from_slice(b));
    }
    Hex32(blake3::derive_key("tally/reward/run/v1", &m))
}

/// The sealed content of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// The epoch.
    pub epoch: EpochId,
    /// The epoch's window.
    pub window: Window,
    /// The run key.
    pub run_key: RunKey,
    /// The inputs' content id.
    pub inputs_cid: Cid,
    /// The policy's content id.
    pub policy_cid: Cid,
    /// Who signed the policy.
    pub policy_key_id: KeyId,
    /// The previous accepted manifest's CID, `null` for the first.
    pub previous: Option<Cid>,
    /// The engine version.
    pub engine: String,
    /// The pool.
    pub pool: u64,
    /// The account the pool is paid from.
    pub funding_account: AccountId,
    /// Where the residual goes.
    pub residual_sink: AccountId,
    /// `Σ payouts`.
    pub paid: u64,
    /// `pool − paid`.
    pub residual: u64,
    /// Accounts paid.
    pub payees: u64,
    /// Accounts in the inputs.
    pub accounts: u64,
    /// Payees paid exactly the cap ([`Distribution::capped`]).
    pub capped: u64,
    /// Accounts below the minimum payout, unpaid.
    pub below_minimum: u64,
    /// The rounding rule used.
    pub rounding: Rounding,
    /// The Merkle root of the payouts.
    pub payouts_root: Hex32,
    /// The CID of the JCS payout list.
    pub payouts_cid: Cid,
}

impl Manifest {
    /// The canonical (JCS) bytes.
    ///
    /// # Errors
    /// Never for a manifest built here.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, Error> {
        jcs::canonical(self)
    }

    /// The manifest's content id.
    ///
    /// # Errors
    /// As [`Manifest::canonical_bytes`].
    pub fn cid(&self) -> Result<Cid, Error> {
        Ok(Cid::of(&self.canonical_bytes()?))
    }
}

/// A manifest with its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// The sealing key's id.
    pub key_id: KeyId,
    /// Ed25519 over `tally/reward/manifest/v1 ‖ 0x00 ‖ JCS(manifest)`.
    pub signature: Signature,
    /// The optional post-quantum seal over the same bytes (omitted when
    /// absent; `null` is refused, so a sealed manifest has one encoding).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_pq_seal"
    )]
    pub pq: Option<PqSeal>,
}

fn present_pq_seal<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PqSeal>, D::Error> {
    PqSeal::deserialize(d).map(Some)
}

/// The post-quantum signature algorithms of a [`PqSeal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PqAlgorithm {
    /// ML-DSA-65 (FIPS 204).
    #[serde(rename = "ml-dsa-65")]
    MlDsa65,
}

/// A manifest's second, post-quantum signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PqSeal {
    /// The algorithm.
    pub alg: PqAlgorithm,
    /// The ML-DSA key's id ([`KeyId::of_ml_dsa`]).
    pub key_id: KeyId,
    /// ML-DSA-65 over `tally/reward/manifest/v1 ‖ 0x00 ‖ JCS(manifest)`
    /// (3,309 bytes, 6,618 hex digits; any other length is refused before
    /// it is decoded).
    pub signature: MlDsaSignature,
}

/// What a post-quantum check found ([`SealedManifest::verify_pq`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PqStatus {
    /// The ML-DSA seal verifies under the key of this id.
    Verified(KeyId),
    /// The manifest has no ML-DSA seal (and none was required).
    Absent,
    /// The manifest has an ML-DSA seal, and no ML-DSA key was given to
    /// check it (nor was one required): the manifest stands on its Ed25519
    /// seal alone.
    Unchecked(KeyId),
}

/// The largest sealed manifest document read: 64 KiB.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

impl SealedManifest {
    /// Decodes a sealed manifest (its signature is not checked yet).
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        crate::de::from_json_bounded("manifest", bytes, MAX_MANIFEST_BYTES)
    }

    /// Checks the seal against the trusted keys.
    ///
    /// # Errors
    /// [`Error::UntrustedKey`], [`Error::BadSignature`].
    pub fn verify_signature(&self, trusted: &TrustedKeys) -> Result<(), Error> {
        let bytes = self.manifest.canonical_bytes()?;
        Ok(trusted.verify(MANIFEST_DOMAIN, &bytes, self.key_id, &self.signature)?)
    }

    /// Checks the post-quantum seal (the Ed25519 seal is
    /// [`SealedManifest::verify_signature`]'s): a seal that is present
    /// must verify under one of `keys` whenever keys are given; with
    /// `require`, a manifest without one fails, and so does one that
    /// cannot be checked (no keys).
    ///
    /// # Errors
    /// [`Error::PqSignatureRequired`], [`Error::UntrustedPqKey`],
    /// [`Error::BadPqSignature`].
    pub fn verify_pq(&self, keys: &MlDsaTrustedKeys, require: bool) -> Result<PqStatus, Error> {
        let Some(seal) = &self.pq else {
            return if require {
                Err(Error::PqSignatureRequired)
            } else {
                Ok(PqStatus::Absent)
            };
        };
        if keys.is_empty() && !require {
            return Ok(PqStatus::Unchecked(seal.key_id));
        }
        let bytes = self.manifest.canonical_bytes()?;
        match seal.alg {
            PqAlgorithm::MlDsa65 => keys
                .verify(MANIFEST_DOMAIN, &bytes, seal.key_id, &seal.signature)
                .map_err(|e| match e {
                    KeyError::UntrustedKey { key_id } => Error::UntrustedPqKey { key_id },
                    _ => Error::BadPqSignature {
                        key_id: seal.key_id,
                    },
                })?,
        }
        Ok(PqStatus::Verified(seal.key_id))
    }
}

/// The keys that seal manifests: Ed25519 always, ML-DSA-65 beside it when
/// the operator configured one.
#[derive(Clone, Copy, Debug)]
pub struct Sealer<'a> {
    /// The Ed25519 key.
    pub ed25519: &'a SigningKey,
    /// The optional ML-DSA-65 key.
    pub ml_dsa: Option<&'a MlDsaSigningKey>,
}

impl<'a> From<&'a SigningKey> for Sealer<'a> {
    fn from(ed25519: &'a SigningKey) -> Self {
        Self {
            ed25519,
            ml_dsa: None,
        }
    }
}

/// The canonical bytes of a payout list (a JCS array of
/// `{"account":…,"amount":…}` objects).
///
/// # Errors
/// Never for valid payouts.
pub fn payouts_bytes(payouts: &[Payout]) -> Result<Vec<u8>, Error> {
    // Written directly: the members are already in JCS order (account <
    // amount) and account ids need no escaping.
    let mut out = Vec::with_capacity(payouts.len().saturating_mul(40).saturating_add(2));
    out.push(b'[');
    for (i, p) in payouts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"account\":\"");
        out.extend_from_slice(p.account.as_str().as_bytes());
        out.extend_from_slice(b"\",\"amount\":");
        out.extend_from_slice(p.amount.to_string().as_bytes());
        out.push(b'}');
    }
    out.push(b']');
    Ok(out)
}

/// Builds the manifest of a distribution (unsigned).
///
/// # Errors
/// [`Error::InvariantBreach`] if the payouts overflow.
pub fn build(
    inputs: &EpochInputs,
    inputs_cid: Cid,
    policy: &VerifiedPolicy,
    distribution: &Distribution,
    previous: Option<Cid>,
) -> Result<Manifest, Error> {
    let p = policy.policy();
    Ok(Manifest {
        schema: MANIFEST_SCHEMA.to_owned(),
        epoch: inputs.epoch().clone(),
        window: inputs.window(),
        run_key: run_key(inputs.epoch(), &inputs_cid, &policy.cid(), ENGINE_VERSION),
        inputs_cid,
        policy_cid: policy.cid(),
        policy_key_id: policy.key_id(),
        previous,
        engine: ENGINE_VERSION.to_owned(),
        pool: distribution.pool,
        funding_account: distribution.funding_account.clone(),
        residual_sink: distribution.residual_sink.clone(),
        paid: distribution.paid()?,
        residual: distribution.residual,
        payees: distribution.payouts.len() as u64,
        accounts: distribution.accounts,
        capped: distribution.capped,
        below_minimum: distribution.below_minimum,
        rounding: p.rounding,
        payouts_root: Hex32(merkle::root(&distribution.payouts)),
        payouts_cid: Cid::of(&payouts_bytes(&distribution.payouts)?),
    })
}

/// Signs a manifest with an Ed25519 key, or with an Ed25519 and an
/// ML-DSA-65 key ([`Sealer`]), both over the same bytes.
///
/// # Errors
/// Never for a manifest built here.
pub fn seal<'a>(
    manifest: Manifest,
    sealer: impl Into<Sealer<'a>>,
) -> Result<SealedManifest, Error> {
    let sealer = sealer.into();
    let bytes = manifest.canonical_bytes()?;
    let signature = sealer.ed25519.sign(MANIFEST_DOMAIN, &bytes);
    let pq = match sealer.ml_dsa {
        Some(key) => Some(PqSeal {
            alg: PqAlgorithm::MlDsa65,
            key_id: key.id(),
            signature: key.sign(MANIFEST_DOMAIN, &bytes)?,
        }),
        None => None,
    };
    Ok(SealedManifest {
        manifest,
        key_id: sealer.ed25519.id(),
        signature,
        pq,
    })
}

/// Verifies a sealed manifest completely: its seal, the policy's signature,
/// and a recomputation from the inputs and the policy that must give the
/// same manifest field for field (so the same Merkle root and payout CID).
/// Returns the recomputed distribution.
///
/// # Errors
/// [`Error::UntrustedKey`] / [`Error::BadSignature`] (seal or policy),
/// [`Error::ManifestMismatch`] naming the first field that differs, or any
/// error of the recomputation.
pub fn verify(
    sealed: &SealedManifest,
    trusted: &TrustedKeys,
    inputs: &EpochInputs,
    policy: &SignedPolicy,
    limits: &Limits,
) -> Result<Distribution, Error> {
    sealed.verify_signature(trusted)?;
    let policy = policy.verify(trusted)?;
    let outcome = compute(inputs, &policy, limits)?;
    let expected = build(
        inputs,
        inputs.cid()?,
        &policy,
        &outcome.distribution,
        sealed.manifest.previous,
    )?;
    if let Some(field) = first_difference(&sealed.manifest, &expected) {
        return Err(Error::ManifestMismatch { field });
    }
    Ok(outcome.distribution)
}

/// The name of the first field in which two manifests differ.
#[must_use]
pub fn first_difference(a: &Manifest, b: &Manifest) -> Option<&'static str> {
    fields(a, b)
        .iter()
        .find(|(_, same)| !same)
        .map(|(name, _)| *name)
}

/// The names of every field in which two manifests differ, in the
/// manifest's order (empty when they are equal; `all` when they differ in
/// no named field).
#[must_use]
pub fn differences(a: &Manifest, b: &Manifest) -> Vec<&'static str> {
    let named: Vec<&'static str> = fields(a, b)
        .iter()
        .filter(|(name, same)| !same && *name != "all")
        .map(|(name, _)| *name)
        .collect();
    if named.is_empty() && a != b {
        vec!["all"]
    } else {
        named
    }
}

fn fields(a: &Manifest, b: &Manifest) -> [(&'static str, bool); 22] {
    [
        ("schema", a.schema == b.schema),
        ("epoch", a.epoch == b.epoch),
        ("window", a.window == b.window),
        ("run_key", a.run_key == b.run_key),
        ("inputs_cid", a.inputs_cid == b.inputs_cid),
        ("policy_cid", a.policy_cid == b.policy_cid),
        ("policy_key_id", a.policy_key_id == b.policy_key_id),
        ("previous", a.previous == b.previous),
        ("engine", a.engine == b.engine),
        ("pool", a.pool == b.pool),
        ("funding_account", a.funding_account == b.funding_account),
        ("residual_sink", a.residual_sink == b.residual_sink),
        ("paid", a.paid == b.paid),
        ("residual", a.residual == b.residual),
        ("payees", a.payees == b.payees),
        ("accounts", a.accounts == b.accounts),
        ("capped", a.capped == b.capped),
        ("below_minimum", a.below_minimum == b.below_minimum),
        ("rounding", a.rounding == b.rounding),
        ("payouts_root", a.payouts_root == b.payouts_root),
        ("payouts_cid", a.payouts_cid == b.payouts_cid),
        ("all", a == b),
    ]
}

/// Checks that `next` follows `previous` in the chain of epochs:
/// `previous` is sealed by a trusted key, `next`'s `previous` link is its
/// CID, and its epoch comes first: another epoch id, and a window that ends
/// at or before `next`'s starts (so windows never overlap). Returns the
/// CID of `previous`.
///
/// Only `previous`'s seal is checked here; verify it in full with
/// [`verify`] and its own inputs and policy.
///
/// # Errors
/// [`Error::UntrustedKey`] / [`Error::BadSignature`] (the seal of
/// `previous`), [`Error::BrokenChain`], [`Error::ChainOrder`].
pub fn verify_link(
    next: &Manifest,
    previous: &SealedManifest,
    trusted: &TrustedKeys,
) -> Result<Cid, Error> {
    previous.verify_signature(trusted)?;
    let cid = previous.manifest.cid()?;
    if next.previous != Some(cid) {
        return Err(Error::BrokenChain { previous: cid });
    }
    let before = &previous.manifest;
    if before.epoch == next.epoch || before.window.end > next.window.start {
        return Err(Error::ChainOrder {
            previous: before.epoch.clone(),
            next: next.epoch.clone(),
        });
    }
    Ok(cid)
}

/// Checks a chain of sealed manifests, oldest first: every seal is by a
/// trusted key and each manifest follows the one before it
/// ([`verify_link`]). The first manifest's own `previous` link is not
/// checked (a chain may be verified from any point); it is `null` for the
/// first epoch of all.
///
/// # Errors
/// As [`verify_link`], for the first link that fails.
pub fn verify_chain(chain: &[SealedManifest], trusted: &TrustedKeys) -> Result<(), Error> {
    if let Some(first) = chain.first() {
        first.verify_signature(trusted)?;
    }
    for pair in chain.windows(2) {
        if let [previous, next] = pair {
            next.verify_signature(trusted)?;
            verify_link(&next.manifest, previous, trusted)?;
        }
    }
    Ok(())
}

/// A payee's proof of its payout under a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutProof {
    /// The manifest's CID.
    pub manifest_cid: Cid,
    /// The payout.
    pub payout: Payout,
    /// Its position in the payout list.
    pub index: u64,
    /// The number of payouts.
    pub size: u64,
    /// Sibling hashes from the leaf up.
    pub path: Vec<Hex32>,
}

/// The largest payout proof document read: 64 KiB (a proof of one payout
/// among 2^64 holds 64 hashes, under 6 KiB).
pub const MAX_PROOF_BYTES: usize = 64 << 10;

impl PayoutProof {
    /// Decodes a payout proof (check it with [`verify_proof`]).
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        crate::de::from_json_bounded("payout proof", bytes, MAX_PROOF_BYTES)
    }
}

/// The proof of `account`'s payout. Indexes the payouts for this one
/// proof (`O(n)`): for several, build a [`Prover`] once.
///
/// # Errors
/// [`Error::NoPayout`] when the account is not paid.
pub fn prove(
    manifest: &Manifest,
    payouts: &[Payout],
    account: &AccountId,
) -> Result<PayoutProof, Error> {
    Prover::new(manifest, payouts)?.prove(account)
}

/// Proofs of the payouts of one manifest: the payout tree is indexed once
/// (`O(n)`), then each proof costs a binary search and `O(log n)` hashes.
#[derive(Clone, Debug)]
pub struct Prover<'a> {
    manifest_cid: Cid,
    payouts: &'a [Payout],
    tree: merkle::PayoutTree,
}

impl<'a> Prover<'a> {
    /// Indexes `payouts`, the payout list of `manifest`.
    ///
    /// # Errors
    /// [`Error`] when the manifest's CID cannot be computed.
    pub fn new(manifest: &Manifest, payouts: &'a [Payout]) -> Result<Self, Error> {
        Ok(Self {
            manifest_cid: manifest.cid()?,
            payouts,
            tree: merkle::PayoutTree::new(payouts),
        })
    }

    /// The proof of `account`'s payout.
    ///
    /// # Errors
    /// [`Error::NoPayout`] when the account is not paid.
    pub fn prove(&self, account: &AccountId) -> Result<PayoutProof, Error> {
        let index = self
            .payouts
            .binary_search_by(|p| p.account.cmp(account))
            .map_err(|_| Error::NoPayout {
                account: account.clone(),
            })?;
        let payout = self.payouts.get(index).cloned().ok_or(Error::BadProof)?;
        Ok(PayoutProof {
            manifest_cid: self.manifest_cid,
            payout,
            index: index as u64,
            size: self.tree.size(),
            path: self.tree.path(index)?.into_iter().map(Hex32).collect(),
        })
    }
}

/// Checks a payout proof against a manifest (whose seal the caller checked).
///
/// # Errors
/// [`Error::BadProof`] when the manifest CID, the size or the path does not
/// match.
pub fn verify_proof(proof: &PayoutProof, manifest: &Manifest) -> Result<(), Error> {
    if proof.manifest_cid != manifest.cid()? || proof.size != manifest.payees {
        return Err(Error::BadProof);
    }
    let path: Vec<merkle::Hash> = proof.path.iter().map(|h| h.0).collect();
    merkle::verify(
        &merkle::leaf(&proof.payout),
        proof.index,
        proof.size,
        &path,
        &manifest.payouts_root.0,
    )
}
