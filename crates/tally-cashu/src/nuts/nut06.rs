//! NUT-06 mint information (`GET /v1/info`): the fields a wallet shows and
//! the NUT support it must check before relying on a feature (NUT-10/11/14:
//! a mint without support treats locked proofs as anyone-can-spend).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::nut01::CurrencyUnit;
use crate::Error;
use crate::amount::Amount;
use crate::crypto::PublicKey;
use crate::error::{Limit, ensure_within};
use crate::limits::MAX_JSON_LEN_BYTES;

/// A way to contact the mint operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The method (`email`, `nostr`…).
    pub method: String,
    /// The address for that method.
    pub info: String,
}

/// A mint or melt method setting (NUT-04/NUT-05).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "a method setting object (method, unit, min_amount, max_amount)")]
pub struct MethodSetting {
    /// The payment method (`bolt11`…).
    pub method: String,
    /// The unit.
    pub unit: CurrencyUnit,
    /// The smallest amount accepted.
    #[serde(default, deserialize_with = "crate::json::field::min_amount")]
    pub min_amount: Option<Amount>,
    /// The largest amount accepted.
    #[serde(default, deserialize_with = "crate::json::field::max_amount")]
    pub max_amount: Option<Amount>,
}

/// NUT-04/NUT-05 settings: methods and whether the operation is disabled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(expecting = "a method settings object (methods, disabled)")]
pub struct MethodSettings {
    /// The methods.
    #[serde(default)]
    pub methods: Vec<MethodSetting>,
    /// Whether the operation is disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// One NUT-17 websocket setting: the commands (subscription kinds) offered
/// for a method and unit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(expecting = "a websocket setting object (method, unit, commands)")]
pub struct WebSocketSetting {
    /// The payment method (`bolt11`…).
    pub method: String,
    /// The unit.
    pub unit: CurrencyUnit,
    /// The commands (`bolt11_mint_quote`, `bolt11_melt_quote`,
    /// `proof_state`…).
    #[serde(default)]
    pub commands: Vec<String>,
}

/// The most NUT-17 settings kept from one info response.
pub const WEBSOCKET_SETTINGS_MAX: usize = 64;

/// A mint's `GET /v1/info` response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MintInfo {
    /// The mint's name.
    pub name: Option<String>,
    /// The mint's public key.
    pub pubkey: Option<PublicKey>,
    /// `implementation/version`.
    pub version: Option<String>,
    /// Short description.
    pub description: Option<String>,
    /// Long description.
    pub description_long: Option<String>,
    /// Contacts.
    pub contact: Vec<Contact>,
    /// Message of the day (a wallet must show it).
    pub motd: Option<String>,
    /// Icon URL.
    pub icon_url: Option<String>,
    /// URLs the mint is reachable at.
    pub urls: Vec<String>,
    /// The mint's clock, unix seconds.
    pub time: Option<u64>,
    /// Terms of service URL.
    pub tos_url: Option<String>,
    /// NUT-04 (mint) settings.
    pub mint: Option<MethodSettings>,
    /// NUT-05 (melt) settings.
    pub melt: Option<MethodSettings>,
    /// NUT-17 websocket settings (empty when the mint offers none, or its
    /// setting is malformed: the websocket is optional).
    pub websocket: Vec<WebSocketSetting>,
    supported: BTreeSet<u32>,
}

#[derive(Deserialize)]
#[serde(expecting = "a mint info object")]
struct Wire {
    name: Option<String>,
    pubkey: Option<PublicKey>,
    version: Option<String>,
    description: Option<String>,
    description_long: Option<String>,
    #[serde(default)]
    contact: Option<Vec<serde_json::Value>>,
    motd: Option<String>,
    icon_url: Option<String>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::json::field::time")]
    time: Option<u64>,
    tos_url: Option<String>,
    #[serde(default)]
    nuts: BTreeMap<String, serde_json::Value>,
}

