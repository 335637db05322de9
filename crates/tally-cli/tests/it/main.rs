//! Integration tests of the `tally` binary and of the repository's own rules.
//!
//! One test binary for the crate (modules below), to keep link time down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod audit;
mod bounds;
mod cashu;
mod cli;
mod decide;
mod keys;
mod ledger;
#[cfg(feature = "postgres")]
mod ledger_pg;
mod meter;
mod registry;
mod reward;
mod serve;
mod serve_forensics;
#[cfg(feature = "postgres")]
mod serve_pg;
mod serve_protect;
mod serve_reward;
mod support;
mod token;
mod wallet;
