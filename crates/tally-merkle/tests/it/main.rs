//! Integration tests of `tally-merkle`: one test binary, modules by concern.
//! The hasher is tally-audit's RFC 9162 SHA-256 one, the hash of the RFC
//! 6962 reference vectors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod properties;
mod rfc6962;

use tally_audit::merkle::Sha256Tree;
use tally_merkle::{Hash, ProofIndex, TreeHasher};

/// The index of `n` distinct leaves, and the leaves.
pub fn tree(n: u64) -> (ProofIndex<Sha256Tree>, Vec<Hash>) {
    let leaves: Vec<Hash> = (0..n).map(|i| Sha256Tree.leaf(&i.to_be_bytes())).collect();
    let mut index = ProofIndex::new();
    for leaf in &leaves {
        index.push(*leaf);
    }
    (index, leaves)
}
