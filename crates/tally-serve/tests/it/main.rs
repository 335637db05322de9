//! tally-serve's tests: real HTTP on loopback (a server on 127.0.0.1:0 in
//! each test), one test binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod api;
mod budget;
mod decisions;
mod idempotency;
mod limits;
mod openapi;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_at_rest;
mod pg_decisions;
#[cfg(feature = "postgres")]
mod pg_rewarder;
mod proofs;
mod protect;
mod rewarder;
mod support;
mod tenancy;
mod tls;
mod ui;
