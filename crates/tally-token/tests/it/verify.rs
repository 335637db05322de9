//! Verification: every refusal is typed and named, in the documented order,
//! and never echoes the token, its tag or the request.

use tally_token::{
    Caveat, CaveatFailure, EpochError, Label, MAX_EPOCHS, Malformed, MemoryRevocations, Method,
    PathPrefix, Request, RevocationUnavailable, Revocations, RootKey, Scope, Scopes, Token,
    TokenError, TokenId, Verifier,
};

use crate::support::{EPOCH, full_token, request, root, token_id, verifier};

#[test]
fn a_realistic_token_verifies_and_grants_the_narrowest_of_each_kind() {
    let token = full_token()
        .attenuate(Caveat::Scopes(
            Scopes::new([Scope::LedgerWrite, Scope::Admin]).unwrap(),
        ))
        .unwrap()
        .attenuate(Caveat::Expiry(1_800_001_000))
        .unwrap()
        .attenuate(Caveat::MaxAmount(2_000_000))
        .unwrap();
    let grant = verifier().verify(&token, &request()).unwrap();
    assert_eq!(grant.token_id, token_id());
    assert_eq!(grant.root_epoch, EPOCH);
    assert_eq!(grant.tenant.map(Label::as_str), Some("acme"));
    assert_eq!(grant.scopes, Scope::LedgerWrite.bit());
    assert_eq!(grant.expiry_s, Some(1_800_001_000));
    assert_eq!(grant.max_amount, Some(1_000_000));
}

/// A token outside its validity window is refused as expired (or not yet
/// valid) even where its scope, tenant or path would not allow the request
/// either: a service then answers 401 on every route, not 403 on some.
/// Fails if the caveats were checked in chain order only (the scope,
/// earlier in the chain, would be named).
#[test]
fn the_validity_window_is_checked_before_what_the_token_allows() {
    let v = verifier();
    let t = full_token();
    let r = request();
    for (request, failure) in [
        (
            Request {
                scope: Scope::Admin,
                now_s: 1_800_003_600,
                ..r
            },
            CaveatFailure::Expired,
        ),
        (
            Request {
                tenant: Some("other"),
                now_s: 1_799_999_999,
                ..r
            },
            CaveatFailure::NotYetValid,
        ),
        (
            Request {
                path: "/v1/ledgers",
                now_s: 1_800_003_600,
                ..r
            },
            CaveatFailure::Expired,
        ),
    ] {
        assert_eq!(v.verify(&t, &request), Err(TokenError::Caveat(failure)));
    }
}

