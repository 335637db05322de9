//! tally-cashu against CDK's `cashu` crate (0.18.3), side by side in one run.
//!
//! ```sh
//! cargo bench -p tally-cashu --bench cashu
//! ```
//!
//! Each group measures the same operation on the same inputs in both crates:
//! `hash_to_curve`, blind, unblind, DLEQ verification of one proof (the
//! receiver's offline check), and encode/decode of a V4 token of 100 proofs
//! (with and without DLEQ proofs on each proof). `decode+resolve` adds what
//! tally-cashu defers from decoding (curve validation of every `C`), so that
//! figure is the like-for-like comparison with CDK's decode.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::str::FromStr;

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
    let mut g = c.benchmark_group("hash_to_curve");
    let mut i = 0usize;
    g.bench_function("tally", |b| {
        b.iter(|| {
            i = (i + 1) % messages.len();
            hash_to_curve(black_box(&messages[i])).unwrap()
        })
    });
    let mut i = 0usize;
    g.bench_function("cdk", |b| {
        b.iter(|| {
            i = (i + 1) % messages.len();
            cashu::dhke::hash_to_curve(black_box(&messages[i])).unwrap()
        })
    });
    g.finish();
}

fn bench_blind_unblind(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let r = SecretKey::random(&mut rng).unwrap();
    let k = SecretKey::random(&mut rng).unwrap();
    let secret = Secret::random(&mut rng).unwrap();
    let blinded = bdhke::blind(secret.as_bytes(), &r).unwrap();
    let c_ = bdhke::sign(&k, &blinded).unwrap();
    let (r_cdk, k_pub_cdk, c_cdk) = (cdk_sk(&r), cdk_pk(&k.public_key()), cdk_pk(&c_));

    let mut g = c.benchmark_group("blind");
    g.bench_function("tally", |b| {
        b.iter(|| bdhke::blind(black_box(secret.as_bytes()), black_box(&r)).unwrap())
    });
    g.bench_function("cdk", |b| {
        b.iter(|| {
            cashu::dhke::blind_message(black_box(secret.as_bytes()), Some(r_cdk.clone())).unwrap()
        })
    });
    g.finish();

    let k_pub = k.public_key();
    let mut g = c.benchmark_group("unblind");
    g.bench_function("tally", |b| {
        b.iter(|| bdhke::unblind(black_box(&c_), black_box(&r), black_box(&k_pub)).unwrap())
    });
    g.bench_function("cdk", |b| {
        b.iter(|| {
            cashu::dhke::unblind_message(
                black_box(&c_cdk),
                black_box(&r_cdk),
                black_box(&k_pub_cdk),
            )
            .unwrap()
        })
    });
    g.finish();
}

fn bench_dleq(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let mint = TestMint::new(2, 64, true, 100);
    let ours = mint.proof(&mut rng, 8);
    let text = token(vec![ours.clone()]).to_v3_string().unwrap();
    let cdk_proof = {
        let t = cashu::nuts::Token::from_str(&text).unwrap();
        let infos = vec![cdk_info(&mint)];
        t.proofs(&infos).unwrap().remove(0)
    };
    let key = cdk_pk(mint.keyset.key(ours.amount).unwrap());
    let mut g = c.benchmark_group("dleq_verify_proof");
    g.bench_function("tally", |b| {
        b.iter(|| black_box(&ours).verify_dleq(&mint.keyset).unwrap())
    });
    g.bench_function("cdk", |b| {
        b.iter(|| black_box(&cdk_proof).verify_dleq(key).unwrap())
    });
    g.finish();
}

fn cdk_info(mint: &TestMint) -> cashu::KeySetInfo {
    let json = format!(
        r#"{{"id":"{}","unit":"sat","active":true,"input_fee_ppk":100}}"#,
        mint.keyset.id()
    );
    serde_json::from_str(&json).unwrap()
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
        let mut g = c.benchmark_group(format!("v4_encode/{name}"));
        g.bench_function("tally", |b| {
            b.iter(|| black_box(&ours).to_v4_string().unwrap())
        });
        g.bench_function("cdk", |b| b.iter(|| black_box(&theirs).to_string()));
        g.finish();
        let mut g = c.benchmark_group(format!("v4_decode/{name}"));
        g.bench_function("tally", |b| {
            b.iter(|| Token::decode(black_box(&text)).unwrap())
        });
        g.bench_function("tally_decode+resolve", |b| {
            b.iter(|| {
                Token::decode(black_box(&text))
                    .unwrap()
                    .resolve(&index)
                    .unwrap()
            })
        });
        g.bench_function("cdk", |b| {
            b.iter(|| cashu::nuts::Token::from_str(black_box(&text)).unwrap())
        });
        g.finish();
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
