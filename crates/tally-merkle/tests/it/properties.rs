//! Exhaustive properties for every tree of up to 64 leaves: every proof
//! verifies, and no proof with an altered hash, index or size does; the
//! index, the frontier and the recursive definition agree on every root;
//! proofs cost `O(log n)` node hashes.

use std::cell::Cell;
use std::rc::Rc;

use tally_audit::merkle::Sha256Tree;
use tally_merkle::{
    Frontier, Hash, MAX_PROOF_HASHES, ProofError, ProofIndex, RangeError, TreeHasher, split_point,
    verify_consistency, verify_inclusion,
};

use crate::tree;

const MAX: u64 = 64;

/// RFC 9162 MTH by its recursive definition (independent of the index).
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256Tree.empty(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64).unwrap() as usize;
            Sha256Tree.node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn flipped(proof: &[Hash], at: usize) -> Vec<Hash> {
    let mut bad = proof.to_vec();
    bad[at][31] ^= 1;
    bad
}

#[test]
fn index_frontier_and_definition_agree_on_every_root() {
    let (index, leaves) = tree(MAX);
    let mut frontier = Frontier::<Sha256Tree>::new();
    for size in 0..=MAX {
        let want = mth(&leaves[..size as usize]);
        assert_eq!(index.root(size).unwrap(), want, "index, size {size}");
        assert_eq!(frontier.root(), want, "frontier, size {size}");
        assert_eq!(frontier.size(), size);
        assert_eq!(frontier.nodes().len(), size.count_ones() as usize);
        assert_eq!(index.frontier(size).unwrap(), frontier, "size {size}");
        if let Some(leaf) = leaves.get(size as usize) {
            frontier.push(*leaf);
        }
    }
    let rebuilt = ProofIndex::from_leaves(Sha256Tree, leaves.iter().copied());
    for size in 0..=MAX {
        assert_eq!(rebuilt.root(size), index.root(size));
    }
    assert_eq!(index.root(MAX + 1), Err(RangeError::SizeExceedsIndex));
}

#[test]
fn every_inclusion_proof_verifies_and_no_altered_one_does() {
    let (index, leaves) = tree(MAX + 1);
    let roots: Vec<Hash> = (0..=MAX + 1).map(|s| index.root(s).unwrap()).collect();
    let verify = |i: u64, n: u64, proof: &[Hash], root: &Hash| {
        verify_inclusion(&Sha256Tree, &leaves[i as usize], i, n, proof, root)
    };
    for n in 1..=MAX {
        let root = &roots[n as usize];
        for i in 0..n {
            let proof = index.inclusion_proof(i, n).unwrap();
            assert_eq!(verify(i, n, &proof, root), Ok(()), "leaf {i} size {n}");
            // Another leaf, or an altered root.
            let other = leaves[((i + 1) % n) as usize];
            if n > 1 {
                let got = verify_inclusion(&Sha256Tree, &other, i, n, &proof, root);
                assert_eq!(got, Err(ProofError::NotToRoot), "leaf {i} size {n}");
            }
            let bad_root = flipped(std::slice::from_ref(root), 0)[0];
            assert_eq!(verify(i, n, &proof, &bad_root), Err(ProofError::NotToRoot));
            // Any altered hash of the path.
            for at in 0..proof.len() {
                let bad = flipped(&proof, at);
                assert_eq!(verify(i, n, &bad, root), Err(ProofError::NotToRoot));
            }
            // A hash too few or too many.
            if let Some((_, shorter)) = proof.split_last() {
                assert_eq!(verify(i, n, shorter, root), Err(ProofError::TooShort));
            }
            let mut longer = proof.clone();
            longer.push(*root);
            assert_eq!(verify(i, n, &longer, root), Err(ProofError::TooLong));
            // Any other index of the same tree.
            for j in (0..n).filter(|&j| j != i) {
                let got = verify_inclusion(&Sha256Tree, &leaves[i as usize], j, n, &proof, root);
                assert!(got.is_err(), "leaf {i} as {j}, size {n}");
            }
            // Any other size, against that size's root.
            for m in (i + 1..=MAX + 1).filter(|&m| m != n) {
                let got = verify(i, m, &proof, &roots[m as usize]);
                assert!(got.is_err(), "leaf {i} size {n} as size {m}");
            }
            assert_eq!(
                verify(i, i, &proof, root),
                Err(ProofError::IndexNotBelowSize)
            );
        }
        assert_eq!(
            index.inclusion_proof(n, n),
            Err(RangeError::IndexNotBelowSize)
        );
    }
}

