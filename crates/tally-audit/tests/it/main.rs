//! Integration tests of `tally-audit`: one test binary, modules by concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod awaiting;
mod bounds;
mod common;
mod concurrency;
mod crash;
mod faults;
mod fuzz_seeds;
mod golden;
mod keys;
mod live_proofs;
mod proofs;
mod recovery;
mod resume;
mod tamper;
