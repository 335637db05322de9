//! NUT-13 deterministic secrets: a BIP-39 mnemonic gives a seed; the seed,
//! a keyset id and a per-keyset counter give each output's secret and
//! blinding factor, so a wallet can be restored from its mnemonic.
//!
//! The derivation depends on the keyset id version:
//!
//! * **V2** (`01…`): `m = "Cashu_KDF_HMAC_SHA256" || id || counter_be64`;
//!   `secret = hex(HMAC-SHA256(seed, m || 00))`,
//!   `r = HMAC-SHA256(seed, m || 01) mod n` (zero refused).
//! * **V1** (`00…`, deprecated): BIP-32 paths
//!   `m/129372'/0'/{id mod (2^31-1)}'/{counter}'/{0|1}`; the secret is the
//!   hex of the private key at `…/0`, `r` the private key at `…/1`.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConditionallySelectable;
use zeroize::Zeroizing;

use super::nut02::{KeysetId, VERSION_V1, VERSION_V2};
use crate::Error;
use crate::crypto::SecretKey;
use crate::crypto::bip32::{ExtendedKey, HARDENED};
use crate::secret::Secret;

/// NUT-13's BIP-32 purpose (UTF-8 for 🥜).
pub const PURPOSE: u32 = 129_372;

/// Domain separator of the V2 KDF.
pub const KDF_DOMAIN: &[u8; 21] = b"Cashu_KDF_HMAC_SHA256";

/// The largest counter the V1 derivation accepts (a hardened BIP-32 index).
pub const V1_COUNTER_MAX: u64 = (HARDENED - 1) as u64;

/// A 64-byte BIP-39 seed, erased on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct Seed(Zeroizing<[u8; 64]>);

impl Seed {
    /// The seed of an English BIP-39 mnemonic (NFKD-normalized, checksum
    /// checked) with an optional passphrase (`""` for none).
    ///
    /// # Errors
    /// [`Error::InvalidMnemonic`] for unknown words, a bad checksum or length.
    pub fn from_mnemonic(phrase: &str, passphrase: &str) -> Result<Self, Error> {
        let mnemonic = bip39::Mnemonic::parse(phrase).map_err(|_| Error::InvalidMnemonic)?;
        Ok(Self(Zeroizing::new(mnemonic.to_seed(passphrase))))
    }

    /// Wraps seed bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The seed bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl zeroize::ZeroizeOnDrop for Seed {}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<redacted>)")
    }
}

/// The secret and blinding factor of the output at `counter` of `keyset_id`,
/// by the derivation the id's version selects.
///
/// ```
/// use tally_cashu::nuts::{nut02::KeysetId, nut13};
/// let seed = nut13::Seed::from_mnemonic(
///     "half depart obvious quality work element tank gorilla view sugar picture humble", "",
/// ).unwrap();
/// let id = KeysetId::from_hex(
///     "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a",
/// ).unwrap();
/// let (secret, _r) = nut13::derive(&seed, &id, 0).unwrap();
/// assert_eq!(
///     secret.as_str(),
///     "db5561a07a6e6490f8dadeef5be4e92f7cebaecf2f245356b5b2a4ec40687298"
/// );
/// ```
///
/// # Errors
/// [`Error::CounterOutOfRange`] for a V1 counter above [`V1_COUNTER_MAX`];
/// [`Error::InvalidDerivation`] / [`Error::InvalidScalar`] in the negligible
/// cases where a derived key is invalid.
pub fn derive(
    seed: &Seed,
    keyset_id: &KeysetId,
    counter: u64,
) -> Result<(Secret, SecretKey), Error> {
    match keyset_id.version() {
        Some(VERSION_V2) => derive_v2(seed, keyset_id, counter),
        // Legacy ids derive as V1 (Nutshell's backwards-compatible path).
        Some(VERSION_V1) | None => derive_v1(seed, keyset_id, counter),
        Some(other) => Err(Error::UnsupportedKeysetVersion(other)),
    }
}

/// The V1 BIP-32 path of the secret (`leaf = 0`) or blinding factor (`leaf = 1`).
///
/// # Errors
/// [`Error::CounterOutOfRange`] above [`V1_COUNTER_MAX`].
pub fn v1_path(keyset_id: &KeysetId, counter: u64, leaf: u32) -> Result<[u32; 5], Error> {
    let counter = u32::try_from(counter)
        .ok()
        .filter(|c| u64::from(*c) <= V1_COUNTER_MAX)
        .ok_or(Error::CounterOutOfRange)?;
    Ok([
        PURPOSE | HARDENED,
        HARDENED,
        keyset_id.to_u31() | HARDENED,
        counter | HARDENED,
        leaf,
    ])
}

