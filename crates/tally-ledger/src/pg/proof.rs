//! Inclusion proofs of the PostgreSQL journal, as served (`prove`): the
//! proof is built from the database; this module's half needs none.
//!
//! The service keeps the journal's Merkle tree in memory (about 64 bytes
//! per record, [`ProofIndex`]) and extends it from the table as the journal
//! grows, checking the chain as it goes.

use sqlx::Row;
use tally_audit::{CheckpointSigner, ProofIndex};
use tally_encoding::hex;

use super::journal::{genesis, hash32, origin, read_chain, tampered};
use super::{PgError, PgLedger};
use crate::pg_proof::{FORMAT, PgInclusionProof};

/// The journal's Merkle tree as far as it was read, and the chain's head
/// there.
#[derive(Debug)]
pub(super) struct ProofCache {
    index: ProofIndex,
    head: [u8; 32],
    journal_id: Vec<u8>,
}

impl PgLedger {
    /// The inclusion proof of the journal record that created transfer
    /// `id`, under a signed checkpoint: the oldest stored one that covers
    /// the record, else a new one signed by `signer` and stored. `None`
    /// when no journal record is known to have created it (no such
    /// transfer, or one from before proofs were recorded).
    ///
    /// # Errors
    /// [`PgError::Tampered`] when the journal or a stored checkpoint does
    /// not check; [`PgError`] otherwise.
    pub async fn prove(
        &self,
        id: u128,
        signer: &CheckpointSigner,
    ) -> Result<Option<PgInclusionProof>, PgError> {
        let seq: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT journal_seq FROM tally_transfers WHERE id = $1::text::numeric",
        )
        .bind(super::codec::text(id))
        .fetch_optional(&self.pool)
        .await?;
        let Some(Some(seq)) = seq else {
            return Ok(None);
        };
        let seq = u64::try_from(seq).map_err(|_| tampered("a negative journal_seq"))?;
        let mut cache = self.proofs.lock().await;
        let mut conn = self.pool.acquire().await?;
        let c = extend(&mut conn, cache.take()).await?;
        let result = prove_in(&mut conn, &c, id, seq, signer).await;
        *cache = Some(c);
        result
    }
}

/// Reads the journal records the cache lacks, checking their chain.
async fn extend(
    conn: &mut sqlx::PgConnection,
    cache: Option<ProofCache>,
) -> Result<ProofCache, PgError> {
    let mut c = match cache {
        Some(c) => c,
        None => {
            let journal_id: Vec<u8> = sqlx::query_scalar("SELECT journal_id FROM tally_clock")
                .fetch_one(&mut *conn)
                .await?;
            ProofCache {
                index: ProofIndex::new(),
                head: genesis(&journal_id),
                journal_id,
            }
        }
    };
    read_chain(conn, &mut c.index, &mut c.head, |_, _| Ok(())).await?;
    Ok(c)
}

async fn prove_in(
    conn: &mut sqlx::PgConnection,
    c: &ProofCache,
    id: u128,
    seq: u64,
    signer: &CheckpointSigner,
) -> Result<Option<PgInclusionProof>, PgError> {
    if seq == 0 || seq > c.index.size() {
        return Err(tampered(format!(
            "transfer {id} names journal record {seq}, not in the journal"
        )));
    }
    let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
    let stored: Option<(i64, String)> = sqlx::query_as(
        "SELECT size, note FROM tally_checkpoints WHERE size >= $1 ORDER BY size LIMIT 1",
    )
    .bind(seq_i)
    .fetch_optional(&mut *conn)
    .await?;
    let origin = origin(&c.journal_id);
    let (size, note) = match stored {
        Some((size, note)) => {
            let size = u64::try_from(size).map_err(|_| tampered("a negative checkpoint size"))?;
            (size, note)
        }
        None => {
            let size = c.index.size();
            let root = c.index.root(size).map_err(PgError::Audit)?;
            let body = tally_audit::Checkpoint::new(&origin, size, root)
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
            // Another process may have stored its own note of this size
            // first: serve the stored one (both sign the same tree).
            let note: String =
                sqlx::query_scalar("SELECT note FROM tally_checkpoints WHERE size = $1")
                    .bind(i64::try_from(size).unwrap_or(i64::MAX))
                    .fetch_one(&mut *conn)
                    .await?;
            (size, note)
        }
    };
    if size > c.index.size() {
        return Err(tampered(format!(
            "checkpoint {size} covers more than the journal"
        )));
    }
    let row = sqlx::query("SELECT prev, payload FROM tally_journal WHERE seq = $1")
        .bind(seq_i)
        .fetch_one(&mut *conn)
        .await?;
    let prev = hash32(row.try_get(0)?, "a record's prev")?;
    let payload: String = row.try_get(1)?;
    let path = c
        .index
        .inclusion_proof(seq - 1, size)
        .map_err(PgError::Audit)?;
    let mut journal_id = String::new();
    hex::encode_into(&c.journal_id, &mut journal_id);
    Ok(Some(PgInclusionProof {
        format: FORMAT.to_owned(),
        transfer: id.to_string(),
        journal_id,
        seq,
        prev: hex::encode(&prev),
        payload,
        tree_size: size,
        proof: path.iter().map(|h| hex::encode(h)).collect(),
        checkpoint: note,
    }))
}
