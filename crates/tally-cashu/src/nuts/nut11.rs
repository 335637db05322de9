//! NUT-11 pay-to-public-key (and the tag rules NUT-14 HTLCs share):
//! parsing and validating conditions, witnesses, `SIG_INPUTS` and `SIG_ALL`
//! verification, multisig, locktime and refund pathways, and signing.
//!
//! Rules enforced when parsing (a malformed secret is unspendable):
//! each known tag at most once; `sigflag` is `SIG_INPUTS` or `SIG_ALL`;
//! `n_sigs`/`n_sigs_refund` are positive and at most the keys of their
//! pathway; keys are compressed points and unique per pathway by
//! x-coordinate. A `locktime` that is not a unix time means "permanent".
//!
//! Verification counts distinct keys with a valid BIP-340 signature on
//! `SHA256(message)` (not signatures: Schnorr signatures are not unique).

use rand_core::TryCryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::nut00::{BlindedMessage, Proof, Witness};
use super::nut10::{Kind, Nut10Secret, Tag};
use crate::Error;
use crate::crypto::{PublicKey, SecretKey, ct_eq, schnorr};
use crate::encoding::hex;
use crate::error::{ConditionError, Limit, ensure_within};
use crate::limits::{MAX_NUT10_TAG_VALUES, MAX_WITNESS_SIGNATURES};
use crate::secret::{Preimage, Secret};

/// Which parts of a transaction the signatures cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SigFlag {
    /// Each input signs its own secret (the default).
    #[default]
    SigInputs,
    /// The first input signs all inputs and outputs.
    SigAll,
}

impl SigFlag {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigInputs => "SIG_INPUTS",
            Self::SigAll => "SIG_ALL",
        }
    }
}

/// The optional NUT-11 tags, validated.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conditions {
    /// The signature flag.
    pub sig_flag: SigFlag,
    /// Additional keys of the locktime (main) pathway.
    pub pubkeys: Vec<PublicKey>,
    /// Signatures the main pathway needs (absent = 1).
    pub n_sigs: Option<u64>,
    /// Unix time after which the refund pathway opens (absent = permanent lock).
    pub locktime: Option<u64>,
    /// Keys of the refund pathway.
    pub refund: Vec<PublicKey>,
    /// Signatures the refund pathway needs (absent = 1).
    pub n_sigs_refund: Option<u64>,
}

/// What the secret's `data` locks the proof to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    /// NUT-11: a public key (part of the main pathway).
    P2pk(PublicKey),
    /// NUT-14: `SHA256(preimage)`.
    Htlc([u8; 32]),
}

/// A proof's parsed and validated spending conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendingConditions {
    /// The lock in `data`.
    pub lock: Lock,
    /// The tags.
    pub conditions: Conditions,
}

const TAG_SIGFLAG: &str = "sigflag";
const TAG_PUBKEYS: &str = "pubkeys";
const TAG_N_SIGS: &str = "n_sigs";
const TAG_LOCKTIME: &str = "locktime";
const TAG_REFUND: &str = "refund";
const TAG_N_SIGS_REFUND: &str = "n_sigs_refund";
const KNOWN_TAGS: [&str; 6] = [
    TAG_SIGFLAG,
    TAG_PUBKEYS,
    TAG_N_SIGS,
    TAG_LOCKTIME,
    TAG_REFUND,
    TAG_N_SIGS_REFUND,
];

impl SpendingConditions {
    /// The conditions of a proof secret: `None` for a plain secret.
    ///
    /// # Errors
    /// As [`Nut10Secret::parse`] and [`SpendingConditions::from_nut10`].
    pub fn from_secret(secret: &Secret) -> Result<Option<Self>, Error> {
        Nut10Secret::from_secret(secret)?
            .map(|s| Self::from_nut10(&s))
            .transpose()
    }

