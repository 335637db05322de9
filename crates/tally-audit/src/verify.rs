//! The verification state machine: one line in, one verified record out.
//!
//! Every reader, the writer's recovery and the proof index run records
//! through [`Chain::verify`], so there is one definition of "valid".

use crate::control::{CheckpointPayload, Header, Mode, parse_rotation};
use crate::error::{AuditError, Result};
use crate::key::{AuditKey, Keyring, MacKeyId};
use crate::merkle::{Frontier, leaf_hash};
use crate::note::{Checkpoint, NoteVerifier};
use crate::record::{self, Envelope, Hash, RecordKind};

/// Keys for verification, with the newest evolved key of each key id cached.
///
/// Deriving a forward-secure key costs one HMAC per epoch step, so the cache
/// bounds the work any record can cause: it derives nothing before the log's
/// mode is known (from the header), nothing for a record whose sequence is not
/// the expected one, and only epochs allowed by the mode (keyed: 0;
/// forward-secure: at most the record's sequence). Each key id's cached key
/// only moves forward, so verifying `n` lines derives at most `n` epochs per
/// key of the ring.
#[derive(Debug, Clone)]
pub(crate) struct KeyCache {
    ring: Keyring,
    current: Vec<AuditKey>,
    mode: Option<Mode>,
    /// The writer's recovery holds only the newest epoch of a forward-secure
    /// key (and perhaps no key it rotated away from): MACs of older epochs
    /// and of keys it does not hold cannot (by design) be checked there.
    allow_past_epochs: bool,
}

impl KeyCache {
    pub(crate) fn new(ring: Keyring, allow_past_epochs: bool) -> Self {
        Self {
            ring,
            current: Vec::new(),
            mode: None,
            allow_past_epochs,
        }
    }

    /// Whether the caller supplied no key at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Learns the log's mode from its header (the only source of it).
    pub(crate) fn learn_mode(&mut self, header_payload: &[u8]) {
        self.mode = Header::parse(header_payload).ok().map(|h| h.mode);
    }

    /// The MAC of `digest` under key `kid` at `epoch` for the record at
    /// `seq`; `Ok(None)` when the epoch is in the past and that is allowed;
    /// `Err(())` without a usable key, or when the mode or the sequence does
    /// not allow this epoch (the sequential checks then name the error).
    pub(crate) fn mac(
        &mut self,
        kid: MacKeyId,
        seq: u64,
        epoch: u64,
        digest: &Hash,
    ) -> Result<Option<Hash>, ()> {
        match self.mode {
            Some(Mode::Keyed) if epoch == 0 => {}
            Some(Mode::ForwardSecure) if epoch <= seq => {}
            _ => return Err(()),
        }
        let Some(base) = self.ring.get(kid) else {
            // The writer holds only its current key: records under a key it
            // rotated away from are bound by the chain to the first later
            // record it can check (whose digest covers their hashes).
            return if self.allow_past_epochs {
                Ok(None)
            } else {
                Err(())
            };
        };
        if base.epoch() > epoch {
            return if self.allow_past_epochs {
                Ok(None)
            } else {
                Err(())
            };
        }
        let slot = match self.current.iter().position(|k| k.kid() == kid) {
            Some(i) => i,
            None => {
                self.current.push(base.clone());
                self.current.len() - 1
            }
        };
        let key = self.current.get_mut(slot).ok_or(())?;
        if key.epoch() > epoch {
            // Epochs never go back along a chain: the sequential checks
            // reject this record; deriving again from the base is not done.
            return Err(());
        }
        if key.epoch() < epoch {
            *key = key.at_epoch(epoch).map_err(|_| ())?;
        }
        Ok(Some(key.mac(digest)))
    }
}

/// The order-independent part of verifying one line: parsing, limits, the
/// digest and the expected hash (MAC). Lines can be
/// precomputed ahead of (or beside) the sequential checks in [`Chain::apply`].
#[derive(Clone, Debug)]
pub(crate) struct Pre {
    meta: crate::record::Meta,
    hash: Hash,
    payload: std::ops::Range<usize>,
    digest: Hash,
    /// `Err(())` when no key can check this record's MAC.
    expected: Result<Option<Hash>, ()>,
}

