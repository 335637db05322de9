//! Proofs bound to their log. An inclusion proof: a record line, the log's
//! header line and their inclusion proofs under one signed checkpoint. A
//! consistency proof: the header line, its inclusion under the older of two
//! signed checkpoints, and the path from the older tree to the newer one.
//!
//! A proof says "this record line is record `seq` of the log `log_id`, whose
//! signer signed a tree of `tree_size` records". Every part of that claim is
//! checked: the checkpoint's signature; the header line's inclusion at 0,
//! which binds the log id (the header names it and its chain starts from
//! it), the origin and the checkpoint key to the signed tree; the record
//! line's inclusion at `seq`; and the record's `hash` member: equal to its
//! digest in a plain log, its MAC in a keyed one (checked when the verifier
//! holds the key, reported as unchecked otherwise).
//!
//! A consistency proof says "the log `log_id`'s signer signed a tree of
//! `old_size` records and later one of `new_size` records, and the older is
//! a prefix of the newer": both signatures, the header's inclusion at 0 of
//! the older tree (binding the log id, origin and checkpoint key as above)
//! and the RFC 9162 consistency path between the two roots are checked. The
//! newer tree then holds the same header at 0, so both checkpoints are of
//! the one log `log_id`; a rewritten history or another log under the same
//! signer does not verify.

use std::io::Read;

use serde_json::{Map, Value};

use crate::control::{CheckpointPayload, Header, LogId, Mode};
use crate::error::{AuditError, Result};
use crate::key::Keyring;
use crate::merkle::{MAX_PROOF_HASHES, leaf_hash, verify_consistency, verify_inclusion};
use crate::note::{Checkpoint, MAX_NOTE_BYTES, NoteVerifier};
use crate::reader::{Record, VerifyOptions};
use crate::record::{self, Hash, RecordKind};
use crate::verify::KeyCache;

/// The largest proof text [`InclusionProof::parse`] reads: two record lines
/// at the default payload limit, two proofs and a note.
pub const MAX_PROOF_TEXT_BYTES: usize =
    2 * (crate::reader::DEFAULT_MAX_PAYLOAD_BYTES + record::MAX_ENVELOPE_BYTES) + 256 * 1024;

/// The largest consistency proof text [`ConsistencyProof::parse`] reads: two
/// notes at their limit, JSON-escaped (a note holds no control character but
/// LF, so escaping at most doubles it), and 64 KiB for the header line and
/// the hashes.
pub const MAX_CONSISTENCY_PROOF_TEXT_BYTES: usize = 2 * 2 * MAX_NOTE_BYTES + 64 * 1024;

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

fn bad_consistency(why: impl Into<String>) -> AuditError {
    AuditError::invalid("consistency proof", why)
}

fn hex_hashes(hashes: &[Hash]) -> Vec<Value> {
    hashes
        .iter()
        .map(|h| Value::String(tally_encoding::hex::encode(h)))
        .collect()
}

