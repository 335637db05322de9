//! Queries: accounts and transfers by id, an account's transfers and
//! balance history (paged, at most [`MAX_BATCH_EVENTS`] a page), totals.

use std::collections::BTreeMap;

use sqlx::Row;

use super::codec::{self, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS, text};
use super::{PgError, PgLedger};
use crate::state::Totals;
use crate::types::{Account, AccountBalance, MAX_BATCH_EVENTS, PendingState, Transfer};

fn page(limit: usize) -> i64 {
    i64::try_from(limit.min(MAX_BATCH_EVENTS)).unwrap_or(0)
}

impl PgLedger {
    /// An account.
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn account(&self, id: u128) -> Result<Option<Account>, PgError> {
        let row = sqlx::query(codec::sql(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM tally_accounts WHERE id = $1::text::numeric"
        )))
        .bind(text(id))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| codec::account(&r).map(|(a, _)| a)).transpose()
    }

    /// Accounts by id (at most [`MAX_BATCH_EVENTS`] ids), in id order; ids
    /// without an account are left out.
    ///
    /// # Errors
    /// [`PgError::Batch`] for too many ids; [`PgError`] when the database fails.
    pub async fn accounts(&self, ids: &[u128]) -> Result<Vec<Account>, PgError> {
        super::check_size(ids.len())?;
        let rows = sqlx::query(codec::sql(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM tally_accounts \
             WHERE id = ANY($1::text[]::numeric[]) ORDER BY tally_accounts.id"
        )))
        .bind(ids.iter().map(|id| text(*id)).collect::<Vec<_>>())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| codec::account(r).map(|(a, _)| a))
            .collect()
    }

    /// A transfer.
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn transfer(&self, id: u128) -> Result<Option<Transfer>, PgError> {
        let row = sqlx::query(codec::sql(format!(
            "SELECT {TRANSFER_COLUMNS} FROM tally_transfers t WHERE t.id = $1::text::numeric"
        )))
        .bind(text(id))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| codec::transfer(&r)).transpose()
    }

    /// Where a pending transfer stands (`None`: not a pending transfer).
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn pending_state(&self, id: u128) -> Result<Option<PendingState>, PgError> {
        let row = sqlx::query(codec::sql(format!(
            "SELECT {PENDING_COLUMNS} FROM tally_pending p WHERE p.id = $1::text::numeric"
        )))
        .bind(text(id))
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => codec::pending(&r, 0)?.0,
            None => None,
        })
    }

    /// An account's transfers in timestamp order, after `after` (0: from
    /// the start), at most `limit` (itself at most [`MAX_BATCH_EVENTS`]).
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn account_transfers(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Transfer>, PgError> {
        let rows = sqlx::query(codec::sql(format!(
            "SELECT {TRANSFER_COLUMNS} FROM tally_transfers t \
             WHERE (t.debit_account_id = $1::text::numeric OR t.credit_account_id = $1::text::numeric) \
             AND t.timestamp > $2::text::numeric ORDER BY t.timestamp LIMIT $3"
        )))
        .bind(text(account))
        .bind(text(after))
        .bind(page(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(codec::transfer).collect()
    }

    /// An account's balances after each of its transfers (accounts with the
    /// `history` flag), after `after`, at most `limit` (itself at most
    /// [`MAX_BATCH_EVENTS`]).
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn account_balances(
        &self,
        account: u128,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AccountBalance>, PgError> {
        let rows = sqlx::query(
            "SELECT timestamp::text, debits_pending::text, debits_posted::text, \
             credits_pending::text, credits_posted::text FROM tally_history AS h \
             WHERE h.account_id = $1::text::numeric AND h.timestamp > $2::text::numeric \
             ORDER BY h.timestamp LIMIT $3",
        )
        .bind(text(account))
        .bind(text(after))
        .bind(page(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(codec::balance).collect()
    }

    /// The balance totals of every ledger (exact sums, in the database).
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn totals(&self) -> Result<BTreeMap<u32, Totals>, PgError> {
        let rows = sqlx::query(
            "SELECT ledger::bigint, sum(debits_pending)::text, sum(debits_posted)::text, \
             sum(credits_pending)::text, sum(credits_posted)::text \
             FROM tally_accounts GROUP BY ledger ORDER BY ledger",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let ledger: i64 = r.try_get(0)?;
            let ledger =
                u32::try_from(ledger).map_err(|_| codec::corrupt("ledger is out of range"))?;
            out.insert(
                ledger,
                Totals {
                    debits_pending: codec::sum_of(r, 1)?,
                    debits_posted: codec::sum_of(r, 2)?,
                    credits_pending: codec::sum_of(r, 3)?,
                    credits_posted: codec::sum_of(r, 4)?,
                },
            );
        }
        Ok(out)
    }

    /// The last timestamp assigned (nanoseconds).
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn clock(&self) -> Result<u64, PgError> {
        let last: String = sqlx::query_scalar("SELECT last::text FROM tally_clock")
            .fetch_one(&self.pool)
            .await?;
        last.parse()
            .map_err(|_| codec::corrupt("the clock is not a 64-bit value"))
    }

    /// The number of accounts and transfers.
    ///
    /// # Errors
    /// [`PgError`] when the database fails.
    pub async fn counts(&self) -> Result<(usize, usize), PgError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM tally_accounts), (SELECT count(*) FROM tally_transfers)",
        )
        .fetch_one(&self.pool)
        .await?;
        let (a, t): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok((
            usize::try_from(a).unwrap_or(usize::MAX),
            usize::try_from(t).unwrap_or(usize::MAX),
        ))
    }
}
