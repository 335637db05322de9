//! Integration tests of tally-ledger: result codes, and the state machine against a reference model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod backends;
mod budget;
mod codes;
mod journal;
#[cfg(feature = "postgres")]
mod pg;
mod reference;
mod settlement;
mod simulation;
