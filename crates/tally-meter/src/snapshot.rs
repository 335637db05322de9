//! A meter's state, for storage: taken by [`Meter::snapshot`](crate::Meter::snapshot),
//! validated by [`Meter::restore`](crate::Meter::restore).

use crate::error::Error;
use crate::meter::dim_of;
use crate::policy::Policy;

/// The version of the snapshot encoding; a snapshot of another version is
/// refused when deserialized.
///
/// ```
/// assert_eq!(tally_meter::SNAPSHOT_VERSION, 1);
/// ```
pub const SNAPSHOT_VERSION: u32 = 1;

/// A meter's state: the policy's fingerprint and, per dimension, the spent
/// and reserved amounts. Plain data: it is checked against a policy only when
/// restored.
///
/// With the `serde` feature it (de)serializes as
/// `{"version":1,"policy":"<16 lowercase hex digits>","spent":[…],"reserved":[…]}`;
/// deserialization refuses another version, a malformed fingerprint, arrays of
/// the wrong length, unknown, missing and repeated fields.
///
/// ```
/// use tally_meter::{DimSpec, Meter, Policy};
///
/// let policy = Policy::new([DimSpec::new("tokens", 100), DimSpec::new("calls", 5)])?;
/// let mut meter = Meter::new(&policy);
/// meter.try_charge_many(&[40, 1])?;
/// let snapshot = meter.snapshot();
/// assert_eq!((snapshot.spent(), snapshot.reserved()), (&[40, 1], &[0, 0]));
/// assert_eq!(snapshot.policy(), policy.fingerprint());
///
/// let other = Policy::new([DimSpec::new("tokens", 100), DimSpec::new("calls", 6)])?;
/// assert!(Meter::restore(&other, &snapshot).is_err());
/// # Ok::<(), tally_meter::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Snapshot<const N: usize> {
    policy: u64,
    spent: [u64; N],
    reserved: [u64; N],
}

impl<const N: usize> Snapshot<N> {
    /// A snapshot from its parts, for instance read from storage. Checked only
    /// by [`Meter::restore`](crate::Meter::restore).
    ///
    /// ```
    /// let snapshot = tally_meter::Snapshot::new(7, [1, 2], [0, 1]);
    /// assert_eq!(snapshot.policy(), 7);
    /// ```
    #[must_use]
    pub const fn new(policy: u64, spent: [u64; N], reserved: [u64; N]) -> Self {
        Self {
            policy,
            spent,
            reserved,
        }
    }

    /// The fingerprint of the policy the snapshot was taken under.
    ///
    /// ```
    /// # use tally_meter::{DimSpec, Meter, Policy};
    /// let policy = Policy::new([DimSpec::new("tokens", 10)])?;
    /// assert_eq!(Meter::new(&policy).snapshot().policy(), policy.fingerprint());
    /// # Ok::<(), tally_meter::Error>(())
    /// ```
    #[must_use]
    pub const fn policy(&self) -> u64 {
        self.policy
    }

    /// The spent amount of each dimension.
    ///
    /// ```
    /// assert_eq!(tally_meter::Snapshot::new(0, [1, 2], [0, 0]).spent(), &[1, 2]);
    /// ```
    #[must_use]
    pub const fn spent(&self) -> &[u64; N] {
        &self.spent
    }

    /// The reserved amount of each dimension.
    ///
    /// ```
    /// assert_eq!(tally_meter::Snapshot::new(0, [1, 2], [3, 4]).reserved(), &[3, 4]);
    /// ```
    #[must_use]
    pub const fn reserved(&self) -> &[u64; N] {
        &self.reserved
    }

