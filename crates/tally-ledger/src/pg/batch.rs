//! One batch, one transaction: lock the clock, fetch, apply on a scratch
//! ledger, write back, journal, commit.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use sqlx::{PgConnection, Row};

use super::codec::{self, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS, text};
use super::journal;
use super::{Fail, MAX_DUE_EXPIRIES, PgError, PgLedger, check_size, failed_result};
use crate::journal::{encode_accounts, encode_transfers};
use crate::result::{CreateAccountResult, CreateTransferResult};
use crate::state::Ledger;
use crate::types::{Account, AccountBalance, NewAccount, NewTransfer, PendingState, Transfer};

/// What the batch read, as it was: to write back only what changed,
/// conditionally on it being unchanged.
#[derive(Default)]
struct Loaded {
    accounts: HashMap<u128, (Account, i64)>,
    transfers: HashSet<u128>,
    pending: HashMap<u128, PendingState>,
    failed: HashSet<u128>,
}

/// A batch's `BEGIN`: its commit does not wait for the write-ahead log to
/// reach the disk, so the clock row is free for the next batch as soon as
/// the commit is recorded; [`PgLedger::durable`] waits for the disk before
/// the results are returned. A later batch's commit record comes after this
/// one's in the log, so no later batch can be durable without this one.
const BEGIN_ASYNC: &str = "BEGIN; SET LOCAL synchronous_commit TO off";

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
        // The journal record depends on the events alone: encoded once,
        // outside the transaction.
        let payload = encode_accounts(events, now);
        let results = self
            .retrying(|| self.accounts_once(events, now, &payload))
            .await?;
        self.durable().await?;
        Ok(results)
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
        let payload = encode_transfers(events, now);
        let results = self
            .retrying(|| self.transfers_once(events, now, &payload))
            .await?;
        self.durable().await?;
        Ok(results)
    }

    /// Waits until every batch this process committed is durable: one
    /// synchronous commit of a row of `tally_flush` flushes the
    /// write-ahead log past their (asynchronous) commit records. The
    /// batch's results are returned only after this; if it fails, the
    /// batch committed but is not acknowledged (resubmitted, it is
    /// `exists`).
    async fn durable(&self) -> Result<(), PgError> {
        sqlx::query(
            "INSERT INTO tally_flush AS f (backend, commits) VALUES (pg_backend_pid(), 1) \
             ON CONFLICT (backend) DO UPDATE SET commits = f.commits + 1",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn accounts_once(
        &self,
        events: &[NewAccount],
        now: u64,
        payload: &str,
    ) -> Result<Vec<CreateAccountResult>, Fail> {
        let mut tx = self.pool.begin_with(BEGIN_ASYNC).await?;
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
        let record = journal::Record::new(&head, payload, scratch.clock());
        journal::append(&mut tx, &record, &self.writer).await?;
        tx.commit().await?;
        Ok(results)
    }

    async fn transfers_once(
        &self,
        events: &[NewTransfer],
        now: u64,
        payload: &str,
    ) -> Result<Vec<CreateTransferResult>, Fail> {
        let mut tx = self.pool.begin_with(BEGIN_ASYNC).await?;
        let head = journal::lock_clock(&mut tx).await?;
        let mut scratch = Ledger::new();
        let mut loaded = Loaded::default();
        let mut clock = head.last;
        if !load_batch(&mut tx, events, now, &mut scratch, &mut loaded).await? {
            // More holds are due than one scratch ledger takes: expire the
            // first of them in chunks, then load again (now few enough).
            clock = expire_beyond_one_scratch(&mut tx, clock, now).await?;
            scratch = Ledger::new();
            loaded = Loaded::default();
            if !load_batch(&mut tx, events, now, &mut scratch, &mut loaded).await? {
                return Err(Fail::Fatal(codec::corrupt("holds due after expiring them")));
            }
        }
        scratch.load_clock(clock);
        let results = scratch
            .create_transfers(events, now)
            .map_err(PgError::Batch)?;
        let record = journal::Record::new(&head, payload, scratch.clock());
        write_back(&mut tx, &scratch, &loaded, Some((&record, &self.writer))).await?;
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
    tx: &mut PgConnection,
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
        write_back(tx, &scratch, &loaded, None).await?;
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

/// Loads what a transfers batch reads, in one statement: the transfers and
/// failed ids with its ids and pending ids, the holds due at `now`, and the
/// accounts the events and those transfers name. Returns `false` (loading
/// nothing) when more holds are due than one scratch ledger takes.
async fn load_batch(
    tx: &mut PgConnection,
    events: &[NewTransfer],
    now: u64,
    scratch: &mut Ledger,
    loaded: &mut Loaded,
) -> Result<bool, Fail> {
    let mut ids: Vec<u128> = events
        .iter()
        .flat_map(|e| [e.id, e.pending_id])
        .filter(|id| valid_id(*id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut accounts: Vec<u128> = events
        .iter()
        .flat_map(|e| [e.debit_account_id, e.credit_account_id])
        .filter(|id| valid_id(*id))
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    let rows = sqlx::query(sqlx::AssertSqlSafe(LOAD.as_str()))
        .bind(texts(ids))
        .bind(texts(accounts))
        .bind(text(now))
        .bind(i64::try_from(MAX_DUE_EXPIRIES + 1).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
    let mut held = Vec::new();
    for row in &rows {
        let kind: String = row.try_get(0)?;
        match kind.as_str() {
            "d" => {
                let due: i64 = row.try_get(31)?;
                if usize::try_from(due).map_or(true, |due| due > MAX_DUE_EXPIRIES) {
                    return Ok(false);
                }
            }
            "t" => held.push(row),
            "a" => {
                let (a, version) = codec::account_at(row, 19)?;
                loaded.accounts.insert(a.id, (a, version));
                scratch.load_account(a);
            }
            other => return Err(Fail::Fatal(codec::corrupt(format!("load row {other:?}")))),
        }
    }
    for row in held {
        let id = codec::u128_of(row, 1)?;
        if row.try_get::<Option<String>, _>(2)?.is_some() {
            let t = codec::transfer_at(row, 2)?;
            let (state, expires_at) = codec::pending(row, 15)?;
            loaded.transfers.insert(t.id);
            if let Some(s) = state {
                loaded.pending.insert(t.id, s);
            }
            scratch.load_transfer(t, state, expires_at);
        }
        if let Some(name) = row.try_get::<Option<String>, _>(18)? {
            let result = failed_result(&name)
                .ok_or_else(|| codec::corrupt(format!("failed result {name:?}")))?;
            loaded.failed.insert(id);
            scratch.load_failed(id, result);
        }
    }
    Ok(true)
}

/// The statement of [`load_batch`]. `$1`: the events' ids and pending ids;
/// `$2`: the accounts the events name; `$3`: now; `$4`: the most holds due
/// to load (one more than a scratch ledger takes). Each row is a `t` (an
/// id's transfer, pending state and failure: columns 1–18), an `a` (an
/// account: columns 19–31) or the one `d` (the number of holds due, in
/// column 31).
static LOAD: LazyLock<String> = LazyLock::new(|| {
    let no_transfer = "NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, \
        NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, \
        NULL::integer, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text";
    let no_account = "NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, \
        NULL::text, NULL::bigint, NULL::bigint, NULL::integer, NULL::integer, NULL::text";
    // Point lookups by primary key: a LATERAL subquery with LIMIT is not
    // flattened into a join, so each id is one index probe whatever the
    // planner's statistics say (a hash join over a table scan would grow
    // with the table).
    format!(
        "WITH due AS (SELECT p.id FROM tally_pending AS p \
             WHERE p.state = 'pending' AND p.expires_at IS NOT NULL \
             AND p.expires_at <= $3::text::numeric ORDER BY p.expires_at, p.id LIMIT $4), \
         ids AS (SELECT unnest($1::text[]::numeric[]) AS key UNION SELECT id FROM due), \
         named AS (SELECT n.debit_account_id, n.credit_account_id FROM ids \
             JOIN LATERAL (SELECT debit_account_id, credit_account_id FROM tally_transfers \
             WHERE id = ids.key LIMIT 1) AS n ON true), \
         wanted AS (SELECT unnest($2::text[]::numeric[]) AS account \
             UNION SELECT debit_account_id FROM named \
             UNION SELECT credit_account_id FROM named) \
         SELECT 't', ids.key::text, {TRANSFER_COLUMNS}, {PENDING_COLUMNS}, f.result, \
             {no_account}, NULL::bigint \
         FROM ids \
             LEFT JOIN LATERAL (SELECT * FROM tally_transfers WHERE id = ids.key LIMIT 1) \
             AS t ON true \
             LEFT JOIN LATERAL (SELECT * FROM tally_pending WHERE id = ids.key LIMIT 1) \
             AS p ON true \
             LEFT JOIN LATERAL (SELECT * FROM tally_failed WHERE id = ids.key LIMIT 1) \
             AS f ON true \
         WHERE t.id IS NOT NULL OR f.id IS NOT NULL \
         UNION ALL \
         SELECT 'a', {no_transfer}, {ACCOUNT_COLUMNS} \
         FROM wanted \
             JOIN LATERAL (SELECT * FROM tally_accounts WHERE id = wanted.account LIMIT 1) \
             AS a ON true \
         UNION ALL \
         SELECT 'd', {no_transfer}, {no_account}, (SELECT count(*) FROM due)"
    )
});

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

/// The balance, pending-state and history writes of a batch, in one
/// statement (data-modifying CTEs over arrays): balances conditional on the
/// versions read, pending states conditional on still being `pending`; the
/// statement returns how many of each it changed.
const WRITES: &str = "\
ua AS (UPDATE tally_accounts AS a SET debits_pending = u.dp::numeric, \
    debits_posted = u.dpo::numeric, credits_pending = u.cp::numeric, \
    credits_posted = u.cpo::numeric, version = a.version + 1 \
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
    AS u(id, dp, dpo, cp, cpo, v) WHERE a.id = u.id::numeric AND a.version = u.v RETURNING 1), \
it AS (INSERT INTO tally_transfers (id, debit_account_id, credit_account_id, amount, \
    pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, \
    timestamp, journal_seq) \
    SELECT u.id::numeric, u.dr::numeric, u.cr::numeric, u.amount::numeric, u.pid::numeric, \
    u.ud128::numeric, u.ud64::numeric, u.ud32, u.timeout, u.ledger, u.code, u.flags, \
    u.ts::numeric, {SEQ} \
    FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::text[], $14::int8[], $15::int8[], $16::int8[], $17::int4[], $18::int4[], \
    $19::text[]) AS u(id, dr, cr, amount, pid, ud128, ud64, ud32, timeout, ledger, code, \
    flags, ts)), \
ip AS (INSERT INTO tally_pending (id, state, posted_amount, expires_at) \
    SELECT u.id::numeric, u.state, u.posted::numeric, u.expires::numeric \
    FROM unnest($20::text[], $21::text[], $22::text[], $23::text[]) \
    AS u(id, state, posted, expires)), \
up AS (UPDATE tally_pending AS p SET state = u.state, posted_amount = u.posted::numeric \
    FROM unnest($24::text[], $25::text[], $26::text[]) AS u(id, state, posted) \
    WHERE p.id = u.id::numeric AND p.state = 'pending' RETURNING 1), \
fi AS (INSERT INTO tally_failed (id, result) SELECT u.id::numeric, u.result \
    FROM unnest($27::text[], $28::text[]) AS u(id, result)), \
hi AS (INSERT INTO tally_history (account_id, timestamp, debits_pending, debits_posted, \
    credits_pending, credits_posted) \
    SELECT u.id::numeric, u.ts::numeric, u.dp::numeric, u.dpo::numeric, u.cp::numeric, \
    u.cpo::numeric FROM unnest($29::text[], $30::text[], $31::text[], $32::text[], \
    $33::text[], $34::text[]) AS u(id, ts, dp, dpo, cp, cpo))";

/// The journal record and the clock, appended to [`WRITES`].
const JOURNAL_WRITES: &str = ", \
j AS (INSERT INTO tally_journal (seq, prev, payload, hash, writer) \
    VALUES ($35, $36, $37, $38, $39)), \
c AS (UPDATE tally_clock SET last = $40::text::numeric, batches = $35, head = $38)";

const WRITES_RESULT: &str = " SELECT (SELECT count(*) FROM ua), (SELECT count(*) FROM up)";

// Transfers record the journal record that created them (`$35`, its seq);
// a write without a journal record (holds expired ahead of a batch)
// creates no transfer.
static WRITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}{WRITES_RESULT}",
        WRITES.replace("{SEQ}", "NULL::bigint")
    )
});
static WRITE_AND_JOURNAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}{JOURNAL_WRITES}{WRITES_RESULT}",
        WRITES.replace("{SEQ}", "$35::bigint")
    )
});

