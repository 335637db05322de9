//! The log's proof index: every perfect subtree hash of its Merkle tree
//! (see [`tally_merkle::ProofIndex`]), so that inclusion and consistency
//! proofs take `O(log n)` after one `O(n)` pass over the log.

use crate::error::{AuditError, Result};
use crate::merkle::{Frontier, Sha256Tree};
use crate::record::Hash;

/// All perfect-subtree hashes of a Merkle tree over record digests.
///
/// Memory: about `2 × 32` bytes per leaf (64 MB for a million records).
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
    tree: tally_merkle::ProofIndex<Sha256Tree>,
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
        self.tree.size()
    }

    /// Appends a leaf hash, completing every perfect subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.tree.push(leaf);
    }

    /// The leaf hash at `index`.
    #[must_use]
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.tree.leaf(index)
    }

    /// The compact frontier of the tree of `size` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] when `size` exceeds the index.
    pub fn frontier(&self, size: u64) -> Result<Frontier> {
        self.tree.frontier(size).map_err(out_of_range)
    }

    /// The root of the tree of the first `size` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] when `size` exceeds the index.
    pub fn root(&self, size: u64) -> Result<Hash> {
        self.tree.root(size).map_err(out_of_range)
    }

    /// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree
    /// of the first `size` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] unless `index < size <= self.size()`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.tree.inclusion_proof(index, size).map_err(out_of_range)
    }

    /// The consistency proof (RFC 9162 §2.1.4.1) from the tree of `old` leaves
    /// to the tree of `new` leaves.
    ///
    /// # Errors
    /// [`AuditError::OutOfRange`] unless `old <= new <= self.size()`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.tree.consistency_proof(old, new).map_err(out_of_range)
    }
}

fn out_of_range(e: tally_merkle::RangeError) -> AuditError {
    AuditError::OutOfRange {
        what: e.to_string(),
    }
}
