//! Byte encodings used on the wire: hex, base64url and the V4 token's CBOR.

pub mod base64url;
pub(crate) mod cbor;
pub mod hex;

/// Implements `Serialize` and `Deserialize` for a type that travels as a
/// JSON string: `$to` renders it, `$from` parses (and validates) it.
macro_rules! serde_as_str {
    ($ty:ty, $to:ident, $from:ident) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.$to().as_ref())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::$from(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use serde_as_str;
