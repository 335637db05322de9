//! The shared, lock-free meter.

use crate::dim::{Dim, DimSet};
use crate::error::Error;
use crate::meter::{dim_of, refused, undeclared};
use crate::policy::sealed::HasBounds;
use crate::policy::{Policy, Rules};
use crate::reservation::{Rejected, Reservation, next_tag};
use crate::sync::{AtomicU64, Ordering};
use crate::verdict::{Report, Verdict};

/// The most ancestors an [`AtomicMeter`] may have (a root has none). Bounds
/// the work of every operation on a child to `O(N × (MAX_DEPTH + 1))`.
///
/// ```
/// assert_eq!(tally_meter::MAX_DEPTH, 4);
/// ```
pub const MAX_DEPTH: usize = 4;

/// A meter that several threads share by reference (`Sync`), lock-free: every
/// operation is a bounded sequence of atomic compare-and-swap loops, each of
/// which retries only when another thread changed the same counter.
///
/// * **Never over-grants.** Admission (`try_charge*`, `reserve`, the overrun
///   of `commit`) is one compare-and-swap on a dimension's `used` counter that
///   checks the limit against the value it replaces, so no interleaving admits
///   more than the limit.
/// * **All or nothing** across dimensions and ancestors: claims are taken in
///   index order, child first, and given back if a later one is refused.
/// * **Parent / child**: [`AtomicMeter::child`] makes a meter whose every
///   operation also applies to its parent (and the parent's parent, up to
///   [`MAX_DEPTH`]), all or nothing: per-tool-call budgets inside an agent's
///   budget.
///
/// # Transient effects (honest limits of lock-freedom)
///
/// A multi-dimension (or child) operation is not one atomic instruction: while
/// it holds claims on some counters and has yet to claim others, a concurrent
/// operation sees those tentative claims. Consequences, all bounded and none
/// an over-grant:
///
/// * a concurrent admission can be **refused spuriously**: refused because of a
///   claim that is then given back. It happens only when the two operations'
///   combined demand exceeds what remains on a dimension, i.e. at the edge of
///   the budget. Single-dimension operations on a root meter take one claim
///   and never cause this.
/// * a warn crossing can go unreported (`crossed == false` on every charge)
///   when the charge that crossed a level is one that was given back; the level
///   itself is still reported on every later charge.
/// * getters read each counter once; while operations are in flight
///   `spent` (derived as `used - reserved`) may include an amount being
///   settled. After all operations complete (for instance after joining the
///   threads) every getter is exact and `spent + reserved + remaining ==
///   limit + overrun` holds.
///
/// A verdict describes the meter the operation was called on; the ancestors'
/// state is read through their own getters.
///
/// `P` is the policy form, as for [`Meter`](crate::Meter): [`Policy<N>`](Policy)
/// by default, or [`OwnedPolicy`](crate::OwnedPolicy) with `N = MAX_DIMS`
/// ([`OwnedAtomicMeter`](crate::OwnedAtomicMeter)), whose multi-dimension
/// operations refuse a non-zero amount past the policy's dimensions with
/// [`Error::UnknownDim`] (nothing recorded); a child has its parent's form.
///
/// ```
/// use std::thread;
/// use tally_meter::{AtomicMeter, DimSpec, Policy};
///
/// let policy = Policy::new([DimSpec::new("calls", 100)])?;
/// let calls = policy.dim("calls").ok_or("?")?;
/// let meter = AtomicMeter::new(&policy);
/// let granted = thread::scope(|s| {
///     let workers: Vec<_> = (0..4)
///         .map(|_| s.spawn(|| (0..40).filter(|_| meter.try_charge(calls, 1).is_ok()).count()))
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap_or(0)).sum::<usize>()
/// });
/// assert_eq!(granted, 100); // 160 attempts, exactly the limit granted
/// assert_eq!(meter.spent(calls), Some(100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicMeter<'p, const N: usize, P = Policy<N>> {
    policy: &'p P,
    parent: Option<&'p AtomicMeter<'p, N, P>>,
    /// `spent + reserved` per dimension; admission CASes this counter.
    used: [AtomicU64; N],
    /// Held by outstanding reservations. Raised after `used`, lowered before
    /// it, so `reserved <= used` for every reader.
    reserved: [AtomicU64; N],
    tag: u64,
    /// How many ancestors this meter has.
    depth: usize,
}

