//! An in-memory proof index: every perfect subtree hash, so that inclusion
//! and consistency proofs take `O(log n)` lookups (plus `O(log² n)` node
//! hashes on the ragged right edge of a tree whose size is not a power of
//! two).

use crate::error::{AuditError, Result};
use crate::merkle::{Frontier, empty_root, node_hash, split_point};
use crate::record::Hash;

/// All perfect-subtree hashes of a Merkle tree over record digests.
///
/// `levels[0]` holds the leaf hashes; `levels[l][i]` is the root of the
/// perfect subtree over leaves `i·2^l .. (i+1)·2^l`. Memory: about `2 × 32`
/// bytes per leaf (64 MB for a million records).
///
/// ```
/// use tally_audit::{ProofIndex, merkle::{leaf_hash, verify_inclusion}};
/// let mut index = ProofIndex::new();
/// for i in 0u8..10 {
///     index.push(leaf_hash(&[i]));
/// }
/// let proof = index.inclusion_proof(3, 10)?;
/// verify_inclusion(&leaf_hash(&[3]), 3, 10, &proof, &index.root(10)?)?;
/// # Ok::<(), tally_audit::AuditError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProofIndex {
    levels: Vec<Vec<Hash>>,
}

impl ProofIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the index of the log read from `src` in one verified pass.
    ///
    /// # Errors
    /// Any verification error of the log.
    pub fn from_log<R: std::io::Read + Send>(
        src: R,
        opts: &crate::VerifyOptions,
    ) -> Result<(Self, crate::VerifySummary)> {
        let mut index = Self::new();
        let summary = crate::reader::visit_verified(src, opts, |rec| {
            index.push(crate::merkle::leaf_hash(&rec.digest));
            Ok(())
        })?;
        Ok((index, summary))
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
            node = node_hash(left, right);
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

    /// The compact frontier of the tree of `size` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] when `size` exceeds the index.
    pub fn frontier(&self, size: u64) -> Result<Frontier> {
        self.check_size(size)?;
        let mut nodes = Vec::new();
        let mut start = 0u64;
        for bit in (0..64).rev() {
            let width = 1u64 << bit;
            if size & width != 0 {
                nodes.push(self.perfect(start, bit)?);
                start += width;
            }
        }
        Frontier::from_parts(size, nodes).ok_or_else(|| out_of_range("frontier"))
    }

    /// The root of the tree of the first `size` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] when `size` exceeds the index.
    pub fn root(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(empty_root());
        }
        self.subtree(0, size)
    }

    /// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree
    /// of the first `size` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] unless `index < size <= self.size()`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        if index >= size {
            return Err(out_of_range("leaf index is not below the tree size"));
        }
        let mut proof = Vec::with_capacity(64);
        self.path(index, 0, size, &mut proof)?;
        Ok(proof)
    }

    /// The consistency proof (RFC 9162 §2.1.4.1) from the tree of `old` leaves
    /// to the tree of `new` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] unless `old <= new <= self.size()`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.check_size(new)?;
        if old > new {
            return Err(out_of_range("old size is larger than new size"));
        }
        let mut proof = Vec::with_capacity(64);
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof)?;
        }
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<()> {
        if size > self.size() {
            return Err(out_of_range("tree size exceeds the indexed records"));
        }
        Ok(())
    }

    /// The perfect subtree of `2^level` leaves starting at `start`.
    fn perfect(&self, start: u64, level: u32) -> Result<Hash> {
        let row = self
            .levels
            .get(level as usize)
            .ok_or_else(|| out_of_range("level"))?;
        let i = usize::try_from(start >> level).map_err(|_| out_of_range("index"))?;
        row.get(i).copied().ok_or_else(|| out_of_range("node"))
    }

    /// MTH over leaves `lo..hi` (`hi > lo`), as the RFC recursion reaches it.
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.perfect(lo, n.trailing_zeros());
        }
        let k = split_point(n);
        Ok(node_hash(
            &self.subtree(lo, lo + k)?,
            &self.subtree(lo + k, hi)?,
        ))
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<()> {
        let n = hi - lo;
        if n <= 1 {
            return Ok(());
        }
        let k = split_point(n);
        if m - lo < k {
            self.path(m, lo, lo + k, out)?;
            out.push(self.subtree(lo + k, hi)?);
        } else {
            self.path(m, lo + k, hi, out)?;
            out.push(self.subtree(lo, lo + k)?);
        }
        Ok(())
    }

    fn subproof(&self, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Hash>) -> Result<()> {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.subtree(lo, hi)?);
            }
            return Ok(());
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out)?;
            out.push(self.subtree(lo + k, hi)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, out)?;
            out.push(self.subtree(lo, lo + k)?);
        }
        Ok(())
    }
}

fn out_of_range(what: &str) -> AuditError {
    AuditError::OutOfRange {
        what: what.to_owned(),
    }
}
