//! The decision log and the stored policies on PostgreSQL: one log for
//! every process over one database.
//!
//! * `decide_log (seq, prev, payload, hash, request)`: the rows, bound by
//!   the row chain of [`super::pg_proof`]. Appends are serialised by the
//!   one row of `decide_head (size, head, log_id, vkey)`, locked by an
//!   `UPDATE … RETURNING` in the transaction that inserts a decision's two
//!   rows and moves the head; `request` (unique) holds the request identity
//!   of an owner record, so a retry of a decision finds its first record
//!   in that same transaction instead of appending a second.
//! * Each process keeps the tree of the chain's hashes in memory (a
//!   tally-audit [`ProofIndex`], about 64 bytes a row), extended from the
//!   table as the log grows, checking every row's chain hash and `prev` as
//!   it reads: inclusion and consistency proofs come from it, and every
//!   proof is checked with the verifier key before it is served.
//! * `decide_checkpoints (size, note)`: checkpoints signed by whichever
//!   process first needs one past the last (`ON CONFLICT DO NOTHING`; the
//!   stored note is the one served). The signing key is shared through
//!   the keys directory; its verifier is recorded in the head row by the
//!   first process, and a process with another serves no decision route.
//! * `decide_policies (digest, policy, n)`: immutable, keyed by digest,
//!   numbered `1..=POLICIES_MAX` (a `CHECK`), each checked against its
//!   digest when read, cached per process.
//!
//! The schema is embedded (component [`COMPONENT`]) and applied under an
//! advisory lock at start (tally-sql).

use sqlx::{PgConnection, PgPool, Row};
use tally_audit::rows::{chain, genesis};
use tally_audit::{Checkpoint, CheckpointSigner, NoteVerifier, ProofIndex};
use tally_encoding::hex;

use super::pg_proof::{
    CHAIN_TAG, CONSISTENCY_FORMAT, FORMAT, LOG_ID_BYTES, PgConsistencyProof, PgDecisionProof,
    origin,
};
use super::{Fail, POLICIES_MAX, PolicyStoreError};

/// `schema_migrations.component` of the decision tables.
pub const COMPONENT: &str = "tally-serve/decisions";
/// The advisory lock the migrations run under (`tallydec` in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7461_6c6c_7964_6563;
/// The advisory lock that serialises policy stores (`tallypol`).
const POLICY_LOCK_KEY: i64 = 0x7461_6c6c_7970_6f6c;
/// The migrations, in order.
const MIGRATIONS: &[tally_sql::Migration] = &[
    (1, "decisions", include_str!("0001_decisions.sql")),
    (2, "append_only", include_str!("0002_append_only.sql")),
];
/// Rows read per page when the index is extended.
const PAGE_ROWS: i64 = 4_096;

/// Why the log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgOpenError {
    /// The database.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    /// The head row is not well formed.
    #[error("the decision log's head row: {0}")]
    Corrupt(&'static str),
}

/// The tree as far as this process read it, and the chain's head there.
#[derive(Debug)]
struct Cache {
    index: ProofIndex,
    head: [u8; 32],
}

/// The decision log's tables.
#[derive(Debug)]
pub struct PgLog {
    pool: PgPool,
    signer: CheckpointSigner,
    vkey: NoteVerifier,
    log_id: [u8; LOG_ID_BYTES],
    origin: String,
    cache: tokio::sync::Mutex<Cache>,
}

fn db(e: &sqlx::Error) -> Fail {
    tracing::error!(error = %e, "the decision log's database failed");
    Fail::Unavailable
}

fn tampered(what: &str) -> Fail {
    tracing::error!(what, "the decision log in the database does not verify");
    Fail::Tampered
}

fn hash32(v: Vec<u8>) -> Result<[u8; 32], Fail> {
    v.try_into().map_err(|_| tampered("a hash is not 32 bytes"))
}

fn seq_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Whether the database's checkpoint key is this process's, and the log.
pub enum Opened {
    /// The log, shared.
    Log(Box<PgLog>),
    /// Another checkpoint key is recorded: this process serves no decision
    /// route.
    OtherKey,
}

