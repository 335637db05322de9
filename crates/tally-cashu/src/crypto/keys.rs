//! Points and scalars on secp256k1.
//!
//! * [`PublicKey`]: a validated curve point, always SEC1-compressed on the wire.
//! * [`SecretKey`]: a secret scalar (mint key, blinding factor, P2PK key). It
//!   is erased on drop, compares in constant time and never prints.
//! * [`Scalar`]: a public scalar (the `e` and `s` of a DLEQ proof).
//! * [`PointBytes`]: the 33 bytes of a compressed point as received, not yet
//!   checked to lie on the curve (tokens carry these; see
//!   [`PointBytes::to_point`]).
//!
//! All operations use one libsecp256k1 context for the process, created on
//! first use (randomized only with the caller's seed, see
//! [`super::randomize_context`]); no call creates a context.

use core::fmt;

use rand_core::TryCryptoRng;
use secp256k1::Scalar as SecpScalar;
use subtle::ConstantTimeEq;

use crate::Error;
use crate::encoding::{hex, serde_as_str};

/// Length of a SEC1-compressed point.
pub const COMPRESSED_LEN: usize = 33;

/// A point on secp256k1 (never the point at infinity), compressed on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub(crate) secp256k1::PublicKey);

impl PublicKey {
    /// Parses a 33-byte SEC1-compressed point.
    ///
    /// # Errors
    /// [`Error::InvalidPoint`] for any other length, an uncompressed or hybrid
    /// prefix, or an x-coordinate not on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let array: [u8; COMPRESSED_LEN] = bytes.try_into().map_err(|_| Error::InvalidPoint)?;
        PointBytes::new(array)?.to_point()
    }

    /// Parses the hex of a 33-byte compressed point (either case).
    ///
    /// ```
    /// use tally_cashu::crypto::PublicKey;
    /// let g = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    /// assert_eq!(PublicKey::from_hex(g).unwrap().to_hex(), g);
    /// // A valid point in uncompressed form is refused (NUT-01).
    /// assert!(PublicKey::from_hex(&format!("04{}", "00".repeat(64))).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPoint`] if the text is not such a point.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes: [u8; COMPRESSED_LEN] =
            hex::decode_array(text, "public key").map_err(|_| Error::InvalidPoint)?;
        Self::from_bytes(&bytes)
    }

    /// The 33-byte compressed encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; COMPRESSED_LEN] {
        self.0.serialize()
    }

    /// The 65-byte uncompressed encoding (used by NUT-12's `hash_e`).
    #[must_use]
    pub fn to_uncompressed_bytes(&self) -> [u8; 65] {
        self.0.serialize_uncompressed()
    }

    /// Lowercase hex of the compressed encoding.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.to_bytes())
    }

    /// The x-coordinate (BIP-340 x-only key).
    #[must_use]
    pub fn x_only(&self) -> [u8; 32] {
        self.0.x_only_public_key().0.serialize()
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`Error::PointAtInfinity`] if `other == -self`.
    pub fn add(&self, other: &Self) -> Result<Self, Error> {
        self.0
            .combine(&other.0)
            .map(Self)
            .map_err(|_| Error::PointAtInfinity)
    }

    /// `-self`.
    #[must_use]
    pub fn negate(&self) -> Self {
        Self(self.0.negate(super::secp()))
    }

    /// `k · self` for a secret `k` (constant time).
    ///
    /// # Errors
    /// Never for a valid key (the group has prime order); the error is kept
    /// for the FFI's contract.
    pub fn mul_secret(&self, k: &SecretKey) -> Result<Self, Error> {
        self.mul(&k.as_scalar())
    }

    /// `k · self` (constant time in `k`).
    pub(crate) fn mul(&self, k: &SecpScalar) -> Result<Self, Error> {
        self.0
            .mul_tweak(super::secp(), k)
            .map(Self)
            .map_err(|_| Error::PointAtInfinity)
    }

    /// `self + t·G` for a public scalar `t` (variable time: never pass a secret).
    ///
    /// # Errors
    /// [`Error::PointAtInfinity`] if the result is the point at infinity.
    pub(crate) fn add_public_mul_g(&self, t: &SecpScalar) -> Result<Self, Error> {
        self.0
            .add_exp_tweak(super::secp(), t)
            .map(Self)
            .map_err(|_| Error::PointAtInfinity)
    }
}

