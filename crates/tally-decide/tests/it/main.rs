//! Integration tests of `tally-decide`: one test binary, modules by concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod adversarial;
mod alloc_free;
#[cfg(feature = "audit")]
mod audited;
mod common;
mod differential;
mod golden;
mod json;
mod peer;
mod properties;
mod record;
mod reference;
