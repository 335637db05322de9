//! JSON helpers: sequences whose length is checked while they are parsed,
//! so a hostile document cannot make the parser build a huge vector first,
//! and `u64` fields whose out-of-range values are reported as such, by name
//! (serde_json reads an integer past `u64::MAX` as a float, and would say
//! "invalid type: floating point").

use core::fmt;
use core::marker::PhantomData;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON array that stops parsing after `MAX + 1` items.
///
/// It keeps up to `MAX + 1` items so the caller can report the bound with a
/// typed [`crate::Error::LimitExceeded`] (`ensure_within(.., len, MAX)`);
/// anything longer is refused by the parser itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bounded<T, const MAX: usize>(pub(crate) Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Bounded<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(BoundedVisitor::<T, MAX>(PhantomData))
    }
}

impl<T: Serialize, const MAX: usize> Serialize for Bounded<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

struct BoundedVisitor<T, const MAX: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVisitor<T, MAX> {
    type Value = Bounded<T, MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {MAX} items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            if items.len() > MAX {
                return Err(serde::de::Error::custom(format_args!(
                    "array longer than {MAX} items"
                )));
            }
            items.push(item);
        }
        Ok(Bounded(items))
    }
}

/// A `u64` field named `0`: an integer beyond `u64` (or negative) is
/// "`field`: integer out of range", a fraction "`field`: not an integer".
struct U64Field(&'static str);

impl<'de> Visitor<'de> for U64Field {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a non-negative integer for `{}`", self.0)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| out_of_range(self.0))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| out_of_range(self.0))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| out_of_range(self.0))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
        if v.fract() == 0.0 {
            Err(out_of_range(self.0))
        } else {
            Err(E::custom(format_args!("`{}`: not an integer", self.0)))
        }
    }
}

fn out_of_range<E: serde::de::Error>(field: &str) -> E {
    E::custom(format_args!(
        "`{field}`: integer out of range (0 to {})",
        u64::MAX
    ))
}

/// `Option<u64>` for a field that may be absent or `null`.
struct OptionalU64Field(&'static str);

impl<'de> Visitor<'de> for OptionalU64Field {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a non-negative integer or null for `{}`", self.0)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        u64_named(d, self.0).map(Some)
    }
}

/// Reads a `u64` field named `field` (see [`U64Field`]).
pub(crate) fn u64_named<'de, D: Deserializer<'de>>(
    d: D,
    field: &'static str,
) -> Result<u64, D::Error> {
    d.deserialize_u64(U64Field(field))
}

/// Reads an optional `u64` field named `field` (absent or `null` is `None`).
pub(crate) fn optional_u64_named<'de, D: Deserializer<'de>>(
    d: D,
    field: &'static str,
) -> Result<Option<u64>, D::Error> {
    d.deserialize_option(OptionalU64Field(field))
}

/// `deserialize_with` functions for the optional `u64` fields of this crate's
/// JSON documents, each naming its field.
pub(crate) mod field {
    use serde::Deserializer;

    use super::optional_u64_named;
    use crate::amount::Amount;

    macro_rules! optional_u64_fields {
        ($($name:ident),* $(,)?) => {$(
            pub(crate) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
                optional_u64_named(d, stringify!($name))
            }
        )*};
    }

    macro_rules! optional_amount_fields {
        ($($name:ident),* $(,)?) => {$(
            pub(crate) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
                optional_u64_named(d, stringify!($name)).map(|v| v.map(Amount::new))
            }
        )*};
    }

    optional_u64_fields!(input_fee_ppk, final_expiry, time);
    optional_amount_fields!(min_amount, max_amount);
}
