//! Integration tests of tally-ledger: result codes, and the state machine against a reference model.
//!
//! Under `--cfg loom` only the loom models of `SharedBudget` are built
//! (`loom.rs`); everything else runs in the normal suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[cfg(not(loom))]
mod backends;
#[cfg(not(loom))]
mod budget;
#[cfg(not(loom))]
mod budget_reference;
#[cfg(not(loom))]
mod codes;
#[cfg(not(loom))]
mod journal;
#[cfg(loom)]
mod loom;
#[cfg(all(feature = "postgres", not(loom)))]
mod pg;
#[cfg(not(loom))]
mod reference;
#[cfg(not(loom))]
mod settlement;
#[cfg(not(loom))]
mod shared;
#[cfg(not(loom))]
mod simulation;
#[cfg(not(loom))]
mod snapshot;
