//! HMAC keys: loading, identity, forward-secure evolution, zeroization.
//!
//! A key is at least [`MIN_KEY_BYTES`] secret bytes. Its [`MacKeyId`] is the
//! first 8 bytes of `SHA-256("tally/audit/kid/v1" ‖ key)` of the key at epoch
//! 0, so a record names its key without revealing it. Keys are loaded from a
//! file or an environment variable, never from a command-line argument; the
//! secret bytes are zeroized when dropped and never printed by `Debug`.

use std::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{AuditError, Result};
use crate::record::Hash;

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// The longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest key file read, in bytes.
pub const MAX_KEY_FILE_BYTES: usize = 4096;
/// Domain tag of a key id.
pub const KID_TAG: &[u8; 18] = b"tally/audit/kid/v1";
/// Domain tag of the forward-secure key evolution step.
pub const EVOLVE_TAG: &[u8; 21] = b"tally/audit/evolve/v1";

type HmacSha256 = Hmac<Sha256>;

/// The public identity of a key: 8 bytes, shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacKeyId([u8; 8]);

impl MacKeyId {
    /// The id from its 8 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// Parses 16 lower-case hex digits.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] if the text is not 16 lower-case hex digits.
    pub fn parse(text: &str) -> Result<Self> {
        tally_encoding::hex::decode_array(text.as_bytes(), tally_encoding::hex::Case::Lower)
            .ok()
            .map(Self)
            .ok_or(AuditError::InvalidKey {
                what: "key id is not 16 lower-case hex digits",
            })
    }

    fn of(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(KID_TAG);
        h.update(secret);
        let d: Hash = h.finalize().into();
        let mut id = [0u8; 8];
        id.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
        Self(id)
    }
}

impl fmt::Display for MacKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tally_encoding::hex::encode(&self.0))
    }
}

impl fmt::Debug for MacKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacKeyId({self})")
    }
}

/// A secret HMAC key at one forward-secure epoch.
///
/// ```
/// use tally_audit::AuditKey;
/// let key = AuditKey::from_bytes([7u8; 32].to_vec())?;
/// assert_eq!(key.epoch(), 0);
/// assert!(AuditKey::from_bytes(vec![7u8; 31]).is_err());
/// # Ok::<(), tally_audit::AuditError>(())
/// ```
#[derive(Clone)]
pub struct AuditKey {
    secret: Zeroizing<Vec<u8>>,
    kid: MacKeyId,
    epoch: u64,
    mac: HmacSha256,
}

impl AuditKey {
    /// A key at epoch 0 from its secret bytes.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] when shorter than [`MIN_KEY_BYTES`] or longer
    /// than [`MAX_KEY_BYTES`].
    pub fn from_bytes(secret: Vec<u8>) -> Result<Self> {
        let secret = Zeroizing::new(secret);
        let kid = MacKeyId::of(&secret);
        Self::at(secret, kid, 0)
    }

