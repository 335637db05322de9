//! Tokens: minting, attenuation, the binary and text forms, the tag chain.

use core::fmt;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tally_encoding::{base64url, hex};
use zeroize::{Zeroize, Zeroizing};

use crate::caveat::Caveat;
use crate::error::{Malformed, TokenError};
use crate::{HEADER_BYTES, MAX_CAVEATS, MAX_TOKEN_BYTES, MAX_TOKEN_TEXT_BYTES, TEXT_PREFIX};
use crate::{TAG_BYTES, VERSION};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The prefix of a root key file's line.
pub const ROOT_KEY_PREFIX: &str = "tally-token-root-v1:";
/// The largest root key file, in bytes.
pub const MAX_ROOT_KEY_FILE_BYTES: u64 = 4_096;

/// A 32-byte root key: it mints the tokens of one epoch. Erased on drop,
/// never printed. Used for nothing but tokens.
pub struct RootKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    /// The key of 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    /// A fresh key from the operating system's random generator.
    ///
    /// # Errors
    /// `getrandom`'s error when the generator fails.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice())?;
        Ok(Self(key))
    }

    /// Parses a root key file's text: one line, surrounding whitespace
    /// ignored, [`ROOT_KEY_PREFIX`] and 64 lower-case hex digits.
    ///
    /// # Errors
    /// [`Malformed::RootKey`] otherwise (the text is not echoed).
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let body = text
            .trim()
            .strip_prefix(ROOT_KEY_PREFIX)
            .ok_or(Malformed::RootKey)?;
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_into(body, key.as_mut_slice(), hex::Case::Lower)
            .map_err(|_| Malformed::RootKey)?;
        Ok(Self(key))
    }

    /// The text of its file: [`ROOT_KEY_PREFIX`], 64 hex digits, a newline.
    #[must_use]
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(ROOT_KEY_PREFIX.len() + 65));
        text.push_str(ROOT_KEY_PREFIX);
        hex::encode_into(self.0.as_slice(), &mut text);
        text.push('\n');
        text
    }

    /// Reads a root key file: a private file (mode 0600 in a directory
    /// others cannot write, through `tally_files::private`) of at most
    /// [`MAX_ROOT_KEY_FILE_BYTES`], parsed as [`RootKey::parse`].
    ///
    /// # Errors
    /// The file's error, or [`Malformed::RootKey`] (as [`KeyFileError`]).
    pub fn read_file(path: &Path) -> Result<Self, KeyFileError> {
        let text = tally_files::private::read(path, MAX_ROOT_KEY_FILE_BYTES)?;
        Ok(Self::parse(text.as_str())?)
    }

    /// Creates the root key file `path` (mode 0600, durably, never replacing
    /// a file).
    ///
    /// # Errors
    /// The file's error.
    pub fn create_file(&self, path: &Path) -> Result<(), KeyFileError> {
        Ok(tally_files::private::create(
            path,
            self.to_file_text().as_bytes(),
        )?)
    }

    /// The HMAC keyed with this root key, ready for the header.
    pub(crate) fn mac(&self) -> HmacSha256 {
        keyed(&self.0)
    }
}

/// Why a root key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file (named in the error).
    #[error(transparent)]
    File(#[from] tally_files::FileError),
    /// The text is not a root key.
    #[error("{0}")]
    Malformed(#[from] Malformed),
}

/// A token's id: 16 random bytes chosen at minting, kept through every
/// attenuation, so one revocation covers the token and all its descendants.
/// Not secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub [u8; 16]);

impl TokenId {
    /// A fresh id from the operating system's random generator.
    ///
    /// # Errors
    /// `getrandom`'s error when the generator fails.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)?;
        Ok(Self(id))
    }
}

impl fmt::Display for TokenId {
    /// 32 lower-case hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let text = hex::encode_to_slice(&self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(text)
    }
}

/// A token's tag: the secret that lets its holder use and attenuate it.
/// Erased on drop, compared in constant time, never printed.
#[derive(Clone)]
pub(crate) struct Tag(pub(crate) [u8; TAG_BYTES]);

