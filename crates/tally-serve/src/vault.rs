//! Where the rewarder's files live, and how they are protected at rest
//! (issue 14, seed 004 §3 and §4).
//!
//! A [`Vault`] is one of:
//!
//! * **a directory, plain**: files written with the workspace's atomic
//!   writes (mode 0600), read back bounded;
//! * **a directory, encrypted** (`--at-rest-key-file`, `AT_REST_KEY_FILE`):
//!   every file sealed with XChaCha20-Poly1305 under the current key of a
//!   [`Keyring`]; a file that is not sealed, is sealed under a key the
//!   keyring does not hold, or fails authentication is a typed
//!   [`AtRestError`] and is never served;
//! * **memory** (amnesia, `--amnesia`): nothing on disk, everything gone
//!   when the process ends.
//!
//! # The sealed format (version 1)
//!
//! ```text
//! header (32 bytes) = "TALLYAR" (7) | version 1 (1) | key id (8) | nonce prefix (16, random per file)
//! body              = chunk_0 | chunk_1 | … | chunk_n      (n ≥ 0)
//! chunk_i           = XChaCha20-Poly1305(key, nonce = prefix | i as u64 big-endian,
//!                                        aad = header | context | [last: 0 or 1],
//!                                        plaintext piece of 65,536 bytes, the last one shorter or empty)
//! ```
//!
//! The chunks are the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár 2015): a counter in the nonce stops reordering, the last flag in
//! the associated data stops truncation, the random 128-bit prefix per file
//! makes nonces unique per key without any state. Chunks let an upload be
//! encrypted as it streams (`POST /v1/blobs`), never held whole. The
//! context is the file's name relative to the vault (`runs/<hash>`,
//! `head.json`, …), so a sealed file moved under another name fails
//! authentication; blobs (whose name is not known until their last byte is
//! hashed) share the context `blobs/` and are bound to their name by their
//! content id, checked over the plaintext at every read.
//!
//! The key id is the first 8 bytes of BLAKE3's `derive_key("tally/serve/
//! at-rest/key-id/v1", key)`: it names the key without revealing it.
//!
//! # Key files and rotation
//!
//! A key file is one line, `tally-at-rest-key/v1 <64 hex digits>`, mode
//! 0600 in a directory others cannot write (read with
//! [`tally_files::private::read`]; anything looser is refused). Rotation:
//! make a new key ([`Keyring::create_key_file`], `tally serve
//! --at-rest-new-key PATH`), move the old key file into the keyring
//! directory (`--at-rest-keyring`, `AT_REST_KEYRING`, 0700), restart with
//! the new key as `--at-rest-key-file`: new files are sealed under the new
//! key, old files still open under the old one. `tally serve
//! --at-rest-reencrypt` (server stopped) then re-seals every file under the
//! current key (plain files of a store that had no key too, the one place a
//! plain file is accepted), after which the old key can be destroyed.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// The first bytes of a sealed file.
pub const MAGIC: &[u8; 7] = b"TALLYAR";
/// The format's version.
pub const VERSION: u8 = 1;
/// The header's length.
pub const HEADER_LEN: usize = 32;
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 1 << 16;
/// The authentication tag per chunk.
pub const TAG_LEN: usize = 16;
/// The first word of a key file.
pub const KEY_FILE_PREFIX: &str = "tally-at-rest-key/v1 ";
/// Old keys a keyring directory may hold.
pub const KEYRING_MAX: usize = 64;
/// The context shared by every blob (bound to its name by its content id).
pub const BLOB_CONTEXT: &str = "blobs/";

const KEY_LEN: usize = 32;
const KEY_FILE_MAX: u64 = 256;
const PREFIX_LEN: usize = 16;

