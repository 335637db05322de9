//! A meter's state, for storage: taken by [`Meter::snapshot`](crate::Meter::snapshot),
//! validated by [`Meter::restore`](crate::Meter::restore).

use crate::error::Error;
use crate::meter::dim_of;
use crate::policy::sealed::HasBounds;
use crate::policy::{MAX_DIMS, Rules};

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
/// It has `N` slots, of which [`dim_count`](Self::dim_count) hold the
/// policy's dimensions: all of them for a [`Policy`](crate::Policy), the
/// declared ones for an [`OwnedPolicy`](crate::OwnedPolicy) (`N = MAX_DIMS`;
/// the slots past them are zero).
///
/// With the `serde` feature it (de)serializes as
/// `{"version":1,"policy":"<16 lowercase hex digits>","spent":[…],"reserved":[…]}`
/// with `dim_count` amounts per array, the same for both policy forms;
/// deserialization refuses another version, a malformed fingerprint, arrays of
/// the wrong length (for an owned policy's snapshot, see [`OwnedSnapshot`]),
/// unknown, missing and repeated fields.
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
    /// How many slots hold dimensions (at most `N`); the others are zero.
    count: usize,
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
            count: N,
        }
    }

    /// A snapshot of `count <= N` dimensions whose slots past `count` are
    /// zero (the meters' own state).
    pub(crate) const fn with_count(
        policy: u64,
        spent: [u64; N],
        reserved: [u64; N],
        count: usize,
    ) -> Self {
        Self {
            policy,
            spent,
            reserved,
            count,
        }
    }

    /// A snapshot of `spent.len()` dimensions, for instance of an
    /// [`OwnedPolicy`](crate::OwnedPolicy) read from storage: `None` unless
    /// `spent` and `reserved` have the same length, 1 to `N`. Checked only by
    /// [`Meter::restore`](crate::Meter::restore).
    ///
    /// ```
    /// use tally_meter::{MAX_DIMS, Snapshot};
    ///
    /// let snapshot = Snapshot::<MAX_DIMS>::from_slices(7, &[1, 2], &[0, 1]).ok_or("?")?;
    /// assert_eq!((snapshot.dim_count(), &snapshot.spent()[..3]), (2, &[1, 2, 0][..]));
    /// assert!(Snapshot::<MAX_DIMS>::from_slices(7, &[1, 2], &[0]).is_none());
    /// assert!(Snapshot::<2>::from_slices(7, &[1, 2, 3], &[0, 0, 0]).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn from_slices(policy: u64, spent: &[u64], reserved: &[u64]) -> Option<Self> {
        let count = spent.len();
        if count == 0 || count > N || reserved.len() != count {
            return None;
        }
        let mut snapshot = Self::with_count(policy, [0; N], [0; N], count);
        for (slot, value) in snapshot.spent.iter_mut().zip(spent) {
            *slot = *value;
        }
        for (slot, value) in snapshot.reserved.iter_mut().zip(reserved) {
            *slot = *value;
        }
        Some(snapshot)
    }

    /// How many dimensions the snapshot holds: `N`, or the declared
    /// dimensions of an [`OwnedPolicy`](crate::OwnedPolicy).
    ///
    /// ```
    /// assert_eq!(tally_meter::Snapshot::new(0, [1, 2], [0, 0]).dim_count(), 2);
    /// ```
    #[must_use]
    pub const fn dim_count(&self) -> usize {
        self.count
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

    /// The spent amount of each slot (zero past [`dim_count`](Self::dim_count)).
    ///
    /// ```
    /// assert_eq!(tally_meter::Snapshot::new(0, [1, 2], [0, 0]).spent(), &[1, 2]);
    /// ```
    #[must_use]
    pub const fn spent(&self) -> &[u64; N] {
        &self.spent
    }

    /// The reserved amount of each slot (zero past [`dim_count`](Self::dim_count)).
    ///
    /// ```
    /// assert_eq!(tally_meter::Snapshot::new(0, [1, 2], [3, 4]).reserved(), &[3, 4]);
    /// ```
    #[must_use]
    pub const fn reserved(&self) -> &[u64; N] {
        &self.reserved
    }

    /// Checks the snapshot against `policy`; returns `used` per dimension.
    pub(crate) fn validate<P: Rules<N>>(&self, policy: &P) -> Result<[u64; N], Error> {
        if self.policy != policy.policy_fingerprint() || self.count != policy.dim_count() {
            return Err(Error::SnapshotPolicyMismatch);
        }
        let mut used = [0u64; N];
        let dims = used.iter_mut().zip(&self.spent).zip(&self.reserved);
        for (i, ((used, spent), reserved)) in dims.enumerate() {
            let dim = dim_of(i);
            let limit = policy.specs().get(i).map_or(0, |s| s.bounds().limit());
            match spent.checked_add(*reserved) {
                Some(sum) if *reserved <= limit => *used = sum,
                _ => return Err(Error::SnapshotInvalid { dim }),
            }
        }
        Ok(used)
    }
}

