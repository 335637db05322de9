//! NUT-28 pay-to-blinded-key (P2BK): NUT-11 (and NUT-14) locks whose public
//! keys are blinded, so that the mint cannot link spends by the same key.
//!
//! The sender picks an ephemeral key pair `(e, E)` and, for the key `P` in
//! slot `i` of `[data, ...pubkeys, ...refund]` (at most 11 slots, `0..=10`),
//! computes the ECDH secret `Zx = x(e·P)`, the blinding scalar
//! `rᵢ = SHA-256("Cashu_P2BK_v1" || Zx || i)` (retried once with a trailing
//! `0xff` byte if it is not in `[1, n)`), and locks to `P' = P + rᵢ·G`. The
//! proof carries `E` (`p2pk_e`, `pe` in V4 tokens).
//!
//! The receiver computes `Zx = x(p·E)`, and for each slot unblinds
//! `P = P' − rᵢ·G`; where `x(P) = x(p·G)` the slot is its own, and the
//! signing key is `p + rᵢ` when `P` and `p·G` have the same parity, `−p + rᵢ`
//! otherwise (BIP-340 keys are lifted to even Y, so a sender may have used
//! the even twin of `p·G`). Every derived key is checked to give `P'` before
//! it is returned. The mint sees an ordinary P2PK proof: verification
//! ([`crate::nuts::nut11::verify_transaction`]) is unchanged; the receiver
//! removes `p2pk_e` before the proof goes to the mint.
//!
//! `Zx`, every `rᵢ` and every derived key are secret (erased on drop); the
//! multiplications by `e`, `p` and `rᵢ` are constant time (libsecp256k1).

use rand_core::TryCryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::nut00::Proof;
use super::nut11::{Lock, SpendingConditions};
use crate::Error;
use crate::crypto::{PublicKey, SecretKey};
use crate::error::ConditionError;

/// The domain separator of the blinding scalar.
pub const DOMAIN_SEPARATOR: &[u8; 13] = b"Cashu_P2BK_v1";

/// The last slot index: slots are `0` (`data`) to `10`.
pub const MAX_SLOT: u8 = 10;

/// The x-coordinate of the ECDH point `key · point` (`Zx`), erased on drop.
///
/// # Errors
/// Never for valid keys (the group has prime order); kept for the FFI's contract.
pub fn shared_secret(key: &SecretKey, point: &PublicKey) -> Result<Zeroizing<[u8; 32]>, Error> {
    Ok(Zeroizing::new(point.mul_secret(key)?.x_only()))
}

/// The blinding scalar `rᵢ` of slot `slot` for the shared secret `zx`.
///
/// # Errors
/// [`ConditionError::TooManyBlindedKeys`] if `slot > MAX_SLOT`;
/// [`ConditionError::BlindingFailed`] if neither hash is a valid scalar
/// (probability about 2^-256: the sender must pick another ephemeral key).
pub fn blinding_scalar(zx: &[u8; 32], slot: u8) -> Result<SecretKey, Error> {
    if slot > MAX_SLOT {
        return Err(ConditionError::TooManyBlindedKeys.into());
    }
    let hash = |retry: bool| {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN_SEPARATOR);
        hasher.update(zx);
        hasher.update([slot]);
        if retry {
            hasher.update([0xff]);
        }
        Zeroizing::new(<[u8; 32]>::from(hasher.finalize()))
    };
    SecretKey::from_bytes(*hash(false))
        .or_else(|_| SecretKey::from_bytes(*hash(true)))
        .map_err(|_| ConditionError::BlindingFailed.into())
}

/// `key + r·G`: the blinded key `P'`.
///
/// # Errors
/// [`Error::PointAtInfinity`] if `key = −r·G`.
pub fn blind_key(key: &PublicKey, r: &SecretKey) -> Result<PublicKey, Error> {
    key.add(&r.public_key())
}

/// The keys of `conditions` with their slot indices: the P2PK `data` key in
/// slot 0, then `pubkeys`, then `refund` (an HTLC's slot 0 is its hash, not
/// a key).
fn slots(conditions: &SpendingConditions) -> Result<Vec<(u8, PublicKey)>, Error> {
    let data = match &conditions.lock {
        Lock::P2pk(key) => Some(*key),
        Lock::Htlc(_) => None,
    };
    let tagged = conditions
        .conditions
        .pubkeys
        .iter()
        .chain(&conditions.conditions.refund);
    let first = usize::from(data.is_none());
    let mut out = Vec::with_capacity(usize::from(MAX_SLOT) + 1);
    for (index, key) in data.iter().chain(tagged).enumerate() {
        let slot = u8::try_from(index + first)
            .ok()
            .filter(|slot| *slot <= MAX_SLOT)
            .ok_or(ConditionError::TooManyBlindedKeys)?;
        out.push((slot, *key));
    }
    Ok(out)
}

