//! The distribution of a pool among accounts: integer only, exact, and
//! conserving by equality.
//!
//! 1. **Validity.** The epoch's window must lie inside the policy's validity
//!    period ([`Error::OutsideValidity`]); no account of the inputs may be
//!    the policy's funding account or residual sink
//!    ([`Error::PoolAccountAsPayee`]: settling would pay an account from
//!    itself). The cost estimate ([`estimate`])
//!    must be at most [`Limits::max_cost`]; over it the run is refused
//!    ([`OverCost::Reject`]) or computed as a dry run that can never be
//!    accepted ([`OverCost::DryRun`]).
//! 2. **Scores.** `score(a) = Σ weight_bps(c) × value(a, c)` over the
//!    counters the policy weights, as `u128` (at most 64 counters of
//!    `< 2^64` times weights `< 2^24`: below `2^94` per account and `2^114`
//!    for a million accounts, so no sum can overflow; it is checked anyway).
//!    `T = Σ score`. If `T = 0` or the pool is 0, nobody is paid and the
//!    residual is the pool.
//! 3. **Caps (water-filling).** With a cap `C`: accounts are taken by score,
//!    largest first (ties by id). With `P` the pool not yet given and `T`
//!    the score not yet capped, an account whose exact share `P × s / T`
//!    exceeds `C` gets exactly `C` and leaves (`P -= C`, `T -= s`); the
//!    first account that does not exceed `C` ends the pass (every smaller one
//!    has a smaller share). Capping raises the shares of the rest, which is
//!    how caps cascade. If every account is capped, what remains of `P` goes
//!    to the residual.
//! 4. **Shares.** Every uncapped account with a positive score gets
//!    `floor(P × s / T)`, computed exactly in 192 bits; the remainders
//!    `P × s mod T` sum to `L × T`, where `L < ` the number of uncapped
//!    accounts is the number of units left.
//! 5. **Rounding.** `largest_remainder`: the `L` accounts with the largest
//!    remainders get one more unit; among equal remainders the order is the
//!    BLAKE3 `derive_key("tally/reward/tiebreak/v1", len(epoch) ‖ epoch ‖
//!    len(account) ‖ account)` (lengths as `u64` little-endian) ascending,
//!    then the account id; an account whose exact share was below the cap
//!    stays at or below it. `floor`: the `L` units go to the residual.
//! 6. **Minimum.** An amount above 0 and below `min_payout` is not paid; it
//!    goes to the residual. [`Distribution::capped`] counts the payees paid
//!    exactly the cap.
//! 7. **Conservation.** The residual is accumulated from steps 2, 3, 5 and 6
//!    independently of the payouts, and `Σ payouts + residual == pool` is
//!    then checked ([`Distribution::check`]); a breach is
//!    [`Error::InvariantBreach`], never a payout.
//!
//! Accounts are processed in id order, so the result does not depend on the
//! order of the inputs.

use serde::{Deserialize, Serialize};

use crate::ident::AccountId;
use crate::inputs::EpochInputs;
use crate::policy::{Policy, Rounding, VerifiedPolicy};
use crate::{Error, Limits, OverCost, wide};

/// What a run will cost, in work units: one per account plus one per
/// weighted counter it carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Accounts in the inputs.
    pub accounts: u64,
    /// Weighted counters across all accounts.
    pub terms: u64,
    /// `accounts + terms`.
    pub units: u64,
}

/// The cost of computing `inputs` under `policy`; linear, cheap, monotone
/// in the inputs.
#[must_use]
pub fn estimate(inputs: &EpochInputs, policy: &Policy) -> Cost {
    let weighted: Vec<bool> = inputs
        .counter_names()
        .iter()
        .map(|n| policy.weights.0.contains_key(n))
        .collect();
    let terms = inputs
        .accounts()
        .map(|a| {
            a.entries()
                .iter()
                .filter(|(n, _)| weighted.get(usize::from(*n)).copied().unwrap_or(false))
                .count() as u64
        })
        .fold(0u64, u64::saturating_add);
    let accounts = inputs.len() as u64;
    Cost {
        accounts,
        terms,
        units: accounts.saturating_add(terms),
    }
}

/// One payment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payout {
    /// The payee.
    pub account: AccountId,
    /// The amount in minor units, above 0.
    pub amount: u64,
}

