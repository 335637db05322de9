//! Amounts in a keyset's minor unit.
//!
//! An [`Amount`] is a `u64`, so every denomination up to and including
//! 2^63 is representable (the official NUT-01 vector's largest key is
//! 9223372036854775808, one past `i64::MAX`). All arithmetic is checked:
//! an overflow is [`Error::AmountOverflow`], never a wrap or a saturation.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A non-negative amount in the minor unit of a keyset (sat, msat, cent...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Amount(u64);

impl<'de> Deserialize<'de> for Amount {
    /// A JSON integer; one beyond `u64` is "`amount`: integer out of range".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::json::u64_named(d, "amount").map(Self)
    }
}

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// One unit.
    pub const ONE: Self = Self(1);
    /// The largest power-of-two denomination a `u64` holds: 2^63.
    pub const MAX_DENOMINATION: Self = Self(1 << 63);

    /// An amount of `value` minor units.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The value in minor units.
    #[must_use]
    pub const fn value(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` if `other > self`.
    #[must_use]
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The checked sum of `amounts`.
    ///
    /// ```
    /// use tally_cashu::Amount;
    /// let total = Amount::try_sum([Amount::new(2), Amount::new(8)]).unwrap();
    /// assert_eq!(total, Amount::new(10));
    /// assert!(Amount::try_sum([Amount::MAX_DENOMINATION, Amount::MAX_DENOMINATION]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::AmountOverflow`] if the sum does not fit a `u64`.
    pub fn try_sum<I: IntoIterator<Item = Self>>(amounts: I) -> Result<Self, Error> {
        amounts.into_iter().try_fold(Self::ZERO, |acc, a| {
            acc.checked_add(a).ok_or(Error::AmountOverflow)
        })
    }

    /// Whether this amount is a power of two (a standard denomination).
    #[must_use]
    pub const fn is_power_of_two(self) -> bool {
        self.0.is_power_of_two()
    }

    /// The powers of two that sum to this amount, smallest first
    /// (the binary expansion; empty for zero).
    ///
    /// ```
    /// use tally_cashu::Amount;
    /// let parts: Vec<u64> = Amount::new(13).powers_of_two().map(Amount::value).collect();
    /// assert_eq!(parts, [1, 4, 8]);
    /// ```
    pub fn powers_of_two(self) -> impl Iterator<Item = Self> {
        let v = self.0;
        (0..u64::BITS)
            .filter(move |bit| v >> bit & 1 == 1)
            .map(|bit| Self(1 << bit))
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for Amount {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_denomination_is_two_to_the_63() {
        assert_eq!(Amount::MAX_DENOMINATION.value(), 9_223_372_036_854_775_808);
        assert!(Amount::MAX_DENOMINATION.is_power_of_two());
    }

    #[test]
    fn powers_of_two_of_max_value_has_64_parts() {
        let parts: Vec<Amount> = Amount::new(u64::MAX).powers_of_two().collect();
        assert_eq!(parts.len(), 64);
        assert_eq!(Amount::try_sum(parts).unwrap(), Amount::new(u64::MAX));
    }

    #[test]
    fn checked_arithmetic_refuses_overflow_and_underflow() {
        assert_eq!(Amount::new(u64::MAX).checked_add(Amount::ONE), None);
        assert_eq!(Amount::ZERO.checked_sub(Amount::ONE), None);
        assert_eq!(
            Amount::new(5).checked_sub(Amount::new(3)),
            Some(Amount::new(2))
        );
    }
}
