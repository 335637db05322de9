//! Property tests of `Meter`: every invariant of the issue, on random
//! policies and random operation sequences, plus a reference model.
//!
//! Every property runs against both policy forms, on the same inputs: a
//! `Policy<3>` and the `OwnedPolicy` declaring the same 3 dimensions (its
//! meter has `MAX_DIMS` slots; amounts are widened with zeros and results
//! narrowed back to the 3 dimensions, checking that the other slots stay
//! `Continue` and zero). The bodies are generic over the form (`Rules`).

use proptest::collection::vec;
use proptest::prelude::*;
use tally_meter::{
    Dim, DimSpec, Error, Meter, OwnedPolicy, Policy, Report, Reservation, Rules, Snapshot, Verdict,
};

const NAMES: [&str; 3] = ["tokens", "millis", "calls"];

/// One random dimension: a limit and up to four increasing warn levels below it.
#[derive(Clone, Debug)]
struct Spec {
    limit: u64,
    warns: Vec<u64>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let limit = prop_oneof![
        4 => 1u64..=1_000,
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1_000)..u64::MAX,
    ];
    limit.prop_flat_map(|limit| {
        vec(0..limit, 0..=4).prop_map(move |mut warns| {
            warns.sort_unstable();
            warns.dedup();
            Spec { limit, warns }
        })
    })
}

fn dim_specs(specs: &[Spec; 3]) -> [DimSpec; 3] {
    core::array::from_fn(|i| {
        let s = &specs[i];
        s.warns
            .iter()
            .fold(DimSpec::new(NAMES[i], s.limit), |d, w| d.warn_at(*w))
    })
}

fn policy_of(specs: &[Spec; 3]) -> Policy<3> {
    Policy::new(dim_specs(specs)).unwrap()
}

/// The same policy in the owned form.
fn owned_of(specs: &[Spec; 3]) -> OwnedPolicy {
    let owned = OwnedPolicy::new(&dim_specs(specs)).unwrap();
    assert_eq!(owned.fingerprint(), policy_of(specs).fingerprint());
    owned
}

/// Runs a generic property body on both forms of the policy of `specs`.
macro_rules! both_forms {
    ($specs:expr, |$policy:ident| $body:expr) => {{
        let $policy = &policy_of($specs);
        $body?;
        let $policy = &owned_of($specs);
        $body?;
    }};
}

/// The handle of dimension `i < 4` (an index, the same for both forms; 3 is
/// past the tested policies).
fn dim(i: usize) -> Dim {
    const SHAPE: Policy<4> = match Policy::new([
        DimSpec::new("a", 1),
        DimSpec::new("b", 1),
        DimSpec::new("c", 1),
        DimSpec::new("d", 1),
    ]) {
        Ok(policy) => policy,
        Err(_) => panic!("invalid policy"),
    };
    SHAPE.dim_at(i).unwrap()
}

/// Three amounts in a meter's `N` slots.
fn widen<const N: usize>(a: &[u64; 3]) -> [u64; N] {
    core::array::from_fn(|i| a.get(i).copied().unwrap_or(0))
}

/// The three dimensions' part of `N` amounts; the other slots must be zero.
fn narrow<const N: usize>(a: &[u64; N]) -> [u64; 3] {
    assert!(
        a[3..].iter().all(|x| *x == 0),
        "a slot past the policy is set"
    );
    [a[0], a[1], a[2]]
}

/// The three dimensions' verdicts; past them the report must be `Continue`.
fn verdicts<const N: usize>(r: &Report<N>) -> [Verdict; 3] {
    assert!(r.verdicts()[3..].iter().all(|v| *v == Verdict::Continue));
    assert!(r.get(dim(3)).is_none_or(|v| v == Verdict::Continue));
    [r.verdicts()[0], r.verdicts()[1], r.verdicts()[2]]
}

/// Amounts that reach every region: zero, small, around the limits, huge.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 0u64..=300,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1_000)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Charge(usize, u64),
    TryCharge(usize, u64),
    ChargeMany([u64; 3]),
    TryChargeMany([u64; 3]),
    Reserve([u64; 3]),
    Commit(usize, [u64; 3]),
    Release(usize),
    Reset,
    ReleaseAll,
}

