//! NUT-00 blind Diffie-Hellman key exchange.
//!
//! ```text
//! Y  = hash_to_curve(x)
//! B_ = Y + r·G          (blind, by the wallet)
//! C_ = k·B_             (sign, by the mint)
//! C  = C_ − r·K = k·Y   (unblind, by the wallet)
//! ```
//!
//! Every scalar multiplication by a secret (`r`, `k`) is constant time.

use super::{PublicKey, SecretKey, ct_eq, hash_to_curve};
use crate::Error;

/// `B_ = hash_to_curve(secret) + r·G`.
///
/// ```
/// use tally_cashu::crypto::{bdhke, SecretKey};
/// let r = SecretKey::from_bytes([1u8; 32]).unwrap();
/// let k = SecretKey::from_bytes([2u8; 32]).unwrap();
/// let b = bdhke::blind(b"secret", &r).unwrap();
/// let c_ = bdhke::sign(&k, &b).unwrap();
/// let c = bdhke::unblind(&c_, &r, &k.public_key()).unwrap();
/// assert!(bdhke::verify(&k, b"secret", &c).unwrap());
/// ```
///
/// # Errors
/// [`Error::NoPointFound`] (never observed) or [`Error::PointAtInfinity`] if
/// `r·G == −Y` (probability 2^-256).
pub fn blind(secret: &[u8], r: &SecretKey) -> Result<PublicKey, Error> {
    // r·G by libsecp256k1's constant-time generator multiplication, on the
    // shared context (randomized if the caller asked, see `crypto::randomize_context`).
    hash_to_curve(secret)?.add(&r.public_key())
}

/// `C_ = k·B_` (the mint's blind signature; for tests and tools).
///
/// # Errors
/// [`Error::PointAtInfinity`] (impossible for a valid key; kept for the FFI contract).
pub fn sign(k: &SecretKey, blinded: &PublicKey) -> Result<PublicKey, Error> {
    blinded.mul(&k.as_scalar())
}

/// `C = C_ − r·K`.
///
/// # Errors
/// [`Error::PointAtInfinity`] if `C_ == r·K` (a hostile mint could send that;
/// the result would not be a valid signature anyway).
pub fn unblind(
    blind_signature: &PublicKey,
    r: &SecretKey,
    mint_key: &PublicKey,
) -> Result<PublicKey, Error> {
    let minus_r = SecretKey::from_inner(r.inner().negate());
    blind_signature.add(&mint_key.mul(&minus_r.as_scalar())?)
}

/// Whether `C == k·hash_to_curve(secret)` (the mint's check; for tests and
/// tools). The comparison is constant time.
///
/// # Errors
/// [`Error::NoPointFound`] (never observed).
pub fn verify(k: &SecretKey, secret: &[u8], signature: &PublicKey) -> Result<bool, Error> {
    let expected = hash_to_curve(secret)?.mul(&k.as_scalar())?;
    Ok(ct_eq(&expected.to_bytes(), &signature.to_bytes()))
}
