//! Inclusion proofs of the PostgreSQL journal (the `postgres` feature's
//! `PgLedger::prove`): the record of the batch that created a transfer,
//! its place in the journal's hash chain, and its Merkle inclusion proof
//! under a signed checkpoint, checkable offline with the checkpoint key
//! alone ([`PgInclusionProof::verify`]; no database, no feature needed).
//!
//! ```text
//! genesis  = SHA-256("tally/ledger/pg-journal/v1" ‖ 0x00 ‖ journal_id)
//! hash_n   = SHA-256("tally/ledger/pg-journal/v1" ‖ 0x01 ‖ u64be(n) ‖ hash_{n-1}
//!                    ‖ u64be(len(payload_n)) ‖ payload_n)
//! leaf_n   = RFC 6962 leaf hash of hash_n; a checkpoint (origin
//!            "tally-ledger-pg/" ‖ hex(journal_id)) signs the tree of leaf_1..leaf_size
//! ```
//!
//! The proof carries the record (seq, prev, payload), so the verifier
//! recomputes its chain hash and leaf, opens the signed checkpoint, checks
//! its origin and the inclusion proof against its root, and finds the
//! transfer among the record's events. The locator the database keeps
//! (`tally_transfers.journal_seq`) is only where to look: a wrong one gives
//! a proof that fails.

use serde::{Deserialize, Serialize};
use tally_audit::NoteVerifier;
use tally_audit::rows::{self, RowProof, verify_row};
use tally_encoding::hex::{self, Case};

use crate::journal::{Batch, decode};

/// The chain's domain tag.
pub const CHAIN_TAG: &[u8] = b"tally/ledger/pg-journal/v1";

/// The chain's first `prev` ([`tally_audit::rows::genesis`] under [`CHAIN_TAG`]).
#[must_use]
pub fn genesis(journal_id: &[u8]) -> [u8; 32] {
    rows::genesis(CHAIN_TAG, journal_id)
}

/// The hash of record `seq` after `prev` ([`tally_audit::rows::chain`]).
#[must_use]
pub fn chain(seq: u64, prev: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    rows::chain(CHAIN_TAG, seq, prev, payload)
}

/// The origin line of a journal's checkpoints.
#[must_use]
pub fn origin(journal_id: &[u8]) -> String {
    let mut out = String::from("tally-ledger-pg/");
    hex::encode_into(journal_id, &mut out);
    out
}

/// Why a proof does not check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProofError(pub String);

fn bad(what: impl Into<String>) -> ProofError {
    ProofError(what.into())
}

/// The format tag of a [`PgInclusionProof`].
pub const FORMAT: &str = "tally-ledger-pg-proof/v1";

/// The largest proof document [`PgInclusionProof::from_json`] reads.
pub const MAX_PROOF_BYTES: usize = 4 << 20;

/// The most hashes an inclusion proof holds (a tree of 2^64 leaves).
const MAX_PROOF_HASHES: usize = 64;

/// A transfer's inclusion proof in the PostgreSQL journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgInclusionProof {
    /// [`FORMAT`].
    pub format: String,
    /// The transfer the proof is for (decimal).
    pub transfer: String,
    /// The journal's id (hex), bound by the checkpoint's origin.
    pub journal_id: String,
    /// The record's sequence number (1 for the first).
    pub seq: u64,
    /// The previous record's chain hash (hex).
    pub prev: String,
    /// The record's payload (the batch, as journaled).
    pub payload: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The inclusion proof of the record's leaf (hex hashes, RFC 9162 order).
    pub proof: Vec<String>,
    /// The signed checkpoint note of size `tree_size`.
    pub checkpoint: String,
}

impl PgInclusionProof {
    /// The proof as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a proof (at most [`MAX_PROOF_BYTES`], unknown fields refused).
    ///
    /// # Errors
    /// [`ProofError`] naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self, ProofError> {
        if text.len() > MAX_PROOF_BYTES {
            return Err(bad(format!(
                "a proof of {} bytes (at most {MAX_PROOF_BYTES})",
                text.len()
            )));
        }
        let p: Self =
            serde_json::from_str(text).map_err(|e| bad(format!("proof document: {e}")))?;
        if p.format != FORMAT {
            return Err(bad(format!("proof format {:?}", p.format)));
        }
        Ok(p)
    }

    /// Checks the proof with the checkpoint key: returns the transfer's id
    /// and the record's sequence number.
    ///
    /// # Errors
    /// [`ProofError`] when anything does not check.
    pub fn verify(&self, vkey: &NoteVerifier) -> Result<(u128, u64), ProofError> {
        if self.format != FORMAT {
            return Err(bad(format!("proof format {:?}", self.format)));
        }
        let transfer: u128 = self
            .transfer
            .parse()
            .map_err(|_| bad("proof: transfer is not a decimal id"))?;
        let journal_id = hex::decode_vec(&self.journal_id, 64, Case::Lower)
            .map_err(|e| bad(format!("proof: journal_id: {e}")))?;
        let prev = hex::decode_array::<32>(&self.prev, Case::Lower)
            .map_err(|e| bad(format!("proof: prev: {e}")))?;
        if self.proof.len() > MAX_PROOF_HASHES {
            return Err(bad("proof: too many hashes"));
        }
        let path = rows::decode_path(&self.proof).map_err(|e| bad(format!("proof: {e}")))?;
        let row = RowProof {
            tag: CHAIN_TAG,
            log_id: &journal_id,
            origin: &origin(&journal_id),
            seq: self.seq,
            prev: &prev,
            payload: self.payload.as_bytes(),
            tree_size: self.tree_size,
            path: &path,
            note: &self.checkpoint,
        };
        verify_row(&row, vkey).map_err(|e| bad(format!("proof: {e}")))?;
        let batch = decode(self.payload.as_bytes())
            .map_err(|e| bad(format!("proof: record payload: {e}")))?;
        let found = match &batch {
            Batch::Transfers { events, .. } => events.iter().any(|e| e.id == transfer),
            _ => false,
        };
        if !found {
            return Err(bad("proof: the record does not create this transfer"));
        }
        Ok((transfer, self.seq))
    }
}