impl Drop for Tag {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A capability token: a root-key epoch, an id, caveats in the order they
/// were added, and the tag of the chain over them.
#[derive(Clone)]
pub struct Token {
    epoch: u32,
    id: TokenId,
    caveats: Vec<Caveat>,
    tag: Tag,
}

impl fmt::Debug for Token {
    /// The epoch, id and caveats; never the tag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("epoch", &self.epoch)
            .field("id", &self.id)
            .field("caveats", &self.caveats)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Token {
    /// Equal encodings (the tag compared in constant time).
    fn eq(&self, other: &Self) -> bool {
        self.epoch == other.epoch
            && self.id == other.id
            && self.caveats == other.caveats
            && bool::from(self.tag.0.ct_eq(&other.tag.0))
    }
}

impl Eq for Token {}

/// The header the first tag covers: version, epoch (big-endian), id.
pub(crate) fn header(epoch: u32, id: &TokenId) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    let e = epoch.to_be_bytes();
    for (dst, src) in h
        .iter_mut()
        .zip(core::iter::once(&VERSION).chain(&e).chain(&id.0))
    {
        *dst = *src;
    }
    h
}

/// The HMAC keyed with a 32-byte key. HMAC pads a short key with zeros to
/// the block (64 bytes), so the padded key is the same key; `KeyInit::new`
/// on a whole block cannot fail.
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; 64]);
    for (dst, src) in block.iter_mut().zip(key) {
        *dst = *src;
    }
    <HmacSha256 as KeyInit>::new(&(*block).into())
}

