//! `tally-reward` against svc-rewarder's compute and "seal", in one run.
//!
//! svc-rewarder (RustyOnions) is not on crates.io, so its documented rule is
//! re-implemented here, labelled as such, on its own data layout: one
//! struct per actor with `bytes_stored`, `bytes_served` and
//! `uptime_seconds`; `score = bytes_stored + bytes_served / 4 +
//! uptime_seconds`; `payout = floor(pool × score / total)` in `u128`; the
//! output is `(actor, payout)` with the actor id cloned. Its "seal" is an
//! unsigned BLAKE3 of the struct-order JSON of the payouts.
//!
//! Tally's side runs the whole rule (weights, water-filled caps, largest
//! remainder, minimum payout, the conservation check) on the same accounts
//! with weights 1.0, 0.25 and 1.0, i.e. the same scores.
//!
//! `manifest_signatures` measures the seal of one built manifest (its JCS
//! bytes and the signatures): Ed25519 alone, Ed25519 and ML-DSA-65, and the
//! checks of each seal (`verify_signature`, `verify_pq`).
//!
//! Before criterion, the bench prints the heap held by the decoded inputs
//! and the peak extra heap while computing (`allocation-counter`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde::Serialize;
use tally_reward::Limits;
use tally_reward::compute::compute;
use tally_reward::ident::{AccountId, EpochId};
use tally_reward::inputs::{AccountCounters, EpochInputs, NamedValues, Window};
use tally_reward::keys::{MlDsaSigningKey, MlDsaTrustedKeys, SigningKey, TrustedKeys};
use tally_reward::manifest::{Manifest, Prover, Sealer, build, prove, seal};
use tally_reward::policy::{Policy, VerifiedPolicy};

const POOL: u64 = 1_000_000_000_000;

type Raw = (String, u64, u64, u64);

/// Deterministic counters for `n` actors (xorshift).
fn actors(n: usize) -> Vec<Raw> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            (
                format!("actor-{i:07}"),
                next() % (1 << 40),
                next() % (1 << 42),
                next() % 2_592_000,
            )
        })
        .collect()
}

fn tally_inputs(actors: &[Raw]) -> EpochInputs {
    let accounts = actors
        .iter()
        .map(|(id, stored, served, up)| AccountCounters {
            account: AccountId::new(id.as_str()).unwrap(),
            counters: NamedValues(
                [
                    ("bytes_served".to_owned(), *served),
                    ("bytes_stored".to_owned(), *stored),
                    ("uptime_seconds".to_owned(), *up),
                ]
                .into_iter()
                .collect(),
            ),
        })
        .collect();
    EpochInputs::new(
        EpochId::new("2026-w47").unwrap(),
        Window {
            start: 1_763_337_600,
            end: 1_763_942_400,
        },
        AccountId::new("meter-1").unwrap(),
        accounts,
        &Limits::default(),
    )
    .unwrap()
}

fn tally_policy(key: &SigningKey, trusted: &TrustedKeys) -> VerifiedPolicy {
    let json = serde_json::json!({
        "schema": "tally/reward/policy/v1", "id": "bench", "version": 1,
        "pool": POOL, "funding_account": "pool:bench", "residual_sink": "treasury",
        "weights": {"bytes_stored": 10_000, "bytes_served": 2_500, "uptime_seconds": 10_000},
        "cap": 100_000_000u64, "min_payout": 1, "rounding": "largest_remainder",
        "valid_from": 1_700_000_000u64, "valid_until": 1_900_000_000u64,
    });
    Policy::from_json(json.to_string().as_bytes())
        .unwrap()
        .sign(key)
        .unwrap()
        .verify(trusted)
        .unwrap()
}

/// svc-rewarder's rule, re-implemented on its own layout.
struct Actor {
    actor: String,
    bytes_stored: u64,
    bytes_served: u64,
    uptime_seconds: u64,
}

#[derive(Serialize)]
struct PeerPayout {
    actor: String,
    amount: u64,
}

fn peer_actors(raw: &[Raw]) -> Vec<Actor> {
    raw.iter()
        .map(|(id, s, v, u)| Actor {
            actor: id.clone(),
            bytes_stored: *s,
            bytes_served: *v,
            uptime_seconds: *u,
        })
        .collect()
}

fn peer_compute(pool: u64, actors: &[Actor]) -> Vec<PeerPayout> {
    let score = |a: &Actor| {
        u128::from(a.bytes_stored) + u128::from(a.bytes_served / 4) + u128::from(a.uptime_seconds)
    };
    let total: u128 = actors.iter().map(score).sum();
    actors
        .iter()
        .map(|a| PeerPayout {
            actor: a.actor.clone(),
            amount: (u128::from(pool) * score(a))
                .checked_div(total)
                .unwrap_or(0) as u64,
        })
        .collect()
}

#[derive(Serialize)]
struct PeerManifest<'a> {
    epoch: &'a str,
    pool: u64,
    payouts: &'a [PeerPayout],
}