/// Why a sealed file or a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    /// A key file, the keyring directory or a stored file.
    #[error(transparent)]
    File(#[from] tally_files::FileError),
    /// A key file that is not `tally-at-rest-key/v1 <64 hex>`.
    #[error("{path}: not an at-rest key file ({what})")]
    KeyFormat {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// A keyring with two keys of one id, or too many keys.
    #[error("{path}: {what}")]
    Keyring {
        /// The keyring directory.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// A stored file that is not sealed, though a key is configured.
    #[error("{context}: not sealed (a plain file where an encrypted one was expected)")]
    NotSealed {
        /// The file's name in the store.
        context: String,
    },
    /// A stored record that is sealed, though no key is configured (a
    /// PostgreSQL row written by a process with `--at-rest-key-file`).
    #[error("{context}: sealed at rest, but no at-rest key is configured (--at-rest-key-file)")]
    NoKey {
        /// The record's name in the store.
        context: String,
    },
    /// A sealed file of another version.
    #[error("{context}: sealed-file version {version} is not supported")]
    Version {
        /// The file's name in the store.
        context: String,
        /// Its version byte.
        version: u8,
    },
    /// Sealed under a key the keyring does not hold.
    #[error("{context}: sealed under key {key_id}, which the keyring does not hold")]
    UnknownKey {
        /// The file's name in the store.
        context: String,
        /// The key id, hex.
        key_id: String,
    },
    /// Authentication failed: the file was altered, truncated, moved or
    /// sealed under another key of the same id.
    #[error("{context}: authentication failed (altered, truncated or moved)")]
    Tampered {
        /// The file's name in the store.
        context: String,
    },
    /// The plaintext is over its bound.
    #[error("{context}: over its bound")]
    TooLarge {
        /// The file's name in the store.
        context: String,
    },
    /// No randomness from the operating system.
    #[error("no randomness from the operating system")]
    Random,
    /// The cipher refused to seal (a chunk past its limits).
    #[error("{context}: sealing failed")]
    Seal {
        /// The file's name in the store.
        context: String,
    },
}

/// The at-rest key files of a server (`--at-rest-key-file`,
/// `--at-rest-keyring`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtRestFiles {
    /// The current key (seals and opens).
    pub key_file: PathBuf,
    /// A directory of old keys (`*.key`, open only).
    pub keyring: Option<PathBuf>,
}

/// One key: its id and its cipher (the key bytes are erased on drop).
struct Key {
    id: [u8; 8],
    cipher: XChaCha20Poly1305,
}

fn key_id(key: &[u8; KEY_LEN]) -> [u8; 8] {
    let d = blake3::derive_key("tally/serve/at-rest/key-id/v1", key);
    let mut id = [0u8; 8];
    id.copy_from_slice(d.get(..8).unwrap_or(&[0u8; 8]));
    id
}

impl Key {
    fn from_bytes(key: &Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self {
            id: key_id(key),
            cipher: XChaCha20Poly1305::new(&(**key).into()),
        }
    }

    fn read_file(path: &Path) -> Result<Self, AtRestError> {
        let text = tally_files::private::read(path, KEY_FILE_MAX)?;
        let bad = |what| AtRestError::KeyFormat {
            path: path.to_path_buf(),
            what,
        };
        let hex = text
            .as_str()
            .trim_end_matches('\n')
            .strip_prefix(KEY_FILE_PREFIX)
            .ok_or_else(|| bad("no `tally-at-rest-key/v1 ` prefix"))?;
        let bytes: [u8; KEY_LEN] =
            tally_encoding::hex::decode_array(hex, tally_encoding::hex::Case::Lower)
                .map_err(|_| bad("not 64 lowercase hex digits"))?;
        let bytes = Zeroizing::new(bytes);
        Ok(Self::from_bytes(&bytes))
    }
}

/// The current key (seals and opens) and old keys (open only).
pub struct Keyring {
    current: Key,
    old: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &tally_encoding::hex::encode(&self.current.id))
            .field("old", &self.old.len())
            .finish()
    }
}

