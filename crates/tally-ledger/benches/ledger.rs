//! tally-ledger's hot paths, with calybris-core 1.3.0's `BudgetEngine` in the
//! same run for the budget API.
//!
//! ```sh
//! cargo bench -p tally-ledger --bench ledger
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use calybris_core::budget::BudgetEngine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally_ledger::budget::Budget;
use tally_ledger::shared::SharedBudget;
use tally_ledger::{Ledger, MAX_BATCH_EVENTS, NewAccount, NewTransfer};

/// Operations per fresh state: our ledger keeps every transfer (it is a
/// ledger), so a long run is split into states of this many operations.
const CHUNK: u64 = 50_000;

fn reserve_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("reserve_commit_1t");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tally", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(CHUNK);
                let mut budget = Budget::new(1, 1, 2, None, 1).unwrap();
                budget.open_tenant(10, u128::from(u64::MAX), 3, 1).unwrap();
                let start = Instant::now();
                for i in 0..n {
                    let id = u128::from(i) + 100;
                    budget.try_reserve(10, 10, id, 0, 2).unwrap();
                    black_box(budget.commit(id, 7, 3).unwrap());
                }
                total += start.elapsed();
                done += n;
            }
            total
        });
    });
    g.bench_function("tally_shared", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(CHUNK);
                let budget = shared_budget();
                let start = Instant::now();
                shared_reserve_commit(&budget, 10, 0, n);
                total += start.elapsed();
                done += n;
            }
            total
        });
    });
    g.bench_function("calybris", |b| {
        let engine = BudgetEngine::new();
        engine.ensure_tenant("t-10", i64::MAX / 2);
        b.iter(|| {
            let (_, id) = engine.try_reserve("t-10", 10);
            black_box(engine.commit(id.unwrap(), 7));
        });
    });
    g.finish();
}

/// A shared budget with tenants 10 and 11 in different shards.
fn shared_budget() -> SharedBudget {
    loop {
        let budget = SharedBudget::new(1, 1, 2, None, 1).unwrap();
        if budget.shard_of(10) != budget.shard_of(11) {
            for t in [10, 11] {
                budget.open_tenant(t, u128::from(u64::MAX), t, 1).unwrap();
            }
            return budget;
        }
    }
}

/// `n` reserve + commit on `tenant`, reservation ids from `base` on.
fn shared_reserve_commit(budget: &SharedBudget, tenant: u128, base: u128, n: u64) {
    for i in 0..n {
        let id = base + u128::from(i) + 100;
        budget.try_reserve(tenant, 10, id, 0, 2).unwrap();
        black_box(budget.commit(id, 7, 3).unwrap());
    }
}

/// Runs `work(thread)` on two threads at once (started together); the
/// wall time from the start to the last one's end.
fn two_threads(work: impl Fn(u64) + Sync) -> Duration {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    work(t);
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    })
}

/// Two threads on distinct tenants (in distinct shards), each doing half
/// of the iterations: the time per reserve + commit is the wall time over
/// all of them, so the throughput gain over one thread is the ratio of the
/// `reserve_commit_1t` time to this one.
fn reserve_commit_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("reserve_commit_2t");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tally_shared", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(2 * CHUNK);
                let budget = shared_budget();
                total += two_threads(|t| {
                    shared_reserve_commit(&budget, 10 + u128::from(t), u128::from(t) << 64, n / 2);
                });
                done += n;
            }
            total
        });
    });
    g.bench_function("calybris", |b| {
        let engine = BudgetEngine::new();
        engine.ensure_tenant("t-10", i64::MAX / 2);
        engine.ensure_tenant("t-11", i64::MAX / 2);
        b.iter_custom(|iters| {
            two_threads(|t| {
                let tenant = if t == 0 { "t-10" } else { "t-11" };
                for _ in 0..iters / 2 {
                    let (_, id) = engine.try_reserve(tenant, 10);
                    black_box(engine.commit(id.unwrap(), 7));
                }
            })
        });
    });
    g.finish();
}

fn batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch_8189");
    g.throughput(Throughput::Elements(MAX_BATCH_EVENTS as u64));
    g.sample_size(20);
    g.bench_function("posted_transfers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut ledger = Ledger::new();
            let accounts = bench_accounts();
            ledger.create_accounts(&accounts, 1).unwrap();
            let mut next = 1u128;
            for round in 0..iters {
                if round % 20 == 19 {
                    // Bound memory: a fresh ledger every 20 batches.
                    ledger = Ledger::new();
                    ledger.create_accounts(&accounts, 1).unwrap();
                }
                let batch = posted_batch(&mut next);
                let start = Instant::now();
                black_box(ledger.create_transfers(&batch, 2 + round).unwrap());
                total += start.elapsed();
            }
            total
        });
    });
    g.finish();
}

fn durable(c: &mut Criterion) {
    use tally_audit::{AuditLog, Durability, LogOptions};
    use tally_ledger::journal::DurableLedger;
    let mut g = c.benchmark_group("durable_batch_8189");
    g.throughput(Throughput::Elements(MAX_BATCH_EVENTS as u64));
    g.sample_size(10);
    g.bench_function("fdatasync_per_batch", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir_in(".").unwrap();
            let log = AuditLog::create(
                dir.path().join("journal.jsonl"),
                LogOptions::new().durability(Durability::Batch),
            )
            .unwrap();
            let mut ledger = DurableLedger::new(log);
            let accounts = bench_accounts();
            ledger.create_accounts(&accounts, 1).unwrap();
            let mut next = 1u128;
            let mut total = Duration::ZERO;
            for round in 0..iters {
                let batch = posted_batch(&mut next);
                let start = Instant::now();
                black_box(ledger.create_transfers(&batch, 2 + round).unwrap());
                total += start.elapsed();
            }
            total
        });
    });
    g.finish();
}

/// Accounts in the batch benchmarks.
const ACCOUNTS: u128 = 1_000;

/// The accounts of the batch benchmarks.
fn bench_accounts() -> Vec<NewAccount> {
    (1..=ACCOUNTS)
        .map(|id| NewAccount {
            id,
            ledger: 1,
            code: 1,
            ..NewAccount::default()
        })
        .collect()
}

/// A full batch of posted transfers between the benchmark accounts, with
/// ids from `next` on.
fn posted_batch(next: &mut u128) -> Vec<NewTransfer> {
    (0..MAX_BATCH_EVENTS as u128)
        .map(|i| {
            *next += 1;
            NewTransfer {
                id: *next,
                debit_account_id: 1 + (*next * 7) % ACCOUNTS,
                credit_account_id: 1 + (*next * 7 + 1) % ACCOUNTS,
                amount: 1 + i % 100,
                ledger: 1,
                code: 1,
                ..NewTransfer::default()
            }
        })
        .collect()
}

criterion_group!(
    benches,
    reserve_commit,
    reserve_commit_two_threads,
    batches,
    durable
);
criterion_main!(benches);
