//! The workload both benches share: the same 8 restrictions and the same
//! request on both sides (see `token_peer.rs`).
#![allow(dead_code)]

use biscuit_auth::builder::{AuthorizerBuilder, BlockBuilder};
use biscuit_auth::{Biscuit, KeyPair};
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

pub fn biscuit_verify(data: &[u8], root: &KeyPair) -> bool {
    let token = Biscuit::from(data, root.public()).unwrap();
    let mut authorizer = AuthorizerBuilder::new()
        .code(REQUEST)
        .unwrap()
        .build(&token)
        .unwrap();
    authorizer.authorize().is_ok()
}

pub fn tally_token(root: &RootKey) -> Token {
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

pub fn request() -> Request<'static> {
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

/// A Biscuit with the 4 authority checks and the 4 appended ones.
pub fn biscuit_mint(keys: &KeyPair) -> Biscuit {
    Biscuit::builder()
        .code(AUTHORITY)
        .unwrap()
        .build(keys)
        .unwrap()
        .append(BlockBuilder::new().code(ATTENUATION).unwrap())
        .unwrap()
}

/// A verifier holding epoch 1 of `root`.
pub fn tally_verifier(root: &RootKey) -> Verifier {
    let mut verifier = Verifier::new(MemoryRevocations::new());
    verifier.add_epoch(1, root).unwrap();
    verifier
}