fn header(id: &[u8; 8], prefix: &[u8; PREFIX_LEN]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let (magic, rest) = h.split_at_mut(MAGIC.len());
    magic.copy_from_slice(MAGIC);
    let (version, rest) = rest.split_at_mut(1);
    version.copy_from_slice(&[VERSION]);
    let (kid, nonce) = rest.split_at_mut(8);
    kid.copy_from_slice(id);
    nonce.copy_from_slice(prefix);
    h
}

fn nonce(prefix: &[u8; PREFIX_LEN], index: u64) -> XNonce {
    let mut n = [0u8; 24];
    let (p, c) = n.split_at_mut(PREFIX_LEN);
    p.copy_from_slice(prefix);
    c.copy_from_slice(&index.to_be_bytes());
    XNonce::from(n)
}

fn aad(header: &[u8; HEADER_LEN], context: &str, last: bool) -> Vec<u8> {
    let mut a = Vec::with_capacity(HEADER_LEN + context.len() + 1);
    a.extend_from_slice(header);
    a.extend_from_slice(context.as_bytes());
    a.push(u8::from(last));
    a
}

/// The largest sealed file of a plaintext of at most `max` bytes.
#[must_use]
pub fn sealed_len_max(max: u64) -> u64 {
    let chunks = (max / CHUNK as u64).saturating_add(1);
    max.saturating_add(HEADER_LEN as u64)
        .saturating_add(chunks.saturating_mul(TAG_LEN as u64))
}

/// Whether `bytes` start like a sealed file.
#[must_use]
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

