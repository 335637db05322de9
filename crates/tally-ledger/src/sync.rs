//! The lock [`SharedBudget`](crate::shared::SharedBudget) is built on:
//! std's, or loom's under `--cfg loom` so that the loom models explore
//! every interleaving of its locking protocol.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `m`. A lock is poisoned only by a panic while it is held; nothing
/// this crate runs under a lock panics, so the state is whole either way.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
