//! The immutable limits policies: [`Policy`] (const-constructible, `Copy`)
//! and [`OwnedPolicy`](crate::OwnedPolicy) (declared at run time), validated
//! by one routine, and the [`Rules`] a meter reads from either.

use crate::dim::Dim;
use crate::error::Error;
use crate::verdict::{Verdict, Warning};

/// The most dimensions a policy may have (a [`Policy`]'s `N`, an
/// [`OwnedPolicy`](crate::OwnedPolicy)'s dimension count).
///
/// Every operation is `O(N)` at worst, so this bounds the work of every call.
/// 32 fits a [`DimSet`](crate::DimSet) in one `u32`.
///
/// ```
/// assert_eq!(tally_meter::MAX_DIMS, 32);
/// ```
pub const MAX_DIMS: usize = 32;

/// The most warn levels one dimension may have.
///
/// ```
/// assert_eq!(tally_meter::MAX_WARN_LEVELS, 4);
/// ```
pub const MAX_WARN_LEVELS: usize = 4;

/// The longest dimension name, in bytes.
///
/// Names are 1 to `MAX_NAME_BYTES` bytes of `[A-Za-z0-9_.-]`, so that they
/// are safe to print in logs and JSON without escaping. An
/// [`OwnedPolicy`](crate::OwnedPolicy) stores each name inline in this many
/// bytes.
///
/// ```
/// assert_eq!(tally_meter::MAX_NAME_BYTES, 32);
/// ```
pub const MAX_NAME_BYTES: usize = 32;

/// The domain-separation tag of [`Policy::fingerprint`].
const FINGERPRINT_TAG: &[u8] = b"tally/meter/policy/v1";
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

pub(crate) mod sealed {
    /// Only this crate's policies are [`Rules`](super::Rules).
    pub trait Sealed {}

    /// What a meter reads of one dimension: its [`Bounds`](super::Bounds).
    pub trait HasBounds {
        /// The dimension's limit and warn levels.
        fn bounds(&self) -> &super::Bounds;
    }
}

/// A policy that a meter enforces: [`Policy<N>`](Policy) (its `N`
/// dimensions fixed at compile time) or [`OwnedPolicy`](crate::OwnedPolicy)
/// (`N` is [`MAX_DIMS`], of which [`dim_count`](Rules::dim_count) are
/// declared, chosen at run time).
///
/// Sealed: the meters' accounting is written once against this trait, and
/// its guarantees rest on the policies' validation.
///
/// ```
/// use tally_meter::{DimSpec, Meter, OwnedPolicy, Policy, Rules};
///
/// fn spent_of<const N: usize, P: Rules<N>>(policy: &P, amounts: &[u64; N]) -> u64 {
///     let mut meter = Meter::new(policy);
///     meter.try_charge_many(amounts).map_or(0, |_| amounts.iter().sum())
/// }
/// let specs = [DimSpec::new("tokens", 100), DimSpec::new("calls", 5)];
/// let fixed = Policy::new(specs)?;
/// let owned = OwnedPolicy::new(&specs)?;
/// assert_eq!((fixed.dim_count(), owned.dim_count()), (2, 2));
/// let mut wide = [0u64; tally_meter::MAX_DIMS];
/// wide[..2].copy_from_slice(&[40, 1]);
/// assert_eq!(spent_of(&fixed, &[40, 1]), spent_of(&owned, &wide));
/// # Ok::<(), tally_meter::Error>(())
/// ```
pub trait Rules<const N: usize>: sealed::Sealed {
    /// What the meters read of each dimension.
    #[doc(hidden)]
    type Spec: sealed::HasBounds;

    /// One entry per declared dimension, in declaration order (at most `N`).
    #[doc(hidden)]
    fn specs(&self) -> &[Self::Spec];

    /// The entry of the dimension at `index`, if it is declared.
    #[doc(hidden)]
    #[inline(always)]
    fn spec_at(&self, index: usize) -> Option<&Self::Spec> {
        self.specs().get(index)
    }

    /// The name of the dimension at `index`, if it is declared.
    #[doc(hidden)]
    fn name_at(&self, index: usize) -> Option<&str>;

    /// The policy's fingerprint (see [`Policy::fingerprint`]); equal for a
    /// [`Policy`] and an [`OwnedPolicy`](crate::OwnedPolicy) declaring the
    /// same dimensions.
    fn policy_fingerprint(&self) -> u64;

