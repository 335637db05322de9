//! The journal in the database: one record per batch (the file journal's
//! JSON record), bound into one SHA-256 hash chain that starts from the
//! journal's random id, with signed checkpoints over a Merkle tree of the
//! chain; and `verify`, which walks the chain, checks the checkpoints and
//! replays the journal into a fresh ledger, comparing every table.
//!
//! ```text
//! genesis  = SHA-256("tally/ledger/pg-journal/v1" ‖ 0x00 ‖ journal_id)
//! hash_n   = SHA-256("tally/ledger/pg-journal/v1" ‖ 0x01 ‖ u64be(n) ‖ hash_{n-1}
//!                    ‖ u64be(len(payload_n)) ‖ payload_n)
//! leaf_n   = RFC 6962 leaf hash of hash_n; a checkpoint signs the tree of
//!            leaf_1..leaf_size (a C2SP signed note, tally-audit's format)
//! ```
//!
//! Batches are journaled in the order they are applied (the clock row
//! orders them), so one chain holds every process's batches.

use std::collections::BTreeMap;

use sqlx::{PgConnection, Row};
use tally_audit::{Checkpoint, CheckpointSigner, LogId, NoteVerifier, ProofIndex};

use super::codec::{self, ACCOUNT_COLUMNS, PENDING_COLUMNS, TRANSFER_COLUMNS, text};
use super::{Fail, PAGE_ROWS, PgError, PgLedger};
use crate::journal::{Batch, decode};
use crate::state::{Ledger, Totals};

/// The clock row, locked by the batch that read it.
pub(super) struct Head {
    pub(super) last: u64,
    batches: i64,
    hash: [u8; 32],
}

pub(super) use crate::pg_proof::{chain, genesis, origin};

pub(super) fn hash32(v: Vec<u8>, what: &str) -> Result<[u8; 32], PgError> {
    v.try_into()
        .map_err(|_| codec::corrupt(format!("{what} is not 32 bytes")))
}

/// Creates the clock row (once): clock 0, no batch, a fresh journal id.
pub(super) async fn init_clock(tx: &mut PgConnection) -> Result<(), PgError> {
    let id = LogId::generate().map_err(PgError::Audit)?;
    sqlx::query(
        "INSERT INTO tally_clock (last, batches, head, journal_id) VALUES (0, 0, $1, $2) \
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(genesis(id.as_bytes()).to_vec())
    .bind(id.as_bytes().to_vec())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Locks the clock row for the rest of the transaction and reads it.
pub(super) async fn lock_clock(tx: &mut PgConnection) -> Result<Head, Fail> {
    let row =
        sqlx::query("UPDATE tally_clock SET batches = batches RETURNING last::text, batches, head")
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| codec::corrupt("no clock row: the database is not migrated"))?;
    Ok(Head {
        last: codec::u64_of(&row, 0)?,
        batches: row.try_get(1)?,
        hash: hash32(row.try_get(2)?, "the journal head")?,
    })
}

/// A batch's journal record, chained after the head it was read with, and
/// the clock after the batch.
pub(super) struct Record<'p> {
    seq: i64,
    prev: [u8; 32],
    payload: &'p str,
    hash: [u8; 32],
    clock: u64,
}

impl<'p> Record<'p> {
    /// The record of `payload` after `head`.
    pub(super) fn new(head: &Head, payload: &'p str, clock: u64) -> Self {
        let seq = head.batches.saturating_add(1);
        let hash = chain(
            u64::try_from(seq).unwrap_or(0),
            &head.hash,
            payload.as_bytes(),
        );
        Self {
            seq,
            prev: head.hash,
            payload,
            hash,
            clock,
        }
    }

    /// Binds `$35..$40` of the batch's write statement: seq, prev,
    /// payload, hash, writer, clock.
    pub(super) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        writer: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(self.seq)
            .bind(self.prev.to_vec())
            .bind(self.payload)
            .bind(self.hash.to_vec())
            .bind(writer)
            .bind(text(self.clock))
    }
}

