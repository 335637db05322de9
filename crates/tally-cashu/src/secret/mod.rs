//! Proof secrets (NUT-00 `x`) and HTLC preimages.
//!
//! A [`Secret`] is whoever holds it's claim on the proof's value: it is
//! erased on drop, compared in constant time, redacted in `Debug`, and
//! bounded in length ([`MAX_SECRET_LEN_BYTES`]). It serializes as its plain
//! string because tokens and mint requests carry it.

use core::fmt;
use core::hash::{Hash, Hasher};

use rand_core::TryCryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::Error;
use crate::crypto::ct_eq;
use crate::encoding::hex;
use crate::error::{Limit, ensure_within};
use crate::limits::MAX_SECRET_LEN_BYTES;

/// A proof secret: a non-empty UTF-8 string of at most
/// [`MAX_SECRET_LEN_BYTES`] bytes.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `text` after checking its length.
    ///
    /// ```
    /// use tally_cashu::secret::Secret;
    /// let s = Secret::new("407915bc212be61a77e3e6d2aeb4c727980bda51cd06a6afc29e2861768a7837").unwrap();
    /// assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    /// assert!(Secret::new("").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidField`] if empty, [`Error::LimitExceeded`] if too long.
    pub fn new(text: impl Into<String>) -> Result<Self, Error> {
        let text = Zeroizing::new(text.into());
        if text.is_empty() {
            return Err(Error::InvalidField {
                field: "secret",
                reason: "empty",
            });
        }
        ensure_within(Limit::SecretLength, text.len(), MAX_SECRET_LEN_BYTES)?;
        Ok(Self(text))
    }

    /// A fresh random secret: 32 bytes from `rng`, as 64 lowercase hex digits
    /// (the form NUT-00 recommends, to avoid fingerprinting).
    ///
    /// # Errors
    /// [`Error::RandomnessUnavailable`] if the RNG fails.
    pub fn random<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(bytes.as_mut())
            .map_err(|_| Error::RandomnessUnavailable)?;
        Ok(Self::from_bytes_hex(&bytes))
    }

    /// The secret whose text is the lowercase hex of `bytes` (NUT-13 derives
    /// secrets this way).
    #[must_use]
    pub fn from_bytes_hex(bytes: &[u8; 32]) -> Self {
        Self(Zeroizing::new(hex::encode(bytes)))
    }

    /// The secret text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The secret's UTF-8 bytes (the message `hash_to_curve` maps).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.as_bytes(), other.as_bytes())
    }
}

impl Eq for Secret {}

impl Hash for Secret {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_bytes().hash(state);
    }
}

impl zeroize::ZeroizeOnDrop for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Self::new(text.as_str()).map_err(serde::de::Error::custom)
    }
}

/// A 32-byte HTLC preimage (NUT-14), erased on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Preimage(Zeroizing<[u8; 32]>);

impl Preimage {
    /// Wraps 32 bytes.
    #[must_use]
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random preimage.
    ///
    /// # Errors
    /// [`Error::RandomnessUnavailable`] if the RNG fails.
    pub fn random<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(bytes.as_mut())
            .map_err(|_| Error::RandomnessUnavailable)?;
        Ok(Self(bytes))
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// [`Error::InvalidHex`] if not 32 bytes of hex.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        hex::decode_array(text, "preimage").map(Self::new)
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `SHA256(preimage)`: the HTLC hash lock.
    #[must_use]
    pub fn hash(&self) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(self.0.as_ref()).into()
    }
}

impl zeroize::ZeroizeOnDrop for Preimage {}

impl fmt::Debug for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Preimage(<redacted>)")
    }
}
