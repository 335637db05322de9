//! One batch, one transaction: lock the clock, fetch, apply on a scratch
//! ledger, write back, journal, commit.

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, Postgres, Transaction};

use super::codec::{self, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS, text};
use super::journal;
use super::{Fail, MAX_DUE_EXPIRIES, PgError, PgLedger, check_size, failed_result};
use crate::journal::{encode_accounts, encode_transfers};
use crate::result::{CreateAccountResult, CreateTransferResult};
use crate::state::Ledger;
use crate::types::{Account, NewAccount, NewTransfer, PendingState};

/// What the batch read, as it was: to write back only what changed,
/// conditionally on it being unchanged.
#[derive(Default)]
struct Loaded {
    accounts: HashMap<u128, (Account, i64)>,
    transfers: HashSet<u128>,
    pending: HashMap<u128, PendingState>,
    failed: HashSet<u128>,
}

fn valid_id(id: u128) -> bool {
    id != 0 && id != u128::MAX
}

fn texts(ids: impl IntoIterator<Item = u128>) -> Vec<String> {
    ids.into_iter().map(text).collect()
}

impl PgLedger {
    /// Creates accounts; one result per event, as
    /// [`Ledger::create_accounts`].
    ///
    /// # Errors
    /// [`PgError`]: nothing was applied.
    pub async fn create_accounts(
        &self,
        events: &[NewAccount],
        now: u64,
    ) -> Result<Vec<CreateAccountResult>, PgError> {
        check_size(events.len())?;
        self.retrying(|| self.accounts_once(events, now)).await
    }

    /// Creates transfers (posts, voids) after expiring the holds due at
    /// `now`; one result per event, as [`Ledger::create_transfers`].
    ///
    /// # Errors
    /// [`PgError`]: nothing was applied.
    pub async fn create_transfers(
        &self,
        events: &[NewTransfer],
        now: u64,
    ) -> Result<Vec<CreateTransferResult>, PgError> {
        check_size(events.len())?;
        self.retrying(|| self.transfers_once(events, now)).await
    }

    async fn accounts_once(
        &self,
        events: &[NewAccount],
        now: u64,
    ) -> Result<Vec<CreateAccountResult>, Fail> {
        let mut tx = self.pool.begin().await?;
        let head = journal::lock_clock(&mut tx).await?;
        let mut scratch = Ledger::new();
        scratch.load_clock(head.last);
        let ids: Vec<u128> = events
            .iter()
            .map(|e| e.id)
            .filter(|id| valid_id(*id))
            .collect();
        let mut loaded = Loaded::default();
        fetch_accounts(&mut tx, &ids, &mut scratch, &mut loaded).await?;
        let results = scratch
            .create_accounts(events, now)
            .map_err(PgError::Batch)?;
        let mut new: Vec<&Account> = scratch
            .accounts()
            .filter(|a| !loaded.accounts.contains_key(&a.id))
            .collect();
        new.sort_by_key(|a| a.timestamp);
        insert_accounts(&mut tx, &new).await?;
        let payload = encode_accounts(events, now);
        journal::append(&mut tx, &head, &payload, scratch.clock(), &self.writer).await?;
        tx.commit().await?;
        Ok(results)
    }

