//! The payloads of control records: header, key rotation, checkpoint.
//!
//! These payloads are written by this crate in one fixed spelling and parsed
//! with `serde_json` (they are rare: one header, one checkpoint per
//! thousands of records), rejecting unknown members.

use std::fmt;

use serde_json::{Map, Value};

use crate::key::MacKeyId;
use crate::merkle::Frontier;
use crate::note::{Checkpoint, NoteVerifier};
use crate::record::Hash;

/// The random 16-byte identity of a log.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogId([u8; 16]);

impl LogId {
    /// A log id from its bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// A fresh random log id.
    ///
    /// # Errors
    /// [`crate::AuditError::Io`] if the operating system's generator fails.
    pub fn generate() -> crate::Result<Self> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| {
            crate::AuditError::io("random", std::io::Error::other("random generator failed"))
        })?;
        Ok(Self(id))
    }

    /// The id's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tally_encoding::hex::encode(&self.0))
    }
}

impl fmt::Debug for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogId({self})")
    }
}

/// How records are authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SHA-256 chain only: detects accidents, not a forger who recomputes.
    Plain,
    /// HMAC-SHA256 chain with a secret key.
    Keyed,
    /// HMAC-SHA256 with a key that evolves per epoch (old keys erased).
    ForwardSecure,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Mode {
    /// The mode's name in the header: `plain`, `keyed`, `forward-secure`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Keyed => "keyed",
            Self::ForwardSecure => "forward-secure",
        }
    }

    /// Whether records carry a MAC.
    #[must_use]
    pub fn is_keyed(self) -> bool {
        !matches!(self, Self::Plain)
    }
}

/// The header record's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The log's random identity; the chain starts from it.
    pub log_id: LogId,
    /// How records are authenticated.
    pub mode: Mode,
    /// The checkpoint origin (and note key name).
    pub origin: String,
    /// The key that signs this log's checkpoints, if any.
    pub checkpoint_key: Option<NoteVerifier>,
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

impl Header {
    /// The header payload bytes (one fixed member order).
    pub(crate) fn to_payload(&self) -> Vec<u8> {
        let vkey = self
            .checkpoint_key
            .as_ref()
            .map_or_else(|| "null".to_owned(), |v| json_str(&v.to_vkey()));
        format!(
            "{{\"format\":\"tally-audit\",\"version\":1,\"log_id\":\"{}\",\"hash\":\"sha256\",\"mac\":\"{}\",\"mode\":\"{}\",\"origin\":{},\"checkpoint_key\":{}}}",
            self.log_id,
            if self.mode.is_keyed() { "hmac-sha256" } else { "none" },
            self.mode.name(),
            json_str(&self.origin),
            vkey
        )
        .into_bytes()
    }

    /// Parses a header payload; `Err` names what is wrong.
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, String> {
        let map = object(
            payload,
            &[
                "format",
                "version",
                "log_id",
                "hash",
                "mac",
                "mode",
                "origin",
                "checkpoint_key",
            ],
        )?;
        let s = |k: &str| map.get(k).and_then(Value::as_str);
        if s("format") != Some("tally-audit") {
            return Err("format is not tally-audit".into());
        }
        if map.get("version").and_then(Value::as_u64) != Some(1) {
            return Err("unsupported header version".into());
        }
        if s("hash") != Some("sha256") {
            return Err("unsupported hash algorithm".into());
        }
        let mode = match s("mode") {
            Some("plain") => Mode::Plain,
            Some("keyed") => Mode::Keyed,
            Some("forward-secure") => Mode::ForwardSecure,
            _ => return Err("unknown mode".into()),
        };
        let mac = if mode.is_keyed() {
            "hmac-sha256"
        } else {
            "none"
        };
        if s("mac") != Some(mac) {
            return Err("mac algorithm does not match the mode".into());
        }
        let log_id = s("log_id")
            .and_then(|t| {
                tally_encoding::hex::decode_array(t.as_bytes(), tally_encoding::hex::Case::Lower)
                    .ok()
            })
            .map(LogId)
            .ok_or("log_id is not 32 hex digits")?;
        let origin = s("origin").ok_or("origin missing")?.to_owned();
        if !crate::note::is_valid_name(&origin) {
            return Err("invalid origin".into());
        }
        let checkpoint_key = match map.get("checkpoint_key") {
            Some(Value::Null) => None,
            Some(Value::String(v)) => Some(NoteVerifier::parse(v).map_err(|e| e.to_string())?),
            _ => return Err("checkpoint_key must be a string or null".into()),
        };
        if let Some(v) = &checkpoint_key
            && v.name() != origin
        {
            return Err("checkpoint key name differs from the origin".into());
        }
        Ok(Self {
            log_id,
            mode,
            origin,
            checkpoint_key,
        })
    }
}