/// Appends `record` to the chain and moves the clock.
pub(super) async fn append(
    tx: &mut PgConnection,
    record: &Record<'_>,
    writer: &str,
) -> Result<(), Fail> {
    let query = sqlx::query(
        "WITH j AS (INSERT INTO tally_journal (seq, prev, payload, hash, writer) \
         VALUES ($1, $2, $3, $4, $5)) \
         UPDATE tally_clock SET last = $6::text::numeric, batches = $1, head = $4",
    );
    record.bind(query, writer).execute(&mut *tx).await?;
    Ok(())
}

/// What `verify` checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Journal records (batches) walked and replayed.
    pub batches: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Accounts compared.
    pub accounts: u64,
    /// Transfers compared.
    pub transfers: u64,
    /// The replayed totals per ledger (equal to the tables').
    pub totals: BTreeMap<u32, Totals>,
}

pub(super) fn tampered(what: impl Into<String>) -> PgError {
    PgError::Tampered { what: what.into() }
}

/// Walks the chain: every record's hash, in order from the genesis; returns
/// the Merkle leaves and, through `apply`, each record's payload.
async fn walk(
    conn: &mut PgConnection,
    mut apply: impl FnMut(u64, &str) -> Result<(), PgError>,
) -> Result<(ProofIndex, [u8; 32], Vec<u8>), PgError> {
    let clock = sqlx::query("SELECT batches, head, journal_id FROM tally_clock")
        .fetch_one(&mut *conn)
        .await?;
    let batches: i64 = clock.try_get(0)?;
    let head = hash32(clock.try_get(1)?, "the journal head")?;
    let journal_id: Vec<u8> = clock.try_get(2)?;
    let mut prev = genesis(&journal_id);
    let mut index = ProofIndex::new();
    read_chain(conn, &mut index, &mut prev, &mut apply).await?;
    let seq = i64::try_from(index.size()).unwrap_or(i64::MAX);
    if seq != batches || prev != head {
        return Err(tampered(format!(
            "the journal holds {seq} records, the clock row says {batches}"
        )));
    }
    Ok((index, prev, journal_id))
}

/// Reads the records after the last of `index` (whose chain hash is
/// `prev`), in pages, checking that each is the one chained after the one
/// before; pushes each one's leaf into `index`, moves `prev` on, and hands
/// each payload to `apply`.
pub(super) async fn read_chain(
    conn: &mut PgConnection,
    index: &mut ProofIndex,
    prev: &mut [u8; 32],
    mut apply: impl FnMut(u64, &str) -> Result<(), PgError>,
) -> Result<(), PgError> {
    loop {
        let from = i64::try_from(index.size()).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT seq, prev, payload, hash FROM tally_journal WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(from)
        .bind(PAGE_ROWS)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            let n = index.size().saturating_add(1);
            let at: i64 = row.try_get(0)?;
            if u64::try_from(at).ok() != Some(n) {
                return Err(tampered(format!("journal record {n} is missing")));
            }
            let stored_prev = hash32(row.try_get(1)?, "a record's prev")?;
            let payload: String = row.try_get(2)?;
            let stored = hash32(row.try_get(3)?, "a record's hash")?;
            if stored_prev != *prev || stored != chain(n, prev, payload.as_bytes()) {
                return Err(tampered(format!(
                    "journal record {n} is not the one chained"
                )));
            }
            apply(n, &payload)?;
            index.push(tally_audit::merkle::leaf_hash(&stored));
            *prev = stored;
        }
    }
}

