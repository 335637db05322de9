//! The outcome of a charge: per dimension, and for a multi-dimension charge.

use crate::dim::{Dim, DimSet};

/// The outcome of a charge on one dimension, with budgetkernel's semantics.
///
/// * `Exhausted` when the dimension's `used` is above its limit (limits are
///   inclusive: `used == limit` is not exhausted). Exhaustion wins over a warn.
/// * `Warn` when `used` is above a warn level. It is reported on **every**
///   charge while above the level, not once; [`Warning::crossed`] says whether
///   this charge is the one that crossed it, so a caller can warn exactly once
///   without keeping state.
/// * `Continue` otherwise.
///
/// ```
/// use tally_meter::{DimSpec, Meter, Policy, Verdict};
///
/// let policy = Policy::new([DimSpec::new("tokens", 10).warn_at(5)])?;
/// let tokens = policy.dim("tokens").ok_or("no such dimension")?;
/// let mut meter = Meter::new(&policy);
/// assert_eq!(meter.charge(tokens, 5)?, Verdict::Continue);
/// assert!(meter.charge(tokens, 1)?.warning().is_some_and(|w| w.crossed()));
/// assert!(meter.charge(tokens, 4)?.warning().is_some_and(|w| !w.crossed()));
/// assert_eq!(meter.charge(tokens, 1)?, Verdict::Exhausted(tokens));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Verdict {
    /// Within the limit and below every warn level.
    Continue,
    /// Within the limit and above a warn level.
    Warn(Warning),
    /// Above the limit.
    Exhausted(Dim),
}

impl Verdict {
    /// The more severe of two verdicts (`Exhausted` > `Warn` > `Continue`);
    /// `self` on a tie.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy, Verdict};
    /// # let policy = Policy::new([DimSpec::new("t", 1)])?;
    /// # let t = policy.dim("t").ok_or("no dim")?;
    /// assert_eq!(Verdict::Continue.worst(Verdict::Exhausted(t)), Verdict::Exhausted(t));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn worst(self, other: Self) -> Self {
        match (self, other) {
            (Self::Exhausted(_), _) => self,
            (_, Self::Exhausted(_)) => other,
            (Self::Warn(_), _) => self,
            (_, Self::Warn(_)) => other,
            (Self::Continue, Self::Continue) => self,
        }
    }

    /// Whether the dimension is still within its limit (not `Exhausted`).
    ///
    /// ```
    /// assert!(tally_meter::Verdict::Continue.is_continuing());
    /// ```
    #[must_use]
    pub const fn is_continuing(self) -> bool {
        !self.is_exhausted()
    }

    /// Whether the verdict is `Exhausted`.
    ///
    /// ```
    /// assert!(!tally_meter::Verdict::Continue.is_exhausted());
    /// ```
    #[must_use]
    pub const fn is_exhausted(self) -> bool {
        matches!(self, Self::Exhausted(_))
    }

    /// The warning, if the verdict is `Warn`.
    ///
    /// ```
    /// assert_eq!(tally_meter::Verdict::Continue.warning(), None);
    /// ```
    #[must_use]
    pub const fn warning(self) -> Option<Warning> {
        match self {
            Self::Warn(warning) => Some(warning),
            Self::Continue | Self::Exhausted(_) => None,
        }
    }
}

/// A warn verdict: the dimension, the highest warn level it is above, and
/// whether this charge crossed that level.
///
/// ```
/// use tally_meter::{DimSpec, Meter, Policy};
///
/// let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(50).warn_at(90)])?;
/// let tokens = policy.dim("tokens").ok_or("no such dimension")?;
/// let mut meter = Meter::new(&policy);
/// let warning = meter.charge(tokens, 95)?.warning().ok_or("expected a warning")?;
/// assert_eq!((warning.dim(), warning.level(), warning.crossed()), (tokens, 1, true));
/// assert_eq!(policy.warn_levels(tokens).and_then(|l| l.get(warning.level())), Some(&90));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Warning {
    dim: Dim,
    /// The level in the low bits, [`CROSSED`] set when this charge crossed
    /// it: one byte, so that a `Verdict` is 2 bytes.
    flags: u8,
}

/// The `crossed` bit of `Warning::flags`.
const CROSSED: u8 = 0x80;

impl Warning {
    /// `level < MAX_WARN_LEVELS`, so it fits the low bits.
    pub(crate) const fn new(dim: Dim, level: u8, crossed: bool) -> Self {
        let crossed = if crossed { CROSSED } else { 0 };
        Self {
            dim,
            flags: (level & !CROSSED) | crossed,
        }
    }

