//! RFC 9162 (RFC 6962) Merkle trees, written once for every Tally crate,
//! over any [`TreeHasher`].
//!
//! # The tree shape
//!
//! The Merkle tree hash of `n` leaves `D[0..n]` is defined recursively
//! (RFC 9162 §2.1.1):
//!
//! * no leaves: the hasher's [`empty`](TreeHasher::empty) root;
//! * one leaf: its leaf hash, [`TreeHasher::leaf`] of its data;
//! * `n > 1` leaves: `node(MTH(D[0..k]), MTH(D[k..n]))` where `k` is the
//!   largest power of two strictly below `n` ([`split_point`]).
//!
//! So the left subtree of every node is perfect (a power of two leaves, at
//! an offset that is a multiple of its width); only the right edge of a
//! tree whose size is not a power of two is ragged. A tree of `n` leaves is
//! the fold, right to left, of its *frontier*: one perfect subtree per set
//! bit of `n`, largest first.
//!
//! ```text
//!            root(6)
//!           /       \
//!        [0..4)    [4..6)        frontier of 6 = ([0..4), [4..6))
//!        /    \     /   \
//!     [0..2) [2..4) 4    5
//!      / \    / \
//!     0   1  2   3
//! ```
//!
//! # What is here
//!
//! * [`TreeHasher`]: the three hashes a tree needs. The crate has no hash
//!   function of its own: `tally-audit` implements it with SHA-256 and the
//!   RFC's `0x00`/`0x01` prefixes, `tally-reward` with keyed BLAKE3.
//! * [`Frontier`]: the incremental tree, `O(log n)` space, `push` in
//!   amortised one node hash, `root` in `O(log n)` hashes.
//! * [`ProofIndex`]: every perfect subtree hash (about two hashes per leaf),
//!   built once in `O(n)` node hashes; then a root, an inclusion proof
//!   (RFC 9162 §2.1.3.1) or a consistency proof (§2.1.4.1) of any tree size
//!   up to the indexed one costs `O(log n)` lookups and node hashes.
//! * [`verify_inclusion`] and [`verify_consistency`] (RFC 9162 §2.1.3.2,
//!   §2.1.4.2), bounded by [`MAX_PROOF_HASHES`], with typed errors
//!   ([`ProofError`], [`RangeError`]).
//!
//! `no_std` with `alloc` (the index and proofs are vectors; verification
//! does not allocate).
#![no_std]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

extern crate alloc;

mod error;
mod frontier;
mod index;
mod verify;

pub use error::{ProofError, RangeError};
pub use frontier::Frontier;
pub use index::ProofIndex;
pub use verify::{verify_consistency, verify_inclusion};

/// A tree hash: leaves, interior nodes and the empty root are 32 bytes.
pub type Hash = [u8; 32];

/// The most hashes a proof may carry: a tree of at most `2^64 - 1` leaves
/// needs at most 64 for an inclusion proof and 65 for a consistency proof;
/// the bound leaves one spare. Verification refuses longer proofs before
/// hashing anything.
pub const MAX_PROOF_HASHES: usize = 66;

/// The hashes of one kind of tree. Implementations must keep leaves, nodes
/// and the empty root domain-separated (no input of one is an input of
/// another), as RFC 9162's `0x00`/`0x01` prefixes do.
///
/// The methods take `&self` so that a keyed hasher derives its keys once;
/// trees hold their hasher and verification borrows one.
pub trait TreeHasher {
    /// The hash of a leaf with `data`.
    fn leaf(&self, data: &[u8]) -> Hash;
    /// The hash of an interior node with children `left` and `right`.
    fn node(&self, left: &Hash, right: &Hash) -> Hash;
    /// The root of the tree with no leaves.
    fn empty(&self) -> Hash;
}

/// The largest power of two strictly below `n`: where a tree of `n` leaves
/// splits into its left and right subtrees. `None` for `n < 2` (a tree of
/// zero or one leaf does not split).
#[must_use]
pub fn split_point(n: u64) -> Option<u64> {
    if n < 2 {
        return None;
    }
    // `n - 1 >= 1`, so the shift is at most 63.
    Some(1u64 << (63 - (n - 1).leading_zeros()))
}

/// Equality of two hashes that looks at every byte (no early exit). Tree
/// hashes are public values; this only keeps comparisons uniform.
fn same(a: &Hash, b: &Hash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!(split_point(0), None);
        assert_eq!(split_point(1), None);
        assert_eq!(split_point(2), Some(1));
        assert_eq!(split_point(3), Some(2));
        assert_eq!(split_point(4), Some(2));
        assert_eq!(split_point(5), Some(4));
        assert_eq!(split_point(1 << 63), Some(1 << 62));
        assert_eq!(split_point((1 << 63) + 1), Some(1 << 63));
        assert_eq!(split_point(u64::MAX), Some(1 << 63));
    }

    #[test]
    fn same_compares_every_byte() {
        let a = [7u8; 32];
        assert!(same(&a, &a));
        for i in 0..32 {
            let mut b = a;
            b[i] ^= 0x80;
            assert!(!same(&a, &b), "byte {i}");
        }
    }
}
