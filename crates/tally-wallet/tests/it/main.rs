//! tally-wallet's integration tests: one binary, one module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;
mod crash;
mod faults;
mod hostile;
mod locked;
mod mint;
mod ops;
mod resilience;
mod restore;
mod rotation;
mod secrets;
mod sigkill;
mod store;
mod ws;
