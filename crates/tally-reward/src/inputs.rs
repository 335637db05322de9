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

use std::collections::BTreeMap;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::cid::Cid;
use crate::ident::{AccountId, EpochId};
use crate::{Error, Limits, jcs};

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
                        return Err(serde::de::Error::custom(format!(
                            "invalid counter name {name:?}"
                        )));
                    }
                    if out.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!("duplicate name {name:?}")));
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
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpochInputs {
    schema: &'static str,
    epoch: EpochId,
    window: Window,
    producer: AccountId,
    accounts: Vec<AccountCounters>,
}

impl EpochInputs {
    /// Builds inputs from parts, validating them as [`EpochInputs::from_json`]
    /// does (accounts may come in any order).
    ///
    /// # Errors
    /// [`Error::Inputs`] naming the problem.
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
        for a in &accounts {
            if a.counters.0.len() > MAX_COUNTERS {
                return Err(inputs_error("an account has more than 64 counters"));
            }
            if let Some(name) = a.counters.0.keys().find(|n| !valid_counter_name(n)) {
                return Err(inputs_error(&format!("invalid counter name {name:?}")));
            }
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
        Ok(Self {
            schema: INPUTS_SCHEMA,
            epoch,
            window,
            producer,
            accounts,
        })
    }

    /// Decodes and validates inputs JSON.
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
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            document: "inputs",
            message: e.to_string(),
        })?;
        if raw.schema != INPUTS_SCHEMA {
            return Err(inputs_error(&format!("unknown schema {:?}", raw.schema)));
        }
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

    /// The accounts, in id order.
    #[must_use]
    pub fn accounts(&self) -> &[AccountCounters] {
        &self.accounts
    }

    /// The canonical (JCS) bytes.
    ///
    /// # Errors
    /// Never for valid inputs; [`Error::NotCanonical`] otherwise.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, Error> {
        jcs::canonical(self)
    }

    /// The content id of the canonical bytes.
    ///
    /// # Errors
    /// As [`EpochInputs::canonical_bytes`].
    pub fn cid(&self) -> Result<Cid, Error> {
        Ok(Cid::of(&self.canonical_bytes()?))
    }
}

fn inputs_error(reason: &str) -> Error {
    Error::Inputs {
        reason: reason.to_owned(),
    }
}
