//! A small, strict CBOR (RFC 8949) reader and writer for the V4 token schema.
//!
//! **Why hand-written** (evaluated 2026-12-07 against `minicbor` 2.3.1 and
//! `ciborium` 0.2.2): neither keeps the reader's bounds, and wrapping one to
//! keep them (and the typed [`CborReason`] with its byte offset) would take
//! about as many lines as the reader it replaced.
//!
//! * `minicbor` (1 new crate, 0.95 s to build): its `Decoder::skip`, which
//!   unknown fields need, accepts indefinite-length arrays, maps, byte and
//!   text strings, and for indefinite items nested in definite ones pushes
//!   one heap entry per level (a 2 MB input nested 10^6 deep skipped fine);
//!   `array()` and `map()` return the declared count unchecked (2^32 - 1
//!   items from 5 bytes). Ours refuses indefinite lengths everywhere, checks
//!   every count against the bytes that remain, and skips with a fixed stack
//!   of [`MAX_CBOR_SKIP_DEPTH`] levels. Its license (BlueOak-1.0.0) is not in
//!   `deny.toml`'s list.
//! * `ciborium` (6 new crates: it, `ciborium-io`, `ciborium-ll`, `half`,
//!   `zerocopy`, `zerocopy-derive`; 13.3 s to build on 2 cores): its serde
//!   deserializer also reads indefinite-length arrays and maps to their break,
//!   recurses on the call stack (256 levels by default), copies every byte
//!   string into a new `Vec`, and materialises a whole array of proofs before
//!   the proof-count bound can be checked.
//!
//! No speed comparison: a token is decoded once, when it is received; this is
//! not a hot path. Duplicate keys are the schema's concern whichever reader is
//! used (the V4 decoder refuses them). Non-shortest heads are accepted here, as
//! by `minicbor`, so one token has more than one CBOR spelling; the writer is
//! deterministic, so compare tokens by decoded value or by re-encoding, never
//! by the received bytes (`tests/it/hostile.rs` pins both: indefinite lengths
//! refused in unknown fields, non-shortest heads re-encoded shortest). The
//! decoders are pinned by the NUT-00 vectors (`tests/it/vectors.rs`,
//! `tests/it/token.rs`), `tests/it/hostile.rs` and the `tally_cashu_token`
//! fuzz target.
//!
//! Not a general CBOR library: it knows the major types the schema uses
//! (unsigned integers, byte strings, text strings, arrays, maps, `null`) and
//! can skip any other well-formed item so that unknown fields are ignored, as
//! NUT-00 requires.
//!
//! * **Writer**: definite lengths, shortest-form heads (deterministic output).
//! * **Reader**: definite lengths only (indefinite-length items are refused);
//!   every declared length is checked against the bytes that remain before
//!   anything is allocated; skipping an unknown item is iterative with an
//!   explicit stack of at most [`MAX_CBOR_SKIP_DEPTH`] levels, so no input can
//!   recurse or allocate its way to exhaustion. Non-shortest heads are
//!   accepted on input (other encoders may emit them).

use crate::Error;
use crate::error::{CborReason, Limit};
use crate::limits::MAX_CBOR_SKIP_DEPTH;

const MAJOR_UINT: u8 = 0;
const MAJOR_NEGINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;
const NULL: u8 = 0xf6;

