//! The incremental tree: the compact frontier.

use alloc::vec::Vec;

use crate::{Hash, TreeHasher};

/// The compact frontier of a tree: the roots of its maximal perfect
/// subtrees, left to right (one per set bit of the size, largest first).
/// `O(log n)` space; appending a leaf costs amortised one node hash; the
/// root folds the frontier right to left.
///
/// ```
/// use tally_merkle::{Frontier, Hash, TreeHasher};
///
/// // A toy hasher for the example; real ones are cryptographic.
/// #[derive(Default)]
/// struct Toy;
/// impl TreeHasher for Toy {
///     fn leaf(&self, data: &[u8]) -> Hash { [data.len() as u8; 32] }
///     fn node(&self, l: &Hash, r: &Hash) -> Hash { [l[0].wrapping_mul(3) ^ r[0]; 32] }
///     fn empty(&self) -> Hash { [0; 32] }
/// }
///
/// let mut tree = Frontier::<Toy>::new();
/// for data in [&b"a"[..], b"bb", b"ccc"] {
///     tree.push(Toy.leaf(data));
/// }
/// assert_eq!(tree.size(), 3);
/// assert_eq!(tree.nodes().len(), 2); // 3 = 2 + 1
/// assert_eq!(tree.root(), Toy.node(&Toy.node(&[1; 32], &[2; 32]), &[3; 32]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier<H> {
    hasher: H,
    size: u64,
    nodes: Vec<Hash>,
}

impl<H: TreeHasher + Default> Frontier<H> {
    /// The empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::with_hasher(H::default())
    }

    /// A frontier from its parts; `None` unless there is exactly one node per
    /// set bit of `size`.
    #[must_use]
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Self> {
        Self::from_parts_with(H::default(), size, nodes)
    }
}

impl<H: TreeHasher> Frontier<H> {
    /// The empty tree hashed by `hasher`.
    #[must_use]
    pub fn with_hasher(hasher: H) -> Self {
        Self {
            hasher,
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// [`Frontier::from_parts`] hashed by `hasher`.
    #[must_use]
    pub fn from_parts_with(hasher: H, size: u64, nodes: Vec<Hash>) -> Option<Self> {
        (nodes.len() == size.count_ones() as usize).then_some(Self {
            hasher,
            size,
            nodes,
        })
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

    /// Appends a leaf hash: it closes one perfect subtree per trailing one
    /// bit of the size, each merged with the frontier node to its left.
    ///
    /// A tree holds at most `u64::MAX` leaves; a push beyond that is
    /// ignored (it would take centuries of appends to get there).
    pub fn push(&mut self, leaf: Hash) {
        let Some(size) = self.size.checked_add(1) else {
            return;
        };
        let mut node = leaf;
        let mut closes = self.size.trailing_ones();
        while closes > 0 {
            match self.nodes.pop() {
                Some(left) => node = self.hasher.node(&left, &node),
                None => break,
            }
            closes -= 1;
        }
        self.nodes.push(node);
        self.size = size;
    }

    /// The tree's root hash.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        match it.next() {
            None => self.hasher.empty(),
            Some(last) => it.fold(*last, |acc, left| self.hasher.node(left, &acc)),
        }
    }
}
