//! The SQLite store (sqlx): one file, WAL journal, `synchronous = FULL`,
//! every state change one `BEGIN IMMEDIATE` transaction (so a
//! compare-and-set never races another writer), migrations embedded
//! (`include_str!`) and recorded in `schema_migrations`.
//!
//! The database holds bearer proofs: the file is created with mode 0600 and
//! must lie in a directory that grants nothing to group or others.

use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tally_cashu::nuts::nut00::{MintUrl, Proof};
use tally_cashu::nuts::nut01::Keyset;
use tally_cashu::nuts::nut02::{KeySetInfo, KeysetId};

use super::{
    Balance, HistoryEntry, MeltQuote, MeltQuoteState, MintQuote, Operation, OperationId,
    OperationKind, OperationState, ProofState, SentToken, SentTokenState, StoredProof, WalletStore,
    check_batch, check_counter_count, check_start,
};
use crate::error::{Error, Result};

/// This crate's name in `schema_migrations`.
const COMPONENT: &str = "tally-wallet";
/// The schema, version by version, embedded in the binary.
const MIGRATIONS: &[tally_sql::Migration] = &[
    (
        1,
        "wallet",
        include_str!("../../migrations/0001_wallet.sql"),
    ),
    (2, "send", include_str!("../../migrations/0002_send.sql")),
    (
        3,
        "melt_quotes",
        include_str!("../../migrations/0003_melt_quotes.sql"),
    ),
];

/// Connections in the pool (SQLite has one writer; readers run beside it).
pub const POOL_CONNECTIONS_MAX: u32 = 4;
/// How long a writer waits for the lock before failing.
pub const BUSY_TIMEOUT_MS: u64 = 10_000;

/// Parsed keysets kept by a store (and its clones), at most this many.
pub const KEYSET_CACHE_MAX: usize = 64;

/// A [`WalletStore`] in one SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Keysets parsed from their stored keys (by id, with the exact text
    /// parsed): `keyset` reads the text every time and parses it only when
    /// it differs, so an answer is always what parsing the stored text
    /// gives (parsing checks 64 points and the id: about 0.4 ms).
    parsed: Arc<Mutex<HashMap<String, (String, Keyset)>>>,
}

fn corrupt(what: &'static str) -> Error {
    Error::CorruptRecord { what }
}

fn to_json<T: serde::Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|_| corrupt(what))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

fn counter_to_sql(value: u64, keyset: &KeysetId) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::CounterExhausted(*keyset))
}

