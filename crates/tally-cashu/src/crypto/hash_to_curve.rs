//! NUT-00 `hash_to_curve`.

use sha2::{Digest, Sha256};

use super::PublicKey;
use crate::Error;
use crate::limits::HASH_TO_CURVE_MAX_ATTEMPTS;

/// The NUT-00 domain separator.
pub const DOMAIN_SEPARATOR: &[u8; 28] = b"Secp256k1_HashToCurve_Cashu_";

/// Maps `message` to a point: `Y = 02 || SHA256(SHA256(DST || message) || counter_le32)`
/// for the first `counter` (from 0) that gives a point on the curve.
///
/// ```
/// use tally_cashu::crypto::hash_to_curve;
/// let y = hash_to_curve(&[0u8; 32]).unwrap();
/// assert_eq!(
///     y.to_hex(),
///     "024cce997d3b518f739663b757deaec95bcd9473c30a14ac2fd04023a739d1a725"
/// );
/// ```
///
/// # Errors
/// [`Error::NoPointFound`] after [`HASH_TO_CURVE_MAX_ATTEMPTS`] counters
/// (each succeeds with probability about 1/2; never observed).
pub fn hash_to_curve(message: &[u8]) -> Result<PublicKey, Error> {
    hash_to_curve_bounded(message, HASH_TO_CURVE_MAX_ATTEMPTS)
}

/// [`hash_to_curve`] with an explicit attempt bound (tests use small bounds).
fn hash_to_curve_bounded(message: &[u8], attempts: u32) -> Result<PublicKey, Error> {
    let msg_hash = Sha256::new()
        .chain_update(DOMAIN_SEPARATOR)
        .chain_update(message)
        .finalize();
    let prefix = Sha256::new().chain_update(msg_hash);
    let mut candidate = [0x02u8; 33];
    for counter in 0..attempts {
        let x = prefix
            .clone()
            .chain_update(counter.to_le_bytes())
            .finalize();
        for (dst, src) in candidate.iter_mut().skip(1).zip(x.iter()) {
            *dst = *src;
        }
        // One parse (one square root) per attempt.
        if let Ok(point) = secp256k1::PublicKey::from_slice(&candidate) {
            return Ok(PublicKey(point));
        }
    }
    Err(Error::NoPointFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attempts the official vector 3 (message `00…02`) needs.
    fn attempts_needed(message: &[u8]) -> u32 {
        (1..=64)
            .find(|n| hash_to_curve_bounded(message, *n).is_ok())
            .unwrap()
    }

    #[test]
    fn attempt_bound_holds_at_the_bound_and_fails_one_below() {
        let mut message = [0u8; 32];
        message[31] = 2;
        let needed = attempts_needed(&message);
        assert!(needed > 1, "vector 3 needs several attempts");
        assert!(hash_to_curve_bounded(&message, needed).is_ok());
        assert!(matches!(
            hash_to_curve_bounded(&message, needed - 1),
            Err(Error::NoPointFound)
        ));
    }
}
