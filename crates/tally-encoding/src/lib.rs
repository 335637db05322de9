//! Shared encodings of the Tally crates, written once.
//!
//! `no_std` with `alloc`, so the `no_std` crates (tally-decide, tally-meter)
//! use the same code as the rest.
//!
//! * [`json`]: strict JSON decoding whose errors name the field (as a path,
//!   `dims[0].limit`) and say what was wrong in a user's words ("integer out
//!   of range"), never in the parser's internal terms.
#![no_std]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

extern crate alloc;

pub mod json;
