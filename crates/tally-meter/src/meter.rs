//! The single-owner meter.

use crate::dim::{Dim, DimSet};
use crate::error::Error;
use crate::policy::sealed::HasBounds;
use crate::policy::{Policy, Rules};
use crate::reservation::{Rejected, Reservation, next_tag};
use crate::snapshot::Snapshot;
use crate::verdict::{Report, Verdict};

/// The mutable state of one budget under a [`Policy`]: per dimension, `used`
/// (`spent + reserved`) and `reserved`. Borrows its policy, so it stays small:
/// `16 × N + 16` bytes (144 bytes for 8 dimensions).
///
/// `P` is the policy form: [`Policy<N>`](Policy) by default, or
/// [`OwnedPolicy`](crate::OwnedPolicy) with `N = MAX_DIMS`
/// ([`OwnedMeter`](crate::OwnedMeter), 528 bytes): the same code, so the same
/// semantics. Under an owned policy the slots past its dimensions stay zero:
/// a multi-dimension amount there is [`Error::UnknownDim`], and the getters
/// return `None` there, as for any dimension outside the policy.
///
/// Every method does bounded work (`O(N)` at most), never allocates, never
/// panics, and leaves the meter unchanged when it returns an error.
///
/// ```
/// use tally_meter::{DimSpec, Meter, Policy};
///
/// let policy = Policy::new([DimSpec::new("tokens", 1_000), DimSpec::new("calls", 10)])?;
/// let [tokens, calls] = [policy.dim("tokens"), policy.dim("calls")].map(Option::unwrap);
/// let mut meter = Meter::new(&policy);
///
/// // Hold an estimate, then settle the actual cost: the difference is refunded.
/// let held = meter.reserve(&[400, 1])?;
/// assert_eq!((meter.reserved(tokens), meter.remaining(tokens)), (Some(400), Some(600)));
/// meter.commit(held, &[250, 1])?;
/// assert_eq!((meter.spent(tokens), meter.remaining(tokens)), (Some(250), Some(750)));
/// assert_eq!(meter.spent(calls), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Meter<'p, const N: usize, P = Policy<N>> {
    policy: &'p P,
    /// `spent + reserved` per dimension; the quantity limits apply to.
    used: [u64; N],
    /// Held by outstanding reservations; `reserved[i] <= used[i]` always.
    reserved: [u64; N],
    /// Identifies this meter (and epoch) to its reservations.
    tag: u64,
}

