//! NUT-14 hashed timelock contracts.
//!
//! An HTLC secret locks a proof to `SHA256(preimage)` (32-byte preimage,
//! hex on the wire) and may add every NUT-11 tag. It is spendable
//!
//! * by the **receiver pathway** at any time: the preimage in the witness,
//!   plus `n_sigs` signatures from the `pubkeys` tag when that tag is present;
//! * by the **sender pathway** once `locktime` has passed: `n_sigs_refund`
//!   signatures from the `refund` tag, or by anyone if there is no `refund` tag.
//!
//! Parsing and verification live in [`crate::nuts::nut11`] (the rules are
//! shared); this module builds HTLC conditions and checks preimages.

use super::nut11::{Conditions, Lock, SpendingConditions};
use crate::crypto::ct_eq;
use crate::secret::Preimage;

/// HTLC conditions locking to `SHA256(preimage)`.
///
/// ```
/// use tally_cashu::nuts::{nut11::Conditions, nut14};
/// use tally_cashu::secret::Preimage;
/// let preimage = Preimage::new([1u8; 32]);
/// let htlc = nut14::htlc(&preimage.hash(), Conditions::default());
/// assert!(nut14::preimage_matches(&htlc, &preimage));
/// ```
#[must_use]
pub fn htlc(hash: &[u8; 32], conditions: Conditions) -> SpendingConditions {
    SpendingConditions {
        lock: Lock::Htlc(*hash),
        conditions,
    }
}

/// Whether `preimage` opens the hash lock of `conditions` (constant-time
/// comparison of the hashes; `false` for a P2PK lock).
#[must_use]
pub fn preimage_matches(conditions: &SpendingConditions, preimage: &Preimage) -> bool {
    match &conditions.lock {
        Lock::Htlc(hash) => ct_eq(&preimage.hash(), hash),
        Lock::P2pk(_) => false,
    }
}