serde_as_str!(PublicKey, to_hex, from_hex);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The 33 bytes of a compressed point as received: the prefix is checked
/// (`02` or `03`), curve membership is not yet.
///
/// Decoding a token only parses; [`PointBytes::to_point`] validates, and every
/// operation that uses the point (DLEQ verification, resolving a token into
/// [`crate::nuts::nut00::Proof`]s) calls it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PointBytes([u8; COMPRESSED_LEN]);

impl PointBytes {
    /// Checks the SEC1 compressed prefix.
    ///
    /// # Errors
    /// [`Error::InvalidPoint`] if the first byte is not `02` or `03`.
    pub fn new(bytes: [u8; COMPRESSED_LEN]) -> Result<Self, Error> {
        match bytes.first() {
            Some(0x02 | 0x03) => Ok(Self(bytes)),
            _ => Err(Error::InvalidPoint),
        }
    }

    /// Parses the hex of 33 compressed-point bytes.
    ///
    /// # Errors
    /// [`Error::InvalidPoint`] if the text is not 66 hex digits with a `02`/`03` prefix.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode_array(text, "point").map_err(|_| Error::InvalidPoint)?;
        Self::new(bytes)
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; COMPRESSED_LEN] {
        &self.0
    }

    /// Lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Validates curve membership.
    ///
    /// # Errors
    /// [`Error::InvalidPoint`] if the x-coordinate is not on the curve.
    pub fn to_point(&self) -> Result<PublicKey, Error> {
        secp256k1::PublicKey::from_slice(&self.0)
            .map(PublicKey)
            .map_err(|_| Error::InvalidPoint)
    }
}

impl From<PublicKey> for PointBytes {
    fn from(point: PublicKey) -> Self {
        Self(point.to_bytes())
    }
}

serde_as_str!(PointBytes, to_hex, from_hex);

impl fmt::Debug for PointBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PointBytes({})", self.to_hex())
    }
}

/// A secret scalar in `[1, n)`: a mint private key, a blinding factor, a
/// P2PK signing key.
///
/// Erased on drop (best effort: libsecp256k1 calls may copy it to the stack),
/// compared in constant time, never printed, never serialized by this type.
#[derive(Clone)]
pub struct SecretKey(secp256k1::SecretKey);

impl SecretKey {
    /// From 32 big-endian bytes.
    ///
    /// # Errors
    /// [`Error::InvalidScalar`] if the value is zero or not below the curve order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, Error> {
        secp256k1::SecretKey::from_slice(&bytes)
            .map(Self)
            .map_err(|_| Error::InvalidScalar)
    }

    /// From 64 hex digits.
    ///
    /// # Errors
    /// [`Error::InvalidScalar`] if the text is not a valid scalar.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let mut bytes: [u8; 32] =
            hex::decode_array(text, "secret key").map_err(|_| Error::InvalidScalar)?;
        let key = Self::from_bytes(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// A uniformly random key from a cryptographic RNG (rejection sampling).
    ///
    /// # Errors
    /// [`Error::RandomnessUnavailable`] if the RNG fails.
    pub fn random<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<Self, Error> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        loop {
            rng.try_fill_bytes(bytes.as_mut())
                .map_err(|_| Error::RandomnessUnavailable)?;
            if let Ok(key) = Self::from_bytes(*bytes) {
                return Ok(key);
            }
        }
    }

    /// The 32 big-endian bytes, in a buffer erased on drop.
    #[must_use]
    pub fn to_secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.secret_bytes())
    }

    /// Lowercase hex of the secret bytes (for tokens' DLEQ `r` and NUT-13
    /// secrets), erased on drop.
    #[must_use]
    pub fn to_secret_hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    /// `self · G` (constant time).
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key(super::secp()))
    }

    /// The secret bytes, borrowed (no copy to erase).
    pub(crate) fn as_secret_bytes(&self) -> &[u8; 32] {
        self.0.as_ref()
    }

    pub(crate) fn as_scalar(&self) -> SecpScalar {
        SecpScalar::from(self.0)
    }

    /// `−self` (NUT-28's negated derivation).
    pub(crate) fn negated(&self) -> Self {
        Self(self.0.negate())
    }

    /// `self + other` (constant time).
    ///
    /// # Errors
    /// [`Error::InvalidScalar`] if the sum is zero.
    pub(crate) fn add_secret(&self, other: &Self) -> Result<Self, Error> {
        self.0
            .add_tweak(&other.as_scalar())
            .map(Self)
            .map_err(|_| Error::InvalidScalar)
    }

    pub(crate) fn inner(&self) -> &secp256k1::SecretKey {
        &self.0
    }

    pub(crate) fn from_inner(key: secp256k1::SecretKey) -> Self {
        Self(key)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.non_secure_erase();
    }
}