impl<'p, const N: usize, P: Rules<N>> Meter<'p, N, P> {
    /// A fresh meter: nothing spent or reserved.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let meter = Meter::new(&policy);
    /// assert_eq!(meter.remaining(policy.dim("tokens").ok_or("?")?), Some(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(policy: &'p P) -> Self {
        Self {
            policy,
            used: [0; N],
            reserved: [0; N],
            tag: next_tag(),
        }
    }

    /// The policy this meter enforces.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(Meter::new(&policy).policy(), &policy);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn policy(&self) -> &'p P {
        self.policy
    }

    /// Records `amount` on `dim` and returns the verdict, with budgetkernel's
    /// semantics: the charge is recorded even when it exhausts the dimension.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDim`] if `dim` is not in the policy;
    /// [`Error::Overflow`] if `spent + reserved + amount` would pass
    /// `u64::MAX` (budgetkernel saturates there instead). Nothing is recorded.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Error, Meter, Policy, Verdict};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// assert_eq!(meter.charge(tokens, 10)?, Verdict::Continue); // inclusive limit
    /// assert_eq!(meter.charge(tokens, 1)?, Verdict::Exhausted(tokens));
    /// assert_eq!(meter.charge(tokens, u64::MAX), Err(Error::Overflow { dim: tokens }));
    /// assert_eq!(meter.spent(tokens), Some(11));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn charge(&mut self, dim: Dim, amount: u64) -> Result<Verdict, Error> {
        let i = dim.index();
        let (Some(used), Some(spec)) = (self.used.get_mut(i), self.policy.spec_at(i)) else {
            return Err(Error::UnknownDim { dim });
        };
        let prev = *used;
        let Some(next) = prev.checked_add(amount) else {
            return Err(Error::Overflow { dim });
        };
        *used = next;
        Ok(spec.bounds().verdict(dim, prev, next))
    }

    /// Admission control: records `amount` on `dim` only if it fits in what
    /// remains (limits inclusive, reserved amounts held back). The verdict is
    /// then `Continue` or `Warn`; it is `Exhausted` only for a zero amount (a
    /// state poll) on a dimension that [`charge`](Self::charge) already took
    /// past its limit.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDim`]; [`Error::Refused`] with the shortfall
    /// (`amount - remaining`) when it does not fit. Nothing is recorded.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Error, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("calls", 3)])?;
    /// let calls = policy.dim("calls").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// meter.try_charge(calls, 3)?;
    /// assert!(matches!(meter.try_charge(calls, 1), Err(Error::Refused { shortfall: 1, .. })));
    /// assert_eq!(meter.spent(calls), Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_charge(&mut self, dim: Dim, amount: u64) -> Result<Verdict, Error> {
        let i = dim.index();
        let (Some(used), Some(spec)) = (self.used.get_mut(i), self.policy.spec_at(i)) else {
            return Err(Error::UnknownDim { dim });
        };
        let prev = *used;
        let remaining = spec.bounds().limit().saturating_sub(prev);
        if amount > remaining {
            return Err(refused(dim, amount, remaining));
        }
        // Cannot overflow: prev + amount <= limit.
        let Some(next) = prev.checked_add(amount) else {
            return Err(Error::Overflow { dim });
        };
        *used = next;
        Ok(spec.bounds().verdict(dim, prev, next))
    }

    /// Records one amount per dimension (index order), all or nothing, with
    /// [`charge`](Self::charge)'s semantics; the report holds every
    /// dimension's verdict.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDim`] for a non-zero amount past the policy's
    /// dimensions (only an owned policy has such slots); [`Error::Overflow`]
    /// (the first dimension, in index order, that would overflow). Nothing is
    /// recorded on any dimension.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(50), DimSpec::new("calls", 1)])?;
    /// let mut meter = Meter::new(&policy);
    /// let report = meter.charge_many(&[60, 2])?;
    /// assert_eq!((report.warned().len(), report.exhausted().len()), (1, 1));
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    pub fn charge_many(&mut self, amounts: &[u64; N]) -> Result<Report<N>, Error> {
        undeclared(amounts, self.policy.dim_count())?;
        let mut next = [0u64; N];
        for (i, ((slot, used), amount)) in next.iter_mut().zip(&self.used).zip(amounts).enumerate()
        {
            let Some(sum) = used.checked_add(*amount) else {
                return Err(Error::Overflow { dim: dim_of(i) });
            };
            *slot = sum;
        }
        Ok(self.apply(&next))
    }

    /// Admission control over one amount per dimension (index order): all are
    /// recorded if every one fits in what remains, else none.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDim`] as for [`charge_many`](Self::charge_many);
    /// [`Error::Refused`] naming every dimension that does not fit (and the
    /// first one's shortfall). Nothing is recorded on any dimension.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Error, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100), DimSpec::new("calls", 1)])?;
    /// let mut meter = Meter::new(&policy);
    /// let refused = meter.try_charge_many(&[200, 2]);
    /// assert!(matches!(refused, Err(Error::Refused { shortfall: 100, dims, .. }) if dims.len() == 2));
    /// assert_eq!(meter.spent(policy.dim("tokens").ok_or("?")?), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_charge_many(&mut self, amounts: &[u64; N]) -> Result<Report<N>, Error> {
        undeclared(amounts, self.policy.dim_count())?;
        let mut next = [0u64; N];
        if !self.admit(amounts, &mut next) {
            return Err(self.refusal(amounts));
        }
        Ok(self.apply(&next))
    }

    /// Holds one amount per dimension, admission-controlled like
    /// [`try_charge_many`](Self::try_charge_many): held amounts count against
    /// the limits until the reservation is committed or released.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] as for `try_charge_many`. Nothing is held.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// let held = meter.reserve(&[70])?;
    /// assert!(meter.try_charge(tokens, 31).is_err()); // only 30 remain
    /// meter.release(held)?;
    /// assert_eq!(meter.remaining(tokens), Some(100));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve(&mut self, amounts: &[u64; N]) -> Result<Reservation<N>, Error> {
        undeclared(amounts, self.policy.dim_count())?;
        let mut next = [0u64; N];
        if !self.admit(amounts, &mut next) {
            return Err(self.refusal(amounts));
        }
        let report = self.apply(&next);
        for (reserved, amount) in self.reserved.iter_mut().zip(amounts) {
            // reserved <= used, and used + amount did not overflow.
            *reserved = reserved.saturating_add(*amount);
        }
        Ok(Reservation::new(self.tag, *amounts, report))
    }

    /// Settles a reservation at the `actual` amounts: where `actual` is below
    /// the reserved amount the difference is refunded; where it is above, the
    /// overrun must fit in what remains.
    ///
    /// # Errors
    ///
    /// In [`Rejected`], with the reservation handed back and nothing changed:
    /// [`Error::ForeignReservation`] if another meter (or this one before a
    /// reset) issued it; [`Error::UnknownDim`] for a non-zero `actual` amount
    /// past the policy's dimensions; [`Error::Refused`] naming every dimension
    /// whose overrun does not fit.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// let held = meter.reserve(&[50])?;
    /// meter.commit(held, &[80])?; // a 30 overrun fits in the 50 that remain
    /// assert_eq!((meter.spent(tokens), meter.reserved(tokens)), (Some(80), Some(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(
        &mut self,
        reservation: Reservation<N>,
        actual: &[u64; N],
    ) -> Result<Report<N>, Rejected<N>> {
        if let Err(error) = self
            .owns(&reservation)
            .and_then(|()| undeclared(actual, self.policy.dim_count()))
        {
            return Err(Rejected { error, reservation });
        }
        let held = reservation.amounts();
        let mut next = [0u64; N];
        let mut refusal = Refusal::default();
        for (i, (((slot, used), held), actual)) in next
            .iter_mut()
            .zip(&self.used)
            .zip(held)
            .zip(actual)
            .enumerate()
        {
            // used >= held (owns), so neither side can underflow or overflow
            // past used + actual - held <= max(used, limit).
            let base = used.saturating_sub(*held);
            let extra = actual.saturating_sub(*held);
            let remaining = self.limit_at(i).saturating_sub(*used);
            if extra > remaining {
                refusal.add(dim_of(i), extra, remaining);
            }
            *slot = base.saturating_add(*actual);
        }
        if let Some(error) = refusal.into_error() {
            return Err(Rejected { error, reservation });
        }
        for (reserved, held) in self.reserved.iter_mut().zip(held) {
            *reserved = reserved.saturating_sub(*held);
        }
        Ok(self.apply(&next))
    }

    /// Gives a reservation's amounts back, in full.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignReservation`] in [`Rejected`], with the reservation
    /// handed back and nothing changed.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let mut meter = Meter::new(&policy);
    /// let held = meter.reserve(&[50])?;
    /// meter.release(held)?;
    /// assert_eq!(meter.remaining(policy.dim("tokens").ok_or("?")?), Some(100));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&mut self, reservation: Reservation<N>) -> Result<(), Rejected<N>> {
        if let Err(error) = self.owns(&reservation) {
            return Err(Rejected { error, reservation });
        }
        let dims = self.used.iter_mut().zip(self.reserved.iter_mut());
        for ((used, reserved), held) in dims.zip(reservation.amounts()) {
            *used = used.saturating_sub(*held);
            *reserved = reserved.saturating_sub(*held);
        }
        Ok(())
    }

    /// Releases every outstanding reservation at once (for instance after a
    /// restore, when the handles died with the process). Reservations issued
    /// before become foreign.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Error, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let mut meter = Meter::new(&policy);
    /// let held = meter.reserve(&[50])?;
    /// meter.release_all();
    /// assert_eq!(meter.release(held).map_err(|r| r.error), Err(Error::ForeignReservation));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_all(&mut self) {
        for (used, reserved) in self.used.iter_mut().zip(self.reserved.iter_mut()) {
            *used = used.saturating_sub(*reserved);
            *reserved = 0;
        }
        self.tag = next_tag();
    }

    /// Zeroes every dimension (spent and reserved), keeping the policy.
    /// Reservations issued before become foreign.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// meter.charge(tokens, 150)?;
    /// meter.reset();
    /// assert_eq!(meter.spent(tokens), Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self) {
        self.used = [0; N];
        self.reserved = [0; N];
        self.tag = next_tag();
    }

    /// What `dim` has spent (charged and committed), if it is in the policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// meter.charge(tokens, 3)?;
    /// assert_eq!(meter.spent(tokens), Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn spent(&self, dim: Dim) -> Option<u64> {
        let (used, reserved) = self.state(dim)?;
        Some(used.saturating_sub(reserved))
    }

    /// What outstanding reservations hold on `dim`, if it is in the policy.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let mut meter = Meter::new(&policy);
    /// let held = meter.reserve(&[4])?;
    /// assert_eq!(meter.reserved(policy.dim("tokens").ok_or("?")?), Some(4));
    /// # meter.release(held)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn reserved(&self, dim: Dim) -> Option<u64> {
        self.state(dim).map(|(_, reserved)| reserved)
    }

    /// What can still be admitted on `dim`: `limit - spent - reserved`, or 0
    /// once [`charge`](Self::charge) has recorded past the limit.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// meter.charge(tokens, 3)?;
    /// let _held = meter.reserve(&[2])?;
    /// assert_eq!(meter.remaining(tokens), Some(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn remaining(&self, dim: Dim) -> Option<u64> {
        let (used, _) = self.state(dim)?;
        Some(self.limit_at(dim.index()).saturating_sub(used))
    }

    /// How far [`charge`](Self::charge) has recorded `dim` past its limit:
    /// `spent + reserved - limit`, or 0. The identity
    /// `spent + reserved + remaining == limit + overrun` always holds.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let mut meter = Meter::new(&policy);
    /// meter.charge(tokens, 130)?;
    /// assert_eq!((meter.remaining(tokens), meter.overrun(tokens)), (Some(0), Some(30)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn overrun(&self, dim: Dim) -> Option<u64> {
        let (used, _) = self.state(dim)?;
        Some(used.saturating_sub(self.limit_at(dim.index())))
    }

    /// The meter's state, for storage; see [`Meter::restore`].
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let mut meter = Meter::new(&policy);
    /// meter.try_charge_many(&[30])?;
    /// let copy = Meter::restore(&policy, &meter.snapshot())?;
    /// assert_eq!(copy.snapshot(), meter.snapshot());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> Snapshot<N> {
        let mut spent = [0u64; N];
        for ((spent, used), reserved) in spent.iter_mut().zip(&self.used).zip(&self.reserved) {
            *spent = used.saturating_sub(*reserved);
        }
        Snapshot::with_count(
            self.policy.policy_fingerprint(),
            spent,
            self.reserved,
            self.policy.dim_count(),
        )
    }

    /// A meter under `policy` in the state `snapshot` records. The restored
    /// meter is a new meter: reservations issued before are foreign to it (use
    /// [`release_all`](Self::release_all) to drop the amounts they held).
    ///
    /// # Errors
    ///
    /// [`Error::SnapshotPolicyMismatch`] if the snapshot was taken under
    /// another policy; [`Error::SnapshotInvalid`] if a reserved amount is above
    /// its limit or `spent + reserved` passes `u64::MAX`.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Error, Meter, Policy, Snapshot};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let ok = Snapshot::new(policy.fingerprint(), [7], [3]);
    /// assert_eq!(Meter::restore(&policy, &ok)?.remaining(policy.dim("tokens").ok_or("?")?), Some(0));
    /// let impossible = Snapshot::new(policy.fingerprint(), [0], [11]);
    /// assert!(matches!(Meter::restore(&policy, &impossible), Err(Error::SnapshotInvalid { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(policy: &'p P, snapshot: &Snapshot<N>) -> Result<Self, Error> {
        let used = snapshot.validate(policy)?;
        Ok(Self {
            policy,
            used,
            reserved: *snapshot.reserved(),
            tag: next_tag(),
        })
    }

    /// `(used, reserved)` of `dim`.
    /// `None` past the policy's dimensions (slots an owned policy leaves unused).
    fn state(&self, dim: Dim) -> Option<(u64, u64)> {
        let i = dim.index();
        if i >= self.policy.dim_count() {
            return None;
        }
        Some((*self.used.get(i)?, *self.reserved.get(i)?))
    }

    fn limit_at(&self, i: usize) -> u64 {
        self.policy
            .specs()
            .get(i)
            .map_or(0, |spec| spec.bounds().limit())
    }

    /// Whether every amount fits; if so, `next` holds the new `used` values.
    #[inline]
    fn admit(&self, amounts: &[u64; N], next: &mut [u64; N]) -> bool {
        let mut fits = true;
        let specs = self.policy.specs();
        for ((slot, used), (amount, spec)) in next
            .iter_mut()
            .zip(&self.used)
            .zip(amounts.iter().zip(specs))
        {
            fits &= *amount <= spec.bounds().limit().saturating_sub(*used);
            // Exact whenever everything fits (the sum is then <= limit).
            *slot = used.saturating_add(*amount);
        }
        fits
    }

    /// The refusal of `amounts`: every dimension that does not fit.
    #[cold]
    fn refusal(&self, amounts: &[u64; N]) -> Error {
        let mut refusal = Refusal::default();
        for (i, (used, amount)) in self.used.iter().zip(amounts).enumerate() {
            let remaining = self.limit_at(i).saturating_sub(*used);
            if *amount > remaining {
                refusal.add(dim_of(i), *amount, remaining);
            }
        }
        debug_assert!(refusal.first.is_some(), "refusal of amounts that fit");
        // Only called when a dimension does not fit, so `first` is set.
        refusal.into_error().unwrap_or(Error::Refused {
            dim: dim_of(0),
            shortfall: 0,
            dims: DimSet::EMPTY,
        })
    }

    /// Sets `used` to `next` and reports each dimension's verdict.
    #[inline(always)]
    fn apply(&mut self, next: &[u64; N]) -> Report<N> {
        let mut verdicts = [Verdict::Continue; N];
        let specs = self.policy.specs();
        let dims = verdicts
            .iter_mut()
            .zip(self.used.iter_mut())
            .zip(next)
            .zip(specs);
        for (i, (((verdict, used), next), spec)) in dims.enumerate() {
            *verdict = spec.bounds().verdict(dim_of(i), *used, *next);
            *used = *next;
        }
        Report::new(verdicts)
    }

    /// Whether this meter, in its current epoch, issued `reservation`.
    fn owns(&self, reservation: &Reservation<N>) -> Result<(), Error> {
        let held = reservation.amounts();
        let fits = self.reserved.iter().zip(held).all(|(r, h)| h <= r);
        if reservation.tag() == self.tag && fits {
            Ok(())
        } else {
            Err(Error::ForeignReservation)
        }
    }
}