    /// How many dimensions the policy declares: `N` for a [`Policy`], 1 to
    /// [`MAX_DIMS`] for an [`OwnedPolicy`](crate::OwnedPolicy).
    fn dim_count(&self) -> usize {
        self.specs().len()
    }
}

/// The limit and warn levels of one dimension: all the meters read of it.
///
/// Public only inside the crate's private module: an implementation detail
/// of [`Rules`], not nameable by users.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Bounds {
    /// The largest `used` that is still `Continue`: the first warn level, or
    /// the limit when there is none. The hot path's single comparison.
    quiet_max: u64,
    limit: u64,
    /// The warn levels in increasing order, then `u64::MAX` in the unused
    /// slots (no `used` is above it), so the level search needs no count.
    warns: [u64; MAX_WARN_LEVELS],
    /// How many of `warns` are set; more than `MAX_WARN_LEVELS` when
    /// `warn_at` was called too often (refused by validation).
    warn_count: usize,
}

impl sealed::HasBounds for Bounds {
    #[inline(always)]
    fn bounds(&self) -> &Bounds {
        self
    }
}

impl Bounds {
    /// The inclusive `limit` and no warn level.
    pub(crate) const fn new(limit: u64) -> Self {
        Self {
            limit,
            warns: [u64::MAX; MAX_WARN_LEVELS],
            warn_count: 0,
            quiet_max: limit,
        }
    }

    /// These bounds with one more warn level (see [`DimDecl::warn_at`]).
    const fn warn_at(mut self, level: u64) -> Self {
        if self.warn_count == 0 {
            self.quiet_max = level;
        }
        let mut rest: &mut [u64] = &mut self.warns;
        let mut k = 0;
        while let [slot, tail @ ..] = rest {
            if k == self.warn_count {
                *slot = level;
                break;
            }
            k += 1;
            rest = tail;
        }
        // Saturating: past MAX_WARN_LEVELS the count only has to stay above it.
        self.warn_count = self.warn_count.saturating_add(1);
        self
    }

    /// The inclusive limit.
    #[inline(always)]
    pub(crate) const fn limit(&self) -> u64 {
        self.limit
    }

    /// The warn levels, in increasing order.
    pub(crate) fn warn_levels(&self) -> &[u64] {
        self.warns.get(..self.warn_count).unwrap_or(&self.warns)
    }

    /// Checks the limit and the warn levels of dimension `dim`.
    const fn validate(&self, dim: Dim) -> Result<(), Error> {
        if self.limit == 0 {
            return Err(Error::ZeroLimit { dim });
        }
        if self.warn_count > MAX_WARN_LEVELS {
            return Err(Error::TooManyWarnLevels { dim });
        }
        // Strictly increasing first; then only the highest level can reach
        // the limit.
        let mut highest: Option<u64> = None;
        let mut rest: &[u64] = &self.warns;
        let mut k = 0;
        while let [level, tail @ ..] = rest {
            if k == self.warn_count {
                break;
            }
            if let Some(previous) = highest
                && *level <= previous
            {
                return Err(Error::WarnNotIncreasing { dim });
            }
            highest = Some(*level);
            k += 1;
            rest = tail;
        }
        if let Some(highest) = highest
            && highest >= self.limit
        {
            return Err(Error::WarnNotBelowLimit { dim });
        }
        Ok(())
    }

    /// The verdict for a dimension whose `used` went from `prev` to `next`.
    #[inline(always)]
    pub(crate) fn verdict(&self, dim: Dim, prev: u64, next: u64) -> Verdict {
        if next <= self.quiet_max {
            return Verdict::Continue;
        }
        if next > self.limit {
            return Verdict::Exhausted(dim);
        }
        self.warning(dim, prev, next)
    }

    /// The warning for `next` above the first warn level and within the limit.
    #[inline(always)]
    fn warning(&self, dim: Dim, prev: u64, next: u64) -> Verdict {
        // The highest level below `next`: levels increase, unused slots are
        // u64::MAX (never below `next`), and `next > warns[0]`.
        let [w0, w1, w2, w3] = self.warns;
        if next <= w1 {
            // The first level (the only one, often): no search.
            return Verdict::Warn(Warning::new(dim, 0, prev <= w0));
        }
        let above = 1 + u8::from(next > w2) + u8::from(next > w3);
        let threshold = if above == 1 {
            w1
        } else if above == 2 {
            w2
        } else {
            w3
        };
        Verdict::Warn(Warning::new(dim, above, prev <= threshold))
    }
}

