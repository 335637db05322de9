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

use std::sync::LazyLock;

/// The one libsecp256k1 context, created on first use and randomized once
/// with 32 bytes from the operating system (side-channel blinding of the
/// generator multiplication; if the OS gives no randomness the context stays
/// unrandomized, which is still constant time).
static SECP: LazyLock<secp256k1::Secp256k1<secp256k1::All>> = LazyLock::new(|| {
    let mut ctx = secp256k1::Secp256k1::new();
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    if getrandom::fill(seed.as_mut_slice()).is_ok() {
        ctx.seeded_randomize(&seed);
    }
    ctx
});

/// The shared context.
pub(crate) fn secp() -> &'static secp256k1::Secp256k1<secp256k1::All> {
    &SECP
}
pub use keys::{COMPRESSED_LEN, PointBytes, PublicKey, Scalar, SecretKey, ct_eq};
