//! NUT-00 models: mint URLs, proofs, blinded messages, blind signatures,
//! witnesses, and the wallet's side of an output (secret, blinding factor,
//! blinded message) that turns a blind signature into a proof.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::nut01::Keyset;
use super::nut02::KeysetId;
use super::nut12::ProofDleq;
use crate::Error;
use crate::amount::Amount;
use crate::crypto::{PublicKey, SecretKey, bdhke, dleq, hash_to_curve};
use crate::encoding::serde_as_str;
use crate::error::{Limit, ensure_within};
use crate::limits::{MAX_MINT_URL_LEN_BYTES, MAX_WITNESS_LEN_BYTES};
use crate::secret::Secret;

/// A mint URL: `http://` or `https://`, a non-empty host, no whitespace or
/// control characters, trailing slashes stripped (NUT-00 normalization).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MintUrl(String);

impl MintUrl {
    /// Checks and normalizes `url`.
    ///
    /// ```
    /// use tally_cashu::nuts::nut00::MintUrl;
    /// assert_eq!(MintUrl::new("https://mint.host:3338/").unwrap().as_str(), "https://mint.host:3338");
    /// assert!(MintUrl::new("ftp://mint.host").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidField`] if not such a URL, [`Error::LimitExceeded`] if too long.
    pub fn new(url: &str) -> Result<Self, Error> {
        ensure_within(Limit::MintUrlLength, url.len(), MAX_MINT_URL_LEN_BYTES)?;
        let invalid = |reason| Error::InvalidField {
            field: "mint",
            reason,
        };
        let trimmed = url.trim_end_matches('/');
        let rest = strip_prefix_ignore_case(trimmed, "https://")
            .or_else(|| strip_prefix_ignore_case(trimmed, "http://"))
            .ok_or_else(|| invalid("not an http(s) URL"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("no host"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("whitespace or control character"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The normalized URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

serde_as_str!(MintUrl, as_str, new);

impl fmt::Debug for MintUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MintUrl({})", self.0)
    }
}

impl fmt::Display for MintUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A proof's witness (NUT-11/NUT-14): the JSON string carried in
/// `Proof.witness`, at most [`MAX_WITNESS_LEN_BYTES`] bytes, erased on drop
/// (an HTLC witness holds a preimage). Parse it with
/// [`crate::nuts::nut11::WitnessData::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct Witness(Zeroizing<String>);

impl Witness {
    /// Wraps a witness string after checking its length.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] if too long.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = Zeroizing::new(text.into());
        ensure_within(Limit::WitnessLength, text.len(), MAX_WITNESS_LEN_BYTES)?;
        Ok(Self(text))
    }

    /// The witness JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl zeroize::ZeroizeOnDrop for Witness {}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Witness(<redacted>)")
    }
}

impl Serialize for Witness {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Witness {
    /// Accepts the witness as a JSON string (the NUT-11 form) or as an object
    /// (which some implementations send), kept as compact JSON text.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(d)?;
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(_) => {
                serde_json::to_string(&value).map_err(D::Error::custom)?
            }
            _ => return Err(D::Error::custom("witness must be a string or an object")),
        };
        Self::new(text).map_err(D::Error::custom)
    }
}

/// A proof with a full keyset id and a validated signature point: what a
/// wallet stores and spends (NUT-00 `Proof`, with NUT-11 witness and NUT-12 DLEQ).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a proof object (amount, id, secret, C, witness, dleq, p2pk_e)")]
pub struct Proof {
    /// The amount.
    pub amount: Amount,
    /// The keyset that signed it.
    #[serde(rename = "id")]
    pub keyset_id: KeysetId,
    /// The secret `x`.
    pub secret: Secret,
    /// The unblinded signature `C = k·hash_to_curve(x)`.
    #[serde(rename = "C")]
    pub c: PublicKey,
    /// The spending witness (signatures, preimage), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// The mint's DLEQ proof with the blinding factor, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dleq: Option<ProofDleq>,
    /// NUT-28: the sender's ephemeral key `E` of a pay-to-blinded-key lock.
    /// The receiver derives its signing keys with it
    /// ([`crate::nuts::nut28::signing_keys`]) and removes it before the
    /// proof goes to the mint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2pk_e: Option<PublicKey>,
}

impl Proof {
    /// `Y = hash_to_curve(secret)`: the proof's public identity at the mint
    /// (NUT-07 state checks use it).
    ///
    /// # Errors
    /// [`Error::NoPointFound`] (never observed).
    pub fn y(&self) -> Result<PublicKey, Error> {
        hash_to_curve(self.secret.as_bytes())
    }