/// The `Dim` of index `i < N <= MAX_DIMS` (`Policy::new` guarantees the bound).
pub(crate) const fn dim_of(i: usize) -> Dim {
    Dim::from_index(i)
}

/// `UnknownDim` for the first non-zero amount past the policy's `count`
/// dimensions: only an [`OwnedPolicy`](crate::OwnedPolicy) has fewer than `N`
/// (for a [`Policy`], `count == N` and the check compiles away).
#[inline(always)]
pub(crate) fn undeclared<const N: usize>(amounts: &[u64; N], count: usize) -> Result<(), Error> {
    let past = amounts.get(count..).unwrap_or_default();
    // Branch-free (vectorized) on the usual all-zero slots.
    if past.iter().fold(0, |any, amount| any | amount) == 0 {
        return Ok(());
    }
    let k = past.iter().position(|amount| *amount != 0).unwrap_or(0);
    Err(Error::UnknownDim {
        dim: dim_of(count.saturating_add(k)),
    })
}

/// The single-dimension refusal of `amount` where `remaining` is left.
pub(crate) fn refused(dim: Dim, amount: u64, remaining: u64) -> Error {
    Error::Refused {
        dim,
        shortfall: amount.saturating_sub(remaining),
        dims: DimSet::EMPTY.with(dim),
    }
}

/// Collects the refused dimensions of a multi-dimension operation.
#[derive(Default)]
pub(crate) struct Refusal {
    first: Option<(Dim, u64)>,
    dims: DimSet,
}

impl Refusal {
    pub(crate) fn add(&mut self, dim: Dim, amount: u64, remaining: u64) {
        if self.first.is_none() {
            self.first = Some((dim, amount.saturating_sub(remaining)));
        }
        self.dims = self.dims.with(dim);
    }

    pub(crate) fn into_error(self) -> Option<Error> {
        let (dim, shortfall) = self.first?;
        Some(Error::Refused {
            dim,
            shortfall,
            dims: self.dims,
        })
    }
}
