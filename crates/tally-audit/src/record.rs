//! One record: its kinds, its digest and chain hash, and its line encoding.
//!
//! Every byte is specified in `FORMAT.md`; the golden vectors in the tests
//! pin it. The envelope is parsed by a strict fixed-order parser (no general
//! JSON parser on the verification path): the writer emits exactly one
//! spelling of every envelope, so any other spelling is malformed.

use sha2::{Digest, Sha256};

use crate::error::AuditError;
use crate::json;
use crate::key::{AuditKey, MacKeyId};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Domain tag of a record digest.
pub const RECORD_TAG: &[u8; 21] = b"tally/audit/record/v1";
/// Domain tag of the chain start derived from the log id.
pub const GENESIS_TAG: &[u8; 22] = b"tally/audit/genesis/v1";

/// Bytes of a line that are not the payload: the envelope's fixed members at
/// their longest (20-digit numbers, the longest kind, a key id) plus `}\n`.
pub const MAX_ENVELOPE_BYTES: usize = 256;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Sequence 0: binds the log id, format, algorithms and keys.
    Header,
    /// A caller's payload.
    Data,
    /// A key rotation: later records use the key id it names.
    Rotate,
    /// A checkpoint: the Merkle tree head over all earlier records, signed.
    Checkpoint,
}

impl RecordKind {
    /// The byte that stands for the kind in the digest.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Header => 0,
            Self::Data => 1,
            Self::Rotate => 2,
            Self::Checkpoint => 3,
        }
    }

    /// The kind's name in the line's `kind` member.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Data => "data",
            Self::Rotate => "rotate",
            Self::Checkpoint => "checkpoint",
        }
    }

    fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"header" => Some(Self::Header),
            b"data" => Some(Self::Data),
            b"rotate" => Some(Self::Rotate),
            b"checkpoint" => Some(Self::Checkpoint),
            _ => None,
        }
    }
}

/// The fields of a record that its digest covers, besides the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub seq: u64,
    pub kind: RecordKind,
    pub kid: Option<MacKeyId>,
    pub epoch: u64,
    pub prev: Hash,
}

/// A parsed line: the envelope fields and the payload bytes as stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Envelope<'a> {
    pub meta: Meta,
    pub hash: Hash,
    pub payload: &'a [u8],
}

/// `SHA-256(GENESIS_TAG ‖ log_id)`: the `prev` of the header record.
#[must_use]
pub(crate) fn genesis(log_id: &[u8; 16]) -> Hash {
    let mut h = Sha256::new();
    h.update(GENESIS_TAG);
    h.update(log_id);
    h.finalize().into()
}

/// The record digest of FORMAT.md: SHA-256 over the tag, the fixed-width
/// metadata and the length-prefixed payload.
#[must_use]
pub(crate) fn digest(meta: &Meta, payload: &[u8]) -> Hash {
    let mut fixed = [0u8; 21 + 8 + 1 + 1 + 8 + 8 + 32 + 8];
    let mut w = Filler::new(&mut fixed);
    w.put(RECORD_TAG);
    w.put(&meta.seq.to_be_bytes());
    w.put(&[meta.kind.code()]);
    match meta.kid {
        Some(kid) => {
            w.put(&[1]);
            w.put(kid.as_bytes());
        }
        None => {
            w.put(&[0]);
            w.put(&[0; 8]);
        }
    }
    w.put(&meta.epoch.to_be_bytes());
    w.put(&meta.prev);
    w.put(&(payload.len() as u64).to_be_bytes());
    let mut h = Sha256::new();
    h.update(fixed);
    h.update(payload);
    h.finalize().into()
}

/// Writes consecutive slices into a fixed buffer.
struct Filler<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl<'a> Filler<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, at: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        debug_assert!(end <= self.buf.len());
        self.at = end;
    }
}

