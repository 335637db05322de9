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

use biscuit_auth::builder::{AuthorizerBuilder, BlockBuilder};
use biscuit_auth::{Biscuit, KeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use tally_token::{
    Caveat, Label, MemoryRevocations, Method, Methods, PathPrefix, Request, RootKey, Scope, Scopes,
    Token, TokenId, Verifier,
};

const AUTHORITY: &str = r#"
check if tenant("acme");
check if scope($s), ["ledger.read", "ledger.write"].contains($s);
check if method($m), ["GET", "POST"].contains($m);
check if path($p), $p.starts_with("/v1/ledger");
"#;

const ATTENUATION: &str = r#"
check if time($t), $t >= 2027-01-15T08:00:00Z;
check if time($t), $t < 2027-01-15T09:00:00Z;
check if amount($a), $a <= 1000000;
check if epoch_id("2026-12");
"#;

const REQUEST: &str = r#"
tenant("acme");
scope("ledger.write");
method("POST");
path("/v1/ledger/transfers");
time(2027-01-15T08:01:40Z);
amount(1000);
epoch_id("2026-12");
allow if true;
"#;

fn biscuit_verify(data: &[u8], root: &KeyPair) -> bool {
    let token = Biscuit::from(data, root.public()).unwrap();
    let mut authorizer = AuthorizerBuilder::new()
        .code(REQUEST)
        .unwrap()
        .build(&token)
        .unwrap();
    authorizer.authorize().is_ok()
}

fn tally_token(root: &RootKey) -> Token {
    let minted = Token::mint(
        root,
        1,
        TokenId([1; 16]),
        vec![
            Caveat::Tenant(Label::new("acme").unwrap()),
            Caveat::Scopes(Scopes::new([Scope::LedgerRead, Scope::LedgerWrite]).unwrap()),
            Caveat::Methods(Methods::new([Method::Get, Method::Post]).unwrap()),
            Caveat::PathPrefix(PathPrefix::new("/v1/ledger").unwrap()),
        ],
    )
    .unwrap();
    [
        Caveat::NotBefore(1_800_000_000),
        Caveat::Expiry(1_800_003_600),
        Caveat::MaxAmount(1_000_000),
        Caveat::EpochId(Label::new("2026-12").unwrap()),
    ]
    .into_iter()
    .fold(minted, |t, c| t.attenuate(c).unwrap())
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
    let mut group = c.benchmark_group("token_peer");
    group.measurement_time(Duration::from_secs(5));

    let root = RootKey::from_bytes(&[7; 32]);
    let mut verifier = Verifier::new(MemoryRevocations::new());
    verifier.add_epoch(1, &root).unwrap();
    let text = tally_token(&root).to_text();
    let req = request();
    verifier.verify_text(&text, &req).unwrap();
    group.bench_function("tally_decode_verify_8_caveats", |b| {
        b.iter(|| verifier.verify_text(black_box(&text), black_box(&req)).is_ok());
    });
    group.bench_function("tally_mint_attenuate_8_caveats", |b| {
        b.iter(|| tally_token(black_box(&root)));
    });

    let keys = KeyPair::new();
    let mint = || {
        Biscuit::builder()
            .code(AUTHORITY)
            .unwrap()
            .build(&keys)
            .unwrap()
            .append(BlockBuilder::new().code(ATTENUATION).unwrap())
            .unwrap()
    };
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
