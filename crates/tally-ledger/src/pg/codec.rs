//! Rows to values and back. 128- and 64-bit values cross as decimal text
//! (`NUMERIC` cast to and from `text`), so no precision is ever lost and no
//! extra numeric crate is needed.

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgError;
use crate::state::Sum;
use crate::types::{Account, AccountBalance, AccountFlags, PendingState, Transfer, TransferFlags};

/// The account columns, in [`account`]'s order. Numeric columns come out as
/// text under their own names: an `ORDER BY` must name the table's column
/// (`tally_accounts.id`, `t.id`), or it sorts the text.
pub(super) const ACCOUNT_COLUMNS: &str = "id::text, debits_pending::text, debits_posted::text, \
     credits_pending::text, credits_posted::text, user_data_128::text, user_data_64::text, \
     user_data_32::bigint, ledger::bigint, code::integer, flags::integer, timestamp::text, version";

/// The transfer columns (table alias `t`), in [`transfer`]'s order.
pub(super) const TRANSFER_COLUMNS: &str = "t.id::text, t.debit_account_id::text, \
     t.credit_account_id::text, t.amount::text, t.pending_id::text, t.user_data_128::text, \
     t.user_data_64::text, t.user_data_32::bigint, t.timeout::bigint, t.ledger::bigint, \
     t.code::integer, t.flags::integer, t.timestamp::text";

/// The pending columns (table alias `p`), after the transfer's.
pub(super) const PENDING_COLUMNS: &str = "p.state, p.posted_amount::text, p.expires_at::text";

pub(super) fn corrupt(what: impl Into<String>) -> PgError {
    PgError::Corrupt { what: what.into() }
}

pub(super) fn text(v: impl ToString) -> String {
    v.to_string()
}

pub(super) fn u128_of(row: &PgRow, i: usize) -> Result<u128, PgError> {
    let s: String = row.try_get(i)?;
    s.parse()
        .map_err(|_| corrupt(format!("{s:?} is not a 128-bit value")))
}

pub(super) fn u64_of(row: &PgRow, i: usize) -> Result<u64, PgError> {
    let s: String = row.try_get(i)?;
    s.parse()
        .map_err(|_| corrupt(format!("{s:?} is not a 64-bit value")))
}

fn narrow<T: TryFrom<i64>>(row: &PgRow, i: usize) -> Result<T, PgError> {
    let v: i64 = row.try_get(i)?;
    T::try_from(v).map_err(|_| corrupt(format!("{v} is out of range")))
}

fn narrow32<T: TryFrom<i32>>(row: &PgRow, i: usize) -> Result<T, PgError> {
    let v: i32 = row.try_get(i)?;
    T::try_from(v).map_err(|_| corrupt(format!("{v} is out of range")))
}

/// An account row and its version.
pub(super) fn account(row: &PgRow) -> Result<(Account, i64), PgError> {
    account_at(row, 0)
}

/// An account and its version from [`ACCOUNT_COLUMNS`] at `at..at + 13`.
pub(super) fn account_at(row: &PgRow, at: usize) -> Result<(Account, i64), PgError> {
    let flags = AccountFlags::from_bits(narrow32(row, at + 10)?)
        .ok_or_else(|| corrupt("unknown account flags"))?;
    let a = Account {
        id: u128_of(row, at)?,
        debits_pending: u128_of(row, at + 1)?,
        debits_posted: u128_of(row, at + 2)?,
        credits_pending: u128_of(row, at + 3)?,
        credits_posted: u128_of(row, at + 4)?,
        user_data_128: u128_of(row, at + 5)?,
        user_data_64: u64_of(row, at + 6)?,
        user_data_32: narrow(row, at + 7)?,
        ledger: narrow(row, at + 8)?,
        code: narrow32(row, at + 9)?,
        flags,
        timestamp: u64_of(row, at + 11)?,
    };
    Ok((a, row.try_get(at + 12)?))
}

/// A transfer row.
pub(super) fn transfer(row: &PgRow) -> Result<Transfer, PgError> {
    transfer_at(row, 0)
}

