//! The optional post-quantum seal (ML-DSA-65) of manifests: golden vectors
//! from an independent implementation (`scripts/vectors/reward_pq_golden.py`:
//! pycryptodome's Ed25519, dilithium-py's ML-DSA), and the verification
//! rules: a present seal is checked and fails closed, a required seal
//! must be present.

use serde_json::Value;
use tally_reward::keys::{
    MlDsaSignature, MlDsaSigningKey, MlDsaTrustedKeys, MlDsaVerifyingKey, SigningKey, TrustedKeys,
};
use tally_reward::manifest::{
    MANIFEST_DOMAIN, MAX_MANIFEST_BYTES, Manifest, PqStatus, SealedManifest, Sealer, seal,
};
use tally_reward::{Error, jcs};

const VECTOR: &str = include_str!("../vectors/manifest_pq_golden.json");

fn vector(name: &str) -> String {
    let doc: Value = serde_json::from_str(VECTOR).unwrap();
    doc[name].as_str().unwrap().to_owned()
}

fn ed() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

fn pq() -> MlDsaSigningKey {
    MlDsaSigningKey::from_seed(&[0x0b; 32])
}

fn trusted() -> TrustedKeys {
    let mut t = TrustedKeys::new();
    t.insert(&ed().public_key()).unwrap();
    t
}

fn pq_keys(key: &MlDsaSigningKey) -> MlDsaTrustedKeys {
    let mut keys = MlDsaTrustedKeys::new();
    assert!(keys.insert(key.verifying_key()));
    keys
}

fn manifest() -> Manifest {
    serde_json::from_str(&vector("manifest_jcs")).unwrap()
}

fn dual_sealed() -> SealedManifest {
    seal(
        manifest(),
        Sealer {
            ed25519: &ed(),
            ml_dsa: Some(&pq()),
        },
    )
    .unwrap()
}

#[test]
fn the_seals_match_an_independent_implementation_byte_for_byte() {
    assert_eq!(vector("ed25519_seed"), "07".repeat(32));
    assert_eq!(vector("ml_dsa_seed"), "0b".repeat(32));
    let m = manifest();
    assert_eq!(
        String::from_utf8(m.canonical_bytes().unwrap()).unwrap(),
        vector("manifest_jcs")
    );
    // Without the PQ seal: the encoding of every manifest sealed so far.
    let classic = seal(m, &ed()).unwrap();
    let classic_text = String::from_utf8(jcs::canonical(&classic).unwrap()).unwrap();
    assert_eq!(classic_text, vector("sealed_jcs"));
    assert!(!classic_text.contains("\"pq\""));
    // With it: deterministic ML-DSA gives the Python signature exactly.
    let dual = dual_sealed();
    assert_eq!(
        String::from_utf8(jcs::canonical(&dual).unwrap()).unwrap(),
        vector("sealed_pq_jcs")
    );
    let public = MlDsaVerifyingKey::parse(&vector("ml_dsa_public_file")).unwrap();
    assert_eq!(public, pq().verifying_key());
    assert_eq!(public.id().to_string(), vector("ml_dsa_key_id"));
}

#[test]
fn manifests_signed_by_the_independent_implementation_verify() {
    let public = MlDsaVerifyingKey::parse(&vector("ml_dsa_public_file")).unwrap();
    let mut keys = MlDsaTrustedKeys::new();
    assert!(keys.insert(public.clone()));
    let sealed = SealedManifest::from_json(vector("sealed_pq_jcs").as_bytes()).unwrap();
    sealed.verify_signature(&trusted()).unwrap();
    assert_eq!(
        sealed.verify_pq(&keys, true).unwrap(),
        PqStatus::Verified(public.id())
    );
    // The ML-DSA signature covers exactly the Ed25519 seal's bytes.
    let seal = sealed.pq.as_ref().unwrap();
    public
        .verify(
            MANIFEST_DOMAIN,
            &sealed.manifest.canonical_bytes().unwrap(),
            &seal.signature,
        )
        .unwrap();
    // The classical document decodes without a `pq` member.
    let classic = SealedManifest::from_json(vector("sealed_jcs").as_bytes()).unwrap();
    assert!(classic.pq.is_none());
    classic.verify_signature(&trusted()).unwrap();
}

#[test]
fn a_dual_seal_round_trips_and_verifies() {
    let sealed = dual_sealed();
    let text = serde_json::to_vec_pretty(&sealed).unwrap();
    assert!(text.len() < MAX_MANIFEST_BYTES);
    let back = SealedManifest::from_json(&text).unwrap();
    assert_eq!(back, sealed);
    back.verify_signature(&trusted()).unwrap();
    assert_eq!(
        back.verify_pq(&pq_keys(&pq()), false).unwrap(),
        PqStatus::Verified(pq().id())
    );
    // The manifest's CID is the same with or without the PQ seal.
    assert_eq!(
        back.manifest.cid().unwrap(),
        seal(manifest(), &ed()).unwrap().manifest.cid().unwrap()
    );
}