fn derive_v1(seed: &Seed, id: &KeysetId, counter: u64) -> Result<(Secret, SecretKey), Error> {
    let master = ExtendedKey::master(seed.as_bytes())?;
    let parent = master.derive(&v1_path(id, counter, 0)?[..4])?;
    let secret_key = parent.child(0)?;
    let r = parent.child(1)?.secret_key().clone();
    let secret = Secret::from_bytes_hex(&secret_key.secret_key().to_secret_bytes());
    Ok((secret, r))
}

fn kdf(seed: &Seed, id: &KeysetId, counter: u64, kind: u8) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(seed.as_bytes()).map_err(|_| Error::InvalidDerivation)?;
    mac.update(KDF_DOMAIN);
    mac.update(id.as_bytes());
    mac.update(&counter.to_be_bytes());
    mac.update(&[kind]);
    Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
}

fn derive_v2(seed: &Seed, id: &KeysetId, counter: u64) -> Result<(Secret, SecretKey), Error> {
    let secret = Secret::from_bytes_hex(&*kdf(seed, id, counter, 0)?);
    let digest = kdf(seed, id, counter, 1)?;
    let r = SecretKey::from_bytes(*reduce_mod_n(&digest)).map_err(|_| Error::InvalidScalar)?;
    Ok((secret, r))
}

/// The domain of [`quote_key`] (Tally's own, not in the NUTs).
pub const QUOTE_KEY_DOMAIN: &[u8; 24] = b"tally/nut20/quote-key/v1";

/// The NUT-20 key of a mint quote, derived from the wallet's seed and a
/// per-quote random `nonce`: `HMAC-SHA256(seed, QUOTE_KEY_DOMAIN || nonce)
/// mod n`. A wallet stores the nonce with the quote, not the key, so a copy
/// of its store without the seed (which is kept encrypted) cannot sign the
/// quote's mint request. Not a NUT: any derivation the wallet can repeat
/// serves NUT-20; this one is checked against vectors computed in Python
/// (`scripts/vectors/wallet_quote_key_golden.py`).
///
/// # Errors
/// [`Error::InvalidScalar`] if the result is zero (probability about
/// 2^-256).
pub fn quote_key(seed: &Seed, nonce: &[u8; 32]) -> Result<SecretKey, Error> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(seed.as_bytes()).map_err(|_| Error::InvalidDerivation)?;
    mac.update(QUOTE_KEY_DOMAIN);
    mac.update(nonce);
    let digest: Zeroizing<[u8; 32]> = Zeroizing::new(mac.finalize().into_bytes().into());
    SecretKey::from_bytes(*reduce_mod_n(&digest)).map_err(|_| Error::InvalidScalar)
}

/// The secp256k1 group order n, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// `x mod n` for a 256-bit `x` (< 2n, so at most one subtraction), in
/// constant time: the subtraction is always computed and selected by the borrow.
fn reduce_mod_n(x: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut diff = Zeroizing::new([0u8; 32]);
    let mut borrow = 0u8;
    for ((d, a), b) in diff.iter_mut().zip(x.iter()).zip(ORDER.iter()).rev() {
        let (v1, o1) = a.overflowing_sub(*b);
        let (v2, o2) = v1.overflowing_sub(borrow);
        *d = v2;
        borrow = u8::from(o1 | o2);
    }
    // borrow == 1 means x < n: keep x; otherwise keep x - n.
    let below = subtle::Choice::from(borrow);
    let mut out = Zeroizing::new([0u8; 32]);
    for ((o, a), d) in out.iter_mut().zip(x.iter()).zip(diff.iter()) {
        *o = u8::conditional_select(d, a, below);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_values_below_n_and_subtracts_n_otherwise() {
        let mut below = ORDER;
        below[31] -= 1;
        assert_eq!(*reduce_mod_n(&below), below);
        assert_eq!(*reduce_mod_n(&ORDER), [0u8; 32]);
        let mut above = ORDER;
        above[31] += 5;
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(*reduce_mod_n(&above), five);
        let max = [0xffu8; 32];
        // 2^256 - 1 - n = 0x14551231950b75fc4402da1732fc9bebe
        let expected = crate::encoding::hex::decode_array::<32>(
            "000000000000000000000000000000014551231950b75fc4402da1732fc9bebe",
            "t",
        )
        .unwrap();
        assert_eq!(*reduce_mod_n(&max), expected);
    }

    #[test]
    fn v1_counter_is_bounded_at_the_hardened_limit() {
        let id = KeysetId::from_hex("009a1f293253e41e").unwrap();
        assert!(v1_path(&id, V1_COUNTER_MAX, 0).is_ok());
        assert!(matches!(
            v1_path(&id, V1_COUNTER_MAX + 1, 0),
            Err(Error::CounterOutOfRange)
        ));
    }
}
