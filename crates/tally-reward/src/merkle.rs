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

use crate::Error;
use crate::compute::Payout;

fn key(context: &str) -> [u8; 32] {
    blake3::derive_key(context, b"")
}

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

/// The leaf hash of a payout.
#[must_use]
pub fn leaf(payout: &Payout) -> Hash {
    leaf_with(&key("tally/reward/merkle/leaf/v1"), payout)
}

fn leaf_with(k: &[u8; 32], payout: &Payout) -> Hash {
    let account = payout.account.as_str().as_bytes();
    // One contiguous input (account ids are at most 128 bytes), hashed in
    // one call: cheaper than an incremental hasher per leaf.
    let mut data = Vec::with_capacity(account.len() + 16);
    data.extend_from_slice(&(account.len() as u64).to_le_bytes());
    data.extend_from_slice(account);
    data.extend_from_slice(&payout.amount.to_le_bytes());
    *blake3::keyed_hash(k, &data).as_bytes()
}

fn node_with(k: &[u8; 32], left: &Hash, right: &Hash) -> Hash {
    let mut data = [0u8; 64];
    let (l, r) = data.split_at_mut(32);
    l.copy_from_slice(left);
    r.copy_from_slice(right);
    *blake3::keyed_hash(k, &data).as_bytes()
}

/// The node hash of two children.
#[must_use]
pub fn node(left: &Hash, right: &Hash) -> Hash {
    node_with(&key("tally/reward/merkle/node/v1"), left, right)
}

/// The root of no payouts.
#[must_use]
pub fn empty_root() -> Hash {
    *blake3::keyed_hash(&key("tally/reward/merkle/empty/v1"), b"").as_bytes()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: usize) -> usize {
    let mut k: usize = 1;
    while k.saturating_mul(2) < n {
        k *= 2;
    }
    k
}

/// The Merkle root of the payouts, in their order.
#[must_use]
pub fn root(payouts: &[Payout]) -> Hash {
    if payouts.is_empty() {
        return empty_root();
    }
    let lk = key("tally/reward/merkle/leaf/v1");
    let nk = key("tally/reward/merkle/node/v1");
    let leaves: Vec<Hash> = payouts.iter().map(|p| leaf_with(&lk, p)).collect();
    subtree(&nk, &leaves)
}

fn subtree(nk: &[u8; 32], leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let (l, r) = leaves.split_at(split(leaves.len()));
            node_with(nk, &subtree(nk, l), &subtree(nk, r))
        }
    }
}

/// The audit path of leaf `index` among `payouts` (siblings from the leaf
/// up).
///
/// # Errors
/// [`Error::BadProof`] when `index` is out of range.
pub fn path(payouts: &[Payout], index: usize) -> Result<Vec<Hash>, Error> {
    if index >= payouts.len() {
        return Err(Error::BadProof);
    }
    let lk = key("tally/reward/merkle/leaf/v1");
    let nk = key("tally/reward/merkle/node/v1");
    let leaves: Vec<Hash> = payouts.iter().map(|p| leaf_with(&lk, p)).collect();
    let mut out = Vec::new();
    collect(&nk, &leaves, index, &mut out);
    Ok(out)
}

fn collect(nk: &[u8; 32], leaves: &[Hash], index: usize, out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    let (l, r) = leaves.split_at(k);
    if index < k {
        collect(nk, l, index, out);
        out.push(subtree(nk, r));
    } else {
        collect(nk, r, index - k, out);
        out.push(subtree(nk, l));
    }
}

/// Recomputes the root from a leaf, its index, the tree size and its path
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`Error::BadProof`] when the path has the wrong length for `index` in a
/// tree of `size`, or the root differs.
pub fn verify(leaf: &Hash, index: u64, size: u64, path: &[Hash], root: &Hash) -> Result<(), Error> {
    if index >= size {
        return Err(Error::BadProof);
    }
    let nk = key("tally/reward/merkle/node/v1");
    let (mut f, mut l) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if l == 0 {
            return Err(Error::BadProof);
        }
        if f & 1 == 1 || f == l {
            r = node_with(&nk, p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    l >>= 1;
                }
            }
        } else {
            r = node_with(&nk, &r, p);
        }
        f >>= 1;
        l >>= 1;
    }
    if l != 0 || r != *root {
        return Err(Error::BadProof);
    }
    Ok(())
}