#[test]
fn a_tampered_pq_signature_is_refused_even_when_not_required() {
    let mut sealed = dual_sealed();
    let seal = sealed.pq.as_mut().unwrap();
    let mut bytes = *seal.signature.as_bytes();
    bytes[100] ^= 0x01;
    seal.signature = MlDsaSignature::from_slice(&bytes).unwrap();
    // The Ed25519 seal still holds; the manifest fails all the same.
    sealed.verify_signature(&trusted()).unwrap();
    for require in [false, true] {
        assert_eq!(
            sealed.verify_pq(&pq_keys(&pq()), require),
            Err(Error::BadPqSignature { key_id: pq().id() })
        );
    }
    // A PQ seal over another manifest (a field changed under it).
    let mut moved = dual_sealed();
    moved.manifest.pool += 1;
    assert!(matches!(
        moved.verify_pq(&pq_keys(&pq()), false),
        Err(Error::BadPqSignature { .. })
    ));
}

#[test]
fn a_stripped_pq_signature_is_refused_when_required() {
    let mut sealed = dual_sealed();
    sealed.pq = None;
    sealed.verify_signature(&trusted()).unwrap();
    assert_eq!(
        sealed.verify_pq(&pq_keys(&pq()), true),
        Err(Error::PqSignatureRequired)
    );
    assert_eq!(
        sealed.verify_pq(&pq_keys(&pq()), false),
        Ok(PqStatus::Absent)
    );
    assert_eq!(
        sealed.verify_pq(&MlDsaTrustedKeys::new(), true),
        Err(Error::PqSignatureRequired)
    );
}

#[test]
fn a_pq_seal_by_another_key_is_refused() {
    let other = MlDsaSigningKey::from_seed(&[0x0c; 32]);
    let sealed = dual_sealed();
    // Under another trusted key: the seal's key is not trusted.
    assert_eq!(
        sealed.verify_pq(&pq_keys(&other), false),
        Err(Error::UntrustedPqKey { key_id: pq().id() })
    );
    // Signed by another key while naming the trusted key's id.
    let mut forged = seal(
        manifest(),
        Sealer {
            ed25519: &ed(),
            ml_dsa: Some(&other),
        },
    )
    .unwrap();
    forged.pq.as_mut().unwrap().key_id = pq().id();
    assert_eq!(
        forged.verify_pq(&pq_keys(&pq()), false),
        Err(Error::BadPqSignature { key_id: pq().id() })
    );
    // No key given: reported unchecked, unless a PQ seal is required.
    assert_eq!(
        sealed.verify_pq(&MlDsaTrustedKeys::new(), false),
        Ok(PqStatus::Unchecked(pq().id()))
    );
    assert!(sealed.verify_pq(&MlDsaTrustedKeys::new(), true).is_err());
}

/// An edit of a sealed manifest document.
type Mutation = Box<dyn Fn(&mut Value)>;

#[test]
fn the_pq_member_is_decoded_strictly_and_bounded() {
    let text = vector("sealed_pq_jcs");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = doc.clone();
        f(&mut d);
        SealedManifest::from_json(&serde_json::to_vec(&d).unwrap())
    };
    assert!(with(&|_| {}).is_ok());
    let sig = doc["pq"]["signature"].as_str().unwrap().to_owned();
    let cases: Vec<Mutation> = vec![
        Box::new(|d| d["pq"]["alg"] = "ml-dsa-87".into()),
        Box::new(|d| d["pq"]["extra"] = 1.into()),
        Box::new(|d| d["pq"] = Value::Null),
        Box::new(move |d| d["pq"]["signature"] = format!("{sig}00").into()),
        Box::new(|d| d["pq"]["signature"] = "00".into()),
        Box::new(|d| d["pq"]["signature"] = "0".repeat(40_000).into()),
        Box::new(|d| d["pq"]["key_id"] = "zz".into()),
    ];
    for (i, case) in cases.iter().enumerate() {
        assert!(with(case.as_ref()).is_err(), "case {i}");
    }
    // A document past the manifest bound is refused before it is parsed.
    let mut big = doc.clone();
    big["pq"]["signature"] = "0".repeat(MAX_MANIFEST_BYTES).into();
    assert!(matches!(
        SealedManifest::from_json(&serde_json::to_vec(&big).unwrap()),
        Err(Error::TooLarge { .. })
    ));
}
