//! The rewarder's store on PostgreSQL (`tally serve --database
//! postgres://…`): any number of processes over one database, nothing
//! process-local needed for correctness.
//!
//! * Blobs: one `BYTEA` row per content id (the key), the id computed by
//!   the server over the uploaded bytes before the insert, at most
//!   `BLOB_MAX` bytes; `INSERT … ON CONFLICT DO NOTHING` stores them once.
//! * Runs: [`PgStore::accept`] is one transaction: the run's row (its
//!   epoch the key; its manifest's link to the previous one unique and a
//!   foreign key, one first manifest: one chain) inserted if no constraint
//!   stops it, then the measurements claimed for the epoch. A run that
//!   lost a race is answered with the winner's (same epoch) or relinked
//!   (the head moved); measurements another epoch paid roll it back.
//! * Settlement: the emission count is one conditional upsert
//!   ([`PgStore::count_emit`]); exactly once is the ledger's (transfer ids
//!   derived from the run key).
//!
//! The schema is embedded (`0001_rewarder.sql`, `0002_at_rest.sql`) and
//! applied at start in one transaction under an advisory lock (tally-sql).
//!
//! **Sealed at rest** (`--at-rest-key-file`, as the file store): the rows
//! that hold user data (blobs, signed policies, accepted runs with their
//! intents, quarantined runs) are stored as [`crate::vault`]'s sealed
//! format, under the keyring's current key, with the associated data
//! `<table>/<key>` ([`row_context`]: `reward_blobs/<cid>`,
//! `reward_runs/<epoch>`, …), so a row copied or moved to another key's
//! place fails authentication; old keys of `--at-rest-keyring` open rows.
//! A blob's CID is still computed over its plaintext (and checked again
//! after opening). Rows read back are opened before anything uses them: a
//! row that does not open (altered, moved, under a key the keyring lacks,
//! or plain though a key is configured) is an error, never served; a
//! sealed row read by a process without a key is an error too
//! ([`AtRestError::NoKey`]). The keys of the tables (CIDs, epochs, run
//! keys, the chain's links), the measurements' keys (hashes) and the
//! settlement counts are not sealed: the database's constraints work on
//! them. A store that had no key keeps plain rows; once a key is
//! configured they are refused until `tally serve --database …
//! --at-rest-key-file K --at-rest-reencrypt` ([`reencrypt`]) seals them
//! (and re-seals rows under an old key with the current one).

use std::future::Future;

use std::sync::Arc;

use axum::body::Body;
use sqlx::PgPool;
use tally_reward::cid::Cid;
use tally_reward::ident::EpochId;
use tally_reward::registry::{Accepted, AcceptedRun, Head, StoreError};

use super::{RecentEpoch, SettleRecord, StoredQuarantine, decode_run, encode_run, store_error};
use crate::blobs::{BlobError, BlobReader, collect_capped};
use crate::vault::{AtRestError, Keyring, Reencrypted, is_sealed, sealed_len_max};

/// `schema_migrations.component` of the rewarder's tables.
const COMPONENT: &str = "tally-serve/rewarder";
/// The advisory lock the migrations run under (`tallyrwd` in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7461_6c6c_7972_7764;
/// The migrations, in order.
const MIGRATIONS: &[tally_sql::Migration] = &[
    (1, "rewarder", include_str!("0001_rewarder.sql")),
    (2, "at rest", include_str!("0002_at_rest.sql")),
    (3, "recent", include_str!("0003_recent.sql")),
];

/// The tables whose rows hold user data (sealed at rest): table, key
/// column, value column, the largest plaintext (bytes; `None`: `BLOB_MAX`).
const SEALED_TABLES: [(&str, &str, &str, Option<u64>); 4] = [
    ("reward_blobs", "cid", "bytes", None),
    (
        "reward_policies",
        "cid",
        "signed",
        Some(super::SMALL_FILE_MAX),
    ),
    ("reward_runs", "epoch", "run", Some(super::RUN_FILE_MAX)),
    (
        "reward_quarantine",
        "epoch",
        "record",
        Some(super::RUN_FILE_MAX),
    ),
];

/// The associated data a row is sealed with: its table and its key
/// (`reward_runs/2026-w49`), so it opens nowhere else.
pub(crate) fn row_context(table: &str, key: &str) -> String {
    format!("{table}/{key}")
}