/// The snapshot of a meter under an [`OwnedPolicy`](crate::OwnedPolicy), as
/// read from storage: a [`Snapshot<MAX_DIMS>`](Snapshot) whose arrays hold 1
/// to [`MAX_DIMS`] amounts, as many as the policy has dimensions.
///
/// A `Snapshot<N>` deserializes exactly `N` amounts per array; this wrapper
/// is what deserializes an owned policy's snapshot (with the `serde`
/// feature). The encoding is the same for both policy forms, so a snapshot
/// taken under a [`Policy`](crate::Policy) restores under the
/// [`OwnedPolicy`](crate::OwnedPolicy) declaring the same dimensions, and
/// back.
///
/// ```
/// use tally_meter::{DimSpec, Meter, OwnedPolicy, OwnedSnapshot};
///
/// let policy = OwnedPolicy::new(&[DimSpec::new("tokens", 100), DimSpec::new("calls", 5)])?;
/// let mut meter = Meter::new(&policy);
/// meter.try_charge(policy.dim("calls").ok_or("?")?, 2)?;
/// let stored = OwnedSnapshot::from(meter.snapshot());
/// let restored = Meter::restore(&policy, stored.snapshot())?;
/// assert_eq!(restored.snapshot(), meter.snapshot());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OwnedSnapshot(Snapshot<MAX_DIMS>);

impl OwnedSnapshot {
    /// The snapshot, for [`Meter::restore`](crate::Meter::restore).
    ///
    /// ```
    /// # use tally_meter::{MAX_DIMS, OwnedSnapshot, Snapshot};
    /// let inner = Snapshot::<MAX_DIMS>::from_slices(1, &[2], &[3]).ok_or("?")?;
    /// assert_eq!(OwnedSnapshot::from(inner).snapshot(), &inner);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn snapshot(&self) -> &Snapshot<MAX_DIMS> {
        &self.0
    }
}

impl From<Snapshot<MAX_DIMS>> for OwnedSnapshot {
    fn from(snapshot: Snapshot<MAX_DIMS>) -> Self {
        Self(snapshot)
    }
}

impl From<OwnedSnapshot> for Snapshot<MAX_DIMS> {
    fn from(snapshot: OwnedSnapshot) -> Self {
        snapshot.0
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    //! Hand-written impls: serde derives nothing for `[u64; N]` with a generic
    //! `N`, and the crate has no allocator.

    use core::fmt;

    use serde::de::{
        self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
    };
    use serde::ser::{Serialize, SerializeStruct, SerializeTuple, Serializer};

    use tally_encoding::hex;

    use super::{MAX_DIMS, OwnedSnapshot, SNAPSHOT_VERSION, Snapshot};

    const FIELDS: &[&str] = &["version", "policy", "spent", "reserved"];

    /// The first `count` amounts of a snapshot array, as a sequence.
    struct Amounts<'a>(&'a [u64]);

