//! The wallet's mnemonic at rest: XChaCha20-Poly1305 under a key derived
//! from the passphrase with Argon2id.
//!
//! # File format (one line of text, version 1)
//!
//! ```text
//! tally-wallet-seed/v1 <m_kib> <t> <p> <salt: 32 hex> <nonce: 48 hex> <ciphertext+tag: hex>\n
//! ```
//!
//! * key = Argon2id (version 0x13) of the UTF-8 passphrase with the 16-byte
//!   salt, memory `m_kib` KiB, `t` passes, `p` lanes, 32 bytes of output;
//! * ciphertext = XChaCha20-Poly1305(key, 24-byte nonce, plaintext = the
//!   mnemonic's UTF-8 words separated by single spaces, associated data = the
//!   line up to and including the space before the ciphertext), so that no
//!   parameter can be changed without failing authentication;
//! * salt and nonce are fresh from the OS RNG on every write.
//!
//! # Parameters
//!
//! [`KdfParams::RECOMMENDED`] is Argon2id with 64 MiB, 3 passes, 1 lane
//! (RFC 9106's second recommended option, with one lane: the wallet derives
//! the key once per start). Files may carry other parameters (tests use small
//! ones), bounded by [`KdfParams::MEMORY_KIB_MAX`], [`KdfParams::PASSES_MAX`]
//! and [`KdfParams::LANES_MAX`] before any work, so a planted file cannot
//! make opening it take unbounded memory or time.
//!
//! # Permissions
//!
//! The file is created with mode 0600 in a directory of mode 0700; opening
//! refuses a file or directory that grants any access to group or others
//! ([`Error::UnsafePermissions`]). Keys, plaintexts and passphrases live in
//! zeroizing buffers and are never printed; a wrong passphrase (or an altered
//! file) is [`Error::WrongPassphrase`], and without the passphrase nothing
//! opens: the wallet fails closed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use tally_encoding::hex;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The first word of a version-1 secrets file.
pub const MAGIC: &str = "tally-wallet-seed/v1";
/// Salt length, bytes.
pub const SALT_LEN: usize = 16;
/// XChaCha20 nonce length, bytes.
pub const NONCE_LEN: usize = 24;
/// Derived key length, bytes.
pub const KEY_LEN: usize = 32;
/// The longest plaintext (a 24-word mnemonic is at most 215 bytes).
pub const PLAINTEXT_LEN_MAX: usize = 1_024;
/// The largest secrets file, bytes.
pub const FILE_LEN_MAX: u64 = 4_096;
/// The mode of the secrets file.
pub const FILE_MODE: u32 = 0o600;
/// The mode of its directory.
pub const DIR_MODE: u32 = 0o700;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes (time cost).
    pub passes: u32,
    /// Lanes (parallelism).
    pub lanes: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane.
    pub const RECOMMENDED: Self = Self {
        memory_kib: 64 * 1024,
        passes: 3,
        lanes: 1,
    };
    /// The largest memory a file may ask for: 1 GiB.
    pub const MEMORY_KIB_MAX: u32 = 1024 * 1024;
    /// The most passes a file may ask for.
    pub const PASSES_MAX: u32 = 16;
    /// The most lanes a file may ask for.
    pub const LANES_MAX: u32 = 16;

    fn check(self) -> Result<argon2::Params> {
        if self.memory_kib > Self::MEMORY_KIB_MAX
            || self.passes == 0
            || self.passes > Self::PASSES_MAX
            || self.lanes == 0
            || self.lanes > Self::LANES_MAX
        {
            return Err(Error::SecretsFormat("Argon2id parameters out of bounds"));
        }
        argon2::Params::new(self.memory_kib, self.passes, self.lanes, Some(KEY_LEN))
            .map_err(|_| Error::SecretsFormat("Argon2id parameters out of bounds"))
    }
}

fn derive_key(
    passphrase: &[u8],
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.check()?,
    );
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|_| Error::SecretsFormat("Argon2id refused the input"))?;
    Ok(key)
}

fn cipher(key: &[u8; KEY_LEN]) -> Result<XChaCha20Poly1305> {
    XChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::SecretsFormat("key length"))
}

fn header(params: KdfParams, salt: &[u8; SALT_LEN], nonce: &[u8; NONCE_LEN]) -> String {
    format!(
        "{MAGIC} {} {} {} {} {} ",
        params.memory_kib,
        params.passes,
        params.lanes,
        hex::encode(salt),
        hex::encode(nonce)
    )
}

