//! BIP-340 Schnorr signatures over 32-byte message digests (NUT-11 signs
//! `SHA256(message)`).

use secp256k1::{Keypair, XOnlyPublicKey};

use super::{PublicKey, SecretKey};

/// Length of a BIP-340 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Signs `digest` with `key`, mixing in `aux_rand` as BIP-340 recommends.
#[must_use]
pub fn sign(key: &SecretKey, digest: &[u8; 32], aux_rand: &[u8; 32]) -> [u8; SIGNATURE_LEN] {
    let mut keypair = Keypair::from_secret_key(super::secp(), key.inner());
    let message = secp256k1::Message::from_digest(*digest);
    let signature = super::secp().sign_schnorr_with_aux_rand(&message, &keypair, aux_rand);
    keypair.non_secure_erase();
    signature.serialize()
}

/// Whether `signature` is a valid BIP-340 signature on `digest` by the
/// x-coordinate of `key` (the parity prefix is ignored, as NUT-11 requires).
#[must_use]
pub fn verify(key: &PublicKey, digest: &[u8; 32], signature: &[u8; SIGNATURE_LEN]) -> bool {
    let x_only: XOnlyPublicKey = key.0.x_only_public_key().0;
    let Ok(signature) = secp256k1::schnorr::Signature::from_slice(signature) else {
        return false;
    };
    let message = secp256k1::Message::from_digest(*digest);
    super::secp()
        .verify_schnorr(&signature, &message, &x_only)
        .is_ok()
}
