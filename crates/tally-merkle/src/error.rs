//! Typed errors: one enum for proofs that do not verify, one for requests
//! an index cannot answer.

use core::fmt;

/// Why a proof does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    IndexNotBelowSize,
    /// The old tree is larger than the new one.
    OldLargerThanNew,
    /// More than [`MAX_PROOF_HASHES`](crate::MAX_PROOF_HASHES) hashes.
    TooManyHashes,
    /// A consistency proof between two different non-empty sizes is empty.
    Empty,
    /// Equal sizes need an empty proof and equal roots.
    EqualSizes,
    /// A proof from the empty tree is not empty.
    FromEmpty,
    /// More hashes than the path from the leaf (or old tree) to the root.
    TooLong,
    /// Fewer hashes than the path from the leaf (or old tree) to the root.
    TooShort,
    /// The inclusion proof leads to another root.
    NotToRoot,
    /// The consistency proof leads to another old or new root.
    NotToRoots,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::IndexNotBelowSize => "leaf index is not below the tree size",
            Self::OldLargerThanNew => "old size is larger than new size",
            Self::TooManyHashes => "too many hashes",
            Self::Empty => "empty proof",
            Self::EqualSizes => "equal sizes need an empty proof and equal roots",
            Self::FromEmpty => "a proof from the empty tree is empty",
            Self::TooLong => "proof is too long",
            Self::TooShort => "proof is too short",
            Self::NotToRoot => "proof does not lead to the root",
            Self::NotToRoots => "proof does not lead to the roots",
        })
    }
}

impl core::error::Error for ProofError {}

/// Why an index cannot answer a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeError {
    /// The tree size asked for exceeds the indexed leaves.
    SizeExceedsIndex,
    /// The leaf index is not below the tree size.
    IndexNotBelowSize,
    /// The old tree is larger than the new one.
    OldLargerThanNew,
    /// A subtree the request needs is not in the index (an index built by
    /// [`ProofIndex::push`](crate::ProofIndex::push) always has it).
    MissingNode,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SizeExceedsIndex => "tree size exceeds the indexed leaves",
            Self::IndexNotBelowSize => "leaf index is not below the tree size",
            Self::OldLargerThanNew => "old size is larger than new size",
            Self::MissingNode => "a subtree is missing from the index",
        })
    }
}

impl core::error::Error for RangeError {}
