//! NUT-20: signed mint quotes. A wallet that gives a public key with its
//! mint quote must sign the mint request: a BIP-340 Schnorr signature on
//! `SHA-256(quote ‖ B_0 ‖ … ‖ B_(n-1))`, where `quote` is the quote id's
//! UTF-8 bytes and each `B_i` the UTF-8 bytes of the output's `B_` in
//! lowercase hex (66 characters), in the order of the request's outputs.
//! Binding the outputs stops anyone who learns the quote id from minting it
//! to their own outputs.
//!
//! ```
//! use tally_cashu::crypto::SecretKey;
//! use tally_cashu::nuts::nut20;
//! let key = SecretKey::from_bytes([7; 32]).unwrap();
//! let signature = nut20::sign(&key, "q1", &[], &[0; 32]);
//! assert!(nut20::verify(&key.public_key(), "q1", &[], &signature));
//! assert!(!nut20::verify(&key.public_key(), "q2", &[], &signature));
//! ```

use sha2::{Digest, Sha256};

use super::nut00::BlindedMessage;
use crate::crypto::schnorr::{self, SIGNATURE_LEN};
use crate::crypto::{PublicKey, SecretKey};

/// The message signed: `quote ‖ B_0 ‖ … ‖ B_(n-1)` (see the module docs).
#[must_use]
pub fn message(quote: &str, outputs: &[BlindedMessage]) -> Vec<u8> {
    let mut message =
        Vec::with_capacity(quote.len().saturating_add(outputs.len().saturating_mul(66)));
    message.extend_from_slice(quote.as_bytes());
    for output in outputs {
        message.extend_from_slice(output.blinded.to_hex().as_bytes());
    }
    message
}

/// `SHA-256(message(quote, outputs))`, without building the message.
#[must_use]
pub fn digest(quote: &str, outputs: &[BlindedMessage]) -> [u8; 32] {
    let mut sha = Sha256::new();
    sha.update(quote.as_bytes());
    for output in outputs {
        sha.update(output.blinded.to_hex().as_bytes());
    }
    sha.finalize().into()
}

/// The NUT-20 signature of a mint request by the quote's key, with
/// `aux_rand` as BIP-340 recommends (fresh randomness per signature).
#[must_use]
pub fn sign(
    key: &SecretKey,
    quote: &str,
    outputs: &[BlindedMessage],
    aux_rand: &[u8; 32],
) -> [u8; SIGNATURE_LEN] {
    schnorr::sign(key, &digest(quote, outputs), aux_rand)
}

/// Whether `signature` signs the mint request (`quote`, `outputs`) for the
/// quote's public key `key`.
#[must_use]
pub fn verify(
    key: &PublicKey,
    quote: &str,
    outputs: &[BlindedMessage],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    schnorr::verify(key, &digest(quote, outputs), signature)
}