fn amounts() -> impl Strategy<Value = [u64; 3]> {
    [amount(), amount(), amount()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..3, amount()).prop_map(|(d, a)| Op::Charge(d, a)),
        3 => (0usize..3, amount()).prop_map(|(d, a)| Op::TryCharge(d, a)),
        2 => amounts().prop_map(Op::ChargeMany),
        2 => amounts().prop_map(Op::TryChargeMany),
        2 => amounts().prop_map(Op::Reserve),
        2 => (any::<usize>(), amounts()).prop_map(|(h, a)| Op::Commit(h, a)),
        1 => any::<usize>().prop_map(Op::Release),
        1 => Just(Op::Reset),
        1 => Just(Op::ReleaseAll),
    ]
}

/// Only the admission-controlled operations.
fn admission_op() -> impl Strategy<Value = Op> {
    op().prop_filter("admission only", |op| {
        !matches!(op, Op::Charge(..) | Op::ChargeMany(_))
    })
}

/// What an operation returned, comparable across meters and forms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    One(Result<Verdict, Error>),
    Many(Result<[Verdict; 3], Error>),
    Reserved(Result<[Verdict; 3], Error>),
    Settled(Result<Option<[Verdict; 3]>, (Error, [u64; 3])>),
    NoHandle,
    Done,
}

/// Runs `op` on `meter`; `holds` are the outstanding reservations.
fn run<const N: usize, P: Rules<N>>(
    meter: &mut Meter<'_, N, P>,
    holds: &mut Vec<Reservation<N>>,
    op: &Op,
) -> Outcome {
    let d = dim;
    match op {
        Op::Charge(i, a) => Outcome::One(meter.charge(d(*i), *a)),
        Op::TryCharge(i, a) => Outcome::One(meter.try_charge(d(*i), *a)),
        Op::ChargeMany(a) => Outcome::Many(meter.charge_many(&widen(a)).map(|r| verdicts(&r))),
        Op::TryChargeMany(a) => {
            Outcome::Many(meter.try_charge_many(&widen(a)).map(|r| verdicts(&r)))
        }
        Op::Reserve(a) => Outcome::Reserved(meter.reserve(&widen(a)).map(|r| {
            let report = verdicts(r.report());
            holds.push(r);
            report
        })),
        Op::Commit(h, actual) if !holds.is_empty() => {
            let r = holds.swap_remove(h % holds.len());
            let settled = meter.commit(r, &widen(actual));
            Outcome::Settled(settled.map(|r| Some(verdicts(&r))).map_err(|rej| {
                let amounts = narrow(rej.reservation.amounts());
                holds.push(rej.reservation);
                (rej.error, amounts)
            }))
        }
        Op::Release(h) if !holds.is_empty() => {
            let r = holds.swap_remove(h % holds.len());
            Outcome::Settled(meter.release(r).map(|()| None).map_err(|rej| {
                let amounts = narrow(rej.reservation.amounts());
                holds.push(rej.reservation);
                (rej.error, amounts)
            }))
        }
        Op::Commit(..) | Op::Release(_) => Outcome::NoHandle,
        Op::Reset => {
            meter.reset();
            Outcome::Done
        }
        Op::ReleaseAll => {
            meter.release_all();
            Outcome::Done
        }
    }
}

/// `spent + reserved + remaining == limit + overrun`, with `remaining` and
/// `overrun` never both positive.
fn check_identity<const N: usize, P: Rules<N>>(
    meter: &Meter<'_, N, P>,
    specs: &[Spec; 3],
) -> Result<(), TestCaseError> {
    for (i, spec) in specs.iter().enumerate() {
        let dim = dim(i);
        let v = |x: Option<u64>| u128::from(x.unwrap());
        let (s, r) = (v(meter.spent(dim)), v(meter.reserved(dim)));
        let (rem, o) = (v(meter.remaining(dim)), v(meter.overrun(dim)));
        prop_assert_eq!(s + r + rem, u128::from(spec.limit) + o);
        prop_assert!(rem == 0 || o == 0);
        prop_assert!(r <= u128::from(spec.limit));
    }
    Ok(())
}