    impl Serialize for Amounts<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut tuple = serializer.serialize_tuple(self.0.len())?;
            for value in self.0 {
                tuple.serialize_element(value)?;
            }
            tuple.end()
        }
    }

    /// Reads an array of `min..=N` amounts into `N` slots (zeros after):
    /// `min == N` for a [`Snapshot<N>`], `1` for an owned policy's.
    #[derive(Clone, Copy)]
    struct ArraySeed<const N: usize> {
        min: usize,
    }

    impl<'de, const N: usize> DeserializeSeed<'de> for ArraySeed<N> {
        type Value = ([u64; N], usize);

        fn deserialize<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_tuple(N, self)
        }
    }

    impl<'de, const N: usize> Visitor<'de> for ArraySeed<N> {
        type Value = ([u64; N], usize);

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.min == N {
                write!(f, "an array of {N} unsigned integers")
            } else {
                write!(f, "an array of {} to {N} unsigned integers", self.min)
            }
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut values = [0u64; N];
            let mut count = 0;
            for slot in &mut values {
                match seq.next_element()? {
                    Some(value) => *slot = value,
                    None => break,
                }
                count += 1;
            }
            if count < self.min {
                return Err(de::Error::invalid_length(count, &self));
            }
            if count == N && seq.next_element::<IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(N.saturating_add(1), &self));
            }
            Ok((values, count))
        }
    }

    /// The policy fingerprint as 16 lowercase hex digits.
    struct Fingerprint(u64);

    impl Serialize for Fingerprint {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let text = hex::Encoded::<8, 16>::new(&self.0.to_be_bytes());
            serializer.serialize_str(text.as_str())
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
            match hex::decode_array::<8>(text, hex::Case::Lower) {
                Ok(bytes) => Ok(Fingerprint(u64::from_be_bytes(bytes))),
                Err(hex::HexError::Length { found, .. }) => Err(E::invalid_length(found, &self)),
                Err(_) => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
            }
        }
    }

    impl<const N: usize> Serialize for Snapshot<N> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut s = serializer.serialize_struct("Snapshot", FIELDS.len())?;
            s.serialize_field("version", &SNAPSHOT_VERSION)?;
            s.serialize_field("policy", &Fingerprint(self.policy))?;
            let spent = self.spent.get(..self.count).unwrap_or(&self.spent);
            let reserved = self.reserved.get(..self.count).unwrap_or(&self.reserved);
            s.serialize_field("spent", &Amounts(spent))?;
            s.serialize_field("reserved", &Amounts(reserved))?;
            s.end()
        }
    }

    impl<'de, const N: usize> Deserialize<'de> for Snapshot<N> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let visitor = SnapshotVisitor(ArraySeed::<N> { min: N });
            deserializer.deserialize_struct("Snapshot", FIELDS, visitor)
        }
    }

    impl Serialize for OwnedSnapshot {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for OwnedSnapshot {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let visitor = SnapshotVisitor(ArraySeed::<MAX_DIMS> { min: 1 });
            deserializer
                .deserialize_struct("Snapshot", FIELDS, visitor)
                .map(OwnedSnapshot)
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

    /// Reads a snapshot whose arrays `ArraySeed` reads.
    struct SnapshotVisitor<const N: usize>(ArraySeed<N>);

    /// The snapshot of `spent` and `reserved`, which must have as many amounts.
    fn snapshot<const N: usize, E: de::Error>(
        policy: u64,
        (spent, count): ([u64; N], usize),
        (reserved, reserved_count): ([u64; N], usize),
    ) -> Result<Snapshot<N>, E> {
        if reserved_count != count {
            let expected = "as many reserved amounts as spent amounts";
            return Err(E::invalid_length(reserved_count, &expected));
        }
        Ok(Snapshot::with_count(policy, spent, reserved, count))
    }

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
            let spent = seq.next_element_seed(self.0)?.ok_or_else(|| missing(2))?;
            let reserved = seq.next_element_seed(self.0)?.ok_or_else(|| missing(3))?;
            if seq.next_element::<IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(5, &"4 fields"));
            }
            snapshot(policy.0, spent, reserved)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut version, mut policy, mut spent, mut reserved) = (None, None, None, None);
            while let Some(field) = map.next_key()? {
                match field {
                    Field::Version => once(&mut version, map.next_value::<u32>()?, "version")?,
                    Field::Policy => once(&mut policy, map.next_value::<Fingerprint>()?, "policy")?,
                    Field::Spent => once(&mut spent, map.next_value_seed(self.0)?, "spent")?,
                    Field::Reserved => {
                        once(&mut reserved, map.next_value_seed(self.0)?, "reserved")?;
                    }
                }
            }
            check_version(version.ok_or_else(|| de::Error::missing_field("version"))?)?;
            let policy = policy.ok_or_else(|| de::Error::missing_field("policy"))?;
            let spent = spent.ok_or_else(|| de::Error::missing_field("spent"))?;
            let reserved = reserved.ok_or_else(|| de::Error::missing_field("reserved"))?;
            snapshot(policy.0, spent, reserved)
        }
    }
}
