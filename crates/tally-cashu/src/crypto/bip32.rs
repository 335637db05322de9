//! BIP-32 private-key derivation (what NUT-13's V1 secrets need: master key
//! from a seed, hardened and normal private child derivation).
//!
//! No extended-key serialization (xprv/xpub) and no public derivation: the
//! wallet never exports or imports extended keys.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use zeroize::Zeroizing;

use super::SecretKey;
use crate::Error;

/// The bit that marks a hardened child index.
pub const HARDENED: u32 = 1 << 31;

/// Shortest seed BIP-32 accepts, in bytes.
pub const SEED_LEN_MIN: usize = 16;
/// Longest seed BIP-32 accepts, in bytes.
pub const SEED_LEN_MAX: usize = 64;

/// An extended private key: a key and its chain code, both erased on drop.
#[derive(Clone)]
pub struct ExtendedKey {
    key: SecretKey,
    chain_code: Zeroizing<[u8; 32]>,
}

impl zeroize::ZeroizeOnDrop for ExtendedKey {}

impl core::fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ExtendedKey(<redacted>)")
    }
}

fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Result<Zeroizing<[u8; 64]>, Error> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).map_err(|_| Error::InvalidDerivation)?;
    for part in parts {
        mac.update(part);
    }
    Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
}

fn split(i: &[u8; 64]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let mut left = Zeroizing::new([0u8; 32]);
    let mut right = Zeroizing::new([0u8; 32]);
    let (l, r) = i.split_at(32);
    left.copy_from_slice(l);
    right.copy_from_slice(r);
    (left, right)
}

impl ExtendedKey {
    /// The master key of `seed` (`HMAC-SHA512("Bitcoin seed", seed)`).
    ///
    /// # Errors
    /// [`Error::InvalidField`] if the seed is not 16 to 64 bytes;
    /// [`Error::InvalidDerivation`] if the master key is invalid (probability 2^-127).
    pub fn master(seed: &[u8]) -> Result<Self, Error> {
        if !(SEED_LEN_MIN..=SEED_LEN_MAX).contains(&seed.len()) {
            return Err(Error::InvalidField {
                field: "seed",
                reason: "BIP-32 seeds are 16 to 64 bytes",
            });
        }
        let i = hmac_sha512(b"Bitcoin seed", &[seed])?;
        let (left, right) = split(&i);
        let key = SecretKey::from_bytes(*left).map_err(|_| Error::InvalidDerivation)?;
        Ok(Self {
            key,
            chain_code: right,
        })
    }

    /// The child at `index` (hardened if `index >= HARDENED`).
    ///
    /// # Errors
    /// [`Error::InvalidDerivation`] if `I_L >= n` or the child key is zero
    /// (BIP-32 says to proceed with the next index; the caller decides).
    pub fn child(&self, index: u32) -> Result<Self, Error> {
        let index_bytes = index.to_be_bytes();
        let i = if index >= HARDENED {
            let key = self.key.to_secret_bytes();
            hmac_sha512(
                self.chain_code.as_ref(),
                &[&[0u8], key.as_ref(), &index_bytes],
            )?
        } else {
            let point = self.key.public_key().to_bytes();
            hmac_sha512(self.chain_code.as_ref(), &[&point, &index_bytes])?
        };
        let (left, right) = split(&i);
        let tweak =
            secp256k1::Scalar::from_be_bytes(*left).map_err(|_| Error::InvalidDerivation)?;
        let child = self
            .key
            .inner()
            .add_tweak(&tweak)
            .map_err(|_| Error::InvalidDerivation)?;
        Ok(Self {
            key: SecretKey::from_inner(child),
            chain_code: right,
        })
    }

    /// Derives along `path` (child indices, hardened ones with [`HARDENED`] set).
    ///
    /// # Errors
    /// As [`ExtendedKey::child`].
    pub fn derive(&self, path: &[u32]) -> Result<Self, Error> {
        path.iter()
            .try_fold(self.clone(), |key, &index| key.child(index))
    }

    /// The private key.
    #[must_use]
    pub fn secret_key(&self) -> &SecretKey {
        &self.key
    }

    /// The chain code.
    #[must_use]
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }
}