    /// Validates a well-known secret of kind P2PK or HTLC.
    ///
    /// # Errors
    /// [`ConditionError::UnsupportedKind`] for other kinds; the malformation
    /// variants of [`ConditionError`] for invalid data or tags.
    pub fn from_nut10(secret: &Nut10Secret) -> Result<Self, Error> {
        let lock = match &secret.kind {
            Kind::P2pk => Lock::P2pk(
                PublicKey::from_hex(&secret.data).map_err(|_| ConditionError::InvalidKey)?,
            ),
            Kind::Htlc => Lock::Htlc(
                hex::decode_array(&secret.data, "data")
                    .map_err(|_| ConditionError::InvalidHashLock)?,
            ),
            Kind::Other(_) => return Err(ConditionError::UnsupportedKind.into()),
        };
        let conditions = parse_conditions(&secret.tags)?;
        let this = Self { lock, conditions };
        this.check_pathways()?;
        Ok(this)
    }

    /// Keys of the main (locktime) pathway: the P2PK key and `pubkeys`.
    #[must_use]
    pub fn main_keys(&self) -> Vec<PublicKey> {
        match &self.lock {
            Lock::P2pk(key) => core::iter::once(*key)
                .chain(self.conditions.pubkeys.iter().copied())
                .collect(),
            Lock::Htlc(_) => self.conditions.pubkeys.clone(),
        }
    }

    fn check_pathways(&self) -> Result<(), ConditionError> {
        let main = self.main_keys();
        check_unique(&main)?;
        check_unique(&self.conditions.refund)?;
        check_count(self.conditions.n_sigs, main.len())?;
        check_count(self.conditions.n_sigs_refund, self.conditions.refund.len())
    }

    /// The secret text for these conditions with `nonce` (wallet side, to lock outputs).
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] if the secret would be too long.
    pub fn to_secret(&self, nonce: &str) -> Result<Secret, Error> {
        self.to_nut10(nonce).to_secret()
    }

    /// The well-known secret for these conditions with `nonce`.
    #[must_use]
    pub fn to_nut10(&self, nonce: &str) -> Nut10Secret {
        let (kind, data) = match &self.lock {
            Lock::P2pk(key) => (Kind::P2pk, key.to_hex()),
            Lock::Htlc(hash) => (Kind::Htlc, hex::encode(hash)),
        };
        Nut10Secret {
            kind,
            nonce: nonce.to_owned(),
            data,
            tags: conditions_to_tags(&self.conditions),
        }
    }

    /// Checks a witness against these conditions for a message digest, at
    /// unix time `now` (the mint's rule; a wallet uses it to check that it can
    /// spend what it receives, and tests use it against the official vectors).
    ///
    /// # Errors
    /// [`ConditionError::NotEnoughSignatures`] or
    /// [`ConditionError::PreimageMismatch`] if no pathway is satisfied.
    pub fn verify(
        &self,
        digest: &[u8; 32],
        witness: Option<&WitnessData>,
        now: u64,
    ) -> Result<(), ConditionError> {
        let signatures = witness.map_or(&[][..], |w| w.signatures.as_slice());
        let c = &self.conditions;
        let expired = c.locktime.is_some_and(|t| now > t);
        let refund_ok = || {
            expired
                && (c.refund.is_empty() || enough(&c.refund, c.n_sigs_refund, signatures, digest))
        };
        match &self.lock {
            Lock::P2pk(_) => {
                if enough(&self.main_keys(), c.n_sigs, signatures, digest) || refund_ok() {
                    return Ok(());
                }
                Err(ConditionError::NotEnoughSignatures)
            }
            Lock::Htlc(hash) => {
                let preimage_ok = witness
                    .and_then(|w| w.preimage.as_ref())
                    .is_some_and(|p| ct_eq(&p.hash(), hash));
                let receiver_ok = preimage_ok
                    && (c.pubkeys.is_empty() || enough(&c.pubkeys, c.n_sigs, signatures, digest));
                if receiver_ok || refund_ok() {
                    return Ok(());
                }
                Err(if preimage_ok {
                    ConditionError::NotEnoughSignatures
                } else {
                    ConditionError::PreimageMismatch
                })
            }
        }
    }
}

/// Whether at least `required` (default 1) distinct `keys` signed `digest`.
fn enough(keys: &[PublicKey], required: Option<u64>, sigs: &[[u8; 64]], digest: &[u8; 32]) -> bool {
    let required = required.unwrap_or(1);
    let mut signers = 0u64;
    for key in keys {
        if sigs.iter().any(|sig| schnorr::verify(key, digest, sig)) {
            signers += 1;
            if signers >= required {
                return true;
            }
        }
    }
    false
}