/// Sender: `conditions` with every key blinded for the ephemeral key
/// `ephemeral` (`e`); the proof must carry `e·G` as `p2pk_e`. `SIG_ALL`
/// outputs must all use the same ephemeral key (their secrets must agree).
///
/// # Errors
/// [`ConditionError::TooManyBlindedKeys`] past 11 slots;
/// [`ConditionError::BlindingFailed`]; [`Error::PointAtInfinity`] (never observed).
pub fn blind(
    conditions: &SpendingConditions,
    ephemeral: &SecretKey,
) -> Result<SpendingConditions, Error> {
    let blinded = slots(conditions)?
        .into_iter()
        .map(|(slot, key)| {
            let zx = shared_secret(ephemeral, &key)?;
            let r = blinding_scalar(&zx, slot)?;
            blind_key(&key, &r)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut out = conditions.clone();
    let mut keys = blinded.into_iter();
    if let Lock::P2pk(key) = &mut out.lock {
        *key = keys.next().ok_or(ConditionError::InvalidKey)?;
    }
    for key in out
        .conditions
        .pubkeys
        .iter_mut()
        .chain(out.conditions.refund.iter_mut())
    {
        *key = keys.next().ok_or(ConditionError::InvalidKey)?;
    }
    Ok(out)
}

/// Sender: a fresh ephemeral key from `rng`, and `conditions` blinded with it.
/// Returns the blinded conditions and `E` (the proof's `p2pk_e`).
///
/// # Errors
/// [`Error::RandomnessUnavailable`]; as [`blind`].
pub fn lock<R: TryCryptoRng + ?Sized>(
    conditions: &SpendingConditions,
    rng: &mut R,
) -> Result<(SpendingConditions, PublicKey), Error> {
    let ephemeral = SecretKey::random(rng)?;
    Ok((blind(conditions, &ephemeral)?, ephemeral.public_key()))
}

/// Receiver: the signing keys that `key` (`p`) has in the blinded
/// `conditions`, given the sender's ephemeral key `ephemeral` (`E`), one per
/// slot that is `key`'s, in slot order. Empty if no slot is `key`'s.
///
/// # Errors
/// [`ConditionError::TooManyBlindedKeys`] past 11 slots;
/// [`ConditionError::BlindingFailed`].
pub fn derive_signing_keys(
    conditions: &SpendingConditions,
    ephemeral: &PublicKey,
    key: &SecretKey,
) -> Result<Vec<SecretKey>, Error> {
    let zx = shared_secret(key, ephemeral)?;
    let natural = key.public_key();
    let mut out = Vec::new();
    for (slot, blinded) in slots(conditions)? {
        let r = blinding_scalar(&zx, slot)?;
        let Ok(unblinded) = blinded.add(&r.public_key().negate()) else {
            continue;
        };
        if unblinded.x_only() != natural.x_only() {
            continue;
        }
        let same_parity = unblinded.to_bytes().first() == natural.to_bytes().first();
        let base = if same_parity {
            key.clone()
        } else {
            key.negated()
        };
        let Ok(derived) = base.add_secret(&r) else {
            continue;
        };
        if derived.public_key() == blinded {
            out.push(derived);
        }
    }
    Ok(out)
}

/// Receiver: the signing keys `key` has for a received proof locked with
/// P2BK (its secret's conditions and its `p2pk_e`). Empty for a plain
/// secret. After signing, clear `proof.p2pk_e` before sending it to the mint.
///
/// # Errors
/// [`ConditionError::MissingEphemeralKey`] for a locked proof without
/// `p2pk_e`; the secret's parsing errors; as [`derive_signing_keys`].
pub fn signing_keys(proof: &Proof, key: &SecretKey) -> Result<Vec<SecretKey>, Error> {
    let Some(conditions) = SpendingConditions::from_secret(&proof.secret)? else {
        return Ok(Vec::new());
    };
    let ephemeral = proof
        .p2pk_e
        .as_ref()
        .ok_or(ConditionError::MissingEphemeralKey)?;
    derive_signing_keys(&conditions, ephemeral, key)
}
