//! Inclusion proofs bound to their log: a record line, the log's header line
//! and their inclusion proofs under one signed checkpoint.
//!
//! A proof says "this record line is record `seq` of the log `log_id`, whose
//! signer signed a tree of `tree_size` records". Every part of that claim is
//! checked: the checkpoint's signature; the header line's inclusion at 0,
//! which binds the log id (the header names it and its chain starts from
//! it), the origin and the checkpoint key to the signed tree; the record
//! line's inclusion at `seq`; and the record's `hash` member: equal to its
//! digest in a plain log, its MAC in a keyed one (checked when the verifier
//! holds the key, reported as unchecked otherwise).

use std::io::Read;

use serde_json::Value;

use crate::control::{CheckpointPayload, Header, LogId, Mode};
use crate::error::{AuditError, Result};
use crate::key::Keyring;
use crate::merkle::{MAX_PROOF_HASHES, leaf_hash, verify_inclusion};
use crate::note::NoteVerifier;
use crate::reader::{Record, VerifyOptions};
use crate::record::{self, Hash, RecordKind};
use crate::verify::KeyCache;

/// The largest proof text [`InclusionProof::parse`] reads: two record lines
/// at the default payload limit, two proofs and a note.
pub const MAX_PROOF_TEXT_BYTES: usize =
    2 * (crate::reader::DEFAULT_MAX_PAYLOAD_BYTES + record::MAX_ENVELOPE_BYTES) + 256 * 1024;

/// An inclusion proof of one record under a signed checkpoint, bound to its
/// log (see the module documentation). Its JSON form is the proof file of
/// FORMAT.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The log's id.
    pub log_id: LogId,
    /// The record's sequence number.
    pub seq: u64,
    /// The size of the checkpoint's tree.
    pub tree_size: u64,
    /// The record's line as stored (without `\n`).
    pub record: String,
    /// The record's inclusion proof (RFC 9162 order).
    pub proof: Vec<Hash>,
    /// The log's header line (record 0) as stored.
    pub header: String,
    /// The header's inclusion proof in the same tree.
    pub header_proof: Vec<Hash>,
    /// The signed checkpoint note of size `tree_size`.
    pub checkpoint: String,
}

/// What a verified [`InclusionProof`] establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenRecord {
    /// The log's id (bound through its header).
    pub log_id: LogId,
    /// The log's origin (the checkpoint's origin).
    pub origin: String,
    /// The log's mode.
    pub mode: Mode,
    /// The size of the signed tree.
    pub tree_size: u64,
    /// The record.
    pub record: Record,
    /// Whether the record's `hash` member was checked: always in a plain log;
    /// in a keyed log only when the verifier held the record's key.
    pub hash_checked: bool,
}

fn bad(why: impl Into<String>) -> AuditError {
    AuditError::invalid("proof", why)
}

fn hex_hashes(hashes: &[Hash]) -> Vec<Value> {
    hashes
        .iter()
        .map(|h| Value::String(crate::hex::encode(h)))
        .collect()
}

impl InclusionProof {
    /// Verifies the whole log read from `src` (with `opts`) and builds the
    /// proof of record `seq` under the log's last checkpoint, which must be
    /// signed and cover `seq`.
    ///
    /// # Errors
    /// Any verification error of the log; [`AuditError::OutOfRange`] when
    /// the log has no signed checkpoint covering `seq`.
    pub fn from_log<R: Read + Send>(src: R, seq: u64, opts: &VerifyOptions) -> Result<Self> {
        let mut index = crate::ProofIndex::new();
        let mut header = None;
        let mut line = None;
        let mut note = None;
        let summary = crate::reader::visit_verified(src, opts, |rec| {
            index.push(leaf_hash(&rec.digest));
            if rec.seq == 0 {
                header = Some(rec.line.to_vec());
            }
            if rec.seq == seq {
                line = Some(rec.line.to_vec());
            }
            if rec.kind == RecordKind::Checkpoint {
                let cp = CheckpointPayload::parse(rec.payload).map_err(bad)?;
                note = Some((cp.size, cp.note));
            }
            Ok(())
        })?;
        let out_of_range = |what: &str| AuditError::OutOfRange { what: what.into() };
        if summary.header.checkpoint_key.is_none() {
            return Err(out_of_range("the log's checkpoints are not signed"));
        }
        let (tree_size, checkpoint) =
            note.ok_or_else(|| out_of_range("the log has no checkpoint yet"))?;
        if seq >= tree_size {
            return Err(out_of_range(
                "the record is not covered by the last checkpoint",
            ));
        }
        let text = |l: Option<Vec<u8>>| {
            l.and_then(|l| String::from_utf8(l).ok())
                .ok_or_else(|| out_of_range("record line"))
        };
        Ok(Self {
            log_id: summary.header.log_id,
            seq,
            tree_size,
            record: text(line)?,
            proof: index.inclusion_proof(seq, tree_size)?,
            header: text(header)?,
            header_proof: index.inclusion_proof(0, tree_size)?,
            checkpoint,
        })
    }