/// What a batch changed, as the arrays [`WRITES`] binds.
#[derive(Default)]
struct Changes {
    balances: Vec<(Account, i64)>,
    transfers: Vec<Transfer>,
    new_pending: Vec<(u128, PendingState, Option<u64>)>,
    changed_pending: Vec<(u128, PendingState)>,
    failed: Vec<(u128, &'static str)>,
    history: Vec<(u128, AccountBalance)>,
}

impl Changes {
    /// The differences between the scratch ledger and what was loaded.
    fn of(scratch: &Ledger, loaded: &Loaded) -> Self {
        let mut c = Self::default();
        for (before, version) in loaded.accounts.values() {
            let Some(now) = scratch.account(before.id) else {
                continue;
            };
            let balances = |a: &Account| {
                (
                    a.debits_pending,
                    a.debits_posted,
                    a.credits_pending,
                    a.credits_posted,
                )
            };
            if balances(now) != balances(before) {
                c.balances.push((*now, *version));
            }
        }
        c.balances.sort_by_key(|(a, _)| a.id);
        c.transfers = scratch
            .transfers_held()
            .filter(|t| !loaded.transfers.contains(&t.id))
            .copied()
            .collect();
        c.transfers.sort_by_key(|t| t.timestamp);
        let expiries: HashMap<u128, u64> =
            scratch.expiries_held().map(|(at, id)| (*id, *at)).collect();
        for (&id, &state) in scratch.pending_held() {
            match loaded.pending.get(&id) {
                None => c.new_pending.push((id, state, expiries.get(&id).copied())),
                Some(before) if *before != state => c.changed_pending.push((id, state)),
                Some(_) => {}
            }
        }
        c.new_pending.sort_by_key(|(id, _, _)| *id);
        c.changed_pending.sort_by_key(|(id, _)| *id);
        c.failed = scratch
            .failed_held()
            .filter(|(id, _)| !loaded.failed.contains(id))
            .map(|(id, r)| (*id, r.as_str()))
            .collect();
        c.failed.sort_unstable();
        // The scratch ledger starts with no history: all it holds is new.
        c.history = scratch
            .history_held()
            .flat_map(|(id, list)| list.iter().map(move |b| (*id, *b)))
            .collect();
        c
    }
}

/// Writes what the batch changed (and, with `journal`, its journal record
/// and the clock) in one statement. A balance or pending state changed
/// meanwhile by another writer is not written: the batch is retried.
async fn write_back(
    tx: &mut PgConnection,
    scratch: &Ledger,
    loaded: &Loaded,
    journal: Option<(&journal::Record<'_>, &str)>,
) -> Result<(), Fail> {
    let c = Changes::of(scratch, loaded);
    let (pending_states, pending_posted): (Vec<&str>, Vec<Option<String>>) = c
        .new_pending
        .iter()
        .map(|(_, s, _)| codec::pending_text(*s))
        .unzip();
    let (changed_states, changed_posted): (Vec<&str>, Vec<Option<String>>) = c
        .changed_pending
        .iter()
        .map(|(_, s)| codec::pending_text(*s))
        .unzip();
    let statement = if journal.is_some() {
        &*WRITE_AND_JOURNAL
    } else {
        &*WRITE
    };
    let t = &c.transfers;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
        .bind(texts(c.balances.iter().map(|(a, _)| a.id)))
        .bind(texts(c.balances.iter().map(|(a, _)| a.debits_pending)))
        .bind(texts(c.balances.iter().map(|(a, _)| a.debits_posted)))
        .bind(texts(c.balances.iter().map(|(a, _)| a.credits_pending)))
        .bind(texts(c.balances.iter().map(|(a, _)| a.credits_posted)))
        .bind(c.balances.iter().map(|(_, v)| *v).collect::<Vec<_>>())
        .bind(texts(t.iter().map(|t| t.id)))
        .bind(texts(t.iter().map(|t| t.debit_account_id)))
        .bind(texts(t.iter().map(|t| t.credit_account_id)))
        .bind(texts(t.iter().map(|t| t.amount)))
        .bind(texts(t.iter().map(|t| t.pending_id)))
        .bind(texts(t.iter().map(|t| t.user_data_128)))
        .bind(t.iter().map(|t| text(t.user_data_64)).collect::<Vec<_>>())
        .bind(
            t.iter()
                .map(|t| i64::from(t.user_data_32))
                .collect::<Vec<_>>(),
        )
        .bind(t.iter().map(|t| i64::from(t.timeout)).collect::<Vec<_>>())
        .bind(t.iter().map(|t| i64::from(t.ledger)).collect::<Vec<_>>())
        .bind(t.iter().map(|t| i32::from(t.code)).collect::<Vec<_>>())
        .bind(
            t.iter()
                .map(|t| i32::from(t.flags.bits()))
                .collect::<Vec<_>>(),
        )
        .bind(t.iter().map(|t| text(t.timestamp)).collect::<Vec<_>>())
        .bind(texts(c.new_pending.iter().map(|(id, _, _)| *id)))
        .bind(pending_states)
        .bind(pending_posted)
        .bind(
            c.new_pending
                .iter()
                .map(|(_, _, at)| at.map(text))
                .collect::<Vec<_>>(),
        )
        .bind(texts(c.changed_pending.iter().map(|(id, _)| *id)))
        .bind(changed_states)
        .bind(changed_posted)
        .bind(texts(c.failed.iter().map(|(id, _)| *id)))
        .bind(c.failed.iter().map(|(_, r)| *r).collect::<Vec<_>>())
        .bind(texts(c.history.iter().map(|(id, _)| *id)))
        .bind(
            c.history
                .iter()
                .map(|(_, b)| text(b.timestamp))
                .collect::<Vec<_>>(),
        )
        .bind(texts(c.history.iter().map(|(_, b)| b.debits_pending)))
        .bind(texts(c.history.iter().map(|(_, b)| b.debits_posted)))
        .bind(texts(c.history.iter().map(|(_, b)| b.credits_pending)))
        .bind(texts(c.history.iter().map(|(_, b)| b.credits_posted)));
    if let Some((record, writer)) = journal {
        query = record.bind(query, writer);
    }
    let row = query.fetch_one(&mut *tx).await?;
    let (balances, pending): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let written = |n: i64, want: usize| usize::try_from(n).ok() == Some(want);
    if !written(balances, c.balances.len()) || !written(pending, c.changed_pending.len()) {
        return Err(Fail::Retry);
    }
    Ok(())
}