/// The reference model: the documented semantics, in `u128`.
#[derive(Clone, Debug, Default)]
struct Model {
    spent: [u128; 3],
    reserved: [u128; 3],
}

impl Model {
    fn used(&self, i: usize) -> u128 {
        self.spent[i] + self.reserved[i]
    }

    fn verdict(specs: &[Spec; 3], i: usize, prev: u128, next: u128) -> (u8, usize, bool) {
        let s = &specs[i];
        if next > u128::from(s.limit) {
            return (2, 0, false);
        }
        match s.warns.iter().rposition(|w| next > u128::from(*w)) {
            Some(level) => (1, level, prev <= u128::from(s.warns[level])),
            None => (0, 0, false),
        }
    }

    fn remaining(&self, specs: &[Spec; 3], i: usize) -> u128 {
        u128::from(specs[i].limit).saturating_sub(self.used(i))
    }
}

fn shape(v: Verdict) -> (u8, usize, bool) {
    match v {
        Verdict::Continue => (0, 0, false),
        Verdict::Warn(w) => (1, w.level(), w.crossed()),
        Verdict::Exhausted(_) => (2, 0, false),
    }
}

/// Checks one single-dimension outcome against the model, and updates it.
fn check_one(
    model: &mut Model,
    specs: &[Spec; 3],
    i: usize,
    amount: u64,
    admit: bool,
    got: &Result<Verdict, Error>,
) -> Result<(), TestCaseError> {
    let prev = model.used(i);
    let next = prev + u128::from(amount);
    let remaining = model.remaining(specs, i);
    if admit && u128::from(amount) > remaining {
        let shortfall = u64::try_from(u128::from(amount) - remaining).unwrap();
        let refused = matches!(got, Err(Error::Refused { shortfall: s, .. }) if *s == shortfall);
        prop_assert!(refused, "{:?}", got);
    } else if next > u128::from(u64::MAX) {
        prop_assert!(!admit);
        let overflow = matches!(got, Err(Error::Overflow { .. }));
        prop_assert!(overflow, "{:?}", got);
    } else {
        let verdict = *got
            .as_ref()
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(shape(verdict), Model::verdict(specs, i, prev, next));
        model.spent[i] = next - model.reserved[i];
    }
    Ok(())
}

/// Admission control never lets `spent + reserved` pass a limit.
fn never_over_grants<const N: usize, P: Rules<N>>(
    policy: &P,
    specs: &[Spec; 3],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut meter = Meter::new(policy);
    let mut holds = Vec::new();
    for op in ops {
        run(&mut meter, &mut holds, op);
        for (i, spec) in specs.iter().enumerate() {
            let dim = dim(i);
            prop_assert_eq!(meter.overrun(dim), Some(0));
            let used =
                u128::from(meter.spent(dim).unwrap()) + u128::from(meter.reserved(dim).unwrap());
            prop_assert!(used <= u128::from(spec.limit));
            let remaining = u128::from(meter.remaining(dim).unwrap());
            prop_assert_eq!(used + remaining, u128::from(spec.limit));
        }
    }
    Ok(())
}

/// `spent` is exactly the sum of the accepted charges.
fn spent_is_the_sum<const N: usize, P: Rules<N>>(
    policy: &P,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut meter = Meter::new(policy);
    let mut sums = [0u128; 3];
    for op in ops {
        match (op, run(&mut meter, &mut Vec::new(), op)) {
            (Op::Charge(i, a) | Op::TryCharge(i, a), Outcome::One(Ok(_))) => {
                sums[*i] += u128::from(*a);
            }
            (Op::ChargeMany(a) | Op::TryChargeMany(a), Outcome::Many(Ok(_))) => {
                for (sum, a) in sums.iter_mut().zip(a) {
                    *sum += u128::from(*a);
                }
            }
            _ => {}
        }
        for (i, sum) in sums.iter().enumerate() {
            prop_assert_eq!(u128::from(meter.spent(dim(i)).unwrap()), *sum);
        }
    }
    Ok(())
}

