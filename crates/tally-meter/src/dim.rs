//! Dimension handles and sets of dimensions.

use core::fmt;

use crate::policy::MAX_DIMS;

// A `DimSet` is one bit per dimension in a `u32`.
const _: () = assert!(MAX_DIMS <= u32::BITS as usize);
// A `Dim` is a `u8` index.
const _: () = assert!(MAX_DIMS <= u8::MAX as usize);

/// A handle to one dimension of a [`Policy`](crate::Policy): its index in the
/// policy's declaration order.
///
/// A `Dim` is only obtained from a policy ([`Policy::dim`](crate::Policy::dim)
/// by name, [`Policy::dim_at`](crate::Policy::dim_at) by index), so it is always
/// below [`MAX_DIMS`]. Used with a meter whose policy has fewer dimensions, it
/// is refused with [`Error::UnknownDim`](crate::Error::UnknownDim) and nothing
/// changes.
///
/// ```
/// use tally_meter::{DimSpec, Policy};
///
/// let policy = Policy::new([DimSpec::new("tokens", 10), DimSpec::new("calls", 2)])?;
/// let calls = policy.dim("calls").ok_or("no such dimension")?;
/// assert_eq!(calls.index(), 1);
/// assert_eq!(calls.to_string(), "#1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Dim(Index);

/// A dimension index as an enum of exactly `MAX_DIMS` values: out-of-range
/// indexes are unrepresentable, and the unused byte values are a niche that
/// keeps [`Verdict`](crate::Verdict) at 2 bytes (its hot-path return value
/// then fits in one register write).
macro_rules! index_enum {
    ($($variant:ident = $value:literal),* $(,)?) => {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        #[repr(u8)]
        enum Index { $($variant = $value),* }

        impl Index {
            const fn new(index: usize) -> Option<Self> {
                match index {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        const _: () = assert!([$($value),*].len() == MAX_DIMS);
    };
}

index_enum! {
    I0 = 0, I1 = 1, I2 = 2, I3 = 3, I4 = 4, I5 = 5, I6 = 6, I7 = 7, I8 = 8, I9 = 9,
    I10 = 10, I11 = 11, I12 = 12, I13 = 13, I14 = 14, I15 = 15, I16 = 16, I17 = 17,
    I18 = 18, I19 = 19, I20 = 20, I21 = 21, I22 = 22, I23 = 23, I24 = 24, I25 = 25,
    I26 = 26, I27 = 27, I28 = 28, I29 = 29, I30 = 30, I31 = 31,
}

impl Dim {
    /// The handle for `index`, if it is below [`MAX_DIMS`].
    pub(crate) const fn new(index: usize) -> Option<Self> {
        match Index::new(index) {
            Some(index) => Some(Self(index)),
            None => None,
        }
    }

    /// The handle for `index`, which the caller knows is below `N <= MAX_DIMS`
    /// (clamped to the last valid index otherwise, never out of range).
    pub(crate) const fn from_index(index: usize) -> Self {
        match Self::new(index) {
            Some(dim) => dim,
            None => Self(Index::I31),
        }
    }

    /// The index as a `u8` (below `MAX_DIMS`).
    pub(crate) const fn byte(self) -> u8 {
        self.0 as u8
    }

    /// The dimension's index in its policy's declaration order.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim("tokens").map(|d| d.index()), Some(0));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.byte())
    }
}

/// A set of dimensions (one bit per index), as reported by multi-dimension
/// operations: which dimensions warned, which would exhaust.
///
/// ```
/// use tally_meter::{DimSet, DimSpec, Policy};
///
/// let policy = Policy::new([DimSpec::new("a", 1), DimSpec::new("b", 1)])?;
/// let b = policy.dim("b").ok_or("no such dimension")?;
/// let set = DimSet::EMPTY.with(b);
/// assert!(set.contains(b) && set.len() == 1);
/// assert_eq!(set.iter().collect::<Vec<_>>(), vec![b]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct DimSet(u32);

impl DimSet {
    /// The empty set.
    ///
    /// ```
    /// assert!(tally_meter::DimSet::EMPTY.is_empty());
    /// ```
    pub const EMPTY: Self = Self(0);

    /// This set with `dim` added.
    ///
    /// ```
    /// # use tally_meter::{DimSet, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 1)])?;
    /// let a = policy.dim("a").ok_or("?")?;
    /// assert_eq!(DimSet::EMPTY.with(a).with(a).len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn with(self, dim: Dim) -> Self {
        // dim < MAX_DIMS <= 32, so the shift is in range.
        Self(self.0 | (1u32 << dim.byte()))
    }

    /// Whether `dim` is in the set.
    ///
    /// ```
    /// # use tally_meter::{DimSet, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 1)])?;
    /// let a = policy.dim("a").ok_or("?")?;
    /// assert!(!DimSet::EMPTY.contains(a) && DimSet::EMPTY.with(a).contains(a));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn contains(self, dim: Dim) -> bool {
        self.0 & (1u32 << dim.byte()) != 0
    }

    /// The number of dimensions in the set.
    ///
    /// ```
    /// assert_eq!(tally_meter::DimSet::EMPTY.len(), 0);
    /// ```
    #[must_use]
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// assert!(tally_meter::DimSet::default().is_empty());
    /// ```
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The dimensions in the set, in index order.
    ///
    /// ```
    /// # use tally_meter::{DimSet, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 1), DimSpec::new("b", 1)])?;
    /// let (a, b) = (policy.dim("a").ok_or("?")?, policy.dim("b").ok_or("?")?);
    /// assert_eq!(DimSet::EMPTY.with(b).with(a).iter().collect::<Vec<_>>(), [a, b]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(self) -> impl Iterator<Item = Dim> {
        let bits = self.0;
        (0..MAX_DIMS).filter_map(move |i| Dim::new(i).filter(|_| bits & (1u32 << i) != 0))
    }
}
