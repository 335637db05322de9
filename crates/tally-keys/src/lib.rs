//! # tally-keys
//!
//! One signing-key story for the Tally crates: the Ed25519 keys that sign
//! reward policies and manifests and audit checkpoints.
//!
//! * **One key id** ([`KeyId`]): the first 8 bytes of BLAKE3
//!   `derive_key("tally/reward/key-id/v1", public key)`, written as 16
//!   lower-case hex digits. The context string keeps its historical name
//!   (it was the reward engine's) so that every existing trusted-keys file
//!   and every signed document naming a key id keeps its meaning; it is the
//!   id of a key whatever the key signs.
//! * **One secret key file** ([`SigningKey::parse`],
//!   [`SigningKey::read_file`]): one line `tally-ed25519-secret-v1:` + 64
//!   lower-case hex digits (the 32-byte seed), in a private file (mode 0600,
//!   through `tally_files::private`). The legacy line
//!   `tally-reward-ed25519-secret-v1:` + 64 hex digits, written by earlier
//!   versions, still loads. The seed is zeroized on drop and never printed.
//! * **One trusted-keys file** ([`TrustedKeys`]): JSON
//!   `{"keys":[{"key_id":"…","public_key":"…"}]}` (64 hex digits per key),
//!   at most [`MAX_TRUSTED_KEYS`] keys and [`MAX_TRUSTED_FILE_BYTES`] bytes;
//!   every key id must be the id of its key. It may also hold ML-DSA-65
//!   keys, `"ml_dsa_keys":[{"key_id":"…","public_key":"tally-ml-dsa-65-public-v1:…"}]`
//!   (each a public key file's line, [`ml_dsa::MlDsaTrustedEntry`]): the
//!   Ed25519 reader ignores them once checked for shape, and
//!   [`ml_dsa::MlDsaTrustedKeys::read_files`] reads them (and only them), so
//!   one file (`GET /v1/rewarder/keys`'s answer) serves both
//!   `--trusted-keys` and `--pq-public-key`.
//! * **Domain-separated signatures** ([`SigningKey::sign`],
//!   [`VerifyingKey::verify`]): every signature covers
//!   `domain || 0x00 || message`, where the domain names the kind of object
//!   (`tally/reward/manifest/v1`), so a signature over one kind is never
//!   valid for another. Verification is strict (no malleable signatures, no
//!   small-order keys).
//! * **NUL-free framed formats** ([`SigningKey::sign_nul_free`],
//!   [`VerifyingKey::verify_nul_free`]): formats with their own framing that
//!   sign their text as is (C2SP signed notes, whose text never holds a
//!   control character) may sign only messages without a 0x00 byte. Every
//!   domain-separated message holds one, so no signature of one family is
//!   ever valid in the other.
//! * **A post-quantum second signature** ([`ml_dsa`]): ML-DSA-65 (FIPS 204)
//!   keys, their secret and public key files and key ids, signing the same
//!   `domain || 0x00 || message` bytes as the Ed25519 keys.
//!
//! ```
//! use tally_keys::{SigningKey, TrustedKeys};
//! let key = SigningKey::from_seed(&[7; 32]);
//! assert_eq!(key.id().to_string(), "2b2e70e97475b613");
//! let trusted = TrustedKeys::from_json(TrustedKeys::file_text(&[key.trusted_entry()]).as_bytes())?;
//! let sig = key.sign("example/v1", b"message");
//! trusted.verify("example/v1", b"message", key.id(), &sig)?;
//! assert!(trusted.verify("other/v1", b"message", key.id(), &sig).is_err());
//! # Ok::<(), tally_keys::KeyError>(())
//! ```
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)
)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use tally_encoding::hex::{self, Case};
use tally_files::FileError;
use zeroize::Zeroizing;

