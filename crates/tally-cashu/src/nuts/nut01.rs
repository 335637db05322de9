//! NUT-01: currency units, a keyset's public keys, and keysets whose id has
//! been verified against their keys.

use core::fmt;
use std::collections::BTreeMap;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::nut02::{KeySetInfo, KeysetId, VERSION_V1, VERSION_V2};
use crate::Error;
use crate::amount::Amount;
use crate::crypto::PublicKey;
use crate::encoding::serde_as_str;
use crate::error::{Limit, ensure_within};
use crate::json::Bounded;
use crate::limits::{MAX_JSON_LEN_BYTES, MAX_KEYS_PER_KEYSET, MAX_KEYSETS, MAX_UNIT_LEN_BYTES};

/// A currency unit (`sat`, `msat`, `usd`, `auth`…): 1 to
/// [`MAX_UNIT_LEN_BYTES`] printable ASCII characters, no whitespace.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyUnit(String);

impl CurrencyUnit {
    /// Checks and wraps `unit`.
    ///
    /// ```
    /// use tally_cashu::nuts::nut01::CurrencyUnit;
    /// assert_eq!(CurrencyUnit::new("sat").unwrap().as_str(), "sat");
    /// assert!(CurrencyUnit::new("s a t").is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidField`] if empty or not printable ASCII,
    /// [`Error::LimitExceeded`] if too long.
    pub fn new(unit: &str) -> Result<Self, Error> {
        ensure_within(Limit::UnitLength, unit.len(), MAX_UNIT_LEN_BYTES)?;
        if unit.is_empty() || !unit.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidField {
                field: "unit",
                reason: "not 1 or more printable ASCII characters",
            });
        }
        Ok(Self(unit.to_owned()))
    }

    /// The unit `sat`.
    #[must_use]
    pub fn sat() -> Self {
        Self("sat".to_owned())
    }

    /// The unit text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

serde_as_str!(CurrencyUnit, as_str, new);

impl fmt::Debug for CurrencyUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurrencyUnit({})", self.0)
    }
}

impl fmt::Display for CurrencyUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A keyset's public keys by amount: 1 to [`MAX_KEYS_PER_KEYSET`] positive
/// amounts, each with a compressed point. Iterates in ascending amount order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Keys(BTreeMap<Amount, PublicKey>);

impl Keys {
    /// Builds a key map from `(amount, key)` pairs.
    ///
    /// # Errors
    /// [`Error::ZeroAmount`] for amount 0, [`Error::InvalidField`] for a
    /// repeated amount or an empty map, [`Error::LimitExceeded`] past
    /// [`MAX_KEYS_PER_KEYSET`].
    pub fn new(pairs: impl IntoIterator<Item = (Amount, PublicKey)>) -> Result<Self, Error> {
        let mut map = BTreeMap::new();
        for (amount, key) in pairs {
            insert_key(&mut map, amount, key)?;
        }
        if map.is_empty() {
            return Err(Error::InvalidField {
                field: "keys",
                reason: "empty",
            });
        }
        Ok(Self(map))
    }

    /// The key for `amount`.
    #[must_use]
    pub fn get(&self, amount: Amount) -> Option<&PublicKey> {
        self.0.get(&amount)
    }

    /// `(amount, key)` pairs in ascending amount order.
    pub fn iter(&self) -> impl Iterator<Item = (Amount, &PublicKey)> {
        self.0.iter().map(|(a, k)| (*a, k))
    }

