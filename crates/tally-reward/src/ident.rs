//! Validated identifiers: accounts and epochs.

use core::fmt;
use core::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The longest identifier, in bytes.
pub const MAX_ID_BYTES: usize = 128;

fn valid(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_ID_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:@/+-".contains(&b))
}

macro_rules! ident {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// 1 to [`MAX_ID_BYTES`] bytes of ASCII letters, digits and `._:@/+-`;
        /// ordered by bytes. Cloning shares the text (no allocation).
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `text`.
            ///
            /// # Errors
            /// [`Error::InvalidId`] when it is empty, too long or has a
            /// character outside the allowed set.
            pub fn new(text: impl Into<String>) -> Result<Self, Error> {
                let text = text.into();
                if valid(&text) {
                    Ok(Self(Arc::from(text)))
                } else {
                    Err(Error::InvalidId { what: $what, text: truncate(&text) })
                }
            }

            /// The identifier as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            /// As [`Self::new`], without an intermediate `String`.
            fn from_str(text: &str) -> Result<Self, Error> {
                if valid(text) {
                    Ok(Self(Arc::from(text)))
                } else {
                    Err(Error::InvalidId { what: $what, text: truncate(text) })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// At most 40 characters of a rejected identifier, for an error message.
fn truncate(text: &str) -> String {
    crate::de::shown(text, 40)
}

ident!(
    /// An account: a payee, the pool's funding account or the residual sink.
    AccountId,
    "account id"
);
ident!(
    /// An epoch: the period a reward run covers.
    EpochId,
    "epoch id"
);
ident!(
    /// A policy's name.
    PolicyId,
    "policy id"
);
