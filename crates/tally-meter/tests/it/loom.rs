//! loom models of `AtomicMeter`: every interleaving (up to loom's preemption
//! bound) of a few threads racing admission, multi-dimension charges,
//! reservations and parent/child charges. Built and run only under
//! `RUSTFLAGS="--cfg loom"` (see `scripts/test.d/10-meter.sh`).

use std::sync::OnceLock;

use loom::sync::Arc;
use loom::thread;
use tally_meter::{AtomicMeter, DimDecl, DimSpec, OwnedPolicy, Policy, Rules};

const ONE: Policy<1> = match Policy::new([DimSpec::new("calls", 2).warn_at(1)]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

const TWO: Policy<2> = match Policy::new([DimSpec::new("tokens", 1), DimSpec::new("calls", 1)]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

const CHILD: Policy<1> = match Policy::new([DimSpec::new("calls", 1)]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

const LIMIT_3: Policy<1> = match Policy::new([DimSpec::new("calls", 3)]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

/// Three threads race `try_charge(calls, 1)` on a limit of 2 (warn at 1),
/// under `policy` in either form.
fn try_charge_race<const N: usize, P: Rules<N> + Sync>(policy: &'static P) {
    loom::model(move || {
        let meter = Arc::new(AtomicMeter::new(policy));
        let calls = ONE.dim_at(0).unwrap();
        let spawn = |meter: Arc<AtomicMeter<'static, N, P>>| {
            thread::spawn(move || meter.try_charge(calls, 1).ok())
        };
        let (a, b) = (spawn(meter.clone()), spawn(meter.clone()));
        let c = meter.try_charge(calls, 1).ok();
        let results = [a.join().unwrap(), b.join().unwrap(), c];
        let granted = results.iter().flatten().count();
        assert_eq!(granted, 2);
        assert_eq!(meter.spent(calls), Some(2));
        // Exactly one grant crossed the warn level at 1.
        let crossed = results
            .iter()
            .flatten()
            .filter(|v| v.warning().is_some_and(|w| w.crossed()))
            .count();
        assert_eq!(crossed, 1);
    });
}

#[test]
fn loom_try_charge_never_over_grants() {
    try_charge_race(&ONE);
}

/// The same race under the `OwnedPolicy` declaring `ONE`'s dimension.
#[test]
fn loom_owned_try_charge_never_over_grants() {
    static OWNED: OnceLock<OwnedPolicy> = OnceLock::new();
    let policy =
        OWNED.get_or_init(|| OwnedPolicy::new(&[DimDecl::new("calls", 2).warn_at(1)]).unwrap());
    assert_eq!(policy.fingerprint(), ONE.fingerprint());
    try_charge_race(policy);
}

#[test]
fn loom_multi_dimension_charge_is_all_or_nothing() {
    loom::model(|| {
        let meter = Arc::new(AtomicMeter::new(&TWO));
        let [tokens, calls] = [TWO.dim_at(0).unwrap(), TWO.dim_at(1).unwrap()];
        let m = meter.clone();
        let both = thread::spawn(move || m.try_charge_many(&[1, 1]).is_ok());
        let one = meter.try_charge(calls, 1).is_ok();
        let both = both.join().unwrap();
        // Never over-granted, and the pair is applied whole or not at all.
        assert!(!(both && one));
        assert_eq!(meter.spent(tokens), Some(u64::from(both)));
        assert_eq!(meter.spent(calls), Some(u64::from(both) + u64::from(one)));
        // At least one of them wins when they are alone.
        assert!(both || one);
    });
}

#[test]
fn loom_reserve_and_commit_race_admission_and_keep_the_identity() {
    loom::model(|| {
        let meter = Arc::new(AtomicMeter::new(&LIMIT_3));
        let calls = LIMIT_3.dim_at(0).unwrap();
        let m = meter.clone();
        let settle = thread::spawn(move || match m.reserve(&[2]) {
            Ok(held) => {
                m.commit(held, &[1]).unwrap();
                1
            }
            Err(_) => 0,
        });
        let charged = if meter.try_charge(calls, 2).is_ok() {
            2
        } else {
            0
        };
        let committed = settle.join().unwrap();
        // Either the reservation held 2 when the charge came (refused), or
        // the charge came first (the reservation is refused), or the charge
        // came after the commit (both fit). Never more than the limit.
        assert!(
            matches!((committed, charged), (1, 0) | (0, 2) | (1, 2)),
            "{committed} {charged}"
        );
        assert_eq!(meter.spent(calls), Some(committed + charged));
        assert_eq!(meter.reserved(calls), Some(0));
        assert_eq!(meter.remaining(calls), Some(3 - committed - charged));
    });
}

#[test]
fn loom_children_never_over_grant_their_parent() {
    loom::model(|| {
        let parent: &'static AtomicMeter<'static, 1> =
            Box::leak(Box::new(AtomicMeter::new(&CHILD)));
        let calls = CHILD.dim_at(0).unwrap();
        let a = Arc::new(AtomicMeter::child(parent, &ONE).unwrap());
        let b = Arc::new(AtomicMeter::child(parent, &ONE).unwrap());
        let a2 = a.clone();
        let first = thread::spawn(move || a2.try_charge(calls, 1).is_ok());
        let second = b.try_charge(calls, 1).is_ok();
        let first = first.join().unwrap();
        assert!(
            first ^ second,
            "the parent's one call goes to exactly one child"
        );
        assert_eq!(parent.spent(calls), Some(1));
        assert_eq!(
            a.spent(calls).unwrap() + b.spent(calls).unwrap(),
            1,
            "a refused child keeps nothing"
        );
    });
}

#[test]
fn loom_child_multi_dimension_charge_is_all_or_nothing_on_the_parent() {
    loom::model(|| {
        let parent: &'static AtomicMeter<'static, 2> = Box::leak(Box::new(AtomicMeter::new(&TWO)));
        let [tokens, calls] = [TWO.dim_at(0).unwrap(), TWO.dim_at(1).unwrap()];
        let child = Arc::new(AtomicMeter::child(parent, &WIDE_TWO).unwrap());
        let c = child.clone();
        let both = thread::spawn(move || c.try_charge_many(&[1, 1]).is_ok());
        let direct = parent.try_charge(calls, 1).is_ok();
        let both = both.join().unwrap();
        assert!(!(both && direct), "the parent's one call is granted once");
        assert_eq!(parent.spent(tokens), Some(u64::from(both)));
        assert_eq!(
            parent.spent(calls),
            Some(u64::from(both) + u64::from(direct))
        );
        assert_eq!(child.spent(tokens), Some(u64::from(both)));
        assert_eq!(child.spent(calls), Some(u64::from(both)));
    });
}

const WIDE_TWO: Policy<2> = match Policy::new([DimSpec::new("tokens", 5), DimSpec::new("calls", 5)])
{
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};