/// The chain hash stored in `hash`: the digest itself, or with a key
/// `HMAC-SHA256(key_epoch, digest)`.
#[must_use]
pub(crate) fn chain_hash(digest: &Hash, key: Option<&AuditKey>) -> Hash {
    match key {
        Some(key) => key.mac(digest),
        None => *digest,
    }
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(i..).unwrap_or_default());
}

/// Appends the record's line (with its final `\n`) to `out`.
pub(crate) fn encode_line(out: &mut Vec<u8>, meta: &Meta, hash: &Hash, payload: &[u8]) {
    out.reserve(MAX_ENVELOPE_BYTES + payload.len());
    out.extend_from_slice(b"{\"v\":");
    push_u64(out, FORMAT_VERSION);
    out.extend_from_slice(b",\"seq\":");
    push_u64(out, meta.seq);
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(meta.kind.name().as_bytes());
    out.extend_from_slice(b"\",\"kid\":");
    match meta.kid {
        Some(kid) => {
            out.push(b'"');
            tally_encoding::hex::encode_extend(kid.as_bytes(), out);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"epoch\":");
    push_u64(out, meta.epoch);
    out.extend_from_slice(b",\"prev\":\"");
    tally_encoding::hex::encode_extend(&meta.prev, out);
    out.extend_from_slice(b"\",\"hash\":\"");
    tally_encoding::hex::encode_extend(hash, out);
    out.extend_from_slice(b"\",\"payload\":");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"}\n");
}

/// A strict cursor over one line.
struct Parser<'a> {
    line: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.at.checked_add(lit.len())?;
        (self.line.get(self.at..end)? == lit).then(|| self.at = end)
    }

    /// A decimal `u64` without sign or leading zeros.
    fn number(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(&c @ b'0'..=b'9') = self.line.get(self.at) {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.at += 1;
        }
        let len = self.at - start;
        let leading_zero = len > 1 && self.line.get(start) == Some(&b'0');
        (len > 0 && !leading_zero).then_some(n)
    }

    /// Bytes up to the next `"` (not consumed).
    fn until_quote(&mut self) -> Option<&'a [u8]> {
        let rest = self.line.get(self.at..)?;
        let len = rest.iter().position(|&b| b == b'"')?;
        self.at += len;
        rest.get(..len)
    }

    fn hash(&mut self) -> Option<Hash> {
        let text = self.line.get(self.at..self.at.checked_add(64)?)?;
        self.at += 64;
        tally_encoding::hex::decode_array(text, tally_encoding::hex::Case::Lower).ok()
    }
}

fn malformed(seq: Option<u64>, offset: u64, what: &'static str) -> AuditError {
    AuditError::Malformed { seq, offset, what }
}

