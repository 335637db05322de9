//! Idempotency records (the IETF draft "The Idempotency-Key HTTP Header
//! Field"): the first result for (tenant, key) is stored with the request's
//! fingerprint and replayed byte for byte; the same key with another
//! request is refused (422); a key still in flight is refused (409).
//! Records are kept at least 24 h ([`crate::config::IDEMPOTENCY_TTL_SECS`]).
//!
//! Embedded: results in SQLite beside the journal (WAL,
//! `synchronous=FULL`, group commit in multi-row statements), claims in
//! the process's memory ([`Claims`]; the process owns the data directory),
//! released the moment their request ends or is cut off. PostgreSQL:
//! claims and results are rows, shared by every process; a request cut off
//! while in flight (a crash) leaves a claim that a retry takes over after
//! [`crate::config::IN_FLIGHT_STALE_MS`]. The schema is embedded and
//! migrated at start.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

/// The SQLite file in the data directory.
pub const SQLITE_FILE: &str = "serve.sqlite";

/// The component name in `schema_migrations`.
const COMPONENT: &str = "tally-serve";

/// SQLite's migrations, in order.
const SQLITE_MIGRATIONS: &[tally_sql::Migration] = &[
    (
        1,
        "idempotency",
        "CREATE TABLE idempotency (\
       tenant TEXT NOT NULL, key TEXT NOT NULL, fingerprint BLOB NOT NULL, \
       done INTEGER NOT NULL, status INTEGER, content_type TEXT, body BLOB, \
       created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, \
       PRIMARY KEY (tenant, key)) WITHOUT ROWID; \
     CREATE INDEX idempotency_created ON idempotency (created_ms);",
    ),
    (
        2,
        "revocations",
        "CREATE TABLE revoked_tokens (id BLOB PRIMARY KEY NOT NULL, revoked_ms INTEGER NOT NULL) WITHOUT ROWID; \
     CREATE TABLE revoked_epochs (epoch INTEGER PRIMARY KEY NOT NULL, revoked_ms INTEGER NOT NULL);",
    ),
];

/// PostgreSQL's migrations, in order.
#[cfg(feature = "postgres")]
const PG_MIGRATIONS: &[tally_sql::Migration] = &[
    (
        1,
        "idempotency",
        "CREATE TABLE serve_idempotency (\
       tenant TEXT NOT NULL, key TEXT NOT NULL, fingerprint BYTEA NOT NULL, \
       done BIGINT NOT NULL, status BIGINT, content_type TEXT, body BYTEA, \
       created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, \
       PRIMARY KEY (tenant, key)); \
     CREATE INDEX serve_idempotency_created ON serve_idempotency (created_ms);",
    ),
    (
        2,
        "revocations",
        "CREATE TABLE serve_revoked_tokens (id BYTEA PRIMARY KEY CHECK (length(id) = 16), revoked_ms BIGINT NOT NULL); \
     CREATE TABLE serve_revoked_epochs (epoch BIGINT PRIMARY KEY CHECK (epoch >= 0 AND epoch <= 4294967295), revoked_ms BIGINT NOT NULL);",
    ),
];

/// Where a request stands against its idempotency key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// First time (or a stale in-flight record taken over): run it, then
    /// [`IdemStore::finish`] or [`IdemStore::abandon`] the claim.
    Fresh(Claim),
    /// Done before: replay this.
    Replay(Stored),
    /// The same key is still in flight.
    InFlight,
    /// The same key with another request.
    Mismatch,
}

/// A claimed (tenant, key): the right to run the request and store its
/// result. In embedded mode the claim lives in this process's memory
/// ([`Claims`]) and is released when dropped, so a request cut off (a
/// timeout, a client gone) frees its key at once; in PostgreSQL it is a
/// row that a retry takes over once stale.
#[derive(Debug)]
pub struct Claim {
    /// (tenant, key): the map's key as it is, so a release looks it up
    /// without building it again.
    id: (String, String),
    fingerprint: [u8; 32],
    now_ms: i64,
    local: Option<(Arc<Claims>, u64)>,
}

impl PartialEq for Claim {
    fn eq(&self, other: &Self) -> bool {
        (&self.id, self.fingerprint) == (&other.id, other.fingerprint)
    }
}

impl Eq for Claim {}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some((claims, ticket)) = &self.local {
            claims.release(&self.id, *ticket);
        }
    }
}

/// (tenant, key) → (fingerprint, ticket).
type ClaimMap = HashMap<(String, String), ([u8; 32], u64)>;

