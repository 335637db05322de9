//! RFC 6962 / RFC 9162 Merkle trees: hashing, the compact frontier, proofs.
//!
//! A leaf hashes as `SHA-256(0x00 ‖ data)`, an interior node as
//! `SHA-256(0x01 ‖ left ‖ right)`, the empty tree as `SHA-256("")`; a tree
//! of `n` leaves splits at the largest power of two below `n`. The leaf data
//! of record `i` is its 32-byte record digest (FORMAT.md).

use sha2::{Digest, Sha256};

use crate::error::{AuditError, Result};
use crate::record::Hash;

/// The most hashes a proof may carry (a tree of `2^64` leaves needs 64 for an
/// inclusion proof and 65 for a consistency proof).
pub const MAX_PROOF_HASHES: usize = 66;

/// `SHA-256(0x00 ‖ data)`.
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    let (l, r) = buf.split_at_mut(33);
    if let Some(dst) = l.get_mut(1..) {
        dst.copy_from_slice(left);
    }
    r.copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// The root of the empty tree, `SHA-256("")`.
#[must_use]
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The compact frontier of a tree: the roots of its maximal perfect subtrees,
/// left to right (one per set bit of the size). `O(log n)` space; appending a
/// leaf costs amortised one node hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A frontier from its parts; `None` unless there is exactly one node per
    /// set bit of `size`.
    #[must_use]
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Self> {
        (nodes.len() == size.count_ones() as usize).then_some(Self { size, nodes })
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, left to right.
    #[must_use]
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            match self.nodes.pop() {
                Some(left) => node = node_hash(&left, &node),
                None => break,
            }
            n >>= 1;
        }
        self.nodes.push(node);
        self.size = self.size.saturating_add(1);
    }

    /// The tree's root hash.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

fn lsb(n: u64) -> bool {
    n & 1 == 1
}

fn invalid_proof(why: &str) -> AuditError {
    AuditError::invalid("proof", why)
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
    if index >= size {
        return Err(invalid_proof("leaf index is not below the tree size"));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(invalid_proof("too many hashes"));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(invalid_proof("proof is too long"));
        }
        if lsb(f) || f == s {
            r = node_hash(p, &r);
            while !lsb(f) && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(invalid_proof("proof is too short"));
    }
    if !crate::ct_eq(&r, root) {
        return Err(invalid_proof("proof does not lead to the root"));
    }
    Ok(())
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
    if old_size > new_size {
        return Err(invalid_proof("old size is larger than new size"));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(invalid_proof("too many hashes"));
    }
    if old_size == new_size {
        return if proof.is_empty() && crate::ct_eq(old_root, new_root) {
            Ok(())
        } else {
            Err(invalid_proof(
                "equal sizes need an empty proof and equal roots",
            ))
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(invalid_proof("a proof from the empty tree is empty"))
        };
    }
    let mut hashes = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        hashes.push(*old_root);
    }
    hashes.extend_from_slice(proof);
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while lsb(f) {
        f >>= 1;
        s >>= 1;
    }
    let mut it = hashes.iter();
    let first = it.next().ok_or_else(|| invalid_proof("empty proof"))?;
    let (mut fr, mut sr) = (*first, *first);
    for c in it {
        if s == 0 {
            return Err(invalid_proof("proof is too long"));
        }
        if lsb(f) || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while !lsb(f) && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(invalid_proof("proof is too short"));
    }
    if !crate::ct_eq(&fr, old_root) || !crate::ct_eq(&sr, new_root) {
        return Err(invalid_proof("proof does not lead to the roots"));
    }
    Ok(())
}

/// The largest power of two strictly below `n` (for `n >= 2`).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_matches_recursive_definition() {
        fn mth(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => empty_root(),
                1 => leaves[0],
                n => {
                    let k = split_point(n as u64) as usize;
                    node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
                }
            }
        }
        let leaves: Vec<Hash> = (0u8..40).map(|i| leaf_hash(&[i])).collect();
        let mut f = Frontier::new();
        assert_eq!(f.root(), mth(&[]));
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), mth(&leaves[..=i]), "size {}", i + 1);
            assert_eq!(f.nodes().len(), (i + 1).count_ones() as usize);
        }
    }

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