impl SqliteStore {
    /// Opens (creating if missing) the store at `path` and runs the embedded
    /// migrations. The directory must grant nothing to group or others.
    ///
    /// # Errors
    /// [`Error::UnsafePermissions`], [`Error::File`], [`Error::Sqlite`] (including a failed migration).
    pub async fn open(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let io = |what, e| {
            Error::File(tally_files::FileError::Io {
                path: path.to_path_buf(),
                what,
                source: e,
            })
        };
        let mode = std::fs::metadata(dir)
            .map_err(|e| io("inspect", e))?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::UnsafePermissions {
                path: dir.display().to_string(),
                mode,
                want: 0o700,
            });
        }
        // Created 0600 before SQLite opens it; its -wal and -shm files take
        // the same mode.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io("create", e))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            // A connection to a local file does not go stale: no ping (a
            // round trip to the connection's thread) before each use.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let store = Self {
            pool,
            parsed: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the embedded migrations not yet recorded in
    /// `schema_migrations` (the project's convention: component, version,
    /// name), all in one `BEGIN IMMEDIATE` transaction.
    async fn migrate(&self) -> Result<()> {
        let mut tx = self.write().await?;
        tally_sql::apply_sqlite(&mut tx, COMPONENT, MIGRATIONS).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The keyset the stored keys `json` of keyset `id` (hex) give: parsed
    /// once per distinct text.
    fn parse_keyset(&self, id: String, json: String) -> Result<Keyset> {
        let parsed = self
            .parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((text, keyset)) = parsed.get(&id)
            && *text == json
        {
            return Ok(keyset.clone());
        }
        drop(parsed);
        let keyset = Keyset::from_json(&json).map_err(|_| corrupt("keyset"))?;
        self.remember(id, json, keyset.clone());
        Ok(keyset)
    }

    /// Keeps `keyset` as what the stored text `json` of keyset `id` gives.
    fn remember(&self, id: String, json: String, keyset: Keyset) {
        let mut parsed = self
            .parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if parsed.len() >= KEYSET_CACHE_MAX {
            parsed.clear();
        }
        parsed.insert(id, (json, keyset));
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Moves every proof in `ys` from `from` to `to` (recording `operation`),
/// or none: one statement (a compare-and-set over the whole set); if it did
/// not move them all, the caller's transaction is dropped, so nothing moved.
async fn move_states(
    tx: &mut Transaction<'static, Sqlite>,
    ys: &[String],
    from: ProofState,
    to: ProofState,
    operation: Option<&OperationId>,
) -> Result<()> {
    check_batch(ys.len())?;
    if ys.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE proofs SET state = ?1, operation = ?2 WHERE state = ?3 AND y IN ({})",
        placeholders(4, ys.len())
    );
    // Built from constants and numbered parameters only.
    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to.as_str())
        .bind(operation.map(|o| o.0.as_str()))
        .bind(from.as_str());
    for y in ys {
        update = update.bind(y);
    }
    let done = update.execute(&mut **tx).await?;
    if usize::try_from(done.rows_affected()).ok() == Some(ys.len()) {
        return Ok(());
    }
    // Some proof was not moved: missing, in another state, or named twice.
    let sql = format!(
        "SELECT COUNT(*) FROM proofs WHERE y IN ({})",
        placeholders(1, ys.len())
    );
    let mut count = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql));
    for y in ys {
        count = count.bind(y);
    }
    let (found,) = count.fetch_one(&mut **tx).await?;
    let distinct = ys.iter().collect::<std::collections::BTreeSet<_>>().len();
    Err(if usize::try_from(found).ok() == Some(distinct) {
        Error::StateConflict { what: "proof" }
    } else {
        Error::NotFound { what: "proof" }
    })
}

/// `?first, ?first+1, …` for `count` parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first.saturating_add(count))
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Moves every proof `id` holds in one of `from` to `to` (one statement),
/// recording `operation` on them.
async fn move_held(
    tx: &mut Transaction<'static, Sqlite>,
    id: &OperationId,
    from: &[ProofState],
    to: ProofState,
    operation: Option<&OperationId>,
) -> Result<()> {
    let sql = format!(
        "UPDATE proofs SET state = ?1, operation = ?2 WHERE operation = ?3 AND state IN ({})",
        placeholders(4, from.len())
    );
    // Built from constants and numbered parameters only.
    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to.as_str())
        .bind(operation.map(|o| o.0.as_str()))
        .bind(&id.0);
    for state in from {
        update = update.bind(state.as_str());
    }
    update.execute(&mut **tx).await?;
    Ok(())
}

async fn insert_proofs(
    tx: &mut Transaction<'static, Sqlite>,
    proofs: &[StoredProof],
) -> Result<()> {
    check_batch(proofs.len())?;
    // One statement per chunk of rows; a `Y` already stored (or named
    // twice) inserts fewer rows than given, and the caller's transaction
    // is dropped, so nothing is inserted.
    for chunk in proofs.chunks(INSERT_ROWS_MAX) {
        let rows = (0..chunk.len())
            .map(|i| {
                format!(
                    "({})",
                    placeholders(i.saturating_mul(6).saturating_add(1), 6)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO proofs (y, mint, amount, state, operation, proof) VALUES {rows} ON CONFLICT (y) DO NOTHING"
        );
        // Built from constants and numbered parameters only.
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in chunk {
            insert = insert
                .bind(&p.y)
                .bind(p.mint.as_str())
                .bind(p.proof.amount.value().to_string())
                .bind(p.state.as_str())
                .bind(p.operation.as_ref().map(|o| o.0.as_str()))
                .bind(to_json(&p.proof, "proof")?);
        }
        let done = insert.execute(&mut **tx).await?;
        if usize::try_from(done.rows_affected()).ok() != Some(chunk.len()) {
            return Err(Error::AlreadyExists { what: "proof" });
        }
    }
    Ok(())
}

/// Rows one `INSERT` of proofs carries (6 parameters each, far below
/// SQLite's limit on parameters).
const INSERT_ROWS_MAX: usize = 100;

/// Inserts `p` unless its `Y` is stored; true if it was inserted.
async fn insert_one(tx: &mut Transaction<'static, Sqlite>, p: &StoredProof) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO proofs (y, mint, amount, state, operation, proof) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (y) DO NOTHING",
    )
    .bind(&p.y)
    .bind(p.mint.as_str())
    .bind(p.proof.amount.value().to_string())
    .bind(p.state.as_str())
    .bind(p.operation.as_ref().map(|o| o.0.as_str()))
    .bind(to_json(&p.proof, "proof")?)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn operation_in(
    tx: &mut Transaction<'static, Sqlite>,
    id: &OperationId,
) -> Result<Option<Operation>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT record FROM operations WHERE id = ?1")
        .bind(&id.0)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|(r,)| from_json(&r, "operation")).transpose()
}

