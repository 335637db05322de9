//! Logs kept as database rows (the PostgreSQL ledger journal, the service's
//! PostgreSQL decision log): one SHA-256 hash chain over the rows, under a
//! domain tag of the log's kind, starting from the log's random id, and the
//! RFC 9162 tree of the chain's hashes under signed checkpoints.
//!
//! ```text
//! genesis  = SHA-256(tag ‖ 0x00 ‖ log_id)
//! hash_n   = SHA-256(tag ‖ 0x01 ‖ u64be(n) ‖ hash_{n-1} ‖ u64be(len(payload_n)) ‖ payload_n)
//! leaf_n   = RFC 6962 leaf hash of hash_n (n = 1, 2, …); a checkpoint (C2SP
//!            signed note) signs the tree of leaf_1..leaf_size
//! ```
//!
//! A row's proof carries the row (seq, prev, payload), so the verifier
//! ([`verify_row`]) recomputes its chain hash and leaf, opens the signed
//! checkpoint, checks its origin and size and the inclusion path against
//! its root: the checkpoint key alone, no database.

use sha2::{Digest, Sha256};

use crate::error::{AuditError, Result};
use crate::merkle::{leaf_hash, verify_inclusion};
use crate::note::{Checkpoint, NoteVerifier};
use crate::record::Hash;

/// The chain's first `prev` for the log `log_id` of kind `tag`.
#[must_use]
pub fn genesis(tag: &[u8], log_id: &[u8]) -> Hash {
    Sha256::new()
        .chain_update(tag)
        .chain_update([0u8])
        .chain_update(log_id)
        .finalize()
        .into()
}

/// The chain hash of row `seq` after `prev`.
#[must_use]
pub fn chain(tag: &[u8], seq: u64, prev: &Hash, payload: &[u8]) -> Hash {
    let len = u64::try_from(payload.len()).unwrap_or(u64::MAX);
    Sha256::new()
        .chain_update(tag)
        .chain_update([1u8])
        .chain_update(seq.to_be_bytes())
        .chain_update(prev)
        .chain_update(len.to_be_bytes())
        .chain_update(payload)
        .finalize()
        .into()
}

/// One row and its inclusion proof under a signed checkpoint note.
#[derive(Clone, Copy, Debug)]
pub struct RowProof<'a> {
    /// The chain's domain tag.
    pub tag: &'a [u8],
    /// The log's id.
    pub log_id: &'a [u8],
    /// The checkpoint's origin line this log signs under.
    pub origin: &'a str,
    /// The row's sequence number (1 for the first).
    pub seq: u64,
    /// The previous row's chain hash.
    pub prev: &'a Hash,
    /// The row's payload.
    pub payload: &'a [u8],
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The inclusion path of the row's leaf (RFC 9162 order).
    pub path: &'a [Hash],
    /// The signed checkpoint note of size `tree_size`.
    pub note: &'a str,
}

/// The most hashes a path holds: a tree of 2^64 leaves needs 64 for an
/// inclusion path and up to twice that for a consistency path.
pub const MAX_PATH_HASHES: usize = 128;

/// Decodes a path of lowercase hex hashes (at most [`MAX_PATH_HASHES`]).
///
/// # Errors
/// [`AuditError`] naming the first hash that is not 64 lowercase hex
/// digits, or a path that is too long.
pub fn decode_path<S: AsRef<str>>(hashes: &[S]) -> Result<Vec<Hash>> {
    if hashes.len() > MAX_PATH_HASHES {
        return Err(bad("too many hashes"));
    }
    hashes
        .iter()
        .map(|h| {
            tally_encoding::hex::decode_array::<32>(h.as_ref(), tally_encoding::hex::Case::Lower)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| AuditError::invalid("row proof", format!("a hash: {e}")))
}

fn bad(what: &str) -> AuditError {
    AuditError::invalid("row proof", what)
}

/// Checks a row's proof with the checkpoint key; returns the checkpoint.
///
/// # Errors
/// [`AuditError`] naming what does not check: the note's signature, its
/// origin or size, the first row's `prev`, the inclusion path.
pub fn verify_row(p: &RowProof<'_>, vkey: &NoteVerifier) -> Result<Checkpoint> {
    if p.seq == 0 || p.seq > p.tree_size {
        return Err(bad("seq outside the checkpoint's tree"));
    }
    let cp = vkey.open_checkpoint(p.note)?;
    if cp.origin() != p.origin || cp.size() != p.tree_size {
        return Err(bad("the checkpoint is not of this log or size"));
    }
    if p.seq == 1 && *p.prev != genesis(p.tag, p.log_id) {
        return Err(bad("the first row does not follow the genesis"));
    }
    let hash = chain(p.tag, p.seq, p.prev, p.payload);
    verify_inclusion(&leaf_hash(&hash), p.seq - 1, p.tree_size, p.path, cp.root())?;
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::CheckpointSigner;
    use crate::{ProofIndex, merkle};

    /// The chain's bytes are pinned: the PostgreSQL ledger journal's tag and
    /// id give the hashes its stored journals hold.
    #[test]
    fn chain_and_genesis_are_pinned_and_a_row_proof_checks() {
        let tag = b"tally/ledger/pg-journal/v1";
        let g = genesis(tag, &[7; 16]);
        let h1 = chain(tag, 1, &g, b"one");
        // Independently computed (Python's hashlib over the same bytes).
        assert_eq!(
            tally_encoding::hex::encode(&g),
            "8997acd8769814f10bd7915b4e08293118e575379b9441b842144aa976523337"
        );
        assert_eq!(
            tally_encoding::hex::encode(&h1),
            "06f5c0fb6005419975d32e8c24e7decb84cdd56415a8d83eb97fda913811146a"
        );
        assert_ne!(h1, chain(tag, 2, &g, b"one"));
        assert_ne!(h1, chain(b"other", 1, &g, b"one"));
        let signer = CheckpointSigner::generate("test/rows").unwrap();
        let h2 = chain(tag, 2, &h1, b"two");
        let mut index = ProofIndex::new();
        index.push(merkle::leaf_hash(&h1));
        index.push(merkle::leaf_hash(&h2));
        let body = Checkpoint::new("test/rows", 2, index.root(2).unwrap())
            .unwrap()
            .body();
        let note = signer.sign(&body).unwrap();
        let path = index.inclusion_proof(1, 2).unwrap();
        let mut p = RowProof {
            tag,
            log_id: &[7; 16],
            origin: "test/rows",
            seq: 2,
            prev: &h1,
            payload: b"two",
            tree_size: 2,
            path: &path,
            note: &note,
        };
        assert_eq!(verify_row(&p, &signer.verifier()).unwrap().size(), 2);
        p.payload = b"tw0";
        assert!(verify_row(&p, &signer.verifier()).is_err());
        p.payload = b"two";
        p.origin = "test/other";
        assert!(verify_row(&p, &signer.verifier()).is_err());
    }
}
