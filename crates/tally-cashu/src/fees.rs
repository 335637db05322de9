//! NUT-02 fees and amount splitting.
//!
//! * The fee of a transaction is `ceil(Σ input_fee_ppk / 1000)` over its
//!   inputs ([`input_fee`]); the mint checks `Σ inputs − fee == Σ outputs`.
//! * [`Denominations::split`] splits an amount greedily into a keyset's
//!   denominations (for powers of two: the binary expansion).
//! * [`split_with_fee`] finds the smallest total whose split still covers a
//!   target after the fee of spending that split (what a sender adds so the
//!   receiver gets the full amount).
//! * [`plan_swap`] splits a swap's inputs into send and change outputs so that
//!   `inputs − fee == send + change` exactly.
//!
//! All sums are checked; no function creates or loses a unit (property tests
//! in `tests/it/fees.rs`).

use crate::Error;
use crate::amount::Amount;
use crate::error::{Limit, ensure_within};
use crate::limits::MAX_SPLIT_OUTPUTS;
use crate::nuts::nut01::Keys;

/// Parts per thousand in one unit.
pub const PPK_PER_UNIT: u64 = 1_000;

/// Most totals [`split_with_fee`] tries before giving up (reached only with
/// fees of hundreds of units per input).
pub const MAX_FEE_SPLIT_STEPS: u64 = 1 << 16;

/// `ceil(Σ ppk / 1000)` for inputs whose keysets charge `ppks` (one item per input).
///
/// ```
/// use tally_cashu::{fees::input_fee, Amount};
/// assert_eq!(input_fee([100, 100, 100]).unwrap(), Amount::new(1)); // NUT-02's example
/// assert_eq!(input_fee([100; 11]).unwrap(), Amount::new(2));
/// assert_eq!(input_fee([]).unwrap(), Amount::ZERO);
/// ```
///
/// # Errors
/// [`Error::AmountOverflow`] if the sum of ppk overflows `u64`.
pub fn input_fee(ppks: impl IntoIterator<Item = u64>) -> Result<Amount, Error> {
    let total = ppks
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .ok_or(Error::AmountOverflow)?;
    Ok(Amount::new(total.div_ceil(PPK_PER_UNIT)))
}

/// The fee of `count` inputs of one keyset charging `ppk`.
///
/// # Errors
/// [`Error::AmountOverflow`] if `count · ppk` overflows.
pub fn fee_for_count(count: usize, ppk: u64) -> Result<Amount, Error> {
    let total = (count as u64)
        .checked_mul(ppk)
        .ok_or(Error::AmountOverflow)?;
    Ok(Amount::new(total.div_ceil(PPK_PER_UNIT)))
}

/// A keyset's denominations: positive, distinct, ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denominations(Vec<Amount>);

impl Denominations {
    /// Every power of two from 1 to 2^63.
    #[must_use]
    pub fn powers_of_two() -> Self {
        Self((0..u64::BITS).map(|b| Amount::new(1 << b)).collect())
    }

    /// The amounts of a keyset.
    #[must_use]
    pub fn from_keys(keys: &Keys) -> Self {
        Self(keys.amounts().collect())
    }

    /// From any amounts (sorted and deduplicated here).
    ///
    /// # Errors
    /// [`Error::ZeroAmount`] for a zero; [`Error::InvalidField`] if empty.
    pub fn new(amounts: impl IntoIterator<Item = Amount>) -> Result<Self, Error> {
        let mut v: Vec<Amount> = amounts.into_iter().collect();
        if v.contains(&Amount::ZERO) {
            return Err(Error::ZeroAmount);
        }
        v.sort_unstable();
        v.dedup();
        if v.is_empty() {
            return Err(Error::InvalidField {
                field: "denominations",
                reason: "empty",
            });
        }
        Ok(Self(v))
    }

    /// The denominations, ascending.
    #[must_use]
    pub fn as_slice(&self) -> &[Amount] {
        &self.0
    }

    /// How many outputs the greedy split of `amount` has, or `None` if the
    /// amount is not representable.
    fn count(&self, amount: Amount) -> Option<usize> {
        let mut rest = amount.value();
        let mut count = 0u64;
        for d in self.0.iter().rev() {
            count = count.checked_add(rest / d.value())?;
            rest %= d.value();
        }
        (rest == 0)
            .then_some(count)
            .and_then(|c| usize::try_from(c).ok())
    }

