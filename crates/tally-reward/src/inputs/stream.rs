//! The streaming inputs decoder behind [`super::EpochInputs::from_reader`].
//!
//! A hand-written reader of exactly the inputs document (no JSON tree, no
//! serde): it pulls bytes from any [`Read`] through one fixed 64 KiB
//! buffer, so the document itself is never held, and builds the compact
//! form of [`super::EpochInputs`] directly:
//!
//! * counter names are interned: each distinct name is allocated once; an
//!   account whose counters come in the same order as the previous
//!   account's is matched by comparing bytes, without hashing;
//! * an account costs its [`AccountId`] and one `(name, value)` pair per
//!   counter, nothing per counter name;
//! * every string goes through one reused scratch buffer; keys and counter
//!   names are matched as bytes, and a key's UTF-8 is checked only when it
//!   had a raw byte above 0x7f (escapes decode to valid UTF-8);
//! * whitespace, where there is none, costs one comparison, and a plain
//!   integer is read in place in one pass.
//!
//! It accepts exactly what the reference decoder
//! ([`super::EpochInputs::from_json_reference`], serde_json under the
//! workspace's strict layer) accepts, with the same checks in the same order:
//! JSON syntax as RFC 8259 (whitespace, escapes with surrogate pairs, UTF-8,
//! no control characters in strings, no leading zeros, no trailing commas or
//! characters), objects only where the schema has objects, unknown,
//! duplicate and missing fields refused, counters as `u64` integers (a
//! fraction or exponent is "not an integer", a negative or larger value
//! "integer out of range"), at most [`MAX_COUNTERS`] valid and distinct
//! counter names per account. A failure while reading is [`Error::Json`]
//! whose message names the field (`accounts[2].counters.bytes_stored`) and
//! the line and column; the checks of the whole document (schema, window,
//! account count, distinct names, duplicate accounts) are made after it was
//! read, as [`super::EpochInputs::new`] makes them. The tests check the two
//! decoders against each other on generated documents and their mutations.
//!
//! Bounds: at most `max_input_bytes` bytes are read (one more is
//! [`Error::TooLarge`]); at most `max_accounts` accounts are kept (the rest
//! are read, checked and counted, so that the count in
//! [`Error::TooManyAccounts`] is the document's); strings are bounded by the
//! document.

use std::collections::HashMap;
use std::io::{ErrorKind, Read};

use super::{MAX_COUNTERS, Window, valid_counter_name_bytes};
use crate::ident::{AccountId, EpochId};
use crate::{Error, Limits};

/// The read buffer.
const BUFFER: usize = 64 << 10;
/// The range of `u64`, as messages give it.
const U64_RANGE: &str = "0 to 18446744073709551615";

/// A document read, before the whole-document checks.
pub(super) struct Parsed {
    pub(super) schema: String,
    pub(super) epoch: EpochId,
    pub(super) window: Window,
    pub(super) producer: AccountId,
    /// Accounts in the document (only the first `max_accounts` are kept).
    pub(super) accounts: usize,
    /// The kept accounts, in document order.
    pub(super) ids: Vec<AccountId>,
    /// `offsets[i]..offsets[i + 1]` are kept account `i`'s entries.
    pub(super) offsets: Vec<usize>,
    /// `(interned name, value)` pairs, in document order.
    pub(super) values: Vec<(u32, u64)>,
    /// Distinct counter names, in the order first seen.
    pub(super) names: Vec<String>,
}

/// Reads one inputs document from `reader`.
pub(super) fn parse<R: Read>(reader: R, limits: &Limits) -> Result<Parsed, Error> {
    let mut p = Parser {
        reader,
        buf: vec![0; BUFFER].into_boxed_slice(),
        pos: 0,
        end: 0,
        read: 0,
        max: limits.max_input_bytes,
        line: 1,
        line_start: 0,
        scratch: Vec::with_capacity(256),
        raw_non_ascii: false,
        num: Vec::with_capacity(32),
    };
    let parsed = p.document(limits)?;
    p.ws()?;
    if p.peek()?.is_some() {
        return Err(p.syntax("trailing characters"));
    }
    Ok(parsed)
}

