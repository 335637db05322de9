//! `Meter` at every edge: zero, `u64::MAX`, unknown dimensions, repeated
//! calls after exhaustion, reset, warn levels, multi-dimension charges, sizes.

use tally_meter::{Dim, DimSpec, Error, Meter, Policy, Report, Verdict};

fn policy3() -> Policy<3> {
    Policy::new([
        DimSpec::new("tokens", 100).warn_at(50).warn_at(80),
        DimSpec::new("millis", 1_000),
        DimSpec::new("calls", 3).warn_at(1),
    ])
    .unwrap()
}

fn dims<const N: usize>(policy: &Policy<N>) -> [Dim; N] {
    core::array::from_fn(|i| policy.dim_at(i).unwrap())
}

/// A dimension handle from a larger policy: not in a 3-dimension meter.
fn foreign_dim() -> Dim {
    let big = Policy::new(core::array::from_fn::<_, 5, _>(|i| {
        DimSpec::new(["a", "b", "c", "d", "e"][i], 1)
    }))
    .unwrap();
    big.dim_at(4).unwrap()
}

/// `(dimension index, level, crossed)` of a warn verdict.
fn warn(v: Verdict) -> (usize, usize, bool) {
    let w = v.warning().unwrap();
    (w.dim().index(), w.level(), w.crossed())
}

