//! ML-DSA-65 keys (FIPS 204): the optional post-quantum second signature.
//!
//! * **Parameter set**: ML-DSA-65 (NIST category 3: public key
//!   [`ML_DSA_PUBLIC_KEY_BYTES`], signature [`ML_DSA_SIGNATURE_BYTES`]). It
//!   is the set FIPS 204 and CNSA 2.0 guidance pair with 128-bit classical
//!   keys for long-lived signatures; ML-DSA-44 (category 2) leaves less
//!   margin for documents that must stay verifiable for years, and ML-DSA-87
//!   costs ~40% more bytes and time for a margin Ed25519 beside it does not
//!   have anyway.
//! * **Secret key file**: one line `tally-ml-dsa-65-secret-v1:` + 64
//!   lower-case hex digits, the 32-byte FIPS 204 seed ξ
//!   (`ML-DSA.KeyGen_internal(ξ)`, Algorithm 6), in a private file (mode
//!   0600, through `tally_files::private`). The seed is the whole secret:
//!   the expanded key is rebuilt from it, never stored. Zeroized on drop.
//! * **Public key file**: one line `tally-ml-dsa-65-public-v1:` + the
//!   FIPS 204 `pkEncode` bytes in lower-case hex (3,904 digits).
//! * **Key id** ([`KeyId`]): the first 8 bytes of BLAKE3
//!   `derive_key("tally/keys/ml-dsa-65/key-id/v1", pkEncode(pk))`; another
//!   context than the Ed25519 ids', so an id names one kind of key.
//! * **Signatures**: pure ML-DSA (not HashML-DSA) with an empty FIPS 204
//!   context string over exactly the bytes an Ed25519 signature of this
//!   crate covers, `domain || 0x00 || message` (see the crate docs): one
//!   definition of what is signed, domain-separated already, so any FIPS 204
//!   verifier checks it without a context parameter. Signing uses FIPS 204's
//!   deterministic variant (`rnd = 0^256`): the same key and message give
//!   the same signature, as Ed25519 does, so a sealed document is a function
//!   of its content and keys (its bytes can be recomputed and compared, and
//!   golden vectors pin them). The hedged variant's extra protection is
//!   against fault and side-channel attacks on the signer's machine, which
//!   this design accepts as the Ed25519 signer already does.
//!
//! ```
//! use tally_keys::ml_dsa::{MlDsaSigningKey, MlDsaTrustedKeys};
//! let key = MlDsaSigningKey::from_seed(&[7; 32]);
//! let mut trusted = MlDsaTrustedKeys::new();
//! trusted.insert(key.verifying_key());
//! let sig = key.sign("example/v1", b"message")?;
//! trusted.verify("example/v1", b"message", key.id(), &sig)?;
//! assert!(trusted.verify("other/v1", b"message", key.id(), &sig).is_err());
//! # Ok::<(), tally_keys::KeyError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ml_dsa::{MlDsa65, Signer as _};
use serde::{Deserialize, Serialize};
use tally_encoding::hex::{self, Case};
use zeroize::Zeroizing;

use crate::{
    KeyError, KeyId, in_file, invalid, parse_seed_line, random_seed, seed_file_text, signed_bytes,
};

/// The prefix of an ML-DSA-65 secret key file's line.
pub const ML_DSA_SECRET_PREFIX: &str = "tally-ml-dsa-65-secret-v1:";
/// The prefix of an ML-DSA-65 public key file's line.
pub const ML_DSA_PUBLIC_PREFIX: &str = "tally-ml-dsa-65-public-v1:";
/// The BLAKE3 `derive_key` context of an ML-DSA-65 key's [`KeyId`].
pub const ML_DSA_KEY_ID_CONTEXT: &str = "tally/keys/ml-dsa-65/key-id/v1";
/// The bytes of an ML-DSA-65 public key (`pkEncode`).
pub const ML_DSA_PUBLIC_KEY_BYTES: usize = 1_952;
/// The bytes of an ML-DSA-65 signature (`sigEncode`).
pub const ML_DSA_SIGNATURE_BYTES: usize = 3_309;
/// The largest ML-DSA public key file read, bytes (one line of 3,930
/// characters and a newline; room for surrounding whitespace).
pub const MAX_ML_DSA_PUBLIC_FILE_BYTES: u64 = 8_192;
/// The most ML-DSA public keys one verifier trusts.
pub const MAX_ML_DSA_TRUSTED_KEYS: usize = 64;

type Inner = ml_dsa::SigningKey<MlDsa65>;
type InnerVerifying = ml_dsa::VerifyingKey<MlDsa65>;