/// What a claim checks: the limit (admission) or only overflow (recording).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Admit,
    Record,
}

impl<'p, const N: usize, P: Rules<N>> AtomicMeter<'p, N, P> {
    /// A fresh root meter: nothing spent or reserved, no parent.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let meter = AtomicMeter::new(&policy);
    /// assert_eq!(meter.remaining(policy.dim("tokens").ok_or("?")?), Some(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(policy: &'p P) -> Self {
        Self {
            policy,
            parent: None,
            used: core::array::from_fn(|_| AtomicU64::new(0)),
            reserved: core::array::from_fn(|_| AtomicU64::new(0)),
            tag: next_tag(),
            depth: 0,
        }
    }

    /// A child of `parent` under its own `policy` (same dimension names, in
    /// the same order; its own limits and warn levels). Every operation on the
    /// child applies to the child and all its ancestors, all or nothing.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyMismatch`] if the names (or, for an owned policy, their
    /// number) differ; [`Error::TooDeep`] if the
    /// child would have more than [`MAX_DEPTH`] ancestors.
    ///
    /// ```
    /// use tally_meter::{AtomicMeter, DimSpec, Error, Policy};
    ///
    /// let agent = Policy::new([DimSpec::new("tokens", 1_000)])?;
    /// let tool = Policy::new([DimSpec::new("tokens", 300)])?;
    /// let tokens = agent.dim("tokens").ok_or("?")?;
    /// let parent = AtomicMeter::new(&agent);
    /// let child = AtomicMeter::child(&parent, &tool)?;
    /// child.try_charge(tokens, 200)?;
    /// assert_eq!(parent.spent(tokens), Some(200));
    /// assert!(matches!(child.try_charge(tokens, 200), Err(Error::Refused { shortfall: 100, .. })));
    /// assert_eq!(parent.spent(tokens), Some(200)); // all or nothing
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn child(parent: &'p Self, policy: &'p P) -> Result<Self, Error> {
        let count = policy.dim_count();
        let same_names = parent.policy.dim_count() == count
            && (0..count).all(|i| parent.policy.name_at(i) == policy.name_at(i));
        if !same_names {
            return Err(Error::PolicyMismatch);
        }
        let depth = parent.depth.saturating_add(1);
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        Ok(Self {
            parent: Some(parent),
            depth,
            ..Self::new(policy)
        })
    }

    /// The policy this meter enforces.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(AtomicMeter::new(&policy).policy(), &policy);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn policy(&self) -> &'p P {
        self.policy
    }

    /// The parent, for a child meter.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let root = AtomicMeter::new(&policy);
    /// let child = AtomicMeter::child(&root, &policy)?;
    /// assert!(root.parent().is_none() && child.parent().is_some());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn parent(&self) -> Option<&'p Self> {
        self.parent
    }

    /// Admission control on one dimension, as
    /// [`Meter::try_charge`](crate::Meter::try_charge), on this meter and every
    /// ancestor, all or nothing.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDim`]; [`Error::Refused`] (this meter) or
    /// [`Error::AncestorRefused`] with the shortfall. Nothing is recorded.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("calls", 1)])?;
    /// let calls = policy.dim("calls").ok_or("?")?;
    /// let meter = AtomicMeter::new(&policy);
    /// assert!(meter.try_charge(calls, 1).is_ok());
    /// assert!(meter.try_charge(calls, 1).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_charge(&self, dim: Dim, amount: u64) -> Result<Verdict, Error> {
        self.one(dim, amount, Mode::Admit)
    }

    /// Records `amount` on `dim` with [`Meter::charge`](crate::Meter::charge)'s
    /// semantics (recorded even when it exhausts), on this meter and every
    /// ancestor.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDim`]; [`Error::Overflow`] if a total would pass
    /// `u64::MAX` on this meter or an ancestor. Nothing is recorded.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy, Verdict};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let meter = AtomicMeter::new(&policy);
    /// assert_eq!(meter.charge(tokens, 11)?, Verdict::Exhausted(tokens));
    /// assert_eq!(meter.overrun(tokens), Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn charge(&self, dim: Dim, amount: u64) -> Result<Verdict, Error> {
        self.one(dim, amount, Mode::Record)
    }

    /// Admission control over one amount per dimension, all or nothing, as
    /// [`Meter::try_charge_many`](crate::Meter::try_charge_many), on this meter
    /// and every ancestor.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] or [`Error::AncestorRefused`]: the first refused
    /// dimension with its shortfall, and every dimension that did not fit (the
    /// later ones read after the refusal). Nothing is recorded.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100), DimSpec::new("calls", 1)])?;
    /// let meter = AtomicMeter::new(&policy);
    /// meter.try_charge_many(&[50, 1])?;
    /// assert!(meter.try_charge_many(&[10, 1]).is_err());
    /// assert_eq!(meter.spent(policy.dim("tokens").ok_or("?")?), Some(50));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_charge_many(&self, amounts: &[u64; N]) -> Result<Report<N>, Error> {
        undeclared(amounts, self.policy.dim_count())?;
        let moved = self.claim_chain(amounts, Mode::Admit)?;
        Ok(self.report(&moved))
    }

    /// Records one amount per dimension, all or nothing, as
    /// [`Meter::charge_many`](crate::Meter::charge_many), on this meter and
    /// every ancestor.
    ///
    /// # Errors
    ///
    /// [`Error::Overflow`]. Nothing is recorded.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100), DimSpec::new("calls", 1)])?;
    /// let meter = AtomicMeter::new(&policy);
    /// assert_eq!(meter.charge_many(&[50, 2])?.exhausted().len(), 1);
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    pub fn charge_many(&self, amounts: &[u64; N]) -> Result<Report<N>, Error> {
        undeclared(amounts, self.policy.dim_count())?;
        let moved = self.claim_chain(amounts, Mode::Record)?;
        Ok(self.report(&moved))
    }

    /// Holds one amount per dimension on this meter and every ancestor,
    /// admission-controlled and all or nothing, as
    /// [`Meter::reserve`](crate::Meter::reserve).
    ///
    /// # Errors
    ///
    /// As [`try_charge_many`](Self::try_charge_many). Nothing is held.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let meter = AtomicMeter::new(&policy);
    /// let held = meter.reserve(&[60])?;
    /// assert_eq!(meter.remaining(tokens), Some(40));
    /// meter.commit(held, &[45])?;
    /// assert_eq!((meter.spent(tokens), meter.remaining(tokens)), (Some(45), Some(55)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve(&self, amounts: &[u64; N]) -> Result<Reservation<N>, Error> {
        undeclared(amounts, self.policy.dim_count())?;
        let moved = self.claim_chain(amounts, Mode::Admit)?;
        for meter in self.levels() {
            for (cell, amount) in meter.reserved.iter().zip(amounts) {
                // reserved <= used, whose claim of `amount` did not overflow.
                add(cell, *amount);
            }
        }
        Ok(Reservation::new(self.tag, *amounts, self.report(&moved)))
    }

    /// Settles a reservation at the `actual` amounts, as
    /// [`Meter::commit`](crate::Meter::commit): differences below the reserved
    /// amounts are refunded; overruns must fit on this meter and every
    /// ancestor.
    ///
    /// # Errors
    ///
    /// In [`Rejected`], with the reservation handed back and nothing changed:
    /// [`Error::ForeignReservation`]; [`Error::Refused`] or
    /// [`Error::AncestorRefused`] for an overrun that does not fit.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let meter = AtomicMeter::new(&policy);
    /// let held = meter.reserve(&[60])?;
    /// let rejected = meter.commit(held, &[101]).err().ok_or("expected a refusal")?;
    /// meter.commit(rejected.reservation, &[100])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(
        &self,
        reservation: Reservation<N>,
        actual: &[u64; N],
    ) -> Result<Report<N>, Rejected<N>> {
        if reservation.tag() != self.tag {
            let error = Error::ForeignReservation;
            return Err(Rejected { error, reservation });
        }
        if let Err(error) = undeclared(actual, self.policy.dim_count()) {
            return Err(Rejected { error, reservation });
        }
        let held = reservation.amounts();
        let mut extra = [0u64; N];
        for ((extra, actual), held) in extra.iter_mut().zip(actual).zip(held) {
            *extra = actual.saturating_sub(*held);
        }
        let mut moved = match self.claim_chain(&extra, Mode::Admit) {
            Ok(moved) => moved,
            Err(error) => return Err(Rejected { error, reservation }),
        };
        let mut refund = [0u64; N];
        for ((refund, actual), held) in refund.iter_mut().zip(actual).zip(held) {
            *refund = held.saturating_sub(*actual);
        }
        for (generation, meter) in self.levels().enumerate() {
            for (cell, held) in meter.reserved.iter().zip(held) {
                sub(cell, *held);
            }
            for (i, (cell, refund)) in meter.used.iter().zip(&refund).enumerate() {
                if *refund > 0 {
                    let pair = sub(cell, *refund);
                    if let (0, Some(slot)) = (generation, moved.get_mut(i)) {
                        *slot = pair;
                    }
                }
            }
        }
        Ok(self.report(&moved))
    }

    /// Gives a reservation's amounts back in full, on this meter and every
    /// ancestor.
    ///
    /// # Errors
    ///
    /// [`Error::ForeignReservation`] in [`Rejected`], with the reservation
    /// handed back and nothing changed.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let meter = AtomicMeter::new(&policy);
    /// let held = meter.reserve(&[60])?;
    /// meter.release(held)?;
    /// assert_eq!(meter.remaining(policy.dim("tokens").ok_or("?")?), Some(100));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(&self, reservation: Reservation<N>) -> Result<(), Rejected<N>> {
        if reservation.tag() != self.tag {
            let error = Error::ForeignReservation;
            return Err(Rejected { error, reservation });
        }
        for meter in self.levels() {
            meter.give_back(reservation.amounts(), N, true);
        }
        Ok(())
    }

    /// Zeroes this meter (spent and reserved), keeping its policy and parent;
    /// what its outstanding reservations hold on the ancestors is given back
    /// there, while what it spent stays spent there. Reservations issued before
    /// become foreign.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let parent = AtomicMeter::new(&policy);
    /// let mut child = AtomicMeter::child(&parent, &policy)?;
    /// child.try_charge(tokens, 10)?;
    /// let _held = child.reserve(&[20])?;
    /// child.reset();
    /// assert_eq!(child.remaining(tokens), Some(100));
    /// assert_eq!((parent.spent(tokens), parent.reserved(tokens)), (Some(10), Some(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&mut self) {
        let mut held = [0u64; N];
        for (held, cell) in held.iter_mut().zip(&self.reserved) {
            *held = cell.load(Ordering::Acquire);
        }
        for meter in self.levels().skip(1) {
            meter.give_back(&held, N, true);
        }
        for cell in self.used.iter().chain(&self.reserved) {
            cell.store(0, Ordering::Release);
        }
        self.tag = next_tag();
    }

    /// What `dim` has spent (charged and committed), if it is in the policy.
    /// Exact when no operation is in flight (see the type's documentation).
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let meter = AtomicMeter::new(&policy);
    /// meter.try_charge(tokens, 4)?;
    /// assert_eq!(meter.spent(tokens), Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn spent(&self, dim: Dim) -> Option<u64> {
        let (used, reserved) = self.cells(dim)?;
        let reserved = reserved.load(Ordering::Acquire);
        let used = used.load(Ordering::Acquire);
        Some(used.saturating_sub(reserved))
    }

    /// What outstanding reservations hold on `dim`, if it is in the policy.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let meter = AtomicMeter::new(&policy);
    /// let held = meter.reserve(&[6])?;
    /// assert_eq!(meter.reserved(policy.dim("tokens").ok_or("?")?), Some(6));
    /// # meter.release(held)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn reserved(&self, dim: Dim) -> Option<u64> {
        Some(self.cells(dim)?.1.load(Ordering::Acquire))
    }

    /// What can still be admitted on `dim` on this meter (an ancestor may have
    /// less), if it is in the policy.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let meter = AtomicMeter::new(&policy);
    /// meter.try_charge(tokens, 4)?;
    /// assert_eq!(meter.remaining(tokens), Some(6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn remaining(&self, dim: Dim) -> Option<u64> {
        let used = self.cells(dim)?.0.load(Ordering::Acquire);
        Some(self.limit_at(dim.index()).saturating_sub(used))
    }

    /// How far [`charge`](Self::charge) has recorded `dim` past its limit, if
    /// it is in the policy.
    ///
    /// ```
    /// # use tally_meter::{AtomicMeter, DimSpec, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// let tokens = policy.dim("tokens").ok_or("?")?;
    /// let meter = AtomicMeter::new(&policy);
    /// meter.charge(tokens, 12)?;
    /// assert_eq!(meter.overrun(tokens), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn overrun(&self, dim: Dim) -> Option<u64> {
        let used = self.cells(dim)?.0.load(Ordering::Acquire);
        Some(used.saturating_sub(self.limit_at(dim.index())))
    }

    /// The `used` and `reserved` counters of `dim`; `None` past the policy's
    /// dimensions (slots an owned policy leaves unused).
    fn cells(&self, dim: Dim) -> Option<(&AtomicU64, &AtomicU64)> {
        let i = dim.index();
        if i >= self.policy.dim_count() {
            return None;
        }
        Some((self.used.get(i)?, self.reserved.get(i)?))
    }

    /// One dimension: a single claim on a root meter (the fast path), the
    /// general chain otherwise.
    #[inline]
    fn one(&self, dim: Dim, amount: u64, mode: Mode) -> Result<Verdict, Error> {
        let i = dim.index();
        let (Some(cell), Some(spec)) = (self.used.get(i), self.policy.spec_at(i)) else {
            return Err(Error::UnknownDim { dim });
        };
        let (prev, next) = if self.parent.is_none() {
            match claim(cell, amount, spec.bounds().limit(), mode) {
                Ok(pair) => pair,
                Err(_) if mode == Mode::Record => return Err(Error::Overflow { dim }),
                Err(remaining) => return Err(refused(dim, amount, remaining)),
            }
        } else {
            self.one_in_chain(i, amount, mode)?
        };
        Ok(spec.bounds().verdict(dim, prev, next))
    }

    /// One dimension `i < N` on a child: claimed on every ancestor too;
    /// returns this meter's `(prev, next)`. Out of line: it keeps the root
    /// meter's single-claim path small.
    #[inline(never)]
    fn one_in_chain(&self, i: usize, amount: u64, mode: Mode) -> Result<(u64, u64), Error> {
        let mut amounts = [0u64; N];
        if let Some(slot) = amounts.get_mut(i) {
            *slot = amount;
        }
        let moved = self.claim_chain(&amounts, mode)?;
        Ok(moved.get(i).copied().unwrap_or_default())
    }

    /// This meter, then its ancestors, nearest first.
    fn levels(&self) -> impl Iterator<Item = &Self> {
        core::iter::successors(Some(self), |meter| meter.parent).take(MAX_DEPTH + 1)
    }

    /// Claims `amounts` on this meter and every ancestor, all or nothing;
    /// returns this meter's `(prev, next)` per dimension.
    fn claim_chain(&self, amounts: &[u64; N], mode: Mode) -> Result<[(u64, u64); N], Error> {
        let own = self.claim_level(amounts, mode, 0)?;
        for (generation, meter) in self.levels().enumerate().skip(1) {
            if let Err(error) = meter.claim_level(amounts, mode, generation) {
                for below in self.levels().take(generation) {
                    below.give_back(amounts, N, false);
                }
                return Err(error);
            }
        }
        Ok(own)
    }

    /// Claims `amounts` on this meter alone, all or nothing.
    fn claim_level(
        &self,
        amounts: &[u64; N],
        mode: Mode,
        generation: usize,
    ) -> Result<[(u64, u64); N], Error> {
        let mut moved = [(0u64, 0u64); N];
        let dims = moved.iter_mut().zip(&self.used).zip(amounts);
        for (i, ((slot, cell), amount)) in dims.enumerate() {
            let claimed = if *amount == 0 {
                let value = cell.load(Ordering::Acquire);
                Ok((value, value))
            } else {
                claim(cell, *amount, self.limit_at(i), mode)
            };
            match claimed {
                Ok(pair) => *slot = pair,
                Err(remaining) => {
                    self.give_back(amounts, i, false);
                    return Err(self.refusal(amounts, i, *amount, remaining, generation, mode));
                }
            }
        }
        Ok(moved)
    }

    /// Subtracts `amounts` of the first `count` dimensions from `used` (and
    /// first from `reserved` when `reserved` is set): claims being undone.
    fn give_back(&self, amounts: &[u64; N], count: usize, reserved: bool) {
        let dims = self
            .used
            .iter()
            .zip(&self.reserved)
            .zip(amounts)
            .take(count);
        for ((used, held), amount) in dims {
            if *amount > 0 {
                if reserved {
                    sub(held, *amount);
                }
                sub(used, *amount);
            }
        }
    }

    /// The error for a claim of `amount` refused on dimension `i` with
    /// `remaining` left; later dimensions of `amounts` are checked against
    /// current values.
    #[cold]
    fn refusal(
        &self,
        amounts: &[u64],
        i: usize,
        amount: u64,
        remaining: u64,
        generation: usize,
        mode: Mode,
    ) -> Error {
        let dim = dim_of(i);
        if mode == Mode::Record {
            return Error::Overflow { dim };
        }
        let first = refused(dim, amount, remaining);
        let Error::Refused {
            shortfall,
            mut dims,
            ..
        } = first
        else {
            return first;
        };
        let later = self
            .used
            .iter()
            .zip(amounts)
            .enumerate()
            .skip(i.saturating_add(1));
        for (j, (cell, amount)) in later {
            if *amount
                > self
                    .limit_at(j)
                    .saturating_sub(cell.load(Ordering::Acquire))
            {
                dims = dims.with(dim_of(j));
            }
        }
        ancestor_refusal(generation, dim, shortfall, dims)
    }

    fn report(&self, moved: &[(u64, u64); N]) -> Report<N> {
        let mut verdicts = [Verdict::Continue; N];
        let dims = verdicts.iter_mut().zip(moved).zip(self.policy.specs());
        for (i, ((verdict, (prev, next)), spec)) in dims.enumerate() {
            *verdict = spec.bounds().verdict(dim_of(i), *prev, *next);
        }
        Report::new(verdicts)
    }

    fn limit_at(&self, i: usize) -> u64 {
        self.policy
            .specs()
            .get(i)
            .map_or(0, |spec| spec.bounds().limit())
    }
}