#[test]
fn zero_charges_change_nothing_and_poll_the_state() {
    let policy = policy3();
    let [tokens, _, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    assert_eq!(meter.charge(tokens, 0), Ok(Verdict::Continue));
    assert_eq!(meter.try_charge(tokens, 0), Ok(Verdict::Continue));
    assert_eq!(
        meter.charge_many(&[0, 0, 0]).unwrap().worst(),
        Verdict::Continue
    );
    assert_eq!(meter.spent(tokens), Some(0));
    // A warn level at 1 is "above 1": a zero poll after one call is Continue,
    // after two it is a warn that this (empty) charge did not cross.
    meter.charge(calls, 1).unwrap();
    assert_eq!(meter.charge(calls, 0), Ok(Verdict::Continue));
    meter.charge(calls, 1).unwrap();
    assert_eq!(warn(meter.charge(calls, 0).unwrap()), (2, 0, false));
    // After exhaustion a zero poll reports it (and try_charge admits zero).
    meter.charge(calls, 5).unwrap();
    assert_eq!(meter.charge(calls, 0), Ok(Verdict::Exhausted(calls)));
    assert_eq!(meter.try_charge(calls, 0), Ok(Verdict::Exhausted(calls)));
    assert_eq!(meter.spent(calls), Some(7));
}

#[test]
fn limits_are_inclusive() {
    let policy = Policy::new([DimSpec::new("a", 10)]).unwrap();
    let [a] = dims(&policy);
    let mut meter = Meter::new(&policy);
    assert_eq!(meter.try_charge(a, 10), Ok(Verdict::Continue));
    assert_eq!(meter.remaining(a), Some(0));
    assert!(meter.try_charge(a, 1).is_err());
    assert_eq!(meter.charge(a, 1), Ok(Verdict::Exhausted(a)));
}

#[test]
fn u64_max_charges_are_recorded_or_refused_never_saturated() {
    let policy = Policy::new([DimSpec::new("a", u64::MAX), DimSpec::new("b", 10)]).unwrap();
    let [a, b] = dims(&policy);
    let mut meter = Meter::new(&policy);
    // Up to the limit u64::MAX: continue (inclusive).
    assert_eq!(meter.charge(a, u64::MAX), Ok(Verdict::Continue));
    assert_eq!(meter.spent(a), Some(u64::MAX));
    // One more overflows: an error, nothing recorded (budgetkernel saturates).
    assert_eq!(meter.charge(a, 1), Err(Error::Overflow { dim: a }));
    assert_eq!(meter.charge(a, u64::MAX), Err(Error::Overflow { dim: a }));
    assert_eq!(meter.spent(a), Some(u64::MAX));
    // A u64::MAX charge on a small limit is recorded and exhausts.
    assert_eq!(meter.charge(b, u64::MAX), Ok(Verdict::Exhausted(b)));
    assert_eq!(meter.spent(b), Some(u64::MAX));
    assert_eq!(meter.overrun(b), Some(u64::MAX - 10));
    assert_eq!(meter.remaining(b), Some(0));
    assert_eq!(meter.charge(b, 1), Err(Error::Overflow { dim: b }));
    // The multi-dimension form refuses the whole charge.
    assert_eq!(meter.charge_many(&[0, 1]), Err(Error::Overflow { dim: b }));
}

#[test]
fn try_charge_of_u64_max_is_refused_with_the_exact_shortfall() {
    let policy = policy3();
    let [tokens, ..] = dims(&policy);
    let mut meter = Meter::new(&policy);
    meter.try_charge(tokens, 30).unwrap();
    let refused = meter.try_charge(tokens, u64::MAX).unwrap_err();
    let Error::Refused {
        dim,
        shortfall,
        dims,
    } = refused
    else {
        panic!("{refused:?}")
    };
    assert_eq!((dim, shortfall, dims.len()), (tokens, u64::MAX - 70, 1));
    assert_eq!(meter.spent(tokens), Some(30));
}

#[test]
fn unknown_dimensions_are_an_error_and_change_nothing() {
    let policy = policy3();
    let mut meter = Meter::new(&policy);
    meter.charge_many(&[10, 20, 1]).unwrap();
    let before = meter.snapshot();
    let d = foreign_dim();
    assert_eq!(meter.charge(d, 1), Err(Error::UnknownDim { dim: d }));
    assert_eq!(meter.try_charge(d, 1), Err(Error::UnknownDim { dim: d }));
    assert_eq!(meter.charge(d, u64::MAX), Err(Error::UnknownDim { dim: d }));
    assert_eq!(meter.charge(d, 0), Err(Error::UnknownDim { dim: d }));
    assert_eq!(meter.spent(d), None);
    assert_eq!(meter.reserved(d), None);
    assert_eq!(meter.remaining(d), None);
    assert_eq!(meter.overrun(d), None);
    assert_eq!(meter.snapshot(), before);
}

#[test]
fn repeated_charges_after_exhaustion_stay_exhausted_and_refused() {
    let policy = Policy::new([DimSpec::new("a", 5).warn_at(2), DimSpec::new("b", 5)]).unwrap();
    let [a, b] = dims(&policy);
    let mut meter = Meter::new(&policy);
    assert_eq!(meter.charge(a, 6), Ok(Verdict::Exhausted(a)));
    for i in 0..1_000u64 {
        assert_eq!(meter.charge(a, 1), Ok(Verdict::Exhausted(a)));
        assert!(matches!(
            meter.try_charge(a, 1),
            Err(Error::Refused { shortfall: 1, .. })
        ));
        assert!(meter.try_charge_many(&[1, 0]).is_err());
        assert!(meter.reserve(&[1, 0]).is_err());
        assert_eq!(meter.spent(a), Some(7 + i));
    }
    // The other dimension is untouched and still usable.
    assert_eq!(meter.try_charge(b, 5), Ok(Verdict::Continue));
}

#[test]
fn reset_zeroes_spent_and_reserved_and_keeps_the_policy() {
    let policy = policy3();
    let [tokens, millis, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    meter.charge_many(&[150, 10, 2]).unwrap();
    let _held = meter.reserve(&[0, 100, 0]).unwrap();
    meter.reset();
    for d in [tokens, millis, calls] {
        assert_eq!(meter.spent(d), Some(0));
        assert_eq!(meter.reserved(d), Some(0));
        assert_eq!(meter.overrun(d), Some(0));
        assert_eq!(meter.remaining(d), policy.limit(d));
    }
    assert_eq!(
        meter
            .charge(tokens, 60)
            .unwrap()
            .warning()
            .map(|w| w.crossed()),
        Some(true)
    );
}

#[test]
fn warn_reports_the_highest_level_and_crosses_each_level_once() {
    let policy = policy3();
    let [tokens, ..] = dims(&policy);
    let mut meter = Meter::new(&policy);
    assert_eq!(meter.charge(tokens, 50), Ok(Verdict::Continue)); // at a level is not above it
    assert_eq!(warn(meter.charge(tokens, 1).unwrap()), (0, 0, true));
    assert_eq!(warn(meter.charge(tokens, 1).unwrap()), (0, 0, false));
    assert_eq!(warn(meter.charge(tokens, 28).unwrap()), (0, 0, false)); // 80
    assert_eq!(warn(meter.charge(tokens, 1).unwrap()), (0, 1, true)); // 81
    assert_eq!(warn(meter.charge(tokens, 19).unwrap()), (0, 1, false)); // 100
    assert_eq!(meter.charge(tokens, 1), Ok(Verdict::Exhausted(tokens)));
}

#[test]
fn a_charge_that_jumps_levels_reports_the_highest_as_crossed() {
    let policy = policy3();
    let [tokens, ..] = dims(&policy);
    let mut meter = Meter::new(&policy);
    assert_eq!(warn(meter.try_charge(tokens, 90).unwrap()), (0, 1, true));
    // Exhaustion wins over warn in one charge.
    let mut fresh = Meter::new(&policy);
    assert_eq!(fresh.charge(tokens, 101), Ok(Verdict::Exhausted(tokens)));
}

#[test]
fn a_warn_level_of_zero_warns_on_any_spend() {
    let policy = Policy::new([DimSpec::new("a", u64::MAX).warn_at(0)]).unwrap();
    let [a] = dims(&policy);
    let mut meter = Meter::new(&policy);
    assert_eq!(meter.charge(a, 0), Ok(Verdict::Continue));
    let v = meter.charge(a, 1).unwrap();
    assert!(v.warning().unwrap().crossed());
    assert!(!meter.charge(a, 1).unwrap().warning().unwrap().crossed());
}

#[test]
fn try_charge_many_is_all_or_nothing_and_names_every_refused_dimension() {
    let policy = policy3();
    let [tokens, millis, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    meter.try_charge_many(&[90, 0, 2]).unwrap();
    let before = meter.snapshot();
    let err = meter.try_charge_many(&[20, 5, 2]).unwrap_err();
    let Error::Refused {
        dim,
        shortfall,
        dims,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((dim, shortfall), (tokens, 10));
    assert!(dims.contains(tokens) && dims.contains(calls) && !dims.contains(millis));
    assert_eq!(dims.iter().collect::<Vec<_>>(), vec![tokens, calls]);
    assert_eq!(meter.snapshot(), before);
    // A fitting charge reports every dimension's verdict.
    let report: Report<3> = meter.try_charge_many(&[10, 5, 1]).unwrap();
    assert!(report.warned().contains(tokens) && report.warned().contains(calls));
    assert!(report.crossed().is_empty()); // both levels were crossed before
    assert_eq!(report.get(millis), Some(Verdict::Continue));
    assert_eq!(report.get(foreign_dim()), None);
    assert_eq!(report.verdicts().len(), 3);
    assert_eq!(meter.spent(tokens), Some(100));
}

#[test]
fn charge_many_records_past_limits_and_reports_every_exhausted_dimension() {
    let policy = policy3();
    let [tokens, millis, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let report = meter.charge_many(&[101, 999, 4]).unwrap();
    assert_eq!(
        report.exhausted().iter().collect::<Vec<_>>(),
        vec![tokens, calls]
    );
    assert_eq!(report.get(millis), Some(Verdict::Continue));
    assert_eq!(report.worst(), Verdict::Exhausted(tokens));
    assert_eq!(meter.spent(calls), Some(4));
}

#[test]
fn verdict_helpers_order_severity() {
    let policy = policy3();
    let [tokens, _, calls] = dims(&policy);
    let mut meter = Meter::new(&policy);
    let w = meter.charge(tokens, 60).unwrap();
    let e = Verdict::Exhausted(calls);
    assert_eq!(Verdict::Continue.worst(w), w);
    assert_eq!(w.worst(Verdict::Continue), w);
    assert_eq!(w.worst(e), e);
    assert_eq!(e.worst(w), e);
    assert_eq!(e.worst(Verdict::Exhausted(tokens)), e);
    assert!(w.is_continuing() && !w.is_exhausted());
    assert!(!e.is_continuing() && e.is_exhausted());
}

#[test]
fn every_error_has_a_distinct_stable_code_and_a_message() {
    let d = foreign_dim();
    let all = [
        Error::NoDims,
        Error::TooManyDims,
        Error::InvalidName { dim: d },
        Error::DuplicateName { dim: d },
        Error::ZeroLimit { dim: d },
        Error::WarnNotBelowLimit { dim: d },
        Error::WarnNotIncreasing { dim: d },
        Error::TooManyWarnLevels { dim: d },
        Error::UnknownDim { dim: d },
        Error::Overflow { dim: d },
        Error::Refused {
            dim: d,
            shortfall: 1,
            dims: tally_meter::DimSet::EMPTY.with(d),
        },
        Error::AncestorRefused {
            generation: 1,
            dim: d,
            shortfall: 1,
            dims: tally_meter::DimSet::EMPTY,
        },
        Error::ForeignReservation,
        Error::PolicyMismatch,
        Error::TooDeep,
        Error::SnapshotPolicyMismatch,
        Error::SnapshotInvalid { dim: d },
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(Error::code).collect();
    assert_eq!(codes.len(), all.len());
    for e in all {
        assert!(e.code().starts_with("meter."));
        assert!(!e.to_string().is_empty());
        let _: &dyn std::error::Error = &e;
    }
    assert_eq!(
        Error::Refused {
            dim: d,
            shortfall: 7,
            dims: tally_meter::DimSet::EMPTY
        }
        .to_string(),
        "dimension #4: refused, 7 more than remains"
    );
}

#[test]
fn sizes_stay_small_enough_for_registers_and_below_budgetkernel() {
    use core::mem::size_of;
    assert!(size_of::<Error>() <= 16, "{}", size_of::<Error>());
    assert!(size_of::<Result<Verdict, Error>>() <= 16);
    assert!(size_of::<Verdict>() <= 4);
    let ours = size_of::<Meter<'static, 8>>();
    let theirs = size_of::<budgetkernel::Budget>();
    println!("Meter<8>: {ours} bytes, budgetkernel::Budget: {theirs} bytes");
    assert_eq!(ours, 16 * 8 + 16);
    assert!(ours <= theirs, "{ours} > {theirs}");
    assert!(size_of::<tally_meter::AtomicMeter<'static, 8>>() <= theirs);
}

#[test]
fn the_meter_and_policy_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Policy<3>>();
    send_sync::<Meter<'static, 3>>();
    send_sync::<tally_meter::AtomicMeter<'static, 3>>();
    send_sync::<tally_meter::Reservation<3>>();
}
