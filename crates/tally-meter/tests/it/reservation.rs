//! Reserve / commit / release on `Meter`: refunds, overruns, refusals that
//! change nothing, and handles that belong to another meter or epoch.

use tally_meter::{Dim, DimSpec, Error, Meter, Policy, Verdict};

fn policy() -> Policy<2> {
    Policy::new([
        DimSpec::new("tokens", 100).warn_at(60),
        DimSpec::new("calls", 5),
    ])
    .unwrap()
}

fn dims(policy: &Policy<2>) -> [Dim; 2] {
    [policy.dim_at(0).unwrap(), policy.dim_at(1).unwrap()]
}

/// `spent + reserved + remaining == limit + overrun` on every dimension.
fn assert_identity(meter: &Meter<'_, 2>) {
    for (dim, spec) in meter.policy().dims() {
        let [s, r, rem, o] = [
            meter.spent(dim),
            meter.reserved(dim),
            meter.remaining(dim),
            meter.overrun(dim),
        ]
        .map(|v| u128::from(v.unwrap()));
        assert_eq!(s + r + rem, u128::from(spec.limit()) + o, "{dim}");
        assert!(rem == 0 || o == 0);
    }
}

#[test]
fn commit_below_the_reservation_refunds_the_difference() {
    let policy = policy();
    let [tokens, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let held = meter.reserve(&[70, 2]).unwrap();
    assert_eq!(held.amounts(), &[70, 2]);
    assert!(held.report().crossed().contains(tokens));
    assert_eq!(meter.reserved(tokens), Some(70));
    assert_eq!(meter.remaining(tokens), Some(30));
    assert_eq!(meter.spent(tokens), Some(0));
    assert_identity(&meter);
    let report = meter.commit(held, &[40, 2]).unwrap();
    assert_eq!(report.get(tokens), Some(Verdict::Continue)); // back below 60
    assert_eq!(
        (meter.spent(tokens), meter.reserved(tokens)),
        (Some(40), Some(0))
    );
    assert_eq!(
        (meter.spent(calls), meter.remaining(calls)),
        (Some(2), Some(3))
    );
    assert_identity(&meter);
}

#[test]
fn commit_of_exactly_the_reservation_moves_it_to_spent() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let held = meter.reserve(&[100, 5]).unwrap();
    assert_eq!(meter.remaining(tokens), Some(0));
    meter.commit(held, &[100, 5]).unwrap();
    assert_eq!(
        (meter.spent(tokens), meter.remaining(tokens)),
        (Some(100), Some(0))
    );
    assert_identity(&meter);
}

#[test]
fn an_overrun_that_fits_is_committed() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let held = meter.reserve(&[50, 0]).unwrap();
    let report = meter.commit(held, &[100, 0]).unwrap(); // exactly the limit
    assert!(report.crossed().contains(tokens));
    assert_eq!(
        (meter.spent(tokens), meter.remaining(tokens)),
        (Some(100), Some(0))
    );
    assert_identity(&meter);
}