/// Records a new operation ([`Error::AlreadyExists`] if its id is held).
async fn insert_operation(tx: &mut Transaction<'static, Sqlite>, op: &Operation) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO operations (id, state, record) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&op.id.0)
    .bind(op.state.as_str())
    .bind(to_json(op, "operation")?)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::AlreadyExists { what: "operation" });
    }
    Ok(())
}

async fn store_operation(tx: &mut Transaction<'static, Sqlite>, op: &Operation) -> Result<()> {
    sqlx::query("UPDATE operations SET state = ?1, record = ?2 WHERE id = ?3")
        .bind(op.state.as_str())
        .bind(to_json(op, "operation")?)
        .bind(&op.id.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Finishes a `Sent` operation inside `tx`: its held proofs spent, its
/// outputs stored, its quote issued, its history written, it `Done`.
async fn finish_in(
    tx: &mut Transaction<'static, Sqlite>,
    id: &OperationId,
    outputs: &[StoredProof],
    history: &HistoryEntry,
) -> Result<()> {
    let mut op = match operation_in(tx, id).await? {
        Some(op) if op.state == OperationState::Sent => op,
        Some(_) => return Err(Error::StateConflict { what: "operation" }),
        None => return Err(Error::NotFound { what: "operation" }),
    };
    move_held(
        tx,
        id,
        &[ProofState::Reserved, ProofState::Pending],
        ProofState::Spent,
        Some(id),
    )
    .await?;
    insert_proofs(tx, outputs).await?;
    if op.kind == OperationKind::Melt {
        if let Some(quote_id) = &op.quote_id
            && let Some(mut quote) = melt_quote_in(tx, &op.mint, quote_id).await?
        {
            quote.state = MeltQuoteState::Paid;
            store_melt_quote(tx, &quote).await?;
        }
    } else {
        for quote_id in op.issued_quotes()? {
            let row: Option<(String,)> = sqlx::query_as("SELECT record FROM quotes WHERE id = ?1")
                .bind(&quote_id)
                .fetch_optional(&mut **tx)
                .await?;
            if let Some((record,)) = row {
                let mut quote: MintQuote = from_json(&record, "quote")?;
                quote.state = "ISSUED".to_owned();
                sqlx::query("UPDATE quotes SET record = ?1 WHERE id = ?2")
                    .bind(to_json(&quote, "quote")?)
                    .bind(&quote_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
    }
    insert_history(tx, history).await?;
    op.state = OperationState::Done;
    store_operation(tx, &op).await?;
    Ok(())
}

async fn melt_quote_in(
    tx: &mut Transaction<'static, Sqlite>,
    mint: &MintUrl,
    id: &str,
) -> Result<Option<MeltQuote>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT record FROM melt_quotes WHERE mint = ?1 AND id = ?2")
            .bind(mint.as_str())
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(r,)| from_json(&r, "melt quote")).transpose()
}

/// Replaces the record of a held melt quote.
async fn store_melt_quote(tx: &mut Transaction<'static, Sqlite>, quote: &MeltQuote) -> Result<()> {
    sqlx::query("UPDATE melt_quotes SET record = ?1 WHERE mint = ?2 AND id = ?3")
        .bind(to_json(quote, "melt quote")?)
        .bind(quote.mint.as_str())
        .bind(&quote.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_history(
    tx: &mut Transaction<'static, Sqlite>,
    history: &HistoryEntry,
) -> Result<()> {
    sqlx::query("INSERT INTO history (record) VALUES (?1)")
        .bind(to_json(history, "history")?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn sent_token_in(
    tx: &mut Transaction<'static, Sqlite>,
    id: &OperationId,
) -> Result<Option<SentToken>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT record FROM sent_tokens WHERE id = ?1")
        .bind(&id.0)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|(r,)| from_json(&r, "sent token")).transpose()
}

async fn store_sent_token(tx: &mut Transaction<'static, Sqlite>, token: &SentToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO sent_tokens (id, mint, state, record) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, record = excluded.record",
    )
    .bind(&token.id.0)
    .bind(token.mint.as_str())
    .bind(token.state.as_str())
    .bind(to_json(token, "sent token")?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn stored_proof(row: (String, String, String, Option<String>, String)) -> Result<StoredProof> {
    let (y, mint, state, operation, proof) = row;
    let proof: Proof = from_json(&proof, "proof")?;
    Ok(StoredProof {
        y,
        mint: MintUrl::new(&mint).map_err(|_| corrupt("proof mint"))?,
        proof,
        state: ProofState::parse(&state).ok_or_else(|| corrupt("proof state"))?,
        operation: operation.map(OperationId),
    })
}

impl WalletStore for SqliteStore {
    async fn put_keyset(
        &self,
        mint: &MintUrl,
        info: &KeySetInfo,
        keyset: Option<&Keyset>,
    ) -> Result<()> {
        let keys = keyset.map(Keyset::to_json).transpose()?;
        let id = info.id.to_hex();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO keysets (id, mint, info, keys) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET mint = excluded.mint, info = excluded.info,
             keys = COALESCE(excluded.keys, keysets.keys)",
        )
        .bind(&id)
        .bind(mint.as_str())
        .bind(to_json(info, "keyset info")?)
        .bind(&keys)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if let (Some(text), Some(keyset)) = (keys, keyset) {
            // What parsing the text just stored gives.
            self.remember(id, text, keyset.clone());
        }
        Ok(())
    }

    async fn keysets(&self, mint: &MintUrl) -> Result<Vec<KeySetInfo>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT info FROM keysets WHERE mint = ?1 ORDER BY id")
                .bind(mint.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|(r,)| from_json(r, "keyset info"))
            .collect()
    }

    async fn keyset(&self, id: &KeysetId) -> Result<Option<Keyset>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT keys FROM keysets WHERE id = ?1")
                .bind(id.to_hex())
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((Some(json),)) => Ok(Some(self.parse_keyset(id.to_hex(), json)?)),
            _ => Ok(None),
        }
    }

    async fn reserve_counters(&self, keyset: &KeysetId, count: u64) -> Result<Range<u64>> {
        check_counter_count(count)?;
        let mut tx = self.write().await?;
        let row: Option<(i64,)> = sqlx::query_as("SELECT next FROM counters WHERE keyset_id = ?1")
            .bind(keyset.to_hex())
            .fetch_optional(&mut *tx)
            .await?;
        let start = match row {
            Some((n,)) => u64::try_from(n).map_err(|_| corrupt("counter"))?,
            None => 0,
        };
        let end = start
            .checked_add(count)
            .ok_or(Error::CounterExhausted(*keyset))?;
        sqlx::query(
            "INSERT INTO counters (keyset_id, next) VALUES (?1, ?2)
             ON CONFLICT (keyset_id) DO UPDATE SET next = excluded.next",
        )
        .bind(keyset.to_hex())
        .bind(counter_to_sql(end, keyset)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(start..end)
    }

    async fn next_counter(&self, keyset: &KeysetId) -> Result<u64> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT next FROM counters WHERE keyset_id = ?1")
            .bind(keyset.to_hex())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some((n,)) => u64::try_from(n).map_err(|_| corrupt("counter")),
            None => Ok(0),
        }
    }

    async fn advance_counter(&self, keyset: &KeysetId, next: u64) -> Result<u64> {
        let next_sql = counter_to_sql(next, keyset)?;
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO counters (keyset_id, next) VALUES (?1, ?2)
             ON CONFLICT (keyset_id) DO UPDATE SET next = MAX(counters.next, excluded.next)",
        )
        .bind(keyset.to_hex())
        .bind(next_sql)
        .execute(&mut *tx)
        .await?;
        let (now,): (i64,) = sqlx::query_as("SELECT next FROM counters WHERE keyset_id = ?1")
            .bind(keyset.to_hex())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        u64::try_from(now).map_err(|_| corrupt("counter"))
    }

    async fn add_missing_proofs(&self, proofs: &[StoredProof]) -> Result<Vec<String>> {
        check_batch(proofs.len())?;
        let mut tx = self.write().await?;
        let mut added = Vec::new();
        for p in proofs {
            if insert_one(&mut tx, p).await? {
                added.push(p.y.clone());
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn add_proofs(&self, proofs: &[StoredProof]) -> Result<()> {
        let mut tx = self.write().await?;
        insert_proofs(&mut tx, proofs).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn proofs(&self, mint: &MintUrl, state: ProofState) -> Result<Vec<StoredProof>> {
        let rows: Vec<(String, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT y, mint, state, operation, proof FROM proofs WHERE mint = ?1 AND state = ?2 ORDER BY y",
        )
        .bind(mint.as_str())
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(stored_proof).collect()
    }

    async fn held_ys(&self, ys: &[String]) -> Result<Vec<String>> {
        check_batch(ys.len())?;
        if ys.is_empty() {
            return Ok(Vec::new());
        }
        // `y` is the primary key: one lookup per `Y` in its index.
        let sql = format!(
            "SELECT y FROM proofs WHERE y IN ({})",
            placeholders(1, ys.len())
        );
        // Built from constants and numbered parameters only.
        let mut select = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
        for y in ys {
            select = select.bind(y);
        }
        let found: std::collections::BTreeSet<String> = select
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(y,)| y)
            .collect();
        Ok(ys.iter().filter(|y| found.contains(*y)).cloned().collect())
    }

    async fn reserve_proofs(&self, ys: &[String], operation: &OperationId) -> Result<()> {
        let mut tx = self.write().await?;
        move_states(
            &mut tx,
            ys,
            ProofState::Unspent,
            ProofState::Reserved,
            Some(operation),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_proof_states(
        &self,
        ys: &[String],
        from: ProofState,
        to: ProofState,
        operation: Option<&OperationId>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        move_states(&mut tx, ys, from, to, operation).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn balance(&self, mint: &MintUrl) -> Result<Balance> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT state, amount FROM proofs WHERE mint = ?1 AND state != 'spent'")
                .bind(mint.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut b = Balance::default();
        for (state, amount) in rows {
            let amount: u64 = amount.parse().map_err(|_| corrupt("proof amount"))?;
            let slot = match ProofState::parse(&state) {
                Some(ProofState::Unspent) => &mut b.unspent,
                Some(ProofState::Reserved) => &mut b.reserved,
                Some(ProofState::Pending) => &mut b.pending,
                Some(ProofState::Sent) => &mut b.sent,
                _ => return Err(corrupt("proof state")),
            };
            *slot = slot
                .checked_add(amount)
                .ok_or(Error::Cashu(tally_cashu::Error::AmountOverflow))?;
        }
        Ok(b)
    }

    async fn add_operation(&self, op: &Operation) -> Result<()> {
        if op.state != OperationState::Prepared {
            return Err(Error::InvalidArgument("a new operation must be prepared"));
        }
        let mut tx = self.write().await?;
        insert_operation(&mut tx, op).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn start_operation(
        &self,
        op: &Operation,
        inputs: &[String],
        token: Option<&SentToken>,
    ) -> Result<()> {
        check_start(op, inputs, token)?;
        let mut tx = self.write().await?;
        if op.counters.end > op.counters.start {
            let keyset = op.keyset_id.to_hex();
            let start = counter_to_sql(op.counters.start, &op.keyset_id)?;
            let end = counter_to_sql(op.counters.end, &op.keyset_id)?;
            // A compare-and-set on the keyset's next counter: the range
            // begins where the last reservation ended, or nothing moves.
            let moved = if start == 0 {
                sqlx::query(
                    "INSERT INTO counters (keyset_id, next) VALUES (?1, ?2)
                     ON CONFLICT (keyset_id) DO UPDATE SET next = excluded.next
                     WHERE counters.next = 0",
                )
                .bind(&keyset)
                .bind(end)
                .execute(&mut *tx)
                .await?
            } else {
                sqlx::query("UPDATE counters SET next = ?1 WHERE keyset_id = ?2 AND next = ?3")
                    .bind(end)
                    .bind(&keyset)
                    .bind(start)
                    .execute(&mut *tx)
                    .await?
            };
            if moved.rows_affected() != 1 {
                return Err(Error::StateConflict { what: "counters" });
            }
        }
        insert_operation(&mut tx, op).await?;
        move_states(
            &mut tx,
            inputs,
            ProofState::Unspent,
            ProofState::Pending,
            Some(&op.id),
        )
        .await?;
        if let Some(token) = token {
            let done = sqlx::query(
                "INSERT INTO sent_tokens (id, mint, state, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&token.id.0)
            .bind(token.mint.as_str())
            .bind(token.state.as_str())
            .bind(to_json(token, "sent token")?)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(Error::AlreadyExists { what: "sent token" });
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT record FROM operations WHERE id = ?1")
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(r,)| from_json(&r, "operation")).transpose()
    }

    async fn incomplete_operations(&self) -> Result<Vec<Operation>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT record FROM operations WHERE state IN ('prepared', 'sent') ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|(r,)| from_json(r, "operation")).collect()
    }

    async fn set_operation_state(
        &self,
        id: &OperationId,
        from: OperationState,
        to: OperationState,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let mut op = match operation_in(&mut tx, id).await? {
            Some(op) if op.state == from && from.may_become(to) => op,
            Some(_) => return Err(Error::StateConflict { what: "operation" }),
            None => return Err(Error::NotFound { what: "operation" }),
        };
        if to == OperationState::Sent {
            move_held(
                &mut tx,
                id,
                &[ProofState::Reserved],
                ProofState::Pending,
                Some(id),
            )
            .await?;
        }
        if to == OperationState::Failed {
            move_held(
                &mut tx,
                id,
                &[ProofState::Reserved, ProofState::Pending],
                ProofState::Unspent,
                None,
            )
            .await?;
        }
        op.state = to;
        store_operation(&mut tx, &op).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_operation(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        finish_in(&mut tx, id, outputs, history).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_quote(&self, quote: &MintQuote) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO quotes (id, record) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        )
        .bind(&quote.id)
        .bind(to_json(quote, "quote")?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn quote(&self, id: &str) -> Result<Option<MintQuote>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT record FROM quotes WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(r,)| from_json(&r, "quote")).transpose()
    }

    async fn add_melt_quote(&self, quote: &MeltQuote) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "INSERT INTO melt_quotes (mint, id, record) VALUES (?1, ?2, ?3) ON CONFLICT (mint, id) DO NOTHING",
        )
        .bind(quote.mint.as_str())
        .bind(&quote.id)
        .bind(to_json(quote, "melt quote")?)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::AlreadyExists { what: "melt quote" });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn melt_quote(&self, mint: &MintUrl, id: &str) -> Result<Option<MeltQuote>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT record FROM melt_quotes WHERE mint = ?1 AND id = ?2")
                .bind(mint.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(r,)| from_json(&r, "melt quote")).transpose()
    }

    async fn set_melt_quote_state(
        &self,
        mint: &MintUrl,
        id: &str,
        state: MeltQuoteState,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let mut quote = melt_quote_in(&mut tx, mint, id)
            .await?
            .ok_or(Error::NotFound { what: "melt quote" })?;
        if quote.state == MeltQuoteState::Paid && state != MeltQuoteState::Paid {
            return Err(Error::StateConflict { what: "melt quote" });
        }
        quote.state = state;
        store_melt_quote(&mut tx, &quote).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn melt_quotes(&self, limit: usize) -> Result<Vec<MeltQuote>> {
        let limit = i64::try_from(limit.min(super::HISTORY_PAGE_MAX)).unwrap_or(0);
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT record FROM melt_quotes ORDER BY seq DESC LIMIT ?1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|(r,)| from_json(r, "melt quote")).collect()
    }

    async fn prune_melt_quotes(&self, before_s: u64) -> Result<usize> {
        let before = i64::try_from(before_s).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;
        // The same rule as `settled_before`, over the JSON records; the
        // operations' records name their mint and quote.
        let done = sqlx::query(
            "DELETE FROM melt_quotes
             WHERE ((json_extract(record, '$.state') = 'PAID'
                     AND json_extract(record, '$.created_s') < ?1)
                 OR (json_extract(record, '$.state') = 'UNPAID'
                     AND json_extract(record, '$.expiry_s') IS NOT NULL
                     AND json_extract(record, '$.expiry_s') < ?1))
               AND NOT EXISTS (
                 SELECT 1 FROM operations o
                 WHERE o.state IN ('prepared', 'sent')
                   AND json_extract(o.record, '$.kind') = 'melt'
                   AND json_extract(o.record, '$.mint') = melt_quotes.mint
                   AND json_extract(o.record, '$.quote_id') = melt_quotes.id)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>> {
        let limit = i64::try_from(limit.min(super::HISTORY_PAGE_MAX)).unwrap_or(0);
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT record FROM history ORDER BY seq DESC LIMIT ?1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|(r,)| from_json(r, "history")).collect()
    }

    async fn add_sent_token(
        &self,
        token: &SentToken,
        history: Option<&HistoryEntry>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        if sent_token_in(&mut tx, &token.id).await?.is_some() {
            return Err(Error::AlreadyExists { what: "sent token" });
        }
        match token.state {
            SentTokenState::Preparing => {}
            SentTokenState::Unredeemed => {
                move_states(
                    &mut tx,
                    &token.ys,
                    ProofState::Unspent,
                    ProofState::Sent,
                    Some(&token.id),
                )
                .await?;
                if let Some(h) = history {
                    insert_history(&mut tx, h).await?;
                }
            }
            _ => {
                return Err(Error::InvalidArgument(
                    "a new token is preparing or unredeemed",
                ));
            }
        }
        store_sent_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_send(
        &self,
        id: &OperationId,
        outputs: &[StoredProof],
        history: &HistoryEntry,
        token: &SentToken,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        match sent_token_in(&mut tx, id).await? {
            Some(t) if t.state == SentTokenState::Preparing && token.id == *id => {}
            Some(_) => return Err(Error::StateConflict { what: "sent token" }),
            None => return Err(Error::NotFound { what: "sent token" }),
        }
        // Held proofs that go into the token as they are: sent, not spent
        // (one statement: those of `token.ys` this operation holds).
        if !token.ys.is_empty() {
            check_batch(token.ys.len())?;
            let sql = format!(
                "UPDATE proofs SET state = 'sent' WHERE operation = ?1
                 AND state IN ('reserved', 'pending') AND y IN ({})",
                placeholders(2, token.ys.len())
            );
            // Built from constants and numbered parameters only.
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&id.0);
            for y in &token.ys {
                update = update.bind(y);
            }
            update.execute(&mut *tx).await?;
        }
        finish_in(&mut tx, id, outputs, history).await?;
        store_sent_token(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sent_token(&self, id: &OperationId) -> Result<Option<SentToken>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT record FROM sent_tokens WHERE id = ?1")
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(r,)| from_json(&r, "sent token")).transpose()
    }

    async fn sent_tokens(&self, mint: &MintUrl, state: SentTokenState) -> Result<Vec<SentToken>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT record FROM sent_tokens WHERE mint = ?1 AND state = ?2 ORDER BY id",
        )
        .bind(mint.as_str())
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|(r,)| from_json(r, "sent token")).collect()
    }

    async fn set_sent_token_state(
        &self,
        id: &OperationId,
        from: SentTokenState,
        to: SentTokenState,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let mut token = match sent_token_in(&mut tx, id).await? {
            Some(t) if t.state == from => t,
            Some(_) => return Err(Error::StateConflict { what: "sent token" }),
            None => return Err(Error::NotFound { what: "sent token" }),
        };
        token.state = to;
        store_sent_token(&mut tx, &token).await?;
        tx.commit().await?;
        Ok(())
    }
}