#[test]
fn an_inclusion_proof_alone_does_not_bind_the_tree_size() {
    // Leaf 0 climbs the same left edge in trees of 5 and 6 leaves, so its
    // path of 5 also verifies as a path of 6 against the root of 5: the
    // size must come from the same signed statement as the root (a
    // tally-audit checkpoint, a tally-reward manifest).
    let (index, leaves) = tree(6);
    let proof = index.inclusion_proof(0, 5).unwrap();
    let root5 = index.root(5).unwrap();
    let ok = verify_inclusion(&Sha256Tree, &leaves[0], 0, 6, &proof, &root5);
    assert_eq!(ok, Ok(()));
    let root6 = index.root(6).unwrap();
    let got = verify_inclusion(&Sha256Tree, &leaves[0], 0, 6, &proof, &root6);
    assert_eq!(got, Err(ProofError::NotToRoot));
}

#[test]
fn every_consistency_proof_verifies_and_no_altered_one_does() {
    let (index, _) = tree(MAX + 1);
    let roots: Vec<Hash> = (0..=MAX + 1).map(|s| index.root(s).unwrap()).collect();
    let verify = |m: u64, n: u64, proof: &[Hash]| {
        verify_consistency(
            &Sha256Tree,
            m,
            n,
            &roots[m as usize],
            &roots[n as usize],
            proof,
        )
    };
    for n in 1..=MAX {
        for m in 1..=n {
            let proof = index.consistency_proof(m, n).unwrap();
            assert_eq!(verify(m, n, &proof), Ok(()), "{m} -> {n}");
            if m == n {
                assert!(proof.is_empty());
                let other = &roots[m as usize - 1];
                let got = verify_consistency(&Sha256Tree, m, n, other, &roots[n as usize], &[]);
                assert_eq!(got, Err(ProofError::EqualSizes));
                continue;
            }
            // Any altered hash of the path, or either root.
            for at in 0..proof.len() {
                let bad = flipped(&proof, at);
                assert_eq!(
                    verify(m, n, &bad),
                    Err(ProofError::NotToRoots),
                    "{m} -> {n}"
                );
            }
            let (old, new) = (&roots[m as usize], &roots[n as usize]);
            let bad_old = flipped(std::slice::from_ref(old), 0)[0];
            let bad_new = flipped(std::slice::from_ref(new), 0)[0];
            let got = verify_consistency(&Sha256Tree, m, n, &bad_old, new, &proof);
            assert!(got.is_err(), "{m} -> {n} from an altered old root");
            let got = verify_consistency(&Sha256Tree, m, n, old, &bad_new, &proof);
            assert_eq!(got, Err(ProofError::NotToRoots), "{m} -> {n}");
            // A hash too few or too many; none at all.
            let (_, shorter) = proof.split_last().unwrap();
            assert!(verify(m, n, shorter).is_err(), "{m} -> {n} shortened");
            let mut longer = proof.clone();
            longer.push(*new);
            assert_eq!(verify(m, n, &longer), Err(ProofError::TooLong));
            assert_eq!(verify(m, n, &[]), Err(ProofError::Empty));
            // Any other old or new size, against that size's root.
            for other in (1..=n).filter(|&o| o != m) {
                assert!(verify(other, n, &proof).is_err(), "{m} -> {n} as {other}");
            }
            for other in (m..=MAX + 1).filter(|&o| o != n) {
                assert!(verify(m, other, &proof).is_err(), "{m} -> {n} as {other}");
            }
        }
        assert_eq!(index.consistency_proof(0, n), Ok(Vec::new()));
        assert_eq!(verify(0, n, &[]), Ok(()));
        assert_eq!(verify(0, n, &[roots[1]]), Err(ProofError::FromEmpty));
        assert_eq!(
            index.consistency_proof(n, n - 1),
            Err(RangeError::OldLargerThanNew)
        );
        assert_eq!(verify(n, n - 1, &[]), Err(ProofError::OldLargerThanNew));
    }
    assert_eq!(
        index.consistency_proof(1, MAX + 2),
        Err(RangeError::SizeExceedsIndex)
    );
}

