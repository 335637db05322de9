//! Integration tests of tally-cashu: every official vector, properties,
//! hostile input, limits, interoperability with CDK's `cashu` crate.
//!
//! One test binary for the crate (modules below), to keep link time down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod conditions;
mod crypto;
mod deterministic;
mod fees;
mod hostile;
mod interop;
mod keysets;
mod limits;
mod messages;
mod p2bk;
mod secrets;
mod support;
mod token;
mod vectors;