/// The declaration of one dimension: a name borrowed for `'a`, an inclusive
/// limit and up to [`MAX_WARN_LEVELS`] warn levels. Validated by
/// [`Policy::new`] (as a [`DimSpec`], whose name is `'static`) or by
/// [`OwnedPolicy::new`](crate::OwnedPolicy::new), which copies the name in.
///
/// ```
/// use tally_meter::{DimDecl, OwnedPolicy};
///
/// let name = String::from("tokens"); // read at run time
/// let decl = DimDecl::new(&name, 100).warn_at(80);
/// let policy = OwnedPolicy::new(&[decl])?;
/// drop(name); // the policy holds its own copy
/// assert_eq!(policy.dim_at(0).and_then(|d| policy.name(d)), Some("tokens"));
/// # Ok::<(), tally_meter::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DimDecl<'a> {
    bounds: Bounds,
    name: &'a str,
}

/// The declaration of one dimension of a [`Policy`]: a `'static` name, an
/// inclusive limit and up to [`MAX_WARN_LEVELS`] warn levels. Validated by
/// [`Policy::new`].
///
/// ```
/// use tally_meter::DimSpec;
///
/// const TOKENS: DimSpec = DimSpec::new("tokens", 100_000).warn_at(80_000).warn_at(95_000);
/// assert_eq!(TOKENS.name(), "tokens");
/// assert_eq!(TOKENS.limit(), 100_000);
/// assert_eq!(TOKENS.warn_levels(), &[80_000, 95_000]);
/// ```
pub type DimSpec = DimDecl<'static>;

impl sealed::HasBounds for DimDecl<'_> {
    #[inline(always)]
    fn bounds(&self) -> &Bounds {
        &self.bounds
    }
}

impl<'a> DimDecl<'a> {
    /// A dimension called `name` with the inclusive `limit` and no warn level.
    ///
    /// ```
    /// let calls = tally_meter::DimSpec::new("calls", 50);
    /// assert!(calls.warn_levels().is_empty());
    /// ```
    #[must_use]
    pub const fn new(name: &'a str, limit: u64) -> Self {
        Self {
            bounds: Bounds::new(limit),
            name,
        }
    }

    /// The declaration of a policy's dimension, borrowing its name.
    pub(crate) const fn from_parts(name: &'a str, bounds: Bounds) -> Self {
        Self { bounds, name }
    }

    /// This dimension with one more warn level: a charge that leaves `used`
    /// above `level` (and not above the limit) is [`Verdict::Warn`].
    ///
    /// Levels must be strictly increasing and below the limit; at most
    /// [`MAX_WARN_LEVELS`]. Validation refuses a declaration that breaks this.
    ///
    /// ```
    /// let tokens = tally_meter::DimSpec::new("tokens", 100).warn_at(50).warn_at(90);
    /// assert_eq!(tokens.warn_levels(), &[50, 90]);
    /// ```
    #[must_use]
    pub const fn warn_at(mut self, level: u64) -> Self {
        self.bounds = self.bounds.warn_at(level);
        self
    }

    /// The dimension's name.
    ///
    /// ```
    /// assert_eq!(tally_meter::DimSpec::new("calls", 5).name(), "calls");
    /// ```
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The inclusive limit: the dimension is exhausted when `used > limit`.
    ///
    /// ```
    /// assert_eq!(tally_meter::DimSpec::new("calls", 5).limit(), 5);
    /// ```
    #[must_use]
    pub const fn limit(&self) -> u64 {
        self.bounds.limit
    }

    /// The warn levels, in increasing order.
    ///
    /// ```
    /// assert_eq!(tally_meter::DimSpec::new("calls", 5).warn_at(3).warn_levels(), &[3]);
    /// ```
    #[must_use]
    pub fn warn_levels(&self) -> &[u64] {
        self.bounds.warn_levels()
    }

    /// The limit and warn levels.
    pub(crate) const fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// Checks this declaration on its own (not against other dimensions).
    const fn validate(&self, dim: Dim) -> Result<(), Error> {
        if !valid_name(self.name) {
            return Err(Error::InvalidName { dim });
        }
        self.bounds.validate(dim)
    }
}

