//! Transfers restored from a snapshot, kept the way the snapshot lays them
//! out, so that a restart reads them sequentially instead of inserting
//! millions of entries into hash maps (random memory access, the cost that
//! dominated restarts): one array sorted by id (found by interpolation, then
//! binary search), the journal record of each, and each account's
//! transfers as positions into the array, in timestamp order.
//!
//! Transfers never change once created, so this tier is immutable and
//! shared between clones. Transfers created after the restart live in the
//! ledger's hash map beside it; a lookup asks the map first.

use crate::state::HashMap;
use crate::types::Transfer;

/// Interpolation steps before the search falls back to bisection (ids
/// chosen to defeat interpolation cost at most this many extra probes).
const INTERPOLATION_STEPS: u32 = 4;

/// The frozen tier.
#[derive(Debug, Default)]
pub(crate) struct Frozen {
    /// Sorted by id, strictly increasing.
    pub(crate) list: Vec<Transfer>,
    /// The journal record that created each transfer of `list` (0: none).
    pub(crate) seqs: Vec<u64>,
    /// Each account's transfers: positions into `list`, timestamp order.
    pub(crate) by_account: HashMap<u128, Vec<u32>>,
}

impl Frozen {
    /// The position of transfer `id`.
    pub(crate) fn find(&self, id: u128) -> Option<usize> {
        let list = &self.list;
        let (mut lo, mut hi) = (0usize, list.len());
        for _ in 0..INTERPOLATION_STEPS {
            if lo >= hi {
                return None;
            }
            let (a, b) = (list.get(lo)?.id, list.get(hi - 1)?.id);
            if id < a || id > b {
                return None;
            }
            if a == b {
                return (a == id).then_some(lo);
            }
            // Where `id` would be if ids were spread evenly over [a, b].
            let span = b - a;
            let off = id - a;
            let width = (hi - 1 - lo) as u128;
            let shift = 128u32
                .saturating_sub(span.leading_zeros())
                .saturating_sub(64);
            let guess = (off >> shift)
                .checked_mul(width)
                .map(|x| x / ((span >> shift).max(1)))
                .and_then(|x| usize::try_from(x).ok())
                .map_or(lo, |x| lo + x.min(hi - 1 - lo));
            let at = list.get(guess)?.id;
            match at.cmp(&id) {
                core::cmp::Ordering::Equal => return Some(guess),
                core::cmp::Ordering::Less => lo = guess + 1,
                core::cmp::Ordering::Greater => hi = guess,
            }
        }
        let rest = list.get(lo..hi)?;
        rest.binary_search_by(|t| t.id.cmp(&id))
            .ok()
            .map(|i| lo + i)
    }

    /// Transfer `id`.
    pub(crate) fn get(&self, id: u128) -> Option<&Transfer> {
        if self.list.is_empty() {
            return None;
        }
        self.find(id).and_then(|i| self.list.get(i))
    }

    /// The journal record that created transfer `id`.
    pub(crate) fn seq(&self, id: u128) -> Option<u64> {
        self.find(id)
            .and_then(|i| self.seqs.get(i).copied())
            .filter(|s| *s != 0)
    }

    /// The transfer at position `i`.
    pub(crate) fn at(&self, i: u32) -> Option<&Transfer> {
        self.list.get(usize::try_from(i).ok()?)
    }

    /// `account`'s transfers, as positions, timestamp order.
    pub(crate) fn positions(&self, account: u128) -> &[u32] {
        self.by_account.get(&account).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frozen(ids: &[u128]) -> Frozen {
        Frozen {
            list: ids
                .iter()
                .map(|id| Transfer {
                    id: *id,
                    ..Transfer::default()
                })
                .collect(),
            seqs: vec![1; ids.len()],
            by_account: HashMap::default(),
        }
    }

    #[test]
    fn finds_every_id_and_nothing_else_whatever_the_spread() {
        let spreads: Vec<Vec<u128>> = vec![
            (1..=1000).collect(),
            (1..=1000).map(|i| i * 7_919).collect(),
            (0..1000u128)
                .map(|i| i * i * i * i * i * 1_000_003)
                .collect(),
            (1..=500)
                .chain((1..=500).map(|i| u128::MAX - 1 - i * 3))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            (0..127).map(|b| 1u128 << b).collect(),
            vec![5],
            vec![],
        ];
        for ids in spreads {
            let f = frozen(&ids);
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(f.find(*id), Some(i), "{id}");
                if !ids.contains(&(id + 1)) {
                    assert_eq!(f.find(id + 1), None);
                }
                if *id > 0 && !ids.contains(&(id - 1)) {
                    assert_eq!(f.find(id - 1), None);
                }
            }
            assert_eq!(f.find(0).is_some(), ids.contains(&0));
            assert_eq!(f.find(u128::MAX), None);
        }
    }
}
