//! Proof verification, RFC 9162 §2.1.3.2 and §2.1.4.2, step by step.
//!
//! Both walk the path from the bottom with `fn` (the position of the node
//! being rebuilt) and `sn` (the last position on its level): a node with
//! `LSB(fn)` set, or the last node of a level (`fn == sn`), is a right
//! child or the end of a ragged level, so the proof hash goes on its left;
//! otherwise on its right. A last node that is a left child has no sibling
//! on its level: both counters shift up until it is a right child.

use crate::{Hash, MAX_PROOF_HASHES, ProofError, TreeHasher, same};

/// Checks an inclusion proof: that the leaf hash `leaf` is leaf `index` of
/// the tree of `size` leaves with root `root`, given `proof`, the sibling
/// hashes from the leaf up (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError::IndexNotBelowSize`], [`ProofError::TooManyHashes`] (more
/// than [`MAX_PROOF_HASHES`], refused before hashing),
/// [`ProofError::TooLong`], [`ProofError::TooShort`] or
/// [`ProofError::NotToRoot`].
pub fn verify_inclusion<H: TreeHasher + ?Sized>(
    hasher: &H,
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // 1. The leaf must be in the tree.
    if index >= size {
        return Err(ProofError::IndexNotBelowSize);
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooManyHashes);
    }
    // 2., 3., 4., 5.: the walk, then `sn` must be 0.
    let (_, r) = walk(hasher, index, size - 1, *leaf, proof, false)?;
    if !same(&r, root) {
        return Err(ProofError::NotToRoot);
    }
    Ok(())
}

/// Checks a consistency proof: that the tree of `old_size` leaves with root
/// `old_root` is a prefix of the tree of `new_size` leaves with root
/// `new_root` (RFC 9162 §2.1.4.2 for `0 < old_size < new_size`).
///
/// Outside the RFC's range: equal sizes need an empty proof and equal
/// roots, and any tree extends the empty tree (empty proof).
///
/// # Errors
/// [`ProofError::OldLargerThanNew`], [`ProofError::TooManyHashes`] (more
/// than [`MAX_PROOF_HASHES`], refused before hashing),
/// [`ProofError::EqualSizes`], [`ProofError::FromEmpty`],
/// [`ProofError::Empty`], [`ProofError::TooLong`],
/// [`ProofError::TooShort`] or [`ProofError::NotToRoots`].
pub fn verify_consistency<H: TreeHasher + ?Sized>(
    hasher: &H,
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldLargerThanNew);
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooManyHashes);
    }
    if old_size == new_size {
        return if proof.is_empty() && same(old_root, new_root) {
            Ok(())
        } else {
            Err(ProofError::EqualSizes)
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::FromEmpty)
        };
    }
    // 1.
    let Some((head, tail)) = proof.split_first() else {
        return Err(ProofError::Empty);
    };
    // 2. A perfect old tree is itself a node of the new one: its root is
    // the first hash of the path (the proof leaves it out).
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (head, tail)
    };
    // 3.
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    // 4. Up to the old tree's last complete left-edge node.
    while odd(fnode) {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5., 6., 7.: the walk, then `sn` must be 0.
    let (fr, sr) = walk(hasher, fnode, snode, *first, rest, true)?;
    if !same(&fr, old_root) || !same(&sr, new_root) {
        return Err(ProofError::NotToRoots);
    }
    Ok(())
}

/// The walk both verifiers share (RFC 9162 §2.1.3.2 step 4, §2.1.4.2
/// step 6): from `seed` at position `fnode` of a level whose last position
/// is `snode`, one proof hash per step up. Returns the rebuilt root (`sr`;
/// `r` of an inclusion proof) and, when `old` is set, the root of the old
/// tree (`fr`, which takes only the hashes to its left). Fails unless the
/// path ends exactly at the root (`sn` reaches 0 with the last hash).
fn walk<H: TreeHasher + ?Sized>(
    hasher: &H,
    mut fnode: u64,
    mut snode: u64,
    seed: Hash,
    path: &[Hash],
    old: bool,
) -> Result<(Hash, Hash), ProofError> {
    let (mut fr, mut sr) = (seed, seed);
    for c in path {
        // Past the root.
        if snode == 0 {
            return Err(ProofError::TooLong);
        }
        if odd(fnode) || fnode == snode {
            if old {
                fr = hasher.node(c, &fr);
            }
            sr = hasher.node(c, &sr);
            // A last node that is a left child: up to where it is a right
            // child (or the left edge).
            while !odd(fnode) && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = hasher.node(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::TooShort);
    }
    Ok((fr, sr))
}

/// `LSB(n)` is set.
fn odd(n: u64) -> bool {
    n & 1 == 1
}