/// The result of a computation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    /// The pool distributed (from the policy).
    pub pool: u64,
    /// Where the pool is paid from.
    pub funding_account: AccountId,
    /// Where the residual goes.
    pub residual_sink: AccountId,
    /// What is not paid to an account: `pool − Σ payouts`.
    pub residual: u64,
    /// Payments above 0, in account id order.
    pub payouts: Vec<Payout>,
    /// Accounts in the inputs.
    pub accounts: u64,
    /// Payees paid exactly the cap: those whose share the cap cut, and those
    /// rounded up to it (0 without a cap). An account cut to the cap and
    /// then unpaid under the minimum is counted in `below_minimum` only.
    pub capped: u64,
    /// Accounts whose amount was below the minimum and went unpaid.
    pub below_minimum: u64,
}

impl Distribution {
    /// The sum of the payouts.
    ///
    /// # Errors
    /// [`Error::InvariantBreach`] if it overflows.
    pub fn paid(&self) -> Result<u64, Error> {
        self.payouts
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(p.amount))
            .ok_or(Error::InvariantBreach {
                reason: "the payouts overflow u64".to_owned(),
            })
    }

    /// Re-checks every invariant against the policy: `Σ payouts + residual
    /// == pool` exactly, payouts above 0 in strictly increasing account
    /// order, none above the cap or below the minimum, the pool, funding
    /// account and sink those of the policy.
    ///
    /// # Errors
    /// [`Error::InvariantBreach`] naming the first breach.
    pub fn check(&self, policy: &Policy) -> Result<(), Error> {
        if self
            .payouts
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.account >= b.account))
        {
            return Err(Error::InvariantBreach {
                reason: "payouts are not in strictly increasing account order".to_owned(),
            });
        }
        self.check_amounts(policy)
    }

    /// [`Distribution::check`] without the order of the accounts, which
    /// `compute` gets by construction from the inputs' sorted, unique ids.
    fn check_amounts(&self, policy: &Policy) -> Result<(), Error> {
        let breach = |reason: &str| {
            Err(Error::InvariantBreach {
                reason: reason.to_owned(),
            })
        };
        if self.pool != policy.pool
            || self.funding_account != policy.funding_account
            || self.residual_sink != policy.residual_sink
        {
            return breach("the pool or its accounts are not the policy's");
        }
        if self.paid()?.checked_add(self.residual) != Some(self.pool) {
            return breach("payouts plus residual differ from the pool");
        }
        if self.capped != paid_the_cap(&self.payouts, policy.cap) {
            return breach("`capped` is not the number of payouts equal to the cap");
        }
        for p in &self.payouts {
            if p.amount == 0 {
                return breach("a payout of 0");
            }
            if policy.cap.is_some_and(|cap| p.amount > cap) {
                return breach("a payout above the cap");
            }
            if p.amount < policy.min_payout {
                return breach("a payout below the minimum");
            }
        }
        Ok(())
    }
}

/// A computed distribution, or a dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The distribution.
    pub distribution: Distribution,
    /// The cost estimate.
    pub cost: Cost,
    /// Over the cost limit with [`OverCost::DryRun`]: shown, never accepted.
    pub dry_run: bool,
}

/// One of the two accounts of a policy's pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolRole {
    /// The account the pool is paid from.
    Funding,
    /// The account the residual is paid to.
    ResidualSink,
}

impl core::fmt::Display for PoolRole {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Funding => "funding account",
            Self::ResidualSink => "residual sink",
        })
    }
}

/// Computes the distribution of `policy`'s pool over `inputs`.
///
/// # Errors
/// [`Error::OutsideValidity`], [`Error::PoolAccountAsPayee`],
/// [`Error::OverCost`], [`Error::Overflow`]
/// (not reachable within the documented bounds), [`Error::InvariantBreach`].
pub fn compute(
    inputs: &EpochInputs,
    policy: &VerifiedPolicy,
    limits: &Limits,
) -> Result<Outcome, Error> {
    let policy = policy.policy();
    if !policy.covers(inputs.window()) {
        return Err(Error::OutsideValidity);
    }
    for (account, role) in [
        (&policy.funding_account, PoolRole::Funding),
        (&policy.residual_sink, PoolRole::ResidualSink),
    ] {
        if inputs.account_ids().binary_search(account).is_ok() {
            return Err(Error::PoolAccountAsPayee {
                account: account.clone(),
                role,
            });
        }
    }
    let cost = estimate(inputs, policy);
    let dry_run = cost.units > limits.max_cost;
    if dry_run && limits.on_over_cost == OverCost::Reject {
        return Err(Error::OverCost {
            units: cost.units,
            max: limits.max_cost,
        });
    }
    let distribution = distribute(inputs, policy)?;
    distribution.check_amounts(policy)?;
    Ok(Outcome {
        distribution,
        cost,
        dry_run,
    })
}

