//! NUT-02: keyset ids (V1, V2 and legacy), short ids, keyset info and the
//! index that resolves short ids and refuses colliding keysets.
//!
//! Legacy ids (before versioned ids: Nutshell < 0.15, NUT-02 before
//! December 2023) are the first 12 characters of the standard base64 of
//! `SHA256` of the keys' concatenated lowercase hex, by ascending amount
//! (`"I2yN+iRYfkzT"`). They appear in old V3 tokens and keyset lists; V4
//! tokens (which carry id bytes) cannot hold them.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use super::nut01::{CurrencyUnit, Keys};
use crate::Error;
use crate::encoding::{hex, serde_as_str};
use crate::error::{Limit, ensure_within};
use crate::limits::MAX_KEYSETS;

/// Version byte of V1 keyset ids (8 bytes, deprecated).
pub const VERSION_V1: u8 = 0x00;
/// Version byte of V2 keyset ids (33 bytes).
pub const VERSION_V2: u8 = 0x01;
/// Length of a V1 keyset id and of every short id.
pub const SHORT_ID_LEN: usize = 8;
/// Length of a V2 keyset id.
pub const V2_ID_LEN: usize = 33;
/// Length of a legacy (base64) keyset id, in characters.
pub const LEGACY_ID_LEN: usize = 12;

/// A full keyset id: V1 (`00` + 7 bytes), V2 (`01` + 32 bytes), or legacy
/// (12 base64 characters, no version).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeysetId {
    /// `00` followed by the first 7 bytes of SHA256 of the concatenated keys.
    V1([u8; SHORT_ID_LEN]),
    /// `01` followed by SHA256 of the keys, unit, fee and final expiry.
    V2([u8; V2_ID_LEN]),
    /// The 12 ASCII characters of a legacy id (standard base64 alphabet).
    Legacy([u8; LEGACY_ID_LEN]),
}

