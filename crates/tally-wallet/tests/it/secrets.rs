//! The mnemonic at rest: golden vectors from an independent implementation
//! (scripts/vectors/wallet_secrets_golden.py), wrong passphrases, tampering,
//! bounds and permissions.

use std::os::unix::fs::PermissionsExt;

use tally_wallet::Error;
use tally_wallet::secrets::{self, KdfParams};

use crate::common::private_dir;

const GOLDEN: &str = include_str!("../vectors/secrets_golden.txt");

struct Case {
    name: String,
    passphrase: Vec<u8>,
    plaintext: String,
    line: String,
}

fn golden() -> Vec<Case> {
    let lines: Vec<&str> = GOLDEN.lines().collect();
    assert_eq!(lines.len() % 4, 0);
    lines
        .chunks(4)
        .map(|c| Case {
            name: c[0].to_owned(),
            passphrase: tally_encoding::hex::decode_vec(
                c[1],
                1024,
                tally_encoding::hex::Case::Lower,
            )
            .unwrap(),
            plaintext: c[2].to_owned(),
            line: format!("{}\n", c[3]),
        })
        .collect()
}

fn fields(line: &str) -> (KdfParams, [u8; 16], [u8; 24]) {
    let f: Vec<&str> = line.split(' ').collect();
    let params = KdfParams {
        memory_kib: f[1].parse().unwrap(),
        passes: f[2].parse().unwrap(),
        lanes: f[3].parse().unwrap(),
    };
    let salt = tally_encoding::hex::decode_array(f[4], tally_encoding::hex::Case::Lower).unwrap();
    let nonce = tally_encoding::hex::decode_array(f[5], tally_encoding::hex::Case::Lower).unwrap();
    (params, salt, nonce)
}

#[test]
fn secrets_file_matches_the_independent_golden_vectors() {
    let cases = golden();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let (params, salt, nonce) = fields(&case.line);
        let sealed = secrets::seal(
            case.plaintext.as_bytes(),
            &case.passphrase,
            params,
            &salt,
            &nonce,
        )
        .unwrap();
        assert_eq!(sealed, case.line, "{}", case.name);
        let opened = secrets::open(&case.line, &case.passphrase).unwrap();
        assert_eq!(
            opened.as_slice(),
            case.plaintext.as_bytes(),
            "{}",
            case.name
        );
    }
}

#[test]
fn a_wrong_passphrase_or_any_altered_field_is_refused() {
    let case = &golden()[0];
    assert!(matches!(
        secrets::open(&case.line, b"correct horse battery stapl"),
        Err(Error::WrongPassphrase)
    ));
    // Change one hex digit of salt, nonce and ciphertext, and each parameter:
    // authentication fails (or the line no longer parses); nothing opens.
    let line = case.line.trim_end();
    let f: Vec<&str> = line.split(' ').collect();
    for i in 1..f.len() {
        let mut g: Vec<String> = f.iter().map(|s| (*s).to_owned()).collect();
        let first = g[i].remove(0);
        let swapped = if first == '1' { '2' } else { '1' };
        g[i].insert(0, swapped);
        let altered = format!("{}\n", g.join(" "));
        let err = secrets::open(&altered, &case.passphrase).unwrap_err();
        assert!(
            matches!(err, Error::WrongPassphrase | Error::SecretsFormat(_)),
            "field {i}: {err}"
        );
    }
    assert!(matches!(
        secrets::open("tally-wallet-seed/v2 1 1 1\n", b""),
        Err(Error::SecretsFormat(_))
    ));
}

#[test]
fn kdf_parameters_are_bounded_before_any_work() {
    let salt = [0u8; 16];
    let nonce = [0u8; 24];
    for params in [
        KdfParams {
            memory_kib: KdfParams::MEMORY_KIB_MAX + 1,
            passes: 1,
            lanes: 1,
        },
        KdfParams {
            memory_kib: 64,
            passes: KdfParams::PASSES_MAX + 1,
            lanes: 1,
        },
        KdfParams {
            memory_kib: 64,
            passes: 0,
            lanes: 1,
        },
        KdfParams {
            memory_kib: 64,
            passes: 1,
            lanes: KdfParams::LANES_MAX + 1,
        },
    ] {
        assert!(matches!(
            secrets::seal(b"x", b"p", params, &salt, &nonce),
            Err(Error::SecretsFormat(_))
        ));
    }
    // A planted file asking for 4 TiB is refused without allocating it.
    let planted = format!(
        "tally-wallet-seed/v1 4294967295 1 1 {} {} {}\n",
        "00".repeat(16),
        "00".repeat(24),
        "00".repeat(32)
    );
    assert!(matches!(
        secrets::open(&planted, b""),
        Err(Error::SecretsFormat(_))
    ));
}

#[test]
fn secrets_files_are_private_and_fail_closed() {
    let dir = private_dir();
    let wallet_dir = dir.path().join("wallet");
    let path = wallet_dir.join("seed");
    let words = "half depart obvious quality work element tank gorilla view sugar picture humble";
    let small = KdfParams {
        memory_kib: 256,
        passes: 1,
        lanes: 1,
    };
    secrets::create_file(&path, words, b"pass", small).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&wallet_dir), 0o700);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("half"), "the mnemonic is stored in clear");
    assert_eq!(secrets::open_file(&path, b"pass").unwrap().as_str(), words);
    assert!(matches!(
        secrets::open_file(&path, b"wrong"),
        Err(Error::WrongPassphrase)
    ));
    assert!(matches!(
        secrets::open_file(&path, b""),
        Err(Error::WrongPassphrase)
    ));
    // Never replaced.
    assert!(secrets::create_file(&path, words, b"other", small).is_err());
    // A file others may read is refused.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        secrets::open_file(&path, b"pass"),
        Err(Error::UnsafePermissions { mode: 0o640, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // So is a directory others may enter.
    std::fs::set_permissions(&wallet_dir, std::fs::Permissions::from_mode(0o750)).unwrap();
    assert!(matches!(
        secrets::open_file(&path, b"pass"),
        Err(Error::UnsafePermissions { mode: 0o750, .. })
    ));
    assert!(matches!(
        secrets::create_file(&wallet_dir.join("seed2"), words, b"pass", small),
        Err(Error::UnsafePermissions { .. })
    ));
}

#[test]
fn errors_never_show_the_passphrase_or_the_words() {
    let case = &golden()[0];
    let err = secrets::open(&case.line, b"hunter2-secret").unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"));
    assert!(!shown.contains("gorilla"));
}

#[test]
fn a_new_mnemonic_opens_only_with_its_passphrase_into_its_seed() {
    let dir = private_dir();
    let path = dir.path().join("seed");
    let small = KdfParams {
        memory_kib: 256,
        passes: 1,
        lanes: 1,
    };
    let words = secrets::create_mnemonic_file(&path, b"pass", small).unwrap();
    assert_eq!(words.split(' ').count(), 12);
    let seed = secrets::open_seed(&path, b"pass").unwrap();
    let expected = tally_cashu::nuts::nut13::Seed::from_mnemonic(&words, "").unwrap();
    assert_eq!(seed.as_bytes(), expected.as_bytes());
    assert!(matches!(
        secrets::open_seed(&path, b"pas"),
        Err(Error::WrongPassphrase)
    ));
    assert_eq!(format!("{seed:?}"), "Seed(<redacted>)");
}
