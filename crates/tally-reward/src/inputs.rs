//! Epoch inputs: what was measured in an epoch, per account.
//!
//! JSON (unknown fields refused):
//!
//! ```json
//! {"schema":"tally/reward/inputs/v1","epoch":"2026-w47",
//!  "window":{"start":1763337600,"end":1763942400},"producer":"meter-eu-1",
//!  "accounts":[{"account":"alice","counters":{"bytes_stored":1200,"uptime_seconds":86400}}]}
//! ```
//!
//! Counters are named non-negative integers (`u64`); a negative, fractional
//! or larger value, a duplicate account, a duplicate counter name, more
//! than [`Limits::max_accounts`] accounts, more than [`MAX_COUNTERS`]
//! counters per account, a counter name that is not an identifier, an empty
//! window, or more than [`Limits::max_input_bytes`] bytes is a typed error.
//! The content id is the [`Cid`] of the JCS bytes, which do not depend on
//! the order in which accounts or counters were written.
//!
//! Decoding streams ([`EpochInputs::from_reader`], and
//! [`EpochInputs::from_json`] over bytes in memory): a hand-written reader of
//! exactly this document through a fixed buffer, interning counter names, so
//! that a 1,000,000-account epoch is decoded without holding the document
//! and without a `String` per counter (figures in `docs/BENCHMARKS.md`).
//! [`EpochInputs::from_json_reference`] is the serde decoder it is tested
//! against.

use std::collections::BTreeMap;
use std::io::Read;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::cid::Cid;
use crate::ident::{AccountId, EpochId};
use crate::{Error, Limits, jcs};

mod stream;

/// The inputs schema this version reads.
pub const INPUTS_SCHEMA: &str = "tally/reward/inputs/v1";
/// The most counters one account may carry.
pub const MAX_COUNTERS: usize = 64;

/// The time window an epoch covers, in Unix seconds, `start < end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// First second covered.
    pub start: u64,
    /// First second not covered.
    pub end: u64,
}

/// One account's counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCounters {
    /// The account.
    pub account: AccountId,
    /// Counter name -> value.
    pub counters: Counters,
}

/// Named values (counters, weights), refusing duplicate or invalid names
/// and more than [`MAX_COUNTERS`] entries while decoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NamedValues<V>(pub BTreeMap<String, V>);

impl<V> Default for NamedValues<V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

/// An account's counters: name -> value.
pub type Counters = NamedValues<u64>;

impl<'de, V: Deserialize<'de>> Deserialize<'de> for NamedValues<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Visit<V> {
            type Value = NamedValues<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of names to non-negative integers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((name, value)) = map.next_entry::<String, V>()? {
                    if out.len() >= MAX_COUNTERS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_COUNTERS} names"
                        )));
                    }
                    if !valid_counter_name(&name) {
                        return Err(serde::de::Error::custom(format_args!(
                            "invalid name \"{}\": 1 to 64 of a-z, 0-9 and _",
                            crate::de::shown(&name, 64)
                        )));
                    }
                    if out.contains_key(&name) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate name \"{name}\""
                        )));
                    }
                    out.insert(name, value);
                }
                Ok(NamedValues(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// A counter name: 1 to 64 bytes of ASCII lower-case letters, digits and `_`.
#[must_use]
pub fn valid_counter_name(name: &str) -> bool {
    valid_counter_name_bytes(name.as_bytes())
}

/// [`valid_counter_name`] over bytes (such a name is ASCII).
fn valid_counter_name_bytes(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    schema: String,
    epoch: EpochId,
    window: Window,
    producer: AccountId,
    accounts: Vec<AccountCounters>,
}

/// Decoded, validated epoch inputs, accounts in id order.
///
/// Held compactly: the distinct counter names once, and per account its
/// `(name index, value)` pairs in name order, so that computing does not
/// compare strings.
#[derive(Clone, Debug)]
pub struct EpochInputs {
    epoch: EpochId,
    window: Window,
    producer: AccountId,
    names: Vec<String>,
    ids: Vec<AccountId>,
    /// `offsets[i]..offsets[i + 1]` are account `i`'s entries in `values`.
    offsets: Vec<usize>,
    values: Vec<(u16, u64)>,
    /// The CID of the canonical bytes, once computed (the inputs never
    /// change after they are built).
    cid: std::sync::OnceLock<Cid>,
}

/// How the canonical inputs begin: their accounts come first (JCS order).
const ACCOUNTS_KEY: &[u8] = b"{\"accounts\":";

impl PartialEq for EpochInputs {
    fn eq(&self, other: &Self) -> bool {
        // The memoized CID is a function of the rest.
        self.epoch == other.epoch
            && self.window == other.window
            && self.producer == other.producer
            && self.names == other.names
            && self.ids == other.ids
            && self.offsets == other.offsets
            && self.values == other.values
    }
}

impl Eq for EpochInputs {}

/// One account's counters, borrowed from [`EpochInputs`].
#[derive(Clone, Copy, Debug)]
pub struct AccountView<'a> {
    /// The account.
    pub account: &'a AccountId,
    names: &'a [String],
    values: &'a [(u16, u64)],
}

impl<'a> AccountView<'a> {
    /// The counters, in name order.
    pub fn counters(&self) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let names = self.names;
        self.values
            .iter()
            .map(move |&(n, v)| (names.get(usize::from(n)).map_or("", String::as_str), v))
    }

    /// `(name index, value)` pairs, indexes into [`EpochInputs::counter_names`].
    #[must_use]
    pub fn entries(&self) -> &'a [(u16, u64)] {
        self.values
    }
}