    /// Checks the snapshot against `policy`; returns `used` per dimension.
    pub(crate) fn validate(&self, policy: &Policy<N>) -> Result<[u64; N], Error> {
        if self.policy != policy.fingerprint() {
            return Err(Error::SnapshotPolicyMismatch);
        }
        let mut used = [0u64; N];
        let dims = used.iter_mut().zip(&self.spent).zip(&self.reserved);
        for (i, ((used, spent), reserved)) in dims.enumerate() {
            let dim = dim_of(i);
            let limit = policy.limit(dim).unwrap_or(0);
            match spent.checked_add(*reserved) {
                Some(sum) if *reserved <= limit => *used = sum,
                _ => return Err(Error::SnapshotInvalid { dim }),
            }
        }
        Ok(used)
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! Hand-written impls: serde derives nothing for `[u64; N]` with a generic
    //! `N`, and the crate has no allocator.

    use core::fmt;
    use core::marker::PhantomData;

    use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::ser::{Serialize, SerializeStruct, SerializeTuple, Serializer};

    use super::{SNAPSHOT_VERSION, Snapshot};

    const FIELDS: &[&str] = &["version", "policy", "spent", "reserved"];
    const HEX: &[u8; 16] = b"0123456789abcdef";

    /// A fixed-length array of `u64`, as a sequence.
    struct Array<const N: usize>([u64; N]);

    impl<const N: usize> Serialize for Array<N> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut tuple = serializer.serialize_tuple(N)?;
            for value in &self.0 {
                tuple.serialize_element(value)?;
            }
            tuple.end()
        }
    }

    impl<'de, const N: usize> Deserialize<'de> for Array<N> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_tuple(N, ArrayVisitor::<N>)
        }
    }

    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = Array<N>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of {N} unsigned integers")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut values = [0u64; N];
            for (i, slot) in values.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(N.saturating_add(1), &self));
            }
            Ok(Array(values))
        }
    }

    /// The policy fingerprint as 16 lowercase hex digits.
    struct Fingerprint(u64);

    impl Serialize for Fingerprint {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut text = [0u8; 16];
            for (i, digit) in text.iter_mut().enumerate() {
                let nibble = (self.0 >> (60 - 4 * i)) & 0xf;
                *digit = HEX.get(nibble as usize).copied().unwrap_or(b'0');
            }
            // ASCII hex digits are UTF-8.
            serializer.serialize_str(core::str::from_utf8(&text).unwrap_or_default())
        }
    }

    impl<'de> Deserialize<'de> for Fingerprint {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_str(FingerprintVisitor)
        }
    }

    struct FingerprintVisitor;

    impl Visitor<'_> for FingerprintVisitor {
        type Value = Fingerprint;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("16 lowercase hexadecimal digits")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            let bytes = text.as_bytes();
            if bytes.len() != 16 {
                return Err(E::invalid_length(bytes.len(), &self));
            }
            let mut value = 0u64;
            for byte in bytes {
                let Some(nibble) = HEX.iter().position(|h| h == byte) else {
                    return Err(E::invalid_value(de::Unexpected::Str(text), &self));
                };
                value = (value << 4) | nibble as u64;
            }
            Ok(Fingerprint(value))
        }
    }

    impl<const N: usize> Serialize for Snapshot<N> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut s = serializer.serialize_struct("Snapshot", FIELDS.len())?;
            s.serialize_field("version", &SNAPSHOT_VERSION)?;
            s.serialize_field("policy", &Fingerprint(self.policy))?;
            s.serialize_field("spent", &Array(self.spent))?;
            s.serialize_field("reserved", &Array(self.reserved))?;
            s.end()
        }
    }

    impl<'de, const N: usize> Deserialize<'de> for Snapshot<N> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_struct("Snapshot", FIELDS, SnapshotVisitor(PhantomData))
        }
    }

    enum Field {
        Version,
        Policy,
        Spent,
        Reserved,
    }

    impl<'de> Deserialize<'de> for Field {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_identifier(FieldVisitor)
        }
    }

    struct FieldVisitor;

    impl Visitor<'_> for FieldVisitor {
        type Value = Field;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a snapshot field")
        }

        fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
            match name {
                "version" => Ok(Field::Version),
                "policy" => Ok(Field::Policy),
                "spent" => Ok(Field::Spent),
                "reserved" => Ok(Field::Reserved),
                _ => Err(E::unknown_field(name, FIELDS)),
            }
        }
    }

    struct SnapshotVisitor<const N: usize>(PhantomData<Snapshot<N>>);

    fn check_version<E: de::Error>(version: u32) -> Result<(), E> {
        if version == SNAPSHOT_VERSION {
            Ok(())
        } else {
            let unexpected = de::Unexpected::Unsigned(u64::from(version));
            Err(E::invalid_value(unexpected, &"snapshot version 1"))
        }
    }

    /// Sets a field once; a repeated field is an error.
    fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
        if slot.is_some() {
            return Err(E::duplicate_field(name));
        }
        *slot = Some(value);
        Ok(())
    }

    impl<'de, const N: usize> Visitor<'de> for SnapshotVisitor<N> {
        type Value = Snapshot<N>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a tally-meter snapshot")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let missing = |i| de::Error::invalid_length(i, &"4 fields");
            let version: u32 = seq.next_element()?.ok_or_else(|| missing(0))?;
            check_version(version)?;
            let policy: Fingerprint = seq.next_element()?.ok_or_else(|| missing(1))?;
            let spent: Array<N> = seq.next_element()?.ok_or_else(|| missing(2))?;
            let reserved: Array<N> = seq.next_element()?.ok_or_else(|| missing(3))?;
            if seq.next_element::<IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(5, &"4 fields"));
            }
            Ok(Snapshot::new(policy.0, spent.0, reserved.0))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut version, mut policy, mut spent, mut reserved) = (None, None, None, None);
            while let Some(field) = map.next_key()? {
                match field {
                    Field::Version => once(&mut version, map.next_value::<u32>()?, "version")?,
                    Field::Policy => once(&mut policy, map.next_value::<Fingerprint>()?, "policy")?,
                    Field::Spent => once(&mut spent, map.next_value::<Array<N>>()?, "spent")?,
                    Field::Reserved => {
                        once(&mut reserved, map.next_value::<Array<N>>()?, "reserved")?;
                    }
                }
            }
            check_version(version.ok_or_else(|| de::Error::missing_field("version"))?)?;
            let policy = policy.ok_or_else(|| de::Error::missing_field("policy"))?;
            let spent = spent.ok_or_else(|| de::Error::missing_field("spent"))?;
            let reserved = reserved.ok_or_else(|| de::Error::missing_field("reserved"))?;
            Ok(Snapshot::new(policy.0, spent.0, reserved.0))
        }
    }
}
