//! Shared fixtures: a root key, a verifier, a realistic token and a request
//! it authorizes.

use tally_token::{
    Caveat, Label, MemoryRevocations, Method, Methods, PathPrefix, Request, RootKey, Scope, Scopes,
    Token, TokenId, Verifier,
};

pub const EPOCH: u32 = 7;
pub const NOW_S: u64 = 1_800_000_100;

pub fn root() -> RootKey {
    RootKey::from_bytes(&core::array::from_fn(|i| i as u8))
}

pub fn verifier() -> Verifier {
    let mut v = Verifier::new(MemoryRevocations::new());
    v.add_epoch(EPOCH, &root()).unwrap();
    v
}

/// The golden vectors' `full` caveats: eight, one of each kind.
pub fn full_caveats() -> Vec<Caveat> {
    vec![
        Caveat::Tenant(Label::new("acme").unwrap()),
        Caveat::Scopes(
            Scopes::new([Scope::LedgerRead, Scope::LedgerWrite, Scope::BudgetReserve]).unwrap(),
        ),
        Caveat::Methods(Methods::new([Method::Get, Method::Post]).unwrap()),
        Caveat::PathPrefix(PathPrefix::new("/v1/ledger").unwrap()),
        Caveat::NotBefore(1_800_000_000),
        Caveat::Expiry(1_800_003_600),
        Caveat::MaxAmount(1_000_000),
        Caveat::EpochId(Label::new("2026-12").unwrap()),
    ]
}

pub fn token_id() -> TokenId {
    TokenId(core::array::from_fn(|i| 0x10 + i as u8))
}

pub fn full_token() -> Token {
    Token::mint(&root(), EPOCH, token_id(), full_caveats()).unwrap()
}

/// A request `full_token` authorizes.
pub fn request() -> Request<'static> {
    Request {
        tenant: Some("acme"),
        scope: Scope::LedgerWrite,
        method: Method::Post,
        path: "/v1/ledger/transfers",
        now_s: NOW_S,
        amount: Some(1_000_000),
        epoch_id: Some("2026-12"),
    }
}
