//! # tally-meter
//!
//! Deterministic, allocation-free, panic-free budget meters over
//! **caller-defined dimensions** (tokens, milliseconds, bytes, tool calls,
//! USD micro-units, …), with admission control, reservations and a lock-free
//! shared variant.
//!
//! The crate is `#![no_std]` and does not link `alloc`: every value lives in
//! fixed-size arrays sized by a const generic `N` (at most [`MAX_DIMS`]),
//! also for a policy declared at run time ([`OwnedPolicy`]). It
//! reads no clock, does no I/O and has no `unsafe` code. Every public function
//! does bounded work, `O(N)` or better (`O(N × depth)` for a child
//! [`AtomicMeter`]), and none can panic on any input.
//!
//! ## The pieces
//!
//! * [`Policy`]: the immutable limits, validated once by a `const fn`
//!   ([`Policy::new`]) from one [`DimSpec`] per dimension (a name, an inclusive
//!   limit and up to [`MAX_WARN_LEVELS`] warn levels). A policy is `Copy` and
//!   can be a `const`.
//! * [`OwnedPolicy`]: the same limits declared at run time (read from a
//!   file, one per tenant): [`OwnedPolicy::new`] validates one [`DimDecl`]
//!   per dimension, whose name it copies in and stores inline (up to
//!   [`MAX_NAME_BYTES`] bytes), with the dimension count chosen at run time
//!   (1 to [`MAX_DIMS`]). Nothing is allocated or leaked. Its meters
//!   ([`OwnedMeter`], [`OwnedAtomicMeter`]) have `MAX_DIMS` slots; see
//!   [`OwnedPolicy`] for the amounts past its dimensions.
//! * [`Rules`]: what a meter reads of either policy form. The meters are
//!   generic over it (`Meter<'p, N, P = Policy<N>>`), so the accounting
//!   exists once; validation and the fingerprint are shared too, so both
//!   forms accept the same declarations and an equal policy has the same
//!   fingerprint (and snapshots) in either form.
//! * [`Dim`]: a dimension handle, obtained from a policy by name or index.
//! * [`Meter`]: the small mutable state (`used` and `reserved` per dimension)
//!   that borrows its policy. A meter with 8 dimensions is 144 bytes, smaller
//!   than budgetkernel's 216-byte `Budget`.
//! * [`AtomicMeter`]: the same accounting for several threads sharing one
//!   budget, lock-free, with parent/child meters.
//! * [`Verdict`], [`Report`], [`Reservation`], [`Snapshot`] (and
//!   [`OwnedSnapshot`] to read an owned policy's), [`Error`].
//!
//! ## Example
//!
//! ```
//! use tally_meter::{DimSpec, Meter, Policy, Verdict};
//!
//! const POLICY: Policy<3> = match Policy::new([
//!     DimSpec::new("tokens", 100_000).warn_at(80_000).warn_at(95_000),
//!     DimSpec::new("millis", 30_000).warn_at(27_000),
//!     DimSpec::new("calls", 50),
//! ]) {
//!     Ok(policy) => policy,
//!     Err(_) => panic!("invalid policy"),
//! };
//!
//! let tokens = POLICY.dim("tokens").ok_or("no such dimension")?;
//! let mut meter = Meter::new(&POLICY);
//!
//! // Admission control: refused charges record nothing.
//! assert_eq!(meter.try_charge(tokens, 85_000)?.warning().map(|w| w.crossed()), Some(true));
//! assert!(meter.try_charge(tokens, 20_000).is_err());
//! assert_eq!(meter.remaining(tokens), Some(15_000));
//!
//! // Recording: budgetkernel's semantics, the exhausting charge is recorded.
//! assert_eq!(meter.charge(tokens, 20_000)?, Verdict::Exhausted(tokens));
//! assert_eq!(meter.spent(tokens), Some(105_000));
//! assert_eq!(meter.overrun(tokens), Some(5_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Semantics
//!
//! Per dimension the meter keeps `used = spent + reserved`. Limits are
//! **inclusive**: a dimension is exhausted only when `used > limit`.
//!
//! * [`Meter::charge`] records consumption that already happened, with
//!   budgetkernel 0.1.2's verdicts: `Exhausted` when `used > limit` (the charge
//!   is recorded anyway), else `Warn` when `used` is above a warn level (on
//!   every such charge, not once), else `Continue`. Unlike budgetkernel, a
//!   charge whose total would pass `u64::MAX` is [`Error::Overflow`] and
//!   records nothing, where budgetkernel silently saturates.
//! * [`Meter::try_charge`] is admission control: a charge that does not fit in
//!   `remaining` is [`Error::Refused`] with the shortfall, and nothing changes.
//! * The `*_many` forms take one amount per dimension and are all-or-nothing.
//! * [`Meter::reserve`] / [`Meter::commit`] / [`Meter::release`] hold an
//!   estimate and settle it; [`Reservation`]s are consumed by value.
//!
//! The identity `spent + reserved + remaining == limit + overrun` holds for
//! every dimension after every operation, with `overrun == 0` unless
//! [`Meter::charge`] (the only operation that records past a limit, because it
//! reports consumption that already happened) exhausted the dimension. A
//! caller that only uses the admission-controlled operations (`try_charge*`,
//! `reserve`, `commit`, `release`) therefore always has
//! `spent + reserved + remaining == limit`.
//!
//! ## Features
//!
//! * `serde`: `Serialize` / `Deserialize` for [`Snapshot`] (still `no_std`,
//!   no alloc). Restoring validates the snapshot against the policy.
//! * `std`: `std::error::Error` for [`Error`]. Since Rust 1.81 that trait is
//!   `core::error::Error`, which the error types implement in every build, so
//!   the feature changes nothing observable; it exists for dependants that ask
//!   for it.
//!
//! The crate needs a target with 64-bit atomics ([`AtomicMeter`], and the
//! counter that tags reservations).
#![no_std]

mod atomic;
mod dim;
mod error;
mod meter;
mod owned;
mod policy;
mod reservation;
mod snapshot;
mod sync;
mod verdict;

pub use atomic::{AtomicMeter, MAX_DEPTH};
pub use dim::{Dim, DimSet};
pub use error::Error;
pub use meter::Meter;
pub use owned::OwnedPolicy;
pub use policy::{DimDecl, DimSpec, MAX_DIMS, MAX_NAME_BYTES, MAX_WARN_LEVELS, Policy, Rules};
pub use reservation::{Rejected, Reservation};
pub use snapshot::{OwnedSnapshot, SNAPSHOT_VERSION, Snapshot};

/// A [`Meter`] under an [`OwnedPolicy`]: `MAX_DIMS` slots, of which the
/// policy's [`dim_count`](OwnedPolicy::dim_count) are used.
pub type OwnedMeter<'p> = Meter<'p, MAX_DIMS, OwnedPolicy>;

/// An [`AtomicMeter`] under an [`OwnedPolicy`]: `MAX_DIMS` slots, of which
/// the policy's [`dim_count`](OwnedPolicy::dim_count) are used.
pub type OwnedAtomicMeter<'p> = AtomicMeter<'p, MAX_DIMS, OwnedPolicy>;
pub use verdict::{Report, Verdict, Warning};