/// `Refused` for this meter (generation 0), `AncestorRefused` otherwise.
fn ancestor_refusal(generation: usize, dim: Dim, shortfall: u64, dims: DimSet) -> Error {
    match u8::try_from(generation) {
        Ok(0) => Error::Refused {
            dim,
            shortfall,
            dims,
        },
        Ok(generation) => Error::AncestorRefused {
            generation,
            dim,
            shortfall,
            dims,
        },
        Err(_) => Error::TooDeep,
    }
}

/// Adds `amount` to `cell` if the result fits: under `limit` when admitting,
/// under `u64::MAX` when recording. `Ok((prev, next))`, or `Err(remaining)`.
#[inline]
fn claim(cell: &AtomicU64, amount: u64, limit: u64, mode: Mode) -> Result<(u64, u64), u64> {
    let mut current = cell.load(Ordering::Acquire);
    loop {
        let next = match mode {
            Mode::Admit => {
                let remaining = limit.saturating_sub(current);
                if amount > remaining {
                    return Err(remaining);
                }
                // Fits: current + amount <= limit.
                current.saturating_add(amount)
            }
            Mode::Record => match current.checked_add(amount) {
                Some(next) => next,
                None => return Err(0),
            },
        };
        match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Ok((current, next)),
            Err(actual) => current = actual,
        }
    }
}

/// Adds `amount` to a counter that the callers' invariants keep from
/// overflowing; checked all the same: an overflow would change nothing.
fn add(cell: &AtomicU64, amount: u64) {
    let result = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        v.checked_add(amount)
    });
    debug_assert!(result.is_ok(), "meter counter overflow");
}

/// Subtracts `amount`, which the caller added before, from `cell`; checked: an
/// underflow (a bug) would change nothing. Returns `(prev, next)`.
fn sub(cell: &AtomicU64, amount: u64) -> (u64, u64) {
    let result = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        v.checked_sub(amount)
    });
    debug_assert!(result.is_ok(), "meter counter underflow");
    match result {
        Ok(prev) => (prev, prev.saturating_sub(amount)),
        Err(prev) => (prev, prev),
    }
}
