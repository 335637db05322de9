//! Differential tests against budgetkernel 0.1.2: on random limits, warn
//! thresholds and charge sequences over the dimensions both have, `charge`
//! returns the same verdicts, and `spent` / `remaining` agree after every
//! charge.
//!
//! Where the semantics intentionally differ, and only there, the case is
//! excluded: a charge that would take a dimension's total past `u64::MAX` is
//! `Error::Overflow` here and records nothing, while budgetkernel saturates the
//! total at `u64::MAX`. The test asserts that this is the only difference: we
//! return `Overflow` exactly when budgetkernel's `spent + amount` overflows,
//! and such a charge is then applied to neither meter.
//!
//! Mapping: budgetkernel's 8 fixed dimensions are declared in a random
//! subset, in a random order, as our caller-named dimensions; one warn
//! threshold per dimension (budgetkernel's maximum) is our single warn level.
//! `Warn(d)` corresponds to our `Warn` on `d` at level 0 (budgetkernel has no
//! crossing flag), `Exhausted(d)` to `Exhausted(d)`. Charging a dimension
//! budgetkernel does not declare is `UnknownDimension` there and `UnknownDim`
//! here (a handle from a larger policy), with nothing recorded by either.
//!
//! Every case runs against both policy forms: a `Policy<N>` and the
//! `OwnedPolicy` declaring the same dimensions (the same generic body).

use budgetkernel::{Budget, ChargeError, Dim as BkDim};
use proptest::collection::vec;
use proptest::prelude::*;
use tally_meter::{Dim, DimSpec, Error, Meter, OwnedPolicy, Policy, Rules, Verdict};

const BK_NAMES: [&str; 8] = [
    "tokens", "millis", "bytes", "calls", "memory", "custom0", "custom1", "custom2",
];

/// One declared dimension: which budgetkernel dimension, its limit and warn.
#[derive(Clone, Debug)]
struct Decl {
    bk: usize,
    limit: u64,
    warn: Option<u64>,
}

fn limit() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1u64..=1_000,
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1_000)..u64::MAX,
        1 => any::<u64>().prop_map(|l| l.max(1)),
    ]
}