    /// Splits `amount` greedily, largest denomination first; outputs ascending.
    ///
    /// ```
    /// use tally_cashu::{fees::Denominations, Amount};
    /// let parts = Denominations::powers_of_two().split(Amount::new(13)).unwrap();
    /// assert_eq!(parts, [Amount::new(1), Amount::new(4), Amount::new(8)]);
    /// ```
    ///
    /// # Errors
    /// [`Error::UnsplittableAmount`] if the denominations cannot express it;
    /// [`Error::LimitExceeded`] past [`MAX_SPLIT_OUTPUTS`] outputs.
    pub fn split(&self, amount: Amount) -> Result<Vec<Amount>, Error> {
        let count = self.count(amount).ok_or(Error::UnsplittableAmount)?;
        ensure_within(Limit::SplitOutputs, count, MAX_SPLIT_OUTPUTS)?;
        let mut out = Vec::with_capacity(count);
        let mut rest = amount.value();
        for d in self.0.iter().rev() {
            for _ in 0..rest / d.value() {
                out.push(*d);
            }
            rest %= d.value();
        }
        out.reverse();
        Ok(out)
    }
}

/// Outputs that cover a target after the fee of spending them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeSplit {
    /// The outputs, ascending; their sum is the smallest that works.
    pub outputs: Vec<Amount>,
    /// The fee of spending `outputs` as inputs later.
    pub fee: Amount,
}

impl FeeSplit {
    /// `Σ outputs`.
    ///
    /// # Errors
    /// [`Error::AmountOverflow`] (impossible for a value this module built).
    pub fn total(&self) -> Result<Amount, Error> {
        Amount::try_sum(self.outputs.iter().copied())
    }
}

/// The smallest total `T ≥ target` whose split `S` satisfies
/// `T − fee(|S| inputs at ppk) ≥ target`, and that split.
///
/// ```
/// use tally_cashu::{fees::{split_with_fee, Denominations}, Amount};
/// // 1 unit per input: sending 5 needs outputs worth 8 (one proof, fee 1): 7 ≥ 5.
/// let s = split_with_fee(Amount::new(5), 1000, &Denominations::powers_of_two()).unwrap();
/// assert_eq!(s.outputs, [Amount::new(8)]);
/// ```
///
/// # Errors
/// [`Error::UnsplittableAmount`] if no total within [`MAX_FEE_SPLIT_STEPS`]
/// works; [`Error::AmountOverflow`].
pub fn split_with_fee(
    target: Amount,
    ppk: u64,
    denominations: &Denominations,
) -> Result<FeeSplit, Error> {
    let mut total = target;
    for _ in 0..MAX_FEE_SPLIT_STEPS {
        if let Some(count) = denominations.count(total) {
            let fee = fee_for_count(count, ppk)?;
            if total.checked_sub(fee).is_some_and(|net| net >= target) {
                return Ok(FeeSplit {
                    outputs: denominations.split(total)?,
                    fee,
                });
            }
        }
        total = total
            .checked_add(Amount::ONE)
            .ok_or(Error::AmountOverflow)?;
    }
    Err(Error::UnsplittableAmount)
}

/// A swap's outputs: what to send and what to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapPlan {
    /// Outputs for the recipient, ascending.
    pub send: Vec<Amount>,
    /// Outputs the wallet keeps, ascending.
    pub change: Vec<Amount>,
    /// The fee the mint takes for the inputs.
    pub input_fee: Amount,
}

/// Splits a swap: inputs worth `inputs_total` that cost `input_fee` to spend
/// become send outputs worth `send` (plus, if `receiver_ppk` is given, the
/// fee the receiver will pay to spend them) and change outputs for the rest,
/// so that `inputs_total − input_fee == Σ send + Σ change`.
///
/// # Errors
/// [`Error::InsufficientAmount`] if the inputs do not cover the outputs;
/// [`Error::UnsplittableAmount`]; [`Error::AmountOverflow`].
pub fn plan_swap(
    inputs_total: Amount,
    input_fee: Amount,
    send: Amount,
    receiver_ppk: Option<u64>,
    denominations: &Denominations,
) -> Result<SwapPlan, Error> {
    let available = inputs_total
        .checked_sub(input_fee)
        .ok_or(Error::InsufficientAmount {
            available: 0,
            required: input_fee.value(),
        })?;
    let send_outputs = match receiver_ppk {
        Some(ppk) => split_with_fee(send, ppk, denominations)?.outputs,
        None => denominations.split(send)?,
    };
    let send_total = Amount::try_sum(send_outputs.iter().copied())?;
    let change_total = available
        .checked_sub(send_total)
        .ok_or(Error::InsufficientAmount {
            available: available.value(),
            required: send_total.value(),
        })?;
    Ok(SwapPlan {
        send: send_outputs,
        change: denominations.split(change_total)?,
        input_fee,
    })
}