struct Parser<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes taken from the reader.
    read: usize,
    max: usize,
    /// Line (from 1) and the offset its first byte has.
    line: usize,
    line_start: usize,
    scratch: Vec<u8>,
    /// Whether the string in `scratch` had a raw (unescaped) byte above
    /// 0x7f, so that its UTF-8 must be checked.
    raw_non_ascii: bool,
    /// The text of the last number read.
    num: Vec<u8>,
}

/// The top-level fields, in declaration order (the order missing ones are
/// reported in).
#[derive(Default)]
struct Top {
    schema: Option<String>,
    epoch: Option<EpochId>,
    window: Option<Window>,
    producer: Option<AccountId>,
    accounts: Option<usize>,
}

/// Interned counter names, and the per-account state reused across accounts.
#[derive(Default)]
struct Accounts {
    ids: Vec<AccountId>,
    offsets: Vec<usize>,
    values: Vec<(u32, u64)>,
    names: Vec<String>,
    index: HashMap<Vec<u8>, u32>,
    /// The current account's entries, and the previous account's names.
    current: Vec<(u32, u64)>,
    previous: Vec<u32>,
}

impl<R: Read> Parser<R> {
    // ---- bytes -----------------------------------------------------------

    /// The offset of the next byte in the document.
    fn offset(&self) -> usize {
        self.read.saturating_sub(self.end.saturating_sub(self.pos))
    }