/// The rewarder's tables.
#[derive(Debug)]
pub(super) struct PgStore {
    pool: PgPool,
    /// `BLOB_MAX`.
    blob_max: usize,
    /// The at-rest keyring (`--at-rest-key-file`): rows of user data are
    /// sealed under its current key and opened with any of its keys.
    keys: Option<Arc<Keyring>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn blob_db(e: impl std::fmt::Display) -> BlobError {
    BlobError::Database(e.to_string())
}

impl PgStore {
    /// Migrates the tables and opens the store (rows sealed under `keys`
    /// when given).
    pub(super) async fn open(
        pool: PgPool,
        blob_max: usize,
        keys: Option<Arc<Keyring>>,
    ) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await.map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tally_sql::apply_postgres(&mut tx, COMPONENT, MIGRATIONS)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(Self {
            pool,
            blob_max,
            keys,
        })
    }

    /// What is stored for `plain`, the value of row `key` of `table`:
    /// sealed when a key is configured.
    fn seal_row(&self, table: &str, key: &str, plain: Vec<u8>) -> Result<Vec<u8>, AtRestError> {
        seal_row(self.keys.as_deref(), table, key, plain)
    }

    /// The plaintext of row `key` of `table` ([`open_row`]).
    fn open_row(
        &self,
        table: &str,
        key: &str,
        stored: Vec<u8>,
        max: u64,
    ) -> Result<Vec<u8>, AtRestError> {
        open_row(self.keys.as_deref(), table, key, stored, max)
    }

    /// The largest stored value of a plaintext of at most `max` bytes.
    fn stored_max(&self, max: u64) -> i64 {
        let stored = if self.keys.is_some() {
            sealed_len_max(max)
        } else {
            max
        };
        i64::try_from(stored).unwrap_or(i64::MAX)
    }

    /// Records `public` as the seal key when none is; whether the
    /// database's seal key is `public`.
    pub(super) async fn register_seal(&self, public: &[u8; 32]) -> Result<bool, StoreError> {
        sqlx::query(
            "INSERT INTO reward_seal_key (id, public_key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&public[..])
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT public_key FROM reward_seal_key WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(stored.as_slice() == public.as_slice())
    }

    /// Runs `f` to its end from a blocking thread (a run's
    /// [`RunStore`](tally_reward::registry::RunStore) calls).
    pub(super) fn blocking<T>(
        &self,
        f: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(f),
            Err(_) => Err(store_error("no runtime to reach the database from")),
        }
    }

    // ------------------------------------------------------------ blobs --

    /// Takes the body whole, hashed as it arrives (refused past `BLOB_MAX`
    /// as it arrives), and inserts it once under its content id.
    pub(super) async fn put_blob(
        &self,
        body: Body,
        expected: Option<Cid>,
    ) -> Result<(Cid, u64, bool), BlobError> {
        let (bytes, cid) = collect_capped(body, self.blob_max).await?;
        if expected.is_some_and(|e| e != cid) {
            return Err(BlobError::Mismatch);
        }
        let size = bytes.len() as u64;
        let key = cid.to_string();
        let stored = self.seal_row("reward_blobs", &key, bytes)?;
        let done = sqlx::query(
            "INSERT INTO reward_blobs (cid, bytes, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (cid) DO NOTHING",
        )
        .bind(&key)
        .bind(&stored)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(blob_db)?;
        Ok((cid, size, done.rows_affected() == 1))
    }

    /// The row's bytes, opened, when they are within `BLOB_MAX` (not
    /// checked against the id).
    async fn blob_bytes(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlobError> {
        let max = self.stored_max(self.blob_max as u64);
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT CASE WHEN octet_length(bytes) <= $2 THEN bytes END FROM reward_blobs WHERE cid = $1",
        )
        .bind(cid.to_string())
        .bind(max)
        .fetch_optional(&self.pool)
        .await
        .map_err(blob_db)?;
        match row {
            None => Ok(None),
            Some((Some(bytes),)) => {
                // Without a key, a plain blob may start like a sealed row:
                // its content id tells them apart (hashed only then).
                if self.keys.is_none() && (!is_sealed(&bytes) || Cid::of(&bytes) == *cid) {
                    return Ok(Some(bytes));
                }
                let key = cid.to_string();
                Ok(Some(self.open_row(
                    "reward_blobs",
                    &key,
                    bytes,
                    self.blob_max as u64,
                )?))
            }
            Some((None,)) => Err(blob_db("a stored blob is over BLOB_MAX")),
        }
    }

