//! The policy declared at run time: names stored inline, dimension count
//! chosen at run time, no allocation and nothing leaked.

use core::fmt;

use crate::dim::Dim;
use crate::error::Error;
use crate::policy::{
    Bounds, DimDecl, MAX_DIMS, MAX_NAME_BYTES, Rules, fingerprint, sealed, str_eq, validate,
};

/// A validated dimension name, stored inline: 1 to [`MAX_NAME_BYTES`] bytes
/// of `[A-Za-z0-9_.-]` (unused bytes zero).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct DimName {
    bytes: [u8; MAX_NAME_BYTES],
    len: u8,
}

// A name's length fits `DimName::len`.
const _: () = assert!(MAX_NAME_BYTES <= u8::MAX as usize);

impl DimName {
    /// The name of an unused slot.
    const EMPTY: Self = Self {
        bytes: [0; MAX_NAME_BYTES],
        len: 0,
    };

    /// A copy of `name`, which validation has checked is at most
    /// `MAX_NAME_BYTES` of ASCII (a longer one would be cut, never panic).
    fn copy_of(name: &str) -> Self {
        let mut copy = Self::EMPTY;
        let mut len = 0u8;
        for (slot, byte) in copy.bytes.iter_mut().zip(name.as_bytes()) {
            *slot = *byte;
            len = len.saturating_add(1);
        }
        copy.len = len;
        copy
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        // Validated ASCII, so always UTF-8.
        core::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl fmt::Debug for DimName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// An immutable, validated limits policy declared at run time: the same
/// rules, validation, fingerprint and meter semantics as [`Policy`](crate::Policy),
/// for policies read from configuration (one per tenant, say) rather than
/// written in the source.
///
/// * Names are copied in and stored inline (up to [`MAX_NAME_BYTES`] bytes
///   each), so the declarations may borrow from a buffer that is then
///   dropped; nothing is allocated or leaked.
/// * The dimension count is chosen at run time, 1 to [`MAX_DIMS`]. The
///   meters of an owned policy have `N = MAX_DIMS` slots
///   ([`OwnedMeter`](crate::OwnedMeter), [`OwnedAtomicMeter`](crate::OwnedAtomicMeter)):
///   the `[u64; MAX_DIMS]` amounts of their multi-dimension operations must be
///   zero past [`dim_count`](Self::dim_count) (else
///   [`Error::UnknownDim`], nothing recorded), and their reports and
///   snapshots have zeros (`Continue`) there.
///
/// It is about 3 KiB (`MAX_DIMS` dimensions inline), and a meter borrows it.
///
/// ```
/// use tally_meter::{DimDecl, Error, MAX_DIMS, Meter, OwnedPolicy, Verdict};
///
/// // Declarations read at run time, for instance from a JSON file.
/// let config = [("tokens".to_string(), 1_000, vec![800]), ("calls".to_string(), 5, vec![])];
/// let decls: Vec<DimDecl<'_>> = config
///     .iter()
///     .map(|(name, limit, warns)| {
///         warns.iter().fold(DimDecl::new(name, *limit), |d, w| d.warn_at(*w))
///     })
///     .collect();
/// let policy = OwnedPolicy::new(&decls)?;
/// drop(decls);
/// drop(config);
///
/// let calls = policy.dim("calls").ok_or("no such dimension")?;
/// let mut meter = Meter::new(&policy);
/// assert_eq!(meter.try_charge(calls, 5)?, Verdict::Continue);
/// let mut amounts = [0u64; MAX_DIMS];
/// amounts[calls.index()] = 1;
/// assert!(matches!(meter.try_charge_many(&amounts), Err(Error::Refused { .. })));
/// amounts[2] = 1; // past the policy's two dimensions
/// assert!(matches!(meter.try_charge_many(&amounts), Err(Error::UnknownDim { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedPolicy {
    /// The declared dimensions' bounds, then `Bounds::new(0)` in unused slots.
    bounds: [Bounds; MAX_DIMS],
    /// The declared dimensions' names, then empty names.
    names: [DimName; MAX_DIMS],
    /// How many dimensions are declared: 1 to `MAX_DIMS`.
    count: usize,
    fingerprint: u64,
}

impl OwnedPolicy {
    /// Validates `dims` into a policy, copying their names in.
    ///
    /// # Errors
    ///
    /// As [`Policy::new`](crate::Policy::new), in the same order:
    /// [`Error::NoDims`] for no declaration, [`Error::TooManyDims`] for more
    /// than [`MAX_DIMS`]; then for each dimension in order:
    /// [`Error::InvalidName`] (empty, longer than [`MAX_NAME_BYTES`] bytes, or
    /// a byte outside `[A-Za-z0-9_.-]`), [`Error::ZeroLimit`],
    /// [`Error::TooManyWarnLevels`], [`Error::WarnNotIncreasing`],
    /// [`Error::WarnNotBelowLimit`], [`Error::DuplicateName`].
    ///
    /// ```
    /// use tally_meter::{DimDecl, Error, MAX_NAME_BYTES, OwnedPolicy};
    ///
    /// let long = "n".repeat(MAX_NAME_BYTES + 1);
    /// let refused = OwnedPolicy::new(&[DimDecl::new(&long, 10)]);
    /// assert!(matches!(refused, Err(Error::InvalidName { .. })));
    /// assert_eq!(OwnedPolicy::new(&[]), Err(Error::NoDims));
    /// ```
    pub fn new(dims: &[DimDecl<'_>]) -> Result<Self, Error> {
        validate(dims)?;
        let mut bounds = [Bounds::new(0); MAX_DIMS];
        let mut names = [DimName::EMPTY; MAX_DIMS];
        let slots = bounds.iter_mut().zip(names.iter_mut());
        for ((bounds, name), decl) in slots.zip(dims) {
            *bounds = *decl.bounds();
            *name = DimName::copy_of(decl.name());
        }
        Ok(Self {
            bounds,
            names,
            count: dims.len(),
            fingerprint: fingerprint(dims),
        })
    }

    /// How many dimensions the policy declares: 1 to [`MAX_DIMS`].
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("a", 1), DimSpec::new("b", 1)])?;
    /// assert_eq!(policy.dim_count(), 2);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn dim_count(&self) -> usize {
        self.count
    }

    /// The dimension called `name`, if any.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 10)])?;
    /// assert!(policy.dim("tokens").is_some() && policy.dim("TOKENS").is_none());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn dim(&self, name: &str) -> Option<Dim> {
        let index = self
            .declared_names()
            .iter()
            .position(|n| str_eq(n.as_str(), name))?;
        Dim::new(index)
    }

    /// The dimension at `index` in declaration order, if it is declared.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim_at(0), policy.dim("tokens"));
    /// assert_eq!(policy.dim_at(1), None);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn dim_at(&self, index: usize) -> Option<Dim> {
        if index < self.count {
            Dim::new(index)
        } else {
            None
        }
    }

    /// The declaration of `dim`, borrowing its name from the policy, if `dim`
    /// belongs to this policy.
    ///
    /// ```
    /// # use tally_meter::{DimDecl, DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 10).warn_at(5)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// assert_eq!(policy.spec(tokens), Some(DimDecl::new("tokens", 10).warn_at(5)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn spec(&self, dim: Dim) -> Option<DimDecl<'_>> {
        let i = dim.index();
        let bounds = self.declared_bounds().get(i)?;
        let name = self.declared_names().get(i)?;
        Some(DimDecl::from_parts(name.as_str(), *bounds))
    }

    /// The dimensions in declaration order, with their declarations.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("a", 1), DimSpec::new("b", 2)])?;
    /// let names: Vec<_> = policy.dims().map(|(_, spec)| spec.name()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    pub fn dims(&self) -> impl Iterator<Item = (Dim, DimDecl<'_>)> {
        let declared = self.declared_bounds().iter().zip(self.declared_names());
        declared.enumerate().filter_map(|(i, (bounds, name))| {
            Dim::new(i).map(|dim| (dim, DimDecl::from_parts(name.as_str(), *bounds)))
        })
    }

    /// The name of `dim`, if it belongs to this policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim_at(0).and_then(|d| policy.name(d)), Some("tokens"));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn name(&self, dim: Dim) -> Option<&str> {
        self.declared_names().get(dim.index()).map(DimName::as_str)
    }

    /// The inclusive limit of `dim`, if it belongs to this policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim_at(0).and_then(|d| policy.limit(d)), Some(10));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn limit(&self, dim: Dim) -> Option<u64> {
        self.declared_bounds().get(dim.index()).map(Bounds::limit)
    }

    /// The warn levels of `dim` in increasing order, if it belongs to this
    /// policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy};
    /// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 10).warn_at(8)])?;
    /// assert_eq!(policy.dim_at(0).and_then(|d| policy.warn_levels(d)), Some(&[8][..]));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn warn_levels(&self, dim: Dim) -> Option<&[u64]> {
        self.declared_bounds()
            .get(dim.index())
            .map(Bounds::warn_levels)
    }

    /// The policy's fingerprint, computed as
    /// [`Policy::fingerprint`](crate::Policy::fingerprint) is: an owned policy
    /// and a `Policy` declaring the same dimensions have the same fingerprint,
    /// so their snapshots restore under either.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, OwnedPolicy, Policy};
    /// let specs = [DimSpec::new("tokens", 10).warn_at(3)];
    /// assert_eq!(OwnedPolicy::new(&specs)?.fingerprint(), Policy::new(specs)?.fingerprint());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn declared_bounds(&self) -> &[Bounds] {
        self.bounds.get(..self.count).unwrap_or(&self.bounds)
    }

    fn declared_names(&self) -> &[DimName] {
        self.names.get(..self.count).unwrap_or(&self.names)
    }
}

impl fmt::Debug for OwnedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPolicy")
            .field("dims", &Decls(self))
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// The declared dimensions, as a `Debug` list.
struct Decls<'a>(&'a OwnedPolicy);

impl fmt::Debug for Decls<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.dims().map(|(_, decl)| decl))
            .finish()
    }
}

impl sealed::Sealed for OwnedPolicy {}

impl Rules<MAX_DIMS> for OwnedPolicy {
    type Spec = Bounds;

    #[inline(always)]
    fn specs(&self) -> &[Bounds] {
        self.declared_bounds()
    }

    fn name_at(&self, index: usize) -> Option<&str> {
        self.declared_names().get(index).map(DimName::as_str)
    }

    fn policy_fingerprint(&self) -> u64 {
        self.fingerprint
    }
}
