//! Secret material never appears in `Debug` output or error messages.

use tally_cashu::crypto::SecretKey;
use tally_cashu::crypto::bip32::ExtendedKey;
use tally_cashu::nuts::nut00::Witness;
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::nuts::nut13::Seed;
use tally_cashu::secret::{Preimage, Secret};
use tally_cashu::token::{IdForm, Token};

use crate::support::{TestMint, mint_url, rng};

/// `Debug` output is pinned to exact strings: a type that printed its bytes
/// in any form (hex, decimal, a derived `Debug`) would differ.
#[test]
fn debug_output_redacts_every_secret() {
    let mint = TestMint::new(31, 4, true, 0);
    let mut rng = rng(32);
    let mut proof = mint.proof(&mut rng, 2);
    proof.witness = Some(Witness::new(r#"{"preimage":"deadbeef"}"#).unwrap());
    let dleq = proof.dleq.as_ref().unwrap();
    let (e, s) = (dleq.dleq().e.to_hex(), dleq.dleq().s.to_hex());
    let (id, c) = (proof.keyset_id.to_hex(), proof.c.to_hex());
    let dleq_debug =
        format!("Some(ProofDleq {{ e: Scalar({e}), s: Scalar({s}), r: SecretKey(<redacted>) }})");
    assert_eq!(
        format!("{proof:?}"),
        format!(
            "Proof {{ amount: Amount(2), keyset_id: KeysetId({id}), secret: Secret(<redacted>), \
             c: PublicKey({c}), witness: Some(Witness(<redacted>)), dleq: {dleq_debug}, p2pk_e: None }}"
        )
    );
    let token = Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![proof.clone()],
        IdForm::Short,
    )
    .unwrap();
    let token_proof = format!(
        "TokenProof {{ amount: Amount(2), keyset_id: TokenKeysetId({}), secret: Secret(<redacted>), \
         c: PointBytes({c}), witness: Some(Witness(<redacted>)), dleq: {dleq_debug}, p2pk_e: None }}",
        &id[..16]
    );
    assert_eq!(format!("{:?}", token.proofs()), format!("[{token_proof}]"));
    assert_eq!(
        format!("{token:?}"),
        format!(
            "Token {{ mint: MintUrl(https://mint.example.com), unit: Some(CurrencyUnit(sat)), \
             memo: None, proofs: [{token_proof}], value: Amount(2) }}"
        )
    );
    let key = SecretKey::from_bytes([0x11; 32]).unwrap();
    assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    let seed = Seed::from_bytes([0x22; 64]);
    assert_eq!(format!("{seed:?}"), "Seed(<redacted>)");
    let preimage = Preimage::new([0x33; 32]);
    assert_eq!(format!("{preimage:?}"), "Preimage(<redacted>)");
    let xprv = ExtendedKey::master(&[0x44; 32]).unwrap();
    assert_eq!(format!("{xprv:?}"), "ExtendedKey(<redacted>)");
    let secret = Secret::new("5555").unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    let witness = Witness::new("{}").unwrap();
    assert_eq!(format!("{witness:?}"), "Witness(<redacted>)");
}

#[test]
fn errors_carry_no_secret_text() {
    let long = "s".repeat(tally_cashu::limits::MAX_SECRET_LEN_BYTES + 1);
    let err = Secret::new(long.clone()).unwrap_err();
    assert!(!err.to_string().contains("sss"));
    assert!(!format!("{err:?}").contains("sss"));
    let err = SecretKey::from_hex(&"ff".repeat(32)).unwrap_err();
    assert!(!err.to_string().contains("ffff"));
}

/// An RNG whose source has failed (an exhausted or unavailable OS RNG).
struct BrokenRng;

impl rand_core::TryRng for BrokenRng {
    type Error = std::io::Error;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Err(std::io::Error::other("no entropy"))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Err(std::io::Error::other("no entropy"))
    }
    fn try_fill_bytes(&mut self, _dst: &mut [u8]) -> Result<(), Self::Error> {
        Err(std::io::Error::other("no entropy"))
    }
}

impl rand_core::TryCryptoRng for BrokenRng {}

#[test]
fn a_failing_rng_is_a_typed_error_not_a_panic() {
    use tally_cashu::Error;
    assert!(matches!(
        Secret::random(&mut BrokenRng),
        Err(Error::RandomnessUnavailable)
    ));
    assert!(matches!(
        SecretKey::random(&mut BrokenRng),
        Err(Error::RandomnessUnavailable)
    ));
    assert!(matches!(
        Preimage::random(&mut BrokenRng),
        Err(Error::RandomnessUnavailable)
    ));
    let mint = TestMint::new(33, 4, true, 0);
    let mut proof = mint.proof(&mut rng(34), 1);
    let key = SecretKey::from_bytes([0x55; 32]).unwrap();
    assert!(matches!(
        tally_cashu::nuts::nut11::sign_input(&mut proof, &key, &mut BrokenRng),
        Err(Error::RandomnessUnavailable)
    ));
    assert!(
        proof.witness.is_none(),
        "a failed signature leaves the proof unchanged"
    );
}

#[test]
fn secret_types_are_erased_on_drop() {
    // Erasure itself is not observable from safe code; this pins the types
    // that carry secret material to the zeroize-on-drop contract.
    fn erased_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    erased_on_drop::<Secret>();
    erased_on_drop::<SecretKey>();
    erased_on_drop::<Seed>();
    erased_on_drop::<Preimage>();
    erased_on_drop::<Witness>();
    erased_on_drop::<ExtendedKey>();
}

#[test]
fn randomizing_the_context_after_first_use_is_refused() {
    // Any operation creates the context; a later seed is refused, loudly.
    let _ = SecretKey::from_bytes([0x66; 32]).unwrap().public_key();
    assert!(matches!(
        tally_cashu::crypto::randomize_context(&[0x77; 32]),
        Err(tally_cashu::Error::ContextInUse)
    ));
}

/// The crate docs say the library reads no OS RNG: nothing it links depends
/// on `getrandom`, directly or through another crate (randomness is passed
/// in; the context's seed too). Cargo itself resolves the graph: normal and
/// build dependencies, every feature on, from the locked `Cargo.lock`.
#[test]
fn the_library_depends_on_no_os_rng() {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "tally-cashu",
            "-e",
            "normal,build",
            "--all-features",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
            "--locked",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    // The graph is the real one: the curve library and the crate itself are in it.
    assert!(crates.contains("secp256k1"), "{tree}");
    assert!(crates.contains("tally-cashu"), "{tree}");
    for os_rng in ["getrandom", "rand", "os_rng"] {
        assert!(!crates.contains(os_rng), "{os_rng} in\n{tree}");
    }
}
