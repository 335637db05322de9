//! BIP-32 (official vectors 1–3) and NUT-13 properties: derivation is a pure
//! function of (seed, keyset id, counter), version-selected, and every
//! derived blinding factor is a valid scalar that blinds correctly.

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tally_cashu::Error;
use tally_cashu::crypto::bip32::{ExtendedKey, HARDENED};
use tally_cashu::nuts::nut02::KeysetId;
use tally_cashu::nuts::nut13::{self, Seed};

use crate::support::vector_json;

/// Base58check decoding (test helper for the BIP-32 xprv strings).
fn base58check(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut bytes: Vec<u8> = Vec::new();
    for c in text.bytes() {
        let mut carry = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|c| *c == b'1').count();
    let mut out = vec![0u8; zeros];
    out.extend(bytes);
    let (payload, checksum) = out.split_at(out.len() - 4);
    let hash = Sha256::digest(Sha256::digest(payload));
    assert_eq!(&hash[..4], checksum, "checksum of {text}");
    payload.to_vec()
}

fn parse_path(path: &str) -> Vec<u32> {
    path.split('/')
        .skip(1)
        .map(|part| match part.strip_suffix('H') {
            Some(n) => n.parse::<u32>().unwrap() | HARDENED,
            None => part.parse().unwrap(),
        })
        .collect()
}

#[test]
fn bip32_official_vectors() {
    let vectors = vector_json("bip32.json");
    let mut chains = 0;
    for vector in vectors.as_array().unwrap() {
        let seed =
            tally_cashu::encoding::hex::decode_vec(vector["seed"].as_str().unwrap(), 64, "seed")
                .unwrap();
        let master = ExtendedKey::master(&seed).unwrap();
        for chain in vector["chains"].as_array().unwrap() {
            let (path, xprv) = (chain[0].as_str().unwrap(), chain[1].as_str().unwrap());
            let payload = base58check(xprv);
            // version(4) depth(1) fingerprint(4) child(4) chain code(32) 0x00 key(32)
            assert_eq!(payload.len(), 78);
            let derived = master.derive(&parse_path(path)).unwrap();
            assert_eq!(
                derived.chain_code()[..],
                payload[13..45],
                "{path} chain code"
            );
            assert_eq!(payload[45], 0);
            assert_eq!(
                derived.secret_key().to_secret_bytes()[..],
                payload[46..78],
                "{path} key"
            );
            chains += 1;
        }
    }
    assert_eq!(chains, 17, "every chain of vectors 1-4 ran");
}

#[test]
fn bip32_seed_length_is_bounded() {
    assert!(ExtendedKey::master(&[0u8; 16]).is_ok());
    assert!(ExtendedKey::master(&[0u8; 15]).is_err());
    assert!(ExtendedKey::master(&[0u8; 64]).is_ok());
    assert!(ExtendedKey::master(&[0u8; 65]).is_err());
}

#[test]
fn invalid_mnemonics_are_refused() {
    assert!(matches!(
        Seed::from_mnemonic(
            "half depart obvious quality work element tank gorilla view sugar picture picture",
            ""
        ),
        Err(Error::InvalidMnemonic)
    ));
    assert!(matches!(
        Seed::from_mnemonic("not a mnemonic", ""),
        Err(Error::InvalidMnemonic)
    ));
    // A passphrase changes the seed.
    let words = "half depart obvious quality work element tank gorilla view sugar picture humble";
    let a = Seed::from_mnemonic(words, "").unwrap();
    let b = Seed::from_mnemonic(words, "x").unwrap();
    assert_ne!(a.as_bytes(), b.as_bytes());
}

#[test]
fn unknown_keyset_versions_have_no_derivation() {
    // Only 00 and 01 ids exist; both derive, and derivations differ by version.
    let seed = Seed::from_bytes([1u8; 64]);
    let v1 = KeysetId::from_hex("009a1f293253e41e").unwrap();
    let v2 =
        KeysetId::from_hex("015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a")
            .unwrap();
    let (s1, _) = nut13::derive(&seed, &v1, 0).unwrap();
    let (s2, _) = nut13::derive(&seed, &v2, 0).unwrap();
    assert_ne!(s1, s2);
    assert!(KeysetId::from_hex("029a1f293253e41e").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn derivation_is_deterministic_and_counter_separated(
        seed in any::<[u8; 32]>(),
        id in any::<[u8; 32]>(),
        counter in 0u64..(1 << 40),
        v2 in any::<bool>(),
    ) {
        let mut full = [0u8; 64];
        full[..32].copy_from_slice(&seed);
        let seed = Seed::from_bytes(full);
        let id = if v2 {
            let mut b = [1u8; 33];
            b[1..].copy_from_slice(&id);
            KeysetId::from_bytes(&b).unwrap()
        } else {
            let mut b = [0u8; 8];
            b[1..].copy_from_slice(&id[..7]);
            KeysetId::from_bytes(&b).unwrap()
        };
        let counter = if v2 { counter } else { counter % (1 << 31) };
        let (s1, r1) = nut13::derive(&seed, &id, counter).unwrap();
        let (s2, r2) = nut13::derive(&seed, &id, counter).unwrap();
        prop_assert_eq!(&s1, &s2);
        prop_assert_eq!(&r1, &r2);
        prop_assert_eq!(s1.as_str().len(), 64);
        let next = if v2 { counter + 1 } else { (counter + 1) % (1 << 31) };
        let (s3, r3) = nut13::derive(&seed, &id, next).unwrap();
        prop_assert_ne!(s1, s3);
        prop_assert_ne!(r1, r3);
    }
}

/// NUT-20 quote keys (`nut13::quote_key`, Tally's own derivation) match the
/// vectors computed in Python from the documented formula
/// (`scripts/vectors/wallet_quote_key_golden.py`); a different seed or
/// nonce gives a different key. A change of domain, order or reduction
/// fails the vectors.
#[test]
fn quote_keys_match_independent_vectors() {
    let text = include_str!("../vectors/quote_key_golden.txt");
    let mut n = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split('|').collect();
        let [mnemonic, passphrase, nonce, key] = parts[..] else {
            panic!("bad vector line: {line}");
        };
        let seed = Seed::from_mnemonic(mnemonic, passphrase).unwrap();
        let nonce: [u8; 32] =
            tally_encoding::hex::decode_array(nonce, tally_encoding::hex::Case::Lower).unwrap();
        let derived = nut13::quote_key(&seed, &nonce).unwrap();
        assert_eq!(derived.to_secret_hex().to_string(), key, "{line}");
        let mut other = nonce;
        other[0] ^= 1;
        assert_ne!(
            nut13::quote_key(&seed, &other)
                .unwrap()
                .to_secret_hex()
                .to_string(),
            key
        );
        n += 1;
    }
    assert_eq!(n, 3);
}