#[test]
fn proof_length_is_bounded_at_the_limit() {
    let h = [0u8; 32];
    let at = vec![h; MAX_PROOF_HASHES];
    let over = vec![h; MAX_PROOF_HASHES + 1];
    // At the bound the walk runs and ends past the root; one more is
    // refused before any hashing.
    let got = verify_inclusion(&Sha256Tree, &h, 0, u64::MAX, &at, &h);
    assert_eq!(got, Err(ProofError::TooLong));
    let got = verify_inclusion(&Sha256Tree, &h, 0, u64::MAX, &over, &h);
    assert_eq!(got, Err(ProofError::TooManyHashes));
    let got = verify_consistency(&Sha256Tree, 1, u64::MAX, &h, &h, &at);
    assert_eq!(got, Err(ProofError::TooLong));
    let got = verify_consistency(&Sha256Tree, 1, u64::MAX, &h, &h, &over);
    assert_eq!(got, Err(ProofError::TooManyHashes));
}

/// A hasher that counts node hashes.
#[derive(Clone, Default)]
struct Counting(Rc<Cell<u64>>);

impl TreeHasher for Counting {
    fn leaf(&self, data: &[u8]) -> Hash {
        Sha256Tree.leaf(data)
    }
    fn node(&self, left: &Hash, right: &Hash) -> Hash {
        self.0.set(self.0.get() + 1);
        Sha256Tree.node(left, right)
    }
    fn empty(&self) -> Hash {
        Sha256Tree.empty()
    }
}

#[test]
fn building_is_linear_and_proofs_take_logarithmic_node_hashes() {
    let count = Counting::default();
    let n: u64 = 100_003;
    let mut index = ProofIndex::with_hasher(count.clone());
    for i in 0..n {
        index.push(Sha256Tree.leaf(&i.to_be_bytes()));
    }
    // One node per closed perfect subtree: n minus the frontier's nodes.
    assert_eq!(count.0.get(), n - u64::from(n.count_ones()));
    // A root folds the frontier: one node hash per part after the first.
    for size in [n, n - 1, 65_536, 65_537, 99_999] {
        count.0.set(0);
        let root = index.root(size).unwrap();
        assert_eq!(count.0.get(), u64::from(size.count_ones()) - 1);
        for i in [0, 1, size / 3, size - 1] {
            // A proof needs at most one ragged subtree: at most as many
            // node hashes as the root.
            count.0.set(0);
            let proof = index.inclusion_proof(i, size).unwrap();
            assert!(
                count.0.get() < u64::from(size.count_ones()),
                "{i} in {size}"
            );
            verify_inclusion(&Sha256Tree, &index.leaf(i).unwrap(), i, size, &proof, &root).unwrap();
            count.0.set(0);
            let old = i.max(1);
            let proof = index.consistency_proof(old, size).unwrap();
            assert!(
                count.0.get() < u64::from(size.count_ones()),
                "{old} to {size}"
            );
            let old_root = index.root(old).unwrap();
            verify_consistency(&Sha256Tree, old, size, &old_root, &root, &proof).unwrap();
        }
    }
    // Leaf 0 of 100_003 = 65_536 + 34_467: its sibling at the top is the
    // ragged right subtree, the fold of the parts of 34_467; leaf 65_536
    // goes right, then left of the ragged 98_304..100_003 (1_699 leaves);
    // the last leaf has only perfect siblings (all on its left).
    count.0.set(0);
    index.inclusion_proof(0, n).unwrap();
    assert_eq!(count.0.get(), u64::from(34_467u64.count_ones()) - 1);
    count.0.set(0);
    index.inclusion_proof(65_536, n).unwrap();
    assert_eq!(count.0.get(), u64::from(1_699u64.count_ones()) - 1);
    count.0.set(0);
    index.inclusion_proof(n - 1, n).unwrap();
    assert_eq!(count.0.get(), 0);
}