    /// The proof file text: one JSON object on one line (no final newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "log_id": self.log_id.to_string(),
            "seq": self.seq,
            "tree_size": self.tree_size,
            "record": self.record,
            "proof": hex_hashes(&self.proof),
            "header": self.header,
            "header_proof": hex_hashes(&self.header_proof),
            "checkpoint": self.checkpoint,
        })
        .to_string()
    }

    /// Parses a proof file (at most [`MAX_PROOF_TEXT_BYTES`]); members other
    /// than those of [`InclusionProof::to_json`] are refused.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] naming the member that is missing or wrong.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_PROOF_TEXT_BYTES {
            return Err(bad("proof file too large"));
        }
        let v: Value = serde_json::from_str(text).map_err(|_| bad("not a JSON object"))?;
        let Value::Object(map) = v else {
            return Err(bad("not a JSON object"));
        };
        const MEMBERS: [&str; 8] = [
            "log_id",
            "seq",
            "tree_size",
            "record",
            "proof",
            "header",
            "header_proof",
            "checkpoint",
        ];
        if let Some(m) = MEMBERS.iter().find(|m| !map.contains_key(**m)) {
            return Err(bad(format!(
                "missing member {m} (re-run `tally audit prove`)"
            )));
        }
        if map.len() != MEMBERS.len() {
            return Err(bad("unknown member"));
        }
        let get = |k: &str| map.get(k).unwrap_or(&Value::Null);
        let string = |k: &'static str| {
            get(k)
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{k} is not a string")))
        };
        let number = |k: &'static str| {
            get(k)
                .as_u64()
                .ok_or_else(|| bad(format!("{k} is not an integer in range")))
        };
        let hashes = |k: &'static str| -> Result<Vec<Hash>> {
            let items = get(k)
                .as_array()
                .ok_or_else(|| bad(format!("{k} is not an array")))?;
            if items.len() > MAX_PROOF_HASHES {
                return Err(bad(format!("{k} has too many hashes")));
            }
            items
                .iter()
                .map(|h| {
                    h.as_str()
                        .and_then(|t| crate::hex::decode_array(t.as_bytes()))
                        .ok_or_else(|| bad(format!("{k} holds a hash that is not 64 hex digits")))
                })
                .collect()
        };
        let log_id = string("log_id")
            .ok()
            .and_then(|t| crate::hex::decode_array(t.as_bytes()))
            .map(LogId::from_bytes)
            .ok_or_else(|| bad("log_id is not 32 hex digits"))?;
        Ok(Self {
            log_id,
            seq: number("seq")?,
            tree_size: number("tree_size")?,
            record: string("record")?,
            proof: hashes("proof")?,
            header: string("header")?,
            header_proof: hashes("header_proof")?,
            checkpoint: string("checkpoint")?,
        })
    }

    /// Verifies the proof against the trusted checkpoint key `vkey`; `keys`
    /// (possibly empty) check the record's MAC in a keyed log.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] naming the first part that does not check.
    pub fn verify(&self, vkey: &NoteVerifier, keys: &Keyring) -> Result<ProvenRecord> {
        let cp = vkey.open_checkpoint(&self.checkpoint)?;
        if cp.size() != self.tree_size {
            return Err(bad("tree_size is not the checkpoint's size"));
        }
        // The header binds the log id, origin and checkpoint key to the tree.
        let head = record::parse_line(self.header.as_bytes(), 0)
            .map_err(|_| bad("header is not a record line"))?;
        if head.meta.seq != 0 || head.meta.kind != RecordKind::Header {
            return Err(bad("header is not record 0"));
        }
        let header = Header::parse(head.payload).map_err(|_| bad("header payload is invalid"))?;
        if header.log_id != self.log_id {
            return Err(bad("log_id is not the one the header names"));
        }
        if head.meta.prev != record::genesis(self.log_id.as_bytes()) {
            return Err(bad("header does not start the chain of log_id"));
        }
        if header.origin != cp.origin() {
            return Err(bad("the checkpoint is for another origin"));
        }
        if header.checkpoint_key.as_ref() != Some(vkey) {
            return Err(bad("the header names another checkpoint key"));
        }
        let head_digest = record::digest(&head.meta, head.payload);
        verify_inclusion(
            &leaf_hash(&head_digest),
            0,
            cp.size(),
            &self.header_proof,
            cp.root(),
        )
        .map_err(|_| bad("header_proof does not lead to the checkpoint's root"))?;
        // The record.
        let env = record::parse_line(self.record.as_bytes(), 0)
            .map_err(|_| bad("record is not a record line"))?;
        if env.meta.seq != self.seq {
            return Err(bad("seq is not the record's sequence"));
        }
        if env.meta.kid.is_some() != header.mode.is_keyed() {
            return Err(bad("the record's key id does not fit the log's mode"));
        }
        let digest = record::digest(&env.meta, env.payload);
        verify_inclusion(
            &leaf_hash(&digest),
            self.seq,
            cp.size(),
            &self.proof,
            cp.root(),
        )
        .map_err(|_| bad("proof does not lead to the checkpoint's root"))?;
        let hash_checked = match env.meta.kid {
            None => {
                if !crate::ct_eq(&env.hash, &digest) {
                    return Err(bad("the record's hash is not its digest"));
                }
                true
            }
            Some(kid) => {
                let mut cache = KeyCache::new(keys.clone(), false);
                cache.learn_mode(head.payload);
                match cache.mac(kid, env.meta.seq, env.meta.epoch, &digest) {
                    Ok(Some(mac)) if crate::ct_eq(&mac, &env.hash) => true,
                    Ok(_) => return Err(bad("the record's hash is not its MAC")),
                    Err(()) if keys.get(kid).is_some() => {
                        return Err(bad("the record's hash is not its MAC"));
                    }
                    Err(()) => false,
                }
            }
        };
        Ok(ProvenRecord {
            log_id: self.log_id,
            origin: header.origin,
            mode: header.mode,
            tree_size: cp.size(),
            record: Record {
                seq: env.meta.seq,
                kind: env.meta.kind,
                offset: 0,
                payload: env.payload.to_vec(),
                hash: env.hash,
                digest,
            },
            hash_checked,
        })
    }
}