/// Parses a log's header line (record 0 as stored); the error names what is
/// wrong. Returns the record's envelope and the parsed header.
fn parse_header_line(line: &[u8]) -> Result<(record::Envelope<'_>, Header), &'static str> {
    let head = record::parse_line(line, 0).map_err(|_| "header is not a record line")?;
    if head.meta.seq != 0 || head.meta.kind != RecordKind::Header {
        return Err("header is not record 0");
    }
    let header = Header::parse(head.payload).map_err(|_| "header payload is invalid")?;
    Ok((head, header))
}

/// The check every proof makes of the log's header line: it is record 0 of
/// the chain of `log_id` (which it names), names the checkpoint's origin and
/// `vkey` as its checkpoint key, and `proof` includes it at leaf 0 of the
/// checkpoint's tree. Returns the header and its payload bytes; errors are
/// made by `bad`.
fn check_header<'l>(
    line: &'l str,
    proof: &[Hash],
    log_id: LogId,
    cp: &Checkpoint,
    vkey: &NoteVerifier,
    bad: fn(String) -> AuditError,
) -> Result<(Header, &'l [u8])> {
    let (head, header) = parse_header_line(line.as_bytes()).map_err(|e| bad(e.into()))?;
    if header.log_id != log_id {
        return Err(bad("log_id is not the one the header names".into()));
    }
    if head.meta.prev != record::genesis(log_id.as_bytes()) {
        return Err(bad("header does not start the chain of log_id".into()));
    }
    if header.origin != cp.origin() {
        return Err(bad("the checkpoint is for another origin".into()));
    }
    if header.checkpoint_key.as_ref() != Some(vkey) {
        return Err(bad("the header names another checkpoint key".into()));
    }
    if head.meta.kid.is_some() != header.mode.is_keyed() {
        return Err(bad("the header's key id does not fit the log's mode".into()));
    }
    let digest = record::digest(&head.meta, head.payload);
    // In a plain log the header's `hash` is its digest; in a keyed log it is
    // a MAC, outside the tree, which only the chain's readers check.
    if head.meta.kid.is_none() && !crate::ct_eq(&head.hash, &digest) {
        return Err(bad("the header's hash is not its digest".into()));
    }
    verify_inclusion(&leaf_hash(&digest), 0, cp.size(), proof, cp.root())
        .map_err(|_| bad("header_proof does not lead to the checkpoint's root".into()))?;
    Ok((header, head.payload))
}

impl Header {
    /// The header of a log read from its first line as stored (without
    /// `\n`), **unverified**: to learn a log's mode or origin before opening
    /// or verifying it, which then checks everything.
    ///
    /// # Errors
    /// [`AuditError::NotALog`] when the line is not a header record.
    pub fn from_line(line: &[u8]) -> Result<Self> {
        parse_header_line(line)
            .map(|(_, header)| header)
            .map_err(|what| AuditError::NotALog { what })
    }
}

/// The members of a proof file: one JSON object with exactly the expected
/// members, read by type with errors naming the member.
struct Members {
    map: Map<String, Value>,
    bad: fn(String) -> AuditError,
}

impl Members {
    /// Parses `text` (at most `max` bytes) as an object with exactly the
    /// `names` members; `rerun` names the command that writes such files.
    fn parse(
        text: &str,
        max: usize,
        names: &[&str],
        bad: fn(String) -> AuditError,
        rerun: &str,
    ) -> Result<Self> {
        if text.len() > max {
            return Err(bad("proof file too large".into()));
        }
        let v: Value = serde_json::from_str(text).map_err(|_| bad("not a JSON object".into()))?;
        let Value::Object(map) = v else {
            return Err(bad("not a JSON object".into()));
        };
        if let Some(m) = names.iter().find(|m| !map.contains_key(**m)) {
            return Err(bad(format!("missing member {m} (re-run `{rerun}`)")));
        }
        if map.len() != names.len() {
            return Err(bad("unknown member".into()));
        }
        Ok(Self { map, bad })
    }

    fn get(&self, k: &str) -> &Value {
        self.map.get(k).unwrap_or(&Value::Null)
    }