impl EpochInputs {
    /// Builds inputs from parts, validating them as [`EpochInputs::from_json`]
    /// does (accounts may come in any order).
    ///
    /// # Errors
    /// [`Error::Inputs`] naming the problem, [`Error::TooManyAccounts`],
    /// [`Error::DuplicateAccount`].
    pub fn new(
        epoch: EpochId,
        window: Window,
        producer: AccountId,
        mut accounts: Vec<AccountCounters>,
        limits: &Limits,
    ) -> Result<Self, Error> {
        if window.start >= window.end {
            return Err(inputs_error("the window must have start < end"));
        }
        if accounts.len() > limits.max_accounts {
            return Err(Error::TooManyAccounts {
                count: accounts.len(),
                max: limits.max_accounts,
            });
        }
        let mut names: BTreeMap<String, u16> = BTreeMap::new();
        for a in &accounts {
            if a.counters.0.len() > MAX_COUNTERS {
                return Err(inputs_error("an account has more than 64 counters"));
            }
            for name in a.counters.0.keys() {
                if !valid_counter_name(name) {
                    return Err(inputs_error(&format!(
                        "invalid counter name \"{}\"",
                        crate::de::shown(name, 64)
                    )));
                }
                if !names.contains_key(name.as_str()) {
                    if names.len() >= usize::from(u16::MAX) {
                        return Err(inputs_error("more than 65,535 distinct counter names"));
                    }
                    names.insert(name.clone(), 0);
                }
            }
        }
        // Indexes in name order, so each account's entries stay sorted.
        for (i, index) in names.values_mut().enumerate() {
            *index = u16::try_from(i).map_err(|_| inputs_error("too many counter names"))?;
        }
        accounts.sort_unstable_by(|a, b| a.account.cmp(&b.account));
        if let Some(pair) = accounts.windows(2).find(|p| match p {
            [a, b] => a.account == b.account,
            _ => false,
        }) && let Some(first) = pair.first()
        {
            return Err(Error::DuplicateAccount {
                account: first.account.clone(),
            });
        }
        let total: usize = accounts.iter().map(|a| a.counters.0.len()).sum();
        let mut values = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(accounts.len() + 1);
        let mut ids = Vec::with_capacity(accounts.len());
        offsets.push(0);
        for a in &accounts {
            for (name, &v) in &a.counters.0 {
                let index = names.get(name.as_str()).copied().unwrap_or_default();
                values.push((index, v));
            }
            offsets.push(values.len());
            ids.push(a.account.clone());
        }
        let names = names.into_keys().collect();
        Ok(Self {
            epoch,
            window,
            producer,
            names,
            ids,
            offsets,
            values,
            cid: std::sync::OnceLock::new(),
        })
    }