/// Parses one line (without its `\n`) that starts at byte `offset`.
///
/// Checks the envelope grammar, the version and that the payload is one JSON
/// value in UTF-8; it does not check hashes (see `verify`).
pub(crate) fn parse_line(line: &[u8], offset: u64) -> Result<Envelope<'_>, AuditError> {
    let mut p = Parser { line, at: 0 };
    let fail = |seq, what| {
        if std::str::from_utf8(line).is_err() {
            AuditError::InvalidUtf8 { seq, offset }
        } else {
            malformed(seq, offset, what)
        }
    };
    p.literal(b"{\"v\":")
        .ok_or_else(|| fail(None, "expected {\"v\":"))?;
    let version = p.number().ok_or_else(|| fail(None, "bad version"))?;
    if version != FORMAT_VERSION {
        return Err(AuditError::UnsupportedVersion { version, offset });
    }
    p.literal(b",\"seq\":")
        .ok_or_else(|| fail(None, "expected \"seq\""))?;
    let seq = p.number().ok_or_else(|| fail(None, "bad sequence"))?;
    let s = Some(seq);
    p.literal(b",\"kind\":\"")
        .ok_or_else(|| fail(s, "expected \"kind\""))?;
    let kind = p
        .until_quote()
        .and_then(RecordKind::from_name)
        .ok_or_else(|| fail(s, "unknown kind"))?;
    p.literal(b"\",\"kid\":")
        .ok_or_else(|| fail(s, "expected \"kid\""))?;
    let kid = if p.literal(b"null").is_some() {
        None
    } else {
        p.literal(b"\"").ok_or_else(|| fail(s, "bad kid"))?;
        let text = p.until_quote().ok_or_else(|| fail(s, "bad kid"))?;
        let kid = tally_encoding::hex::decode_array(text, tally_encoding::hex::Case::Lower)
            .map_err(|_| fail(s, "bad kid"))?;
        p.literal(b"\"").ok_or_else(|| fail(s, "bad kid"))?;
        Some(MacKeyId::from_bytes(kid))
    };
    p.literal(b",\"epoch\":")
        .ok_or_else(|| fail(s, "expected \"epoch\""))?;
    let epoch = p.number().ok_or_else(|| fail(s, "bad epoch"))?;
    p.literal(b",\"prev\":\"")
        .ok_or_else(|| fail(s, "expected \"prev\""))?;
    let prev = p.hash().ok_or_else(|| fail(s, "bad prev"))?;
    p.literal(b"\",\"hash\":\"")
        .ok_or_else(|| fail(s, "expected \"hash\""))?;
    let hash = p.hash().ok_or_else(|| fail(s, "bad hash"))?;
    p.literal(b"\",\"payload\":")
        .ok_or_else(|| fail(s, "expected \"payload\""))?;
    let end = line.len().checked_sub(1).filter(|&e| e >= p.at);
    let payload = match (end, line.last()) {
        (Some(end), Some(b'}')) => line.get(p.at..end).unwrap_or_default(),
        _ => return Err(fail(s, "expected } at the end of the line")),
    };
    json::validate(payload).map_err(|(what, _)| {
        if what == "invalid UTF-8" {
            AuditError::InvalidUtf8 { seq: s, offset }
        } else {
            malformed(s, offset, "payload is not one JSON value")
        }
    })?;
    Ok(Envelope {
        meta: Meta {
            seq,
            kind,
            kid,
            epoch,
            prev,
        },
        hash,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            seq: 7,
            kind: RecordKind::Data,
            kid: None,
            epoch: 0,
            prev: [0x11; 32],
        }
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let mut out = Vec::new();
        let m = meta();
        encode_line(&mut out, &m, &[0x22; 32], br#"{"a":[1,2]}"#);
        assert_eq!(out.last(), Some(&b'\n'));
        let line = &out[..out.len() - 1];
        let env = parse_line(line, 0).unwrap();
        assert_eq!(env.meta, m);
        assert_eq!(env.hash, [0x22; 32]);
        assert_eq!(env.payload, br#"{"a":[1,2]}"#);
        let _: serde_json::Value = serde_json::from_slice(line).unwrap();
    }

    #[test]
    fn numbers_are_strict() {
        let mut out = Vec::new();
        encode_line(&mut out, &meta(), &[0; 32], b"1");
        let text = String::from_utf8(out).unwrap();
        let line = text.trim_end();
        for bad in [
            line.replace("\"seq\":7", "\"seq\":07"),
            line.replace("\"seq\":7", "\"seq\":-7"),
            line.replace("\"seq\":7", "\"seq\":18446744073709551616"),
            line.replace("\"v\":1", "\"v\": 1"),
            line.replace("\"kind\":\"data\"", "\"kind\":\"Data\""),
            line.replace("\"payload\":1}", "\"payload\":1 }x"),
            line.replace("\"payload\":1}", "\"payload\":}"),
        ] {
            assert!(parse_line(bad.as_bytes(), 0).is_err(), "{bad}");
        }
        let v2 = line.replace("\"v\":1", "\"v\":2");
        assert!(matches!(
            parse_line(v2.as_bytes(), 9),
            Err(AuditError::UnsupportedVersion {
                version: 2,
                offset: 9
            })
        ));
    }
}