    fn string(&self, k: &str) -> Result<String> {
        self.get(k)
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| (self.bad)(format!("{k} is not a string")))
    }

    fn number(&self, k: &str) -> Result<u64> {
        self.get(k)
            .as_u64()
            .ok_or_else(|| (self.bad)(format!("{k} is not an integer in range")))
    }

    fn hashes(&self, k: &str) -> Result<Vec<Hash>> {
        let items = self
            .get(k)
            .as_array()
            .ok_or_else(|| (self.bad)(format!("{k} is not an array")))?;
        if items.len() > MAX_PROOF_HASHES {
            return Err((self.bad)(format!("{k} has too many hashes")));
        }
        items
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|t| {
                        tally_encoding::hex::decode_array(
                            t.as_bytes(),
                            tally_encoding::hex::Case::Lower,
                        )
                        .ok()
                    })
                    .ok_or_else(|| {
                        (self.bad)(format!("{k} holds a hash that is not 64 hex digits"))
                    })
            })
            .collect()
    }

    fn log_id(&self, k: &str) -> Result<LogId> {
        self.get(k)
            .as_str()
            .and_then(|t| {
                tally_encoding::hex::decode_array(t.as_bytes(), tally_encoding::hex::Case::Lower)
                    .ok()
            })
            .map(LogId::from_bytes)
            .ok_or_else(|| (self.bad)(format!("{k} is not 32 hex digits")))
    }
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
        let m = Members::parse(
            text,
            MAX_PROOF_TEXT_BYTES,
            &[
                "log_id",
                "seq",
                "tree_size",
                "record",
                "proof",
                "header",
                "header_proof",
                "checkpoint",
            ],
            bad,
            "tally audit prove",
        )?;
        Ok(Self {
            log_id: m.log_id("log_id")?,
            seq: m.number("seq")?,
            tree_size: m.number("tree_size")?,
            record: m.string("record")?,
            proof: m.hashes("proof")?,
            header: m.string("header")?,
            header_proof: m.hashes("header_proof")?,
            checkpoint: m.string("checkpoint")?,
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
        let (header, header_payload) = check_header(
            &self.header,
            &self.header_proof,
            self.log_id,
            &cp,
            vkey,
            bad,
        )?;
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
                cache.learn_mode(header_payload);
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

/// Which signed checkpoint a [`ConsistencyProof`] starts or ends at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointRef {
    /// The log's checkpoint record whose tree has this size.
    Size(u64),
    /// A signed checkpoint note kept outside the log: it must verify under
    /// the log's checkpoint key and its root must be the log's at its size.
    Note(String),
    /// The log's last checkpoint.
    Latest,
}

/// A consistency proof between two signed checkpoints of one log, bound to
/// the log (see the module documentation). Its JSON form is the consistency
/// proof file of FORMAT.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The log's id.
    pub log_id: LogId,
    /// The size of the older checkpoint's tree.
    pub old_size: u64,
    /// The size of the newer checkpoint's tree.
    pub new_size: u64,
    /// The log's header line (record 0) as stored.
    pub header: String,
    /// The header's inclusion proof in the older tree.
    pub header_proof: Vec<Hash>,
    /// The signed checkpoint note of size `old_size`.
    pub old_checkpoint: String,
    /// The signed checkpoint note of size `new_size`.
    pub new_checkpoint: String,
    /// The consistency path from the older tree to the newer (RFC 9162
    /// §2.1.4 order).
    pub proof: Vec<Hash>,
}

/// What a verified [`ConsistencyProof`] establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenConsistency {
    /// The log's id (bound through its header).
    pub log_id: LogId,
    /// The log's origin (both checkpoints').
    pub origin: String,
    /// The log's mode.
    pub mode: Mode,
    /// The older signed checkpoint.
    pub old: Checkpoint,
    /// The newer signed checkpoint, whose tree extends the older.
    pub new: Checkpoint,
}

