//! The proofs of the decision log on PostgreSQL (`tally serve --database`),
//! checkable offline with the log's checkpoint key alone (no database, no
//! feature needed): `tally audit verify-proof` and `tally audit
//! consistency verify` take them beside tally-audit's file-log proofs.
//!
//! The log is rows bound by tally-audit's row chain
//! ([`tally_audit::rows`]) under [`CHAIN_TAG`], from the log's random id;
//! checkpoints (origin [`origin`]) sign the RFC 9162 tree of the rows'
//! chain hashes. Rows come in pairs: a decision (tally-decide's canonical
//! record) and its owner record (see [`crate::decide`]).
//!
//! * [`PgDecisionProof`] ([`FORMAT`]): one row (seq, prev, payload), its
//!   inclusion path and the signed checkpoint it is proven under.
//! * [`PgConsistencyProof`] ([`CONSISTENCY_FORMAT`]): two signed
//!   checkpoints of the log and the RFC 9162 consistency path between them.

use serde::{Deserialize, Serialize};
use tally_audit::rows::{RowProof, verify_row};
use tally_audit::{Checkpoint, NoteVerifier};
use tally_encoding::hex::{self, Case};

/// The row chain's domain tag.
pub const CHAIN_TAG: &[u8] = b"tally/serve/decision-log-pg/v1";
/// The format tag of a [`PgDecisionProof`].
pub const FORMAT: &str = "tally-serve-decision-pg-proof/v1";
/// The format tag of a [`PgConsistencyProof`].
pub const CONSISTENCY_FORMAT: &str = "tally-serve-decision-pg-consistency/v1";
/// The largest proof document read.
pub const MAX_PROOF_BYTES: usize = 1 << 20;
/// The log id's length, bytes.
pub const LOG_ID_BYTES: usize = 32;

/// The origin line of the log `log_id`'s checkpoints.
#[must_use]
pub fn origin(log_id: &[u8]) -> String {
    let mut out = String::from("tally-serve/decisions-pg/");
    hex::encode_into(log_id, &mut out);
    out
}

/// Why a proof does not check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProofError(pub String);

fn bad(what: impl Into<String>) -> ProofError {
    ProofError(what.into())
}

fn read_doc<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ProofError> {
    if text.len() > MAX_PROOF_BYTES {
        return Err(bad(format!(
            "a proof of {} bytes (at most {MAX_PROOF_BYTES})",
            text.len()
        )));
    }
    serde_json::from_str(text).map_err(|e| bad(format!("proof document: {e}")))
}

fn path_of(hashes: &[String]) -> Result<Vec<[u8; 32]>, ProofError> {
    tally_audit::rows::decode_path(hashes).map_err(|e| bad(format!("proof: {e}")))
}

fn log_id_of(text: &str) -> Result<[u8; LOG_ID_BYTES], ProofError> {
    hex::decode_array::<LOG_ID_BYTES>(text, Case::Lower)
        .map_err(|e| bad(format!("proof: log_id: {e}")))
}

/// A row of the decision log with its inclusion proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgDecisionProof {
    /// [`FORMAT`].
    pub format: String,
    /// The log's id (hex), bound by the checkpoint's origin.
    pub log_id: String,
    /// The row's sequence number (1 for the first).
    pub seq: u64,
    /// The previous row's chain hash (hex).
    pub prev: String,
    /// The row's payload, as stored.
    pub payload: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The inclusion path of the row's leaf (hex hashes, RFC 9162 order).
    pub proof: Vec<String>,
    /// The signed checkpoint note of size `tree_size`.
    pub checkpoint: String,
}

impl PgDecisionProof {
    /// The proof as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a proof (at most [`MAX_PROOF_BYTES`], unknown fields refused,
    /// [`FORMAT`] only).
    ///
    /// # Errors
    /// [`ProofError`] naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self, ProofError> {
        let p: Self = read_doc(text)?;
        if p.format != FORMAT {
            return Err(bad(format!("proof format {:?}", p.format)));
        }
        Ok(p)
    }

    /// Checks the proof with the checkpoint key; returns the checkpoint it
    /// is proven under.
    ///
    /// # Errors
    /// [`ProofError`] when anything does not check.
    pub fn verify(&self, vkey: &NoteVerifier) -> Result<Checkpoint, ProofError> {
        if self.format != FORMAT {
            return Err(bad(format!("proof format {:?}", self.format)));
        }
        let log_id = log_id_of(&self.log_id)?;
        let prev = hex::decode_array::<32>(&self.prev, Case::Lower)
            .map_err(|e| bad(format!("proof: prev: {e}")))?;
        let path = path_of(&self.proof)?;
        let row = RowProof {
            tag: CHAIN_TAG,
            log_id: &log_id,
            origin: &origin(&log_id),
            seq: self.seq,
            prev: &prev,
            payload: self.payload.as_bytes(),
            tree_size: self.tree_size,
            path: &path,
            note: &self.checkpoint,
        };
        verify_row(&row, vkey).map_err(|e| bad(format!("proof: {e}")))
    }
}

/// Two signed checkpoints of the decision log and the consistency path
/// between them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgConsistencyProof {
    /// [`CONSISTENCY_FORMAT`].
    pub format: String,
    /// The log's id (hex), bound by both checkpoints' origin.
    pub log_id: String,
    /// The older checkpoint's note.
    pub old: String,
    /// The newer checkpoint's note.
    pub new: String,
    /// The consistency path (hex hashes, RFC 9162 order).
    pub proof: Vec<String>,
}

impl PgConsistencyProof {
    /// The proof as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a proof (at most [`MAX_PROOF_BYTES`], unknown fields refused,
    /// [`CONSISTENCY_FORMAT`] only).
    ///
    /// # Errors
    /// [`ProofError`] naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self, ProofError> {
        let p: Self = read_doc(text)?;
        if p.format != CONSISTENCY_FORMAT {
            return Err(bad(format!("proof format {:?}", p.format)));
        }
        Ok(p)
    }

    /// Checks both notes with the checkpoint key, their origin, and that
    /// the older tree is a prefix of the newer; returns (old, new).
    ///
    /// # Errors
    /// [`ProofError`] when anything does not check.
    pub fn verify(&self, vkey: &NoteVerifier) -> Result<(Checkpoint, Checkpoint), ProofError> {
        if self.format != CONSISTENCY_FORMAT {
            return Err(bad(format!("proof format {:?}", self.format)));
        }
        let origin = origin(&log_id_of(&self.log_id)?);
        let open = |note: &str, which: &str| {
            let cp = vkey
                .open_checkpoint(note)
                .map_err(|e| bad(format!("proof: {which} checkpoint: {e}")))?;
            if cp.origin() == origin {
                Ok(cp)
            } else {
                Err(bad(format!(
                    "proof: the {which} checkpoint is of another log"
                )))
            }
        };
        let old = open(&self.old, "old")?;
        let new = open(&self.new, "new")?;
        if old.size() == 0 || old.size() > new.size() {
            return Err(bad("proof: the old size is not 1 to the new size"));
        }
        let path = path_of(&self.proof)?;
        tally_audit::merkle::verify_consistency(
            old.size(),
            new.size(),
            old.root(),
            new.root(),
            &path,
        )
        .map_err(|e| bad(format!("proof: consistency: {e}")))?;
        Ok((old, new))
    }
}
