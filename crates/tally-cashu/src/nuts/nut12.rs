//! NUT-12 DLEQ proofs as carried on blind signatures (`{e, s}`) and on
//! proofs (`{e, s, r}`). The arithmetic is in [`crate::crypto::dleq`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::dleq::Dleq;
use crate::crypto::{Scalar, SecretKey};

/// The DLEQ proof on a blind signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a DLEQ proof object (e, s)")]
pub struct BlindSignatureDleq {
    /// The challenge.
    pub e: Scalar,
    /// The response.
    pub s: Scalar,
}

impl BlindSignatureDleq {
    /// The proof as the crypto layer takes it.
    #[must_use]
    pub fn dleq(&self) -> Dleq {
        Dleq {
            e: self.e,
            s: self.s,
        }
    }
}

impl From<Dleq> for BlindSignatureDleq {
    fn from(d: Dleq) -> Self {
        Self { e: d.e, s: d.s }
    }
}

/// The DLEQ proof on a proof, with the blinding factor `r` a receiver needs
/// to verify it. `r` is erased on drop and redacted in `Debug`; it is shared
/// only with the receiver of a token, never with the mint (NUT-12: sharing it
/// with the mint would link the proof to its blinded message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofDleq {
    e: Scalar,
    s: Scalar,
    r: SecretKey,
}

impl ProofDleq {
    /// Assembles a proof DLEQ.
    #[must_use]
    pub fn new(dleq: Dleq, r: SecretKey) -> Self {
        Self {
            e: dleq.e,
            s: dleq.s,
            r,
        }
    }

    /// `(e, s)`.
    #[must_use]
    pub fn dleq(&self) -> Dleq {
        Dleq {
            e: self.e,
            s: self.s,
        }
    }

    /// The challenge `e`.
    #[must_use]
    pub fn e(&self) -> &Scalar {
        &self.e
    }

    /// The response `s`.
    #[must_use]
    pub fn s(&self) -> &Scalar {
        &self.s
    }

    /// The blinding factor.
    #[must_use]
    pub fn r(&self) -> &SecretKey {
        &self.r
    }
}

#[derive(Serialize, Deserialize)]
#[serde(expecting = "a DLEQ proof object (e, s, r)")]
struct ProofDleqWire<'a> {
    e: Scalar,
    s: Scalar,
    #[serde(borrow)]
    r: std::borrow::Cow<'a, str>,
}

impl Serialize for ProofDleq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r.to_secret_hex();
        ProofDleqWire {
            e: self.e,
            s: self.s,
            r: std::borrow::Cow::Borrowed(r.as_str()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProofDleq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = ProofDleqWire::deserialize(d)?;
        let r = SecretKey::from_hex(&wire.r).map_err(serde::de::Error::custom)?;
        Ok(Self {
            e: wire.e,
            s: wire.s,
            r,
        })
    }
}