fn decls() -> impl Strategy<Value = Vec<Decl>> {
    let order = Just((0..8usize).collect::<Vec<_>>()).prop_shuffle();
    (order, 1usize..=8, vec((limit(), any::<Option<u64>>()), 8)).prop_map(|(order, count, raw)| {
        order
            .into_iter()
            .take(count)
            .zip(raw)
            .map(|(bk, (limit, warn))| Decl {
                bk,
                limit,
                warn: warn.map(|w| w % limit),
            })
            .collect()
    })
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..=400,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => (u64::MAX - 1_000)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

fn bk_dim(i: usize) -> BkDim {
    BkDim::ALL[i]
}

fn dim_spec(d: &Decl) -> DimSpec {
    let spec = DimSpec::new(BK_NAMES[d.bk], d.limit);
    d.warn.map_or(spec, |w| spec.warn_at(w))
}

/// Runs the differential on a policy of exactly `N` dimensions, then on the
/// owned policy of the same dimensions; both must exclude the same charges.
fn check<const N: usize>(decls: &[Decl], charges: &[(usize, u64)]) -> Result<usize, TestCaseError> {
    let decls = &decls[..N];
    let specs: [DimSpec; N] = core::array::from_fn(|i| dim_spec(&decls[i]));
    let excluded = differential(&Policy::new(specs).unwrap(), decls, charges)?;
    let owned = OwnedPolicy::new(&specs).unwrap();
    prop_assert_eq!(differential(&owned, decls, charges)?, excluded);
    Ok(excluded)
}

/// The differential of a meter under `policy`, which declares `decls`.
fn differential<const N: usize, P: Rules<N>>(
    policy: &P,
    decls: &[Decl],
    charges: &[(usize, u64)],
) -> Result<usize, TestCaseError> {
    let mut builder = Budget::builder();
    for d in decls {
        builder = match d.warn {
            Some(w) => builder.limit_with_warn(bk_dim(d.bk), d.limit, w),
            None => builder.limit(bk_dim(d.bk), d.limit),
        };
    }
    let mut budget = builder.build().unwrap();
    let mut meter = Meter::new(policy);
    // Our handle for each budgetkernel dimension; undeclared ones get a handle
    // from a larger policy, which this meter does not know.
    let wide = Policy::new(core::array::from_fn::<_, 16, _>(|i| {
        DimSpec::new(WIDE[i], 1)
    }))
    .unwrap();
    let ours = |bk: usize| -> Dim {
        match decls.iter().position(|d| d.bk == bk) {
            Some(i) => wide.dim_at(i).unwrap(),
            None => wide.dim_at(8 + bk).unwrap(),
        }
    };
    let mut excluded = 0;
    for &(bk, amount) in charges {
        let dim = ours(bk);
        let got = meter.charge(dim, amount);
        let before = budget.spent(bk_dim(bk));
        if let Err(Error::Overflow { dim: d }) = got {
            prop_assert_eq!(d, dim);
            // The one intended difference: budgetkernel would saturate here.
            prop_assert!(before.unwrap().checked_add(amount).is_none());
            excluded += 1;
            continue;
        }
        let want = budget.charge(bk_dim(bk), amount);
        match (got, want) {
            (Err(Error::UnknownDim { dim: d }), Err(ChargeError::UnknownDimension(b))) => {
                prop_assert_eq!((d, b), (dim, bk_dim(bk)));
            }
            (Ok(v), Ok(w)) => prop_assert_eq!(map(v, &ours), w),
            (got, want) => prop_assert!(false, "ours {:?}, budgetkernel {:?}", got, want),
        }
        prop_assert_eq!(meter.spent(dim), budget.spent(bk_dim(bk)));
        prop_assert_eq!(meter.remaining(dim), budget.remaining(bk_dim(bk)));
    }
    for bk in 0..8 {
        prop_assert_eq!(meter.spent(ours(bk)), budget.spent(bk_dim(bk)));
    }
    Ok(excluded)
}

const WIDE: [&str; 16] = [
    "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10", "w11", "w12", "w13", "w14",
    "w15",
];

/// Our verdict in budgetkernel's terms.
fn map(v: Verdict, ours: &impl Fn(usize) -> Dim) -> budgetkernel::Verdict {
    let bk_of = |d: Dim| (0..8).find(|&bk| ours(bk) == d).map(bk_dim).unwrap();
    match v {
        Verdict::Continue => budgetkernel::Verdict::Continue,
        Verdict::Warn(w) => {
            assert_eq!(w.level(), 0, "one warn level per dimension");
            budgetkernel::Verdict::Warn(bk_of(w.dim()))
        }
        Verdict::Exhausted(d) => budgetkernel::Verdict::Exhausted(bk_of(d)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Same verdicts and spent values as budgetkernel on every charge, except
    /// the documented overflow cases.
    #[test]
    fn charge_matches_budgetkernel(decls in decls(), charges in vec((0usize..8, amount()), 1..80)) {
        let excluded = match decls.len() {
            1 => check::<1>(&decls, &charges)?,
            2 => check::<2>(&decls, &charges)?,
            3 => check::<3>(&decls, &charges)?,
            4 => check::<4>(&decls, &charges)?,
            5 => check::<5>(&decls, &charges)?,
            6 => check::<6>(&decls, &charges)?,
            7 => check::<7>(&decls, &charges)?,
            _ => check::<8>(&decls, &charges)?,
        };
        prop_assert!(excluded <= charges.len());
    }
}

#[test]
fn the_overflow_exclusion_is_exercised_and_is_the_only_difference() {
    // A deterministic case of each: the charge that budgetkernel saturates is
    // refused here, and everything else agrees.
    let decls = [Decl {
        bk: 0,
        limit: u64::MAX,
        warn: Some(10),
    }];
    let charges = [
        (0, u64::MAX - 5),
        (0, 5),
        (0, 1),
        (0, u64::MAX),
        (0, 0),
        (3, 1),
    ];
    let excluded = check::<1>(&decls, &charges).unwrap();
    assert_eq!(excluded, 2);
}