#[test]
fn each_failed_caveat_is_named() {
    let v = verifier();
    let t = full_token();
    let r = request();
    let cases: [(Request<'_>, CaveatFailure); 12] = [
        (
            Request {
                tenant: Some("other"),
                ..r
            },
            CaveatFailure::Tenant,
        ),
        (Request { tenant: None, ..r }, CaveatFailure::Tenant),
        (
            Request {
                scope: Scope::Admin,
                ..r
            },
            CaveatFailure::Scope,
        ),
        (
            Request {
                method: Method::Delete,
                ..r
            },
            CaveatFailure::Method,
        ),
        (
            Request {
                path: "/v1/ledgers",
                ..r
            },
            CaveatFailure::PathPrefix,
        ),
        (
            Request {
                path: "/v1/ledger/../admin",
                ..r
            },
            CaveatFailure::PathPrefix,
        ),
        (
            Request {
                path: "/v1/ledger/%2e%2e/admin",
                ..r
            },
            CaveatFailure::PathPrefix,
        ),
        (
            Request {
                now_s: 1_799_999_999,
                ..r
            },
            CaveatFailure::NotYetValid,
        ),
        (
            Request {
                now_s: 1_800_003_600,
                ..r
            },
            CaveatFailure::Expired,
        ),
        (
            Request {
                amount: Some(1_000_001),
                ..r
            },
            CaveatFailure::Amount,
        ),
        (
            Request {
                epoch_id: Some("2026-11"),
                ..r
            },
            CaveatFailure::EpochId,
        ),
        (
            Request {
                epoch_id: None,
                ..r
            },
            CaveatFailure::EpochId,
        ),
    ];
    for (request, failure) in cases {
        assert_eq!(
            v.verify(&t, &request),
            Err(TokenError::Caveat(failure)),
            "{request:?}"
        );
    }
    // The bounds themselves hold: the first and last second, the exact
    // amount, no amount at all, the prefix itself.
    for ok in [
        Request {
            now_s: 1_800_000_000,
            ..r
        },
        Request {
            now_s: 1_800_003_599,
            ..r
        },
        Request { amount: None, ..r },
        Request {
            path: "/v1/ledger",
            ..r
        },
        Request {
            path: "/v1/ledger/",
            ..r
        },
    ] {
        v.verify(&t, &ok).unwrap();
    }
}

#[test]
fn path_prefixes_match_on_segment_boundaries_of_canonical_paths() {
    let p = PathPrefix::new("/v1/ledger").unwrap();
    assert!(p.matches("/v1/ledger") && p.matches("/v1/ledger/a/b"));
    for bad in [
        "/v1/ledgerx",
        "/v1",
        "v1/ledger",
        "/v1/ledger//x",
        "/v1/ledger/./x",
        "/v1/ledger/a b",
    ] {
        assert!(!p.matches(bad), "{bad}");
    }
    let slash = PathPrefix::new("/v1/").unwrap();
    assert!(slash.matches("/v1/x") && !slash.matches("/v1"));
    for bad in ["", "v1", "//", "/a//b", "/a/./b", "/a/..", "/a/%41", "/é"] {
        assert_eq!(PathPrefix::new(bad), Err(Malformed::BadPathPrefix), "{bad}");
    }
}

#[test]
fn unknown_and_revoked_epochs_are_refused() {
    let token = full_token();
    let mut v = Verifier::new(MemoryRevocations::new());
    assert_eq!(v.verify(&token, &request()), Err(TokenError::UnknownEpoch));
    v.add_epoch(EPOCH, &root()).unwrap();
    v.verify(&token, &request()).unwrap();
    // Rotation: a new epoch mints, the old one is revoked.
    let next = RootKey::from_bytes(&[9; 32]);
    v.add_epoch(EPOCH + 1, &next).unwrap();
    let fresh = Token::mint(
        &next,
        EPOCH + 1,
        TokenId([2; 16]),
        crate::support::full_caveats(),
    )
    .unwrap();
    v.revoke_epoch(EPOCH).unwrap();
    assert_eq!(v.verify(&token, &request()), Err(TokenError::RevokedEpoch));
    v.verify(&fresh, &request()).unwrap();
    // Revocation is final: the key cannot be added back.
    assert_eq!(v.add_epoch(EPOCH, &root()), Err(EpochError::Revoked));
    assert_eq!(v.verify(&token, &request()), Err(TokenError::RevokedEpoch));
    // An epoch can be revoked before its key is ever loaded.
    v.revoke_epoch(99).unwrap();
    assert_eq!(v.add_epoch(99, &next), Err(EpochError::Revoked));
    // Bounded: live and revoked epochs together.
    let mut full = Verifier::new(MemoryRevocations::new());
    for e in 0..MAX_EPOCHS as u32 {
        full.add_epoch(e, &next).unwrap();
    }
    full.add_epoch(0, &next).unwrap();
    assert_eq!(
        full.add_epoch(MAX_EPOCHS as u32, &next),
        Err(EpochError::TooMany)
    );
    assert_eq!(
        full.revoke_epoch(MAX_EPOCHS as u32),
        Err(EpochError::TooMany)
    );
    full.revoke_epoch(0).unwrap();
    // A token claiming the new epoch but minted with the old key is forged.
    let forged = Token::mint(&root(), EPOCH + 1, TokenId([3; 16]), Vec::new()).unwrap();
    assert_eq!(v.authenticate(&forged), Err(TokenError::BadSignature));
}

#[test]
fn a_revoked_id_refuses_the_token_and_every_attenuation_of_it() {
    let mut v = verifier();
    let token = full_token();
    let narrower = token.attenuate(Caveat::MaxAmount(5)).unwrap();
    v.revocations_mut().revoke(token.id()).unwrap();
    for t in [&token, &narrower] {
        assert_eq!(v.verify(t, &request()), Err(TokenError::RevokedToken));
    }
    // A forged token with a revoked id is a bad signature (checked first).
    let forged = Token::mint(
        &RootKey::from_bytes(&[1; 32]),
        EPOCH,
        token.id(),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(v.authenticate(&forged), Err(TokenError::BadSignature));
}

struct Down;

impl Revocations for Down {
    fn is_revoked(&self, _: &TokenId) -> Result<bool, RevocationUnavailable> {
        Err(RevocationUnavailable)
    }
}

#[test]
fn an_unavailable_revocation_list_fails_closed() {
    let mut v = Verifier::new(Down);
    v.add_epoch(EPOCH, &root()).unwrap();
    assert_eq!(
        v.verify(&full_token(), &request()),
        Err(TokenError::RevocationUnavailable)
    );
    // The same through a shared `dyn` backend, as a service holds it.
    let shared: std::sync::Arc<dyn Revocations + Send + Sync> = std::sync::Arc::new(Down);
    let mut v = Verifier::new(shared);
    v.add_epoch(EPOCH, &root()).unwrap();
    assert_eq!(
        v.verify(&full_token(), &request()),
        Err(TokenError::RevocationUnavailable)
    );
}

#[test]
fn errors_and_debug_output_never_echo_secrets() {
    let token = full_token();
    let text = token.to_text();
    let tag_hex = tally_encoding::hex::encode(&token.to_bytes()[token.to_bytes().len() - 32..]);
    let shown = format!("{token:?} {:?} {:?}", root(), verifier());
    assert!(
        !shown.contains(&tag_hex) && !shown.contains(text.as_str()),
        "{shown}"
    );
    assert!(!shown.contains("0, 1, 2, 3"), "{shown}");
    let mut tampered = text.to_string();
    tampered.push('A');
    let errors = [
        Token::from_text(&tampered).unwrap_err(),
        verifier()
            .verify(
                &token,
                &Request {
                    tenant: Some("secret-tenant"),
                    ..request()
                },
            )
            .unwrap_err(),
        TokenError::BadSignature,
        TokenError::RevokedToken,
    ];
    for e in errors {
        let m = e.to_string();
        assert!(
            !m.contains("tally1.") && !m.contains("secret-tenant") && !m.contains("acme"),
            "{m}"
        );
    }
    assert_eq!(
        RootKey::parse("tally-token-root-v1:zz")
            .unwrap_err()
            .to_string(),
        "invalid root key"
    );
}

#[test]
fn root_key_files_round_trip_and_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root");
    let key = RootKey::generate().unwrap();
    key.create_file(&path).unwrap();
    let again = RootKey::read_file(&path).unwrap();
    let id = TokenId([5; 16]);
    assert_eq!(
        Token::mint(&key, 1, id, Vec::new()).unwrap(),
        Token::mint(&again, 1, id, Vec::new()).unwrap()
    );
    assert!(key.create_file(&path).is_err());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        RootKey::read_file(&path)
            .unwrap_err()
            .to_string()
            .contains("lets group or others in")
    );
    assert!(RootKey::parse(&"tally-token-root-v1:".repeat(2)).is_err());
    assert!(RootKey::parse(&format!("tally-token-root-v1:{}", "AB".repeat(32))).is_err());
}
