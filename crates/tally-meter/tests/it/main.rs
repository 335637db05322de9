//! Integration tests of tally-meter: one test binary, modules by concern.
//!
//! Under `--cfg loom` only the loom models are built (`loom.rs`); everything
//! else runs in the normal suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[cfg(not(loom))]
mod atomic;
#[cfg(not(loom))]
mod differential;
#[cfg(not(loom))]
mod example;
#[cfg(loom)]
mod loom;
#[cfg(not(loom))]
mod meter;
#[cfg(not(loom))]
mod owned;
#[cfg(not(loom))]
mod policy;
#[cfg(not(loom))]
mod props;
#[cfg(not(loom))]
mod reservation;
#[cfg(not(loom))]
mod snapshot;
