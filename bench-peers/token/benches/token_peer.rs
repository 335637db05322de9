//! tally-token against Biscuit (biscuit-auth 6), side by side in one run.
//!
//! The same 8 restrictions on both sides: a tenant, two scopes, two
//! methods, a path prefix, not-before, expiry, a maximum amount and a
//! reward epoch id; 4 set by the minter and 4 added by a holder
//! (attenuation: a Biscuit block appended with a fresh key pair, a macaroon
//! caveat chained without the root key). Each side checks the same request,
//! from the bytes it would get in an `Authorization` header: Biscuit parses
//! and verifies the signatures and runs its Datalog authorizer; tally-token
//! decodes the text and verifies the tag chain and the caveats.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use biscuit_auth::KeyPair;
use criterion::{Criterion, criterion_group, criterion_main};
use tally_token::RootKey;

mod common;

use common::{biscuit_mint, biscuit_verify, request, tally_token, tally_verifier};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_peer");
    group.measurement_time(Duration::from_secs(5));

    let root = RootKey::from_bytes(&[7; 32]);
    let verifier = tally_verifier(&root);
    let text = tally_token(&root).to_text();
    let req = request();
    verifier.verify_text(&text, &req).unwrap();
    group.bench_function("tally_decode_verify_8_caveats", |b| {
        b.iter(|| {
            verifier
                .verify_text(black_box(&text), black_box(&req))
                .is_ok()
        });
    });
    group.bench_function("tally_mint_attenuate_8_caveats", |b| {
        b.iter(|| tally_token(black_box(&root)));
    });

    let keys = KeyPair::new();
    let mint = || biscuit_mint(&keys);
    let data = mint().to_vec().unwrap();
    assert!(biscuit_verify(&data, &keys));
    group.bench_function("biscuit_parse_verify_authorize_8_checks", |b| {
        b.iter(|| biscuit_verify(black_box(&data), &keys));
    });
    group.bench_function("biscuit_mint_append_8_checks", |b| {
        b.iter(|| mint().to_vec().unwrap());
    });
    eprintln!(
        "token sizes: tally {} bytes of text, biscuit {} bytes",
        text.len(),
        data.len()
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