    fn at(secret: Zeroizing<Vec<u8>>, kid: MacKeyId, epoch: u64) -> Result<Self> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(AuditError::InvalidKey {
                what: "key is shorter than 32 bytes",
            });
        }
        if secret.len() > MAX_KEY_BYTES {
            return Err(AuditError::InvalidKey {
                what: "key is longer than 1024 bytes",
            });
        }
        let mac = HmacSha256::new_from_slice(&secret).map_err(|_| AuditError::InvalidKey {
            what: "HMAC rejected the key",
        })?;
        Ok(Self {
            secret,
            kid,
            epoch,
            mac,
        })
    }

    /// A fresh random 32-byte key from the operating system's generator.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] if the generator fails.
    pub fn generate() -> Result<Self> {
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut secret).map_err(|_| AuditError::InvalidKey {
            what: "the random generator failed",
        })?;
        Self::from_bytes(secret.to_vec())
    }

    /// The key's id (that of its epoch-0 ancestor).
    #[must_use]
    pub fn kid(&self) -> MacKeyId {
        self.kid
    }

    /// The key's forward-secure epoch (0 for a key that never evolved).
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `HMAC-SHA256(self, data)`.
    #[must_use]
    pub(crate) fn mac(&self, data: &[u8]) -> Hash {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Moves to the next epoch: `K(e+1) = HMAC-SHA256(K(e), EVOLVE_TAG ‖
    /// u64be(e+1))`. The previous secret is zeroized.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] when the epoch counter is exhausted.
    pub fn evolve(&mut self) -> Result<()> {
        let next = self.epoch.checked_add(1).ok_or(AuditError::InvalidKey {
            what: "epoch counter exhausted",
        })?;
        let input = [EVOLVE_TAG.as_slice(), &next.to_be_bytes()].concat();
        let secret = Zeroizing::new(self.mac(&input).to_vec());
        *self = Self::at(secret, self.kid, next)?;
        Ok(())
    }

    /// The same key evolved forward to `epoch`.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] when `epoch` is earlier than this key's
    /// epoch: old epochs cannot be recovered from newer keys.
    pub fn at_epoch(&self, epoch: u64) -> Result<Self> {
        if epoch < self.epoch {
            return Err(AuditError::InvalidKey {
                what: "cannot go back to an earlier epoch",
            });
        }
        let mut key = self.clone();
        while key.epoch < epoch {
            key.evolve()?;
        }
        Ok(key)
    }

    /// The key file text: one JSON line
    /// `{"tally_audit_key":1,"kid":"…","epoch":N,"key":"<hex>"}`.
    #[must_use]
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut hex = Zeroizing::new(Vec::new());
        tally_encoding::hex::encode_extend(&self.secret, &mut hex);
        let hex = Zeroizing::new(String::from_utf8_lossy(&hex).into_owned());
        Zeroizing::new(format!(
            "{{\"tally_audit_key\":1,\"kid\":\"{}\",\"epoch\":{},\"key\":\"{}\"}}\n",
            self.kid, self.epoch, *hex
        ))
    }

    /// Parses key file text (see [`AuditKey::to_file_text`]).
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] when the text is not a key file or its key
    /// id does not match an epoch-0 key.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |what| AuditError::InvalidKey { what };
        if text.len() > MAX_KEY_FILE_BYTES {
            return Err(bad("key file too large"));
        }
        let value: Zeroizing<String> = Zeroizing::new(text.trim().to_owned());
        let json: serde_json::Value =
            serde_json::from_str(&value).map_err(|_| bad("key file is not JSON"))?;
        if json
            .get("tally_audit_key")
            .and_then(serde_json::Value::as_u64)
            != Some(1)
        {
            return Err(bad("not a tally audit key file (version 1)"));
        }
        let kid = json
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .ok_or(bad("missing kid"))
            .and_then(|k| MacKeyId::parse(k).map_err(|_| bad("bad kid")))?;
        let epoch = json
            .get("epoch")
            .and_then(serde_json::Value::as_u64)
            .ok_or(bad("missing epoch"))?;
        let secret = json
            .get("key")
            .and_then(serde_json::Value::as_str)
            .and_then(|k| {
                tally_encoding::hex::decode_vec(
                    k.as_bytes(),
                    MAX_KEY_BYTES,
                    tally_encoding::hex::Case::Lower,
                )
                .ok()
            })
            .map(Zeroizing::new)
            .ok_or(bad("key is not lower-case hex"))?;
        if epoch == 0 && MacKeyId::of(&secret) != kid {
            return Err(bad("kid does not match the key"));
        }
        Self::at(secret, kid, epoch)
    }

    /// Loads a key file, refusing one that group or others may read.
    ///
    /// # Errors
    /// [`AuditError::Io`] when the file cannot be read,
    /// [`AuditError::InvalidKey`] when it is readable by others or invalid.
    pub fn load_file(path: &Path) -> Result<Self> {
        use tally_files::FileError;
        let text = tally_files::private::read(path, MAX_KEY_FILE_BYTES as u64).map_err(|e| match e {
            FileError::NotPrivate { .. } => AuditError::InvalidKey {
                what: "key file (or its directory) is accessible by group or others (chmod 600)",
            },
            FileError::TooLarge { .. } => AuditError::InvalidKey {
                what: "key file too large",
            },
            e => AuditError::io("read key file", e.into()),
        })?;
        Self::parse(text.as_str())
    }

    /// Loads a key from the environment variable `var` (key file text).
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] when unset or invalid.
    pub fn from_env(var: &str) -> Result<Self> {
        let text = Zeroizing::new(std::env::var(var).map_err(|_| AuditError::InvalidKey {
            what: "key environment variable is unset or not UTF-8",
        })?);
        Self::parse(&text)
    }

    /// Writes the key file with mode 0600 atomically (temporary file, fsync,
    /// rename, directory fsync), replacing any older epoch of the key.
    ///
    /// # Errors
    /// [`AuditError::Io`] when a file operation fails.
    pub fn store_file(&self, path: &Path) -> Result<()> {
        tally_files::private::replace(path, self.to_file_text().as_bytes())
            .map_err(|e| AuditError::io("write key file", e.into()))
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("kid", &self.kid)
            .field("epoch", &self.epoch)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where a forward-secure writer persists each evolved key (and thereby
/// erases the previous one), and the next key of a rotation.
///
/// A rotation never replaces the current key before the rotation record is
/// durable: the writer first stages the next key beside the current one
/// ([`KeySink::stage_next`]), makes the rotation record durable, then
/// commits ([`KeySink::commit_next`]). Opening a forward-secure log reads a
/// staged key ([`KeySink::staged_next`]) and keeps whichever key the log
/// names, so a crash at any step leaves a key that opens the log.
pub trait KeySink: Send {
    /// Stores `key` (a newer epoch of the current key), replacing the
    /// previous epoch durably.
    ///
    /// # Errors
    /// An I/O error; the writer is then poisoned.
    fn store(&mut self, key: &AuditKey) -> std::io::Result<()>;

    /// Stores the next key of a rotation durably beside the current one,
    /// which stays in place. The default refuses (no rotation).
    ///
    /// # Errors
    /// An I/O error, or [`std::io::ErrorKind::Unsupported`].
    fn stage_next(&mut self, key: &AuditKey) -> std::io::Result<()> {
        let _ = key;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this key sink cannot stage a rotation",
        ))
    }

    /// Makes the staged next key the current one, durably (called once the
    /// rotation record naming it is durable).
    ///
    /// # Errors
    /// An I/O error; the writer is then poisoned.
    fn commit_next(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this key sink cannot stage a rotation",
        ))
    }

    /// The staged next key, if one is present (read on open).
    ///
    /// # Errors
    /// An I/O error, or a staged key that cannot be read.
    fn staged_next(&mut self) -> std::io::Result<Option<AuditKey>> {
        Ok(None)
    }

    /// Removes a staged next key the log does not name (on open).
    ///
    /// # Errors
    /// An I/O error.
    fn discard_next(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A [`KeySink`] that rewrites one key file atomically; the next key of a
/// rotation is staged in the same directory as `<key file>.next`.
#[derive(Debug, Clone)]
pub struct KeyFileSink {
    path: std::path::PathBuf,
}

impl KeyFileSink {
    /// A sink writing to `path`.
    #[must_use]
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the next key of a rotation is staged: `<key file>.next`.
    #[must_use]
    pub fn next_path(&self) -> std::path::PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".next");
        std::path::PathBuf::from(name)
    }
}

