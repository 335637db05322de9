//! Shared encodings of the Tally crates, written once.
//!
//! `no_std`; the owned forms need the `alloc` feature and JSON the `json`
//! feature (the default), so the allocation-free crate (tally-meter) uses the
//! same codecs as the rest.
//!
//! * [`hex`]: lowercase hex out; strict lowercase or either case in, with
//!   the position of the first bad digit.
//! * [`framing`]: the length-prefixed framing of variable-length fields a
//!   hash covers (so two tuples never hash alike).
//! * [`leb128`]: canonical unsigned LEB128 variable-length integers and
//!   zigzag for signed ones (the ledger's compact snapshot records).
//! * `base64url` (feature `alloc`): RFC 4648 §5, padded out, padding
//!   optional in, strict alphabet and trailing bits, bounded.
//! * [`json`]: strict JSON decoding whose errors name the field (as a path,
//!   `dims[0].limit`) and say what was wrong in a user's words ("integer out
//!   of range"), never in the parser's internal terms.
#![no_std]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod base64url;
pub mod framing;
pub mod hex;
#[cfg(feature = "json")]
pub mod json;
pub mod leb128;