impl KeysetId {
    /// Parses the id bytes: 8 bytes with version `00` or 33 bytes with version `01`.
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`] for any other length/version pair.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        match (bytes.first(), bytes.len()) {
            (Some(&VERSION_V1), SHORT_ID_LEN) => bytes
                .try_into()
                .map(Self::V1)
                .map_err(|_| Error::InvalidKeysetId),
            (Some(&VERSION_V2), V2_ID_LEN) => bytes
                .try_into()
                .map(Self::V2)
                .map_err(|_| Error::InvalidKeysetId),
            _ => Err(Error::InvalidKeysetId),
        }
    }

    /// Parses hex (16 digits for V1, 66 for V2).
    ///
    /// ```
    /// use tally_cashu::nuts::nut02::KeysetId;
    /// let id = KeysetId::from_hex("009a1f293253e41e").unwrap();
    /// assert_eq!(id.version(), Some(0));
    /// assert!(KeysetId::from_hex("019a1f293253e41e").is_err()); // a V2 short id is not a full id
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`] if the text is not such an id.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes =
            hex::decode_vec(text, V2_ID_LEN, "keyset id").map_err(|_| Error::InvalidKeysetId)?;
        Self::from_bytes(&bytes)
    }

    /// Parses an id as JSON documents carry it: hex (16 digits for V1, 66
    /// for V2) or a legacy id (12 characters of the standard base64
    /// alphabet, not starting with `00` or `01`).
    ///
    /// ```
    /// use tally_cashu::nuts::nut02::KeysetId;
    /// let legacy = KeysetId::parse("I2yN+iRYfkzT").unwrap();
    /// assert_eq!(legacy.version(), None);
    /// assert_eq!(legacy.to_text(), "I2yN+iRYfkzT");
    /// assert_eq!(KeysetId::parse("009a1f293253e41e").unwrap().version(), Some(0));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`] if the text is neither.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() == LEGACY_ID_LEN {
            return Self::legacy_from_text(text);
        }
        Self::from_hex(text)
    }

    fn legacy_from_text(text: &str) -> Result<Self, Error> {
        let bytes: [u8; LEGACY_ID_LEN] = text
            .as_bytes()
            .try_into()
            .map_err(|_| Error::InvalidKeysetId)?;
        let base64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
        if !bytes.iter().all(base64) || text.starts_with("00") || text.starts_with("01") {
            return Err(Error::InvalidKeysetId);
        }
        Ok(Self::Legacy(bytes))
    }

    /// The version byte (`00` or `01`); `None` for a legacy id.
    #[must_use]
    pub fn version(&self) -> Option<u8> {
        match self {
            Self::V1(_) => Some(VERSION_V1),
            Self::V2(_) => Some(VERSION_V2),
            Self::Legacy(_) => None,
        }
    }

    /// The id bytes (a legacy id's are its 12 ASCII characters).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::V1(b) => b,
            Self::V2(b) => b,
            Self::Legacy(b) => b,
        }
    }

    /// Lowercase hex of [`KeysetId::as_bytes`].
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// The id as JSON documents write it: lowercase hex, or a legacy id's
    /// base64 text.
    #[must_use]
    pub fn to_text(&self) -> String {
        match self {
            Self::Legacy(b) => b.iter().map(|c| char::from(*c)).collect(),
            _ => self.to_hex(),
        }
    }

    /// The short id: the first 8 bytes (a V1 id is its own short id).
    #[must_use]
    pub fn short(&self) -> ShortKeysetId {
        let mut out = [0u8; SHORT_ID_LEN];
        for (o, b) in out.iter_mut().zip(self.as_bytes()) {
            *o = *b;
        }
        ShortKeysetId(out)
    }

    /// The V1 id of `keys`: `00 || SHA256(K_1 || K_2 || …)[..7]`, keys in
    /// ascending amount order.
    #[must_use]
    pub fn v1_from_keys(keys: &Keys) -> Self {
        let mut hasher = Sha256::new();
        for (_, key) in keys.iter() {
            hasher.update(key.to_bytes());
        }
        let digest = hasher.finalize();
        let mut id = [0u8; SHORT_ID_LEN];
        for (o, b) in id.iter_mut().skip(1).zip(digest.iter()) {
            *o = *b;
        }
        Self::V1(id)
    }

    /// The legacy id of `keys`: the first 12 characters of the standard
    /// base64 of `SHA256` of the keys' concatenated lowercase hex, keys in
    /// ascending amount order.
    #[must_use]
    pub fn legacy_from_keys(keys: &Keys) -> Self {
        use base64::Engine as _;
        let mut hasher = Sha256::new();
        let mut text = String::with_capacity(66);
        for (_, key) in keys.iter() {
            text.clear();
            hex::encode_to(&key.to_bytes(), &mut text);
            hasher.update(text.as_bytes());
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(hasher.finalize());
        let mut id = [0u8; LEGACY_ID_LEN];
        for (o, b) in id.iter_mut().zip(encoded.bytes()) {
            *o = b;
        }
        Self::Legacy(id)
    }

    /// The V2 id: `01 || SHA256("a1:K1,a2:K2,…|unit:u[|input_fee_ppk:f][|final_expiry:t]")`,
    /// the fee part only when non-zero, the expiry only when present and non-zero.
    #[must_use]
    pub fn v2_from_keys(
        keys: &Keys,
        unit: &CurrencyUnit,
        input_fee_ppk: u64,
        final_expiry: Option<u64>,
    ) -> Self {
        Self::v2_hash(keys, unit, input_fee_ppk, final_expiry.filter(|t| *t != 0))
    }

    /// The V2 id as Nutshell 0.21 derives it for a keyset whose final
    /// expiry is `0` (what its management RPC's `next-keyset` rotation
    /// sets by default): with `|final_expiry:0` in the preimage, which NUT-02
    /// says to omit. [`crate::nuts::nut01::Keyset::new`] accepts this form
    /// only for a keyset that declares `final_expiry: 0`.
    #[must_use]
    pub fn v2_from_keys_with_zero_expiry(
        keys: &Keys,
        unit: &CurrencyUnit,
        input_fee_ppk: u64,
    ) -> Self {
        Self::v2_hash(keys, unit, input_fee_ppk, Some(0))
    }

    fn v2_hash(
        keys: &Keys,
        unit: &CurrencyUnit,
        input_fee_ppk: u64,
        final_expiry: Option<u64>,
    ) -> Self {
        let mut hasher = Sha256::new();
        let mut item = String::with_capacity(96);
        for (i, (amount, key)) in keys.iter().enumerate() {
            item.clear();
            if i > 0 {
                item.push(',');
            }
            item.push_str(&amount.value().to_string());
            item.push(':');
            hex::encode_to(&key.to_bytes(), &mut item);
            hasher.update(item.as_bytes());
        }
        hasher.update(b"|unit:");
        hasher.update(unit.as_str().to_lowercase().as_bytes());
        if input_fee_ppk != 0 {
            hasher.update(format!("|input_fee_ppk:{input_fee_ppk}").as_bytes());
        }
        if let Some(expiry) = final_expiry {
            hasher.update(format!("|final_expiry:{expiry}").as_bytes());
        }
        let digest = hasher.finalize();
        let mut id = [VERSION_V2; V2_ID_LEN];
        for (o, b) in id.iter_mut().skip(1).zip(digest.iter()) {
            *o = *b;
        }
        Self::V2(id)
    }

    /// NUT-13 V1's integer form: the id bytes, big-endian, modulo 2^31 − 1
    /// (for a legacy id, the 9 bytes its base64 encodes, as Nutshell's
    /// backwards-compatible derivation does).
    #[must_use]
    pub fn to_u31(&self) -> u32 {
        let value = match self {
            Self::Legacy(text) => {
                use base64::Engine as _;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap_or_default();
                decoded
                    .iter()
                    .fold(0u128, |acc, b| acc << 8 | u128::from(*b))
            }
            _ => u128::from(u64::from_be_bytes(self.short().0)),
        };
        // The remainder is below 2^31 - 1, so it fits a u32.
        u32::try_from(value % 0x7fff_ffff).unwrap_or(0)
    }
}