/// Appends CBOR items to a buffer.
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn from_vec(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    fn head(&mut self, major: u8, arg: u64) {
        let m = major << 5;
        match arg {
            0..=23 => self.buf.push(m | arg as u8),
            24..=0xff => self.buf.extend_from_slice(&[m | 24, arg as u8]),
            0x100..=0xffff => {
                self.buf.push(m | 25);
                self.buf.extend_from_slice(&(arg as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.buf.push(m | 26);
                self.buf.extend_from_slice(&(arg as u32).to_be_bytes());
            }
            _ => {
                self.buf.push(m | 27);
                self.buf.extend_from_slice(&arg.to_be_bytes());
            }
        }
    }

    pub(crate) fn uint(&mut self, value: u64) {
        self.head(MAJOR_UINT, value);
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.head(MAJOR_BYTES, bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    pub(crate) fn text(&mut self, text: &str) {
        self.head(MAJOR_TEXT, text.len() as u64);
        self.buf.extend_from_slice(text.as_bytes());
    }

    pub(crate) fn array(&mut self, len: usize) {
        self.head(MAJOR_ARRAY, len as u64);
    }

    pub(crate) fn map(&mut self, len: usize) {
        self.head(MAJOR_MAP, len as u64);
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Moves the longest prefix whose length is a multiple of 3 out of the
    /// buffer, base64url-encoded (unpadded) onto `out`.
    pub(crate) fn drain_base64(&mut self, out: &mut Vec<u8>) {
        let whole = self.buf.len() / 3 * 3;
        if let Some(prefix) = self.buf.get(..whole) {
            crate::encoding::base64url::encode_append(prefix, out);
        }
        self.buf.drain(..whole);
    }
}

/// Reads CBOR items from a byte slice, front to back.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn error(&self, reason: CborReason) -> Error {
        Error::Cbor {
            offset: self.pos,
            reason,
        }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.error(CborReason::LengthTooLarge))?;
        let slice = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.error(CborReason::UnexpectedEnd))?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| self.error(CborReason::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    fn be_uint(&mut self, width: usize) -> Result<u64, Error> {
        let bytes = self.take(width)?;
        Ok(bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
    }

    /// Reads an item head: its major type and argument.
    fn head(&mut self) -> Result<(u8, u64), Error> {
        let start = self.pos;
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24 => self.be_uint(1)?,
            25 => self.be_uint(2)?,
            26 => self.be_uint(4)?,
            27 => self.be_uint(8)?,
            31 => {
                self.pos = start;
                return Err(self.error(CborReason::IndefiniteLength));
            }
            _ => {
                self.pos = start;
                return Err(self.error(CborReason::ReservedEncoding));
            }
        };
        Ok((major, arg))
    }

    fn expect(&mut self, major: u8) -> Result<u64, Error> {
        let start = self.pos;
        let (found, arg) = self.head()?;
        if found != major {
            self.pos = start;
            return Err(self.error(CborReason::UnexpectedType));
        }
        Ok(arg)
    }

    fn length(&mut self, major: u8, min_bytes_per_unit: usize) -> Result<usize, Error> {
        let arg = self.expect(major)?;
        let len = usize::try_from(arg).map_err(|_| self.error(CborReason::LengthTooLarge))?;
        let needed = len
            .checked_mul(min_bytes_per_unit)
            .ok_or_else(|| self.error(CborReason::LengthTooLarge))?;
        if needed > self.remaining() {
            return Err(self.error(CborReason::LengthTooLarge));
        }
        Ok(len)
    }

    pub(crate) fn uint(&mut self) -> Result<u64, Error> {
        self.expect(MAJOR_UINT)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let len = self.length(MAJOR_BYTES, 1)?;
        self.take(len)
    }

    pub(crate) fn text(&mut self) -> Result<&'a str, Error> {
        let start = self.pos;
        let len = self.length(MAJOR_TEXT, 1)?;
        let bytes = self.take(len)?;
        core::str::from_utf8(bytes).map_err(|_| Error::Cbor {
            offset: start,
            reason: CborReason::InvalidUtf8,
        })
    }

    /// Reads an array head; the length is at most the bytes that remain.
    pub(crate) fn array(&mut self) -> Result<usize, Error> {
        self.length(MAJOR_ARRAY, 1)
    }

    /// Reads a map head; the length is at most half the bytes that remain.
    pub(crate) fn map(&mut self) -> Result<usize, Error> {
        self.length(MAJOR_MAP, 2)
    }

    /// Whether the next item is a text string.
    pub(crate) fn at_text(&self) -> bool {
        self.data.get(self.pos).map(|b| b >> 5) == Some(MAJOR_TEXT)
    }

    /// Consumes a `null` if one is next.
    pub(crate) fn null(&mut self) -> bool {
        if self.data.get(self.pos) == Some(&NULL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads a map key if it is a text string; skips any other key and
    /// returns `None`.
    pub(crate) fn key(&mut self) -> Result<Option<&'a str>, Error> {
        match self.data.get(self.pos).map(|b| b >> 5) {
            Some(MAJOR_TEXT) => self.text().map(Some),
            _ => self.skip().map(|()| None),
        }
    }

    /// Skips one well-formed item of any type, iteratively.
    pub(crate) fn skip(&mut self) -> Result<(), Error> {
        // pending[d] = items still to skip at nesting level d.
        let mut pending = [0u64; MAX_CBOR_SKIP_DEPTH];
        let mut depth = 0usize;
        if let Some(top) = pending.first_mut() {
            *top = 1;
        }
        loop {
            let Some(top) = pending.get_mut(depth) else {
                return Err(self.error(CborReason::UnexpectedEnd));
            };
            if *top == 0 {
                if depth == 0 {
                    return Ok(());
                }
                depth -= 1;
                continue;
            }
            *top -= 1;
            if let Some(children) = self.skip_head()? {
                depth += 1;
                let slot = pending.get_mut(depth).ok_or(Error::LimitExceeded {
                    what: Limit::CborDepth,
                    len: depth + 1,
                    max: MAX_CBOR_SKIP_DEPTH,
                })?;
                *slot = children;
            }
        }
    }

    /// Consumes one item head (and its payload if it has no children);
    /// returns how many child items follow, if any.
    fn skip_head(&mut self) -> Result<Option<u64>, Error> {
        let (major, arg) = self.head()?;
        match major {
            MAJOR_UINT | MAJOR_NEGINT => Ok(None),
            MAJOR_BYTES | MAJOR_TEXT => {
                let len =
                    usize::try_from(arg).map_err(|_| self.error(CborReason::LengthTooLarge))?;
                self.take(len).map(|_| None)
            }
            MAJOR_ARRAY | MAJOR_MAP => {
                let items = if major == MAJOR_MAP {
                    arg.checked_mul(2)
                        .ok_or_else(|| self.error(CborReason::LengthTooLarge))?
                } else {
                    arg
                };
                if items > self.remaining() as u64 {
                    return Err(self.error(CborReason::LengthTooLarge));
                }
                Ok(Some(items))
            }
            MAJOR_TAG => Ok(Some(1)),
            MAJOR_SIMPLE => Ok(None),
            _ => Err(self.error(CborReason::ReservedEncoding)),
        }
    }

    /// Fails if bytes remain after the top-level item.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.remaining() != 0 {
            return Err(self.error(CborReason::TrailingBytes));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(data: &[u8]) -> Result<(), Error> {
        let mut r = Reader::new(data);
        r.skip()?;
        r.finish()
    }

    #[test]
    fn writer_uses_shortest_heads() {
        for (value, expected) in [
            (0u64, vec![0x00]),
            (23, vec![0x17]),
            (24, vec![0x18, 24]),
            (255, vec![0x18, 0xff]),
            (256, vec![0x19, 1, 0]),
            (65_536, vec![0x1a, 0, 1, 0, 0]),
            (1 << 32, vec![0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ] {
            let mut w = Writer::from_vec(Vec::new());
            w.uint(value);
            assert_eq!(w.into_inner(), expected, "{value}");
            let mut r = Reader::new(&expected);
            assert_eq!(r.uint().unwrap(), value);
        }
    }

    #[test]
    fn reader_accepts_non_shortest_heads() {
        let mut r = Reader::new(&[0x1b, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(r.uint().unwrap(), 5);
    }

    #[test]
    fn declared_lengths_beyond_input_are_refused_before_allocation() {
        // A byte string claiming 2^64-1 bytes, an array claiming 2^32 items.
        let err = Reader::new(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            .bytes()
            .unwrap_err();
        assert!(matches!(err, Error::Cbor { .. }));
        let err = Reader::new(&[0x9a, 0xff, 0xff, 0xff, 0xff])
            .array()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Cbor {
                reason: CborReason::LengthTooLarge,
                ..
            }
        ));
    }

    #[test]
    fn indefinite_lengths_are_refused() {
        let err = Reader::new(&[0x9f, 0x01, 0xff]).array().unwrap_err();
        assert!(matches!(
            err,
            Error::Cbor {
                reason: CborReason::IndefiniteLength,
                ..
            }
        ));
    }

    #[test]
    fn skip_handles_every_major_type() {
        // {1: [h'00', "a", -1, 1.5 (f16), tag(1) 0, null]}
        let item = [
            0xa1, 0x01, 0x86, 0x41, 0x00, 0x61, b'a', 0x20, 0xf9, 0x3e, 0x00, 0xc1, 0x00, 0xf6,
        ];
        skip_all(&item).unwrap();
    }

    #[test]
    fn skip_depth_is_bounded_at_the_limit_and_one_past() {
        let nested = |levels: usize| {
            let mut v = vec![0x81; levels];
            v.push(0x00);
            v
        };
        // The top-level item is level 1; MAX nested arrays plus the leaf fit.
        skip_all(&nested(MAX_CBOR_SKIP_DEPTH - 1)).unwrap();
        let err = skip_all(&nested(MAX_CBOR_SKIP_DEPTH)).unwrap_err();
        assert!(matches!(
            err,
            Error::LimitExceeded {
                what: Limit::CborDepth,
                ..
            }
        ));
    }

    #[test]
    fn truncated_and_trailing_input_is_refused() {
        assert!(skip_all(&[0x82, 0x01]).is_err());
        assert!(skip_all(&[0x01, 0x01]).is_err());
        assert!(skip_all(&[]).is_err());
        assert!(skip_all(&[0x1c]).is_err());
    }
}