/// A done record: fingerprint, status, content type, body.
type DoneRow = (Vec<u8>, Option<i64>, Option<String>, Option<Vec<u8>>);

/// The keys in flight in this process (embedded mode).
///
/// One process owns an embedded data directory (the journal is locked), so
/// a key in flight can only be in flight here: a claim in memory is as
/// good as a row, and costs no write. After a crash there are no claims: a
/// retry runs again, which the ledger's own ids keep idempotent, exactly as
/// when a stale row is taken over. The map holds at most one entry per
/// request inside the idempotency layer (a [`Claim`] removes its entry when
/// dropped), so the concurrency limit bounds it.
#[derive(Debug, Default)]
pub struct Claims {
    map: std::sync::Mutex<ClaimMap>,
    next: std::sync::atomic::AtomicU64,
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClaimMap> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes `id` (tenant, key) for `fingerprint`: its ticket, or why not.
    fn take(&self, id: &(String, String), fingerprint: &[u8; 32]) -> Result<u64, Begin> {
        let mut map = self.lock();
        if let Some((held, _)) = map.get(id) {
            return Err(if held == fingerprint {
                Begin::InFlight
            } else {
                Begin::Mismatch
            });
        }
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        map.insert(id.clone(), (*fingerprint, ticket));
        Ok(ticket)
    }

    /// Releases `id` (tenant, key) if `ticket` still holds it.
    fn release(&self, id: &(String, String), ticket: u64) {
        let mut map = self.lock();
        if map.get(id).is_some_and(|(_, t)| *t == ticket) {
            map.remove(id);
        }
    }

    /// How many keys are in flight.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is in flight.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stored result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its status.
    pub status: u16,
    /// Its content type (`application/json`, or an error code as
    /// `error:<CODE>`).
    pub content_type: String,
    /// Its body.
    pub body: Vec<u8>,
}

