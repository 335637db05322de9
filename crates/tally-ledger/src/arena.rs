//! The ledger's transfers: kept in one vector in the order they were
//! stored (an append-only arena), found by id through a small index.
//!
//! A `HashMap<u128, Transfer>` moved every 128-byte transfer each time it
//! grew; here growth moves 32-byte index entries, and the arena grows by
//! reallocation. The methods are the subset of `HashMap`'s the ledger uses,
//! with the same meaning.

use crate::types::Transfer;

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Transfers by id, in insertion order.
#[derive(Debug, Default, Clone)]
pub(crate) struct TransferStore {
    index: HashMap<u128, usize>,
    items: Vec<Transfer>,
}

impl TransferStore {
    /// The transfer with this id.
    pub(crate) fn get(&self, id: &u128) -> Option<&Transfer> {
        let at = *self.index.get(id)?;
        self.items.get(at)
    }

    /// Stores `t` under `id` (its id), replacing a transfer with the same
    /// id; returns the one replaced.
    pub(crate) fn insert(&mut self, id: u128, t: Transfer) -> Option<Transfer> {
        if let Some(&at) = self.index.get(&id)
            && let Some(slot) = self.items.get_mut(at)
        {
            return Some(core::mem::replace(slot, t));
        }
        self.index.insert(id, self.items.len());
        self.items.push(t);
        None
    }

    /// Removes the transfer with this id (the last stored one, when a
    /// chain is rolled back: then nothing else moves).
    pub(crate) fn remove(&mut self, id: &u128) -> Option<Transfer> {
        let at = self.index.remove(id)?;
        if at >= self.items.len() {
            return None;
        }
        let removed = self.items.swap_remove(at);
        if let Some(moved) = self.items.get(at) {
            self.index.insert(moved.id, at);
        }
        Some(removed)
    }

    /// The number of transfers.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every transfer, in the order stored (timestamp order, unless a
    /// rollback moved one).
    #[allow(dead_code)]
    pub(crate) fn values(&self) -> impl Iterator<Item = &Transfer> {
        self.items.iter()
    }

    /// Every transfer with its id.
    #[allow(dead_code)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u128, &Transfer)> {
        self.items.iter().map(|t| (&t.id, t))
    }
}
