//! The ledger's transfers: kept in the order they were stored in an
//! append-only arena of fixed-size chunks, found by id through a small
//! index.
//!
//! A `HashMap<u128, Transfer>` moved every 128-byte transfer each time it
//! grew; here growth moves 32-byte index entries, and the arena never moves
//! a transfer (a full chunk stays where it is; a new one is allocated), so
//! a large ledger never needs a second copy of its transfers to grow. The
//! methods are the subset of `HashMap`'s the ledger uses, with the same
//! meaning.

use crate::types::Transfer;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Transfers per chunk of the arena (448 KiB).
const CHUNK: usize = 4_096;

/// Transfers by id, in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct TransferStore {
    index: HashMap<u128, usize>,
    /// Full chunks of `CHUNK` transfers, then the last one, filling.
    chunks: Vec<Vec<Transfer>>,
    len: usize,
}

impl TransferStore {
    fn at(&self, at: usize) -> Option<&Transfer> {
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    fn at_mut(&mut self, at: usize) -> Option<&mut Transfer> {
        self.chunks.get_mut(at / CHUNK)?.get_mut(at % CHUNK)
    }

    /// The transfer with this id.
    pub(crate) fn get(&self, id: &u128) -> Option<&Transfer> {
        self.at(*self.index.get(id)?)
    }

    /// Whether a transfer has this id.
    pub(crate) fn contains_key(&self, id: &u128) -> bool {
        self.index.contains_key(id)
    }

    /// Stores `t` under `id` (its id), replacing a transfer with the same
    /// id; returns the one replaced.
    pub(crate) fn insert(&mut self, id: u128, t: Transfer) -> Option<Transfer> {
        if let Some(&at) = self.index.get(&id)
            && let Some(slot) = self.at_mut(at)
        {
            return Some(core::mem::replace(slot, t));
        }
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(t),
            _ => {
                // The first chunk grows as a vector does (a small ledger
                // stays small); the next ones are allocated whole.
                let capacity = if self.chunks.is_empty() { 0 } else { CHUNK };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(t);
                self.chunks.push(chunk);
            }
        }
        self.index.insert(id, self.len);
        self.len = self.len.saturating_add(1);
        None
    }

    /// Removes the last transfer stored (a chain's, rolled back in reverse
    /// order); `None`, changing nothing, for any other id.
    pub(crate) fn remove(&mut self, id: &u128) -> Option<Transfer> {
        let last = self.len.checked_sub(1)?;
        if self.index.get(id) != Some(&last) {
            return None;
        }
        let chunk = self.chunks.last_mut()?;
        let removed = chunk.pop()?;
        if chunk.is_empty() {
            self.chunks.pop();
        }
        self.index.remove(id);
        self.len = last;
        Some(removed)
    }

    /// The number of transfers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every transfer, in the order stored (timestamp order).
    #[allow(dead_code)]
    pub(crate) fn values(&self) -> impl Iterator<Item = &Transfer> {
        self.chunks.iter().flatten()
    }

    /// Every transfer with its id.
    #[allow(dead_code)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u128, &Transfer)> {
        self.values().map(|t| (&t.id, t))
    }
}

#[cfg(test)]
mod tests {
    use super::{CHUNK, TransferStore};
    use crate::types::Transfer;

    fn transfer(id: u128) -> Transfer {
        Transfer {
            id,
            amount: id * 3,
            ..Transfer::default()
        }
    }

    /// Across chunk boundaries every transfer is found by id, in order;
    /// only the last one stored can be removed (a chain's rollback), and a
    /// removal across a boundary drops the emptied chunk.
    #[test]
    fn transfers_are_found_across_chunks_and_removed_last_first() {
        let mut store = TransferStore::default();
        let n = 2 * CHUNK as u128 + 5;
        for id in 1..=n {
            assert_eq!(store.insert(id, transfer(id)), None);
        }
        assert_eq!(store.len(), 2 * CHUNK + 5);
        assert!((1..=n).all(|id| store.get(&id) == Some(&transfer(id))));
        assert!(store.values().map(|t| t.id).eq(1..=n));
        assert_eq!(store.remove(&1), None, "not the last one");
        for id in (2 * CHUNK as u128 - 2..=n).rev() {
            assert_eq!(store.remove(&id), Some(transfer(id)));
            assert!(!store.contains_key(&id));
        }
        assert_eq!(store.len(), 2 * CHUNK - 3);
        assert_eq!(store.chunks.len(), 2);
        store.insert(n + 1, transfer(n + 1));
        assert_eq!(store.get(&(n + 1)), Some(&transfer(n + 1)));
        // The same id again replaces it in place.
        let replaced = Transfer {
            amount: 1,
            ..transfer(7)
        };
        assert_eq!(store.insert(7, replaced), Some(transfer(7)));
        assert_eq!(store.get(&7), Some(&replaced));
        assert_eq!(store.len(), 2 * CHUNK - 2);
        assert!(!store.is_empty());
    }
}
