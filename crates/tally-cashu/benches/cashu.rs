//! tally-cashu against CDK's `cashu` crate (0.18.3), side by side in one run.
//!
//! ```sh
//! cargo bench -p tally-cashu --bench cashu
//! ```
//!
//! Each group measures the same operation on the same inputs in both crates:
//! `hash_to_curve`, blind, unblind, DLEQ verification of one proof (the
//! receiver's offline check), and encode/decode of a V4 token of 100 proofs
//! (with and without a DLEQ proof on each proof). `tally_decode+resolve`
//! adds what tally-cashu defers from decoding (curve validation of every
//! `C`, short-id resolution): that figure is the like-for-like comparison
//! with CDK's decode, which parses every point.
//!
//! The machine these run on is shared and noisy, so the two sides of a pair
//! are **interleaved**: each criterion iteration of either benchmark runs one
//! call of both operations and times only its own, so load that comes and
//! goes hits both sides alike and the ratio stays meaningful.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::TestMint;
use tally_cashu::crypto::{SecretKey, bdhke, hash_to_curve};
use tally_cashu::nuts::nut00::{MintUrl, Proof};
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::secret::Secret;
use tally_cashu::token::{IdForm, Token};

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

/// Benchmarks `ours` (as `tally`) and `theirs` (as `cdk`) in group `name`,
/// interleaved call by call (see the module docs).
fn paired<A, B>(c: &mut Criterion, name: &str, tally: &str, mut ours: A, mut theirs: B)
where
    A: FnMut(),
    B: FnMut(),
{
    let mut g = c.benchmark_group(name);
    let mut run = |first: bool, iters: u64| {
        let mut own = Duration::ZERO;
        for _ in 0..iters {
            let t0 = Instant::now();
            ours();
            let t1 = Instant::now();
            theirs();
            let t2 = Instant::now();
            own += if first { t1 - t0 } else { t2 - t1 };
        }
        own
    };
    g.bench_function(tally, |b| b.iter_custom(|iters| run(true, iters)));
    g.bench_function("cdk", |b| b.iter_custom(|iters| run(false, iters)));
    g.finish();
}

fn token(proofs: Vec<Proof>) -> Token {
    Token::from_proofs(
        MintUrl::new("https://mint.example.com").unwrap(),
        Some(CurrencyUnit::sat()),
        Some("bench".to_owned()),
        proofs,
        IdForm::Short,
    )
    .unwrap()
}

fn cdk_pk(point: &tally_cashu::crypto::PublicKey) -> cashu::PublicKey {
    cashu::PublicKey::from_slice(&point.to_bytes()).unwrap()
}

fn cdk_sk(key: &SecretKey) -> cashu::SecretKey {
    cashu::SecretKey::from_slice(key.to_secret_bytes().as_ref()).unwrap()
}

fn bench_hash_to_curve(c: &mut Criterion) {
    let messages: Vec<[u8; 32]> = (0u8..64).map(|i| [i; 32]).collect();
    let (mut i, mut j) = (0usize, 0usize);
    paired(
        c,
        "hash_to_curve",
        "tally",
        || {
            i = (i + 1) % messages.len();
            black_box(hash_to_curve(black_box(&messages[i])).unwrap());
        },
        || {
            j = (j + 1) % messages.len();
            black_box(cashu::dhke::hash_to_curve(black_box(&messages[j])).unwrap());
        },
    );
}

fn bench_blind_unblind(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let r = SecretKey::random(&mut rng).unwrap();
    let k = SecretKey::random(&mut rng).unwrap();
    let secret = Secret::random(&mut rng).unwrap();
    let blinded = bdhke::blind(secret.as_bytes(), &r).unwrap();
    let c_ = bdhke::sign(&k, &blinded).unwrap();
    let (r_cdk, k_pub_cdk, c_cdk) = (cdk_sk(&r), cdk_pk(&k.public_key()), cdk_pk(&c_));
    paired(
        c,
        "blind",
        "tally",
        || {
            black_box(bdhke::blind(black_box(secret.as_bytes()), black_box(&r)).unwrap());
        },
        || {
            black_box(
                cashu::dhke::blind_message(black_box(secret.as_bytes()), Some(r_cdk.clone()))
                    .unwrap(),
            );
        },
    );
    let k_pub = k.public_key();
    paired(
        c,
        "unblind",
        "tally",
        || {
            black_box(bdhke::unblind(black_box(&c_), black_box(&r), black_box(&k_pub)).unwrap());
        },
        || {
            black_box(
                cashu::dhke::unblind_message(
                    black_box(&c_cdk),
                    black_box(&r_cdk),
                    black_box(&k_pub_cdk),
                )
                .unwrap(),
            );
        },
    );
}

fn cdk_info(mint: &TestMint) -> cashu::KeySetInfo {
    serde_json::from_str(&serde_json::to_string(mint.keyset.info()).unwrap()).unwrap()
}

fn bench_dleq(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let mint = TestMint::new(2, 64, true, 100);
    let ours = mint.proof(&mut rng, 8);
    let text = token(vec![ours.clone()]).to_v3_string().unwrap();
    let cdk_proof = cashu::nuts::Token::from_str(&text)
        .unwrap()
        .proofs(&[cdk_info(&mint)])
        .unwrap()
        .remove(0);
    let key = cdk_pk(mint.keyset.key(ours.amount).unwrap());
    paired(
        c,
        "dleq_verify_proof",
        "tally",
        || black_box(&ours).verify_dleq(&mint.keyset).unwrap(),
        || black_box(&cdk_proof).verify_dleq(key).unwrap(),
    );
}

fn bench_token_v4(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(3);
    let mint = TestMint::new(3, 64, true, 100);
    let with_dleq: Vec<Proof> = (0..100)
        .map(|i| mint.proof(&mut rng, 1 << (i % 16)))
        .collect();
    let without_dleq: Vec<Proof> = with_dleq
        .iter()
        .cloned()
        .map(|mut p| {
            p.dleq = None;
            p
        })
        .collect();
    let index = mint.index();
    for (name, proofs) in [("100_proofs", without_dleq), ("100_proofs_dleq", with_dleq)] {
        let ours = token(proofs);
        let text = ours.to_v4_string().unwrap();
        let theirs = match cashu::nuts::Token::from_str(&text).unwrap() {
            cashu::nuts::Token::TokenV4(t) => t,
            cashu::nuts::Token::TokenV3(_) => panic!("expected V4"),
        };
        paired(
            c,
            &format!("v4_encode/{name}"),
            "tally",
            || {
                black_box(black_box(&ours).to_v4_string().unwrap());
            },
            || {
                black_box(black_box(&theirs).to_string());
            },
        );
        let decode_cdk = || {
            black_box(cashu::nuts::Token::from_str(black_box(&text)).unwrap());
        };
        paired(
            c,
            &format!("v4_decode/{name}"),
            "tally",
            || {
                black_box(Token::decode(black_box(&text)).unwrap());
            },
            decode_cdk,
        );
        paired(
            c,
            &format!("v4_decode+resolve/{name}"),
            "tally",
            || {
                black_box(
                    Token::decode(black_box(&text))
                        .unwrap()
                        .resolve(&index)
                        .unwrap(),
                );
            },
            decode_cdk,
        );
    }
}

criterion_group!(
    benches,
    bench_hash_to_curve,
    bench_blind_unblind,
    bench_dleq,
    bench_token_v4
);
criterion_main!(benches);