impl KeyId {
    /// The id of an ML-DSA-65 public key (its `pkEncode` bytes).
    #[must_use]
    pub fn of_ml_dsa(public: &[u8; ML_DSA_PUBLIC_KEY_BYTES]) -> Self {
        let hash = blake3::derive_key(ML_DSA_KEY_ID_CONTEXT, public);
        let mut id = [0u8; 8];
        id.copy_from_slice(hash.get(..8).unwrap_or(&[0u8; 8]));
        Self(id)
    }
}

/// An ML-DSA-65 signature: [`ML_DSA_SIGNATURE_BYTES`] bytes, in JSON
/// 6,618 lower-case hex digits (a string of any other length is refused
/// before anything is decoded or allocated for it).
#[derive(Clone, PartialEq, Eq)]
pub struct MlDsaSignature(Box<[u8; ML_DSA_SIGNATURE_BYTES]>);

impl MlDsaSignature {
    /// The signature's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; ML_DSA_SIGNATURE_BYTES] {
        &self.0
    }

    /// The signature of exactly [`ML_DSA_SIGNATURE_BYTES`] bytes.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] for another length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; ML_DSA_SIGNATURE_BYTES] = bytes
            .try_into()
            .map_err(|_| invalid("an ML-DSA-65 signature is 3,309 bytes"))?;
        Ok(Self(Box::new(array)))
    }

    /// Parses 6,618 lower-case hex digits; the length is checked first.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`].
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        const BAD: &str = "an ML-DSA-65 signature is 6,618 lower-case hex digits";
        if text.len() != ML_DSA_SIGNATURE_BYTES * 2 {
            return Err(invalid(BAD));
        }
        let mut bytes = Box::new([0u8; ML_DSA_SIGNATURE_BYTES]);
        hex::decode_into(text, bytes.as_mut_slice(), Case::Lower).map_err(|_| invalid(BAD))?;
        Ok(Self(bytes))
    }
}

impl fmt::Debug for MlDsaSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = self.0.get(..8).unwrap_or(&[]);
        write!(f, "MlDsaSignature({}…)", hex::encode(prefix))
    }
}

impl Serialize for MlDsaSignature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0.as_slice()))
    }
}

impl<'de> Deserialize<'de> for MlDsaSignature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = MlDsaSignature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ML-DSA-65 signature: 6,618 lower-case hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                MlDsaSignature::from_hex(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// An ML-DSA-65 public key with its id.
#[derive(Clone)]
pub struct MlDsaVerifyingKey {
    key: Box<InnerVerifying>,
    encoded: Box<[u8; ML_DSA_PUBLIC_KEY_BYTES]>,
    id: KeyId,
}

impl PartialEq for MlDsaVerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for MlDsaVerifyingKey {}

impl fmt::Debug for MlDsaVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlDsaVerifyingKey({})", self.id)
    }
}

