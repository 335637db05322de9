//! Reservation handles: consumed by value, tagged with the issuing meter.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::verdict::Report;

/// The source of meter tags. Each meter takes a fresh tag when it is created,
/// reset, restored or has all its reservations released; a reservation carries
/// the tag of the meter (and epoch) that issued it.
///
/// Always `core`'s atomic, also under loom: it is an identity source, not part
/// of the algorithms the loom tests model.
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

/// A fresh meter tag: never 0, unique in the process until 2^64 tags have been
/// taken (centuries at one per nanosecond; the counter then wraps).
pub(crate) fn next_tag() -> u64 {
    // Relaxed: only uniqueness matters, which the single RMW gives.
    NEXT_TAG.fetch_add(1, Ordering::Relaxed)
}

/// An amount held on a meter by [`Meter::reserve`](crate::Meter::reserve) or
/// [`AtomicMeter::reserve`](crate::AtomicMeter::reserve), settled by `commit`
/// or `release` on the same meter.
///
/// The handle is neither `Clone` nor `Copy` and `commit` / `release` take it
/// by value, so settling it twice does not compile. It carries the tag of the
/// meter that issued it: settling it on another meter, or on the same meter
/// after a `reset`, `release_all` or restore, is
/// [`Error::ForeignReservation`] and changes nothing. A failed settlement hands
/// the reservation back in [`Rejected`].
///
/// A reservation that is dropped unsettled stays held until the meter's
/// `reset` or `release_all`: that is the caller's choice to make, not the
/// meter's.
///
/// ```compile_fail
/// # use tally_meter::{DimSpec, Meter, Policy};
/// # let policy = Policy::new([DimSpec::new("tokens", 100)]).unwrap();
/// let mut meter = Meter::new(&policy);
/// let r = meter.reserve(&[10]).unwrap();
/// let _ = meter.commit(r, &[5]);
/// let _ = meter.commit(r, &[5]); // use of moved value: settling twice does not compile
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation holds budget until it is committed or released"]
pub struct Reservation<const N: usize> {
    tag: u64,
    amounts: [u64; N],
    report: Report<N>,
}

impl<const N: usize> Reservation<N> {
    pub(crate) const fn new(tag: u64, amounts: [u64; N], report: Report<N>) -> Self {
        Self {
            tag,
            amounts,
            report,
        }
    }

    /// The reserved amount of each dimension.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// # let policy = Policy::new([DimSpec::new("tokens", 100)])?;
    /// # let mut meter = Meter::new(&policy);
    /// let r = meter.reserve(&[40])?;
    /// assert_eq!(r.amounts(), &[40]);
    /// # meter.release(r)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn amounts(&self) -> &[u64; N] {
        &self.amounts
    }

    /// The verdicts of the reservation itself: it may cross a warn level; it
    /// never exhausts a dimension, being admission-controlled (a dimension
    /// that [`Meter::charge`](crate::Meter::charge) already took past its
    /// limit reports `Exhausted`).
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// # let policy = Policy::new([DimSpec::new("tokens", 100).warn_at(30)])?;
    /// # let mut meter = Meter::new(&policy);
    /// let r = meter.reserve(&[40])?;
    /// assert_eq!(r.report().crossed().len(), 1);
    /// # meter.release(r)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn report(&self) -> &Report<N> {
        &self.report
    }

    pub(crate) const fn tag(&self) -> u64 {
        self.tag
    }
}

/// A `commit` or `release` that failed: the reason, and the reservation handed
/// back unchanged so that it can still be settled.
///
/// ```
/// use tally_meter::{DimSpec, Error, Meter, Policy};
///
/// let policy = Policy::new([DimSpec::new("tokens", 100)])?;
/// let mut meter = Meter::new(&policy);
/// let r = meter.reserve(&[60])?;
/// // The actual cost overruns the reservation by more than remains (40).
/// let rejected = meter.commit(r, &[150]).err().ok_or("expected a refusal")?;
/// assert!(matches!(rejected.error, Error::Refused { shortfall: 50, .. }));
/// // Nothing changed; settle it within what fits.
/// meter.commit(rejected.reservation, &[100])?;
/// assert_eq!(meter.spent(policy.dim("tokens").ok_or("?")?), Some(100));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Rejected<const N: usize> {
    /// Why the settlement failed.
    pub error: Error,
    /// The reservation, unchanged.
    pub reservation: Reservation<N>,
}