fn object(payload: &[u8], members: &[&str]) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let Value::Object(map) = value else {
        return Err("payload is not an object".into());
    };
    if map.len() != members.len() || members.iter().any(|m| !map.contains_key(*m)) {
        return Err(format!("members must be exactly {members:?}"));
    }
    Ok(map)
}

/// A rotation payload naming the next key.
pub(crate) fn rotation_payload(next: MacKeyId) -> Vec<u8> {
    format!("{{\"kid\":\"{next}\"}}").into_bytes()
}

pub(crate) fn parse_rotation(payload: &[u8]) -> Result<MacKeyId, String> {
    let map = object(payload, &["kid"])?;
    map.get("kid")
        .and_then(Value::as_str)
        .and_then(|k| MacKeyId::parse(k).ok())
        .ok_or_else(|| "kid is not 16 hex digits".into())
}

/// The content of a checkpoint record.
#[derive(Clone, Debug)]
pub(crate) struct CheckpointPayload {
    pub size: u64,
    pub root: Hash,
    pub frontier: Vec<Hash>,
    pub note: String,
}

impl CheckpointPayload {
    pub(crate) fn new(frontier: &Frontier, note: String) -> Self {
        Self {
            size: frontier.size(),
            root: frontier.root(),
            frontier: frontier.nodes().to_vec(),
            note,
        }
    }

    pub(crate) fn to_payload(&self) -> Vec<u8> {
        let mut out = format!("{{\"size\":{},\"root\":\"", self.size).into_bytes();
        tally_encoding::hex::encode_extend(&self.root, &mut out);
        out.extend_from_slice(b"\",\"frontier\":[");
        for (i, node) in self.frontier.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            tally_encoding::hex::encode_extend(node, &mut out);
            out.push(b'"');
        }
        out.extend_from_slice(b"],\"note\":");
        out.extend_from_slice(json_str(&self.note).as_bytes());
        out.push(b'}');
        out
    }

    pub(crate) fn parse(payload: &[u8]) -> Result<Self, String> {
        let map = object(payload, &["size", "root", "frontier", "note"])?;
        let hash = |v: &Value| {
            v.as_str().and_then(|t| {
                tally_encoding::hex::decode_array(t.as_bytes(), tally_encoding::hex::Case::Lower)
                    .ok()
            })
        };
        let size = map.get("size").and_then(Value::as_u64).ok_or("bad size")?;
        let root = map.get("root").and_then(hash).ok_or("bad root")?;
        let frontier = map
            .get("frontier")
            .and_then(Value::as_array)
            .ok_or("bad frontier")?
            .iter()
            .map(hash)
            .collect::<Option<Vec<_>>>()
            .ok_or("bad frontier hash")?;
        let note = map
            .get("note")
            .and_then(Value::as_str)
            .ok_or("bad note")?
            .to_owned();
        Ok(Self {
            size,
            root,
            frontier,
            note,
        })
    }

    /// Checks the note against the header: signed by the header's key (or
    /// the trusted key) when there is one, and naming this size and root.
    pub(crate) fn checkpoint(&self, header: &Header) -> Result<Checkpoint, String> {
        let cp = match &header.checkpoint_key {
            Some(v) => v.open_checkpoint(&self.note).map_err(|e| e.to_string())?,
            None => Checkpoint::parse_body(&self.note).map_err(|e| e.to_string())?,
        };
        if cp.origin() != header.origin || cp.size() != self.size || cp.root() != &self.root {
            return Err("note does not name this origin, size and root".into());
        }
        Ok(cp)
    }
}