impl PgLog {
    /// Migrates the tables, creates the head row once (a fresh log id, this
    /// process's verifier key) and opens the log.
    ///
    /// # Errors
    /// [`PgOpenError`].
    pub async fn open(pool: PgPool, signer: CheckpointSigner) -> Result<Opened, PgOpenError> {
        let vkey = signer.verifier();
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
        tally_sql::apply_postgres(&mut tx, COMPONENT, MIGRATIONS).await?;
        let mut id = [0u8; LOG_ID_BYTES];
        getrandom::fill(&mut id).map_err(|_| PgOpenError::Corrupt("no randomness"))?;
        sqlx::query(
            "INSERT INTO decide_head (size, head, log_id, vkey) VALUES (0, $1, $2, $3) \
             ON CONFLICT (singleton) DO NOTHING",
        )
        .bind(genesis(CHAIN_TAG, &id).to_vec())
        .bind(id.to_vec())
        .bind(vkey.to_vkey())
        .execute(&mut *tx)
        .await?;
        let (log_id, stored): (Vec<u8>, String) =
            sqlx::query_as("SELECT log_id, vkey FROM decide_head")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        if stored != vkey.to_vkey() {
            return Ok(Opened::OtherKey);
        }
        let log_id: [u8; LOG_ID_BYTES] = log_id
            .try_into()
            .map_err(|_| PgOpenError::Corrupt("the log id is not 32 bytes"))?;
        Ok(Opened::Log(Box::new(Self {
            pool,
            signer,
            vkey,
            origin: origin(&log_id),
            log_id,
            cache: tokio::sync::Mutex::new(Cache {
                index: ProofIndex::new(),
                head: genesis(CHAIN_TAG, &log_id),
            }),
        })))
    }

    /// The checkpoint verifier key.
    #[must_use]
    pub fn verifier(&self) -> &NoteVerifier {
        &self.vkey
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    // ------------------------------------------------------------ append --

    /// Appends a decision and its owner record as rows `n + 1` and `n + 2`
    /// in one transaction under the head row's lock; returns the decision's
    /// sequence and whether it was appended now. When `request` names an
    /// owner record already in the log, nothing is appended and that
    /// record's decision is answered (`false`).
    ///
    /// # Errors
    /// [`Fail::Unavailable`] when the database fails.
    pub async fn append(
        &self,
        decision: &str,
        owner: &str,
        request: Option<&[u8; 32]>,
    ) -> Result<(u64, bool), Fail> {
        let mut tx = self.pool.begin().await.map_err(|e| db(&e))?;
        let row = sqlx::query("UPDATE decide_head SET size = size RETURNING size, head")
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| db(&e))?;
        let size: i64 = row.try_get(0).map_err(|e| db(&e))?;
        let head = hash32(row.try_get(1).map_err(|e| db(&e))?)?;
        if let Some(found) = find(&mut tx, request).await? {
            tx.rollback().await.map_err(|e| db(&e))?;
            return Ok((found, false));
        }
        let n = u64::try_from(size).map_err(|_| tampered("a negative size"))?;
        let (a, b) = (n.saturating_add(1), n.saturating_add(2));
        let ha = chain(CHAIN_TAG, a, &head, decision.as_bytes());
        let hb = chain(CHAIN_TAG, b, &ha, owner.as_bytes());
        sqlx::query(
            "WITH l AS (INSERT INTO decide_log (seq, prev, payload, hash, request) \
             VALUES ($1, $2, $3, $4, NULL), ($5, $4, $6, $7, $8)) \
             UPDATE decide_head SET size = $5, head = $7",
        )
        .bind(seq_db(a))
        .bind(head.to_vec())
        .bind(decision)
        .bind(ha.to_vec())
        .bind(seq_db(b))
        .bind(owner)
        .bind(hb.to_vec())
        .bind(request.map(|r| r.to_vec()))
        .execute(&mut *tx)
        .await
        .map_err(|e| db(&e))?;
        tx.commit().await.map_err(|e| db(&e))?;
        Ok((a, true))
    }

    // ------------------------------------------------------------- reads --