/// The prefix of a secret key file's line.
pub const SECRET_PREFIX: &str = "tally-ed25519-secret-v1:";
/// The prefix written by earlier versions (the reward engine's own key
/// files); still read, never written.
pub const LEGACY_REWARD_SECRET_PREFIX: &str = "tally-reward-ed25519-secret-v1:";
/// The BLAKE3 `derive_key` context of [`KeyId`]. It keeps its historical
/// name: changing it would change every key id.
pub const KEY_ID_CONTEXT: &str = "tally/reward/key-id/v1";
/// The most keys in one trusted-keys file.
pub const MAX_TRUSTED_KEYS: usize = 1_024;
/// The largest trusted-keys file, in bytes.
pub const MAX_TRUSTED_FILE_BYTES: u64 = 1 << 20;
/// The largest secret key file, in bytes.
pub const MAX_SECRET_FILE_BYTES: u64 = 4_096;

/// Why a key, key file, or signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key or key text is not valid.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// Why.
        reason: &'static str,
    },
    /// A key file is not valid.
    #[error("{}: invalid key: {reason}", path.display())]
    InvalidKeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A trusted-keys document is not valid JSON of its form.
    #[error("{}invalid trusted keys: {message}", path_prefix(path.as_deref()))]
    Json {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The decoder's message, naming the field.
        message: String,
    },
    /// A key file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A signature names a key that is not trusted.
    #[error("key {key_id} is not trusted")]
    UntrustedKey {
        /// The key id.
        key_id: KeyId,
    },
    /// A signature does not verify.
    #[error("the signature by key {key_id} does not verify")]
    BadSignature {
        /// The key id.
        key_id: KeyId,
    },
    /// The operating system's random generator failed.
    #[error("the random generator failed")]
    Random,
}

fn path_prefix(path: Option<&Path>) -> String {
    path.map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

fn invalid(reason: &'static str) -> KeyError {
    KeyError::InvalidKey { reason }
}

/// An 8-byte key id (see the crate docs for its derivation).
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

    /// The id's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex::Encoded::<8, 16>::new(&self.0).as_str())
    }
}

impl std::str::FromStr for KeyId {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let id: [u8; 8] = hex::decode_array(text, Case::Lower)
            .map_err(|_| invalid("a key id is 16 lower-case hex digits"))?;
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

/// An Ed25519 signature (64 bytes, 128 lower-case hex digits in JSON).
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

/// The bytes a domain-separated signature covers: `domain || 0x00 ||
/// message`.
fn signed_bytes(domain: &str, message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(domain.len().saturating_add(1 + message.len()));
    bytes.extend_from_slice(domain.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(message);
    bytes
}

/// An Ed25519 public key with its id, a valid point of full order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    key: ed25519_dalek::VerifyingKey,
    id: KeyId,
}

impl VerifyingKey {
    /// The key of 32 public-key bytes.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] when they are not an Ed25519 point, or a
    /// point of small order (a key any signature could match).
    pub fn from_bytes(public: &[u8; 32]) -> Result<Self, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(public)
            .map_err(|_| invalid("not an Ed25519 public key"))?;
        if key.is_weak() {
            return Err(invalid("an Ed25519 public key of small order"));
        }
        Ok(Self {
            key,
            id: KeyId::of(public),
        })
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The 32 public-key bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The trusted-key entry of this key.
    #[must_use]
    pub fn trusted_entry(&self) -> TrustedKey {
        TrustedKey {
            key_id: self.id,
            public_key: hex::encode(self.key.as_bytes()),
        }
    }

    /// Checks a signature over `domain || 0x00 || message` (strict).
    ///
    /// # Errors
    /// [`KeyError::BadSignature`].
    pub fn verify(
        &self,
        domain: &str,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), KeyError> {
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.key
            .verify_strict(&signed_bytes(domain, message), &sig)
            .map_err(|_| KeyError::BadSignature { key_id: self.id })
    }

    /// Checks a signature over `message` itself, which must hold no 0x00
    /// byte (see the crate docs); strict.
    ///
    /// # Errors
    /// [`KeyError::BadSignature`], also for a message with a 0x00 byte.
    pub fn verify_nul_free(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        if message.contains(&0) {
            return Err(KeyError::BadSignature { key_id: self.id });
        }
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.key
            .verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature { key_id: self.id })
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.id)
    }
}