/// A transfer from [`TRANSFER_COLUMNS`] at `at..at + 13`.
pub(super) fn transfer_at(row: &PgRow, at: usize) -> Result<Transfer, PgError> {
    let flags = TransferFlags::from_bits(narrow32(row, at + 11)?)
        .ok_or_else(|| corrupt("unknown transfer flags"))?;
    Ok(Transfer {
        id: u128_of(row, at)?,
        debit_account_id: u128_of(row, at + 1)?,
        credit_account_id: u128_of(row, at + 2)?,
        amount: u128_of(row, at + 3)?,
        pending_id: u128_of(row, at + 4)?,
        user_data_128: u128_of(row, at + 5)?,
        user_data_64: u64_of(row, at + 6)?,
        user_data_32: narrow(row, at + 7)?,
        timeout: narrow(row, at + 8)?,
        ledger: narrow(row, at + 9)?,
        code: narrow32(row, at + 10)?,
        flags,
        timestamp: u64_of(row, at + 12)?,
    })
}

/// The pending state and expiry at columns `i..i + 3` (all NULL: not a
/// pending transfer).
pub(super) fn pending(
    row: &PgRow,
    i: usize,
) -> Result<(Option<PendingState>, Option<u64>), PgError> {
    let state: Option<String> = row.try_get(i)?;
    let posted: Option<String> = row.try_get(i + 1)?;
    let expires: Option<String> = row.try_get(i + 2)?;
    let state = match (state.as_deref(), posted) {
        (None, _) => None,
        (Some("pending"), None) => Some(PendingState::Pending),
        (Some("voided"), None) => Some(PendingState::Voided),
        (Some("expired"), None) => Some(PendingState::Expired),
        (Some("posted"), Some(amount)) => {
            Some(PendingState::Posted(amount.parse().map_err(|_| {
                corrupt("posted amount is not a 128-bit value")
            })?))
        }
        (Some(other), _) => return Err(corrupt(format!("pending state {other:?}"))),
    };
    let expires = expires
        .map(|s| s.parse::<u64>())
        .transpose()
        .map_err(|_| corrupt("expiry is not a 64-bit value"))?;
    Ok((state, expires))
}

/// A pending state as stored: (state, posted amount).
pub(super) fn pending_text(state: PendingState) -> (&'static str, Option<String>) {
    match state {
        PendingState::Pending => ("pending", None),
        PendingState::Posted(amount) => ("posted", Some(text(amount))),
        PendingState::Voided => ("voided", None),
        PendingState::Expired => ("expired", None),
    }
}

/// A history row: timestamp and the four balances.
pub(super) fn balance(row: &PgRow) -> Result<AccountBalance, PgError> {
    Ok(AccountBalance {
        timestamp: u64_of(row, 0)?,
        debits_pending: u128_of(row, 1)?,
        debits_posted: u128_of(row, 2)?,
        credits_pending: u128_of(row, 3)?,
        credits_posted: u128_of(row, 4)?,
    })
}

/// A non-negative decimal of up to 256 bits (a `sum(…)` over a ledger).
pub(super) fn sum_of(row: &PgRow, i: usize) -> Result<Sum, PgError> {
    let s: String = row.try_get(i)?;
    let bad = || corrupt(format!("{s:?} is not a 256-bit sum"));
    if s.is_empty() || s.len() > 78 {
        return Err(bad());
    }
    // Little-endian 64-bit limbs; each digit multiplies by ten and adds.
    let mut limbs = [0u64; 4];
    for c in s.bytes() {
        let mut carry = u128::from(c.checked_sub(b'0').filter(|d| *d < 10).ok_or_else(bad)?);
        for limb in &mut limbs {
            let v = u128::from(*limb) * 10 + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            return Err(bad());
        }
    }
    let [l0, l1, l2, l3] = limbs.map(u128::from);
    Ok(Sum {
        lo: l0 | (l1 << 64),
        hi: l2 | (l3 << 64),
    })
}

/// A statement composed only of this module's column lists and literal
/// SQL (never of data: data is always bound).
pub(super) fn sql(statement: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(statement)
}
