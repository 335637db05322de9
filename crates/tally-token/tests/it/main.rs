//! Integration tests of tally-token: golden vectors, verification, bounds,
//! properties. One test binary, to keep link time down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod bounds;
mod golden;
mod props;
mod support;
mod verify;