/// Operations on one dimension neither change the others nor depend on
/// them: the dimension behaves exactly as in a (`Policy<1>`) meter of its own.
fn independent<const N: usize, P: Rules<N>>(
    policy: &P,
    specs: &[Spec; 3],
    target: usize,
    others: [u64; 3],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let alone = Policy::new([dim_specs(specs)[target]]).unwrap();
    let mut meter = Meter::new(policy);
    // Put some state on the other dimensions first.
    let mut setup = others;
    setup[target] = 0;
    let _ = meter.charge_many(&widen(&setup));
    let before = meter.snapshot();
    let mut single = Meter::new(&alone);
    let (mut holds, mut single_holds) = (Vec::new(), Vec::new());
    for op in ops {
        // Restrict the operation to the target dimension.
        let only = |a: &[u64; 3]| {
            let mut z = [0; 3];
            z[target] = a[target];
            z
        };
        let op = match op {
            Op::Charge(_, a) => Op::Charge(target, *a),
            Op::TryCharge(_, a) => Op::TryCharge(target, *a),
            Op::ChargeMany(a) => Op::ChargeMany(only(a)),
            Op::TryChargeMany(a) => Op::TryChargeMany(only(a)),
            Op::Reserve(a) => Op::Reserve(only(a)),
            Op::Commit(h, a) => Op::Commit(*h, only(a)),
            Op::Release(h) => Op::Release(*h),
            Op::Reset | Op::ReleaseAll => continue,
        };
        let got = run(&mut meter, &mut holds, &op);
        let want = run_single(&mut single, &mut single_holds, &op, target);
        prop_assert_eq!(project(&got, target), want);
        for i in (0..N).filter(|i| *i != target) {
            prop_assert_eq!(meter.snapshot().spent()[i], before.spent()[i]);
            prop_assert_eq!(meter.snapshot().reserved()[i], before.reserved()[i]);
        }
    }
    Ok(())
}

/// Multi-dimension operations change every dimension or none.
fn all_or_nothing<const N: usize, P: Rules<N>>(
    policy: &P,
    setup: &[Op],
    attempts: &[(u8, [u64; 3])],
) -> Result<(), TestCaseError> {
    let mut meter = Meter::new(policy);
    let mut holds = Vec::new();
    for op in setup {
        run(&mut meter, &mut holds, op);
    }
    for (kind, amounts) in attempts {
        let before = meter.snapshot();
        let wide = widen(amounts);
        let ok = match kind {
            0 => meter.charge_many(&wide).is_ok(),
            1 => meter.try_charge_many(&wide).is_ok(),
            _ => meter.reserve(&wide).map(|r| holds.push(r)).is_ok(),
        };
        let after = meter.snapshot();
        for (i, amount) in amounts.iter().enumerate() {
            let used = |s: &Snapshot<N>| u128::from(s.spent()[i]) + u128::from(s.reserved()[i]);
            let delta = if ok { u128::from(*amount) } else { 0 };
            prop_assert_eq!(used(&after), used(&before) + delta);
        }
        if !ok {
            prop_assert_eq!(after, before);
        }
    }
    Ok(())
}

/// The identity holds after every operation, including recording charges
/// past the limits, resets and releases.
fn identity_holds<const N: usize, P: Rules<N>>(
    policy: &P,
    specs: &[Spec; 3],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut meter = Meter::new(policy);
    let mut holds = Vec::new();
    check_identity(&meter, specs)?;
    for op in ops {
        run(&mut meter, &mut holds, op);
        check_identity(&meter, specs)?;
    }
    Ok(())
}