    /// The amounts (denominations), ascending.
    pub fn amounts(&self) -> impl Iterator<Item = Amount> + '_ {
        self.0.keys().copied()
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for a constructed `Keys` (kept for the clippy convention).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn insert_key(
    map: &mut BTreeMap<Amount, PublicKey>,
    amount: Amount,
    key: PublicKey,
) -> Result<(), Error> {
    if amount == Amount::ZERO {
        return Err(Error::ZeroAmount);
    }
    ensure_within(Limit::KeysPerKeyset, map.len() + 1, MAX_KEYS_PER_KEYSET)?;
    if map.insert(amount, key).is_some() {
        return Err(Error::InvalidField {
            field: "keys",
            reason: "repeated amount",
        });
    }
    Ok(())
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl Serialize for Keys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (amount, key) in &self.0 {
            map.serialize_entry(&amount.value().to_string(), key)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(KeysVisitor)
    }
}

struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = Keys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map from decimal amounts to compressed public keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Keys, A::Error> {
        use serde::de::Error as _;
        let mut map = BTreeMap::new();
        while let Some(amount) = access.next_key::<std::borrow::Cow<'de, str>>()? {
            let amount = parse_amount(&amount).map_err(A::Error::custom)?;
            let key: PublicKey = access.next_value()?;
            insert_key(&mut map, amount, key).map_err(A::Error::custom)?;
        }
        Keys::new(map).map_err(A::Error::custom)
    }
}

/// A canonical decimal `u64` (no sign, no leading zeros, no spaces).
fn parse_amount(text: &str) -> Result<Amount, Error> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let invalid = Error::InvalidField {
        field: "amount",
        reason: if digits {
            "integer out of range"
        } else {
            "not a canonical decimal u64"
        },
    };
    let value: u64 = text.parse().map_err(|_| invalid)?;
    if value.to_string() != text {
        return Err(Error::InvalidField {
            field: "amount",
            reason: "not a canonical decimal u64",
        });
    }
    Ok(Amount::new(value))
}

/// A keyset whose id has been recomputed from its keys and metadata.
///
/// The only constructors verify the id, so a `Keyset` value always has the
/// id its keys imply (a mint cannot make a wallet use keys under a false id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyset {
    info: KeySetInfo,
    keys: Keys,
}

/// The wire form of one keyset in `GET /v1/keys` responses.
#[derive(Deserialize, Serialize)]
#[serde(expecting = "a keyset object (id, unit, active, input_fee_ppk, final_expiry, keys)")]
struct KeysetWire {
    id: KeysetId,
    unit: CurrencyUnit,
    #[serde(default = "default_active")]
    active: bool,
    #[serde(default, deserialize_with = "crate::json::field::input_fee_ppk")]
    input_fee_ppk: Option<u64>,
    #[serde(default, deserialize_with = "crate::json::field::final_expiry")]
    final_expiry: Option<u64>,
    keys: Keys,
}

fn default_active() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(expecting = "a keys response object (keysets)")]
struct KeysResponseWire {
    keysets: Bounded<KeysetWire, MAX_KEYSETS>,
}

impl Keyset {
    /// Builds a keyset and checks that `info.id` is the id of `keys` (V1 and
    /// legacy: from the keys; V2: from the keys, unit, fee and final expiry).
    ///
    /// # Errors
    /// [`Error::KeysetIdMismatch`] if the claimed id is not the computed one.
    pub fn new(info: KeySetInfo, keys: Keys) -> Result<Self, Error> {
        let computed = match info.id.version() {
            None => KeysetId::legacy_from_keys(&keys),
            Some(VERSION_V1) => KeysetId::v1_from_keys(&keys),
            Some(VERSION_V2) => {
                KeysetId::v2_from_keys(&keys, &info.unit, info.input_fee_ppk, info.final_expiry)
            }
            Some(other) => return Err(Error::UnsupportedKeysetVersion(other)),
        };
        // Nutshell 0.21 hashes a zero final expiry in (see
        // `KeysetId::v2_from_keys_with_zero_expiry`); accepted for exactly
        // that declared metadata, the keys still bound by the hash.
        let nutshell_zero_expiry = info.final_expiry == Some(0)
            && info.id.version() == Some(VERSION_V2)
            && KeysetId::v2_from_keys_with_zero_expiry(&keys, &info.unit, info.input_fee_ppk)
                == info.id;
        if computed != info.id && !nutshell_zero_expiry {
            return Err(Error::KeysetIdMismatch {
                claimed: info.id,
                computed,
            });
        }
        Ok(Self { info, keys })
    }

