//! `tally-decide` against calybris-core 1.3.0, side by side in one run.
//!
//! The workload is Calybris's own kernel benchmark (`benches/kernel_bench.rs`:
//! provider `i % 6`, rising quality, latency and prices per candidate; a
//! request stream whose risk, confidence, minimum quality and token counts
//! vary with the sequence number), with quality kept within 10,000 bps so the
//! policy is valid for both. Both kernels get the same policy and the same
//! 1,024 requests in the same order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use calybris_core::kernel::KernelInput;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tally_decide::{CandidateId, Request, verify_decision};

mod common;

use common::{
    REQUESTS, calybris_input, calybris_policy, open_requests, request, requests, tally_policy,
};

fn race(c: &mut Criterion, name: &str, requests: &[Request], counts: &[u32]) {
    let inputs: Vec<KernelInput> = requests.iter().map(calybris_input).collect();
    let mut group = c.benchmark_group(name);
    for &count in counts {
        let policy = tally_policy(count);
        let snapshot = calybris_policy(&policy);
        // Same decisions on this workload (checked, so the race is fair).
        for (r, i) in requests.iter().zip(&inputs) {
            let (ours, theirs) = (policy.prescribe(r), snapshot.prescribe(*i));
            assert_eq!(ours.utility_microunits, theirs.expected_utility_microunits);
            assert_eq!(
                ours.selected_id.map_or(0, CandidateId::get),
                theirs.selected_model_id
            );
            assert_eq!(ours.eligible_candidates, theirs.eligible_models);
        }
        let mut at = 0;
        group.bench_with_input(BenchmarkId::new("tally", count), &count, |b, _| {
            b.iter(|| {
                at = (at + 1) % REQUESTS;
                black_box(policy.prescribe(black_box(&requests[at])))
            });
        });
        let mut at = 0;
        group.bench_with_input(BenchmarkId::new("calybris", count), &count, |b, _| {
            b.iter(|| {
                at = (at + 1) % REQUESTS;
                black_box(snapshot.prescribe(black_box(inputs[at])))
            });
        });
    }
    group.finish();
}

/// Calybris's own workload.
fn bench_prescribe(c: &mut Criterion) {
    race(c, "prescribe", &requests(), &[4, 22, 64, 1_000]);
}

/// No quality floor: every candidate is priced (our worst case).
fn bench_prescribe_open(c: &mut Criterion) {
    race(c, "prescribe_open", &open_requests(), &[22, 64, 1_000]);
}

fn bench_digest_and_verify(c: &mut Criterion) {
    let policy = tally_policy(22);
    let snapshot = calybris_policy(&policy);
    let mut group = c.benchmark_group("policy_digest_22");
    group.bench_function("tally", |b| {
        b.iter(|| tally_decide::policy_digest(black_box(&policy)))
    });
    group.bench_function("calybris", |b| {
        b.iter(|| calybris_core::digest::policy_digest(black_box(&snapshot)))
    });
    group.finish();

    let r = request(77);
    let decision = policy.prescribe(&r);
    let input = calybris_input(&r);
    let theirs = snapshot.prescribe(input);
    let mut group = c.benchmark_group("verify_22");
    group.bench_function("tally", |b| {
        b.iter(|| verify_decision(black_box(&policy), black_box(&r), black_box(&decision)))
    });
    group.bench_function("calybris", |b| {
        b.iter(|| {
            calybris_core::verify::verify_decision(
                black_box(&snapshot),
                black_box(input),
                black_box(&theirs),
            )
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_prescribe, bench_prescribe_open, bench_digest_and_verify
}
criterion_main!(benches);
