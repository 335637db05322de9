//! Strict JSON decoding, the one way every document of the crate is read.
//!
//! serde's derived decoders also accept a struct written as a JSON array of
//! its fields in order (`["tally/reward/inputs/v1","e1",…]`), which would
//! give a second spelling of every document; they report an integer beyond
//! `u64` as `invalid type: floating point 1.8446744073709552e19`, and name
//! internal types in their messages. Every `from_json` of the crate decodes
//! through [`Strict`] instead, a wrapper around serde_json's deserializer
//! that, at every depth:
//!
//! * accepts a struct only as a JSON object (an array is `invalid type:
//!   sequence, expected an object`);
//! * reads integers itself: a negative number and one beyond the field's
//!   type are `integer out of range: expected 0 to MAX`, a number written
//!   with a fraction or an exponent is `not an integer`;
//! * records the path of the value that failed, so that the message starts
//!   with it: `accounts[2].counters.bytes_stored: integer out of range: …`.
//!
//! Enum variants are read as serde_json reads them (the crate's enums are
//! unit variants written as strings).

use core::cell::RefCell;
use core::fmt::{self, Write as _};

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};

use crate::Error;

/// Decodes `bytes` as `T`, strictly (see the module docs).
///
/// # Errors
/// [`Error::Json`] for `document`, its message prefixed with the path of
/// the value that failed.
pub(crate) fn from_json<T: DeserializeOwned>(
    document: &'static str,
    bytes: &[u8],
) -> Result<T, Error> {
    let track = Track::default();
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let strict = Strict {
        inner: &mut json,
        track: &track,
    };
    T::deserialize(strict)
        .and_then(|value| json.end().map(|()| value))
        .map_err(|e| Error::Json {
            document,
            message: track.message(&e),
        })
}

/// [`from_json`] of a document of at most `max` bytes.
///
/// # Errors
/// [`Error::TooLarge`] before anything is read, or as [`from_json`].
pub(crate) fn from_json_bounded<T: DeserializeOwned>(
    document: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, Error> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            document,
            size: bytes.len(),
            max,
        });
    }
    from_json(document, bytes)
}

/// The path to the value that failed, innermost segment first: each map and
/// sequence an error passes through on its way out adds its segment.
#[derive(Default)]
struct Track(RefCell<Vec<Segment>>);

enum Segment {
    Key(String),
    Index(usize),
}

/// The longest key shown in a path.
const KEY_SHOWN_MAX: usize = 64;

impl Track {
    fn push(&self, segment: Segment) {
        self.0.borrow_mut().push(segment);
    }

    fn message(&self, e: &serde_json::Error) -> String {
        let mut path = String::new();
        for segment in self.0.borrow().iter().rev() {
            match segment {
                Segment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Segment::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        if path.is_empty() {
            e.to_string()
        } else {
            format!("{path}: {e}")
        }
    }
}

/// Untrusted text as shown in a message: at most `max` characters, anything
/// but printable ASCII (space included) as `?`.
pub(crate) fn shown(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn out_of_range<E: de::Error>(max: u64) -> E {
    E::custom(format_args!("integer out of range: expected 0 to {max}"))
}

/// The strict deserializer (see the module docs).
struct Strict<'t, D> {
    inner: D,
    track: &'t Track,
}

impl<'t, D> Strict<'t, D> {
    fn wrap<V>(&self, inner: V) -> Wrap<'t, V> {
        Wrap {
            inner,
            track: self.track,
        }
    }
}

macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let visitor = self.wrap(visitor);
            self.inner.$method(visitor)
        }
    )*};
}

macro_rules! unsigned {
    ($($method:ident $max:expr;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.inner.deserialize_u64(Integer { inner: visitor, max: $max })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<'_, D> {
    type Error = D::Error;

    forward!(
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u128 deserialize_f32 deserialize_f64
        deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq
        deserialize_map deserialize_identifier deserialize_ignored_any
    );

    unsigned!(
        deserialize_u8 u64::from(u8::MAX);
        deserialize_u16 u64::from(u16::MAX);
        deserialize_u32 u64::from(u32::MAX);
        deserialize_u64 u64::MAX;
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    /// A struct is read as a map: serde_json then refuses an array.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(Object {
            inner: visitor,
            track: self.track,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.wrap(visitor);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor whose nested maps, sequences and values are read strictly.
struct Wrap<'t, V> {
    inner: V,
    track: &'t Track,
}

macro_rules! visit {
    ($($method:ident $ty:ty)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    visit!(
        visit_bool bool visit_i8 i8 visit_i16 i16 visit_i32 i32 visit_i64 i64
        visit_i128 i128 visit_u8 u8 visit_u16 u16 visit_u32 u32 visit_u64 u64
        visit_u128 u128 visit_f32 f32 visit_f64 f64 visit_char char
        visit_str &str visit_borrowed_str &'de str visit_string String
        visit_bytes &[u8] visit_borrowed_bytes &'de [u8] visit_byte_buf Vec<u8>
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Strict {
            inner: d,
            track: self.track,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict {
            inner: d,
            track: self.track,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Seq {
            inner: seq,
            track: self.track,
            index: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Map::new(map, self.track))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// A struct's visitor: a JSON object only.
struct Object<'t, V> {
    inner: V,
    track: &'t Track,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Object<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Map::new(map, self.track))
    }
}

/// An unsigned integer up to `max`, written as a JSON integer.
struct Integer<V> {
    inner: V,
    max: u64,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Integer<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer from 0 to {}", self.max)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        if v > self.max {
            return Err(out_of_range(self.max));
        }
        self.inner.visit_u64(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(out_of_range(self.max)),
        }
    }

    /// serde_json gives a float for a number written with a fraction or an
    /// exponent, and for an integer beyond `i64`/`u64`: the latter is out of
    /// range, the former not an integer.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        // 2^64 as f64, exactly.
        const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
        if v.is_finite() && v.fract() == 0.0 && !(0.0..TWO_POW_64).contains(&v) {
            Err(out_of_range(self.max))
        } else {
            Err(E::custom(
                "not an integer: write integers without a fraction or an exponent",
            ))
        }
    }
}

/// A map whose values are read strictly and whose keys name a failed value.
struct Map<'t, A> {
    inner: A,
    track: &'t Track,
    /// The current key (one buffer for the whole map).
    key: String,
}

impl<'t, A> Map<'t, A> {
    fn new(inner: A, track: &'t Track) -> Self {
        Self {
            inner,
            track,
            key: String::new(),
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.key.clear();
        if self.inner.next_key_seed(KeyText(&mut self.key))?.is_none() {
            return Ok(None);
        }
        seed.deserialize(de::value::StrDeserializer::<A::Error>::new(&self.key))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let seed = Seed {
            inner: seed,
            track: self.track,
        };
        self.inner.next_value_seed(seed).inspect_err(|_| {
            self.track
                .push(Segment::Key(shown(&self.key, KEY_SHOWN_MAX)));
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// Reads a map key into a buffer.
struct KeyText<'k>(&'k mut String);

impl<'de> DeserializeSeed<'de> for KeyText<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

/// A sequence whose elements are read strictly and whose indexes name a
/// failed element.
struct Seq<'t, A> {
    inner: A,
    track: &'t Track,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let index = self.index;
        self.index = self.index.saturating_add(1);
        let seed = Seed {
            inner: seed,
            track: self.track,
        };
        self.inner
            .next_element_seed(seed)
            .inspect_err(|_| self.track.push(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A seed that reads its value strictly.
struct Seed<'t, S> {
    inner: S,
    track: &'t Track,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Strict {
            inner: d,
            track: self.track,
        })
    }
}