    /// The blob, checked against its id.
    pub(super) async fn get_blob(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlobError> {
        let Some(bytes) = self.blob_bytes(cid).await? else {
            return Ok(None);
        };
        if Cid::of(&bytes) != *cid {
            return Err(BlobError::Corrupt);
        }
        Ok(Some(bytes))
    }

    /// The blob as a reader that checks it when finished (from a blocking
    /// thread).
    pub(super) fn blob_reader(&self, cid: &Cid) -> Result<Option<BlobReader>, BlobError> {
        let handle = tokio::runtime::Handle::try_current().map_err(blob_db)?;
        let bytes = handle.block_on(self.blob_bytes(cid))?;
        Ok(bytes.map(|b| BlobReader::from_bytes(*cid, b, self.blob_max, "reward_blobs")))
    }

    // --------------------------------------------------------- policies --

    /// Stores a signed policy once: whether this call stored it.
    pub(super) async fn create_policy(&self, cid: &Cid, bytes: &[u8]) -> Result<bool, StoreError> {
        let key = cid.to_string();
        let stored = self
            .seal_row("reward_policies", &key, bytes.to_vec())
            .map_err(store_error)?;
        let done = sqlx::query(
            "INSERT INTO reward_policies (cid, signed, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (cid) DO NOTHING",
        )
        .bind(&key)
        .bind(stored)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    /// A signed policy's bytes (at most 1 MiB, sealed a little more: the
    /// table's check).
    pub(super) async fn policy(&self, cid: &Cid) -> Result<Option<Vec<u8>>, StoreError> {
        let key = cid.to_string();
        let row: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT signed FROM reward_policies WHERE cid = $1")
                .bind(&key)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        row.map(|b| {
            self.open_row("reward_policies", &key, b, super::SMALL_FILE_MAX)
                .map_err(store_error)
        })
        .transpose()
    }

    /// A run row's run, opened (the row of `epoch`).
    fn open_run(&self, epoch: &str, stored: Vec<u8>) -> Result<AcceptedRun, StoreError> {
        let bytes = self
            .open_row("reward_runs", epoch, stored, super::RUN_FILE_MAX)
            .map_err(store_error)?;
        decode_run(&bytes)
    }

    // ------------------------------------------------------------- runs --

    /// The epoch's accepted run.
    pub(super) async fn accepted(
        &self,
        epoch: &EpochId,
    ) -> Result<Option<AcceptedRun>, StoreError> {
        let row: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT run FROM reward_runs WHERE epoch = $1")
                .bind(epoch.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        let Some(bytes) = row else { return Ok(None) };
        let run = self.open_run(epoch.as_str(), bytes)?;
        if run.sealed.manifest.epoch != *epoch {
            return Err(store_error("a run row holds another epoch's run"));
        }
        Ok(Some(run))
    }

    /// The chain's head: the accepted run no other links to.
    pub(super) async fn head(&self) -> Result<Option<Head>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT r.epoch, r.run FROM reward_runs r WHERE NOT EXISTS \
             (SELECT 1 FROM reward_runs n WHERE n.previous_cid = r.manifest_cid) LIMIT 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut rows = rows.into_iter();
        match (rows.next(), rows.next()) {
            (None, _) => Ok(None),
            (Some((epoch, stored)), None) => {
                let run = self.open_run(&epoch, stored)?;
                if run.sealed.manifest.epoch.as_str() != epoch {
                    return Err(store_error("a run row holds another epoch's run"));
                }
                Ok(Some(Head {
                    cid: run.manifest_cid,
                    sealed: run.sealed,
                }))
            }
            (Some(_), Some(_)) => Err(store_error("the chain of accepted runs forks")),
        }
    }

    /// The operator page's summary: the head's epoch, the accepted and
    /// quarantined runs' counts, and at most `max` quarantined epochs.
    pub(super) async fn summary(
        &self,
        max: usize,
    ) -> Result<(Option<String>, usize, usize, Vec<String>), StoreError> {
        // The head's epoch from its row's key, not its run (a run holds its
        // intents: decoding one per page view would read all of them).
        let heads: Vec<String> = sqlx::query_scalar(
            "SELECT r.epoch FROM reward_runs r WHERE NOT EXISTS \
             (SELECT 1 FROM reward_runs n WHERE n.previous_cid = r.manifest_cid) LIMIT 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let head = match heads.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => return Err(store_error("the chain of accepted runs forks")),
        };
        let (accepted, quarantined): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM reward_runs), (SELECT count(*) FROM reward_quarantine)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        let epochs: Vec<String> =
            sqlx::query_scalar("SELECT epoch FROM reward_quarantine ORDER BY epoch LIMIT $1")
                .bind(i64::try_from(max).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        let n = |v: i64| usize::try_from(v).unwrap_or(0);
        Ok((head, n(accepted), n(quarantined), epochs))
    }

    /// The most recent epochs (at most `limit`), newest first: the runs and
    /// the quarantined runs (not accepted since), each by an indexed
    /// `ORDER BY created_ms DESC, epoch DESC LIMIT`, merged.
    pub(super) async fn recent(&self, limit: usize) -> Result<Vec<RecentEpoch>, StoreError> {
        type Row = (String, bool, Option<String>, Option<String>, bool);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT epoch, quarantined, manifest_cid, previous_cid, settled FROM ( \
               (SELECT r.epoch, false AS quarantined, r.manifest_cid, r.previous_cid, \
                       COALESCE(s.settled, false) AS settled, r.created_ms \
                FROM reward_runs r LEFT JOIN reward_settlements s ON s.run_key = r.run_key \
                ORDER BY r.created_ms DESC, r.epoch DESC LIMIT $1) \
               UNION ALL \
               (SELECT q.epoch, true, NULL::text, NULL::text, false, q.created_ms \
                FROM reward_quarantine q \
                WHERE NOT EXISTS (SELECT 1 FROM reward_runs r WHERE r.epoch = q.epoch) \
                ORDER BY q.created_ms DESC, q.epoch DESC LIMIT $1) \
             ) e ORDER BY created_ms DESC, epoch DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(epoch, quarantined, cid, previous, settled)| match cid {
                Some(cid) if !quarantined => RecentEpoch::accepted(epoch, settled, cid, previous),
                _ => RecentEpoch::quarantined(epoch),
            })
            .collect())
    }