fn overflow() -> Error {
    Error::Overflow
}

/// Scores in account order; the weight of each counter name is looked up
/// once, not per account.
fn scores(inputs: &EpochInputs, policy: &Policy) -> Result<Vec<u128>, Error> {
    let weights: Vec<u128> = inputs
        .counter_names()
        .iter()
        .map(|n| policy.weights.0.get(n).map_or(0, |&w| u128::from(w)))
        .collect();
    inputs
        .accounts()
        .map(|a| {
            a.entries().iter().try_fold(0u128, |score, &(n, value)| {
                let w = weights.get(usize::from(n)).copied().unwrap_or(0);
                score.checked_add(w.checked_mul(u128::from(value))?)
            })
        })
        .map(|s| s.ok_or_else(overflow))
        .collect()
}

fn tiebreak(epoch: &str, account: &str) -> [u8; 32] {
    use tally_encoding::framing::length_prefixed;
    let mut h = blake3::Hasher::new_derive_key("tally/reward/tiebreak/v1");
    for field in [epoch, account] {
        length_prefixed(field.as_bytes(), |b| {
            h.update(b);
        });
    }
    *h.finalize().as_bytes()
}

fn distribute(inputs: &EpochInputs, policy: &Policy) -> Result<Distribution, Error> {
    let accounts = inputs.account_ids();
    let scores = scores(inputs, policy)?;
    let total = scores
        .iter()
        .try_fold(0u128, |t, &s| t.checked_add(s))
        .ok_or_else(overflow)?;
    let mut amounts = vec![0u64; accounts.len()];
    let mut residual = 0u64;
    if total == 0 || policy.pool == 0 {
        residual = policy.pool;
    } else {
        let mut share = Share {
            remaining: policy.pool,
            uncapped: total,
            is_capped: vec![false; accounts.len()],
        };
        if let Some(cap) = policy.cap {
            apply_cap(&mut share, cap, &scores, &mut amounts)?;
        }
        if share.uncapped == 0 {
            // Everyone with a score was capped: the rest is residual.
            residual = share.remaining;
        } else {
            let left = floor_shares(&share, &scores, &mut amounts)?;
            match policy.rounding {
                Rounding::Floor => residual = left.units,
                Rounding::LargestRemainder => {
                    let mut remainders = left.remainders;
                    let epoch = inputs.epoch().as_str();
                    for i in largest(&mut remainders, left.units, epoch, accounts)? {
                        let a = amounts.get_mut(i).ok_or_else(overflow)?;
                        *a = a.checked_add(1).ok_or_else(overflow)?;
                    }
                }
            }
        }
    }
    pay(policy, accounts, &amounts, residual)
}

/// What the cap step leaves: the pool not yet given, the score not yet
/// capped, and which accounts were capped.
struct Share {
    remaining: u64,
    uncapped: u128,
    is_capped: Vec<bool>,
}

/// Step 3: water-filling. Largest score first (ties: smaller index first),
/// popping only as many as get capped plus one: O(n + k log n), and no
/// heap at all when nobody's share exceeds the cap.
fn apply_cap(
    share: &mut Share,
    cap: u64,
    scores: &[u128],
    amounts: &mut [u64],
) -> Result<(), Error> {
    // exact share > cap  <=>  remaining × s > cap × uncapped
    let over =
        |s: u128, share: &Share| wide::mul(s, share.remaining) > wide::mul(share.uncapped, cap);
    if !scores.iter().max().is_some_and(|&max| over(max, share)) {
        return Ok(());
    }
    let mut heap: std::collections::BinaryHeap<(u128, core::cmp::Reverse<usize>)> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0)
        .map(|(i, &s)| (s, core::cmp::Reverse(i)))
        .collect();
    while let Some((s, core::cmp::Reverse(i))) = heap.pop() {
        if !over(s, share) {
            break;
        }
        if let (Some(a), Some(c)) = (amounts.get_mut(i), share.is_capped.get_mut(i)) {
            *a = cap;
            *c = true;
        }
        share.remaining = share.remaining.checked_sub(cap).ok_or_else(overflow)?;
        share.uncapped = share.uncapped.checked_sub(s).ok_or_else(overflow)?;
        if share.uncapped == 0 {
            break;
        }
    }
    Ok(())
}