/// The store's failure (the database is unavailable).
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct IdemError(#[from] sqlx::Error);

/// The idempotency store.
#[derive(Clone, Debug)]
pub enum IdemStore {
    /// SQLite (embedded): claims in memory ([`Claims`]), lookups on the
    /// pool, results through one writer that shares a transaction (one
    /// `fsync`) per group.
    Sqlite(SqlitePool, Batcher, Arc<Claims>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

type Row = (
    Vec<u8>,
    i64,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
    i64,
);

macro_rules! on_pool {
    ($self:expr, $sqlite:literal, $pg:literal, |$p:ident, $sql:ident| $body:expr) => {
        match $self {
            IdemStore::Sqlite($p, _, _) => {
                let $sql = $sqlite;
                $body
            }
            #[cfg(feature = "postgres")]
            IdemStore::Postgres($p) => {
                let $sql = $pg;
                $body
            }
        }
    };
}

// Without PostgreSQL, SQLite is the only store: its `if let`s always match.
#[cfg_attr(not(feature = "postgres"), allow(irrefutable_let_patterns))]
impl IdemStore {
    /// Opens (creating) the SQLite store in `dir` and migrates it.
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn open_sqlite(dir: &Path) -> Result<Self, IdemError> {
        let opts = SqliteConnectOptions::new()
            .filename(dir.join(SQLITE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        Self::open_sqlite_with(opts).await
    }

    /// An SQLite store in memory only (amnesia): one shared-cache database
    /// per process, temporary tables in memory too, gone at exit.
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn open_sqlite_memory() -> Result<Self, IdemError> {
        let opts: SqliteConnectOptions = "sqlite::memory:".parse()?;
        let opts = opts
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(5));
        Self::open_sqlite_with(opts).await
    }

    async fn open_sqlite_with(opts: SqliteConnectOptions) -> Result<Self, IdemError> {
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await?;
        let mut tx: sqlx::Transaction<'_, sqlx::Sqlite> = pool.begin().await?;
        tally_sql::apply_sqlite(&mut tx, COMPONENT, SQLITE_MIGRATIONS).await?;
        tx.commit().await?;
        let conn = sqlx::ConnectOptions::connect(&opts).await?;
        Ok(Self::Sqlite(
            pool,
            Batcher::start(conn),
            Arc::new(Claims::default()),
        ))
    }

    /// The PostgreSQL store (migrated; the ledger's migrations made the
    /// `schema_migrations` table).
    ///
    /// # Errors
    /// [`IdemError`].
    #[cfg(feature = "postgres")]
    pub async fn open_pg(pool: sqlx::PgPool) -> Result<Self, IdemError> {
        const LOCK: i64 = 0x7461_6c6c_7973_7276; // "tallysrv"
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK)
            .execute(&mut *tx)
            .await?;
        tally_sql::apply_postgres(&mut tx, COMPONENT, PG_MIGRATIONS).await?;
        tx.commit().await?;
        Ok(Self::Postgres(pool))
    }

    /// Claims (tenant, key) for a request with `fingerprint`, at `now_ms`;
    /// a claim in flight since before `now_ms - stale_ms` is taken over
    /// (PostgreSQL: in embedded mode a claim cut off is released at once).
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn begin(
        &self,
        tenant: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now_ms: i64,
        stale_ms: i64,
    ) -> Result<Begin, IdemError> {
        let mut claim = Claim {
            id: (tenant.to_owned(), key.to_owned()),
            fingerprint: *fingerprint,
            now_ms,
            local: None,
        };
        if let Self::Sqlite(pool, _, claims) = self {
            let ticket = match claims.take(&claim.id, fingerprint) {
                Ok(t) => t,
                Err(b) => return Ok(b),
            };
            claim.local = Some((Arc::clone(claims), ticket));
            // Done before? (A claim dropped on an error here is released.)
            let row: Option<DoneRow> = sqlx::query_as(
                "SELECT fingerprint, status, content_type, body FROM idempotency \
                     WHERE tenant = $1 AND key = $2 AND done = 1",
            )
            .bind(tenant)
            .bind(key)
            .fetch_optional(pool)
            .await?;
            return Ok(match row {
                None => Begin::Fresh(claim),
                Some((fp, _, _, _)) if fp.as_slice() != fingerprint.as_slice() => Begin::Mismatch,
                Some((_, status, content_type, body)) => Begin::Replay(Stored {
                    status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                    content_type: content_type.unwrap_or_default(),
                    body: body.unwrap_or_default(),
                }),
            });
        }
        let inserted = on_pool!(
            self,
            "INSERT INTO idempotency (tenant, key, fingerprint, done, created_ms, updated_ms) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT DO NOTHING",
            "INSERT INTO serve_idempotency (tenant, key, fingerprint, done, created_ms, updated_ms) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT DO NOTHING",
            |p, sql| sqlx::query(sql)
                .bind(tenant)
                .bind(key)
                .bind(fingerprint.to_vec())
                .bind(now_ms)
                .execute(p)
                .await?
                .rows_affected()
        );
        if inserted == 1 {
            return Ok(Begin::Fresh(claim));
        }
        let row: Option<Row> = on_pool!(
            self,
            "SELECT fingerprint, done, status, content_type, body, updated_ms FROM idempotency \
             WHERE tenant = $1 AND key = $2",
            "SELECT fingerprint, done, status, content_type, body, updated_ms FROM serve_idempotency \
             WHERE tenant = $1 AND key = $2",
            |p, sql| sqlx::query_as(sql)
                .bind(tenant)
                .bind(key)
                .fetch_optional(p)
                .await?
        );
        let Some((fp, done, status, content_type, body, updated_ms)) = row else {
            // Purged between the two statements: the key is free again.
            return Box::pin(self.begin(tenant, key, fingerprint, now_ms, stale_ms)).await;
        };
        if fp.as_slice() != fingerprint.as_slice() {
            return Ok(Begin::Mismatch);
        }
        if done != 0 {
            return Ok(Begin::Replay(Stored {
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                content_type: content_type.unwrap_or_default(),
                body: body.unwrap_or_default(),
            }));
        }
        if updated_ms.saturating_add(stale_ms) > now_ms {
            return Ok(Begin::InFlight);
        }
        // Abandoned in flight (a crash): take it over, once.
        let taken = on_pool!(
            self,
            "UPDATE idempotency SET updated_ms = $3 WHERE tenant = $1 AND key = $2 AND done = 0 AND updated_ms = $4",
            "UPDATE serve_idempotency SET updated_ms = $3 WHERE tenant = $1 AND key = $2 AND done = 0 AND updated_ms = $4",
            |p, sql| sqlx::query(sql)
                .bind(tenant)
                .bind(key)
                .bind(now_ms)
                .bind(updated_ms)
                .execute(p)
                .await?
                .rows_affected()
        );
        Ok(if taken == 1 {
            Begin::Fresh(claim)
        } else {
            Begin::InFlight
        })
    }

    /// Stores the result of a claimed request (durable before this
    /// returns), then releases the claim.
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn finish(&self, claim: Claim, stored: &Stored) -> Result<(), IdemError> {
        if let Self::Sqlite(_, b, _) = self {
            return b
                .call(Finish {
                    tenant: claim.id.0.clone(),
                    key: claim.id.1.clone(),
                    fingerprint: claim.fingerprint,
                    now_ms: claim.now_ms,
                    stored: stored.clone(),
                })
                .await;
        }
        on_pool!(
            self,
            "UPDATE idempotency SET done = 1, status = $3, content_type = $4, body = $5 \
             WHERE tenant = $1 AND key = $2",
            "UPDATE serve_idempotency SET done = 1, status = $3, content_type = $4, body = $5 \
             WHERE tenant = $1 AND key = $2",
            |p, sql| sqlx::query(sql)
                .bind(claim.id.0.as_str())
                .bind(claim.id.1.as_str())
                .bind(i64::from(stored.status))
                .bind(stored.content_type.as_str())
                .bind(stored.body.clone())
                .execute(p)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// Releases a claimed request that produced no result to keep (a
    /// transient failure: the client may retry with the same key).
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn abandon(&self, claim: Claim) -> Result<(), IdemError> {
        if let Self::Sqlite(..) = self {
            // Dropping the claim releases it.
            return Ok(());
        }
        on_pool!(
            self,
            "DELETE FROM idempotency WHERE tenant = $1 AND key = $2 AND done = 0",
            "DELETE FROM serve_idempotency WHERE tenant = $1 AND key = $2 AND done = 0",
            |p, sql| sqlx::query(sql)
                .bind(claim.id.0.as_str())
                .bind(claim.id.1.as_str())
                .execute(p)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// The keys in flight in this process (embedded mode; `None` on
    /// PostgreSQL, where claims are rows).
    #[must_use]
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Self::Sqlite(_, _, c) => Some(c),
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => None,
        }
    }

    /// Deletes records created before `before_ms`; returns how many.
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn purge(&self, before_ms: i64) -> Result<u64, IdemError> {
        Ok(on_pool!(
            self,
            "DELETE FROM idempotency WHERE created_ms < $1",
            "DELETE FROM serve_idempotency WHERE created_ms < $1",
            |p, sql| sqlx::query(sql)
                .bind(before_ms)
                .execute(p)
                .await?
                .rows_affected()
        ))
    }

    /// Revokes a token id (and every token attenuated from it), for good.
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn revoke_token(&self, id: [u8; 16], now_ms: i64) -> Result<(), IdemError> {
        on_pool!(
            self,
            "INSERT INTO revoked_tokens (id, revoked_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            "INSERT INTO serve_revoked_tokens (id, revoked_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            |p, sql| sqlx::query(sql)
                .bind(id.to_vec())
                .bind(now_ms)
                .execute(p)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// Revokes a root-key epoch, for good.
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn revoke_epoch(&self, epoch: u32, now_ms: i64) -> Result<(), IdemError> {
        on_pool!(
            self,
            "INSERT INTO revoked_epochs (epoch, revoked_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            "INSERT INTO serve_revoked_epochs (epoch, revoked_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            |p, sql| sqlx::query(sql)
                .bind(i64::from(epoch))
                .bind(now_ms)
                .execute(p)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// The revoked token ids and epochs (at most
    /// [`tally_token::MAX_MEMORY_REVOCATIONS`] ids).
    ///
    /// # Errors
    /// [`IdemError`].
    pub async fn revocations(&self) -> Result<(Vec<[u8; 16]>, Vec<u32>), IdemError> {
        let max = i64::try_from(tally_token::MAX_MEMORY_REVOCATIONS).unwrap_or(i64::MAX);
        let ids: Vec<Vec<u8>> = on_pool!(
            self,
            "SELECT id FROM revoked_tokens ORDER BY revoked_ms LIMIT $1",
            "SELECT id FROM serve_revoked_tokens ORDER BY revoked_ms LIMIT $1",
            |p, sql| sqlx::query_scalar(sql).bind(max).fetch_all(p).await?
        );
        let epochs: Vec<i64> = on_pool!(
            self,
            "SELECT epoch FROM revoked_epochs",
            "SELECT epoch FROM serve_revoked_epochs",
            |p, sql| sqlx::query_scalar(sql).fetch_all(p).await?
        );
        Ok((
            ids.into_iter()
                .filter_map(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
                .collect(),
            epochs
                .into_iter()
                .filter_map(|e| u32::try_from(e).ok())
                .collect(),
        ))
    }

    /// Closes the store's connections (what an outage looks like).
    pub async fn close(&self) {
        on_pool!(self, "", "", |p, _sql| p.close().await);
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let ping = async {
            on_pool!(self, "SELECT 1", "SELECT 1", |p, sql| sqlx::query(sql)
                .execute(p)
                .await
                .is_ok())
        };
        tokio::time::timeout(Duration::from_secs(1), ping)
            .await
            .unwrap_or(false)
    }
}

/// Claims and results queued for the SQLite writer; more wait.
pub const SQLITE_QUEUE_MAX: usize = 4_096;
/// Operations the SQLite writer takes into one transaction.
pub const SQLITE_GROUP_MAX: usize = 256;

/// A result for the SQLite writer to store.
#[derive(Debug)]
struct Finish {
    tenant: String,
    key: String,
    fingerprint: [u8; 32],
    now_ms: i64,
    stored: Stored,
}

type OpReply = tokio::sync::oneshot::Sender<Result<(), ()>>;

/// The handle of the SQLite writer: group commit for idempotency results
/// (`synchronous=FULL` costs one `fsync` per transaction; the writer puts
/// every queued result in one, in a few multi-row statements).
#[derive(Clone, Debug)]
pub struct Batcher {
    tx: tokio::sync::mpsc::Sender<(Finish, OpReply)>,
}

impl Batcher {
    fn start(conn: sqlx::SqliteConnection) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(SQLITE_QUEUE_MAX);
        tokio::spawn(write_loop(conn, rx));
        Self { tx }
    }

    async fn call(&self, op: Finish) -> Result<(), IdemError> {
        let closed = || IdemError(sqlx::Error::PoolClosed);
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx.send((op, reply)).await.map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?.map_err(|()| closed())
    }
}

async fn write_loop(
    mut conn: sqlx::SqliteConnection,
    mut rx: tokio::sync::mpsc::Receiver<(Finish, OpReply)>,
) {
    let mut group = Vec::with_capacity(SQLITE_GROUP_MAX);
    while let Some(first) = rx.recv().await {
        group.push(first);
        while group.len() < SQLITE_GROUP_MAX {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let ok = apply_group(&mut conn, &group).await.is_ok();
        for (_, reply) in group.drain(..) {
            let _ = reply.send(if ok { Ok(()) } else { Err(()) });
        }
    }
}

/// The rows of one multi-row statement, largest first: a group is written
/// in a few statements of these fixed shapes (so a handful of prepared
/// statements serve every group size).
const ROWS_PER_STATEMENT: [usize; 4] = [64, 16, 4, 1];

/// Stores a group in one transaction.
async fn apply_group(
    conn: &mut sqlx::SqliteConnection,
    group: &[(Finish, OpReply)],
) -> Result<(), sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    let mut rest = group;
    for rows in ROWS_PER_STATEMENT {
        while rest.len() >= rows {
            let (chunk, tail) = rest.split_at(rows);
            store_rows(&mut tx, chunk).await?;
            rest = tail;
        }
    }
    tx.commit().await
}

/// One multi-row upsert: a result replaces a claim row left by a previous
/// version or by a crash.
async fn store_rows(
    c: &mut sqlx::SqliteConnection,
    chunk: &[(Finish, OpReply)],
) -> Result<(), sqlx::Error> {
    let mut q = sqlx::query(upsert_sql(chunk.len()));
    for (f, _) in chunk {
        q = q
            .bind(f.tenant.as_str())
            .bind(f.key.as_str())
            .bind(f.fingerprint.as_slice())
            .bind(i64::from(f.stored.status))
            .bind(f.stored.content_type.as_str())
            .bind(f.stored.body.as_slice())
            .bind(f.now_ms)
            .bind(f.now_ms);
    }
    q.execute(&mut *c).await.map(|_| ())
}

/// The multi-row upsert of `rows` results (one of [`ROWS_PER_STATEMENT`];
/// built once, so its text is `'static` and its prepared statement cached).
fn upsert_sql(rows: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        ROWS_PER_STATEMENT
            .iter()
            .map(|&n| {
                let mut sql = String::from(
                    "INSERT INTO idempotency (tenant, key, fingerprint, done, status, \
                     content_type, body, created_ms, updated_ms) VALUES ",
                );
                for i in 0..n {
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str("(?, ?, ?, 1, ?, ?, ?, ?, ?)");
                }
                sql.push_str(
                    " ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                     done = 1, status = excluded.status, content_type = excluded.content_type, \
                     body = excluded.body, updated_ms = excluded.updated_ms",
                );
                sql
            })
            .collect()
    });
    let i = ROWS_PER_STATEMENT
        .iter()
        .position(|&n| n == rows)
        .unwrap_or(ROWS_PER_STATEMENT.len().saturating_sub(1));
    all.get(i).map_or("", String::as_str)
}