    fn refill(&mut self) -> Result<bool, Error> {
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => {
                    self.pos = 0;
                    self.end = 0;
                    return Ok(false);
                }
                Ok(n) => {
                    self.read = self.read.saturating_add(n);
                    if self.read > self.max {
                        return Err(self.too_large());
                    }
                    self.pos = 0;
                    self.end = n.min(self.buf.len());
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(&e)),
            }
        }
    }

    /// Whether `n` (at most the buffer's size) bytes are buffered after
    /// reading more: the unread rest moves to the front, and the reader
    /// fills what follows.
    fn ensure(&mut self, n: usize) -> Result<bool, Error> {
        while self.end.saturating_sub(self.pos) < n {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end = self.end.saturating_sub(self.pos);
            self.pos = 0;
            let Some(space) = self.buf.get_mut(self.end..) else {
                return Ok(false);
            };
            let got = loop {
                match self.reader.read(space) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(read_error(&e)),
                }
            };
            if got == 0 {
                return Ok(false);
            }
            self.read = self.read.saturating_add(got);
            if self.read > self.max {
                return Err(self.too_large());
            }
            self.end = self.end.saturating_add(got).min(self.buf.len());
        }
        Ok(true)
    }

    fn too_large(&self) -> Error {
        Error::TooLarge {
            document: "inputs",
            size: self.read,
            max: self.max,
        }
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, Error> {
        if self.pos >= self.end && !self.refill()? {
            return Ok(None);
        }
        Ok(self.buf.get(self.pos).copied())
    }

    #[inline]
    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    /// The next byte, consumed; end of input is an error.
    #[inline]
    fn next(&mut self) -> Result<u8, Error> {
        match self.peek()? {
            Some(b) => {
                self.bump();
                Ok(b)
            }
            None => Err(self.syntax("EOF while parsing a value")),
        }
    }

    /// Skips whitespace. Inline for the common case of none.
    #[inline]
    fn ws(&mut self) -> Result<(), Error> {
        if self.pos < self.end
            && let Some(b) = self.buf.get(self.pos)
            && !matches!(b, b' ' | b'\t' | b'\r' | b'\n')
        {
            return Ok(());
        }
        self.ws_slow()
    }

    #[inline(never)]
    fn ws_slow(&mut self) -> Result<(), Error> {
        while let Some(b) = self.peek()? {
            match b {
                b' ' | b'\t' | b'\r' => self.bump(),
                b'\n' => {
                    self.bump();
                    self.line = self.line.saturating_add(1);
                    self.line_start = self.offset();
                }
                _ => break,
            }
        }
        Ok(())
    }

    // ---- errors ----------------------------------------------------------

    fn at(&self) -> String {
        format!(
            "(line {}, column {})",
            self.line,
            self.offset().saturating_sub(self.line_start)
        )
    }

    /// A syntax error: no path, as the reference decoder reports it.
    fn syntax(&self, message: &str) -> Error {
        Error::Json {
            document: "inputs",
            message: format!("{message} {}", self.at()),
        }
    }

    /// A value that is not what the field takes.
    fn data(&self, path: &str, message: &str) -> Error {
        if path.is_empty() {
            return self.syntax(message);
        }
        Error::Json {
            document: "inputs",
            message: format!("field `{path}`: {message} {}", self.at()),
        }
    }

    // ---- values ----------------------------------------------------------

    /// A string (the opening quote is next) into the scratch buffer.
    fn string(&mut self, path: &dyn Fn() -> String) -> Result<&str, Error> {
        self.ws()?;
        match self.peek()? {
            Some(b'"') => self.bump(),
            Some(_) => {
                let found = self.found()?;
                let message = format!("invalid type: {found}, expected a string");
                return Err(self.data(&path(), &message));
            }
            None => return Err(self.syntax("EOF while parsing a value")),
        }
        self.string_body()
    }

    /// The rest of a string whose opening quote was consumed, as text.
    fn string_body(&mut self) -> Result<&str, Error> {
        self.string_raw()?;
        self.scratch_text()
    }

    /// The scratch buffer as text: a string read is valid UTF-8 or the
    /// error the reference decoder gives.
    fn scratch_text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.scratch).map_err(|_| Error::Json {
            document: "inputs",
            message: format!("invalid unicode code point {}", self.at()),
        })
    }

    /// The rest of a string whose opening quote was consumed, into the
    /// scratch buffer, escapes decoded; UTF-8 not yet checked.
    fn string_raw(&mut self) -> Result<(), Error> {
        self.scratch.clear();
        self.raw_non_ascii = false;
        loop {
            if self.pos >= self.end && !self.refill()? {
                return Err(self.syntax("EOF while parsing a string"));
            }
            let chunk = self.buf.get(self.pos..self.end).unwrap_or(&[]);
            let mut plain = chunk.len();
            let mut high = 0u8;
            for (i, &b) in chunk.iter().enumerate() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    plain = i;
                    break;
                }
                high |= b;
            }
            self.raw_non_ascii |= high >= 0x80;
            self.scratch
                .extend_from_slice(chunk.get(..plain).unwrap_or(&[]));
            self.pos = self.pos.saturating_add(plain);
            if self.pos >= self.end {
                continue;
            }
            match self.next()? {
                b'"' => break,
                b'\\' => self.escape()?,
                _ => {
                    return Err(self.syntax(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The next byte of a string.
    fn next_in_string(&mut self) -> Result<u8, Error> {
        match self.peek()? {
            Some(b) => {
                self.bump();
                Ok(b)
            }
            None => Err(self.syntax("EOF while parsing a string")),
        }
    }

    fn escape(&mut self) -> Result<(), Error> {
        let byte = match self.next_in_string()? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xd800..=0xdbff => {
                        if self.next_in_string()? != b'\\' || self.next_in_string()? != b'u' {
                            return Err(self.syntax("unexpected end of hex escape"));
                        }
                        let second = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&second) {
                            return Err(self.syntax("lone leading surrogate in hex escape"));
                        }
                        0x1_0000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                    }
                    0xdc00..=0xdfff => {
                        return Err(self.syntax("lone leading surrogate in hex escape"));
                    }
                    other => other,
                };
                let c = char::from_u32(code)
                    .ok_or_else(|| self.syntax("invalid unicode code point"))?;
                let mut utf8 = [0u8; 4];
                self.scratch
                    .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                return Ok(());
            }
            _ => return Err(self.syntax("invalid escape")),
        };
        self.scratch.push(byte);
        Ok(())
    }

    /// Four hex digits. Like serde_json, fewer than four bytes left in the
    /// document is the end of the string, whatever they are.
    fn hex4(&mut self) -> Result<u32, Error> {
        if !self.ensure(4)? {
            self.pos = self.end;
            return Err(self.syntax("EOF while parsing a string"));
        }
        let mut v = 0u32;
        for _ in 0..4 {
            let b = self.next_in_string()?;
            let d = char::from(b)
                .to_digit(16)
                .ok_or_else(|| self.syntax("invalid escape"))?;
            v = (v << 4) | d;
        }
        Ok(v)
    }

    /// The common case of [`Parser::unsigned`], read in place: 1 to 19
    /// digits, the first not `0`, followed (in the buffer) by a byte that
    /// neither continues the number nor makes it a float. `None` leaves
    /// everything to the general path (which gives the same value).
    #[inline]
    fn plain_unsigned(&mut self) -> Option<u64> {
        let chunk = self.buf.get(self.pos..self.end)?;
        let mut v = match chunk.first() {
            Some(&d @ b'1'..=b'9') => u64::from(d.wrapping_sub(b'0')),
            _ => return None,
        };
        let mut n = 1;
        loop {
            match chunk.get(n) {
                // At most 19 digits: below 10^19 < 2^64, so the wrapping
                // operations never wrap.
                Some(&d @ b'0'..=b'9') if n < 19 => {
                    v = v
                        .wrapping_mul(10)
                        .wrapping_add(u64::from(d.wrapping_sub(b'0')));
                    n = n.saturating_add(1);
                }
                // A 20th digit, a fraction, an exponent, or the end of the
                // buffer: the general path decides.
                Some(b'0'..=b'9' | b'.' | b'e' | b'E') | None => return None,
                Some(_) => break,
            }
        }
        self.pos = self.pos.saturating_add(n);
        Some(v)
    }

    /// A `u64` written as a JSON integer: the inner error is a value of
    /// the wrong kind (the caller names the field), the outer one a syntax
    /// error. The messages are the reference decoder's.
    fn unsigned(&mut self) -> Result<Result<u64, String>, Error> {
        self.ws()?;
        if let Some(v) = self.plain_unsigned() {
            return Ok(Ok(v));
        }
        match self.peek()? {
            Some(b'-' | b'0'..=b'9') => {}
            Some(_) => {
                let found = self.found()?;
                return Ok(Err(format!(
                    "invalid type: {found}, expected an integer ({U64_RANGE})"
                )));
            }
            None => return Err(self.syntax("EOF while parsing a value")),
        }
        let integral = self.number()?;
        let text = std::str::from_utf8(&self.num).unwrap_or_default();
        if integral {
            if text.starts_with('-') {
                // serde_json reads a negative integer beyond `i64`, and
                // `-0`, as a float.
                return Ok(Err(match text.parse::<i64>() {
                    Ok(v) if v < 0 => format!("integer out of range ({U64_RANGE})"),
                    _ => not_an_integer(text),
                }));
            }
            return Ok(text
                .parse::<u64>()
                .map_err(|_| format!("integer out of range ({U64_RANGE})")));
        }
        Ok(Err(not_an_integer(text)))
    }

    /// A JSON number, its text into `num`; whether it has neither fraction
    /// nor exponent.
    fn number(&mut self) -> Result<bool, Error> {
        self.num.clear();
        if self.peek()? == Some(b'-') {
            self.bump();
            self.num.push(b'-');
        }
        let first = match self.peek()? {
            Some(b @ b'0'..=b'9') => {
                self.bump();
                b
            }
            Some(_) => return Err(self.syntax("invalid number")),
            None => return Err(self.syntax("EOF while parsing a value")),
        };
        self.num.push(first);
        if first == b'0' {
            if matches!(self.peek()?, Some(b'0'..=b'9')) {
                return Err(self.syntax("invalid number"));
            }
        } else {
            self.digits(false)?;
        }
        let mut integral = true;
        if self.peek()? == Some(b'.') {
            self.bump();
            self.num.push(b'.');
            integral = false;
            self.digits(true)?;
        }
        if let Some(e @ (b'e' | b'E')) = self.peek()? {
            self.bump();
            self.num.push(e);
            integral = false;
            if let Some(sign @ (b'+' | b'-')) = self.peek()? {
                self.bump();
                self.num.push(sign);
            }
            self.digits(true)?;
        }
        // serde_json reads a number with a fraction or an exponent, or an
        // integer beyond 64 bits, as a float, and refuses one beyond the
        // float range outright (a syntax error).
        if !integral || self.num.len() >= 20 {
            let text = std::str::from_utf8(&self.num).unwrap_or_default();
            let plain = integral && (text.parse::<u64>().is_ok() || text.parse::<i64>().is_ok());
            if !plain && text.parse::<f64>().is_ok_and(f64::is_infinite) {
                return Err(self.syntax("number out of range"));
            }
        }
        Ok(integral)
    }

    /// Digits into `num` (at least one if `required`).
    fn digits(&mut self, required: bool) -> Result<(), Error> {
        if required {
            match self.peek()? {
                Some(b'0'..=b'9') => {}
                Some(_) => return Err(self.syntax("invalid number")),
                None => return Err(self.syntax("EOF while parsing a value")),
            }
        }
        while let Some(b @ b'0'..=b'9') = self.peek()? {
            self.bump();
            self.num.push(b);
        }
        Ok(())
    }

    /// Reads a value of the wrong kind and says what it is, in serde's
    /// words (`string "x"`, ``integer `7` ``, `map`, ...).
    fn found(&mut self) -> Result<String, Error> {
        Ok(match self.peek()? {
            Some(b'"') => {
                self.bump();
                std::mem::swap(&mut self.scratch, &mut self.num);
                let text = self.string_body().map(|s| format!("string {s:?}"));
                std::mem::swap(&mut self.scratch, &mut self.num);
                text?
            }
            Some(b't') => {
                self.literal(b"true")?;
                "boolean `true`".into()
            }
            Some(b'f') => {
                self.literal(b"false")?;
                "boolean `false`".into()
            }
            Some(b'n') => {
                self.literal(b"null")?;
                "null".into()
            }
            Some(b'[') => "sequence".into(),
            Some(b'{') => "map".into(),
            Some(b'-' | b'0'..=b'9') => {
                let integral = self.number()?;
                let text = std::str::from_utf8(&self.num).unwrap_or_default();
                match (integral, text.parse::<u64>(), text.parse::<i64>()) {
                    (true, Ok(v), _) => format!("integer `{v}`"),
                    (true, _, Ok(v)) if v < 0 => format!("integer `{v}`"),
                    _ => format!("floating point `{}`", float_text(text)),
                }
            }
            Some(_) => return Err(self.syntax("expected value")),
            None => return Err(self.syntax("EOF while parsing a value")),
        })
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        for &want in word {
            if self.next()? != want {
                return Err(self.syntax("expected ident"));
            }
        }
        Ok(())
    }

    /// `{` of an object the schema has at `path`.
    fn object_start(&mut self, path: &dyn Fn() -> String) -> Result<(), Error> {
        self.ws()?;
        match self.peek()? {
            Some(b'{') => {
                self.bump();
                Ok(())
            }
            Some(_) => {
                let found = self.found()?;
                let message = format!("expected an object, found {found}");
                Err(self.data(&path(), &message))
            }
            None => Err(self.syntax("EOF while parsing a value")),
        }
    }

    /// The next member's key (into the scratch buffer), or `false` at the
    /// object's end.
    fn key(&mut self, first: bool) -> Result<bool, Error> {
        self.ws()?;
        if first {
            if self.peek()? == Some(b'}') {
                self.bump();
                return Ok(false);
            }
        } else {
            match self.peek()? {
                Some(b',') => {
                    self.bump();
                    self.ws()?;
                    match self.peek()? {
                        Some(b'}') => return Err(self.syntax("trailing comma")),
                        None => return Err(self.syntax("EOF while parsing a value")),
                        Some(_) => {}
                    }
                }
                Some(b'}') => {
                    self.bump();
                    return Ok(false);
                }
                Some(_) => return Err(self.syntax("expected `,` or `}`")),
                None => return Err(self.syntax("EOF while parsing an object")),
            }
        }
        match self.peek()? {
            Some(b'"') => self.bump(),
            Some(_) => return Err(self.syntax("key must be a string")),
            None => return Err(self.syntax("EOF while parsing an object")),
        }
        self.string_raw()?;
        // A key with no raw byte above 0x7f is valid UTF-8 (escapes are
        // decoded to valid UTF-8): the common case needs no check.
        if self.raw_non_ascii {
            self.scratch_text()?;
        }
        Ok(true)
    }

    /// The `:` after a key: read once the key was accepted (an unknown or
    /// duplicate field is reported first, as serde does).
    fn colon(&mut self) -> Result<(), Error> {
        self.ws()?;
        match self.peek()? {
            Some(b':') => {
                self.bump();
                Ok(())
            }
            Some(_) => Err(self.syntax("expected `:`")),
            None => Err(self.syntax("EOF while parsing an object")),
        }
    }

    fn key_text(&self) -> &str {
        std::str::from_utf8(&self.scratch).unwrap_or_default()
    }

    /// An unknown member (its key is in the scratch buffer); `expected`
    /// lists the fields as serde does.
    fn unknown(&self, path: &str, expected: &str) -> Error {
        let key = self.key_text();
        self.data(
            &join(path, key),
            &format!("unknown field `{key}`, expected {expected}"),
        )
    }

    // ---- the document ----------------------------------------------------

    fn document(&mut self, limits: &Limits) -> Result<Parsed, Error> {
        self.object_start(&String::new)?;
        let mut top = Top::default();
        let mut acc = Accounts::default();
        let mut first = true;
        while self.key(first)? {
            first = false;
            match self.scratch.as_slice() {
                b"schema" => {
                    if top.schema.is_some() {
                        return Err(self.duplicate("", "schema"));
                    }
                    self.colon()?;
                    top.schema = Some(self.string(&|| "schema".into())?.to_owned());
                }
                b"epoch" => {
                    if top.epoch.is_some() {
                        return Err(self.duplicate("", "epoch"));
                    }
                    self.colon()?;
                    let text = self.string(&|| "epoch".into())?;
                    let id = EpochId::new(text);
                    top.epoch = Some(id.map_err(|e| self.data("epoch", &e.to_string()))?);
                }
                b"window" => {
                    if top.window.is_some() {
                        return Err(self.duplicate("", "window"));
                    }
                    self.colon()?;
                    top.window = Some(self.window()?);
                }
                b"producer" => {
                    if top.producer.is_some() {
                        return Err(self.duplicate("", "producer"));
                    }
                    self.colon()?;
                    let text = self.string(&|| "producer".into())?;
                    let id = AccountId::new(text);
                    top.producer = Some(id.map_err(|e| self.data("producer", &e.to_string()))?);
                }
                b"accounts" => {
                    if top.accounts.is_some() {
                        return Err(self.duplicate("", "accounts"));
                    }
                    self.colon()?;
                    top.accounts = Some(self.accounts(&mut acc, limits)?);
                }
                _ => {
                    return Err(self.unknown(
                        "",
                        "one of `schema`, `epoch`, `window`, `producer`, `accounts`",
                    ));
                }
            }
        }
        let missing = |p: &Self, field: &str| p.syntax(&format!("missing field `{field}`"));
        Ok(Parsed {
            schema: top.schema.ok_or_else(|| missing(self, "schema"))?,
            epoch: top.epoch.ok_or_else(|| missing(self, "epoch"))?,
            window: top.window.ok_or_else(|| missing(self, "window"))?,
            producer: top.producer.ok_or_else(|| missing(self, "producer"))?,
            accounts: top.accounts.ok_or_else(|| missing(self, "accounts"))?,
            ids: acc.ids,
            offsets: acc.offsets,
            values: acc.values,
            names: acc.names,
        })
    }

    fn duplicate(&self, path: &str, field: &str) -> Error {
        let message = format!("duplicate field `{field}`");
        if path.is_empty() {
            self.syntax(&message)
        } else {
            self.data(path, &message)
        }
    }

    fn window(&mut self) -> Result<Window, Error> {
        self.object_start(&|| "window".to_owned())?;
        let (mut start, mut end) = (None, None);
        let mut first = true;
        while self.key(first)? {
            first = false;
            match self.scratch.as_slice() {
                b"start" => {
                    if start.is_some() {
                        return Err(self.duplicate("window", "start"));
                    }
                    self.colon()?;
                    let v = self.unsigned()?;
                    start = Some(v.map_err(|m| self.data("window.start", &m))?);
                }
                b"end" => {
                    if end.is_some() {
                        return Err(self.duplicate("window", "end"));
                    }
                    self.colon()?;
                    let v = self.unsigned()?;
                    end = Some(v.map_err(|m| self.data("window.end", &m))?);
                }
                _ => return Err(self.unknown("window", "`start` or `end`")),
            }
        }
        match (start, end) {
            (Some(start), Some(end)) => Ok(Window { start, end }),
            (None, _) => Err(self.data("window", "missing field `start`")),
            (_, None) => Err(self.data("window", "missing field `end`")),
        }
    }

    /// The accounts array; returns how many accounts it has.
    fn accounts(&mut self, acc: &mut Accounts, limits: &Limits) -> Result<usize, Error> {
        self.ws()?;
        match self.peek()? {
            Some(b'[') => self.bump(),
            Some(_) => {
                let found = self.found()?;
                let message = format!("invalid type: {found}, expected a sequence");
                return Err(self.data("accounts", &message));
            }
            None => return Err(self.syntax("EOF while parsing a value")),
        }
        acc.offsets.push(0);
        let mut count = 0usize;
        self.ws()?;
        match self.peek()? {
            Some(b']') => {
                self.bump();
                return Ok(0);
            }
            None => return Err(self.syntax("EOF while parsing a list")),
            Some(_) => {}
        }
        loop {
            let keep = count < limits.max_accounts;
            self.account(acc, count, keep)?;
            count = count.saturating_add(1);
            self.ws()?;
            match self.peek()? {
                Some(b',') => {
                    self.bump();
                    self.ws()?;
                    if self.peek()? == Some(b']') {
                        return Err(self.syntax("trailing comma"));
                    }
                }
                Some(b']') => {
                    self.bump();
                    return Ok(count);
                }
                Some(_) => return Err(self.syntax("expected `,` or `]`")),
                None => return Err(self.syntax("EOF while parsing a list")),
            }
        }
    }

    fn account(&mut self, acc: &mut Accounts, i: usize, keep: bool) -> Result<(), Error> {
        let here = || format!("accounts[{i}]");
        self.object_start(&here)?;
        let mut id = None;
        let mut counters = false;
        let mut first = true;
        while self.key(first)? {
            first = false;
            match self.scratch.as_slice() {
                b"account" => {
                    if id.is_some() {
                        return Err(self.duplicate(&here(), "account"));
                    }
                    self.colon()?;
                    let path = || format!("accounts[{i}].account");
                    let text = self.string(&path)?;
                    let parsed = text.parse::<AccountId>();
                    id = Some(parsed.map_err(|e| self.data(&path(), &e.to_string()))?);
                }
                b"counters" => {
                    if counters {
                        return Err(self.duplicate(&here(), "counters"));
                    }
                    self.colon()?;
                    self.counters(acc, i)?;
                    counters = true;
                }
                _ => return Err(self.unknown(&here(), "`account` or `counters`")),
            }
        }
        let Some(id) = id else {
            return Err(self.data(&here(), "missing field `account`"));
        };
        if !counters {
            return Err(self.data(&here(), "missing field `counters`"));
        }
        acc.previous.clear();
        acc.previous.extend(acc.current.iter().map(|&(n, _)| n));
        if keep {
            acc.ids.push(id);
            acc.values.extend_from_slice(&acc.current);
            acc.offsets.push(acc.values.len());
        }
        Ok(())
    }

    fn counters(&mut self, acc: &mut Accounts, i: usize) -> Result<(), Error> {
        let here = || format!("accounts[{i}].counters");
        self.object_start(&here)?;
        acc.current.clear();
        let mut first = true;
        while self.key(first)? {
            first = false;
            self.colon()?;
            // The value is read before the name is checked, as the
            // reference decoder does; numbers do not touch the scratch
            // buffer, which still holds the name.
            let value = match self.unsigned()? {
                Ok(value) => value,
                Err(m) => return Err(self.data(&join(&here(), self.key_text()), &m)),
            };
            if acc.current.len() >= MAX_COUNTERS {
                return Err(self.data(&here(), &format!("more than {MAX_COUNTERS} names")));
            }
            let name = self.scratch.as_slice();
            // A name equal to an interned one is valid; any other is checked.
            let index = match acc.known(name) {
                Some(index) => index,
                None => {
                    if !valid_counter_name_bytes(name) {
                        return Err(self.data(
                            &here(),
                            &format!(
                                "invalid name \"{}\": 1 to 64 of a-z, 0-9 and _",
                                crate::de::shown(self.key_text(), 64)
                            ),
                        ));
                    }
                    acc.intern_new(self.key_text())
                }
            };
            if acc.current.iter().any(|&(n, _)| n == index) {
                return Err(self.data(&here(), &format!("duplicate name \"{}\"", self.key_text())));
            }
            acc.current.push((index, value));
        }
        Ok(())
    }
}