    /// Verifies the carried DLEQ proof against the keyset that signed it
    /// (NUT-12: a receiver MUST verify a DLEQ proof that is present).
    ///
    /// # Errors
    /// [`Error::DleqMissing`] if absent; [`Error::UnknownKeyset`] if `keyset`
    /// is not this proof's; [`Error::NoKeyForAmount`]; [`Error::DleqInvalid`].
    pub fn verify_dleq(&self, keyset: &Keyset) -> Result<(), Error> {
        let proof_dleq = self.dleq.as_ref().ok_or(Error::DleqMissing)?;
        if keyset.id() != self.keyset_id {
            return Err(Error::UnknownKeyset);
        }
        let mint_key = keyset.key(self.amount)?;
        dleq::verify_proof(
            mint_key,
            self.secret.as_bytes(),
            &self.c,
            &proof_dleq.dleq(),
            proof_dleq.r(),
        )
    }
}

/// An output the wallet asks the mint to sign (NUT-00 `BlindedMessage`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a blinded message object (amount, id, B_)")]
pub struct BlindedMessage {
    /// The amount requested.
    pub amount: Amount,
    /// The keyset expected to sign.
    #[serde(rename = "id")]
    pub keyset_id: KeysetId,
    /// `B_ = Y + r·G`.
    #[serde(rename = "B_")]
    pub blinded: PublicKey,
}

/// The mint's signature on a blinded message (NUT-00 `BlindSignature`, with
/// NUT-12 DLEQ).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a blind signature object (amount, id, C_, dleq)")]
pub struct BlindSignature {
    /// The amount signed.
    pub amount: Amount,
    /// The keyset that signed.
    #[serde(rename = "id")]
    pub keyset_id: KeysetId,
    /// `C_ = k·B_`.
    #[serde(rename = "C_")]
    pub signature: PublicKey,
    /// The DLEQ proof `(e, s)`, if the mint sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dleq: Option<super::nut12::BlindSignatureDleq>,
}

impl BlindSignature {
    /// Verifies the DLEQ proof against the blinded message it answers.
    ///
    /// # Errors
    /// [`Error::DleqMissing`], [`Error::NoKeyForAmount`], [`Error::DleqInvalid`].
    pub fn verify_dleq(&self, keyset: &Keyset, blinded: &PublicKey) -> Result<(), Error> {
        let proof = self.dleq.as_ref().ok_or(Error::DleqMissing)?;
        let mint_key = keyset.key(self.amount)?;
        dleq::verify(mint_key, blinded, &self.signature, &proof.dleq())
    }
}

/// The wallet's half of one output: the secret, the blinding factor and the
/// blinded message built from them. Consumed by [`BlindedOutput::into_proof`].
#[derive(Clone, Debug)]
pub struct BlindedOutput {
    message: BlindedMessage,
    secret: Secret,
    r: SecretKey,
}

impl BlindedOutput {
    /// Blinds `secret` with `r` for `amount` in `keyset_id`.
    ///
    /// # Errors
    /// As [`bdhke::blind`].
    pub fn new(
        amount: Amount,
        keyset_id: KeysetId,
        secret: Secret,
        r: SecretKey,
    ) -> Result<Self, Error> {
        let blinded = bdhke::blind(secret.as_bytes(), &r)?;
        Ok(Self {
            message: BlindedMessage {
                amount,
                keyset_id,
                blinded,
            },
            secret,
            r,
        })
    }

    /// The message to send to the mint.
    #[must_use]
    pub fn message(&self) -> &BlindedMessage {
        &self.message
    }

    /// The secret.
    #[must_use]
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Checks the mint's answer and unblinds it into a proof.
    ///
    /// The signature must be for this output's amount and keyset, `keyset`
    /// must be that keyset, a DLEQ proof that is present must verify (NUT-12
    /// MUST), and one must be present if `require_dleq`. The proof carries the
    /// DLEQ proof and `r` so that a receiver can verify it offline.
    ///
    /// # Errors
    /// [`Error::InvalidField`] on an amount or keyset mismatch,
    /// [`Error::DleqMissing`], [`Error::DleqInvalid`], [`Error::NoKeyForAmount`].
    pub fn into_proof(
        self,
        signature: &BlindSignature,
        keyset: &Keyset,
        require_dleq: bool,
    ) -> Result<Proof, Error> {
        if signature.amount != self.message.amount {
            return Err(Error::InvalidField {
                field: "amount",
                reason: "blind signature amount differs from the output's",
            });
        }
        if signature.keyset_id != self.message.keyset_id || keyset.id() != signature.keyset_id {
            return Err(Error::InvalidField {
                field: "id",
                reason: "blind signature keyset differs from the output's",
            });
        }
        let mint_key = keyset.key(signature.amount)?;
        let dleq = match &signature.dleq {
            Some(proof) => {
                dleq::verify(
                    mint_key,
                    &self.message.blinded,
                    &signature.signature,
                    &proof.dleq(),
                )?;
                Some(ProofDleq::new(proof.dleq(), self.r.clone()))
            }
            None if require_dleq => return Err(Error::DleqMissing),
            None => None,
        };
        let c = bdhke::unblind(&signature.signature, &self.r, mint_key)?;
        Ok(Proof {
            amount: signature.amount,
            keyset_id: signature.keyset_id,
            secret: self.secret,
            c,
            witness: None,
            dleq,
            p2pk_e: None,
        })
    }
}