/// The meter agrees with a straightforward `u128` model on every
/// single-dimension result and on every getter.
fn matches_the_model<const N: usize, P: Rules<N>>(
    policy: &P,
    specs: &[Spec; 3],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut meter = Meter::new(policy);
    let mut model = Model::default();
    let mut holds: Vec<Reservation<N>> = Vec::new();
    for op in ops {
        let got = run(&mut meter, &mut holds, op);
        match (op, &got) {
            (Op::Charge(i, a), Outcome::One(r)) => check_one(&mut model, specs, *i, *a, false, r)?,
            (Op::TryCharge(i, a), Outcome::One(r)) => {
                check_one(&mut model, specs, *i, *a, true, r)?;
            }
            (Op::Reserve(a), Outcome::Reserved(r)) => {
                let fits = (0..3).all(|i| u128::from(a[i]) <= model.remaining(specs, i));
                prop_assert_eq!(fits, r.is_ok());
                if fits {
                    for (reserved, a) in model.reserved.iter_mut().zip(a) {
                        *reserved += u128::from(*a);
                    }
                }
            }
            (Op::Release(_), Outcome::Settled(Ok(None)) | Outcome::NoHandle) => {}
            (Op::Reset, _) => {
                model = Model::default();
                holds.clear();
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        if let (Op::Release(_), Outcome::Settled(Ok(None))) = (op, &got) {
            // The model cannot know which handle: recompute from the meter's holds.
            model.reserved = [0; 3];
            for h in &holds {
                for i in 0..3 {
                    model.reserved[i] += u128::from(h.amounts()[i]);
                }
            }
        }
        for i in 0..3 {
            let dim = dim(i);
            prop_assert_eq!(u128::from(meter.spent(dim).unwrap()), model.spent[i]);
            prop_assert_eq!(u128::from(meter.reserved(dim).unwrap()), model.reserved[i]);
            prop_assert_eq!(
                u128::from(meter.remaining(dim).unwrap()),
                model.remaining(specs, i)
            );
        }
    }
    Ok(())
}

/// restore(snapshot) is the identity: the same state, and the same
/// behaviour on any further operations.
fn restore_is_the_identity<const N: usize, P: Rules<N>>(
    policy: &P,
    before: &[Op],
    after: &[Op],
) -> Result<(), TestCaseError> {
    let mut meter = Meter::new(policy);
    let mut holds = Vec::new();
    for op in before {
        run(&mut meter, &mut holds, op);
    }
    let snapshot = meter.snapshot();
    let mut restored = Meter::restore(policy, &snapshot).unwrap();
    prop_assert_eq!(restored.snapshot(), snapshot);
    // Reservations do not survive a restore (handles are tied to a meter),
    // so both continue without the old handles.
    meter.release_all();
    restored.release_all();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for op in after {
        prop_assert_eq!(run(&mut meter, &mut a, op), run(&mut restored, &mut b, op));
        prop_assert_eq!(meter.snapshot(), restored.snapshot());
    }
    Ok(())
}

proptest! {
    #[test]
    fn try_charge_never_over_grants(specs in [spec(), spec(), spec()], ops in vec(admission_op(), 1..60)) {
        both_forms!(&specs, |policy| never_over_grants(policy, &specs, &ops));
    }

    #[test]
    fn spent_is_the_sum_of_accepted_charges(
        specs in [spec(), spec(), spec()],
        ops in vec(op().prop_filter("charges", |op| matches!(op,
            Op::Charge(..) | Op::TryCharge(..) | Op::ChargeMany(_) | Op::TryChargeMany(_))), 1..60),
    ) {
        both_forms!(&specs, |policy| spent_is_the_sum(policy, &ops));
    }

    #[test]
    fn dimensions_are_independent(
        specs in [spec(), spec(), spec()],
        target in 0usize..3,
        others in [amount(), amount(), amount()],
        ops in vec(op(), 1..60),
    ) {
        both_forms!(&specs, |policy| independent(policy, &specs, target, others, &ops));
    }

    #[test]
    fn multi_dimension_charges_are_all_or_nothing(
        specs in [spec(), spec(), spec()],
        setup in vec(op(), 0..20),
        attempts in vec((0u8..3, amounts()), 1..20),
    ) {
        both_forms!(&specs, |policy| all_or_nothing(policy, &setup, &attempts));
    }

    #[test]
    fn identity_holds_after_every_operation(specs in [spec(), spec(), spec()], ops in vec(op(), 1..80)) {
        both_forms!(&specs, |policy| identity_holds(policy, &specs, &ops));
    }

    #[test]
    fn meter_matches_the_reference_model(
        specs in [spec(), spec(), spec()],
        ops in vec(op().prop_filter("single", |op| matches!(op,
            Op::Charge(..) | Op::TryCharge(..) | Op::Reserve(_) | Op::Release(_) | Op::Reset)), 1..80),
    ) {
        both_forms!(&specs, |policy| matches_the_model(policy, &specs, &ops));
    }

    #[test]
    fn restore_of_snapshot_is_the_identity(
        specs in [spec(), spec(), spec()],
        before in vec(op(), 0..40),
        after in vec(op(), 0..40),
    ) {
        both_forms!(&specs, |policy| restore_is_the_identity(policy, &before, &after));
    }

    /// The two forms of one policy agree on every operation's result and on
    /// the state after it, and their snapshots encode alike.
    #[test]
    fn owned_and_const_policies_meter_alike(specs in [spec(), spec(), spec()], ops in vec(op(), 1..80)) {
        let (fixed, owned) = (policy_of(&specs), owned_of(&specs));
        let (mut a, mut b) = (Meter::new(&fixed), Meter::new(&owned));
        let (mut a_holds, mut b_holds) = (Vec::new(), Vec::new());
        for op in &ops {
            prop_assert_eq!(run(&mut a, &mut a_holds, op), run(&mut b, &mut b_holds, op));
            let (x, y) = (a.snapshot(), b.snapshot());
            prop_assert_eq!((x.policy(), x.dim_count(), y.dim_count()), (y.policy(), 3, 3));
            prop_assert_eq!((x.spent(), x.reserved()), (&narrow(y.spent()), &narrow(y.reserved())));
        }
    }
}

/// A dimension-free view of one dimension's outcome, to compare a dimension
/// of a 3-dimension meter with a meter of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Norm {
    Verdict((u8, usize, bool)),
    Err(&'static str, u64),
    Done,
    NoHandle,
}

fn norm_err(e: Error) -> Norm {
    match e {
        Error::Refused { shortfall, .. } => Norm::Err("refused", shortfall),
        other => Norm::Err(other.code(), 0),
    }
}

fn norm(r: Result<Verdict, Error>) -> Norm {
    r.map_or_else(norm_err, |v| Norm::Verdict(shape(v)))
}

/// Runs a target-restricted op on a one-dimension meter.
fn run_single(
    meter: &mut Meter<'_, 1>,
    holds: &mut Vec<Reservation<1>>,
    op: &Op,
    target: usize,
) -> Norm {
    let d = meter.policy().dim_at(0).unwrap();
    let one = |a: &[u64; 3]| [a[target]];
    let lift = |r: Report<1>| r.verdicts()[0];
    match op {
        Op::Charge(_, a) => norm(meter.charge(d, *a)),
        Op::TryCharge(_, a) => norm(meter.try_charge(d, *a)),
        Op::ChargeMany(a) => norm(meter.charge_many(&one(a)).map(lift)),
        Op::TryChargeMany(a) => norm(meter.try_charge_many(&one(a)).map(lift)),
        Op::Reserve(a) => norm(meter.reserve(&one(a)).map(|r| {
            let v = lift(*r.report());
            holds.push(r);
            v
        })),
        Op::Commit(h, a) if !holds.is_empty() => {
            let r = holds.swap_remove(h % holds.len());
            norm(meter.commit(r, &one(a)).map(lift).map_err(|rej| {
                holds.push(rej.reservation);
                rej.error
            }))
        }
        Op::Release(h) if !holds.is_empty() => {
            let r = holds.swap_remove(h % holds.len());
            match meter.release(r) {
                Ok(()) => Norm::Done,
                Err(rej) => {
                    holds.push(rej.reservation);
                    norm_err(rej.error)
                }
            }
        }
        _ => Norm::NoHandle,
    }
}

/// The target dimension's part of a 3-dimension outcome.
fn project(got: &Outcome, target: usize) -> Norm {
    let pick = |r: &[Verdict; 3]| Norm::Verdict(shape(r[target]));
    match got {
        Outcome::One(r) => norm(*r),
        Outcome::Many(r) | Outcome::Reserved(r) => r.as_ref().map_or_else(|e| norm_err(*e), pick),
        Outcome::Settled(Ok(Some(r))) => pick(r),
        Outcome::Settled(Ok(None)) | Outcome::Done => Norm::Done,
        Outcome::Settled(Err((e, _))) => norm_err(*e),
        Outcome::NoHandle => Norm::NoHandle,
    }
}