impl Accounts {
    /// The index of an interned name equal to `name`, if any. The common
    /// case first: the same names in the same order as the previous
    /// account, matched by comparing bytes, without hashing.
    #[inline]
    fn known(&self, name: &[u8]) -> Option<u32> {
        if let Some(&guess) = self.previous.get(self.current.len())
            && self
                .names
                .get(guess as usize)
                .is_some_and(|n| n.as_bytes() == name)
        {
            return Some(guess);
        }
        self.index.get(name).copied()
    }

    /// Interns a valid counter name not yet interned (at most 64 bytes;
    /// there are at most as many as the document has counters).
    fn intern_new(&mut self, name: &str) -> u32 {
        let index = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.index.insert(name.as_bytes().to_vec(), index);
        index
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// The message for a number written with a fraction or an exponent, as the
/// workspace's strict decoder words it: such a number at or beyond 2^64 or
/// below -2^63 is out of range, any other is "not an integer". The only
/// floating point in the crate: the number is rejected either way, and the
/// float only words the message.
fn not_an_integer(text: &str) -> String {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;
    let value = text.parse::<f64>().unwrap_or(f64::INFINITY);
    if (MINUS_TWO_POW_63..TWO_POW_64).contains(&value) {
        format!("not an integer: {value} ({U64_RANGE})")
    } else {
        format!("integer out of range ({U64_RANGE})")
    }
}

/// A float as serde shows an unexpected one: with a decimal point.
fn float_text(text: &str) -> String {
    let value = text.parse::<f64>().unwrap_or(f64::INFINITY);
    let shown = value.to_string();
    if value.is_finite() && !shown.contains(['.', 'e', 'E']) {
        format!("{shown}.0")
    } else {
        shown
    }
}

fn read_error(e: &std::io::Error) -> Error {
    Error::Json {
        document: "inputs",
        message: format!("cannot read: {e}"),
    }
}