impl Keyring {
    /// The keyring of `key_file` (the current key) and, if given, every
    /// `*.key` file of `old_dir` (each a key file, the directory private).
    ///
    /// # Errors
    /// [`AtRestError`]: a key file or directory that group or others can
    /// use, a malformed key file, two keys of one id.
    pub fn load(key_file: &Path, old_dir: Option<&Path>) -> Result<Self, AtRestError> {
        let current = Key::read_file(key_file)?;
        let mut old: Vec<Key> = Vec::new();
        if let Some(dir) = old_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| tally_files::FileError::Io {
                path: dir.to_path_buf(),
                what: "list",
                source: e,
            })?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "key"))
                .collect();
            paths.sort();
            for path in paths {
                if old.len() >= KEYRING_MAX {
                    return Err(AtRestError::Keyring {
                        path: dir.to_path_buf(),
                        what: "more than 64 keys",
                    });
                }
                let key = Key::read_file(&path)?;
                if key.id == current.id {
                    continue;
                }
                if old.iter().any(|k| k.id == key.id) {
                    return Err(AtRestError::Keyring {
                        path: dir.to_path_buf(),
                        what: "two files hold one key",
                    });
                }
                old.push(key);
            }
        }
        Ok(Self { current, old })
    }

    /// Writes a new random key file at `path` (0600, never replacing one);
    /// its key id, hex.
    ///
    /// # Errors
    /// [`AtRestError`].
    pub fn create_key_file(path: &Path) -> Result<String, AtRestError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|_| AtRestError::Random)?;
        let mut text = Zeroizing::new(String::from(KEY_FILE_PREFIX));
        tally_encoding::hex::encode_into(bytes.as_ref(), &mut text);
        text.push('\n');
        tally_files::private::create(path, text.as_bytes())?;
        Ok(tally_encoding::hex::encode(&key_id(&bytes)))
    }

    /// The current key's id, hex.
    #[must_use]
    pub fn current_id(&self) -> String {
        tally_encoding::hex::encode(&self.current.id)
    }

    fn key(&self, id: &[u8]) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(self.old.iter())
            .find(|k| k.id == id)
    }

    /// A writer that seals what it is given into `out` under the current
    /// key; [`Sealer::finish`] writes the last chunk.
    ///
    /// # Errors
    /// [`AtRestError::Random`].
    pub fn sealer<W: Write>(
        &self,
        context: &str,
        mut out: W,
    ) -> Result<Sealer<'_, W>, AtRestError> {
        let mut prefix = [0u8; PREFIX_LEN];
        getrandom::fill(&mut prefix).map_err(|_| AtRestError::Random)?;
        let header = header(&self.current.id, &prefix);
        let written = out.write_all(&header);
        Ok(Sealer {
            key: &self.current,
            context: context.to_owned(),
            prefix,
            header,
            index: 0,
            buf: Zeroizing::new(Vec::with_capacity(CHUNK)),
            out,
            failed: written.err(),
        })
    }

    /// Seals `plaintext` whole.
    ///
    /// # Errors
    /// [`AtRestError::Random`].
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let len = usize::try_from(sealed_len_max(plaintext.len() as u64)).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(len);
        let mut s = self.sealer(context, &mut out)?;
        s.write_all(plaintext)
            .and_then(|()| s.finish())
            .map_err(|_| AtRestError::Seal {
                context: context.to_owned(),
            })?;
        Ok(out)
    }

    /// Opens a sealed file named `context`, of at most `max` plaintext bytes.
    ///
    /// # Errors
    /// [`AtRestError::NotSealed`], [`AtRestError::Version`],
    /// [`AtRestError::UnknownKey`], [`AtRestError::Tampered`],
    /// [`AtRestError::TooLarge`].
    pub fn open(&self, context: &str, sealed: &[u8], max: u64) -> Result<Vec<u8>, AtRestError> {
        let ctx = || context.to_owned();
        if !is_sealed(sealed) || sealed.len() < HEADER_LEN + TAG_LEN {
            return Err(AtRestError::NotSealed { context: ctx() });
        }
        if sealed.len() as u64 > sealed_len_max(max) {
            return Err(AtRestError::TooLarge { context: ctx() });
        }
        let (head, body) = sealed.split_at(HEADER_LEN);
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(head);
        let version = h.get(MAGIC.len()).copied().unwrap_or(0);
        if version != VERSION {
            return Err(AtRestError::Version {
                context: ctx(),
                version,
            });
        }
        let id = h.get(8..16).unwrap_or_default();
        let key = self.key(id).ok_or_else(|| AtRestError::UnknownKey {
            context: ctx(),
            key_id: tally_encoding::hex::encode(id),
        })?;
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(h.get(16..).unwrap_or(&[0u8; PREFIX_LEN]));
        let mut plain = Vec::with_capacity(body.len());
        let pieces = body.chunks(CHUNK + TAG_LEN);
        let n = pieces.len();
        for (i, piece) in pieces.enumerate() {
            let last = i + 1 == n;
            let opened = key
                .cipher
                .decrypt(
                    &nonce(&prefix, i as u64),
                    Payload {
                        msg: piece,
                        aad: &aad(&h, context, last),
                    },
                )
                .map_err(|_| AtRestError::Tampered { context: ctx() })?;
            plain.extend_from_slice(&opened);
        }
        Ok(plain)
    }

    /// Whether `sealed` is sealed under the current key.
    #[must_use]
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        is_sealed(sealed) && sealed.get(8..16) == Some(&self.current.id[..])
    }
}

/// A streaming sealer (see [`Keyring::sealer`]).
pub struct Sealer<'k, W: Write> {
    key: &'k Key,
    context: String,
    prefix: [u8; PREFIX_LEN],
    header: [u8; HEADER_LEN],
    index: u64,
    buf: Zeroizing<Vec<u8>>,
    out: W,
    failed: Option<std::io::Error>,
}

impl<W: Write> Sealer<'_, W> {
    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        let sealed = self
            .key
            .cipher
            .encrypt(
                &nonce(&self.prefix, self.index),
                Payload {
                    msg: &self.buf,
                    aad: &aad(&self.header, &self.context, last),
                },
            )
            .map_err(|_| std::io::Error::other("sealing failed"))?;
        self.out.write_all(&sealed)?;
        self.buf.clear();
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("too many chunks"))?;
        Ok(())
    }

    /// Seals what is buffered as the last chunk and flushes.
    ///
    /// # Errors
    /// The writer's error.
    pub fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.emit(true)?;
        self.out.flush()
    }
}