    /// Records `run` if no constraint stops it, and claims `snapshot` for
    /// its epoch, in one transaction. `None`: the measurements were paid
    /// under another epoch and the policy does not allow reuse (nothing
    /// recorded).
    pub(super) async fn accept(
        &self,
        run: &AcceptedRun,
        expected_head: Option<Cid>,
        snapshot: &str,
        allow_reuse: bool,
    ) -> Result<Option<Accepted>, StoreError> {
        let manifest = &run.sealed.manifest;
        if manifest.previous != expected_head {
            return Err(store_error(
                "the run does not link to the head it was built on",
            ));
        }
        let epoch = manifest.epoch.clone();
        let key = manifest.run_key.to_string();
        let cid = run.manifest_cid.to_string();
        let previous = manifest.previous.map(|c| c.to_string());
        let bytes = encode_run(run)?;
        let bytes = self
            .seal_row("reward_runs", epoch.as_str(), bytes)
            .map_err(store_error)?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let inserted = sqlx::query(
            "INSERT INTO reward_runs (epoch, run_key, manifest_cid, previous_cid, run, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(epoch.as_str())
        .bind(&key)
        .bind(&cid)
        .bind(previous)
        .bind(bytes)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await.map_err(store_error)?;
            return Ok(Some(match self.accepted(&epoch).await? {
                Some(existing) => Accepted::Existing(Box::new(existing)),
                None => Accepted::HeadMoved,
            }));
        }
        sqlx::query(
            "INSERT INTO reward_snapshots (snapshot, epoch) VALUES ($1, $2) \
             ON CONFLICT (snapshot) DO NOTHING",
        )
        .bind(snapshot)
        .bind(epoch.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let owner: String =
            sqlx::query_scalar("SELECT epoch FROM reward_snapshots WHERE snapshot = $1")
                .bind(snapshot)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if !allow_reuse && owner != epoch.as_str() {
            tx.rollback().await.map_err(store_error)?;
            return Ok(None);
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Some(Accepted::Inserted))
    }

    /// Records (replaces) the epoch's quarantined run.
    pub(super) async fn quarantine(&self, q: &StoredQuarantine) -> Result<(), StoreError> {
        let record = serde_json::to_vec(q).map_err(store_error)?;
        let record = self
            .seal_row("reward_quarantine", q.epoch.as_str(), record)
            .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO reward_quarantine (epoch, record, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (epoch) DO UPDATE SET record = EXCLUDED.record, created_ms = EXCLUDED.created_ms",
        )
        .bind(q.epoch.as_str())
        .bind(record)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    /// The epoch's quarantined run.
    pub(super) async fn quarantined(
        &self,
        epoch: &EpochId,
    ) -> Result<Option<StoredQuarantine>, StoreError> {
        let row: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT record FROM reward_quarantine WHERE epoch = $1")
                .bind(epoch.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        row.map(|b| {
            let plain = self
                .open_row("reward_quarantine", epoch.as_str(), b, super::RUN_FILE_MAX)
                .map_err(store_error)?;
            serde_json::from_slice(&plain).map_err(store_error)
        })
        .transpose()
    }

    /// Claims the measurements for `epoch` unless another epoch has.
    pub(super) async fn claim_snapshot(
        &self,
        snapshot: &str,
        epoch: &EpochId,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reward_snapshots (snapshot, epoch) VALUES ($1, $2) \
             ON CONFLICT (snapshot) DO NOTHING",
        )
        .bind(snapshot)
        .bind(epoch.as_str())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    // ------------------------------------------------------- settlement --

    /// The run's settlement record.
    pub(super) async fn settle_record(&self, run_key: &str) -> Result<SettleRecord, StoreError> {
        let row: Option<(i64, bool)> =
            sqlx::query_as("SELECT emits, settled FROM reward_settlements WHERE run_key = $1")
                .bind(run_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        let Some((emits, settled)) = row else {
            return Ok(SettleRecord::default());
        };
        let emits = u32::try_from(emits).map_err(store_error)?;
        Ok(SettleRecord { emits, settled })
    }

    /// Counts one submission unless `max` are counted: the new count.
    pub(super) async fn count_emit(
        &self,
        run_key: &str,
        max: u32,
    ) -> Result<Option<u32>, StoreError> {
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO reward_settlements AS s (run_key, emits, settled) VALUES ($1, 1, false) \
             ON CONFLICT (run_key) DO UPDATE SET emits = s.emits + 1 WHERE s.emits < $2 \
             RETURNING emits",
        )
        .bind(run_key)
        .bind(i64::from(max))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        counted
            .map(|n| u32::try_from(n).map_err(store_error))
            .transpose()
    }

    /// Marks the run settled (every chain found on the ledger).
    pub(super) async fn mark_settled(&self, run_key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reward_settlements AS s (run_key, emits, settled) VALUES ($1, 0, true) \
             ON CONFLICT (run_key) DO UPDATE SET settled = true",
        )
        .bind(run_key)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }
}

/// What is stored for `plain`, the value of row `key` of `table`: sealed
/// under the current key of `keys` when given, bound to the row.
fn seal_row(
    keys: Option<&Keyring>,
    table: &str,
    key: &str,
    plain: Vec<u8>,
) -> Result<Vec<u8>, AtRestError> {
    match keys {
        Some(k) => k.seal(&row_context(table, key), &plain),
        None => Ok(plain),
    }
}

/// The plaintext of row `key` of `table` (at most `max` bytes): opened with
/// `keys` when given (a row that is plain, under a key the keyring lacks,
/// moved or altered is refused); without keys, a sealed row is refused
/// ([`AtRestError::NoKey`]). Never the stored bytes of a row that did not
/// open; every refusal is logged.
fn open_row(
    keys: Option<&Keyring>,
    table: &str,
    key: &str,
    stored: Vec<u8>,
    max: u64,
) -> Result<Vec<u8>, AtRestError> {
    let context = row_context(table, key);
    let opened = match keys {
        Some(k) => k.open(&context, &stored, max),
        None if is_sealed(&stored) => Err(AtRestError::NoKey { context }),
        None => Ok(stored),
    };
    opened.inspect_err(|e| {
        tracing::error!(table, error = %e, "a stored row does not open: never served");
    })
}

/// Rows read per page by [`reencrypt`].
const REENCRYPT_PAGE: i64 = 64;

/// Seals every row of user data under the current key of `keys`
/// (`tally serve --database … --at-rest-reencrypt`, the servers stopped):
/// rows under an old key of the keyring are opened and sealed anew, plain
/// rows (a store that had no key) are sealed, rows under the current key
/// are left alone. One row at a time, each replaced only if it did not
/// change meanwhile, so an interrupted run can be run again.
///
/// # Errors
/// [`StoreError`]: the first row that cannot be read, opened (altered, or
/// under a key the keyring lacks) or written stops the run.
pub(super) async fn reencrypt(
    pool: &PgPool,
    keys: &Keyring,
    blob_max: usize,
) -> Result<Reencrypted, StoreError> {
    let mut done = Reencrypted::default();
    for (table, key_col, value_col, max) in SEALED_TABLES {
        let max = max.unwrap_or(blob_max as u64);
        let mut after = String::new();
        loop {
            let page: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {key_col} FROM {table} WHERE {key_col} > $1 ORDER BY {key_col} LIMIT $2"
            )))
            .bind(&after)
            .bind(REENCRYPT_PAGE)
            .fetch_all(pool)
            .await
            .map_err(store_error)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            for key in &page {
                let row = RowRef {
                    table,
                    key_col,
                    value_col,
                    key,
                };
                reseal_row(pool, keys, &row, max, &mut done).await?;
            }
            after = last;
        }
    }
    Ok(done)
}