/// Validates a policy's declarations, reporting the first problem in the
/// order documented at [`Policy::new`]: the one routine behind both
/// [`Policy::new`] and [`OwnedPolicy::new`](crate::OwnedPolicy::new).
pub(crate) const fn validate(dims: &[DimDecl<'_>]) -> Result<(), Error> {
    if dims.is_empty() {
        return Err(Error::NoDims);
    }
    if dims.len() > MAX_DIMS {
        return Err(Error::TooManyDims);
    }
    let mut rest = dims;
    let mut index = 0;
    while let [spec, tail @ ..] = rest {
        let Some(dim) = Dim::new(index) else {
            return Err(Error::TooManyDims);
        };
        if let Err(e) = spec.validate(dim) {
            return Err(e);
        }
        if name_in(spec.name, dims, index) {
            return Err(Error::DuplicateName { dim });
        }
        index += 1;
        rest = tail;
    }
    Ok(())
}

/// Whether `name` is 1..=MAX_NAME_BYTES bytes of `[A-Za-z0-9_.-]`.
const fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_BYTES {
        return false;
    }
    let mut rest = bytes;
    while let [b, tail @ ..] = rest {
        if !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.' || *b == b'-') {
            return false;
        }
        rest = tail;
    }
    true
}

/// Byte-wise string equality usable in `const fn`.
pub(crate) const fn str_eq(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    while let ([x, a_tail @ ..], [y, b_tail @ ..]) = (a, b) {
        if *x != *y {
            return false;
        }
        a = a_tail;
        b = b_tail;
    }
    true
}

/// An immutable, validated limits policy over `N` caller-named dimensions.
///
/// Built once by the `const fn` [`Policy::new`], so a policy can be a `const`
/// and a bad one fails the build. It is `Copy` and shared by reference by any
/// number of meters.
///
/// ```
/// use tally_meter::{DimSpec, Policy};
///
/// const POLICY: Policy<2> = match Policy::new([
///     DimSpec::new("tokens", 10_000).warn_at(8_000),
///     DimSpec::new("usd_micros", 2_000_000),
/// ]) {
///     Ok(policy) => policy,
///     Err(_) => panic!("invalid policy"),
/// };
/// const TOKENS: tally_meter::Dim = match POLICY.dim("tokens") {
///     Some(dim) => dim,
///     None => panic!("no such dimension"),
/// };
/// assert_eq!(POLICY.limit(TOKENS), Some(10_000));
/// assert_eq!(POLICY.warn_levels(TOKENS), Some(&[8_000][..]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Policy<const N: usize> {
    dims: [DimSpec; N],
    fingerprint: u64,
}

impl<const N: usize> Policy<N> {
    /// Validates `dims` into a policy.
    ///
    /// # Errors
    ///
    /// Checked in this order, reporting the first problem:
    /// [`Error::NoDims`] when `N == 0`, [`Error::TooManyDims`] when
    /// `N > MAX_DIMS`; then for each dimension in order: [`Error::InvalidName`],
    /// [`Error::ZeroLimit`], [`Error::TooManyWarnLevels`],
    /// [`Error::WarnNotIncreasing`] (includes a repeated level),
    /// [`Error::WarnNotBelowLimit`], [`Error::DuplicateName`] (the later of two
    /// dimensions with one name).
    ///
    /// ```
    /// use tally_meter::{DimSpec, Error, Policy};
    ///
    /// let bad = Policy::new([DimSpec::new("tokens", 100).warn_at(100)]);
    /// assert!(matches!(bad, Err(Error::WarnNotBelowLimit { .. })));
    /// ```
    pub const fn new(dims: [DimSpec; N]) -> Result<Self, Error> {
        if let Err(e) = validate(&dims) {
            return Err(e);
        }
        let fingerprint = fingerprint(&dims);
        Ok(Self { dims, fingerprint })
    }