impl<W: Write> Write for Sealer<'_, W> {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let n = data.len();
        while !data.is_empty() {
            // A full chunk is sealed only once more data comes, so that the
            // last chunk is always the one `finish` seals.
            if self.buf.len() == CHUNK {
                self.emit(false)?;
            }
            let room = CHUNK - self.buf.len();
            let (now, rest) = data.split_at(room.min(data.len()));
            self.buf.extend_from_slice(now);
            data = rest;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The file system.
    #[error(transparent)]
    File(#[from] tally_files::FileError),
    /// Sealing or opening.
    #[error(transparent)]
    AtRest(#[from] AtRestError),
    /// Over the bound given.
    #[error("{0}: over its bound")]
    TooLarge(String),
}

/// The context (associated data) of a file of the vault.
#[must_use]
pub fn context_of(rel: &str) -> &str {
    if rel.starts_with(BLOB_CONTEXT) {
        BLOB_CONTEXT
    } else {
        rel
    }
}

enum Inner {
    Disk {
        root: PathBuf,
        keys: Option<Arc<Keyring>>,
    },
    Memory(Mutex<BTreeMap<String, Arc<Vec<u8>>>>),
}

/// The rewarder's files: a directory (plain or sealed) or memory.
pub struct Vault(Inner);

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the files' contents (amnesia keeps them here).
        match &self.0 {
            Inner::Disk { root, keys } => f
                .debug_struct("Vault")
                .field("root", root)
                .field("keys", keys)
                .finish(),
            Inner::Memory(_) => f.write_str("Vault(<memory>)"),
        }
    }
}

impl Vault {
    /// Files in `root`, sealed under `keys` when given.
    #[must_use]
    pub fn disk(root: PathBuf, keys: Option<Arc<Keyring>>) -> Self {
        Self(Inner::Disk { root, keys })
    }

    /// Files in memory only (amnesia).
    #[must_use]
    pub fn memory() -> Self {
        Self(Inner::Memory(Mutex::new(BTreeMap::new())))
    }

    /// The directory and keyring, when on disk.
    #[must_use]
    pub fn disk_parts(&self) -> Option<(&Path, Option<&Arc<Keyring>>)> {
        match &self.0 {
            Inner::Disk { root, keys } => Some((root.as_path(), keys.as_ref())),
            Inner::Memory(_) => None,
        }
    }

