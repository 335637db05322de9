//! Capability tokens from arbitrary bytes and text: no panic, decoding
//! bounded, a token that decodes re-encodes to the same bytes and text (one
//! encoding per token), verification of whatever decodes returns an error
//! or a grant but never panics, and a forged token never authenticates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_encoding::base64url;
use tally_token::{
    Caveat, MemoryRevocations, Method, Request, RootKey, Scope, TEXT_PREFIX, Token, Verifier,
};

fn check(token: &Token, verifier: &Verifier) {
    let bytes = token.to_bytes();
    assert_eq!(&Token::from_bytes(&bytes).expect("re-decodes"), token);
    assert_eq!(&Token::from_text(&token.to_text()).expect("text re-decodes"), token);
    // Arbitrary bytes are forgeries: the fuzzer cannot find a tag.
    assert!(verifier.authenticate(token).is_err());
    let request = Request {
        tenant: Some("acme"),
        scope: Scope::LedgerRead,
        method: Method::Get,
        path: "/v1/ledger",
        now_s: 1_800_000_000,
        amount: Some(1),
        epoch_id: Some("2026-12"),
    };
    assert!(verifier.verify(token, &request).is_err());
    let _ = token.attenuate(Caveat::NotBefore(0));
}

fuzz_target!(|data: &[u8]| {
    let mut verifier = Verifier::new(MemoryRevocations::new());
    for epoch in [0, 1, 7, u32::MAX] {
        verifier
            .add_epoch(epoch, &RootKey::from_bytes(&[0x5a; 32]))
            .expect("four epochs");
    }
    let text = String::from_utf8_lossy(data);
    let wrapped = base64url::encode_with_prefix(TEXT_PREFIX, data);
    for decoded in [
        Token::from_bytes(data),
        Token::from_text(&text),
        Token::from_text(&wrapped),
    ] {
        if let Ok(token) = decoded {
            check(&token, &verifier);
        }
    }
});