impl MlDsaVerifyingKey {
    /// The key of its [`ML_DSA_PUBLIC_KEY_BYTES`] `pkEncode` bytes (every
    /// such string decodes: `t1`'s 10-bit coefficients take every value).
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] for another length.
    pub fn from_bytes(public: &[u8]) -> Result<Self, KeyError> {
        let encoded: [u8; ML_DSA_PUBLIC_KEY_BYTES] = public
            .try_into()
            .map_err(|_| invalid("an ML-DSA-65 public key is 1,952 bytes"))?;
        let array = ml_dsa::EncodedVerifyingKey::<MlDsa65>::from(encoded);
        Ok(Self {
            key: Box::new(InnerVerifying::decode(&array)),
            id: KeyId::of_ml_dsa(&encoded),
            encoded: Box::new(encoded),
        })
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The `pkEncode` bytes.
    #[must_use]
    pub fn to_bytes(&self) -> &[u8; ML_DSA_PUBLIC_KEY_BYTES] {
        &self.encoded
    }

    /// Parses the text of a public key file: one line, surrounding
    /// whitespace ignored, [`ML_DSA_PUBLIC_PREFIX`] and 3,904 lower-case hex
    /// digits (the length checked before decoding).
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`].
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        const BAD: &str = "expected `tally-ml-dsa-65-public-v1:` and 3,904 lower-case hex digits";
        let body = text
            .trim()
            .strip_prefix(ML_DSA_PUBLIC_PREFIX)
            .ok_or(invalid(BAD))?;
        if body.len() != ML_DSA_PUBLIC_KEY_BYTES * 2 {
            return Err(invalid(BAD));
        }
        let mut bytes = Box::new([0u8; ML_DSA_PUBLIC_KEY_BYTES]);
        hex::decode_into(body, bytes.as_mut_slice(), Case::Lower).map_err(|_| invalid(BAD))?;
        Self::from_bytes(bytes.as_slice())
    }

    /// Reads a public key file (at most [`MAX_ML_DSA_PUBLIC_FILE_BYTES`]).
    ///
    /// # Errors
    /// [`KeyError::File`], [`KeyError::InvalidKeyFile`].
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = tally_files::read_text(path, MAX_ML_DSA_PUBLIC_FILE_BYTES)?;
        Self::parse(&text).map_err(|e| in_file(e, path))
    }

    /// The text of its public key file.
    #[must_use]
    pub fn to_file_text(&self) -> String {
        let mut text = String::with_capacity(ML_DSA_PUBLIC_PREFIX.len() + 3_906);
        text.push_str(ML_DSA_PUBLIC_PREFIX);
        hex::encode_into(self.encoded.as_slice(), &mut text);
        text.push('\n');
        text
    }

    /// Checks a signature over `domain || 0x00 || message` (pure ML-DSA,
    /// empty context).
    ///
    /// # Errors
    /// [`KeyError::BadSignature`], also for a signature that does not
    /// decode (a malformed hint).
    pub fn verify(
        &self,
        domain: &str,
        message: &[u8],
        signature: &MlDsaSignature,
    ) -> Result<(), KeyError> {
        let bad = || KeyError::BadSignature { key_id: self.id };
        let sig =
            ml_dsa::Signature::<MlDsa65>::try_from(signature.0.as_slice()).map_err(|_| bad())?;
        self.key
            .verify_with_context(&signed_bytes(domain, message), &[], &sig)
            .then_some(())
            .ok_or_else(bad)
    }
}

/// An ML-DSA-65 signing key (its seed ξ) with its id; zeroized on drop,
/// never printed.
pub struct MlDsaSigningKey {
    key: Box<Inner>,
    id: KeyId,
}

impl fmt::Debug for MlDsaSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MlDsaSigningKey({}, <redacted>)", self.id)
    }
}

impl MlDsaSigningKey {
    /// The key of a 32-byte seed ξ (`ML-DSA.KeyGen_internal`).
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut xi = Zeroizing::new(ml_dsa::Seed::default());
        xi.copy_from_slice(seed);
        let key = Box::new(Inner::from_seed(&xi));
        let encoded: [u8; ML_DSA_PUBLIC_KEY_BYTES] =
            <Inner as ml_dsa::Keypair>::verifying_key(&key)
                .encode()
                .into();
        Self {
            key,
            id: KeyId::of_ml_dsa(&encoded),
        }
    }

    /// A fresh key from the operating system's random generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when the generator fails.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self::from_seed(&*random_seed()?))
    }

    /// Parses the text of a secret key file: one line, surrounding
    /// whitespace ignored, [`ML_DSA_SECRET_PREFIX`] and 64 lower-case hex
    /// digits.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] otherwise.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        const BAD: &str = "expected `tally-ml-dsa-65-secret-v1:` and 64 lower-case hex digits";
        let seed = parse_seed_line(text, &[ML_DSA_SECRET_PREFIX], BAD)?;
        Ok(Self::from_seed(&seed))
    }

    /// Reads a secret key file: a private file (mode 0600 in a directory
    /// others cannot write) of at most [`crate::MAX_SECRET_FILE_BYTES`].
    ///
    /// # Errors
    /// [`KeyError::File`], [`KeyError::InvalidKeyFile`].
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = tally_files::private::read(path, crate::MAX_SECRET_FILE_BYTES)?;
        Self::parse(text.as_str()).map_err(|e| in_file(e, path))
    }

    /// Creates the secret key file `path` (mode 0600, durably, never
    /// replacing a file).
    ///
    /// # Errors
    /// [`KeyError::File`].
    pub fn create_file(&self, path: &Path) -> Result<(), KeyError> {
        Ok(tally_files::private::create(
            path,
            self.to_file_text().as_bytes(),
        )?)
    }

    /// The text of its secret key file.
    #[must_use]
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(self.key.as_seed().as_slice());
        seed_file_text(ML_DSA_SECRET_PREFIX, &seed)
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The public key.
    #[must_use]
    pub fn verifying_key(&self) -> MlDsaVerifyingKey {
        let key = <Inner as ml_dsa::Keypair>::verifying_key(&self.key);
        let encoded: [u8; ML_DSA_PUBLIC_KEY_BYTES] = key.encode().into();
        MlDsaVerifyingKey {
            key: Box::new(key),
            encoded: Box::new(encoded),
            id: self.id,
        }
    }

    /// Signs `domain || 0x00 || message` (pure ML-DSA, empty context,
    /// deterministic; see the module docs).
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] if the signing loop gives up (FIPS 204
    /// bounds it; for a valid key this does not happen in practice).
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<MlDsaSignature, KeyError> {
        let sig = self
            .key
            .try_sign(&signed_bytes(domain, message))
            .map_err(|_| invalid("ML-DSA signing gave up"))?;
        MlDsaSignature::from_slice(sig.encode().as_slice())
    }
}

/// An ML-DSA-65 key of a trusted-keys file (`"ml_dsa_keys"`): its id and
/// its public key file's line (so the value, written to a file, is a public
/// key file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlDsaTrustedEntry {
    /// The key id.
    pub key_id: KeyId,
    /// `tally-ml-dsa-65-public-v1:` and 3,904 lower-case hex digits.
    pub public_key: String,
}

impl MlDsaVerifyingKey {
    /// The trusted-keys file entry of this key.
    #[must_use]
    pub fn trusted_entry(&self) -> MlDsaTrustedEntry {
        MlDsaTrustedEntry {
            key_id: self.id,
            public_key: self.to_file_text().trim_end().to_owned(),
        }
    }
}

/// The ML-DSA-65 public keys whose signatures are accepted, by id (at most
/// [`MAX_ML_DSA_TRUSTED_KEYS`]).
#[derive(Clone, Debug, Default)]
pub struct MlDsaTrustedKeys {
    keys: BTreeMap<KeyId, MlDsaVerifyingKey>,
}

impl MlDsaTrustedKeys {
    /// No trusted key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; returns `false` (and adds nothing) past
    /// [`MAX_ML_DSA_TRUSTED_KEYS`].
    pub fn insert(&mut self, key: MlDsaVerifyingKey) -> bool {
        if self.keys.len() >= MAX_ML_DSA_TRUSTED_KEYS && !self.keys.contains_key(&key.id) {
            return false;
        }
        self.keys.insert(key.id, key);
        true
    }

    /// The keys of files, each a public key file or a trusted-keys file
    /// (JSON, its `ml_dsa_keys`; a file that starts with `{`).
    ///
    /// # Errors
    /// As [`MlDsaVerifyingKey::read_file`] and [`MlDsaTrustedKeys::from_json`];
    /// [`KeyError::InvalidKey`] past [`MAX_ML_DSA_TRUSTED_KEYS`].
    pub fn read_files(paths: &[impl AsRef<Path>]) -> Result<Self, KeyError> {
        let mut keys = Self::new();
        for path in paths {
            let path = path.as_ref();
            let bytes = tally_files::read_bounded(path, crate::MAX_TRUSTED_FILE_BYTES)?;
            let found: Vec<MlDsaVerifyingKey> = if bytes.trim_ascii_start().starts_with(b"{") {
                Self::from_json(&bytes)
                    .map_err(|e| in_file(e, path))?
                    .keys
                    .into_values()
                    .collect()
            } else {
                vec![MlDsaVerifyingKey::read_file(path)?]
            };
            for key in found {
                if !keys.insert(key) {
                    return Err(invalid("more than 64 ML-DSA public keys"));
                }
            }
        }
        Ok(keys)
    }

    /// The ML-DSA keys (`ml_dsa_keys`) of a trusted-keys document (bounded
    /// as [`crate::TrustedKeys::from_json`]); every key id must be its key's.
    ///
    /// # Errors
    /// [`KeyError::Json`]; [`KeyError::InvalidKey`] for a bad key, a key id
    /// that is not its key's, or past [`MAX_ML_DSA_TRUSTED_KEYS`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyError> {
        let file = crate::decode_trusted_file(bytes)?;
        if file.ml_dsa_keys.len() > MAX_ML_DSA_TRUSTED_KEYS {
            return Err(invalid("more than 64 ML-DSA public keys"));
        }
        let mut keys = Self::new();
        for entry in file.ml_dsa_keys {
            let key = MlDsaVerifyingKey::parse(&entry.public_key)?;
            if key.id() != entry.key_id {
                return Err(invalid("a key id is not the id of its public key"));
            }
            keys.insert(key);
        }
        Ok(keys)
    }

    /// Whether there is no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Checks a signature over `domain || 0x00 || message` by key `id`.
    ///
    /// # Errors
    /// [`KeyError::UntrustedKey`] for an unknown id,
    /// [`KeyError::BadSignature`].
    pub fn verify(
        &self,
        domain: &str,
        message: &[u8],
        id: KeyId,
        signature: &MlDsaSignature,
    ) -> Result<(), KeyError> {
        self.keys
            .get(&id)
            .ok_or(KeyError::UntrustedKey { key_id: id })?
            .verify(domain, message, signature)
    }
}

#[cfg(test)]
mod tests;
