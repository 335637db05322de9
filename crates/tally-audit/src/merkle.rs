//! The log's Merkle tree: RFC 6962 / RFC 9162 over SHA-256.
//!
//! A leaf hashes as `SHA-256(0x00 ‖ data)`, an interior node as
//! `SHA-256(0x01 ‖ left ‖ right)`, the empty tree as `SHA-256("")`; a tree
//! of `n` leaves splits at the largest power of two below `n`. The leaf data
//! of record `i` is its 32-byte record digest (FORMAT.md).
//!
//! The tree algorithms (frontier, proof index, proof verification) live in
//! `tally-merkle`; this module is the log's hasher, [`Sha256Tree`], and the
//! functions over it that keep this crate's error type.

use sha2::{Digest, Sha256};
use tally_merkle::TreeHasher;

use crate::error::{AuditError, Result};
use crate::record::Hash;

pub use tally_merkle::MAX_PROOF_HASHES;

/// The RFC 9162 tree hasher over SHA-256: the hash of the log's Merkle
/// tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sha256Tree;

impl TreeHasher for Sha256Tree {
    fn leaf(&self, data: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(data);
        h.finalize().into()
    }

    fn node(&self, left: &Hash, right: &Hash) -> Hash {
        let mut buf = [0u8; 65];
        buf[0] = 0x01;
        let (l, r) = buf.split_at_mut(33);
        if let Some(dst) = l.get_mut(1..) {
            dst.copy_from_slice(left);
        }
        r.copy_from_slice(right);
        Sha256::digest(buf).into()
    }

    fn empty(&self) -> Hash {
        Sha256::digest([]).into()
    }
}

/// The compact frontier of the log's tree (see [`tally_merkle::Frontier`]).
pub type Frontier = tally_merkle::Frontier<Sha256Tree>;

/// `SHA-256(0x00 ‖ data)`.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256Tree.leaf(data)
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256Tree.node(left, right)
}

/// The root of the empty tree, `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256Tree.empty()
}

fn invalid_proof(e: tally_merkle::ProofError) -> AuditError {
    AuditError::invalid("proof", e.to_string())
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2) of the leaf hash `leaf` at
/// `index` in the tree of `size` leaves with root `root`.
///
/// # Errors
/// [`AuditError::Invalid`] when the proof does not lead to `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    tally_merkle::verify_inclusion(&Sha256Tree, leaf, index, size, proof, root)
        .map_err(invalid_proof)
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2) that the tree of size
/// `old_size` with root `old_root` is a prefix of the tree of size
/// `new_size` with root `new_root`.
///
/// # Errors
/// [`AuditError::Invalid`] when the proof does not verify.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    tally_merkle::verify_consistency(&Sha256Tree, old_size, new_size, old_root, new_root, proof)
        .map_err(invalid_proof)
}