/// `HMAC(key, message)`, the tag of one link.
fn link(tag: &[u8; TAG_BYTES], message: &[u8]) -> [u8; TAG_BYTES] {
    let mut mac = keyed(tag);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The chain's tag: `tag0 = HMAC(root, header)`, `tag_i = HMAC(tag_{i-1},
/// caveat_i)`. `root` is the HMAC already keyed with the root key.
pub(crate) fn chain(
    root: &HmacSha256,
    epoch: u32,
    id: &TokenId,
    caveats: &[Caveat],
) -> Zeroizing<[u8; TAG_BYTES]> {
    let mut mac = root.clone();
    mac.update(&header(epoch, id));
    let mut tag = Zeroizing::new(mac.finalize().into_bytes().into());
    for caveat in caveats {
        *tag = link(&tag, caveat.encode().as_bytes());
    }
    tag
}

impl Token {
    /// Mints a token under `root` (the key of `epoch`) with `caveats`.
    /// The id comes from the caller ([`TokenId::random`] in production).
    ///
    /// # Errors
    /// [`Malformed::TooManyCaveats`] or [`Malformed::TooLarge`] past the
    /// bounds.
    pub fn mint(
        root: &RootKey,
        epoch: u32,
        id: TokenId,
        caveats: Vec<Caveat>,
    ) -> Result<Self, TokenError> {
        check_bounds(&caveats)?;
        let tag = chain(&root.mac(), epoch, &id, &caveats);
        Ok(Self {
            epoch,
            id,
            caveats,
            tag: Tag(*tag),
        })
    }

    /// The token with `caveat` added: no root key needed, and it authorizes
    /// at most what this token does (every caveat must hold).
    ///
    /// # Errors
    /// [`Malformed::TooManyCaveats`] or [`Malformed::TooLarge`] past the
    /// bounds.
    pub fn attenuate(&self, caveat: Caveat) -> Result<Self, TokenError> {
        let mut caveats = Vec::with_capacity(self.caveats.len().saturating_add(1));
        caveats.extend(self.caveats.iter().cloned());
        let encoded = caveat.encode();
        caveats.push(caveat);
        check_bounds(&caveats)?;
        let tag = link(&self.tag.0, encoded.as_bytes());
        Ok(Self {
            epoch: self.epoch,
            id: self.id,
            caveats,
            tag: Tag(tag),
        })
    }

    /// The root-key epoch it was minted under.
    #[must_use]
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Its id.
    #[must_use]
    pub fn id(&self) -> TokenId {
        self.id
    }

    /// Its caveats, in the order they were added.
    #[must_use]
    pub fn caveats(&self) -> &[Caveat] {
        &self.caveats
    }

    pub(crate) fn tag(&self) -> &[u8; TAG_BYTES] {
        &self.tag.0
    }

    /// The binary form (see the crate documentation). Secret: it carries the
    /// tag.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(encoded_len(&self.caveats)));
        out.extend_from_slice(&header(self.epoch, &self.id));
        // At most MAX_CAVEATS (checked whenever a token is built).
        out.push(u8::try_from(self.caveats.len()).unwrap_or(u8::MAX));
        for caveat in &self.caveats {
            out.extend_from_slice(caveat.encode().as_bytes());
        }
        out.extend_from_slice(&self.tag.0);
        out
    }

    /// The text form: [`TEXT_PREFIX`] and the padded base64url of the
    /// binary form. Secret: it carries the tag.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(base64url::encode_with_prefix(TEXT_PREFIX, &self.to_bytes()))
    }

    /// Decodes the binary form: bounded before anything is allocated,
    /// canonical (one encoding per token), every caveat in the closed set.
    ///
    /// # Errors
    /// [`TokenError::Malformed`] naming the first problem.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.len() > MAX_TOKEN_BYTES {
            return Err(Malformed::TooLarge.into());
        }
        let (head, rest) = bytes
            .split_first_chunk::<HEADER_BYTES>()
            .ok_or(Malformed::Truncated)?;
        let [version, e0, e1, e2, e3, id @ ..] = *head;
        if version != VERSION {
            return Err(Malformed::Version.into());
        }
        let (&count, mut rest) = rest.split_first().ok_or(Malformed::Truncated)?;
        let count = usize::from(count);
        if count > MAX_CAVEATS {
            return Err(Malformed::TooManyCaveats.into());
        }
        let mut caveats = Vec::with_capacity(count);
        for _ in 0..count {
            let (caveat, used) = Caveat::decode(rest)?;
            caveats.push(caveat);
            rest = rest.get(used..).ok_or(Malformed::Truncated)?;
        }
        let (tag, trailing) = rest
            .split_first_chunk::<TAG_BYTES>()
            .ok_or(Malformed::Truncated)?;
        if !trailing.is_empty() {
            return Err(Malformed::Trailing.into());
        }
        Ok(Self {
            epoch: u32::from_be_bytes([e0, e1, e2, e3]),
            id: TokenId(id),
            caveats,
            tag: Tag(*tag),
        })
    }

    /// Decodes the text form: at most [`MAX_TOKEN_TEXT_BYTES`] (checked
    /// first), [`TEXT_PREFIX`], then padded base64url (the one form the
    /// encoder writes), then [`Token::from_bytes`].
    ///
    /// # Errors
    /// [`TokenError::Malformed`] naming the first problem.
    pub fn from_text(text: &str) -> Result<Self, TokenError> {
        if text.len() > MAX_TOKEN_TEXT_BYTES {
            return Err(Malformed::TextTooLong.into());
        }
        let body = text.strip_prefix(TEXT_PREFIX).ok_or(Malformed::Prefix)?;
        let bytes = Zeroizing::new(
            base64url::decode(body, MAX_TOKEN_TEXT_BYTES).map_err(|_| Malformed::Base64)?,
        );
        if body.len() != base64url::encoded_len(bytes.len()) {
            return Err(Malformed::Base64.into());
        }
        Self::from_bytes(&bytes)
    }
}

/// The length of the binary form with `caveats`.
fn encoded_len(caveats: &[Caveat]) -> usize {
    let body: usize = caveats.iter().map(|c| c.encode().as_bytes().len()).sum();
    HEADER_BYTES + 1 + body + TAG_BYTES
}

fn check_bounds(caveats: &[Caveat]) -> Result<(), Malformed> {
    if caveats.len() > MAX_CAVEATS {
        return Err(Malformed::TooManyCaveats);
    }
    if encoded_len(caveats) > MAX_TOKEN_BYTES {
        return Err(Malformed::TooLarge);
    }
    Ok(())
}
