//! Reserve + commit pairs on one engine, for `perf stat` (cycles and
//! instructions per pair do not depend on what else the machine runs, as
//! wall time does): `tally` (the budget, fresh every 50,000 pairs as in the
//! criterion bench) or `calybris` (calybris-core's `BudgetEngine`).
//!
//! ```sh
//! cargo build --release -p tally-ledger --example pair
//! perf stat -e cycles,instructions target/release/examples/pair tally 5000000
//! perf stat -e cycles,instructions target/release/examples/pair calybris 5000000
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use calybris_core::budget::BudgetEngine;
use tally_ledger::budget::Budget;

const CHUNK: u64 = 50_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "tally".into());
    let n: u64 = args
        .next()
        .map_or(5_000_000, |a| a.parse().expect("a count"));
    let start = Instant::now();
    match which.as_str() {
        "tally" => {
            let mut done = 0;
            while done < n {
                let k = (n - done).min(CHUNK);
                let mut budget = Budget::new(1, 1, 2, None, 1).unwrap();
                budget.open_tenant(10, u128::from(u64::MAX), 3, 1).unwrap();
                for i in 0..k {
                    let id = u128::from(i) + 100;
                    budget.try_reserve(10, 10, id, 0, 2).unwrap();
                    black_box(budget.commit(id, 7, 3).unwrap());
                }
                done += k;
            }
        }
        "calybris" => {
            let engine = BudgetEngine::new();
            engine.ensure_tenant("t-10", i64::MAX / 2);
            for _ in 0..n {
                let (_, id) = engine.try_reserve("t-10", 10);
                black_box(engine.commit(id.unwrap(), 7));
            }
        }
        other => panic!("tally or calybris, not {other}"),
    }
    let per = start.elapsed().as_nanos() / u128::from(n.max(1));
    println!("{which}: {n} pairs, {per} ns per pair (wall time)");
}