fn peer_seal(payouts: &[PeerPayout]) -> [u8; 32] {
    let json = serde_json::to_vec(&PeerManifest {
        epoch: "2026-w47",
        pool: POOL,
        payouts,
    })
    .unwrap();
    *blake3::hash(&json).as_bytes()
}

fn report_memory(n: usize, policy: &VerifiedPolicy) {
    let raw = actors(n);
    let mut inputs = None;
    let decoded = allocation_counter::measure(|| inputs = Some(tally_inputs(&raw)));
    let inputs = inputs.unwrap();
    let mut outcome = None;
    let run = allocation_counter::measure(|| {
        outcome = Some(compute(&inputs, policy, &Limits::default()).unwrap());
    });
    let mib = |b: f64| b / 1_048_576.0;
    println!(
        "memory, {n} accounts: decoded inputs {:.1} MiB held; compute peak {:.1} MiB ({:.2}x the inputs), result {:.1} MiB held",
        mib(decoded.bytes_current as f64),
        mib(run.bytes_max as f64),
        run.bytes_max as f64 / decoded.bytes_current as f64,
        mib(run.bytes_current as f64),
    );
    black_box(outcome);
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[7; 32]);
    let mut trusted = TrustedKeys::new();
    trusted.insert(&key.public_key()).unwrap();
    let policy = tally_policy(&key, &trusted);
    for n in [50_000, 1_000_000] {
        report_memory(n, &policy);
    }

    let mut group = c.benchmark_group("compute");
    for n in [50_000usize, 1_000_000] {
        let raw = actors(n);
        let inputs = tally_inputs(&raw);
        let peer = peer_actors(&raw);
        if n >= 1_000_000 {
            group.sample_size(10);
        }
        group.bench_with_input(BenchmarkId::new("tally", n), &n, |b, _| {
            b.iter(|| compute(black_box(&inputs), &policy, &Limits::default()).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("svc_rewarder_rule", n), &n, |b, _| {
            b.iter(|| peer_compute(POOL, black_box(&peer)))
        });
    }
    group.finish();

    let raw = actors(50_000);
    let inputs = tally_inputs(&raw);
    let inputs_cid = inputs.cid().unwrap();
    let outcome = compute(&inputs, &policy, &Limits::default()).unwrap();
    assert_eq!(outcome.distribution.payouts.len(), raw.len());
    let peer_payouts = peer_compute(POOL, &peer_actors(&raw));
    let mut group = c.benchmark_group("seal_50k");
    group.bench_function("tally", |b| {
        b.iter(|| {
            let m = build(&inputs, inputs_cid, &policy, &outcome.distribution, None).unwrap();
            seal(m, &key).unwrap()
        })
    });
    group.bench_function("svc_rewarder_rule", |b| {
        b.iter(|| peer_seal(black_box(&peer_payouts)))
    });
    group.finish();

    // Payout proofs: `prove` indexes the payouts for its one proof, O(n);
    // a `Prover` indexes a manifest's payouts once, then O(log n) a proof.
    let manifest = build(&inputs, inputs_cid, &policy, &outcome.distribution, None).unwrap();
    let payouts = &outcome.distribution.payouts;
    let mut group = c.benchmark_group("prove_50k");
    let mut i = 0usize;
    group.bench_function("prove", |b| {
        b.iter(|| {
            i = (i + 7_919) % payouts.len();
            prove(&manifest, payouts, &payouts[i].account).unwrap()
        })
    });
    let prover = Prover::new(&manifest, payouts).unwrap();
    group.bench_function("prover", |b| {
        b.iter(|| {
            i = (i + 7_919) % payouts.len();
            prover.prove(&payouts[i].account).unwrap()
        })
    });
    group.finish();
    signatures(c, &manifest, &key, &trusted);
}

/// The seal of one manifest, without and with the post-quantum signature,
/// and the check of each.
fn signatures(c: &mut Criterion, manifest: &Manifest, key: &SigningKey, trusted: &TrustedKeys) {
    let pq = MlDsaSigningKey::from_seed(&[11; 32]);
    let mut pq_keys = MlDsaTrustedKeys::new();
    assert!(pq_keys.insert(pq.verifying_key()));
    let dual = Sealer {
        ed25519: key,
        ml_dsa: Some(&pq),
    };
    let sealed = seal(manifest.clone(), dual).unwrap();
    let mut group = c.benchmark_group("manifest_signatures");
    group.bench_function("seal_ed25519", |b| {
        b.iter(|| seal(black_box(manifest.clone()), key).unwrap())
    });
    group.bench_function("seal_ed25519_ml_dsa_65", |b| {
        b.iter(|| seal(black_box(manifest.clone()), dual).unwrap())
    });
    group.bench_function("verify_ed25519", |b| {
        b.iter(|| black_box(&sealed).verify_signature(trusted).unwrap())
    });
    group.bench_function("verify_ml_dsa_65", |b| {
        b.iter(|| black_box(&sealed).verify_pq(&pq_keys, true).unwrap())
    });
    group.bench_function("ml_dsa_65_keygen", |b| {
        b.iter(|| MlDsaSigningKey::from_seed(black_box(&[12; 32])))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