/// One row of [`SEALED_TABLES`].
struct RowRef<'a> {
    table: &'a str,
    key_col: &'a str,
    value_col: &'a str,
    key: &'a str,
}

async fn reseal_row(
    pool: &PgPool,
    keys: &Keyring,
    row: &RowRef<'_>,
    max: u64,
    done: &mut Reencrypted,
) -> Result<(), StoreError> {
    let RowRef {
        table,
        key_col,
        value_col,
        key,
    } = *row;
    let stored: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {value_col} FROM {table} WHERE {key_col} = $1"
    )))
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(store_error)?;
    let Some(stored) = stored else { return Ok(()) };
    let context = row_context(table, key);
    // A plain blob may start like a sealed row: its content id says which.
    let plain_blob = table == "reward_blobs" && Cid::of(&stored).to_string() == key;
    let plain = if is_sealed(&stored) && !plain_blob {
        if keys.is_current(&stored) {
            done.current = done.current.saturating_add(1);
            return Ok(());
        }
        let plain = keys.open(&context, &stored, max).map_err(store_error)?;
        done.resealed = done.resealed.saturating_add(1);
        plain
    } else {
        if stored.len() as u64 > max {
            return Err(store_error(format!("{context}: over its bound")));
        }
        done.sealed_plain = done.sealed_plain.saturating_add(1);
        stored.clone()
    };
    let sealed = keys.seal(&context, &plain).map_err(store_error)?;
    let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {table} SET {value_col} = $2 WHERE {key_col} = $1 AND {value_col} = $3"
    )))
    .bind(key)
    .bind(sealed)
    .bind(&stored)
    .execute(pool)
    .await
    .map_err(store_error)?;
    if updated.rows_affected() != 1 {
        return Err(store_error(format!(
            "{context}: changed while it was re-sealed (stop the servers first)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(dir: &std::path::Path, name: &str) -> Keyring {
        let path = dir.join(name);
        Keyring::create_key_file(&path).unwrap();
        Keyring::load(&path, None).unwrap()
    }

    #[test]
    fn rows_open_only_in_their_place_under_a_held_key_and_never_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (keyring(dir.path(), "a.key"), keyring(dir.path(), "b.key"));
        let plain = b"{\"run\":1}".to_vec();
        let sealed = seal_row(Some(&a), "reward_runs", "e1", plain.clone()).unwrap();
        assert!(is_sealed(&sealed) && !sealed.windows(5).any(|w| w == b"\"run\""));
        let open = |keys, table, key, bytes: &[u8]| open_row(keys, table, key, bytes.to_vec(), 64);
        assert_eq!(open(Some(&a), "reward_runs", "e1", &sealed).unwrap(), plain);
        // Another key's place, another table: refused.
        for (table, key) in [("reward_runs", "e2"), ("reward_quarantine", "e1")] {
            assert!(matches!(
                open(Some(&a), table, key, &sealed),
                Err(AtRestError::Tampered { .. })
            ));
        }
        // A flipped byte, a key the keyring lacks, no key, a plain row.
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(Some(&a), "reward_runs", "e1", &flipped).is_err());
        assert!(matches!(
            open(Some(&b), "reward_runs", "e1", &sealed),
            Err(AtRestError::UnknownKey { .. })
        ));
        assert!(matches!(
            open(None, "reward_runs", "e1", &sealed),
            Err(AtRestError::NoKey { .. })
        ));
        assert!(matches!(
            open(Some(&a), "reward_runs", "e1", &plain),
            Err(AtRestError::NotSealed { .. })
        ));
        // Without a key, plain rows are what is stored.
        assert_eq!(open(None, "reward_runs", "e1", &plain).unwrap(), plain);
        assert_eq!(
            seal_row(None, "reward_runs", "e1", plain.clone()).unwrap(),
            plain
        );
    }
}
