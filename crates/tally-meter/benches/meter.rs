//! tally-meter against budgetkernel 0.1.2, in the same run.
//!
//! ```sh
//! cargo bench -p tally-meter --bench meter                      # criterion
//! cargo bench -p tally-meter --bench meter -- --interleaved 40  # min of 40 alternating rounds
//! # instructions per iteration (stable under load): run a case under callgrind
//! valgrind --tool=callgrind target/release/deps/meter-<hash> --instructions <case> <iterations>
//! ```
//!
//! Fairness: both sides use budgetkernel's own benchmark discipline
//! (`benches/charge.rs` in its crate): the budget or meter is built once with
//! black-boxed limits, and every iteration black-boxes the `&mut` reference,
//! the dimension, the amount and the result, so that neither side's counters
//! or verdicts can be constant-folded. Same profile (`bench`: release, fat
//! LTO, one codegen unit), same process. Every case is one function that
//! builds its state, then times `iterations` rounds of the loop; criterion,
//! the interleaved mode and the instruction-count mode all run these same
//! functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use budgetkernel::{Budget, Dim as BkDim};
use criterion::Criterion;
use tally_meter::{AtomicMeter, Dim, DimSpec, MAX_DIMS, Meter, OwnedPolicy, Policy};

/// Dimension handles as constants, as budgetkernel's `Dim::Tokens` is: a
/// handle is an index, valid for every policy with this dimension order (the
/// benchmarked policies are built at run time with black-boxed limits).
const SHAPE: Policy<3> = match Policy::new([
    DimSpec::new("tokens", 1),
    DimSpec::new("millis", 1),
    DimSpec::new("calls", 1),
]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};
const fn dim(index: usize) -> Dim {
    match SHAPE.dim_at(index) {
        Some(dim) => dim,
        None => panic!("no such dimension"),
    }
}
const TOKENS: Dim = dim(0);
const MILLIS: Dim = dim(1);
const CALLS: Dim = dim(2);

fn bk(limit: u64, warn: Option<u64>) -> Budget {
    let builder = Budget::builder();
    let builder = match warn {
        Some(w) => builder.limit_with_warn(BkDim::Tokens, black_box(limit), black_box(w)),
        None => builder.limit(BkDim::Tokens, black_box(limit)),
    };
    builder.build().unwrap()
}

fn ours(limit: u64, warn: Option<u64>) -> Policy<1> {
    let spec = DimSpec::new("tokens", black_box(limit));
    Policy::new([warn.map_or(spec, |w| spec.warn_at(black_box(w)))]).unwrap()
}

fn three() -> Policy<3> {
    Policy::new([
        DimSpec::new("tokens", black_box(u64::MAX)),
        DimSpec::new("millis", black_box(u64::MAX)),
        DimSpec::new("calls", black_box(u64::MAX)),
    ])
    .unwrap()
}

/// The same policies in the owned form (declared at run time).
fn ours_owned(limit: u64, warn: Option<u64>) -> OwnedPolicy {
    let spec = DimSpec::new("tokens", black_box(limit));
    OwnedPolicy::new(&[warn.map_or(spec, |w| spec.warn_at(black_box(w)))]).unwrap()
}

fn three_owned() -> OwnedPolicy {
    OwnedPolicy::new(&[
        DimSpec::new("tokens", black_box(u64::MAX)),
        DimSpec::new("millis", black_box(u64::MAX)),
        DimSpec::new("calls", black_box(u64::MAX)),
    ])
    .unwrap()
}

/// Times `iterations` rounds of `body`.
fn timed(iterations: u64, mut body: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        body();
    }
    start.elapsed()
}

/// A single-dimension charge on budgetkernel: `(limit, warn, charged before)`.
fn bk_single(iterations: u64, (limit, warn, before): (u64, Option<u64>, u64)) -> Duration {
    let mut budget = bk(limit, warn);
    let _ = budget.charge(BkDim::Tokens, black_box(before));
    timed(iterations, || {
        let budget = black_box(&mut budget);
        let verdict = budget.charge(black_box(BkDim::Tokens), black_box(1));
        let _ = black_box(verdict);
    })
}

/// The same single-dimension charge on tally-meter.
fn tm_single(iterations: u64, (limit, warn, before): (u64, Option<u64>, u64)) -> Duration {
    let policy = ours(limit, warn);
    let mut meter = Meter::new(&policy);
    let _ = meter.charge(TOKENS, black_box(before));
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let verdict = meter.charge(black_box(TOKENS), black_box(1));
        let _ = black_box(verdict);
    })
}

/// The same single-dimension charge under an owned policy.
fn tm_owned_single(iterations: u64, (limit, warn, before): (u64, Option<u64>, u64)) -> Duration {
    let policy = ours_owned(limit, warn);
    let mut meter = Meter::new(&policy);
    let _ = meter.charge(TOKENS, black_box(before));
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let verdict = meter.charge(black_box(TOKENS), black_box(1));
        let _ = black_box(verdict);
    })
}

