//! Ed25519 signing keys, key ids and the set of trusted keys.
//!
//! * A key id is the first 8 bytes of BLAKE3
//!   `derive_key("tally/reward/key-id/v1", public key)`, written as 16
//!   lower-case hex digits.
//! * Every signature covers `domain || 0x00 || message`, where the domain is
//!   the kind of object signed (`tally/reward/policy/v1`,
//!   `tally/reward/manifest/v1`), so a signature over one kind is never valid
//!   for another.
//! * A secret key file holds one line `tally-reward-ed25519-secret-v1:` + 64
//!   hex digits (the 32-byte seed). It is read from a file or an environment
//!   variable by the caller, never from a command line, and zeroized on drop.
//! * A trusted-keys file is JSON: `{"keys":[{"key_id":"…","public_key":"…"}]}`
//!   (64 hex digits); the key id must be the id of the public key.

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use tally_encoding::hex::{self, Case};
use zeroize::Zeroizing;

use crate::Error;

/// The prefix of a secret key file's line.
pub const SECRET_PREFIX: &str = "tally-reward-ed25519-secret-v1:";
const KEY_ID_CONTEXT: &str = "tally/reward/key-id/v1";

/// An 8-byte key id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id of a public key.
    #[must_use]
    pub fn of(public: &[u8; 32]) -> Self {
        let hash = blake3::derive_key(KEY_ID_CONTEXT, public);
        let mut id = [0u8; 8];
        id.copy_from_slice(hash.get(..8).unwrap_or(&[0u8; 8]));
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl std::str::FromStr for KeyId {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        let id: [u8; 8] = hex::decode_array(text, Case::Lower).map_err(|_| Error::InvalidKey {
            reason: "a key id is 16 lower-case hex digits",
        })?;
        Ok(Self(id))
    }
}

impl Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature (64 bytes, 128 hex digits in JSON).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0))
    }
}

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode_array::<64>(&text, Case::Lower)
            .map_err(|_| serde::de::Error::custom("a signature is 128 lower-case hex digits"))?;
        Ok(Self(bytes))
    }
}

/// An Ed25519 signing key with its id; the secret is zeroized on drop.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    id: KeyId,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

impl SigningKey {
    /// The key of a 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let id = KeyId::of(key.verifying_key().as_bytes());
        Self { key, id }
    }

    /// Parses the text of a secret key file (one line, surrounding
    /// whitespace ignored).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when it is not exactly the prefix and 64 hex
    /// digits.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = Error::InvalidKey {
            reason: "expected `tally-reward-ed25519-secret-v1:` and 64 lower-case hex digits",
        };
        let body = text.trim().strip_prefix(SECRET_PREFIX).ok_or(bad.clone())?;
        let mut seed: Zeroizing<[u8; 32]> = Zeroizing::new([0; 32]);
        hex::decode_into(body, seed.as_mut_slice(), Case::Lower).map_err(|_| bad)?;
        Ok(Self::from_seed(&seed))
    }

    /// The text of its secret key file.
    #[must_use]
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SECRET_PREFIX}{}\n",
            hex::encode(self.key.to_bytes().as_slice())
        ))
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The trusted-key entry of this key.
    #[must_use]
    pub fn trusted_entry(&self) -> TrustedKey {
        TrustedKey {
            key_id: self.id,
            public_key: hex::encode(&self.public_key()),
        }
    }

    /// Signs `domain || 0x00 || message`.
    #[must_use]
    pub fn sign(&self, domain: &str, message: &[u8]) -> Signature {
        Signature(self.key.sign(&signed_bytes(domain, message)).to_bytes())
    }
}

fn signed_bytes(domain: &str, message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(domain.len() + 1 + message.len());
    bytes.extend_from_slice(domain.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(message);
    bytes
}

/// One entry of a trusted-keys file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The key id.
    pub key_id: KeyId,
    /// The public key, 64 lower-case hex digits.
    pub public_key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustedFile {
    keys: Vec<TrustedKey>,
}

/// The public keys whose signatures are accepted.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<KeyId, ed25519_dalek::VerifyingKey>,
}

impl TrustedKeys {
    /// No trusted key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a public key and returns its id.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when it is not a valid Ed25519 point.
    pub fn insert(&mut self, public: &[u8; 32]) -> Result<KeyId, Error> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(public).map_err(|_| Error::InvalidKey {
                reason: "not an Ed25519 public key",
            })?;
        let id = KeyId::of(public);
        self.keys.insert(id, key);
        Ok(id)
    }

    /// Parses a trusted-keys file (at most 1,024 keys).
    ///
    /// # Errors
    /// [`Error::Json`] or [`Error::InvalidKey`] (a bad key, or a key id
    /// that is not the id of its key).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let file: TrustedFile = crate::de::from_json("trusted keys", bytes)?;
        if file.keys.len() > 1_024 {
            return Err(Error::InvalidKey {
                reason: "more than 1,024 trusted keys",
            });
        }
        let mut keys = Self::new();
        for entry in file.keys {
            let public = hex::decode_array::<32>(&entry.public_key, Case::Lower).map_err(|_| {
                Error::InvalidKey {
                    reason: "a public key is 64 lower-case hex digits",
                }
            })?;
            if keys.insert(&public)? != entry.key_id {
                return Err(Error::InvalidKey {
                    reason: "a key id is not the id of its public key",
                });
            }
        }
        Ok(keys)
    }

    /// The trusted-keys file text for `keys`.
    #[must_use]
    pub fn file_text(keys: &[TrustedKey]) -> String {
        serde_json::to_string_pretty(&TrustedFile {
            keys: keys.to_vec(),
        })
        .unwrap_or_default()
    }

    /// Checks a signature over `domain || 0x00 || message` by key `id`
    /// (strict verification: no malleable signatures, no small-order keys).
    ///
    /// # Errors
    /// [`Error::UntrustedKey`] for an unknown id, [`Error::BadSignature`].
    pub fn verify(
        &self,
        domain: &str,
        message: &[u8],
        id: KeyId,
        signature: &Signature,
    ) -> Result<(), Error> {
        let key = self
            .keys
            .get(&id)
            .ok_or(Error::UntrustedKey { key_id: id })?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&signed_bytes(domain, message), &sig)
            .map_err(|_| Error::BadSignature { key_id: id })
    }
}
