//! NUT-12 discrete-log-equality proofs: the mint proves it signed `B'` with
//! the same key `a` whose public key `A = a·G` it published.
//!
//! ```text
//! mint:   r  = HMAC-SHA256(a, "Cashu_DLEQ_R_v1" || A || B' || C' || ctr)  (A, B', C' uncompressed)
//!         e  = hash(r·G, r·B', A, C'),  s = r + e·a
//! verify: R1 = s·G − e·A,  R2 = s·B' − e·C',  e == hash(R1, R2, A, C')
//! ```
//!
//! `hash` is SHA-256 over the concatenated lowercase hex of the uncompressed
//! points. A receiver of a token verifies a proof's DLEQ offline by
//! rebuilding `B' = Y + r·G` and `C' = C + r·A` from the blinding factor `r`
//! carried in the token.
//!
//! Verification treats every input as public (a proof's `r` is shared with
//! its receiver by design), so it may use variable-time multiplications by
//! `s` and `r`; creation multiplies by the secret `a` and nonce in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{PublicKey, Scalar, SecretKey, hash_to_curve};
use crate::Error;

/// Domain separator of the deterministic nonce.
pub const NONCE_DOMAIN: &[u8; 15] = b"Cashu_DLEQ_R_v1";

/// Most counter values the deterministic nonce tries (NUT-12: 256).
pub const NONCE_MAX_ATTEMPTS: usize = 256;

/// A DLEQ proof `(e, s)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dleq {
    /// The challenge.
    pub e: Scalar,
    /// The response.
    pub s: Scalar,
}

/// `SHA256(hex(P1) || hex(P2) || …)` over uncompressed points (NUT-12 `hash_e`).
#[must_use]
pub fn hash_e(points: &[&PublicKey]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut text = [0u8; 130];
    for point in points {
        // 65 bytes always fit in 130 digits.
        if let Ok(digits) =
            tally_encoding::hex::encode_to_slice(&point.to_uncompressed_bytes(), &mut text)
        {
            hasher.update(digits.as_bytes());
        }
    }
    hasher.finalize().into()
}

/// The deterministic nonce of NUT-12.
fn nonce(a: &SecretKey, blinded: &PublicKey, signature: &PublicKey) -> Result<SecretKey, Error> {
    let key = a.to_secret_bytes();
    let mac = Hmac::<Sha256>::new_from_slice(key.as_ref()).map_err(|_| Error::InvalidScalar)?;
    let mut prefix = mac;
    prefix.update(NONCE_DOMAIN);
    prefix.update(&a.public_key().to_uncompressed_bytes());
    prefix.update(&blinded.to_uncompressed_bytes());
    prefix.update(&signature.to_uncompressed_bytes());
    for counter in 0..=u8::MAX {
        let mut attempt = prefix.clone();
        attempt.update(&[counter]);
        let candidate: Zeroizing<[u8; 32]> = Zeroizing::new(attempt.finalize().into_bytes().into());
        if let Ok(r) = SecretKey::from_bytes(*candidate) {
            return Ok(r);
        }
    }
    Err(Error::InvalidScalar)
}

/// Creates the DLEQ proof for the blind signature `C' = a·B'` (mint side;
/// for tests and tools). Deterministic, as NUT-12 recommends.
///
/// # Errors
/// [`Error::InvalidScalar`] if no nonce is found in 256 tries (probability 2^-32000).
pub fn create(a: &SecretKey, blinded: &PublicKey, signature: &PublicKey) -> Result<Dleq, Error> {
    let r = nonce(a, blinded, signature)?;
    let r1 = r.public_key();
    let r2 = blinded.mul(&r.as_scalar())?;
    let e_bytes = hash_e(&[&r1, &r2, &a.public_key(), signature]);
    let e = SecretKey::from_bytes(e_bytes)?;
    // s = r + e·a (mod n); intermediates are erased on drop.
    let ea = SecretKey::from_inner(
        e.inner()
            .mul_tweak(&a.as_scalar())
            .map_err(|_| Error::InvalidScalar)?,
    );
    let s = SecretKey::from_inner(
        r.inner()
            .add_tweak(&ea.as_scalar())
            .map_err(|_| Error::InvalidScalar)?,
    );
    Ok(Dleq {
        e: Scalar::from_bytes(e_bytes)?,
        s: Scalar::from_bytes(*s.to_secret_bytes())?,
    })
}

/// Verifies a DLEQ proof on a blind signature `C'` for the blinded message
/// `B'` under the mint key `A` (what a wallet checks on mint and swap responses).
///
/// ```
/// use tally_cashu::crypto::{bdhke, dleq, SecretKey};
/// let a = SecretKey::from_bytes([3u8; 32]).unwrap();
/// let r = SecretKey::from_bytes([4u8; 32]).unwrap();
/// let b = bdhke::blind(b"x", &r).unwrap();
/// let c = bdhke::sign(&a, &b).unwrap();
/// let proof = dleq::create(&a, &b, &c).unwrap();
/// assert!(dleq::verify(&a.public_key(), &b, &c, &proof).is_ok());
/// ```
///
/// # Errors
/// [`Error::DleqInvalid`] if the proof does not verify.
pub fn verify(
    mint_key: &PublicKey,
    blinded: &PublicKey,
    signature: &PublicKey,
    proof: &Dleq,
) -> Result<(), Error> {
    let invalid = |_| Error::DleqInvalid;
    let minus_e = proof.e.negated();
    let s = proof.s.as_secp();
    // R1 = s·G − e·A
    let r1 = mint_key
        .mul(&minus_e)
        .and_then(|p| p.add_public_mul_g(&s))
        .map_err(invalid)?;
    // R2 = s·B' − e·C'
    let r2 = blinded
        .mul(&s)
        .and_then(|sb| sb.add(&signature.mul(&minus_e)?))
        .map_err(invalid)?;
    if hash_e(&[&r1, &r2, mint_key, signature]) == proof.e.to_bytes() {
        Ok(())
    } else {
        Err(Error::DleqInvalid)
    }
}

/// Verifies the DLEQ proof carried on a proof `(secret, C)` with blinding
/// factor `r`: rebuilds `B' = Y + r·G`, `C' = C + r·A` and checks as [`verify`].
/// This is how the receiver of a token checks the mint's signature offline.
///
/// # Errors
/// [`Error::DleqInvalid`] if the proof does not verify.
pub fn verify_proof(
    mint_key: &PublicKey,
    secret: &[u8],
    signature: &PublicKey,
    proof: &Dleq,
    r: &SecretKey,
) -> Result<(), Error> {
    let invalid = |_| Error::DleqInvalid;
    let y = hash_to_curve(secret)?;
    let r_scalar = r.as_scalar();
    let blinded = y.add_public_mul_g(&r_scalar).map_err(invalid)?;
    let blind_signature = mint_key
        .mul(&r_scalar)
        .and_then(|ra| signature.add(&ra))
        .map_err(invalid)?;
    verify(mint_key, &blinded, &blind_signature, proof)
}
