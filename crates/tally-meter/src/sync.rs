//! The atomics [`AtomicMeter`](crate::AtomicMeter) is built on: `core`'s, or
//! loom's under `--cfg loom` so that the loom tests explore every interleaving.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering};