    /// The dimension called `name`, if any.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert!(policy.dim("tokens").is_some() && policy.dim("TOKENS").is_none());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn dim(&self, name: &str) -> Option<Dim> {
        let mut rest: &[DimSpec] = &self.dims;
        let mut index = 0;
        while let [spec, tail @ ..] = rest {
            if str_eq(spec.name, name) {
                return Dim::new(index);
            }
            index += 1;
            rest = tail;
        }
        None
    }

    /// The dimension at `index` in declaration order, if `index < N`.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim_at(0), policy.dim("tokens"));
    /// assert_eq!(policy.dim_at(1), None);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn dim_at(&self, index: usize) -> Option<Dim> {
        if index < N { Dim::new(index) } else { None }
    }

    /// The declaration of `dim`, if it belongs to this policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// assert_eq!(policy.spec(tokens), Some(&DimSpec::new("tokens", 10)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn spec(&self, dim: Dim) -> Option<&DimSpec> {
        self.dims.get(dim.index())
    }

    /// The dimensions in declaration order, with their declarations.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("a", 1), DimSpec::new("b", 2)])?;
    /// let names: Vec<_> = policy.dims().map(|(_, spec)| spec.name()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    pub fn dims(&self) -> impl Iterator<Item = (Dim, &DimSpec)> {
        self.dims
            .iter()
            .enumerate()
            .filter_map(|(i, spec)| Dim::new(i).map(|dim| (dim, spec)))
    }

    /// The name of `dim`, if it belongs to this policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim_at(0).and_then(|d| policy.name(d)), Some("tokens"));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn name(&self, dim: Dim) -> Option<&'static str> {
        self.spec(dim).map(DimSpec::name)
    }

    /// The inclusive limit of `dim`, if it belongs to this policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(policy.dim_at(0).and_then(|d| policy.limit(d)), Some(10));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn limit(&self, dim: Dim) -> Option<u64> {
        self.spec(dim).map(DimSpec::limit)
    }

    /// The warn levels of `dim` in increasing order, if it belongs to this
    /// policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10).warn_at(8)])?;
    /// assert_eq!(policy.dim_at(0).and_then(|d| policy.warn_levels(d)), Some(&[8][..]));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn warn_levels(&self, dim: Dim) -> Option<&[u64]> {
        self.spec(dim).map(DimSpec::warn_levels)
    }

    /// A 64-bit FNV-1a digest of the policy's canonical encoding, stored in
    /// snapshots so that a snapshot is never restored under another policy.
    ///
    /// Encoding: the tag `tally/meter/policy/v1`, then `N` as a `u64`, then for
    /// each dimension the name's length as a `u64`, the name's bytes, the limit,
    /// the number of warn levels as a `u64` and each level; integers little
    /// endian. It detects mistakes, not forgeries: it is not a cryptographic
    /// hash (integrity of stored snapshots belongs to the audit log).
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Policy};
    /// let a = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let b = Policy::new([DimSpec::new("tokens", 11)])?;
    /// assert_ne!(a.fingerprint(), b.fingerprint());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl<const N: usize> sealed::Sealed for Policy<N> {}

impl<const N: usize> Rules<N> for Policy<N> {
    type Spec = DimSpec;

    #[inline(always)]
    fn specs(&self) -> &[DimSpec] {
        &self.dims
    }

    #[inline(always)]
    fn spec_at(&self, index: usize) -> Option<&DimSpec> {
        self.dims.get(index)
    }

    fn name_at(&self, index: usize) -> Option<&str> {
        self.dims.get(index).map(DimSpec::name)
    }

    fn policy_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    #[inline(always)]
    fn dim_count(&self) -> usize {
        N
    }
}

/// Whether a dimension before `before` in `dims` is called `name`.
const fn name_in(name: &str, dims: &[DimDecl<'_>], before: usize) -> bool {
    let mut rest = dims;
    let mut index = 0;
    while let [spec, tail @ ..] = rest {
        if index == before {
            return false;
        }
        if str_eq(spec.name, name) {
            return true;
        }
        index += 1;
        rest = tail;
    }
    false
}

/// FNV-1a over `bytes`, continuing from `hash`.
const fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut rest = bytes;
    while let [b, tail @ ..] = rest {
        hash ^= *b as u64;
        // Hash mixing, not value arithmetic: wrapping is the algorithm.
        hash = hash.wrapping_mul(FNV_PRIME);
        rest = tail;
    }
    hash
}

const fn fnv_u64(hash: u64, value: u64) -> u64 {
    fnv(hash, &value.to_le_bytes())
}

/// The canonical digest described at [`Policy::fingerprint`], of validated
/// declarations: the one encoding behind both policy forms.
pub(crate) const fn fingerprint(dims: &[DimDecl<'_>]) -> u64 {
    let mut hash = fnv(FNV_OFFSET, FINGERPRINT_TAG);
    hash = fnv_u64(hash, dims.len() as u64);
    let mut rest = dims;
    while let [spec, tail @ ..] = rest {
        let bounds = &spec.bounds;
        hash = fnv_u64(hash, spec.name.len() as u64);
        hash = fnv(hash, spec.name.as_bytes());
        hash = fnv_u64(hash, bounds.limit);
        hash = fnv_u64(hash, bounds.warn_count as u64);
        let mut levels: &[u64] = &bounds.warns;
        let mut k = 0;
        while let [level, more @ ..] = levels {
            if k == bounds.warn_count {
                break;
            }
            hash = fnv_u64(hash, *level);
            k += 1;
            levels = more;
        }
        rest = tail;
    }
    hash
}
