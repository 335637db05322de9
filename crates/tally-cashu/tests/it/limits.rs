//! Every bound in `tally_cashu::limits`, at the bound and one past it.
//! (`MAX_CBOR_SKIP_DEPTH` and `HASH_TO_CURVE_MAX_ATTEMPTS` are tested in their
//! modules' unit tests; `MAX_FEE_SPLIT_STEPS` in `fees.rs`.)

use tally_cashu::crypto::PointBytes;
use tally_cashu::fees::Denominations;
use tally_cashu::limits::*;
use tally_cashu::nuts::nut00::{MintUrl, Witness};
use tally_cashu::nuts::nut01::{CurrencyUnit, Keys, Keyset, parse_keysets_response};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId, KeysetIndex};
use tally_cashu::nuts::nut06::MintInfo;
use tally_cashu::nuts::nut10::Nut10Secret;
use tally_cashu::nuts::nut11::WitnessData;
use tally_cashu::secret::Secret;
use tally_cashu::token::{Token, TokenKeysetId, TokenProof};
use tally_cashu::{Amount, Error, Limit};

fn exceeded(result: Result<impl std::fmt::Debug, Error>, what: Limit) {
    match result {
        Err(Error::LimitExceeded { what: w, .. }) if w == what => {}
        other => panic!("expected {what:?} exceeded, got {other:?}"),
    }
}

fn not_exceeded<T>(result: Result<T, Error>) {
    if let Err(Error::LimitExceeded { what, .. }) = result {
        panic!("{what:?} refused at the bound");
    }
}

fn proof(i: usize, id: TokenKeysetId) -> TokenProof {
    TokenProof {
        amount: Amount::ONE,
        keyset_id: id,
        secret: Secret::new(format!("{i:064x}")).unwrap(),
        c: PointBytes::from_hex(
            "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea",
        )
        .unwrap(),
        witness: None,
        dleq: None,
        p2pk_e: None,
    }
}

fn v1_id(i: usize) -> TokenKeysetId {
    TokenKeysetId::from_hex(&format!("00{i:014x}")).unwrap()
}

fn token(proofs: Vec<TokenProof>) -> Result<Token, Error> {
    Token::new(
        MintUrl::new("https://m.example").unwrap(),
        Some(CurrencyUnit::sat()),
        None,
        proofs,
    )
}

#[test]
fn token_length() {
    let at = "x".repeat(MAX_TOKEN_LEN_BYTES);
    not_exceeded(Token::decode(&at));
    exceeded(Token::decode(&format!("{at}x")), Limit::TokenLength);
    not_exceeded(Token::from_raw_bytes(at.as_bytes()));
    exceeded(
        Token::from_raw_bytes(format!("{at}x").as_bytes()),
        Limit::TokenLength,
    );
}

#[test]
fn proofs_per_token_in_every_format() {
    let proofs = |n: usize| (0..n).map(|i| proof(i, v1_id(0))).collect::<Vec<_>>();
    let at = token(proofs(MAX_PROOFS_PER_TOKEN)).unwrap();
    exceeded(token(proofs(MAX_PROOFS_PER_TOKEN + 1)), Limit::Proofs);
    // Encoded at the bound, both formats decode; one more proof in the
    // encoding is refused by the decoder.
    let v4 = at.to_raw_bytes().unwrap();
    assert_eq!(Token::from_raw_bytes(&v4).unwrap(), at);
    let v3 = at.to_v3_string().unwrap();
    assert_eq!(Token::decode(&v3).unwrap(), at);
    let mut over = v4.clone();
    // Rewrite the proof array head (0x99 0x03 0xe8: 1000 items) to claim 1001:
    // the decoder refuses the count before reading the proofs.
    let head = over
        .windows(3)
        .position(|w| w == [0x99, 0x03, 0xe8])
        .unwrap();
    over[head + 2] = 0xe9;
    exceeded(Token::from_raw_bytes(&over), Limit::Proofs);
    let json = String::from_utf8(
        tally_cashu::encoding::base64url::decode(v3.strip_prefix("cashuA").unwrap()).unwrap(),
    )
    .unwrap();
    let extra = format!(
        r#"[{{"amount":1,"id":"0000000000000000","secret":"extra","C":"{}"}},"#,
        "02bc9097997d81afb2cc7346b5e4345a9346bd2a506eb7958598a72f0cf85163ea"
    );
    let over_json = json.replacen("\"proofs\":[", &format!("\"proofs\":{}", &extra[..]), 1);
    let over_v3 = format!(
        "cashuA{}",
        tally_cashu::encoding::base64url::encode(over_json.as_bytes())
    );
    exceeded(Token::decode(&over_v3), Limit::Proofs);
}