    /// Decodes and validates inputs JSON held in memory: [`EpochInputs::from_reader`]
    /// over `bytes`, after refusing more than [`Limits::max_input_bytes`].
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::Json`] (syntax, unknown fields,
    /// negative or non-integer or oversized values, duplicate counters),
    /// [`Error::Inputs`], [`Error::TooManyAccounts`],
    /// [`Error::DuplicateAccount`].
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_input_bytes {
            return Err(Error::TooLarge {
                document: "inputs",
                size: bytes.len(),
                max: limits.max_input_bytes,
            });
        }
        Self::from_reader(bytes, limits)
    }

    /// Decodes and validates inputs JSON as it streams from `reader`,
    /// without holding the document: the streaming decoder (module
    /// `inputs::stream`) reads through a fixed buffer, interns counter
    /// names, keeps at most [`Limits::max_accounts`] accounts and reads at
    /// most [`Limits::max_input_bytes`] bytes. It accepts exactly what
    /// [`EpochInputs::from_json_reference`] accepts and decodes it to the
    /// same inputs (so the same canonical bytes and CID); errors have the
    /// same kind, and a [`Error::Json`] names the field that failed.
    ///
    /// # Errors
    /// As [`EpochInputs::from_json`]; [`Error::TooLarge`] once more than
    /// the bound was read (`size` is then the bytes read, the bound plus
    /// at most one buffer); a read failure is [`Error::Json`].
    pub fn from_reader<R: Read>(reader: R, limits: &Limits) -> Result<Self, Error> {
        let parsed = stream::parse(reader, limits)?;
        Self::from_parsed(parsed, limits)
    }

    /// The whole-document checks, in [`EpochInputs::from_json_reference`]'s
    /// order, and the compact form in account and name order.
    fn from_parsed(p: stream::Parsed, limits: &Limits) -> Result<Self, Error> {
        check_schema(&p.schema)?;
        if p.window.start >= p.window.end {
            return Err(inputs_error("the window must have start < end"));
        }
        if p.accounts > limits.max_accounts {
            return Err(Error::TooManyAccounts {
                count: p.accounts,
                max: limits.max_accounts,
            });
        }
        if p.names.len() > usize::from(u16::MAX) {
            return Err(inputs_error("more than 65,535 distinct counter names"));
        }
        // Names in order; `rank[interned] = index in that order`.
        let mut order: Vec<u32> = (0..p.names.len())
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        order.sort_unstable_by(|&a, &b| name_at(&p.names, a).cmp(name_at(&p.names, b)));
        let mut rank = vec![0u16; p.names.len()];
        for (r, &interned) in order.iter().enumerate() {
            if let Some(slot) = rank.get_mut(interned as usize) {
                *slot = u16::try_from(r).map_err(|_| inputs_error("too many counter names"))?;
            }
        }
        let mut names_sorted = Vec::with_capacity(p.names.len());
        let mut names = p.names;
        for &interned in &order {
            names_sorted.push(
                names
                    .get_mut(interned as usize)
                    .map(std::mem::take)
                    .unwrap_or_default(),
            );
        }
        // Accounts in id order; the first duplicate in that order is the one
        // reported, as `new` reports it.
        let count = p.ids.len();
        let mut by_id: Vec<u32> = (0..count)
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        let sorted = p.ids.windows(2).all(|w| match w {
            [a, b] => a < b,
            _ => true,
        });
        if !sorted {
            by_id.sort_unstable_by(|&a, &b| p.ids.get(a as usize).cmp(&p.ids.get(b as usize)));
            if let Some(pair) = by_id.windows(2).find(|w| match w {
                [a, b] => p.ids.get(*a as usize) == p.ids.get(*b as usize),
                _ => false,
            }) && let Some(first) = pair.first().and_then(|&i| p.ids.get(i as usize))
            {
                return Err(Error::DuplicateAccount {
                    account: first.clone(),
                });
            }
        }
        // The ids move to their place (no reference count touched).
        let mut slots: Vec<Option<AccountId>> = p.ids.into_iter().map(Some).collect();
        let mut ids = Vec::with_capacity(count);
        let mut offsets = Vec::with_capacity(count.saturating_add(1));
        let mut values = Vec::with_capacity(p.values.len());
        offsets.push(0);
        for &i in &by_id {
            let i = i as usize;
            let from = p.offsets.get(i).copied().unwrap_or(0);
            let to = p.offsets.get(i.saturating_add(1)).copied().unwrap_or(from);
            let start = values.len();
            for &(n, v) in p.values.get(from..to).unwrap_or(&[]) {
                values.push((rank.get(n as usize).copied().unwrap_or_default(), v));
            }
            if let Some(entries) = values.get_mut(start..) {
                entries.sort_unstable_by_key(|&(n, _)| n);
            }
            offsets.push(values.len());
            if let Some(id) = slots.get_mut(i).and_then(Option::take) {
                ids.push(id);
            }
        }
        Ok(Self {
            epoch: p.epoch,
            window: p.window,
            producer: p.producer,
            names: names_sorted,
            ids,
            offsets,
            values,
            cid: std::sync::OnceLock::new(),
        })
    }

    /// The reference decoder: serde_json under the workspace's strict layer
    /// into owned [`AccountCounters`] (a `String` and a map per account),
    /// then [`EpochInputs::new`]. Several times slower and larger than
    /// [`EpochInputs::from_json`]; kept as the independent decoder the
    /// streaming one is tested against.
    ///
    /// # Errors
    /// As [`EpochInputs::from_json`].
    pub fn from_json_reference(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_input_bytes {
            return Err(Error::TooLarge {
                document: "inputs",
                size: bytes.len(),
                max: limits.max_input_bytes,
            });
        }
        let raw: Raw = crate::de::from_json("inputs", bytes)?;
        check_schema(&raw.schema)?;
        Self::new(raw.epoch, raw.window, raw.producer, raw.accounts, limits)
    }

    /// The epoch.
    #[must_use]
    pub fn epoch(&self) -> &EpochId {
        &self.epoch
    }

    /// The window.
    #[must_use]
    pub fn window(&self) -> Window {
        self.window
    }

    /// Who produced the inputs.
    #[must_use]
    pub fn producer(&self) -> &AccountId {
        &self.producer
    }

    /// The number of accounts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no account.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The accounts, in id order.
    #[must_use]
    pub fn account_ids(&self) -> &[AccountId] {
        &self.ids
    }

    /// The distinct counter names, in order.
    #[must_use]
    pub fn counter_names(&self) -> &[String] {
        &self.names
    }

    /// The accounts with their counters, in id order.
    pub fn accounts(&self) -> impl ExactSizeIterator<Item = AccountView<'_>> + '_ {
        self.ids.iter().enumerate().map(move |(i, account)| {
            let from = self.offsets.get(i).copied().unwrap_or(0);
            let to = self.offsets.get(i + 1).copied().unwrap_or(from);
            AccountView {
                account,
                names: &self.names,
                values: self.values.get(from..to).unwrap_or(&[]),
            }
        })
    }

    /// The accounts as owned [`AccountCounters`] (what [`EpochInputs::new`]
    /// takes).
    #[must_use]
    pub fn to_accounts(&self) -> Vec<AccountCounters> {
        self.accounts()
            .map(|a| AccountCounters {
                account: a.account.clone(),
                counters: NamedValues(a.counters().map(|(n, v)| (n.to_owned(), v)).collect()),
            })
            .collect()
    }

    /// The canonical (JCS) bytes.
    ///
    /// Written directly, without building a JSON tree: the members are in
    /// JCS order (`accounts`, `epoch`, `producer`, `schema`, `window`;
    /// `account`, `counters`; `end`, `start`), counter names are sorted and
    /// ASCII (so byte order is UTF-16 order), and identifiers, counter names
    /// and the schema use an alphabet that JSON never escapes. The tests check
    /// it against the generic RFC 8785 writer ([`EpochInputs::canonical_bytes_generic`]).
    ///
    /// # Errors
    /// Never for valid inputs.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(self.canonical_parts().0)
    }

    /// The canonical bytes, and where the accounts' array in them ends (it
    /// starts right after `{"accounts":`).
    fn canonical_parts(&self) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(
            self.values
                .len()
                .saturating_mul(24)
                .saturating_add(self.ids.len().saturating_mul(40))
                .saturating_add(256),
        );
        out.extend_from_slice(ACCOUNTS_KEY);
        self.write_accounts(&mut out);
        let accounts_end = out.len();
        out.extend_from_slice(b",\"epoch\":");
        string(&mut out, self.epoch.as_str());
        out.extend_from_slice(b",\"producer\":");
        string(&mut out, self.producer.as_str());
        out.extend_from_slice(b",\"schema\":");
        string(&mut out, INPUTS_SCHEMA);
        out.extend_from_slice(b",\"window\":{\"end\":");
        number(&mut out, self.window.end);
        out.extend_from_slice(b",\"start\":");
        number(&mut out, self.window.start);
        out.extend_from_slice(b"}}");
        (out, accounts_end)
    }

    /// The canonical (JCS) bytes of the accounts alone (the JSON array of
    /// [`EpochInputs::to_accounts`]), written directly as
    /// [`EpochInputs::canonical_bytes`] writes them: what the service keys
    /// a snapshot of measurements on, without an owned copy of the accounts.
    #[must_use]
    pub fn accounts_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.values
                .len()
                .saturating_mul(24)
                .saturating_add(self.ids.len().saturating_mul(40))
                .saturating_add(2),
        );
        self.write_accounts(&mut out);
        out
    }

    fn write_accounts(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, a) in self.accounts().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"account\":");
            string(out, a.account.as_str());
            out.extend_from_slice(b",\"counters\":{");
            for (j, (name, value)) in a.counters().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                string(out, name);
                out.push(b':');
                number(out, value);
            }
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }

    /// The canonical bytes through the generic RFC 8785 writer (a JSON tree,
    /// then [`jcs::to_canonical`]): slower, and the reference the direct
    /// writer is tested against.
    ///
    /// # Errors
    /// Never for valid inputs.
    pub fn canonical_bytes_generic(&self) -> Result<Vec<u8>, Error> {
        jcs::canonical(self)
    }

    /// The content id of the canonical bytes.
    ///
    /// # Errors
    /// As [`EpochInputs::canonical_bytes`].
    pub fn cid(&self) -> Result<Cid, Error> {
        if let Some(cid) = self.cid.get() {
            return Ok(*cid);
        }
        let cid = Cid::of(&self.canonical_bytes()?);
        Ok(*self.cid.get_or_init(|| cid))
    }

    /// The content id of the canonical bytes ([`EpochInputs::cid`], then
    /// remembered), and `accounts` called with the canonical bytes of the
    /// accounts alone ([`EpochInputs::accounts_canonical_bytes`]'s, a part
    /// of the same bytes): one canonical encoding for both.
    ///
    /// # Errors
    /// As [`EpochInputs::canonical_bytes`].
    pub fn cid_with_accounts(&self, accounts: impl FnOnce(&[u8])) -> Result<Cid, Error> {
        let (bytes, end) = self.canonical_parts();
        let part = bytes
            .get(ACCOUNTS_KEY.len()..end)
            .ok_or(Error::InvariantBreach {
                reason: "the canonical inputs do not start with their accounts".to_owned(),
            })?;
        accounts(part);
        let cid = Cid::of(&bytes);
        Ok(*self.cid.get_or_init(|| cid))
    }
}

impl Serialize for EpochInputs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
        struct Counters<'a>(AccountView<'a>);
        impl Serialize for Counters<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.values.len()))?;
                for (n, v) in self.0.counters() {
                    m.serialize_entry(n, &v)?;
                }
                m.end()
            }
        }
        struct Account<'a>(AccountView<'a>);
        impl Serialize for Account<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut st = s.serialize_struct("AccountCounters", 2)?;
                st.serialize_field("account", self.0.account)?;
                st.serialize_field("counters", &Counters(self.0))?;
                st.end()
            }
        }
        struct Accounts<'a>(&'a EpochInputs);
        impl Serialize for Accounts<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for a in self.0.accounts() {
                    seq.serialize_element(&Account(a))?;
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("EpochInputs", 5)?;
        st.serialize_field("schema", INPUTS_SCHEMA)?;
        st.serialize_field("epoch", &self.epoch)?;
        st.serialize_field("window", &self.window)?;
        st.serialize_field("producer", &self.producer)?;
        st.serialize_field("accounts", &Accounts(self))?;
        st.end()
    }
}

/// A JSON string of text JSON never escapes (identifiers, counter names,
/// the schema).
fn string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(value.to_string().as_bytes());
}

fn name_at(names: &[String], index: u32) -> &str {
    names.get(index as usize).map_or("", String::as_str)
}

fn check_schema(schema: &str) -> Result<(), Error> {
    if schema == INPUTS_SCHEMA {
        return Ok(());
    }
    Err(inputs_error(&format!(
        "unknown schema \"{}\" (this version reads {INPUTS_SCHEMA})",
        crate::de::shown(schema, 64)
    )))
}

fn inputs_error(reason: &str) -> Error {
    Error::Inputs {
        reason: reason.to_owned(),
    }
}
