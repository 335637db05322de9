//! Cryptography on secp256k1 (libsecp256k1 through the `secp256k1` crate).
//!
//! * [`hash_to_curve`]: NUT-00's map from a secret to a point.
//! * [`bdhke`]: blind, sign, unblind, verify (NUT-00).
//! * [`dleq`]: NUT-12 DLEQ proofs: creation (deterministic nonce) and
//!   verification for blind signatures and for proofs.
//! * [`schnorr`]: BIP-340 signatures for NUT-11/NUT-14 witnesses.
//! * [`bip32`]: BIP-32 private derivation for NUT-13's V1 secrets.

pub mod bdhke;
pub mod bip32;
pub mod dleq;
mod hash_to_curve;
mod keys;
pub mod schnorr;

pub use hash_to_curve::{DOMAIN_SEPARATOR, hash_to_curve};

use std::sync::OnceLock;

use crate::Error;

/// The one libsecp256k1 context of the process, created on first use.
///
/// The library reads no OS RNG (randomness is always passed in): the
/// context is created unrandomized unless the caller randomizes it first
/// with [`randomize_context`]. Randomization blinds the generator
/// multiplication against power and electromagnetic side channels; without
/// it every operation is still constant time (libsecp256k1 does not rely on
/// blinding for that).
static SECP: OnceLock<secp256k1::Secp256k1<secp256k1::All>> = OnceLock::new();

/// Randomizes the process's libsecp256k1 context with `seed` (32 bytes the
/// caller drew from a cryptographic RNG). Call it once at start-up, before
/// any other function of this crate; the seed is not kept.
///
/// ```
/// let seed = [7u8; 32]; // a real caller draws this from its RNG
/// tally_cashu::crypto::randomize_context(&seed)?;
/// // The context now exists: a second randomization is refused.
/// assert!(tally_cashu::crypto::randomize_context(&seed).is_err());
/// # Ok::<(), tally_cashu::Error>(())
/// ```
///
/// # Errors
/// [`Error::ContextInUse`] if the context already exists (an operation ran
/// first, or it was randomized before): it is left as it is, never silently
/// re-seeded.
pub fn randomize_context(seed: &[u8; 32]) -> Result<(), Error> {
    let mut created = false;
    SECP.get_or_init(|| {
        created = true;
        let mut ctx = secp256k1::Secp256k1::new();
        ctx.seeded_randomize(seed);
        ctx
    });
    if created {
        Ok(())
    } else {
        Err(Error::ContextInUse)
    }
}

/// The shared context (created unrandomized if [`randomize_context`] was not called first).
pub(crate) fn secp() -> &'static secp256k1::Secp256k1<secp256k1::All> {
    SECP.get_or_init(secp256k1::Secp256k1::new)
}
pub use keys::{COMPRESSED_LEN, PointBytes, PublicKey, Scalar, SecretKey, ct_eq};