/// 32 bytes from the operating system's random generator, zeroized on drop.
fn random_seed() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|_| KeyError::Random)?;
    Ok(seed)
}

/// The seed of a secret key file's line: surrounding whitespace ignored,
/// one of `prefixes`, then 64 lower-case hex digits.
fn parse_seed_line(
    text: &str,
    prefixes: &[&str],
    bad: &'static str,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let text = text.trim();
    let body = prefixes
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .ok_or(invalid(bad))?;
    let mut seed: Zeroizing<[u8; 32]> = Zeroizing::new([0; 32]);
    hex::decode_into(body, seed.as_mut_slice(), Case::Lower).map_err(|_| invalid(bad))?;
    Ok(seed)
}

/// The line of a secret key file: `prefix`, the seed in hex, a newline.
fn seed_file_text(prefix: &str, seed: &[u8; 32]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(prefix.len() + 65));
    text.push_str(prefix);
    hex::encode_into(seed, &mut text);
    text.push('\n');
    text
}

/// A key text's error, as the error of the file `path` it came from.
fn in_file(e: KeyError, path: &Path) -> KeyError {
    match e {
        KeyError::InvalidKey { reason } => KeyError::InvalidKeyFile {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    }
}

/// An Ed25519 signing key with its id; the seed is zeroized on drop and
/// never printed.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    id: KeyId,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.id)
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

    /// A fresh key from the operating system's random generator.
    ///
    /// # Errors
    /// [`KeyError::Random`] when the generator fails.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self::from_seed(&*random_seed()?))
    }

    /// Parses the text of a secret key file: one line, surrounding
    /// whitespace ignored, [`SECRET_PREFIX`] or
    /// [`LEGACY_REWARD_SECRET_PREFIX`] and 64 lower-case hex digits.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] otherwise.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        const BAD: &str = "expected `tally-ed25519-secret-v1:` and 64 lower-case hex digits";
        let seed = parse_seed_line(text, &[SECRET_PREFIX, LEGACY_REWARD_SECRET_PREFIX], BAD)?;
        Ok(Self::from_seed(&seed))
    }

    /// Reads a secret key file: a private file (mode 0600 in a directory
    /// others cannot write) of at most [`MAX_SECRET_FILE_BYTES`], parsed as
    /// [`SigningKey::parse`].
    ///
    /// # Errors
    /// [`KeyError::File`], [`KeyError::InvalidKeyFile`].
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let text = tally_files::private::read(path, MAX_SECRET_FILE_BYTES)?;
        Self::parse(text.as_str()).map_err(|e| in_file(e, path))
    }

    /// Creates the secret key file `path` (mode 0600, durably, never
    /// replacing a file) with [`SigningKey::to_file_text`].
    ///
    /// # Errors
    /// [`KeyError::File`].
    pub fn create_file(&self, path: &Path) -> Result<(), KeyError> {
        Ok(tally_files::private::create(
            path,
            self.to_file_text().as_bytes(),
        )?)
    }

    /// The text of its secret key file (current format).
    #[must_use]
    pub fn to_file_text(&self) -> Zeroizing<String> {
        seed_file_text(SECRET_PREFIX, &self.seed())
    }

    /// The 32-byte seed, for formats that carry it in their own encoding
    /// (the signed-note key text); keep it secret.
    #[must_use]
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The key id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The 32 public-key bytes.
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            key: self.key.verifying_key(),
            id: self.id,
        }
    }

    /// The trusted-key entry of this key.
    #[must_use]
    pub fn trusted_entry(&self) -> TrustedKey {
        self.verifying_key().trusted_entry()
    }

    /// Signs `domain || 0x00 || message`.
    #[must_use]
    pub fn sign(&self, domain: &str, message: &[u8]) -> Signature {
        Signature(self.key.sign(&signed_bytes(domain, message)).to_bytes())
    }

    /// Signs `message` itself, for a format with its own framing; the
    /// message must hold no 0x00 byte, so that it is never the signed bytes
    /// of a domain-separated signature.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] for a message with a 0x00 byte.
    pub fn sign_nul_free(&self, message: &[u8]) -> Result<Signature, KeyError> {
        if message.contains(&0) {
            return Err(invalid("a framed message may not hold a 0x00 byte"));
        }
        Ok(Signature(self.key.sign(message).to_bytes()))
    }
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
    /// ML-DSA-65 keys (read by [`ml_dsa::MlDsaTrustedKeys`] only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ml_dsa_keys: Vec<ml_dsa::MlDsaTrustedEntry>,
}

