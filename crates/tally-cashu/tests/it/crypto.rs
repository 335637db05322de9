//! Properties of the cryptography: BDHKE correctness, DLEQ soundness against
//! any altered field, BIP-340 signatures, constant-time comparisons.

use proptest::prelude::*;
use tally_cashu::crypto::dleq::{self, Dleq};
use tally_cashu::crypto::{PublicKey, Scalar, SecretKey, bdhke, hash_to_curve, schnorr};

fn key(seed: [u8; 32]) -> SecretKey {
    // Maps arbitrary bytes to a valid key (a zero or out-of-range seed is
    // replaced by its hash, which is valid with overwhelming probability).
    SecretKey::from_bytes(seed).unwrap_or_else(|_| {
        use sha2::Digest;
        SecretKey::from_bytes(sha2::Sha256::digest(seed).into()).unwrap()
    })
}

fn scalar_plus_one(s: &Scalar) -> Scalar {
    let mut bytes = s.to_bytes();
    bytes[31] ^= 1;
    Scalar::from_bytes(bytes).unwrap_or(*s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn unblinded_signature_is_k_times_hash_to_curve(
        secret in proptest::collection::vec(any::<u8>(), 1..128),
        r in any::<[u8; 32]>(),
        k in any::<[u8; 32]>(),
    ) {
        let (r, k) = (key(r), key(k));
        let blinded = bdhke::blind(&secret, &r).unwrap();
        let c_ = bdhke::sign(&k, &blinded).unwrap();
        let c = bdhke::unblind(&c_, &r, &k.public_key()).unwrap();
        let expected = hash_to_curve(&secret).unwrap().mul_secret(&k).unwrap();
        prop_assert_eq!(c, expected);
        prop_assert!(bdhke::verify(&k, &secret, &c).unwrap());
        // Another mint key does not verify it.
        let other = key([7u8; 32]);
        prop_assume!(other != k);
        prop_assert!(!bdhke::verify(&other, &secret, &c).unwrap());
    }

    #[test]
    fn dleq_verifies_honest_signatures_and_fails_for_any_altered_field(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        r in any::<[u8; 32]>(),
        a in any::<[u8; 32]>(),
        field in 0usize..5,
    ) {
        let (r, a) = (key(r), key(a));
        let blinded = bdhke::blind(&secret, &r).unwrap();
        let c_ = bdhke::sign(&a, &blinded).unwrap();
        let proof = dleq::create(&a, &blinded, &c_).unwrap();
        let mint_key = a.public_key();
        prop_assert!(dleq::verify(&mint_key, &blinded, &c_, &proof).is_ok());
        let other = hash_to_curve(b"another point").unwrap();
        let (mut k2, mut b2, mut c2, mut p2) = (mint_key, blinded, c_, proof);
        match field {
            0 => k2 = other,
            1 => b2 = other,
            2 => c2 = other,
            3 => p2 = Dleq { e: scalar_plus_one(&proof.e), s: proof.s },
            _ => p2 = Dleq { e: proof.e, s: scalar_plus_one(&proof.s) },
        }
        prop_assert!(dleq::verify(&k2, &b2, &c2, &p2).is_err());
    }

    #[test]
    fn proof_dleq_verifies_offline_and_fails_for_any_altered_field(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        r in any::<[u8; 32]>(),
        a in any::<[u8; 32]>(),
        field in 0usize..6,
    ) {
        let (r, a) = (key(r), key(a));
        let blinded = bdhke::blind(&secret, &r).unwrap();
        let c_ = bdhke::sign(&a, &blinded).unwrap();
        let proof = dleq::create(&a, &blinded, &c_).unwrap();
        let c = bdhke::unblind(&c_, &r, &a.public_key()).unwrap();
        let mint_key = a.public_key();
        prop_assert!(dleq::verify_proof(&mint_key, &secret, &c, &proof, &r).is_ok());
        let mut secret2 = secret.clone();
        let (mut k2, mut c2, mut p2, mut r2) = (mint_key, c, proof, r.clone());
        match field {
            0 => secret2.push(0),
            1 => k2 = hash_to_curve(b"k").unwrap(),
            2 => c2 = hash_to_curve(b"c").unwrap(),
            3 => p2 = Dleq { e: scalar_plus_one(&proof.e), s: proof.s },
            4 => p2 = Dleq { e: proof.e, s: scalar_plus_one(&proof.s) },
            _ => r2 = key([9u8; 32]),
        }
        prop_assume!(r2 != r || field != 5);
        prop_assert!(dleq::verify_proof(&k2, &secret2, &c2, &p2, &r2).is_err());
    }

    #[test]
    fn schnorr_signatures_verify_under_either_parity_and_only_for_the_signed_digest(
        k in any::<[u8; 32]>(),
        digest in any::<[u8; 32]>(),
        aux in any::<[u8; 32]>(),
    ) {
        let k = key(k);
        let signature = schnorr::sign(&k, &digest, &aux);
        let public = k.public_key();
        prop_assert!(schnorr::verify(&public, &digest, &signature));
        prop_assert!(schnorr::verify(&public.negate(), &digest, &signature));
        let mut other = digest;
        other[0] ^= 1;
        prop_assert!(!schnorr::verify(&public, &other, &signature));
    }
}

#[test]
fn hash_to_curve_always_returns_an_even_point() {
    for i in 0u16..200 {
        let point = hash_to_curve(&i.to_le_bytes()).unwrap();
        assert_eq!(point.to_bytes()[0], 0x02);
    }
}

#[test]
fn unblind_refuses_a_signature_that_cancels_to_infinity() {
    // A hostile mint returns C_ = r·K: C_ − r·K is the point at infinity.
    let r = key([3u8; 32]);
    let k = key([4u8; 32]);
    let c_ = k.public_key().mul_secret(&r).unwrap();
    assert!(bdhke::unblind(&c_, &r, &k.public_key()).is_err());
}

#[test]
fn secret_keys_compare_in_constant_time_and_by_value() {
    let a = key([5u8; 32]);
    let b = key([5u8; 32]);
    let c = key([6u8; 32]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(tally_cashu::crypto::ct_eq(b"abc", b"abc"));
    assert!(!tally_cashu::crypto::ct_eq(b"abc", b"abd"));
    assert!(!tally_cashu::crypto::ct_eq(b"abc", b"ab"));
}

#[test]
fn points_parse_only_in_compressed_form() {
    let g =
        PublicKey::from_hex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
            .unwrap();
    assert!(PublicKey::from_bytes(&g.to_uncompressed_bytes()).is_err());
    assert!(PublicKey::from_bytes(&g.to_bytes()[..32]).is_err());
    assert_eq!(PublicKey::from_bytes(&g.to_bytes()).unwrap(), g);
}

#[test]
fn blinded_outputs_refuse_bad_or_missing_dleq_and_mismatched_answers() {
    use tally_cashu::crypto::Scalar;
    use tally_cashu::nuts::nut00::BlindedOutput;
    use tally_cashu::nuts::nut12::BlindSignatureDleq;
    use tally_cashu::secret::Secret;
    use tally_cashu::{Amount, Error};

    let mint = crate::support::TestMint::new(61, 4, true, 0);
    let output = || {
        BlindedOutput::new(
            Amount::new(2),
            mint.keyset.id(),
            Secret::new("fixed secret").unwrap(),
            SecretKey::from_bytes([0x21; 32]).unwrap(),
        )
        .unwrap()
    };
    let honest = mint.sign(&output());
    output().into_proof(&honest, &mint.keyset, true).unwrap();
    // A DLEQ proof that does not verify is refused even when not required.
    let mut forged = honest.clone();
    let d = forged.dleq.unwrap();
    let mut e = d.e.to_bytes();
    e[31] ^= 1;
    forged.dleq = Some(BlindSignatureDleq {
        e: Scalar::from_bytes(e).unwrap(),
        s: d.s,
    });
    assert!(matches!(
        output().into_proof(&forged, &mint.keyset, false),
        Err(Error::DleqInvalid)
    ));
    // A missing DLEQ proof is refused only when required.
    let mut bare = honest.clone();
    bare.dleq = None;
    assert!(matches!(
        output().into_proof(&bare, &mint.keyset, true),
        Err(Error::DleqMissing)
    ));
    output().into_proof(&bare, &mint.keyset, false).unwrap();
    // A signature for another amount, or from another keyset, is refused.
    let mut other_amount = honest.clone();
    other_amount.amount = Amount::new(4);
    assert!(
        output()
            .into_proof(&other_amount, &mint.keyset, false)
            .is_err()
    );
    let other_mint = crate::support::TestMint::new(63, 4, true, 0);
    assert!(
        output()
            .into_proof(&honest, &other_mint.keyset, false)
            .is_err()
    );
}