/// What step 4 leaves: the units not given and the positive remainders.
struct Left {
    units: u64,
    remainders: Vec<(u128, usize)>,
}

/// Step 4: the floor shares of the uncapped accounts with a positive score.
fn floor_shares(share: &Share, scores: &[u128], amounts: &mut [u64]) -> Result<Left, Error> {
    let mut given = 0u64;
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(scores.len());
    for (i, (&s, amount)) in scores.iter().zip(amounts.iter_mut()).enumerate() {
        if s == 0 || share.is_capped.get(i).copied().unwrap_or(true) {
            continue;
        }
        let (q, r) =
            wide::div(wide::mul(s, share.remaining), share.uncapped).ok_or_else(overflow)?;
        *amount = q;
        given = given.checked_add(q).ok_or_else(overflow)?;
        if r > 0 {
            remainders.push((r, i));
        }
    }
    Ok(Left {
        units: share.remaining.checked_sub(given).ok_or_else(overflow)?,
        remainders,
    })
}

/// Step 6 and the result: amounts below the minimum go to the residual;
/// `capped` counts the payees paid exactly the cap.
fn pay(
    policy: &Policy,
    accounts: &[AccountId],
    amounts: &[u64],
    mut residual: u64,
) -> Result<Distribution, Error> {
    let mut below_minimum = 0u64;
    let mut payouts = Vec::with_capacity(amounts.iter().filter(|&&a| a > 0).count());
    for (account, &amount) in accounts.iter().zip(amounts) {
        if amount == 0 {
            continue;
        }
        if amount < policy.min_payout {
            below_minimum += 1;
            residual = residual.checked_add(amount).ok_or_else(overflow)?;
            continue;
        }
        payouts.push(Payout {
            account: account.clone(),
            amount,
        });
    }
    Ok(Distribution {
        pool: policy.pool,
        funding_account: policy.funding_account.clone(),
        residual_sink: policy.residual_sink.clone(),
        residual,
        capped: paid_the_cap(&payouts, policy.cap),
        payouts,
        accounts: accounts.len() as u64,
        below_minimum,
    })
}

/// The number of payouts equal to the cap (0 without a cap).
fn paid_the_cap(payouts: &[Payout], cap: Option<u64>) -> u64 {
    cap.map_or(0, |cap| {
        payouts.iter().filter(|p| p.amount == cap).count() as u64
    })
}

/// The indices of the `left` largest remainders (ties by hash, then id).
fn largest(
    remainders: &mut [(u128, usize)],
    left: u64,
    epoch: &str,
    accounts: &[AccountId],
) -> Result<Vec<usize>, Error> {
    let left = usize::try_from(left).map_err(|_| overflow())?;
    if left == 0 {
        return Ok(Vec::new());
    }
    if left > remainders.len() {
        // Σ remainders = left × T with every remainder < T: cannot happen.
        return Err(Error::InvariantBreach {
            reason: "more units left than remainders".to_owned(),
        });
    }
    let nth = left - 1;
    remainders.select_nth_unstable_by(nth, |a, b| b.0.cmp(&a.0));
    let boundary = remainders.get(nth).map(|r| r.0).ok_or_else(overflow)?;
    let mut out: Vec<usize> = remainders
        .iter()
        .filter(|r| r.0 > boundary)
        .map(|r| r.1)
        .collect();
    let mut tied: Vec<([u8; 32], &str, usize)> = remainders
        .iter()
        .filter(|r| r.0 == boundary)
        .filter_map(|r| {
            let id = accounts.get(r.1)?.as_str();
            Some((tiebreak(epoch, id), id, r.1))
        })
        .collect();
    tied.sort_unstable();
    let more = left.checked_sub(out.len()).ok_or_else(overflow)?;
    out.extend(tied.into_iter().take(more).map(|t| t.2));
    Ok(out)
}
