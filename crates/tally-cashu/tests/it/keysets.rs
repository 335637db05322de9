//! Keysets: ids are verified against keys on every construction path, the
//! index refuses colliding ids and resolves short ids, responses and mint
//! info parse as the NUT-01/02/06 examples show.

use tally_cashu::nuts::nut01::{CurrencyUnit, Keys, Keyset, parse_keysets_response};
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId, KeysetIndex, resolve_short_id};
use tally_cashu::nuts::nut06::MintInfo;
use tally_cashu::{Amount, Error};

use crate::support::{TestMint, vector_json};

#[test]
fn keyset_json_round_trips_and_ids_are_verified() {
    for v2 in [false, true] {
        let mint = TestMint::new(41, 8, v2, 100);
        let json = mint.keyset.to_json().unwrap();
        assert_eq!(Keyset::from_json(&json).unwrap(), mint.keyset);
        let response = format!(r#"{{"keysets":[{json}]}}"#);
        assert_eq!(
            Keyset::from_keys_response(&response).unwrap(),
            vec![mint.keyset.clone()]
        );
        // A mint that lies about the id (or, for V2, the fee) is caught.
        let other = TestMint::new(42, 8, v2, 100).keyset.id().to_hex();
        let lying = json.replace(&mint.keyset.id().to_hex(), &other);
        assert!(matches!(
            Keyset::from_json(&lying),
            Err(Error::KeysetIdMismatch { .. })
        ));
        let fee_changed = json.replace("\"input_fee_ppk\":100", "\"input_fee_ppk\":0");
        assert_eq!(Keyset::from_json(&fee_changed).is_err(), v2);
    }
}

#[test]
fn keys_refuse_zero_repeated_and_non_canonical_amounts() {
    let key = "02194603ffa36356f4a56b7df9371fc3192472351453ec7398b8da8117e7c3e104";
    for json in [
        format!(r#"{{"0":"{key}"}}"#),
        format!(r#"{{"1":"{key}","1":"{key}"}}"#),
        format!(r#"{{"01":"{key}"}}"#),
        format!(r#"{{"+1":"{key}"}}"#),
        format!(r#"{{"18446744073709551616":"{key}"}}"#),
        "{}".to_owned(),
    ] {
        assert!(serde_json::from_str::<Keys>(&json).is_err(), "{json}");
    }
    let keys: Keys =
        serde_json::from_str(&format!(r#"{{"18446744073709551615":"{key}"}}"#)).unwrap();
    assert_eq!(keys.amounts().next(), Some(Amount::new(u64::MAX)));
}

fn info(id: &str) -> KeySetInfo {
    KeySetInfo {
        id: KeysetId::from_hex(id).unwrap(),
        unit: CurrencyUnit::sat(),
        active: true,
        input_fee_ppk: 0,
        final_expiry: None,
    }
}

#[test]
fn index_refuses_short_id_collisions_and_updates_known_keysets() {
    let a = "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a";
    let b = "015ba18a8adcd02e00000000000000000000000000000000000000000000000000";
    let mut index = KeysetIndex::new();
    index.insert(info(a)).unwrap();
    assert!(matches!(
        index.insert(info(b)),
        Err(Error::KeysetIdCollision)
    ));
    let mut inactive = info(a);
    inactive.active = false;
    index.insert(inactive).unwrap();
    assert_eq!(index.len(), 1);
    assert!(!index.get(&KeysetId::from_hex(a).unwrap()).unwrap().active);
    let short = KeysetId::from_hex(a).unwrap().short();
    assert_eq!(index.resolve(&short).unwrap().to_hex(), a);
    // Outside an index, two candidates for one short id are ambiguous (NUT-00).
    let (ka, kb) = (
        KeysetId::from_hex(a).unwrap(),
        KeysetId::from_hex(b).unwrap(),
    );
    assert!(matches!(
        resolve_short_id(&short, [&ka, &kb]),
        Err(Error::AmbiguousShortKeysetId)
    ));
    assert!(matches!(
        resolve_short_id(&short, []),
        Err(Error::UnknownKeyset)
    ));
}

#[test]
fn nut02_keysets_response_example_parses() {
    let json = r#"{"keysets":[{"id":"015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a","unit":"sat","active":true,"input_fee_ppk":100,"final_expiry":2059210353},{"id":"012fbb01a4e200c76df911eeba3b8fe1831202914b24664f4bccbd25852a6708f8","unit":"sat","active":false,"input_fee_ppk":0,"final_expiry":null},{"id":"009a1f293253e41e","unit":"sat","active":true,"input_fee_ppk":null}]}"#;
    let infos = parse_keysets_response(json).unwrap();
    assert_eq!(infos.len(), 3);
    assert_eq!(infos[0].input_fee_ppk, 100);
    assert_eq!(infos[0].final_expiry, Some(2_059_210_353));
    assert_eq!(infos[1].final_expiry, None);
    assert_eq!(infos[2].input_fee_ppk, 0);
}

#[test]
fn keys_response_with_the_official_v2_keyset_verifies() {
    let v2 = &vector_json("nut02_keysets.json")["v2"][0];
    let json = format!(
        r#"{{"keysets":[{{"id":"{}","unit":"sat","active":true,"input_fee_ppk":100,"final_expiry":2059210353,"keys":{}}}]}}"#,
        v2["id"].as_str().unwrap(),
        v2["keys"]
    );
    let keysets = Keyset::from_keys_response(&json).unwrap();
    assert_eq!(
        keysets[0].key(Amount::new(8)).unwrap().to_hex(),
        v2["keys"]["8"].as_str().unwrap()
    );
    assert!(matches!(
        keysets[0].key(Amount::new(3)),
        Err(Error::NoKeyForAmount)
    ));
}

#[test]
fn nut06_mint_info_example_parses() {
    let json = r#"{"name":"Bob's Cashu mint","pubkey":"0283bf290884eed3a7ca2663fc0260de2e2064d6b355ea13f98dec004b7a7ead99","version":"Nutshell/0.15.0","description":"The short mint description","description_long":"A description that can be a long piece of text.","contact":[{"method":"email","info":"contact@me.com"},{"method":"twitter","info":"@me"},{"method":"nostr","info":"npub..."}],"motd":"Message to display to users.","icon_url":"https://mint.host/icon.jpg","urls":["https://mint.host","http://mint8gv0sq5ul602uxt2fe0t80e3c2bi9fy0cxedp69v1vat6ruj81wv.onion"],"time":1725304480,"tos_url":"https://mint.host/tos","nuts":{"4":{"methods":[{"method":"bolt11","unit":"sat","min_amount":0,"max_amount":10000}],"disabled":false},"5":{"methods":[{"method":"bolt11","unit":"sat","min_amount":100,"max_amount":10000}],"disabled":false},"7":{"supported":true},"8":{"supported":true},"9":{"supported":true},"10":{"supported":true},"12":{"supported":true}}}"#;
    let info = MintInfo::from_json(json).unwrap();
    assert_eq!(info.name.as_deref(), Some("Bob's Cashu mint"));
    assert_eq!(info.contact.len(), 3);
    assert_eq!(info.urls.len(), 2);
    assert_eq!(info.time, Some(1_725_304_480));
    let melt = info.melt.as_ref().unwrap();
    assert_eq!(melt.methods[0].min_amount, Some(Amount::new(100)));
    for nut in [4, 5, 7, 8, 9, 10, 12] {
        assert!(info.supports(nut), "{nut}");
    }
    for nut in [11, 14] {
        assert!(!info.supports(nut), "{nut}");
    }
    // Old array-form contacts and a disabled mint method.
    let old = r#"{"contact":[["email","a@b"]],"nuts":{"4":{"methods":[],"disabled":true}}}"#;
    let info = MintInfo::from_json(old).unwrap();
    assert_eq!(info.contact[0].info, "a@b");
    assert!(!info.supports(4));
    assert!(MintInfo::from_json(r#"{"pubkey":"02zz"}"#).is_err());
}

/// Legacy (pre-V1, base64) keyset ids, against the ids and NUT-13 integers
/// `scripts/vectors/cashu/vectors.py` derives independently for the official
/// NUT-01/02 vector keysets.
#[test]
fn legacy_keyset_ids_are_derived_verified_and_kept() {
    let vectors = vector_json("independent.json");
    let entries = vectors["keysets"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        let keys_json = serde_json::to_string(&entry["keys"]).unwrap();
        let legacy = entry["legacy_id"].as_str().unwrap();
        // A keys response with a legacy keyset parses and its id verifies.
        let response = format!(
            r#"{{"keysets":[{{"id":"{legacy}","unit":"sat","active":false,"keys":{keys_json}}}]}}"#
        );
        let keysets = Keyset::from_keys_response(&response).unwrap();
        let keys: Keys = serde_json::from_str(&keys_json).unwrap();
        assert_eq!(KeysetId::legacy_from_keys(&keys).to_text(), legacy);
        let id = keysets[0].id();
        assert_eq!((id.to_text(), id.version()), (legacy.to_owned(), None));
        assert_eq!(
            KeysetId::v1_from_keys(&keys).to_text(),
            entry["v1_id"].as_str().unwrap()
        );
        assert_eq!(
            u64::from(id.to_u31()),
            entry["legacy_nut13_int"].as_u64().unwrap()
        );
        // Serialized back, the id is the same text.
        assert!(
            keysets[0]
                .to_json()
                .unwrap()
                .contains(&format!(r#""id":"{legacy}""#))
        );
    }
    // A legacy id that is not the keys' is refused like any other.
    let other = entries[1]["legacy_id"].as_str().unwrap();
    let keys_json = serde_json::to_string(&entries[0]["keys"]).unwrap();
    let forged = format!(r#"{{"id":"{other}","unit":"sat","keys":{keys_json}}}"#);
    assert!(matches!(
        Keyset::from_json(&forged),
        Err(Error::KeysetIdMismatch { .. })
    ));
}

#[test]
fn legacy_keyset_ids_are_parsed_strictly() {
    assert!(KeysetId::parse("I2yN+iRYfkzT").is_ok());
    assert!(KeysetId::parse("yjzQhxghPdr/").is_ok());
    for bad in [
        "I2yN-iRYfkzT", // URL-safe alphabet: mints wrote ids in the standard one
        "I2yN_iRYfkzT",
        "I2yN+iRYfkz=",
        "I2yN+iRYfkz",
        "I2yN+iRYfkzTT",
        "00yN+iRYfkzT", // the versioned prefixes are never legacy ids
        "01yN+iRYfkzT",
        "I2yN iRYfkzT",
    ] {
        assert!(
            matches!(KeysetId::parse(bad), Err(Error::InvalidKeysetId)),
            "{bad}"
        );
    }
}