#[test]
fn an_overrun_that_does_not_fit_changes_nothing_and_returns_the_handle() {
    let policy = policy();
    let [tokens, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    meter.try_charge(calls, 4).unwrap();
    let held = meter.reserve(&[50, 1]).unwrap();
    let before = meter.snapshot();
    let rejected = meter.commit(held, &[101, 2]).unwrap_err();
    let Error::Refused {
        dim,
        shortfall,
        dims,
    } = rejected.error
    else {
        panic!("{rejected:?}")
    };
    assert_eq!((dim, shortfall), (tokens, 1));
    assert!(dims.contains(tokens) && dims.contains(calls));
    assert_eq!(meter.snapshot(), before);
    assert_eq!(rejected.to_string(), rejected.error.to_string());
    // The handed-back reservation still settles.
    meter.commit(rejected.reservation, &[100, 1]).unwrap();
    assert_eq!(meter.spent(tokens), Some(100));
    assert_eq!(meter.spent(calls), Some(5));
    assert_identity(&meter);
}

#[test]
fn release_gives_everything_back() {
    let policy = policy();
    let [tokens, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    meter.try_charge(tokens, 10).unwrap();
    let held = meter.reserve(&[90, 5]).unwrap();
    assert!(meter.try_charge(tokens, 1).is_err());
    meter.release(held).unwrap();
    assert_eq!(
        (meter.spent(tokens), meter.remaining(tokens)),
        (Some(10), Some(90))
    );
    assert_eq!(meter.remaining(calls), Some(5));
    assert_identity(&meter);
}

#[test]
fn a_reservation_that_does_not_fit_is_refused_and_holds_nothing() {
    let policy = policy();
    let [tokens, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let err = meter.reserve(&[101, 6]).unwrap_err();
    assert!(
        matches!(err, Error::Refused { dim, shortfall: 1, dims } if dim == tokens && dims.len() == 2)
    );
    assert_eq!(meter.reserved(tokens), Some(0));
    assert_eq!(meter.reserved(calls), Some(0));
    let max = meter.reserve(&[u64::MAX, 0]).unwrap_err();
    assert!(matches!(max, Error::Refused { shortfall, .. } if shortfall == u64::MAX - 100));
}

#[test]
fn a_reservation_from_another_meter_is_foreign() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut a = Meter::new(&policy);
    let mut b = Meter::new(&policy);
    let from_b = b.reserve(&[10, 0]).unwrap();
    let _held_on_a = a.reserve(&[50, 0]).unwrap();
    let before = a.snapshot();
    let rejected = a.commit(from_b, &[10, 0]).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    let rejected = a.release(rejected.reservation).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    assert_eq!(a.snapshot(), before);
    b.commit(rejected.reservation, &[10, 0]).unwrap();
    assert_eq!(b.spent(tokens), Some(10));
}

#[test]
fn a_reservation_from_before_a_reset_or_release_all_is_stale() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let old = meter.reserve(&[30, 0]).unwrap();
    meter.reset();
    let fresh = meter.reserve(&[30, 0]).unwrap();
    let rejected = meter.commit(old, &[30, 0]).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    assert_eq!(meter.reserved(tokens), Some(30));
    meter.release_all();
    assert_eq!(
        (meter.reserved(tokens), meter.remaining(tokens)),
        (Some(0), Some(100))
    );
    let rejected = meter.release(fresh).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    assert_identity(&meter);
}

#[test]
fn a_reservation_from_before_a_restore_is_foreign_to_the_restored_meter() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let held = meter.reserve(&[30, 0]).unwrap();
    let mut restored = Meter::restore(&policy, &meter.snapshot()).unwrap();
    assert_eq!(restored.reserved(tokens), Some(30));
    let rejected = restored.commit(held, &[30, 0]).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    restored.release_all();
    assert_eq!(restored.remaining(tokens), Some(100));
    // The original still settles its own handle.
    meter.commit(rejected.reservation, &[20, 0]).unwrap();
    assert_eq!(meter.spent(tokens), Some(20));
}

#[test]
fn reserved_amounts_count_against_charges_and_warn_levels() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let held = meter.reserve(&[60, 0]).unwrap();
    // 60 used: at the level, not above.
    assert_eq!(meter.try_charge(tokens, 0), Ok(Verdict::Continue));
    let v = meter.try_charge(tokens, 1).unwrap();
    assert!(v.warning().unwrap().crossed());
    assert!(matches!(
        meter.try_charge(tokens, 40),
        Err(Error::Refused { shortfall: 1, .. })
    ));
    // A recording charge into the reserved part exhausts (used > limit).
    assert_eq!(meter.charge(tokens, 40), Ok(Verdict::Exhausted(tokens)));
    assert_eq!(meter.overrun(tokens), Some(1));
    assert_identity(&meter);
    // Committing no more than was held never fails, even when overrun.
    meter.commit(held, &[60, 0]).unwrap();
    assert_eq!(meter.spent(tokens), Some(101));
    assert_identity(&meter);
}

#[test]
fn a_commit_overrun_on_an_overrun_dimension_is_refused() {
    let policy = policy();
    let [tokens, _] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let held = meter.reserve(&[10, 0]).unwrap();
    meter.charge(tokens, 95).unwrap(); // used 105
    let rejected = meter.commit(held, &[11, 0]).unwrap_err();
    assert!(matches!(
        rejected.error,
        Error::Refused { shortfall: 1, .. }
    ));
    meter.commit(rejected.reservation, &[0, 0]).unwrap();
    assert_eq!(
        (meter.spent(tokens), meter.overrun(tokens)),
        (Some(95), Some(0))
    );
    assert_identity(&meter);
}