    /// Extends the tree with the rows this process has not read, checking
    /// each one's place in the chain.
    async fn extend(&self, conn: &mut PgConnection, c: &mut Cache) -> Result<(), Fail> {
        loop {
            let rows = sqlx::query(
                "SELECT seq, prev, payload, hash FROM decide_log WHERE seq > $1 \
                 ORDER BY seq LIMIT $2",
            )
            .bind(seq_db(c.index.size()))
            .bind(PAGE_ROWS)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db(&e))?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in &rows {
                let n = c.index.size().saturating_add(1);
                let at: i64 = row.try_get(0).map_err(|e| db(&e))?;
                if u64::try_from(at).ok() != Some(n) {
                    return Err(tampered("a row of the log is missing"));
                }
                let prev = hash32(row.try_get(1).map_err(|e| db(&e))?)?;
                let payload: String = row.try_get(2).map_err(|e| db(&e))?;
                let stored = hash32(row.try_get(3).map_err(|e| db(&e))?)?;
                if prev != c.head || stored != chain(CHAIN_TAG, n, &c.head, payload.as_bytes()) {
                    return Err(tampered("a row is not the one chained"));
                }
                c.index.push(tally_audit::merkle::leaf_hash(&stored));
                c.head = stored;
            }
        }
    }

    /// A stored checkpoint note of `size`, checked: signed by this log's
    /// key, of this log, and the root of the rows as read.
    fn check_note(&self, c: &Cache, size: u64, note: &str) -> Result<Checkpoint, Fail> {
        let cp = self
            .vkey
            .open_checkpoint(note)
            .map_err(|_| tampered("a stored checkpoint is not signed by the log's key"))?;
        let root = c
            .index
            .root(size)
            .map_err(|_| tampered("a stored checkpoint covers more than the log"))?;
        if cp.size() != size || cp.origin() != self.origin || cp.root() != &root {
            return Err(tampered("a stored checkpoint is not the log's tree"));
        }
        Ok(cp)
    }

    /// Signs and stores a checkpoint of the whole tree as read (another
    /// process may store its own of that size first: the stored one is
    /// answered).
    async fn sign(&self, conn: &mut PgConnection, c: &Cache) -> Result<(Checkpoint, String), Fail> {
        let size = c.index.size();
        let root = c.index.root(size).map_err(|_| Fail::Unavailable)?;
        let body = Checkpoint::new(&self.origin, size, root)
            .map_err(|_| Fail::Unavailable)?
            .body();
        let note = self.signer.sign(&body).map_err(|_| Fail::Unavailable)?;
        sqlx::query(
            "INSERT INTO decide_checkpoints (size, note) VALUES ($1, $2) \
             ON CONFLICT (size) DO NOTHING",
        )
        .bind(seq_db(size))
        .bind(&note)
        .execute(&mut *conn)
        .await
        .map_err(|e| db(&e))?;
        let note: String =
            sqlx::query_scalar("SELECT note FROM decide_checkpoints WHERE size = $1")
                .bind(seq_db(size))
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| db(&e))?;
        let cp = self.check_note(c, size, &note)?;
        Ok((cp, note))
    }

    /// The latest checkpoint: the stored one when it covers every row, else
    /// a new one.
    ///
    /// # Errors
    /// [`Fail`].
    pub async fn checkpoint(&self) -> Result<(Checkpoint, String), Fail> {
        let mut c = self.cache.lock().await;
        let mut conn = self.pool.acquire().await.map_err(|e| db(&e))?;
        self.extend(&mut conn, &mut c).await?;
        let latest: Option<(i64, String)> =
            sqlx::query_as("SELECT size, note FROM decide_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| db(&e))?;
        if let Some((size, note)) = latest {
            let size = u64::try_from(size).map_err(|_| tampered("a negative checkpoint size"))?;
            if size == c.index.size() {
                let cp = self.check_note(&c, size, &note)?;
                return Ok((cp, note));
            }
        }
        self.sign(&mut conn, &c).await
    }

    /// Row `seq` with its inclusion proof under the oldest stored
    /// checkpoint that covers it (one is signed when none does), checked
    /// with the verifier key before it is answered.
    ///
    /// # Errors
    /// [`Fail::NotFound`] past the end; [`Fail::Tampered`] when a row or a
    /// checkpoint does not check; [`Fail::Unavailable`].
    pub async fn prove(&self, seq: u64) -> Result<PgDecisionProof, Fail> {
        if seq == 0 {
            return Err(Fail::NotFound);
        }
        let mut c = self.cache.lock().await;
        let mut conn = self.pool.acquire().await.map_err(|e| db(&e))?;
        self.extend(&mut conn, &mut c).await?;
        if seq > c.index.size() {
            return Err(Fail::NotFound);
        }
        // Only a checkpoint of rows this process has read: another process
        // may have signed one past them meanwhile.
        let stored: Option<(i64, String)> = sqlx::query_as(
            "SELECT size, note FROM decide_checkpoints WHERE size >= $1 AND size <= $2 \
             ORDER BY size LIMIT 1",
        )
        .bind(seq_db(seq))
        .bind(seq_db(c.index.size()))
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db(&e))?;
        let (size, note) = match stored {
            Some((size, note)) => {
                let size =
                    u64::try_from(size).map_err(|_| tampered("a negative checkpoint size"))?;
                self.check_note(&c, size, &note)?;
                (size, note)
            }
            None => {
                let (cp, note) = self.sign(&mut conn, &c).await?;
                (cp.size(), note)
            }
        };
        let row = sqlx::query("SELECT prev, payload FROM decide_log WHERE seq = $1")
            .bind(seq_db(seq))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| db(&e))?;
        let prev = hash32(row.try_get(0).map_err(|e| db(&e))?)?;
        let payload: String = row.try_get(1).map_err(|e| db(&e))?;
        let path = c
            .index
            .inclusion_proof(seq - 1, size)
            .map_err(|_| Fail::Unavailable)?;
        let proof = PgDecisionProof {
            format: FORMAT.to_owned(),
            log_id: hex::encode(&self.log_id),
            seq,
            prev: hex::encode(&prev),
            payload,
            tree_size: size,
            proof: path.iter().map(|h| hex::encode(h)).collect(),
            checkpoint: note,
        };
        // A row changed after this process read it fails here.
        proof
            .verify(&self.vkey)
            .map_err(|_| tampered("a row does not match the tree it was read into"))?;
        Ok(proof)
    }

    /// The consistency proof between the stored checkpoints of `old` and
    /// `new` rows.
    ///
    /// # Errors
    /// [`Fail::NotFound`] when a size is not a stored checkpoint's;
    /// [`Fail::Tampered`], [`Fail::Unavailable`].
    pub async fn consistency(&self, old: u64, new: u64) -> Result<PgConsistencyProof, Fail> {
        let mut c = self.cache.lock().await;
        let mut conn = self.pool.acquire().await.map_err(|e| db(&e))?;
        let mut notes = Vec::with_capacity(2);
        for size in [old, new] {
            let note: Option<String> =
                sqlx::query_scalar("SELECT note FROM decide_checkpoints WHERE size = $1")
                    .bind(i64::try_from(size).map_err(|_| Fail::NotFound)?)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| db(&e))?;
            notes.push(note.ok_or(Fail::NotFound)?);
        }
        self.extend(&mut conn, &mut c).await?;
        let (Some(old_note), Some(new_note)) = (notes.first(), notes.get(1)) else {
            return Err(Fail::NotFound);
        };
        self.check_note(&c, old, old_note)?;
        self.check_note(&c, new, new_note)?;
        let path = c
            .index
            .consistency_proof(old, new)
            .map_err(|_| Fail::NotFound)?;
        Ok(PgConsistencyProof {
            format: CONSISTENCY_FORMAT.to_owned(),
            log_id: hex::encode(&self.log_id),
            old: old_note.clone(),
            new: new_note.clone(),
            proof: path.iter().map(|h| hex::encode(h)).collect(),
        })
    }

    // ---------------------------------------------------------- policies --

    /// A stored policy's bytes.
    ///
    /// # Errors
    /// [`Fail::Unavailable`].
    pub async fn policy(&self, digest: &str) -> Result<Option<Vec<u8>>, Fail> {
        sqlx::query_scalar("SELECT policy FROM decide_policies WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db(&e))
    }

    /// Stores a policy once (under a lock, so the count bound is exact;
    /// the table's `CHECK` is the database's own guard); whether this call
    /// stored it.
    ///
    /// # Errors
    /// [`PolicyStoreError`].
    pub async fn store_policy(&self, digest: &str, bytes: &[u8]) -> Result<bool, PolicyStoreError> {
        let unavailable = |e: sqlx::Error| {
            tracing::error!(error = %e, "a decision policy could not be stored");
            PolicyStoreError::Unavailable
        };
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(POLICY_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let (held, count): (bool, i64) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM decide_policies WHERE digest = $1), \
             (SELECT count(*) FROM decide_policies)",
        )
        .bind(digest)
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        if held {
            return Ok(false);
        }
        if usize::try_from(count).map_or(true, |n| n >= POLICIES_MAX) {
            return Err(PolicyStoreError::Full);
        }
        sqlx::query("INSERT INTO decide_policies (digest, policy, n) VALUES ($1, $2, $3)")
            .bind(digest)
            .bind(bytes)
            .bind(count.saturating_add(1))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }
}

/// The decision of the owner record holding `request`, if one does.
async fn find(conn: &mut PgConnection, request: Option<&[u8; 32]>) -> Result<Option<u64>, Fail> {
    let Some(request) = request else {
        return Ok(None);
    };
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM decide_log WHERE request = $1")
        .bind(request.to_vec())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| db(&e))?;
    match seq {
        None => Ok(None),
        Some(s) => u64::try_from(s)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .filter(|s| *s >= 1)
            .map(Some)
            .ok_or_else(|| tampered("a request names no decision")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's bound on the number of policies is `POLICIES_MAX`.
    #[test]
    fn the_schema_bounds_policies_at_policies_max() {
        let sql = MIGRATIONS.first().map(|m| m.2).unwrap_or_default();
        assert!(sql.contains(&format!("n <= {POLICIES_MAX}")));
    }
}
