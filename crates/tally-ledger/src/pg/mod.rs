//! The ledger on PostgreSQL (feature `postgres`): the same state machine,
//! with the database as the source of truth, so several processes share
//! one ledger.
//!
//! A batch is one transaction:
//!
//! 1. lock the clock row (`UPDATE tally_clock … RETURNING`): batches are
//!    applied one after another, in one order, which gives every process
//!    the single strictly increasing clock and the global expiry order the
//!    state machine's semantics need;
//! 2. fetch, in one statement of point lookups, everything the batch can
//!    read: the accounts its events name, the transfers and failed ids
//!    with its ids, the pending transfers it posts or voids, and the holds
//!    due to expire;
//! 3. run the batch on a scratch [`Ledger`](crate::Ledger) holding only
//!    that state (so the results are the in-process engine's by
//!    construction);
//! 4. write back what changed, in one statement: balances by a
//!    conditional `UPDATE … WHERE version = …` over arrays (a row not updated means another writer won:
//!    the transaction rolls back and the batch is retried, at most
//!    [`MAX_ATTEMPTS`] times, then [`PgError::Contention`]); new transfers,
//!    failed ids and history by inserts whose primary keys the database
//!    enforces (a unique violation is retried the same way);
//! 5. append the batch's journal record (the file journal's JSON record)
//!    to the journal's hash chain, and commit (asynchronously: the clock
//!    row is free at once);
//! 6. before returning the results, commit one row synchronously (the
//!    durability barrier): the write-ahead log is then on disk past the
//!    batch's commit record, so an acknowledged batch is durable.
//!
//! Steps 1–5 are five round trips: `BEGIN`, the clock, one load statement,
//! one write statement (data-modifying CTEs), `COMMIT`.
//!
//! No `SELECT … FOR UPDATE` round trip: the only lock taken on purpose is
//! the clock row's, once per batch (of up to [`MAX_BATCH_EVENTS`] events).
//! [`PgLedger::verify`] walks the chain, checks the signed checkpoints and
//! replays the journal into a fresh [`Ledger`](crate::Ledger), comparing
//! every table.

mod batch;
mod codec;
mod journal;
mod proof;
mod query;

pub use crate::pg_proof::{PgInclusionProof, ProofError};

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::result::CreateTransferResult;
use crate::state::BatchError;
use crate::types::MAX_BATCH_EVENTS;

pub use journal::VerifyReport;

/// Attempts of one batch before [`PgError::Contention`].
pub const MAX_ATTEMPTS: u32 = 8;
/// The first retry's back-off; each next one doubles it.
pub const BACKOFF_FIRST_MS: u64 = 2;
/// Holds one scratch ledger expires at most; more due at once are expired
/// in chunks of this many, in expiry order, in the same transaction.
pub const MAX_DUE_EXPIRIES: usize = 8_189;
/// Connections of a pool made by [`PgLedger::connect`].
pub const POOL_CONNECTIONS_MAX: u32 = 16;
/// How long [`PgLedger::connect`]'s pool waits for a free connection.
pub const POOL_ACQUIRE_TIMEOUT_MS: u64 = 30_000;
/// Rows of one page when `verify` or `checkpoint` reads a table.
pub const PAGE_ROWS: i64 = 4_096;

/// The migrations, in order: (version, name, SQL). Applied in one
/// transaction under an advisory lock; the versions applied are kept in
/// `schema_migrations` (component `tally-ledger`).
const MIGRATIONS: &[tally_sql::Migration] = &[
    (1, "schema", include_str!("0001_schema.sql")),
    (
        2,
        "transfer_journal_seq",
        include_str!("0002_transfer_journal_seq.sql"),
    ),
];
/// `schema_migrations.component` of this crate's migrations.
const COMPONENT: &str = "tally-ledger";
/// The advisory lock key migrations run under (`tally-led` in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7461_6c6c_792d_6c65;

/// Why the PostgreSQL ledger refused or failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PgError {
    /// The batch was refused whole (nothing written).
    Batch(BatchError),
    /// The database refused or failed (nothing written by this batch).
    Database(sqlx::Error),
    /// Other writers kept winning: the batch was rolled back each time.
    Contention {
        /// Attempts made.
        attempts: u32,
    },
    /// A stored value is not one this version writes (the database was
    /// edited, or is not a tally ledger).
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// `verify` found the journal, a checkpoint or a table not as written.
    Tampered {
        /// What is wrong.
        what: String,
    },
    /// A checkpoint could not be made (signing, Merkle tree).
    Audit(tally_audit::AuditError),
}