fn io_error(e: AuditError) -> std::io::Error {
    match e {
        AuditError::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}

impl KeySink for KeyFileSink {
    fn store(&mut self, key: &AuditKey) -> std::io::Result<()> {
        key.store_file(&self.path).map_err(io_error)
    }

    fn stage_next(&mut self, key: &AuditKey) -> std::io::Result<()> {
        key.store_file(&self.next_path()).map_err(io_error)
    }

    fn commit_next(&mut self) -> std::io::Result<()> {
        std::fs::rename(self.next_path(), &self.path)?;
        tally_files::sync_parent_dir(&self.path).map_err(std::io::Error::from)
    }

    fn staged_next(&mut self) -> std::io::Result<Option<AuditKey>> {
        let next = self.next_path();
        match std::fs::symlink_metadata(&next) {
            Ok(_) => AuditKey::load_file(&next).map(Some).map_err(io_error),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn discard_next(&mut self) -> std::io::Result<()> {
        match std::fs::remove_file(self.next_path()) {
            Ok(()) => tally_files::sync_parent_dir(&self.path).map_err(std::io::Error::from),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The keys a reader may use, by key id; newer epochs are derived on demand.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<AuditKey>,
}

impl Keyring {
    /// An empty keyring (for unkeyed logs).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key, replacing one with the same id.
    #[must_use]
    pub fn with(mut self, key: AuditKey) -> Self {
        self.keys.retain(|k| k.kid != key.kid);
        self.keys.push(key);
        self
    }

    /// Whether the keyring holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key with id `kid`, as stored (at its own epoch).
    #[must_use]
    pub fn get(&self, kid: MacKeyId) -> Option<&AuditKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_length_bounds() {
        assert!(AuditKey::from_bytes(vec![1; MIN_KEY_BYTES - 1]).is_err());
        assert!(AuditKey::from_bytes(vec![1; MIN_KEY_BYTES]).is_ok());
        assert!(AuditKey::from_bytes(vec![1; MAX_KEY_BYTES]).is_ok());
        assert!(AuditKey::from_bytes(vec![1; MAX_KEY_BYTES + 1]).is_err());
    }

    #[test]
    fn file_text_round_trips_and_debug_redacts() {
        // The Debug form of the very key built from these bytes (not of a
        // derived one) is pinned: printing the secret in any form would
        // change it.
        let secret = *b"tally-audit-test-key-0123456789!";
        let mut key = AuditKey::from_bytes(secret.to_vec()).unwrap();
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!(
                "AuditKey {{ kid: MacKeyId({}), epoch: 0, secret: \"<redacted>\" }}",
                key.kid()
            )
        );
        let hex = tally_encoding::hex::encode(&secret);
        let raw = std::str::from_utf8(&secret).unwrap();
        assert!(!debug.contains(&hex[..16]) && !debug.contains(&raw[..8]));
        assert!(key.to_file_text().contains(&hex), "the file holds the key");
        key.evolve().unwrap();
        let back = AuditKey::parse(&key.to_file_text()).unwrap();
        assert_eq!(back.kid(), key.kid());
        assert_eq!(back.epoch(), 1);
        assert_eq!(back.mac(b"x"), key.mac(b"x"));
        assert_eq!(
            format!("{key:?}"),
            format!(
                "AuditKey {{ kid: MacKeyId({}), epoch: 1, secret: \"<redacted>\" }}",
                key.kid()
            )
        );
    }

    #[test]
    fn evolution_is_one_way_and_deterministic() {
        let k0 = AuditKey::from_bytes(vec![3; 32]).unwrap();
        let k2 = k0.at_epoch(2).unwrap();
        assert_eq!(k2.epoch(), 2);
        assert_eq!(k2.kid(), k0.kid());
        assert_ne!(k2.mac(b"m"), k0.mac(b"m"));
        assert!(k2.at_epoch(1).is_err());
        let mut k = k0.clone();
        k.evolve().unwrap();
        k.evolve().unwrap();
        assert_eq!(k.mac(b"m"), k2.mac(b"m"));
    }

    #[test]
    fn tampered_kid_is_rejected() {
        let key = AuditKey::from_bytes(vec![5; 32]).unwrap();
        let text = key
            .to_file_text()
            .replace(&key.kid().to_string(), "0000000000000000");
        assert!(AuditKey::parse(&text).is_err());
    }
}