impl ConsistencyProof {
    /// Verifies the whole log read from `src` (with `opts`) and builds the
    /// consistency proof from checkpoint `old` to checkpoint `new`.
    ///
    /// # Errors
    /// Any verification error of the log; [`AuditError::OutOfRange`] when
    /// the log's checkpoints are not signed or a checkpoint asked for by size
    /// is not in it; as [`ConsistencyProof::from_index`] otherwise.
    pub fn from_log<R: Read + Send>(
        src: R,
        old: &CheckpointRef,
        new: &CheckpointRef,
        opts: &VerifyOptions,
    ) -> Result<Self> {
        let wanted =
            |r: &CheckpointRef, size: u64| matches!(r, CheckpointRef::Size(s) if *s == size);
        let mut index = crate::ProofIndex::new();
        let mut header = None;
        let (mut old_note, mut new_note, mut last_note) = (None, None, None);
        let summary = crate::reader::visit_verified(src, opts, |rec| {
            index.push(leaf_hash(&rec.digest));
            if rec.seq == 0 {
                header = Some(rec.line.to_vec());
            }
            if rec.kind == RecordKind::Checkpoint {
                let cp = CheckpointPayload::parse(rec.payload).map_err(bad_consistency)?;
                if wanted(old, cp.size) {
                    old_note = Some(cp.note.clone());
                }
                if wanted(new, cp.size) {
                    new_note = Some(cp.note.clone());
                }
                last_note = Some(cp.note);
            }
            Ok(())
        })?;
        let out_of_range = |what: String| AuditError::OutOfRange { what };
        let Some(vkey) = summary.header.checkpoint_key else {
            return Err(out_of_range("the log's checkpoints are not signed".into()));
        };
        let pick = |r: &CheckpointRef, found: Option<String>| match r {
            CheckpointRef::Size(size) => found
                .ok_or_else(|| out_of_range(format!("the log has no checkpoint of size {size}"))),
            CheckpointRef::Note(note) => Ok(note.clone()),
            CheckpointRef::Latest => last_note
                .clone()
                .ok_or_else(|| out_of_range("the log has no checkpoint yet".into())),
        };
        let old_note = pick(old, old_note)?;
        let new_note = pick(new, new_note)?;
        let header = header
            .and_then(|l| String::from_utf8(l).ok())
            .ok_or_else(|| out_of_range("header line".into()))?;
        Self::from_index(&index, &header, &vkey, &old_note, &new_note)
    }

    /// Builds the consistency proof between the signed checkpoint notes
    /// `old_note` and `new_note` of the log whose records `index` holds and
    /// whose header line (record 0 as stored) is `header`; both notes must
    /// verify under `vkey` and be of this log's trees.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] for a note that does not verify or a header
    /// that is not the index's record 0; [`AuditError::OutOfRange`] when the
    /// older checkpoint is larger than the newer or empty;
    /// [`AuditError::Truncated`] when a checkpoint is larger than the index;
    /// [`AuditError::Forked`] when a checkpoint's root is not the log's at
    /// its size (the log was rewritten after it was signed).
    pub fn from_index(
        index: &crate::ProofIndex,
        header: &str,
        vkey: &NoteVerifier,
        old_note: &str,
        new_note: &str,
    ) -> Result<Self> {
        let (head, parsed) = parse_header_line(header.as_bytes()).map_err(bad_consistency)?;
        let digest = record::digest(&head.meta, head.payload);
        if index.leaf(0) != Some(leaf_hash(&digest)) {
            return Err(bad_consistency("header is not the log's record 0"));
        }
        let old = vkey.open_checkpoint(old_note)?;
        let new = vkey.open_checkpoint(new_note)?;
        if old.size() == 0 || old.size() > new.size() {
            return Err(AuditError::OutOfRange {
                what: "the old checkpoint must be non-empty and no larger than the new one".into(),
            });
        }
        for cp in [&old, &new] {
            if cp.size() > index.size() {
                return Err(AuditError::Truncated {
                    expected: cp.size(),
                    found: index.size(),
                });
            }
            if !crate::ct_eq(&index.root(cp.size())?, cp.root()) {
                return Err(AuditError::Forked { size: cp.size() });
            }
        }
        Ok(Self {
            log_id: parsed.log_id,
            old_size: old.size(),
            new_size: new.size(),
            header: header.to_owned(),
            header_proof: index.inclusion_proof(0, old.size())?,
            old_checkpoint: old_note.to_owned(),
            new_checkpoint: new_note.to_owned(),
            proof: index.consistency_proof(old.size(), new.size())?,
        })
    }