/// Precomputes one line (see [`Pre`]) expected to hold record
/// `expected_seq`: no key is derived for a record at another position.
pub(crate) fn precompute(
    line: &[u8],
    offset: u64,
    expected_seq: u64,
    keys: &mut KeyCache,
    max_payload: usize,
) -> Result<Pre> {
    let env = record::parse_line(line, offset)?;
    let meta = env.meta;
    if meta.seq == 0 && meta.kind == RecordKind::Header && expected_seq == 0 {
        keys.learn_mode(env.payload);
    }
    if env.payload.len() > max_payload {
        return Err(AuditError::RecordTooLarge {
            seq: meta.seq,
            offset,
            max: max_payload,
        });
    }
    let digest = record::digest(&meta, env.payload);
    let expected = match meta.kid {
        Some(_) if meta.seq != expected_seq => Err(()),
        Some(kid) => keys.mac(kid, meta.seq, meta.epoch, &digest),
        None => Ok(Some(digest)),
    };
    // The payload is the end of the line but its closing `}`.
    let end = line.len().saturating_sub(1);
    Ok(Pre {
        meta,
        hash: env.hash,
        payload: end.saturating_sub(env.payload.len())..end,
        digest,
        expected,
    })
}

/// A record that passed every check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Verified<'a> {
    pub env: Envelope<'a>,
    pub digest: Hash,
}

/// The state of a chain being verified.
#[derive(Debug)]
pub(crate) struct Chain {
    pub header: Option<Header>,
    pub next_seq: u64,
    pub prev: Hash,
    pub frontier: Frontier,
    pub kid: Option<MacKeyId>,
    pub epoch: u64,
    pub pending_kid: Option<MacKeyId>,
    pub last_checkpoint: Option<(u64, Checkpoint)>,
    keys: KeyCache,
    trusted_vkey: Option<NoteVerifier>,
    max_payload: usize,
}

impl Chain {
    pub(crate) fn new(
        keys: KeyCache,
        trusted_vkey: Option<NoteVerifier>,
        max_payload: usize,
    ) -> Self {
        Self {
            header: None,
            next_seq: 0,
            prev: [0; 32],
            frontier: Frontier::new(),
            kid: None,
            epoch: 0,
            pending_kid: None,
            last_checkpoint: None,
            keys,
            trusted_vkey,
            max_payload,
        }
    }

    /// Whether the caller gave a trusted checkpoint key.
    pub(crate) fn has_trusted_vkey(&self) -> bool {
        self.trusted_vkey.is_some()
    }

    /// A copy of the keys and the payload limit, for a thread that
    /// precomputes lines ahead of this chain.
    pub(crate) fn precompute_state(&self) -> (KeyCache, usize) {
        (self.keys.clone(), self.max_payload)
    }

    /// Positions the chain just before the checkpoint line `line`, taking its
    /// `prev`, key and frontier as given, so that verifying the line next
    /// checks the checkpoint (its hash, MAC, signature and that the frontier
    /// leads to the signed root) and resumes from it.
    pub(crate) fn resume_before(&mut self, line: &[u8], offset: u64) -> Result<()> {
        let env = record::parse_line(line, offset)?;
        let cp =
            CheckpointPayload::parse(env.payload).map_err(|what| AuditError::InvalidControl {
                kind: "checkpoint",
                seq: env.meta.seq,
                offset,
                what,
            })?;
        self.frontier = Frontier::from_parts(cp.size, cp.frontier).ok_or_else(|| {
            AuditError::InvalidControl {
                kind: "checkpoint",
                seq: env.meta.seq,
                offset,
                what: "frontier does not fit the size".into(),
            }
        })?;
        // A line is longer than one byte, so no honest record's sequence
        // exceeds its offset: this bounds the key derivation a forged
        // checkpoint could ask for.
        if env.meta.seq > offset {
            return Err(AuditError::InvalidControl {
                kind: "checkpoint",
                seq: env.meta.seq,
                offset,
                what: "sequence beyond the record's position".into(),
            });
        }
        self.next_seq = env.meta.seq;
        self.prev = env.meta.prev;
        self.kid = env.meta.kid;
        self.epoch = env.meta.epoch;
        self.pending_kid = None;
        Ok(())
    }