fn check_unique(keys: &[PublicKey]) -> Result<(), ConditionError> {
    for (i, key) in keys.iter().enumerate() {
        let x = key.x_only();
        if keys.iter().skip(i + 1).any(|other| other.x_only() == x) {
            return Err(ConditionError::DuplicateKey);
        }
    }
    Ok(())
}

fn check_count(required: Option<u64>, keys: usize) -> Result<(), ConditionError> {
    match required {
        Some(n) if n == 0 || n > keys as u64 => Err(ConditionError::InvalidSignatureCount),
        _ => Ok(()),
    }
}

fn single_value(tag: &Tag) -> Option<&str> {
    match tag.values.as_slice() {
        [value] => Some(value.as_str()),
        _ => None,
    }
}

fn parse_keys(tag: &Tag) -> Result<Vec<PublicKey>, Error> {
    ensure_within(
        Limit::Nut10TagValues,
        tag.values.len(),
        MAX_NUT10_TAG_VALUES,
    )?;
    tag.values
        .iter()
        .map(|v| PublicKey::from_hex(v).map_err(|_| ConditionError::InvalidKey.into()))
        .collect()
}

fn parse_count(tag: &Tag) -> Result<u64, ConditionError> {
    let value = single_value(tag).ok_or(ConditionError::InvalidSignatureCount)?;
    match value.parse::<u64>() {
        Ok(n) if n > 0 && n.to_string() == value => Ok(n),
        _ => Err(ConditionError::InvalidSignatureCount),
    }
}

