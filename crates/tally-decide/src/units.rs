//! Validated scalar newtypes: a value of these types is always in range.

use core::fmt;
use core::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Basis points in a probability-like scale: `0..=10_000` (0 % to 100 %).
///
/// Used for quality, risk, confidence and the hard limits. A value above
/// [`Bps::MAX`] cannot be built, so no computation downstream has to re-check it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u16", into = "u16")]
pub struct Bps(u16);

impl Bps {
    /// The largest value, 100 %.
    pub const MAX: Bps = Bps(10_000);
    /// Zero.
    pub const ZERO: Bps = Bps(0);

    /// `value` basis points, or [`Error::BpsOutOfRange`] above 10,000.
    ///
    /// ```
    /// use tally_decide::Bps;
    /// assert_eq!(Bps::new(10_000).unwrap().get(), 10_000);
    /// assert!(Bps::new(10_001).is_err());
    /// ```
    pub const fn new(value: u16) -> Result<Self, Error> {
        if value > Self::MAX.0 {
            return Err(Error::BpsOutOfRange { value });
        }
        Ok(Self(value))
    }

    /// The value in basis points.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Bps {
    type Error = Error;
    fn try_from(value: u16) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<Bps> for u16 {
    fn from(value: Bps) -> u16 {
        value.0
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bps", self.0)
    }
}

/// A candidate's identifier: any `u32` except 0.
///
/// Zero is refused because a rejected decision selects nothing, and a
/// decision must never be able to name "nothing" and "candidate 0" alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct CandidateId(NonZeroU32);

impl CandidateId {
    /// The identifier `value`, or [`Error::ZeroCandidateId`] for 0.
    ///
    /// ```
    /// use tally_decide::CandidateId;
    /// assert_eq!(CandidateId::new(7).unwrap().get(), 7);
    /// assert!(CandidateId::new(0).is_err());
    /// ```
    pub const fn new(value: u32) -> Result<Self, Error> {
        match NonZeroU32::new(value) {
            Some(id) => Ok(Self(id)),
            None => Err(Error::ZeroCandidateId),
        }
    }

    /// The identifier as a number (never 0).
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl TryFrom<u32> for CandidateId {
    type Error = Error;
    fn try_from(value: u32) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<CandidateId> for u32 {
    fn from(value: CandidateId) -> u32 {
        value.get()
    }
}

impl fmt::Display for CandidateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A provider index, `0..=63`: one bit of a request's 64-bit provider mask.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct ProviderId(u8);

impl ProviderId {
    /// The largest provider index (a 64-bit mask has bits 0 to 63).
    pub const MAX: ProviderId = ProviderId(63);

    /// The provider `value`, or [`Error::ProviderOutOfRange`] above 63.
    ///
    /// ```
    /// use tally_decide::ProviderId;
    /// assert_eq!(ProviderId::new(63).unwrap().mask_bit(), 1 << 63);
    /// assert!(ProviderId::new(64).is_err());
    /// ```
    pub const fn new(value: u8) -> Result<Self, Error> {
        if value > Self::MAX.0 {
            return Err(Error::ProviderOutOfRange { value });
        }
        Ok(Self(value))
    }

    /// The index.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The provider's bit in a provider mask: `1 << index`.
    #[must_use]
    pub const fn mask_bit(self) -> u64 {
        // In range by construction: the index is at most 63.
        1_u64 << (self.0 & 63)
    }
}

impl TryFrom<u8> for ProviderId {
    type Error = Error;
    fn try_from(value: u8) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl From<ProviderId> for u8 {
    fn from(value: ProviderId) -> u8 {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_at_the_bound_and_one_past() {
        assert_eq!(Bps::new(10_000).unwrap(), Bps::MAX);
        assert_eq!(
            Bps::new(10_001),
            Err(Error::BpsOutOfRange { value: 10_001 })
        );
        assert_eq!(
            Bps::new(u16::MAX),
            Err(Error::BpsOutOfRange { value: u16::MAX })
        );
        assert_eq!(ProviderId::new(63).unwrap(), ProviderId::MAX);
        assert_eq!(
            ProviderId::new(64),
            Err(Error::ProviderOutOfRange { value: 64 })
        );
        assert_eq!(CandidateId::new(0), Err(Error::ZeroCandidateId));
        assert_eq!(CandidateId::new(u32::MAX).unwrap().get(), u32::MAX);
    }

    #[test]
    fn provider_bits_are_distinct() {
        let mut all = 0_u64;
        for index in 0..=63 {
            let bit = ProviderId::new(index).unwrap().mask_bit();
            assert_eq!(all & bit, 0);
            all |= bit;
        }
        assert_eq!(all, u64::MAX);
    }
}
