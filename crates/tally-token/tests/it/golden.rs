//! The golden vectors of `scripts/vectors/token_golden.py` (an independent
//! implementation of the documented format): minting, attenuation one caveat
//! at a time, every intermediate tag, the binary and text forms, decoding.

use std::collections::BTreeMap;

use tally_encoding::hex;
use tally_token::{
    Caveat, Label, Method, Methods, PathPrefix, RootKey, Scope, Scopes, TAG_BYTES, Token, TokenId,
};

use crate::support::{full_caveats, root, token_id, verifier};

fn vectors() -> BTreeMap<String, String> {
    include_str!("../vectors/token_golden.txt")
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Checks `name`'s vectors: every prefix's tag, the hex and text forms, and
/// that attenuating one caveat at a time from the bare token gives the same.
fn check(
    v: &BTreeMap<String, String>,
    name: &str,
    root: &RootKey,
    epoch: u32,
    id: TokenId,
    caveats: &[Caveat],
) {
    for n in 0..=caveats.len() {
        let t = Token::mint(root, epoch, id, caveats[..n].to_vec()).unwrap();
        let bytes = t.to_bytes();
        let tag = &bytes[bytes.len() - TAG_BYTES..];
        assert_eq!(
            hex::encode(tag),
            v[&format!("{name}.tag{n}")],
            "{name} tag {n}"
        );
    }
    let minted = Token::mint(root, epoch, id, caveats.to_vec()).unwrap();
    assert_eq!(hex::encode(&minted.to_bytes()), v[&format!("{name}.hex")]);
    assert_eq!(minted.to_text().as_str(), v[&format!("{name}.text")]);
    let mut attenuated = Token::mint(root, epoch, id, Vec::new()).unwrap();
    for c in caveats {
        attenuated = attenuated.attenuate(c.clone()).unwrap();
    }
    assert_eq!(attenuated, minted);
    let decoded = Token::from_text(&v[&format!("{name}.text")]).unwrap();
    assert_eq!(decoded, minted);
    assert_eq!(decoded.caveats(), caveats);
    assert_eq!(decoded.epoch(), epoch);
    assert_eq!(decoded.id(), id);
}

#[test]
fn golden_vectors_match_the_independent_script() {
    let v = vectors();
    assert_eq!(
        v["root_key"],
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    );
    assert_eq!(token_id().to_string(), v["token_id"]);
    check(&v, "bare", &root(), 1, token_id(), &[]);
    check(&v, "full", &root(), 7, token_id(), &full_caveats());
    let mut attenuated = full_caveats();
    attenuated.push(Caveat::Scopes(Scopes::new([Scope::LedgerRead]).unwrap()));
    attenuated.push(Caveat::MaxAmount(u128::MAX));
    check(&v, "attenuated", &root(), 7, token_id(), &attenuated);
    let edges = [
        Caveat::Scopes(Scopes::all()),
        Caveat::Methods(Methods::new(Method::ALL).unwrap()),
        Caveat::PathPrefix(PathPrefix::new("/").unwrap()),
        Caveat::Tenant(Label::new(&"t".repeat(128)).unwrap()),
    ];
    check(
        &v,
        "edges",
        &RootKey::from_bytes(&[0xff; 32]),
        u32::MAX,
        TokenId([0xab; 16]),
        &edges,
    );
}

#[test]
fn golden_tokens_verify_with_their_root_key_only() {
    let v = vectors();
    let full = Token::from_text(&v["full.text"]).unwrap();
    verifier()
        .verify(&full, &crate::support::request())
        .unwrap();
    let mut other = tally_token::Verifier::new(tally_token::MemoryRevocations::new());
    other.add_epoch(7, &RootKey::from_bytes(&[0; 32])).unwrap();
    assert_eq!(
        other.authenticate(&full),
        Err(tally_token::TokenError::BadSignature)
    );
}
