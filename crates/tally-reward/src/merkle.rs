//! A Merkle tree over payouts, so that a payee can be given a proof of its
//! own payout against the manifest's root.
//!
//! The shape is RFC 6962's (the left subtree holds the largest power of two
//! below `n` leaves), with BLAKE3 keyed hashes in place of its prefixes:
//!
//! * leaf = `keyed_hash(K_leaf, u64le(len(account)) ‖ account ‖ u64le(amount))`
//! * node = `keyed_hash(K_node, left ‖ right)`
//! * the root of no payouts is `keyed_hash(K_empty, "")`
//!
//! with `K_x = derive_key("tally/reward/merkle/<x>/v1", "")`, so leaves,
//! nodes and the empty root never share an input.
//!
//! The tree algorithms (root, proof index, RFC 9162 verification) live in
//! `tally-merkle`; this module is the payout hasher, [`PayoutHasher`], and
//! the payout tree over it. [`PayoutTree`] indexes a manifest's payouts
//! once (`O(n)`); each proof from it then costs `O(log n)`.

use tally_merkle::{Frontier, ProofIndex, TreeHasher};

use crate::Error;
use crate::compute::Payout;

/// A 32-byte tree hash.
pub type Hash = tally_merkle::Hash;

/// The payout tree's hasher: keyed BLAKE3 with the three keys derived once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutHasher {
    leaf: [u8; 32],
    node: [u8; 32],
    empty: [u8; 32],
}

impl PayoutHasher {
    /// The hasher, its keys derived from their contexts.
    #[must_use]
    pub fn new() -> Self {
        let key = |context: &str| blake3::derive_key(context, b"");
        Self {
            leaf: key("tally/reward/merkle/leaf/v1"),
            node: key("tally/reward/merkle/node/v1"),
            empty: key("tally/reward/merkle/empty/v1"),
        }
    }

    /// The leaf hash of a payout.
    #[must_use]
    pub fn payout(&self, payout: &Payout) -> Hash {
        let account = payout.account.as_str().as_bytes();
        // One contiguous input (account ids are at most 128 bytes), hashed in
        // one call: cheaper than an incremental hasher per leaf.
        let mut data = Vec::with_capacity(account.len() + 16);
        tally_encoding::framing::length_prefixed(account, |b| data.extend_from_slice(b));
        data.extend_from_slice(&payout.amount.to_le_bytes());
        self.leaf(&data)
    }
}

impl Default for PayoutHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl TreeHasher for PayoutHasher {
    fn leaf(&self, data: &[u8]) -> Hash {
        *blake3::keyed_hash(&self.leaf, data).as_bytes()
    }

    fn node(&self, left: &Hash, right: &Hash) -> Hash {
        let mut data = [0u8; 64];
        let (l, r) = data.split_at_mut(32);
        l.copy_from_slice(left);
        r.copy_from_slice(right);
        *blake3::keyed_hash(&self.node, &data).as_bytes()
    }

    fn empty(&self) -> Hash {
        *blake3::keyed_hash(&self.empty, b"").as_bytes()
    }
}

/// The leaf hash of a payout.
#[must_use]
pub fn leaf(payout: &Payout) -> Hash {
    PayoutHasher::new().payout(payout)
}

/// The node hash of two children.
#[must_use]
pub fn node(left: &Hash, right: &Hash) -> Hash {
    PayoutHasher::new().node(left, right)
}

/// The root of no payouts.
#[must_use]
pub fn empty_root() -> Hash {
    PayoutHasher::new().empty()
}

/// The Merkle root of the payouts, in their order (`O(n)` hashes,
/// `O(log n)` memory).
#[must_use]
pub fn root(payouts: &[Payout]) -> Hash {
    let hasher = PayoutHasher::new();
    let mut tree = Frontier::with_hasher(hasher.clone());
    for p in payouts {
        tree.push(hasher.payout(p));
    }
    tree.root()
}

/// The payout tree of one payout list, indexed once so that every proof
/// from it costs `O(log n)`.
#[derive(Clone, Debug)]
pub struct PayoutTree {
    index: ProofIndex<PayoutHasher>,
}

impl PayoutTree {
    /// Indexes `payouts`, in their order (`O(n)` hashes, about `2 × 32`
    /// bytes per payout).
    #[must_use]
    pub fn new(payouts: &[Payout]) -> Self {
        let hasher = PayoutHasher::new();
        let leaves: Vec<Hash> = payouts.iter().map(|p| hasher.payout(p)).collect();
        Self {
            index: ProofIndex::from_leaves(hasher, leaves),
        }
    }

    /// The number of payouts.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.index.size()
    }

    /// The audit path of payout `index` (siblings from the leaf up).
    ///
    /// # Errors
    /// [`Error::BadProof`] when `index` is out of range.
    pub fn path(&self, index: usize) -> Result<Vec<Hash>, Error> {
        let index = u64::try_from(index).map_err(|_| Error::BadProof)?;
        self.index
            .inclusion_proof(index, self.index.size())
            .map_err(|_| Error::BadProof)
    }
}

/// The audit path of leaf `index` among `payouts` (siblings from the leaf
/// up). Indexes the payouts for this one proof: for several, build a
/// [`PayoutTree`] once.
///
/// # Errors
/// [`Error::BadProof`] when `index` is out of range.
pub fn path(payouts: &[Payout], index: usize) -> Result<Vec<Hash>, Error> {
    if index >= payouts.len() {
        return Err(Error::BadProof);
    }
    PayoutTree::new(payouts).path(index)
}

/// Recomputes the root from a leaf, its index, the tree size and its path
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`Error::BadProof`] when the path has the wrong length for `index` in a
/// tree of `size`, or the root differs.
pub fn verify(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> Result<(), Error> {
    tally_merkle::verify_inclusion(&PayoutHasher::new(), leaf, index, size, path, root)
        .map_err(|_| Error::BadProof)
}
