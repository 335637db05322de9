//! Bounds, at the bound and one past; canonical forms; unknown kinds fail
//! closed.

use tally_token::{
    Caveat, Label, MAX_CAVEATS, MAX_TOKEN_BYTES, MAX_TOKEN_TEXT_BYTES, Malformed, Scope, Scopes,
    TEXT_PREFIX, Token, TokenError, TokenId,
};

use crate::support::{full_token, root};

fn malformed(e: Malformed) -> Result<Token, TokenError> {
    Err(TokenError::Malformed(e))
}

#[test]
fn at_most_max_caveats_when_minting_attenuating_and_decoding() {
    let one = Caveat::NotBefore(1);
    let full = Token::mint(&root(), 1, TokenId([0; 16]), vec![one.clone(); MAX_CAVEATS]).unwrap();
    assert_eq!(Token::from_bytes(&full.to_bytes()).unwrap(), full);
    assert_eq!(
        full.attenuate(one.clone()),
        malformed(Malformed::TooManyCaveats)
    );
    assert_eq!(
        Token::mint(&root(), 1, TokenId([0; 16]), vec![one; MAX_CAVEATS + 1]),
        malformed(Malformed::TooManyCaveats)
    );
    // A count byte one past the bound is refused before anything else.
    let mut bytes = full.to_bytes().to_vec();
    bytes[21] = (MAX_CAVEATS + 1) as u8;
    assert_eq!(
        Token::from_bytes(&bytes),
        malformed(Malformed::TooManyCaveats)
    );
}

#[test]
fn the_token_size_is_bounded_in_binary_and_text() {
    // 15 caveats of 130 bytes: 22 + 1950 + 32 = 2004 bytes; one more is 2134.
    let long = Caveat::Tenant(Label::new(&"x".repeat(128)).unwrap());
    let big = Token::mint(&root(), 1, TokenId([0; 16]), vec![long.clone(); 15]).unwrap();
    assert!(big.to_bytes().len() <= MAX_TOKEN_BYTES);
    assert!(big.to_text().len() <= MAX_TOKEN_TEXT_BYTES);
    assert_eq!(big.attenuate(long), malformed(Malformed::TooLarge));
    assert_eq!(
        Token::from_bytes(&vec![1; MAX_TOKEN_BYTES + 1]),
        malformed(Malformed::TooLarge)
    );
    let text = format!(
        "{TEXT_PREFIX}{}",
        "A".repeat(MAX_TOKEN_TEXT_BYTES - TEXT_PREFIX.len() + 1)
    );
    assert_eq!(Token::from_text(&text), malformed(Malformed::TextTooLong));
    assert_eq!(
        Token::from_text(&"x".repeat(10_000_000)),
        malformed(Malformed::TextTooLong)
    );
    // Labels: 128 bytes at most.
    assert!(Label::new(&"a".repeat(128)).is_ok());
    assert_eq!(Label::new(&"a".repeat(129)), Err(Malformed::BadLabel));
    assert_eq!(Label::new(""), Err(Malformed::BadLabel));
}

#[test]
fn one_encoding_per_token() {
    // Padded: 22 + 1 + 113 + 10 + 32 = 178 bytes, 178 % 3 = 1.
    let t = full_token().attenuate(Caveat::NotBefore(0)).unwrap();
    let text = t.to_text();
    assert_eq!(Token::from_text(&text).unwrap(), t);
    // Unpadded, wrong prefix, other alphabet, trailing bytes: refused.
    let bytes = t.to_bytes();
    assert!(text.ends_with('='), "the text ends with padding");
    assert_eq!(
        Token::from_text(text.trim_end_matches('=')),
        malformed(Malformed::Base64)
    );
    assert_eq!(
        Token::from_text(&text.replacen("tally1.", "tally2.", 1)),
        malformed(Malformed::Prefix)
    );
    assert!(
        Token::from_text(&text.replace('-', "+").replace('_', "/")).is_err()
            || !text.contains(['-', '_'])
    );
    let mut long = bytes.to_vec();
    long.push(0);
    assert_eq!(Token::from_bytes(&long), malformed(Malformed::Trailing));
    assert_eq!(
        Token::from_bytes(&bytes[..bytes.len() - 1]),
        malformed(Malformed::Truncated)
    );
    let mut v2 = bytes.to_vec();
    v2[0] = 2;
    assert_eq!(Token::from_bytes(&v2), malformed(Malformed::Version));
}

/// A token whose one caveat is `kind || len || body` (tag unchecked here).
fn with_caveat(raw: &[u8]) -> Vec<u8> {
    let mut b = vec![1, 0, 0, 0, 1];
    b.extend_from_slice(&[0; 16]);
    b.push(1);
    b.extend_from_slice(raw);
    b.extend_from_slice(&[0; 32]);
    b
}

#[test]
fn unknown_or_non_canonical_caveats_fail_closed() {
    for kind in [0x00, 0x09, 0x7f, 0xff] {
        assert_eq!(
            Token::from_bytes(&with_caveat(&[kind, 1, 0])),
            malformed(Malformed::UnknownCaveat)
        );
    }
    let cases: [(&[u8], Malformed); 9] = [
        (&[0x02, 2, 0, 0], Malformed::BadScopes),
        (&[0x02, 2, 1, 0], Malformed::BadScopes),
        (&[0x02, 1, 1], Malformed::BadLength),
        (&[0x03, 1, 0x40], Malformed::BadMethods),
        (&[0x05, 7, 0, 0, 0, 0, 0, 0, 0], Malformed::BadLength),
        (&[0x07, 8, 0, 0, 0, 0, 0, 0, 0, 0], Malformed::BadLength),
        (&[0x01, 1, b' '], Malformed::BadLabel),
        (&[0x01, 0], Malformed::BadLabel),
        (&[0x04, 3, b'/', b'.', b'.'], Malformed::BadPathPrefix),
    ];
    for (raw, e) in cases {
        assert_eq!(
            Token::from_bytes(&with_caveat(raw)),
            malformed(e),
            "{raw:?}"
        );
    }
    let mut long = vec![0x01, 129];
    long.extend_from_slice(&[b'a'; 129]);
    assert_eq!(
        Token::from_bytes(&with_caveat(&long)),
        malformed(Malformed::CaveatTooLong)
    );
    let mut cut = with_caveat(&[0x01, 5, b'a']);
    cut.truncate(cut.len() - 32);
    assert_eq!(Token::from_bytes(&cut), malformed(Malformed::Truncated));
    // Scope names: the closed set only.
    assert_eq!("ledger.read".parse::<Scope>(), Ok(Scope::LedgerRead));
    assert_eq!(
        "ledger.intent.write".parse::<Scope>(),
        Err(Malformed::UnknownScope)
    );
    assert_eq!(Scopes::from_bits(0x100), None);
}
