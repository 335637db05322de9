//! The locking protocol of [`SharedBudget`](crate::shared::SharedBudget),
//! on its own (over the [`sync`](crate::sync) shim) so that loom can check
//! it.
//!
//! Two kinds of locks, in two levels: *id slots* (the directory of the
//! client-chosen transfer ids: which shard holds each one), then *shards*
//! (one budget each: the tenants hashed to it, with their reservations).
//!
//! 1. An operation holds at most one id slot and takes it first; under it,
//!    it takes at most one shard at a time (the shard of the tenant, and
//!    for a reservation id that lives in another shard, that shard after
//!    releasing the first).
//! 2. A snapshot takes every shard, in index order, and no id slot; it
//!    reads only after holding all of them.
//!
//! **No deadlock**: every thread takes its locks in one global order (id
//! slots before shards, shards in increasing index, one id slot at most),
//! so no cycle of waiting threads can form: the thread of a cycle holding
//! the highest lock would wait for a higher one, which none of them holds.
//!
//! **Linearizable snapshots**: every operation changes one shard only, in
//! one critical section of its lock (the operator's and the spend account
//! have a part in each shard, summed by the snapshot). An operation takes
//! effect at that section; a snapshot at the instant it holds every shard
//! lock. It sees exactly the operations that took effect before that
//! instant, in full, and none of the others: the state of some moment of
//! the real execution, never a mixture. Taking the shards one at a time
//! instead would mix moments; the loom model and the concurrent test show
//! that they catch that.

use crate::sync::{Mutex, MutexGuard, lock};

/// `n ≥ 1` locks, each around its own `T`.
#[derive(Debug)]
pub(crate) struct Locks<T> {
    first: Mutex<T>,
    rest: Box<[Mutex<T>]>,
}

impl<T> Locks<T> {
    /// `n` locks (at least one), each around `make()`.
    pub(crate) fn new(n: usize, mut make: impl FnMut() -> T) -> Self {
        Self {
            first: Mutex::new(make()),
            rest: (1..n).map(|_| Mutex::new(make())).collect(),
        }
    }

    /// The number of locks.
    pub(crate) fn len(&self) -> usize {
        self.rest.len().saturating_add(1)
    }

    /// Lock `i` (lock 0 for an index past the last: callers reduce their
    /// indices modulo [`Locks::len`]).
    pub(crate) fn lock(&self, i: usize) -> MutexGuard<'_, T> {
        let m = match i.checked_sub(1) {
            Some(k) => self.rest.get(k).unwrap_or(&self.first),
            None => &self.first,
        };
        lock(m)
    }

    /// Every lock, taken in index order (rule 2), held until the guards
    /// are dropped.
    pub(crate) fn lock_all(&self) -> Vec<MutexGuard<'_, T>> {
        let mut guards = Vec::with_capacity(self.len());
        guards.push(lock(&self.first));
        guards.extend(self.rest.iter().map(lock));
        guards
    }
}