impl core::fmt::Display for PgError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Batch(e) => e.fmt(f),
            Self::Database(e) => write!(f, "postgres: {e}"),
            Self::Contention { attempts } => write!(
                f,
                "the batch lost to other writers {attempts} times; nothing was applied"
            ),
            Self::Corrupt { what } => write!(f, "stored ledger is corrupt: {what}"),
            Self::Tampered { what } => write!(f, "verification failed: {what}"),
            Self::Audit(e) => write!(f, "checkpoint: {e}"),
        }
    }
}

impl std::error::Error for PgError {}

impl From<sqlx::Error> for PgError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<BatchError> for PgError {
    fn from(e: BatchError) -> Self {
        Self::Batch(e)
    }
}

/// Why one attempt of a batch ended without committing.
#[derive(Debug)]
enum Fail {
    /// Another writer won a conflict: roll back and try again.
    Retry,
    /// Give up with this error.
    Fatal(PgError),
}

impl From<sqlx::Error> for Fail {
    fn from(e: sqlx::Error) -> Self {
        // Serialization failure, deadlock, unique violation: the database
        // refused a write that raced another writer's.
        if let sqlx::Error::Database(db) = &e
            && matches!(db.code().as_deref(), Some("40001" | "40P01" | "23505"))
        {
            return Self::Retry;
        }
        Self::Fatal(PgError::Database(e))
    }
}

impl From<PgError> for Fail {
    fn from(e: PgError) -> Self {
        Self::Fatal(e)
    }
}

/// The ledger on PostgreSQL. Cheap to clone (a pool); any number of
/// processes may share one database.
#[derive(Clone, Debug)]
pub struct PgLedger {
    pool: PgPool,
    writer: String,
    /// The journal's Merkle tree for proofs, read on the first proof and
    /// extended on later ones (shared by clones).
    proofs: std::sync::Arc<tokio::sync::Mutex<Option<proof::ProofCache>>>,
}

impl PgLedger {
    /// Connects (a pool of at most [`POOL_CONNECTIONS_MAX`]) and applies
    /// the migrations this version has that the database lacks.
    ///
    /// # Errors
    /// [`PgError::Database`] when the database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Self, PgError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_millis(POOL_ACQUIRE_TIMEOUT_MS))
            .connect(url)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses `pool`, applying the migrations the database lacks.
    ///
    /// # Errors
    /// [`PgError::Database`] when the database cannot be migrated.
    pub async fn from_pool(pool: PgPool) -> Result<Self, PgError> {
        migrate(&pool).await?;
        Ok(Self {
            pool,
            writer: format!("pid-{}", std::process::id()),
            proofs: std::sync::Arc::default(),
        })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `attempt` until it commits, retrying lost races with doubling
    /// back-off, at most [`MAX_ATTEMPTS`] times.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, PgError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Fail>>,
    {
        let mut backoff_ms = BACKOFF_FIRST_MS;
        for n in 1..=MAX_ATTEMPTS {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(Fail::Fatal(e)) => return Err(e),
                Err(Fail::Retry) if n < MAX_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                    backoff_ms = backoff_ms.saturating_mul(2);
                }
                Err(Fail::Retry) => {}
            }
        }
        Err(PgError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// Applies the migrations the database lacks, in one transaction, under an
/// advisory lock (processes starting together migrate once).
///
/// # Errors
/// [`PgError::Database`] when a statement fails (nothing is applied).
pub async fn migrate(pool: &PgPool) -> Result<(), PgError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    tally_sql::apply_postgres(&mut tx, COMPONENT, MIGRATIONS).await?;
    journal::init_clock(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The transient results an id can stay failed with, by name.
fn failed_result(name: &str) -> Option<CreateTransferResult> {
    use CreateTransferResult as TR;
    [
        TR::DebitAccountNotFound,
        TR::CreditAccountNotFound,
        TR::PendingTransferNotFound,
        TR::PendingTransferExpired,
        TR::ExceedsCredits,
        TR::ExceedsDebits,
        TR::OverflowsDebitsPending,
        TR::OverflowsCreditsPending,
        TR::OverflowsDebitsPosted,
        TR::OverflowsCreditsPosted,
        TR::OverflowsDebits,
        TR::OverflowsCredits,
        TR::OverflowsTimeout,
    ]
    .into_iter()
    .find(|r| r.as_str() == name)
}

/// Refuses a batch larger than [`MAX_BATCH_EVENTS`] before any I/O.
fn check_size(events: usize) -> Result<(), PgError> {
    if events > MAX_BATCH_EVENTS {
        return Err(PgError::Batch(BatchError::TooLarge { events }));
    }
    Ok(())
}