#[test]
fn keyset_groups_per_token() {
    let proofs = |n: usize| (0..n).map(|i| proof(i, v1_id(i))).collect::<Vec<_>>();
    let at = token(proofs(MAX_TOKEN_GROUPS)).unwrap();
    assert_eq!(
        Token::from_raw_bytes(&at.to_raw_bytes().unwrap()).unwrap(),
        at
    );
    exceeded(token(proofs(MAX_TOKEN_GROUPS + 1)), Limit::TokenGroups);
}

#[test]
fn secret_witness_memo_url_and_unit_lengths() {
    not_exceeded(Secret::new("s".repeat(MAX_SECRET_LEN_BYTES)));
    exceeded(
        Secret::new("s".repeat(MAX_SECRET_LEN_BYTES + 1)),
        Limit::SecretLength,
    );
    not_exceeded(Witness::new("w".repeat(MAX_WITNESS_LEN_BYTES)));
    exceeded(
        Witness::new("w".repeat(MAX_WITNESS_LEN_BYTES + 1)),
        Limit::WitnessLength,
    );
    let memo = |n: usize| {
        Token::new(
            MintUrl::new("https://m.example").unwrap(),
            None,
            Some("m".repeat(n)),
            vec![proof(0, v1_id(0))],
        )
    };
    not_exceeded(memo(MAX_MEMO_LEN_BYTES));
    exceeded(memo(MAX_MEMO_LEN_BYTES + 1), Limit::MemoLength);
    let url = |n: usize| MintUrl::new(&format!("https://{}", "a".repeat(n - 8)));
    not_exceeded(url(MAX_MINT_URL_LEN_BYTES));
    exceeded(url(MAX_MINT_URL_LEN_BYTES + 1), Limit::MintUrlLength);
    not_exceeded(CurrencyUnit::new(&"u".repeat(MAX_UNIT_LEN_BYTES)));
    exceeded(
        CurrencyUnit::new(&"u".repeat(MAX_UNIT_LEN_BYTES + 1)),
        Limit::UnitLength,
    );
}

fn point(i: u64) -> tally_cashu::crypto::PublicKey {
    tally_cashu::crypto::hash_to_curve(&i.to_le_bytes()).unwrap()
}