    async fn transfers_once(
        &self,
        events: &[NewTransfer],
        now: u64,
    ) -> Result<Vec<CreateTransferResult>, Fail> {
        let mut tx = self.pool.begin().await?;
        let head = journal::lock_clock(&mut tx).await?;
        let clock = expire_beyond_one_scratch(&mut tx, head.last, now).await?;
        let mut scratch = Ledger::new();
        scratch.load_clock(clock);
        let mut loaded = Loaded::default();
        let due = fetch_due(&mut tx, now).await?;
        let mut ids: Vec<u128> = events
            .iter()
            .flat_map(|e| [e.id, e.pending_id])
            .chain(due.iter().map(|d| d.0))
            .filter(|id| valid_id(*id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let named = fetch_transfers(&mut tx, &ids, &mut scratch, &mut loaded).await?;
        let mut accounts: Vec<u128> = events
            .iter()
            .flat_map(|e| [e.debit_account_id, e.credit_account_id])
            .chain(named)
            .filter(|id| valid_id(*id))
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        fetch_accounts(&mut tx, &accounts, &mut scratch, &mut loaded).await?;
        let event_ids: Vec<u128> = events
            .iter()
            .map(|e| e.id)
            .filter(|id| valid_id(*id))
            .collect();
        fetch_failed(&mut tx, &event_ids, &mut scratch, &mut loaded).await?;
        let results = scratch
            .create_transfers(events, now)
            .map_err(PgError::Batch)?;
        write_back(&mut tx, &scratch, &loaded).await?;
        let payload = encode_transfers(events, now);
        journal::append(&mut tx, &head, &payload, scratch.clock(), &self.writer).await?;
        tx.commit().await?;
        Ok(results)
    }
}

/// While more holds are due at `now` than one scratch ledger takes
/// ([`MAX_DUE_EXPIRIES`]), expires the first of them (in expiry order, as
/// [`Ledger::expire`] does) in a scratch ledger of their own, in the same
/// transaction; returns the clock after them. The batch's own scratch
/// ledger then expires the rest: the effect is one `expire(now)`.
async fn expire_beyond_one_scratch(
    tx: &mut Transaction<'_, Postgres>,
    mut clock: u64,
    now: u64,
) -> Result<u64, Fail> {
    loop {
        let due = fetch_due(tx, now).await?;
        if due.len() <= MAX_DUE_EXPIRIES {
            return Ok(clock);
        }
        let mut scratch = Ledger::new();
        scratch.load_clock(clock);
        let mut loaded = Loaded::default();
        let ids: Vec<u128> = due.iter().take(MAX_DUE_EXPIRIES).map(|d| d.0).collect();
        let mut accounts = fetch_transfers(tx, &ids, &mut scratch, &mut loaded).await?;
        accounts.sort_unstable();
        accounts.dedup();
        fetch_accounts(tx, &accounts, &mut scratch, &mut loaded).await?;
        scratch.expire(now);
        write_back(tx, &scratch, &loaded).await?;
        clock = scratch.clock();
    }
}

/// Holds due at `now` (at most one more than a scratch ledger takes), in
/// expiry order: (id, expires_at).
async fn fetch_due(tx: &mut PgConnection, now: u64) -> Result<Vec<(u128, u64)>, Fail> {
    let rows = sqlx::query(
        "SELECT p.id::text, p.expires_at::text FROM tally_pending AS p \
         WHERE p.state = 'pending' AND p.expires_at IS NOT NULL \
         AND p.expires_at <= $1::text::numeric ORDER BY p.expires_at, p.id LIMIT $2",
    )
    .bind(text(now))
    .bind(i64::try_from(MAX_DUE_EXPIRIES + 1).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| Ok((codec::u128_of(r, 0)?, codec::u64_of(r, 1)?)))
        .collect::<Result<_, PgError>>()
        .map_err(Fail::Fatal)
}

/// Loads the transfers with these ids (and their pending states); returns
/// the accounts they name.
async fn fetch_transfers(
    tx: &mut PgConnection,
    ids: &[u128],
    scratch: &mut Ledger,
    loaded: &mut Loaded,
) -> Result<Vec<u128>, Fail> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(codec::sql(format!(
        "SELECT {TRANSFER_COLUMNS}, {PENDING_COLUMNS} FROM tally_transfers t \
         LEFT JOIN tally_pending p ON p.id = t.id WHERE t.id = ANY($1::text[]::numeric[])"
    )))
    .bind(texts(ids.iter().copied()))
    .fetch_all(&mut *tx)
    .await?;
    let mut accounts = Vec::with_capacity(rows.len() * 2);
    for row in &rows {
        let t = codec::transfer(row)?;
        let (state, expires_at) = codec::pending(row, 13)?;
        accounts.extend([t.debit_account_id, t.credit_account_id]);
        loaded.transfers.insert(t.id);
        if let Some(s) = state {
            loaded.pending.insert(t.id, s);
        }
        scratch.load_transfer(t, state, expires_at);
    }
    Ok(accounts)
}

async fn fetch_accounts(
    tx: &mut PgConnection,
    ids: &[u128],
    scratch: &mut Ledger,
    loaded: &mut Loaded,
) -> Result<(), Fail> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(codec::sql(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM tally_accounts WHERE id = ANY($1::text[]::numeric[])"
    )))
    .bind(texts(ids.iter().copied()))
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let (a, version) = codec::account(row)?;
        loaded.accounts.insert(a.id, (a, version));
        scratch.load_account(a);
    }
    Ok(())
}

async fn fetch_failed(
    tx: &mut PgConnection,
    ids: &[u128],
    scratch: &mut Ledger,
    loaded: &mut Loaded,
) -> Result<(), Fail> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT id::text, result FROM tally_failed WHERE id = ANY($1::text[]::numeric[])",
    )
    .bind(texts(ids.iter().copied()))
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let id = codec::u128_of(row, 0)?;
        let name: String = sqlx::Row::try_get(row, 1)?;
        let result = failed_result(&name)
            .ok_or_else(|| codec::corrupt(format!("failed result {name:?}")))?;
        loaded.failed.insert(id);
        scratch.load_failed(id, result);
    }
    Ok(())
}

