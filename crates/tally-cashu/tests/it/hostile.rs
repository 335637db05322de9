//! Hostile input: every decoder fed random or mutated bytes returns a value
//! or a typed error, never panics (the fuzz targets in `fuzz/` run the same
//! entry points for longer).

use proptest::prelude::*;
use tally_cashu::encoding::base64url;
use tally_cashu::nuts::nut00::Witness;
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::nuts::nut01::{Keyset, parse_keysets_response};
use tally_cashu::nuts::nut06::MintInfo;
use tally_cashu::nuts::nut10::Nut10Secret;
use tally_cashu::nuts::nut11::{SpendingConditions, WitnessData};
use tally_cashu::secret::Secret;
use tally_cashu::token::{IdForm, Token};
use tally_cashu::{CborReason, Error};

use crate::support::{TestMint, mint_url, rng};

fn all_decoders(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut raw = b"crawB".to_vec();
    raw.extend_from_slice(bytes);
    let _ = Token::from_raw_bytes(&raw);
    let _ = Token::from_raw_bytes(bytes);
    let _ = Token::decode(&text);
    let _ = Token::decode(&format!("cashuB{}", base64url::encode(bytes)));
    let _ = Token::decode(&format!("cashuA{}", base64url::encode(bytes)));
    let _ = Keyset::from_json(&text);
    let _ = Keyset::from_keys_response(&text);
    let _ = parse_keysets_response(&text);
    let _ = MintInfo::from_json(&text);
    let _ = Nut10Secret::parse(&text);
    if let Ok(secret) = Secret::new(text.as_ref()) {
        let _ = SpendingConditions::from_secret(&secret);
    }
    if let Ok(witness) = Witness::new(text.as_ref()) {
        let _ = WitnessData::parse(&witness);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_json_shaped_text(text in "[\\[\\]{}\",:0-9a-zA-Z_ ]{0,200}") {
        all_decoders(text.as_bytes());
        all_decoders(format!(r#"["P2PK",{{"nonce":"n","data":"d","tags":{text}}}]"#).as_bytes());
    }
}

fn valid_raw_token() -> Vec<u8> {
    let mint = TestMint::new(21, 8, true, 100);
    let mut rng = rng(22);
    let mut proofs: Vec<_> = (0..3).map(|i| mint.proof(&mut rng, 1 << i)).collect();
    proofs[0].witness = Some(Witness::new(r#"{"signatures":[]}"#).unwrap());
    Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        Some("m".into()),
        proofs,
        IdForm::Short,
    )
    .unwrap()
    .to_raw_bytes()
    .unwrap()
}

/// `valid_raw_token` with one more top-level entry, `"x": value`.
fn with_unknown_field(value: &[u8]) -> Vec<u8> {
    let mut raw = valid_raw_token();
    assert_eq!(raw[5], 0xa4, "a map of 4 entries: t, d, m, u");
    raw[5] = 0xa5;
    raw.extend_from_slice(&[0x61, b'x']);
    raw.extend_from_slice(value);
    raw
}

/// Unknown fields are skipped, but an indefinite length is refused there too
/// (`encoding::cbor`'s reason for not using a general CBOR crate).
#[test]
fn v4_unknown_field_with_an_indefinite_length_is_refused() {
    let original = Token::from_raw_bytes(&valid_raw_token()).unwrap();
    // `"x": [1]` is skipped: the same token.
    assert_eq!(
        Token::from_raw_bytes(&with_unknown_field(&[0x81, 0x01])).unwrap(),
        original
    );
    // `"x": [_ 1]`, `"x": {_ }` and `"x": (_ "a")` are refused at their head.
    for value in [
        &[0x9f, 0x01, 0xff][..],
        &[0xbf, 0xff][..],
        &[0x7f, 0x61, b'a', 0xff][..],
    ] {
        let raw = with_unknown_field(value);
        let head = raw.len() - 5 - value.len();
        let err = Token::from_raw_bytes(&raw).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Cbor {
                    offset,
                    reason: CborReason::IndefiniteLength
                } if offset == head
            ),
            "{value:02x?}: {err}"
        );
    }
}

/// Non-shortest heads decode (other encoders may write them) to the same
/// token, which re-encodes to the one shortest spelling.
#[test]
fn v4_non_shortest_heads_decode_to_the_same_token_and_reencode_shortest() {
    let raw = valid_raw_token();
    let mut long = raw.clone();
    // the top-level map head `a4` as `b8 04`, `bb 00..00 04`
    long.splice(5..6, [0xb8, 0x04]);
    let mut longest = raw.clone();
    longest.splice(5..6, [0xbb, 0, 0, 0, 0, 0, 0, 0, 0x04]);
    let original = Token::from_raw_bytes(&raw).unwrap();
    for spelling in [long, longest] {
        let token = Token::from_raw_bytes(&spelling).unwrap();
        assert_eq!(token, original);
        assert_eq!(token.to_raw_bytes().unwrap(), raw);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn mutated_v4_tokens_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut raw = valid_raw_token();
        for (at, byte, kind) in edits {
            let i = at.index(raw.len());
            match kind {
                0 => raw[i] = byte,
                1 => raw.truncate(i.max(5)),
                _ => raw.insert(i, byte),
            }
        }
        if let Err(e) = Token::from_raw_bytes(&raw) {
            prop_assert!(!e.code().is_empty());
        }
    }
}