    /// The dimension that warned.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(50).warn_at(90)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// let warning = meter.charge(tokens, 60)?.warning().ok_or("expected a warning")?;
    /// assert_eq!(warning.dim(), tokens);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn dim(self) -> Dim {
        self.dim
    }

    /// The index of the highest warn level `used` is above, into
    /// [`Policy::warn_levels`](crate::Policy::warn_levels).
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(50).warn_at(90)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// let warning = meter.charge(tokens, 60)?.warning().ok_or("expected a warning")?;
    /// assert_eq!(warning.level(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn level(self) -> usize {
        (self.flags & !CROSSED) as usize
    }

    /// Whether this charge moved `used` from at or below that level to above
    /// it. Exactly one charge crosses each level (until a reset or a refund
    /// brings `used` back down).
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(50).warn_at(90)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// let warning = meter.charge(tokens, 60)?.warning().ok_or("expected a warning")?;
    /// assert!(warning.crossed());
    /// assert!(meter.charge(tokens, 1)?.warning().is_some_and(|w| !w.crossed()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn crossed(self) -> bool {
        self.flags & CROSSED != 0
    }
}

impl core::fmt::Debug for Warning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Warning")
            .field("dim", &self.dim)
            .field("level", &self.level())
            .field("crossed", &self.crossed())
            .finish()
    }
}

/// The per-dimension verdicts of a multi-dimension charge, commit or
/// reservation: a fixed-size array, no allocation.
///
/// ```
/// use tally_meter::{DimSpec, Meter, Policy};
///
/// let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(50), DimSpec::new("calls", 3)])?;
/// let (tokens, calls) = (policy.dim("tokens").ok_or("?")?, policy.dim("calls").ok_or("?")?);
/// let mut meter = Meter::new(&policy);
/// let report = meter.try_charge_many(&[60, 1])?;
/// assert!(report.warned().contains(tokens) && !report.warned().contains(calls));
/// assert!(report.exhausted().is_empty());
/// assert_eq!(report.get(calls).map(|v| v.is_continuing()), Some(true));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Report<const N: usize> {
    verdicts: [Verdict; N],
}

impl<const N: usize> Report<N> {
    pub(crate) const fn new(verdicts: [Verdict; N]) -> Self {
        Self { verdicts }
    }

    /// The verdict for `dim`, if it is below `N`: for a [`Policy`](crate::Policy),
    /// if it belongs to the policy; for an [`OwnedPolicy`](crate::OwnedPolicy),
    /// a slot past its dimensions is `Some(Continue)` (nothing can be charged
    /// there). The report holds no count, which keeps it at `2 × N` bytes.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy, Verdict};
    /// let policy = Policy::new([DimSpec::new("a", 5)])?;
    /// let a = policy.dim("a").ok_or("?")?;
    /// let report = Meter::new(&policy).charge_many(&[6])?;
    /// assert_eq!(report.get(a), Some(Verdict::Exhausted(a)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn get(&self, dim: Dim) -> Option<Verdict> {
        self.verdicts.get(dim.index()).copied()
    }

    /// The verdicts in dimension order: one per slot of the meter, so for an
    /// [`OwnedPolicy`](crate::OwnedPolicy) the slots past its dimensions are
    /// there too, always `Continue`.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy, Verdict};
    /// let policy = Policy::new([DimSpec::new("a", 5), DimSpec::new("b", 5)])?;
    /// let report = Meter::new(&policy).try_charge_many(&[1, 2])?;
    /// assert_eq!(report.verdicts(), &[Verdict::Continue; 2]);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn verdicts(&self) -> &[Verdict; N] {
        &self.verdicts
    }

    /// The most severe verdict (the first in dimension order on a tie).
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy, Verdict};
    /// # let policy = Policy::new([DimSpec::new("a", 5), DimSpec::new("b", 5)])?;
    /// # let mut meter = Meter::new(&policy);
    /// assert_eq!(meter.charge_many(&[1, 1])?.worst(), Verdict::Continue);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn worst(&self) -> Verdict {
        self.verdicts
            .iter()
            .fold(Verdict::Continue, |worst, v| worst.worst(*v))
    }

    /// The dimensions whose verdict is `Warn`.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 5).warn_at(1), DimSpec::new("b", 5)])?;
    /// let report = Meter::new(&policy).try_charge_many(&[2, 2])?;
    /// assert_eq!(report.warned().len(), 1);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn warned(&self) -> DimSet {
        self.collect(|v| matches!(v, Verdict::Warn(_)))
    }

    /// The dimensions whose verdict is `Warn` with the level crossed by this
    /// operation.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 5).warn_at(1)])?;
    /// let mut meter = Meter::new(&policy);
    /// assert_eq!(meter.try_charge_many(&[2])?.crossed().len(), 1);
    /// assert_eq!(meter.try_charge_many(&[1])?.crossed().len(), 0);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn crossed(&self) -> DimSet {
        self.collect(|v| v.warning().is_some_and(Warning::crossed))
    }

    /// The dimensions whose verdict is `Exhausted`.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 5), DimSpec::new("b", 5)])?;
    /// let report = Meter::new(&policy).charge_many(&[6, 5])?;
    /// assert_eq!(report.exhausted().len(), 1);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn exhausted(&self) -> DimSet {
        self.collect(|v| v.is_exhausted())
    }

    fn collect(&self, keep: impl Fn(&Verdict) -> bool) -> DimSet {
        self.verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| keep(v))
            .filter_map(|(i, _)| Dim::new(i))
            .fold(DimSet::EMPTY, DimSet::with)
    }
}