/// A trusted-keys document decoded (bounded to [`MAX_TRUSTED_FILE_BYTES`]).
fn decode_trusted_file(bytes: &[u8]) -> Result<TrustedFile, KeyError> {
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_TRUSTED_FILE_BYTES) {
        return Err(invalid("a trusted-keys file is at most 1 MiB"));
    }
    tally_encoding::json::decode(bytes).map_err(|e| KeyError::Json {
        path: None,
        message: e.to_string(),
    })
}

/// The public keys whose signatures are accepted, by id.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<KeyId, VerifyingKey>,
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
    /// [`KeyError::InvalidKey`] as [`VerifyingKey::from_bytes`].
    pub fn insert(&mut self, public: &[u8; 32]) -> Result<KeyId, KeyError> {
        let key = VerifyingKey::from_bytes(public)?;
        self.keys.insert(key.id, key);
        Ok(key.id)
    }

    /// Parses a trusted-keys document (at most [`MAX_TRUSTED_FILE_BYTES`]
    /// bytes and [`MAX_TRUSTED_KEYS`] keys).
    ///
    /// # Errors
    /// [`KeyError::Json`], or [`KeyError::InvalidKey`] (too large, a bad
    /// key, or a key id that is not the id of its key).
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyError> {
        let file = decode_trusted_file(bytes)?;
        if file.keys.len() > MAX_TRUSTED_KEYS {
            return Err(invalid("more than 1,024 trusted keys"));
        }
        let mut keys = Self::new();
        for entry in file.keys {
            let public = hex::decode_array::<32>(&entry.public_key, Case::Lower)
                .map_err(|_| invalid("a public key is 64 lower-case hex digits"))?;
            if keys.insert(&public)? != entry.key_id {
                return Err(invalid("a key id is not the id of its public key"));
            }
        }
        Ok(keys)
    }

    /// Reads a trusted-keys file (bounded as [`TrustedKeys::from_json`]).
    ///
    /// # Errors
    /// [`KeyError::File`], or as [`TrustedKeys::from_json`] with the file
    /// named ([`KeyError::InvalidKeyFile`] for a bad key).
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = tally_files::read_bounded(path, MAX_TRUSTED_FILE_BYTES)?;
        Self::from_json(&bytes).map_err(|e| match e {
            KeyError::InvalidKey { reason } => KeyError::InvalidKeyFile {
                path: path.to_path_buf(),
                reason,
            },
            KeyError::Json { message, .. } => KeyError::Json {
                path: Some(path.to_path_buf()),
                message,
            },
            other => other,
        })
    }

    /// The trusted-keys file text for `keys`.
    #[must_use]
    pub fn file_text(keys: &[TrustedKey]) -> String {
        serde_json::to_string_pretty(&TrustedFile {
            keys: keys.to_vec(),
            ml_dsa_keys: Vec::new(),
        })
        .unwrap_or_default()
    }

    /// The key of id `id`.
    #[must_use]
    pub fn get(&self, id: KeyId) -> Option<&VerifyingKey> {
        self.keys.get(&id)
    }

    /// The keys, by id.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.values()
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a signature over `domain || 0x00 || message` by key `id`
    /// (strict verification).
    ///
    /// # Errors
    /// [`KeyError::UntrustedKey`] for an unknown id,
    /// [`KeyError::BadSignature`].
    pub fn verify(
        &self,
        domain: &str,
        message: &[u8],
        id: KeyId,
        signature: &Signature,
    ) -> Result<(), KeyError> {
        self.keys
            .get(&id)
            .ok_or(KeyError::UntrustedKey { key_id: id })?
            .verify(domain, message, signature)
    }
}

pub mod ml_dsa;

#[cfg(test)]
mod tests;
