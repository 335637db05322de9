//! Token verification on realistic tokens (5 and 8 caveats): verify a
//! decoded token, decode the text and verify, mint, attenuate. The peer
//! (Biscuit) is measured in the same run by `bench-peers/token` (outside the
//! workspace: it is heavy); see docs/BENCHMARKS.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tally_token::{
    Caveat, Label, MemoryRevocations, Method, Methods, PathPrefix, Request, RootKey, Scope, Scopes,
    Token, TokenId, Verifier,
};

fn caveats(n: usize) -> Vec<Caveat> {
    let all = vec![
        Caveat::Tenant(Label::new("acme").unwrap()),
        Caveat::Scopes(Scopes::new([Scope::LedgerRead, Scope::LedgerWrite]).unwrap()),
        Caveat::Methods(Methods::new([Method::Get, Method::Post]).unwrap()),
        Caveat::PathPrefix(PathPrefix::new("/v1/ledger").unwrap()),
        Caveat::Expiry(1_800_003_600),
        Caveat::NotBefore(1_800_000_000),
        Caveat::MaxAmount(1_000_000),
        Caveat::EpochId(Label::new("2026-12").unwrap()),
    ];
    all.into_iter().take(n).collect()
}

fn request() -> Request<'static> {
    Request {
        tenant: Some("acme"),
        scope: Scope::LedgerWrite,
        method: Method::Post,
        path: "/v1/ledger/transfers",
        now_s: 1_800_000_100,
        amount: Some(1_000),
        epoch_id: Some("2026-12"),
    }
}

fn bench(c: &mut Criterion) {
    let root = RootKey::from_bytes(&[7; 32]);
    let mut verifier = Verifier::new(MemoryRevocations::new());
    verifier.add_epoch(1, &root).unwrap();
    for _ in 0..1_000 {
        verifier
            .revocations_mut()
            .revoke(TokenId::random().unwrap())
            .unwrap();
    }
    let mut group = c.benchmark_group("token");
    for n in [5, 8] {
        let token = Token::mint(&root, 1, TokenId([1; 16]), caveats(n)).unwrap();
        let text = token.to_text();
        let req = request();
        verifier.verify(&token, &req).unwrap();
        group.bench_function(format!("tally_verify_{n}_caveats"), |b| {
            b.iter(|| verifier.verify(black_box(&token), black_box(&req)).is_ok());
        });
        group.bench_function(format!("tally_decode_verify_{n}_caveats"), |b| {
            b.iter(|| {
                verifier
                    .verify_text(black_box(&text), black_box(&req))
                    .is_ok()
            });
        });
        group.bench_function(format!("tally_mint_{n}_caveats"), |b| {
            b.iter(|| Token::mint(&root, 1, TokenId([1; 16]), black_box(caveats(n))).unwrap());
        });
    }
    let token = Token::mint(&root, 1, TokenId([1; 16]), caveats(7)).unwrap();
    group.bench_function("tally_attenuate_7_to_8", |b| {
        b.iter(|| {
            token
                .attenuate(black_box(Caveat::EpochId(Label::new("2026-12").unwrap())))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