    /// Verifies one line (without its `\n`) that starts at `offset`.
    pub(crate) fn verify<'a>(&mut self, line: &'a [u8], offset: u64) -> Result<Verified<'a>> {
        let pre = precompute(
            line,
            offset,
            self.next_seq,
            &mut self.keys,
            self.max_payload,
        )
        .map_err(|e| self.not_a_log(e))?;
        self.apply(&pre, line, offset)
    }

    /// Before a header was read, a line that is not a record line means the
    /// input is not a log at all ([`AuditError::NotALog`]), not a damaged one.
    pub(crate) fn not_a_log(&self, e: AuditError) -> AuditError {
        if self.header.is_some() {
            return e;
        }
        match e {
            AuditError::Malformed { .. }
            | AuditError::InvalidUtf8 { .. }
            | AuditError::UnsupportedVersion { .. }
            | AuditError::LineTooLong { .. }
            | AuditError::RecordTooLarge { .. } => AuditError::NotALog {
                what: "the first line is not a tally-audit header record",
            },
            other => other,
        }
    }

    /// The order-dependent checks of a precomputed line: sequence, link,
    /// key fields, hash comparison, control records, tree.
    pub(crate) fn apply<'a>(
        &mut self,
        pre: &Pre,
        line: &'a [u8],
        offset: u64,
    ) -> Result<Verified<'a>> {
        let env = Envelope {
            meta: pre.meta,
            hash: pre.hash,
            payload: line.get(pre.payload.clone()).unwrap_or_default(),
        };
        let meta = env.meta;
        if meta.seq != self.next_seq {
            return Err(AuditError::SequenceMismatch {
                expected: self.next_seq,
                found: meta.seq,
                offset,
            });
        }
        let mode = self.link(&env, offset)?;
        self.check_key_fields(mode, &env, offset)?;
        let expected = match (meta.kid, pre.expected) {
            (Some(kid), Err(())) => {
                return Err(AuditError::WrongKey {
                    seq: meta.seq,
                    offset,
                    kid: kid.to_string(),
                    epoch: meta.epoch,
                });
            }
            (_, Ok(expected)) => expected,
            (None, Err(())) => Some(pre.digest),
        };
        if let Some(expected) = expected
            && !crate::ct_eq(&expected, &env.hash)
        {
            return Err(AuditError::HashMismatch {
                seq: meta.seq,
                offset,
            });
        }
        self.apply_control(&env, offset, mode)?;
        self.frontier.push(leaf_hash(&pre.digest));
        self.prev = env.hash;
        self.next_seq = meta.seq.checked_add(1).ok_or(AuditError::Full)?;
        Ok(Verified {
            env,
            digest: pre.digest,
        })
    }

    /// Checks the link to the previous record (or the genesis) and returns
    /// the log's mode.
    fn link(&mut self, env: &Envelope<'_>, offset: u64) -> Result<Mode> {
        let seq = env.meta.seq;
        let control = |what: String| AuditError::InvalidControl {
            kind: "header",
            seq,
            offset,
            what,
        };
        if seq == 0 {
            if env.meta.kind != RecordKind::Header {
                return Err(AuditError::NotALog {
                    what: "the first record is not a header",
                });
            }
            let header = Header::parse(env.payload).map_err(control)?;
            if header.mode.is_keyed() && self.keys.is_empty() {
                return Err(AuditError::KeyRequired {
                    kid: env.meta.kid.map(|k| k.to_string()),
                });
            }
            if !header.mode.is_keyed() && !self.keys.is_empty() {
                return Err(AuditError::KeyMode {
                    seq,
                    offset,
                    what: "a key was given but the header says the log is plain (a downgraded log?)",
                });
            }
            if let Some(trusted) = &self.trusted_vkey
                && header.checkpoint_key.as_ref() != Some(trusted)
            {
                return Err(control(
                    "checkpoint key differs from the trusted key".into(),
                ));
            }
            if env.meta.prev != record::genesis(header.log_id.as_bytes()) {
                return Err(AuditError::ChainBroken { seq, offset });
            }
            self.header = Some(header);
        } else if env.meta.kind == RecordKind::Header {
            return Err(control("a header after sequence 0".into()));
        } else if env.meta.prev != self.prev {
            return Err(AuditError::ChainBroken { seq, offset });
        }
        self.header
            .as_ref()
            .map(|h| h.mode)
            .ok_or(AuditError::NotALog {
                what: "no header record",
            })
    }

    fn check_key_fields(&mut self, mode: Mode, env: &Envelope<'_>, offset: u64) -> Result<()> {
        let meta = env.meta;
        let fail = |what| AuditError::KeyMode {
            seq: meta.seq,
            offset,
            what,
        };
        match (mode, meta.kid) {
            (Mode::Plain, None) if meta.epoch == 0 => return Ok(()),
            (Mode::Plain, _) => return Err(fail("a plain log's records carry no key")),
            (_, None) => return Err(fail("a keyed log's record carries no key id")),
            (Mode::Keyed, Some(_)) if meta.epoch != 0 => {
                return Err(fail("a keyed log's records have epoch 0"));
            }
            (Mode::ForwardSecure, Some(_)) if meta.epoch > meta.seq => {
                return Err(fail("a key epoch beyond the record's sequence"));
            }
            _ => {}
        }
        if meta.seq == 0 {
            self.kid = meta.kid;
            self.epoch = meta.epoch;
        } else if let Some(next) = self.pending_kid.take() {
            if meta.kid != Some(next) {
                return Err(fail("the record after a rotation uses another key"));
            }
            self.kid = meta.kid;
            self.epoch = meta.epoch;
        } else if meta.kid != self.kid {
            return Err(fail("key id changed without a rotation record"));
        } else if meta.epoch < self.epoch {
            return Err(fail("key epoch went backwards"));
        } else {
            self.epoch = meta.epoch;
        }
        Ok(())
    }

    fn apply_control(&mut self, env: &Envelope<'_>, offset: u64, mode: Mode) -> Result<()> {
        let seq = env.meta.seq;
        match env.meta.kind {
            RecordKind::Rotate => {
                let next =
                    parse_rotation(env.payload).map_err(|what| AuditError::InvalidControl {
                        kind: "rotate",
                        seq,
                        offset,
                        what,
                    })?;
                if !mode.is_keyed() || Some(next) == self.kid {
                    return Err(AuditError::InvalidControl {
                        kind: "rotate",
                        seq,
                        offset,
                        what: "rotation in a plain log or to the same key".into(),
                    });
                }
                self.pending_kid = Some(next);
            }
            RecordKind::Checkpoint => {
                let cp = self.check_checkpoint(env.payload).map_err(|what| {
                    AuditError::InvalidControl {
                        kind: "checkpoint",
                        seq,
                        offset,
                        what,
                    }
                })?;
                self.last_checkpoint = Some((seq, cp));
            }
            RecordKind::Header | RecordKind::Data => {}
        }
        Ok(())
    }

    fn check_checkpoint(&self, payload: &[u8]) -> Result<Checkpoint, String> {
        let cp = CheckpointPayload::parse(payload)?;
        if cp.size != self.next_seq || cp.size != self.frontier.size() {
            return Err("size is not the checkpoint's sequence number".into());
        }
        if cp.frontier != self.frontier.nodes() {
            return Err("frontier differs from the log's tree".into());
        }
        if cp.root != self.frontier.root() {
            return Err("root differs from the log's tree".into());
        }
        let header = self.header.as_ref().ok_or("no header")?;
        cp.checkpoint(header)
    }
}
