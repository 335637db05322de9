//! The proof index: every perfect subtree hash, built once, so that roots
//! and proofs of any tree size up to the indexed one take `O(log n)`.

use alloc::vec::Vec;

use crate::{Frontier, Hash, RangeError, TreeHasher, split_point};

/// All perfect-subtree hashes of a Merkle tree.
///
/// `levels[0]` holds the leaf hashes; `levels[l][i]` is the root of the
/// perfect subtree over leaves `i·2^l .. (i+1)·2^l`. Building it costs one
/// node hash per leaf (amortised); memory is about `2 × 32` bytes per leaf
/// (64 MB for a million leaves).
///
/// Every subtree of the RFC recursion is either perfect (one lookup) or
/// ends at the tree size: the ragged right edge, whose root folds the
/// frontier parts it covers (one node hash per part after the first). A
/// root folds the whole frontier; a proof needs at most one ragged sibling
/// (below it, the path runs through perfect subtrees). So a root, an
/// inclusion proof or a consistency proof costs `O(log n)` lookups and at
/// most `popcount(size) - 1` node hashes.
///
/// ```
/// use tally_merkle::{Hash, ProofIndex, TreeHasher, verify_inclusion};
///
/// // A toy hasher for the example; real ones are cryptographic.
/// #[derive(Clone, Default)]
/// struct Toy;
/// impl TreeHasher for Toy {
///     fn leaf(&self, data: &[u8]) -> Hash { [data.first().copied().unwrap_or(0); 32] }
///     fn node(&self, l: &Hash, r: &Hash) -> Hash { [l[0].wrapping_mul(3) ^ r[0]; 32] }
///     fn empty(&self) -> Hash { [0; 32] }
/// }
///
/// let mut index = ProofIndex::<Toy>::new();
/// for i in 0u8..10 {
///     index.push(Toy.leaf(&[i]));
/// }
/// let proof = index.inclusion_proof(3, 10)?;
/// verify_inclusion(&Toy, &Toy.leaf(&[3]), 3, 10, &proof, &index.root(10)?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProofIndex<H> {
    hasher: H,
    levels: Vec<Vec<Hash>>,
}

impl<H: TreeHasher + Default> ProofIndex<H> {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::with_hasher(H::default())
    }
}

impl<H: TreeHasher> ProofIndex<H> {
    /// An empty index hashed by `hasher`.
    #[must_use]
    pub fn with_hasher(hasher: H) -> Self {
        Self {
            hasher,
            levels: Vec::new(),
        }
    }

    /// The index of the leaf hashes `leaves`, in order (room for all of
    /// them reserved up front when the iterator knows its length).
    #[must_use]
    pub fn from_leaves(hasher: H, leaves: impl IntoIterator<Item = Hash>) -> Self {
        let leaves = leaves.into_iter();
        let mut index = Self::with_hasher(hasher);
        let mut width = leaves.size_hint().0;
        while width > 0 {
            let mut row = Vec::new();
            row.reserve_exact(width);
            index.levels.push(row);
            width >>= 1;
        }
        for leaf in leaves {
            index.push(leaf);
        }
        index
    }