    fn memory_map(
        m: &Mutex<BTreeMap<String, Arc<Vec<u8>>>>,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<u8>>>> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the directory `rel` (0700); nothing in memory.
    ///
    /// # Errors
    /// [`VaultError::File`].
    pub fn create_dir(&self, rel: &str) -> Result<(), VaultError> {
        if let Inner::Disk { root, .. } = &self.0 {
            tally_files::private::create_dir(&root.join(rel))?;
        }
        Ok(())
    }

    /// The plaintext of `rel` (at most `max` bytes), `None` when absent.
    ///
    /// # Errors
    /// [`VaultError`]; a sealed file that does not open is never returned.
    pub fn read(&self, rel: &str, max: u64) -> Result<Option<Vec<u8>>, VaultError> {
        match &self.0 {
            Inner::Memory(m) => match Self::memory_map(m).get(rel) {
                Some(b) if b.len() as u64 > max => Err(VaultError::TooLarge(rel.to_owned())),
                Some(b) => Ok(Some(b.as_ref().clone())),
                None => Ok(None),
            },
            Inner::Disk { root, keys } => {
                let bound = if keys.is_some() {
                    sealed_len_max(max)
                } else {
                    max
                };
                let bytes = match tally_files::read_bounded(&root.join(rel), bound) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                match keys {
                    Some(k) => match k.open(context_of(rel), &bytes, max) {
                        Ok(plain) => Ok(Some(plain)),
                        Err(e) => {
                            tracing::error!(file = rel, error = %e, "a stored file does not open: never served");
                            Err(e.into())
                        }
                    },
                    None => Ok(Some(bytes)),
                }
            }
        }
    }

    fn sealed(&self, rel: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>, VaultError> {
        match &self.0 {
            Inner::Disk { keys: Some(k), .. } => Ok(Some(k.seal(context_of(rel), bytes)?)),
            _ => Ok(None),
        }
    }

    /// Replaces `rel` with `bytes` (atomically on disk).
    ///
    /// # Errors
    /// [`VaultError`].
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), VaultError> {
        match &self.0 {
            Inner::Memory(m) => {
                Self::memory_map(m).insert(rel.to_owned(), Arc::new(bytes.to_vec()));
                Ok(())
            }
            Inner::Disk { root, .. } => {
                let sealed = self.sealed(rel, bytes)?;
                let data = sealed.as_deref().unwrap_or(bytes);
                tally_files::write_atomic(&root.join(rel), data, 0o600)?;
                Ok(())
            }
        }
    }

    /// Creates `rel` with `bytes`, never replacing: `false` when it existed.
    ///
    /// # Errors
    /// [`VaultError`].
    pub fn create(&self, rel: &str, bytes: &[u8]) -> Result<bool, VaultError> {
        match &self.0 {
            Inner::Memory(m) => {
                let mut map = Self::memory_map(m);
                if map.contains_key(rel) {
                    return Ok(false);
                }
                map.insert(rel.to_owned(), Arc::new(bytes.to_vec()));
                Ok(true)
            }
            Inner::Disk { root, .. } => {
                let sealed = self.sealed(rel, bytes)?;
                let data = sealed.as_deref().unwrap_or(bytes);
                match tally_files::create_atomic(&root.join(rel), data, 0o600) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The names of the files directly in `rel_dir` (temporary files of
    /// interrupted writes aside).
    #[must_use]
    pub fn list(&self, rel_dir: &str) -> Vec<String> {
        match &self.0 {
            Inner::Memory(m) => {
                let prefix = format!("{rel_dir}/");
                Self::memory_map(m)
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .filter(|k| !k.contains('/'))
                    .map(str::to_owned)
                    .collect()
            }
            Inner::Disk { root, .. } => std::fs::read_dir(root.join(rel_dir))
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                        .filter(|n| !n.starts_with('.'))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// What [`reencrypt`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Files sealed anew under the current key.
    pub resealed: u64,
    /// Plain files sealed for the first time.
    pub sealed_plain: u64,
    /// Files already under the current key.
    pub current: u64,
}

/// Re-seals every file under `root` (recursively; `skip` names files to
/// leave alone, such as the seal key) under the current key of `keys`: files
/// under an old key of the keyring, and plain files (a store that had no
/// key). Run with the server stopped. Each file is replaced atomically, so
/// an interrupted run can be run again.
///
/// # Errors
/// [`VaultError`]: the first file that cannot be read, opened or written
/// (files under a key the keyring lacks, or altered, stop the run).
pub fn reencrypt(
    root: &Path,
    keys: &Keyring,
    max: u64,
    skip: &[&str],
) -> Result<Reencrypted, VaultError> {
    let mut done = Reencrypted::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        let dir = root.join(&rel_dir);
        let entries = std::fs::read_dir(&dir).map_err(|e| tally_files::FileError::Io {
            path: dir.clone(),
            what: "list",
            source: e,
        })?;
        let mut names: Vec<(String, bool)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let is_dir = e.file_type().ok()?.is_dir();
                Some((e.file_name().to_str()?.to_owned(), is_dir))
            })
            .collect();
        names.sort();
        for (name, is_dir) in names {
            let rel = rel_dir.join(&name);
            let Some(rel_str) = rel.to_str() else {
                continue;
            };
            if is_dir {
                stack.push(rel);
                continue;
            }
            if name.starts_with('.') || name.starts_with("staging-") || skip.contains(&rel_str) {
                continue;
            }
            let path = root.join(&rel);
            let bytes = tally_files::read_bounded(&path, sealed_len_max(max))?;
            let context = context_of(rel_str);
            let plain = if is_sealed(&bytes) {
                if keys.is_current(&bytes) {
                    done.current = done.current.saturating_add(1);
                    continue;
                }
                done.resealed = done.resealed.saturating_add(1);
                keys.open(context, &bytes, max)?
            } else {
                if bytes.len() as u64 > max {
                    return Err(VaultError::TooLarge(rel_str.to_owned()));
                }
                done.sealed_plain = done.sealed_plain.saturating_add(1);
                bytes
            };
            let sealed = keys.seal(context, &plain)?;
            tally_files::write_atomic(&path, &sealed, 0o600)?;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(dir: &Path, name: &str) -> Keyring {
        let path = dir.join(name);
        Keyring::create_key_file(&path).unwrap();
        Keyring::load(&path, None).unwrap()
    }

    #[test]
    fn chunks_round_trip_at_every_boundary_and_any_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = keyring(dir.path(), "k.key");
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = k.seal("runs/a", &plain).unwrap();
            assert_eq!(sealed.len() as u64, {
                let chunks = if len == 0 { 1 } else { len.div_ceil(CHUNK) };
                (HEADER_LEN + len + chunks * TAG_LEN) as u64
            });
            assert!(sealed.len() as u64 <= sealed_len_max(len as u64));
            assert_eq!(k.open("runs/a", &sealed, len as u64).unwrap(), plain);
            // Another name, a flipped bit anywhere, a cut at a chunk boundary.
            assert!(matches!(
                k.open("runs/b", &sealed, len as u64),
                Err(AtRestError::Tampered { .. })
            ));
            for at in [HEADER_LEN - 1, HEADER_LEN, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[at] ^= 1;
                assert!(k.open("runs/a", &bad, len as u64).is_err(), "{len} {at}");
            }
            if len > CHUNK {
                let cut = &sealed[..HEADER_LEN + CHUNK + TAG_LEN];
                assert!(matches!(
                    k.open("runs/a", cut, len as u64),
                    Err(AtRestError::Tampered { .. })
                ));
            }
        }
        // Two seals of one plaintext differ (a fresh nonce prefix per file).
        assert_ne!(k.seal("x", b"same").unwrap(), k.seal("x", b"same").unwrap());
    }

    #[test]
    fn old_keys_open_unknown_keys_and_plain_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let old = keyring(dir.path(), "old.key");
        let sealed = old.seal("head.json", b"{}").unwrap();
        let ring = dir.path().join("ring");
        tally_files::private::create_dir(&ring).unwrap();
        std::fs::rename(dir.path().join("old.key"), ring.join("old.key")).unwrap();
        Keyring::create_key_file(&dir.path().join("new.key")).unwrap();
        let new_only = Keyring::load(&dir.path().join("new.key"), None).unwrap();
        assert!(matches!(
            new_only.open("head.json", &sealed, 10),
            Err(AtRestError::UnknownKey { .. })
        ));
        let both = Keyring::load(&dir.path().join("new.key"), Some(&ring)).unwrap();
        assert_eq!(both.open("head.json", &sealed, 10).unwrap(), b"{}");
        assert!(!both.is_current(&sealed));
        assert!(matches!(
            both.open("head.json", b"{\"plain\":true, \"long enough\": 1}", 100),
            Err(AtRestError::NotSealed { .. })
        ));
        assert!(matches!(
            both.open("head.json", &sealed, 1),
            Err(AtRestError::TooLarge { .. })
        ));
    }
}
