//! `AtomicMeter` with real threads (bounded: a few threads, a few thousand
//! operations each) and single-threaded edge cases. The exhaustive
//! interleavings are in `loom.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use proptest::prelude::*;
use tally_meter::{AtomicMeter, DimSpec, Error, MAX_DEPTH, Meter, Policy, Verdict};

const THREADS: usize = 4;
const OPS_PER_THREAD: u64 = 2_000;

fn policy2(tokens: u64, calls: u64) -> Policy<2> {
    Policy::new([
        DimSpec::new("tokens", tokens).warn_at(tokens / 2),
        DimSpec::new("calls", calls),
    ])
    .unwrap()
}

fn identity<const N: usize>(meter: &AtomicMeter<'_, N>) {
    for (dim, spec) in meter.policy().dims() {
        let v = |x: Option<u64>| u128::from(x.unwrap());
        let (s, r, rem, o) = (
            v(meter.spent(dim)),
            v(meter.reserved(dim)),
            v(meter.remaining(dim)),
            v(meter.overrun(dim)),
        );
        assert_eq!(s + r + rem, u128::from(spec.limit()) + o, "{dim}");
    }
}

#[test]
fn racing_try_charge_grants_exactly_up_to_the_limit() {
    let policy = policy2(5_000, 1);
    let tokens = policy.dim("tokens").unwrap();
    let meter = AtomicMeter::new(&policy);
    let granted = AtomicU64::new(0);
    let crossings = AtomicU64::new(0);
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (meter, granted, crossings) = (&meter, &granted, &crossings);
            s.spawn(move || {
                for i in 0..OPS_PER_THREAD {
                    let amount = 1 + (i * 7 + t) % 5;
                    if let Ok(v) = meter.try_charge(tokens, amount) {
                        granted.fetch_add(amount, Ordering::Relaxed);
                        if v.warning().is_some_and(|w| w.crossed()) {
                            crossings.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let granted = granted.into_inner();
    assert!(granted <= 5_000);
    assert!(
        granted > 5_000 - 5,
        "{granted}: only amounts above what remains are refused"
    );
    assert_eq!(meter.spent(tokens), Some(granted));
    // Exactly one charge crossed the warn level, under contention too.
    assert_eq!(crossings.into_inner(), 1);
    identity(&meter);
}

#[test]
fn racing_multi_dimension_charges_are_all_or_nothing() {
    let policy = policy2(3_000, 700);
    let [tokens, calls] = [policy.dim_at(0).unwrap(), policy.dim_at(1).unwrap()];
    let meter = AtomicMeter::new(&policy);
    let sums = [AtomicU64::new(0), AtomicU64::new(0)];
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (meter, sums) = (&meter, &sums);
            s.spawn(move || {
                for i in 0..OPS_PER_THREAD {
                    let amounts = [1 + (i + t) % 9, 1];
                    if meter.try_charge_many(&amounts).is_ok() {
                        sums[0].fetch_add(amounts[0], Ordering::Relaxed);
                        sums[1].fetch_add(amounts[1], Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let [a, b] = sums.map(AtomicU64::into_inner);
    assert_eq!(meter.spent(tokens), Some(a));
    assert_eq!(meter.spent(calls), Some(b));
    assert!(a <= 3_000 && b <= 700);
    identity(&meter);
}

#[test]
fn racing_reserve_commit_release_keeps_the_identity() {
    let policy = policy2(10_000, 1_000);
    let tokens = policy.dim("tokens").unwrap();
    let meter = AtomicMeter::new(&policy);
    let committed = AtomicU64::new(0);
    thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (meter, committed) = (&meter, &committed);
            s.spawn(move || {
                for i in 0..OPS_PER_THREAD / 4 {
                    let Ok(held) = meter.reserve(&[20, 1]) else {
                        continue;
                    };
                    match (i + t) % 3 {
                        0 => meter.release(held).unwrap(),
                        1 => {
                            meter.commit(held, &[5 + i % 15, 1]).unwrap();
                            committed.fetch_add(5 + i % 15, Ordering::Relaxed);
                        }
                        _ => match meter.commit(held, &[30, 1]) {
                            Ok(_) => {
                                committed.fetch_add(30, Ordering::Relaxed);
                            }
                            Err(rejected) => meter.release(rejected.reservation).unwrap(),
                        },
                    }
                }
            });
        }
    });
    assert_eq!(meter.reserved(tokens), Some(0));
    assert_eq!(meter.spent(tokens), Some(committed.into_inner()));
    identity(&meter);
}

#[test]
fn children_share_their_parent_and_never_over_grant_it() {
    let agent = policy2(6_000, 10_000);
    let tool = policy2(2_500, 10_000);
    let tokens = agent.dim("tokens").unwrap();
    let parent = AtomicMeter::new(&agent);
    let children: Vec<_> = (0..THREADS)
        .map(|_| AtomicMeter::child(&parent, &tool).unwrap())
        .collect();
    thread::scope(|s| {
        for (t, child) in children.iter().enumerate() {
            s.spawn(move || {
                for i in 0..OPS_PER_THREAD {
                    let amount = 1 + (i + t as u64) % 4;
                    let _ = if i % 2 == 0 {
                        child.try_charge(tokens, amount).map(|_| ())
                    } else {
                        child.try_charge_many(&[amount, 1]).map(|_| ())
                    };
                }
            });
        }
    });
    let sum: u64 = children.iter().map(|c| c.spent(tokens).unwrap()).sum();
    assert_eq!(parent.spent(tokens), Some(sum));
    assert!(sum <= 6_000);
    for child in &children {
        assert!(child.spent(tokens).unwrap() <= 2_500);
        identity(child);
    }
    identity(&parent);
}

#[test]
fn a_child_refused_by_its_parent_records_nothing_anywhere() {
    let agent = policy2(100, 100);
    let tool = policy2(1_000, 1_000);
    let [tokens, calls] = [agent.dim_at(0).unwrap(), agent.dim_at(1).unwrap()];
    let parent = AtomicMeter::new(&agent);
    let child = AtomicMeter::child(&parent, &tool).unwrap();
    child.try_charge_many(&[90, 100]).unwrap();
    let err = child.try_charge_many(&[20, 1]).unwrap_err();
    let Error::AncestorRefused {
        generation,
        dim,
        shortfall,
        dims,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((generation, dim, shortfall), (1, tokens, 10));
    assert!(dims.contains(tokens) && dims.contains(calls));
    assert_eq!(
        (child.spent(tokens), parent.spent(tokens)),
        (Some(90), Some(90))
    );
    assert_eq!(
        (child.spent(calls), parent.spent(calls)),
        (Some(100), Some(100))
    );
    assert!(matches!(
        child.reserve(&[11, 0]),
        Err(Error::AncestorRefused { .. })
    ));
    assert_eq!(child.reserved(tokens), Some(0));
    assert_eq!(
        child.try_charge(tokens, 11).unwrap_err().code(),
        "meter.ancestor_refused"
    );
}

#[test]
fn grandchildren_charge_every_ancestor_and_depth_is_bounded() {
    assert_eq!(MAX_DEPTH, 4);
    let policy = policy2(1_000, 1_000);
    let tokens = policy.dim("tokens").unwrap();
    let root = AtomicMeter::new(&policy);
    let d1 = AtomicMeter::child(&root, &policy).unwrap();
    let d2 = AtomicMeter::child(&d1, &policy).unwrap();
    let d3 = AtomicMeter::child(&d2, &policy).unwrap();
    let d4 = AtomicMeter::child(&d3, &policy).unwrap(); // MAX_DEPTH ancestors
    assert_eq!(AtomicMeter::child(&d4, &policy).err(), Some(Error::TooDeep));
    assert!(d4.parent().is_some() && root.parent().is_none());
    d4.try_charge(tokens, 7).unwrap();
    for m in [&root, &d1, &d2, &d3, &d4] {
        assert_eq!(m.spent(tokens), Some(7));
    }
    // A refusal at the root (generation 4) gives everything back.
    root.charge(tokens, 990).unwrap();
    let err = d4.try_charge(tokens, 4).unwrap_err();
    assert!(matches!(
        err,
        Error::AncestorRefused {
            generation: 4,
            shortfall: 1,
            ..
        }
    ));
    for m in [&d1, &d2, &d3, &d4] {
        assert_eq!(m.spent(tokens), Some(7));
    }
}

#[test]
fn a_child_policy_must_name_the_parents_dimensions_in_order() {
    let agent = policy2(10, 10);
    let swapped = Policy::new([DimSpec::new("calls", 10), DimSpec::new("tokens", 10)]).unwrap();
    let parent = AtomicMeter::new(&agent);
    assert_eq!(
        AtomicMeter::child(&parent, &swapped).err(),
        Some(Error::PolicyMismatch)
    );
}

#[test]
fn overflow_on_an_ancestor_records_nothing() {
    let small = Policy::new([DimSpec::new("a", 10)]).unwrap();
    let big = Policy::new([DimSpec::new("a", u64::MAX)]).unwrap();
    let a = small.dim("a").unwrap();
    let parent = AtomicMeter::new(&small);
    let child = AtomicMeter::child(&parent, &big).unwrap();
    parent.charge(a, u64::MAX - 1).unwrap();
    assert_eq!(child.charge(a, 2), Err(Error::Overflow { dim: a }));
    assert_eq!(child.spent(a), Some(0));
    assert_eq!(child.charge_many(&[2]), Err(Error::Overflow { dim: a }));
    assert_eq!(child.charge(a, 1), Ok(Verdict::Continue));
    assert_eq!(parent.spent(a), Some(u64::MAX));
}

#[test]
fn atomic_edges_match_the_single_owner_meter() {
    let policy = policy2(100, 3);
    let [tokens, calls] = [policy.dim_at(0).unwrap(), policy.dim_at(1).unwrap()];
    let big = Policy::new(core::array::from_fn::<_, 3, _>(|i| {
        DimSpec::new(["x", "y", "z"][i], 1)
    }))
    .unwrap();
    let unknown = big.dim_at(2).unwrap();
    let atomic = AtomicMeter::new(&policy);
    assert_eq!(
        atomic.try_charge(unknown, 1),
        Err(Error::UnknownDim { dim: unknown })
    );
    assert_eq!(
        atomic.charge(unknown, 1),
        Err(Error::UnknownDim { dim: unknown })
    );
    assert_eq!(atomic.spent(unknown), None);
    assert_eq!(atomic.remaining(unknown), None);
    assert_eq!(atomic.reserved(unknown), None);
    assert_eq!(atomic.overrun(unknown), None);
    assert!(matches!(
        atomic.try_charge(tokens, u64::MAX),
        Err(Error::Refused { shortfall, .. }) if shortfall == u64::MAX - 100
    ));
    assert_eq!(
        atomic.charge(calls, u64::MAX),
        Ok(Verdict::Exhausted(calls))
    );
    assert_eq!(atomic.charge(calls, 1), Err(Error::Overflow { dim: calls }));
    assert_eq!(atomic.try_charge(calls, 0), Ok(Verdict::Exhausted(calls)));
    assert!(atomic.try_charge(calls, 1).is_err());
    identity(&atomic);
}

#[test]
fn atomic_reservations_are_tied_to_their_meter_and_epoch() {
    let policy = policy2(100, 3);
    let tokens = policy.dim("tokens").unwrap();
    let mut a = AtomicMeter::new(&policy);
    let b = AtomicMeter::new(&policy);
    let mut single = Meter::new(&policy);
    let from_single = single.reserve(&[10, 0]).unwrap();
    let rejected = a.commit(from_single, &[10, 0]).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    let from_b = b.reserve(&[10, 0]).unwrap();
    let rejected = a.release(from_b).unwrap_err();
    assert_eq!(rejected.error, Error::ForeignReservation);
    b.release(rejected.reservation).unwrap();
    let old = a.reserve(&[10, 0]).unwrap();
    a.reset();
    assert_eq!(a.remaining(tokens), Some(100));
    assert_eq!(
        a.commit(old, &[1, 0]).unwrap_err().error,
        Error::ForeignReservation
    );
}

#[test]
fn resetting_a_child_returns_its_holds_to_the_ancestors() {
    let policy = policy2(100, 3);
    let tokens = policy.dim("tokens").unwrap();
    let parent = AtomicMeter::new(&policy);
    let mut child = AtomicMeter::child(&parent, &policy).unwrap();
    child.try_charge(tokens, 10).unwrap();
    let _held = child.reserve(&[30, 1]).unwrap();
    assert_eq!(parent.reserved(tokens), Some(30));
    child.reset();
    assert_eq!(
        (parent.spent(tokens), parent.reserved(tokens)),
        (Some(10), Some(0))
    );
    assert_eq!(parent.remaining(tokens), Some(90));
    identity(&parent);
    identity(&child);
}

proptest! {
    /// Single-threaded, the atomic meter is the single-owner meter: same
    /// verdicts, errors and state on any sequence.
    #[test]
    fn atomic_meter_matches_meter_single_threaded(
        limits in [1u64..500, 1u64..500],
        ops in proptest::collection::vec((0u8..6, 0usize..2, 0u64..200, 0u64..200), 1..60),
    ) {
        let policy = Policy::new([DimSpec::new("a", limits[0]).warn_at(limits[0] / 2), DimSpec::new("b", limits[1])]).unwrap();
        let mut meter = Meter::new(&policy);
        let atomic = AtomicMeter::new(&policy);
        let (mut held, mut held_atomic) = (Vec::new(), Vec::new());
        for (kind, d, x, y) in ops {
            let dim = policy.dim_at(d).unwrap();
            match kind {
                0 => prop_assert_eq!(meter.charge(dim, x), atomic.charge(dim, x)),
                1 => prop_assert_eq!(meter.try_charge(dim, x), atomic.try_charge(dim, x)),
                2 => prop_assert_eq!(meter.try_charge_many(&[x, y]), atomic.try_charge_many(&[x, y])),
                3 => prop_assert_eq!(meter.charge_many(&[x, y]), atomic.charge_many(&[x, y])),
                4 => match (meter.reserve(&[x, y]), atomic.reserve(&[x, y])) {
                    (Ok(r), Ok(q)) => {
                        prop_assert_eq!(r.report(), q.report());
                        held.push(r);
                        held_atomic.push(q);
                    }
                    (r, q) => prop_assert_eq!(r.err(), q.err()),
                },
                _ => if let (Some(r), Some(q)) = (held.pop(), held_atomic.pop()) {
                    match (meter.commit(r, &[x, y]), atomic.commit(q, &[x, y])) {
                        (Ok(r), Ok(q)) => prop_assert_eq!(r, q),
                        (Err(r), Err(q)) => {
                            prop_assert_eq!(r.error, q.error);
                            meter.release(r.reservation).unwrap();
                            atomic.release(q.reservation).unwrap();
                        }
                        (r, q) => prop_assert!(false, "{:?} {:?}", r, q),
                    }
                },
            }
            for d in 0..2 {
                let dim = policy.dim_at(d).unwrap();
                prop_assert_eq!(meter.spent(dim), atomic.spent(dim));
                prop_assert_eq!(meter.reserved(dim), atomic.reserved(dim));
                prop_assert_eq!(meter.remaining(dim), atomic.remaining(dim));
            }
        }
    }
}
