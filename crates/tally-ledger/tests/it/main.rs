//! Integration tests of tally-ledger: result codes, and the state machine against a reference model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod budget;
mod codes;
mod journal;
mod reference;
mod settlement;
mod simulation;
mod snapshot;