impl PgLedger {
    /// Signs a checkpoint of the journal as it stands (every committed
    /// batch) and stores it; returns the signed note.
    ///
    /// # Errors
    /// [`PgError`] when the journal does not verify or cannot be read.
    pub async fn checkpoint(&self, signer: &CheckpointSigner) -> Result<String, PgError> {
        let mut conn = self.pool.acquire().await?;
        let (index, _, journal_id) = walk(&mut conn, |_, _| Ok(())).await?;
        let size = index.size();
        let root = index.root(size).map_err(PgError::Audit)?;
        let body = Checkpoint::new(&origin(&journal_id), size, root)
            .map_err(PgError::Audit)?
            .body();
        let note = signer.sign(&body).map_err(PgError::Audit)?;
        sqlx::query(
            "INSERT INTO tally_checkpoints (size, note) VALUES ($1, $2) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(&note)
        .execute(&mut *conn)
        .await?;
        Ok(note)
    }

    /// Verifies everything: walks the journal's chain from its genesis,
    /// checks every stored checkpoint against `vkey` (when given: every
    /// checkpoint must then be signed by it, and at least one must exist),
    /// replays the journal into a fresh [`Ledger`] and compares the clock,
    /// every account, transfer, pending state, failed id and history entry
    /// with the tables. Fails closed on the first difference.
    ///
    /// Run it while no batch is being written (a batch committed meanwhile
    /// is reported as a difference).
    ///
    /// # Errors
    /// [`PgError::Tampered`] on any difference; [`PgError`] otherwise.
    pub async fn verify(&self, vkey: Option<&NoteVerifier>) -> Result<VerifyReport, PgError> {
        let mut conn = self.pool.acquire().await?;
        let mut ledger = Ledger::new();
        let (index, _, journal_id) = walk(&mut conn, |seq, payload| {
            replay_one(&mut ledger, seq, payload)
        })
        .await?;
        let checkpoints = match vkey {
            Some(vkey) => check_checkpoints(&mut conn, &index, &journal_id, vkey).await?,
            None => 0,
        };
        let (accounts, transfers) = compare_tables(&mut conn, &ledger).await?;
        Ok(VerifyReport {
            batches: index.size(),
            checkpoints,
            accounts,
            transfers,
            totals: ledger.totals(),
        })
    }
}

fn replay_one(ledger: &mut Ledger, seq: u64, payload: &str) -> Result<(), PgError> {
    let batch =
        decode(payload.as_bytes()).map_err(|e| tampered(format!("journal record {seq}: {e}")))?;
    let applied = match batch {
        Batch::Accounts { now, events } => ledger.create_accounts(&events, now).map(|_| ()),
        Batch::Transfers { now, events } => ledger.create_transfers(&events, now).map(|_| ()),
        // Snapshots bind file journals; this journal never holds one.
        Batch::Snapshot { .. } => {
            return Err(tampered(format!(
                "journal record {seq}: a snapshot record, which this journal never writes"
            )));
        }
    };
    applied.map_err(|e| tampered(format!("journal record {seq} was refused on replay: {e}")))
}

async fn check_checkpoints(
    conn: &mut PgConnection,
    index: &ProofIndex,
    journal_id: &[u8],
    vkey: &NoteVerifier,
) -> Result<u64, PgError> {
    let rows = sqlx::query("SELECT size, note FROM tally_checkpoints ORDER BY size")
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Err(tampered("no signed checkpoint"));
    }
    let origin = origin(journal_id);
    for row in &rows {
        let size: i64 = row.try_get(0)?;
        let note: String = row.try_get(1)?;
        let cp = vkey
            .open_checkpoint(&note)
            .map_err(|e| tampered(format!("checkpoint {size}: {e}")))?;
        let root = index
            .root(cp.size())
            .map_err(|_| tampered(format!("checkpoint {size} covers more than the journal")))?;
        if u64::try_from(size).ok() != Some(cp.size())
            || cp.root() != &root
            || cp.origin() != origin
        {
            return Err(tampered(format!(
                "checkpoint {size} does not match the journal"
            )));
        }
    }
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

/// Compares every table with the replayed ledger; returns the numbers of
/// accounts and transfers.
async fn compare_tables(conn: &mut PgConnection, ledger: &Ledger) -> Result<(u64, u64), PgError> {
    let clock: String = sqlx::query_scalar("SELECT last::text FROM tally_clock")
        .fetch_one(&mut *conn)
        .await?;
    if clock != text(ledger.clock()) {
        return Err(tampered("the clock is not the journal's"));
    }
    let accounts = compare_accounts(conn, ledger).await?;
    let transfers = compare_transfers(conn, ledger).await?;
    compare_failed(conn, ledger).await?;
    compare_history(conn, ledger).await?;
    Ok((accounts, transfers))
}

async fn compare_accounts(conn: &mut PgConnection, ledger: &Ledger) -> Result<u64, PgError> {
    let mut after = String::from("0");
    let mut seen = 0u64;
    loop {
        let rows = sqlx::query(codec::sql(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM tally_accounts WHERE id > $1::text::numeric \
             ORDER BY tally_accounts.id LIMIT $2"
        )))
        .bind(&after)
        .bind(PAGE_ROWS)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        after = text(codec::u128_of(last, 0)?);
        for row in &rows {
            let (a, _) = codec::account(row)?;
            if ledger.account(a.id) != Some(&a) {
                return Err(tampered(format!("account {} is not the journal's", a.id)));
            }
            seen += 1;
        }
    }
    if usize::try_from(seen).ok() != Some(ledger.len().0) {
        return Err(tampered("accounts are missing"));
    }
    Ok(seen)
}

