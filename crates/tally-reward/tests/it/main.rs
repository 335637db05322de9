//! Integration tests of `tally-reward`, one binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;
mod compute;
mod decode;
mod golden;
mod manifest;
mod pq;
mod properties;
mod registry;
mod stream;