/// Writes what the batch changed: balances (conditional on the versions
/// read), new transfers, pending states, failed ids and history.
async fn write_back(
    tx: &mut Transaction<'_, Postgres>,
    scratch: &Ledger,
    loaded: &Loaded,
) -> Result<(), Fail> {
    let mut changed: Vec<(Account, i64)> = loaded
        .accounts
        .values()
        .filter_map(|(before, version)| {
            let now = scratch.account(before.id)?;
            let same = (
                now.debits_pending,
                now.debits_posted,
                now.credits_pending,
                now.credits_posted,
            ) == (
                before.debits_pending,
                before.debits_posted,
                before.credits_pending,
                before.credits_posted,
            );
            (!same).then_some((*now, *version))
        })
        .collect();
    changed.sort_by_key(|(a, _)| a.id);
    update_balances(tx, &changed).await?;
    insert_transfers(tx, scratch, loaded).await?;
    write_pending(tx, scratch, loaded).await?;
    insert_failed(tx, scratch, loaded).await?;
    insert_history(tx, scratch).await
}

async fn insert_accounts(tx: &mut PgConnection, new: &[&Account]) -> Result<(), Fail> {
    if new.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tally_accounts (id, debits_pending, debits_posted, credits_pending, \
         credits_posted, user_data_128, user_data_64, user_data_32, ledger, code, flags, \
         timestamp, version) \
         SELECT u.id::numeric, 0, 0, 0, 0, u.ud128::numeric, u.ud64::numeric, u.ud32, u.ledger, \
         u.code, u.flags, u.ts::numeric, 0 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int4[], \
         $7::int4[], $8::text[]) AS u(id, ud128, ud64, ud32, ledger, code, flags, ts)",
    )
    .bind(texts(new.iter().map(|a| a.id)))
    .bind(texts(new.iter().map(|a| a.user_data_128)))
    .bind(new.iter().map(|a| text(a.user_data_64)).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|a| i64::from(a.user_data_32))
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|a| i64::from(a.ledger)).collect::<Vec<_>>())
    .bind(new.iter().map(|a| i32::from(a.code)).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|a| i32::from(a.flags.bits()))
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|a| text(a.timestamp)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The balances, conditional on each account's version being the one
/// read: an account another writer changed in between is not updated,
/// and the batch is retried.
async fn update_balances(tx: &mut PgConnection, changed: &[(Account, i64)]) -> Result<(), Fail> {
    if changed.is_empty() {
        return Ok(());
    }
    let done = sqlx::query(
        "UPDATE tally_accounts AS a SET debits_pending = u.dp::numeric, \
         debits_posted = u.dpo::numeric, credits_pending = u.cp::numeric, \
         credits_posted = u.cpo::numeric, version = a.version + 1 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
         AS u(id, dp, dpo, cp, cpo, v) WHERE a.id = u.id::numeric AND a.version = u.v",
    )
    .bind(texts(changed.iter().map(|(a, _)| a.id)))
    .bind(texts(changed.iter().map(|(a, _)| a.debits_pending)))
    .bind(texts(changed.iter().map(|(a, _)| a.debits_posted)))
    .bind(texts(changed.iter().map(|(a, _)| a.credits_pending)))
    .bind(texts(changed.iter().map(|(a, _)| a.credits_posted)))
    .bind(changed.iter().map(|(_, v)| *v).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    if usize::try_from(done.rows_affected()).ok() != Some(changed.len()) {
        return Err(Fail::Retry);
    }
    Ok(())
}

async fn insert_transfers(
    tx: &mut PgConnection,
    scratch: &Ledger,
    loaded: &Loaded,
) -> Result<(), Fail> {
    let mut new: Vec<_> = scratch
        .transfers_held()
        .filter(|t| !loaded.transfers.contains(&t.id))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    new.sort_by_key(|t| t.timestamp);
    sqlx::query(
        "INSERT INTO tally_transfers (id, debit_account_id, credit_account_id, amount, \
         pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, \
         timestamp) \
         SELECT u.id::numeric, u.dr::numeric, u.cr::numeric, u.amount::numeric, u.pid::numeric, \
         u.ud128::numeric, u.ud64::numeric, u.ud32, u.timeout, u.ledger, u.code, u.flags, \
         u.ts::numeric \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int4[], $12::int4[], $13::text[]) \
         AS u(id, dr, cr, amount, pid, ud128, ud64, ud32, timeout, ledger, code, flags, ts)",
    )
    .bind(texts(new.iter().map(|t| t.id)))
    .bind(texts(new.iter().map(|t| t.debit_account_id)))
    .bind(texts(new.iter().map(|t| t.credit_account_id)))
    .bind(texts(new.iter().map(|t| t.amount)))
    .bind(texts(new.iter().map(|t| t.pending_id)))
    .bind(texts(new.iter().map(|t| t.user_data_128)))
    .bind(new.iter().map(|t| text(t.user_data_64)).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|t| i64::from(t.user_data_32))
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|t| i64::from(t.timeout)).collect::<Vec<_>>())
    .bind(new.iter().map(|t| i64::from(t.ledger)).collect::<Vec<_>>())
    .bind(new.iter().map(|t| i32::from(t.code)).collect::<Vec<_>>())
    .bind(
        new.iter()
            .map(|t| i32::from(t.flags.bits()))
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|t| text(t.timestamp)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// New pending transfers' states (with their expiry), and the states the
/// batch changed, conditional on them still being `pending`.
async fn write_pending(
    tx: &mut PgConnection,
    scratch: &Ledger,
    loaded: &Loaded,
) -> Result<(), Fail> {
    let expiries: HashMap<u128, u64> = scratch.expiries_held().map(|(at, id)| (*id, *at)).collect();
    let mut new = Vec::new();
    let mut changed = Vec::new();
    for (&id, &state) in scratch.pending_held() {
        match loaded.pending.get(&id) {
            None => new.push((id, state, expiries.get(&id).copied())),
            Some(before) if *before != state => changed.push((id, state)),
            Some(_) => {}
        }
    }
    if !new.is_empty() {
        new.sort_by_key(|(id, _, _)| *id);
        let (states, posted): (Vec<&str>, Vec<Option<String>>) =
            new.iter().map(|(_, s, _)| codec::pending_text(*s)).unzip();
        sqlx::query(
            "INSERT INTO tally_pending (id, state, posted_amount, expires_at) \
             SELECT u.id::numeric, u.state, u.posted::numeric, u.expires::numeric \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
             AS u(id, state, posted, expires)",
        )
        .bind(texts(new.iter().map(|(id, _, _)| *id)))
        .bind(states)
        .bind(posted)
        .bind(
            new.iter()
                .map(|(_, _, at)| at.map(text))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
    }
    if changed.is_empty() {
        return Ok(());
    }
    changed.sort_by_key(|(id, _)| *id);
    let (states, posted): (Vec<&str>, Vec<Option<String>>) =
        changed.iter().map(|(_, s)| codec::pending_text(*s)).unzip();
    let done = sqlx::query(
        "UPDATE tally_pending AS p SET state = u.state, posted_amount = u.posted::numeric \
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, state, posted) \
         WHERE p.id = u.id::numeric AND p.state = 'pending'",
    )
    .bind(texts(changed.iter().map(|(id, _)| *id)))
    .bind(states)
    .bind(posted)
    .execute(&mut *tx)
    .await?;
    if usize::try_from(done.rows_affected()).ok() != Some(changed.len()) {
        return Err(Fail::Retry);
    }
    Ok(())
}

async fn insert_failed(
    tx: &mut PgConnection,
    scratch: &Ledger,
    loaded: &Loaded,
) -> Result<(), Fail> {
    let mut new: Vec<(u128, &'static str)> = scratch
        .failed_held()
        .filter(|(id, _)| !loaded.failed.contains(id))
        .map(|(id, r)| (*id, r.as_str()))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    new.sort_unstable();
    sqlx::query(
        "INSERT INTO tally_failed (id, result) SELECT u.id::numeric, u.result \
         FROM unnest($1::text[], $2::text[]) AS u(id, result)",
    )
    .bind(texts(new.iter().map(|(id, _)| *id)))
    .bind(new.iter().map(|(_, r)| *r).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The scratch ledger starts with no history: all it holds is new.
async fn insert_history(tx: &mut PgConnection, scratch: &Ledger) -> Result<(), Fail> {
    let rows: Vec<(u128, &crate::types::AccountBalance)> = scratch
        .history_held()
        .flat_map(|(id, list)| list.iter().map(move |b| (*id, b)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tally_history (account_id, timestamp, debits_pending, debits_posted, \
         credits_pending, credits_posted) \
         SELECT u.id::numeric, u.ts::numeric, u.dp::numeric, u.dpo::numeric, u.cp::numeric, \
         u.cpo::numeric FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
         $6::text[]) AS u(id, ts, dp, dpo, cp, cpo)",
    )
    .bind(texts(rows.iter().map(|(id, _)| *id)))
    .bind(
        rows.iter()
            .map(|(_, b)| text(b.timestamp))
            .collect::<Vec<_>>(),
    )
    .bind(texts(rows.iter().map(|(_, b)| b.debits_pending)))
    .bind(texts(rows.iter().map(|(_, b)| b.debits_posted)))
    .bind(texts(rows.iter().map(|(_, b)| b.credits_pending)))
    .bind(texts(rows.iter().map(|(_, b)| b.credits_posted)))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