impl MintInfo {
    /// Parses a `GET /v1/info` response. Unknown fields and NUTs are ignored;
    /// the NUT-04/05 settings, if present, must be well formed.
    ///
    /// ```
    /// use tally_cashu::nuts::nut06::MintInfo;
    /// let info = MintInfo::from_json(r#"{"name":"m","nuts":{"11":{"supported":true}}}"#).unwrap();
    /// assert!(info.supports(11) && !info.supports(14));
    /// ```
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] past [`MAX_JSON_LEN_BYTES`]; [`Error::Json`].
    pub fn from_json(json: &str) -> Result<Self, Error> {
        ensure_within(Limit::JsonLength, json.len(), MAX_JSON_LEN_BYTES)?;
        let wire: Wire = serde_json::from_str(json).map_err(Error::Json)?;
        let mut info = Self {
            name: wire.name,
            pubkey: wire.pubkey,
            version: wire.version,
            description: wire.description,
            description_long: wire.description_long,
            contact: wire
                .contact
                .unwrap_or_default()
                .iter()
                .filter_map(parse_contact)
                .collect(),
            motd: wire.motd,
            icon_url: wire.icon_url,
            urls: wire.urls.unwrap_or_default(),
            time: wire.time,
            tos_url: wire.tos_url,
            ..Self::default()
        };
        for (nut, value) in wire.nuts {
            let Ok(number) = nut.parse::<u32>() else {
                continue;
            };
            info.add_nut(number, value)?;
        }
        Ok(info)
    }

    fn add_nut(&mut self, number: u32, value: serde_json::Value) -> Result<(), Error> {
        match number {
            4 | 5 => {
                let settings: MethodSettings =
                    serde_json::from_value(value).map_err(Error::Json)?;
                if !settings.disabled {
                    self.supported.insert(number);
                }
                if number == 4 {
                    self.mint = Some(settings);
                } else {
                    self.melt = Some(settings);
                }
            }
            17 => {
                // A list of settings; anything else (or a malformed list)
                // is no websocket support.
                let settings = value
                    .get("supported")
                    .cloned()
                    .and_then(|v| serde_json::from_value::<Vec<WebSocketSetting>>(v).ok())
                    .unwrap_or_default();
                if !settings.is_empty() {
                    self.supported.insert(number);
                }
                self.websocket = settings.into_iter().take(WEBSOCKET_SETTINGS_MAX).collect();
            }
            _ => {
                let supported = match value.get("supported") {
                    Some(serde_json::Value::Bool(b)) => *b,
                    Some(serde_json::Value::Array(a)) => !a.is_empty(),
                    _ => value.get("methods").is_some(),
                };
                if supported {
                    self.supported.insert(number);
                }
            }
        }
        Ok(())
    }

    /// Whether the mint offers the NUT-17 websocket `command` (e.g.
    /// `bolt11_mint_quote`) for `method` and `unit`.
    ///
    /// ```
    /// use tally_cashu::nuts::nut06::MintInfo;
    /// let info = MintInfo::from_json(
    ///     r#"{"nuts":{"17":{"supported":[{"method":"bolt11","unit":"sat","commands":["bolt11_mint_quote"]}]}}}"#,
    /// )
    /// .unwrap();
    /// assert!(info.supports_websocket("bolt11", "sat", "bolt11_mint_quote"));
    /// assert!(!info.supports_websocket("bolt11", "sat", "proof_state"));
    /// assert!(!info.supports_websocket("bolt11", "usd", "bolt11_mint_quote"));
    /// ```
    #[must_use]
    pub fn supports_websocket(&self, method: &str, unit: &str, command: &str) -> bool {
        self.websocket.iter().any(|s| {
            s.method == method && s.unit.as_str() == unit && s.commands.iter().any(|c| c == command)
        })
    }

    /// Whether the mint declares support for NUT `number`.
    #[must_use]
    pub fn supports(&self, number: u32) -> bool {
        self.supported.contains(&number)
    }
}

fn parse_contact(value: &serde_json::Value) -> Option<Contact> {
    let pair = match value {
        serde_json::Value::Object(o) => (o.get("method")?.as_str()?, o.get("info")?.as_str()?),
        serde_json::Value::Array(a) => match a.as_slice() {
            [m, i] => (m.as_str()?, i.as_str()?),
            _ => return None,
        },
        _ => return None,
    };
    Some(Contact {
        method: pair.0.to_owned(),
        info: pair.1.to_owned(),
    })
}