    /// The hasher.
    #[must_use]
    pub fn hasher(&self) -> &H {
        &self.hasher
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash, completing every perfect subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(node);
            if row.len() % 2 == 1 {
                return;
            }
            let (Some(right), Some(left)) = (
                row.last(),
                row.len().checked_sub(2).and_then(|i| row.get(i)),
            ) else {
                return;
            };
            node = self.hasher.node(left, right);
            level += 1;
        }
    }

    /// The leaf hash at `index`.
    #[must_use]
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// The compact frontier of the tree of the first `size` leaves.
    ///
    /// # Errors
    /// [`RangeError::SizeExceedsIndex`] when `size` exceeds the index.
    pub fn frontier(&self, size: u64) -> Result<Frontier<H>, RangeError>
    where
        H: Clone,
    {
        self.check_size(size)?;
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        for (start, level) in perfect_parts(size) {
            nodes.push(self.perfect(start, level)?);
        }
        Frontier::from_parts_with(self.hasher.clone(), size, nodes).ok_or(RangeError::MissingNode)
    }

    /// The root of the tree of the first `size` leaves.
    ///
    /// # Errors
    /// [`RangeError::SizeExceedsIndex`] when `size` exceeds the index.
    pub fn root(&self, size: u64) -> Result<Hash, RangeError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(self.hasher.empty());
        }
        self.ragged(0, size)
    }

    /// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree
    /// of the first `size` leaves: sibling hashes from the leaf up.
    ///
    /// # Errors
    /// [`RangeError::SizeExceedsIndex`] or
    /// [`RangeError::IndexNotBelowSize`] unless `index < size <= self.size()`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, RangeError> {
        self.check_size(size)?;
        if index >= size {
            return Err(RangeError::IndexNotBelowSize);
        }
        // PATH(m, D[lo..hi]) descends towards leaf m; each step records the
        // sibling subtree, so the path comes out root first.
        let mut proof = Vec::with_capacity(64);
        let (mut lo, mut hi) = (0, size);
        while let Some(k) = split_point(hi - lo) {
            let mid = lo + k;
            if index < mid {
                proof.push(self.subtree(mid, hi, size)?);
                hi = mid;
            } else {
                proof.push(self.subtree(lo, mid, size)?);
                lo = mid;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// The consistency proof (RFC 9162 §2.1.4.1) from the tree of the first
    /// `old` leaves to the tree of the first `new` leaves. Empty when `old`
    /// is 0 or equal to `new`.
    ///
    /// # Errors
    /// [`RangeError::SizeExceedsIndex`] or [`RangeError::OldLargerThanNew`]
    /// unless `old <= new <= self.size()`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, RangeError> {
        self.check_size(new)?;
        if old > new {
            return Err(RangeError::OldLargerThanNew);
        }
        let mut proof = Vec::with_capacity(64);
        if old == 0 || old == new {
            return Ok(proof);
        }
        // SUBPROOF(m, D[lo..hi], whole): `whole` while D[lo..hi] starts at
        // leaf 0, whose old root the verifier already holds. Each step
        // records the subtree the old tree does not decide, so the proof
        // comes out root first.
        let (mut lo, mut hi, mut whole) = (0, new, true);
        loop {
            if old == hi {
                if !whole {
                    proof.push(self.subtree(lo, hi, new)?);
                }
                break;
            }
            let Some(k) = split_point(hi - lo) else {
                // `lo < old < hi` and `hi - lo >= 2` hold at every step.
                return Err(RangeError::MissingNode);
            };
            let mid = lo + k;
            if old <= mid {
                proof.push(self.subtree(mid, hi, new)?);
                hi = mid;
            } else {
                proof.push(self.subtree(lo, mid, new)?);
                lo = mid;
                whole = false;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), RangeError> {
        if size > self.size() {
            return Err(RangeError::SizeExceedsIndex);
        }
        Ok(())
    }

    /// MTH of leaves `lo..hi` for a subtree the RFC recursion of the tree of
    /// `size` leaves reaches: perfect and aligned (a lookup), or ending at
    /// `size` (a fold of the frontier parts it covers).
    fn subtree(&self, lo: u64, hi: u64, size: u64) -> Result<Hash, RangeError> {
        let width = hi.checked_sub(lo).ok_or(RangeError::MissingNode)?;
        if width.is_power_of_two() && lo.is_multiple_of(width) {
            return self.perfect(lo, width.trailing_zeros());
        }
        if hi != size {
            return Err(RangeError::MissingNode);
        }
        self.ragged(lo, size)
    }

    /// The root of leaves `lo..size` where `lo` starts a frontier part of
    /// `size` (0 for the whole tree): its parts, the set bits of
    /// `size - lo`, folded right to left.
    fn ragged(&self, lo: u64, size: u64) -> Result<Hash, RangeError> {
        let rest = size.checked_sub(lo).ok_or(RangeError::MissingNode)?;
        let top = rest.checked_ilog2().ok_or(RangeError::MissingNode)?;
        // `lo` starts a part: the leaves after it are the low bits of `size`.
        // `top <= 63`: the mask keeps bits `0..=top`.
        if size & (u64::MAX >> (63 - top)) != rest {
            return Err(RangeError::MissingNode);
        }
        let (mut bits, mut end) = (rest, size);
        let mut acc: Option<Hash> = None;
        while bits != 0 {
            let level = bits.trailing_zeros();
            let start = end - (1u64 << level);
            let part = self.perfect(start, level)?;
            acc = Some(match acc {
                None => part,
                Some(right) => self.hasher.node(&part, &right),
            });
            bits &= bits - 1;
            end = start;
        }
        acc.ok_or(RangeError::MissingNode)
    }

    /// The perfect subtree of `2^level` leaves starting at `start`.
    fn perfect(&self, start: u64, level: u32) -> Result<Hash, RangeError> {
        let row = self
            .levels
            .get(level as usize)
            .ok_or(RangeError::MissingNode)?;
        let i = usize::try_from(start >> level).map_err(|_| RangeError::MissingNode)?;
        row.get(i).copied().ok_or(RangeError::MissingNode)
    }
}

/// The perfect subtrees of the frontier of `size`, left to right, as
/// `(start, level)`: one per set bit, largest first.
fn perfect_parts(size: u64) -> impl Iterator<Item = (u64, u32)> {
    (0..u64::BITS)
        .rev()
        .filter_map(move |level| Some((part_start(size, level)?, level)))
}

/// Where the perfect part of `2^level` leaves of the frontier of `size`
/// starts (the set bits of `size` above `level`); `None` when that bit of
/// `size` is clear.
fn part_start(size: u64, level: u32) -> Option<u64> {
    let width = 1u64.checked_shl(level)?;
    (size & width != 0).then(|| size & !(width | (width - 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums: a node is `left + 2 × right` of the first byte, a leaf its byte.
    #[derive(Clone, Default)]
    struct Sum;
    impl TreeHasher for Sum {
        fn leaf(&self, data: &[u8]) -> Hash {
            [data[0]; 32]
        }
        fn node(&self, l: &Hash, r: &Hash) -> Hash {
            [l[0].wrapping_add(r[0].wrapping_mul(2)); 32]
        }
        fn empty(&self) -> Hash {
            [0; 32]
        }
    }

    #[test]
    fn ragged_subtrees_start_only_where_a_frontier_part_starts() {
        let index = ProofIndex::from_leaves(Sum, (1u8..=6).map(|i| Sum.leaf(&[i])));
        // 6 = 4 + 2: parts 0..4 and 4..6.
        let left = Sum.node(&Sum.node(&[1; 32], &[2; 32]), &Sum.node(&[3; 32], &[4; 32]));
        let right = Sum.node(&[5; 32], &[6; 32]);
        assert_eq!(index.ragged(0, 6), Ok(Sum.node(&left, &right)));
        assert_eq!(index.ragged(4, 6), Ok(right));
        for lo in [1, 2, 3, 5, 6, 7] {
            assert_eq!(index.ragged(lo, 6), Err(RangeError::MissingNode), "{lo}");
        }
        assert_eq!(index.subtree(2, 4, 6), Ok(Sum.node(&[3; 32], &[4; 32])));
        assert_eq!(index.subtree(1, 3, 6), Err(RangeError::MissingNode));
        assert_eq!(index.subtree(3, 6, 6), Err(RangeError::MissingNode));
    }
}