    /// The proof file text: one JSON object on one line (no final newline),
    /// its members in one fixed order (that of FORMAT.md).
    #[must_use]
    pub fn to_json(&self) -> String {
        let text = |t: &str| Value::String(t.to_owned()).to_string();
        let hashes = |h: &[Hash]| Value::Array(hex_hashes(h)).to_string();
        format!(
            "{{\"log_id\":\"{}\",\"old_size\":{},\"new_size\":{},\"header\":{},\"header_proof\":{},\"old_checkpoint\":{},\"new_checkpoint\":{},\"proof\":{}}}",
            self.log_id,
            self.old_size,
            self.new_size,
            text(&self.header),
            hashes(&self.header_proof),
            text(&self.old_checkpoint),
            text(&self.new_checkpoint),
            hashes(&self.proof),
        )
    }

    /// Parses a consistency proof file (at most
    /// [`MAX_CONSISTENCY_PROOF_TEXT_BYTES`], each hash list at most
    /// [`MAX_PROOF_HASHES`]). The text must be exactly what
    /// [`ConsistencyProof::to_json`] writes (one final newline allowed):
    /// unknown, missing or repeated members, other spellings of a value
    /// and other whitespace are refused.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] naming the member that is missing or wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let m = Members::parse(
            text,
            MAX_CONSISTENCY_PROOF_TEXT_BYTES,
            &[
                "log_id",
                "old_size",
                "new_size",
                "header",
                "header_proof",
                "old_checkpoint",
                "new_checkpoint",
                "proof",
            ],
            bad_consistency,
            "tally audit consistency prove",
        )?;
        let proof = Self {
            log_id: m.log_id("log_id")?,
            old_size: m.number("old_size")?,
            new_size: m.number("new_size")?,
            header: m.string("header")?,
            header_proof: m.hashes("header_proof")?,
            old_checkpoint: m.string("old_checkpoint")?,
            new_checkpoint: m.string("new_checkpoint")?,
            proof: m.hashes("proof")?,
        };
        if proof.to_json() != text {
            return Err(bad_consistency(
                "not in the one form `tally audit consistency prove` writes (repeated member, \
                 other spelling or whitespace)",
            ));
        }
        Ok(proof)
    }

    /// Verifies the proof against the trusted checkpoint key `vkey`: both
    /// checkpoint signatures, their sizes, the header (log id, origin,
    /// checkpoint key) included at 0 of the older tree, and the consistency
    /// path from the older root to the newer.
    ///
    /// # Errors
    /// [`AuditError::Invalid`] naming the first part that does not check.
    pub fn verify(&self, vkey: &NoteVerifier) -> Result<ProvenConsistency> {
        let old = vkey
            .open_checkpoint(&self.old_checkpoint)
            .map_err(|e| bad_consistency(format!("old_checkpoint: {e}")))?;
        let new = vkey
            .open_checkpoint(&self.new_checkpoint)
            .map_err(|e| bad_consistency(format!("new_checkpoint: {e}")))?;
        if old.size() != self.old_size {
            return Err(bad_consistency("old_size is not the old checkpoint's size"));
        }
        if new.size() != self.new_size {
            return Err(bad_consistency("new_size is not the new checkpoint's size"));
        }
        if old.size() > new.size() {
            return Err(bad_consistency(
                "the old checkpoint is larger than the new one",
            ));
        }
        if old.origin() != new.origin() {
            return Err(bad_consistency("the checkpoints are for different origins"));
        }
        // The header binds the log id, origin and checkpoint key to the older
        // tree; the consistency path carries it to the newer one at leaf 0.
        let (header, _) = check_header(
            &self.header,
            &self.header_proof,
            self.log_id,
            &old,
            vkey,
            bad_consistency,
        )?;
        verify_consistency(old.size(), new.size(), old.root(), new.root(), &self.proof).map_err(
            |_| bad_consistency("proof does not lead from the old root to the new root"),
        )?;
        Ok(ProvenConsistency {
            log_id: self.log_id,
            origin: header.origin,
            mode: header.mode,
            old,
            new,
        })
    }
}