impl zeroize::ZeroizeOnDrop for SecretKey {}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A public scalar in `[1, n)` (the challenge `e` and response `s` of a DLEQ proof).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar([u8; 32]);

impl Scalar {
    /// From 32 big-endian bytes.
    ///
    /// # Errors
    /// [`Error::InvalidScalar`] if the value is zero or not below the curve order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, Error> {
        secp256k1::SecretKey::from_slice(&bytes).map_err(|_| Error::InvalidScalar)?;
        Ok(Self(bytes))
    }

    /// From 64 hex digits.
    ///
    /// # Errors
    /// [`Error::InvalidScalar`] if the text is not a valid scalar.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode_array(text, "scalar").map_err(|_| Error::InvalidScalar)?;
        Self::from_bytes(bytes)
    }

    /// The 32 big-endian bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The 32 big-endian bytes, borrowed.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    pub(crate) fn as_secp(&self) -> SecpScalar {
        // In range by construction; `from_be_bytes` only fails at or above n.
        SecpScalar::from_be_bytes(self.0).unwrap_or(SecpScalar::ZERO)
    }

    pub(crate) fn negated(&self) -> SecpScalar {
        match secp256k1::SecretKey::from_slice(&self.0) {
            Ok(k) => SecpScalar::from(k.negate()),
            Err(_) => SecpScalar::ZERO,
        }
    }
}

serde_as_str!(Scalar, to_hex, from_hex);

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scalar({})", self.to_hex())
    }
}

/// Constant-time equality of two byte strings of equal length (`false` for
/// different lengths; the length itself is not secret).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_debug_is_redacted() {
        let key = SecretKey::from_bytes([7u8; 32]).unwrap();
        let text = format!("{key:?}");
        assert_eq!(text, "SecretKey(<redacted>)");
        assert!(!text.contains("0707"));
    }

    #[test]
    fn scalars_refuse_zero_and_the_group_order() {
        assert!(Scalar::from_bytes([0u8; 32]).is_err());
        let n = hex::decode_array::<32>(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            "n",
        )
        .unwrap();
        assert!(Scalar::from_bytes(n).is_err());
        assert!(SecretKey::from_bytes(n).is_err());
    }

    #[test]
    fn point_bytes_checks_prefix_only() {
        assert!(PointBytes::new([0x04; 33]).is_err());
        // About half of all x-coordinates are not on the curve: the prefix
        // check accepts them, `to_point` refuses them.
        let refused = (1u8..=32)
            .map(|x| {
                let mut bytes = [0u8; 33];
                bytes[0] = 0x02;
                bytes[32] = x;
                PointBytes::new(bytes).unwrap()
            })
            .filter(|p| p.to_point().is_err())
            .count();
        assert!(refused > 0 && refused < 32, "{refused}");
    }
}
