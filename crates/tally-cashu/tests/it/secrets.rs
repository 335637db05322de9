//! Secret material never appears in `Debug` output or error messages.

use tally_cashu::crypto::SecretKey;
use tally_cashu::crypto::bip32::ExtendedKey;
use tally_cashu::nuts::nut00::Witness;
use tally_cashu::nuts::nut01::CurrencyUnit;
use tally_cashu::nuts::nut13::Seed;
use tally_cashu::secret::{Preimage, Secret};
use tally_cashu::token::{IdForm, Token};

use crate::support::{TestMint, mint_url, rng};

#[test]
fn debug_output_redacts_every_secret() {
    let mint = TestMint::new(31, 4, true, 0);
    let mut rng = rng(32);
    let mut proof = mint.proof(&mut rng, 2);
    proof.witness = Some(Witness::new(r#"{"preimage":"deadbeef"}"#).unwrap());
    let secret_text = proof.secret.as_str().to_owned();
    let r_hex = proof.dleq.as_ref().unwrap().r().to_secret_hex().to_string();
    let token = Token::from_proofs(
        mint_url(),
        Some(CurrencyUnit::sat()),
        None,
        vec![proof.clone()],
        IdForm::Short,
    )
    .unwrap();
    for text in [
        format!("{proof:?}"),
        format!("{token:?}"),
        format!("{:?}", token.proofs()),
    ] {
        assert!(!text.contains(&secret_text), "secret in {text}");
        assert!(!text.contains(&r_hex), "blinding factor in {text}");
        assert!(!text.contains("deadbeef"), "witness in {text}");
        assert!(text.contains("<redacted>"));
    }
    let key = SecretKey::from_bytes([0x11; 32]).unwrap();
    assert!(!format!("{key:?}").contains("1111"));
    let seed = Seed::from_bytes([0x22; 64]);
    assert!(!format!("{seed:?}").contains("2222"));
    let preimage = Preimage::new([0x33; 32]);
    assert!(!format!("{preimage:?}").contains("3333"));
    let xprv = ExtendedKey::master(&[0x44; 32]).unwrap();
    assert_eq!(format!("{xprv:?}"), "ExtendedKey(<redacted>)");
    let secret = Secret::new("5555").unwrap();
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
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