#[test]
fn keys_per_keyset() {
    let keys = |n: u64| Keys::new((1..=n).map(|a| (Amount::new(a), point(a))));
    assert_eq!(
        keys(MAX_KEYS_PER_KEYSET as u64).unwrap().len(),
        MAX_KEYS_PER_KEYSET
    );
    exceeded(keys(MAX_KEYS_PER_KEYSET as u64 + 1), Limit::KeysPerKeyset);
    // Through JSON as well.
    let json = |n: u64| {
        let entries: Vec<String> = (1..=n)
            .map(|a| format!(r#""{a}":"{}""#, point(a)))
            .collect();
        format!("{{{}}}", entries.join(","))
    };
    assert!(serde_json::from_str::<Keys>(&json(MAX_KEYS_PER_KEYSET as u64)).is_ok());
    assert!(serde_json::from_str::<Keys>(&json(MAX_KEYS_PER_KEYSET as u64 + 1)).is_err());
}

fn info(i: usize) -> KeySetInfo {
    let mut id = [1u8; 33];
    id[1..3].copy_from_slice(&(i as u16).to_be_bytes());
    KeySetInfo {
        id: KeysetId::from_bytes(&id).unwrap(),
        unit: CurrencyUnit::sat(),
        active: true,
        input_fee_ppk: 0,
        final_expiry: None,
    }
}

#[test]
fn keysets_in_an_index_and_a_response() {
    let mut index = KeysetIndex::new();
    for i in 0..MAX_KEYSETS {
        index.insert(info(i)).unwrap();
    }
    exceeded(index.insert(info(MAX_KEYSETS)), Limit::Keysets);
    let response = |n: usize| {
        let items: Vec<String> = (0..n)
            .map(|i| serde_json::to_string(&info(i)).unwrap())
            .collect();
        format!(r#"{{"keysets":[{}]}}"#, items.join(","))
    };
    assert_eq!(
        parse_keysets_response(&response(MAX_KEYSETS))
            .unwrap()
            .len(),
        MAX_KEYSETS
    );
    exceeded(
        parse_keysets_response(&response(MAX_KEYSETS + 1)),
        Limit::Keysets,
    );
    let keys_response = |n: usize| {
        let keys = Keys::new([(Amount::ONE, point(1))]).unwrap();
        let keyset = Keyset::new(
            KeySetInfo {
                id: KeysetId::v1_from_keys(&keys),
                ..info(0)
            },
            keys,
        )
        .unwrap()
        .to_json()
        .unwrap();
        format!(r#"{{"keysets":[{}]}}"#, vec![keyset; n].join(","))
    };
    assert_eq!(
        Keyset::from_keys_response(&keys_response(MAX_KEYSETS))
            .unwrap()
            .len(),
        MAX_KEYSETS
    );
    exceeded(
        Keyset::from_keys_response(&keys_response(MAX_KEYSETS + 1)),
        Limit::Keysets,
    );
}

#[test]
fn nut10_tags_and_values() {
    let secret = |tags: usize, values: usize| {
        let value_list: Vec<String> = (0..values).map(|i| format!("\"{i}\"")).collect();
        let tag = |t: usize| {
            let mut parts = vec![format!("\"t{t}\"")];
            parts.extend(value_list.iter().cloned());
            format!("[{}]", parts.join(","))
        };
        let tag_list: Vec<String> = (0..tags).map(tag).collect();
        format!(
            r#"["X",{{"nonce":"n","data":"d","tags":[{}]}}]"#,
            tag_list.join(",")
        )
    };
    not_exceeded(Nut10Secret::parse(&secret(MAX_NUT10_TAGS, 1)));
    exceeded(
        Nut10Secret::parse(&secret(MAX_NUT10_TAGS + 1, 1)),
        Limit::Nut10Tags,
    );
    not_exceeded(Nut10Secret::parse(&secret(1, MAX_NUT10_TAG_VALUES)));
    exceeded(
        Nut10Secret::parse(&secret(1, MAX_NUT10_TAG_VALUES + 1)),
        Limit::Nut10TagValues,
    );
    let long = format!(
        r#"["X",{{"nonce":"{}","data":"d"}}]"#,
        "n".repeat(MAX_SECRET_LEN_BYTES)
    );
    exceeded(Nut10Secret::parse(&long), Limit::SecretLength);
}

#[test]
fn witness_signatures() {
    let witness = |n: usize| {
        let sigs: Vec<String> = (0..n).map(|_| format!("\"{}\"", "00".repeat(64))).collect();
        Witness::new(format!(r#"{{"signatures":[{}]}}"#, sigs.join(","))).unwrap()
    };
    assert_eq!(
        WitnessData::parse(&witness(MAX_WITNESS_SIGNATURES))
            .unwrap()
            .signatures
            .len(),
        MAX_WITNESS_SIGNATURES
    );
    // One past: eight 64-byte signatures do not fit a witness, so the count
    // bound is checked with short entries (counted before they are decoded).
    let short: Vec<&str> = vec![r#""00""#; MAX_WITNESS_SIGNATURES + 1];
    let over = Witness::new(format!(r#"{{"signatures":[{}]}}"#, short.join(","))).unwrap();
    exceeded(WitnessData::parse(&over), Limit::WitnessSignatures);
}

/// Real mints (Nutshell 0.21) refuse secrets and witnesses over 1,024
/// bytes: so does the wallet, at 1,024 and one past. The largest witness
/// this crate writes (a preimage and the most signatures) fits.
#[test]
fn secrets_and_witnesses_are_bounded_as_mints_bound_them() {
    assert_eq!(
        (MAX_SECRET_LEN_BYTES, MAX_WITNESS_LEN_BYTES),
        (1_024, 1_024)
    );
    not_exceeded(Secret::new("a".repeat(1_024)));
    exceeded(Secret::new("a".repeat(1_025)), Limit::SecretLength);
    not_exceeded(Witness::new("a".repeat(1_024)));
    exceeded(Witness::new("a".repeat(1_025)), Limit::WitnessLength);
    let full = WitnessData {
        signatures: vec![[0xab; 64]; MAX_WITNESS_SIGNATURES],
        preimage: Some(tally_cashu::secret::Preimage::new([0xcd; 32])),
    };
    let witness = full.to_witness().unwrap();
    assert_eq!(witness.as_str().len(), 1_011);
    let mut one_more = full.clone();
    one_more.signatures.push([0xab; 64]);
    exceeded(one_more.to_witness(), Limit::WitnessSignatures);
    one_more.preimage = None;
    exceeded(one_more.to_witness(), Limit::WitnessSignatures);
}

#[test]
fn json_documents() {
    let pad = |n: usize| format!("{{}}{}", " ".repeat(n - 2));
    assert!(MintInfo::from_json(&pad(MAX_JSON_LEN_BYTES)).is_ok());
    exceeded(
        MintInfo::from_json(&pad(MAX_JSON_LEN_BYTES + 1)),
        Limit::JsonLength,
    );
    exceeded(
        Keyset::from_json(&pad(MAX_JSON_LEN_BYTES + 1)),
        Limit::JsonLength,
    );
    exceeded(
        parse_keysets_response(&pad(MAX_JSON_LEN_BYTES + 1)),
        Limit::JsonLength,
    );
}

#[test]
fn split_outputs() {
    let ones = Denominations::new([Amount::ONE]).unwrap();
    assert_eq!(
        ones.split(Amount::new(MAX_SPLIT_OUTPUTS as u64))
            .unwrap()
            .len(),
        MAX_SPLIT_OUTPUTS
    );
    exceeded(
        ones.split(Amount::new(MAX_SPLIT_OUTPUTS as u64 + 1)),
        Limit::SplitOutputs,
    );
}