    /// Parses one keyset object (`{"id", "unit", "active", "input_fee_ppk",
    /// "final_expiry", "keys"}`) and verifies its id.
    ///
    /// # Errors
    /// [`Error::Json`] for a malformed object (including invalid keys), and as
    /// [`Keyset::new`].
    pub fn from_json(json: &str) -> Result<Self, Error> {
        ensure_within(Limit::JsonLength, json.len(), MAX_JSON_LEN_BYTES)?;
        let wire: KeysetWire = serde_json::from_str(json).map_err(Error::Json)?;
        Self::from_wire(wire)
    }

    fn from_wire(wire: KeysetWire) -> Result<Self, Error> {
        let info = KeySetInfo {
            id: wire.id,
            unit: wire.unit,
            active: wire.active,
            input_fee_ppk: wire.input_fee_ppk.unwrap_or(0),
            final_expiry: wire.final_expiry,
        };
        Self::new(info, wire.keys)
    }

    /// Parses a `GET /v1/keys` (or `/v1/keys/{id}`) response and verifies
    /// every keyset's id. The first invalid keyset fails the whole response.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] past [`MAX_JSON_LEN_BYTES`] or [`MAX_KEYSETS`],
    /// [`Error::Json`], and as [`Keyset::new`].
    pub fn from_keys_response(json: &str) -> Result<Vec<Self>, Error> {
        ensure_within(Limit::JsonLength, json.len(), MAX_JSON_LEN_BYTES)?;
        let wire: KeysResponseWire = serde_json::from_str(json).map_err(Error::Json)?;
        ensure_within(Limit::Keysets, wire.keysets.0.len(), MAX_KEYSETS)?;
        wire.keysets.0.into_iter().map(Self::from_wire).collect()
    }

    /// The keyset's id and metadata.
    #[must_use]
    pub fn info(&self) -> &KeySetInfo {
        &self.info
    }

    /// The keyset id.
    #[must_use]
    pub fn id(&self) -> KeysetId {
        self.info.id
    }

    /// The public keys.
    #[must_use]
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The key that signs `amount`.
    ///
    /// # Errors
    /// [`Error::NoKeyForAmount`] if the keyset has no such denomination.
    pub fn key(&self, amount: Amount) -> Result<&PublicKey, Error> {
        self.keys.get(amount).ok_or(Error::NoKeyForAmount)
    }

    /// The keyset as the JSON object a mint serves.
    ///
    /// # Errors
    /// [`Error::Json`] (never for a valid keyset).
    pub fn to_json(&self) -> Result<String, Error> {
        let wire = KeysetWire {
            id: self.info.id,
            unit: self.info.unit.clone(),
            active: self.info.active,
            input_fee_ppk: Some(self.info.input_fee_ppk),
            final_expiry: self.info.final_expiry,
            keys: self.keys.clone(),
        };
        serde_json::to_string(&wire).map_err(Error::Json)
    }
}

/// Parses a `GET /v1/keysets` response (`{"keysets": [KeySetInfo…]}`).
///
/// # Errors
/// [`Error::LimitExceeded`] past [`MAX_JSON_LEN_BYTES`] or [`MAX_KEYSETS`];
/// [`Error::Json`] for a malformed document.
pub fn parse_keysets_response(json: &str) -> Result<Vec<KeySetInfo>, Error> {
    #[derive(Deserialize)]
    #[serde(expecting = "a keysets response object (keysets)")]
    struct Wire {
        keysets: Bounded<KeySetInfo, MAX_KEYSETS>,
    }
    ensure_within(Limit::JsonLength, json.len(), MAX_JSON_LEN_BYTES)?;
    let wire: Wire = serde_json::from_str(json).map_err(Error::Json)?;
    ensure_within(Limit::Keysets, wire.keysets.0.len(), MAX_KEYSETS)?;
    Ok(wire.keysets.0)
}
