//! tally-meter against budgetkernel 0.1.2, in the same run.
//!
//! ```sh
//! cargo bench -p tally-meter --bench meter
//! ```
//!
//! Fairness: both sides use budgetkernel's own benchmark discipline
//! (`benches/charge.rs` in its crate): the budget or meter is built once with
//! black-boxed limits, and every iteration black-boxes the `&mut` reference,
//! the dimension, the amount and the result, so that neither side's counters
//! or verdicts can be constant-folded. Same profile (`bench`: release, fat
//! LTO, one codegen unit), same process, same criterion settings.
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
use criterion::{Criterion, criterion_group};
use tally_meter::{AtomicMeter, DimSpec, Meter, Policy};

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

/// The single-dimension cases, peer first, in one group per case.
fn single(c: &mut Criterion) {
    let cases: [(&str, u64, Option<u64>, u64); 3] = [
        ("continue_single_dim", u64::MAX, None, 0),
        ("warn_single_dim", u64::MAX, Some(0), 0),
        ("already_exhausted_single_dim", 1, None, 2),
    ];
    for (name, limit, warn, before) in cases {
        let mut group = c.benchmark_group(name);
        group.bench_function("budgetkernel", |b| {
            let mut budget = bk(limit, warn);
            let _ = budget.charge(BkDim::Tokens, black_box(before));
            b.iter(|| {
                let budget = black_box(&mut budget);
                let verdict = budget.charge(black_box(BkDim::Tokens), black_box(1));
                let _ = black_box(verdict);
            });
        });
        group.bench_function("tally_meter", |b| {
            let policy = ours(limit, warn);
            let tokens = policy.dim("tokens").unwrap();
            let mut meter = Meter::new(&policy);
            let _ = meter.charge(tokens, black_box(before));
            b.iter(|| {
                let meter = black_box(&mut meter);
                let verdict = meter.charge(black_box(tokens), black_box(1));
                let _ = black_box(verdict);
            });
        });
        group.finish();
    }
}

/// Three sequential charges, budgetkernel's checkpoint pattern, plus our
/// all-or-nothing forms of the same checkpoint.
fn checkpoint(c: &mut Criterion) {
    let mut group = c.benchmark_group("three_dimension_checkpoint");
    group.bench_function("budgetkernel", |b| {
        let mut budget = Budget::builder()
            .limit(BkDim::Tokens, black_box(u64::MAX))
            .limit(BkDim::Millis, black_box(u64::MAX))
            .limit(BkDim::Calls, black_box(u64::MAX))
            .build()
            .unwrap();
        b.iter(|| {
            let budget = black_box(&mut budget);
            let tokens = budget.charge(black_box(BkDim::Tokens), black_box(1_523));
            let millis = budget.charge(black_box(BkDim::Millis), black_box(842));
            let calls = budget.charge(black_box(BkDim::Calls), black_box(1));
            let _ = black_box((tokens, millis, calls));
        });
    });
    let policy = three();
    let [tokens, millis, calls] = [0, 1, 2].map(|i| policy.dim_at(i).unwrap());
    group.bench_function("tally_meter", |b| {
        let mut meter = Meter::new(&policy);
        b.iter(|| {
            let meter = black_box(&mut meter);
            let t = meter.charge(black_box(tokens), black_box(1_523));
            let m = meter.charge(black_box(millis), black_box(842));
            let c = meter.charge(black_box(calls), black_box(1));
            let _ = black_box((t, m, c));
        });
    });
    group.bench_function("tally_meter_charge_many", |b| {
        let mut meter = Meter::new(&policy);
        b.iter(|| {
            let meter = black_box(&mut meter);
            let report = meter.charge_many(black_box(&[1_523, 842, 1]));
            let _ = black_box(report);
        });
    });
    group.bench_function("tally_meter_try_charge_many", |b| {
        let mut meter = Meter::new(&policy);
        b.iter(|| {
            let meter = black_box(&mut meter);
            let report = meter.try_charge_many(black_box(&[1_523, 842, 1]));
            let _ = black_box(report);
        });
    });
    group.finish();
}

/// Admission control and reservations (no peer equivalent: reported).
fn admission(c: &mut Criterion) {
    let mut group = c.benchmark_group("admission");
    let policy = ours(u64::MAX, None);
    let tokens = policy.dim("tokens").unwrap();
    group.bench_function("try_charge_single_dim", |b| {
        let mut meter = Meter::new(&policy);
        b.iter(|| {
            let meter = black_box(&mut meter);
            let verdict = meter.try_charge(black_box(tokens), black_box(1));
            let _ = black_box(verdict);
        });
    });
    group.bench_function("try_charge_refused", |b| {
        let small = ours(1, None);
        let mut meter = Meter::new(&small);
        b.iter(|| {
            let meter = black_box(&mut meter);
            let verdict = meter.try_charge(black_box(tokens), black_box(2));
            let _ = black_box(verdict);
        });
    });
    let policy3 = three();
    group.bench_function("reserve_commit_three_dim", |b| {
        let mut meter = Meter::new(&policy3);
        b.iter(|| {
            let meter = black_box(&mut meter);
            let held = meter.reserve(black_box(&[2_000, 1_000, 1])).unwrap();
            let report = meter.commit(held, black_box(&[1_523, 842, 1]));
            let _ = black_box(report);
        });
    });
    group.finish();
}

/// The shared meter: one thread alone, and two threads on one counter.
fn atomic(c: &mut Criterion) {
    let mut group = c.benchmark_group("atomic_try_charge");
    let policy = ours(u64::MAX, None);
    let tokens = policy.dim("tokens").unwrap();
    group.bench_function("one_thread", |b| {
        let meter = AtomicMeter::new(&policy);
        b.iter(|| {
            let meter = black_box(&meter);
            let verdict = meter.try_charge(black_box(tokens), black_box(1));
            let _ = black_box(verdict);
        });
    });
    group.bench_function("two_threads_contending", |b| {
        let meter = AtomicMeter::new(&policy);
        b.iter_custom(|iters| contended(&meter, iters));
    });
    let policy3 = three();
    group.bench_function("one_thread_three_dim_many", |b| {
        let meter = AtomicMeter::new(&policy3);
        b.iter(|| {
            let meter = black_box(&meter);
            let report = meter.try_charge_many(black_box(&[1_523, 842, 1]));
            let _ = black_box(report);
        });
    });
    group.finish();
}

/// Times `iters` charges on this thread while a second thread charges the
/// same dimension as fast as it can.
fn contended(meter: &AtomicMeter<'_, 1>, iters: u64) -> Duration {
    let tokens = meter.policy().dim_at(0).unwrap();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let rival = s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = black_box(meter.try_charge(black_box(tokens), black_box(1)));
                n += 1;
            }
            n
        });
        let start = Instant::now();
        for _ in 0..iters {
            let _ = black_box(black_box(meter).try_charge(black_box(tokens), black_box(1)));
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let _ = rival.join();
        elapsed
    })
}

fn sizes() {
    use std::mem::size_of;
    println!(
        "size_of: tally_meter::Meter<8> = {} bytes, tally_meter::AtomicMeter<8> = {} bytes, \
         budgetkernel::Budget = {} bytes, Policy<8> = {} bytes",
        size_of::<Meter<'static, 8>>(),
        size_of::<AtomicMeter<'static, 8>>(),
        size_of::<Budget>(),
        size_of::<Policy<8>>(),
    );
}

criterion_group!(benches, single, checkpoint, admission, atomic);

fn main() {
    sizes();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
