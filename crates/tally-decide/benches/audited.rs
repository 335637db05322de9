//! Audited append of decisions to a durable log: `tally-decide`'s
//! `audited::append_decision(s)` over `tally-audit` against calybris-core
//! 1.3.0's `WalWriter::append_verified_audited` (both verify the decision by
//! replay before writing), side by side in one run, on the 22-candidate
//! policy of Calybris's kernel benchmark.
//!
//! * `none`: acknowledged once written to the operating system (tally
//!   `Durability::None`; calybris `append_verified_audited`, which writes
//!   through its buffered file each call without syncing).
//! * `batch_1`: one decision, durable before the call returns (tally
//!   `Durability::Batch`; calybris `append_verified_audited` +
//!   `flush_and_sync`).
//! * `batch_64`: 64 decisions, durable before the call returns (tally one
//!   `append_decisions` = one group commit; calybris 64 appends + one
//!   `flush_and_sync`). Time per batch.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use calybris_core::kernel::{KernelDecision, KernelInput};
use calybris_core::wal::{AuditedRecord, WalWriter};
use criterion::{Criterion, criterion_group, criterion_main};
use tally_audit::{AuditLog, Durability, LogOptions};
use tally_decide::audited::{append_decision, append_decisions};
use tally_decide::{Decision, Policy, Request};

#[allow(dead_code)]
mod common;

use common::{REQUESTS, calybris_input, calybris_policy, requests, tally_policy};

struct Fixture {
    policy: Policy,
    requests: Vec<Request>,
    decisions: Vec<Decision>,
    snapshot: calybris_core::kernel::PolicySnapshot,
    inputs: Vec<KernelInput>,
    theirs: Vec<KernelDecision>,
}

fn fixture() -> Fixture {
    let policy = tally_policy(22);
    let requests = requests();
    let decisions = requests.iter().map(|r| policy.prescribe(r)).collect();
    let snapshot = calybris_policy(&policy);
    let inputs: Vec<KernelInput> = requests.iter().map(calybris_input).collect();
    let theirs = inputs.iter().map(|i| snapshot.prescribe(*i)).collect();
    Fixture {
        policy,
        requests,
        decisions,
        snapshot,
        inputs,
        theirs,
    }
}

fn tally_log(dir: &std::path::Path, name: &str, durability: Durability) -> AuditLog {
    let opts = LogOptions::new()
        .durability(durability)
        .checkpoint_on_close(false);
    AuditLog::create(dir.join(name), opts).unwrap()
}

fn calybris_wal(dir: &std::path::Path, name: &str) -> WalWriter<AuditedRecord<()>> {
    WalWriter::open(&dir.join(name)).unwrap()
}

fn bench_audited_append(c: &mut Criterion) {
    let f = fixture();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut group = c.benchmark_group("audited_append_22");

    let log = tally_log(dir.path(), "none.jsonl", Durability::None);
    let mut at = 0;
    group.bench_function("none/tally", |b| {
        b.iter(|| {
            at = (at + 1) % REQUESTS;
            append_decision(&log, &f.policy, &f.requests[at], &f.decisions[at]).unwrap()
        });
    });
    let mut wal = calybris_wal(dir.path(), "none.wal");
    let mut at = 0;
    group.bench_function("none/calybris", |b| {
        b.iter(|| {
            at = (at + 1) % REQUESTS;
            black_box(
                wal.append_verified_audited(&f.snapshot, f.inputs[at], f.theirs[at], ())
                    .unwrap(),
            )
        });
    });

    let log = tally_log(dir.path(), "batch1.jsonl", Durability::Batch);
    let mut at = 0;
    group.bench_function("batch_1/tally", |b| {
        b.iter(|| {
            at = (at + 1) % REQUESTS;
            append_decision(&log, &f.policy, &f.requests[at], &f.decisions[at]).unwrap()
        });
    });
    let mut wal = calybris_wal(dir.path(), "batch1.wal");
    let mut at = 0;
    group.bench_function("batch_1/calybris", |b| {
        b.iter(|| {
            at = (at + 1) % REQUESTS;
            black_box(
                wal.append_verified_audited(&f.snapshot, f.inputs[at], f.theirs[at], ())
                    .unwrap(),
            );
            wal.flush_and_sync().unwrap();
        });
    });

    const BATCH: usize = 64;
    let log = tally_log(dir.path(), "batch64.jsonl", Durability::Batch);
    let mut at = 0;
    group.bench_function("batch_64/tally", |b| {
        b.iter(|| {
            at = (at + BATCH) % (REQUESTS - BATCH);
            let items = (at..at + BATCH).map(|i| (&f.policy, &f.requests[i], &f.decisions[i]));
            black_box(append_decisions(&log, items).unwrap())
        });
    });
    let mut wal = calybris_wal(dir.path(), "batch64.wal");
    let mut at = 0;
    group.bench_function("batch_64/calybris", |b| {
        b.iter(|| {
            at = (at + BATCH) % (REQUESTS - BATCH);
            for i in at..at + BATCH {
                black_box(
                    wal.append_verified_audited(&f.snapshot, f.inputs[i], f.theirs[i], ())
                        .unwrap(),
                );
            }
            wal.flush_and_sync().unwrap();
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_audited_append
}
criterion_main!(benches);
