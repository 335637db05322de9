//! Properties: attenuation never widens, tampering with any byte fails,
//! and every token has one encoding.

use proptest::prelude::*;
use tally_token::{
    Caveat, Label, Method, Methods, PathPrefix, Request, Scope, Scopes, Token, TokenId,
};

use crate::support::{EPOCH, root, verifier};

const TENANTS: [&str; 3] = ["acme", "beta", "gamma"];
const EPOCH_IDS: [&str; 2] = ["2026-11", "2026-12"];
const PREFIXES: [&str; 5] = ["/", "/v1", "/v1/ledger", "/v1/ledger/", "/v1/rewarder"];
const PATHS: [&str; 7] = [
    "/v1",
    "/v1/ledger",
    "/v1/ledger/transfers",
    "/v1/ledgerx",
    "/v1/rewarder/epochs",
    "/v1/ledger/../admin",
    "/admin",
];

fn scope() -> impl Strategy<Value = Scope> {
    prop::sample::select(Scope::ALL.to_vec())
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(Method::ALL.to_vec())
}

fn caveat() -> impl Strategy<Value = Caveat> {
    prop_oneof![
        prop::sample::select(TENANTS.to_vec()).prop_map(|t| Caveat::Tenant(Label::new(t).unwrap())),
        (1u16..=0xff).prop_map(|b| Caveat::Scopes(Scopes::from_bits(b).unwrap())),
        (1u8..=0x3f).prop_map(|b| Caveat::Methods(Methods::from_bits(b).unwrap())),
        prop::sample::select(PREFIXES.to_vec())
            .prop_map(|p| Caveat::PathPrefix(PathPrefix::new(p).unwrap())),
        (95u64..=105).prop_map(Caveat::NotBefore),
        (95u64..=105).prop_map(Caveat::Expiry),
        prop_oneof![0u128..=10, Just(u128::MAX)].prop_map(Caveat::MaxAmount),
        prop::sample::select(EPOCH_IDS.to_vec())
            .prop_map(|e| Caveat::EpochId(Label::new(e).unwrap())),
    ]
}

fn request() -> impl Strategy<Value = Request<'static>> {
    (
        prop::option::of(prop::sample::select(TENANTS.to_vec())),
        scope(),
        method(),
        prop::sample::select(PATHS.to_vec()),
        90u64..=110,
        prop::option::of(prop_oneof![0u128..=12, Just(u128::MAX)]),
        prop::option::of(prop::sample::select(EPOCH_IDS.to_vec())),
    )
        .prop_map(
            |(tenant, scope, method, path, now_s, amount, epoch_id)| Request {
                tenant,
                scope,
                method,
                path,
                now_s,
                amount,
                epoch_id,
            },
        )
}

fn token(caveats: Vec<Caveat>) -> Token {
    Token::mint(&root(), EPOCH, TokenId([4; 16]), caveats).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any token plus any caveat authorizes a subset of the requests the
    /// token authorizes, and its grant is no wider.
    #[test]
    fn attenuation_never_widens(
        caveats in prop::collection::vec(caveat(), 0..6),
        extra in caveat(),
        requests in prop::collection::vec(request(), 1..16),
    ) {
        let v = verifier();
        let parent = token(caveats);
        let child = parent.attenuate(extra).unwrap();
        for r in &requests {
            if let Ok(narrow) = v.verify(&child, r) {
                let wide = v.verify(&parent, r);
                prop_assert!(wide.is_ok(), "the child authorizes {r:?}, the parent does not");
                let wide = wide.unwrap();
                prop_assert_eq!(narrow.scopes & !wide.scopes, 0);
                prop_assert!(narrow.max_amount.unwrap_or(u128::MAX) <= wide.max_amount.unwrap_or(u128::MAX));
                prop_assert!(narrow.expiry_s.unwrap_or(u64::MAX) <= wide.expiry_s.unwrap_or(u64::MAX));
            }
        }
    }

    /// Changing any byte of a genuine token, or dropping any suffix, never
    /// yields a token that authenticates.
    #[test]
    fn tampering_with_any_byte_fails(
        caveats in prop::collection::vec(caveat(), 0..8),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let v = verifier();
        let t = token(caveats);
        prop_assert!(v.authenticate(&t).is_ok());
        let bytes = t.to_bytes();
        let mut tampered = bytes.to_vec();
        tampered[position.index(bytes.len())] ^= flip;
        if let Ok(decoded) = Token::from_bytes(&tampered) {
            prop_assert!(v.authenticate(&decoded).is_err());
        }
        let shorter = &bytes[..cut.index(bytes.len())];
        prop_assert!(Token::from_bytes(shorter).is_err());
    }

    /// Whatever decodes re-encodes to the same bytes (one encoding per token).
    #[test]
    fn tokens_round_trip_canonically(caveats in prop::collection::vec(caveat(), 0..12)) {
        let t = token(caveats);
        let again = Token::from_bytes(&t.to_bytes()).unwrap();
        prop_assert_eq!(&again, &t);
        prop_assert_eq!(Token::from_text(&t.to_text()).unwrap(), t);
    }
}