/// The three-dimension admission under an owned policy (`MAX_DIMS` slots).
fn tm_owned_try_charge_many(iterations: u64) -> Duration {
    let policy = three_owned();
    let mut meter = Meter::new(&policy);
    let mut amounts = [0u64; MAX_DIMS];
    amounts[..3].copy_from_slice(&[1_523, 842, 1]);
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let report = meter.try_charge_many(black_box(&amounts));
        let _ = black_box(report);
    })
}

/// The floor under this discipline: a bare `u64` counter with checked
/// addition and a 2-byte result, no limit, no verdict, no dimension check.
fn checked_counter(iterations: u64) -> Duration {
    let mut counter = 0u64;
    timed(iterations, || {
        let counter = black_box(&mut counter);
        let dim = black_box(0u8);
        let result: Result<u8, u8> = match counter.checked_add(black_box(1)) {
            Some(next) => {
                *counter = next;
                Ok(dim)
            }
            None => Err(dim),
        };
        let _ = black_box(result);
    })
}

const CONTINUE: (u64, Option<u64>, u64) = (u64::MAX, None, 0);
const WARN: (u64, Option<u64>, u64) = (u64::MAX, Some(0), 0);
const EXHAUSTED: (u64, Option<u64>, u64) = (1, None, 2);

fn bk_checkpoint(iterations: u64) -> Duration {
    let mut budget = Budget::builder()
        .limit(BkDim::Tokens, black_box(u64::MAX))
        .limit(BkDim::Millis, black_box(u64::MAX))
        .limit(BkDim::Calls, black_box(u64::MAX))
        .build()
        .unwrap();
    timed(iterations, || {
        let budget = black_box(&mut budget);
        let tokens = budget.charge(black_box(BkDim::Tokens), black_box(1_523));
        let millis = budget.charge(black_box(BkDim::Millis), black_box(842));
        let calls = budget.charge(black_box(BkDim::Calls), black_box(1));
        let _ = black_box((tokens, millis, calls));
    })
}

fn tm_checkpoint(iterations: u64) -> Duration {
    let policy = three();
    let mut meter = Meter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let t = meter.charge(black_box(TOKENS), black_box(1_523));
        let m = meter.charge(black_box(MILLIS), black_box(842));
        let c = meter.charge(black_box(CALLS), black_box(1));
        let _ = black_box((t, m, c));
    })
}

fn tm_charge_many(iterations: u64) -> Duration {
    let policy = three();
    let mut meter = Meter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let report = meter.charge_many(black_box(&[1_523, 842, 1]));
        let _ = black_box(report);
    })
}

fn tm_try_charge_many(iterations: u64) -> Duration {
    let policy = three();
    let mut meter = Meter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let report = meter.try_charge_many(black_box(&[1_523, 842, 1]));
        let _ = black_box(report);
    })
}

/// `try_charge`, admitted (`limit` large) or refused (`limit` 1, amount 2).
fn tm_try_charge(iterations: u64, (limit, amount): (u64, u64)) -> Duration {
    let policy = ours(limit, None);
    let mut meter = Meter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let verdict = meter.try_charge(black_box(TOKENS), black_box(amount));
        let _ = black_box(verdict);
    })
}

fn tm_reserve_commit(iterations: u64) -> Duration {
    let policy = three();
    let mut meter = Meter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&mut meter);
        let held = meter.reserve(black_box(&[2_000, 1_000, 1])).unwrap();
        let report = meter.commit(held, black_box(&[1_523, 842, 1]));
        let _ = black_box(report);
    })
}

fn atomic_one_thread(iterations: u64) -> Duration {
    let policy = ours(u64::MAX, None);
    let meter = AtomicMeter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&meter);
        let verdict = meter.try_charge(black_box(TOKENS), black_box(1));
        let _ = black_box(verdict);
    })
}

fn atomic_three_dim_many(iterations: u64) -> Duration {
    let policy = three();
    let meter = AtomicMeter::new(&policy);
    timed(iterations, || {
        let meter = black_box(&meter);
        let report = meter.try_charge_many(black_box(&[1_523, 842, 1]));
        let _ = black_box(report);
    })
}

/// Times `iterations` charges on this thread while a second thread charges
/// the same dimension of the same meter as fast as it can.
fn atomic_two_threads(iterations: u64) -> Duration {
    let policy = ours(u64::MAX, None);
    let meter = AtomicMeter::new(&policy);
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let _ = black_box(meter.try_charge(black_box(TOKENS), black_box(1)));
            }
        });
        let elapsed = timed(iterations, || {
            let _ = black_box(black_box(&meter).try_charge(black_box(TOKENS), black_box(1)));
        });
        stop.store(true, Ordering::Relaxed);
        elapsed
    })
}

/// Every case: (criterion group, function, routine).
type Case = (&'static str, &'static str, fn(u64) -> Duration);

