//! NUT-10 well-known secrets: `[kind, {"nonce", "data", "tags"}]`.
//!
//! A secret whose text does not start with `[` is a plain secret
//! ([`Nut10Secret::parse`] returns `Ok(None)`). A secret that starts with `[`
//! but is not a well-formed NUT-10 array is refused: a wallet must not accept
//! a proof whose spending conditions it cannot read (a mint might read them).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::{ConditionError, Limit, ensure_within};
use crate::limits::{MAX_NUT10_TAG_VALUES, MAX_NUT10_TAGS, MAX_SECRET_LEN_BYTES};
use crate::secret::Secret;

/// The kind of a well-known secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// NUT-11 pay-to-public-key.
    P2pk,
    /// NUT-14 hashed timelock contract.
    Htlc,
    /// Any other kind (kept verbatim; this crate cannot verify it).
    Other(String),
}

impl Kind {
    /// The wire name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::P2pk => "P2PK",
            Self::Htlc => "HTLC",
            Self::Other(name) => name,
        }
    }

    fn from_wire(name: String) -> Self {
        match name.as_str() {
            "P2PK" => Self::P2pk,
            "HTLC" => Self::Htlc,
            _ => Self::Other(name),
        }
    }
}

/// One tag: a key and zero or more values, all non-empty strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    /// The tag's name.
    pub key: String,
    /// The tag's values.
    pub values: Vec<String>,
}

impl Tag {
    /// A tag with `key` and `values`.
    #[must_use]
    pub fn new(key: &str, values: impl IntoIterator<Item = String>) -> Self {
        Self {
            key: key.to_owned(),
            values: values.into_iter().collect(),
        }
    }
}

/// A parsed well-known secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Nut10Secret {
    /// The kind.
    pub kind: Kind,
    /// A unique random string.
    pub nonce: String,
    /// Kind-specific data (a public key for P2PK, a hash for HTLC).
    pub data: String,
    /// Additional conditions.
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(expecting = "a NUT-10 secret body object (nonce, data, tags)")]
struct BodyIn {
    nonce: String,
    data: String,
    #[serde(default)]
    tags: Option<Vec<Vec<serde_json::Value>>>,
}

#[derive(Serialize)]
struct BodyOut<'a> {
    nonce: &'a str,
    data: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Vec<&'a str>>,
}

impl Nut10Secret {
    /// Parses a secret's text.
    ///
    /// ```
    /// use tally_cashu::nuts::nut10::{Kind, Nut10Secret};
    /// let text = r#"["P2PK",{"nonce":"aa","data":"02bb","tags":[["sigflag","SIG_INPUTS"]]}]"#;
    /// let secret = Nut10Secret::parse(text).unwrap().unwrap();
    /// assert_eq!(secret.kind, Kind::P2pk);
    /// assert!(Nut10Secret::parse("a7f3c1").unwrap().is_none()); // a plain secret
    /// assert!(Nut10Secret::parse(r#"["P2PK",{"nonce":"aa"}]"#).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] past [`MAX_SECRET_LEN_BYTES`],
    /// [`MAX_NUT10_TAGS`] or [`MAX_NUT10_TAG_VALUES`];
    /// [`ConditionError::MalformedSecret`] / [`ConditionError::MalformedTag`].
    pub fn parse(text: &str) -> Result<Option<Self>, Error> {
        ensure_within(Limit::SecretLength, text.len(), MAX_SECRET_LEN_BYTES)?;
        if !text.trim_start().starts_with('[') {
            return Ok(None);
        }
        let (kind, body): (String, BodyIn) =
            serde_json::from_str(text).map_err(|_| ConditionError::MalformedSecret)?;
        let raw_tags = body.tags.unwrap_or_default();
        ensure_within(Limit::Nut10Tags, raw_tags.len(), MAX_NUT10_TAGS)?;
        let tags = raw_tags
            .into_iter()
            .map(parse_tag)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Self {
            kind: Kind::from_wire(kind),
            nonce: body.nonce,
            data: body.data,
            tags,
        }))
    }

    /// Parses a proof's secret (see [`Nut10Secret::parse`]).
    ///
    /// # Errors
    /// As [`Nut10Secret::parse`].
    pub fn from_secret(secret: &Secret) -> Result<Option<Self>, Error> {
        Self::parse(secret.as_str())
    }

    /// The compact JSON text of this secret (what a proof's `secret` holds).
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] if the text exceeds [`MAX_SECRET_LEN_BYTES`].
    pub fn to_secret(&self) -> Result<Secret, Error> {
        let body = BodyOut {
            nonce: &self.nonce,
            data: &self.data,
            tags: self
                .tags
                .iter()
                .map(|t| {
                    core::iter::once(t.key.as_str())
                        .chain(t.values.iter().map(String::as_str))
                        .collect()
                })
                .collect(),
        };
        let text = serde_json::to_string(&(self.kind.as_str(), body)).map_err(Error::Json)?;
        Secret::new(text)
    }

    /// The tags named `key`.
    pub fn tags_named<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Tag> {
        self.tags.iter().filter(move |t| t.key == key)
    }
}

fn parse_tag(raw: Vec<serde_json::Value>) -> Result<Tag, Error> {
    ensure_within(
        Limit::Nut10TagValues,
        raw.len().saturating_sub(1),
        MAX_NUT10_TAG_VALUES,
    )?;
    let mut strings = raw.into_iter().map(|v| match v {
        serde_json::Value::String(s) if !s.is_empty() => Ok(s),
        _ => Err(ConditionError::MalformedTag),
    });
    let key = strings.next().ok_or(ConditionError::MalformedTag)??;
    let values = strings.collect::<Result<Vec<_>, _>>()?;
    Ok(Tag { key, values })
}