async fn compare_transfers(conn: &mut PgConnection, ledger: &Ledger) -> Result<u64, PgError> {
    let mut after = String::from("0");
    let mut seen = 0u64;
    let mut pending = 0usize;
    loop {
        let rows = sqlx::query(codec::sql(format!(
            "SELECT {TRANSFER_COLUMNS}, {PENDING_COLUMNS} FROM tally_transfers t \
             LEFT JOIN tally_pending p ON p.id = t.id WHERE t.id > $1::text::numeric \
             ORDER BY t.id LIMIT $2"
        )))
        .bind(&after)
        .bind(PAGE_ROWS)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        after = text(codec::u128_of(last, 0)?);
        for row in &rows {
            let t = codec::transfer(row)?;
            let (state, _) = codec::pending(row, 13)?;
            if ledger.transfer(t.id) != Some(t) || ledger.pending_state(t.id) != state {
                return Err(tampered(format!("transfer {} is not the journal's", t.id)));
            }
            pending += usize::from(state.is_some());
            seen += 1;
        }
    }
    let pending_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tally_pending")
        .fetch_one(&mut *conn)
        .await?;
    if usize::try_from(seen).ok() != Some(ledger.len().1)
        || usize::try_from(pending_rows).ok() != Some(pending)
        || ledger.pending_held().count() != pending
    {
        return Err(tampered("transfers or pending states are missing or extra"));
    }
    Ok(seen)
}

async fn compare_failed(conn: &mut PgConnection, ledger: &Ledger) -> Result<(), PgError> {
    let rows = sqlx::query("SELECT id::text, result FROM tally_failed")
        .fetch_all(&mut *conn)
        .await?;
    let mut stored = BTreeMap::new();
    for row in &rows {
        let result: String = row.try_get(1)?;
        stored.insert(codec::u128_of(row, 0)?, result);
    }
    let replayed: BTreeMap<u128, String> = ledger
        .failed_held()
        .map(|(id, r)| (*id, r.as_str().to_owned()))
        .collect();
    if stored != replayed {
        return Err(tampered("failed ids are not the journal's"));
    }
    Ok(())
}

async fn compare_history(conn: &mut PgConnection, ledger: &Ledger) -> Result<(), PgError> {
    let rows = sqlx::query(
        "SELECT timestamp::text, debits_pending::text, debits_posted::text, \
         credits_pending::text, credits_posted::text, account_id::text FROM tally_history AS h \
         ORDER BY h.account_id, h.timestamp",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut stored: BTreeMap<u128, Vec<crate::types::AccountBalance>> = BTreeMap::new();
    for row in &rows {
        stored
            .entry(codec::u128_of(row, 5)?)
            .or_default()
            .push(codec::balance(row)?);
    }
    let replayed: BTreeMap<u128, Vec<crate::types::AccountBalance>> = ledger
        .history_held()
        .filter(|(_, list)| !list.is_empty())
        .map(|(id, list)| (*id, list.clone()))
        .collect();
    if stored != replayed {
        return Err(tampered("balance history is not the journal's"));
    }
    Ok(())
}