serde_as_str!(KeysetId, to_text, parse);

impl fmt::Debug for KeysetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeysetId({})", self.to_text())
    }
}

impl fmt::Display for KeysetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// The first 8 bytes of a keyset id, as V4 tokens may carry it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortKeysetId([u8; SHORT_ID_LEN]);

impl ShortKeysetId {
    /// Wraps 8 id bytes whose version byte is known.
    ///
    /// # Errors
    /// [`Error::InvalidKeysetId`] if the version byte is not `00` or `01`.
    pub fn new(bytes: [u8; SHORT_ID_LEN]) -> Result<Self, Error> {
        match bytes.first() {
            Some(&VERSION_V1 | &VERSION_V2) => Ok(Self(bytes)),
            _ => Err(Error::InvalidKeysetId),
        }
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; SHORT_ID_LEN] {
        &self.0
    }

    /// Whether `id` starts with this short id.
    #[must_use]
    pub fn matches(&self, id: &KeysetId) -> bool {
        id.short() == *self
    }
}

impl fmt::Debug for ShortKeysetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortKeysetId({})", hex::encode(&self.0))
    }
}

/// Resolves a short id against candidate full ids.
///
/// ```
/// use tally_cashu::nuts::nut02::{resolve_short_id, KeysetId};
/// let full = KeysetId::from_hex(
///     "015ba18a8adcd02e715a58358eb618da4a4b3791151a4bee5e968bb88406ccf76a",
/// ).unwrap();
/// assert_eq!(resolve_short_id(&full.short(), [&full]).unwrap(), full);
/// ```
///
/// # Errors
/// [`Error::UnknownKeyset`] if none matches, [`Error::AmbiguousShortKeysetId`]
/// if more than one distinct id matches (NUT-00: token parsing must fail).
pub fn resolve_short_id<'a>(
    short: &ShortKeysetId,
    candidates: impl IntoIterator<Item = &'a KeysetId>,
) -> Result<KeysetId, Error> {
    let mut found: Option<KeysetId> = None;
    for id in candidates.into_iter().filter(|id| short.matches(id)) {
        match found {
            Some(existing) if existing != *id => return Err(Error::AmbiguousShortKeysetId),
            _ => found = Some(*id),
        }
    }
    found.ok_or(Error::UnknownKeyset)
}

/// A keyset's metadata as `GET /v1/keysets` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a keyset info object (id, unit, active, input_fee_ppk, final_expiry)")]
pub struct KeySetInfo {
    /// The keyset id.
    pub id: KeysetId,
    /// The currency unit.
    pub unit: CurrencyUnit,
    /// Whether the mint signs new outputs with this keyset.
    pub active: bool,
    /// Fee per input, in parts per thousand of the unit (absent or null = 0).
    #[serde(default, deserialize_with = "null_as_zero")]
    pub input_fee_ppk: u64,
    /// Unix time after which the mint may drop this keyset (absent or null = none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::json::field::final_expiry"
    )]
    pub final_expiry: Option<u64>,
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(crate::json::field::input_fee_ppk(d)?.unwrap_or(0))
}

/// Known keysets (of one wallet or one mint): resolves short ids and refuses
/// any keyset whose id or short id collides with a different known keyset
/// (NUT-02: "reject any attempt at importing new keysets which IDs collide").
#[derive(Clone, Debug, Default)]
pub struct KeysetIndex {
    keysets: Vec<KeySetInfo>,
}

impl KeysetIndex {
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `info`, or updates the entry with the same full id (a mint may
    /// deactivate a keyset). At most [`MAX_KEYSETS`] keysets.
    ///
    /// # Errors
    /// [`Error::KeysetIdCollision`] if another keyset has the same short id;
    /// [`Error::LimitExceeded`] past [`MAX_KEYSETS`].
    pub fn insert(&mut self, info: KeySetInfo) -> Result<(), Error> {
        if let Some(existing) = self.keysets.iter_mut().find(|k| k.id == info.id) {
            *existing = info;
            return Ok(());
        }
        if self.keysets.iter().any(|k| k.id.short() == info.id.short()) {
            return Err(Error::KeysetIdCollision);
        }
        ensure_within(Limit::Keysets, self.keysets.len() + 1, MAX_KEYSETS)?;
        self.keysets.push(info);
        Ok(())
    }

    /// The keyset with this full id.
    #[must_use]
    pub fn get(&self, id: &KeysetId) -> Option<&KeySetInfo> {
        self.keysets.iter().find(|k| k.id == *id)
    }

    /// Resolves a short id to the full id of a known keyset.
    ///
    /// # Errors
    /// As [`resolve_short_id`].
    pub fn resolve(&self, short: &ShortKeysetId) -> Result<KeysetId, Error> {
        resolve_short_id(short, self.keysets.iter().map(|k| &k.id))
    }

    /// All known keysets.
    pub fn iter(&self) -> impl Iterator<Item = &KeySetInfo> {
        self.keysets.iter()
    }

    /// How many keysets are known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keysets.len()
    }

    /// Whether no keyset is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keysets.is_empty()
    }
}
