//! The crate's one error type.

use crate::dim::{Dim, DimSet};
use crate::policy::{MAX_DIMS, MAX_NAME_BYTES, MAX_WARN_LEVELS};

/// Everything that can go wrong, for every operation of the crate.
///
/// An operation that returns an error has changed nothing. The error is
/// `Copy` and at most 16 bytes, so results stay in registers on the hot path.
/// [`Error::code`] gives a stable machine-readable code for each variant.
///
/// ```
/// use tally_meter::{DimSpec, Error, Meter, Policy};
///
/// let policy = Policy::new([DimSpec::new("calls", 3)])?;
/// let calls = policy.dim("calls").ok_or("no such dimension")?;
/// let mut meter = Meter::new(&policy);
/// let refused = meter.try_charge(calls, 5);
/// assert!(matches!(refused, Err(Error::Refused { shortfall: 2, .. })));
/// assert_eq!(refused.err().map(|e| e.code()), Some("meter.refused"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum Error {
    /// A policy needs at least one dimension.
    #[error("a policy needs at least one dimension")]
    NoDims,
    /// A policy has more than [`MAX_DIMS`] dimensions.
    #[error("a policy has at most {MAX_DIMS} dimensions")]
    TooManyDims,
    /// A dimension's name is empty, longer than [`MAX_NAME_BYTES`] or has a
    /// byte outside `[A-Za-z0-9_.-]`.
    #[error(
        "dimension {dim}: a name is 1 to {MAX_NAME_BYTES} bytes of letters, digits, '_', '.', '-'"
    )]
    InvalidName {
        /// The offending dimension.
        dim: Dim,
    },
    /// Two dimensions have the same name.
    #[error("dimension {dim}: its name is already used by an earlier dimension")]
    DuplicateName {
        /// The later of the two dimensions.
        dim: Dim,
    },
    /// A dimension's limit is zero.
    #[error("dimension {dim}: the limit must be above zero")]
    ZeroLimit {
        /// The offending dimension.
        dim: Dim,
    },
    /// A warn level is not below the limit.
    #[error("dimension {dim}: every warn level must be below the limit")]
    WarnNotBelowLimit {
        /// The offending dimension.
        dim: Dim,
    },
    /// Warn levels are not strictly increasing (or one is repeated).
    #[error("dimension {dim}: warn levels must be strictly increasing")]
    WarnNotIncreasing {
        /// The offending dimension.
        dim: Dim,
    },
    /// A dimension has more than [`MAX_WARN_LEVELS`] warn levels.
    #[error("dimension {dim}: at most {MAX_WARN_LEVELS} warn levels")]
    TooManyWarnLevels {
        /// The offending dimension.
        dim: Dim,
    },
    /// The dimension does not belong to this meter's policy.
    #[error("dimension {dim} is not in this meter's policy")]
    UnknownDim {
        /// The unknown dimension.
        dim: Dim,
    },
    /// Recording the charge would take the dimension's total past `u64::MAX`.
    /// Nothing was recorded (budgetkernel would have saturated silently).
    #[error("dimension {dim}: the charge would overflow the meter")]
    Overflow {
        /// The dimension that would overflow (the first, in index order).
        dim: Dim,
    },
    /// Admission control refused the operation: it does not fit in what
    /// remains. Nothing was recorded.
    #[error("dimension {dim}: refused, {shortfall} more than remains")]
    Refused {
        /// The first refused dimension, in index order.
        dim: Dim,
        /// How much of `dim`'s amount does not fit: `amount - remaining`.
        shortfall: u64,
        /// Every refused dimension. The shortfall of each is
        /// `amount - remaining(dim)`, since nothing changed.
        dims: DimSet,
    },
    /// An ancestor of this [`AtomicMeter`](crate::AtomicMeter) refused the
    /// operation: it does not fit in what remains there. Nothing was recorded
    /// anywhere.
    #[error("ancestor {generation}, dimension {dim}: refused, {shortfall} more than remains")]
    AncestorRefused {
        /// Which ancestor: 1 is the parent, 2 the grandparent, and so on.
        generation: u8,
        /// The first refused dimension, in index order.
        dim: Dim,
        /// How much of `dim`'s amount does not fit in the ancestor.
        shortfall: u64,
        /// Every dimension the ancestor refused.
        dims: DimSet,
    },
    /// The reservation was not issued by this meter since its last reset,
    /// `release_all` or restore.
    #[error("the reservation does not belong to this meter (another meter, or before a reset)")]
    ForeignReservation,
    /// A child meter's policy does not name the same dimensions, in the same
    /// order, as its parent's.
    #[error("the child's policy does not have the parent's dimensions")]
    PolicyMismatch,
    /// A child would be deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) below its
    /// root meter.
    #[error("a meter may have at most {} ancestors", crate::MAX_DEPTH)]
    TooDeep,
    /// The snapshot was taken under another policy (its fingerprint differs).
    #[error("the snapshot was taken under another policy")]
    SnapshotPolicyMismatch,
    /// The snapshot's state is impossible under the policy: a reserved amount
    /// above the limit, or `spent + reserved` past `u64::MAX`.
    #[error("dimension {dim}: the snapshot's state is impossible under the policy")]
    SnapshotInvalid {
        /// The first offending dimension.
        dim: Dim,
    },
}

impl Error {
    /// A stable machine-readable code, `meter.<snake_case variant>`, for logs
    /// and the command line.
    ///
    /// ```
    /// assert_eq!(tally_meter::Error::NoDims.code(), "meter.no_dims");
    /// ```
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NoDims => "meter.no_dims",
            Self::TooManyDims => "meter.too_many_dims",
            Self::InvalidName { .. } => "meter.invalid_name",
            Self::DuplicateName { .. } => "meter.duplicate_name",
            Self::ZeroLimit { .. } => "meter.zero_limit",
            Self::WarnNotBelowLimit { .. } => "meter.warn_not_below_limit",
            Self::WarnNotIncreasing { .. } => "meter.warn_not_increasing",
            Self::TooManyWarnLevels { .. } => "meter.too_many_warn_levels",
            Self::UnknownDim { .. } => "meter.unknown_dim",
            Self::Overflow { .. } => "meter.overflow",
            Self::Refused { .. } => "meter.refused",
            Self::AncestorRefused { .. } => "meter.ancestor_refused",
            Self::ForeignReservation => "meter.foreign_reservation",
            Self::PolicyMismatch => "meter.policy_mismatch",
            Self::TooDeep => "meter.too_deep",
            Self::SnapshotPolicyMismatch => "meter.snapshot_policy_mismatch",
            Self::SnapshotInvalid { .. } => "meter.snapshot_invalid",
        }
    }
}