fn parse_conditions(tags: &[Tag]) -> Result<Conditions, Error> {
    for (i, tag) in tags.iter().enumerate() {
        let known = KNOWN_TAGS.contains(&tag.key.as_str());
        if known && tags.iter().skip(i + 1).any(|t| t.key == tag.key) {
            return Err(ConditionError::DuplicateTag.into());
        }
    }
    let mut c = Conditions::default();
    for tag in tags {
        match tag.key.as_str() {
            TAG_SIGFLAG => {
                c.sig_flag = match single_value(tag) {
                    Some("SIG_INPUTS") => SigFlag::SigInputs,
                    Some("SIG_ALL") => SigFlag::SigAll,
                    _ => return Err(ConditionError::InvalidSigFlag.into()),
                }
            }
            TAG_PUBKEYS => c.pubkeys = parse_keys(tag)?,
            TAG_REFUND => c.refund = parse_keys(tag)?,
            TAG_N_SIGS => c.n_sigs = Some(parse_count(tag)?),
            TAG_N_SIGS_REFUND => c.n_sigs_refund = Some(parse_count(tag)?),
            // NUT-11: a locktime that is not a unix time means a permanent lock.
            TAG_LOCKTIME => c.locktime = single_value(tag).and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    Ok(c)
}

fn conditions_to_tags(c: &Conditions) -> Vec<Tag> {
    let mut tags = Vec::new();
    if c.sig_flag != SigFlag::SigInputs {
        tags.push(Tag::new(TAG_SIGFLAG, [c.sig_flag.as_str().to_owned()]));
    }
    if !c.pubkeys.is_empty() {
        tags.push(Tag::new(
            TAG_PUBKEYS,
            c.pubkeys.iter().map(PublicKey::to_hex),
        ));
    }
    if let Some(n) = c.n_sigs {
        tags.push(Tag::new(TAG_N_SIGS, [n.to_string()]));
    }
    if let Some(t) = c.locktime {
        tags.push(Tag::new(TAG_LOCKTIME, [t.to_string()]));
    }
    if !c.refund.is_empty() {
        tags.push(Tag::new(TAG_REFUND, c.refund.iter().map(PublicKey::to_hex)));
    }
    if let Some(n) = c.n_sigs_refund {
        tags.push(Tag::new(TAG_N_SIGS_REFUND, [n.to_string()]));
    }
    tags
}

/// A parsed witness: BIP-340 signatures and, for HTLCs, the preimage.
#[derive(Clone, Debug, Default)]
pub struct WitnessData {
    /// 64-byte signatures, at most [`MAX_WITNESS_SIGNATURES`].
    pub signatures: Vec<[u8; 64]>,
    /// The HTLC preimage.
    pub preimage: Option<Preimage>,
}

#[derive(Deserialize)]
#[serde(expecting = "a witness object (signatures, preimage)")]
struct WitnessIn {
    #[serde(default)]
    signatures: Vec<String>,
    #[serde(default)]
    preimage: Option<String>,
}

#[derive(Serialize)]
struct WitnessOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    preimage: Option<&'a str>,
    signatures: Vec<String>,
}

impl WitnessData {
    /// Parses `{"signatures": [hex…], "preimage": hex?}`.
    ///
    /// # Errors
    /// [`ConditionError::MalformedWitness`]; [`Error::LimitExceeded`] past
    /// [`MAX_WITNESS_SIGNATURES`].
    pub fn parse(witness: &Witness) -> Result<Self, Error> {
        let wire: WitnessIn =
            serde_json::from_str(witness.as_str()).map_err(|_| ConditionError::MalformedWitness)?;
        ensure_within(
            Limit::WitnessSignatures,
            wire.signatures.len(),
            MAX_WITNESS_SIGNATURES,
        )?;
        let signatures = wire
            .signatures
            .iter()
            .map(|s| hex::decode_array(s, "signature"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ConditionError::MalformedWitness)?;
        let preimage = wire
            .preimage
            .as_deref()
            .map(Preimage::from_hex)
            .transpose()
            .map_err(|_| ConditionError::MalformedWitness)?;
        Ok(Self {
            signatures,
            preimage,
        })
    }

    /// The witness JSON (`{"preimage"?, "signatures"}`).
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] past [`MAX_WITNESS_SIGNATURES`].
    pub fn to_witness(&self) -> Result<Witness, Error> {
        ensure_within(
            Limit::WitnessSignatures,
            self.signatures.len(),
            MAX_WITNESS_SIGNATURES,
        )?;
        let preimage = self
            .preimage
            .as_ref()
            .map(|p| zeroize::Zeroizing::new(hex::encode(p.as_bytes())));
        let out = WitnessOut {
            preimage: preimage.as_ref().map(|p| p.as_str()),
            signatures: self.signatures.iter().map(|s| hex::encode(s)).collect(),
        };
        Witness::new(serde_json::to_string(&out).map_err(Error::Json)?)
    }
}

/// `SHA256(message)`: what NUT-11 signatures sign.
#[must_use]
pub fn digest(message: &[u8]) -> [u8; 32] {
    Sha256::digest(message).into()
}

/// The `SIG_ALL` message: `secret_0 || C_0 || … || amount_0 || B_0 || … [|| quote_id]`
/// (`C` and `B_` as lowercase hex, amounts in decimal; the quote id for melts).
#[must_use]
pub fn sig_all_message(
    inputs: &[Proof],
    outputs: &[BlindedMessage],
    quote_id: Option<&str>,
) -> String {
    let mut msg = String::new();
    for input in inputs {
        msg.push_str(input.secret.as_str());
        hex::encode_to(&input.c.to_bytes(), &mut msg);
    }
    for output in outputs {
        msg.push_str(&output.amount.value().to_string());
        hex::encode_to(&output.blinded.to_bytes(), &mut msg);
    }
    if let Some(quote) = quote_id {
        msg.push_str(quote);
    }
    msg
}

fn witness_of(proof: &Proof) -> Result<Option<WitnessData>, Error> {
    proof.witness.as_ref().map(WitnessData::parse).transpose()
}

/// Verifies the spending conditions of a swap (`quote_id = None`) or melt
/// transaction at unix time `now`, as a mint would: `SIG_ALL` if any input
/// has it (all inputs must then share kind, data and tags, and the first
/// input's witness signs the whole transaction), `SIG_INPUTS` otherwise.
/// Plain-secret inputs need nothing.
///
/// # Errors
/// [`Error::Condition`] with the reason; parsing errors of secrets and witnesses.
pub fn verify_transaction(
    inputs: &[Proof],
    outputs: &[BlindedMessage],
    quote_id: Option<&str>,
    now: u64,
) -> Result<(), Error> {
    let first = inputs.first().ok_or(ConditionError::NoInputs)?;
    let secrets = inputs
        .iter()
        .map(|p| Nut10Secret::from_secret(&p.secret))
        .collect::<Result<Vec<_>, _>>()?;
    let conditions = secrets
        .iter()
        .map(|s| s.as_ref().map(SpendingConditions::from_nut10).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let sig_all = conditions
        .iter()
        .flatten()
        .any(|c| c.conditions.sig_flag == SigFlag::SigAll);
    if sig_all {
        let reference = secrets.first().and_then(Option::as_ref);
        let same = |s: &Option<Nut10Secret>| match (s, reference) {
            (Some(s), Some(r)) => s.kind == r.kind && s.data == r.data && s.tags == r.tags,
            _ => false,
        };
        if !secrets.iter().all(same) {
            return Err(ConditionError::SigAllMismatch.into());
        }
        let spend = conditions
            .first()
            .and_then(Option::as_ref)
            .ok_or(ConditionError::SigAllMismatch)?;
        let message = sig_all_message(inputs, outputs, quote_id);
        spend.verify(
            &digest(message.as_bytes()),
            witness_of(first)?.as_ref(),
            now,
        )?;
        return Ok(());
    }
    for (proof, spend) in inputs.iter().zip(&conditions) {
        if let Some(spend) = spend {
            let witness = witness_of(proof)?;
            spend.verify(&digest(proof.secret.as_bytes()), witness.as_ref(), now)?;
        }
    }
    Ok(())
}

fn aux<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<zeroize::Zeroizing<[u8; 32]>, Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rng.try_fill_bytes(bytes.as_mut())
        .map_err(|_| Error::RandomnessUnavailable)?;
    Ok(bytes)
}

fn add_signature(proof: &mut Proof, signature: [u8; 64]) -> Result<(), Error> {
    let mut data = witness_of(proof)?.unwrap_or_default();
    ensure_within(
        Limit::WitnessSignatures,
        data.signatures.len() + 1,
        MAX_WITNESS_SIGNATURES,
    )?;
    data.signatures.push(signature);
    proof.witness = Some(data.to_witness()?);
    Ok(())
}

/// Adds `key`'s `SIG_INPUTS` signature on the proof's secret to its witness.
///
/// # Errors
/// [`Error::RandomnessUnavailable`]; witness parsing and limit errors.
pub fn sign_input<R: TryCryptoRng + ?Sized>(
    proof: &mut Proof,
    key: &SecretKey,
    rng: &mut R,
) -> Result<(), Error> {
    let signature = schnorr::sign(key, &digest(proof.secret.as_bytes()), &*aux(rng)?);
    add_signature(proof, signature)
}

/// Adds `key`'s `SIG_ALL` signature on the whole transaction to the first
/// input's witness.
///
/// # Errors
/// [`ConditionError::NoInputs`]; [`Error::RandomnessUnavailable`]; witness errors.
pub fn sign_sig_all<R: TryCryptoRng + ?Sized>(
    inputs: &mut [Proof],
    outputs: &[BlindedMessage],
    quote_id: Option<&str>,
    key: &SecretKey,
    rng: &mut R,
) -> Result<(), Error> {
    let message = sig_all_message(inputs, outputs, quote_id);
    let signature = schnorr::sign(key, &digest(message.as_bytes()), &*aux(rng)?);
    let first = inputs.first_mut().ok_or(ConditionError::NoInputs)?;
    add_signature(first, signature)
}

/// Sets the HTLC preimage in the proof's witness (keeping its signatures).
///
/// # Errors
/// Witness parsing errors.
pub fn set_preimage(proof: &mut Proof, preimage: Preimage) -> Result<(), Error> {
    let mut data = witness_of(proof)?.unwrap_or_default();
    data.preimage = Some(preimage);
    proof.witness = Some(data.to_witness()?);
    Ok(())
}