/// Encrypts `plaintext` into the one-line file text, with the given salt and
/// nonce (callers pass fresh random ones; tests pass fixed ones).
///
/// # Errors
/// [`Error::SecretsFormat`] for out-of-bounds parameters or plaintext.
pub fn seal(
    plaintext: &[u8],
    passphrase: &[u8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<String> {
    if plaintext.len() > PLAINTEXT_LEN_MAX {
        return Err(Error::SecretsFormat("plaintext too long"));
    }
    let key = derive_key(passphrase, salt, params)?;
    let cipher = cipher(&key)?;
    let aad = header(params, salt, nonce);
    let sealed = cipher
        .encrypt(
            &XNonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| Error::SecretsFormat("encryption failed"))?;
    Ok(format!("{aad}{}\n", hex::encode(&sealed)))
}

/// Decrypts file text made by [`seal`].
///
/// # Errors
/// [`Error::SecretsFormat`] for a malformed line or out-of-bounds
/// parameters (checked before the key is derived), [`Error::WrongPassphrase`]
/// if authentication fails.
pub fn open(text: &str, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let line = text
        .strip_suffix('\n')
        .ok_or(Error::SecretsFormat("no final newline"))?;
    let mut fields = line.split(' ');
    let mut next = || fields.next().ok_or(Error::SecretsFormat("missing field"));
    if next()? != MAGIC {
        return Err(Error::SecretsFormat("not a tally-wallet-seed/v1 file"));
    }
    let number = |s: &str| -> Result<u32> {
        let n: u32 = s
            .parse()
            .map_err(|_| Error::SecretsFormat("bad parameter"))?;
        if n.to_string() != s {
            return Err(Error::SecretsFormat("non-canonical parameter"));
        }
        Ok(n)
    };
    let params = KdfParams {
        memory_kib: number(next()?)?,
        passes: number(next()?)?,
        lanes: number(next()?)?,
    };
    let bad_hex = |_| Error::SecretsFormat("bad hex");
    let salt: [u8; SALT_LEN] = hex::decode_array(next()?, hex::Case::Lower).map_err(bad_hex)?;
    let nonce: [u8; NONCE_LEN] = hex::decode_array(next()?, hex::Case::Lower).map_err(bad_hex)?;
    let sealed =
        hex::decode_vec(next()?, PLAINTEXT_LEN_MAX + 16, hex::Case::Lower).map_err(bad_hex)?;
    if fields.next().is_some() {
        return Err(Error::SecretsFormat("trailing field"));
    }
    params.check()?;
    let key = derive_key(passphrase, &salt, params)?;
    let cipher = cipher(&key)?;
    let aad = header(params, &salt, &nonce);
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongPassphrase)
}

fn mode_of(path: &Path) -> Result<u32> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| {
        Error::File(tally_files::FileError::Io {
            path: path.to_path_buf(),
            what: "inspect",
            source: e,
        })
    })?;
    Ok(meta.permissions().mode() & 0o7777)
}

fn require_private(path: &Path, want: u32) -> Result<()> {
    let mode = mode_of(path)?;
    if mode & 0o077 != 0 {
        return Err(Error::UnsafePermissions {
            path: path.display().to_string(),
            mode,
            want,
        });
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Encrypts `mnemonic` under `passphrase` into a new file `path` (mode 0600)
/// in a directory of mode 0700 (created if missing; refused if it grants
/// access to others). Never replaces an existing file.
///
/// # Errors
/// [`Error::UnsafePermissions`], [`Error::File`] (including an existing
/// file), [`Error::Randomness`], as [`seal`].
pub fn create_file(
    path: &Path,
    mnemonic: &str,
    passphrase: &[u8],
    params: KdfParams,
) -> Result<()> {
    let dir = parent(path);
    if !dir.exists() {
        tally_files::private::create_dir(dir)?;
    }
    require_private(dir, DIR_MODE)?;
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(|_| Error::Randomness)?;
    getrandom::fill(&mut nonce).map_err(|_| Error::Randomness)?;
    let text = seal(mnemonic.as_bytes(), passphrase, params, &salt, &nonce)?;
    tally_files::private::create(path, text.as_bytes())?;
    Ok(())
}

/// Opens the secrets file at `path` with `passphrase` and returns the
/// mnemonic (erased on drop).
///
/// # Errors
/// [`Error::UnsafePermissions`] for a file or directory that grants any
/// access to group or others, [`Error::WrongPassphrase`],
/// [`Error::SecretsFormat`], [`Error::File`].
pub fn open_file(path: &Path, passphrase: &[u8]) -> Result<Zeroizing<String>> {
    require_private(parent(path), DIR_MODE)?;
    require_private(path, FILE_MODE)?;
    let text = tally_files::private::read(path, FILE_LEN_MAX)?;
    let plain = open(text.as_str(), passphrase)?;
    let words =
        std::str::from_utf8(&plain).map_err(|_| Error::SecretsFormat("plaintext is not UTF-8"))?;
    Ok(Zeroizing::new(words.to_owned()))
}

/// Makes a fresh 12-word BIP-39 mnemonic (128 bits from the OS RNG), stores
/// it encrypted at `path` as [`create_file`] does, and returns it (shown to
/// the user once, erased on drop).
///
/// # Errors
/// [`Error::Randomness`], and as [`create_file`].
pub fn create_mnemonic_file(
    path: &Path,
    passphrase: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<String>> {
    let mut entropy = Zeroizing::new([0u8; 16]);
    getrandom::fill(entropy.as_mut()).map_err(|_| Error::Randomness)?;
    let mnemonic = bip39::Mnemonic::from_entropy(entropy.as_ref())
        .map_err(|_| Error::SecretsFormat("mnemonic"))?;
    let mut words = Zeroizing::new(String::new());
    for (i, word) in mnemonic.words().enumerate() {
        if i > 0 {
            words.push(' ');
        }
        words.push_str(word);
    }
    create_file(path, &words, passphrase, params)?;
    Ok(words)
}

/// Opens the secrets file and derives the wallet's NUT-13 seed from the
/// mnemonic (BIP-39, empty BIP-39 passphrase). Without the right passphrase
/// there is no seed, so no wallet: the wallet fails closed.
///
/// # Errors
/// As [`open_file`]; [`Error::Cashu`] if the words are not a valid mnemonic.
pub fn open_seed(path: &Path, passphrase: &[u8]) -> Result<tally_cashu::nuts::nut13::Seed> {
    let words = open_file(path, passphrase)?;
    Ok(tally_cashu::nuts::nut13::Seed::from_mnemonic(&words, "")?)
}