const CASES: &[Case] = &[
    ("continue_single_dim", "budgetkernel", |n| {
        bk_single(n, CONTINUE)
    }),
    ("continue_single_dim", "tally_meter", |n| {
        tm_single(n, CONTINUE)
    }),
    ("continue_single_dim", "tally_meter_owned", |n| {
        tm_owned_single(n, CONTINUE)
    }),
    (
        "continue_single_dim",
        "checked_counter_floor",
        checked_counter,
    ),
    ("warn_single_dim", "budgetkernel", |n| bk_single(n, WARN)),
    ("warn_single_dim", "tally_meter", |n| tm_single(n, WARN)),
    ("already_exhausted_single_dim", "budgetkernel", |n| {
        bk_single(n, EXHAUSTED)
    }),
    ("already_exhausted_single_dim", "tally_meter", |n| {
        tm_single(n, EXHAUSTED)
    }),
    ("three_dimension_checkpoint", "budgetkernel", bk_checkpoint),
    ("three_dimension_checkpoint", "tally_meter", tm_checkpoint),
    (
        "three_dimension_checkpoint",
        "tally_meter_charge_many",
        tm_charge_many,
    ),
    (
        "three_dimension_checkpoint",
        "tally_meter_try_charge_many",
        tm_try_charge_many,
    ),
    (
        "three_dimension_checkpoint",
        "tally_meter_owned_try_charge_many",
        tm_owned_try_charge_many,
    ),
    ("admission", "try_charge_single_dim", |n| {
        tm_try_charge(n, (u64::MAX, 1))
    }),
    ("admission", "try_charge_refused", |n| {
        tm_try_charge(n, (1, 2))
    }),
    ("admission", "reserve_commit_three_dim", tm_reserve_commit),
    ("atomic_try_charge", "one_thread", atomic_one_thread),
    (
        "atomic_try_charge",
        "two_threads_contending",
        atomic_two_threads,
    ),
    (
        "atomic_try_charge",
        "one_thread_three_dim_many",
        atomic_three_dim_many,
    ),
];

fn criterion_suite(c: &mut Criterion) {
    let mut groups: Vec<&str> = CASES.iter().map(|(g, _, _)| *g).collect();
    groups.dedup();
    for group_name in groups {
        let mut group = c.benchmark_group(group_name);
        for (_, name, routine) in CASES.iter().filter(|(g, _, _)| *g == group_name) {
            group.bench_function(*name, |b| b.iter_custom(routine));
        }
        group.finish();
    }
}

/// The minimum time per iteration of each case over `rounds` rounds, the
/// cases alternating within each round so that a burst of load on the
/// machine hits both sides of a comparison alike.
fn interleaved(rounds: u32) {
    const ITERATIONS: u64 = 2_000_000;
    let mut best = vec![f64::MAX; CASES.len()];
    for _ in 0..rounds {
        for (best, (_, _, routine)) in best.iter_mut().zip(CASES) {
            let ns = routine(ITERATIONS).as_nanos() as f64 / ITERATIONS as f64;
            *best = best.min(ns);
        }
    }
    println!(
        "minimum of {rounds} interleaved rounds of {ITERATIONS} iterations, ns per iteration:"
    );
    let peer = |group: &str| {
        CASES
            .iter()
            .zip(&best)
            .find(|((g, n, _), _)| *g == group && *n == "budgetkernel")
            .map(|(_, ns)| *ns)
    };
    for ((group, name, _), ns) in CASES.iter().zip(&best) {
        match peer(group).filter(|_| *name != "budgetkernel") {
            Some(bk) => println!(
                "{group}/{name}: {ns:.3} (budgetkernel {bk:.3}, ratio {:.2})",
                ns / bk
            ),
            None => println!("{group}/{name}: {ns:.3}"),
        }
    }
}

fn sizes() {
    use std::mem::size_of;
    println!(
        "size_of: tally_meter::Meter<8> = {} bytes, tally_meter::AtomicMeter<8> = {} bytes, \
         budgetkernel::Budget = {} bytes, Policy<8> = {} bytes, OwnedPolicy = {} bytes, \
         OwnedMeter = {} bytes",
        size_of::<Meter<'static, 8>>(),
        size_of::<AtomicMeter<'static, 8>>(),
        size_of::<Budget>(),
        size_of::<Policy<8>>(),
        size_of::<OwnedPolicy>(),
        size_of::<tally_meter::OwnedMeter<'static>>(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name);
    if let Some(i) = flag("--instructions") {
        // One case, a given number of iterations: under callgrind, the
        // difference between two counts over the difference in iterations is
        // the instructions per iteration.
        let case = &args[i + 1];
        let iterations: u64 = args[i + 2].parse().unwrap();
        let (_, _, routine) = CASES
            .iter()
            .find(|(g, n, _)| format!("{g}/{n}") == *case)
            .unwrap_or_else(|| panic!("no case {case}"));
        black_box(routine(iterations));
        return;
    }
    sizes();
    if let Some(i) = flag("--interleaved") {
        interleaved(args.get(i + 1).and_then(|r| r.parse().ok()).unwrap_or(20));
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    criterion_suite(&mut criterion);
    criterion.final_summary();
}
